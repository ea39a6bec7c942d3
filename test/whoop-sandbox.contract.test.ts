/**
 * The WHOOP sandbox against WHOOP's contract, over real HTTP: every API response validates against the vendor's
 * OpenAPI spec (reference/openapi/whoop.yml, converted to JSON Schema with `additionalProperties: false` so an
 * undocumented field fails too), the OAuth matrix (state, redirect, code reuse, client_secret_post only, offline,
 * rotation, concurrent refresh), pagination over the whole history with exact counts, rate limits, injected faults,
 * signed webhooks with WHOOP's retry behaviour, revocation, the score lifecycle and determinism.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { dayNumberOf, DAY_MS } from '../scripts/sandboxes/whoop/data.ts';
import type { RecordType, WhoopCycle, WhoopRecovery, WhoopSleep } from '../scripts/sandboxes/whoop/data.ts';
import { approveConsent, startWhoopSandbox } from '../scripts/sandboxes/whoop/server.ts';
import type { SandboxClient, WhoopSandbox, WhoopSandboxOptions } from '../scripts/sandboxes/whoop/server.ts';

const SPEC_PATH = new URL('./fixtures/openapi/whoop.yml', import.meta.url);
const END_DATE = '2026-10-31';
const REDIRECT = 'https://app.baseline.local/connect/whoop/callback';
const ALL_SCOPES = 'offline read:recovery read:cycles read:workout read:sleep read:profile read:body_measurement';
const APP: SandboxClient = {
  clientId: 'baseline-app',
  clientSecret: 'baseline-secret',
  redirectUris: [REDIRECT],
  name: 'Baseline',
};
const OTHER_APP: SandboxClient = {
  clientId: 'other-app',
  clientSecret: 'other-secret',
  redirectUris: ['https://other.example/cb'],
};

// ---------------------------------------------------------------------------------------------------------------
// OpenAPI 3.0 → JSON Schema

const DROPPED_KEYWORDS = new Set([
  'example',
  'examples',
  'externalDocs',
  'description',
  'xml',
  'discriminator',
  'deprecated',
]);

function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) {
    return node.map(toJsonSchema);
  }
  if (node === null || typeof node !== 'object') {
    return node;
  }
  const source = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (DROPPED_KEYWORDS.has(key) || key === 'nullable') {
      continue;
    }
    if (key === '$ref' && typeof value === 'string') {
      out[key] = value.replace('#/components/schemas/', 'whoop#/definitions/');
    } else if (key === 'properties' && value !== null && typeof value === 'object') {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, toJsonSchema(schema)]));
    } else {
      out[key] = toJsonSchema(value);
    }
  }
  if (source['nullable'] === true) {
    return typeof out['type'] === 'string'
      ? { ...out, type: [out['type'], 'null'] }
      : { anyOf: [out, { type: 'null' }] };
  }
  // Strict: the sandbox must not invent fields the spec lacks (WHOOP itself may add some; a client must tolerate that).
  if (
    out['type'] === 'object' &&
    out['properties'] !== undefined &&
    out['additionalProperties'] === undefined &&
    out['oneOf'] === undefined
  ) {
    out['additionalProperties'] = false;
  }
  return out;
}

function buildValidators(): (name: string) => ValidateFunction {
  const spec = parseYaml(readFileSync(SPEC_PATH, 'utf8')) as { components: { schemas: Record<string, unknown> } };
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  const isInt = (min: number, max: number) => (value: number) =>
    Number.isInteger(value) && value >= min && value <= max;
  ajv.addFormat('int32', { type: 'number', validate: isInt(-(2 ** 31), 2 ** 31 - 1) });
  ajv.addFormat('int64', { type: 'number', validate: isInt(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) });
  ajv.addFormat('float', { type: 'number', validate: (value: number) => Number.isFinite(value) });
  ajv.addFormat('double', { type: 'number', validate: (value: number) => Number.isFinite(value) });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
  ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  ajv.addSchema({ $id: 'whoop', definitions: toJsonSchema(spec.components.schemas) });
  // Not in the spec: the token response and webhook body as WHOOP documents them (reference/providers.md §1.1, §1.3).
  ajv.addSchema({
    $id: 'token',
    type: 'object',
    required: ['access_token', 'expires_in', 'scope', 'token_type'],
    additionalProperties: false,
    properties: {
      access_token: { type: 'string', minLength: 1 },
      expires_in: { type: 'integer', minimum: 1 },
      refresh_token: { type: 'string', minLength: 1 },
      scope: { type: 'string' },
      token_type: { const: 'bearer' },
    },
  });
  ajv.addSchema({
    $id: 'webhook',
    type: 'object',
    required: ['user_id', 'id', 'type', 'trace_id'],
    additionalProperties: false,
    properties: {
      user_id: { type: 'integer' },
      id: { type: 'string', format: 'uuid' },
      type: {
        enum: [
          'workout.updated',
          'workout.deleted',
          'sleep.updated',
          'sleep.deleted',
          'recovery.updated',
          'recovery.deleted',
        ],
      },
      trace_id: { type: 'string', minLength: 1 },
    },
  });
  return (name) => {
    const validate = ajv.getSchema(
      name.includes('#') || name === 'token' || name === 'webhook' ? name : `whoop#/definitions/${name}`
    );
    if (!validate) {
      throw new Error(`No schema ${name}`);
    }
    return validate;
  };
}

const validator = buildValidators();

function expectValid(name: string, body: unknown): void {
  const validate = validator(name);
  const ok = validate(body);
  expect(ok ? [] : validate.errors, `${name}: ${JSON.stringify(body).slice(0, 300)}`).toEqual([]);
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

interface Tokens {
  access_token: string;
  refresh_token?: string;
  scope: string;
  expires_in: number;
  token_type: string;
}

function authorizeUrl(sandbox: WhoopSandbox, overrides: Record<string, string> = {}): string {
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: APP.clientId,
    redirect_uri: REDIRECT,
    scope: ALL_SCOPES,
    state: 'state-0123456789abcdef',
    ...overrides,
  });
  return `${sandbox.authBaseUrl}/oauth2/auth?${params.toString()}`;
}

async function tokenRequest(
  sandbox: WhoopSandbox,
  form: Record<string, string>,
  headers: Record<string, string> = {}
): Promise<Response> {
  return fetch(`${sandbox.authBaseUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

async function codeFor(
  sandbox: WhoopSandbox,
  options: { client?: SandboxClient; scope?: string; userId?: number } = {}
): Promise<string> {
  const client = options.client ?? APP;
  const redirect = client.redirectUris[0] ?? '';
  const location = await approveConsent(
    authorizeUrl(sandbox, { client_id: client.clientId, redirect_uri: redirect, scope: options.scope ?? ALL_SCOPES }),
    options.userId === undefined ? {} : { userId: options.userId }
  );
  const code = new URL(location).searchParams.get('code');
  if (!code) {
    throw new Error(`No code in ${location}`);
  }
  return code;
}

async function connect(
  sandbox: WhoopSandbox,
  options: { client?: SandboxClient; scope?: string; userId?: number } = {}
): Promise<Tokens> {
  const client = options.client ?? APP;
  const code = await codeFor(sandbox, options);
  const response = await tokenRequest(sandbox, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: client.redirectUris[0] ?? '',
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Tokens;
}

async function refresh(sandbox: WhoopSandbox, refreshToken: string, client: SandboxClient = APP): Promise<Response> {
  return tokenRequest(sandbox, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: client.clientId,
    client_secret: client.clientSecret,
    scope: 'offline',
  });
}

async function api(
  sandbox: WhoopSandbox,
  path: string,
  accessToken: string,
  init: RequestInit = {}
): Promise<Response> {
  return fetch(`${sandbox.apiBaseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${accessToken}`, ...(init.headers ?? {}) },
  });
}

async function getJson<T>(sandbox: WhoopSandbox, path: string, accessToken: string): Promise<T> {
  const response = await api(sandbox, path, accessToken);
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

const COLLECTIONS: { type: RecordType; path: string; schema: string; item: string }[] = [
  { type: 'cycle', path: '/v2/cycle', schema: 'PaginatedCycleResponse', item: 'Cycle' },
  { type: 'recovery', path: '/v2/recovery', schema: 'RecoveryCollection', item: 'Recovery' },
  { type: 'sleep', path: '/v2/activity/sleep', schema: 'PaginatedSleepResponse', item: 'Sleep' },
  { type: 'workout', path: '/v2/activity/workout', schema: 'WorkoutCollection', item: 'WorkoutV2' },
];

interface Page {
  records: Record<string, unknown>[];
  next_token?: string;
}

async function walk(
  sandbox: WhoopSandbox,
  path: string,
  token: string,
  query: Record<string, string>,
  schema: string
): Promise<{ records: Record<string, unknown>[]; pages: number }> {
  const records: Record<string, unknown>[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  do {
    const params = new URLSearchParams({ ...query, ...(nextToken ? { nextToken } : {}) });
    const page = await getJson<Page>(sandbox, `${path}?${params.toString()}`, token);
    expectValid(schema, page);
    records.push(...page.records);
    nextToken = page.next_token;
    pages += 1;
  } while (nextToken !== undefined);
  return { records, pages };
}

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver whose answer each test sets. */
async function startReceiver(): Promise<{
  url: string;
  received: Received[];
  answer: { status: number; hangMs: number };
  close: () => Promise<void>;
}> {
  const received: Received[] = [];
  const answer = { status: 204, hangMs: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const reply = (): void => {
        res.writeHead(answer.status).end();
      };
      if (answer.hangMs > 0) {
        setTimeout(reply, answer.hangMs);
      } else {
        reply();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/whoop`,
    received,
    answer,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const started: WhoopSandbox[] = [];
async function sandboxWith(options: Partial<WhoopSandboxOptions> = {}): Promise<WhoopSandbox> {
  const sandbox = await startWhoopSandbox({
    seed: 7,
    endDate: END_DATE,
    people: 2,
    clients: [APP, OTHER_APP],
    rateLimit: { perMinute: 100_000, perDay: 1_000_000 },
    webhookRetryDelaysMs: [20, 40, 80, 160, 320],
    webhookTimeoutMs: 300,
    ...options,
  });
  started.push(sandbox);
  return sandbox;
}

afterAll(async () => {
  await Promise.all(started.map((sandbox) => sandbox.close()));
});

// ---------------------------------------------------------------------------------------------------------------

describe('API responses match the WHOOP OpenAPI spec', () => {
  let sandbox: WhoopSandbox;
  let tokens: Tokens;

  beforeAll(async () => {
    sandbox = await sandboxWith();
    tokens = await connect(sandbox);
  });

  test('the token response has the documented shape', () => {
    expectValid('token', tokens);
    expect(tokens.expires_in).toBe(3600);
    expect(tokens.scope).toBe(ALL_SCOPES);
  });

  test.each(COLLECTIONS)('$path: first page, by id, defaults', async ({ path, schema, item }) => {
    const page = await getJson<Page>(sandbox, path, tokens.access_token);
    expectValid(schema, page);
    expect(page.records).toHaveLength(10);
    expect(page.next_token).toBeTypeOf('string');
    for (const record of page.records) {
      expectValid(item, record);
    }
  });

  test('by-id endpoints, the cycle sub-resources, profile and body measurement', async () => {
    const cycles = await getJson<Page>(sandbox, '/v2/cycle?limit=5', tokens.access_token);
    const cycle = cycles.records[2] as unknown as WhoopCycle;
    expectValid('Cycle', await getJson(sandbox, `/v2/cycle/${cycle.id}`, tokens.access_token));
    const sleep = await getJson<WhoopSleep>(sandbox, `/v2/cycle/${cycle.id}/sleep`, tokens.access_token);
    expectValid('Sleep', sleep);
    expect(sleep.cycle_id).toBe(cycle.id);
    expect(sleep.nap).toBe(false);
    const recovery = await getJson<WhoopRecovery>(sandbox, `/v2/cycle/${cycle.id}/recovery`, tokens.access_token);
    expectValid('Recovery', recovery);
    expect(recovery.sleep_id).toBe(sleep.id);
    expectValid('Sleep', await getJson(sandbox, `/v2/activity/sleep/${sleep.id}`, tokens.access_token));
    const workouts = await getJson<Page>(sandbox, '/v2/activity/workout?limit=1', tokens.access_token);
    const workoutId = String(workouts.records[0]?.['id']);
    expectValid('WorkoutV2', await getJson(sandbox, `/v2/activity/workout/${workoutId}`, tokens.access_token));
    const profile = await getJson<Record<string, unknown>>(sandbox, '/v2/user/profile/basic', tokens.access_token);
    expectValid('UserBasicProfile', profile);
    expect(profile['user_id']).toBe(sandbox.userId);
    expectValid('UserBodyMeasurement', await getJson(sandbox, '/v2/user/measurement/body', tokens.access_token));
  });

  test('the current cycle has no end and is PENDING_SCORE without a score; older records are SCORED with one', async () => {
    const [current, previous, older] = (await getJson<Page>(sandbox, '/v2/cycle?limit=3', tokens.access_token)).records;
    expect(current).not.toHaveProperty('end');
    expect(current?.['score_state']).toBe('PENDING_SCORE');
    expect(current).not.toHaveProperty('score');
    expect(previous?.['end']).toBeTypeOf('string');
    expect(older?.['score_state']).toBe('SCORED');
    expect(older?.['score']).toBeTypeOf('object');
  });

  test('limit above 25, a malformed date or nextToken → 400; unknown ids → 404; another user’s record → 404', async () => {
    expect((await api(sandbox, '/v2/cycle?limit=26', tokens.access_token)).status).toBe(400);
    expect((await api(sandbox, '/v2/cycle?limit=0', tokens.access_token)).status).toBe(400);
    expect((await api(sandbox, '/v2/cycle?start=yesterday', tokens.access_token)).status).toBe(400);
    expect((await api(sandbox, '/v2/cycle?nextToken=%21%21', tokens.access_token)).status).toBe(400);
    expect((await api(sandbox, `/v2/activity/sleep/${randomUUID()}`, tokens.access_token)).status).toBe(404);
    expect((await api(sandbox, '/v2/activity/sleep/not-a-uuid', tokens.access_token)).status).toBe(400);
    expect((await api(sandbox, '/v2/cycle/1', tokens.access_token)).status).toBe(404);
    const otherUser = sandbox.users[1]?.userId ?? 0;
    const otherSleep = sandbox.control.records('sleep', { userId: otherUser })[0] as WhoopSleep;
    expect((await api(sandbox, `/v2/activity/sleep/${otherSleep.id}`, tokens.access_token)).status).toBe(404);
  });

  test('start is inclusive and end exclusive, on the record start', async () => {
    const [, second] = sandbox.control.records('cycle') as WhoopCycle[];
    if (!second) {
      throw new Error('no cycles');
    }
    const from = await getJson<Page>(
      sandbox,
      `/v2/cycle?start=${encodeURIComponent(second.start)}`,
      tokens.access_token
    );
    expect(from.records.map((record) => record['id'])).toContain(second.id);
    expect(from.records).toHaveLength(2);
    const until = await getJson<Page>(
      sandbox,
      `/v2/cycle?limit=1&end=${encodeURIComponent(second.start)}`,
      tokens.access_token
    );
    expect(until.records[0]?.['id']).not.toBe(second.id);
    expect(Date.parse(String(until.records[0]?.['start']))).toBeLessThan(Date.parse(second.start));
  });

  test('pagination walks the whole history: exact counts, newest first, every record valid', async () => {
    const start = new Date((dayNumberOf(END_DATE) - 400) * DAY_MS).toISOString();
    for (const { type, path, schema } of COLLECTIONS) {
      const truth = sandbox.control.records(type, { start });
      const walked = await walk(sandbox, path, tokens.access_token, { limit: '25', start }, schema);
      expect(walked.records, type).toEqual(truth);
      expect(walked.pages).toBe(Math.ceil(truth.length / 25));
      const starts = walked.records.map((record) => (type === 'recovery' ? 0 : Date.parse(String(record['start']))));
      expect(starts).toEqual([...starts].sort((a, b) => b - a));
    }
    expect(sandbox.control.records('cycle', { start })).toHaveLength(400);
    expect(sandbox.control.records('recovery', { start })).toHaveLength(400);
    const sleeps = sandbox.control.records('sleep', { start }) as WhoopSleep[];
    expect(sleeps.filter((sleep) => !sleep.nap)).toHaveLength(400);
    const workouts = sandbox.control.records('workout', { start });
    expect(workouts.length).toBeGreaterThanOrEqual(Math.floor((400 / 7) * 3) - 10);
    expect(workouts.length).toBeLessThanOrEqual(Math.ceil((400 / 7) * 5));
    const states = (type: RecordType): string[] =>
      sandbox.control.records(type, { start }).map((record) => record.score_state);
    expect(states('sleep')).toContain('UNSCORABLE');
    expect(states('workout')).toContain('UNSCORABLE');
    expect(states('recovery').filter((state) => state === 'PENDING_SCORE')).toHaveLength(1);
  });

  test('scopes are enforced per endpoint (403), DELETE needs none', async () => {
    const narrow = await connect(sandbox, { client: OTHER_APP, scope: 'read:sleep' });
    expect(narrow).not.toHaveProperty('refresh_token');
    expect((await api(sandbox, '/v2/activity/sleep', narrow.access_token)).status).toBe(200);
    for (const path of [
      '/v2/cycle',
      '/v2/recovery',
      '/v2/activity/workout',
      '/v2/user/profile/basic',
      '/v2/user/measurement/body',
    ]) {
      expect((await api(sandbox, path, narrow.access_token)).status, path).toBe(403);
    }
    expect((await api(sandbox, '/v2/user/access', narrow.access_token, { method: 'DELETE' })).status).toBe(204);
  });
});

describe('OAuth', () => {
  let sandbox: WhoopSandbox;
  let clockOffsetMs = 0;

  beforeAll(async () => {
    sandbox = await sandboxWith({ now: () => Date.now() + clockOffsetMs });
  });

  async function location(url: string): Promise<{ status: number; location: URL | undefined }> {
    const response = await fetch(url, { redirect: 'manual' });
    const header = response.headers.get('location');
    return { status: response.status, location: header ? new URL(header) : undefined };
  }

  test('a state shorter than 8 characters redirects with error=invalid_state', async () => {
    const result = await location(authorizeUrl(sandbox, { state: 'short' }));
    expect(result.status).toBe(302);
    expect(result.location?.origin + (result.location?.pathname ?? '')).toBe(REDIRECT);
    expect(result.location?.searchParams.get('error')).toBe('invalid_state');
  });

  test('an unregistered redirect_uri is refused without redirecting', async () => {
    const result = await location(authorizeUrl(sandbox, { redirect_uri: 'https://evil.example/cb' }));
    expect(result.status).toBe(400);
    expect(result.location).toBeUndefined();
  });

  test('an unknown scope redirects with invalid_scope; a wrong response_type with unsupported_response_type', async () => {
    expect(
      (await location(authorizeUrl(sandbox, { scope: 'read:everything' }))).location?.searchParams.get('error')
    ).toBe('invalid_scope');
    expect(
      (await location(authorizeUrl(sandbox, { response_type: 'token' }))).location?.searchParams.get('error')
    ).toBe('unsupported_response_type');
  });

  test('the consent page names the app and scopes; Deny redirects with access_denied and the state', async () => {
    const page = await fetch(authorizeUrl(sandbox));
    const html = await page.text();
    expect(html).toContain('Baseline');
    expect(html).toContain('read:recovery');
    expect(html).toContain('value="allow"');
    expect(html).toContain('value="deny"');
    const denied = new URL(await approveConsent(authorizeUrl(sandbox), { decision: 'deny' }));
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('state')).toBe('state-0123456789abcdef');
  });

  test('Allow redirects with code, scope and state', async () => {
    const allowed = new URL(await approveConsent(authorizeUrl(sandbox)));
    expect(allowed.origin + allowed.pathname).toBe(REDIRECT);
    expect(allowed.searchParams.get('code')).toBeTruthy();
    expect(allowed.searchParams.get('scope')).toBe(ALL_SCOPES);
    expect(allowed.searchParams.get('state')).toBe('state-0123456789abcdef');
  });

  test('a code is single-use: the replay is invalid_grant and revokes what the code issued', async () => {
    const code = await codeFor(sandbox);
    const form = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
    };
    const first = await tokenRequest(sandbox, form);
    expect(first.status).toBe(200);
    const tokens = (await first.json()) as Tokens;
    const replay = await tokenRequest(sandbox, form);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await api(sandbox, '/v2/cycle', tokens.access_token)).status).toBe(401);
  });

  test('a code exchanged with another redirect_uri is invalid_grant', async () => {
    const code = await codeFor(sandbox);
    const response = await tokenRequest(sandbox, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: 'https://app.baseline.local/elsewhere',
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });

  test('a code expires after 10 minutes', async () => {
    const code = await codeFor(sandbox);
    clockOffsetMs += 10 * 60_000 + 1000;
    const response = await tokenRequest(sandbox, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });

  test('client_secret_basic is refused with 401 invalid_client; so is a wrong secret', async () => {
    const code = await codeFor(sandbox);
    const basic = await tokenRequest(
      sandbox,
      { grant_type: 'authorization_code', code, redirect_uri: REDIRECT },
      { authorization: `Basic ${Buffer.from(`${APP.clientId}:${APP.clientSecret}`).toString('base64')}` }
    );
    expect(basic.status).toBe(401);
    expect(await basic.json()).toMatchObject({ error: 'invalid_client' });
    const wrong = await tokenRequest(sandbox, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: APP.clientId,
      client_secret: 'nope',
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: 'invalid_client' });
  });

  test('without the offline scope there is no refresh token', async () => {
    const tokens = await connect(sandbox, { scope: 'read:cycles read:sleep' });
    expectValid('token', tokens);
    expect(tokens).not.toHaveProperty('refresh_token');
    expect(tokens.scope).toBe('read:cycles read:sleep');
  });

  test('refresh rotates: the old refresh token and the old access token are dead, the new ones work', async () => {
    const first = await connect(sandbox);
    const response = await refresh(sandbox, first.refresh_token ?? '');
    expect(response.status).toBe(200);
    const second = (await response.json()) as Tokens;
    expectValid('token', second);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await api(sandbox, '/v2/cycle', first.access_token)).status).toBe(401);
    expect((await api(sandbox, '/v2/cycle', second.access_token)).status).toBe(200);
    const reuse = await refresh(sandbox, first.refresh_token ?? '');
    expect(reuse.status).toBe(400);
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await refresh(sandbox, second.refresh_token ?? '')).status).toBe(200);
  });

  test('two concurrent refreshes with one token: exactly one 200 and one invalid_grant; the winner’s token works', async () => {
    const tokens = await connect(sandbox);
    const responses = await Promise.all([
      refresh(sandbox, tokens.refresh_token ?? ''),
      refresh(sandbox, tokens.refresh_token ?? ''),
    ]);
    expect(responses.map((response) => response.status).sort()).toEqual([200, 400]);
    const winner = responses.find((response) => response.status === 200);
    const loser = responses.find((response) => response.status === 400);
    expect(await loser?.json()).toMatchObject({ error: 'invalid_grant' });
    const fresh = (await winner?.json()) as Tokens;
    expect((await api(sandbox, '/v2/cycle', fresh.access_token)).status).toBe(200);
  });

  test('an expired access token is 401; refreshing recovers', async () => {
    const tokens = await connect(sandbox);
    clockOffsetMs += 3600 * 1000;
    expect((await api(sandbox, '/v2/cycle', tokens.access_token)).status).toBe(401);
    const response = await refresh(sandbox, tokens.refresh_token ?? '');
    expect(response.status).toBe(200);
    expect(sandbox.control.stats().tokenRefreshes).toBeGreaterThanOrEqual(1);
  });
});

describe('rate limits', () => {
  test('a low configured limit: 429 with X-RateLimit-* after perMinute calls, per client; headers on 200s too', async () => {
    const sandbox = await sandboxWith({ rateLimit: { perMinute: 5, perDay: 1000 } });
    const tokens = await connect(sandbox);
    for (let i = 1; i <= 5; i++) {
      const response = await api(sandbox, '/v2/user/profile/basic', tokens.access_token);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-ratelimit-remaining')).toBe(String(5 - i));
      expect(response.headers.get('x-ratelimit-limit')).toBe('5, 5;window=60, 1000;window=86400');
    }
    const limited = await api(sandbox, '/v2/user/profile/basic', tokens.access_token);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(limited.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('x-ratelimit-reset'))).toBeLessThanOrEqual(60);
    const other = await connect(sandbox, { client: OTHER_APP });
    expect((await api(sandbox, '/v2/user/profile/basic', other.access_token)).status).toBe(200);
  });

  test('the default limit: 100 calls a minute, the 101st is 429', async () => {
    const sandbox = await sandboxWith({ rateLimit: undefined });
    const tokens = await connect(sandbox);
    const statuses: number[] = [];
    for (let i = 0; i < 101; i++) {
      statuses.push((await api(sandbox, '/v2/user/measurement/body', tokens.access_token)).status);
    }
    expect(statuses.slice(0, 100).every((status) => status === 200)).toBe(true);
    expect(statuses[100]).toBe(429);
  });
});

describe('faults', () => {
  test('injected statuses hit the next n matching calls; an injected delay outlasts a client timeout', async () => {
    const sandbox = await sandboxWith();
    const tokens = await connect(sandbox);
    sandbox.control.injectFaults({ status: 503, count: 2, pathPrefix: '/v2/recovery' });
    expect((await api(sandbox, '/v2/cycle', tokens.access_token)).status).toBe(200);
    expect((await api(sandbox, '/v2/recovery', tokens.access_token)).status).toBe(503);
    expect((await api(sandbox, '/v2/recovery', tokens.access_token)).status).toBe(503);
    expect((await api(sandbox, '/v2/recovery', tokens.access_token)).status).toBe(200);
    sandbox.control.injectFaults({ status: 429, count: 1 });
    const limited = await api(sandbox, '/v2/cycle', tokens.access_token);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-ratelimit-reset')).toBeTruthy();
    sandbox.control.injectTimeout({ count: 1, delayMs: 2000 });
    await expect(
      api(sandbox, '/v2/cycle', tokens.access_token, { signal: AbortSignal.timeout(100) })
    ).rejects.toThrow();
    expect((await api(sandbox, '/v2/cycle', tokens.access_token)).status).toBe(200);
    expect(sandbox.control.stats().api['GET /v2/recovery']).toBe(3);
  });

  test('the control API works over HTTP too', async () => {
    const sandbox = await sandboxWith();
    const tokens = await connect(sandbox);
    const post = (action: string, body: unknown): Promise<Response> =>
      fetch(`${sandbox.baseUrl}/_sandbox/${action}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('faults', { status: 500, count: 1 })).status).toBe(204);
    expect((await api(sandbox, '/v2/cycle', tokens.access_token)).status).toBe(500);
    expect((await post('faults', { status: 418, count: 1 })).status).toBe(400);
    const stats = (await (await fetch(`${sandbox.baseUrl}/_sandbox/stats`)).json()) as { api: Record<string, number> };
    expect(stats.api['GET /v2/cycle']).toBe(1);
    const scored = (await (await post('score-pending', {})).json()) as { events: unknown[] };
    expect(scored.events.length).toBeGreaterThan(0);
  });
});

