import type { MedplumClient } from '@medplum/core';
import type { AccessPolicy, Bot, ClientApplication, ProjectMembership, Subscription } from '@medplum/fhirtypes';
import { beforeEach, describe, expect, test } from 'vitest';
import type { BotDefinition, PolicyDefinition, SubscriptionDefinition } from '../../data/core/index.ts';
import { POLICY_KEYS } from '../../data/core/index.ts';
import type { BuildBotsFn, DeployOptions, DeployReport } from './deploy.ts';
import {
  bundleFilename,
  DEFAULT_PROFILES_DIR,
  deploy,
  featureInstructions,
  formatSummary,
  missingSecretNames,
} from './deploy.ts';
import { DeployError } from './errors.ts';
import type { FakeMedplum } from './fake-medplum.ts';
import { createFakeMedplum } from './fake-medplum.ts';
import { loadProfiles } from './profiles.ts';
import { signIn } from './sign-in.ts';

const HELLO_POLICY: PolicyDefinition = {
  key: 'bot-hello',
  name: 'Hello bot',
  resource: [{ resourceType: 'Observation', interaction: ['read', 'search'] }],
};
const HOOK_POLICY: PolicyDefinition = {
  key: 'bot-hook',
  name: 'Hook bot',
  resource: [{ resourceType: 'Task', interaction: ['create'] }],
};

const HELLO: BotDefinition = {
  name: 'hello',
  identifier: 'hello',
  description: 'Says hello to owners',
  runtimeVersion: 'vmcontext',
  accessPolicy: 'bot-hello',
  ownerInvocable: true,
  cronString: '0 * * * *',
  timeoutSeconds: 20,
  secrets: ['HELLO_KEY'],
  source: 'test/fixtures/bots/hello.ts',
  dist: 'bots/dist/hello.js',
};
const HOOK: BotDefinition = {
  name: 'hook',
  identifier: 'hook',
  description: 'Receives provider webhooks',
  runtimeVersion: 'vmcontext',
  accessPolicy: 'bot-hook',
  publicWebhook: true,
  rawBody: true,
  source: 'test/fixtures/bots/hook.ts',
  dist: 'bots/dist/hook.js',
};
const ON_TASK: SubscriptionDefinition = {
  key: 'hello-on-task',
  reason: 'Run hello for new sync tasks',
  criteria: 'Task?code=https://baseline.health/fhir/CodeSystem/task|sync',
  bot: 'hello',
  interaction: 'create',
  maxAttempts: 3,
};

/** Bundles are `// <name> v<version>`; bump a version to change a bot's code. */
function fakeBuild(versions: Record<string, number> = {}): BuildBotsFn {
  return async (bots) =>
    bots.map((bot) => {
      const code = `// ${bot.name} v${versions[bot.name] ?? 1}\nexports.handler = async () => 'ok';`;
      return { name: bot.name, code, sha256: `${bot.name}${versions[bot.name] ?? 1}`.padEnd(64, '0') };
    });
}

let fake: FakeMedplum;
let medplum: MedplumClient;

beforeEach(async () => {
  fake = await createFakeMedplum({ secrets: [{ name: 'BASELINE_TOKEN_KEY', valueString: 'k' }] });
  medplum = await signIn(fake, (url, init) => fake.fetch(url, init));
});

function run(overrides: Partial<DeployOptions> = {}): Promise<DeployReport> {
  return deploy({
    client: medplum,
    bots: [HELLO, HOOK],
    botPolicies: [HELLO_POLICY, HOOK_POLICY],
    subscriptions: [ON_TASK],
    profiles: [],
    buildBots: fakeBuild(),
    ...overrides,
  });
}

async function membershipOf(profile: string): Promise<ProjectMembership> {
  const found = await medplum.searchResources('ProjectMembership', { profile }, { cache: 'no-cache' });
  const membership = found[0];
  if (!membership) {
    throw new Error(`no membership for ${profile}`);
  }
  return membership;
}

