/**
 * What a Withings sync Task does, decided without I/O (planWithingsSync), then carried out over an injected client
 * (fetchWithingsPlan) and mapped into record groups (groupWithingsRecords). The sync bot is orchestration around them.
 *
 * - A window (backfill, sweeper reconcile, the hint budget's reconcile) reads every category — measures, daily
 *   activity, intraday heart rate and steps, workouts, sleep summaries — from `start − 48 h` to `end`: Withings
 *   users edit and re-attribute measures later and trackers sync late, and the overlap re-reads them; upserts by
 *   identifier make the re-read free. Intraday is one call per UTC day (Withings returns at most 24 hours a call).
 * - A notification Task (recordType = the category, recordId = the window it named `<startdate>-<enddate>`,
 *   eventType `appli-<n>`) re-fetches only that category, and never over the window it named as such: measures,
 *   activity, workouts and sleep are asked with `lastupdate` = max(last sync − 48 h, now − 7 days) — everything
 *   changed since, whatever the notification claimed — and intraday (which has no `lastupdate`) over the named
 *   window clamped to [now − 7 days, now]. A forged hint therefore costs at most a 7-day re-read (≤ 8 intraday
 *   calls), and the webhook's per-connection hint budget bounds how often.
 * - Deletions: Withings sends no per-record deletion (appli 46 `action=delete|unlink` is about the account, not
 *   data, and Baseline does not subscribe to it). A measure group deleted at Withings is therefore not retracted:
 *   getmeas simply stops listing it, and absence in a window is no proof (it may be paged, re-attributed to another
 *   user, or outside the range). Edited measures come back under the same grpid and are updated in place. The plan
 *   never retracts, and confirmDeletion confirms nothing.
 */
import type { Observation } from '@medplum/fhirtypes';
import type { PlanContext, RetractPlan } from '../shared/provider.ts';
import { patientIdOf } from '../shared/observations.ts';
import type { SkipReason } from '../shared/observations.ts';
import type { ParsedTaskInput } from '../shared/tasks.ts';
import type { RecordGroup } from '../shared/write-changed.ts';
import type { DayQuery, MeasureQuery, WithingsClient } from './client.ts';
import {
  activityRecordId,
  convertWithingsActivityToFhir,
  convertWithingsMeasureGroupToFhir,
  convertWithingsSleepSummaryToFhir,
  convertWithingsWorkoutToFhir,
  INTRADAY_PERIOD_MS,
  mapWithingsIntraday,
  withingsRecordIdentifier,
} from './mappers.ts';
import type { MapResult, WithingsMapContext, WithingsRecordType } from './mappers.ts';
import type {
  WithingsActivity,
  WithingsIntradayPoint,
  WithingsMeasureGroup,
  WithingsSleepSummary,
  WithingsWorkout,
} from './schemas.ts';

export const WINDOW_OVERLAP_MS = 48 * 60 * 60_000;
/** The most a notification can make Baseline re-read. */
export const HINT_MAX_MS = 7 * 24 * 60 * 60_000;
const DAY_MS = 86_400_000;

export const CATEGORIES = ['measure', 'activity', 'intraday', 'workout', 'sleep'] as const;
export type WithingsCategory = (typeof CATEGORIES)[number];

/** What each subscribed notification category re-fetches (providers.md §2.3). */
export const APPLI_CATEGORIES: Readonly<Record<number, readonly WithingsCategory[]>> = {
  1: ['measure'],
  2: ['measure'],
  4: ['measure'],
  16: ['activity', 'intraday', 'workout'],
  44: ['sleep'],
};

export interface WithingsFetchPlan {
  readonly kind: 'fetch';
  readonly categories: readonly WithingsCategory[];
  /** Unix seconds [start, end): the date range (window Tasks) and the intraday range (every Task). */
  readonly range: { readonly start: number; readonly end: number };
  /** Set for notifications: every category but intraday asks for records changed since then (unix seconds). */
  readonly lastupdate: number | undefined;
}

