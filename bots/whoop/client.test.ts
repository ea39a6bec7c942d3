/**
 * WhoopClient over real HTTP against the WHOOP sandbox (scripts/sandboxes/whoop), on loopback. The malformed-response
 * case, which the sandbox cannot produce, uses an injected fetch.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { approveConsent, startWhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';
import type { WhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';
import { ProviderHttpError } from '../shared/http.ts';
import type { TokenSet } from '../shared/provider.ts';
import { WHOOP_SCOPES, WhoopClient } from './client.ts';

const CLIENT = {
  clientId: 'baseline-test',
  clientSecret: 'sandbox-secret',
  redirectUris: ['http://127.0.0.1:3000/connect/whoop/callback'],
};
const REDIRECT = CLIENT.redirectUris[0] ?? '';

let sandbox: WhoopSandbox;
let client: WhoopClient;
let tokens: TokenSet;

async function connect(c: WhoopClient): Promise<TokenSet> {
  const url = c.authorizeUrl({
    clientId: CLIENT.clientId,
    redirectUri: REDIRECT,
    state: 'state-0123456789abcdef-0123456789',
  });
  const location = new URL(await approveConsent(url));
  expect(location.searchParams.get('state')).toBe('state-0123456789abcdef-0123456789');
  return c.exchangeCode(location.searchParams.get('code') ?? '', REDIRECT);
}

function idOf(record: object): unknown {
  return 'id' in record ? record.id : undefined;
}

async function kindOf(promise: Promise<unknown>): Promise<ProviderHttpError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ProviderHttpError);
    return err as ProviderHttpError;
  }
  throw new Error('expected a ProviderHttpError');
}

beforeAll(async () => {
  sandbox = await startWhoopSandbox({ clients: [CLIENT], days: 90, seed: 7 });
  client = new WhoopClient({ ...CLIENT, apiBaseUrl: sandbox.apiBaseUrl, authBaseUrl: sandbox.authBaseUrl });
  tokens = await connect(client);
});

afterAll(async () => {
  await sandbox?.close();
});

describe('OAuth', () => {
  test('authorizeUrl carries the documented parameters and the seven scopes', () => {
    const url = new URL(client.authorizeUrl({ clientId: 'cid', redirectUri: REDIRECT, state: 's'.repeat(43) }));
    expect(url.origin + url.pathname).toBe(`${sandbox.authBaseUrl}/oauth2/auth`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: 'cid',
      redirect_uri: REDIRECT,
      scope: 'offline read:recovery read:cycles read:sleep read:workout read:profile read:body_measurement',
      state: 's'.repeat(43),
    });
    expect(WHOOP_SCOPES).toHaveLength(7);
  });

  test('code exchange yields an access token, a refresh token, an expiry and the granted scope', () => {
    expect(tokens.accessToken).toBeTruthy();
    expect(tokens.refreshToken).toBeTruthy();
    expect(Date.parse(tokens.expiresAt)).toBeGreaterThan(Date.now());
    expect(tokens.scope.split(' ')).toEqual(expect.arrayContaining(['offline', 'read:sleep']));
  });

  test('userId is the WHOOP user id as a string', async () => {
    expect(await client.userId(tokens.accessToken)).toBe(String(sandbox.userId));
  });

  test('refresh rotates; reusing the old refresh token is unauthorized (invalid_grant)', async () => {
    const own = await connect(client);
    const refreshed = await client.refresh(own.refreshToken ?? '');
    expect(refreshed.accessToken).not.toBe(own.accessToken);
    expect(await client.userId(refreshed.accessToken)).toBe(String(sandbox.userId));
    const err = await kindOf(client.refresh(own.refreshToken ?? ''));
    expect(err.kind).toBe('unauthorized');
    expect(err.oauthError).toBe('invalid_grant');
    expect(err.message).not.toContain(own.refreshToken ?? '');
  });

  test('a wrong client secret is refused without the secret in the error', async () => {
    const wrong = new WhoopClient({
      ...CLIENT,
      clientSecret: 'not-the-secret',
      apiBaseUrl: sandbox.apiBaseUrl,
      authBaseUrl: sandbox.authBaseUrl,
    });
    const err = await kindOf(connect(wrong));
    expect(['unauthorized', 'bad-request']).toContain(err.kind);
    expect(err.message).not.toContain('not-the-secret');
  });

  test('revoke ends the grant: the token no longer works', async () => {
    const own = await connect(client);
    await client.revoke(own.accessToken);
    expect((await kindOf(client.getProfile(own.accessToken))).kind).toBe('unauthorized');
  });
});

describe('data', () => {
  // Revoking (above) ends every token of the user's grant, so the data tests connect afresh.
  beforeAll(async () => {
    tokens = await connect(client);
  });
  const end = (): string => new Date(`${sandbox.control.currentDate()}T00:00:00.000Z`).toISOString();
  const start = (): string => new Date(Date.parse(end()) - 60 * 86_400_000).toISOString();

  test('list* follow next_token over pages of 25 and return exactly what the API holds', async () => {
    const range = { start: start(), end: end() };
    const before = client.calls.byEndpoint['GET /v2/cycle'] ?? 0;
    const cycles = await client.listCycles(tokens.accessToken, range);
    expect(cycles.map((c) => c.id)).toEqual(sandbox.control.records('cycle', range).map(idOf));
    expect(cycles.length).toBeGreaterThan(25);
    expect((client.calls.byEndpoint['GET /v2/cycle'] ?? 0) - before).toBe(Math.ceil(cycles.length / 25));

    const sleeps = await client.listSleeps(tokens.accessToken, range);
    expect(sleeps.map((s) => s.id)).toEqual(sandbox.control.records('sleep', range).map(idOf));
    const recoveries = await client.listRecoveries(tokens.accessToken, range);
    expect(recoveries.length).toBe(sandbox.control.records('recovery', range).length);
    const workouts = await client.listWorkouts(tokens.accessToken, range);
    expect(workouts.map((w) => w.id)).toEqual(sandbox.control.records('workout', range).map(idOf));
  });

  test('get* by id, the cycle recovery, profile and body', async () => {
    const range = { start: start(), end: end() };
    const sleep = (await client.listSleeps(tokens.accessToken, range)).find((s) => !s.nap);
    expect(sleep).toBeDefined();
    if (!sleep) {
      return;
    }
    expect((await client.getSleep(tokens.accessToken, sleep.id)).id).toBe(sleep.id);
    const cycle = await client.getCycle(tokens.accessToken, sleep.cycle_id);
    expect(cycle.id).toBe(sleep.cycle_id);
    const recovery = await client.getCycleRecovery(tokens.accessToken, sleep.cycle_id);
    expect(recovery?.cycle_id).toBe(sleep.cycle_id);
    const workout = (await client.listWorkouts(tokens.accessToken, range))[0];
    if (workout) {
      expect((await client.getWorkout(tokens.accessToken, workout.id)).id).toBe(workout.id);
    }
    expect((await client.getProfile(tokens.accessToken)).user_id).toBe(sandbox.userId);
    const body = await client.getBody(tokens.accessToken);
    expect(body.height_meter).toBeGreaterThan(1);
  });

  test('an unknown id is not-found', async () => {
    const err = await kindOf(client.getSleep(tokens.accessToken, '00000000-0000-4000-8000-000000000000'));
    expect(err.kind).toBe('not-found');
    expect(err.message.startsWith('whoop GET /v2/activity/sleep/{sleepId} failed: HTTP 404 (not-found)')).toBe(true);
    expect(err.message).not.toContain('00000000');
  });

  test('429 is rate-limited with retryAfterSeconds from X-RateLimit-Reset', async () => {
    sandbox.control.injectFaults({ status: 429, count: 1, pathPrefix: '/v2/user/profile' });
    const err = await kindOf(client.getProfile(tokens.accessToken));
    expect(err.kind).toBe('rate-limited');
    expect(err.retryAfterSeconds).toEqual(expect.any(Number));
  });

  test('a 500 is a server error', async () => {
    sandbox.control.injectFaults({ status: 500, count: 1, pathPrefix: '/v2/user/measurement' });
    expect((await kindOf(client.getBody(tokens.accessToken))).kind).toBe('server');
  });

  test('a slow answer is a timeout', async () => {
    const impatient = new WhoopClient({
      ...CLIENT,
      apiBaseUrl: sandbox.apiBaseUrl,
      authBaseUrl: sandbox.authBaseUrl,
      timeoutMs: 100,
    });
    sandbox.control.injectTimeout({ count: 1, delayMs: 1000, pathPrefix: '/v2/user/profile' });
    expect((await kindOf(impatient.getProfile(tokens.accessToken))).kind).toBe('timeout');
  });
});

describe('response validation', () => {
  test('a malformed response is a bad-response naming the endpoint, not the body', async () => {
    const fake = (async () =>
      new Response(JSON.stringify({ records: [{ id: 'x', email: 'jsmith@whoop.com' }] }), {
        status: 200,
      })) as typeof fetch;
    const offline = new WhoopClient({ ...CLIENT, apiBaseUrl: 'http://127.0.0.1:9', fetch: fake });
    const err = await kindOf(
      offline.listCycles('token', { start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' })
    );
    expect(err.kind).toBe('bad-response');
    expect(err.message).toMatch(
      /^whoop GET \/v2\/cycle failed: bad-response - unexpected response shape at records\.0\./
    );
    expect(err.message).not.toContain('jsmith');
  });

  test('a token response without expires_in is refused', async () => {
    const fake = (async () =>
      new Response(JSON.stringify({ access_token: 'a', token_type: 'bearer' }), { status: 200 })) as typeof fetch;
    const offline = new WhoopClient({ ...CLIENT, authBaseUrl: 'http://127.0.0.1:9', fetch: fake });
    const err = await kindOf(offline.exchangeCode('code', REDIRECT));
    expect(err.message).toBe(
      'whoop POST /oauth2/token (authorization_code) failed: bad-response - unexpected response shape at expires_in'
    );
  });

  test('token calls are client_secret_post form bodies', async () => {
    let sent: RequestInit | undefined;
    const fake = (async (_url: string, init: RequestInit) => {
      sent = init;
      return new Response(
        JSON.stringify({ access_token: 'a', expires_in: 3600, refresh_token: 'r', scope: 'offline' }),
        { status: 200 }
      );
    }) as unknown as typeof fetch;
    const offline = new WhoopClient({
      ...CLIENT,
      authBaseUrl: 'http://127.0.0.1:9',
      fetch: fake,
      now: () => Date.parse('2026-11-21T12:00:00Z'),
    });
    expect(await offline.refresh('rt')).toEqual({
      accessToken: 'a',
      refreshToken: 'r',
      expiresAt: '2026-11-21T13:00:00.000Z',
      scope: 'offline',
    });
    expect(Object.fromEntries(new URLSearchParams(String(sent?.body)))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'rt',
      scope: 'offline',
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
    });
    expect(sent?.headers).toMatchObject({ 'content-type': 'application/x-www-form-urlencoded' });
  });
});

describe('README', () => {
  test('the secrets table lists exactly the WHOOP secrets the client reads', async () => {
    const { readFileSync } = await import('node:fs');
    const source = readFileSync(new URL('./client.ts', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const inCode = new Set([...source.matchAll(/Secret\(secrets, '(WHOOP_[A-Z_]+)'\)/g)].map((m) => m[1]));
    const inTable = new Set([...readme.matchAll(/^\| `(WHOOP_[A-Z_]+)` +\|/gm)].map((m) => m[1]));
    expect(inCode.size).toBe(4);
    expect([...inTable].sort()).toEqual([...inCode].sort());
  });
});
