/**
 * What a WHOOP sync Task does, decided without I/O (planWhoopSync), then carried out over an injected client
 * (fetchWhoopPlan) and mapped (mapWhoopRecords). The sync bot is orchestration around these three.
 *
 * - A window (backfill or reconcile) lists cycles, sleeps, recoveries and workouts from `start - 24h` to `end`: WHOOP
 *   re-scores recent records (PENDING_SCORE → SCORED, sleep edits), and the overlap re-reads them; upserts by
 *   identifier make the re-read free. Body measurements are read only by a window that reaches the present.
 * - `sleep.updated` → GET the sleep, then its cycle's recovery (a sleep edit re-scores the recovery too).
 * - `recovery.updated` carries the sleep UUID → GET the sleep → cycle_id → GET /v2/cycle/{id}/recovery.
 * - `workout.updated` → GET the workout.
 * - `*.deleted` → retract (entered-in-error) the Observations of the record, but only once WHOOP's API confirms the
 *   record is gone (confirmWhoopDeletion): on a server without raw bodies the notification cannot be verified, and
 *   even a verified one names a record WHOOP may have restored since. A sleep deletion also deletes its recovery
 *   (WHOOP docs), whose record id is the same sleep UUID.
 * - A record WHOOP does not know (404 on an `*.updated` event: forged, or deleted since) is reported as missing, not
 *   as an error, so the Task completes and nothing retries it.
 */
import type { Observation } from '@medplum/fhirtypes';
import type { ParsedTaskInput, RecordType, TaskWindow } from '../shared/tasks.ts';
import type { RecordGroup } from '../shared/write-changed.ts';
import type { WhoopClient } from './client.ts';
import {
  convertWhoopBodyToFhir,
  convertWhoopCycleToFhir,
  convertWhoopRecoveryToFhir,
  convertWhoopSleepToFhir,
  convertWhoopWorkoutToFhir,
  patientIdOf,
  whoopRecordIdentifier,
} from './mappers.ts';
import type { MapResult, WhoopMapContext } from './mappers.ts';
import { WEBHOOK_EVENT_TYPES } from './schemas.ts';
import type {
  WhoopBody,
  WhoopCycle,
  WhoopRecovery,
  WhoopSleep,
  WhoopWebhookEventType,
  WhoopWorkout,
} from './schemas.ts';

export const WINDOW_OVERLAP_MS = 24 * 60 * 60_000;

export type WhoopSyncPlan =
  | {
      readonly kind: 'window';
      /** The range actually requested (task window with the 24-hour overlap). */
      readonly range: TaskWindow;
      readonly collections: readonly ('cycles' | 'sleeps' | 'recoveries' | 'workouts')[];
      /** UTC day to read body measurements for, when the window reaches the present. */
      readonly bodyOn: string | undefined;
    }
  | { readonly kind: 'sleep'; readonly sleepId: string }
  | { readonly kind: 'recovery'; readonly sleepId: string }
  | { readonly kind: 'workout'; readonly workoutId: string }
  | {
      readonly kind: 'retract';
      /** Per-record identifiers (IDENTIFIER_BASE/whoop/record) whose Observations become entered-in-error. */
      readonly records: readonly { readonly recordType: RecordType; readonly system: string; readonly value: string }[];
    };

function isEventType(value: string): value is WhoopWebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);
}

function retract(
  patientId: string,
  whoopUserId: string,
  recordId: string,
  types: readonly RecordType[]
): WhoopSyncPlan {
  return {
    kind: 'retract',
    records: types.map((recordType) => ({
      recordType,
      ...whoopRecordIdentifier(recordType, patientId, whoopUserId, recordId),
    })),
  };
}

/**
 * @param input - the Task's parsed input (readTaskInput)
 * @param ctx - the connection's WHOOP user id and the current time
 * @returns the plan; throws for a Task that is neither a window nor a known event with a record id
 */
export function planWhoopSync(input: ParsedTaskInput, ctx: { whoopUserId: string; now: Date }): WhoopSyncPlan {
  if (input.eventType !== undefined) {
    const event = input.eventType;
    if (!isEventType(event)) {
      throw new Error(`Unknown WHOOP event type ${event}`);
    }
    const id = input.recordId;
    if (!id) {
      throw new Error(`Task for ${event} has no record id`);
    }
    switch (event) {
      case 'sleep.updated':
        return { kind: 'sleep', sleepId: id };
      case 'recovery.updated':
        return { kind: 'recovery', sleepId: id };
      case 'workout.updated':
        return { kind: 'workout', workoutId: id };
      case 'sleep.deleted':
        return retract(patientIdOf(input.patient), ctx.whoopUserId, id, ['sleep', 'recovery']);
      case 'recovery.deleted':
        return retract(patientIdOf(input.patient), ctx.whoopUserId, id, ['recovery']);
      case 'workout.deleted':
        return retract(patientIdOf(input.patient), ctx.whoopUserId, id, ['workout']);
      default: {
        const never: never = event;
        throw new Error(`Unhandled WHOOP event type ${String(never)}`);
      }
    }
  }
  if (!input.window) {
    throw new Error('WHOOP sync Task has neither a window nor an event');
  }
  const start = new Date(Date.parse(input.window.start) - WINDOW_OVERLAP_MS).toISOString();
  const reachesPresent = Date.parse(input.window.end) >= ctx.now.getTime() - WINDOW_OVERLAP_MS;
  return {
    kind: 'window',
    range: { start, end: input.window.end },
    collections: ['cycles', 'sleeps', 'recoveries', 'workouts'],
    bodyOn: reachesPresent ? ctx.now.toISOString().slice(0, 10) : undefined,
  };
}

