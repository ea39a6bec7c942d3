import { createHmac } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { ouraSignature, timestampMs, verifyOuraSignature } from './signature.ts';

const secret = 'oura-client-secret';
const rawBody =
  '{"event_type":"update","data_type":"sleep","object_id":"12345abc","event_time":"2023-01-01T08:00:00+00:00","user_id":"user123"}';
/** Seconds, as the sandbox sends it (Oura does not document the unit). */
const timestamp = '1672560000';
const now = 1672560000 * 1000 + 30_000;

/** Computed here independently of signature.ts: upper-case hex HMAC-SHA256(secret, timestamp + body), Oura's doc. */
const known = createHmac('sha256', secret).update(`${timestamp}${rawBody}`).digest('hex').toUpperCase();

function headers(extra: Record<string, string | string[] | undefined> = {}) {
  return { 'x-oura-signature': known, 'x-oura-timestamp': timestamp, ...extra };
}

describe('verifyOuraSignature', () => {
  test('known-answer vector', () => {
    expect(ouraSignature(secret, timestamp, rawBody)).toBe(known);
    expect(known).toMatch(/^[0-9A-F]{64}$/);
    expect(verifyOuraSignature({ rawBody, headers: headers(), secret, now })).toEqual({ ok: true });
  });

  test('the signature compares case-insensitively; headers are case-insensitive and may be arrays', () => {
    expect(
      verifyOuraSignature({
        rawBody,
        headers: { 'X-Oura-Signature': [known.toLowerCase()], 'X-OURA-TIMESTAMP': timestamp },
        secret,
        now,
      })
    ).toEqual({ ok: true });
  });

  test('a millisecond timestamp is read as milliseconds', () => {
    const ms = String(1672560000 * 1000);
    const signature = createHmac('sha256', secret).update(`${ms}${rawBody}`).digest('hex');
    expect(timestampMs(ms)).toBe(1672560000000);
    expect(timestampMs(timestamp)).toBe(1672560000000);
    expect(
      verifyOuraSignature({
        rawBody,
        headers: { 'x-oura-signature': signature, 'x-oura-timestamp': ms },
        secret,
        now,
      })
    ).toEqual({ ok: true });
  });

  test.each([
    ['Missing webhook secret', { secret: undefined }],
    ['Missing webhook secret', { secret: '' }],
    ['Missing x-oura-signature header', { headers: headers({ 'x-oura-signature': undefined }) }],
    ['Missing x-oura-timestamp header', { headers: headers({ 'x-oura-timestamp': ' ' }) }],
    ['Invalid signature timestamp', { headers: headers({ 'x-oura-timestamp': '2023-01-01T08:00:00Z' }) }],
    ['Invalid signature timestamp', { headers: headers({ 'x-oura-timestamp': '-1672560000' }) }],
    ['Signature timestamp outside the allowed window', { now: 1672560000 * 1000 + 5 * 60_000 + 1 }],
    ['Signature timestamp outside the allowed window', { now: 1672560000 * 1000 - 5 * 60_000 - 1 }],
    ['Invalid signature', { rawBody: rawBody.replace('12345abc', '12345abd') }],
    ['Invalid signature', { secret: 'another-secret' }],
    ['Invalid signature', { headers: headers({ 'x-oura-signature': known.slice(0, -2) }) }],
    [
      'Invalid signature',
      { headers: headers({ 'x-oura-signature': createHmac('sha256', secret).update(rawBody).digest('hex') }) },
    ],
    [
      'Invalid signature',
      {
        headers: headers({
          'x-oura-signature': createHmac('sha256', secret).update(`${timestamp}${rawBody}`).digest('base64'),
        }),
      },
    ],
  ] as const)('%s', (reason, override) => {
    expect(verifyOuraSignature({ rawBody, headers: headers(), secret, now, ...override })).toEqual({
      ok: false,
      reason,
    });
  });

  test('a replayed delivery with a re-signed fresh timestamp still needs the secret', () => {
    const fresh = String(Math.floor(now / 1000));
    expect(verifyOuraSignature({ rawBody, headers: headers({ 'x-oura-timestamp': fresh }), secret, now })).toEqual({
      ok: false,
      reason: 'Invalid signature',
    });
  });

  test('the window edge is inclusive and configurable', () => {
    expect(verifyOuraSignature({ rawBody, headers: headers(), secret, now: 1672560000 * 1000 + 5 * 60_000 }).ok).toBe(
      true
    );
    expect(verifyOuraSignature({ rawBody, headers: headers(), secret, now, toleranceMs: 10_000 })).toEqual({
      ok: false,
      reason: 'Signature timestamp outside the allowed window',
    });
  });
});