describe('webhooks', () => {
  let sandbox: WhoopSandbox;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let tokens: Tokens;

  beforeAll(async () => {
    receiver = await startReceiver();
    sandbox = await sandboxWith({ webhookUrl: receiver.url });
    tokens = await connect(sandbox);
  });

  afterAll(async () => {
    await receiver.close();
  });

  function bodiesFor(traceId: string): Received[] {
    return receiver.received.filter((entry) => (JSON.parse(entry.body) as { trace_id: string }).trace_id === traceId);
  }

  test('the signature verifies with the documented algorithm; the body has the documented shape', async () => {
    receiver.answer.status = 204;
    const sleep = sandbox.control.records('sleep')[3] as WhoopSleep;
    const result = await sandbox.control.sendWebhook({ type: 'sleep.updated', id: sleep.id });
    const [delivery] = bodiesFor(result.traceId);
    if (!delivery) {
      throw new Error('not delivered');
    }
    const timestamp = String(delivery.headers['x-whoop-signature-timestamp']);
    expect(Math.abs(Number(timestamp) - Date.now())).toBeLessThan(60_000);
    const expected = createHmac('sha256', APP.clientSecret)
      .update(timestamp + delivery.body)
      .digest('base64');
    expect(delivery.headers['x-whoop-signature']).toBe(expected);
    expect(delivery.headers['content-type']).toBe('application/json');
    const body: unknown = JSON.parse(delivery.body);
    expectValid('webhook', body);
    expect(body).toEqual({ user_id: sandbox.userId, id: sleep.id, type: 'sleep.updated', trace_id: result.traceId });
  });

  test('a failing receiver gets the first try plus 5 retries, all with one trace_id', async () => {
    receiver.answer.status = 500;
    const result = await sandbox.control.sendWebhook({ type: 'workout.updated', id: randomUUID() });
    expect(bodiesFor(result.traceId)).toHaveLength(6);
    expect(result.outcomes).toEqual([{ clientId: APP.clientId, delivered: false, attempts: 6 }]);
    receiver.answer.status = 204;
  });

  test('a timeout counts as a failure and is retried; a later 2xx ends the retries', async () => {
    receiver.answer.hangMs = 1000;
    const pending = sandbox.control.sendWebhook({ type: 'workout.updated', id: randomUUID() });
    // Answer promptly from the first retry on, however slow the machine is.
    while (!sandbox.control.stats().webhookDeliveries.some((attempt) => attempt.status === 'timeout')) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    receiver.answer.hangMs = 0;
    const result = await pending;
    const attempts = sandbox.control.stats().webhookDeliveries.filter((attempt) => attempt.traceId === result.traceId);
    expect(attempts[0]?.status).toBe('timeout');
    expect(attempts.at(-1)?.status).toBe(204);
    expect(result.outcomes[0]?.delivered).toBe(true);
  });

  test('duplicates carry the same trace_id', async () => {
    const result = await sandbox.control.sendWebhook({ type: 'sleep.updated', id: randomUUID() }, { duplicates: 3 });
    expect(bodiesFor(result.traceId)).toHaveLength(3);
  });

  test('re-scoring fires sleep.updated and recovery.updated, the recovery id being the sleep UUID', async () => {
    const pendingSleep = (sandbox.control.records('sleep') as WhoopSleep[]).find(
      (sleep) => sleep.score_state === 'PENDING_SCORE' && !sleep.nap
    );
    if (!pendingSleep) {
      throw new Error('no pending sleep');
    }
    const result = await sandbox.control.rescore('sleep', pendingSleep.id);
    expect(result.events.map((event) => [event.type, event.id])).toEqual([
      ['sleep.updated', pendingSleep.id],
      ['recovery.updated', pendingSleep.id],
    ]);
    const after = await getJson<WhoopSleep>(sandbox, `/v2/activity/sleep/${pendingSleep.id}`, tokens.access_token);
    expect(after.score_state).toBe('SCORED');
    expectValid('SleepScore', after.score);
    expect(Date.parse(after.updated_at)).toBeGreaterThan(Date.parse(pendingSleep.updated_at));
    const recovery = await getJson<WhoopRecovery>(sandbox, `/v2/cycle/${after.cycle_id}/recovery`, tokens.access_token);
    expect(recovery.score_state).toBe('SCORED');
  });

  test('deleting a sleep deletes its recovery: 404s and two *.deleted events', async () => {
    const sleep = (sandbox.control.records('sleep') as WhoopSleep[]).find(
      (candidate) => !candidate.nap && candidate.score_state === 'SCORED'
    );
    if (!sleep) {
      throw new Error('no sleep');
    }
    const result = await sandbox.control.deleteRecord('sleep', sleep.id);
    expect(result.events.map((event) => event.type)).toEqual(['sleep.deleted', 'recovery.deleted']);
    expect(result.dispatches.every((dispatch) => dispatch.outcomes[0]?.delivered === true)).toBe(true);
    expect((await api(sandbox, `/v2/activity/sleep/${sleep.id}`, tokens.access_token)).status).toBe(404);
    expect((await api(sandbox, `/v2/cycle/${sleep.cycle_id}/recovery`, tokens.access_token)).status).toBe(404);
  });

  test('addDay ends the running cycle, starts a new one and announces the new records', async () => {
    const before = (sandbox.control.records('cycle') as WhoopCycle[])[0];
    const result = await sandbox.control.addDay();
    expect(sandbox.control.currentDate()).toBe('2026-11-01');
    const [current, previous] = (await getJson<Page>(sandbox, '/v2/cycle?limit=2', tokens.access_token))
      .records as unknown as WhoopCycle[];
    expect(current?.end).toBeUndefined();
    expect(previous?.id).toBe(before?.id);
    expect(previous?.end).toBe(current?.start);
    const types = new Set(result.events.map((event) => event.type));
    expect(types).toContain('sleep.updated');
    expect(types).toContain('recovery.updated');
  });

  test('revoking access (DELETE /v2/user/access → 204) kills the tokens and stops webhooks for that user', async () => {
    const response = await api(sandbox, '/v2/user/access', tokens.access_token, { method: 'DELETE' });
    expect(response.status).toBe(204);
    expect((await api(sandbox, '/v2/cycle', tokens.access_token)).status).toBe(401);
    expect((await refresh(sandbox, tokens.refresh_token ?? '')).status).toBe(400);
    expect(sandbox.control.tokensFor(sandbox.userId)).toEqual([]);
    const result = await sandbox.control.sendWebhook({ type: 'sleep.updated', id: randomUUID() });
    expect(result.outcomes).toEqual([]);
    expect(bodiesFor(result.traceId)).toHaveLength(0);
  });
});

describe('determinism', () => {
  async function snapshot(seed: number): Promise<string> {
    const sandbox = await sandboxWith({ seed });
    const tokens = await connect(sandbox);
    const texts: string[] = [];
    for (const { path } of COLLECTIONS) {
      const response = await api(sandbox, `${path}?limit=25&end=${END_DATE}T00:00:00.000Z`, tokens.access_token);
      texts.push(await response.text());
    }
    texts.push(await (await api(sandbox, '/v2/user/profile/basic', tokens.access_token)).text());
    return texts.join('\n');
  }

  test('the same seed gives the same bytes; another seed different ones', async () => {
    const first = await snapshot(11);
    expect(await snapshot(11)).toBe(first);
    expect(await snapshot(12)).not.toBe(first);
  });
});
