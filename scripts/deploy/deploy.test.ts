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

    expect(report.counts).toEqual({ created: 26, updated: 0, unchanged: 0, removed: 0 });
    expect(report.summary).toMatch(/^deploy: 0 unchanged, 26 created, 0 updated \(\d+\.\d s\)$/);
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

    expect(second.counts).toEqual({ created: 0, updated: 0, unchanged: 26, removed: 0 });
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
    expect(report.counts).toEqual({ created: 26, updated: 0, unchanged: 0, removed: 0 });
    expect(report.summary).toMatch(/^deploy --dry-run: 0 unchanged, 26 to create, 0 to update/);
    expect(lines).toContain('  would create AccessPolicy patient-owner');
    expect((await medplum.searchResources('AccessPolicy', {}, { cache: 'no-cache' })).length).toBe(0);
  });
});

describe('deploy over an existing deployment', () => {
  test('changed bot fields and code update only that bot', async () => {
    await run();
    const changed = { ...HELLO, description: 'Says hello, politely', cronString: '*/5 * * * *' };

    const report = await run({ bots: [changed, HOOK], buildBots: fakeBuild({ hello: 2 }) });

    expect(report.counts).toEqual({ created: 0, updated: 2, unchanged: 24, removed: 0 });
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

  test('only a projectAdmin bot gets an admin membership; a flag changed on the server is put back', async () => {
    const janitor: BotDefinition = { ...HELLO, name: 'janitor', identifier: 'janitor', projectAdmin: true };
    const bots = [HELLO, janitor];
    const botPolicies = [HELLO_POLICY, { ...HELLO_POLICY, key: 'bot-janitor', name: 'Bot janitor' }];
    const first = await run({ bots: bots.map((b) => ({ ...b, accessPolicy: `bot-${b.identifier}` })), botPolicies });
    const idOf = (name: string): string => first.bots.find((bot) => bot.name === name)?.id ?? '';
    expect((await membershipOf(`Bot/${idOf('janitor')}`)).admin).toBe(true);
    expect((await membershipOf(`Bot/${idOf('hello')}`)).admin).not.toBe(true);

    // An admin flipping both in the console: deploy restores exactly the definition.
    await medplum.updateResource<ProjectMembership>({
      ...(await membershipOf(`Bot/${idOf('janitor')}`)),
      admin: false,
    });
    await medplum.updateResource<ProjectMembership>({ ...(await membershipOf(`Bot/${idOf('hello')}`)), admin: true });
    const report = await run({ bots: bots.map((b) => ({ ...b, accessPolicy: `bot-${b.identifier}` })), botPolicies });
    expect(report.changes.filter((c) => c.action !== 'unchanged')).toEqual([
      expect.objectContaining({ kind: 'BotMembership', key: 'hello', action: 'updated', fields: ['admin → false'] }),
      expect.objectContaining({ kind: 'BotMembership', key: 'janitor', action: 'updated', fields: ['admin → true'] }),
    ]);
    expect((await membershipOf(`Bot/${idOf('janitor')}`)).admin).toBe(true);
    expect((await membershipOf(`Bot/${idOf('hello')}`)).admin).toBe(false);
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
  test('a deployed bot that lost its membership, before writing anything', async () => {
    const first = await run();
    const helloId = first.bots.find((bot) => bot.name === 'hello')?.id ?? '';
    await fake.repo.deleteResource('ProjectMembership', (await membershipOf(`Bot/${helloId}`)).id ?? '');
    await medplum.updateResource({ ...(await medplum.readResource('Bot', helloId)), description: 'edited' });
    const writes = fake.writes.length;

    await expect(run()).rejects.toThrow(
      `Bot/${helloId} has no ProjectMembership (it was not created through the admin API); delete it and deploy again`
    );
    expect(fake.writes.length).toBe(writes);
  });

  test('a deployed bot with two memberships', async () => {
    const first = await run();
    const helloId = first.bots.find((bot) => bot.name === 'hello')?.id ?? '';
    const { id: _id, meta: _meta, ...copy } = await membershipOf(`Bot/${helloId}`);
    const extra = await fake.repo.createResource<ProjectMembership>(copy);

    await expect(run()).rejects.toThrow(
      new RegExp(
        `^Bot/${helloId} has more than one ProjectMembership \\(.*ProjectMembership/${extra.id}.*\\); delete the extra one$`
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

describe('the server version decides the plan', () => {
  test('Medplum 5.0: no rawBody on any Bot, one line saying so, and a second run is a no-op', async () => {
    fake = await createFakeMedplum({ version: '5.0.10-6a4145c' });
    medplum = await signIn(fake, (url, init) => fake.fetch(url, init));
    const lines: string[] = [];

    const first = await run({ log: (line) => lines.push(line) });

    expect(first.server).toMatchObject({ version: '5.0.10-6a4145c', rawBody: false, rawBodyDropped: ['hook'] });
    expect(lines.filter((line) => line.includes('rawBody'))).toEqual([
      'Medplum 5.0.10-6a4145c has no Bot.rawBody (hook deployed without it): webhook signatures cannot be checked byte-exactly, so signed notifications (WHOOP, Oura) are only hints that trigger a re-fetch from the provider; Medplum 5.2 or newer fixes this.',
    ]);
    const hook = await medplum.searchOne('Bot', { name: 'hook' }, { cache: 'no-cache' });
    expect(hook?.publicWebhook).toBe(true);
    expect(hook?.rawBody).toBeUndefined();

    const second = await run();
    expect(second.counts).toEqual({ created: 0, updated: 0, unchanged: 26, removed: 0 });
  });

  test('Medplum 5.2: the webhook bot gets rawBody', async () => {
    const report = await run();

    expect(report.server).toMatchObject({ rawBody: true, rawBodyDropped: [], notes: [] });
    const hook = await medplum.searchOne('Bot', { name: 'hook' }, { cache: 'no-cache' });
    expect(hook?.rawBody).toBe(true);
  });

  test('a dry run on 5.0 prints the plan for that server', async () => {
    fake = await createFakeMedplum({ version: '5.0.10-6a4145c' });
    medplum = await signIn(fake, (url, init) => fake.fetch(url, init));
    const lines: string[] = [];

    await run({ dryRun: true, log: (line) => lines.push(line) });

    expect(lines[0]).toBe('Planning Baseline on https://medplum.test/ (project Baseline Test, Medplum 5.0.10-6a4145c)');
    expect(lines[1]).toMatch(/^Medplum 5\.0\.10-6a4145c has no Bot\.rawBody/);
    expect(fake.writes).toEqual([]);
  });

  test('older than 5.0: stops before writing', async () => {
    fake = await createFakeMedplum({ version: '4.5.2-abcdef0' });
    medplum = await signIn(fake, (url, init) => fake.fetch(url, init));

    await expect(run()).rejects.toThrow('Medplum 4.5.2-abcdef0 is too old: Baseline needs Medplum 5.0 or newer');
    expect(fake.writes).toEqual([]);
  });
});

/** Refuses the first request matching `method` and `pattern` with a 400, as Medplum 5.0 refused `Bot.rawBody`. */
function failOnce(method: string, pattern: RegExp): void {
  let failed = false;
  fake.intercept = (m, path) => {
    if (!failed && m === method && pattern.test(path)) {
      failed = true;
      return new Response(
        JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'structure', details: { text: 'Injected failure' } }],
        }),
        { status: 400, headers: { 'content-type': 'application/fhir+json' } }
      );
    }
    return undefined;
  };
}

async function botsNamed(name: string): Promise<Bot[]> {
  return (await medplum.searchResources('Bot', {}, { cache: 'no-cache' })).filter((bot) => bot.name === name);
}

async function membershipsFor(bot: Bot): Promise<ProjectMembership[]> {
  return medplum.searchResources('ProjectMembership', { profile: `Bot/${bot.id}` }, { cache: 'no-cache' });
}

describe('a failed run is completed by the next one', () => {
  test('a Bot created by the admin API whose update failed is adopted: identifier, policy and code', async () => {
    failOnce('PUT', /^fhir\/R4\/Bot\//);
    await expect(run()).rejects.toThrow('Injected failure');
    const [orphan, ...others] = await botsNamed('hello');
    expect(others).toEqual([]);
    expect(orphan?.identifier).toBeUndefined();
    fake.intercept = undefined;

    const second = await run();

    expect(second.changes.find((c) => c.kind === 'Bot' && c.key === 'hello')).toMatchObject({
      action: 'updated',
      reference: `Bot/${orphan?.id}`,
      note: 'adopted, left by an earlier failed deploy',
    });
    const [hello, ...extra] = await botsNamed('hello');
    expect(extra).toEqual([]);
    expect(hello).toMatchObject({
      id: orphan?.id,
      identifier: [{ system: 'https://baseline.health/fhir/identifier/bot', value: 'hello' }],
      executableCode: { title: bundleFilename('hello', 'hello1'.padEnd(64, '0')) },
    });
    expect(await membershipsFor(hello as Bot)).toHaveLength(1);

    const third = await run();
    expect(third.counts).toMatchObject({ created: 0, updated: 0, removed: 0 });
  });

  test('a leftover without its membership is removed and the bot made again', async () => {
    failOnce('PUT', /^fhir\/R4\/Bot\//);
    await expect(run()).rejects.toThrow('Injected failure');
    const [orphan] = await botsNamed('hello');
    for (const membership of await membershipsFor(orphan as Bot)) {
      await fake.repo.deleteResource('ProjectMembership', membership.id ?? '');
    }
    fake.intercept = undefined;

    const second = await run();

    expect(second.changes.filter((c) => c.action === 'removed')).toEqual([
      expect.objectContaining({ kind: 'Bot', key: 'hello', reference: `Bot/${orphan?.id}` }),
    ]);
    const bots = await botsNamed('hello');
    expect(bots).toHaveLength(1);
    expect(bots[0]?.id).not.toBe(orphan?.id);
    expect(bots[0]?.identifier?.[0]?.value).toBe('hello');
  });

  test('leftovers beside a deployed bot are removed with their memberships', async () => {
    const first = await run();
    const policy = await policyId('bot-hello');
    const made: Bot[] = [];
    for (let i = 0; i < 2; i++) {
      // What a failed run leaves: the admin API's Bot + membership, nothing else.
      made.push(
        await medplum.post(`admin/projects/${fake.projectId}/bot`, {
          name: 'hello',
          description: HELLO.description,
          runtimeVersion: 'vmcontext',
          accessPolicy: { reference: `AccessPolicy/${policy}` },
        })
      );
    }

    const second = await run();

    expect(second.counts).toMatchObject({ created: 0, updated: 0, removed: 4 });
    expect(second.summary).toMatch(/^deploy: 26 unchanged, 0 created, 0 updated, 4 removed \(/);
    const remaining = await botsNamed('hello');
    expect(remaining.map((bot) => bot.id)).toEqual([first.bots.find((b) => b.name === 'hello')?.id]);
    for (const bot of made) {
      expect(await membershipsFor(bot)).toHaveLength(0);
    }
    expect((await run()).counts).toMatchObject({ created: 0, updated: 0, removed: 0 });
  });

  test("someone else's bot with the same name is left alone", async () => {
    const theirs = await medplum.post<Bot>(`admin/projects/${fake.projectId}/bot`, {
      name: 'hello',
      description: 'An unrelated bot of the same name',
      runtimeVersion: 'vmcontext',
    });

    await run();

    const bots = await botsNamed('hello');
    expect(bots.map((bot) => bot.id)).toContain(theirs.id);
    expect(bots).toHaveLength(2);
    expect(await membershipsFor(theirs)).toHaveLength(1);
  });

  test('a ClientApplication whose update failed is adopted', async () => {
    failOnce('PUT', /^fhir\/R4\/ClientApplication\//);
    await expect(run()).rejects.toThrow('Injected failure');
    fake.intercept = undefined;

    const second = await run();

    const adopted = second.changes.filter((c) => c.note === 'adopted, left by an earlier failed deploy');
    expect(adopted).toEqual([expect.objectContaining({ kind: 'ClientApplication', action: 'updated' })]);
    const clients = await medplum.searchResources('ClientApplication', {}, { cache: 'no-cache' });
    expect(clients.filter((c) => c.name === 'Baseline patient app')).toHaveLength(1);
    expect((await run()).counts).toMatchObject({ created: 0, updated: 0, removed: 0 });
  });

  test('a dry run shows the adoption and the removals and writes nothing', async () => {
    failOnce('PUT', /^fhir\/R4\/Bot\//);
    await expect(run()).rejects.toThrow('Injected failure');
    fake.intercept = undefined;
    const writes = fake.writes.length;
    const lines: string[] = [];

    await run({ dryRun: true, log: (line) => lines.push(line) });

    expect(fake.writes.length).toBe(writes);
    expect(lines.find((line) => line.includes('adopted'))).toMatch(
      /^ {2}would update Bot hello \(Bot\/[^)]+\): cronString, identifier, timeout — adopted, left by an earlier failed deploy$/
    );
  });
});

describe('FHIR quota', () => {
  test('a 429 mid-deploy waits for the reset and the deploy completes', async () => {
    fake = await createFakeMedplum({ quota: 600 });
    medplum = await signIn(fake, (url, init) => fake.fetch(url, init));
    const waits: number[] = [];
    const lines: string[] = [];

    const report = await run({
      log: (line) => lines.push(line),
      sleep: async (ms) => {
        waits.push(ms);
        fake.resetQuota();
      },
    });

    expect(report.counts).toMatchObject({ created: 26, updated: 0 });
    expect(waits.length).toBeGreaterThan(0);
    expect(waits.every((ms) => ms === 30_250)).toBe(true);
    expect(lines.filter((line) => line.includes('FHIR quota used up'))).toHaveLength(waits.length);
  });

  test('points spent are read from the RateLimit header; a no-op run spends only on reads', async () => {
    fake = await createFakeMedplum({ quota: 1_000_000 });
    medplum = await signIn(fake, (url, init) => fake.fetch(url, init));

    const first = await run();
    fake.resetQuota();
    const second = await run();

    // Everything the fake counted (its FHIR endpoints) is what the header-based figure says.
    expect(first.quotaPointsSpent).toBe(1_000_000 - (first.quotaPointsLeft ?? 0));
    expect(first.quotaPointsSpent).toBeGreaterThan(10 * 100);
    // auth/me is free here; Project read 1, then one search per type: AccessPolicy, Subscription,
    // ClientApplication, Bot, ProjectMembership (no profiles in this test).
    expect(second.quotaPointsSpent).toBe(1 + 5 * 20);
    expect(second.quotaPointsLeft).toBe(1_000_000 - 101);
  });

  test('warns, without failing, when the quota is too low for the expected owners', async () => {
    const lines: string[] = [];
    const report = await run({ expectedOwners: 100, log: (line) => lines.push(line) });

    expect(report.warnings).toEqual([
      'the FHIR quota is low for 100 owners: importing a year of history for all 100 owners at once takes 500 min at 50,000 points/min (target 60 min). A super admin should set Project.systemSetting userFhirQuota = 420000 and totalFhirQuota = 4200000 (see README, "FHIR quota").',
    ]);
    expect(lines).toContain(`Warning: ${report.warnings[0]}`);
  });

  test('reads userFhirQuota from the Project where the admin can see it', async () => {
    fake = await createFakeMedplum({ systemSetting: [{ name: 'userFhirQuota', valueInteger: 500_000 }] });
    medplum = await signIn(fake, (url, init) => fake.fetch(url, init));
    const lines: string[] = [];

    const report = await run({ expectedOwners: 100, log: (line) => lines.push(line) });

    expect(report.warnings).toEqual([]);
    expect(lines.find((line) => line.startsWith('FHIR quota:'))).toBe(
      "FHIR quota: 500,000 points/min per membership, 5,000,000 per project (totalFhirQuota assumed 10 × userFhirQuota); one owner's year of WHOOP history takes ~1 min, 100 owners at once ~50 min."
    );
  });
});

describe('secrets deploy owns', () => {
  test('BASELINE_APP_URLS follows the app URLs and keeps every other secret as it was', async () => {
    await run({ appBaseUrls: ['https://app.example.org', 'http://127.0.0.1:3000'] });
    let secrets = (await medplum.readResource('Project', fake.projectId, { cache: 'no-cache' })).secret;
    expect(secrets?.slice(0, 2)).toEqual([
      { name: 'BASELINE_TOKEN_KEY', valueString: 'k' },
      { name: 'BASELINE_APP_URLS', valueString: 'https://app.example.org,http://127.0.0.1:3000' },
    ]);
    // The share template ids, as the sharing bots need them (they cannot read AccessPolicies themselves).
    const shareIds = JSON.parse(secrets?.find((x) => x.name === 'BASELINE_SHARE_POLICIES')?.valueString ?? '{}');
    expect(Object.keys(shareIds)).toEqual([
      'base',
      'wearable',
      'derived',
      'narratives',
      'alerts',
      'clinicianBase',
      'ehrClient',
    ]);
    const base = await medplum.readResource('AccessPolicy', shareIds.base);
    expect(base.meta?.tag?.[0]?.code).toBe('clinician-share');

    const moved = await run({ appBaseUrls: ['https://new.example.org/'] });

    expect(moved.changes.filter((c) => c.action !== 'unchanged').map((c) => `${c.kind} ${c.key} ${c.action}`)).toEqual([
      'ClientApplication patient-app updated',
      'ClientApplication clinician-launch updated',
      'ProjectSecret BASELINE_APP_URLS updated',
    ]);
    secrets = (await medplum.readResource('Project', fake.projectId, { cache: 'no-cache' })).secret;
    expect(secrets?.slice(0, 2)).toEqual([
      { name: 'BASELINE_TOKEN_KEY', valueString: 'k' },
      { name: 'BASELINE_APP_URLS', valueString: 'https://new.example.org' },
    ]);
  });
});

describe('provider URLs', () => {
  const SANDBOX = [{ name: 'WHOOP_API_BASE_URL', valueString: 'http://127.0.0.1:8110/developer' }];

  test('a provider URL that is not the provider warns on a real server', async () => {
    fake = await createFakeMedplum({ secrets: SANDBOX });
    medplum = await signIn(fake, (url, init) => fake.fetch(url, init));

    const report = await run();

    expect(report.warnings).toEqual([
      "WHOOP_API_BASE_URL points at http://127.0.0.1:8110, not https://api.prod.whoop.com; outside the local stack provider URLs must be the providers' own (unset them to use the defaults)",
    ]);
  });

  test('the local stack may point them at the sandbox', async () => {
    fake = await createFakeMedplum({ secrets: SANDBOX, version: '5.2.13-local' });
    medplum = await signIn(fake, (url, init) => fake.fetch(url, init));

    expect((await run()).warnings).toEqual([]);
  });
});
