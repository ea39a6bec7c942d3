/**
 * Tokens at rest, over real HTTP against the local stack and the WHOOP sandbox (issue 6 §5, §6):
 * the tokens live in their own token-store record (never on the connection, whose history grows with every sync),
 * bound to their connection; a legacy blob on a connection is migrated; key rotation re-encrypts; disconnect deletes
 * them; and — positively — searches that DO return resources to the owner, the clinician and the webhook bot's policy
 * hold no token material (ciphertext prefix, key id, plaintext tokens), `_include` and `_history` included.
 */
import { randomBytes } from 'node:crypto';
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Basic, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TOKEN_STORE_BLOB_EXTENSION } from '../../bots/shared/connection.ts';
import { CONNECTION_EXTENSION } from '../../bots/shared/extensions.ts';
import { buildKeyring, keyringFromSecrets } from '../../bots/shared/token-crypto.ts';
import { readTokens, reencryptStaleTokens } from '../../bots/shared/tokens.ts';
import { buildTask } from '../../bots/shared/tasks.ts';
import { parseConnection } from '../../bots/shared/connection.ts';
import { clientCredentialsClient } from '../../scripts/medplum-client.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { connectionOf, projectSecrets, setSecrets, policyByKey, tokenRecordOf } from './connection-helpers.ts';
import { bot, finishConnect, startConnect, waitForBackfill } from './helpers.ts';

let env: TestStack;
let owner: MedplumClient;
let ownerPatient: WithId<Patient>;
let kid: string;

beforeAll(async () => {
  env = await startTestStack({ whoop: { days: 10 } });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '5' });
  owner = await env.signIn('owner');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  kid = (await projectSecrets(env)).BASELINE_TOKEN_KEY_ID?.valueString ?? '';
  await finishConnect(owner, await startConnect(owner));
  await waitForBackfill(owner);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

function sandboxTokens(): string[] {
  const sandbox = env.whoop?.sandbox;
  return sandbox ? sandbox.control.tokensFor(sandbox.userId).flatMap((t) => [t.accessToken, t.refreshToken ?? '']) : [];
}

/** Every marker of token material: both blob formats with this key id, the key id alone, and the live tokens. */
function expectNoTokenMaterial(value: unknown): void {
  const text = JSON.stringify(value);
  expect(text).not.toMatch(/v[12]\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\./);
  expect(text).not.toContain(`v2.${kid}.`);
  expect(text).not.toContain(`v1.${kid}.`);
  expect(text).not.toContain(TOKEN_STORE_BLOB_EXTENSION);
  for (const token of sandboxTokens().filter(Boolean)) {
    expect(text).not.toContain(token);
  }
}

async function connection(): Promise<WithId<Basic>> {
  const found = await connectionOf(env, ownerPatient);
  if (!found) {
    throw new Error('no connection');
  }
  return found;
}

