import { createHmac } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { verifyWhoopSignature, whoopSignature } from './signature.ts';

const secret = 'whoop-client-secret';
const rawBody =
  '{"user_id":456,"id":"550e8400-e29b-41d4-a716-446655440000","type":"sleep.updated","trace_id":"e369c784-5100-49e8-8098-75d35c47b31b"}';
const timestamp = '1748241241000';
const now = 1748241241000 + 30_000;

/** Computed here independently of signature.ts: base64(HMAC-SHA256(secret, timestamp + body)). */
const known = createHmac('sha256', secret).update(`${timestamp}${rawBody}`).digest('base64');

function headers(extra: Record<string, string | string[] | undefined> = {}) {
  return { 'X-WHOOP-Signature': known, 'X-WHOOP-Signature-Timestamp': timestamp, ...extra };
}

describe('verifyWhoopSignature', () => {
  test('known-answer vector', () => {
    expect(whoopSignature(secret, timestamp, rawBody)).toBe(known);
    expect(known).toHaveLength(44);
    expect(verifyWhoopSignature({ rawBody, headers: headers(), secret, now })).toEqual({ ok: true });
  });

  test('headers are case-insensitive and may arrive as arrays', () => {
    expect(
      verifyWhoopSignature({
        rawBody,
        headers: { 'x-whoop-signature': [known], 'X-Whoop-Signature-Timestamp': timestamp },
        secret,
        now,
      })
    ).toEqual({ ok: true });
  });

  test.each([
    ['Missing webhook secret', { secret: undefined }],
    ['Missing webhook secret', { secret: '' }],
    ['Missing X-WHOOP-Signature header', { headers: headers({ 'X-WHOOP-Signature': undefined }) }],
    ['Missing X-WHOOP-Signature-Timestamp header', { headers: headers({ 'X-WHOOP-Signature-Timestamp': ' ' }) }],
    ['Invalid signature timestamp', { headers: headers({ 'X-WHOOP-Signature-Timestamp': '2025-05-26T06:34:01Z' }) }],
    ['Invalid signature timestamp', { headers: headers({ 'X-WHOOP-Signature-Timestamp': '-1748241241000' }) }],
    ['Signature timestamp outside the allowed window', { now: 1748241241000 + 5 * 60_000 + 1 }],
    ['Signature timestamp outside the allowed window', { now: 1748241241000 - 5 * 60_000 - 1 }],
    ['Invalid signature', { rawBody: rawBody.replace('456', '457') }],
    ['Invalid signature', { secret: 'another-secret' }],
    ['Invalid signature', { headers: headers({ 'X-WHOOP-Signature': known.slice(0, -2) }) }],
    [
      'Invalid signature',
      { headers: headers({ 'X-WHOOP-Signature': createHmac('sha256', secret).update(rawBody).digest('base64') }) },
    ],
    [
      'Invalid signature',
      {
        headers: headers({
          'X-WHOOP-Signature': createHmac('sha256', secret).update(`${timestamp}${rawBody}`).digest('hex'),
        }),
      },
    ],
  ] as const)('%s', (reason, override) => {
    expect(verifyWhoopSignature({ rawBody, headers: headers(), secret, now, ...override })).toEqual({
      ok: false,
      reason,
    });
  });

  test('the window edge is inclusive and configurable', () => {
    expect(verifyWhoopSignature({ rawBody, headers: headers(), secret, now: 1748241241000 + 5 * 60_000 }).ok).toBe(
      true
    );
    expect(verifyWhoopSignature({ rawBody, headers: headers(), secret, now, toleranceMs: 10_000 })).toEqual({
      ok: false,
      reason: 'Signature timestamp outside the allowed window',
    });
  });
});
