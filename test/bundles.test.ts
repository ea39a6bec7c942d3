/**
 * Every bot Baseline deploys, bundled exactly as `npm run deploy` bundles it, must load in Medplum's
 * vmcontext sandbox (only Medplum's globals, script wrapping) and export `handler`. The fixture bots the
 * integration tests deploy are also run here against a minimal FHIR endpoint, so a failure there points
 * at the bundle rather than at the server.
 */
import { ContentType } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildBots, DIST_PREFIX, readBotConfig } from '../scripts/build-bots.ts';
import type { BotEntry, BuiltBot } from '../scripts/build-bots.ts';
import { probeBotBundle, runVmContextBot } from '../scripts/local-stack/bots/vmcontext.ts';
import type { VmBotRequest } from '../scripts/local-stack/bots/vmcontext.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const FIXTURES = ['touch-forbidden-global', 'echo', 'write-probe', 'count-trigger'];
const FIXTURE_ENTRIES: BotEntry[] = FIXTURES.map((name) => ({
  name: `fixture-${name}`,
  source: `test/fixtures/bots/${name}.ts`,
  dist: `bots/dist/fixtures/${name}.js`,
}));
const CONFIG_ENTRIES = readBotConfig();

const outRoot = mkdtempSync(path.join(tmpdir(), 'baseline-bundles-'));
let configBots: BuiltBot[] = [];
let fixtureBots: BuiltBot[] = [];

beforeAll(async () => {
  configBots = await buildBots({ outRoot });
  fixtureBots = await buildBots({ entries: FIXTURE_ENTRIES, outRoot });
});

afterAll(() => rmSync(outRoot, { recursive: true, force: true }));

function fixture(name: string): BuiltBot {
  const bot = fixtureBots.find((built) => built.name === `fixture-${name}`);
  if (!bot) {
    throw new Error(`Fixture not built: ${name}`);
  }
  return bot;
}

function run(bot: BuiltBot, overrides: Partial<VmBotRequest>): ReturnType<typeof runVmContextBot> {
  return runVmContextBot({
    code: bot.code,
    bot: { resourceType: 'Bot', id: bot.name, name: bot.name },
    baseUrl: 'http://127.0.0.1:9/',
    accessToken: 'bundle-test-token',
    input: {},
    contentType: ContentType.JSON,
    secrets: {},
    traceId: 'bundle-test',
    ...overrides,
  });
}

describe('medplum.config.json', () => {
  test.each(CONFIG_ENTRIES.map((entry) => [entry.name, entry] as const))('%s: source exists', (_name, entry) => {
    expect(existsSync(path.join(ROOT, entry.source))).toBe(true);
  });

  test.each(CONFIG_ENTRIES.map((entry) => [entry.name, entry] as const))(
    '%s: dist is under bots/dist/',
    (_name, entry) => {
      expect(path.posix.normalize(entry.dist).startsWith(DIST_PREFIX)).toBe(true);
    }
  );

  test('every configured bot was built', () => {
    expect(configBots.map((bot) => bot.name)).toEqual(CONFIG_ENTRIES.map((entry) => entry.name));
  });
});

describe('bundles load in the vmcontext sandbox and export handler', () => {
  const names = [...CONFIG_ENTRIES.map((entry) => entry.name), ...FIXTURE_ENTRIES.map((entry) => entry.name)];
  test.each(names)('%s', (name) => {
    const bot = [...configBots, ...fixtureBots].find((built) => built.name === name);
    expect(bot).toBeDefined();
    expect(bot?.code.trimEnd().endsWith(';')).toBe(true);
    expect(probeBotBundle(bot?.code ?? '').handlerType).toBe('function');
  });
});

