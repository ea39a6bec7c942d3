/**
 * Bot `sweeper` (cron, every 5 minutes): the backstop that makes the queue reliable. Medplum does not retry a bot
 * run that failed, and a subscription delivery can be lost if a server dies, so this bot
 * 1. puts failed Tasks whose retry time has come back to `requested` (exponential backoff, capped, bounded attempts);
 * 2. re-queues Tasks stuck `requested` or `in-progress` longer than the stale limit (a crashed run);
 * 3. refreshes access tokens that expire within 10 minutes (single-flight, see shared/tokens.ts), marking a
 *    connection `credentials-expired` when the provider refuses;
 * 4. queues a 48-hour reconcile sync for connections that have had no webhook for a day (webhooks get lost);
 * 5. keeps each connection's backfill moving (promotes the next window if none is running);
 * 6. re-encrypts a page of token blobs still under a previous key (key rotation) and moves legacy blobs off
 *    connection records (shared/tokens.ts reencryptStaleTokens);
 * 7. runs each provider's notification upkeep (Oura: renew webhook subscriptions before they expire, recreate lost
 *    ones) for providers with an active connection.
 * Input is the Bot resource on cron; an admin may `$execute` it with `{ staleAfterSeconds, asOf }` to force steps 1–2.
 * It pages through every connection and every Task it looks at (no fixed page cap), and paces its own FHIR traffic
 * by the quota (shared/quota.ts), so a sweep over many owners waits for the quota window instead of failing.
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Task } from '@medplum/fhirtypes';
import { z } from 'zod';
import { oauthProviderFor, PROVIDER_MODULES, ProviderKeySchema } from '../providers.ts';
import { CONNECTION_CODE_TOKEN, parseConnection, tokenNeedsRefresh } from '../shared/connection.ts';
import { TASK_IDENTIFIER_SYSTEM, TASK_TYPE_SYSTEM } from '../shared/extensions.ts';
import { updateIfUnchanged } from '../shared/fhir-write.ts';
import { promoteNextBackfill, taskKey } from '../shared/queue.ts';
import { ANALYTICS_STALE_MS } from '../analytics/queue.ts';
import { searchAll } from '../shared/search.ts';
import { QUOTA_POINTS, QuotaPacer } from '../shared/quota.ts';
import { buildTask, isDue, isStuck } from '../shared/tasks.ts';
import { keyringFromSecrets } from '../shared/token-crypto.ts';
import { CredentialsExpiredError, freshAccessToken, reencryptStaleTokens } from '../shared/tokens.ts';

const SweeperOptions = z.object({
  staleAfterSeconds: z.number().int().min(0).optional(),
  /** Evaluate retry times as of this instant (an admin forcing due retries now). */
  asOf: z.iso.datetime({ offset: true }).optional(),
});
const DEFAULT_STALE_MS = 10 * 60_000;
const REFRESH_AHEAD_MS = 10 * 60_000;
const QUIET_MS = 24 * 60 * 60_000;
const RECONCILE_MS = 48 * 60 * 60_000;

export interface SweeperResult {
  retried: number;
  requeued: number;
  refreshed: number;
  expired: number;
  reconciled: number;
  promoted: number;
  reencrypted: number;
  /** Provider notification upkeep (step 7), per provider key that has any. */
  subscriptions: Record<string, { renewed: number; created: number; failed: number }>;
}

/**
 * Every kind of work item the sweeper retries and re-queues. Analytics recomputes are here too: one that waits
 * behind a run that crashed, or whose run ended before picking it up, is otherwise only found by the nightly run.
 */
const SWEPT_KINDS = ['backfill', 'sync', 'erase', 'analytics'] as const;

async function tasksWithStatus(medplum: MedplumClient, pacer: QuotaPacer, status: string): Promise<WithId<Task>[]> {
  return pacer.run(QUOTA_POINTS.search, () =>
    searchAll(medplum, 'Task', {
      code: SWEPT_KINDS.map((kind) => `${TASK_TYPE_SYSTEM}|${kind}`).join(','),
      status,
      _count: '500',
    })
  );
}

