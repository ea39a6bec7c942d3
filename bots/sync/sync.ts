/**
 * Bot `sync` (Subscription: a sync or backfill Task became `requested`): runs that one Task.
 *
 * 1. Claims the Task with a versioned update to `in-progress` (two deliveries of the same Task cannot both run it).
 * 2. Gets a usable access token — refreshed once at a time per connection (shared/tokens.ts).
 * 3. Plans the provider calls (a window with a 24-hour overlap, because WHOOP re-scores after the fact; or the one
 *    record a webhook named), fetches, maps to catalogue-coded Observations (unscored records are skipped until
 *    scored), and writes them in batches of conditional PUTs by identifier, checking every entry.
 *    A `*.deleted` event marks that record's Observations `entered-in-error` instead (kept for audit; only a
 *    disconnect with erase deletes data).
 * 4. Completes the Task with its counts — or fails it with a reason and a next attempt (the sweeper retries),
 *    without a retry when the owner must reconnect. A finished backfill window starts the next one.
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Bundle, Observation, Task } from '@medplum/fhirtypes';
import { z } from 'zod';
import { oauthProviderFor, ProviderKeySchema, whoopClientFor } from '../providers.ts';
import { parseConnection, withLastSync } from '../shared/connection.ts';
import { upsertByIdentifier, summarizeFailures } from '../shared/fhir-batch.ts';
import { updateIfUnchanged, updateWithRetry } from '../shared/fhir-write.ts';
import { ProviderHttpError } from '../shared/http.ts';
import { promoteNextBackfill } from '../shared/queue.ts';
import { searchAll } from '../shared/search.ts';
import { markCompleted, markFailed, markInProgress, readTaskInput } from '../shared/tasks.ts';
import type { ParsedTaskInput, TaskCounts } from '../shared/tasks.ts';
import { keyringFromSecrets } from '../shared/token-crypto.ts';
import { CredentialsExpiredError, freshAccessToken } from '../shared/tokens.ts';
import { fetchWhoopPlan, mapWhoopRecords, planWhoopSync } from '../whoop/sync-plan.ts';
import type { WhoopRecords, WhoopSyncPlan } from '../whoop/sync-plan.ts';

const TaskInput = z.looseObject({
  resourceType: z.literal('Task'),
  id: z.string(),
  status: z.string(),
  meta: z.looseObject({ versionId: z.string() }),
});

export type SyncResult =
  { task: string; status: 'completed'; counts: TaskCounts } | { task?: string; status: 'skipped'; reason: string };

class NotRetryable extends Error {}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<SyncResult> {
  const parsed = TaskInput.safeParse(event.input);
  if (!parsed.success) {
    return { status: 'skipped', reason: 'input is not a Task' };
  }
  // The Subscription hands over the version that matched; claim exactly that version.
  const task = parsed.data as unknown as WithId<Task>;
  if (task.status !== 'requested') {
    return { task: task.id, status: 'skipped', reason: `Task is ${task.status}` };
  }
  const input = readTaskInput(task);
  const claimed = await updateIfUnchanged(medplum, markInProgress(task, new Date()), task);
  if (!claimed) {
    return { task: task.id, status: 'skipped', reason: 'claimed by another run' };
  }

  let counts: TaskCounts;
  try {
    counts = await run(medplum, event, input);
  } catch (err) {
    const failure = describeFailure(err);
    await updateWithRetry(medplum, 'Task', claimed.id, (current) =>
      markFailed(current, failure.reason, new Date(), failure.options)
    );
    if (input.kind === 'backfill') {
      await promoteNextBackfill(medplum, input.connection);
    }
    console.log(JSON.stringify({ bot: 'sync', task: claimed.id, failed: failure.reason }));
    throw new Error(failure.reason, { cause: err });
  }

  await updateWithRetry(medplum, 'Task', claimed.id, (current) => markCompleted(current, counts, new Date()));
  const connectionId = input.connection.reference?.split('/')[1] ?? '';
  await updateWithRetry(medplum, 'Basic', connectionId, (current) => withLastSync(current, new Date()));
  if (input.kind === 'backfill') {
    await promoteNextBackfill(medplum, input.connection);
  }
  console.log(JSON.stringify({ bot: 'sync', task: claimed.id, kind: input.kind, ...counts }));
  return { task: claimed.id, status: 'completed', counts };
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
  return { reason: err instanceof Error ? err.message : String(err), options: {} };
}

async function run(medplum: MedplumClient, event: BotEvent<unknown>, input: ParsedTaskInput): Promise<TaskCounts> {
  const connectionId = input.connection.reference?.split('/')[1] ?? '';
  const basic = await medplum.readResource('Basic', connectionId, { cache: 'no-cache' });
  const connection = parseConnection(basic);
  if (connection.status !== 'active') {
    throw new NotRetryable(`The ${connection.provider} connection is ${connection.status}`);
  }
  if (!connection.device) {
    throw new NotRetryable(`The ${connection.provider} connection has no Device`);
  }
  const providerKey = ProviderKeySchema.parse(connection.provider);
  const plan = planWhoopSync(input, { whoopUserId: connection.providerUserId, now: new Date() });
  if (plan.kind === 'retract') {
    return { deleted: await retract(medplum, plan) };
  }

  const provider = oauthProviderFor(providerKey, event.secrets);
  const keyring = keyringFromSecrets(event.secrets);
  const client = whoopClientFor(event.secrets);
  let token = await freshAccessToken(medplum, basic, provider, keyring);
  let records: WhoopRecords;
  try {
    records = await fetchWhoopPlan(client, token.accessToken, plan);
  } catch (err) {
    // A token the clock thinks is valid can still be refused (revoked and re-granted elsewhere): refresh once.
    if (!(err instanceof ProviderHttpError && err.kind === 'unauthorized')) {
      throw err;
    }
    token = await freshAccessToken(medplum, token.connection, provider, keyring, { force: true });
    records = await fetchWhoopPlan(client, token.accessToken, plan);
  }

  const mapped = mapWhoopRecords(records, {
    patient: connection.patient,
    device: connection.device,
    whoopUserId: connection.providerUserId,
  });
  const result = await upsertByIdentifier(
    medplum,
    mapped.observations.map((resource) => ({ resource, identifier: firstIdentifier(resource) })),
    // ~500 Observations (~0.5 MB) per Bundle stays under Medplum's 1 MB maxJsonSize and keeps requests per
    // Observation near 0.01.
    { chunkSize: 500 }
  );
  if (result.failures.length > 0) {
    throw new Error(summarizeFailures(result));
  }
  return {
    created: result.created,
    updated: result.updated,
    unchanged: result.unchanged,
    skipped: mapped.skipped.length,
  };
}

function firstIdentifier(observation: Observation): { system: string; value: string } {
  const id = observation.identifier?.[0];
  if (!id?.system || !id.value) {
    throw new Error('Mapped Observation has no identifier');
  }
  return { system: id.system, value: id.value };
}

async function retract(medplum: MedplumClient, plan: Extract<WhoopSyncPlan, { kind: 'retract' }>): Promise<number> {
  let retracted = 0;
  for (const record of plan.records) {
    const observations = await searchAll(medplum, 'Observation', {
      identifier: `${record.system}|${record.value}`,
      _count: '200',
    });
    const toRetract = observations.filter((o) => o.status !== 'entered-in-error');
    if (toRetract.length === 0) {
      continue;
    }
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: toRetract.map((o) => ({
        resource: { ...o, status: 'entered-in-error' },
        request: { method: 'PUT', url: `Observation/${o.id}`, ifMatch: `W/"${o.meta?.versionId}"` },
      })),
    };
    const response = await medplum.executeBatch(bundle);
    const failed = (response.entry ?? []).filter((e) => !e.response?.status?.startsWith('2'));
    if (failed.length > 0) {
      throw new Error(`Could not retract ${failed.length} Observation(s) of ${record.recordType} ${record.value}`);
    }
    retracted += toRetract.length;
  }
  return retracted;
}
