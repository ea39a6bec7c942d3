/**
 * Pure Oura document → FHIR Observation mappers. Codes, units, categories, plausible ranges and panel membership come
 * only from bots/shared/catalogue.ts, identifiers from bots/shared/observations.ts (record type = the Oura collection,
 * record id = the Oura document id), series from bots/shared/sampled-data.ts.
 *
 * Granularity (each write costs 100 FHIR-quota points): one Observation per value an EHR searches by its own code
 * (resting heart rate, SpO2, respiratory rate, and the day's totals, which the catalogue gives no panel) plus one
 * panel per night (sleep duration with its stages as components). What each document yields:
 *   daily_sleep      oura-sleep-score                                                     effectiveDateTime = timestamp
 *   daily_readiness  oura-readiness-score, skin-temperature-deviation (temperature_deviation) effectiveDateTime = timestamp
 *   daily_activity   steps, active-energy (active_calories), total-energy (total_calories), distance
 *                    (equivalent_walking_distance), active-duration (medium + high activity time), oura-activity-score
 *                                                   effectivePeriod = [timestamp, +24 h) (Oura's day starts at 4 a.m.)
 *   daily_spo2       spo2 (spo2_percentage.average)                                        effectiveDateTime = day
 *   daily_stress     oura-stress-high, oura-recovery-high (seconds → min)                 effectiveDateTime = day
 *   sleep            long_sleep only: sleep-duration (total_sleep_duration) with sleep-deep/light/rem, sleep-awake
 *                    (awake_time), sleep-latency, time-in-bed, sleep-efficiency; resting-heart-rate
 *                    (lowest_heart_rate), hrv-rmssd (average_hrv), respiratory-rate (average_breath)
 *                                                   effectivePeriod = [bedtime_start, bedtime_end]
 *   workout          workout-activity (valueCodeableConcept.text = activity) with active-energy (calories) and
 *                    distance as components                   effectivePeriod = [start_datetime, end_datetime]
 * Times are Oura's localized timestamps verbatim (they carry the owner's offset), so the owner-local day is their
 * date part; day-only documents (SpO2, stress) are dated by their `day`.
 *
 * Decisions:
 * - Sleep periods other than `long_sleep` yield nothing and a skip reason: `sleep`, `late_nap` (naps) and `rest`
 *   (a falsely detected sleep the owner rejected) would otherwise replace the night as the day's sleep. A `deleted`
 *   period yields nothing either, so the sync retracts what the period produced before (its RecordGroup is empty).
 * - `calories` of a workout is stored as active energy: Oura reports workout energy on top of the resting burn.
 * - Intraday series: the heart rate time series (`/heartrate`, series `heartrate`) and a night's `heart_rate` / `hrv`
 *   arrays (series `sleep`) become valueSampledData Observations per UTC day (sampled-data.ts). They are separate
 *   series because Oura computes them differently (5-minute sleep aggregates aligned to bedtime vs. discrete
 *   samples), so merging them slot by slot would flip values on every sync. A series is the ring's measurement, not
 *   the sleep document's: deleting a sleep period does not retract its minutes.
 * - Values outside the catalogue's plausible range are skipped with the catalogue's reason, never clamped.
 */
import type { Observation } from '@medplum/fhirtypes';
import { getMetric } from '../shared/catalogue.ts';
import {
  buildQuantityPanel,
  buildSingles,
  emptyResult,
  inRecordOffset,
  memberComponents,
  observationFor,
  observationIdentifiers,
  patientIdOf,
  recordIdentifier,
} from '../shared/observations.ts';
import type { Effective, MapContext, MapResult, MetricValue, RecordScope } from '../shared/observations.ts';
import { buildSeriesObservations, seriesRecordIdentifier, seriesWindow } from '../shared/sampled-data.ts';
import type { Sample, SeriesScope } from '../shared/sampled-data.ts';
import type {
  OuraDailyActivity,
  OuraDailyReadiness,
  OuraDailySleep,
  OuraDailySpo2,
  OuraDailyStress,
  OuraDataType,
  OuraHeartRateRow,
  OuraSample,
  OuraSleep,
  OuraWorkout,
} from './schemas.ts';

export type { MapContext, MapResult };
export { patientIdOf };

/** Oura's heart rate time series: 5-minute samples while awake (finer in workouts, averaged into the slot). */
export const HEART_RATE_PERIOD_MS = 300_000;
/** Series names (sampled-data.ts SeriesScope.series). */
export const HEART_RATE_SERIES = 'heartrate';
export const SLEEP_SERIES = 'sleep';
const DAY_MS = 86_400_000;

