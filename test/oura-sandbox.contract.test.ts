/**
 * The Oura sandbox against Oura's contract, over real HTTP: every API response validates against the vendor's
 * OpenAPI 3.1 spec (test/fixtures/openapi/oura.json, a copy of reference/openapi/oura.json, with
 * `additionalProperties: false` added so an undocumented field fails too), plus the behaviour the spec does not
 * say and clients have reported (reference/providers.md §3, §6): single-use refresh tokens (sequential reuse and a
 * concurrent race), the 30-day heart-rate cap, the date-filter quirks, paging, 429 with its headers, RFC 7807 and
 * 422 bodies, scopes unticked on consent, and webhooks — the GET challenge handshake (refused when the callback
 * answers 404 to GET, as Medplum does), expiry and renewal, signed deliveries, retries and 410.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { OuraDocumentType, OuraSleep } from '../scripts/sandboxes/oura/data.ts';
import { approveConsent, startOuraSandbox } from '../scripts/sandboxes/oura/server.ts';
import type { OuraSandbox, OuraSandboxOptions, SandboxClient } from '../scripts/sandboxes/oura/server.ts';

const SPEC_PATH = new URL('./fixtures/openapi/oura.json', import.meta.url);
const END_DATE = '2026-10-31';
const REDIRECT = 'https://app.baseline.local/connect/oura/callback';
const ALL_SCOPES = 'email personal daily heartrate workout tag session spo2Daily';
const APP: SandboxClient = {
  clientId: 'baseline-app',
  clientSecret: 'baseline-secret',
  redirectUris: [REDIRECT],
  name: 'Baseline',
};
const OTHER_APP: SandboxClient = {
  clientId: 'other-app',
  clientSecret: 'other-secret',
  redirectUris: ['https://other.example/cb', 'https://other.example/cb2'],
};

// ---------------------------------------------------------------------------------------------------------------
// OpenAPI 3.1 → JSON Schema 2020-12

function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) {
    return node.map(toJsonSchema);
  }
  if (node === null || typeof node !== 'object') {
    return node;
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-') || key === 'example' || key === 'examples' || key === 'discriminator') {
      continue;
    }
    if (key === '$ref' && typeof value === 'string') {
      out[key] = value.replace('#/components/schemas/', 'oura#/$defs/');
    } else if (key === 'properties' && value !== null && typeof value === 'object') {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, schema]) => [name, toJsonSchema(schema)]));
    } else {
      out[key] = toJsonSchema(value);
    }
  }
  // Strict: the sandbox must not invent fields the spec lacks (Oura may add some; a client must tolerate that).
  if (out['type'] === 'object' && out['properties'] !== undefined && out['additionalProperties'] === undefined) {
    out['additionalProperties'] = false;
  }
  return out;
}

function buildValidators(): (name: string) => ValidateFunction {
  const spec = JSON.parse(readFileSync(SPEC_PATH, 'utf8')) as { components: { schemas: Record<string, unknown> } };
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
  ajv.addFormat('uuid4', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i);
  ajv.addSchema({ $id: 'oura', $defs: toJsonSchema(spec.components.schemas) });
  // Not in the spec: the token answer, the webhook body and the RFC 7807 error body as providers.md §3.1–§3.3
  // give them. (The spec leaves LocalizedDateTime and friends plain strings; LOCALIZED below checks their shape.)
  ajv.addSchema({
    $id: 'token',
    type: 'object',
    required: ['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope'],
    additionalProperties: false,
    properties: {
      access_token: { type: 'string', minLength: 20 },
      token_type: { const: 'Bearer' },
      expires_in: { type: 'integer', minimum: 1 },
      refresh_token: { type: 'string', minLength: 20 },
      scope: { type: 'string' },
    },
  });
  ajv.addSchema({
    $id: 'webhook',
    type: 'object',
    required: ['event_type', 'data_type', 'object_id', 'event_time', 'user_id'],
    additionalProperties: false,
    properties: {
      event_type: { enum: ['create', 'update', 'delete'] },
      data_type: { $ref: 'oura#/$defs/ExtApiV2DataType' },
      object_id: { type: 'string', minLength: 1 },
      event_time: { type: 'string', format: 'date-time' },
      user_id: { type: 'string', minLength: 1 },
    },
  });
  ajv.addSchema({
    $id: 'problem',
    type: 'object',
    required: ['status', 'title', 'detail'],
    additionalProperties: false,
    properties: { status: { type: 'integer' }, title: { type: 'string' }, detail: { type: 'string' } },
  });
  return (name) => {
    const validate = ajv.getSchema(['token', 'webhook', 'problem'].includes(name) ? name : `oura#/$defs/${name}`);
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

const LOCALIZED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?[+-]\d{2}:\d{2}$/;

// ---------------------------------------------------------------------------------------------------------------
// Helpers

interface Tokens {
  access_token: string;
  refresh_token: string;
  scope: string;
  expires_in: number;
  token_type: string;
}

interface Page<T = Record<string, unknown>> {
  data: T[];
  next_token: string | null;
}

function authorizeUrl(sandbox: OuraSandbox, overrides: Record<string, string | null> = {}): string {
  const params = new URLSearchParams();
  const values: Record<string, string | null> = {
    response_type: 'code',
    client_id: APP.clientId,
    redirect_uri: REDIRECT,
    scope: ALL_SCOPES,
    state: 'state-0123456789abcdef',
    ...overrides,
  };
  for (const [key, value] of Object.entries(values)) {
    if (value !== null) {
      params.set(key, value);
    }
  }
  return `${sandbox.authBaseUrl}/oauth/authorize?${params.toString()}`;
}

async function tokenRequest(
  sandbox: OuraSandbox,
  form: Record<string, string>,
  path = '/oauth/token'
): Promise<Response> {
  return fetch(`${sandbox.apiBaseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
}

async function codeFor(
  sandbox: OuraSandbox,
  options: { client?: SandboxClient; scopes?: readonly string[]; userId?: number | string } = {}
): Promise<string> {
  const client = options.client ?? APP;
  const location = await approveConsent(
    authorizeUrl(sandbox, { client_id: client.clientId, redirect_uri: client.redirectUris[0] ?? '' }),
    {
      ...(options.userId === undefined ? {} : { userId: options.userId }),
      ...(options.scopes === undefined ? {} : { scopes: options.scopes }),
    }
  );
  const code = new URL(location).searchParams.get('code');
  if (!code) {
    throw new Error(`No code in ${location}`);
  }
  return code;
}

async function connect(
  sandbox: OuraSandbox,
  options: { client?: SandboxClient; scopes?: readonly string[]; userId?: number | string } = {}
): Promise<Tokens> {
  const client = options.client ?? APP;
  const response = await tokenRequest(sandbox, {
    grant_type: 'authorization_code',
    code: await codeFor(sandbox, options),
    redirect_uri: client.redirectUris[0] ?? '',
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Tokens;
}

async function refresh(sandbox: OuraSandbox, refreshToken: string, client: SandboxClient = APP): Promise<Response> {
  return tokenRequest(sandbox, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: client.clientId,
    client_secret: client.clientSecret,
  });
}

async function api(sandbox: OuraSandbox, path: string, accessToken: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${sandbox.apiBaseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${accessToken}`, ...(init.headers ?? {}) },
  });
}

async function getJson<T>(sandbox: OuraSandbox, path: string, accessToken: string): Promise<T> {
  const response = await api(sandbox, path, accessToken);
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

async function walk(
  sandbox: OuraSandbox,
  path: string,
  token: string,
  query: Record<string, string>,
  schema: string
): Promise<{ data: Record<string, unknown>[]; pages: number }> {
  const data: Record<string, unknown>[] = [];
  let nextToken: string | null = null;
  let pages = 0;
  do {
    const params: URLSearchParams = new URLSearchParams({
      ...query,
      ...(nextToken === null ? {} : { next_token: nextToken }),
    });
    const page: Page = await getJson<Page>(sandbox, `${path}?${params.toString()}`, token);
    expectValid(schema, page);
    data.push(...page.data);
    nextToken = page.next_token;
    pages += 1;
  } while (nextToken !== null);
  return { data, pages };
}

function app(client: SandboxClient = APP): Record<string, string> {
  return { 'x-client-id': client.clientId, 'x-client-secret': client.clientSecret };
}

async function subscriptionCall(
  sandbox: OuraSandbox,
  method: string,
  path: string,
  body?: unknown,
  client: SandboxClient = APP
): Promise<Response> {
  return fetch(`${sandbox.apiBaseUrl}/v2/webhook/subscription${path}`, {
    method,
    headers: { ...app(client), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A webhook receiver. `challenge` decides the answer to Oura's verification GET: `echo` (what Oura requires),
 * `404` (what Medplum's POST-only `/webhook/:id` route answers) or `wrong` (200 with another challenge).
 */
