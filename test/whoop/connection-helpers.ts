/**
 * Helpers for the connection-lifecycle, webhook-hint and tokens-at-rest tests (issue 6 §4–§6).
 *
 * ensureIssue6Policies brings the deployed bot policies to what the token store and the erase work item need, as
 * data/core/bots.ts defines them: entries already deployed are left as they are (then this is a no-op). The webhook
 * bot's policy is never touched: the tests probe the deployed one.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { AccessPolicy, AccessPolicyResource, Basic, Observation, Patient, Task } from '@medplum/fhirtypes';
import {
  CONNECTION_CODE_TOKEN,
  TOKEN_STORE_CRITERIA,
  TOKEN_STORE_IDENTIFIER_SYSTEM,
} from '../../bots/shared/connection.ts';
import { TASK_OUTPUT_SYSTEM, TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { POLICY_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { mergeProjectSecrets } from '../../scripts/sandboxes/project-secrets.ts';
import type { TestStack } from '../harness/stack.ts';
import { allObservations, settle } from './helpers.ts';

const POLL_MS = 300;

type Interaction = NonNullable<AccessPolicyResource['interaction']>[number];
const TASK_CRITERIA = `Task?code=${TASK_TYPE_SYSTEM}|backfill,${TASK_TYPE_SYSTEM}|sync,${TASK_TYPE_SYSTEM}|erase`;

const tokenStore = (interaction: Interaction[]): AccessPolicyResource => ({
  resourceType: 'Basic',
  criteria: TOKEN_STORE_CRITERIA,
  interaction,
});

/** What each bot policy must hold for the token store and the erase work item (beyond what it already has). */
export const REQUIRED_POLICY_ENTRIES: Record<string, AccessPolicyResource[]> = {
  'bot-connect-callback': [tokenStore(['create', 'read', 'update', 'search', 'delete'])],
  'bot-disconnect': [tokenStore(['read', 'search', 'delete'])],
  'bot-sync': [
    tokenStore(['create', 'read', 'update', 'search']),
    { resourceType: 'Observation', interaction: ['create', 'read', 'update', 'search', 'delete'] },
    { resourceType: 'Device', interaction: ['read', 'search', 'delete'] },
  ],
  'bot-sweeper': [tokenStore(['create', 'read', 'update', 'search'])],
};

export async function policyByKey(admin: MedplumClient, key: string): Promise<WithId<AccessPolicy>> {
  const policy = await admin.searchOne('AccessPolicy', { _tag: `${POLICY_IDENTIFIER_SYSTEM}|${key}` });
  if (!policy) {
    throw new Error(`no AccessPolicy ${key}`);
  }
  return policy;
}

export async function ensureIssue6Policies(admin: MedplumClient): Promise<void> {
  for (const [key, required] of Object.entries(REQUIRED_POLICY_ENTRIES)) {
    const policy = await policyByKey(admin, key);
    const resource = (policy.resource ?? []).map((entry) =>
      entry.resourceType === 'Task' && entry.criteria?.startsWith('Task?code=')
        ? { ...entry, criteria: TASK_CRITERIA }
        : entry
    );
    for (const entry of required) {
      if (!resource.some((r) => r.resourceType === entry.resourceType && r.criteria === entry.criteria)) {
        resource.push(entry);
      }
    }
    await admin.updateResource({ ...policy, resource });
  }
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