const APPLI_EVENT = /^appli-(\d{1,4})$/;
const NAMED_WINDOW = /^(\d{1,12})-(\d{1,12})$/;

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/**
 * @param input - the Task's parsed input
 * @param ctx - the connection's Withings user id, its last successful sync, the clock
 * @returns the plan; throws for a Task that is neither a window nor a subscribed notification
 */
export function planWithingsSync(input: ParsedTaskInput, ctx: PlanContext): WithingsFetchPlan | RetractPlan {
  const now = ctx.now.getTime();
  if (input.eventType !== undefined) {
    const appli = APPLI_EVENT.exec(input.eventType)?.[1];
    const categories = appli === undefined ? undefined : APPLI_CATEGORIES[Number(appli)];
    if (!categories) {
      throw new Error(`Unknown Withings notification ${input.eventType}`);
    }
    const floor = now - HINT_MAX_MS;
    // Every change of the category in the last 7 days, not since the last sync: lastSync moves with any category's
    // sync, so a notification Withings gave up on would otherwise never be made up; this way the next notification
    // of its category (or the sweeper's reconcile) brings it in. Unchanged values cost reads only (write-changed.ts).
    const since = floor;
    // The named window only narrows the intraday read, and only within the last 7 days.
    const named = NAMED_WINDOW.exec(input.recordId ?? '');
    let start = floor;
    let end = now;
    if (named) {
      start = Math.max(floor, Number(named[1]) * 1000);
      end = Math.min(now, Number(named[2]) * 1000);
    }
    if (start >= end) {
      // Entirely outside the last 7 days (or backwards): the recent days are what a sync may have touched.
      start = now - WINDOW_OVERLAP_MS;
      end = now;
    }
    return {
      kind: 'fetch',
      categories,
      range: { start: seconds(start), end: seconds(end) },
      lastupdate: seconds(since),
    };
  }
  if (!input.window) {
    throw new Error('Withings sync Task has neither a window nor a notification');
  }
  const only = CATEGORIES.find((c) => c === input.recordType);
  return {
    kind: 'fetch',
    categories: only ? [only] : CATEGORIES,
    range: {
      start: seconds(Date.parse(input.window.start) - WINDOW_OVERLAP_MS),
      end: seconds(Math.min(Date.parse(input.window.end), now)),
    },
    lastupdate: undefined,
  };
}

export interface WithingsRecords {
  measures: { groups: WithingsMeasureGroup[]; timezone: string | undefined };
  activities: WithingsActivity[];
  intraday: { t: number; point: WithingsIntradayPoint }[];
  workouts: WithingsWorkout[];
  sleeps: WithingsSleepSummary[];
}

type PlanClient = Pick<
  WithingsClient,
  'getMeasures' | 'getActivity' | 'getIntraday' | 'getWorkouts' | 'getSleepSummaries'
>;

function ymd(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().slice(0, 10);
}

/**
 * Whole UTC days, never clipped to the range, each shifted half a minute earlier. A series is merged slot by slot (an
 * incoming value replaces the stored one) and a minute's slot holds the samples within 30 s of it — a day's first
 * slot starts at 23:59:30 the day before. So every read covers whole slots: one that began or ended inside a slot
 * would carry part of that minute and overwrite the complete value stored before (review finding: 90 steps became
 * 50). It is still one Withings call per day (its cap is 24 h); only the minute in progress can be partial, and a
 * later read only ever adds to it.
 * @param range - unix seconds [start, end)
 * @returns one [start, end) of 24 h per UTC day the range touches
 */
export function intradayDays(range: { start: number; end: number }): { startdate: number; enddate: number }[] {
  const days: { startdate: number; enddate: number }[] = [];
  const dayS = DAY_MS / 1000;
  const half = INTRADAY_PERIOD_MS / 2000;
  for (let day = Math.floor((range.start + half) / dayS) * dayS; day - half < range.end; day += dayS) {
    days.push({ startdate: day - half, enddate: day + dayS - half });
  }
  return days;
}

