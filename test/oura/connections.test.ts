/**
 * The Oura connection lifecycle over real HTTP (local stack + Oura sandbox + edge), issue 10 §7: disconnect keeping
 * the data, then erasing it (only that link's data, SampledData included, never another owner's), reconnecting
 * imports again exactly once; a refused refresh (invalid_grant) asks the owner to reconnect, a refused client
 * (invalid_client) is an operator error and leaves the connection active. Two sandbox people: the owner wears ring 0,
 * the other owner ring 1. Ground truth from the sandbox's own documents (expected.ts).
 */
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConnection } from '../../bots/shared/connection.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { buildTask } from '../../bots/shared/tasks.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { bot, connect, connections, waitForBackfill } from '../providers/helpers.ts';
import { expectedFromSandbox } from './expected.ts';
import {
  expireToken,
  identifierKeys,
  ouraObservations,
  ouraSandbox,
  projectSecret,
  quiet,
  requireConnection,
  setSecrets,
  sweep,
  taskByKey,
  tasksOf,
  tokenRecordOf,
  until,
  countByType,
} from './helpers.ts';

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let ownerPatient: WithId<Patient>;
let otherPatient: WithId<Patient>;

beforeAll(async () => {
  env = await startTestStack({
    oura: { days: 12, people: 2, rateLimit: { limit: 100_000, windowSeconds: 300 } },
  });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '14' });
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  otherPatient = (await other.getProfileAsync()) as WithId<Patient>;
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

function userOf(position: number): string {
  const user = ouraSandbox(env).users[position];
  if (!user) {
    throw new Error(`no sandbox person ${position}`);
  }
  return user.userId;
}

async function live(patient: WithId<Patient>): Promise<Observation[]> {
  return (await ouraObservations(env, patient)).filter((o) => o.status !== 'entered-in-error');
}

/** The patient's live Oura Observations are exactly what the sandbox's person implies, each once. */
async function expectExact(patient: WithId<Patient>, position: number): Promise<Observation[]> {
  const basic = await requireConnection(env, patient);
  await quiet(env, basic.id, 150_000);
  const expected = expectedFromSandbox(ouraSandbox(env), userOf(position));
  const all = await live(patient);
  const keys = identifierKeys(all);
  expect(new Set(keys).size).toBe(keys.length);
  expect(countByType(all)).toEqual(expected.byType);
  expect(all.filter((o) => o.meta?.profile?.[0] !== INTRADAY_PROFILE)).toHaveLength(expected.observations);
  expect(all.filter((o) => o.meta?.profile?.[0] === INTRADAY_PROFILE)).toHaveLength(expected.series.windows.size);
  expect(all.every((o) => o.subject?.reference === getReferenceString(patient))).toBe(true);
  expect(all.every((o) => o.device?.reference === parseConnection(basic).device?.reference)).toBe(true);
  return all;
}

async function disconnect(client: MedplumClient, erase: boolean): Promise<Record<string, unknown>> {
  return (await client.executeBot(bot('disconnect'), { provider: 'oura', erase })) as Record<string, unknown>;
}

let ownerCount = 0;
let otherSnapshot: [string | undefined, string | undefined][] = [];

describe('two owners, two rings', () => {
  test('each backfill holds exactly its ring’s data', async () => {
    await connect(owner, 'oura', 0);
    await connect(other, 'oura', 1);
    await waitForBackfill(owner, 'oura');
    await waitForBackfill(other, 'oura');
    ownerCount = (await expectExact(ownerPatient, 0)).length;
    const others = await expectExact(otherPatient, 1);
    otherSnapshot = others.map((o) => [o.id, o.meta?.versionId]);
    expect(ownerCount).toBeGreaterThan(0);
  }, 240_000);
});

