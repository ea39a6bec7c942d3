/**
 * Oura webhook signature (https://cloud.ouraring.com/v2/docs#tag/Webhook-Subscription-Routes).
 *
 * Message:   x-oura-timestamp header + raw request body (plain concatenation, no separator)
 * Algorithm: HMAC-SHA256, key = the app's client secret (OURA_CLIENT_SECRET)
 * Encoding:  hex; Oura's sample upper-cases it, so it is compared case-insensitively
 * Headers:   x-oura-signature, x-oura-timestamp
 * Events:    {create, update, delete} × data_type
 *
 * Oura does not document the timestamp's unit. It is read by magnitude: below 10^11 it is seconds since the epoch
 * (10^11 s is the year 5138), otherwise milliseconds (10^11 ms is 1973), so both readings give a ±5-minute window.
 * Fails closed without a secret, rejects timestamps outside the window (replays), compares in constant time. The
 * webhook stays a notify-only hint either way: the bot takes ids from it and re-fetches data with stored tokens.
 */
import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Project secret the deployment sets to `true` when the server hands the webhook bot raw bodies (Medplum ≥ 5.2 with
 * `Bot.rawBody`): then a parsed body is refused instead of being taken as a hint.
 */
export const SIGNED_ONLY_SECRET = 'OURA_WEBHOOK_SIGNED_ONLY';
export const SIGNATURE_HEADER = 'x-oura-signature';
export const TIMESTAMP_HEADER = 'x-oura-timestamp';
/** Timestamps below this are seconds, at or above it milliseconds (see the module comment). */
export const MILLISECONDS_FROM = 1e11;

export type SignatureResult = { ok: true } | { ok: false; reason: SignatureFailure };
export type SignatureFailure =
  | 'Missing webhook secret'
  | 'Missing x-oura-signature header'
  | 'Missing x-oura-timestamp header'
  | 'Invalid signature timestamp'
  | 'Signature timestamp outside the allowed window'
  | 'Invalid signature';

export interface VerifyOuraSignatureParams {
  readonly rawBody: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly secret: string | undefined;
  /** Current time in ms. */
  readonly now: number;
  readonly toleranceMs?: number;
}

function header(headers: VerifyOuraSignatureParams['headers'], name: string): string | undefined {
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
 * @param timestamp - the x-oura-timestamp header, verbatim
 * @param rawBody - the request body, verbatim
 * @returns the expected x-oura-signature value (upper-case hex, as Oura sends it)
 */
export function ouraSignature(secret: string, timestamp: string, rawBody: string): string {
  return createHmac('sha256', secret)
    .update(timestamp + rawBody, 'utf8')
    .digest('hex')
    .toUpperCase();
}

/**
 * @param timestamp - the header value (digits)
 * @returns the instant in ms
 */
export function timestampMs(timestamp: string): number {
  const value = Number(timestamp);
  return value < MILLISECONDS_FROM ? value * 1000 : value;
}

/**
 * @param params - raw body, headers, secret, clock
 * @returns ok, or the exact reason it is not
 */
export function verifyOuraSignature(params: VerifyOuraSignatureParams): SignatureResult {
  const toleranceMs = params.toleranceMs ?? 5 * 60_000;
  if (!params.secret) {
    return { ok: false, reason: 'Missing webhook secret' };
  }
  const signature = header(params.headers, SIGNATURE_HEADER);
  if (!signature) {
    return { ok: false, reason: 'Missing x-oura-signature header' };
  }
  const timestamp = header(params.headers, TIMESTAMP_HEADER);
  if (!timestamp) {
    return { ok: false, reason: 'Missing x-oura-timestamp header' };
  }
  if (!/^\d{1,16}$/.test(timestamp)) {
    return { ok: false, reason: 'Invalid signature timestamp' };
  }
  if (Math.abs(params.now - timestampMs(timestamp)) > toleranceMs) {
    return { ok: false, reason: 'Signature timestamp outside the allowed window' };
  }
  const expected = Buffer.from(ouraSignature(params.secret, timestamp, params.rawBody), 'utf8');
  const received = Buffer.from(signature.toUpperCase(), 'utf8');
  // timingSafeEqual needs equal lengths; the expected length (64 hex chars) is public, so checking it leaks nothing.
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
    return { ok: false, reason: 'Invalid signature' };
  }
  return { ok: true };
}