/**
 * Carries out a plan. Sequential on purpose: Withings allows 120 requests a minute for the whole app.
 * @param client - Withings client
 * @param accessToken - the connection's access token
 * @param plan - from planWithingsSync
 * @returns the Withings records to map
 */
export async function fetchWithingsPlan(
  client: PlanClient,
  accessToken: string,
  plan: WithingsFetchPlan
): Promise<WithingsRecords> {
  const records: WithingsRecords = {
    measures: { groups: [], timezone: undefined },
    activities: [],
    intraday: [],
    workouts: [],
    sleeps: [],
  };
  const measureQuery: MeasureQuery =
    plan.lastupdate === undefined
      ? { startdate: plan.range.start, enddate: plan.range.end }
      : { lastupdate: plan.lastupdate };
  const dayQuery: DayQuery =
    plan.lastupdate === undefined
      ? { startdateymd: ymd(plan.range.start), enddateymd: ymd(plan.range.end) }
      : { lastupdate: plan.lastupdate };
  for (const category of plan.categories) {
    switch (category) {
      case 'measure':
        records.measures = await client.getMeasures(accessToken, measureQuery);
        break;
      case 'activity':
        records.activities = await client.getActivity(accessToken, dayQuery);
        break;
      case 'intraday':
        for (const day of intradayDays(plan.range)) {
          records.intraday.push(...(await client.getIntraday(accessToken, day)));
        }
        break;
      case 'workout':
        records.workouts = await client.getWorkouts(accessToken, dayQuery);
        break;
      case 'sleep':
        records.sleeps = await client.getSleepSummaries(accessToken, dayQuery);
        break;
      default: {
        const never: never = category;
        throw new Error(`Unhandled Withings category ${String(never)}`);
      }
    }
  }
  return records;
}

export interface GroupedWithingsRecords {
  records: RecordGroup[];
  writeOnce: Observation[];
  skipped: SkipReason[];
}

/**
 * Maps each fetched record on its own (so the writer can retract what a record no longer produces, e.g. a measure
 * group re-attributed as ambiguous), and the intraday series as merge groups.
 * @param records - from fetchWithingsPlan
 * @param ctx - patient, device, Withings user id
 * @returns one group per record (the last listing of a record wins), and every skip reason
 */
export function groupWithingsRecords(records: WithingsRecords, ctx: WithingsMapContext): GroupedWithingsRecords {
  const patientId = patientIdOf(ctx.patient);
  const byRecord = new Map<string, RecordGroup>();
  const skipped: SkipReason[] = [];
  const add = (recordType: WithingsRecordType, recordId: string, result: MapResult): void => {
    const record = withingsRecordIdentifier(recordType, patientId, ctx.providerUserId, recordId);
    byRecord.set(record.value, { record, observations: result.observations });
    skipped.push(...result.skipped);
  };
  for (const group of records.measures.groups) {
    add(
      'measure',
      String(group.grpid),
      convertWithingsMeasureGroupToFhir(group, { ...ctx, timezone: records.measures.timezone })
    );
  }
  for (const activity of records.activities) {
    add('activity', activityRecordId(activity), convertWithingsActivityToFhir(activity, ctx));
  }
  for (const workout of records.workouts) {
    add('workout', String(workout.id), convertWithingsWorkoutToFhir(workout, ctx));
  }
  for (const sleep of records.sleeps) {
    add('sleep', String(sleep.id), convertWithingsSleepSummaryToFhir(sleep, ctx));
  }
  const series = mapWithingsIntraday(records.intraday, ctx);
  skipped.push(...series.skipped);
  return { records: [...byRecord.values(), ...series.records], writeOnce: [], skipped };
}
