/**
 * OuraClient against a fake fetch that answers as Oura documents it (providers.md §3): the request shapes, the error
 * mapping the shared token and sync code rely on, and that no token ever reaches an error message.
 */
import { describe, expect, test } from 'vitest';
import { ProviderHttpError } from '../shared/http.ts';
import { HEART_RATE_MAX_RANGE_MS, OURA_SCOPES, OuraClient, refusalGrantError } from './client.ts';
import { DAILY_SLEEP, PERSONAL_INFO, SLEEP, SUBSCRIPTION, TOKEN_RESPONSE } from './test-fixtures.ts';

interface Call {
  readonly url: URL;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
}

type Reply = { status: number; body?: unknown; text?: string; headers?: Record<string, string> };

function fakeFetch(answer: (call: Call) => Reply): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const impl = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const call: Call = {
      url: new URL(String(input)),
      method: init?.method ?? 'GET',
      headers: { ...(init?.headers as Record<string, string> | undefined) },
      body: typeof init?.body === 'string' ? init.body : undefined,
    };
    calls.push(call);
    const reply = answer(call);
    const text = reply.text ?? (reply.body === undefined ? '' : JSON.stringify(reply.body));
    return new Response(reply.status === 204 ? null : text, { status: reply.status, headers: reply.headers });
  };
  return { fetch: impl as typeof fetch, calls };
}

function clientWith(answer: (call: Call) => Reply, extra: Partial<ConstructorParameters<typeof OuraClient>[0]> = {}) {
  const fake = fakeFetch(answer);
  const client = new OuraClient({
    clientId: 'cid',
    clientSecret: 'csecret',
    apiBaseUrl: 'https://api.test',
    authBaseUrl: 'https://cloud.test/',
    now: () => Date.parse('2024-01-15T00:00:00Z'),
    fetch: fake.fetch,
    ...extra,
  });
  return { client, calls: fake.calls };
}

async function failure(promise: Promise<unknown>): Promise<ProviderHttpError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderHttpError);
    return err as ProviderHttpError;
  }
  throw new Error('expected a ProviderHttpError');
}

