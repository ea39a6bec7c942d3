/**
 * The local stack behaves like a default-configured Medplum 5.0 / 5.2 where Baseline depends on it (issue 6 §1), over
 * real HTTP: the FHIR quota (points, per membership and per project, the 429 and the RateLimit header, per batch
 * entry, system-setting overrides, bots on their own budget), the server-version setting (healthcheck, `Bot.rawBody`,
 * what a bot receives) and the webhook route. The conformance suite (test/conformance) compares the same areas with
 * recorded answers of a real Medplum 5.0.10; these tests pin each behaviour by its exact message.
 */
import type { Bundle, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { envStackOptions, startLocalStack } from '../scripts/local-stack/server.ts';
import type { LocalStack } from '../scripts/local-stack/server.ts';

interface Answer {
  status: number;
  contentType: string | null;
  rateLimit: string | null;
  text: string;
  json: unknown;
}

async function call(
  stack: LocalStack,
  method: string,
  path: string,
  options: { token?: string; json?: unknown; text?: string; contentType?: string } = {}
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.token) {
    headers.Authorization = `Bearer ${options.token}`;
  }
  let body: string | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['Content-Type'] = options.contentType ?? 'application/fhir+json';
  } else if (options.text !== undefined) {
    body = options.text;
    headers['Content-Type'] = options.contentType ?? 'text/plain';
  }
  const res = await fetch(stack.baseUrl + path, { method, headers, body });
  const text = method === 'HEAD' ? '' : await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    json = undefined;
  }
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    rateLimit: res.headers.get('ratelimit'),
    text,
    json,
  };
}

