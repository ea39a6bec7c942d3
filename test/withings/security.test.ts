/**
 * Withings tokens at rest and who can read what, over real HTTP (local stack + Withings sandbox + edge), the
 * test/whoop/tokens-at-rest.test.ts pattern: the tokens live in their own token-store record bound to the
 * connection (never on the connection, whose history grows with every sync), encrypted; searches that DO return
 * resources to the owner, the clinician and a client holding the withings-webhook bot's policy hold no token
 * material (`_include`, `_history`, `_elements` included); owner B sees none of owner A's Withings data or
 * connection; disconnect expunges the token record with its history.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CONNECTION_CODE_TOKEN,
  TOKEN_STORE_BLOB_EXTENSION,
  TOKEN_STORE_CODE_TOKEN,
} from '../../bots/shared/connection.ts';
import { parseConnection } from '../../bots/shared/connection.ts';
import { CONNECTION_EXTENSION } from '../../bots/shared/extensions.ts';
import { POLICY_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { keyringFromSecrets } from '../../bots/shared/token-crypto.ts';
import { readTokens } from '../../bots/shared/tokens.ts';
import { clientCredentialsClient } from '../../scripts/medplum-client.ts';
import type { TestStack } from '../harness/stack.ts';
import { bot, connections, finishConnect, settle, startConnect, waitForBackfill } from '../providers/helpers.ts';
import {
  disconnect,
  projectSecret,
  quiet,
  sandboxOf,
  setSecrets,
  startWithingsStack,
  tokenRecordOf,
  withingsConnection,
  withingsObservations,
} from './helpers.ts';

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let ownerPatient: WithId<Patient>;
let kid: string;

beforeAll(async () => {
  env = await startWithingsStack({ withings: { days: 8, people: 2, rateLimitPerMinute: 100_000 } });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '5' });
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  kid = (await projectSecret(env, 'BASELINE_TOKEN_KEY_ID')) ?? '';
  expect(kid).not.toBe('');
  await finishConnect(owner, 'withings', await startConnect(owner, 'withings'));
  await waitForBackfill(owner, 'withings');
  await settle(env);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

function sandboxTokens(): string[] {
  const sandbox = sandboxOf(env);
  return sandbox.users
    .flatMap((u) => sandbox.control.tokensFor(u.userId))
    .flatMap((t) => [t.accessToken, t.refreshToken ?? ''])
    .filter(Boolean);
}

/** Every marker of token material: blobs with this key id, the blob extension, and the live Withings tokens. */
function expectNoTokenMaterial(value: unknown): void {
  const text = JSON.stringify(value);
  expect(text).not.toMatch(/v[12]\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\./);
  expect(text).not.toContain(`v2.${kid}.`);
  expect(text).not.toContain(`v1.${kid}.`);
  expect(text).not.toContain(TOKEN_STORE_BLOB_EXTENSION);
  const tokens = sandboxTokens();
  expect(tokens.length).toBeGreaterThan(0);
  for (const token of tokens) {
    expect(text).not.toContain(token);
  }
}

async function projectSecrets(): Promise<Record<string, { name: string; valueString: string }>> {
  const project = await env.adminClient.readResource('Project', env.projectId);
  return Object.fromEntries(
    (project.secret ?? []).flatMap((s) =>
      s.valueString ? [[s.name, { name: s.name, valueString: s.valueString }]] : []
    )
  );
}

