/**
 * Waiting for the analytics bot in tests: the owner's analytics Tasks, and "settled" = at least one, none waiting or
 * running, none failed (a failed recompute fails the test with its reason instead of timing out later).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { WithId } from '@medplum/core';
import type { Task } from '@medplum/fhirtypes';
import { expect } from 'vitest';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import type { TestStack } from './stack.ts';

/** @param patient - `Patient/<id>`, or every owner's when absent */
export async function analyticsTasks(env: TestStack, patient?: string): Promise<WithId<Task>[]> {
  return env.adminClient.searchResources(
    'Task',
    { code: `${TASK_TYPE_SYSTEM}|analytics`, ...(patient ? { subject: patient } : {}), _count: '100' },
    { cache: 'no-cache' }
  );
}

/**
 * @param env - the test stack
 * @param patient - `Patient/<id>`, or every owner's when absent
 * @param timeoutMs - how long to wait
 * @returns the Tasks once settled
 */
export async function analyticsSettled(env: TestStack, patient?: string, timeoutMs = 180_000): Promise<WithId<Task>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await env.whoop?.sandbox.control.webhooksIdle();
    await env.stack.subscriptions.idle();
    const tasks = await analyticsTasks(env, patient);
    expect(tasks.filter((t) => t.status === 'failed').map((t) => t.businessStatus?.text ?? t.id)).toEqual([]);
    if (tasks.length > 0 && tasks.every((t) => t.status !== 'requested' && t.status !== 'in-progress')) {
      return tasks;
    }
    if (Date.now() > deadline) {
      throw new Error(`analytics did not settle: ${tasks.map((t) => t.status).join(', ')}`);
    }
    await sleep(250);
  }
}
