/**
 * JSON over HTTP for provider clients, shaped by Medplum's vmcontext: `fetch` is a global there, but AbortController
 * and setTimeout are not, so the timeout is a race against `node:timers/promises` (unref'd, so a pending timer never
 * keeps a process alive). node-fetch v2 (which older vmcontext `fetch`es are) also honours the `timeout` init key,
 * which actually closes the socket; native fetch ignores it.
 *
 * Errors are `ProviderHttpError`s whose message names the provider, the endpoint label and the status — never the
 * URL (a query string may carry codes or tokens), headers, or the response body. Only a token endpoint's RFC 6749
 * `error` code (e.g. `invalid_grant`) is kept, because it decides whether a connection's credentials are dead.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';

export type ProviderHttpErrorKind =
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'rate-limited'
  | 'server'
  | 'timeout'
  | 'network'
  | 'bad-request'
  | 'bad-response';

export interface ProviderHttpErrorInit {
  readonly provider: string;
  readonly endpoint: string;
  readonly kind: ProviderHttpErrorKind;
  readonly status?: number;
  readonly retryAfterSeconds?: number;
  readonly oauthError?: string;
  readonly detail?: string;
  readonly cause?: unknown;
}

export class ProviderHttpError extends Error {
  readonly provider: string;
  readonly endpoint: string;
  readonly kind: ProviderHttpErrorKind;
  readonly status: number | undefined;
  readonly retryAfterSeconds: number | undefined;
  /** RFC 6749 error code from a token endpoint (`invalid_grant`, `invalid_client`, ...). */
  readonly oauthError: string | undefined;

  constructor(init: ProviderHttpErrorInit) {
    const parts = [`${init.provider} ${init.endpoint} failed:`];
    parts.push(init.status === undefined ? init.kind : `HTTP ${init.status} (${init.kind})`);
    if (init.oauthError) {
      parts.push(init.oauthError);
    }
    if (init.detail) {
      parts.push(`- ${init.detail}`);
    }
    if (init.retryAfterSeconds !== undefined) {
      parts.push(`retry after ${init.retryAfterSeconds}s`);
    }
    super(parts.join(' '), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'ProviderHttpError';
    this.provider = init.provider;
    this.endpoint = init.endpoint;
    this.kind = init.kind;
    this.status = init.status;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.oauthError = init.oauthError;
  }
}

export interface FetchJsonInit {
  /** Provider key for messages, e.g. 'whoop'. */
  readonly provider: string;
  /** Endpoint label for messages and call counts, e.g. 'GET /v2/cycle' (never the URL). */
  readonly endpoint: string;
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
  /** Defaults to the global fetch (vmcontext provides one). */
  readonly fetch?: typeof fetch;
}

export interface JsonResponse {
  readonly status: number;
  /** Parsed JSON, or undefined for an empty body (e.g. 204). */
  readonly body: unknown;
}

const TIMED_OUT = Symbol('timed out');
const OAUTH_ERROR_PATTERN = /^[a-z_]{1,64}$/;

function statusKind(status: number): ProviderHttpErrorKind {
  if (status === 401) {
    return 'unauthorized';
  }
  if (status === 403) {
    return 'forbidden';
  }
  if (status === 404) {
    return 'not-found';
  }
  if (status === 429) {
    return 'rate-limited';
  }
  if (status >= 500) {
    return 'server';
  }
  if (status >= 400) {
    return 'bad-request';
  }
  return 'bad-response';
}

/**
 * Seconds to wait before retrying: `Retry-After` (seconds or HTTP date, Oura) or else `X-RateLimit-Reset`
 * (seconds until the window resets, WHOOP).
 * @param headers - response headers
 * @param nowMs - current time, for HTTP-date Retry-After values
 * @returns whole seconds, or undefined when neither header is usable
 */
export function retryAfterSeconds(headers: { get(name: string): string | null }, nowMs: number): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) {
      return Number(retryAfter);
    }
    const at = Date.parse(retryAfter);
    if (!Number.isNaN(at)) {
      return Math.max(0, Math.ceil((at - nowMs) / 1000));
    }
  }
  const reset = headers.get('x-ratelimit-reset')?.trim();
  if (reset && /^\d+(\.\d+)?$/.test(reset)) {
    return Math.ceil(Number(reset));
  }
  return undefined;
}

function oauthErrorOf(body: unknown): string | undefined {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const code = body.error;
    if (typeof code === 'string' && OAUTH_ERROR_PATTERN.test(code)) {
      return code;
    }
  }
  return undefined;
}

function parseJsonText(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text.trim() === '') {
    return { ok: true, value: undefined };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    // A non-JSON body is reported by the caller as a bad response; its text is deliberately not kept.
    return { ok: false };
  }
}

/**
 * Fetches and parses JSON; any non-2xx status, timeout or transport failure becomes a ProviderHttpError.
 * @param url - absolute URL (never appears in errors)
 * @param init - method, headers, body, timeout and the labels used in errors
 * @returns status and parsed body
 */
