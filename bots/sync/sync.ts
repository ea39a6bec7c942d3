/**
 * Bot `sync` (Subscription: a sync, backfill or erase Task became `requested`): runs that one Task.
 *
 * 1. Claims the Task with a versioned update to `in-progress` (two deliveries of the same Task cannot both run it).
 * 2. Gets a usable access token — refreshed once at a time per connection (shared/tokens.ts).
 * 3. Asks the connection's provider module (bots/providers.ts) for the plan — a window (with the provider's own
 *    overlap: providers re-score and re-analyse after the fact) or the one record a notification named — fetches
 *    and maps it to catalogue-coded Observations, and writes only what changed (shared/write-changed.ts), paced by
 *    the FHIR quota (shared/quota.ts). A deletion retracts that record's Observations (`entered-in-error`, kept for
 *    audit) only after the provider's API confirms the record is gone; a record the provider does not know
 *    completes the Task with nothing to do. Nothing here knows which provider it is talking to.
 * 4. Completes the Task with its counts and the quota points it spent — or fails it with a reason and a next attempt
 *    (the sweeper retries), without a retry when the owner must reconnect. A finished backfill window starts the
 *    next one.
 *
 * Every FHIR request goes through the run's QuotaPacer, including the Task bookkeeping: a throttled "mark failed"
 * waits for the quota window instead of leaving the Task stuck `in-progress`. Backfill windows keep a reserve of the
 * budget untouched (BACKFILL_RESERVE), so one owner's year of history never starves another owner's fresh webhook.
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Bundle, Observation, Task } from '@medplum/fhirtypes';
import { queueAnalytics } from '../analytics/queue.ts';
import { runErase } from '../connect/erase.ts';
import { providerModule, ProviderKeySchema } from '../providers.ts';
import { parseConnection, withLastSync, withLastWebhook } from '../shared/connection.ts';
import { summarizeFailures } from '../shared/fhir-batch.ts';
import { updateIfUnchanged, updateWithRetry } from '../shared/fhir-write.ts';
import { ProviderHttpError } from '../shared/http.ts';
import { connectionTasks, promoteNextBackfill } from '../shared/queue.ts';
import { DEFAULT_USER_QUOTA, isThrottled, QUOTA_POINTS, QuotaPacer } from '../shared/quota.ts';
import { markCompleted, markFailed, markInProgress, readTaskInput, TaskEventSchema } from '../shared/tasks.ts';
import type { ParsedTaskInput, TaskCounts } from '../shared/tasks.ts';
import { keyringFromSecrets } from '../shared/token-crypto.ts';
import { CredentialsExpiredError, freshAccessToken } from '../shared/tokens.ts';
import { writeChanged } from '../shared/write-changed.ts';
import type { NotificationOutcome, RetractPlan } from '../shared/provider.ts';

/**
 * Points a backfill window leaves for fresh work: 10 % of a default membership budget, room for ~7 webhook syncs
 * (≈ 700 points each: a few reads and searches, 1–3 writes, the Task's claim and completion) a minute at once
 * while backfills run; more wait at most for the next quota window.
 */
export const BACKFILL_RESERVE = Math.round(DEFAULT_USER_QUOTA * 0.1);
/** Points of a read-modify-write of one resource (read + update). */
const BOOKKEEPING_POINTS = QUOTA_POINTS.read + QUOTA_POINTS.write;

export type SyncResult =
  { task: string; status: 'completed'; counts: TaskCounts } | { task?: string; status: 'skipped'; reason: string };

class NotRetryable extends Error {}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<SyncResult> {
  const parsed = TaskEventSchema.safeParse(event.input);
  if (!parsed.success) {
    return { status: 'skipped', reason: 'input is not a Task' };
  }
  // The Subscription hands over the version that matched; claim exactly that version.
  const task = parsed.data as unknown as WithId<Task>;
  if (task.status !== 'requested') {
    return { task: task.id, status: 'skipped', reason: `Task is ${task.status}` };
  }
  const input = readTaskInput(task);
  const pacer = new QuotaPacer(medplum, { reserve: input.kind === 'sync' ? 0 : BACKFILL_RESERVE });
  const claimed = await pacer.run(QUOTA_POINTS.write, () =>
    updateIfUnchanged(medplum, markInProgress(task, new Date()), task)
  );
  if (!claimed) {
    return { task: task.id, status: 'skipped', reason: 'claimed by another run' };
  }

