/**
 * Pure WHOOP record → FHIR Observation mappers. Codes, units, categories, plausible ranges and which values travel
 * together come only from bots/shared/catalogue.ts; every Observation carries two identifiers:
 *   IDENTIFIER_BASE/whoop/<record-type> | <patientId>:<whoopUserId>:<recordId>:<metricKey>   (per Observation)
 *   IDENTIFIER_BASE/whoop/record        | <record-type>:<patientId>:<whoopUserId>:<recordId> (per record)
 * The Baseline patient id is part of both, so two owners of the same WHOOP account (one disconnected keeping data,
 * one connected after) can never write to, read back or retract each other's Observations.
 *
 * Granularity (each write costs 100 FHIR-quota points; see README "Mapping"): a record becomes one Observation
 * per vital sign an EHR searches by its own LOINC code (resting heart rate, SpO2, respiratory rate) plus one record
 * panel whose components are the values WHOOP measured together (catalogue `members`): cycle 1, sleep 2,
 * recovery 3, workout 1. Height and weight are user-entered and rarely change: they go to `writeOnce`, keyed by
 * their value, for the sync to create when absent and never update.
 *
 * Decisions:
 * - Only SCORED records are mapped; PENDING_SCORE / UNSCORABLE yield nothing and a skip reason. A cycle without
 *   `end` is still accumulating strain and energy, so it is skipped until it closes (the next sync's overlap
 *   picks it up) rather than stored as a partial day.
 * - Effective times come from the record: the sleep / workout / cycle period. A recovery has no period of its own;
 *   its inputs (RHR, HRV, SpO2, skin temperature) are measured during its sleep, so the mapper needs that sleep
 *   (ctx.sleep) and uses the sleep's period.
 * - Each time is written as the same instant in the record's own `timezone_offset` (WHOOP sends instants in UTC and
 *   the wearer's offset beside them), e.g. 2022-04-24T02:25:44.774Z at -05:00 → 2022-04-23T21:25:44.774-05:00, so
 *   the owner-local day of a value is the date part of its time and is never guessed (bots/analytics/daily.ts).
 *   FHIR dateTime carries its offset itself; the core tz-offset extension applies only to `date` (where no offset
 *   is allowed) and tz-code names an IANA zone, which WHOOP does not send. A record whose offset is not a valid
 *   time zone designator is skipped rather than stored under a guessed day.
 * - A recovery's record id is its sleep_id, because recovery.deleted webhooks carry the sleep UUID, not the cycle.
 * - Naps are skipped: the catalogue's sleep metrics describe the main sleep, and mixing naps into them would
 *   distort nightly trends.
 * - Values outside the catalogue's plausible range are skipped with checkPlausible's message, never clamped. An
 *   implausible member drops only that component; an implausible (or absent) panel value drops the panel, since
 *   its components would then describe a measurement that is not stored.
 */
import type { Device, Observation, ObservationComponent, Patient, Reference } from '@medplum/fhirtypes';
import { checkPlausible, getMetric, metricQuantity, toCatalogueUnit } from '../shared/catalogue.ts';
import {
  buildQuantityPanel as buildSharedQuantityPanel,
  buildSingles as buildSharedSingles,
  emptyResult,
  inRecordOffset,
  memberComponents as sharedMemberComponents,
  observationFor as sharedObservationFor,
  observationIdentifiers,
  patientIdOf,
  plausibleValue,
  recordIdentifier,
  roundToUnit,
} from '../shared/observations.ts';
import type { Effective, MapContext, MapResult, MetricValue } from '../shared/observations.ts';
import type { Metric } from '../shared/catalogue.ts';
import type { RecordType } from '../shared/tasks.ts';
import type { WhoopBody, WhoopCycle, WhoopRecovery, WhoopSleep, WhoopWorkout } from './schemas.ts';

export type { MapResult };
export { inRecordOffset };

export interface WhoopMapContext {
  readonly patient: Reference<Patient>;
  readonly device: Reference<Device>;
  readonly whoopUserId: string;
}

type WhoopZoneDurations = NonNullable<WhoopWorkout['score']>['zone_durations'];

/**
 * @returns both identifiers of one Observation: its own (per metric) and the one its whole record shares
 */
export function whoopIdentifiers(
  recordType: RecordType,
  patientId: string,
  whoopUserId: string,
  recordId: string,
  metricKey: string
): { system: string; value: string }[] {
  return observationIdentifiers('whoop', recordType, patientId, whoopUserId, recordId, metricKey);
}

