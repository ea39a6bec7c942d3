/**
 * Pure WHOOP record → FHIR Observation mappers. Codes, units, categories and plausible ranges come only from
 * bots/shared/catalogue.ts; every Observation carries two identifiers:
 *   IDENTIFIER_BASE/whoop/<record-type> | <whoopUserId>:<recordId>:<metricKey>   (conditional-PUT key)
 *   IDENTIFIER_BASE/whoop/record        | <record-type>:<whoopUserId>:<recordId> (finds a record's Observations)
 *
 * Decisions (see README "Mapping"):
 * - Only SCORED records are mapped; PENDING_SCORE / UNSCORABLE yield nothing and a skip reason. A cycle without
 *   `end` is still accumulating strain and energy, so it is skipped until it closes (the next sync's overlap
 *   picks it up) rather than stored as a partial day.
 * - Effective times come from the record: the sleep / workout / cycle period. A recovery has no period of its own;
 *   its inputs (RHR, HRV, SpO2, skin temperature) are measured during its sleep, so the mapper needs that sleep
 *   (ctx.sleep) and uses the sleep's period. Body measurements have no time at all: the caller passes the UTC day
 *   it read them (ctx.observedOn), which becomes both the effective date and the record id (one per day).
 * - A recovery's record id is its sleep_id, because recovery.deleted webhooks carry the sleep UUID, not the cycle.
 * - Naps are skipped: the catalogue's sleep metrics describe the main sleep, and mixing naps into them would
 *   distort nightly trends.
 * - Values outside the catalogue's plausible range are skipped with checkPlausible's message, never clamped.
 */
import type { Device, Observation, ObservationComponent, Patient, Reference } from '@medplum/fhirtypes';
import {
  checkPlausible,
  getMetric,
  metricCategory,
  metricCodings,
  metricQuantity,
  toCatalogueUnit,
} from '../shared/catalogue.ts';
import type { Metric } from '../shared/catalogue.ts';
import { providerRecordSystem, providerRecordTypeSystem } from '../shared/extensions.ts';
import { WEARABLE_PROFILE } from '../shared/systems.ts';
import type { RecordType } from '../shared/tasks.ts';
import type { WhoopBody, WhoopCycle, WhoopRecovery, WhoopSleep, WhoopWorkout } from './schemas.ts';

export interface WhoopMapContext {
  readonly patient: Reference<Patient>;
  readonly device: Reference<Device>;
  readonly whoopUserId: string;
}

export interface MapResult {
  observations: Observation[];
  skipped: { key: string; reason: string }[];
}

type WhoopZoneDurations = NonNullable<WhoopWorkout['score']>['zone_durations'];

type Effective = { effectivePeriod: { start: string; end: string } } | { effectiveDateTime: string };

interface MetricValue {
  /** Catalogue key. */
  readonly key: string;
  /** Provider value, or undefined when WHOOP did not report it (optional fields are simply absent). */
  readonly value: number | undefined;
  /** Provider unit as a UCUM code. */
  readonly unit: string;
}

/** Decimal places kept per catalogue unit: enough for the device's precision, few enough to avoid float noise. */
const DECIMALS: Readonly<Record<string, number>> = { min: 2, kcal: 1, cm: 1, m: 1, kg: 2 };

