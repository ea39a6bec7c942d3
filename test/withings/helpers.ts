/**
 * Helpers for the Withings end-to-end tests (test/withings/*.test.ts): the owner's connection and Tasks as the
 * project admin sees them, polling with spaced FHIR searches, the sandbox's own call counters, and Task creation for
 * window syncs that do not go through the webhook's hint budget.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Basic, Observation, Patient, Task } from '@medplum/fhirtypes';
import { CONNECTION_CODE_TOKEN, TOKEN_STORE_IDENTIFIER_SYSTEM } from '../../bots/shared/connection.ts';
import {
  CONNECTION_EXTENSION,
  TASK_IDENTIFIER_SYSTEM,
  TASK_OUTPUT_SYSTEM,
  TASK_TYPE_SYSTEM,
} from '../../bots/shared/extensions.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { buildTask } from '../../bots/shared/tasks.ts';
import { mergeProjectSecrets } from '../../scripts/sandboxes/project-secrets.ts';
import type { WithingsSandbox } from '../../scripts/sandboxes/withings/server.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack, TestStackOptions } from '../harness/stack.ts';
import { allObservations, bot, settle } from '../providers/helpers.ts';

export const OPEN_TASK = new Set(['draft', 'requested', 'in-progress', 'on-hold', 'ready', 'received', 'accepted']);
const POLL_MS = 300;

/**
 * startTestStack with a Withings sandbox. The harness starts the edge with the Oura sandbox's verification token or
 * the literal 'unused', which the edge refuses (its pattern wants ≥ 16 characters): until test/harness/stack.ts
 * passes a valid placeholder, a one-day Oura sandbox is started alongside so the edge gets a real token. Nothing in
 * these tests connects Oura.
 */
export async function startWithingsStack(options: TestStackOptions): Promise<TestStack> {
  return startTestStack({ oura: { days: 1 }, ...options });
}

export function sandboxOf(env: TestStack): WithingsSandbox {
  if (!env.withings) {
    throw new Error('the stack has no Withings sandbox');
  }
  return env.withings.sandbox;
}

export async function setSecrets(env: TestStack, values: Record<string, string>): Promise<void> {
  await mergeProjectSecrets(env.adminClient, env.projectId, values);
}

export async function projectSecret(env: TestStack, name: string): Promise<string | undefined> {
  const project = await env.adminClient.readResource('Project', env.projectId, { cache: 'no-cache' });
  return project.secret?.find((s) => s.name === name)?.valueString;
}

/** The patient's Withings connection (each patient has at most one per provider). */
export async function withingsConnection(env: TestStack, patient: Patient): Promise<WithId<Basic>> {
  const all = await env.adminClient.searchResources(
    'Basic',
    { subject: getReferenceString(patient), code: CONNECTION_CODE_TOKEN },
    { cache: 'no-cache' }
  );
  const found = all.find((b) =>
    b.extension?.some((e) => e.url === CONNECTION_EXTENSION.provider && e.valueCode === 'withings')
  );
  if (!found) {
    throw new Error(`no Withings connection for ${getReferenceString(patient)}`);
  }
  return found;
}

export async function tokenRecordOf(env: TestStack, connectionId: string): Promise<WithId<Basic> | undefined> {
  return env.adminClient.searchOne(
    'Basic',
    { identifier: `${TOKEN_STORE_IDENTIFIER_SYSTEM}|${connectionId}` },
    { cache: 'no-cache' }
  );
}

export async function tasksOf(env: TestStack, connectionId: string, kind?: string): Promise<WithId<Task>[]> {
  const query: Record<string, string> = { focus: `Basic/${connectionId}`, _count: '1000' };
  if (kind) {
    query.code = `${TASK_TYPE_SYSTEM}|${kind}`;
  }
  return env.adminClient.searchResources('Task', query, { cache: 'no-cache' });
}

export async function taskByKey(env: TestStack, key: string): Promise<WithId<Task> | undefined> {
  return (
    await env.adminClient.searchResources(
      'Task',
      { identifier: `${TASK_IDENTIFIER_SYSTEM}|${key}` },
      { cache: 'no-cache' }
    )
  )[0];
}

export function output(task: Task, code: string): number {
  return (
    task.output?.find((o) => o.type.coding?.some((c) => c.system === TASK_OUTPUT_SYSTEM && c.code === code))
      ?.valueInteger ?? 0
  );
}

/** What the sync bot wrote for the patient: the wearable profile (single values) and the intraday profile (series). */
export async function wearableObservations(env: TestStack, patient: WithId<Patient>): Promise<Observation[]> {
  return allObservations(env.adminClient, { subject: `Patient/${patient.id}`, _profile: WEARABLE_PROFILE });
}