/**
 * @returns the identifier every Observation of one WHOOP record shares (search it to read or retract the record)
 */
export function whoopRecordIdentifier(
  recordType: RecordType,
  patientId: string,
  whoopUserId: string,
  recordId: string
): { system: string; value: string } {
  return recordIdentifier('whoop', recordType, patientId, whoopUserId, recordId);
}

/** Where and when one WHOOP record's Observations belong; shared by every Observation the record yields. */
interface RecordScope {
  readonly recordType: RecordType;
  readonly recordId: string;
  readonly ctx: WhoopMapContext;
  readonly effective: Effective;
  readonly issued: string | undefined;
}

function shared(scope: RecordScope): Parameters<typeof sharedObservationFor>[0] {
  const ctx: MapContext = {
    patient: scope.ctx.patient,
    device: scope.ctx.device,
    providerUserId: scope.ctx.whoopUserId,
  };
  return { ...scope, provider: 'whoop', ctx };
}

function observationFor(scope: RecordScope, metric: Metric): Observation {
  return sharedObservationFor(shared(scope), metric);
}

const empty = emptyResult;

function buildSingles(scope: RecordScope, values: readonly MetricValue[], result: MapResult): void {
  buildSharedSingles(shared(scope), values, result);
}

const memberComponents = sharedMemberComponents;