/** @returns both identifiers of one Observation of an Oura document */
export function ouraIdentifiers(
  recordType: OuraDataType,
  patientId: string,
  ouraUserId: string,
  documentId: string,
  metricKey: string
): { system: string; value: string }[] {
  return observationIdentifiers('oura', recordType, patientId, ouraUserId, documentId, metricKey);
}

/** @returns the identifier every Observation of one Oura document shares (search it to read or retract it) */
export function ouraRecordIdentifier(
  recordType: OuraDataType,
  patientId: string,
  ouraUserId: string,
  documentId: string
): { system: string; value: string } {
  return recordIdentifier('oura', recordType, patientId, ouraUserId, documentId);
}

function scopeOf(
  recordType: OuraDataType,
  record: { readonly id: string; readonly meta?: { readonly updated_at?: string } | undefined },
  ctx: MapContext,
  effective: Effective
): RecordScope {
  return {
    provider: 'oura',
    recordType,
    recordId: record.id,
    ctx,
    effective,
    issued: validInstant(record.meta?.updated_at),
  };
}

/** Observation.issued must be an instant with a zone; Oura's `meta.updated_at` is one, but only if well-formed. */
function validInstant(value: string | undefined): string | undefined {
  return value !== undefined && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)
    ? value
    : undefined;
}

function orUndefined(value: number | null | undefined): number | undefined {
  return value ?? undefined;
}

/**
 * @returns the instant `ms` after `instant`, written in `instant`'s own offset (on a DST change day that is an hour off
 *   the local clock, but the instant is exact), or undefined when `instant` has no offset
 */
function laterInOwnOffset(instant: string, ms: number): string | undefined {
  const offset = /(Z|[+-]\d{2}:\d{2})$/i.exec(instant)?.[1];
  const later = new Date(Date.parse(instant) + ms).toISOString().replace('.000Z', 'Z');
  return offset === undefined ? undefined : inRecordOffset(later, offset.toUpperCase());
}

/**
 * daily_sleep → the sleep score, at the document's timestamp.
 * @param record - a PublicDailySleep
 * @param ctx - patient, device, Oura user id
 */
export function convertOuraDailySleepToFhir(record: OuraDailySleep, ctx: MapContext): MapResult {
  const result = emptyResult();
  const scope = scopeOf('daily_sleep', record, ctx, { effectiveDateTime: record.timestamp });
  buildSingles(scope, [{ key: 'oura-sleep-score', value: orUndefined(record.score), unit: '{score}' }], result);
  return result;
}

/**
 * daily_readiness → the readiness score and the skin temperature deviation from the owner's baseline.
 * @param record - a PublicDailyReadiness
 * @param ctx - patient, device, Oura user id
 */
export function convertOuraDailyReadinessToFhir(record: OuraDailyReadiness, ctx: MapContext): MapResult {
  const result = emptyResult();
  const scope = scopeOf('daily_readiness', record, ctx, { effectiveDateTime: record.timestamp });
  buildSingles(
    scope,
    [
      { key: 'oura-readiness-score', value: orUndefined(record.score), unit: '{score}' },
      // A difference of Celsius temperatures is a difference in kelvin.
      { key: 'skin-temperature-deviation', value: orUndefined(record.temperature_deviation), unit: 'K' },
    ],
    result
  );
  return result;
}

/**
 * daily_activity → the day's totals, over Oura's activity day (24 hours from its 4 a.m. timestamp).
 * @param record - a PublicDailyActivity
 * @param ctx - patient, device, Oura user id
 */
export function convertOuraDailyActivityToFhir(record: OuraDailyActivity, ctx: MapContext): MapResult {
  const result = emptyResult();
  const end = laterInOwnOffset(record.timestamp, DAY_MS);
  if (end === undefined) {
    result.skipped.push({ key: 'record', reason: `daily_activity ${record.id} timestamp has no usable offset` });
    return result;
  }
  const scope = scopeOf('daily_activity', record, ctx, { effectivePeriod: { start: record.timestamp, end } });
  buildSingles(
    scope,
    [
      { key: 'steps', value: record.steps, unit: '{steps}' },
      { key: 'active-energy', value: record.active_calories, unit: 'kcal' },
      { key: 'total-energy', value: record.total_calories, unit: 'kcal' },
      // Oura's only distance: the walking distance equivalent to the day's energy expenditure.
      { key: 'distance', value: record.equivalent_walking_distance, unit: 'm' },
      { key: 'active-duration', value: record.medium_activity_time + record.high_activity_time, unit: 's' },
      { key: 'oura-activity-score', value: orUndefined(record.score), unit: '{score}' },
    ],
    result
  );
  return result;
}