async function policyId(key: string): Promise<string> {
  const policy = await medplum.searchOne(
    'AccessPolicy',
    { _tag: `https://baseline.health/fhir/identifier/access-policy|${key}` },
    { cache: 'no-cache' }
  );
  if (!policy) {
    throw new Error(`no policy ${key}`);
  }
  return policy.id;
}

describe('deploy against a fresh project', () => {
  test('creates policies, clients, bots with their memberships and code, and the subscription', async () => {
    const report = await run();

    expect(report.counts).toEqual({ created: 20, updated: 0, unchanged: 0 });
    expect(report.summary).toMatch(/^deploy: 0 unchanged, 20 created, 0 updated \(\d+\.\d s\)$/);
    expect(report.missingSecrets).toEqual(['BASELINE_TOKEN_KEY_ID', 'HELLO_KEY']);

    const bots = await medplum.searchResources('Bot', {}, { cache: 'no-cache' });
    const hello = bots.find((bot) => bot.name === 'hello') as Bot;
    expect(hello).toMatchObject({
      identifier: [{ system: 'https://baseline.health/fhir/identifier/bot', value: 'hello' }],
      runtimeVersion: 'vmcontext',
      cronString: '0 * * * *',
      timeout: 20,
      executableCode: { title: bundleFilename('hello', 'hello1'.padEnd(64, '0')) },
    });
    expect((await membershipOf(`Bot/${hello.id}`)).accessPolicy).toEqual({
      reference: `AccessPolicy/${await policyId('bot-hello')}`,
    });

    const hook = report.bots.find((bot) => bot.name === 'hook');
    const hookMembership = await membershipOf(`Bot/${hook?.id}`);
    expect(hook?.webhookUrl).toBe(`${fake.baseUrl}webhook/${hookMembership.id}`);
    expect(report.bots.find((bot) => bot.name === 'hello')?.webhookUrl).toBeUndefined();

    const sub = (await medplum.searchResources('Subscription', {}, { cache: 'no-cache' }))[0] as Subscription;
    expect(sub.channel).toEqual({ type: 'rest-hook', endpoint: `Bot/${hello.id}`, payload: 'application/fhir+json' });
    expect(sub.extension).toEqual([
      { url: 'https://medplum.com/fhir/StructureDefinition/subscription-supported-interaction', valueCode: 'create' },
      { url: 'https://medplum.com/fhir/StructureDefinition/subscription-max-attempts', valueInteger: 3 },
    ]);

    const ehrId = report.clients['ehr-client'];
    const ehr = await medplum.readResource('ClientApplication', ehrId ?? '');
    expect(ehr.secret).toMatch(/^[0-9a-f]{64}$/);
    expect((await membershipOf(`ClientApplication/${ehrId}`)).accessPolicy).toEqual({
      reference: `AccessPolicy/${await policyId(POLICY_KEYS.ehrClient)}`,
    });
    const launch = await medplum.readResource('ClientApplication', report.clients['clinician-launch'] ?? '');
    expect(launch.launchUri).toBe('http://127.0.0.1:3000/launch');
    expect(launch.redirectUris).toEqual(['http://127.0.0.1:3000/launch/callback']);

    const owner = await medplum.readResource('AccessPolicy', await policyId(POLICY_KEYS.owner));
    expect(owner.resource?.filter((entry) => entry.resourceType === 'Bot')).toEqual([
      expect.objectContaining({ criteria: 'Bot?identifier=https://baseline.health/fhir/identifier/bot|hello' }),
    ]);
  });

  test('a second deploy reports no change and writes nothing', async () => {
    await run();
    const writesAfterFirst = fake.writes.length;

    const second = await run();

    expect(second.counts).toEqual({ created: 0, updated: 0, unchanged: 20 });
    expect(fake.writes.length).toBe(writesAfterFirst);
  });

  test('the real profiles/ directory uploads once and is then unchanged', async () => {
    const profiles = loadProfiles(DEFAULT_PROFILES_DIR);
    expect(profiles.length).toBeGreaterThan(0);
    const first = await run({ profiles });
    expect(first.changes.filter((c) => c.kind === 'StructureDefinition' && c.action === 'created').length).toBe(
      profiles.filter((p) => p.resourceType === 'StructureDefinition').length
    );
    const second = await run({ profiles });
    expect(second.counts.created + second.counts.updated).toBe(0);
  });

  test('dry run on an empty project plans every create and writes nothing', async () => {
    const lines: string[] = [];
    const report = await run({ dryRun: true, log: (line) => lines.push(line) });

    expect(fake.writes).toEqual([]);
    expect(report.counts).toEqual({ created: 20, updated: 0, unchanged: 0 });
    expect(report.summary).toMatch(/^deploy --dry-run: 0 unchanged, 20 to create, 0 to update/);
    expect(lines).toContain('  would create AccessPolicy patient-owner');
    expect((await medplum.searchResources('AccessPolicy', {}, { cache: 'no-cache' })).length).toBe(0);
  });
});

