/**
 * The Withings sandbox against Withings' contract, over real HTTP: every answer validates against the response
 * schema of its operation in the vendor's OpenAPI spec (test/fixtures/openapi/withings.yml, converted to JSON Schema
 * with `additionalProperties: false`, so an undocumented field fails too; the few places where real responses are
 * known to differ from the spec are patched below and listed in the sandbox README), plus Withings' quirks: HTTP 200
 * on errors, 601 after 120 calls a minute, 30-second codes, refresh rotation with the 8-hour grace, revoke with nonce
 * and signature, the HEAD check on subscribe, form-encoded notifications with retries and the drop, the intraday
 * 24-hour cap and epoch keys, `more`/`offset` paging and `lastupdate` XOR a date range.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { signWithings } from '../scripts/sandboxes/withings/oauth.ts';
import { approveConsent, startWithingsSandbox } from '../scripts/sandboxes/withings/server.ts';
import type { SandboxClient, WithingsSandbox, WithingsSandboxOptions } from '../scripts/sandboxes/withings/server.ts';

const SPEC_PATH = new URL('./fixtures/openapi/withings.yml', import.meta.url);
const END_DATE = '2026-10-31';
const REDIRECT = 'https://app.baseline.local/connect/withings/callback';
const ALL_SCOPES = 'user.info,user.metrics,user.activity,user.sleepevents';
const APP: SandboxClient = {
  clientId: 'baseline-withings',
  clientSecret: 'baseline-withings-secret',
  redirectUris: [REDIRECT],
  name: 'Baseline',
};

// ---------------------------------------------------------------------------------------------------------------
// OpenAPI 3.0 → JSON Schema

const DROPPED_KEYWORDS = new Set(['example', 'examples', 'externalDocs', 'description', 'xml', 'discriminator']);

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
      out[key] = value.replace('#/components/schemas/', 'withings#/definitions/');
    } else if (key === 'properties') {
      // The spec writes an empty body as `properties: []`.
      const entries = Array.isArray(value) ? [] : Object.entries(value as Record<string, unknown>);
      const timestamp = entries.find(([name]) => name === '$timestamp');
      if (timestamp) {
        // `$timestamp` stands for "any epoch-second key" (intraday series, sleep series).
        out['patternProperties'] = { '^\\d{9,11}$': toJsonSchema(timestamp[1]) };
      }
      out[key] = Object.fromEntries(
        entries.filter(([name]) => name !== '$timestamp').map(([name, schema]) => [name, toJsonSchema(schema)])
      );
    } else {
      out[key] = toJsonSchema(value);
    }
  }
  if (source['nullable'] === true) {
    return typeof out['type'] === 'string'
      ? { ...out, type: [out['type'], 'null'] }
      : { anyOf: [out, { type: 'null' }] };
  }
  if (out['type'] === 'object' && out['properties'] !== undefined && out['additionalProperties'] === undefined) {
    out['additionalProperties'] = false;
  }
  return out;
}

const SERVED_SCHEMAS = [
  'measuregrp_object',
  'measure_object',
  'activity_object',
  'workout_object',
  'sleep_summary_object',
  'notify_object',
  'user_device_object',
];
const SERVED_OPERATIONS = [
  'oauth2-getaccesstoken',
  'oauth2-revoke',
  'signaturev2-getnonce',
  'measure-getmeas',
  'measurev2-getactivity',
  'measurev2-getintradayactivity',
  'measurev2-getworkouts',
  'sleepv2-get',
  'sleepv2-getsummary',
  'notify-subscribe',
  'notify-get',
  'notify-list',
  'notify-update',
  'notify-revoke',
  'userv2-getdevice',
];

interface Operation {
  operationId?: string;
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}

/**
 * Where real Withings answers are known to differ from the spec (reference/providers.md §2.2, §2.5): real measure
 * groups say `modelid` (the spec `model_id`) and carry `comment: null`; `updatetime` is a number; `/v2/sleep get`
 * returns `series` as an array of segments (the spec shows one object) that carry `hash_deviceid` (aiowithings'
 * recorded fixture); `notify list` profiles carry `expires` (the same fixtures). The sandbox answers like real
 * Withings.
 */
function patchSpec(
  schemas: Record<string, Record<string, unknown>>,
  operations: Map<string, Record<string, unknown>>
): void {
  const group = schemas['measuregrp_object'] as { properties: Record<string, unknown> };
  group.properties['modelid'] = { type: 'integer' };
  group.properties['comment'] = { type: 'string', nullable: true };
  (schemas['notify_object'] as { properties: Record<string, unknown> }).properties['expires'] = { type: 'integer' };
  const getmeasBody = (
    operations.get('measure-getmeas') as { properties: { body: { properties: Record<string, unknown> } } }
  ).properties.body;
  getmeasBody.properties['updatetime'] = { type: 'integer' };
  const sleepGetBody = (
    operations.get('sleepv2-get') as { properties: { body: { properties: Record<string, unknown> } } }
  ).properties.body;
  const segment = sleepGetBody.properties['series'] as { properties: Record<string, unknown> };
  segment.properties['hash_deviceid'] = { type: 'string' };
  sleepGetBody.properties['series'] = { type: 'array', items: segment };
}