describe('disconnect and reconnect', () => {
  test('disconnect keeping the data: revoked at Oura, tokens deleted, data kept; a retry reports what it finds', async () => {
    const basic = await requireConnection(env, ownerPatient);
    const first = await disconnect(owner, false);
    expect(first).toMatchObject({ revoked: true, revocation: 'revoked', tokens: 'deleted', erased: 0 });
    expect(ouraSandbox(env).control.tokensFor(userOf(0))).toHaveLength(0);
    expect(await tokenRecordOf(env, basic.id)).toBeUndefined();
    const again = await disconnect(owner, false);
    expect(again).toMatchObject({ revoked: true, revocation: 'already', tokens: 'already', erased: 0 });
    expect(await live(ownerPatient)).toHaveLength(ownerCount);
    expect((await connections(owner))[0]?.status).toBe('disconnected');
  });

  test('reconnect after keep re-imports without a single duplicate', async () => {
    const result = await connect(owner, 'oura', 0);
    expect(result.queuedWindows).toBeGreaterThan(0);
    await waitForBackfill(owner, 'oura');
    expect((await expectExact(ownerPatient, 0)).length).toBe(ownerCount);
  }, 180_000);

  test("disconnect erasing deletes exactly that link's data, SampledData and Device included, nobody else's", async () => {
    const basic = await requireConnection(env, ownerPatient);
    const device = parseConnection(basic).device?.reference ?? '';
    const series = (await live(ownerPatient)).filter((o) => o.meta?.profile?.[0] === INTRADAY_PROFILE);
    expect(series.length).toBeGreaterThan(0);
    const first = await disconnect(owner, true);
    expect(first).toMatchObject({ revocation: 'revoked', tokens: 'deleted' });
    const total = await until(
      env,
      'the erase to finish',
      async () => {
        const tasks = await tasksOf(env, basic.id, 'erase');
        if (tasks.length === 0 || tasks.some((t) => t.status !== 'completed')) {
          return undefined;
        }
        return tasks.reduce(
          (sum, t) =>
            sum + (t.output?.find((o) => o.type.coding?.some((c) => c.code === 'deleted'))?.valueInteger ?? 0),
          0
        );
      },
      150_000
    );
    expect(total).toBe(ownerCount + 1);
    expect(await ouraObservations(env, ownerPatient)).toHaveLength(0);
    for (const o of series) {
      await expect(env.adminClient.readResource('Observation', o.id ?? '')).rejects.toThrow();
    }
    await expect(env.adminClient.readResource('Device', device.split('/')[1] ?? '')).rejects.toThrow();
    // The other owner's ring data: every resource, every version, untouched.
    const others = await live(otherPatient);
    expect(others.map((o) => [o.id, o.meta?.versionId])).toEqual(otherSnapshot);
  }, 200_000);

  test('reconnect after erase imports the history again, exactly once', async () => {
    const result = await connect(owner, 'oura', 0);
    expect(result.queuedWindows).toBeGreaterThan(0);
    await waitForBackfill(owner, 'oura');
    expect((await expectExact(ownerPatient, 0)).length).toBe(ownerCount);
  }, 180_000);
});

describe('refresh refusals', () => {
  test('invalid_client: the Task names the operator error, the connection stays active', async () => {
    const basic = await expireToken(env, ownerPatient);
    await quiet(env, basic.id);
    const secret = (await projectSecret(env, 'OURA_CLIENT_SECRET')) ?? '';
    await setSecrets(env, { OURA_CLIENT_SECRET: 'not-the-client-secret' });
    try {
      const key = `oura:test-invalid-client:${Date.now()}`;
      await env.adminClient.createResource(
        buildTask({
          kind: 'sync',
          patient: { reference: getReferenceString(ownerPatient) },
          connection: { reference: `Basic/${basic.id}` },
          provider: 'oura',
          dedupeKey: key,
          window: { start: new Date(Date.now() - 86_400_000).toISOString(), end: new Date().toISOString() },
        })
      );
      const failed = await until(env, 'the Task to fail', async () => {
        const task = await taskByKey(env, key);
        return task?.status === 'failed' ? task : undefined;
      });
      expect(failed.businessStatus?.text).toBe(
        "oura rejected Baseline's client credentials (invalid_client): an operator must check the OURA_CLIENT_ID " +
          'and OURA_CLIENT_SECRET Project secrets'
      );
      expect(failed.businessStatus?.text).not.toContain('not-the-client-secret');
      expect((await connections(owner))[0]?.status).toBe('active');
    } finally {
      await setSecrets(env, { OURA_CLIENT_SECRET: secret });
    }
  }, 120_000);

  test('invalid_grant: the connection is credentials-expired and the owner is asked to reconnect', async () => {
    // The owner removes Baseline in the Oura app: every token dies, so the next refresh is refused.
    expect(ouraSandbox(env).control.tokensFor(userOf(0)).length).toBeGreaterThan(0);
    ouraSandbox(env).control.revokeUserAccess(userOf(0));
    await expireToken(env, ownerPatient);
    const result = (await sweep(env.adminClient)) as { expired: number };
    expect(result.expired).toBe(1);
    const view = (await connections(owner))[0];
    expect(view?.status).toBe('credentials-expired');
    expect(view?.lastError).toBe('oura refused the token refresh');
    // The other owner's ring is unaffected.
    expect((await connections(other))[0]?.status).toBe('active');
    await connect(owner, 'oura', 0);
    expect((await connections(owner))[0]?.status).toBe('active');
  }, 120_000);
});