async function startReceiver(): Promise<{
  url: string;
  received: Received[];
  gets: URL[];
  answer: { status: number; challenge: 'echo' | '404' | 'wrong'; hangMs: number };
  close: () => Promise<void>;
}> {
  const received: Received[] = [];
  const gets: URL[] = [];
  const answer = { status: 200, challenge: 'echo' as 'echo' | '404' | 'wrong', hangMs: 0 };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'GET') {
      gets.push(url);
      if (answer.challenge === '404') {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"issue":"Not found"}');
        return;
      }
      const challenge = answer.challenge === 'echo' ? url.searchParams.get('challenge') : 'not-it';
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ challenge }));
      return;
    }
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
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook/oura`,
    received,
    gets,
    answer,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const started: OuraSandbox[] = [];
async function sandboxWith(options: Partial<OuraSandboxOptions> = {}): Promise<OuraSandbox> {
  const sandbox = await startOuraSandbox({
    seed: 7,
    endDate: END_DATE,
    people: 2,
    clients: [APP, OTHER_APP],
    rateLimit: { limit: 1_000_000, windowSeconds: 300 },
    webhookRetryDelaysMs: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10],
    webhookTimeoutMs: 300,
    ...options,
  });
  started.push(sandbox);
  return sandbox;
}

afterAll(async () => {
  await Promise.all(started.map((sandbox) => sandbox.close()));
});

const COLLECTIONS: { type: OuraDocumentType; item: string; list: string }[] = [
  { type: 'daily_sleep', item: 'PublicDailySleep', list: 'MultiDocumentResponse_PublicDailySleep_' },
  { type: 'daily_readiness', item: 'PublicDailyReadiness', list: 'MultiDocumentResponse_PublicDailyReadiness_' },
  { type: 'daily_activity', item: 'PublicDailyActivity', list: 'MultiDocumentResponse_PublicDailyActivity_' },
  { type: 'daily_spo2', item: 'PublicDailySpO2', list: 'MultiDocumentResponse_PublicDailySpO2_' },
  { type: 'daily_stress', item: 'PublicDailyStress', list: 'MultiDocumentResponse_PublicDailyStress_' },
  { type: 'sleep', item: 'PublicModifiedSleepModel', list: 'MultiDocumentResponse_PublicModifiedSleepModel_' },
  { type: 'workout', item: 'PublicWorkout', list: 'MultiDocumentResponse_PublicWorkout_' },
];

// ---------------------------------------------------------------------------------------------------------------

describe('the contract check itself', () => {
  test('rejects an undocumented field, a missing required field and a wrong type', () => {
    const document = {
      id: 'x',
      meta: { updated_at: '2026-10-01T00:00:00+00:00', version: 1 },
      day: '2026-10-01',
      breathing_disturbance_index: 3,
      spo2_percentage: { average: 97 },
    };
    expect(validator('PublicDailySpO2')(document)).toBe(true);
    expect(validator('PublicDailySpO2')({ ...document, invented: 1 })).toBe(false);
    expect(validator('PublicDailySpO2')({ ...document, meta: undefined })).toBe(false);
    expect(validator('PublicDailySpO2')({ ...document, breathing_disturbance_index: 'high' })).toBe(false);
  });
});

describe('API responses match the Oura OpenAPI spec', () => {
  let sandbox: OuraSandbox;
  let tokens: Tokens;

  beforeAll(async () => {
    sandbox = await sandboxWith();
    tokens = await connect(sandbox);
  });

  test('the token response has the documented shape', () => {
    expectValid('token', tokens);
    expect(tokens.expires_in).toBe(86_400);
    expect(tokens.scope).toBe(ALL_SCOPES);
  });

  test.each(COLLECTIONS)('$type: a month validates, every document by id too', async ({ type, item, list }) => {
    const page = await getJson<Page>(
      sandbox,
      `/v2/usercollection/${type}?start_date=2026-10-01&end_date=2026-10-31T23:59:59`,
      tokens.access_token
    );
    expectValid(list, page);
    expect(page.data.length).toBeGreaterThan(type === 'workout' ? 5 : 25);
    for (const document of page.data.slice(0, 8)) {
      expectValid(item, document);
      const single = await getJson(
        sandbox,
        `/v2/usercollection/${type}/${String(document['id'])}`,
        tokens.access_token
      );
      expect(single).toEqual(document);
      expectValid(item, single);
    }
    for (const key of ['timestamp', 'bedtime_start', 'bedtime_end', 'start_datetime', 'end_datetime']) {
      const value = page.data[0]?.[key];
      if (value !== undefined) {
        expect(value, key).toMatch(LOCALIZED);
      }
    }
  });

  test('the whole history, every type, pages through and validates: exact counts, oldest first', async () => {
    const query = { start_date: '2025-09-01', end_date: '2026-11-01' };
    for (const { type, item, list } of COLLECTIONS) {
      const walked = await walk(sandbox, `/v2/usercollection/${type}`, tokens.access_token, query, list);
      const truth = sandbox.control.documents(type);
      expect(walked.data, type).toEqual(truth);
      expect(walked.pages).toBe(Math.ceil(truth.length / 50));
      for (const document of walked.data) {
        expectValid(item, document);
      }
      const days = walked.data.map((document) => String(document['day']));
      expect(days).toEqual([...days].sort());
    }
    expect(sandbox.control.documents('daily_sleep')).toHaveLength(400);
    expect(sandbox.control.documents('daily_activity')).toHaveLength(399);
    const sleeps = sandbox.control.documents('sleep') as OuraSleep[];
    expect(sleeps.filter((sleep) => sleep.type === 'long_sleep')).toHaveLength(400);
    expect(sleeps.some((sleep) => sleep.type === 'sleep' || sleep.type === 'rest')).toBe(true);
    const workouts = sandbox.control.documents('workout').length;
    expect(workouts).toBeGreaterThan((400 / 7) * 2.5);
    expect(workouts).toBeLessThan((400 / 7) * 5);
  });

  test('sleep periods carry 5-minute HR and HRV samples with gaps, consistent with the summary fields', async () => {
    const page = await getJson<Page<OuraSleep>>(
      sandbox,
      '/v2/usercollection/sleep?start_date=2026-09-30&end_date=2026-10-30',
      tokens.access_token
    );
    const nights = page.data.filter((sleep) => sleep.type === 'long_sleep');
    expect(nights).toHaveLength(30);
    for (const night of nights) {
      expect(night.heart_rate?.interval).toBe(300);
      expect(night.hrv?.interval).toBe(300);
      const beats = (night.heart_rate?.items ?? []).filter((value): value is number => value !== null);
      expect(night.heart_rate?.items).toContain(null);
      expect(Math.min(...beats)).toBe(night.lowest_heart_rate);
      expect(night.time_in_bed).toBe((night.total_sleep_duration ?? 0) + (night.awake_time ?? 0));
      expect(night.readiness?.score).toBeGreaterThan(0);
      expect(night.heart_rate?.timestamp).toMatch(LOCALIZED);
    }
  });

  test('personal_info, tag, enhanced_tag and session validate', async () => {
    const info = await getJson<Record<string, unknown>>(
      sandbox,
      '/v2/usercollection/personal_info',
      tokens.access_token
    );
    expectValid('PersonalInfoResponse', info);
    expect(info['id']).toBe(sandbox.userId);
    expect(info['email']).toBe(sandbox.users[0]?.email);
    for (const type of ['tag', 'enhanced_tag', 'session']) {
      const page = await getJson(sandbox, `/v2/usercollection/${type}`, tokens.access_token);
      expectValid(
        `MultiDocumentResponse_${type === 'session' ? 'PublicSession' : type === 'tag' ? 'TagModel' : 'EnhancedTagModel'}_`,
        page
      );
    }
  });

  test('heartrate: rows every 5 minutes while worn, one a minute in workouts, gaps while the ring is off', async () => {
    const page = await getJson<Page<{ bpm: number; source: string; timestamp: string; timestamp_unix: number }>>(
      sandbox,
      '/v2/usercollection/heartrate?start_datetime=2026-10-20T00:00:00%2B00:00&end_datetime=2026-10-22T00:00:00%2B00:00',
      tokens.access_token
    );
    expectValid('TimeSeriesResponse_PublicHeartRateRow_', page);
    const rows = page.data;
    expect(rows.length).toBeGreaterThan(400);
    expect(rows.length).toBeLessThan(2 * 288 + 400);
    for (const row of rows) {
      expect(Date.parse(row.timestamp)).toBe(row.timestamp_unix);
      expect(row.timestamp).toMatch(/\+00:00$/);
    }
    const sources = new Set(rows.map((row) => row.source));
    expect(sources).toContain('sleep');
    expect(sources).toContain('awake');
    const gaps = rows.slice(1).map((row, index) => row.timestamp_unix - (rows[index]?.timestamp_unix ?? 0));
    expect(gaps.filter((gap) => gap === 300_000).length).toBeGreaterThan(200);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(30 * 60_000);
    const workouts = rows.filter((row) => row.source === 'workout');
    if (workouts.length > 1) {
      expect((workouts[1]?.timestamp_unix ?? 0) - (workouts[0]?.timestamp_unix ?? 0)).toBe(60_000);
    }
    expect(page.data).toEqual(
      sandbox.control.heartRate('2026-10-20T00:00:00Z', '2026-10-22T00:00:00Z') as unknown as typeof page.data
    );
  });
});

describe('dates, paging and errors', () => {
  let sandbox: OuraSandbox;
  let tokens: Tokens;

  beforeAll(async () => {
    sandbox = await sandboxWith({ pageSizes: { documents: 7, heartRate: 500 } });
    tokens = await connect(sandbox);
  });

  test('daily collections: a date-only end_date drops that day; T23:59:59 keeps it; start_date is inclusive', async () => {
    const days = async (query: string): Promise<string[]> =>
      (
        await walk(
          sandbox,
          '/v2/usercollection/daily_sleep',
          tokens.access_token,
          Object.fromEntries(new URLSearchParams(query)),
          'MultiDocumentResponse_PublicDailySleep_'
        )
      ).data.map((document) => String(document['day']));
    expect(await days('start_date=2026-10-10&end_date=2026-10-15')).toEqual([
      '2026-10-10',
      '2026-10-11',
      '2026-10-12',
      '2026-10-13',
      '2026-10-14',
    ]);
    expect((await days('start_date=2026-10-10&end_date=2026-10-15T23:59:59')).at(-1)).toBe('2026-10-15');
    expect(await days('start_date=2026-10-15&end_date=2026-10-15')).toEqual([]);
  });

  test('sleep: start_date is effectively exclusive (a same-day window is empty); end_date inclusive', async () => {
    const page = (query: string): Promise<Page<OuraSleep>> =>
      getJson<Page<OuraSleep>>(sandbox, `/v2/usercollection/sleep?${query}`, tokens.access_token);
    expect((await page('start_date=2026-10-15&end_date=2026-10-15')).data).toEqual([]);
    const padded = await page('start_date=2026-10-14&end_date=2026-10-15');
    expect(new Set(padded.data.map((sleep) => sleep.day))).toEqual(new Set(['2026-10-15']));
  });

  test('paging: next_token walks a window exactly; a foreign or broken next_token is 400', async () => {
    const query = { start_date: '2026-08-01', end_date: '2026-10-01' };
    const walked = await walk(
      sandbox,
      '/v2/usercollection/daily_readiness',
      tokens.access_token,
      query,
      'MultiDocumentResponse_PublicDailyReadiness_'
    );
    expect(walked.data.map((document) => document['day'])).toEqual(
      sandbox.control
        .documents('daily_readiness')
        .map((document) => (document as { day: string }).day)
        .filter((day) => day >= '2026-08-01' && day < '2026-10-01')
    );
    expect(walked.pages).toBe(Math.ceil(61 / 7));
    const first = await getJson<Page>(
      sandbox,
      `/v2/usercollection/daily_readiness?${new URLSearchParams(query).toString()}`,
      tokens.access_token
    );
    const foreign = await api(
      sandbox,
      `/v2/usercollection/daily_readiness?start_date=2026-01-01&next_token=${first.next_token ?? ''}`,
      tokens.access_token
    );
    expect(foreign.status).toBe(400);
    expectValid('problem', await foreign.json());
    expect((await api(sandbox, '/v2/usercollection/sleep?next_token=%21%21', tokens.access_token)).status).toBe(400);
    const hr = await walk(
      sandbox,
      '/v2/usercollection/heartrate',
      tokens.access_token,
      { start_datetime: '2026-10-01T00:00:00Z', end_datetime: '2026-10-04T00:00:00Z' },
      'TimeSeriesResponse_PublicHeartRateRow_'
    );
    expect(hr.data).toEqual(sandbox.control.heartRate('2026-10-01T00:00:00Z', '2026-10-04T00:00:00Z'));
    expect(hr.pages).toBe(Math.ceil(hr.data.length / 500));
  });

  test('heartrate: both datetimes required (422), more than 30 days is 400, exactly 30 days is fine', async () => {
    const missing = await api(
      sandbox,
      '/v2/usercollection/heartrate?start_datetime=2026-10-01T00:00:00Z',
      tokens.access_token
    );
    expect(missing.status).toBe(422);
    const body = (await missing.json()) as { detail: { loc: string[] }[] };
    expectValid('HTTPValidationError', body);
    expect(body.detail[0]?.loc).toEqual(['query', 'end_datetime']);
    const long = await api(
      sandbox,
      '/v2/usercollection/heartrate?start_datetime=2026-09-01T00:00:00Z&end_datetime=2026-10-01T00:00:01Z',
      tokens.access_token
    );
    expect(long.status).toBe(400);
    expectValid('problem', await long.json());
    expect(
      (
        await api(
          sandbox,
          '/v2/usercollection/heartrate?start_datetime=2026-09-01T00:00:00Z&end_datetime=2026-10-01T00:00:00Z&latest=true',
          tokens.access_token
        )
      ).status
    ).toBe(200);
  });

  test('401 without a valid token, 404 for unknown documents and another user’s, 422 for a bad date: RFC 7807 bodies', async () => {
    const unauthorised = await api(sandbox, '/v2/usercollection/sleep', 'nope');
    expect(unauthorised.status).toBe(401);
    expectValid('problem', await unauthorised.json());
    const unknown = await api(
      sandbox,
      '/v2/usercollection/sleep/00000000-0000-4000-8000-000000000000',
      tokens.access_token
    );
    expect(unknown.status).toBe(404);
    expectValid('problem', await unknown.json());
    const otherUser = sandbox.users[1]?.userId ?? '';
    const theirs = sandbox.control.documents('sleep', otherUser)[0]?.id ?? '';
    expect((await api(sandbox, `/v2/usercollection/sleep/${theirs}`, tokens.access_token)).status).toBe(404);
    const bad = await api(sandbox, '/v2/usercollection/daily_sleep?start_date=yesterday', tokens.access_token);
    expect(bad.status).toBe(422);
    expectValid('HTTPValidationError', await bad.json());
  });

  test('scopes unticked on the consent page: 403 on that data, personal_info without the email', async () => {
    const narrow = await connect(sandbox, { client: OTHER_APP, scopes: ['daily'] });
    expect(narrow.scope).toBe('daily');
    expect((await api(sandbox, '/v2/usercollection/daily_sleep', narrow.access_token)).status).toBe(200);
    for (const type of ['workout', 'daily_spo2', 'tag', 'session']) {
      const response = await api(sandbox, `/v2/usercollection/${type}`, narrow.access_token);
      expect(response.status, type).toBe(403);
      expectValid('problem', await response.json());
    }
    const hr = await api(
      sandbox,
      '/v2/usercollection/heartrate?start_datetime=2026-10-01T00:00:00Z&end_datetime=2026-10-02T00:00:00Z',
      narrow.access_token
    );
    expect(hr.status).toBe(403);
    const info = await getJson<Record<string, unknown>>(
      sandbox,
      '/v2/usercollection/personal_info',
      narrow.access_token
    );
    expect(info).toEqual({
      id: sandbox.userId,
      age: null,
      weight: null,
      height: null,
      biological_sex: null,
      email: null,
    });
  });
});

describe('OAuth', () => {
  let sandbox: OuraSandbox;
  let clockOffsetMs = 0;

  beforeAll(async () => {
    sandbox = await sandboxWith({ now: () => Date.now() + clockOffsetMs });
  });

  async function location(url: string): Promise<{ status: number; location: URL | undefined }> {
    const response = await fetch(url, { redirect: 'manual' });
    const header = response.headers.get('location');
    return { status: response.status, location: header ? new URL(header) : undefined };
  }

  test('an unknown client or unregistered redirect_uri is refused without redirecting', async () => {
    expect((await location(authorizeUrl(sandbox, { client_id: 'who' }))).status).toBe(400);
    const evil = await location(authorizeUrl(sandbox, { redirect_uri: 'https://evil.example/cb' }));
    expect(evil.status).toBe(400);
    expect(evil.location).toBeUndefined();
  });

  test('redirect_uri may be left out when exactly one is registered; not when there are several', async () => {
    const page = await fetch(authorizeUrl(sandbox, { redirect_uri: null }));
    expect(page.status).toBe(200);
    const other = await fetch(authorizeUrl(sandbox, { client_id: OTHER_APP.clientId, redirect_uri: null }));
    expect(other.status).toBe(400);
  });

  test('errors redirect with error= and the state; an omitted scope offers every scope', async () => {
    expect((await location(authorizeUrl(sandbox, { scope: 'everything' }))).location?.searchParams.get('error')).toBe(
      'invalid_scope'
    );
    const wrongType = (await location(authorizeUrl(sandbox, { response_type: 'token' }))).location;
    expect(wrongType?.searchParams.get('error')).toBe('unsupported_response_type');
    expect(wrongType?.searchParams.get('state')).toBe('state-0123456789abcdef');
    const html = await (await fetch(authorizeUrl(sandbox, { scope: null }))).text();
    for (const scope of ALL_SCOPES.split(' ')) {
      expect(html).toContain(`name="scope" value="${scope}" checked`);
    }
  });

  test('the consent page follows the shared contract; Deny → access_denied with state; Allow → code, scope, state', async () => {
    const html = await (await fetch(authorizeUrl(sandbox))).text();
    expect(html).toContain('Baseline');
    expect(html).toContain('name="challenge"');
    expect(html).toContain('value="allow"');
    expect(html).toContain('value="deny"');
    // Two people: a radio per person, none preselected.
    expect(html.match(/type="radio" name="user_id"/g)).toHaveLength(2);
    expect(html).not.toMatch(/name="user_id"[^>]*checked/);
    const denied = new URL(await approveConsent(authorizeUrl(sandbox), { decision: 'deny' }));
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('state')).toBe('state-0123456789abcdef');
    const allowed = new URL(await approveConsent(authorizeUrl(sandbox), { userId: 1 }));
    expect(allowed.searchParams.get('code')).toBeTruthy();
    expect(allowed.searchParams.get('scope')).toBe(ALL_SCOPES);
    expect(allowed.searchParams.get('state')).toBe('state-0123456789abcdef');
    const noState = new URL(await approveConsent(authorizeUrl(sandbox, { state: null })));
    expect(noState.searchParams.has('state')).toBe(false);
  });

  test('Allow without choosing a person is refused when there are several', async () => {
    const html = await (await fetch(authorizeUrl(sandbox))).text();
    const challenge = /name="challenge" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const response = await fetch(`${sandbox.authBaseUrl}/oauth/authorize/consent`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ challenge, decision: 'allow' }).toString(),
      redirect: 'manual',
    });
    expect(response.status).toBe(400);
  });

  test('a code is single-use and tied to its redirect_uri; the person chosen is the one connected', async () => {
    const code = await codeFor(sandbox, { userId: sandbox.users[1]?.userId ?? '' });
    const form = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
    };
    const wrongRedirect = await tokenRequest(sandbox, { ...form, redirect_uri: 'https://app.baseline.local/x' });
    expect(wrongRedirect.status).toBe(400);
    const first = await tokenRequest(sandbox, form);
    expect(first.status).toBe(200);
    const tokens = (await first.json()) as Tokens;
    const info = await getJson<{ id: string }>(sandbox, '/v2/usercollection/personal_info', tokens.access_token);
    expect(info.id).toBe(sandbox.users[1]?.userId);
    const replay = await tokenRequest(sandbox, form);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });
  });

  test('a code expires after 10 minutes; a wrong client secret is 401 invalid_client', async () => {
    const code = await codeFor(sandbox);
    const form = {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: APP.clientId,
      client_secret: 'nope',
    };
    const wrong = await tokenRequest(sandbox, form);
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: 'invalid_client' });
    clockOffsetMs += 10 * 60_000 + 1000;
    const late = await tokenRequest(sandbox, { ...form, client_secret: APP.clientSecret });
    expect(late.status).toBe(400);
    expect(await late.json()).toMatchObject({ error: 'invalid_grant' });
  });

  test('refresh tokens are single-use: the reuse is 400 "Token already used or revoked"; the new one works', async () => {
    const first = await connect(sandbox);
    const response = await refresh(sandbox, first.refresh_token);
    expect(response.status).toBe(200);
    const second = (await response.json()) as Tokens;
    expectValid('token', second);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await api(sandbox, '/v2/usercollection/personal_info', second.access_token)).status).toBe(200);
    const before = sandbox.control.stats().refreshTokenReuseRefusals;
    const reuse = await refresh(sandbox, first.refresh_token);
    expect(reuse.status).toBe(400);
    const body = (await reuse.json()) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_grant');
    expect(body.error_description).toContain('Token already used or revoked');
    expect(sandbox.control.stats().refreshTokenReuseRefusals).toBe(before + 1);
    expect((await refresh(sandbox, second.refresh_token)).status).toBe(200);
  });

  test('two concurrent refreshes with one token: exactly one 200 and one invalid_grant; the winner’s tokens work', async () => {
    const tokens = await connect(sandbox);
    const responses = await Promise.all([
      refresh(sandbox, tokens.refresh_token),
      refresh(sandbox, tokens.refresh_token),
    ]);
    expect(responses.map((response) => response.status).sort()).toEqual([200, 400]);
    const winner = (await responses.find((response) => response.status === 200)?.json()) as Tokens;
    expect(await responses.find((response) => response.status === 400)?.json()).toMatchObject({
      error: 'invalid_grant',
    });
    expect((await api(sandbox, '/v2/usercollection/personal_info', winner.access_token)).status).toBe(200);
    expect((await refresh(sandbox, winner.refresh_token)).status).toBe(200);
  });

  test('the new-portal token endpoint behaves the same', async () => {
    const tokens = await connect(sandbox);
    const response = await tokenRequest(
      sandbox,
      {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: APP.clientId,
        client_secret: APP.clientSecret,
      },
      '/oauth/v2/ext/oauth-token'
    );
    expect(response.status).toBe(200);
    expectValid('token', await response.json());
  });

  test('an expired access token is 401; revoke (GET or POST) kills the access and refresh tokens', async () => {
    const tokens = await connect(sandbox);
    clockOffsetMs += 86_400_000;
    expect((await api(sandbox, '/v2/usercollection/personal_info', tokens.access_token)).status).toBe(401);
    const refreshed = (await (await refresh(sandbox, tokens.refresh_token)).json()) as Tokens;
    const revoked = await fetch(`${sandbox.apiBaseUrl}/oauth/revoke?access_token=${refreshed.access_token}`);
    expect(revoked.status).toBe(200);
    expect((await api(sandbox, '/v2/usercollection/personal_info', refreshed.access_token)).status).toBe(401);
    expect((await refresh(sandbox, refreshed.refresh_token)).status).toBe(400);
    const again = await connect(sandbox);
    const posted = await fetch(`${sandbox.apiBaseUrl}/oauth/revoke?access_token=${again.access_token}`, {
      method: 'POST',
    });
    expect(posted.status).toBe(200);
    expect((await api(sandbox, '/v2/usercollection/personal_info', again.access_token)).status).toBe(401);
  });
});

describe('rate limits and faults', () => {
  test('after `limit` calls per window an app gets 429 with Retry-After and X-RateLimit-*; another app does not', async () => {
    const sandbox = await sandboxWith({ rateLimit: { limit: 5, windowSeconds: 300 } });
    const tokens = await connect(sandbox);
    for (let i = 0; i < 5; i++) {
      expect((await api(sandbox, '/v2/usercollection/personal_info', tokens.access_token)).status).toBe(200);
    }
    const limited = await api(sandbox, '/v2/usercollection/personal_info', tokens.access_token);
    expect(limited.status).toBe(429);
    expectValid('problem', await limited.json());
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(300);
    expect(limited.headers.get('x-ratelimit-limit')).toBe('5');
    expect(limited.headers.get('x-ratelimit-window')).toBe('300');
    const reset = Number(limited.headers.get('x-ratelimit-reset'));
    expect(reset - Date.now() / 1000).toBeGreaterThan(0);
    expect(reset - Date.now() / 1000).toBeLessThanOrEqual(301);
    expect(limited.headers.get('x-ratelimit-tier')).toBe('application');
    const other = await connect(sandbox, { client: OTHER_APP });
    expect((await api(sandbox, '/v2/usercollection/personal_info', other.access_token)).status).toBe(200);
  });

  test('the default limit is 5000 per 5 minutes; a per-token layer answers with its own tier', async () => {
    const sandbox = await sandboxWith({ rateLimit: undefined });
    const tokens = await connect(sandbox);
    const statuses: number[] = [];
    // In batches: 5001 sockets at once would test the machine, not the sandbox.
    for (let sent = 0; sent < 5001; sent += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, 5001 - sent) }, () =>
          api(sandbox, '/v2/usercollection/personal_info', tokens.access_token)
        )
      );
      statuses.push(...batch.map((response) => response.status));
    }
    expect(statuses.filter((status) => status === 200)).toHaveLength(5000);
    expect(statuses.filter((status) => status === 429)).toHaveLength(1);
    const layered = await sandboxWith({ rateLimit: { limit: 100, windowSeconds: 300, perTokenLimit: 2 } });
    const first = await connect(layered);
    const second = await connect(layered);
    await api(layered, '/v2/usercollection/personal_info', first.access_token);
    await api(layered, '/v2/usercollection/personal_info', first.access_token);
    const limited = await api(layered, '/v2/usercollection/personal_info', first.access_token);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('x-ratelimit-tier')).toBe('token');
    expect((await api(layered, '/v2/usercollection/personal_info', second.access_token)).status).toBe(200);
  });

  test('injected statuses hit the next n matching calls; an injected delay outlasts a client timeout; counts by route', async () => {
    const sandbox = await sandboxWith();
    const tokens = await connect(sandbox);
    sandbox.control.injectFaults({ status: 503, count: 2, pathPrefix: '/v2/usercollection/sleep' });
    expect((await api(sandbox, '/v2/usercollection/daily_sleep', tokens.access_token)).status).toBe(200);
    expect((await api(sandbox, '/v2/usercollection/sleep', tokens.access_token)).status).toBe(503);
    expect((await api(sandbox, '/v2/usercollection/sleep', tokens.access_token)).status).toBe(503);
    expect((await api(sandbox, '/v2/usercollection/sleep', tokens.access_token)).status).toBe(200);
    sandbox.control.injectFaults({ status: 401, count: 1 });
    expect((await api(sandbox, '/v2/usercollection/workout', tokens.access_token)).status).toBe(401);
    sandbox.control.injectFaults({ status: 429, count: 1 });
    const limited = await api(sandbox, '/v2/usercollection/workout', tokens.access_token);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeTruthy();
    sandbox.control.injectFaults({ status: 500, count: 1, pathPrefix: '/oauth/token' });
    expect((await refresh(sandbox, tokens.refresh_token)).status).toBe(500);
    expect((await refresh(sandbox, tokens.refresh_token)).status).toBe(200);
    sandbox.control.injectTimeout({ count: 1, delayMs: 2000 });
    await expect(
      api(sandbox, '/v2/usercollection/workout', tokens.access_token, { signal: AbortSignal.timeout(100) })
    ).rejects.toThrow();
    const stats = sandbox.control.stats();
    expect(stats.api['GET /v2/usercollection/sleep']).toBe(3);
    expect(stats.apiStatuses['503']).toBe(2);
    expect(stats.tokenRequests.refresh_token).toBe(1);
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
    expect((await api(sandbox, '/v2/usercollection/sleep', tokens.access_token)).status).toBe(500);
    expect((await post('faults', { status: 418, count: 1 })).status).toBe(400);
    const users = (await (await fetch(`${sandbox.baseUrl}/_sandbox/users`)).json()) as { currentDate: string };
    expect(users.currentDate).toBe(END_DATE);
    const added = (await (await post('add-day', {})).json()) as { events: unknown[] };
    expect(added.events.length).toBeGreaterThan(10);
    expect(sandbox.control.currentDate()).toBe('2026-11-01');
  });
});

describe('webhook subscriptions', () => {
  let sandbox: OuraSandbox;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let clockOffsetMs = 0;

  beforeAll(async () => {
    receiver = await startReceiver();
    sandbox = await sandboxWith({ now: () => Date.now() + clockOffsetMs });
  });

  afterAll(async () => {
    await receiver.close();
  });

  const create = (body: Record<string, unknown>, client: SandboxClient = APP): Promise<Response> =>
    subscriptionCall(sandbox, 'POST', '', body, client);

  test('app credentials are required (401); a bad body is 422', async () => {
    const anonymous = await fetch(`${sandbox.apiBaseUrl}/v2/webhook/subscription`);
    expect(anonymous.status).toBe(401);
    const wrong = await fetch(`${sandbox.apiBaseUrl}/v2/webhook/subscription`, {
      headers: { 'x-client-id': APP.clientId, 'x-client-secret': 'nope' },
    });
    expect(wrong.status).toBe(401);
    const bad = await create({ callback_url: receiver.url, event_type: 'explode', data_type: 'sleep' });
    expect(bad.status).toBe(422);
    expectValid('HTTPValidationError', await bad.json());
  });

  test('the handshake: a callback answering GET with 404 (Medplum) or the wrong challenge is refused, no subscription', async () => {
    receiver.answer.challenge = '404';
    const refused = await create({
      callback_url: receiver.url,
      verification_token: 'vt-1',
      event_type: 'update',
      data_type: 'sleep',
    });
    expect(refused.status).toBe(400);
    expectValid('problem', await refused.json());
    expect(receiver.gets.at(-1)?.searchParams.get('verification_token')).toBe('vt-1');
    expect(receiver.gets.at(-1)?.searchParams.get('challenge')).toMatch(/^[0-9a-f]{32}$/);
    receiver.answer.challenge = 'wrong';
    expect(
      (
        await create({
          callback_url: receiver.url,
          verification_token: 'vt-1',
          event_type: 'update',
          data_type: 'sleep',
        })
      ).status
    ).toBe(400);
    expect(sandbox.control.subscriptions()).toEqual([]);
    expect(sandbox.control.stats().challenges.map((challenge) => [challenge.status, challenge.passed])).toEqual([
      [404, false],
      [200, false],
    ]);
  });

  test('an echoing callback is accepted: 201, expiry 90 days out; duplicates are 409; list, get, update, delete', async () => {
    receiver.answer.challenge = 'echo';
    const response = await create({
      callback_url: receiver.url,
      verification_token: 'vt-1',
      event_type: 'update',
      data_type: 'sleep',
    });
    expect(response.status).toBe(201);
    const created = (await response.json()) as { id: string; expiration_time: string };
    expectValid('WebhookSubscriptionModel', created);
    const days = (Date.parse(created.expiration_time) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThan(90.1);
    const duplicate = await create({
      callback_url: receiver.url,
      verification_token: 'vt-2',
      event_type: 'update',
      data_type: 'sleep',
    });
    expect(duplicate.status).toBe(409);
    for (const [event_type, data_type] of [
      ['delete', 'sleep'],
      ['create', 'daily_sleep'],
      ['delete', 'daily_activity'],
    ]) {
      expect(
        (await create({ callback_url: receiver.url, verification_token: 'vt-1', event_type, data_type })).status
      ).toBe(201);
    }
    const list = (await (await subscriptionCall(sandbox, 'GET', '')).json()) as unknown[];
    expect(list).toHaveLength(4);
    for (const item of list) {
      expectValid('WebhookSubscriptionModel', item);
    }
    expect((await (await subscriptionCall(sandbox, 'GET', '', undefined, OTHER_APP)).json()) as unknown[]).toEqual([]);
    expect((await subscriptionCall(sandbox, 'GET', `/${created.id}`, undefined, OTHER_APP)).status).toBe(403);
    const fetched = await subscriptionCall(sandbox, 'GET', `/${created.id}`);
    expect(await fetched.json()).toEqual(created);
    const gets = receiver.gets.length;
    const updated = await subscriptionCall(sandbox, 'PUT', `/${created.id}`, { verification_token: 'vt-3' });
    expect(updated.status).toBe(200);
    expect(receiver.gets).toHaveLength(gets + 1);
    expect(receiver.gets.at(-1)?.searchParams.get('verification_token')).toBe('vt-3');
    const temporary = (await (
      await create({
        callback_url: `${receiver.url}?x=1`,
        verification_token: 'vt-1',
        event_type: 'update',
        data_type: 'workout',
      })
    ).json()) as { id: string };
    expect((await subscriptionCall(sandbox, 'DELETE', `/${temporary.id}`)).status).toBe(204);
    expect((await subscriptionCall(sandbox, 'GET', `/${temporary.id}`)).status).toBe(403);
  });

  test('a re-analysed sleep is delivered signed: x-oura-signature = HEX(HMAC(secret, timestamp + body)), timestamp in seconds', async () => {
    const tokens = await connect(sandbox);
    const sleep = sandbox.control.documents('sleep').at(-3) as OuraSleep;
    const result = await sandbox.control.reanalyseSleep(sandbox.userId, sleep.id);
    expect(result.dispatches[0]?.outcomes).toEqual([
      expect.objectContaining({ clientId: APP.clientId, delivered: true, attempts: 1 }),
    ]);
    const delivery = receiver.received.at(-1);
    if (!delivery) {
      throw new Error('not delivered');
    }
    const timestamp = String(delivery.headers['x-oura-timestamp']);
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
    const expected = createHmac('sha256', APP.clientSecret)
      .update(timestamp + delivery.body)
      .digest('hex')
      .toUpperCase();
    expect(delivery.headers['x-oura-signature']).toBe(expected);
    const body = JSON.parse(delivery.body) as Record<string, unknown>;
    expectValid('webhook', body);
    expect(body).toMatchObject({
      event_type: 'update',
      data_type: 'sleep',
      object_id: sleep.id,
      user_id: sandbox.userId,
    });
    const info = await getJson<{ id: string }>(sandbox, '/v2/usercollection/personal_info', tokens.access_token);
    expect(body['user_id']).toBe(info.id);
    const after = await getJson<OuraSleep>(sandbox, `/v2/usercollection/sleep/${sleep.id}`, tokens.access_token);
    expect(after.meta.version).toBe(2);
    expect(after.sleep_analysis_reason).toBe('bedtime_edit');
    expect(after.time_in_bed).toBe(sleep.time_in_bed + 300);
    expectValid('PublicModifiedSleepModel', after);
  });

  test('deletes: a sleep period stays as type "deleted"; other documents 404; both send delete', async () => {
    const tokens = await connect(sandbox);
    const sleep = sandbox.control.documents('sleep').at(-5) as OuraSleep;
    const result = await sandbox.control.deleteDocument(sandbox.userId, 'sleep', sleep.id);
    expect(result.dispatches[0]?.outcomes[0]?.delivered).toBe(true);
    const after = await getJson<OuraSleep>(sandbox, `/v2/usercollection/sleep/${sleep.id}`, tokens.access_token);
    expect(after.type).toBe('deleted');
    const activity = sandbox.control.documents('daily_activity').at(-2);
    const removed = await sandbox.control.deleteDocument(sandbox.userId, 'daily_activity', activity?.id ?? '');
    expect(removed.dispatches[0]?.outcomes[0]?.delivered).toBe(true);
    expect(
      (await api(sandbox, `/v2/usercollection/daily_activity/${activity?.id ?? ''}`, tokens.access_token)).status
    ).toBe(404);
    expect(JSON.parse(receiver.received.at(-1)?.body ?? '{}')).toMatchObject({
      event_type: 'delete',
      data_type: 'daily_activity',
    });
  });

  test('only users who authorised the app are delivered', async () => {
    const other = sandbox.users[1]?.userId ?? '';
    const sleep = sandbox.control.documents('sleep', other).at(-2) as OuraSleep;
    const result = await sandbox.control.reanalyseSleep(other, sleep.id);
    expect(result.dispatches[0]?.outcomes).toEqual([]);
  });

  test('a failing receiver gets the first try plus 10 retries; 410 cancels the subscription', async () => {
    receiver.answer.status = 500;
    const failing = await sandbox.control.sendWebhook({ dataType: 'sleep', eventType: 'update', objectId: 'x1' });
    expect(failing.outcomes[0]).toMatchObject({ delivered: false, attempts: 11, cancelled: false });
    const stats = sandbox.control.stats();
    expect(stats.webhookDeliveries.filter((attempt) => attempt.objectId === 'x1')).toHaveLength(11);
    expect(stats.webhookRetries).toBeGreaterThanOrEqual(10);
    receiver.answer.status = 410;
    const gone = await sandbox.control.sendWebhook({ dataType: 'sleep', eventType: 'delete', objectId: 'x2' });
    expect(gone.outcomes[0]).toMatchObject({ delivered: false, attempts: 1, cancelled: true });
    expect(
      sandbox.control.subscriptions().map((subscription) => `${subscription.event_type}/${subscription.data_type}`)
    ).not.toContain('delete/sleep');
    receiver.answer.status = 200;
  });

  test('a timeout counts as a failure and is retried; a later 2xx ends the retries', async () => {
    receiver.answer.hangMs = 1000;
    const pending = sandbox.control.sendWebhook({ dataType: 'sleep', eventType: 'update', objectId: 'slow' });
    // Answer promptly from the first retry on, however slow the machine is.
    while (!sandbox.control.stats().webhookDeliveries.some((attempt) => attempt.objectId === 'slow')) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    receiver.answer.hangMs = 0;
    const result = await pending;
    const attempts = sandbox.control.stats().webhookDeliveries.filter((attempt) => attempt.objectId === 'slow');
    expect(attempts[0]?.status).toBe('timeout');
    expect(attempts.at(-1)?.status).toBe(200);
    expect(result.outcomes[0]?.delivered).toBe(true);
  });

  test('an expired subscription stops delivering; renew pushes expiration_time out and deliveries resume', async () => {
    const [subscription] = sandbox.control.subscriptions().filter((candidate) => candidate.event_type === 'update');
    if (!subscription) {
      throw new Error('no subscription');
    }
    clockOffsetMs += 91 * 86_400_000;
    const silent = await sandbox.control.sendWebhook({ dataType: 'sleep', eventType: 'update', objectId: 'x3' });
    expect(silent.outcomes).toEqual([]);
    const renewed = await subscriptionCall(sandbox, 'PUT', `/renew/${subscription.id}`);
    expect(renewed.status).toBe(200);
    const body = (await renewed.json()) as { expiration_time: string };
    expectValid('WebhookSubscriptionModel', body);
    expect(Date.parse(body.expiration_time)).toBeGreaterThan(
      Date.parse(subscription.expiration_time) + 90 * 86_400_000
    );
    const delivered = await sandbox.control.sendWebhook({ dataType: 'sleep', eventType: 'update', objectId: 'x4' });
    expect(delivered.outcomes[0]?.delivered).toBe(true);
  });

  test('addDay announces the new documents to their subscriptions; revoking the user stops deliveries', async () => {
    // The clock moved past every subscription's expiry above; only the renewed one is live.
    const created = sandbox.control.subscriptions().find((candidate) => candidate.data_type === 'daily_sleep');
    expect((await subscriptionCall(sandbox, 'PUT', `/renew/${created?.id ?? ''}`)).status).toBe(200);
    const result = await sandbox.control.addDay();
    const dailySleep = result.dispatches.filter((dispatch) => dispatch.event.dataType === 'daily_sleep');
    expect(dailySleep.map((dispatch) => dispatch.event.eventType)).toContain('create');
    expect(dailySleep.find((dispatch) => dispatch.event.userId === sandbox.userId)?.outcomes[0]?.delivered).toBe(true);
    sandbox.control.revokeUserAccess(sandbox.userId);
    const after = await sandbox.control.sendWebhook({ dataType: 'daily_sleep', eventType: 'create', objectId: 'x5' });
    expect(after.outcomes).toEqual([]);
  });
});

describe('determinism', () => {
  async function snapshot(seed: number): Promise<string> {
    const sandbox = await sandboxWith({ seed });
    const tokens = await connect(sandbox);
    const texts: string[] = [];
    for (const { type } of COLLECTIONS) {
      const response = await api(
        sandbox,
        `/v2/usercollection/${type}?start_date=2026-10-20&end_date=2026-10-28`,
        tokens.access_token
      );
      texts.push(await response.text());
    }
    const hr = await api(
      sandbox,
      '/v2/usercollection/heartrate?start_datetime=2026-10-20T00:00:00Z&end_datetime=2026-10-21T00:00:00Z',
      tokens.access_token
    );
    texts.push(await hr.text());
    return texts.join('\n');
  }

  test('the same seed gives the same bytes; another seed different ones', async () => {
    const first = await snapshot(11);
    expect(await snapshot(11)).toBe(first);
    expect(await snapshot(12)).not.toBe(first);
  });
});
