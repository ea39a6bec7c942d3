/**
 * WHOOP webhook signature (https://developer.whoop.com/docs/developing/webhooks).
 *
 * Message:   X-WHOOP-Signature-Timestamp header + raw request body (plain concatenation, no separator)
 * Algorithm: HMAC-SHA256, key = the app's client secret (WHOOP_CLIENT_SECRET)
 * Encoding:  base64
 * Headers:   X-WHOOP-Signature, X-WHOOP-Signature-Timestamp (milliseconds since the epoch)
 * Events:    workout.updated|deleted, sleep.updated|deleted, recovery.updated|deleted
 *
 * Fails closed without a secret, rejects timestamps outside ±5 minutes (replays), compares in constant time. The
 * webhook stays a notify-only hint either way: the bot takes ids from it and re-fetches data with stored tokens.
 */
import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-whoop-signature';
export const TIMESTAMP_HEADER = 'x-whoop-signature-timestamp';

export type SignatureResult = { ok: true } | { ok: false; reason: SignatureFailure };
export type SignatureFailure =
  | 'Missing webhook secret'
  | 'Missing X-WHOOP-Signature header'
  | 'Missing X-WHOOP-Signature-Timestamp header'
  | 'Invalid signature timestamp'
  | 'Signature timestamp outside the allowed window'
  | 'Invalid signature';

export interface VerifyWhoopSignatureParams {
  readonly rawBody: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly secret: string | undefined;
  /** Current time in ms. */
  readonly now: number;
  readonly toleranceMs?: number;
}

function header(headers: VerifyWhoopSignatureParams['headers'], name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) {
      const first = Array.isArray(value) ? value[0] : value;
      const trimmed = first?.trim();
      return trimmed ? trimmed : undefined;
    }
  }
  return undefined;
}

/**
 * @param secret - client secret
 * @param timestamp - the timestamp header, verbatim
 * @param rawBody - the request body, verbatim
 * @returns the expected X-WHOOP-Signature value
 */
export function whoopSignature(secret: string, timestamp: string, rawBody: string): string {
  return createHmac('sha256', secret)
    .update(timestamp + rawBody, 'utf8')
    .digest('base64');
}

/**
 * @param params - raw body, headers, secret, clock
 * @returns ok, or the exact reason it is not
 */
export function verifyWhoopSignature(params: VerifyWhoopSignatureParams): SignatureResult {
  const toleranceMs = params.toleranceMs ?? 5 * 60_000;
  if (!params.secret) {
    return { ok: false, reason: 'Missing webhook secret' };
  }
  const signature = header(params.headers, SIGNATURE_HEADER);
  if (!signature) {
    return { ok: false, reason: 'Missing X-WHOOP-Signature header' };
  }
  const timestamp = header(params.headers, TIMESTAMP_HEADER);
  if (!timestamp) {
    return { ok: false, reason: 'Missing X-WHOOP-Signature-Timestamp header' };
  }
  if (!/^\d{1,16}$/.test(timestamp)) {
    return { ok: false, reason: 'Invalid signature timestamp' };
  }
  if (Math.abs(params.now - Number(timestamp)) > toleranceMs) {
    return { ok: false, reason: 'Signature timestamp outside the allowed window' };
  }
  const expected = Buffer.from(whoopSignature(params.secret, timestamp, params.rawBody), 'utf8');
  const received = Buffer.from(signature, 'utf8');
  // timingSafeEqual needs equal lengths; the expected length (44 chars) is public, so checking it first leaks nothing.
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
    return { ok: false, reason: 'Invalid signature' };
  }
  return { ok: true };
}