describe('OAuth', () => {
  test('authorizeUrl: cloud host, response_type=code, space-separated least-privilege scopes, state', () => {
    const { client } = clientWith(() => ({ status: 500 }));
    const url = new URL(client.authorizeUrl({ clientId: 'cid', redirectUri: 'https://app/cb', state: 's'.repeat(43) }));
    expect(url.origin + url.pathname).toBe('https://cloud.test/oauth/authorize');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'cid',
      redirect_uri: 'https://app/cb',
      scope: 'daily heartrate workout spo2Daily',
      state: 's'.repeat(43),
    });
    expect(OURA_SCOPES).not.toContain('email');
  });

  test('exchangeCode posts the form with client credentials and returns the token set', async () => {
    const { client, calls } = clientWith(() => ({ status: 200, body: TOKEN_RESPONSE }));
    const tokens = await client.exchangeCode('the-code', 'https://app/cb');
    expect(tokens).toEqual({
      accessToken: 'oura-access-token-1',
      refreshToken: 'oura-refresh-token-1',
      expiresAt: '2024-01-16T00:00:00.000Z',
      scope: 'daily heartrate workout spo2Daily',
    });
    const [call] = calls;
    expect(call?.url.toString()).toBe('https://api.test/oauth/token');
    expect(call?.method).toBe('POST');
    expect(call?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(call?.body))).toEqual({
      grant_type: 'authorization_code',
      code: 'the-code',
      redirect_uri: 'https://app/cb',
      client_id: 'cid',
      client_secret: 'csecret',
    });
  });

  test('refresh uses OURA_TOKEN_URL when set (new-portal apps)', async () => {
    const { client, calls } = clientWith(() => ({ status: 200, body: TOKEN_RESPONSE }), {
      tokenUrl: 'https://moi.test/oauth/v2/ext/oauth-token',
    });
    await client.refresh('rt-1');
    expect(calls[0]?.url.toString()).toBe('https://moi.test/oauth/v2/ext/oauth-token');
    expect(Object.fromEntries(new URLSearchParams(calls[0]?.body))).toMatchObject({
      grant_type: 'refresh_token',
      refresh_token: 'rt-1',
    });
  });

  test('a reused single-use refresh token (OAuth invalid_grant) is unauthorized + invalid_grant', async () => {
    const { client } = clientWith(() => ({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Token already used or revoked.' },
    }));
    const err = await failure(client.refresh('rt-used'));
    expect(err.kind).toBe('unauthorized');
    expect(err.oauthError).toBe('invalid_grant');
    expect(err.message).toBe('oura POST /oauth/token (refresh_token) failed: HTTP 400 (unauthorized) invalid_grant');
    expect(err.message).not.toContain('rt-used');
  });

  test('an RFC 7807 refusal "Token already used or revoked" without an OAuth error is invalid_grant too', async () => {
    const { client } = clientWith(() => ({
      status: 400,
      body: {
        status: 400,
        title: 'Bad Request',
        detail:
          'Token already used or revoked. If you are trying to use a refresh token, note that it can only be used once.',
      },
    }));
    const err = await failure(client.refresh('rt-used'));
    expect(err.kind).toBe('unauthorized');
    expect(err.oauthError).toBe('invalid_grant');
  });

  test('invalid_request on a refresh is NOT invalid_grant: it points the operator at OURA_TOKEN_URL', async () => {
    const { client } = clientWith(() => ({ status: 400, body: { error: 'invalid_request' } }));
    const err = await failure(client.refresh('rt-1'));
    expect(err.kind).toBe('bad-request');
    expect(err.oauthError).toBe('invalid_request');
    expect(err.message).toBe(
      'oura POST /oauth/token (refresh_token) failed: HTTP 400 (bad-request) invalid_request - apps from the new Oura developer portal must set OURA_TOKEN_URL=https://moi.ouraring.com/oauth/v2/ext/oauth-token'
    );
  });

  test('invalid_client stays an operator error; a 5xx and a 400 without a reason stay temporary', async () => {
    const client401 = clientWith(() => ({ status: 401, body: { error: 'invalid_client' } })).client;
    const bad = await failure(client401.refresh('rt-1'));
    expect(bad.oauthError).toBe('invalid_client');
    const server = await failure(clientWith(() => ({ status: 503, text: 'down' })).client.refresh('rt-1'));
    expect([server.kind, server.oauthError]).toEqual(['server', undefined]);
    const vague = await failure(clientWith(() => ({ status: 400, body: { detail: 'nope' } })).client.refresh('rt-1'));
    expect([vague.kind, vague.oauthError]).toEqual(['bad-request', undefined]);
  });

  test("refusalGrantError reads only Oura's used-or-revoked wording", () => {
    expect(refusalGrantError({ detail: 'Token already used or revoked' })).toBe('invalid_grant');
    expect(refusalGrantError({ title: 'Invalid request' })).toBeUndefined();
    expect(refusalGrantError('Token already used or revoked')).toBeUndefined();
    expect(refusalGrantError(null)).toBeUndefined();
  });

  test('a token response without expires_in is a bad response', async () => {
    const { expires_in: _e, ...noExpiry } = TOKEN_RESPONSE;
    const err = await failure(clientWith(() => ({ status: 200, body: noExpiry })).client.exchangeCode('c', 'r'));
    expect(err.message).toBe(
      'oura POST /oauth/token (authorization_code) failed: bad-response - unexpected response shape at expires_in'
    );
  });

  test('userId reads personal_info.id with the bearer token', async () => {
    const { client, calls } = clientWith(() => ({ status: 200, body: PERSONAL_INFO }));
    expect(await client.userId('at-1')).toBe(PERSONAL_INFO.id);
    expect(calls[0]?.url.pathname).toBe('/v2/usercollection/personal_info');
    expect(calls[0]?.headers.authorization).toBe('Bearer at-1');
  });

  test('revoke: GET /oauth/revoke?access_token=…; an empty or plain-text 200 is success; a failure never shows the token', async () => {
    const ok = clientWith(() => ({ status: 200, text: 'OK' }));
    await ok.client.revoke('secret-access-token');
    expect(ok.calls[0]?.method).toBe('GET');
    expect(ok.calls[0]?.url.pathname).toBe('/oauth/revoke');
    expect(ok.calls[0]?.url.searchParams.get('access_token')).toBe('secret-access-token');
    await clientWith(() => ({ status: 204 })).client.revoke('secret-access-token');
    const err = await failure(
      clientWith(() => ({ status: 500, text: 'secret-access-token' })).client.revoke('secret-access-token')
    );
    expect(err.message).toBe('oura GET /oauth/revoke failed: HTTP 500 (server)');
    expect(err.message).not.toContain('secret-access-token');
  });
});

