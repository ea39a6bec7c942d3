/**
 * The connection lifecycle over real HTTP (local stack + WHOOP sandbox), issue 6 §5 and the token parts of §6:
 * the redirect URI is pinned; reconnecting after a disconnect (keep or erase) imports the history again exactly
 * once; erase runs as a paced work item with progress; disconnect says what it did, also when retried; relinking a
 * WHOOP account to another owner leaves the first owner's data theirs and out of the second owner's erase; webhooks
 * reach only the active connection; only `invalid_grant` asks the owner to reconnect.
 * The tests run in order on one stack; ground truth comes from the sandbox's own records (expectedIdentifiers).
 */
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Basic, Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConnection } from '../../bots/shared/connection.ts';
import { CONNECTION_EXTENSION } from '../../bots/shared/extensions.ts';
import { buildTask, readTaskInput } from '../../bots/shared/tasks.ts';
import { runErase } from '../../bots/connect/erase.ts';
import { clientCredentialsClient } from '../../scripts/medplum-client.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../../bots/shared/extensions.ts';
import { WHOOP_CALLBACK_PATH } from '../../scripts/sandboxes/wire.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import {
  connectionOf,
  observationsOf,
  output,
  projectSecrets,
  setSecrets,
  tasksOf,
  tokenRecordOf,
  until,
} from './connection-helpers.ts';
import { expectedWhoopObservations } from './expected.ts';
import type { WhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';
import { bot, connections, finishConnect, REDIRECT_URI, settle, startConnect, waitForBackfill } from './helpers.ts';

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let ownerPatient: WithId<Patient>;
let otherPatient: WithId<Patient>;
/** Ground truth from the sandbox for the owner: identifiers the backfill must write. */
let expectedCount = 0;

beforeAll(async () => {
  env = await startTestStack({ whoop: { days: 12 } });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '6', BASELINE_APP_URLS: 'http://127.0.0.1:3000' });
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  otherPatient = (await other.getProfileAsync()) as WithId<Patient>;
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

function identifiers(observations: Observation[]): string[] {
  return observations.map((o) => `${o.identifier?.[0]?.system}|${o.identifier?.[0]?.value}`);
}

async function live(patient: WithId<Patient>): Promise<Observation[]> {
  return (await observationsOf(env, patient)).filter((o) => o.status !== 'entered-in-error');
}

async function connectionFor(patient: Patient): Promise<WithId<Basic>> {
  const found = await connectionOf(env, patient);
  if (!found) {
    throw new Error(`no connection for ${getReferenceString(patient)}`);
  }
  return found;
}

async function disconnect(client: MedplumClient, erase: boolean): Promise<Record<string, unknown>> {
  return (await client.executeBot(bot('disconnect'), { provider: 'whoop', erase })) as Record<string, unknown>;
}

/** Waits until the connection's erase chain has finished, then returns what it deleted in total. */
async function erased(connectionId: string): Promise<number> {
  const describeTasks = async (): Promise<string> =>
    JSON.stringify(
      (await tasksOf(env, connectionId, 'erase')).map((t) => [
        t.status,
        t.businessStatus?.text,
        t.identifier?.[0]?.value,
      ])
    );
  return until(
    env,
    'the erase to finish',
    async () => {
      const tasks = await tasksOf(env, connectionId, 'erase');
      if (tasks.length === 0 || tasks.some((t) => t.status !== 'completed')) {
        return undefined;
      }
      return tasks.reduce((sum, t) => sum + output(t, 'deleted'), 0);
    },
    120_000,
    describeTasks
  );
}

/**
 * The patient's live Observations are exactly what the sandbox's records call for over the current link's backfill
 * range (counted from the sandbox, not the mappers), each once; body measurements are write-once by value.
 * @returns how many live Observations the patient has
 */
async function expectExactlyTheSandboxRecords(patient: WithId<Patient>): Promise<number> {
  const basic = await connectionFor(patient);
  const linkId = parseConnection(basic).linkId ?? '';
  const linkTasks = (await tasksOf(env, basic.id, 'backfill')).filter((t) =>
    t.identifier?.some((i) => i.value?.includes(linkId))
  );
  const expected = await expectedWhoopObservations(env.whoop as { sandbox: WhoopSandbox }, linkTasks);
  const all = await live(patient);
  const got = identifiers(all);
  expect(new Set(got).size).toBe(got.length);
  const body = got.filter((i) => i.includes('/whoop/body|'));
  expect(body.length).toBeLessThanOrEqual(2);
  expect(got.length - body.length).toBe(expected.observations);
  expect(all.every((o) => o.subject?.reference === getReferenceString(patient))).toBe(true);
  return all.length;
}

describe('the redirect URI is pinned server-side', () => {
  test('connect-start refuses a redirect URI outside BASELINE_APP_URLS', async () => {
    await expect(
      owner.executeBot(bot('connect-start'), {
        provider: 'whoop',
        redirectUri: 'https://attacker.example' + WHOOP_CALLBACK_PATH,
      })
    ).rejects.toThrow('Redirect URI is not allowed');
  });

  test('connect-callback refuses it too, before touching the state', async () => {
    const pending = await startConnect(owner);
    await expect(
      owner.executeBot(bot('connect-callback'), {
        provider: 'whoop',
        redirectUri: 'http://127.0.0.1:3000/elsewhere',
        ...pending,
      })
    ).rejects.toThrow('Redirect URI is not allowed');
    // The state was not burnt: the genuine callback still works.
    const result = await finishConnect(owner, pending);
    expect(result.connection.status).toBe('active');
    expect(REDIRECT_URI).toBe('http://127.0.0.1:3000' + WHOOP_CALLBACK_PATH);
  });
});

describe('reconnect imports again, exactly once', () => {
  test('the first backfill has exactly what WHOOP has', async () => {
    await waitForBackfill(owner);
    await settle(env);
    expectedCount = await expectExactlyTheSandboxRecords(ownerPatient);
    expect(expectedCount).toBeGreaterThan(0);
  });

  test('disconnect keeping the data, then a retried disconnect reports what it finds', async () => {
    const first = await disconnect(owner, false);
    expect(first).toMatchObject({ revoked: true, revocation: 'revoked', tokens: 'deleted', erased: 0 });
    expect(first.erase).toBeUndefined();
    // Revoked at WHOOP: the sandbox holds no live grant for the account any more.
    const sandbox = env.whoop?.sandbox;
    expect(sandbox?.control.tokensFor(sandbox.userId)).toHaveLength(0);
    expect((await connectionFor(ownerPatient)).extension?.some((e) => e.url === CONNECTION_EXTENSION.tokens)).toBe(
      false
    );
    const again = await disconnect(owner, false);
    expect(again).toMatchObject({ revoked: true, revocation: 'already', tokens: 'already', erased: 0 });
    expect((await live(ownerPatient)).length).toBe(expectedCount);
  });

  test('reconnect after keep queues fresh windows and re-imports without duplicates', async () => {
    const result = await finishConnect(owner, await startConnect(owner));
    expect(result.queuedWindows).toBeGreaterThan(0);
    const view = await waitForBackfill(owner);
    expect(view.backfill.total).toBe(result.queuedWindows);
    await settle(env);
    const basic = await connectionFor(ownerPatient);
    const linkId = parseConnection(basic).linkId ?? '';
    const linkTasks = (await tasksOf(env, basic.id, 'backfill')).filter((t) =>
      t.identifier?.some((i) => i.value?.includes(linkId))
    );
    expect(linkTasks.every((t) => t.status === 'completed')).toBe(true);
    const seen = linkTasks.reduce(
      (sum, t) => sum + output(t, 'created') + output(t, 'updated') + output(t, 'unchanged'),
      0
    );
    expect(seen).toBeGreaterThanOrEqual(expectedCount);
    await expectExactlyTheSandboxRecords(ownerPatient);
  });

  test('disconnect erasing queues a paced erase that deletes everything of that Device and patient', async () => {
    const basic = await connectionFor(ownerPatient);
    const device = parseConnection(basic).device?.reference ?? '';
    const first = await disconnect(owner, true);
    expect(first).toMatchObject({ revocation: 'revoked', tokens: 'deleted', erase: { deleted: 0 } });
    const total = await erased(basic.id);
    expect(total).toBe(expectedCount + 1);
    expect(await live(ownerPatient)).toHaveLength(0);
    expect((await connections(owner))[0]?.erase).toEqual({ status: 'completed', deleted: expectedCount + 1 });
    await expect(env.adminClient.readResource('Device', device.split('/')[1] ?? '')).rejects.toThrow();
    const again = await disconnect(owner, true);
    expect(again).toMatchObject({
      revocation: 'already',
      tokens: 'already',
      erased: expectedCount + 1,
      erase: { status: 'completed' },
    });
  }, 150_000);

  test('reconnect after erase imports the history again, exactly once', async () => {
    const result = await finishConnect(owner, await startConnect(owner));
    expect(result.queuedWindows).toBeGreaterThan(0);
    await waitForBackfill(owner);
    await settle(env);
    await expectExactlyTheSandboxRecords(ownerPatient);
  });
});

describe('relinking one WHOOP account to another owner', () => {
  test("the new link wins; the first owner's connection is disconnected with a reason and its tokens deleted", async () => {
    const first = await connectionFor(ownerPatient);
    await finishConnect(other, await startConnect(other));
    const old = parseConnection(await connectionFor(ownerPatient));
    expect(old.status).toBe('disconnected');
    expect(old.lastError).toBe('This WHOOP account was linked to another Baseline user');
    expect(await tokenRecordOf(env, first.id)).toBeUndefined();
    expect((await connections(owner))[0]?.status).toBe('disconnected');
    await waitForBackfill(other);
    await settle(env);
  });

  test("each owner has their own copy; the first owner's data stays theirs", async () => {
    expect((await live(ownerPatient)).length).toBe(expectedCount);
    expect(await expectExactlyTheSandboxRecords(otherPatient)).toBe(expectedCount);
    const ownerDevices = new Set((await live(ownerPatient)).map((o) => o.device?.reference));
    const otherDevices = new Set((await live(otherPatient)).map((o) => o.device?.reference));
    expect([...ownerDevices].some((d) => otherDevices.has(d))).toBe(false);
  });

  test('a webhook reaches only the active connection', async () => {
    const sandbox = env.whoop?.sandbox;
    const workout = sandbox?.control.records('workout').find((w) => w.score_state === 'SCORED') as
      { id: string } | undefined;
    if (!sandbox || !workout) {
      throw new Error('no workout');
    }
    const traceId = `relink-${Date.now()}`;
    await sandbox.control.sendWebhook({ type: 'workout.updated', id: String(workout.id) }, { traceId });
    const task = await until(
      env,
      'the webhook Task',
      async () =>
        (
          await env.adminClient.searchResources('Task', {
            identifier: `${TASK_IDENTIFIER_SYSTEM}|whoop:trace:${traceId}`,
          })
        )[0]
    );
    expect(task.focus?.reference).toBe(`Basic/${(await connectionFor(otherPatient)).id}`);
  });

  test("the second owner's erase leaves the first owner's data and Device alone", async () => {
    const before = await live(ownerPatient);
    const basic = await connectionFor(otherPatient);
    await disconnect(other, true);
    await erased(basic.id);
    expect(await live(otherPatient)).toHaveLength(0);
    const after = await live(ownerPatient);
    expect(after.length).toBe(before.length);
    const device = after[0]?.device?.reference?.split('/')[1] ?? '';
    await expect(env.adminClient.readResource('Device', device)).resolves.toMatchObject({
      patient: { reference: getReferenceString(ownerPatient) },
    });
  }, 150_000);
});

describe('only invalid_grant asks the owner to reconnect', () => {
  async function expireToken(): Promise<WithId<Basic>> {
    const basic = await connectionFor(ownerPatient);
    return env.adminClient.updateResource({
      ...basic,
      extension: basic.extension?.map((e) =>
        e.url === CONNECTION_EXTENSION.tokenExpiresAt
          ? { ...e, valueDateTime: new Date(Date.now() - 1000).toISOString() }
          : e
      ),
    });
  }

  test('invalid_client: the connection stays active and the Task says an operator must fix the client secret', async () => {
    await finishConnect(owner, await startConnect(owner));
    await waitForBackfill(owner);
    await settle(env);
    const secret = (await projectSecrets(env)).WHOOP_CLIENT_SECRET?.valueString ?? '';
    await setSecrets(env, { WHOOP_CLIENT_SECRET: 'not-the-client-secret' });
    try {
      const basic = await expireToken();
      const key = `whoop:test-invalid-client:${Date.now()}`;
      await env.adminClient.createResource(
        buildTask({
          kind: 'sync',
          patient: { reference: getReferenceString(ownerPatient) },
          connection: { reference: `Basic/${basic.id}` },
          provider: 'whoop',
          dedupeKey: key,
          window: { start: new Date(Date.now() - 86_400_000).toISOString(), end: new Date().toISOString() },
        })
      );
      const failed = await until(env, 'the Task to fail', async () => {
        const [task] = await env.adminClient.searchResources('Task', {
          identifier: `${TASK_IDENTIFIER_SYSTEM}|${key}`,
        });
        return task?.status === 'failed' ? task : undefined;
      });
      expect(failed.businessStatus?.text).toContain("rejected Baseline's client credentials (invalid_client)");
      expect(failed.businessStatus?.text).not.toContain('not-the-client-secret');
      const view = (await connections(owner))[0];
      expect(view?.status).toBe('active');
    } finally {
      await setSecrets(env, { WHOOP_CLIENT_SECRET: secret });
    }
  }, 120_000);

  test('invalid_grant: the connection is credentials-expired and the owner is asked to reconnect', async () => {
    const sandbox = env.whoop?.sandbox;
    // The owner revokes Baseline in WHOOP's app (no API rate limit involved).
    expect(sandbox?.control.tokensFor(sandbox.userId).length).toBeGreaterThan(0);
    sandbox?.control.revokeUserAccess(sandbox.userId);
    expect(sandbox?.control.tokensFor(sandbox.userId)).toEqual([]);
    await expireToken();
    await env.adminClient.executeBot(bot('sweeper'), {});
    const view = (await connections(owner))[0];
    expect(view?.status).toBe('credentials-expired');
    expect(view?.lastError).toBe('whoop refused the token refresh');
    await finishConnect(owner, await startConnect(owner));
    expect((await connections(owner))[0]?.status).toBe('active');
  });
});

describe('erase lives within the FHIR quota', () => {
  test('with a small quota it deletes what the budget allows, waits for the reset, and finishes', async () => {
    await waitForBackfill(owner);
    await settle(env);
    const basic = await connectionFor(ownerPatient);
    const count = (await observationsOf(env, ownerPatient)).length;
    expect(count).toBeGreaterThan(0);
    const input = readTaskInput(
      buildTask({
        kind: 'erase',
        patient: { reference: getReferenceString(ownerPatient) },
        connection: { reference: `Basic/${basic.id}` },
        provider: 'whoop',
        dedupeKey: `whoop:erase:${basic.id}:paced-test:0`,
      })
    );
    // 5,000 points a minute: about 45 deletes, so this erase needs at least one reset.
    await env.stack.setFhirQuota({ user: 5_000 });
    const started = Date.now();
    try {
      const eraser = await clientCredentialsClient(env.baseUrl, env.admin.clientId, env.admin.clientSecret);
      const result = await runErase(eraser, input, { reservePoints: 0, runMs: 150_000 });
      expect(result.deleted).toBe(count + 1);
    } finally {
      await env.stack.setFhirQuota({});
    }
    expect(Date.now() - started).toBeGreaterThan(1_000);
    expect(await observationsOf(env, ownerPatient)).toHaveLength(0);
  }, 200_000);
});