async function clientToken(stack: LocalStack, clientId: string, clientSecret: string): Promise<string> {
  const res = await fetch(stack.baseUrl + 'oauth2/token', {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

async function adminToken(stack: LocalStack): Promise<string> {
  return clientToken(stack, stack.adminClient.clientId, stack.adminClient.clientSecret);
}

/** A new ClientApplication: its own membership, so its own FHIR quota budget. */
async function newClient(stack: LocalStack, admin: string): Promise<{ token: string; membershipId: string }> {
  const created = await call(stack, 'POST', `admin/projects/${stack.projectId}/client`, {
    token: admin,
    json: { name: `client-${crypto.randomUUID()}` },
    contentType: 'application/json',
  });
  const client = created.json as { id: string; secret: string };
  const memberships = await call(stack, 'GET', `fhir/R4/ProjectMembership?profile=ClientApplication/${client.id}`, {
    token: admin,
  });
  const membershipId = (memberships.json as Bundle).entry?.[0]?.resource?.id ?? '';
  return { token: await clientToken(stack, client.id, client.secret), membershipId };
}

/** Creates a bot with a public webhook and a policy, deploys `code`, and returns its ids. */
async function newBot(
  stack: LocalStack,
  admin: string,
  code: string
): Promise<{ botId: string; membershipId: string }> {
  const policy = await call(stack, 'POST', 'fhir/R4/AccessPolicy', {
    token: admin,
    json: { resourceType: 'AccessPolicy', name: 'bot', resource: [{ resourceType: 'Patient' }] },
  });
  const bot = await call(stack, 'POST', `admin/projects/${stack.projectId}/bot`, {
    token: admin,
    json: {
      name: `bot-${crypto.randomUUID()}`,
      runtimeVersion: 'vmcontext',
      accessPolicy: { reference: `AccessPolicy/${(policy.json as { id: string }).id}` },
    },
    contentType: 'application/json',
  });
  const botId = (bot.json as { id: string }).id;
  const current = await call(stack, 'GET', `fhir/R4/Bot/${botId}`, { token: admin });
  await call(stack, 'PUT', `fhir/R4/Bot/${botId}`, {
    token: admin,
    json: { ...(current.json as object), publicWebhook: true },
  });
  const deployed = await call(stack, 'POST', `fhir/R4/Bot/${botId}/$deploy`, { token: admin, json: { code } });
  expect(deployed.status).toBe(200);
  const memberships = await call(stack, 'GET', `fhir/R4/ProjectMembership?profile=Bot/${botId}`, { token: admin });
  return { botId, membershipId: (memberships.json as Bundle).entry?.[0]?.resource?.id ?? '' };
}

const ECHO_BOT = `exports.handler = async function (medplum, event) {
  return { input: event.input, inputType: typeof event.input, contentType: event.contentType === undefined ? '(undefined)' : event.contentType, traceId: event.traceId === undefined ? '(undefined)' : 'string' };
};`;

const WRITER_BOT = `exports.handler = async function (medplum, event) {
  const results = [];
  for (let i = 0; i < event.input.writes; i++) {
    try { await medplum.createResource({ resourceType: 'Patient' }); results.push('ok'); }
    catch (err) { results.push(err.outcome ? err.outcome.issue[0].code : String(err)); }
  }
  return results;
};`;

function outcomeOf(answer: Answer): OperationOutcome {
  return answer.json as OperationOutcome;
}

function quotaDiagnostics(outcome: OperationOutcome | undefined): Record<string, unknown> {
  return JSON.parse(outcome?.issue[0]?.diagnostics ?? '{}') as Record<string, unknown>;
}

describe('FHIR quota (default-on, as Medplum 5)', () => {
  let stack: LocalStack;
  let admin: string;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0 });
    admin = await adminToken(stack);
  });
  afterAll(async () => {
    await stack.close();
  });

  test('every authenticated FHIR response carries the requests and fhirInteractions limits; metadata only requests', async () => {
    const { token } = await newClient(stack, admin);
    const search = await call(stack, 'GET', 'fhir/R4/Patient', { token });
    expect(search.rateLimit).toMatch(/^"requests";r=\d+;t=\d+, "fhirInteractions";r=49980;t=60$/);
    const read = await call(stack, 'GET', `fhir/R4/Patient/${crypto.randomUUID()}`, { token });
    expect(read.status).toBe(404);
    expect(read.rateLimit).toMatch(/"fhirInteractions";r=49979;t=\d+$/);
    const metadata = await call(stack, 'GET', 'fhir/R4/metadata', { token });
    expect(metadata.rateLimit).toMatch(/^"requests";r=\d+;t=\d+$/);
    expect(metadata.contentType).toBe('application/json; charset=utf-8');
  });

  test('a write costs 100 even when it changes nothing; history 10', async () => {
    const { token, membershipId } = await newClient(stack, admin);
    const created = await call(stack, 'POST', 'fhir/R4/Patient', { token, json: { resourceType: 'Patient' } });
    expect(created.rateLimit).toMatch(/"fhirInteractions";r=49900;/);
    const noop = await call(stack, 'PUT', `fhir/R4/Patient/${(created.json as { id: string }).id}`, {
      token,
      json: created.json,
    });
    expect(noop.status).toBe(200);
    expect(noop.rateLimit).toMatch(/"fhirInteractions";r=49800;/);
    const history = await call(stack, 'GET', `fhir/R4/Patient/${(created.json as { id: string }).id}/_history`, {
      token,
    });
    expect(history.rateLimit).toMatch(/"fhirInteractions";r=49790;/);
    expect(stack.ctx.stats.quotaPoints[membershipId]).toBe(210);
  });

  test('over the membership budget: 429 Too Many Requests with the limiter state', async () => {
    await stack.setFhirQuota({ user: 250 });
    try {
      const { token } = await newClient(stack, admin);
      expect((await call(stack, 'POST', 'fhir/R4/Patient', { token, json: { resourceType: 'Patient' } })).status).toBe(
        201
      );
      expect((await call(stack, 'POST', 'fhir/R4/Patient', { token, json: { resourceType: 'Patient' } })).status).toBe(
        201
      );
      const refused = await call(stack, 'POST', 'fhir/R4/Patient', { token, json: { resourceType: 'Patient' } });
      expect(refused.status).toBe(429);
      expect(refused.rateLimit).toMatch(/"fhirInteractions";r=0;t=\d+$/);
      const outcome = outcomeOf(refused);
      expect(outcome.id).toBe('too-many-requests');
      expect(outcome.issue[0]).toMatchObject({
        severity: 'error',
        code: 'throttled',
        details: { text: 'Too Many Requests' },
      });
      expect(quotaDiagnostics(outcome)).toMatchObject({
        _remainingPoints: 0,
        _consumedPoints: 300,
        _isFirstInDuration: false,
        limit: 250,
      });
      expect(quotaDiagnostics(outcome)._msBeforeNext).toEqual(expect.any(Number));
    } finally {
      await stack.setFhirQuota({});
    }
  });

  test('a batch over the budget answers 200 with a throttled 429 per refused entry', async () => {
    await stack.setFhirQuota({ user: 250 });
    try {
      const { token } = await newClient(stack, admin);
      const batch = await call(stack, 'POST', 'fhir/R4', {
        token,
        json: {
          resourceType: 'Bundle',
          type: 'batch',
          entry: Array.from({ length: 4 }, () => ({
            request: { method: 'POST', url: 'Patient' },
            resource: { resourceType: 'Patient' },
          })),
        },
      });
      expect(batch.status).toBe(200);
      const entries = (batch.json as Bundle).entry ?? [];
      expect(entries.map((e) => e.response?.status)).toEqual(['201', '201', '429', '429']);
      const refused = entries[2]?.response?.outcome as OperationOutcome | undefined;
      expect(refused?.issue[0]?.code).toBe('throttled');
      expect(quotaDiagnostics(refused)).toMatchObject({ _consumedPoints: 300, limit: 250 });
      // The entry after a refusal is refused without spending: same state.
      expect(quotaDiagnostics(entries[3]?.response?.outcome as OperationOutcome)._consumedPoints).toBe(300);
    } finally {
      await stack.setFhirQuota({});
    }
  });

  test('Project.systemSetting written through the system repository applies from the next request', async () => {
    const { token } = await newClient(stack, admin);
    const before = await call(stack, 'GET', 'fhir/R4/Patient', { token });
    expect(before.rateLimit).toMatch(/"fhirInteractions";r=49980;/);
    const project = await stack.ctx.system.readResource('Project', stack.projectId);
    await stack.ctx.system.updateResource({ ...project, systemSetting: [{ name: 'userFhirQuota', valueInteger: 30 }] });
    try {
      const after = await call(stack, 'GET', 'fhir/R4/Patient', { token });
      expect(after.status).toBe(429);
      expect(quotaDiagnostics(outcomeOf(after))).toMatchObject({ _consumedPoints: 40, limit: 30 });
    } finally {
      await stack.setFhirQuota({});
    }
  });

  test('the project total (totalFhirQuota) is shared by all memberships', async () => {
    const a = await newClient(stack, admin);
    const b = await newClient(stack, admin);
    // Earlier tests spent project points this minute; start this project window from zero.
    stack.ctx.quota.reset();
    await stack.setFhirQuota({ user: 10_000, total: 150 });
    try {
      expect(
        (await call(stack, 'POST', 'fhir/R4/Patient', { token: a.token, json: { resourceType: 'Patient' } })).status
      ).toBe(201);
      const refused = await call(stack, 'POST', 'fhir/R4/Patient', {
        token: b.token,
        json: { resourceType: 'Patient' },
      });
      expect(refused.status).toBe(429);
      expect(quotaDiagnostics(outcomeOf(refused))).toMatchObject({ _consumedPoints: 200, limit: 10_000 });
    } finally {
      await stack.setFhirQuota({});
      stack.ctx.quota.reset();
    }
  });

  test("a membership's UserConfiguration option fhirQuota is its own limit", async () => {
    const client = await newClient(stack, admin);
    const config = await call(stack, 'POST', 'fhir/R4/UserConfiguration', {
      token: admin,
      json: { resourceType: 'UserConfiguration', name: 'small', option: [{ id: 'fhirQuota', valueInteger: 50 }] },
    });
    const membership = await call(stack, 'GET', `admin/projects/${stack.projectId}/members/${client.membershipId}`, {
      token: admin,
    });
    await call(stack, 'POST', `admin/projects/${stack.projectId}/members/${client.membershipId}`, {
      token: admin,
      json: {
        ...(membership.json as object),
        userConfiguration: { reference: `UserConfiguration/${(config.json as { id: string }).id}` },
      },
      contentType: 'application/json',
    });
    expect((await call(stack, 'GET', 'fhir/R4/Patient', { token: client.token })).status).toBe(200);
    expect((await call(stack, 'GET', 'fhir/R4/Patient', { token: client.token })).status).toBe(200);
    const refused = await call(stack, 'GET', 'fhir/R4/Patient', { token: client.token });
    expect(refused.status).toBe(429);
    expect(quotaDiagnostics(outcomeOf(refused))).toMatchObject({ _consumedPoints: 60, limit: 50 });
  });

  test('enableFhirQuota=false: counted, never refused', async () => {
    const project = await stack.ctx.system.readResource('Project', stack.projectId);
    await stack.ctx.system.updateResource({
      ...project,
      systemSetting: [
        { name: 'userFhirQuota', valueInteger: 100 },
        { name: 'enableFhirQuota', valueBoolean: false },
      ],
    });
    try {
      const { token } = await newClient(stack, admin);
      for (let i = 0; i < 3; i++) {
        const res = await call(stack, 'POST', 'fhir/R4/Patient', { token, json: { resourceType: 'Patient' } });
        expect(res.status).toBe(201);
        expect(res.rateLimit).toMatch(/"fhirInteractions";r=0;/);
      }
    } finally {
      await stack.ctx.system.updateResource({
        ...(await stack.ctx.system.readResource('Project', stack.projectId)),
        systemSetting: [],
      });
    }
  });

  test('a bot spends its own membership budget; the caller of $execute pays 1 point (reading the bot)', async () => {
    const { botId, membershipId: botMembership } = await newBot(stack, admin, WRITER_BOT);
    const caller = await newClient(stack, admin);
    const run = await call(stack, 'POST', `fhir/R4/Bot/${botId}/$execute`, {
      token: caller.token,
      json: { writes: 3 },
      contentType: 'application/json',
    });
    expect(run.json).toEqual(['ok', 'ok', 'ok']);
    expect(stack.ctx.stats.quotaPoints[caller.membershipId]).toBe(1);
    expect(stack.ctx.stats.quotaPoints[botMembership]).toBe(300);
  });

  test('a bot over its own budget gets 429s inside its run', async () => {
    const { botId } = await newBot(stack, admin, WRITER_BOT);
    stack.ctx.quota.reset();
    await stack.setFhirQuota({ user: 150 });
    try {
      const run = await call(stack, 'POST', `fhir/R4/Bot/${botId}/$execute`, {
        token: admin,
        json: { writes: 3 },
        contentType: 'application/json',
      });
      expect(run.json).toEqual(['ok', 'throttled', 'throttled']);
    } finally {
      await stack.setFhirQuota({});
      stack.ctx.quota.reset();
    }
  });
});