  let counts: TaskCounts;
  try {
    counts = await run(medplum, event, input, pacer);
  } catch (err) {
    const failure = describeFailure(err);
    await pacer.run(
      BOOKKEEPING_POINTS,
      () =>
        updateWithRetry(medplum, 'Task', claimed.id, (current) =>
          unlessCancelled(current, () => markFailed(current, failure.reason, new Date(), failure.options))
        ),
      20
    );
    if (input.kind === 'backfill') {
      await pacer.run(
        QUOTA_POINTS.search + QUOTA_POINTS.write,
        () => promoteNextBackfill(medplum, input.connection),
        10
      );
    }
    console.log(JSON.stringify({ bot: 'sync', task: claimed.id, failed: failure.reason, points: pacer.spend.points }));
    throw new Error(failure.reason, { cause: err });
  }

  const connectionId = input.connection.reference?.split('/')[1] ?? '';
  if (input.kind !== 'erase') {
    await pacer.run(
      BOOKKEEPING_POINTS,
      () =>
        updateWithRetry(medplum, 'Basic', connectionId, (current) => {
          const now = new Date();
          // A verified notification the provider's API answered means its webhooks reach us: the sweeper's "quiet
          // connection" check reads this. Not an unverifiable hint (`<provider>:hint:…`, queue.ts): anyone can post
          // one, and a forged hint a day would otherwise switch off the daily reconcile that makes up lost ones.
          return input.eventType && !isHintTask(input)
            ? withLastWebhook(withLastSync(current, now), now)
            : withLastSync(current, now);
        }),
      20
    );
  }
  // Reported after the last write it can count; the completion itself costs one more write. The erase work item
  // paces its own deletes (bots/connect/erase.ts), so its deletes are added here at Medplum's price.
  const erased = input.kind === 'erase' ? (counts.deleted ?? 0) * QUOTA_POINTS.write : 0;
  counts.points = pacer.spend.points + erased + BOOKKEEPING_POINTS;
  await pacer.run(
    BOOKKEEPING_POINTS,
    () =>
      updateWithRetry(medplum, 'Task', claimed.id, (current) =>
        unlessCancelled(current, () => markCompleted(current, counts, new Date()))
      ),
    20
  );
  let promoted = false;
  if (input.kind === 'backfill') {
    promoted = Boolean(
      await pacer.run(
        QUOTA_POINTS.search + QUOTA_POINTS.write,
        () => promoteNextBackfill(medplum, input.connection),
        10
      )
    );
  }
  await queueRecompute(medplum, pacer, input, counts, promoted);
  console.log(JSON.stringify({ bot: 'sync', task: claimed.id, kind: input.kind, ...counts }));
  return { task: claimed.id, status: 'completed', counts };
}

/** The sweeper's daily reconcile of a quiet connection (sweeper.ts keys it `<provider>:reconcile:…`). */
function isReconcileTask(input: ParsedTaskInput): boolean {
  return input.dedupeKey.split(':')[1] === 'reconcile';
}

/** A Task queued from an unverifiable notification (queue.ts queueHint keys them `<provider>:hint:…`). */
function isHintTask(input: ParsedTaskInput): boolean {
  return input.dedupeKey.split(':')[1] === 'hint';
}

/**
 * Queues one analytics recompute for the owner (bots/analytics/queue.ts: collapsed into any that already waits)
 * after work that changed their data: a sync that wrote something, an erase, or the last window of a backfill — not
 * each window, so a year's backfill causes one recompute, not thirteen. Best effort: the sync itself is done, and the
 * nightly analytics run catches up on anything missed here.
 */