describe('deploy over an existing deployment', () => {
  test('changed bot fields and code update only that bot', async () => {
    await run();
    const changed = { ...HELLO, description: 'Says hello, politely', cronString: '*/5 * * * *' };

    const report = await run({ bots: [changed, HOOK], buildBots: fakeBuild({ hello: 2 }) });

    expect(report.counts).toEqual({ created: 0, updated: 2, unchanged: 18 });
    expect(report.changes.filter((c) => c.action === 'updated')).toEqual([
      expect.objectContaining({ kind: 'Bot', key: 'hello', fields: ['cronString', 'description'] }),
      expect.objectContaining({
        kind: 'BotCode',
        key: 'hello',
        reference: bundleFilename('hello', 'hello2'.padEnd(64, '0')),
      }),
    ]);
    const hello = await medplum.searchOne('Bot', { name: 'hello' }, { cache: 'no-cache' });
    expect(hello?.executableCode?.title).toBe(bundleFilename('hello', 'hello2'.padEnd(64, '0')));
    expect(hello?.sourceCode?.title).toBe('index.ts');
  });

  test('a bot membership pointed elsewhere is put back on the bot policy', async () => {
    const first = await run();
    const helloId = first.bots.find((bot) => bot.name === 'hello')?.id;
    const membership = await membershipOf(`Bot/${helloId}`);
    await medplum.updateResource<ProjectMembership>({
      ...membership,
      accessPolicy: { reference: 'AccessPolicy/other' },
    });

    const report = await run();

    expect(report.changes.filter((c) => c.action !== 'unchanged')).toEqual([
      expect.objectContaining({ kind: 'BotMembership', key: 'hello', action: 'updated' }),
    ]);
    expect((await membershipOf(`Bot/${helloId}`)).accessPolicy?.reference).toBe(
      `AccessPolicy/${await policyId('bot-hello')}`
    );
  });

  test('a client edited in the console is restored and keeps its secret', async () => {
    const first = await run();
    const id = first.clients['patient-app'] ?? '';
    const before = await medplum.readResource('ClientApplication', id);
    await medplum.updateResource<ClientApplication>({ ...before, redirectUris: ['https://evil.example/'] });

    const report = await run({ appBaseUrls: ['https://app.example.org', 'http://127.0.0.1:3000'] });

    expect(report.changes.find((c) => c.kind === 'ClientApplication' && c.key === 'patient-app')).toMatchObject({
      action: 'updated',
      fields: ['redirectUris'],
    });
    const after = await medplum.readResource('ClientApplication', id);
    expect(after.redirectUris).toEqual(['https://app.example.org/', 'http://127.0.0.1:3000/']);
    expect(after.secret).toBe(before.secret);
  });

  test('a policy entry removed from the definitions is removed on the server', async () => {
    await run();
    const report = await run({ bots: [{ ...HELLO, ownerInvocable: false }, HOOK] });

    expect(report.changes.filter((c) => c.action === 'updated')).toEqual([
      expect.objectContaining({ kind: 'AccessPolicy', key: POLICY_KEYS.owner, fields: ['resource'] }),
    ]);
    const owner = await medplum.readResource('AccessPolicy', await policyId(POLICY_KEYS.owner));
    expect(owner.resource?.some((entry) => entry.resourceType === 'Bot')).toBe(false);
  });
});