function round(value: number, unit: string): number {
  const decimals = DECIMALS[unit];
  if (decimals === undefined) {
    return value;
  }
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

export function whoopIdentifiers(
  recordType: RecordType,
  whoopUserId: string,
  recordId: string,
  metricKey: string
): { system: string; value: string }[] {
  return [
    { system: providerRecordTypeSystem('whoop', recordType), value: `${whoopUserId}:${recordId}:${metricKey}` },
    whoopRecordIdentifier(recordType, whoopUserId, recordId),
  ];
}

/**
 * @returns the identifier every Observation of one WHOOP record shares (search it to retract the record)
 */
export function whoopRecordIdentifier(
  recordType: RecordType,
  whoopUserId: string,
  recordId: string
): { system: string; value: string } {
  return { system: providerRecordSystem('whoop'), value: `${recordType}:${whoopUserId}:${recordId}` };
}

/** Where and when one WHOOP record's Observations belong; shared by every Observation the record yields. */
interface RecordScope {
  readonly recordType: RecordType;
  readonly recordId: string;
  readonly ctx: WhoopMapContext;
  readonly effective: Effective;
  readonly issued: string | undefined;
}

function observationFor(scope: RecordScope, metric: Metric): Observation {
  const observation: Observation = {
    resourceType: 'Observation',
    meta: { profile: [WEARABLE_PROFILE] },
    status: 'final',
    identifier: whoopIdentifiers(scope.recordType, scope.ctx.whoopUserId, scope.recordId, metric.key),
    category: [metricCategory(metric)],
    code: { coding: metricCodings(metric).map((c) => ({ ...c })), text: metric.label },
    subject: scope.ctx.patient,
    device: scope.ctx.device,
    ...scope.effective,
  };
  if (scope.issued) {
    observation.issued = scope.issued;
  }
  return observation;
}

function build(scope: RecordScope, values: readonly MetricValue[], result: MapResult): MapResult {
  for (const { key, value, unit } of values) {
    if (value === undefined) {
      continue;
    }
    const metric = getMetric(key);
    const converted = round(toCatalogueUnit(key, value, unit), metric.unit);
    const plausible = checkPlausible(key, converted);
    if (!plausible.ok) {
      result.skipped.push({ key, reason: plausible.message });
      continue;
    }
    result.observations.push({
      ...observationFor(scope, metric),
      valueQuantity: metricQuantity(metric, plausible.value),
    });
  }
  return result;
}

type ZoneField =
  'zone_zero_milli' | 'zone_one_milli' | 'zone_two_milli' | 'zone_three_milli' | 'zone_four_milli' | 'zone_five_milli';

/** Catalogue component code of hr-zone-durations → WHOOP's field for it. */
const ZONE_FIELDS: Readonly<Record<string, ZoneField>> = {
  'hr-zone-0': 'zone_zero_milli',
  'hr-zone-1': 'zone_one_milli',
  'hr-zone-2': 'zone_two_milli',
  'hr-zone-3': 'zone_three_milli',
  'hr-zone-4': 'zone_four_milli',
  'hr-zone-5': 'zone_five_milli',
};

/**
 * One panel Observation with a component per zone. A panel missing a member would fail the profile, so one
 * implausible zone skips the whole panel rather than storing five of six.
 */
function buildZones(scope: RecordScope, zones: WhoopZoneDurations, result: MapResult): void {
  const metric = getMetric('hr-zone-durations');
  const component: ObservationComponent[] = [];
  for (const member of metric.components ?? []) {
    const field = ZONE_FIELDS[member.code.code];
    if (!field) {
      throw new Error(`No WHOOP zone field for ${metric.key} component ${member.code.code}`);
    }
    const value = round(toCatalogueUnit(metric.key, zones[field], 'ms'), member.unit);
    const plausible = checkPlausible(`${metric.key}.${member.code.code}`, value);
    if (!plausible.ok) {
      result.skipped.push({ key: metric.key, reason: plausible.message });
      return;
    }
    component.push({
      code: { coding: [{ ...member.code }], text: member.label },
      valueQuantity: metricQuantity({ unit: member.unit, unitLabel: metric.unitLabel }, plausible.value),
    });
  }
  result.observations.push({ ...observationFor(scope, metric), component });
}

/** The workout session itself, its sport as WHOOP names it (WHOOP publishes no code list to bind it to). */
function buildSession(scope: RecordScope, sportName: string, result: MapResult): void {
  const metric = getMetric('workout-activity');
  const sport = sportName.trim();
  if (!sport) {
    result.skipped.push({ key: metric.key, reason: `workout ${scope.recordId} has no sport name` });
    return;
  }
  result.observations.push({ ...observationFor(scope, metric), valueCodeableConcept: { text: sport } });
}

function unscored(kind: string, id: string, state: string): MapResult {
  return { observations: [], skipped: [{ key: 'record', reason: `${kind} ${id} is ${state}, not SCORED` }] };
}

function empty(): MapResult {
  return { observations: [], skipped: [] };
}

/**
 * Cycle (physiological day): day strain, total energy, average and maximum heart rate over the cycle's period.
 * @param record - a Cycle from /v2/cycle
 * @param ctx - patient, device, WHOOP user id
 * @returns Observations and skip reasons
 */
export function convertWhoopCycleToFhir(record: WhoopCycle, ctx: WhoopMapContext): MapResult {
  const id = String(record.id);
  if (record.score_state !== 'SCORED' || !record.score) {
    return unscored('cycle', id, record.score_state);
  }
  if (!record.end) {
    return { observations: [], skipped: [{ key: 'record', reason: `cycle ${id} is still in progress (no end)` }] };
  }
  const scope: RecordScope = {
    recordType: 'cycle',
    recordId: id,
    ctx,
    effective: { effectivePeriod: { start: record.start, end: record.end } },
    issued: record.updated_at,
  };
  return build(
    scope,
    [
      { key: 'whoop-day-strain', value: record.score.strain, unit: '{score}' },
      // A cycle's kilojoules are everything spent that day, basal included: total, not active, energy.
      { key: 'total-energy', value: record.score.kilojoule, unit: 'kJ' },
      { key: 'heart-rate-average', value: record.score.average_heart_rate, unit: '/min' },
      { key: 'heart-rate-max', value: record.score.max_heart_rate, unit: '/min' },
    ],
    empty()
  );
}

/**
 * Sleep: stage durations, total sleep (light + SWS + REM, as WHOOP's app computes it), time in bed, efficiency,
 * performance, consistency, respiratory rate and sleep need, over the sleep's period.
 * @param record - a Sleep from /v2/activity/sleep
 * @param ctx - patient, device, WHOOP user id
 * @returns Observations and skip reasons
 */
export function convertWhoopSleepToFhir(record: WhoopSleep, ctx: WhoopMapContext): MapResult {
  if (record.score_state !== 'SCORED' || !record.score) {
    return unscored('sleep', record.id, record.score_state);
  }
  if (record.nap) {
    return { observations: [], skipped: [{ key: 'record', reason: `sleep ${record.id} is a nap` }] };
  }
  const stages = record.score.stage_summary;
  const need = record.score.sleep_needed;
  const scope: RecordScope = {
    recordType: 'sleep',
    recordId: record.id,
    ctx,
    effective: { effectivePeriod: { start: record.start, end: record.end } },
    issued: record.updated_at,
  };
  return build(
    scope,
    [
      {
        key: 'sleep-duration',
        value:
          stages.total_light_sleep_time_milli +
          stages.total_slow_wave_sleep_time_milli +
          stages.total_rem_sleep_time_milli,
        unit: 'ms',
      },
      { key: 'sleep-deep', value: stages.total_slow_wave_sleep_time_milli, unit: 'ms' },
      { key: 'sleep-light', value: stages.total_light_sleep_time_milli, unit: 'ms' },
      { key: 'sleep-rem', value: stages.total_rem_sleep_time_milli, unit: 'ms' },
      { key: 'sleep-awake', value: stages.total_awake_time_milli, unit: 'ms' },
      { key: 'time-in-bed', value: stages.total_in_bed_time_milli, unit: 'ms' },
      { key: 'sleep-efficiency', value: record.score.sleep_efficiency_percentage, unit: '%' },
      { key: 'whoop-sleep-performance', value: record.score.sleep_performance_percentage, unit: '%' },
      { key: 'whoop-sleep-consistency', value: record.score.sleep_consistency_percentage, unit: '%' },
      { key: 'respiratory-rate', value: record.score.respiratory_rate, unit: '/min' },
      {
        key: 'whoop-sleep-need',
        value:
          need.baseline_milli +
          need.need_from_sleep_debt_milli +
          need.need_from_recent_strain_milli +
          need.need_from_recent_nap_milli,
        unit: 'ms',
      },
    ],
    empty()
  );
}

/**
 * Recovery: recovery score, resting HR, HRV (RMSSD), SpO2 and skin temperature, over the period of the sleep they
 * were measured in. Record id = sleep_id.
 * @param record - a Recovery from /v2/recovery or /v2/cycle/{id}/recovery
 * @param ctx - patient, device, WHOOP user id, and the recovery's sleep (required for the effective period)
 * @returns Observations and skip reasons
 */
export function convertWhoopRecoveryToFhir(
  record: WhoopRecovery,
  ctx: WhoopMapContext & { readonly sleep?: Pick<WhoopSleep, 'id' | 'start' | 'end'> }
): MapResult {
  if (record.score_state !== 'SCORED' || !record.score) {
    return unscored('recovery', record.sleep_id, record.score_state);
  }
  if (!ctx.sleep || ctx.sleep.id !== record.sleep_id) {
    return {
      observations: [],
      skipped: [{ key: 'record', reason: `recovery ${record.sleep_id} needs its sleep for the effective period` }],
    };
  }
  const score = record.score;
  const result = empty();
  if (score.user_calibrating) {
    // WHOOP's own caveat: while calibrating, the score is not yet meaningful; the physiology below still is.
    result.skipped.push({ key: 'whoop-recovery', reason: `recovery ${record.sleep_id}: user is still calibrating` });
  }
  const scope: RecordScope = {
    recordType: 'recovery',
    recordId: record.sleep_id,
    ctx,
    effective: { effectivePeriod: { start: ctx.sleep.start, end: ctx.sleep.end } },
    issued: record.updated_at,
  };
  return build(
    scope,
    [
      { key: 'whoop-recovery', value: score.user_calibrating ? undefined : score.recovery_score, unit: '%' },
      { key: 'resting-heart-rate', value: score.resting_heart_rate, unit: '/min' },
      { key: 'hrv-rmssd', value: score.hrv_rmssd_milli, unit: 'ms' },
      { key: 'spo2', value: score.spo2_percentage, unit: '%' },
      { key: 'skin-temperature', value: score.skin_temp_celsius, unit: 'Cel' },
    ],
    result
  );
}

/**
 * Workout: strain, energy, distance, altitude gain, average and maximum heart rate, the time in each heart rate zone
 * (one panel Observation) and the session itself with its sport, all over the workout's period. Altitude change
 * (net, signed) and percent_recorded have no catalogue metric and are not stored.
 * @param record - a WorkoutV2 from /v2/activity/workout
 * @param ctx - patient, device, WHOOP user id
 * @returns Observations and skip reasons
 */
export function convertWhoopWorkoutToFhir(record: WhoopWorkout, ctx: WhoopMapContext): MapResult {
  if (record.score_state !== 'SCORED' || !record.score) {
    return unscored('workout', record.id, record.score_state);
  }
  const scope: RecordScope = {
    recordType: 'workout',
    recordId: record.id,
    ctx,
    effective: { effectivePeriod: { start: record.start, end: record.end } },
    issued: record.updated_at,
  };
  const score = record.score;
  const result = build(
    scope,
    [
      { key: 'whoop-workout-strain', value: score.strain, unit: '{score}' },
      { key: 'active-energy', value: score.kilojoule, unit: 'kJ' },
      { key: 'distance', value: score.distance_meter, unit: 'm' },
      { key: 'altitude-gain', value: score.altitude_gain_meter, unit: 'm' },
      { key: 'heart-rate-average', value: score.average_heart_rate, unit: '/min' },
      { key: 'heart-rate-max', value: score.max_heart_rate, unit: '/min' },
    ],
    empty()
  );
  buildZones(scope, score.zone_durations, result);
  buildSession(scope, record.sport_name, result);
  return result;
}

/**
 * Body measurement (height, weight as entered in the WHOOP app). WHOOP gives no timestamp, so the caller says which
 * UTC day it read them; that day is the effective date and the record id (re-reading on the same day is a no-op).
 * @param record - /v2/user/measurement/body
 * @param ctx - patient, device, WHOOP user id, and observedOn (YYYY-MM-DD)
 * @returns Observations and skip reasons
 */
export function convertWhoopBodyToFhir(
  record: WhoopBody,
  ctx: WhoopMapContext & { readonly observedOn: string }
): MapResult {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(ctx.observedOn) || Number.isNaN(Date.parse(ctx.observedOn))) {
    throw new Error(`observedOn must be a YYYY-MM-DD date, got ${ctx.observedOn}`);
  }
  const scope: RecordScope = {
    recordType: 'body',
    recordId: ctx.observedOn,
    ctx,
    effective: { effectiveDateTime: ctx.observedOn },
    issued: undefined,
  };
  return build(
    scope,
    [
      { key: 'body-height', value: record.height_meter, unit: 'm' },
      { key: 'body-weight', value: record.weight_kilogram, unit: 'kg' },
    ],
    empty()
  );
}
