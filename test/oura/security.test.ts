/**
 * Isolation and secrets for Oura (issue 10 §7 item 8), over real HTTP: two owners with their own rings; owner B sees
 * none of owner A's Oura data, Device, Tasks, connection or token records (and vice versa); no Oura token or
 * ciphertext is readable by a patient, the clinician or the oura-webhook bot's policy, through searches that DO return
 * resources (`_include`, `_revinclude`, `_history`, `_elements`); the tokens are encrypted at rest in the token store,
 * bound to their connection, and disconnect expunges them, history included.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConnection, TOKEN_STORE_BLOB_EXTENSION } from '../../bots/shared/connection.ts';
import { CONNECTION_EXTENSION } from '../../bots/shared/extensions.ts';
import { keyringFromSecrets } from '../../bots/shared/token-crypto.ts';
import { readTokens } from '../../bots/shared/tokens.ts';
import { POLICY_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { clientCredentialsClient } from '../../scripts/medplum-client.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { bot, connect, connections, waitForBackfill } from '../providers/helpers.ts';
import { ouraObservations, ouraSandbox, quiet, requireConnection, setSecrets, tokenRecordOf } from './helpers.ts';

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let ownerPatient: WithId<Patient>;
let otherPatient: WithId<Patient>;
let kid: string;

beforeAll(async () => {
  env = await startTestStack({ oura: { days: 8, people: 2 } });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '8' });
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  otherPatient = (await other.getProfileAsync()) as WithId<Patient>;
  await connect(owner, 'oura', 0);
  await connect(other, 'oura', 1);
  await waitForBackfill(owner, 'oura');
  await waitForBackfill(other, 'oura');
  await quiet(env, (await requireConnection(env, ownerPatient)).id);
  await quiet(env, (await requireConnection(env, otherPatient)).id);
  const project = await env.adminClient.readResource('Project', env.projectId);
  kid = project.secret?.find((s) => s.name === 'BASELINE_TOKEN_KEY_ID')?.valueString ?? '';
}, 240_000);

afterAll(async () => {
  await env?.stop();
});

function liveTokens(): string[] {
  const sandbox = ouraSandbox(env);
  return sandbox.users.flatMap((u) =>
    sandbox.control.tokensFor(u.userId).flatMap((t) => [t.accessToken, t.refreshToken ?? ''])
  );
}

function expectNoTokenMaterial(value: unknown): void {
  const text = JSON.stringify(value);
  expect(text).not.toMatch(/v[12]\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\./);
  expect(text).not.toContain(`v2.${kid}.`);
  expect(text).not.toContain(TOKEN_STORE_BLOB_EXTENSION);
  const tokens = liveTokens().filter(Boolean);
  expect(tokens.length).toBeGreaterThan(0);
  for (const token of tokens) {
    expect(text).not.toContain(token);
  }
}

describe('owner B sees none of owner A', () => {
  test('each owner reads only their own Oura Observations, Device, Tasks and connection view', async () => {
    const ownerObs = await ouraObservations(env, ownerPatient);
    const otherObs = await ouraObservations(env, otherPatient);
    expect(ownerObs.length).toBeGreaterThan(0);
    expect(otherObs.length).toBeGreaterThan(0);
    for (const [client, mine, theirs, theirPatient] of [
      [owner, ownerObs, otherObs, otherPatient],
      [other, otherObs, ownerObs, ownerPatient],
    ] as const) {
      await expect(client.readResource('Observation', theirs[0]?.id ?? '')).rejects.toThrow('Not found');
      await expect(client.readResource('Observation', mine[0]?.id ?? '')).resolves.toBeDefined();
      const seen = await client.searchResources('Observation', { _count: '1000' });
      expect(seen.some((o) => o.subject?.reference === getReferenceString(theirPatient))).toBe(false);
      const devices = await client.searchResources('Device', {});
      expect(devices.some((d) => d.patient?.reference === getReferenceString(theirPatient))).toBe(false);
      const tasks = await client.searchResources('Task', { _count: '500' });
      expect(tasks.some((t) => t.for?.reference === getReferenceString(theirPatient))).toBe(false);
      await expect(client.searchResources('Basic', {})).rejects.toThrow('Forbidden');
      const views = await connections(client);
      expect(views).toHaveLength(1);
      expect(views[0]?.provider).toBe('oura');
    }
    const theirDevice = (await connections(other))[0]?.deviceId ?? '';
    await expect(owner.readResource('Device', theirDevice)).rejects.toThrow('Not found');
  });
});

describe('tokens at rest', () => {
  test('the connection and its history hold no token; the token store holds one v2 blob bound to the connection', async () => {
    const basic = await requireConnection(env, ownerPatient);
    expect(basic.extension?.some((e) => e.url === CONNECTION_EXTENSION.tokens)).toBe(false);
    const history = await env.adminClient.readHistory('Basic', basic.id);
    expectNoTokenMaterial(history);
    const record = await tokenRecordOf(env, basic.id);
    const blob = record?.extension?.find((e) => e.url === TOKEN_STORE_BLOB_EXTENSION)?.valueString ?? '';
    expect(blob.startsWith(`v2.${kid}.`)).toBe(true);
    expect(record?.subject).toBeUndefined();
    for (const token of liveTokens().filter(Boolean)) {
      expect(JSON.stringify(record)).not.toContain(token);
    }
    // It decrypts to the sandbox's live Oura tokens, and only for its own connection.
    const project = await env.adminClient.readResource('Project', env.projectId);
    const secrets = Object.fromEntries(
      (project.secret ?? []).map((s) => [s.name, { name: s.name, valueString: s.valueString ?? '' }])
    );
    const keyring = keyringFromSecrets(secrets);
    const parsed = parseConnection(basic);
    const { tokens } = await readTokens(env.adminClient, parsed, keyring);
    const issued = ouraSandbox(env).control.tokensFor(ouraSandbox(env).users[0]?.userId ?? '');
    expect(issued.map((t) => t.accessToken)).toContain(tokens.accessToken);
    await expect(readTokens(env.adminClient, { ...parsed, id: 'another-connection' }, keyring)).rejects.toThrow();
  });
});

describe('no token readable through FHIR (positive: the searches return resources)', () => {
  test('the owner: Tasks with _include, Observations with their Device, _elements, AuditEvents, the connection view', async () => {
    const tasks = await owner.search('Task', { _count: '100', _include: 'Task:focus' });
    expect(tasks.entry?.length ?? 0).toBeGreaterThan(0);
    expect(
      tasks.entry?.some((e) => (e.resource as { resourceType?: string } | undefined)?.resourceType === 'Basic')
    ).toBe(false);
    expectNoTokenMaterial(tasks);
    const withDevice = await owner.search('Observation', { _count: '5', _include: 'Observation:device' });
    expect(
      withDevice.entry?.some((e) => (e.resource as { resourceType?: string } | undefined)?.resourceType === 'Device')
    ).toBe(true);
    expectNoTokenMaterial(withDevice);
    const elements = await owner.search('Task', { _elements: 'input,output,extension,focus', _count: '100' });
    expect(elements.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(elements);
    const patient = await owner
      .search('Patient', { _id: ownerPatient.id, _revinclude: 'Basic:subject' })
      .catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
    if (typeof patient === 'string') {
      expect(patient).toBe('Forbidden');
    } else {
      expect(
        patient.entry?.some((e) => (e.resource as { resourceType?: string } | undefined)?.resourceType === 'Basic')
      ).toBe(false);
      expectNoTokenMaterial(patient);
    }
    const audit = await owner.search('AuditEvent', { _count: '100' });
    expectNoTokenMaterial(audit);
    const view = await owner.executeBot(bot('connections'), {});
    expect(JSON.stringify(view)).toContain('"provider":"oura"');
    expectNoTokenMaterial(view);
  });

  test('the clinician: Basic is refused, and what it can read holds no token', async () => {
    const clinician = await env.signIn('clinician');
    await expect(clinician.searchResources('Basic', {})).rejects.toThrow('Forbidden');
    const own = await clinician.search('Practitioner', {});
    expect(own.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(own);
  });

  test("the oura-webhook bot's policy: it finds connections, holds no token, cannot reach the token store", async () => {
    const policy = await env.adminClient.searchOne('AccessPolicy', {
      _tag: `${POLICY_IDENTIFIER_SYSTEM}|bot-oura-webhook`,
    });
    expect(policy).toBeDefined();
    const created = (await env.adminClient.post(`admin/projects/${env.projectId}/client`, {
      name: 'oura-webhook-policy-probe',
      accessPolicy: { reference: getReferenceString(policy ?? { resourceType: 'AccessPolicy', id: 'missing' }) },
    })) as { id: string; secret: string };
    const probe = await clientCredentialsClient(env.baseUrl, created.id, created.secret);
    const found = await probe.search('Basic', {
      code: 'https://baseline.health/fhir/CodeSystem/basic-resource-type|wearable-connection',
    });
    expect(found.entry?.length ?? 0).toBe(2);
    expectNoTokenMaterial(found);
    const store = await probe
      .search('Basic', { code: 'https://baseline.health/fhir/CodeSystem/basic-resource-type|wearable-tokens' })
      .catch(() => undefined);
    expect(store?.entry ?? []).toHaveLength(0);
    const basic = await requireConnection(env, ownerPatient);
    const record = await tokenRecordOf(env, basic.id);
    await expect(probe.readResource('Basic', record?.id ?? '')).rejects.toThrow();
    await expect(probe.readHistory('Basic', basic.id)).rejects.toThrow();
  });
});

describe('disconnect expunges the tokens', () => {
  test("A's token record and every version are gone; B's remains and B's connection stays active", async () => {
    const basic = await requireConnection(env, ownerPatient);
    const record = await tokenRecordOf(env, basic.id);
    expect(record).toBeDefined();
    const result = (await owner.executeBot(bot('disconnect'), { provider: 'oura', erase: false })) as Record<
      string,
      unknown
    >;
    expect(result).toMatchObject({ revoked: true, revocation: 'revoked', tokens: 'deleted', expunged: true });
    await expect(env.adminClient.readHistory('Basic', record?.id ?? '')).rejects.toThrow('Not found');
    expect(ouraSandbox(env).control.tokensFor(ouraSandbox(env).users[0]?.userId ?? '')).toHaveLength(0);
    const otherBasic = await requireConnection(env, otherPatient);
    expect(await tokenRecordOf(env, otherBasic.id)).toBeDefined();
    expect((await connections(other))[0]?.status).toBe('active');
  });
});