describe('deploy refuses', () => {
  test('a project without the required features, with instructions for a super admin', async () => {
    fake = await createFakeMedplum({ features: ['bots', 'transaction-bundles'] });
    medplum = await signIn(fake, (url, init) => fake.fetch(url, init));

    const error = await run().catch((err: unknown) => err);

    expect(error).toBeInstanceOf(DeployError);
    expect((error as DeployError).message).toBe(
      'Project Baseline Test lacks required features: cron, websocket-subscriptions'
    );
    expect((error as DeployError).details).toContain(
      '    [{"op":"add","path":"/features","value":["bots","transaction-bundles","cron","websocket-subscriptions"]}]'
    );
    expect(fake.writes).toEqual([]);
  });

  test('a client that is not a project admin', async () => {
    fake = await createFakeMedplum({ admin: false });
    medplum = await signIn(fake, (url, init) => fake.fetch(url, init));

    await expect(run()).rejects.toThrow(
      `ClientApplication/${fake.clientId} is not an admin of project Baseline Test; deploy needs a project-admin client`
    );
  });

  test('inconsistent definitions, before writing anything', async () => {
    const error = await run({ botPolicies: [HELLO_POLICY] }).catch((err: unknown) => err);

    expect((error as DeployError).message).toBe('The definitions in data/core are inconsistent (1 problem(s))');
    expect((error as DeployError).details).toEqual(['Bot hook: AccessPolicy bot-hook is not among the bot policies']);
    expect(fake.writes).toEqual([]);
  });

  test('two server resources claiming one key', async () => {
    await run();
    const tag = { system: 'https://baseline.health/fhir/identifier/access-policy', code: POLICY_KEYS.ehrClient };
    const copy = await medplum.createResource<AccessPolicy>({ resourceType: 'AccessPolicy', meta: { tag: [tag] } });

    await expect(run()).rejects.toThrow(
      new RegExp(
        `^AccessPolicy ehr-client matches more than one resource on the server \\(.*AccessPolicy/${copy.id}.*\\); delete the extra one$`
      )
    );
  });
});

describe('sign-in', () => {
  test('wrong secret', async () => {
    await expect(signIn({ ...fake, clientSecret: 'wrong' }, (url, init) => fake.fetch(url, init))).rejects.toThrow(
      'Could not sign in to https://medplum.test/: invalid client credentials'
    );
  });

  test('unreachable server', async () => {
    const refused = async (): Promise<Response> => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
    };
    await expect(signIn(fake, refused)).rejects.toThrow('Could not reach https://medplum.test/: ECONNREFUSED');
  });

  test('a base URL that is not a Medplum API server', async () => {
    const html = async (): Promise<Response> => new Response('<html>not here</html>', { status: 404 });
    await expect(signIn(fake, html)).rejects.toThrow(
      'Could not sign in to https://medplum.test/: the token endpoint answered HTTP 404 (is MEDPLUM_BASE_URL the Medplum API server?)'
    );
  });
});

describe('report helpers', () => {
  test('summary line', () => {
    expect(formatSummary({ counts: { unchanged: 12, created: 3, updated: 1 }, dryRun: false, durationMs: 2140 })).toBe(
      'deploy: 12 unchanged, 3 created, 1 updated (2.1 s)'
    );
  });

  test('secrets count as set only with a value, and are reported by name', () => {
    const secrets = [
      { name: 'A', valueString: 'x' },
      { name: 'B', valueString: '' },
      { name: 'C', valueBoolean: false },
    ];
    expect(missingSecretNames(secrets, ['A', 'B', 'C', 'D'])).toEqual(['B', 'D']);
  });

  test('feature instructions name the project and the exact patch', () => {
    const lines = featureInstructions('https://m.example/', { id: 'p1', name: 'P', features: ['bots'] }, ['cron']);
    expect(lines[0]).toBe('Project P (Project/p1) lacks Medplum features Baseline needs: cron.');
    expect(lines).toContain('  - with the API as a super admin: PATCH https://m.example/fhir/R4/Project/p1');
  });
});
