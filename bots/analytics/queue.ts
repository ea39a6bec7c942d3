/**
 * Queuing an owner's analytics recompute (issue 8 §7): single-flight and collapsed.
 *
 * The requested Task holds the identifier `analytics:<patient>:pending` and is created only if none holds it, so
 * every completed sync while one waits collapses into that one. The run that claims it renames the identifier
 * (tasks.ts analyticsRunKey), which frees the key for at most one more to wait behind the running one; the analytics
 * bot never runs two recomputes of one owner at once (recompute.ts). A whole backfill queues once, when its last
 * window completes.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Patient, Reference, Task } from '@medplum/fhirtypes';
import { TASK_IDENTIFIER_SYSTEM, TASK_TYPE_SYSTEM } from '../shared/extensions.ts';
import { analyticsPendingKey, buildAnalyticsTask } from '../shared/tasks.ts';

/**
 * A recompute untouched this long lost its run (a crash, or it waited behind one that crashed). Longer than the
 * longest paced run: a first recompute of a year costs ~122,000 quota points, over two minutes of a default quota
 * that every owner's recompute shares, and a run is never presumed dead while it may still be writing.
 */
export const ANALYTICS_STALE_MS = 30 * 60_000;

/**
 * @param medplum - a client whose policy may create and search analytics Tasks
 * @param patient - the owner
 * @param reason - what asked for it
 * @returns the waiting Task (new, or the one this request collapsed into)
 */
export async function queueAnalytics(
  medplum: MedplumClient,
  patient: Reference<Patient> & { reference: string },
  reason: string
): Promise<WithId<Task>> {
  const patientId = patient.reference.split('/')[1] ?? '';
  return medplum.createResourceIfNoneExist(
    buildAnalyticsTask(patient, reason),
    `identifier=${TASK_IDENTIFIER_SYSTEM}|${analyticsPendingKey(patientId)}`
  );
}

/** The Task search for an owner's analytics Tasks in the given statuses. */
export function analyticsTaskQuery(patient: string, status: string): Record<string, string> {
  return { code: `${TASK_TYPE_SYSTEM}|analytics`, subject: patient, status, _count: '20' };
}

/**
 * @param task - a requested or in-progress Task
 * @param now - current time
 * @returns true when it has not changed for ANALYTICS_STALE_MS
 */
export function isStale(task: Task, now: Date): boolean {
  const at = Date.parse(task.meta?.lastUpdated ?? task.lastModified ?? '');
  return !Number.isNaN(at) && now.getTime() - at > ANALYTICS_STALE_MS;
}
