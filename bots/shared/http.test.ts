import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { ProviderHttpError, RateLimitWaiter, fetchJson, parseResponse, retryAfterSeconds, sameUrl } from './http.ts';

const URL_WITH_SECRET = 'https://api.example.test/v2/cycle?code=SECRET-CODE&token=SECRET-TOKEN';

function respond(status: number, body: string, headers: Record<string, string> = {}): typeof fetch {
  return (async () => new Response(body, { status, headers })) as typeof fetch;
}

async function failure(promise: Promise<unknown>): Promise<ProviderHttpError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderHttpError);
    const e = err as ProviderHttpError;
    expect(e.message).not.toContain('SECRET');
    expect(e.message).not.toContain('api.example.test');
    return e;
  }
  throw new Error('expected a ProviderHttpError');
}

const init = { provider: 'whoop', endpoint: 'GET /v2/cycle', timeoutMs: 1000 };

describe('fetchJson errors', () => {
  test.each([
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not-found'],
    [400, 'bad-request'],
    [500, 'server'],
    [503, 'server'],
  ] as const)('HTTP %i is %s, with a message naming provider, endpoint and status only', async (status, kind) => {
    const err = await failure(
      fetchJson(URL_WITH_SECRET, { ...init, fetch: respond(status, '{"message":"SECRET-TOKEN is bad"}') })
    );
    expect(err.kind).toBe(kind);
    expect(err.status).toBe(status);
    expect(err.message).toBe(`whoop GET /v2/cycle failed: HTTP ${status} (${kind})`);
  });

  test('429 is rate-limited with retryAfterSeconds from X-RateLimit-Reset', async () => {
    const err = await failure(
      fetchJson(URL_WITH_SECRET, { ...init, fetch: respond(429, '', { 'X-RateLimit-Reset': '37' }) })
    );
    expect(err.kind).toBe('rate-limited');
    expect(err.retryAfterSeconds).toBe(37);
    expect(err.message).toBe('whoop GET /v2/cycle failed: HTTP 429 (rate-limited) retry after 37s');
  });

  test('an OAuth error code is kept, its description is not', async () => {
    const err = await failure(
      fetchJson(URL_WITH_SECRET, {
        ...init,
        fetch: respond(400, '{"error":"invalid_grant","error_description":"SECRET-TOKEN expired"}'),
      })
    );
    expect(err.oauthError).toBe('invalid_grant');
    expect(err.message).toBe('whoop GET /v2/cycle failed: HTTP 400 (bad-request) invalid_grant');
  });

  test('a 2xx body that is not JSON is a bad-response', async () => {
    const err = await failure(fetchJson(URL_WITH_SECRET, { ...init, fetch: respond(200, '<html>SECRET</html>') }));
    expect(err.kind).toBe('bad-response');
    expect(err.message).toBe('whoop GET /v2/cycle failed: HTTP 200 (bad-response) - body is not JSON');
  });

  test('a transport failure is network, without the URL the fetch error quotes', async () => {
    const broken = (async () => {
      throw new TypeError(`request to ${URL_WITH_SECRET} failed, reason: ECONNREFUSED`);
    }) as typeof fetch;
    const err = await failure(fetchJson(URL_WITH_SECRET, { ...init, fetch: broken }));
    expect(err.kind).toBe('network');
    expect(err.message).toBe('whoop GET /v2/cycle failed: network - TypeError');
    // Not even in the cause chain, which a logger's inspect() would print.
    expect(err.cause).toBeUndefined();
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).not.toContain('SECRET');
  });

  test('no answer within timeoutMs is a timeout', async () => {
    const hanging = (() => new Promise<Response>(() => undefined)) as typeof fetch;
    const err = await failure(fetchJson(URL_WITH_SECRET, { ...init, timeoutMs: 20, fetch: hanging }));
    expect(err.kind).toBe('timeout');
    expect(err.message).toBe('whoop GET /v2/cycle failed: timeout - no response within 20ms');
  });

  test("node-fetch's own timeout error is a timeout too", async () => {
    const nodeFetchTimeout = (async () => {
      throw Object.assign(new Error(`network timeout at: ${URL_WITH_SECRET}`), { type: 'request-timeout' });
    }) as typeof fetch;
    expect((await failure(fetchJson(URL_WITH_SECRET, { ...init, fetch: nodeFetchTimeout }))).kind).toBe('timeout');
  });
});

