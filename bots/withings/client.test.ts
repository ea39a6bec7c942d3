/**
 * WithingsClient over a fake fetch answering Withings' recorded shapes (test-fixtures.ts): the status table, OAuth
 * (userid, rotation, grant and client errors), the signed revoke, pagination and the notification calls.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { ProviderHttpError } from '../shared/http.ts';
import { MEASURE_TYPES_REQUESTED, WithingsClient, classifyWithingsStatus } from './client.ts';
import {
  ACTIVITY,
  ACTIVITY_BODY,
  BP_GROUP,
  INTRADAY_BODY,
  MEASURE_BODY,
  SLEEP_BODY,
  TOKEN_BODY,
  WEIGHT_GROUP,
  WORKOUT_BODY,
  fail,
  fakeFetch,
  ok,
} from './test-fixtures.ts';

const NOW = Date.parse('2026-11-02T10:00:00Z');
const REDIRECT = 'https://app.example/connect/withings/callback';

function clientWith(answers: readonly unknown[]): {
  client: WithingsClient;
  calls: ReturnType<typeof fakeFetch>['calls'];
} {
  const fake = fakeFetch(answers);
  const client = new WithingsClient({
    clientId: 'cid',
    clientSecret: 'csecret',
    apiBaseUrl: 'https://wbs.example/',
    authBaseUrl: 'https://account.example',
    fetch: fake.fetch,
    now: () => NOW,
  });
  return { client, calls: fake.calls };
}

async function errorOf(promise: Promise<unknown>): Promise<ProviderHttpError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderHttpError);
    return err as ProviderHttpError;
  }
  throw new Error('expected a ProviderHttpError');
}

describe('classifyWithingsStatus', () => {
  test.each([
    [0, 'ok'],
    [100, 'unauthorized'],
    [101, 'unauthorized'],
    [102, 'unauthorized'],
    [200, 'unauthorized'],
    [401, 'unauthorized'],
    [214, 'forbidden'],
    [277, 'forbidden'],
    [2553, 'forbidden'],
    [2555, 'forbidden'],
    [601, 'rate-limited'],
    [522, 'timeout'],
    [2554, 'bad-request'],
    [201, 'bad-request'],
    [213, 'bad-request'],
    [216, 'bad-request'],
    [247, 'bad-request'],
    [293, 'bad-request'],
    [343, 'bad-request'],
    [503, 'bad-request'],
    [3019, 'bad-request'],
    [215, 'server'],
    [524, 'server'],
    [500, 'server'],
    [9999, 'server'],
  ])('status %i → %s', (status, expected) => {
    const result = classifyWithingsStatus(status);
    expect(result.ok ? 'ok' : result.kind).toBe(expected);
  });
});

describe('OAuth', () => {
  test('authorizeUrl: authorize2, comma-separated scopes, state', () => {
    const { client } = clientWith([]);
    const url = new URL(client.authorizeUrl({ clientId: 'cid', redirectUri: REDIRECT, state: 's'.repeat(43) }));
    expect(url.origin + url.pathname).toBe('https://account.example/oauth2_user/authorize2');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'cid',
      redirect_uri: REDIRECT,
      scope: 'user.info,user.metrics,user.activity,user.sleepevents',
      state: 's'.repeat(43),
    });
  });

  test('exchangeCode posts requesttoken and returns the user id from the answer', async () => {
    const { client, calls } = clientWith([ok(TOKEN_BODY)]);
    const tokens = await client.exchangeCode('the-code', REDIRECT);
    expect(tokens).toEqual({
      accessToken: TOKEN_BODY.access_token,
      refreshToken: TOKEN_BODY.refresh_token,
      expiresAt: new Date(NOW + 10_800_000).toISOString(),
      scope: TOKEN_BODY.scope,
      providerUserId: '363',
    });
    expect(calls[0]?.url).toBe('https://wbs.example/v2/oauth2');
    expect(Object.fromEntries(calls[0]?.params ?? [])).toEqual({
      action: 'requesttoken',
      client_id: 'cid',
      client_secret: 'csecret',
      grant_type: 'authorization_code',
      code: 'the-code',
      redirect_uri: REDIRECT,
    });
    expect(calls[0]?.authorization).toBeUndefined();
  });

  test('a string userid is accepted too', async () => {
    const { client } = clientWith([ok({ ...TOKEN_BODY, userid: '12345' })]);
    expect((await client.exchangeCode('c', REDIRECT)).providerUserId).toBe('12345');
  });

  test('refresh sends the refresh token and returns the rotated one', async () => {
    const { client, calls } = clientWith([ok({ ...TOKEN_BODY, refresh_token: 'rotated' })]);
    const tokens = await client.refresh('old-refresh');
    expect(tokens.refreshToken).toBe('rotated');
    expect(calls[0]?.params.get('grant_type')).toBe('refresh_token');
    expect(calls[0]?.params.get('refresh_token')).toBe('old-refresh');
  });

  test('a dead refresh token (503 invalid refresh_token) is invalid_grant: reconnect', async () => {
    const { client } = clientWith([fail(503, 'Invalid Params: invalid refresh_token')]);
    const err = await errorOf(client.refresh('dead-refresh-token'));
    expect(err.kind).toBe('unauthorized');
    expect(err.oauthError).toBe('invalid_grant');
    expect(err.message).toBe(
      'withings POST /v2/oauth2 requesttoken (refresh_token) failed: unauthorized invalid_grant - status 503 (invalid parameters)'
    );
    expect(err.message).not.toContain('dead-refresh-token');
  });

  test('an expired code (503 invalid code) is invalid_grant', async () => {
    const { client } = clientWith([fail(503, 'Invalid Params: invalid code')]);
    const err = await errorOf(client.exchangeCode('old-code', REDIRECT));
    expect(err.oauthError).toBe('invalid_grant');
  });

  test('a 401 on the token endpoint is invalid_grant', async () => {
    const { client } = clientWith([fail(401, 'XRequestID: Not provided invalid_token')]);
    const err = await errorOf(client.refresh('r'));
    expect(err.kind).toBe('unauthorized');
    expect(err.oauthError).toBe('invalid_grant');
  });

  test.each(['Invalid client_id', 'Invalid client_secret'])('"%s" is invalid_client: operator error', async (error) => {
    const { client } = clientWith([fail(401, error)]);
    const err = await errorOf(client.refresh('r'));
    expect(err.oauthError).toBe('invalid_client');
  });

  test('a redirect_uri mismatch is a bad request without an OAuth verdict', async () => {
    const { client } = clientWith([fail(503, 'Invalid Params: redirect_uri mismatch')]);
    const err = await errorOf(client.exchangeCode('c', REDIRECT));
    expect(err.kind).toBe('bad-request');
    expect(err.oauthError).toBeUndefined();
  });

  test('a token answer without userid is a bad response', async () => {
    const { userid: _dropped, ...rest } = TOKEN_BODY;
    const { client } = clientWith([ok(rest)]);
    const err = await errorOf(client.exchangeCode('c', REDIRECT));
    expect(err.kind).toBe('bad-response');
    expect(err.message).toContain('unexpected response shape at userid');
    expect(err.message).not.toContain(TOKEN_BODY.access_token);
  });

  test('userId throws: the user id comes with the tokens', async () => {
    const { client } = clientWith([]);
    await expect(client.userId('token')).rejects.toThrow(
      'Withings names the user only in the token response (TokenSet.providerUserId); it has no user-id endpoint'
    );
  });

  test('revoke: getnonce signed over getnonce,<client_id>,<timestamp>, then revoke signed over the nonce', async () => {
    const { client, calls } = clientWith([ok({ nonce: 'n0nce' }), ok({})]);
    await client.revoke('access', '363');
    const ts = String(Math.floor(NOW / 1000));
    expect(calls[0]?.url).toBe('https://wbs.example/v2/signature');
    expect(Object.fromEntries(calls[0]?.params ?? [])).toEqual({
      action: 'getnonce',
      client_id: 'cid',
      timestamp: ts,
      signature: createHmac('sha256', 'csecret').update(`getnonce,cid,${ts}`).digest('hex'),
    });
    expect(calls[1]?.url).toBe('https://wbs.example/v2/oauth2');
    expect(Object.fromEntries(calls[1]?.params ?? [])).toEqual({
      action: 'revoke',
      client_id: 'cid',
      nonce: 'n0nce',
      signature: createHmac('sha256', 'csecret').update('revoke,cid,n0nce').digest('hex'),
      userid: '363',
    });
  });

  test('revoking a grant that is already gone is unauthorized (disconnect reports "already")', async () => {
    const { client } = clientWith([
      ok({ nonce: 'n' }),
      fail(503, 'Invalid Params: this user has not authorized this application'),
    ]);
    const err = await errorOf(client.revoke('a', '363'));
    expect(err.kind).toBe('unauthorized');
    expect(err.message).toBe('withings POST /v2/oauth2 revoke failed: unauthorized - status 503 (invalid parameters)');
  });

  test('a refused nonce (bad signature) is a bad request, not "already revoked"', async () => {
    const { client } = clientWith([fail(503, 'Invalid Params: invalid signature')]);
    expect((await errorOf(client.revoke('a', '363'))).kind).toBe('bad-request');
  });

  test('revoke refuses a non-numeric user id before calling Withings', async () => {
    const { client, calls } = clientWith([]);
    await expect(client.revoke('a', 'not-a-user')).rejects.toThrow(
      'Withings revoke needs the numeric Withings user id'
    );
    expect(calls).toHaveLength(0);
  });
});

describe('data', () => {
  test('getMeasures asks category 1 and Baseline’s types with a Bearer token, and pages with offset', async () => {
    const { client, calls } = clientWith([
      ok({ ...MEASURE_BODY, measuregrps: [BP_GROUP], more: 1, offset: 1 }),
      ok({ ...MEASURE_BODY, measuregrps: [WEIGHT_GROUP], more: 0, offset: 0 }),
    ]);
    const result = await client.getMeasures('tok', { startdate: 100, enddate: 200 });
    expect(result.groups.map((g) => g.grpid)).toEqual([BP_GROUP.grpid, WEIGHT_GROUP.grpid]);
    expect(result.timezone).toBe('Europe/Berlin');
    expect(calls).toHaveLength(2);
    expect(calls[0]?.url).toBe('https://wbs.example/measure');
    expect(calls[0]?.authorization).toBe('Bearer tok');
    expect(Object.fromEntries(calls[0]?.params ?? [])).toEqual({
      action: 'getmeas',
      meastypes: MEASURE_TYPES_REQUESTED.join(','),
      category: '1',
      startdate: '100',
      enddate: '200',
    });
    expect(calls[1]?.params.get('offset')).toBe('1');
  });

  test('getMeasures with lastupdate sends no date range', async () => {
    const { client, calls } = clientWith([ok(MEASURE_BODY)]);
    await client.getMeasures('tok', { lastupdate: 150 });
    expect(calls[0]?.params.get('lastupdate')).toBe('150');
    expect(calls[0]?.params.has('startdate')).toBe(false);
  });

  test('more pages without a new offset is a bad response, not a loop', async () => {
    const { client } = clientWith([ok({ ...ACTIVITY_BODY, more: true, offset: 5 })]);
    const err = await errorOf(client.getActivity('tok', { startdateymd: '2023-10-20', enddateymd: '2023-10-21' }));
    expect(err.message).toBe(
      'withings POST /v2/measure getactivity failed: bad-response - more pages announced without a new offset'
    );
  });

  test('getActivity pages on a boolean more', async () => {
    const { client, calls } = clientWith([
      ok({ activities: [ACTIVITY], more: true, offset: 1 }),
      ok({ activities: [{ ...ACTIVITY, date: '2023-10-21' }], more: false, offset: 0 }),
    ]);
    const activities = await client.getActivity('tok', { startdateymd: '2023-10-20', enddateymd: '2023-10-21' });
    expect(activities.map((a) => a.date)).toEqual(['2023-10-20', '2023-10-21']);
    expect(calls[0]?.url).toBe('https://wbs.example/v2/measure');
    expect(calls[0]?.params.get('action')).toBe('getactivity');
    expect(calls[0]?.params.get('startdateymd')).toBe('2023-10-20');
  });

  test('getWorkouts and getSleepSummaries parse their series', async () => {
    const { client, calls } = clientWith([ok(WORKOUT_BODY), ok(SLEEP_BODY)]);
    expect((await client.getWorkouts('tok', { lastupdate: 1 })).map((w) => w.id)).toEqual([3094586]);
    expect((await client.getSleepSummaries('tok', { lastupdate: 1 })).map((s) => s.id)).toEqual([2081804182]);
    expect(calls[0]?.params.get('action')).toBe('getworkouts');
    expect(calls[1]?.url).toBe('https://wbs.example/v2/sleep');
    expect(calls[1]?.params.get('action')).toBe('getsummary');
  });

  test('getIntraday returns points in time order and takes [] as an empty day', async () => {
    const { client, calls } = clientWith([ok(INTRADAY_BODY), ok({ series: [] })]);
    const points = await client.getIntraday('tok', { startdate: 1697760000, enddate: 1697846400 });
    expect(points.map((p) => p.t)).toEqual([1697760000, 1697760060, 1697760180]);
    expect(calls[0]?.params.get('data_fields')).toBe('heart_rate,steps');
    expect(await client.getIntraday('tok', { startdate: 1, enddate: 2 })).toEqual([]);
  });

  test('601 is rate-limited with a 60-second retry', async () => {
    const { client } = clientWith([fail(601, 'Too Many Requests')]);
    const err = await errorOf(client.getMeasures('tok', { lastupdate: 1 }));
    expect(err.kind).toBe('rate-limited');
    expect(err.retryAfterSeconds).toBe(60);
    expect(err.message).toBe(
      'withings POST /measure getmeas failed: rate-limited - status 601 (too many requests) retry after 60s'
    );
  });

  test('401 on a data call is unauthorized without an OAuth verdict (the sync refreshes once)', async () => {
    const { client } = clientWith([
      fail(401, 'XRequestID: Not provided invalid_token: The access token provided is invalid'),
    ]);
    const err = await errorOf(client.getSleepSummaries('secret-access-token', { lastupdate: 1 }));
    expect(err.kind).toBe('unauthorized');
    expect(err.oauthError).toBeUndefined();
    expect(err.message).not.toContain('secret-access-token');
  });

  test.each([
    [522, 'timeout'],
    [214, 'forbidden'],
    [2554, 'bad-request'],
    [524, 'server'],
  ])('status %i on a data call → %s', async (status, kind) => {
    const { client } = clientWith([fail(status, 'x')]);
    expect((await errorOf(client.getWorkouts('tok', { lastupdate: 1 }))).kind).toBe(kind);
  });

  test('a body that is not an envelope is a bad response', async () => {
    const { client } = clientWith([{ hello: 'world' }]);
    const err = await errorOf(client.getMeasures('tok', { lastupdate: 1 }));
    expect(err.message).toBe(
      'withings POST /measure getmeas failed: bad-response - unexpected response shape at status'
    );
  });

  test('counts calls by endpoint', async () => {
    const { client } = clientWith([ok(MEASURE_BODY), ok(ACTIVITY_BODY)]);
    await client.getMeasures('t', { lastupdate: 1 });
    await client.getActivity('t', { lastupdate: 1 });
    expect(client.calls).toEqual({
      total: 2,
      byEndpoint: { 'POST /measure getmeas': 1, 'POST /v2/measure getactivity': 1 },
    });
  });
});

describe('notifications', () => {
  test('subscribe, revoke and list post to /notify with the user token', async () => {
    const { client, calls } = clientWith([
      ok({}),
      ok({}),
      ok({ profiles: [{ appli: 1, callbackurl: 'https://edge.example/w', expires: 2147483647, comment: 'Baseline' }] }),
    ]);
    await client.subscribe('tok', 16, 'https://edge.example/w', 'Baseline');
    await client.unsubscribe('tok', 16, 'https://edge.example/w');
    expect(await client.listSubscriptions('tok')).toEqual([
      { appli: 1, callbackurl: 'https://edge.example/w', expires: 2147483647, comment: 'Baseline' },
    ]);
    expect(calls.map((c) => c.url)).toEqual([
      'https://wbs.example/notify',
      'https://wbs.example/notify',
      'https://wbs.example/notify',
    ]);
    expect(Object.fromEntries(calls[0]?.params ?? [])).toEqual({
      action: 'subscribe',
      appli: '16',
      callbackurl: 'https://edge.example/w',
      comment: 'Baseline',
    });
    expect(calls[1]?.params.get('action')).toBe('revoke');
    expect(calls[0]?.authorization).toBe('Bearer tok');
  });
});