export interface WhoopRecords {
  /** Records an event named that WHOOP answered 404 for (nothing to write, nothing to retry). */
  missing: string[];
  cycles: WhoopCycle[];
  sleeps: WhoopSleep[];
  /** Each recovery with the sleep it was measured in (undefined when WHOOP no longer has that sleep). */
  recoveries: { recovery: WhoopRecovery; sleep: WhoopSleep | undefined }[];
  workouts: WhoopWorkout[];
  body: { record: WhoopBody; observedOn: string } | undefined;
}

type PlanClient = Pick<
  WhoopClient,
  | 'listCycles'
  | 'listSleeps'
  | 'listRecoveries'
  | 'listWorkouts'
  | 'getSleep'
  | 'getWorkout'
  | 'getCycleRecovery'
  | 'getBody'
>;

/**
 * True when WHOOP does not know the record: 404, or 400 for an id that is not one of its ids (a forged hint with a
 * made-up id must complete, not retry).
 */
function isNotFound(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && 'kind' in err && (err.kind === 'not-found' || err.kind === 'bad-request')
  );
}

/**
 * Asks WHOOP which of a deletion plan's records are really gone.
 * @param client - WHOOP client
 * @param accessToken - the connection's access token
 * @param plan - a retract plan
 * @param recordId - the id the event named (a sleep UUID for sleep/recovery, a workout UUID)
 * @returns the plan's records WHOOP confirms deleted (empty when the record still exists)
 */
export async function confirmWhoopDeletion(
  client: Pick<WhoopClient, 'getSleep' | 'getWorkout' | 'getCycleRecovery'>,
  accessToken: string,
  plan: Extract<WhoopSyncPlan, { kind: 'retract' }>,
  recordId: string
): Promise<Extract<WhoopSyncPlan, { kind: 'retract' }>['records']> {
  const types = new Set(plan.records.map((r) => r.recordType));
  if (types.has('workout')) {
    try {
      await client.getWorkout(accessToken, recordId);
      return [];
    } catch (err) {
      if (isNotFound(err)) {
        return plan.records;
      }
      throw err;
    }
  }
  let sleep: WhoopSleep;
  try {
    sleep = await client.getSleep(accessToken, recordId);
  } catch (err) {
    if (isNotFound(err)) {
      // No sleep, so no recovery measured in it either.
      return plan.records;
    }
    throw err;
  }
  if (types.has('sleep')) {
    // The sleep exists: a sleep.deleted for it is stale or forged.
    return [];
  }
  const recovery = await client.getCycleRecovery(accessToken, sleep.cycle_id);
  return recovery && recovery.sleep_id === sleep.id ? [] : plan.records.filter((r) => r.recordType === 'recovery');
}

/**
 * Carries out a fetching plan (not `retract`, which is a Medplum write the caller does).
 * @param client - WHOOP client
 * @param accessToken - the connection's access token
 * @param plan - from planWhoopSync
 * @returns the WHOOP records to map
 */
