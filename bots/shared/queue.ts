/**
 * The work queue on Medplum: Tasks. A backfill is a set of 30-day window Tasks created as `draft` with stable
 * identifiers (windows aligned to fixed 30-day boundaries, so reconnecting finds the same windows instead of adding
 * new ones). Exactly one window at a time is `requested` — newest first, so recent data shows up first — and the
 * sync bot promotes the next one when it finishes, which keeps a year's backfill well inside provider rate limits.
 * A Task turning `requested` runs the sync bot through a Subscription.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Basic, Bundle, Patient, Reference, Task } from '@medplum/fhirtypes';
import { TASK_IDENTIFIER_SYSTEM, TASK_TYPE_SYSTEM } from './extensions.ts';
import { updateIfUnchanged } from './fhir-write.ts';
import { searchAll } from './search.ts';
import { buildTask, readTaskInput } from './tasks.ts';
import type { TaskWindow } from './tasks.ts';

export const BACKFILL_DAYS = 365;
export const WINDOW_DAYS = 30;
const DAY_MS = 24 * 60 * 60_000;

/**
 * @param now - current time
 * @param days - how far back
 * @returns 30-day windows covering [now - days, now), aligned to multiples of 30 days since the epoch
 */
export function alignedBackfillWindows(now: Date, days = BACKFILL_DAYS): TaskWindow[] {
  const step = WINDOW_DAYS * DAY_MS;
  const from = Math.floor((now.getTime() - days * DAY_MS) / step) * step;
  const windows: TaskWindow[] = [];
  for (let start = from; start < now.getTime(); start += step) {
    windows.push({
      start: new Date(start).toISOString(),
      end: new Date(Math.min(start + step, now.getTime())).toISOString(),
    });
  }
  return windows;
}

export function taskKey(provider: string, kind: string, ...parts: string[]): string {
  return [provider, kind, ...parts].join(':');
}

export async function connectionTasks(
  medplum: MedplumClient,
  connection: Reference<Basic>,
  kind?: 'backfill' | 'sync'
): Promise<WithId<Task>[]> {
  const query: Record<string, string> = { focus: connection.reference ?? '', _count: '500' };
  if (kind) {
    query.code = `${TASK_TYPE_SYSTEM}|${kind}`;
  }
  return searchAll(medplum, 'Task', query);
}

/**
 * Creates the backfill windows that do not exist yet (as drafts) and makes sure one is requested.
 * @returns how many windows were created
 */
export async function queueBackfill(
  medplum: MedplumClient,
  params: { patient: Reference<Patient>; connection: WithId<Basic>; provider: string; now: Date }
): Promise<number> {
  const connectionRef: Reference<Basic> = { reference: `Basic/${params.connection.id}` };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: alignedBackfillWindows(params.now).map((window) => {
      const key = taskKey(params.provider, 'backfill', params.connection.id, window.start);
      const task: Task = {
        ...buildTask({
          kind: 'backfill',
          patient: params.patient,
          connection: connectionRef,
          provider: params.provider,
          dedupeKey: key,
          window,
        }),
        status: 'draft',
      };
      return {
        resource: task,
        request: { method: 'POST', url: 'Task', ifNoneExist: `identifier=${TASK_IDENTIFIER_SYSTEM}|${key}` },
      };
    }),
  };
  const result = await medplum.executeBatch(bundle);
  const statuses = (result.entry ?? []).map((e) => e.response?.status ?? '');
  const failed = statuses.filter((s) => !s.startsWith('2'));
  if (failed.length > 0) {
    throw new Error(`Could not queue ${failed.length} backfill window(s): ${failed.join(', ')}`);
  }
  await promoteNextBackfill(medplum, connectionRef);
  return statuses.filter((s) => s.startsWith('201')).length;
}

/**
 * If no backfill window of this connection is running, requests the newest draft one.
 * @returns the promoted Task, if any
 */
export async function promoteNextBackfill(
  medplum: MedplumClient,
  connection: Reference<Basic>
): Promise<WithId<Task> | undefined> {
  const tasks = await connectionTasks(medplum, connection, 'backfill');
  if (tasks.some((t) => t.status === 'requested' || t.status === 'in-progress')) {
    return undefined;
  }
  const drafts = tasks
    .filter((t) => t.status === 'draft')
    .sort((a, b) => (readTaskInput(b).window?.start ?? '').localeCompare(readTaskInput(a).window?.start ?? ''));
  for (const draft of drafts) {
    const promoted = await updateIfUnchanged(medplum, { ...draft, status: 'requested' }, draft);
    if (promoted) {
      return promoted;
    }
  }
  return undefined;
}
