/**
 * Helpers for the Oura end-to-end tests (test/oura/*.test.ts): the sandbox, the owner's connection and Tasks,
 * polling, signed deliveries, and the sandbox's own call counters (never the code under test's).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Basic, Observation, Patient, Task } from '@medplum/fhirtypes';
import { CONNECTION_CODE_TOKEN, TOKEN_STORE_IDENTIFIER_SYSTEM } from '../../bots/shared/connection.ts';
import { CONNECTION_EXTENSION, TASK_IDENTIFIER_SYSTEM, TASK_OUTPUT_SYSTEM } from '../../bots/shared/extensions.ts';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { ouraSignature } from '../../bots/oura/signature.ts';
import type { OuraSandbox } from '../../scripts/sandboxes/oura/server.ts';
import { mergeProjectSecrets } from '../../scripts/sandboxes/project-secrets.ts';
import type { TestStack } from '../harness/stack.ts';
import { allObservations, bot, settle } from '../providers/helpers.ts';

export const OPEN_STATUSES = new Set(['draft', 'requested', 'in-progress', 'on-hold']);
const POLL_MS = 250;

export function ouraSandbox(env: TestStack): OuraSandbox {
  if (!env.oura) {
    throw new Error('the stack has no Oura sandbox');
  }
  return env.oura.sandbox;
}

export async function setSecrets(env: TestStack, values: Record<string, string>): Promise<void> {
  await mergeProjectSecrets(env.adminClient, env.projectId, values);
}

export async function projectSecret(env: TestStack, name: string): Promise<string | undefined> {
  const project = await env.adminClient.readResource('Project', env.projectId);
  return project.secret?.find((s) => s.name === name)?.valueString;
}

export async function connectionOf(env: TestStack, patient: Patient): Promise<WithId<Basic> | undefined> {
  return env.adminClient.searchOne(
    'Basic',
    { subject: getReferenceString(patient), code: CONNECTION_CODE_TOKEN },
    { cache: 'no-cache' }
  );
}

export async function requireConnection(env: TestStack, patient: Patient): Promise<WithId<Basic>> {
  const found = await connectionOf(env, patient);
  if (!found) {
    throw new Error(`no connection for ${getReferenceString(patient)}`);
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

/** Sets the connection's access-token expiry into the past, so the next use refreshes. */
export async function expireToken(env: TestStack, patient: Patient): Promise<WithId<Basic>> {
  const basic = await requireConnection(env, patient);
  return env.adminClient.updateResource({
    ...basic,
    extension: basic.extension?.map((e) =>
      e.url === CONNECTION_EXTENSION.tokenExpiresAt
        ? { ...e, valueDateTime: new Date(Date.now() - 1000).toISOString() }
        : e
    ),
  });
}

export async function tasksOf(env: TestStack, connectionId: string, kind?: string): Promise<WithId<Task>[]> {
  const query: Record<string, string> = { focus: `Basic/${connectionId}`, _count: '1000' };
  if (kind) {
    query.code = `${TASK_TYPE_SYSTEM}|${kind}`;
  }
  return env.adminClient.searchResources('Task', query, { cache: 'no-cache' });
}

export async function taskByKey(env: TestStack, key: string): Promise<WithId<Task> | undefined> {
  const [task] = await env.adminClient.searchResources(
    'Task',
    { identifier: `${TASK_IDENTIFIER_SYSTEM}|${key}` },
    { cache: 'no-cache' }
  );
  return task;
}

export function output(task: Task, code: string): number {
  return (
    task.output?.find((o) => o.type.coding?.some((c) => c.system === TASK_OUTPUT_SYSTEM && c.code === code))
      ?.valueInteger ?? 0
  );
}

/** Polls (settling the queue first) until `check` returns a value, or throws naming what it waited for. */
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

/** Waits until no Task of the connection is open; returns them all. */
export async function quiet(env: TestStack, connectionId: string, timeoutMs = 90_000): Promise<WithId<Task>[]> {
  return until(
    env,
    'the queue to drain',
    async () => {
      const tasks = await tasksOf(env, connectionId);
      return tasks.some((t) => OPEN_STATUSES.has(t.status)) ? undefined : tasks;
    },
    timeoutMs,
    async () =>
      JSON.stringify(
        (await tasksOf(env, connectionId))
          .filter((t) => OPEN_STATUSES.has(t.status))
          .map((t) => [t.identifier?.[0]?.value, t.status, t.businessStatus?.text])
      )
  );
}

/** The sync bot's Observations of one patient (not the analytics bot's derived ones), series included. */
export async function ouraObservations(env: TestStack, patient: WithId<Patient>): Promise<Observation[]> {
  const [wearable, intraday] = await Promise.all([
    allObservations(env.adminClient, { subject: getReferenceString(patient), _profile: WEARABLE_PROFILE }),
    allObservations(env.adminClient, { subject: getReferenceString(patient), _profile: INTRADAY_PROFILE }),
  ]);
  return [...wearable, ...intraday].filter((o) => o.identifier?.some((i) => i.system?.includes('/oura/')));
}

export function identifierKeys(observations: readonly Observation[]): string[] {
  return observations.map((o) => `${o.identifier?.[0]?.system}|${o.identifier?.[0]?.value}`);
}

/** Observations of one Oura document (its record identifier names the document id). */
export function ofDocument(observations: readonly Observation[], documentId: string): Observation[] {
  return observations.filter((o) => o.identifier?.some((i) => i.value?.split(':').includes(documentId)));
}

/**
 * @param env - the stack
 * @param route - only routes containing this
 * @returns Oura data calls the sandbox served (its own counters)
 */
export function ouraApiCalls(env: TestStack, route?: string): number {
  return Object.entries(ouraSandbox(env).control.stats().api)
    .filter(([key]) => key.includes('/v2/usercollection') && (route === undefined || key.includes(route)))
    .reduce((a, [, b]) => a + b, 0);
}

/** Headers of a correctly signed delivery: epoch-second timestamp, upper-case hex HMAC over timestamp + body. */
export function signedHeaders(
  secret: string,
  body: string,
  tsSeconds = Math.floor(Date.now() / 1000)
): Record<string, string> {
  const ts = String(tsSeconds);
  return { 'x-oura-timestamp': ts, 'x-oura-signature': ouraSignature(secret, ts, body) };
}

export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string> = {}
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, text: await res.text() };
}

export function webhookUrl(env: TestStack): string {
  const url = env.deployReport.bots.find((b) => b.name === 'oura-webhook')?.webhookUrl;
  if (!url) {
    throw new Error('deploy reported no oura-webhook URL');
  }
  return url;
}

export async function sweep(client: MedplumClient, input: Record<string, unknown> = {}): Promise<unknown> {
  return client.executeBot(bot('sweeper'), input);
}

/** Wearable (non-series) Observations by the Oura collection in their identifier system, for readable diffs. */
export function countByType(observations: readonly Observation[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of observations) {
    if (o.meta?.profile?.[0] === INTRADAY_PROFILE) {
      continue;
    }
    const type = o.identifier?.[0]?.system?.split('/').at(-1) ?? 'unknown';
    counts[type] = (counts[type] ?? 0) + 1;
  }
  return counts;
}