/** Sets a Task back to `requested` so the sync Subscription runs it (via on-hold when it is already requested). */
async function requeue(medplum: MedplumClient, pacer: QuotaPacer, task: WithId<Task>): Promise<boolean> {
  let current: WithId<Task> | undefined = task;
  if (current.status === 'requested') {
    const held: WithId<Task> = current;
    current = await pacer.run(QUOTA_POINTS.write, () =>
      updateIfUnchanged(medplum, { ...held, status: 'on-hold' }, held)
    );
  }
  const next = current;
  return Boolean(
    next &&
    (await pacer.run(QUOTA_POINTS.write, () => updateIfUnchanged(medplum, { ...next, status: 'requested' }, next)))
  );
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<SweeperResult> {
  const options = SweeperOptions.safeParse(event.input);
  const staleMs =
    options.success && options.data.staleAfterSeconds !== undefined
      ? options.data.staleAfterSeconds * 1000
      : DEFAULT_STALE_MS;
  const now = options.success && options.data.asOf ? new Date(options.data.asOf) : new Date();
  const result: SweeperResult = {
    retried: 0,
    requeued: 0,
    refreshed: 0,
    expired: 0,
    reconciled: 0,
    promoted: 0,
    reencrypted: 0,
    subscriptions: {},
  };

  const pacer = new QuotaPacer(medplum);
  const connections = (
    await pacer.run(QUOTA_POINTS.search, () =>
      searchAll(medplum, 'Basic', { code: CONNECTION_CODE_TOKEN, _count: '500' })
    )
  ).map((basic) => ({ basic, connection: parseConnection(basic) }));
  const active = new Set(connections.filter((c) => c.connection.status === 'active').map((c) => `Basic/${c.basic.id}`));
  // Erase work runs for connections that are no longer active (that is when an owner erases); a recompute is about
  // the owner's record, whatever their connections.
  const runnable = (task: Task): boolean =>
    task.code?.coding?.some((c) => c.system === TASK_TYPE_SYSTEM && (c.code === 'erase' || c.code === 'analytics')) ===
      true || active.has(task.focus?.reference ?? '');

  // A paced recompute may run for minutes under a shared quota: it is presumed dead only after the analytics
  // bot's own limit (an explicit staleAfterSeconds, e.g. from an admin or a test, still applies to every kind).
  const staleFor = (task: Task): number =>
    !(options.success && options.data.staleAfterSeconds !== undefined) &&
    task.code?.coding?.some((c) => c.system === TASK_TYPE_SYSTEM && c.code === 'analytics') === true
      ? Math.max(staleMs, ANALYTICS_STALE_MS)
      : staleMs;

  // 1. Retries that are due (only for connections that can still sync).
  for (const task of await tasksWithStatus(medplum, pacer, 'failed')) {
    if (runnable(task) && isDue(task, now) && (await requeue(medplum, pacer, task))) {
      result.retried++;
    }
  }
  // 2. Stuck work.
  for (const status of ['in-progress', 'requested']) {
    for (const task of await tasksWithStatus(medplum, pacer, status)) {
      if (runnable(task) && isStuck(task, now, staleFor(task)) && (await requeue(medplum, pacer, task))) {
        result.requeued++;
      }
    }
  }

  const keyring = connections.some((c) => c.connection.status === 'active')
    ? keyringFromSecrets(event.secrets)
    : undefined;
  for (const { basic, connection } of connections) {
    if (connection.status !== 'active' || !keyring) {
      continue;
    }
    const provider = ProviderKeySchema.safeParse(connection.provider);
    if (!provider.success) {
      continue;
    }
    // 3. Tokens ahead of expiry.
    if (tokenNeedsRefresh(connection, now, REFRESH_AHEAD_MS)) {
      try {
        const fresh = await freshAccessToken(medplum, basic, oauthProviderFor(provider.data, event.secrets), keyring);
        result.refreshed += fresh.refreshed ? 1 : 0;
      } catch (err) {
        if (err instanceof CredentialsExpiredError) {
          result.expired++;
          continue;
        }
        console.log(JSON.stringify({ bot: 'sweeper', connection: basic.id, refresh: 'failed' }));
      }
    }
    // 4. Quiet connections.
    const lastHeard = Date.parse(connection.lastWebhook ?? connection.connectedAt ?? '');
    if (!Number.isNaN(lastHeard) && now.getTime() - lastHeard > QUIET_MS) {
      const key = taskKey(connection.provider, 'reconcile', basic.id, now.toISOString().slice(0, 10));
      const task = buildTask({
        kind: 'sync',
        patient: connection.patient,
        connection: { reference: `Basic/${basic.id}` },
        provider: connection.provider,
        dedupeKey: key,
        window: { start: new Date(now.getTime() - RECONCILE_MS).toISOString(), end: now.toISOString() },
      });
      const existing = await medplum.searchOne(
        'Task',
        { identifier: `${TASK_IDENTIFIER_SYSTEM}|${key}` },
        { cache: 'no-cache' }
      );
      if (!existing) {
        // Conditional even so: two sweeps racing still make one Task.
        await medplum.createResourceIfNoneExist(task, `identifier=${TASK_IDENTIFIER_SYSTEM}|${key}`);
        result.reconciled++;
      }
    }
    // 5. Backfill progress.
    if (await promoteNextBackfill(medplum, { reference: `Basic/${basic.id}` })) {
      result.promoted++;
    }
  }
  // 6. Key rotation: a bounded page per sweep, so a rotation over many owners spreads across sweeps.
  if (keyring) {
    const rotation = await pacer.run(QUOTA_POINTS.search, () => reencryptStaleTokens(medplum, event.secrets, 50));
    result.reencrypted = rotation.reencrypted + rotation.migrated;
  }
  // 7. Provider notification upkeep, only where someone is connected (it spends the provider's app-wide quota).
  const activeProviders = new Set(
    connections.filter((c) => c.connection.status === 'active').map((c) => c.connection.provider)
  );
  for (const module of PROVIDER_MODULES) {
    const hooks = activeProviders.has(module.key) ? module.notifications?.(event.secrets) : undefined;
    if (!hooks?.maintain) {
      continue;
    }
    try {
      const done = await hooks.maintain({ now });
      result.subscriptions[module.key] = { renewed: done.renewed, created: done.created, failed: done.failed };
    } catch (err) {
      result.subscriptions[module.key] = { renewed: 0, created: 0, failed: 1 };
      console.log(
        JSON.stringify({ bot: 'sweeper', provider: module.key, upkeep: err instanceof Error ? err.message : 'failed' })
      );
    }
  }
  console.log(JSON.stringify({ bot: 'sweeper', ...result }));
  return result;
}