export async function seriesObservations(env: TestStack, patient: WithId<Patient>): Promise<Observation[]> {
  return allObservations(env.adminClient, { subject: `Patient/${patient.id}`, _profile: INTRADAY_PROFILE });
}

/** Every Withings Observation of the patient (both profiles), by the identifier systems Withings records use. */
export async function withingsObservations(env: TestStack, patient: WithId<Patient>): Promise<Observation[]> {
  const all = await allObservations(env.adminClient, { subject: `Patient/${patient.id}` });
  return all.filter((o) => o.identifier?.some((i) => i.system?.includes('/withings/')));
}

export function key(o: Observation): string {
  return `${o.identifier?.[0]?.system}|${o.identifier?.[0]?.value}`;
}

/**
 * Polls until `check` returns a value (not undefined) or the deadline passes, settling the sandbox's deliveries and
 * the stack's queue between polls (each poll is a FHIR search: spaced, the admin client has a quota too).
 */
export async function until<T>(
  env: TestStack,
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  explain?: () => Promise<string>
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await settle(env);
    const value = await check();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${explain ? `: ${await explain()}` : ''}`);
    }
    await sleep(POLL_MS);
  }
}

export async function waitForTask(
  env: TestStack,
  dedupeKey: string,
  statuses: readonly string[],
  timeoutMs = 60_000
): Promise<WithId<Task>> {
  return until(
    env,
    `Task ${dedupeKey} to be ${statuses.join('|')}`,
    async () => {
      const task = await taskByKey(env, dedupeKey);
      return task && statuses.includes(task.status) ? task : undefined;
    },
    timeoutMs,
    async () => {
      const task = await taskByKey(env, dedupeKey);
      return `${task?.status ?? 'missing'} ${task?.businessStatus?.text ?? ''}`;
    }
  );
}

/** Waits until none of the connection's Tasks is open; returns them all. */
export async function quiet(env: TestStack, connectionId: string, timeoutMs = 90_000): Promise<WithId<Task>[]> {
  return until(
    env,
    'the queue to drain',
    async () => {
      const tasks = await tasksOf(env, connectionId);
      return tasks.some((t) => OPEN_TASK.has(t.status)) ? undefined : tasks;
    },
    timeoutMs,
    async () =>
      JSON.stringify(
        (await tasksOf(env, connectionId))
          .filter((t) => OPEN_TASK.has(t.status))
          .map((t) => [t.identifier?.[0]?.value, t.status])
      )
  );
}

/**
 * Queues a window sync Task for the connection as an operator would (not a webhook hint, so no hint budget).
 * @returns its dedupe key
 */
export async function queueWindowSync(
  env: TestStack,
  patient: WithId<Patient>,
  connection: WithId<Basic>,
  window: { start: string; end: string },
  label: string
): Promise<string> {
  const dedupeKey = `withings:test-${label}:${Date.now()}:${Math.random().toString(36).slice(2, 8)}`;
  await env.adminClient.createResource(
    buildTask({
      kind: 'sync',
      patient: { reference: getReferenceString(patient) },
      connection: { reference: `Basic/${connection.id}` },
      provider: 'withings',
      dedupeKey,
      window,
    })
  );
  return dedupeKey;
}

/** Moves the stored access token's expiry into the past, so the next sync refreshes first. */
export async function expireToken(env: TestStack, patient: Patient): Promise<WithId<Basic>> {
  const basic = await withingsConnection(env, patient);
  return env.adminClient.updateResource({
    ...basic,
    extension: basic.extension?.map((e) =>
      e.url === CONNECTION_EXTENSION.tokenExpiresAt
        ? { ...e, valueDateTime: new Date(Date.now() - 1000).toISOString() }
        : e
    ),
  });
}

/**
 * @param sandbox - the Withings sandbox
 * @param match - only `service action` keys containing this (e.g. 'getintradayactivity'); all data and OAuth calls
 *   otherwise
 * @returns calls the sandbox has answered (its own counters, not the client's)
 */
export function withingsCalls(sandbox: WithingsSandbox, match?: string): number {
  return Object.entries(sandbox.control.stats().calls)
    .filter(([k]) => match === undefined || k.includes(match))
    .reduce((sum, [, n]) => sum + n, 0);
}

export async function sweep(env: TestStack, input: { asOf?: string; staleAfterSeconds?: number } = {}): Promise<void> {
  await env.adminClient.executeBot(bot('sweeper'), input);
}

export async function disconnect(client: MedplumClient, erase: boolean): Promise<Record<string, unknown>> {
  return (await client.executeBot(bot('disconnect'), { provider: 'withings', erase })) as Record<string, unknown>;
}
