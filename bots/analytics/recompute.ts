/**
 * Bot `analytics`: recomputes one owner's derived Observations (issue 8 §2, §3, §7).
 *
 * Run by a Subscription when an analytics Task becomes `requested` (queued by the sync bot when a sync or a whole
 * backfill completes, see queue.ts), and nightly by cron, which queues one for every owner with a connection
 * (day boundaries move the trend window and the staleness gate even when no data arrives).
 *
 * 1. Single-flight per owner: if another recompute of the owner is in progress (and not stale), the Task is left
 *    requested; the running one picks it up when it finishes. Otherwise the Task is claimed with a versioned update
 *    that also renames its identifier, so exactly one more may be queued behind it.
 * 2. Reads the owner's Observations (wearable and derived, pages of 1000 by cursor: 20 quota points a page), plans with
 *    derive.ts, and writes only what differs through writeChanged, in quota-sized batches, idempotent on identifier.
 * 3. Completes the Task with its counts, then runs the one that queued meanwhile, if any (at most MAX_CHAINED more;
 *    one still waiting after that is handed to a fresh run through its Subscription, never left for the sweeper).
 * A failed recompute is not retried by the sweeper: the next sync or the nightly run queues a fresh one.
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { ExtractResource } from '@medplum/fhirtypes';
import type { Flag, Observation, Task } from '@medplum/fhirtypes';
import { CONNECTION_CODE_TOKEN, parseConnection } from '../shared/connection.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../shared/extensions.ts';
import { summarizeFailures } from '../shared/fhir-batch.ts';
import { updateIfUnchanged, updateWithRetry } from '../shared/fhir-write.ts';
import { QUOTA_POINTS, QuotaPacer } from '../shared/quota.ts';
import { searchAll, searchByCursor } from '../shared/search.ts';
import {
  analyticsRunKey,
  markCompleted,
  markFailed,
  markInProgress,
  readAnalyticsTask,
  TaskEventSchema,
  type TaskCounts,
} from '../shared/tasks.ts';
import { keyOf, writeChanged } from '../shared/write-changed.ts';
import { ALERT_RULE_CODE_TOKEN, alertFlagSearch, communicationResource, endedFlag, flagResource } from './alerts.ts';
import type { AlertDecisions } from './alerts.ts';
import { planInsights } from './insights.ts';
import { SOURCE_PRIORITY_CODE_TOKEN } from './source-priority.ts';
import { analyticsTaskQuery, isStale, queueAnalytics } from './queue.ts';
import { alertRecipients, SHARE_CATEGORY_TOKEN } from '../sharing/grants.ts';

const PAGE = 1000;
/** Recomputes one run may chain (each one queued while the previous ran); more wait for the next trigger. */
const MAX_CHAINED = 3;
const BOOKKEEPING_POINTS = QUOTA_POINTS.read + QUOTA_POINTS.write;

export type AnalyticsResult =
  | { status: 'completed'; tasks: { task: string; counts: TaskCounts }[] }
  | { status: 'skipped'; task?: string; reason: string }
  | { status: 'queued'; owners: number };

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<AnalyticsResult> {
  const parsed = TaskEventSchema.safeParse(event.input);
  if (!parsed.success) {
    // Cron hands the bot its own Bot resource; an admin may $execute it with anything else.
    return queueNightly(medplum);
  }
  const task = parsed.data as unknown as WithId<Task>;
  if (task.status !== 'requested') {
    return { status: 'skipped', task: task.id, reason: `Task is ${task.status}` };
  }
  const { patient } = readAnalyticsTask(task);
  const pacer = new QuotaPacer(medplum);
  const running = await pacer.run(QUOTA_POINTS.search, () =>
    medplum.searchResources('Task', analyticsTaskQuery(patient.reference, 'in-progress'), { cache: 'no-cache' })
  );
  const now = new Date();
  if (running.some((t) => t.id !== task.id && !isStale(t, now))) {
    return {
      status: 'skipped',
      task: task.id,
      reason: 'another recompute of this owner is running; it runs this next',
    };
  }
  const done: { task: string; counts: TaskCounts }[] = [];
  let next: WithId<Task> | undefined = task;
  for (let i = 0; next && i <= MAX_CHAINED; i++) {
    const claimed = await claim(medplum, pacer, next);
    if (!claimed) {
      break;
    }
    done.push({ task: claimed.id, counts: await runClaimed(medplum, pacer, claimed) });
    // Completed first, then looked for: a Task queued after this search runs itself (nothing is in progress).
    const waiting = await pacer.run(QUOTA_POINTS.search, () =>
      medplum.searchResources('Task', analyticsTaskQuery(patient.reference, 'requested'), { cache: 'no-cache' })
    );
    next = waiting[0];
  }
  if (next && done.length > MAX_CHAINED) {
    // This run has done its share; the one still waiting would otherwise wait for the sweeper or the nightly run.
    // Passing it back through requested fires its Subscription again: a fresh run, with a fresh time budget.
    await handOff(medplum, pacer, next);
  }
  if (done.length === 0) {
    return { status: 'skipped', task: task.id, reason: 'claimed by another run' };
  }
  return { status: 'completed', tasks: done };
}