describe.each(['5.0', '5.2'] as const)('Medplum %s mode', (version) => {
  let stack: LocalStack;
  let admin: string;
  let webhook: string;
  let botId: string;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, medplumVersion: version });
    admin = await adminToken(stack);
    const bot = await newBot(stack, admin, ECHO_BOT);
    botId = bot.botId;
    webhook = `webhook/${bot.membershipId}`;
  });
  afterAll(async () => {
    await stack.close();
  });

  test('healthcheck names the imitated release with a -local build', async () => {
    const health = await call(stack, 'GET', 'healthcheck');
    expect(health.json).toMatchObject({ ok: true, version: version === '5.0' ? '5.0.10-local' : '5.2.13-local' });
  });

  test('text/plain reaches the bot as the exact string, and is answered as text/plain', async () => {
    const text = '{"user_id": 1,  "type":"sleep.updated"}\n';
    const res = await call(stack, 'POST', webhook, { text });
    expect(res.contentType).toBe('text/plain; charset=utf-8');
    expect(res.json).toEqual({ input: text, inputType: 'string', contentType: 'text/plain', traceId: '(undefined)' });
  });

  test('a JSON webhook body reaches a bot without rawBody parsed; event.traceId is undefined on webhooks', async () => {
    const res = await call(stack, 'POST', webhook, { json: { a: 1 }, contentType: 'application/json' });
    expect(res.json).toEqual({
      input: { a: 1 },
      inputType: 'object',
      contentType: 'application/json',
      traceId: '(undefined)',
    });
  });

  test('$execute hands the bot a trace id; GET $execute has no content type', async () => {
    const res = await call(stack, 'GET', `fhir/R4/Bot/${botId}/$execute?x=1`, { token: admin });
    expect(res.json).toEqual({ input: { x: '1' }, inputType: 'object', contentType: '(undefined)', traceId: 'string' });
  });

  test('Bot.rawBody: refused on 5.0 exactly as Medplum 5.0.10; on 5.2 the raw text is handed over', async () => {
    const current = await call(stack, 'GET', `fhir/R4/Bot/${botId}`, { token: admin });
    const put = await call(stack, 'PUT', `fhir/R4/Bot/${botId}`, {
      token: admin,
      json: { ...(current.json as object), rawBody: true },
    });
    if (version === '5.0') {
      expect(put.status).toBe(400);
      expect(outcomeOf(put).issue).toEqual([
        {
          severity: 'error',
          code: 'structure',
          details: { text: 'Invalid additional property "rawBody"' },
          expression: ['Bot.rawBody'],
        },
      ]);
      return;
    }
    expect(put.status).toBe(200);
    const body = '{"a":  1}';
    const res = await call(stack, 'POST', webhook, { text: body, contentType: 'application/json' });
    expect(res.json).toMatchObject({ input: body, inputType: 'string' });
    await call(stack, 'PUT', `fhir/R4/Bot/${botId}`, {
      token: admin,
      json: { ...(current.json as object), rawBody: false },
    });
  });
});

