/**
 * Helpers for the connection-lifecycle, webhook-hint and tokens-at-rest tests (issue 6 §4–§6). The tests run with
 * exactly the bot policies deploy installs from data/core/bots.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { AccessPolicy, Basic, Observation, Patient, Task } from '@medplum/fhirtypes';
import { CONNECTION_CODE_TOKEN, TOKEN_STORE_IDENTIFIER_SYSTEM } from '../../bots/shared/connection.ts';
import { TASK_OUTPUT_SYSTEM, TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { POLICY_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { mergeProjectSecrets } from '../../scripts/sandboxes/project-secrets.ts';
import type { TestStack } from '../harness/stack.ts';
import { allObservations, settle } from './helpers.ts';

const POLL_MS = 300;

export async function policyByKey(admin: MedplumClient, key: string): Promise<WithId<AccessPolicy>> {
  const policy = await admin.searchOne('AccessPolicy', { _tag: `${POLICY_IDENTIFIER_SYSTEM}|${key}` });
  if (!policy) {
    throw new Error(`no AccessPolicy ${key}`);
  }
  return policy;
}

export async function setSecrets(env: TestStack, values: Record<string, string>): Promise<void> {
  await mergeProjectSecrets(env.adminClient, env.projectId, values);
}

export async function projectSecrets(env: TestStack): Promise<Record<string, { name: string; valueString: string }>> {
  const project = await env.adminClient.readResource('Project', env.projectId);
  const out: Record<string, { name: string; valueString: string }> = {};
  for (const s of project.secret ?? []) {
    if (s.valueString) {
      out[s.name] = { name: s.name, valueString: s.valueString };
    }
  }
  return out;
}

export async function connectionOf(env: TestStack, patient: Patient): Promise<WithId<Basic> | undefined> {
  return env.adminClient.searchOne(
    'Basic',
    { subject: getReferenceString(patient), code: CONNECTION_CODE_TOKEN },
    { cache: 'no-cache' }
  );
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

export function output(task: Task, code: string): number {
  return (
    task.output?.find((o) => o.type.coding?.some((c) => c.system === TASK_OUTPUT_SYSTEM && c.code === code))
      ?.valueInteger ?? 0
  );
}

export async function observationsOf(env: TestStack, patient: WithId<Patient>): Promise<Observation[]> {
  return allObservations(env.adminClient, { subject: `Patient/${patient.id}` });
}

/**
 * Polls until `check` returns a value (not undefined) or the deadline passes. Polls are spaced (POLL_MS): each one
 * is a FHIR search, and the test's admin client has the same per-minute FHIR quota as everyone else.
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

/**
 * @param env - the stack with its sandbox
 * @param route - only routes containing this (e.g. 'workout')
 * @returns WHOOP API calls the sandbox has served (its own counters; token-endpoint calls excluded)
 */
export function whoopApiCalls(env: TestStack, route?: string): number {
  const stats = env.whoop?.sandbox.control.stats();
  return Object.entries(stats?.api ?? {})
    .filter(([key]) => route === undefined || key.includes(route))
    .reduce((a, [, b]) => a + b, 0);
}