/** A waiting Task through on-hold back to requested (versioned both times: a run that claimed it meanwhile wins). */
export async function handOff(medplum: MedplumClient, pacer: QuotaPacer, waiting: WithId<Task>): Promise<boolean> {
  const held = await pacer.run(QUOTA_POINTS.write, () =>
    updateIfUnchanged(medplum, { ...waiting, status: 'on-hold' }, waiting)
  );
  if (!held) {
    return false;
  }
  return (
    (await pacer.run(QUOTA_POINTS.write, () => updateIfUnchanged(medplum, { ...held, status: 'requested' }, held))) !==
    undefined
  );
}

/** In progress, and no longer holding the pending key: one more recompute may now queue behind this one. */
async function claim(medplum: MedplumClient, pacer: QuotaPacer, task: WithId<Task>): Promise<WithId<Task> | undefined> {
  const { patientId } = readAnalyticsTask(task);
  const next: Task = {
    ...markInProgress(task, new Date()),
    identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: analyticsRunKey(patientId, task.id) }],
  };
  return pacer.run(QUOTA_POINTS.write, () => updateIfUnchanged(medplum, next, task));
}

async function runClaimed(medplum: MedplumClient, pacer: QuotaPacer, task: WithId<Task>): Promise<TaskCounts> {
  let counts: TaskCounts;
  try {
    counts = await recompute(medplum, pacer, readAnalyticsTask(task).patient.reference);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    await pacer.run(
      BOOKKEEPING_POINTS,
      () =>
        updateWithRetry(medplum, 'Task', task.id, (current) =>
          markFailed(current, reason, new Date(), { retryable: false })
        ),
      20
    );
    console.log(JSON.stringify({ bot: 'analytics', task: task.id, failed: reason, points: pacer.spend.points }));
    throw err;
  }
  counts.points = pacer.spend.points + BOOKKEEPING_POINTS;
  await pacer.run(
    BOOKKEEPING_POINTS,
    () => updateWithRetry(medplum, 'Task', task.id, (current) => markCompleted(current, counts, new Date())),
    20
  );
  console.log(JSON.stringify({ bot: 'analytics', task: task.id, ...counts }));
  return counts;
}

/**
 * Reads, plans and writes one owner's insights: derived Observations, narratives, alert Flags and Communications.
 * Reads: the owner's Observations (pages of 1000), their setting Basics and their Flags. Writes only what differs.
 * @returns created / updated / unchanged / retracted (superseded) Observations, Flags raised / ended, requests
 */
export async function recompute(medplum: MedplumClient, pacer: QuotaPacer, patient: string): Promise<TaskCounts> {
  let requests = 0;
  const search = async <K extends 'Observation' | 'Basic' | 'Flag'>(
    type: K,
    query: Record<string, string> | string
  ): Promise<WithId<ExtractResource<K>>[]> => {
    requests++;
    return pacer.run(QUOTA_POINTS.search, () => medplum.searchResources(type, query, { cache: 'no-cache' })) as Promise<
      WithId<ExtractResource<K>>[]
    >;
  };
  const read = await searchByCursor(medplum, pacer, 'Observation', { subject: patient }, PAGE);
  requests += read.requests;
  const observations: Observation[] = read.resources;
  const settings = await search('Basic', {
    subject: patient,
    code: [ALERT_RULE_CODE_TOKEN, SOURCE_PRIORITY_CODE_TOKEN].join(','),
    _count: '100',
  });
  const flags = await search('Flag', alertFlagSearch({ reference: patient }));
  const now = new Date();
  const plan = planInsights({ patient, observations, settings, flags, now });
  for (const problem of plan.problems) {
    console.log(JSON.stringify({ bot: 'analytics', patient, unreadable: problem }));
  }
  const writes = [...plan.derived.writes, ...plan.narratives.writes];
  const result = await writeChanged(medplum, pacer, {
    // Each derived Observation is its own record: nothing is retracted behind the plan's back.
    records: writes.map((o) => ({ record: keyOf(o), observations: [o] })),
    // A run presumed dead may still be writing: a weekly band from last year is as raceable as today's.
    alwaysConditional: true,
  });
  requests += result.requests;
  // 412 / 404 / 410: a derived Observation changed or went while this run planned (an erase deleting what was
  // computed, another run). Nothing is wrong with the plan, it is out of date: one more recompute settles it.
  const raced = result.failures.filter((f) => ['412', '404', '410'].includes(f.status));
  if (raced.length < result.failures.length) {
    throw new Error(summarizeFailures({ ...result, failures: result.failures.filter((f) => !raced.includes(f)) }));
  }
  if (raced.length > 0) {
    requests++;
    await pacer.run(QUOTA_POINTS.search + QUOTA_POINTS.write, () =>
      queueAnalytics(medplum, { reference: patient }, `changed while recomputing (${raced.length})`)
    );
  }
  const alerts = await applyAlerts(medplum, pacer, patient, plan.alerts, flags, now);
  const cancelled = plan.derived.cancelled + plan.narratives.cancelled;
  return {
    created: result.created,
    updated: result.updated - cancelled,
    unchanged: plan.derived.unchanged + plan.narratives.unchanged + result.unchanged,
    retracted: cancelled,
    raised: alerts.raised,
    ended: alerts.ended,
    requests: requests + alerts.requests,
  };
}