describe('/webhook/:id', () => {
  let stack: LocalStack;
  let admin: string;
  let membershipId: string;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, medplumVersion: '5.0' });
    admin = await adminToken(stack);
    membershipId = (await newBot(stack, admin, ECHO_BOT)).membershipId;
  });
  afterAll(async () => {
    await stack.close();
  });

  test('GET and HEAD are not routed: Express 404 page', async () => {
    const get = await call(stack, 'GET', `webhook/${membershipId}`);
    expect(get.status).toBe(404);
    expect(get.contentType).toBe('text/html; charset=utf-8');
    expect(get.text).toContain(`<pre>Cannot GET /webhook/${membershipId}</pre>`);
    const head = await call(stack, 'HEAD', `webhook/${membershipId}`);
    expect(head.status).toBe(404);
  });

  test('an unknown membership is a 404 OperationOutcome', async () => {
    const res = await call(stack, 'POST', `webhook/${crypto.randomUUID()}`, {
      json: {},
      contentType: 'application/json',
    });
    expect(res.status).toBe(404);
    expect(outcomeOf(res).issue[0]?.details?.text).toBe('Not found');
  });

  test('a membership that is not a bot: 403 "ProjectMembership must be for a Bot resource"', async () => {
    const { membershipId: clientMembership } = await newClient(stack, admin);
    const res = await call(stack, 'POST', `webhook/${clientMembership}`, { json: {}, contentType: 'application/json' });
    expect(res.status).toBe(403);
    expect(res.contentType).toBe('text/html; charset=utf-8');
    expect(res.text).toBe('ProjectMembership must be for a Bot resource');
  });

  test('a bot membership without a policy: 403 "ProjectMembership must have an Access Policy"', async () => {
    const bot = await call(stack, 'POST', `admin/projects/${stack.projectId}/bot`, {
      token: admin,
      json: { name: 'no-policy' },
      contentType: 'application/json',
    });
    const memberships = await call(
      stack,
      'GET',
      `fhir/R4/ProjectMembership?profile=Bot/${(bot.json as { id: string }).id}`,
      {
        token: admin,
      }
    );
    const id = (memberships.json as Bundle).entry?.[0]?.resource?.id ?? '';
    const res = await call(stack, 'POST', `webhook/${id}`, { json: {}, contentType: 'application/json' });
    expect(res.status).toBe(403);
    expect(res.text).toBe('ProjectMembership must have an Access Policy');
  });

  test('a bot without publicWebhook: 403 "Bot is not configured for public webhook access"', async () => {
    const { botId, membershipId: id } = await newBot(stack, admin, ECHO_BOT);
    const current = await call(stack, 'GET', `fhir/R4/Bot/${botId}`, { token: admin });
    await call(stack, 'PUT', `fhir/R4/Bot/${botId}`, {
      token: admin,
      json: { ...(current.json as object), publicWebhook: false },
    });
    const res = await call(stack, 'POST', `webhook/${id}`, { json: {}, contentType: 'application/json' });
    expect(res.status).toBe(403);
    expect(res.text).toBe('Bot is not configured for public webhook access');
  });

  test('a body over 1 MB: 400 "File too large"', async () => {
    const res = await call(stack, 'POST', `webhook/${membershipId}`, { text: 'x'.repeat(1024 * 1024 + 1) });
    expect(res.status).toBe(400);
    expect(outcomeOf(res).issue[0]?.details?.text).toBe('File too large');
  });
});