export async function fetchWhoopPlan(
  client: PlanClient,
  accessToken: string,
  plan: Exclude<WhoopSyncPlan, { kind: 'retract' }>
): Promise<WhoopRecords> {
  const records: WhoopRecords = { missing: [], cycles: [], sleeps: [], recoveries: [], workouts: [], body: undefined };
  switch (plan.kind) {
    case 'window': {
      // Sequential on purpose: WHOOP allows 100 requests a minute per app, shared by every patient.
      records.cycles = await client.listCycles(accessToken, plan.range);
      records.sleeps = await client.listSleeps(accessToken, plan.range);
      const recoveries = await client.listRecoveries(accessToken, plan.range);
      records.workouts = await client.listWorkouts(accessToken, plan.range);
      const sleepsById = new Map(records.sleeps.map((s) => [s.id, s]));
      for (const recovery of recoveries) {
        let sleep = sleepsById.get(recovery.sleep_id);
        if (!sleep && recovery.score_state === 'SCORED') {
          sleep = await getSleepIfExists(client, accessToken, recovery.sleep_id);
        }
        records.recoveries.push({ recovery, sleep });
      }
      if (plan.bodyOn) {
        records.body = { record: await client.getBody(accessToken), observedOn: plan.bodyOn };
      }
      return records;
    }
    case 'sleep':
    case 'recovery': {
      const sleep = await getSleepIfExists(client, accessToken, plan.sleepId);
      if (!sleep) {
        records.missing.push(`sleep ${plan.sleepId}`);
        return records;
      }
      if (plan.kind === 'sleep') {
        records.sleeps.push(sleep);
      }
      const recovery = await client.getCycleRecovery(accessToken, sleep.cycle_id);
      // A cycle's recovery belongs to its main sleep; a nap's sleep.updated must not re-date it.
      if (recovery && recovery.sleep_id === sleep.id) {
        records.recoveries.push({ recovery, sleep });
      }
      return records;
    }
    case 'workout':
      try {
        records.workouts.push(await client.getWorkout(accessToken, plan.workoutId));
      } catch (err) {
        if (!isNotFound(err)) {
          throw err;
        }
        records.missing.push(`workout ${plan.workoutId}`);
      }
      return records;
    default: {
      const never: never = plan;
      throw new Error(`Unhandled plan ${JSON.stringify(never)}`);
    }
  }
}

async function getSleepIfExists(
  client: PlanClient,
  accessToken: string,
  sleepId: string
): Promise<WhoopSleep | undefined> {
  try {
    return await client.getSleep(accessToken, sleepId);
  } catch (err) {
    if (isNotFound(err)) {
      return undefined;
    }
    throw err;
  }
}

/**
 * @param records - from fetchWhoopPlan
 * @param ctx - patient, device, WHOOP user id
 * @returns every Observation to upsert and every skip reason
 */
export function mapWhoopRecords(records: WhoopRecords, ctx: WhoopMapContext): MapResult {
  const results: MapResult[] = [
    ...records.cycles.map((r) => convertWhoopCycleToFhir(r, ctx)),
    ...records.sleeps.map((r) => convertWhoopSleepToFhir(r, ctx)),
    ...records.recoveries.map(({ recovery, sleep }) =>
      convertWhoopRecoveryToFhir(recovery, sleep ? { ...ctx, sleep } : ctx)
    ),
    ...records.workouts.map((r) => convertWhoopWorkoutToFhir(r, ctx)),
  ];
  if (records.body) {
    results.push(convertWhoopBodyToFhir(records.body.record, { ...ctx, observedOn: records.body.observedOn }));
  }
  return {
    observations: results.flatMap((r) => r.observations),
    writeOnce: results.flatMap((r) => r.writeOnce),
    skipped: results.flatMap((r) => r.skipped),
  };
}

export interface GroupedWhoopRecords {
  /** Every fetched record with what it maps to now, keyed by the identifier its Observations share. */
  records: RecordGroup[];
  /** Observations written only if new (values the owner typed in: written on change). */
  writeOnce: Observation[];
  skipped: MapResult['skipped'];
}

/**
 * Maps each fetched record on its own, so the writer can also retract what a record no longer produces (a sleep
 * re-scored into a nap, a recovery that lost a value).
 * @param records - from fetchWhoopPlan
 * @param ctx - patient, device, WHOOP user id
 * @returns one group per fetched record, the write-once Observations and every skip reason
 */
export function groupWhoopRecords(records: WhoopRecords, ctx: WhoopMapContext): GroupedWhoopRecords {
  const out: GroupedWhoopRecords = { records: [], writeOnce: [], skipped: [] };
  const patientId = patientIdOf(ctx.patient);
  const add = (recordType: RecordType, recordId: string, result: MapResult): void => {
    out.records.push({
      record: whoopRecordIdentifier(recordType, patientId, ctx.whoopUserId, recordId),
      observations: result.observations,
    });
    out.writeOnce.push(...result.writeOnce);
    out.skipped.push(...result.skipped);
  };
  for (const cycle of records.cycles) {
    add('cycle', String(cycle.id), convertWhoopCycleToFhir(cycle, ctx));
  }
  for (const sleep of records.sleeps) {
    add('sleep', sleep.id, convertWhoopSleepToFhir(sleep, ctx));
  }
  for (const { recovery, sleep } of records.recoveries) {
    add('recovery', recovery.sleep_id, convertWhoopRecoveryToFhir(recovery, sleep ? { ...ctx, sleep } : ctx));
  }
  for (const workout of records.workouts) {
    add('workout', workout.id, convertWhoopWorkoutToFhir(workout, ctx));
  }
  if (records.body) {
    const body = convertWhoopBodyToFhir(records.body.record, { ...ctx, observedOn: records.body.observedOn });
    out.writeOnce.push(...body.observations, ...body.writeOnce);
    out.skipped.push(...body.skipped);
  }
  return out;
}
