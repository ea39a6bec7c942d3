import type { BotEvent } from '@medplum/core';
import { MockClient } from '@medplum/mock';
import type { Basic } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { BASIC_TYPE_SYSTEM, CONNECTION_CODE, TOKEN_STORE_CODE } from '../shared/connection.ts';
import { handler, isTokenStoreRecord, requesterIsBot } from './token-expunge.ts';

// The refusals only: that the server enforces who may $execute it and what $expunge removes is proven over HTTP in
// test/whoop/tokens-at-rest.test.ts (MockClient enforces no policy).
function event(input: unknown, requester = 'Bot/123'): BotEvent<unknown> {
  return {
    bot: { reference: 'Bot/janitor' },
    contentType: 'application/json',
    input,
    secrets: {},
    requester: { reference: requester },
  } as BotEvent<unknown>;
}

const basic = (code: string): Basic => ({
  resourceType: 'Basic',
  code: { coding: [{ system: BASIC_TYPE_SYSTEM, code }] },
});

describe('token-expunge', () => {
  test('recognises token-store records only', () => {
    expect(isTokenStoreRecord(basic(TOKEN_STORE_CODE))).toBe(true);
    expect(isTokenStoreRecord(basic(CONNECTION_CODE))).toBe(false);
    expect(isTokenStoreRecord({ resourceType: 'Basic', code: { text: TOKEN_STORE_CODE } })).toBe(false);
  });

  test('only a Bot may call it', async () => {
    expect(requesterIsBot({ requester: { reference: 'Bot/1' } })).toBe(true);
    for (const requester of ['Patient/1', 'Practitioner/1', 'ClientApplication/1', 'Bot/1/_history/2']) {
      await expect(handler(new MockClient(), event({ tokenRecordId: 'x' }, requester))).rejects.toThrow(
        'Only Baseline bots can expunge token records'
      );
    }
  });

  test('the id must be a FHIR id, so nothing else reaches a URL', async () => {
    for (const tokenRecordId of ['', '../Patient/1', 'a/b', 'x'.repeat(65), 'id?_id=1']) {
      await expect(handler(new MockClient(), event({ tokenRecordId }))).rejects.toThrow(
        'tokenRecordId must be a FHIR id'
      );
    }
    await expect(handler(new MockClient(), event({}))).rejects.toThrow();
  });

  test('a record that is not a token store is refused, and one that is absent is reported as not expunged', async () => {
    const medplum = new MockClient();
    const connection = await medplum.createResource(basic(CONNECTION_CODE));
    await expect(handler(medplum, event({ tokenRecordId: connection.id }))).rejects.toThrow('Not a token-store record');
    await expect(handler(medplum, event({ tokenRecordId: 'no-such-record' }))).resolves.toEqual({ expunged: false });
  });
});