describe('attachments (presigned storage URLs)', () => {
  let stack: LocalStack;
  let admin: string;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0 });
    admin = await adminToken(stack);
  });
  afterAll(async () => {
    await stack.close();
  });

  test('a deployed bot is answered with presigned URLs that serve its code; written back it keeps its Binary', async () => {
    const { botId } = await newBot(stack, admin, ECHO_BOT);
    const read = await call(stack, 'GET', `fhir/R4/Bot/${botId}`, { token: admin });
    const url = (read.json as { executableCode?: { url?: string; contentType?: string } }).executableCode?.url ?? '';
    expect(url).toMatch(new RegExp(`^${stack.baseUrl}storage/[0-9a-f-]{36}/[0-9a-f-]{36}\\?Expires=\\d+&Signature=`));
    const code = await fetch(url);
    expect(code.status).toBe(200);
    expect(code.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await code.text()).toBe(ECHO_BOT);

    const written = await call(stack, 'PUT', `fhir/R4/Bot/${botId}`, { token: admin, json: read.json });
    expect(written.status).toBe(200);
    const stored = await stack.ctx.system.readResource('Bot', botId);
    expect((stored as { executableCode?: { url?: string } }).executableCode?.url).toMatch(/^Binary\/[0-9a-f-]{36}$/);
    // The bot still runs from that Binary.
    const run = await call(stack, 'POST', `fhir/R4/Bot/${botId}/$execute`, {
      token: admin,
      json: { a: 1 },
      contentType: 'application/json',
    });
    expect(run.json).toMatchObject({ input: { a: 1 } });
  });

  test('a bad signature is 401 "Invalid signature"; an expired URL 410 "URL has expired"; none 401', async () => {
    const { botId } = await newBot(stack, admin, ECHO_BOT);
    const read = await call(stack, 'GET', `fhir/R4/Bot/${botId}`, { token: admin });
    const url = (read.json as { executableCode?: { url?: string } }).executableCode?.url ?? '';
    const bad = await fetch(url.replace(/Signature=[^&]+/, 'Signature=AAAA'));
    expect([bad.status, await bad.text()]).toEqual([401, 'Invalid signature']);
    const expired = await fetch(url.replace(/Expires=\d+/, 'Expires=1'));
    expect([expired.status, await expired.text()]).toEqual([410, 'URL has expired']);
    const unsigned = await fetch(url.split('?')[0] ?? '');
    expect(unsigned.status).toBe(401);
  });
});

describe('environment options', () => {
  test('LOCAL_STACK_MEDPLUM_VERSION and LOCAL_STACK_FHIR_QUOTA are read, empty means default', () => {
    expect(envStackOptions({ LOCAL_STACK_MEDPLUM_VERSION: '5.0', LOCAL_STACK_FHIR_QUOTA: '1000' })).toEqual({
      medplumVersion: '5.0',
      fhirQuota: 1000,
    });
    expect(envStackOptions({ LOCAL_STACK_MEDPLUM_VERSION: '' })).toEqual({
      medplumVersion: undefined,
      fhirQuota: undefined,
    });
  });

  test('an unknown version is refused by name', () => {
    expect(() => envStackOptions({ LOCAL_STACK_MEDPLUM_VERSION: '4.5' })).toThrow(
      'Invalid local stack environment: LOCAL_STACK_MEDPLUM_VERSION'
    );
  });
});