describe('tokens at rest', () => {
  test('the connection and its history hold no token; the token store holds one bound, encrypted blob', async () => {
    const basic = await withingsConnection(env, ownerPatient);
    const history = await env.adminClient.readHistory('Basic', basic.id);
    expect(history.entry?.length ?? 0).toBeGreaterThan(1);
    expectNoTokenMaterial(history);
    expect(basic.extension?.some((e) => e.url === CONNECTION_EXTENSION.tokens)).toBe(false);
    const record = await tokenRecordOf(env, basic.id);
    const blob = record?.extension?.find((e) => e.url === TOKEN_STORE_BLOB_EXTENSION)?.valueString ?? '';
    expect(blob.startsWith(`v2.${kid}.`)).toBe(true);
    expect(record?.subject).toBeUndefined();
    for (const token of sandboxTokens()) {
      expect(JSON.stringify(record)).not.toContain(token);
    }
    // Decrypts to the tokens Withings issued, and only for this connection.
    const keyring = keyringFromSecrets(await projectSecrets());
    const parsed = parseConnection(basic);
    const { tokens } = await readTokens(env.adminClient, parsed, keyring);
    expect(sandboxTokens()).toContain(tokens.accessToken);
    expect(tokens.providerUserId ?? parsed.providerUserId).toBe(String(sandboxOf(env).userId));
    await expect(readTokens(env.adminClient, { ...parsed, id: 'another-connection' }, keyring)).rejects.toThrow();
  });
});