describe('data', () => {
  test('listDocuments sends the dates and follows next_token to the last page', async () => {
    const { client, calls } = clientWith((call) =>
      call.url.searchParams.get('next_token') === 'p2'
        ? { status: 200, body: { data: [{ ...DAILY_SLEEP, id: 'b' }], next_token: null } }
        : { status: 200, body: { data: [DAILY_SLEEP], next_token: 'p2' } }
    );
    const docs = await client.listDocuments('at', 'daily_sleep', { startDate: '2024-01-13', endDate: '2024-01-16' });
    expect(docs.map((d) => d.id)).toEqual([DAILY_SLEEP.id, 'b']);
    expect(calls.map((c) => Object.fromEntries(c.url.searchParams))).toEqual([
      { start_date: '2024-01-13', end_date: '2024-01-16' },
      { start_date: '2024-01-13', end_date: '2024-01-16', next_token: 'p2' },
    ]);
    expect(client.calls.byEndpoint).toEqual({ 'GET /v2/usercollection/daily_sleep': 2 });
  });

  test('a repeating next_token is a bad response, not an endless loop', async () => {
    const { client } = clientWith(() => ({ status: 200, body: { data: [], next_token: 'same' } }));
    const err = await failure(client.listDocuments('at', 'sleep', { startDate: '2024-01-13', endDate: '2024-01-16' }));
    expect(err.message).toBe('oura GET /v2/usercollection/sleep failed: bad-response - next_token repeats');
  });

  test('getDocument: the document, or undefined on 404', async () => {
    const found = clientWith(() => ({ status: 200, body: SLEEP }));
    expect((await found.client.getDocument('at', 'sleep', 'id/1'))?.id).toBe(SLEEP.id);
    expect(found.calls[0]?.url.pathname).toBe('/v2/usercollection/sleep/id%2F1');
    const gone = clientWith(() => ({ status: 404, body: { status: 404, title: 'Not Found' } }));
    expect(await gone.client.getDocument('at', 'sleep', 'x')).toBeUndefined();
  });

  test.each([
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [422, 'bad-request'],
    [400, 'bad-request'],
    [500, 'server'],
  ] as const)('HTTP %i → %s', async (status, kind) => {
    const { client } = clientWith(() => ({ status, body: { status, title: 't', detail: 'd' } }));
    const err = await failure(client.getDocument('at', 'daily_spo2', 'x'));
    expect(err.kind).toBe(kind);
    expect(err.status).toBe(status);
  });

  test('429 carries Retry-After seconds', async () => {
    const { client } = clientWith(() => ({
      status: 429,
      body: { status: 429, title: 'Too Many Requests' },
      headers: { 'retry-after': '42', 'x-ratelimit-tier': 'application' },
    }));
    const err = await failure(
      client.listDocuments('at', 'workout', { startDate: '2024-01-01', endDate: '2024-01-02' })
    );
    expect([err.kind, err.retryAfterSeconds]).toEqual(['rate-limited', 42]);
  });

  test('a malformed document is a bad response naming the path, not the values', async () => {
    const { client } = clientWith(() => ({ status: 200, body: { ...SLEEP, bedtime_start: 'yesterday' } }));
    const err = await failure(client.getDocument('at', 'sleep', 'x'));
    expect(err.message).toBe(
      'oura GET /v2/usercollection/sleep/{document_id} failed: bad-response - unexpected response shape at bedtime_start'
    );
  });

  test('heart rate: a 45-day range is two calls of at most 30 days, with datetime parameters', async () => {
    const { client, calls } = clientWith(() => ({
      status: 200,
      body: { data: [{ bpm: 60, source: 'rest', timestamp: '2024-01-12T06:04:46+00:00' }], next_token: null },
    }));
    const rows = await client.listHeartRate('at', { start: '2024-01-01T00:00:00Z', end: '2024-02-15T00:00:00Z' });
    expect(rows).toHaveLength(2);
    const ranges = calls.map((c) => [c.url.searchParams.get('start_datetime'), c.url.searchParams.get('end_datetime')]);
    expect(ranges).toEqual([
      ['2024-01-01T00:00:00.000Z', '2024-01-31T00:00:00.000Z'],
      ['2024-01-31T00:00:00.000Z', '2024-02-15T00:00:00.000Z'],
    ]);
    for (const [start, end] of ranges) {
      expect(Date.parse(end ?? '') - Date.parse(start ?? '')).toBeLessThanOrEqual(HEART_RATE_MAX_RANGE_MS);
    }
  });

  test('heart rate refuses an empty or inverted range before calling Oura', async () => {
    const { client, calls } = clientWith(() => ({ status: 200, body: { data: [] } }));
    await expect(
      client.listHeartRate('at', { start: '2024-01-02T00:00:00Z', end: '2024-01-01T00:00:00Z' })
    ).rejects.toThrow('Invalid heart rate range 2024-01-02T00:00:00Z to 2024-01-01T00:00:00Z');
    expect(calls).toEqual([]);
  });
});

