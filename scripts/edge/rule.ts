/**
 * The webhook edge rule, as a pure decision: what the edge in front of Medplum does with one request. The nginx
 * snippet (nginx-webhooks.conf) and the Node edge (node-edge.ts) implement the same rule; test/edge/edge.test.ts runs
 * one matrix against both, and render.ts refuses a shipped file whose patterns differ from the ones here.
 *
 * Why the rule exists: Medplum routes only `POST /webhook/:id` (GET and HEAD are Express 404s), but
 * - Withings HEAD-checks a notification callback URL when a subscription is created and refuses it unless it answers
 *   2xx (https://developer.withings.com/developer-guide/v3/integration-guide/bulkship-sdk/data-api/notifications/notification-subscribe);
 * - Oura verifies a webhook subscription with `GET <callback>?verification_token=<t>&challenge=<c>` and expects
 *   `200 {"challenge":"<c>"}`, 401 for a wrong token (https://cloud.ouraring.com/v2/docs).
 */
import { timingSafeEqual } from 'node:crypto';

/** Medplum's webhook route: `/webhook/:id`, which Express also matches with one trailing slash. */
export const WEBHOOK_PATH = /^\/webhook\/[^/]+\/?$/;
/** The token: unreserved URL characters only, so no client percent-encodes it and nginx can compare raw text. */
export const TOKEN_PATTERN = /^[A-Za-z0-9._~-]{16,256}$/;
/** Characters that need no JSON escaping: echoing the challenge cannot inject anything. */
export const CHALLENGE_PATTERN = /^[A-Za-z0-9._~-]{1,256}$/;
/**
 * Medplum parses webhook bodies with `maxJsonSize` (1 MiB by default) and refuses larger ones; the edge refuses them
 * first (413), as nginx's `client_max_body_size 1m` does. Raise both together if Medplum's is raised.
 */
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;
export const ALLOWED_WEBHOOK_METHODS = 'GET, HEAD, POST';

/**
 * @param upstream - Medplum's address as configured.
 * @returns It parsed; throws unless it is a bare http(s) origin (both edges pass the client's path on as received).
 */
export function parseUpstream(upstream: string): URL {
  const url = new URL(upstream);
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash) {
    throw new Error(`upstream must be an http(s) origin without path or query: ${upstream}`);
  }
  return url;
}

export type EdgeDecision =
  | { action: 'answer'; status: number; headers: Record<string, string>; body: string }
  /** `maxBodyBytes`: refuse (413) a request body larger than this; undefined = the upstream decides. */
  | { action: 'proxy'; maxBodyBytes: number | undefined };

/**
 * The path nginx matches locations against: dot segments resolved, percent-escapes decoded, slashes merged. Matching
 * on the same form keeps the two edges from disagreeing on odd paths (`/webhook//x`, `/webhook/%78`). Undefined for a
 * malformed escape, which nginx refuses (400) on any path; here Medplum answers it as it would without the edge.
 */
function normalisedPath(rawPath: string): string | undefined {
  // Slashes merged first: `//x` would otherwise parse as a host.
  const resolved = new URL(rawPath.replace(/\/{2,}/g, '/'), 'http://edge.invalid').pathname;
  try {
    return decodeURIComponent(resolved).replace(/\/{2,}/g, '/');
  } catch {
    return undefined;
  }
}

/**
 * The first `name=` argument's raw (still percent-encoded) value, matching the name case-insensitively — what nginx's
 * `$arg_<name>` holds — or undefined when absent.
 */
export function rawQueryArg(query: string, name: string): string | undefined {
  const prefix = `${name.toLowerCase()}=`;
  for (const part of query.split('&')) {
    if (part.toLowerCase().startsWith(prefix)) {
      return part.slice(prefix.length);
    }
  }
  return undefined;
}

function tokenMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) {
    return false;
  }
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function answer(status: number, body: string, headers: Record<string, string> = {}): EdgeDecision {
  return { action: 'answer', status, body, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers } };
}

/**
 * @param method - The request method.
 * @param target - The request target as received (path and query, still encoded).
 * @param verificationToken - The Project secret OURA_WEBHOOK_VERIFICATION_TOKEN (must match TOKEN_PATTERN).
 * @returns Answer here, or proxy to Medplum (with a body limit on webhook POSTs).
 */
export function decideEdge(method: string, target: string, verificationToken: string): EdgeDecision {
  const queryAt = target.indexOf('?');
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const query = queryAt === -1 ? '' : target.slice(queryAt + 1);
  const normalised = normalisedPath(rawPath);
  if (normalised === undefined || !WEBHOOK_PATH.test(normalised)) {
    return { action: 'proxy', maxBodyBytes: undefined };
  }
  switch (method) {
    case 'POST':
      return { action: 'proxy', maxBodyBytes: MAX_WEBHOOK_BODY_BYTES };
    case 'HEAD':
      return { action: 'answer', status: 200, body: '', headers: { 'content-type': 'text/plain' } };
    case 'GET': {
      if (!TOKEN_PATTERN.test(verificationToken)) {
        // Fail closed, as the nginx snippet does while its token is still the placeholder.
        return answer(500, 'Internal Server Error\n');
      }
      if (!tokenMatches(rawQueryArg(query, 'verification_token'), verificationToken)) {
        return answer(401, 'Unauthorized\n');
      }
      const challenge = rawQueryArg(query, 'challenge');
      if (challenge === undefined || !CHALLENGE_PATTERN.test(challenge)) {
        return answer(400, 'Bad Request\n');
      }
      return {
        action: 'answer',
        status: 200,
        body: JSON.stringify({ challenge }),
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      };
    }
    default:
      return answer(405, 'Method Not Allowed\n', { allow: ALLOWED_WEBHOOK_METHODS });
  }
}