describe('no token readable through FHIR (positive: the searches return resources)', () => {
  test('the owner: Tasks with _include, Observations with their Device, _elements, AuditEvents, the connections view', async () => {
    const tasks = await owner.search('Task', { _count: '100', _include: 'Task:focus' });
    expect(tasks.entry?.length ?? 0).toBeGreaterThan(0);
    expect(
      tasks.entry?.some((e) => (e.resource as { resourceType?: string } | undefined)?.resourceType === 'Basic')
    ).toBe(false);
    expectNoTokenMaterial(tasks);
    const series = await owner.search('Observation', {
      _profile: INTRADAY_PROFILE,
      _count: '5',
      _include: 'Observation:device',
    });
    expect(series.entry?.length ?? 0).toBeGreaterThan(1);
    expectNoTokenMaterial(series);
    const elements = await owner.search('Task', { _elements: 'input,output,extension,focus', _count: '100' });
    expect(elements.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(elements);
    const viaRevinclude = await owner
      .search('Patient', { _id: ownerPatient.id, _revinclude: 'Basic:subject' })
      .catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
    if (typeof viaRevinclude === 'string') {
      expect(viaRevinclude).toBe('Forbidden');
    } else {
      expect(
        viaRevinclude.entry?.some(
          (e) => (e.resource as { resourceType?: string } | undefined)?.resourceType === 'Basic'
        )
      ).toBe(false);
      expectNoTokenMaterial(viaRevinclude);
    }
    await expect(owner.searchResources('Basic', {})).rejects.toThrow('Forbidden');
    const basic = await withingsConnection(env, ownerPatient);
    await expect(owner.readResource('Basic', basic.id)).rejects.toThrow();
    const audit = await owner.search('AuditEvent', { _count: '100' });
    expectNoTokenMaterial(audit);
    const view = await owner.executeBot(bot('connections'), {});
    expect(JSON.stringify(view)).toContain('"provider":"withings"');
    expectNoTokenMaterial(view);
  });

  test('the clinician: what it can read holds no token, and Basic is refused', async () => {
    const clinician = await env.signIn('clinician');
    const own = await clinician.search('Practitioner', {});
    expect(own.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(own);
    await expect(clinician.searchResources('Basic', {})).rejects.toThrow('Forbidden');
  });

  test("the withings-webhook bot's policy: it finds the connection, holds no token, cannot reach the token store", async () => {
    const policy = await env.adminClient.searchOne('AccessPolicy', {
      _tag: `${POLICY_IDENTIFIER_SYSTEM}|bot-withings-webhook`,
    });
    if (!policy) {
      throw new Error('no withings-webhook policy');
    }
    const created = (await env.adminClient.post(`admin/projects/${env.projectId}/client`, {
      name: 'withings-webhook-policy-probe',
      accessPolicy: { reference: getReferenceString(policy) },
    })) as { id: string; secret: string };
    const probe = await clientCredentialsClient(env.baseUrl, created.id, created.secret);
    // A notification, so that a sync Task (the only kind this policy may search) exists.
    const now = Math.floor(Date.now() / 1000);
    const sandbox = sandboxOf(env);
    await sandbox.control.sendNotification(sandbox.userId, 44, { startdate: now - 3600, enddate: now });
    await quiet(env, (await withingsConnection(env, ownerPatient)).id);
    const found = await probe.search('Basic', { code: CONNECTION_CODE_TOKEN });
    expect(found.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(found);
    const tasks = await probe.search('Task', { _count: '100', _include: 'Task:focus' });
    expect(tasks.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(tasks);
    const kinds = (tasks.entry ?? []).flatMap((e) =>
      e.resource?.resourceType === 'Task' ? (e.resource.code?.coding?.map((c) => c.code) ?? []) : []
    );
    expect(new Set(kinds)).toEqual(new Set(['sync']));
    const store = await probe.search('Basic', { code: TOKEN_STORE_CODE_TOKEN }).catch(() => undefined);
    expect(store?.entry ?? []).toHaveLength(0);
    const basic = await withingsConnection(env, ownerPatient);
    await expect(probe.readHistory('Basic', basic.id)).rejects.toThrow();
    // It cannot read the Observations it causes to be written either.
    const obs = await probe.search('Observation', { _count: '5' }).catch(() => undefined);
    expect(obs?.entry ?? []).toHaveLength(0);
  });
});

describe('owner B', () => {
  test("sees none of owner A's Withings data, connection or token records, and connects their own account", async () => {
    expect(await connections(other)).toEqual([]);
    await expect(other.searchResources('Basic', {})).rejects.toThrow('Forbidden');
    expect(await other.searchResources('Task', { _count: '500' })).toHaveLength(0);
    expect(await other.searchResources('Observation', { _count: '500' })).toHaveLength(0);
    expect(await other.searchResources('Device', {})).toHaveLength(0);
    const mine = await withingsObservations(env, ownerPatient);
    expect(mine.length).toBeGreaterThan(0);
    for (const o of mine.slice(0, 5)) {
      await expect(other.readResource('Observation', o.id ?? '')).rejects.toThrow('Not found');
    }
    // B links the second Withings account: B sees exactly B's own, A's are unchanged.
    const second = sandboxOf(env).users[1]?.userId;
    await finishConnect(other, 'withings', await startConnect(other, 'withings', second));
    await waitForBackfill(other, 'withings');
    await settle(env);
    const theirs = await other.searchResources('Observation', { _count: '1000' });
    expect(theirs.length).toBeGreaterThan(0);
    const otherPatient = (await other.getProfileAsync()) as WithId<Patient>;
    expect(theirs.every((o) => o.subject?.reference === getReferenceString(otherPatient))).toBe(true);
    expect(theirs.some((o) => mine.some((m) => m.id === o.id))).toBe(false);
    expect((await withingsObservations(env, ownerPatient)).length).toBe(mine.length);
    expectNoTokenMaterial(await connections(other));
  }, 120_000);
});

describe('disconnect removes the tokens, history included', () => {
  test('the token record and every earlier version are gone; a retry reports what it finds', async () => {
    const basic = await withingsConnection(env, ownerPatient);
    const record = await tokenRecordOf(env, basic.id);
    expect(record).toBeDefined();
    const first = await disconnect(owner, false);
    expect(first).toMatchObject({ revoked: true, revocation: 'revoked', tokens: 'deleted', expunged: true });
    expect(await tokenRecordOf(env, basic.id)).toBeUndefined();
    await expect(env.adminClient.readHistory('Basic', record?.id ?? '')).rejects.toThrow('Not found');
    await expect(env.adminClient.readResource('Basic', record?.id ?? '')).rejects.toThrow('Not found');
    expect(sandboxOf(env).control.tokensFor(sandboxOf(env).userId)).toEqual([]);
    const again = await disconnect(owner, false);
    expect(again).toMatchObject({ revoked: true, revocation: 'already', tokens: 'already', expunged: false });
  });
});