describe('webhook subscriptions (app credentials)', () => {
  test('list, create, renew and delete send x-client-id / x-client-secret and no bearer token', async () => {
    const { client, calls } = clientWith((call) => {
      if (call.method === 'GET') {
        return { status: 200, body: [SUBSCRIPTION] };
      }
      if (call.method === 'DELETE') {
        return { status: 204 };
      }
      return { status: call.method === 'POST' ? 201 : 200, body: SUBSCRIPTION };
    });
    expect(await client.listSubscriptions()).toEqual([SUBSCRIPTION]);
    expect(
      await client.createSubscription({
        callbackUrl: 'https://edge.example/oura',
        verificationToken: 'vt',
        eventType: 'update',
        dataType: 'sleep',
      })
    ).toBe('created');
    expect((await client.renewSubscription('sub 1')).id).toBe(SUBSCRIPTION.id);
    await client.deleteSubscription('sub-1');
    expect(calls.map((c) => `${c.method} ${c.url.pathname}`)).toEqual([
      'GET /v2/webhook/subscription',
      'POST /v2/webhook/subscription',
      'PUT /v2/webhook/subscription/renew/sub%201',
      'DELETE /v2/webhook/subscription/sub-1',
    ]);
    for (const call of calls) {
      expect(call.headers['x-client-id']).toBe('cid');
      expect(call.headers['x-client-secret']).toBe('csecret');
      expect(call.headers.authorization).toBeUndefined();
    }
    expect(JSON.parse(calls[1]?.body ?? '')).toEqual({
      callback_url: 'https://edge.example/oura',
      verification_token: 'vt',
      event_type: 'update',
      data_type: 'sleep',
    });
  });

  test('409 on create means the subscription exists; other refusals throw', async () => {
    const dup = clientWith(() => ({ status: 409, body: { status: 409, title: 'Conflict' } }));
    const request = {
      callbackUrl: 'https://e/o',
      verificationToken: 'vt',
      eventType: 'create',
      dataType: 'sleep',
    } as const;
    expect(await dup.client.createSubscription(request)).toBe('exists');
    const err = await failure(
      clientWith(() => ({ status: 422, body: { detail: [] } })).client.createSubscription(request)
    );
    expect(err.message).toBe('oura POST /v2/webhook/subscription failed: HTTP 422 (bad-request)');
  });
});