describe('fetchJson success', () => {
  test('parses JSON, treats an empty body as undefined, sends method, headers and body', async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const recording = (async (url: string, requestInit: RequestInit) => {
      seen.push({ url, init: requestInit });
      return seen.length === 1 ? new Response('{"a":1}', { status: 200 }) : new Response(null, { status: 204 });
    }) as unknown as typeof fetch;
    expect(await fetchJson('https://x.test/a', { ...init, fetch: recording })).toEqual({ status: 200, body: { a: 1 } });
    expect(
      await fetchJson('https://x.test/b', {
        ...init,
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a=b',
        fetch: recording,
      })
    ).toEqual({ status: 204, body: undefined });
    expect(seen[1]?.init).toMatchObject({
      method: 'POST',
      body: 'a=b',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
    });
  });
});

describe('retryAfterSeconds', () => {
  const now = Date.parse('2026-11-21T12:00:00Z');
  test('Retry-After seconds, Retry-After HTTP date, X-RateLimit-Reset, or nothing', () => {
    expect(retryAfterSeconds(new Headers({ 'Retry-After': '12', 'X-RateLimit-Reset': '3' }), now)).toBe(12);
    expect(retryAfterSeconds(new Headers({ 'Retry-After': 'Sat, 21 Nov 2026 12:01:00 GMT' }), now)).toBe(60);
    expect(retryAfterSeconds(new Headers({ 'X-RateLimit-Reset': '2.5' }), now)).toBe(3);
    expect(retryAfterSeconds(new Headers(), now)).toBeUndefined();
  });
});

describe('parseResponse', () => {
  test('a malformed body is a bad-response naming the endpoint and field paths, not values', () => {
    const schema = z.object({ records: z.array(z.object({ id: z.number() })) });
    let err: unknown;
    try {
      parseResponse(schema, { records: [{ id: 'jsmith@whoop.com' }] }, 'whoop', 'GET /v2/cycle');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProviderHttpError);
    expect((err as ProviderHttpError).kind).toBe('bad-response');
    expect((err as Error).message).toBe(
      'whoop GET /v2/cycle failed: bad-response - unexpected response shape at records.0.id'
    );
    expect(parseResponse(schema, { records: [{ id: 1 }] }, 'whoop', 'GET /v2/cycle')).toEqual({ records: [{ id: 1 }] });
  });
});

describe('RateLimitWaiter', () => {
  const limited = (retryAfterSeconds?: number): ProviderHttpError =>
    new ProviderHttpError({
      provider: 'withings',
      endpoint: 'measure getmeas',
      kind: 'rate-limited',
      retryAfterSeconds,
    });

  test('waits out a refusal and returns the retried answer, counting the wait', async () => {
    const waits: number[] = [];
    const waiter = new RateLimitWaiter(150_000, (ms) => Promise.resolve(waits.push(ms)));
    let calls = 0;
    const answer = await waiter.run(() => (++calls === 1 ? Promise.reject(limited(60)) : Promise.resolve('ok')));
    expect(answer).toBe('ok');
    expect(waits).toEqual([60_500]);
    expect(waiter.waited).toBe(60_500);
  });

  test('throws the refusal once the total would pass the budget, and never waits for other errors', async () => {
    const waiter = new RateLimitWaiter(100_000, () => Promise.resolve());
    await expect(waiter.run(() => Promise.reject(limited(60)))).rejects.toThrow(
      'withings measure getmeas failed: rate-limited retry after 60s'
    );
    expect(waiter.waited).toBe(60_500);
    const server = new ProviderHttpError({ provider: 'oura', endpoint: 'GET /v2/x', kind: 'server', status: 500 });
    await expect(new RateLimitWaiter(150_000, () => Promise.resolve()).run(() => Promise.reject(server))).rejects.toBe(
      server
    );
    await expect(new RateLimitWaiter(0).run(() => Promise.reject(limited()))).rejects.toThrow('rate-limited');
  });
});

test('sameUrl: a callback URL is recognised however a provider writes it back; another URL is not ours', () => {
  expect(sameUrl('https://Edge.Example.org:443/webhook/abc/', 'https://edge.example.org/webhook/abc')).toBe(true);
  expect(sameUrl('https://edge.example.org/webhook/abc', 'https://edge.example.org/webhook/abd')).toBe(false);
  expect(sameUrl('https://edge.example.org:8443/webhook/abc', 'https://edge.example.org/webhook/abc')).toBe(false);
});
