/**
 * `npm run deploy` against a running server (the local stack, which speaks Medplum's HTTP API), imitating Medplum
 * 5.0 and 5.2: the harness has already deployed once, so deploying again must change nothing, through the library
 * and through the CLI; on 5.0 no Bot gets `rawBody` and deploy says what that means. Then the failure modes: a run
 * that fails between creating a Bot and giving it its identifier, and the leftovers such runs leave, are completed
 * or removed by the next run; a FHIR quota that runs out makes deploy wait for the reset, not fail; and through a
 * pass-through proxy that makes the stack look like an older Medplum or a project without features, the CLI stops
 * with one line before writing anything.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { MedplumClient } from '@medplum/core';
import type { Bot, ProjectMembership } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { PolicyDefinition } from '../data/core/access-policies.ts';
import { BOT_ACCESS_POLICIES, BOT_DEFINITIONS } from '../data/core/bots.ts';
import type { BotDefinition } from '../data/core/bots.ts';
import { deploy } from '../scripts/deploy/deploy.ts';
import type { DeployOptions, DeployReport } from '../scripts/deploy/deploy.ts';
import { signIn } from '../scripts/deploy/sign-in.ts';
import { startTestStack } from './harness/stack.ts';
import type { TestStack } from './harness/stack.ts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../scripts/deploy.ts', import.meta.url));
// An empty working directory: no developer .env can supply credentials to these runs.
const CWD = mkdtempSync(path.join(tmpdir(), 'deploy-cli-'));

const RAW_BODY_LINE = (version: string): string =>
  `Medplum ${version} has no Bot.rawBody (whoop-webhook, oura-webhook deployed without it): webhook signatures cannot be checked byte-exactly, so signed notifications (WHOOP, Oura) are only hints that trigger a re-fetch from the provider; Medplum 5.2 or newer fixes this.`;

/** Runs the CLI with only the given variables (plus PATH), so no shell credentials leak in. */
async function cli(
  env: Record<string, string>,
  args: string[] = []
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [SCRIPT, ...args], {
      cwd: CWD,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function credentials(stack: TestStack, secret = stack.admin.clientSecret): Record<string, string> {
  return { MEDPLUM_BASE_URL: stack.baseUrl, MEDPLUM_CLIENT_ID: stack.admin.clientId, MEDPLUM_CLIENT_SECRET: secret };
}

async function adminOf(stack: TestStack): Promise<MedplumClient> {
  return signIn({ baseUrl: stack.baseUrl, clientId: stack.admin.clientId, clientSecret: stack.admin.clientSecret });
}

describe.each([
  { medplumVersion: '5.0' as const, version: '5.0.10-local', rawBody: false },
  { medplumVersion: '5.2' as const, version: '5.2.13-local', rawBody: true },
])('deploy to a local stack imitating Medplum $medplumVersion', ({ medplumVersion, version, rawBody }) => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack({ medplumVersion });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  test('the first deploy (the harness) planned for the server version', async () => {
    expect(stack.deployReport.server).toMatchObject({ version, rawBody, localStack: true });
    expect(stack.deployReport.server.notes).toEqual(rawBody ? [] : [RAW_BODY_LINE(version)]);
    const client = await adminOf(stack);
    const webhook = await client.searchOne(
      'Bot',
      { identifier: 'https://baseline.health/fhir/identifier/bot|whoop-webhook' },
      { cache: 'no-cache' }
    );
    expect(webhook?.publicWebhook).toBe(true);
    expect(webhook?.rawBody).toBe(rawBody ? true : undefined);
  });

  test('deploying again: the second run is a no-op', async () => {
    const client = await adminOf(stack);
    const second = await deploy({ client });

    expect(second.counts).toEqual({ created: 0, updated: 0, removed: 0, unchanged: second.changes.length });
    expect(second.clients['patient-app']).toMatch(/\S/);
  });

  test('the CLI reports the no-op run in its summary line, and on 5.0 says once what the missing rawBody means', async () => {
    const result = await cli(credentials(stack));

    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^deploy: \d+ unchanged, 0 created, 0 updated \(\d+\.\d s\)$/);
    expect(lines.filter((line) => line.includes('rawBody'))).toEqual(rawBody ? [] : [RAW_BODY_LINE(version)]);
    expect(lines).toContain(`Deploying Baseline on ${stack.baseUrl} (project Baseline, Medplum ${version})`);
    expect(result.stdout).not.toContain(stack.admin.clientSecret);
  });
});