function buildValidators(): (operationId: string) => ValidateFunction {
  const spec = parseYaml(readFileSync(SPEC_PATH, 'utf8')) as {
    paths: Record<string, Record<string, Operation>>;
    components: { schemas: Record<string, Record<string, unknown>> };
  };
  const operations = new Map<string, Record<string, unknown>>();
  for (const item of Object.values(spec.paths)) {
    for (const operation of Object.values(item ?? {})) {
      const schema = operation.responses?.['200']?.content?.['application/json']?.schema;
      if (operation.operationId && schema) {
        operations.set(operation.operationId, schema as Record<string, unknown>);
      }
    }
  }
  patchSpec(spec.components.schemas, operations);
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  ajv.addFormat('timestamp', { type: 'number', validate: (value: number) => Number.isInteger(value) && value > 0 });
  ajv.addFormat('int64', { type: 'number', validate: (value: number) => Number.isSafeInteger(value) });
  // Only the parts the sandbox serves: elsewhere (dropshipment, nudges) the spec has types JSON Schema rejects.
  const served = Object.fromEntries(SERVED_SCHEMAS.map((name) => [name, spec.components.schemas[name]]));
  ajv.addSchema({ $id: 'withings', definitions: toJsonSchema(served) });
  for (const [operationId, schema] of operations) {
    if (!SERVED_OPERATIONS.includes(operationId)) {
      continue;
    }
    const converted = toJsonSchema(schema) as Record<string, unknown>;
    // A success answer: status 0 and a body, nothing else.
    ajv.addSchema({
      ...converted,
      $id: operationId,
      required: ['status', 'body'],
      properties: {
        ...(converted['properties'] as Record<string, unknown>),
        status: { const: 0 },
      },
    });
  }
  // An error answer (providers.md §2): HTTP 200, a non-zero status, an empty body and an error string.
  ajv.addSchema({
    $id: 'error',
    type: 'object',
    required: ['status', 'body', 'error'],
    additionalProperties: false,
    properties: {
      status: { type: 'integer', not: { const: 0 } },
      body: { type: 'object', maxProperties: 0 },
      error: { type: 'string', minLength: 1 },
    },
  });
  return (operationId) => {
    const validate = ajv.getSchema(operationId);
    if (!validate) {
      throw new Error(`No schema ${operationId}`);
    }
    return validate;
  };
}

const validator = buildValidators();