export async function fetchJson(url: string, init: FetchJsonInit): Promise<JsonResponse> {
  const doFetch = init.fetch ?? fetch;
  const { provider, endpoint } = init;
  const requestInit: RequestInit & { timeout: number } = {
    method: init.method ?? 'GET',
    headers: { accept: 'application/json', ...init.headers },
    timeout: init.timeoutMs,
  };
  if (init.body !== undefined) {
    requestInit.body = init.body;
  }
  const attempt = (async (): Promise<{ response: Response; text: string }> => {
    const response = await doFetch(url, requestInit);
    return { response, text: await response.text() };
  })();
  let outcome: { response: Response; text: string } | typeof TIMED_OUT;
  try {
    outcome = await Promise.race([attempt, sleep(init.timeoutMs, TIMED_OUT, { ref: false })]);
  } catch (err) {
    // node-fetch reports its own timeout as a FetchError of type 'request-timeout'.
    const timedOut = typeof err === 'object' && err !== null && 'type' in err && err.type === 'request-timeout';
    // No `cause`: a fetch error's own message names the URL (node-fetch's FetchError does), and some URLs carry a
    // secret (Oura's revoke takes the access token as a query parameter). Only the error's class is kept.
    const name = err instanceof Error ? err.name : 'error';
    throw new ProviderHttpError({ provider, endpoint, kind: timedOut ? 'timeout' : 'network', detail: name });
  }
  if (outcome === TIMED_OUT) {
    // The losing fetch keeps running; swallow its eventual failure so it is not an unhandled rejection.
    attempt.catch(() => undefined);
    throw new ProviderHttpError({
      provider,
      endpoint,
      kind: 'timeout',
      detail: `no response within ${init.timeoutMs}ms`,
    });
  }
  const { response, text } = outcome;
  const parsed = parseJsonText(text);
  if (!response.ok) {
    const body = parsed.ok ? parsed.value : undefined;
    const kind = statusKind(response.status);
    throw new ProviderHttpError({
      provider,
      endpoint,
      kind,
      status: response.status,
      retryAfterSeconds: kind === 'rate-limited' ? retryAfterSeconds(response.headers, Date.now()) : undefined,
      oauthError: oauthErrorOf(body),
    });
  }
  if (!parsed.ok) {
    throw new ProviderHttpError({
      provider,
      endpoint,
      kind: 'bad-response',
      status: response.status,
      detail: 'body is not JSON',
    });
  }
  return { status: response.status, body: parsed.value };
}

/**
 * Validates a provider response body. The zod issues name paths only (not values), so the error never echoes
 * personal data or tokens from the body.
 * @param schema - zod schema of the expected body
 * @param body - parsed JSON
 * @param provider - provider key
 * @param endpoint - endpoint label
 * @returns the parsed value
 */
export function parseResponse<T>(schema: z.ZodType<T>, body: unknown, provider: string, endpoint: string): T {
  const result = schema.safeParse(body);
  if (!result.success) {
    const paths = result.error.issues
      .slice(0, 3)
      .map((issue) => (issue.path.length > 0 ? issue.path.join('.') : '(root)'))
      .join(', ');
    throw new ProviderHttpError({
      provider,
      endpoint,
      kind: 'bad-response',
      detail: `unexpected response shape at ${paths}`,
    });
  }
  return result.data;
}

/**
 * Waits out a provider's app-wide rate limit inside one bot run, up to a total, instead of failing the Task at the
 * first refusal. Withings allows 120 calls a minute for the whole app and a year's backfill needs ~440: failing each
 * window that meets the limit would leave the rest to the sweeper's backoff (minutes to hours); waiting the minute
 * out finishes it at the limit's pace. Past the total the refusal is thrown as before and the Task retries later.
 * Sleeping is fine in a bot: Medplum's vmcontext timeout bounds synchronous execution only.
 */
export class RateLimitWaiter {
  private waitedMs = 0;
  private readonly maxTotalMs: number;
  private readonly pause: (ms: number) => Promise<unknown>;

  /**
   * @param maxTotalMs - the most this run may wait in all (0: never wait)
   * @param pause - how to wait (tests pass a fake)
   */
  constructor(
    maxTotalMs: number,
    pause: (ms: number) => Promise<unknown> = (ms) => sleep(ms, undefined, { ref: false })
  ) {
    this.maxTotalMs = maxTotalMs;
    this.pause = pause;
  }

  /** Milliseconds waited so far. */
  get waited(): number {
    return this.waitedMs;
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof ProviderHttpError) || err.kind !== 'rate-limited') {
          throw err;
        }
        // A little past the reset, so the retry does not land in the same window.
        const waitMs = (err.retryAfterSeconds ?? 60) * 1000 + 500;
        if (this.waitedMs + waitMs > this.maxTotalMs) {
          throw err;
        }
        this.waitedMs += waitMs;
        await this.pause(waitMs);
      }
    }
  }
}

/**
 * The same callback URL however a provider writes it back when listing subscriptions: scheme and host case, a
 * default port, a trailing slash. A mismatch would make every subscription of ours look foreign (Oura would never
 * renew one; Withings would be re-subscribed every day).
 */
export function sameUrl(a: string, b: string): boolean {
  const norm = (value: string): string => {
    try {
      const url = new URL(value);
      return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}${url.search}`;
    } catch {
      return value.replace(/\/+$/, '');
    }
  };
  return norm(a) === norm(b);
}