async function queueRecompute(
  medplum: MedplumClient,
  pacer: QuotaPacer,
  input: ParsedTaskInput,
  counts: TaskCounts,
  promotedNextWindow: boolean
): Promise<void> {
  const changed = (counts.created ?? 0) + (counts.updated ?? 0) + (counts.retracted ?? 0) + (counts.deleted ?? 0);
  let due = input.kind !== 'backfill' && changed > 0;
  if (input.kind === 'backfill' && !promotedNextWindow) {
    const left = await pacer.run(QUOTA_POINTS.search, () => connectionTasks(medplum, input.connection, 'backfill'));
    due = !left.some((t) => t.status === 'draft' || t.status === 'requested' || t.status === 'in-progress');
  }
  if (!due || !input.patient.reference) {
    return;
  }
  const patient = { reference: input.patient.reference };
  try {
    await pacer.run(QUOTA_POINTS.search + QUOTA_POINTS.write, () =>
      queueAnalytics(medplum, patient, `${input.kind} ${input.dedupeKey}`)
    );
  } catch (err) {
    console.log(JSON.stringify({ bot: 'sync', analytics: 'not queued', error: String(err) }));
  }
}

/**
 * A disconnect cancels queued and running work; a run that finishes afterwards must not bring its Task back to life
 * (a `failed` one would even be retried). Writing the Task unchanged is a no-op for Medplum.
 */
function unlessCancelled(current: WithId<Task>, next: () => Task): Task {
  return current.status === 'cancelled' ? current : next();
}

function describeFailure(err: unknown): { reason: string; options: { retryable?: boolean; retryAfterMs?: number } } {
  if (err instanceof CredentialsExpiredError || err instanceof NotRetryable) {
    return { reason: err.message, options: { retryable: false } };
  }
  if (err instanceof ProviderHttpError) {
    return {
      reason: err.message,
      options: err.retryAfterSeconds === undefined ? {} : { retryAfterMs: err.retryAfterSeconds * 1000 },
    };
  }
  if (isThrottled(err)) {
    return { reason: 'Medplum FHIR quota exhausted (Too Many Requests)', options: { retryAfterMs: 60_000 } };
  }
  return { reason: err instanceof Error ? err.message : String(err), options: {} };
}

async function run(
  medplum: MedplumClient,
  event: BotEvent<unknown>,
  input: ParsedTaskInput,
  pacer: QuotaPacer
): Promise<TaskCounts> {
  if (input.kind === 'erase') {
    return runErase(medplum, input);
  }
  const connectionId = input.connection.reference?.split('/')[1] ?? '';
  const basic = await pacer.run(QUOTA_POINTS.read, () =>
    medplum.readResource('Basic', connectionId, { cache: 'no-cache' })
  );
  const connection = parseConnection(basic);
  if (connection.status !== 'active') {
    throw new NotRetryable(`The ${connection.provider} connection is ${connection.status}`);
  }
  if (!connection.device) {
    throw new NotRetryable(`The ${connection.provider} connection has no Device`);
  }
  const device = connection.device;
  const module = providerModule(ProviderKeySchema.parse(connection.provider));
  const sync = module.sync(event.secrets);
  const now = new Date();
  const plan = sync.plan(input, { providerUserId: connection.providerUserId, now, lastSync: connection.lastSync });

  const provider = module.oauth(event.secrets);
  const keyring = keyringFromSecrets(event.secrets);
  let token = await freshAccessToken(medplum, basic, provider, keyring);
  const withToken = async <T>(call: (accessToken: string) => Promise<T>): Promise<T> => {
    try {
      return await call(token.accessToken);
    } catch (err) {
      // A token the clock thinks is valid can still be refused (revoked and re-granted elsewhere): refresh once.
      if (!(err instanceof ProviderHttpError && err.kind === 'unauthorized')) {
        throw err;
      }
      token = await freshAccessToken(medplum, token.connection, provider, keyring, { force: true });
      return call(token.accessToken);
    }
  };

  if (plan.kind === 'retract') {
    const retractPlan = plan as RetractPlan;
    const confirmed = await withToken((accessToken) => sync.confirmDeletion(accessToken, retractPlan, input));
    if (confirmed.length === 0) {
      console.log(JSON.stringify({ bot: 'sync', deletion: `not confirmed by ${module.name}`, event: input.eventType }));
      return { retracted: 0, missing: 0 };
    }
    return {
      retracted: await retract(medplum, pacer, module.name, input.patient, { kind: 'retract', records: confirmed }),
    };
  }

  const batch = await withToken((accessToken) =>
    sync.fetch(accessToken, plan, {
      patient: connection.patient,
      device,
      providerUserId: connection.providerUserId,
      now,
    })
  );
  const result = await writeChanged(medplum, pacer, { records: batch.records, writeOnce: batch.writeOnce });
  if (result.failures.length > 0) {
    throw new Error(
      summarizeFailures({
        created: result.created,
        updated: result.updated,
        unchanged: result.unchanged,
        failures: result.failures,
      })
    );
  }
  const upkeep = module.notifications?.(event.secrets).onReconcile;
  if (upkeep && isReconcileTask(input)) {
    // After the data, and never failing the Task: the reconcile has already made up for lost notifications.
    const outcome: NotificationOutcome = await withToken((accessToken) =>
      upkeep(accessToken, { providerUserId: connection.providerUserId, now })
    ).catch((err: unknown) => ({ warning: err instanceof Error ? err.message : String(err) }));
    if (outcome.subscribed?.length || outcome.warning) {
      console.log(JSON.stringify({ bot: 'sync', connection: connectionId, notifications: outcome }));
    }
  }
  return {
    created: result.created,
    updated: result.updated,
    unchanged: result.unchanged,
    retracted: result.retracted,
    skipped: batch.skipped.length,
    missing: batch.missing.length,
  };
}