/**
 * daily_spo2 → the night's average SpO2 (none when Oura has too few readings: spo2_percentage null).
 * @param record - a PublicDailySpO2
 * @param ctx - patient, device, Oura user id
 */
export function convertOuraDailySpo2ToFhir(record: OuraDailySpo2, ctx: MapContext): MapResult {
  const result = emptyResult();
  const average = record.spo2_percentage?.average;
  if (average === undefined) {
    result.skipped.push({ key: 'spo2', reason: `daily_spo2 ${record.id} has no average` });
    return result;
  }
  buildSingles(
    scopeOf('daily_spo2', record, ctx, { effectiveDateTime: record.day }),
    [{ key: 'spo2', value: average, unit: '%' }],
    result
  );
  return result;
}

/**
 * daily_stress → time in high stress and in high recovery (seconds → minutes).
 * @param record - a PublicDailyStress
 * @param ctx - patient, device, Oura user id
 */
export function convertOuraDailyStressToFhir(record: OuraDailyStress, ctx: MapContext): MapResult {
  const result = emptyResult();
  buildSingles(
    scopeOf('daily_stress', record, ctx, { effectiveDateTime: record.day }),
    [
      { key: 'oura-stress-high', value: orUndefined(record.stress_high), unit: 's' },
      { key: 'oura-recovery-high', value: orUndefined(record.recovery_high), unit: 's' },
    ],
    result
  );
  return result;
}

/**
 * sleep (one period) → for a `long_sleep`: the sleep-duration panel, resting heart rate, HRV and respiratory rate
 * over the period. Every other type yields nothing and a skip reason (see the module comment).
 * @param record - a PublicModifiedSleepModel
 * @param ctx - patient, device, Oura user id
 */
export function convertOuraSleepToFhir(record: OuraSleep, ctx: MapContext): MapResult {
  const result = emptyResult();
  if (record.type !== 'long_sleep') {
    result.skipped.push({
      key: 'record',
      reason: `sleep ${record.id} is ${record.type ?? 'untyped'}, not a long_sleep`,
    });
    return result;
  }
  const scope = scopeOf('sleep', record, ctx, {
    effectivePeriod: { start: record.bedtime_start, end: record.bedtime_end },
  });
  buildQuantityPanel(
    scope,
    { key: 'sleep-duration', value: orUndefined(record.total_sleep_duration), unit: 's' },
    [
      { key: 'sleep-deep', value: orUndefined(record.deep_sleep_duration), unit: 's' },
      { key: 'sleep-light', value: orUndefined(record.light_sleep_duration), unit: 's' },
      { key: 'sleep-rem', value: orUndefined(record.rem_sleep_duration), unit: 's' },
      { key: 'sleep-awake', value: orUndefined(record.awake_time), unit: 's' },
      { key: 'sleep-latency', value: orUndefined(record.latency), unit: 's' },
      { key: 'time-in-bed', value: record.time_in_bed, unit: 's' },
      { key: 'sleep-efficiency', value: orUndefined(record.efficiency), unit: '%' },
    ],
    result
  );
  buildSingles(
    scope,
    [
      { key: 'resting-heart-rate', value: orUndefined(record.lowest_heart_rate), unit: '/min' },
      { key: 'hrv-rmssd', value: orUndefined(record.average_hrv), unit: 'ms' },
      { key: 'respiratory-rate', value: orUndefined(record.average_breath), unit: '/min' },
    ],
    result
  );
  return result;
}

/**
 * workout → the session, named as Oura names the activity, with its energy and distance.
 * @param record - a PublicWorkout
 * @param ctx - patient, device, Oura user id
 */