describe('a failed deploy is completed by the next one, leaving nothing behind', () => {
  const POLICY: PolicyDefinition = {
    key: 'deploy-fixture',
    name: 'Deploy fixture',
    resource: [{ resourceType: 'Communication', interaction: ['read'] }],
  };
  const FIXTURE: BotDefinition = {
    name: 'deploy-fixture',
    identifier: 'deploy-fixture',
    description: 'Test fixture: a bot whose first deploy fails half way',
    runtimeVersion: 'vmcontext',
    accessPolicy: POLICY.key,
    timeoutSeconds: 10,
    source: 'test/fixtures/bots/echo.ts',
    dist: 'bots/dist/fixtures/deploy-fixture.js',
  };
  let stack: TestStack;
  let client: MedplumClient;

  beforeAll(async () => {
    stack = await startTestStack({ medplumVersion: '5.0' });
    client = await adminOf(stack);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  function deployWith(fixture: BotDefinition, extra: Partial<DeployOptions> = {}): Promise<DeployReport> {
    return deploy({
      client,
      bots: [...BOT_DEFINITIONS, fixture],
      botPolicies: [...BOT_ACCESS_POLICIES, POLICY],
      ...extra,
    });
  }

  async function botsNamed(name: string): Promise<Bot[]> {
    return (await client.searchResources('Bot', { name, _count: '100' }, { cache: 'no-cache' })).filter(
      (bot) => bot.name === name
    );
  }

  async function membershipsOf(bot: Bot): Promise<ProjectMembership[]> {
    return [
      ...(await client.searchResources('ProjectMembership', { profile: `Bot/${bot.id}` }, { cache: 'no-cache' })),
    ];
  }

  test('a run that fails right after the admin API made the Bot; the next run adopts that Bot', async () => {
    // Everything goes over HTTP to the stack, except that the update giving the new Bot its identifier is answered
    // as Medplum 5.0 answered the update carrying Bot.rawBody: a 400 after the Bot and its membership exist.
    let refused = 0;
    const failing = await signIn(
      { baseUrl: stack.baseUrl, clientId: stack.admin.clientId, clientSecret: stack.admin.clientSecret },
      async (url, init) => {
        if (init?.method === 'PUT' && /\/fhir\/R4\/Bot\//.test(url) && String(init.body).includes(FIXTURE.name)) {
          refused++;
          return new Response(
            JSON.stringify({
              resourceType: 'OperationOutcome',
              issue: [
                {
                  severity: 'error',
                  code: 'structure',
                  details: { text: 'Invalid additional property "rawBody"' },
                  expression: ['Bot.rawBody'],
                },
              ],
            }),
            { status: 400, headers: { 'content-type': 'application/fhir+json' } }
          );
        }
        return fetch(url, init);
      }
    );
    await expect(deployWith(FIXTURE, { client: failing })).rejects.toThrow('Invalid additional property "rawBody"');
    expect(refused).toBe(1);
    const [orphan, ...others] = await botsNamed(FIXTURE.name);
    expect(others).toHaveLength(0);
    expect(orphan?.identifier).toBeUndefined();
    expect(await membershipsOf(orphan as Bot)).toHaveLength(1);

    const second = await deployWith(FIXTURE);

    expect(second.changes.find((c) => c.kind === 'Bot' && c.key === FIXTURE.name)).toMatchObject({
      action: 'updated',
      reference: `Bot/${orphan?.id}`,
      note: 'adopted, left by an earlier failed deploy',
    });
    const [bot, ...extra] = await botsNamed(FIXTURE.name);
    expect(extra).toHaveLength(0);
    expect(bot).toMatchObject({
      id: orphan?.id,
      identifier: [{ system: 'https://baseline.health/fhir/identifier/bot', value: FIXTURE.identifier }],
      timeout: 10,
    });
    expect(bot?.executableCode?.title).toMatch(/^deploy-fixture-[0-9a-f]{12}\.js$/);
    const [membership, ...moreMemberships] = await membershipsOf(bot as Bot);
    expect(moreMemberships).toHaveLength(0);
    expect(membership?.accessPolicy?.reference).toMatch(/^AccessPolicy\//);

    const third = await deployWith(FIXTURE);
    expect(third.counts).toMatchObject({ created: 0, updated: 0, removed: 0 });
  });

  test('leftovers beside the deployed Bot are removed with their memberships; then nothing is left to do', async () => {
    const deployed = (await botsNamed(FIXTURE.name))[0] as Bot;
    const policyRef = (await membershipsOf(deployed))[0]?.accessPolicy;
    const leftovers: Bot[] = [];
    for (let i = 0; i < 2; i++) {
      // Exactly what a run that failed right after `POST admin/projects/:id/bot` leaves behind.
      leftovers.push(
        await client.post(`admin/projects/${stack.projectId}/bot`, {
          name: FIXTURE.name,
          description: FIXTURE.description,
          runtimeVersion: 'vmcontext',
          ...(policyRef ? { accessPolicy: policyRef } : {}),
        })
      );
    }
    const dry = await deployWith(FIXTURE, { dryRun: true });
    expect(dry.counts).toMatchObject({ created: 0, updated: 0, removed: 4 });
    expect(await botsNamed(FIXTURE.name)).toHaveLength(3);

    const report = await deployWith(FIXTURE);

    expect(report.counts).toMatchObject({ created: 0, updated: 0, removed: 4 });
    expect((await botsNamed(FIXTURE.name)).map((bot) => bot.id)).toEqual([deployed.id]);
    for (const leftover of leftovers) {
      expect(await membershipsOf(leftover)).toHaveLength(0);
    }
    expect((await deployWith(FIXTURE)).counts).toMatchObject({ created: 0, updated: 0, removed: 0 });
  });

  test('a 429 makes deploy wait for the reset (not fail), and the run completes as a no-op', async () => {
    // 150 points a minute: a no-op deploy (one read, nine searches at 20) needs two windows.
    await stack.stack.setFhirQuota({ user: 150 });
    stack.stack.ctx.quota.reset();
    const lines: string[] = [];
    const waits: number[] = [];
    try {
      const report = await deployWith(FIXTURE, {
        log: (line) => lines.push(line),
        // Instead of sleeping until the minute is over, start the stack's next window, as the minute passing would.
        sleep: async (ms) => {
          waits.push(ms);
          stack.stack.ctx.quota.reset();
        },
      });

      expect(report.counts).toMatchObject({ created: 0, updated: 0, removed: 0 });
      expect(waits.length).toBeGreaterThan(0);
      expect(waits.every((ms) => ms > 1000 && ms <= 61_000)).toBe(true);
      expect(
        lines.filter((line) => /^ {2}FHIR quota used up \(.+\): waiting \d+ s for it to reset/.test(line))
      ).toHaveLength(waits.length);
      expect(lines).toContain(
        "FHIR quota: 150 points/min per membership, 1,500 per project (totalFhirQuota assumed 10 × userFhirQuota); one owner's year of WHOOP history takes ~1,667 min, 10 owners at once ~16,667 min."
      );
      expect(report.warnings[0]).toMatch(/^the FHIR quota is low for 10 owners: /);
    } finally {
      await stack.stack.setFhirQuota({});
      stack.stack.ctx.quota.reset();
    }
  });
});

describe('deploy CLI: one line on every failure, nothing written before the checks pass', () => {
  let stack: TestStack;
  let proxy: Server;
  let proxyUrl: string;
  /** What the proxy changes about the stack's answers: its healthcheck version, or the Project's features. */
  let rewrite: { version?: string; features?: string[] } = {};
  /** Every request that is not a read (the token request aside). */
  const writes: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack();
    // A pass-through to the stack that can make it look like another server (an older Medplum, a project without
    // features), so the CLI runs end to end over HTTP against what an operator might point it at.
    proxy = createServer((req, res) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) {
          chunks.push(chunk as Buffer);
        }
        const url = new URL(req.url ?? '/', stack.baseUrl);
        if (req.method !== 'GET' && url.pathname !== '/oauth2/token') {
          writes.push(`${req.method} ${url.pathname}`);
        }
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(
            ([k, v]) => typeof v === 'string' && k !== 'host' && k !== 'content-length'
          )
        ) as Record<string, string>;
        const upstream = await fetch(url, {
          method: req.method,
          headers,
          ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
        });
        let body = await upstream.text();
        if (url.pathname === '/healthcheck' && rewrite.version) {
          body = JSON.stringify({ ...JSON.parse(body), version: rewrite.version });
        }
        if (url.pathname === `/fhir/R4/Project/${stack.projectId}` && rewrite.features) {
          body = JSON.stringify({ ...JSON.parse(body), features: rewrite.features });
        }
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
        res.end(body);
      })();
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => proxy?.close(() => resolve()));
    await stack?.stop();
  });

  function viaProxy(): Record<string, string> {
    return { ...credentials(stack), MEDPLUM_BASE_URL: proxyUrl };
  }

  test('the proxy passes writes through and records them (the control for "nothing written" below)', async () => {
    rewrite = {};
    writes.length = 0;
    const moved = await cli({ ...viaProxy(), BASELINE_APP_URL: 'http://127.0.0.1:3999' });
    expect(moved.stdout.trim().split('\n').at(-1)).toMatch(/^deploy: \d+ unchanged, 0 created, [1-9]\d* updated \(/);
    expect(writes).toContain(`POST /admin/projects/${stack.projectId}/secrets`);
    expect(writes.some((w) => w.startsWith('PUT /fhir/R4/ClientApplication/'))).toBe(true);

    const back = await cli(viaProxy());
    expect(back.code).toBe(0);
    const again = await cli(viaProxy());
    expect(again.stdout.trim().split('\n').at(-1)).toMatch(/^deploy: \d+ unchanged, 0 created, 0 updated \(/);
  });

  test('Medplum older than 5.0: one line, exit 1, nothing written', async () => {
    rewrite = { version: '4.5.2-e1a4d1c' };
    writes.length = 0;

    const result = await cli(viaProxy());

    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'deploy: error: Medplum 4.5.2-e1a4d1c is too old: Baseline needs Medplum 5.0 or newer'
    );
    expect(writes).toEqual([]);
  });

  test('a project without the features: what a super admin must do, the one line last, nothing written', async () => {
    rewrite = { features: ['bots'] };
    writes.length = 0;

    const result = await cli(viaProxy());

    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines.at(-1)).toBe(
      'deploy: error: Project Baseline lacks required features: cron, transaction-bundles, websocket-subscriptions'
    );
    expect(lines[0]).toMatch(/^Project Baseline \(Project\/[^)]+\) lacks Medplum features Baseline needs: /);
    expect(writes).toEqual([]);
  });

  test('the dry run writes nothing and says so', async () => {
    const result = await cli(credentials(stack), ['--dry-run']);

    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n').at(-1)).toMatch(
      /^deploy --dry-run: \d+ unchanged, 0 to create, 0 to update/
    );
  });

  test('the FHIR quota: points spent are printed, and too many owners for it is a warning, not a failure', async () => {
    const result = await cli({ ...credentials(stack), BASELINE_EXPECTED_OWNERS: '100' });

    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toContain(
      'Warning: the FHIR quota is low for 100 owners: importing a year of history for all 100 owners at once takes 500 min at 50,000 points/min (target 60 min). A super admin should set Project.systemSetting userFhirQuota = 420000 and totalFhirQuota = 4200000 (see README, "FHIR quota").'
    );
    expect(lines.at(-2)).toMatch(/^FHIR quota: this deploy spent \d[\d,]* points \(RateLimit header\); [\d,]+ left/);
    expect(lines.at(-1)).toMatch(/^deploy: \d+ unchanged, 0 created, 0 updated \(/);
  });

  test('wrong credentials: one line, exit 1, no stack trace', async () => {
    const result = await cli(credentials(stack, 'not-the-secret'));

    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `deploy: error: Could not sign in to ${stack.baseUrl}: invalid client credentials`
    );
  });

  test('missing credentials: names what to set', async () => {
    const result = await cli({ MEDPLUM_BASE_URL: stack.baseUrl });

    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'deploy: error: Missing MEDPLUM_CLIENT_ID, MEDPLUM_CLIENT_SECRET: set them in the environment or in .env'
    );
  });

  test('a bad --owners: one line, exit 1', async () => {
    const result = await cli(credentials(stack), ['--owners', 'many']);

    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('deploy: error: --owners must be a whole number of owners from 1 up, got "many"');
  });
});
