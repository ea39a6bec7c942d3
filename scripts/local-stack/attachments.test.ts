import { describe, expect, test } from 'vitest';
import { parseBinaryUrl, referenceAttachments } from './attachments.ts';

const BASE = 'http://127.0.0.1:8103/';

describe('parseBinaryUrl (Medplum normalizeBinaryUrl)', () => {
  test('a reference, a FHIR URL, a versioned reference and a presigned storage URL name their Binary', () => {
    expect(parseBinaryUrl(BASE, 'Binary/b1')).toEqual({ id: 'b1' });
    expect(parseBinaryUrl(BASE, `${BASE}fhir/R4/Binary/b1`)).toEqual({ id: 'b1' });
    expect(parseBinaryUrl(BASE, 'Binary/b1/_history/v1')).toEqual({ id: 'b1', versionId: 'v1' });
    expect(parseBinaryUrl(BASE, `${BASE}storage/b1/v1?Expires=1&Signature=x`)).toEqual({ id: 'b1', versionId: 'v1' });
  });

  test('anything else is not a Binary', () => {
    expect(parseBinaryUrl(BASE, 'https://example.org/Binary/b1')).toBeUndefined();
    expect(parseBinaryUrl(BASE, 'Patient/p1')).toBeUndefined();
    expect(parseBinaryUrl(BASE, 'Binary/')).toBeUndefined();
  });
});

describe('referenceAttachments (what a write stores)', () => {
  test('url and path properties naming a Binary become Binary/<id>; other strings and Binaries stay', () => {
    const bot = {
      resourceType: 'Bot',
      name: `${BASE}storage/b1/v1`,
      executableCode: { url: `${BASE}storage/b1/v1?Expires=1&Signature=x`, title: 'index.js' },
      extension: [{ url: 'https://example.org/ext', valueString: 'Binary/b2' }],
      contained: [{ resourceType: 'Binary', id: 'c', url: 'Binary/b3' }],
    };
    expect(referenceAttachments(BASE, bot)).toEqual({
      ...bot,
      executableCode: { url: 'Binary/b1', title: 'index.js' },
    });
  });
});