export function convertOuraWorkoutToFhir(record: OuraWorkout, ctx: MapContext): MapResult {
  const result = emptyResult();
  const metric = getMetric('workout-activity');
  const activity = record.activity.trim();
  if (!activity) {
    result.skipped.push({ key: metric.key, reason: `workout ${record.id} has no activity` });
    return result;
  }
  const scope = scopeOf('workout', record, ctx, {
    effectivePeriod: { start: record.start_datetime, end: record.end_datetime },
  });
  const members: MetricValue[] = [
    { key: 'active-energy', value: orUndefined(record.calories), unit: 'kcal' },
    { key: 'distance', value: orUndefined(record.distance), unit: 'm' },
  ];
  const component = memberComponents(metric, members, result);
  result.observations.push({
    ...observationFor(scope, metric),
    valueCodeableConcept: { text: activity },
    ...(component.length > 0 ? { component } : {}),
  });
  return result;
}

/** One series Observation with the identifier the write path reads its window by. */
export interface SeriesEntry {
  readonly record: { system: string; value: string };
  readonly observation: Observation;
}

export interface SeriesResult {
  readonly series: SeriesEntry[];
  readonly skipped: MapResult['skipped'];
}

function seriesEntries(scope: SeriesScope, metric: string, samples: readonly Sample[], periodMs: number): SeriesResult {
  const built = buildSeriesObservations(scope, metric, samples, periodMs);
  return {
    series: built.observations.map((observation) => ({
      observation,
      record: seriesRecordIdentifier(scope, seriesWindow(Date.parse(observation.effectivePeriod?.start ?? ''), metric)),
    })),
    // One reason per series, not per sample: a night of dropouts must not flood the Task's output.
    skipped:
      built.dropped.length === 0
        ? []
        : [
            {
              key: metric,
              reason: `${built.dropped.length} ${metric} sample(s) not stored: ${built.dropped[0]?.reason}`,
            },
          ],
  };
}

/**
 * The heart rate time series → one heart-rate SampledData Observation per UTC day it touches (5-minute slots).
 * @param rows - rows from /v2/usercollection/heartrate
 * @param ctx - patient, device, Oura user id
 */
export function convertOuraHeartRateToFhir(rows: readonly OuraHeartRateRow[], ctx: MapContext): SeriesResult {
  const samples: Sample[] = rows.map((row) => ({ t: row.timestamp_unix ?? Date.parse(row.timestamp), v: row.bpm }));
  return seriesEntries(
    {
      provider: 'oura',
      patient: ctx.patient,
      device: ctx.device,
      providerUserId: ctx.providerUserId,
      series: HEART_RATE_SERIES,
    },
    'heart-rate',
    samples,
    HEART_RATE_PERIOD_MS
  );
}

function sampleItems(sample: OuraSample): Sample[] {
  const start = Date.parse(sample.timestamp);
  const out: Sample[] = [];
  sample.items.forEach((value, i) => {
    if (value !== null) {
      out.push({ t: start + i * sample.interval * 1000, v: value });
    }
  });
  return out;
}

/**
 * A long sleep's `heart_rate` and `hrv` arrays → heart-rate and hrv-rmssd SampledData Observations (series `sleep`).
 * @param record - a PublicModifiedSleepModel
 * @param ctx - patient, device, Oura user id
 */
export function convertOuraSleepSeriesToFhir(record: OuraSleep, ctx: MapContext): SeriesResult {
  if (record.type !== 'long_sleep') {
    return { series: [], skipped: [] };
  }
  const scope: SeriesScope = {
    provider: 'oura',
    patient: ctx.patient,
    device: ctx.device,
    providerUserId: ctx.providerUserId,
    series: SLEEP_SERIES,
  };
  const out: SeriesResult = { series: [], skipped: [] };
  for (const [metric, sample] of [
    ['heart-rate', record.heart_rate],
    ['hrv-rmssd', record.hrv],
  ] as const) {
    if (!sample || sample.items.length === 0) {
      continue;
    }
    const periodMs = Math.round(sample.interval * 1000);
    if (DAY_MS % periodMs !== 0) {
      // A period that does not divide the UTC day cannot be laid on a day window's grid.
      out.skipped.push({
        key: metric,
        reason: `sleep ${record.id} ${metric} interval ${sample.interval} s does not divide a day`,
      });
      continue;
    }
    // Oura's usual sleep sampling (300 s) keeps the plain series name; another interval gets its own series, since
    // one stored day has one period and two sleeps of a day at different rates could otherwise never be merged.
    const series = periodMs === 300_000 ? scope : { ...scope, series: `${SLEEP_SERIES}-${periodMs / 1000}s` };
    const built = seriesEntries(series, metric, sampleItems(sample), periodMs);
    out.series.push(...built.series);
    out.skipped.push(...built.skipped);
  }
  return out;
}
