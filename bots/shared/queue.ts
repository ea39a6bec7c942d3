/**
 * The work queue on Medplum: Tasks. A backfill is a set of 30-day window Tasks created as `draft` with identifiers
 * `<provider>:backfill:<connection id>:<link id>:<window start>` (windows aligned to fixed 30-day boundaries). The
 * link id is minted on every connect and reconnect, so a retried connect-callback finds its own windows again, and
 * a reconnect after a disconnect queues a fresh set (the previous link's windows are finished or cancelled).
 * Exactly one window at a time is `requested` — newest first, so recent data shows up first — and the sync bot
 * promotes the next one when it finishes. A Task turning `requested` runs the sync bot through a Subscription.
 *
 * Webhook hints (unverifiable notifications, see whoop-webhook.ts) are bounded per connection: at most
 * HINTS_PER_HOUR record Tasks per connection per hour (slots; concurrent hints cannot exceed them); beyond that they
 * collapse into one reconcile Task (a 48-hour window) per connection per hour, so a flood of forged hints costs a
 * handful of provider calls. The sync bot confirms deletions with the provider and completes (does not retry) a
 * Task whose record the provider does not know.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Basic, Bundle, Patient, Reference, Task } from '@medplum/fhirtypes';
import { TASK_IDENTIFIER_SYSTEM, TASK_TYPE_SYSTEM } from './extensions.ts';
import { updateIfUnchanged } from './fhir-write.ts';
import { searchAll } from './search.ts';
import { buildTask, readTaskInput } from './tasks.ts';
import type { RecordType, TaskWindow } from './tasks.ts';

export const BACKFILL_DAYS = 365;
/** Project secret that shortens the backfill horizon (whole days, 1-365); for tests and small deployments. */
export const BACKFILL_DAYS_SECRET = 'BASELINE_BACKFILL_DAYS';
export const HINTS_PER_HOUR = 5;
export const HINT_RECONCILE_MS = 48 * 60 * 60_000;
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
 * @param raw - the BASELINE_BACKFILL_DAYS secret value, if set
 * @returns the backfill horizon in days (default 365; an unusable value falls back to the default)
 */
export function backfillDays(raw: string | undefined): number {
  const days = Number(raw);
  return Number.isInteger(days) && days >= 1 && days <= BACKFILL_DAYS ? days : BACKFILL_DAYS;
}

/**
 * Creates the backfill windows of this link that do not exist yet (as drafts) and makes sure one is requested.
 * @returns how many windows were created
 */
export async function queueBackfill(
  medplum: MedplumClient,
  params: {
    patient: Reference<Patient>;
    connection: WithId<Basic>;
    provider: string;
    linkId: string;
    now: Date;
    days?: number;
  }
): Promise<number> {
  const connectionRef: Reference<Basic> = { reference: `Basic/${params.connection.id}` };
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: alignedBackfillWindows(params.now, params.days ?? BACKFILL_DAYS).map((window) => {
      const key = taskKey(params.provider, 'backfill', params.connection.id, params.linkId, window.start);
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

/**
 * Queues the work for one unverifiable webhook hint about a record, within the per-connection budget. Each hour a
 * connection has HINTS_PER_HOUR slots, each a Task identifier `<provider>:hint:<connection>:<link>:<hour>:<n>`; a
 * hint takes a free slot with a conditional create on that identifier, so concurrent hints cannot exceed the slots
 * (a lost race moves on to the next free one), and a record already holding a slot this hour is not queued again.
 * With every slot taken, the hint collapses into the hour's one reconcile window.
 * @param medplum - bot client (Task create + search)
 * @param params - the connection, the record, the clock
 * @returns 'record' (that record's Task is queued, now or earlier this hour), or 'reconcile' (the slots are spent:
 *   covered by the hour's reconcile window)
 */
export async function queueHint(
  medplum: MedplumClient,
  params: {
    patient: Reference<Patient>;
    connection: WithId<Basic>;
    provider: string;
    linkId: string;
    recordType: RecordType;
    recordId: string;
    eventType: string;
    now: Date;
  }
): Promise<'record' | 'reconcile'> {
  const connectionRef: Reference<Basic> = { reference: `Basic/${params.connection.id}` };
  const hour = params.now.toISOString().slice(0, 13);
  const slotKeys = Array.from({ length: HINTS_PER_HOUR }, (_, n) =>
    taskKey(params.provider, 'hint', params.connection.id, params.linkId, hour, String(n))
  );
  const holds = (task: Task): boolean => {
    const held = readTaskInput(task);
    return held.recordId === params.recordId && held.eventType === params.eventType;
  };
  // One search (20 points) for the hour's slots.
  const taken = await medplum.searchResources(
    'Task',
    { identifier: slotKeys.map((k) => `${TASK_IDENTIFIER_SYSTEM}|${k}`).join(','), _count: String(HINTS_PER_HOUR) },
    { cache: 'no-cache' }
  );
  if (taken.some(holds)) {
    return 'record';
  }
  const takenKeys = new Set(taken.flatMap((t) => t.identifier?.map((i) => i.value) ?? []));
  for (const key of slotKeys.filter((k) => !takenKeys.has(k))) {
    const task = buildTask({
      kind: 'sync',
      patient: params.patient,
      connection: connectionRef,
      provider: params.provider,
      dedupeKey: key,
      recordType: params.recordType,
      recordId: params.recordId,
      eventType: params.eventType,
    });
    const holder = await medplum.createResourceIfNoneExist(task, `identifier=${TASK_IDENTIFIER_SYSTEM}|${key}`);
    if (holds(holder)) {
      return 'record';
    }
  }
  const reconcileKey = taskKey(params.provider, 'hint-reconcile', params.connection.id, params.linkId, hour);
  const reconcile = buildTask({
    kind: 'sync',
    patient: params.patient,
    connection: connectionRef,
    provider: params.provider,
    dedupeKey: reconcileKey,
    window: {
      start: new Date(params.now.getTime() - HINT_RECONCILE_MS).toISOString(),
      end: params.now.toISOString(),
    },
  });
  await medplum.createResourceIfNoneExist(reconcile, `identifier=${TASK_IDENTIFIER_SYSTEM}|${reconcileKey}`);
  return 'reconcile';
}
