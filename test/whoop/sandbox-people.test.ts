/**
 * Both demo patients connect WHOOP, each as their own synthetic WHOOP person (the sandbox's people for the demo,
 * scripts/seed.ts DEMO_WHOOP_PEOPLE, picked on the consent page by the patient's email as a person would pick their
 * own name). With one shared person the second connect relinked the owner's account away from them; here both
 * links stay active, each patient holds only their own person's data, and webhooks reach the right owner.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseConnection } from '../../bots/shared/connection.ts';
import type { Connection } from '../../bots/shared/connection.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../../bots/shared/extensions.ts';
import { DEMO_LOGINS, DEMO_WHOOP_PEOPLE } from '../../scripts/seed.ts';
import type { WhoopWorkout } from '../../scripts/sandboxes/whoop/data.ts';
import type { SandboxUser, WhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { connectionOf, observationsOf, setSecrets, until } from './connection-helpers.ts';
import { finishConnect, REDIRECT_URI, settle, waitForBackfill } from './helpers.ts';
import { startConnect } from '../../scripts/sandboxes/connect-flow.ts';

type Who = 'owner' | 'other';

let env: TestStack;
const clients = {} as Record<Who, MedplumClient>;
const patients = {} as Record<Who, WithId<Patient>>;

function sandbox(): WhoopSandbox {
  const current = env.whoop?.sandbox;
  if (!current) {
    throw new Error('no sandbox');
  }
  return current;
}

/** The synthetic person a demo patient finds on the consent page: the one with their email. */
function personOf(who: Who): SandboxUser {
  const person = sandbox().users.find((user) => user.email === DEMO_LOGINS[who].email);
  if (!person) {
    throw new Error(`the sandbox has no person for ${who}`);
  }
  return person;
}

async function connectionFor(who: Who): Promise<Connection> {
  const basic = await connectionOf(env, patients[who]);
  if (!basic) {
    throw new Error(`no connection for ${who}`);
  }
  return parseConnection(basic);
}

function recordKeys(observations: Observation[]): string[] {
  return observations.flatMap((o) => o.identifier?.map((i) => i.value ?? '') ?? []);
}

beforeAll(async () => {
  env = await startTestStack({ whoop: { days: 8, people: DEMO_WHOOP_PEOPLE } });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '4' });
  for (const who of ['owner', 'other'] as const) {
    clients[who] = await env.signIn(who);
    patients[who] = (await clients[who].getProfileAsync()) as WithId<Patient>;
  }
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

test('the demo has one WHOOP person per demo patient, named like them, with different data', () => {
  expect(sandbox().users.map((u) => `${u.firstName} ${u.lastName} (${u.email})`)).toEqual([
    'Alex Rivera (owner@baseline.local)',
    'Sam Okafor (other@baseline.local)',
  ]);
  expect(personOf('owner').userId).toBe(sandbox().userId);
  expect(personOf('other').userId).not.toBe(personOf('owner').userId);
  const hrv = (userId: number): unknown[] =>
    sandbox()
      .control.records('recovery', { userId })
      .map((r) => r.score);
  expect(hrv(personOf('other').userId)).not.toEqual(hrv(personOf('owner').userId));
});

test('both patients connect, each as their own WHOOP person; both links stay active', async () => {
  for (const who of ['owner', 'other'] as const) {
    const pending = await startConnect(clients[who], REDIRECT_URI, personOf(who).userId);
    const { connection } = await finishConnect(clients[who], pending);
    expect(connection.status).toBe('active');
  }
  for (const who of ['owner', 'other'] as const) {
    await waitForBackfill(clients[who]);
  }
  await settle(env);
  for (const who of ['owner', 'other'] as const) {
    const connection = await connectionFor(who);
    expect(connection).toMatchObject({ status: 'active', providerUserId: String(personOf(who).userId) });
    expect(connection.lastError).toBeUndefined();
  }
});

test("each patient holds their own person's data and none of the other's", async () => {
  const keys = {} as Record<Who, string[]>;
  for (const who of ['owner', 'other'] as const) {
    const observations = await observationsOf(env, patients[who]);
    expect(observations.length).toBeGreaterThan(20);
    keys[who] = recordKeys(observations);
  }
  for (const [who, otherWho] of [
    ['owner', 'other'],
    ['other', 'owner'],
  ] as const) {
    const mine = `:${personOf(who).userId}:`;
    const theirs = `:${personOf(otherWho).userId}:`;
    const recordScoped = keys[who].filter((key) => key.includes(':'));
    expect(recordScoped.length).toBeGreaterThan(0);
    expect(recordScoped.every((key) => key.includes(mine))).toBe(true);
    expect(keys[who].some((key) => key.includes(theirs))).toBe(false);
  }
});

test("a webhook about the second person's record is synced into the second patient's connection", async () => {
  const other = personOf('other').userId;
  // A workout: its event comes alone (a sleep's comes with its recovery's, two syncs of one record at once).
  const workout = (sandbox().control.records('workout', { userId: other }) as WhoopWorkout[])[0];
  const result = await sandbox().control.rescore('workout', workout?.id ?? '');
  const event = result.dispatches.find((d) => d.event.type === 'workout.updated');
  expect(event?.event.userId).toBe(other);
  expect(event?.outcomes).toEqual([expect.objectContaining({ delivered: true })]);
  const task = await until(env, 'the webhook sync to complete', async () => {
    const [found] = await env.adminClient.searchResources(
      'Task',
      { identifier: `${TASK_IDENTIFIER_SYSTEM}|whoop:trace:${event?.traceId ?? ''}` },
      { cache: 'no-cache' }
    );
    return found?.status === 'completed' || found?.status === 'failed' ? found : undefined;
  });
  expect(`${task.status} ${task.statusReason?.text ?? ''} ${task.businessStatus?.text ?? ''}`.trim()).toBe('completed');
  expect(task.focus?.reference).toBe(`Basic/${(await connectionFor('other')).id ?? ''}`);
  expect(task.for?.reference).toBe(`Patient/${patients.other.id}`);
});