function expectValid(operationId: string, answer: unknown): void {
  const validate = validator(operationId);
  const ok = validate(answer);
  expect(ok ? [] : validate.errors, `${operationId}: ${JSON.stringify(answer).slice(0, 400)}`).toEqual([]);
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

interface Answer {
  status: number;
  body: Record<string, unknown>;
  error?: string;
}

interface TokenBody {
  userid: number;
  access_token: string;
  refresh_token: string;
  expires_in: number;
  scope: string;
  token_type: string;
}

/** A Withings call: POST form, HTTP 200 expected whatever the outcome. */
async function call(
  sandbox: WithingsSandbox,
  path: string,
  params: Record<string, string | number>,
  accessToken?: string
): Promise<Answer> {
  const response = await fetch(`${sandbox.apiBaseUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(accessToken === undefined ? {} : { authorization: `Bearer ${accessToken}` }),
    },
    body: new URLSearchParams(
      Object.entries(params).map(([key, value]): [string, string] => [key, String(value)])
    ).toString(),
  });
  expect(response.status, `${path} ${String(params['action'])}`).toBe(200);
  return (await response.json()) as Answer;
}

function authorizeUrl(sandbox: WithingsSandbox, overrides: Record<string, string> = {}): string {
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: APP.clientId,
    redirect_uri: REDIRECT,
    scope: ALL_SCOPES,
    state: 'state-0123456789',
    ...overrides,
  });
  return `${sandbox.authBaseUrl}/oauth2_user/authorize2?${params.toString()}`;
}

async function codeFor(sandbox: WithingsSandbox, scope = ALL_SCOPES, userId?: number): Promise<string> {
  const location = await approveConsent(authorizeUrl(sandbox, { scope }), userId === undefined ? {} : { userId });
  const code = new URL(location).searchParams.get('code');
  if (!code) {
    throw new Error(`No code in ${location}`);
  }
  return code;
}

async function exchange(sandbox: WithingsSandbox, code: string): Promise<Answer> {
  return call(sandbox, '/v2/oauth2', {
    action: 'requesttoken',
    grant_type: 'authorization_code',
    client_id: APP.clientId,
    client_secret: APP.clientSecret,
    code,
    redirect_uri: REDIRECT,
  });
}

async function connect(sandbox: WithingsSandbox, scope = ALL_SCOPES, userId?: number): Promise<TokenBody> {
  const answer = await exchange(sandbox, await codeFor(sandbox, scope, userId));
  expect(answer.status).toBe(0);
  return answer.body as unknown as TokenBody;
}

async function refresh(sandbox: WithingsSandbox, refreshToken: string): Promise<Answer> {
  return call(sandbox, '/v2/oauth2', {
    action: 'requesttoken',
    grant_type: 'refresh_token',
    client_id: APP.clientId,
    client_secret: APP.clientSecret,
    refresh_token: refreshToken,
  });
}

async function nonce(sandbox: WithingsSandbox, nowSeconds: number): Promise<string> {
  const timestamp = String(nowSeconds);
  const answer = await call(sandbox, '/v2/signature', {
    action: 'getnonce',
    client_id: APP.clientId,
    timestamp,
    signature: signWithings(APP.clientSecret, ['getnonce', APP.clientId, timestamp]),
  });
  expectValid('signaturev2-getnonce', answer);
  return String(answer.body['nonce']);
}

interface Received {
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A notification receiver whose answers to HEAD and POST each test sets. */
async function startReceiver(): Promise<{
  url: string;
  received: Received[];
  answer: { head: number; post: number };
  close: () => Promise<void>;
}> {
  const received: Received[] = [];
  const answer = { head: 200, post: 200 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(req.method === 'HEAD' ? answer.head : answer.post).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook/withings`,
    received,
    answer,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const started: WithingsSandbox[] = [];
async function sandboxWith(options: Partial<WithingsSandboxOptions> = {}): Promise<WithingsSandbox> {
  const sandbox = await startWithingsSandbox({
    seed: 7,
    endDate: END_DATE,
    people: 2,
    clients: [APP],
    rateLimitPerMinute: 100_000,
    notifyRetryDelaysMs: [5, 5],
    notifyTimeoutMs: 500,
    ...options,
  });
  started.push(sandbox);
  return sandbox;
}

/** A clock the test moves. */
function manualClock(start = Date.parse('2026-11-01T08:00:00Z')): { now: () => number; advance: (ms: number) => void } {
  let at = start;
  return { now: () => at, advance: (ms) => (at += ms) };
}

afterAll(async () => {
  await Promise.all(started.map((sandbox) => sandbox.close()));
});

// ---------------------------------------------------------------------------------------------------------------

describe('every action answers in the shape of withings.yml', () => {
  let sandbox: WithingsSandbox;
  let tokens: TokenBody;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    sandbox = await sandboxWith();
    tokens = await connect(sandbox);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  test('the token answer: HTTP 200, status 0, userid, 3-hour token, comma scopes, Bearer', async () => {
    const answer = await exchange(sandbox, await codeFor(sandbox));
    expectValid('oauth2-getaccesstoken', answer);
    const body = answer.body as unknown as TokenBody;
    expect(body.userid).toBe(sandbox.userId);
    expect(body.expires_in).toBe(10_800);
    expect(body.scope).toBe(ALL_SCOPES);
    expect(body.token_type).toBe('Bearer');
    expect(body.access_token).toMatch(/^[0-9a-f]{40}$/);
  });

  test('getmeas: groups with value × 10^unit measures, BP as one group, newest first, meastype filters', async () => {
    const answer = await call(sandbox, '/measure', { action: 'getmeas', category: 1 }, tokens.access_token);
    expectValid('measure-getmeas', answer);
    const groups = answer.body['measuregrps'] as {
      grpid: number;
      date: number;
      model: string;
      measures: { type: number; value: number; unit: number }[];
    }[];
    expect(groups.length).toBeGreaterThan(0);
    expect(groups.map((group) => group.date)).toEqual([...groups.map((group) => group.date)].sort((a, b) => b - a));
    const bp = groups.find((group) => group.measures.some((measure) => measure.type === 10));
    expect(bp?.measures.map((measure) => measure.type).sort((a, b) => a - b)).toEqual([9, 10, 11]);
    expect(bp?.model).toBe('BPM Core');
    const weight = groups.find((group) => group.measures.some((measure) => measure.type === 1));
    const kg = weight?.measures.find((measure) => measure.type === 1);
    expect(kg?.unit).toBe(-3);
    expect((kg?.value ?? 0) * 10 ** (kg?.unit ?? 0)).toBeGreaterThan(40);
    const onlyWeight = await call(sandbox, '/measure', { action: 'getmeas', meastype: 1 }, tokens.access_token);
    expectValid('measure-getmeas', onlyWeight);
    for (const group of onlyWeight.body['measuregrps'] as { measures: { type: number }[] }[]) {
      expect(group.measures.map((measure) => measure.type)).toEqual([1]);
    }
    const several = await call(sandbox, '/measure', { action: 'getmeas', meastypes: '9,10' }, tokens.access_token);
    for (const group of several.body['measuregrps'] as { measures: { type: number }[] }[]) {
      expect(group.measures.map((measure) => measure.type).sort()).toEqual([10, 9].sort());
    }
  });

  test('getactivity, getworkouts, getsummary: schema-valid, `more` a boolean', async () => {
    const range = { startdateymd: '2026-09-01', enddateymd: '2026-09-30' };
    const activity = await call(sandbox, '/v2/measure', { action: 'getactivity', ...range }, tokens.access_token);
    expectValid('measurev2-getactivity', activity);
    expect(activity.body['activities']).toHaveLength(30);
    expect(activity.body['more']).toBe(false);
    const workouts = await call(sandbox, '/v2/measure', { action: 'getworkouts', ...range }, tokens.access_token);
    expectValid('measurev2-getworkouts', workouts);
    expect((workouts.body['series'] as unknown[]).length).toBeGreaterThan(8);
    const sleep = await call(sandbox, '/v2/sleep', { action: 'getsummary', ...range }, tokens.access_token);
    expectValid('sleepv2-getsummary', sleep);
    const series = sleep.body['series'] as { date: string; data: { sleep_efficiency: number } }[];
    expect(series).toHaveLength(30);
    for (const night of series) {
      expect(night.data.sleep_efficiency).toBeGreaterThan(0);
      expect(night.data.sleep_efficiency).toBeLessThanOrEqual(1);
    }
    const fields = await call(
      sandbox,
      '/v2/measure',
      { action: 'getactivity', ...range, data_fields: 'steps,hr_average' },
      tokens.access_token
    );
    expectValid('measurev2-getactivity', fields);
    const first = (fields.body['activities'] as Record<string, unknown>[])[0] ?? {};
    expect(first).toHaveProperty('steps');
    expect(first).toHaveProperty('hr_average');
    expect(first).not.toHaveProperty('distance');
  });

  test('getintradayactivity: epoch-second keys at minute resolution, only the first 24 h after startdate', async () => {
    const start = Date.parse('2026-10-20T00:00:00Z') / 1000;
    const answer = await call(
      sandbox,
      '/v2/measure',
      { action: 'getintradayactivity', startdate: start, enddate: start + 3 * 86_400 },
      tokens.access_token
    );
    expectValid('measurev2-getintradayactivity', answer);
    const keys = Object.keys(answer.body['series'] as object).map(Number);
    expect(keys.length).toBeGreaterThan(1200);
    expect(keys.length).toBeLessThanOrEqual(1440);
    expect(Math.min(...keys)).toBeGreaterThanOrEqual(start);
    expect(Math.max(...keys)).toBeLessThan(start + 86_400);
    for (const key of keys) {
      expect(key % 60).toBe(0);
    }
    const hr = await call(
      sandbox,
      '/v2/measure',
      { action: 'getintradayactivity', startdate: start, enddate: start + 3600, data_fields: 'heart_rate' },
      tokens.access_token
    );
    expectValid('measurev2-getintradayactivity', hr);
    for (const entry of Object.values(hr.body['series'] as Record<string, Record<string, unknown>>)) {
      expect(Object.keys(entry).sort()).toEqual(['deviceid', 'heart_rate', 'model', 'model_id']);
    }
    const latest = await call(sandbox, '/v2/measure', { action: 'getintradayactivity' }, tokens.access_token);
    expectValid('measurev2-getintradayactivity', latest);
    expect(Object.keys(latest.body['series'] as object).length).toBeGreaterThan(1000);
  });

  test('sleep get (hypnogram segments with per-minute HR), getdevice', async () => {
    const night = sandbox.control.sleepSummaries().at(-3);
    const answer = await call(
      sandbox,
      '/v2/sleep',
      { action: 'get', startdate: night?.startdate ?? 0, enddate: night?.enddate ?? 0 },
      tokens.access_token
    );
    expectValid('sleepv2-get', answer);
    const segments = answer.body['series'] as { state: number; hr: Record<string, number> }[];
    expect(segments.length).toBeGreaterThan(5);
    expect(new Set(segments.map((segment) => segment.state))).toEqual(new Set([0, 1, 2, 3]));
    const devices = await call(sandbox, '/v2/user', { action: 'getdevice' }, tokens.access_token);
    expectValid('userv2-getdevice', devices);
    expect((devices.body['devices'] as { model: string }[]).map((device) => device.model)).toEqual([
      'Body+',
      'BPM Core',
      'ScanWatch',
      'Aura Sensor V2',
      'Thermo',
    ]);
  });

  test('notify subscribe, get, list, update, revoke', async () => {
    const token = tokens.access_token;
    const subscribe = await call(
      sandbox,
      '/notify',
      { action: 'subscribe', callbackurl: receiver.url, appli: 1, comment: 'weight' },
      token
    );
    expectValid('notify-subscribe', subscribe);
    expect(receiver.received.filter((request) => request.method === 'HEAD')).toHaveLength(1);
    const got = await call(sandbox, '/notify', { action: 'get', callbackurl: receiver.url, appli: 1 }, token);
    expectValid('notify-get', got);
    expect(got.body).toEqual({ appli: 1, callbackurl: receiver.url, comment: 'weight' });
    await call(sandbox, '/notify', { action: 'subscribe', callbackurl: receiver.url, appli: 44 }, token);
    const list = await call(sandbox, '/notify', { action: 'list' }, token);
    expectValid('notify-list', list);
    expect(list.body['profiles']).toEqual([
      { appli: 1, callbackurl: receiver.url, expires: 2_147_483_647, comment: 'weight' },
      { appli: 44, callbackurl: receiver.url, expires: 2_147_483_647, comment: '' },
    ]);
    const update = await call(
      sandbox,
      '/notify',
      { action: 'update', callbackurl: receiver.url, appli: 44, comment: 'sleep' },
      token
    );
    expectValid('notify-update', update);
    const revoke = await call(sandbox, '/notify', { action: 'revoke', callbackurl: receiver.url, appli: 1 }, token);
    expectValid('notify-revoke', revoke);
    expect(
      sandbox.control.subscriptions(sandbox.userId).map((subscription) => [subscription.appli, subscription.comment])
    ).toEqual([[44, 'sleep']]);
    const missing = await call(sandbox, '/notify', { action: 'get', callbackurl: receiver.url, appli: 1 }, token);
    expectValid('error', missing);
  });
});

describe('Withings quirks', () => {
  test('errors are HTTP 200 with a status: bad or missing token 401, unknown action 2554, bad params 503', async () => {
    const sandbox = await sandboxWith();
    const none = await call(sandbox, '/measure', { action: 'getmeas' });
    expectValid('error', none);
    expect(none.status).toBe(401);
    expect(none.error).toContain('invalid_token');
    const tokens = await connect(sandbox);
    const unknown = await call(sandbox, '/measure', { action: 'nope' }, tokens.access_token);
    expectValid('error', unknown);
    expect(unknown.status).toBe(2554);
    const badDate = await call(
      sandbox,
      '/v2/measure',
      { action: 'getactivity', startdateymd: 'x', enddateymd: 'y' },
      tokens.access_token
    );
    expectValid('error', badDate);
    expect(badDate.status).toBe(503);
  });

  test('authorize: unknown app, unregistered redirect or no state → an error page; space-separated scopes → invalid_scope', async () => {
    const sandbox = await sandboxWith();
    const page = async (url: string): Promise<Response> => fetch(url, { redirect: 'manual' });
    expect((await page(authorizeUrl(sandbox, { client_id: 'nobody' }))).status).toBe(400);
    expect((await page(authorizeUrl(sandbox, { redirect_uri: 'https://evil.example/cb' }))).status).toBe(400);
    expect((await page(authorizeUrl(sandbox, { state: '' }))).status).toBe(400);
    const spaced = await page(authorizeUrl(sandbox, { scope: 'user.info user.metrics' }));
    expect(spaced.status).toBe(302);
    const location = new URL(spaced.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('invalid_scope');
    expect(location.searchParams.get('state')).toBe('state-0123456789');
    const denied = new URL(await approveConsent(authorizeUrl(sandbox), { decision: 'deny' }));
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('state')).toBe('state-0123456789');
    // Several people and no choice: the page asks, nobody preselected.
    const html = await (await page(authorizeUrl(sandbox))).text();
    expect(html.match(/name="user_id"/g)).toHaveLength(2);
    expect(html).not.toContain('checked');
  });

  test('a code lives 30 seconds and is single-use; the wrong secret is 401', async () => {
    const clock = manualClock();
    const sandbox = await sandboxWith({ now: clock.now });
    const late = await codeFor(sandbox);
    clock.advance(30_001);
    const expired = await exchange(sandbox, late);
    expectValid('error', expired);
    expect(expired).toMatchObject({ status: 503, error: 'Invalid Params: invalid code' });
    const code = await codeFor(sandbox);
    clock.advance(29_000);
    expect((await exchange(sandbox, code)).status).toBe(0);
    expect((await exchange(sandbox, code)).status).toBe(503);
    const wrongSecret = await call(sandbox, '/v2/oauth2', {
      action: 'requesttoken',
      grant_type: 'authorization_code',
      client_id: APP.clientId,
      client_secret: 'wrong',
      code: await codeFor(sandbox),
      redirect_uri: REDIRECT,
    });
    expect(wrongSecret.status).toBe(401);
  });

  test('refresh rotates; the old refresh token works again until the new access token is used', async () => {
    const clock = manualClock();
    const sandbox = await sandboxWith({ now: clock.now });
    const first = await connect(sandbox);
    const second = await refresh(sandbox, first.refresh_token);
    expectValid('oauth2-getaccesstoken', second);
    const pair2 = second.body as unknown as TokenBody;
    expect(pair2.refresh_token).not.toBe(first.refresh_token);
    // The answer was "lost": the old refresh token still works (the 8-hour safety net) and issues another pair.
    const third = await refresh(sandbox, first.refresh_token);
    expect(third.status).toBe(0);
    const pair3 = third.body as unknown as TokenBody;
    expect(pair3.access_token).not.toBe(pair2.access_token);
    // Using the newest access token kills every older refresh token…
    expect((await call(sandbox, '/v2/user', { action: 'getdevice' }, pair3.access_token)).status).toBe(0);
    expect((await refresh(sandbox, first.refresh_token)).status).toBe(503);
    expect((await refresh(sandbox, pair2.refresh_token)).status).toBe(503);
    // …while access tokens live their 3 hours, and the newest refresh token rotates on.
    expect((await call(sandbox, '/v2/user', { action: 'getdevice' }, first.access_token)).status).toBe(0);
    expect((await refresh(sandbox, pair3.refresh_token)).status).toBe(0);
    expect(sandbox.control.stats().tokenRefreshes).toBe(3);
  });

  test('two refreshes racing with one refresh token both succeed, and either answer keeps the connection', async () => {
    const sandbox = await sandboxWith();
    const first = await connect(sandbox);
    const [a, b] = await Promise.all([refresh(sandbox, first.refresh_token), refresh(sandbox, first.refresh_token)]);
    expect([a.status, b.status]).toEqual([0, 0]);
    // The client kept the slower answer and uses it: its refresh token still rotates on.
    const kept = b.body as unknown as TokenBody;
    expect((await call(sandbox, '/v2/user', { action: 'getdevice' }, kept.access_token)).status).toBe(0);
    expect((await refresh(sandbox, kept.refresh_token)).status).toBe(0);
  });

  test('the old refresh token dies 8 hours after the new pair even unused; access tokens expire after 3 hours', async () => {
    const clock = manualClock();
    const sandbox = await sandboxWith({ now: clock.now });
    const first = await connect(sandbox);
    const second = (await refresh(sandbox, first.refresh_token)).body as unknown as TokenBody;
    clock.advance(3 * 3_600_000);
    const expired = await call(sandbox, '/v2/user', { action: 'getdevice' }, second.access_token);
    expectValid('error', expired);
    expect(expired.status).toBe(401);
    clock.advance(5 * 3_600_000);
    expect((await refresh(sandbox, first.refresh_token)).status).toBe(503);
    expect((await refresh(sandbox, second.refresh_token)).status).toBe(0);
  });

  test('revoke with a nonce and a signature: tokens die, subscriptions go, a nonce is single-use', async () => {
    const clock = manualClock();
    const sandbox = await sandboxWith({ now: clock.now });
    const receiver = await startReceiver();
    try {
      const tokens = await connect(sandbox);
      await call(
        sandbox,
        '/notify',
        { action: 'subscribe', callbackurl: receiver.url, appli: 44 },
        tokens.access_token
      );
      expect(sandbox.control.subscriptions(sandbox.userId)).toHaveLength(1);
      const badTimestamp = await call(sandbox, '/v2/signature', {
        action: 'getnonce',
        client_id: APP.clientId,
        timestamp: String(clock.now() / 1000),
        signature: 'f'.repeat(64),
      });
      expect(badTimestamp.status).toBe(503);
      const used = await nonce(sandbox, Math.floor(clock.now() / 1000));
      const wrong = await call(sandbox, '/v2/oauth2', {
        action: 'revoke',
        client_id: APP.clientId,
        nonce: used,
        signature: signWithings('not-the-secret', ['revoke', APP.clientId, used]),
        userid: sandbox.userId,
      });
      expect(wrong.status).toBe(503);
      const reused = await call(sandbox, '/v2/oauth2', {
        action: 'revoke',
        client_id: APP.clientId,
        nonce: used,
        signature: signWithings(APP.clientSecret, ['revoke', APP.clientId, used]),
        userid: sandbox.userId,
      });
      expect(reused).toMatchObject({ status: 503, error: 'Invalid Params: invalid nonce' });
      const fresh = await nonce(sandbox, Math.floor(clock.now() / 1000));
      const revoked = await call(sandbox, '/v2/oauth2', {
        action: 'revoke',
        client_id: APP.clientId,
        nonce: fresh,
        signature: signWithings(APP.clientSecret, ['revoke', APP.clientId, fresh]),
        userid: sandbox.userId,
      });
      expectValid('oauth2-revoke', revoked);
      expect((await call(sandbox, '/measure', { action: 'getmeas' }, tokens.access_token)).status).toBe(401);
      expect((await refresh(sandbox, tokens.refresh_token)).status).toBe(503);
      expect(sandbox.control.subscriptions(sandbox.userId)).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  test('120 calls a minute per app, then status 601 (HTTP 200) until the minute is over', async () => {
    const clock = manualClock();
    const sandbox = await sandboxWith({ now: clock.now, rateLimitPerMinute: undefined });
    const tokens = await connect(sandbox); // 1 call (the token request counts)
    for (let i = 0; i < 119; i++) {
      expect((await call(sandbox, '/v2/user', { action: 'getdevice' }, tokens.access_token)).status).toBe(0);
    }
    const limited = await call(sandbox, '/measure', { action: 'getmeas' }, tokens.access_token);
    expectValid('error', limited);
    expect(limited.status).toBe(601);
    expect((await refresh(sandbox, tokens.refresh_token)).status).toBe(601);
    clock.advance(60_000);
    expect((await call(sandbox, '/measure', { action: 'getmeas' }, tokens.access_token)).status).toBe(0);
    expect(sandbox.control.stats().rateLimited).toBe(2);
  });

  test('a token without a scope gets status 214 for the actions that need it', async () => {
    const sandbox = await sandboxWith();
    const tokens = await connect(sandbox, 'user.metrics');
    expect(tokens.scope).toBe('user.metrics');
    expect((await call(sandbox, '/measure', { action: 'getmeas' }, tokens.access_token)).status).toBe(0);
    const activity = await call(sandbox, '/v2/measure', { action: 'getactivity', lastupdate: 0 }, tokens.access_token);
    expectValid('error', activity);
    expect(activity.status).toBe(214);
    expect(
      (await call(sandbox, '/v2/sleep', { action: 'getsummary', lastupdate: 0 }, tokens.access_token)).status
    ).toBe(214);
  });

  test('paging: getmeas `more` 0/1 and offset; getactivity `more` true/false; exact totals over the history', async () => {
    const sandbox = await sandboxWith({ pageSize: 50 });
    const tokens = await connect(sandbox);
    const groups: unknown[] = [];
    let offset = 0;
    let pages = 0;
    for (;;) {
      const answer = await call(sandbox, '/measure', { action: 'getmeas', offset }, tokens.access_token);
      expectValid('measure-getmeas', answer);
      groups.push(...(answer.body['measuregrps'] as unknown[]));
      pages += 1;
      if (answer.body['more'] === 0) {
        expect(answer.body['offset']).toBe(0);
        break;
      }
      expect(answer.body['more']).toBe(1);
      offset = Number(answer.body['offset']);
    }
    expect(groups).toEqual(sandbox.control.measureGroups());
    expect(pages).toBe(Math.ceil(groups.length / 50));
    const activities: { date: string }[] = [];
    offset = 0;
    for (;;) {
      const answer = await call(
        sandbox,
        '/v2/measure',
        { action: 'getactivity', startdateymd: '2025-01-01', enddateymd: END_DATE, offset },
        tokens.access_token
      );
      expectValid('measurev2-getactivity', answer);
      activities.push(...(answer.body['activities'] as { date: string }[]));
      if (answer.body['more'] === false) {
        break;
      }
      expect(answer.body['more']).toBe(true);
      offset = Number(answer.body['offset']);
    }
    expect(activities).toHaveLength(400);
    expect(activities.at(-1)?.date).toBe(END_DATE);
  });

  test('lastupdate XOR a date range: both → nothing, neither → 503; lastupdate follows `modified` after an edit', async () => {
    const clock = manualClock();
    const sandbox = await sandboxWith({ now: clock.now });
    const tokens = await connect(sandbox);
    const both = await call(
      sandbox,
      '/v2/measure',
      { action: 'getactivity', startdateymd: '2026-10-01', enddateymd: '2026-10-31', lastupdate: 0 },
      tokens.access_token
    );
    expectValid('measurev2-getactivity', both);
    expect(both.body).toEqual({ activities: [], more: false, offset: 0 });
    const neither = await call(sandbox, '/v2/sleep', { action: 'getsummary' }, tokens.access_token);
    expect(neither.status).toBe(503);
    const since = Math.floor(clock.now() / 1000);
    const none = await call(sandbox, '/measure', { action: 'getmeas', lastupdate: since }, tokens.access_token);
    expect(none.body['measuregrps']).toEqual([]);
    const weight = sandbox.control.measureGroups().find((group) => group.measures.some((m) => m.type === 1));
    clock.advance(5000);
    await sandbox.control.editMeasure(sandbox.userId, weight?.grpid ?? 0, [{ type: 1, value: 81.234 }]);
    const edited = await call(sandbox, '/measure', { action: 'getmeas', lastupdate: since }, tokens.access_token);
    expectValid('measure-getmeas', edited);
    const [group] = edited.body['measuregrps'] as {
      grpid: number;
      modified: number;
      measures: { type: number; value: number; unit: number }[];
    }[];
    expect(group?.grpid).toBe(weight?.grpid);
    expect(group?.modified).toBe(since + 5);
    expect(group?.measures.find((measure) => measure.type === 1)).toMatchObject({ value: 81_234, unit: -3 });
    await sandbox.control.deleteMeasure(sandbox.userId, weight?.grpid ?? 0);
    const after = await call(sandbox, '/measure', { action: 'getmeas', lastupdate: since }, tokens.access_token);
    expect(after.body['measuregrps']).toEqual([]);
  });

  test('injected faults: HTTP 500, status 601 and 522 on data calls, 401 on a named action; a timeout delays', async () => {
    const sandbox = await sandboxWith();
    const tokens = await connect(sandbox);
    sandbox.control.injectFaults({ kind: 'http-500', count: 1 });
    const outage = await fetch(`${sandbox.apiBaseUrl}/measure`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.access_token}` },
      body: new URLSearchParams({ action: 'getmeas' }),
    });
    expect(outage.status).toBe(500);
    sandbox.control.injectFaults({ kind: 'status-601', count: 1 });
    expect((await call(sandbox, '/measure', { action: 'getmeas' }, tokens.access_token)).status).toBe(601);
    sandbox.control.injectFaults({ kind: 'status-522', count: 1, pathPrefix: '/v2/sleep' });
    expect((await call(sandbox, '/measure', { action: 'getmeas' }, tokens.access_token)).status).toBe(0);
    expect(
      (await call(sandbox, '/v2/sleep', { action: 'getsummary', lastupdate: 0 }, tokens.access_token)).status
    ).toBe(522);
    sandbox.control.injectFaults({ kind: 'status-401', count: 1, action: 'getactivity' });
    expect((await call(sandbox, '/measure', { action: 'getmeas' }, tokens.access_token)).status).toBe(0);
    expect(
      (await call(sandbox, '/v2/measure', { action: 'getactivity', lastupdate: 0 }, tokens.access_token)).status
    ).toBe(401);
    sandbox.control.injectTimeout({ count: 1, delayMs: 300 });
    const startedAt = Date.now();
    expect((await call(sandbox, '/measure', { action: 'getmeas' }, tokens.access_token)).status).toBe(0);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(290);
    expect(sandbox.control.stats().statuses).toMatchObject({ 'http-500': 1, '601': 1, '522': 1, '401': 1 });
  });
});

describe('the control surface over HTTP', () => {
  test('/_sandbox/ users, faults, add-day, stats', async () => {
    const sandbox = await sandboxWith();
    const tokens = await connect(sandbox);
    const control = (path: string, body?: unknown): Promise<Response> =>
      fetch(
        `${sandbox.baseUrl}/_sandbox/${path}`,
        body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) }
      );
    const users = (await (await control('users')).json()) as { users: { userId: number }[]; currentDate: string };
    expect(users.users.map((user) => user.userId)).toEqual(sandbox.users.map((user) => user.userId));
    expect(users.currentDate).toBe(END_DATE);
    expect((await control('faults', { kind: 'status-522', count: 1 })).status).toBe(204);
    expect((await control('faults', { kind: 'status-999', count: 1 })).status).toBe(400);
    expect((await call(sandbox, '/measure', { action: 'getmeas' }, tokens.access_token)).status).toBe(522);
    expect((await control('add-day', {})).status).toBe(200);
    expect(sandbox.control.currentDate()).toBe('2026-11-01');
    const stats = (await (await control('stats')).json()) as { calls: Record<string, number> };
    expect(stats.calls).toMatchObject({ 'measure getmeas': 1, 'v2/oauth2 requesttoken': 1 });
  });
});

describe('notifications', () => {
  test('subscribe HEAD-checks the callback: a 404 to HEAD refuses it (status 293), a 200 accepts it', async () => {
    const sandbox = await sandboxWith();
    const receiver = await startReceiver();
    try {
      const tokens = await connect(sandbox);
      receiver.answer.head = 404;
      const refused = await call(
        sandbox,
        '/notify',
        { action: 'subscribe', callbackurl: receiver.url, appli: 1 },
        tokens.access_token
      );
      expectValid('error', refused);
      expect(refused.status).toBe(293);
      expect(sandbox.control.subscriptions()).toEqual([]);
      const unreachable = await call(
        sandbox,
        '/notify',
        { action: 'subscribe', callbackurl: 'http://127.0.0.1:9/nothing', appli: 1 },
        tokens.access_token
      );
      expect(unreachable.status).toBe(293);
      receiver.answer.head = 200;
      const accepted = await call(
        sandbox,
        '/notify',
        { action: 'subscribe', callbackurl: receiver.url, appli: 1 },
        tokens.access_token
      );
      expect(accepted.status).toBe(0);
      expect(receiver.received.map((request) => request.method)).toEqual(['HEAD', 'HEAD']);
      expect(sandbox.control.stats().headChecks.map((check) => check.accepted)).toEqual([false, false, true]);
    } finally {
      await receiver.close();
    }
  });

  test('new data is POSTed form-encoded (userid, appli, startdate, enddate) to each subscribed category, unsigned', async () => {
    const sandbox = await sandboxWith();
    const receiver = await startReceiver();
    try {
      const tokens = await connect(sandbox);
      for (const appli of [1, 4, 16, 44]) {
        await call(sandbox, '/notify', { action: 'subscribe', callbackurl: receiver.url, appli }, tokens.access_token);
      }
      const results = await sandbox.control.addDay();
      expect(sandbox.control.currentDate()).toBe('2026-11-01');
      const posts = receiver.received.filter((request) => request.method === 'POST');
      const mine = results.filter(
        (result) => result.change.userId === sandbox.userId && [1, 4, 16, 44].includes(result.change.appli)
      );
      expect(posts).toHaveLength(mine.length);
      expect(mine.map((result) => result.change.appli)).toEqual(expect.arrayContaining([16, 44]));
      for (const post of posts) {
        expect(post.headers['content-type']).toBe('application/x-www-form-urlencoded');
        expect(Object.keys(post.headers).filter((name) => /signature/i.test(name))).toEqual([]);
        const form = new URLSearchParams(post.body);
        expect([...form.keys()]).toEqual(['userid', 'appli', 'startdate', 'enddate']);
        expect(Number(form.get('userid'))).toBe(sandbox.userId);
        expect(Number(form.get('enddate'))).toBeGreaterThanOrEqual(Number(form.get('startdate')));
      }
      // The new day is there, with `modified` at the time it arrived.
      const sleep = await call(
        sandbox,
        '/v2/sleep',
        { action: 'getsummary', startdateymd: '2026-11-01', enddateymd: '2026-11-01' },
        tokens.access_token
      );
      expect(sleep.body['series']).toHaveLength(1);
      // The other person subscribed nothing and got nothing.
      expect(posts.every((post) => new URLSearchParams(post.body).get('userid') === String(sandbox.userId))).toBe(true);
    } finally {
      await receiver.close();
    }
  });

  test('a failing callback is retried on the schedule, then the subscription is dropped after repeated failures', async () => {
    const sandbox = await sandboxWith({ notifyRetryDelaysMs: [5, 5, 5], notifyDropAfterFailures: 2 });
    const receiver = await startReceiver();
    try {
      const tokens = await connect(sandbox);
      await call(
        sandbox,
        '/notify',
        { action: 'subscribe', callbackurl: receiver.url, appli: 44 },
        tokens.access_token
      );
      receiver.answer.post = 503;
      const window = { startdate: 1_790_000_000, enddate: 1_790_030_000 };
      const first = await sandbox.control.sendNotification(sandbox.userId, 44, window);
      expect(first.outcomes).toEqual([
        { clientId: APP.clientId, callbackurl: receiver.url, delivered: false, attempts: 4, dropped: false },
      ]);
      expect(receiver.received.filter((request) => request.method === 'POST')).toHaveLength(4);
      // A success in between resets the count.
      receiver.answer.post = 204;
      expect((await sandbox.control.sendNotification(sandbox.userId, 44, window)).outcomes[0]?.delivered).toBe(true);
      receiver.answer.post = 500;
      expect((await sandbox.control.sendNotification(sandbox.userId, 44, window)).outcomes[0]?.dropped).toBe(false);
      expect((await sandbox.control.sendNotification(sandbox.userId, 44, window)).outcomes[0]?.dropped).toBe(true);
      expect(sandbox.control.subscriptions()).toEqual([]);
      const list = await call(sandbox, '/notify', { action: 'list' }, tokens.access_token);
      expect(list.body['profiles']).toEqual([]);
      const stats = sandbox.control.stats().notifications;
      expect(stats.attempts).toHaveLength(4 + 1 + 4 + 4);
      expect(stats.delivered).toBe(1);
      expect(stats.retried).toBe(9);
      expect(stats.dropped).toBe(1);
      // Gone: no more attempts.
      expect((await sandbox.control.sendNotification(sandbox.userId, 44, window)).outcomes).toEqual([]);
    } finally {
      await receiver.close();
    }
  });
});