/**
 * Raises a Flag and sends its Communication per firing (each conditional on its identifier, so a retried run raises
 * one), and ends the Flags whose condition cleared (versioned: a Flag changed meanwhile is left for the next run).
 */
async function applyAlerts(
  medplum: MedplumClient,
  pacer: QuotaPacer,
  patient: string,
  decisions: AlertDecisions,
  flags: readonly WithId<Flag>[],
  now: Date
): Promise<{ raised: number; ended: number; requests: number }> {
  const owner = { reference: patient };
  let requests = 0;
  let raised = 0;
  // Grantees whose grant includes alerts get a copy (issue 9); asked once per run, only when something fires.
  const clinicians =
    decisions.fire.length === 0
      ? []
      : alertRecipients(
          await pacer.run(QUOTA_POINTS.search, () =>
            searchAll(medplum, 'Consent', {
              patient,
              category: SHARE_CATEGORY_TOKEN,
              status: 'active',
            })
          ),
          now
        );
  requests += decisions.fire.length === 0 ? 0 : 1;
  for (const firing of decisions.fire) {
    const flag = flagResource(firing, owner);
    const stored = await pacer.run(QUOTA_POINTS.search + QUOTA_POINTS.write, () =>
      medplum.createResourceIfNoneExist(flag, identifierCondition(flag.identifier?.[0]))
    );
    const message = communicationResource(firing, owner, { flag: { reference: `Flag/${stored.id}` }, clinicians });
    await pacer.run(QUOTA_POINTS.search + QUOTA_POINTS.write, () =>
      medplum.createResourceIfNoneExist(message, identifierCondition(message.identifier?.[0]))
    );
    requests += 2;
    raised++;
  }
  let ended = 0;
  const at = now.toISOString();
  for (const clearing of decisions.clear) {
    const flag = flags.find((f) => f.id === clearing.flag.flagId);
    if (!flag) {
      continue;
    }
    requests++;
    const written = await pacer.run(QUOTA_POINTS.write, () => updateIfUnchanged(medplum, endedFlag(flag, at), flag));
    ended += written ? 1 : 0;
  }
  return { raised, ended, requests };
}

function identifierCondition(identifier: { system?: string; value?: string } | undefined): string {
  if (!identifier?.system || !identifier.value) {
    throw new Error('an alert resource needs an identifier to be written once');
  }
  return `identifier=${encodeURIComponent(`${identifier.system}|${identifier.value}`)}`;
}

/** Cron: one analytics Task per owner with a connection (collapsing into any that already waits). */
async function queueNightly(medplum: MedplumClient): Promise<AnalyticsResult> {
  const pacer = new QuotaPacer(medplum);
  const records = await pacer.run(QUOTA_POINTS.search, () =>
    searchAll(medplum, 'Basic', { code: CONNECTION_CODE_TOKEN, _count: '500' })
  );
  // Every owner who ever connected, not only active ones: after a disconnect (data kept) or expired credentials the
  // projection goes stale and must be superseded, and a Flag whose condition can no longer hold must be judged.
  const owners = new Set(records.map((r) => parseConnection(r)).map((c) => `Patient/${c.patientId}`));
  const now = new Date();
  for (const owner of [...owners].sort()) {
    const waiting = await pacer.run(QUOTA_POINTS.search + QUOTA_POINTS.write, () =>
      queueAnalytics(medplum, { reference: owner }, 'nightly')
    );
    // One that has waited this long lost the run that would have picked it up: put it back through requested.
    if (waiting.status === 'requested' && isStale(waiting, now)) {
      await handOff(medplum, pacer, waiting);
    }
  }
  console.log(JSON.stringify({ bot: 'analytics', queued: owners.size }));
  return { status: 'queued', owners: owners.size };
}