describe('fixture bots run', () => {
  let server: Server;
  let baseUrl: string;
  const created: Resource[] = [];

  beforeAll(async () => {
    // Just enough FHIR for the fixtures: create anything except Observation, which is "forbidden".
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const type = /^\/fhir\/R4\/([A-Za-z]+)$/.exec(req.url ?? '')?.[1];
        if (req.method !== 'POST' || !type || req.headers.authorization !== 'Bearer bundle-test-token') {
          res.writeHead(400, { 'content-type': ContentType.FHIR_JSON }).end('{}');
          return;
        }
        if (type === 'Observation') {
          res.writeHead(403, { 'content-type': ContentType.FHIR_JSON }).end(
            JSON.stringify({
              resourceType: 'OperationOutcome',
              issue: [{ severity: 'error', code: 'forbidden', details: { text: 'Forbidden' } }],
            })
          );
          return;
        }
        const resource = { ...JSON.parse(Buffer.concat(chunks).toString('utf8')), id: `id-${created.length + 1}` };
        created.push(resource);
        res.writeHead(201, { 'content-type': ContentType.FHIR_JSON }).end(JSON.stringify(resource));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  test('touch-forbidden-global fails on Buffer, as on Medplum', async () => {
    const result = await run(fixture('touch-forbidden-global'), {});
    expect(result.success).toBe(false);
    expect(result.logResult).toContain('Unhandled error: Buffer is not defined');
  });

  test('echo returns input, content type, x-*/content-type headers, requester and secret names', async () => {
    const result = await run(fixture('echo'), {
      input: { hello: 'world' },
      headers: { 'Content-Type': 'application/json', 'X-Probe': 'yes', authorization: 'Bearer secret', cookie: 'c' },
      requester: { reference: 'Patient/p1' },
      secrets: { WHOOP_CLIENT_ID: { name: 'WHOOP_CLIENT_ID', valueString: 'not-echoed' } },
    });
    expect(result).toEqual({
      success: true,
      logResult: '',
      returnValue: {
        input: { hello: 'world' },
        contentType: ContentType.JSON,
        headers: { 'content-type': 'application/json', 'x-probe': 'yes' },
        requester: { reference: 'Patient/p1' },
        secretNames: ['WHOOP_CLIENT_ID'],
      },
    });
  });

  test('write-probe rejects input without resources', async () => {
    const result = await run(fixture('write-probe'), { baseUrl, input: { allowed: {} } });
    expect(result.success).toBe(false);
    expect(result.logResult).toContain('Expected a FHIR resource');
  });

  test("write-probe creates allowed and reports the server's refusal of forbidden", async () => {
    const result = await run(fixture('write-probe'), {
      baseUrl,
      input: {
        allowed: { resourceType: 'Patient', name: [{ family: 'Probe' }] },
        forbidden: { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
      },
    });
    expect(result).toEqual({
      success: true,
      logResult: '',
      returnValue: { allowedId: 'id-1', forbiddenError: 'Forbidden' },
    });
    expect(created[0]).toEqual({ resourceType: 'Patient', name: [{ family: 'Probe' }], id: 'id-1' });
  });

  test('count-trigger rejects a resource without an id', async () => {
    const result = await run(fixture('count-trigger'), { baseUrl, input: { resourceType: 'Task' } });
    expect(result.success).toBe(false);
    expect(result.logResult).toContain('Expected the triggering resource with an id');
  });

  test('count-trigger records a Communication about the triggering resource', async () => {
    const result = await run(fixture('count-trigger'), {
      baseUrl,
      input: { resourceType: 'Task', id: 't1', status: 'requested', intent: 'order' },
      contentType: ContentType.FHIR_JSON,
    });
    expect(result.success).toBe(true);
    const communication = created.find((resource) => resource.resourceType === 'Communication');
    expect(result.returnValue).toEqual({ communicationId: communication?.id });
    expect(communication).toEqual({
      resourceType: 'Communication',
      id: communication?.id,
      status: 'completed',
      payload: [{ contentString: 'triggered by Task/t1' }],
      basedOn: [{ reference: 'Task/t1' }],
      about: [{ reference: 'Task/t1' }],
    });
  });
});