/** Escapes FHIR search's reserved characters in a token's system or code. */
function escapeToken(value: string): string {
  return value.replace(/[\\,|$]/g, (c) => `\\${c}`);
}

/**
 * Marks the records' Observations entered-in-error. Two runs may retract the same record at once (a sleep.deleted
 * and its recovery.deleted): a version conflict (412) means the other run got there first, so the Observation is
 * read again and skipped if it is already retracted.
 */
async function retract(
  medplum: MedplumClient,
  pacer: QuotaPacer,
  providerDisplayName: string,
  patient: ParsedTaskInput['patient'],
  plan: RetractPlan
): Promise<number> {
  // The record identifiers come from the provider's ids, which a notification names: escaped for the token search
  // (`,` `|` `$` `\` are search syntax), the search scoped to this Task's owner, and only exact matches of this
  // owner's records retracted — so no value a forger chooses can widen the search to other records or owners.
  const wanted = new Set(plan.records.map((r) => `${r.system}|${r.value}`));
  const query = {
    identifier: plan.records.map((r) => `${escapeToken(r.system)}|${escapeToken(r.value)}`).join(','),
    subject: patient.reference ?? '',
    _count: '1000',
  };
  let retracted = 0;
  for (let attempt = 1; ; attempt++) {
    const found: WithId<Observation>[] = await pacer.run(QUOTA_POINTS.search, () =>
      medplum.searchResources('Observation', query, { cache: 'no-cache' })
    );
    const observations = found.filter(
      (o) =>
        o.subject?.reference === patient.reference &&
        (o.identifier ?? []).some((i) => wanted.has(`${i.system ?? ''}|${i.value ?? ''}`))
    );
    const toRetract = observations.filter((o) => o.status !== 'entered-in-error');
    if (toRetract.length === 0) {
      return retracted;
    }
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: toRetract.map((o) => ({
        resource: { ...o, status: 'entered-in-error' },
        request: { method: 'PUT', url: `Observation/${o.id}`, ifMatch: `W/"${o.meta?.versionId}"` },
      })),
    };
    const response = await pacer.run(toRetract.length * QUOTA_POINTS.write, () => medplum.executeBatch(bundle));
    const statuses = (response.entry ?? []).map((e) => e.response?.status ?? '');
    retracted += statuses.filter((status) => status.startsWith('2')).length;
    const raced = statuses.filter((status) => status.startsWith('412') || status.startsWith('429')).length;
    const failed = statuses.length - statuses.filter((status) => status.startsWith('2')).length - raced;
    if (failed > 0 || (raced > 0 && attempt >= 3)) {
      throw new Error(
        `Could not retract ${failed + raced} Observation(s) of ${plan.records.length} ${providerDisplayName} record(s)`
      );
    }
    if (raced === 0) {
      return retracted;
    }
    if (statuses.some((status) => status.startsWith('429'))) {
      await pacer.waitForReset();
    }
  }
}