describe('where the tokens are', () => {
  test('the connection and its whole history hold no token; the token store holds one bound v2 blob', async () => {
    const basic = await connection();
    const history = await env.adminClient.readHistory('Basic', basic.id);
    expect(history.entry?.length ?? 0).toBeGreaterThan(1);
    expectNoTokenMaterial(history);
    const record = await tokenRecordOf(env, basic.id);
    const blob = record?.extension?.find((e) => e.url === TOKEN_STORE_BLOB_EXTENSION)?.valueString ?? '';
    expect(blob.startsWith(`v2.${kid}.`)).toBe(true);
    expect(record?.subject).toBeUndefined();
    for (const token of sandboxTokens()) {
      expect(JSON.stringify(record)).not.toContain(token);
    }
    // Bound: the same blob does not decrypt for another connection id.
    const keyring = keyringFromSecrets(await projectSecrets(env));
    const parsed = parseConnection(basic);
    await expect(readTokens(env.adminClient, parsed, keyring)).resolves.toMatchObject({ tokens: {} });
    await expect(readTokens(env.adminClient, { ...parsed, id: 'another-connection' }, keyring)).rejects.toThrow();
  });

  test('a legacy v1 blob on the connection is moved to the token store on first touch, and syncing still works', async () => {
    const basic = await connection();
    const record = await tokenRecordOf(env, basic.id);
    if (!record) {
      throw new Error('no token record');
    }
    const secrets = await projectSecrets(env);
    const keyring = keyringFromSecrets(secrets);
    const { tokens } = await readTokens(env.adminClient, parseConnection(basic), keyring);
    // Recreate the pre-store layout: a v1 blob on the connection, no token-store record.
    const { createCipheriv } = await import('node:crypto');
    const key = keyring.keys.get(keyring.currentKid) ?? Buffer.alloc(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    cipher.setAAD(Buffer.from(`v1.${keyring.currentKid}`, 'utf8'));
    const ct = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
    const legacy = [
      'v1',
      keyring.currentKid,
      iv.toString('base64url'),
      ct.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.');
    await env.adminClient.deleteResource('Basic', record.id);
    await env.adminClient.updateResource({
      ...basic,
      extension: [...(basic.extension ?? []), { url: CONNECTION_EXTENSION.tokens, valueString: legacy }],
    });
    const result = await reencryptStaleTokens(env.adminClient, secrets, 10);
    expect(result).toMatchObject({ migrated: 1, failed: 0 });
    const moved = await connection();
    expect(moved.extension?.some((e) => e.url === CONNECTION_EXTENSION.tokens)).toBe(false);
    expect((await readTokens(env.adminClient, parseConnection(moved), keyring)).tokens).toEqual(tokens);
    // The sync bot reads the moved tokens.
    const view = await owner.executeBot(bot('connections'), {});
    expect(JSON.stringify(view)).toContain('"status":"active"');
  });

  test('key rotation: reencryptStaleTokens re-encrypts under the new key, the old key can then be dropped', async () => {
    const basic = await connection();
    const secrets = await projectSecrets(env);
    const newKey = randomBytes(32).toString('base64');
    const rotated = {
      ...secrets,
      BASELINE_TOKEN_KEY: { name: 'BASELINE_TOKEN_KEY', valueString: newKey },
      BASELINE_TOKEN_KEY_ID: { name: 'BASELINE_TOKEN_KEY_ID', valueString: 'rotated2' },
      BASELINE_TOKEN_PREVIOUS_KEYS: {
        name: 'BASELINE_TOKEN_PREVIOUS_KEYS',
        valueString: JSON.stringify({ [kid]: secrets.BASELINE_TOKEN_KEY?.valueString }),
      },
    };
    expect(await reencryptStaleTokens(env.adminClient, rotated, 10)).toMatchObject({ reencrypted: 1, failed: 0 });
    expect(await reencryptStaleTokens(env.adminClient, rotated, 10)).toMatchObject({ reencrypted: 0 });
    const record = await tokenRecordOf(env, basic.id);
    const blob = record?.extension?.find((e) => e.url === TOKEN_STORE_BLOB_EXTENSION)?.valueString ?? '';
    expect(blob.startsWith('v2.rotated2.')).toBe(true);
    const onlyNew = buildKeyring('rotated2', newKey);
    await expect(readTokens(env.adminClient, parseConnection(basic), onlyNew)).resolves.toBeDefined();
    // Back to the project's key for the rest of the file.
    await reencryptStaleTokens(
      env.adminClient,
      {
        ...secrets,
        BASELINE_TOKEN_PREVIOUS_KEYS: {
          name: 'BASELINE_TOKEN_PREVIOUS_KEYS',
          valueString: JSON.stringify({ rotated2: newKey }),
        },
      },
      10
    );
  });
});

describe('no token readable through FHIR (positive: the searches return resources)', () => {
  test('the owner: Tasks, Devices, Observations with _include, _history, _elements, AuditEvents', async () => {
    const tasks = await owner.search('Task', { _count: '100', _include: 'Task:focus' });
    expect(tasks.entry?.length ?? 0).toBeGreaterThan(0);
    // _include works for this owner (it brings the Device of an Observation) …
    const withDevice = await owner.search('Observation', { _count: '5', _include: 'Observation:device' });
    expect(
      withDevice.entry?.some((e) => (e.resource as { resourceType?: string } | undefined)?.resourceType === 'Device')
    ).toBe(true);
    // … and brings no connection or token record from a Task's focus.
    expect(
      tasks.entry?.some((e) => (e.resource as { resourceType?: string } | undefined)?.resourceType === 'Basic')
    ).toBe(false);
    expectNoTokenMaterial(tasks);
    const observation = withDevice.entry?.find((e) => e.resource?.resourceType === 'Observation')?.resource;
    const history = await owner.readHistory('Observation', observation?.id ?? '');
    expect(history.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(history);
    const elements = await owner.search('Task', { _elements: 'input,output,extension,focus', _count: '100' });
    expect(elements.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(elements);
    // Reaching for Basic by _revinclude is refused outright (or, on a server that filters instead, brings none).
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
    const own = await owner.search('Patient', {
      _id: ownerPatient.id,
      _revinclude: 'Observation:subject',
      _count: '20',
    });
    expect(own.entry?.length ?? 0).toBeGreaterThan(1);
    expectNoTokenMaterial(own);
    const audit = await owner.search('AuditEvent', { _count: '100' });
    expect(audit.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(audit);
    const view = await owner.executeBot(bot('connections'), {});
    expect(JSON.stringify(view)).toContain('"provider":"whoop"');
    expectNoTokenMaterial(view);
  });

  test('the clinician: what it can read holds no token, and Basic is refused', async () => {
    const clinician = await env.signIn('clinician');
    const own = await clinician.search('Practitioner', {});
    expect(own.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(own);
    await expect(clinician.searchResources('Basic', {})).rejects.toThrow('Forbidden');
  });

  test("the webhook bot's policy: it finds the connection, holds no token, and cannot reach the token store", async () => {
    // A client holding exactly the deployed whoop-webhook bot's policy.
    const policy = await policyByKey(env.adminClient, 'bot-whoop-webhook');
    const created = (await env.adminClient.post(`admin/projects/${env.projectId}/client`, {
      name: 'webhook-policy-probe',
      accessPolicy: { reference: getReferenceString(policy) },
    })) as { id: string; secret: string };
    const probe = await clientCredentialsClient(env.baseUrl, created.id, created.secret);
    const found = await probe.search('Basic', {
      code: 'https://baseline.health/fhir/CodeSystem/basic-resource-type|wearable-connection',
    });
    expect(found.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(found);
    // The webhook bot's Tasks are sync Tasks only (the one it would queue): a finished one to look at.
    const basicForTask = await connection();
    const synced = parseConnection(basicForTask);
    await env.adminClient.createResource({
      ...buildTask({
        kind: 'sync',
        patient: synced.patient,
        connection: { reference: `Basic/${basicForTask.id}` },
        provider: 'whoop',
        dedupeKey: `whoop:trace:probe-${randomBytes(4).toString('hex')}`,
        recordType: 'workout',
        recordId: 'probe',
        eventType: 'workout.updated',
      }),
      status: 'completed',
    });
    const tasks = await probe.search('Task', { _count: '100', _include: 'Task:focus' });
    expect(tasks.entry?.length ?? 0).toBeGreaterThan(0);
    expectNoTokenMaterial(tasks);
    // …and nothing else: no backfill, erase or recompute work is visible to (or creatable by) a public endpoint.
    const kinds = new Set(
      (tasks.entry ?? [])
        .flatMap((e) => (e.resource?.resourceType === 'Task' ? (e.resource.code?.coding ?? []) : []))
        .map((c) => c.code)
    );
    expect([...kinds]).toEqual(['sync']);
    const store = await probe
      .search('Basic', { code: 'https://baseline.health/fhir/CodeSystem/basic-resource-type|wearable-tokens' })
      .catch(() => undefined);
    expect(store?.entry ?? []).toHaveLength(0);
    const basic = await connection();
    await expect(probe.readHistory('Basic', basic.id)).rejects.toThrow();
  });
});

describe('disconnect removes the tokens, history included', () => {
  test('nobody but a bot can run token-expunge, and it expunges nothing but token-store records', async () => {
    const basic = await connection();
    const record = await tokenRecordOf(env, basic.id);
    // The owner's policy has no read on the bot, which is what $execute checks.
    await expect(owner.executeBot(bot('token-expunge'), { tokenRecordId: record?.id ?? '' })).rejects.toThrow();
    // The project admin can read every Bot, but is not a Bot.
    await expect(
      env.adminClient.executeBot(bot('token-expunge'), { tokenRecordId: record?.id ?? '' }, 'application/json')
    ).rejects.toThrow('Only Baseline bots can expunge token records');
    expect(await tokenRecordOf(env, basic.id)).toBeDefined();
  });

  test('the token record and every earlier version are gone; a retry reports what it finds', async () => {
    const basic = await connection();
    const record = await tokenRecordOf(env, basic.id);
    expect(record).toBeDefined();
    // The token store has versions to lose: connect wrote one, and a refresh writes another.
    const before = await env.adminClient.readHistory('Basic', record?.id ?? '');
    expect(before.entry?.length ?? 0).toBeGreaterThanOrEqual(1);
    const first = (await owner.executeBot(bot('disconnect'), { provider: 'whoop', erase: false })) as Record<
      string,
      unknown
    >;
    expect(first).toMatchObject({ revoked: true, revocation: 'revoked', tokens: 'deleted', expunged: true });
    expect(await tokenRecordOf(env, basic.id)).toBeUndefined();
    // Expunged, not deleted: even the project admin finds no version (a deleted record would still list them).
    await expect(env.adminClient.readHistory('Basic', record?.id ?? '')).rejects.toThrow('Not found');
    await expect(env.adminClient.readResource('Basic', record?.id ?? '')).rejects.toThrow('Not found');
    expectNoTokenMaterial(await connection());
    const again = (await owner.executeBot(bot('disconnect'), { provider: 'whoop', erase: false })) as Record<
      string,
      unknown
    >;
    expect(again).toMatchObject({
      revoked: true,
      revocation: 'already',
      tokens: 'already',
      expunged: false,
      erased: 0,
    });
  });
});
