import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Binary } from '@medplum/fhirtypes';
import { clientCredentialsClient } from '../medplum-client.ts';
import { binaryWriteTarget } from './binary.ts';
import { startLocalStack } from './server.ts';
import type { LocalStack } from './server.ts';

test('binaryWriteTarget: POST Binary creates, PUT Binary/<id> updates, nothing else is a Binary write', () => {
  expect(binaryWriteTarget('POST', 'Binary')).toEqual({});
  expect(binaryWriteTarget('PUT', 'Binary/b1')).toEqual({ id: 'b1' });
  expect(binaryWriteTarget('GET', 'Binary/b1')).toBeUndefined();
  expect(binaryWriteTarget('POST', 'Binary/b1')).toBeUndefined();
  expect(binaryWriteTarget('PUT', 'Binary')).toBeUndefined();
  expect(binaryWriteTarget('POST', 'Bot')).toBeUndefined();
  expect(binaryWriteTarget('POST', 'Binary/$validate')).toBeUndefined();
});

describe('Binary writes over HTTP, as Medplum answers them', () => {
  let stack: LocalStack;
  let token: string;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0 });
    const admin = await clientCredentialsClient(
      stack.baseUrl,
      stack.adminClient.clientId,
      stack.adminClient.clientSecret
    );
    token = admin.getAccessToken() ?? '';
  });

  afterAll(() => stack.close());

  function send(
    method: string,
    path: string,
    body: Uint8Array<ArrayBuffer> | string,
    contentType?: string
  ): Promise<Response> {
    return fetch(`${stack.baseUrl}fhir/R4/${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(contentType ? { 'Content-Type': contentType } : {}) },
      body,
    });
  }

  test('raw bytes are stored as sent and answered with a presigned URL, not the data', async () => {
    // Not valid UTF-8: a text decoding on the way in would change these bytes.
    const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe, 0x00, 0x80]);
    const created = await send('POST', 'Binary?_filename=probe.png', bytes, 'image/png');
    expect(created.status).toBe(201);
    const binary = (await created.json()) as Binary;
    expect(created.headers.get('location')).toBe(`${stack.baseUrl}fhir/R4/Binary/${binary.id}`);
    expect(created.headers.get('etag')).toBe(`W/"${binary.meta?.versionId}"`);
    expect(binary.contentType).toBe('image/png');
    expect(binary.data).toBeUndefined();
    expect(binary.url).toMatch(new RegExp(`^${stack.baseUrl}storage/${binary.id}/`));
    const content = await fetch(binary.url ?? '');
    expect(content.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await content.arrayBuffer())).toEqual(bytes);

    const updated = await send('PUT', `Binary/${binary.id}`, 'export {};\n', 'text/typescript');
    expect(updated.status).toBe(200);
    const next = (await updated.json()) as Binary;
    expect(next.id).toBe(binary.id);
    expect(next.meta?.versionId).not.toBe(binary.meta?.versionId);
    expect(await (await fetch(next.url ?? '')).text()).toBe('export {};\n');
  });

  test('a Binary resource sent as application/fhir+json is written as that resource', async () => {
    const resource: Binary = { resourceType: 'Binary', contentType: 'text/plain', data: 'aGVsbG8=' };
    const created = await send('POST', 'Binary', JSON.stringify(resource), 'application/fhir+json');
    expect(created.status).toBe(201);
    const binary = (await created.json()) as Binary;
    expect(binary.contentType).toBe('text/plain');
    expect(binary.data).toBe('aGVsbG8=');
  });

  test('other JSON is content like any other body', async () => {
    const created = await send('POST', 'Binary', '{"resourceType":"Patient"}', 'application/json');
    expect(created.status).toBe(201);
    const binary = (await created.json()) as Binary;
    expect(binary.contentType).toBe('application/json');
    expect(await (await fetch(binary.url ?? '')).text()).toBe('{"resourceType":"Patient"}');
  });
});