function buildQuantityPanel(
  scope: RecordScope,
  primary: MetricValue,
  members: readonly MetricValue[],
  result: MapResult
): void {
  buildSharedQuantityPanel(shared(scope), primary, members, result);
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
 * The six heart rate zone components. The catalogue takes a member panel whole or not at all, so one implausible
 * zone drops all six rather than storing five.
 */
function zoneComponents(zones: WhoopZoneDurations, result: MapResult): ObservationComponent[] {
  const metric = getMetric('hr-zone-durations');
  const component: ObservationComponent[] = [];
  for (const member of metric.components ?? []) {
    const field = ZONE_FIELDS[member.code.code];
    if (!field) {
      throw new Error(`No WHOOP zone field for ${metric.key} component ${member.code.code}`);
    }
    const value = roundToUnit(toCatalogueUnit(metric.key, zones[field], 'ms'), member.unit);
    const plausible = checkPlausible(`${metric.key}.${member.code.code}`, value);
    if (!plausible.ok) {
      result.skipped.push({ key: metric.key, reason: plausible.message });
      return [];
    }
    component.push({
      code: { coding: [{ ...member.code }], text: member.label },
      valueQuantity: metricQuantity({ unit: member.unit, unitLabel: metric.unitLabel }, plausible.value),
    });
  }
  return component;
}

/** @returns the record's period in its own offset, or undefined after recording why the record is skipped */
function recordPeriod(
  kind: string,
  id: string,
  period: { readonly start: string; readonly end: string; readonly timezone_offset: string },
  result: MapResult
): Effective | undefined {
  const start = inRecordOffset(period.start, period.timezone_offset);
  const end = inRecordOffset(period.end, period.timezone_offset);
  if (start === undefined || end === undefined) {
    result.skipped.push({
      key: 'record',
      reason: `${kind} ${id} has no usable timezone_offset (${period.timezone_offset}): its local day is unknown`,
    });
    return undefined;
  }
  return { effectivePeriod: { start, end } };
}

function unscored(kind: string, id: string, state: string): MapResult {
  return { ...empty(), skipped: [{ key: 'record', reason: `${kind} ${id} is ${state}, not SCORED` }] };
}

/**
 * Cycle (physiological day) → one Observation: day strain, with total energy and average and maximum heart rate
 * over the cycle's period as components.
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
    return { ...empty(), skipped: [{ key: 'record', reason: `cycle ${id} is still in progress (no end)` }] };
  }
  const result = empty();
  const effective = recordPeriod('cycle', id, { ...record, end: record.end }, result);
  if (!effective) {
    return result;
  }
  const scope: RecordScope = { recordType: 'cycle', recordId: id, ctx, effective, issued: record.updated_at };
  buildQuantityPanel(
    scope,
    { key: 'whoop-day-strain', value: record.score.strain, unit: '{score}' },
    [
      // A cycle's kilojoules are everything spent that day, basal included: total, not active, energy.
      { key: 'total-energy', value: record.score.kilojoule, unit: 'kJ' },
      { key: 'heart-rate-average', value: record.score.average_heart_rate, unit: '/min' },
      { key: 'heart-rate-max', value: record.score.max_heart_rate, unit: '/min' },
    ],
    result
  );
  return result;
}

/**
 * Sleep → two Observations over the sleep's period: total sleep (light + SWS + REM, as WHOOP's app computes it)
 * with stages, awake time, time in bed, efficiency, performance, consistency and sleep need as components; and the
 * respiratory rate, a vital sign, on its own.
 * @param record - a Sleep from /v2/activity/sleep
 * @param ctx - patient, device, WHOOP user id
 * @returns Observations and skip reasons
 */
export function convertWhoopSleepToFhir(record: WhoopSleep, ctx: WhoopMapContext): MapResult {
  if (record.score_state !== 'SCORED' || !record.score) {
    return unscored('sleep', record.id, record.score_state);
  }
  if (record.nap) {
    return { ...empty(), skipped: [{ key: 'record', reason: `sleep ${record.id} is a nap` }] };
  }
  const stages = record.score.stage_summary;
  const need = record.score.sleep_needed;
  const result = empty();
  const effective = recordPeriod('sleep', record.id, record, result);
  if (!effective) {
    return result;
  }
  const scope: RecordScope = { recordType: 'sleep', recordId: record.id, ctx, effective, issued: record.updated_at };
  buildQuantityPanel(
    scope,
    {
      key: 'sleep-duration',
      value:
        stages.total_light_sleep_time_milli +
        stages.total_slow_wave_sleep_time_milli +
        stages.total_rem_sleep_time_milli,
      unit: 'ms',
    },
    [
      { key: 'sleep-deep', value: stages.total_slow_wave_sleep_time_milli, unit: 'ms' },
      { key: 'sleep-light', value: stages.total_light_sleep_time_milli, unit: 'ms' },
      { key: 'sleep-rem', value: stages.total_rem_sleep_time_milli, unit: 'ms' },
      { key: 'sleep-awake', value: stages.total_awake_time_milli, unit: 'ms' },
      { key: 'time-in-bed', value: stages.total_in_bed_time_milli, unit: 'ms' },
      { key: 'sleep-efficiency', value: record.score.sleep_efficiency_percentage, unit: '%' },
      { key: 'whoop-sleep-performance', value: record.score.sleep_performance_percentage, unit: '%' },
      { key: 'whoop-sleep-consistency', value: record.score.sleep_consistency_percentage, unit: '%' },
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
    result
  );
  buildSingles(scope, [{ key: 'respiratory-rate', value: record.score.respiratory_rate, unit: '/min' }], result);
  return result;
}

/**
 * Recovery → three Observations over the period of the sleep they were measured in: resting heart rate and SpO2
 * (vital signs, each alone), and HRV (RMSSD) with the recovery score (not while calibrating) and skin temperature as
 * components. Record id = sleep_id.
 * @param record - a Recovery from /v2/recovery or /v2/cycle/{id}/recovery
 * @param ctx - patient, device, WHOOP user id, and the recovery's sleep (required for the effective period)
 * @returns Observations and skip reasons
 */
export function convertWhoopRecoveryToFhir(
  record: WhoopRecovery,
  ctx: WhoopMapContext & { readonly sleep?: Pick<WhoopSleep, 'id' | 'start' | 'end' | 'timezone_offset'> }
): MapResult {
  if (record.score_state !== 'SCORED' || !record.score) {
    return unscored('recovery', record.sleep_id, record.score_state);
  }
  if (!ctx.sleep || ctx.sleep.id !== record.sleep_id) {
    return {
      ...empty(),
      skipped: [{ key: 'record', reason: `recovery ${record.sleep_id} needs its sleep for the effective period` }],
    };
  }
  const score = record.score;
  const result = empty();
  // The recovery was measured during its sleep, so the sleep's period and offset are its own.
  const effective = recordPeriod('recovery', record.sleep_id, ctx.sleep, result);
  if (!effective) {
    return result;
  }
  if (score.user_calibrating) {
    // WHOOP's own caveat: while calibrating, the score is not yet meaningful; the physiology below still is.
    result.skipped.push({ key: 'whoop-recovery', reason: `recovery ${record.sleep_id}: user is still calibrating` });
  }
  const scope: RecordScope = {
    recordType: 'recovery',
    recordId: record.sleep_id,
    ctx,
    effective,
    issued: record.updated_at,
  };
  buildSingles(
    scope,
    [
      { key: 'resting-heart-rate', value: score.resting_heart_rate, unit: '/min' },
      { key: 'spo2', value: score.spo2_percentage, unit: '%' },
    ],
    result
  );
  buildQuantityPanel(
    scope,
    { key: 'hrv-rmssd', value: score.hrv_rmssd_milli, unit: 'ms' },
    [
      { key: 'whoop-recovery', value: score.user_calibrating ? undefined : score.recovery_score, unit: '%' },
      { key: 'skin-temperature', value: score.skin_temp_celsius, unit: 'Cel' },
    ],
    result
  );
  return result;
}

/**
 * Workout → one Observation: the session, its sport as WHOOP names it (WHOOP publishes no code list to bind it to),
 * over the workout's period, with strain, total energy, distance, altitude gain, average and maximum heart rate and
 * the six heart rate zone durations as components. Altitude change (net, signed) and percent_recorded have no
 * catalogue metric and are not stored.
 * @param record - a WorkoutV2 from /v2/activity/workout
 * @param ctx - patient, device, WHOOP user id
 * @returns Observations and skip reasons
 */
export function convertWhoopWorkoutToFhir(record: WhoopWorkout, ctx: WhoopMapContext): MapResult {
  if (record.score_state !== 'SCORED' || !record.score) {
    return unscored('workout', record.id, record.score_state);
  }
  const metric = getMetric('workout-activity');
  const sport = record.sport_name.trim();
  if (!sport) {
    // The session is the Observation: without what it was there is nothing to hang the measurements on.
    return { ...empty(), skipped: [{ key: metric.key, reason: `workout ${record.id} has no sport name` }] };
  }
  const result = empty();
  const effective = recordPeriod('workout', record.id, record, result);
  if (!effective) {
    return result;
  }
  const scope: RecordScope = { recordType: 'workout', recordId: record.id, ctx, effective, issued: record.updated_at };
  const score = record.score;
  const component = [
    ...memberComponents(
      metric,
      [
        { key: 'whoop-workout-strain', value: score.strain, unit: '{score}' },
        // Like a cycle's, a workout's kilojoules are all energy spent during it, basal included (WHOOP API docs).
        { key: 'total-energy', value: score.kilojoule, unit: 'kJ' },
        { key: 'distance', value: score.distance_meter, unit: 'm' },
        { key: 'altitude-gain', value: score.altitude_gain_meter, unit: 'm' },
        { key: 'heart-rate-average', value: score.average_heart_rate, unit: '/min' },
        { key: 'heart-rate-max', value: score.max_heart_rate, unit: '/min' },
      ],
      result
    ),
    ...zoneComponents(score.zone_durations, result),
  ];
  result.observations.push({
    ...observationFor(scope, metric),
    valueCodeableConcept: { text: sport },
    ...(component.length > 0 ? { component } : {}),
  });
  return result;
}

/**
 * Body measurement (height, weight), as the user typed them into the WHOOP app. They rarely change and carry no
 * timestamp, so each value is one write-once Observation whose identifier is keyed by the value
 * (`<metricKey>=<value>`): reading the same value again maps to the same identifier and writes nothing; a new value
 * is a new Observation dated by the UTC day it was first read. `performer` is the Patient: the value is
 * patient-reported, not measured by the device (the Device says which account relayed it).
 * @param record - /v2/user/measurement/body
 * @param ctx - patient, device, WHOOP user id, and observedOn (YYYY-MM-DD, the day it was read)
 * @returns writeOnce Observations and skip reasons
 */
export function convertWhoopBodyToFhir(
  record: WhoopBody,
  ctx: WhoopMapContext & { readonly observedOn: string }
): MapResult {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(ctx.observedOn) || Number.isNaN(Date.parse(ctx.observedOn))) {
    throw new Error(`observedOn must be a YYYY-MM-DD date, got ${ctx.observedOn}`);
  }
  const result = empty();
  const values: MetricValue[] = [
    { key: 'body-height', value: record.height_meter, unit: 'm' },
    { key: 'body-weight', value: record.weight_kilogram, unit: 'kg' },
  ];
  for (const entry of values) {
    const value = plausibleValue(entry, result);
    if (value === undefined) {
      continue;
    }
    const metric = getMetric(entry.key);
    const scope: RecordScope = {
      recordType: 'body',
      recordId: `${metric.key}=${value}`,
      ctx,
      effective: { effectiveDateTime: ctx.observedOn },
      issued: undefined,
    };
    result.writeOnce.push({
      ...observationFor(scope, metric),
      performer: [ctx.patient],
      valueQuantity: metricQuantity(metric, value),
    });
  }
  return result;
}

export { patientIdOf };
