/**
 * Pure Withings record → FHIR Observation mappers. Codes, units, categories, plausible ranges and which values travel
 * together come only from bots/shared/catalogue.ts; identifiers from bots/shared/observations.ts:
 *   IDENTIFIER_BASE/withings/<record-type> | <patientId>:<withingsUserId>:<recordId>:<metricKey>   (per Observation)
 *   IDENTIFIER_BASE/withings/record        | <record-type>:<patientId>:<withingsUserId>:<recordId> (per record)
 * Record ids: a measure group's `grpid` (Withings updates a group in place when a measure in it is edited), an
 * activity day's `<date>.<device>`, a workout's `id`, a sleep summary's `id`. Intraday series are keyed by device
 * series × UTC day (bots/shared/sampled-data.ts).
 *
 * Decisions:
 * - Measure values are `value × 10^unit`, computed by moving the decimal point in the integer's digits (scaledValue),
 *   so {value: 65750, unit: -3} is exactly 65.75 and never 65.75000000000001.
 * - A blood-pressure group (types 9 diastolic and 10 systolic in one grpid) is one blood-pressure panel; its pulse
 *   (type 11) is a heart-rate Observation on its own, as is a scale's pulse. A weight group yields one Observation per
 *   body-composition value (each is searched alone by its code).
 * - getmeas category 2 (the user's objectives) is not a measurement: skipped. attrib 1 (captured by a device but
 *   "may belong to other users") is skipped: storing another person's weight in this record is worse than a gap.
 *   attrib 2 and 4 (typed in by the user) are kept with `performer` = the Patient (patient-reported).
 * - Withings sends an IANA zone name (`timezone`), not an offset: every time is written in the offset that zone had
 *   at that instant (zoneOffsetMinutes), so the owner-local day is the date part; a record whose zone is unknown is
 *   skipped rather than stored under a guessed day.
 * - An activity day is the local day [00:00, next 00:00) in its zone. Its steps are a panel only for the members the
 *   catalogue lists for steps; every other value of the day is its own Observation (heart rate fields of 0 mean "no
 *   heart-rate device" and are not values).
 * - A workout is one session Observation (valueCodeableConcept = the sport's name from Withings' category table)
 *   with energy, distance, steps and heart rate as components. Withings' four HR zones do not match the catalogue's
 *   six-zone panel, so they are not stored.
 * - A sleep summary is one sleep-duration panel (stages, awake time, latency, time in bed, efficiency ×100, Withings
 *   sleep score) plus the respiratory rate alone. An unfinished night (`completed: false`) is skipped until it ends.
 * - Values outside the catalogue's plausible range are skipped with checkPlausible's message, never clamped.
 */
import type { Observation } from '@medplum/fhirtypes';
import { getMetric } from '../shared/catalogue.ts';
import {
  buildComponentPanel,
  buildQuantityPanel,
  buildSingles,
  emptyResult,
  epochInOffset,
  memberComponents,
  observationFor,
  recordIdentifier,
  zoneOffsetMinutes,
} from '../shared/observations.ts';
import type { Effective, MapContext, MapResult, MetricValue, RecordScope, SkipReason } from '../shared/observations.ts';
import { buildSeriesObservations, mergeSeriesObservation } from '../shared/sampled-data.ts';
import type { Sample } from '../shared/sampled-data.ts';
import type { RecordGroup } from '../shared/write-changed.ts';
import type {
  WithingsActivity,
  WithingsIntradayPoint,
  WithingsMeasureGroup,
  WithingsSleepSummary,
  WithingsWorkout,
} from './schemas.ts';

export type { MapResult };

/** Patient, device and the Withings user id. */
export type WithingsMapContext = MapContext;

export type WithingsRecordType = 'measure' | 'activity' | 'workout' | 'sleep';

export function withingsRecordIdentifier(
  recordType: WithingsRecordType,
  patientId: string,
  withingsUserId: string,
  recordId: string
): { system: string; value: string } {
  return recordIdentifier('withings', recordType, patientId, withingsUserId, recordId);
}

/**
 * `value × 10^unit` by moving the decimal point in the digits of the integer, so the result is the double nearest
 * to the decimal Withings means (plain `value * 10 ** unit` drifts: 3655 × 10^-2 = 36.550000000000004).
 * @param value - the measure's integer value
 * @param unit - the power of ten
 * @returns the real value
 */
export function scaledValue(value: number, unit: number): number {
  if (!Number.isSafeInteger(value) || !Number.isInteger(unit)) {
    throw new Error(`Withings measure ${value} × 10^${unit} is not an integer with an integer exponent`);
  }
  if (unit >= 0) {
    return Number(`${value}e${unit}`);
  }
  const digits = String(Math.abs(value)).padStart(-unit + 1, '0');
  const point = digits.length + unit;
  return Number(`${value < 0 ? '-' : ''}${digits.slice(0, point)}.${digits.slice(point)}`);
}

/** Withings measure type → catalogue metric and the unit Withings reports it in (spec `meastype` table). */
export const MEASURE_TYPES: Readonly<Record<number, { readonly key: string; readonly unit: string }>> = {
  1: { key: 'body-weight', unit: 'kg' },
  4: { key: 'body-height', unit: 'm' },
  5: { key: 'fat-free-mass', unit: 'kg' },
  6: { key: 'body-fat-percentage', unit: '%' },
  8: { key: 'fat-mass', unit: 'kg' },
  11: { key: 'heart-rate', unit: '/min' },
  // Type 71 is "body temperature"; 12 is the older plain "temperature" (Thermo), also taken at the body.
  71: { key: 'body-temperature', unit: 'Cel' },
  12: { key: 'body-temperature', unit: 'Cel' },
  54: { key: 'spo2', unit: '%' },
  73: { key: 'skin-temperature', unit: 'Cel' },
  76: { key: 'muscle-mass', unit: 'kg' },
  77: { key: 'hydration', unit: 'kg' },
  88: { key: 'bone-mass', unit: 'kg' },
  91: { key: 'pulse-wave-velocity', unit: 'm/s' },
  123: { key: 'vo2max', unit: 'mL/min/kg' },
};
const DIASTOLIC = 9;
const SYSTOLIC = 10;
/** attrib values for a group typed in by the user (2: manual entry, 4: entered at account creation). */
const MANUAL_ATTRIBS = new Set([2, 4]);
const AMBIGUOUS_ATTRIB = 1;

function isoUtc(epochSeconds: number | null | undefined): string | undefined {
  return epochSeconds === null || epochSeconds === undefined ? undefined : new Date(epochSeconds * 1000).toISOString();
}

/** A Withings zero in a heart-rate field means "no heart-rate device", not a heart rate of 0. */
function reading(value: number | null | undefined): number | undefined {
  return value === null || value === undefined || value === 0 ? undefined : value;
}

function present(value: number | null | undefined): number | undefined {
  return value === null || value === undefined ? undefined : value;
}

function unknownZone(kind: string, id: string, zone: string | null | undefined): SkipReason {
  return {
    key: 'record',
    reason: `${kind} ${id} has no usable timezone (${zone ?? 'none'}): its local day is unknown`,
  };
}

/**
 * Measure group → one Observation per value (blood pressure as one panel).
 * @param group - a measuregrp from getmeas
 * @param ctx - patient, device, Withings user id, and the getmeas body's `timezone` (used when the group has none)
 * @returns Observations and skip reasons
 */
export function convertWithingsMeasureGroupToFhir(
  group: WithingsMeasureGroup,
  ctx: WithingsMapContext & { readonly timezone: string | undefined }
): MapResult {
  const id = String(group.grpid);
  const result = emptyResult();
  if (group.category !== 1) {
    result.skipped.push({
      key: 'record',
      reason: `measure group ${id} is category ${group.category} (a user objective, not a measurement)`,
    });
    return result;
  }
  if (group.attrib === AMBIGUOUS_ATTRIB) {
    result.skipped.push({
      key: 'record',
      reason: `measure group ${id} is ambiguous (attrib 1: it may belong to another person on the device)`,
    });
    return result;
  }
  const zone = group.timezone ?? ctx.timezone;
  const offset = zone ? zoneOffsetMinutes(zone, group.date * 1000) : undefined;
  if (offset === undefined) {
    result.skipped.push(unknownZone('measure group', id, zone));
    return result;
  }
  const scope: RecordScope = {
    provider: 'withings',
    recordType: 'measure',
    recordId: id,
    ctx,
    effective: { effectiveDateTime: epochInOffset(group.date, offset) },
    issued: isoUtc(group.modified),
  };
  const byType = new Map<number, number>();
  for (const measure of group.measures) {
    if (byType.has(measure.type)) {
      result.skipped.push({ key: 'record', reason: `measure group ${id} lists type ${measure.type} twice` });
      continue;
    }
    byType.set(measure.type, scaledValue(measure.value, measure.unit));
  }
  if (byType.has(DIASTOLIC) || byType.has(SYSTOLIC)) {
    buildComponentPanel(
      scope,
      'blood-pressure',
      { '8480-6': byType.get(SYSTOLIC), '8462-4': byType.get(DIASTOLIC) },
      result
    );
  }
  const singles: MetricValue[] = [];
  const seen = new Set<string>();
  // 71 before 12: both are body temperature; a group holding both keeps the specific one.
  const order = [...byType.keys()].sort((a, b) => (a === 71 ? -1 : b === 71 ? 1 : a - b));
  for (const type of order) {
    if (type === DIASTOLIC || type === SYSTOLIC) {
      continue;
    }
    const mapping = MEASURE_TYPES[type];
    if (!mapping) {
      result.skipped.push({ key: 'record', reason: `measure group ${id}: measure type ${type} is not mapped` });
      continue;
    }
    if (seen.has(mapping.key)) {
      result.skipped.push({ key: mapping.key, reason: `measure group ${id}: type ${type} repeats ${mapping.key}` });
      continue;
    }
    seen.add(mapping.key);
    singles.push({ key: mapping.key, value: byType.get(type), unit: mapping.unit });
  }
  buildSingles(scope, singles, result);
  if (MANUAL_ATTRIBS.has(group.attrib)) {
    // Typed in by the owner: patient-reported, not measured by the device (the Device names the relaying account).
    result.observations = result.observations.map((o) => ({ ...o, performer: [ctx.patient] }));
  }
  return result;
}

/**
 * The instant a local calendar day starts in a zone, and the zone's offset then.
 * @param ymd - YYYY-MM-DD
 * @param zone - IANA zone name
 * @returns epoch ms and offset, or undefined for an unknown zone or date
 */
export function localMidnight(ymd: string, zone: string): { epochMs: number; offset: number } | undefined {
  const guess = Date.parse(`${ymd}T00:00:00Z`);
  if (Number.isNaN(guess)) {
    return undefined;
  }
  const first = zoneOffsetMinutes(zone, guess);
  if (first === undefined) {
    return undefined;
  }
  // The offset at the guessed instant may differ from the one at local midnight (a DST change in between): one
  // correction step settles it, since offsets change at most once within a few hours.
  const candidate = guess - first * 60_000;
  const second = zoneOffsetMinutes(zone, candidate);
  if (second === undefined) {
    return undefined;
  }
  return { epochMs: guess - second * 60_000, offset: second };
}

function nextDay(ymd: string): string {
  return new Date(Date.parse(`${ymd}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

/** @returns the record id of an activity day: its date and the device (or the tracker model for phone trackers) */
export function activityRecordId(activity: WithingsActivity): string {
  const device = activity.deviceid ?? activity.hash_deviceid ?? `model-${activity.modelid ?? 'unknown'}`;
  return `${activity.date}.${device}`;
}

/**
 * One day of activity → steps (with the catalogue's steps members as components) and every other value alone.
 * @param activity - an entry of getactivity
 * @param ctx - patient, device, Withings user id
 * @returns Observations and skip reasons
 */
export function convertWithingsActivityToFhir(activity: WithingsActivity, ctx: WithingsMapContext): MapResult {
  const id = activityRecordId(activity);
  const result = emptyResult();
  const zone = activity.timezone ?? undefined;
  const start = zone ? localMidnight(activity.date, zone) : undefined;
  const end = zone ? localMidnight(nextDay(activity.date), zone) : undefined;
  if (!start || !end) {
    result.skipped.push(unknownZone('activity', id, zone));
    return result;
  }
  const effective: Effective = {
    effectivePeriod: {
      start: epochInOffset(start.epochMs / 1000, start.offset),
      end: epochInOffset(end.epochMs / 1000, end.offset),
    },
  };
  const scope: RecordScope = {
    provider: 'withings',
    recordType: 'activity',
    recordId: id,
    ctx,
    effective,
    issued: isoUtc(activity.modified),
  };
  const moderate = present(activity.moderate);
  const intense = present(activity.intense);
  const activeSeconds =
    moderate !== undefined || intense !== undefined ? (moderate ?? 0) + (intense ?? 0) : present(activity.active);
  const others: MetricValue[] = [
    { key: 'distance', value: present(activity.distance), unit: 'm' },
    { key: 'active-energy', value: present(activity.calories), unit: 'kcal' },
    { key: 'total-energy', value: present(activity.totalcalories), unit: 'kcal' },
    { key: 'active-duration', value: activeSeconds, unit: 's' },
    { key: 'heart-rate-average', value: reading(activity.hr_average), unit: '/min' },
    { key: 'heart-rate-max', value: reading(activity.hr_max), unit: '/min' },
  ];
  const steps: MetricValue = { key: 'steps', value: present(activity.steps), unit: '{steps}' };
  const panel = getMetric('steps');
  const members = others.filter((o) => panel.members?.includes(o.key));
  const singles = others.filter((o) => !panel.members?.includes(o.key));
  if (steps.value === undefined) {
    // No step count: nothing to hang members on, so each value stands alone.
    buildSingles(scope, [...members, ...singles], result);
  } else {
    buildQuantityPanel(scope, steps, members, result);
    buildSingles(scope, singles, result);
  }
  return result;
}

/** Withings workout `category` → the sport's name (spec workout_object.category; the common ones). */
export const WORKOUT_CATEGORIES: Readonly<Record<number, string>> = {
  1: 'Walk',
  2: 'Run',
  3: 'Hiking',
  4: 'Skating',
  5: 'BMX',
  6: 'Bicycling',
  7: 'Swimming',
  8: 'Surfing',
  9: 'Kitesurfing',
  10: 'Windsurfing',
  11: 'Bodyboard',
  12: 'Tennis',
  13: 'Table tennis',
  14: 'Squash',
  15: 'Badminton',
  16: 'Lift weights',
  17: 'Fitness',
  18: 'Elliptical',
  19: 'Pilates',
  20: 'Basket-ball',
  21: 'Soccer',
  22: 'Football',
  23: 'Rugby',
  24: 'Volley-ball',
  25: 'Waterpolo',
  26: 'Horse riding',
  27: 'Golf',
  28: 'Yoga',
  29: 'Dancing',
  30: 'Boxing',
  31: 'Fencing',
  32: 'Wrestling',
  33: 'Martial arts',
  34: 'Skiing',
  35: 'Snowboarding',
  36: 'Other',
  187: 'Rowing',
  188: 'Zumba',
  191: 'Baseball',
  192: 'Handball',
  193: 'Hockey',
  194: 'Ice hockey',
  195: 'Climbing',
  196: 'Ice skating',
  272: 'Multi-sport',
  306: 'Indoor walk',
  307: 'Indoor running',
  308: 'Indoor cycling',
  456: 'Padel',
  498: 'Trail Running',
  523: 'Mountain Biking',
  546: 'Crossfit',
  550: 'HIIT',
  552: 'Stretching',
  566: 'Nordic Walking',
};
/** Category 128, "No activity": not a workout. */
const NO_ACTIVITY = 128;

/**
 * Workout → one session Observation with its measurements as components.
 * @param workout - an entry of getworkouts
 * @param ctx - patient, device, Withings user id
 * @returns Observations and skip reasons
 */
export function convertWithingsWorkoutToFhir(workout: WithingsWorkout, ctx: WithingsMapContext): MapResult {
  const id = String(workout.id);
  const result = emptyResult();
  if (workout.category === NO_ACTIVITY) {
    result.skipped.push({ key: 'workout-activity', reason: `workout ${id} is category 128 (no activity)` });
    return result;
  }
  if (workout.enddate <= workout.startdate) {
    result.skipped.push({ key: 'workout-activity', reason: `workout ${id} ends before it starts` });
    return result;
  }
  const zone = workout.timezone ?? undefined;
  const startOffset = zone ? zoneOffsetMinutes(zone, workout.startdate * 1000) : undefined;
  const endOffset = zone ? zoneOffsetMinutes(zone, workout.enddate * 1000) : undefined;
  if (startOffset === undefined || endOffset === undefined) {
    result.skipped.push(unknownZone('workout', id, zone));
    return result;
  }
  const scope: RecordScope = {
    provider: 'withings',
    recordType: 'workout',
    recordId: id,
    ctx,
    effective: {
      effectivePeriod: {
        start: epochInOffset(workout.startdate, startOffset),
        end: epochInOffset(workout.enddate, endOffset),
      },
    },
    issued: isoUtc(workout.modified),
  };
  const metric = getMetric('workout-activity');
  const data = workout.data ?? {};
  const component = memberComponents(
    metric,
    [
      // Withings' workout calories are active energy (the day's totalcalories adds the basal part).
      { key: 'active-energy', value: present(data.calories) ?? present(data.manual_calories), unit: 'kcal' },
      { key: 'distance', value: present(data.distance) ?? present(data.manual_distance), unit: 'm' },
      { key: 'steps', value: present(data.steps), unit: '{steps}' },
      { key: 'heart-rate-average', value: reading(data.hr_average), unit: '/min' },
      { key: 'heart-rate-max', value: reading(data.hr_max), unit: '/min' },
    ],
    result
  );
  const sport = WORKOUT_CATEGORIES[workout.category] ?? `Withings workout category ${workout.category}`;
  const observation: Observation = {
    ...observationFor(scope, metric),
    valueCodeableConcept: { text: sport },
    ...(component.length > 0 ? { component } : {}),
  };
  if (workout.attrib !== null && workout.attrib !== undefined && MANUAL_ATTRIBS.has(workout.attrib)) {
    observation.performer = [ctx.patient];
  }
  result.observations.push(observation);
  return result;
}

/** Sleep efficiency: Withings sends a 0–1 ratio; the catalogue stores a percentage (rounded to 0.01 %). */
function efficiencyPercent(ratio: number | undefined): number | undefined {
  return ratio === undefined ? undefined : Math.round(ratio * 10_000) / 100;
}

/**
 * Sleep summary → the night's sleep-duration panel and its respiratory rate.
 * @param summary - an entry of sleep getsummary
 * @param ctx - patient, device, Withings user id
 * @returns Observations and skip reasons
 */
export function convertWithingsSleepSummaryToFhir(summary: WithingsSleepSummary, ctx: WithingsMapContext): MapResult {
  const id = String(summary.id);
  const result = emptyResult();
  if (summary.completed === false) {
    result.skipped.push({ key: 'record', reason: `sleep ${id} is not completed yet` });
    return result;
  }
  const zone = summary.timezone ?? undefined;
  const startOffset = zone ? zoneOffsetMinutes(zone, summary.startdate * 1000) : undefined;
  const endOffset = zone ? zoneOffsetMinutes(zone, summary.enddate * 1000) : undefined;
  if (startOffset === undefined || endOffset === undefined) {
    result.skipped.push(unknownZone('sleep', id, zone));
    return result;
  }
  const scope: RecordScope = {
    provider: 'withings',
    recordType: 'sleep',
    recordId: id,
    ctx,
    effective: {
      effectivePeriod: {
        start: epochInOffset(summary.startdate, startOffset),
        end: epochInOffset(summary.enddate, endOffset),
      },
    },
    issued: isoUtc(summary.modified),
  };
  const d = summary.data;
  const light = present(d.lightsleepduration);
  const deep = present(d.deepsleepduration);
  const rem = present(d.remsleepduration);
  const staged = light !== undefined && deep !== undefined && rem !== undefined ? light + deep + rem : undefined;
  // total_sleep_time is light + deep + REM; an external source sends only asleepduration (stages null).
  const total = present(d.total_sleep_time) ?? staged ?? present(d.asleepduration);
  buildQuantityPanel(
    scope,
    { key: 'sleep-duration', value: total, unit: 's' },
    [
      { key: 'sleep-deep', value: deep, unit: 's' },
      { key: 'sleep-light', value: light, unit: 's' },
      { key: 'sleep-rem', value: rem, unit: 's' },
      { key: 'sleep-awake', value: present(d.wakeupduration), unit: 's' },
      { key: 'sleep-latency', value: present(d.sleep_latency) ?? present(d.durationtosleep), unit: 's' },
      { key: 'time-in-bed', value: present(d.total_timeinbed), unit: 's' },
      { key: 'sleep-efficiency', value: efficiencyPercent(present(d.sleep_efficiency)), unit: '%' },
      { key: 'withings-sleep-score', value: present(d.sleep_score), unit: '{score}' },
    ],
    result
  );
  buildSingles(scope, [{ key: 'respiratory-rate', value: reading(d.rr_average), unit: '/min' }], result);
  return result;
}

/** Withings intraday samples are per minute (60 s grid; shorter events round to the nearest minute). */
export const INTRADAY_PERIOD_MS = 60_000;
const SERIES_UNSAFE = /[^A-Za-z0-9._-]/g;

/** @returns the series name of one device's intraday data (letters, digits, `.`, `_`, `-`; ≤ 64 chars) */
export function intradaySeriesName(deviceid: string | null | undefined): string {
  const device = (deviceid ?? 'account').replace(SERIES_UNSAFE, '_').slice(0, 48);
  return `intraday.${device || 'account'}`;
}

/**
 * Intraday points → one heart-rate and one steps SampledData Observation per device × UTC day, grouped by the
 * device-day record identifier they share, each group merging over what is stored (a late minute adds to the day,
 * never replaces it).
 * @param points - getintradayactivity points (any days, any devices)
 * @param ctx - patient, device, Withings user id
 * @returns the record groups and what was dropped
 */
export function mapWithingsIntraday(
  points: readonly { readonly t: number; readonly point: WithingsIntradayPoint }[],
  ctx: WithingsMapContext
): { records: RecordGroup[]; skipped: SkipReason[] } {
  const byDevice = new Map<string, { hr: Sample[]; steps: Sample[] }>();
  for (const { t, point } of points) {
    const series = intradaySeriesName(point.deviceid);
    const entry = byDevice.get(series) ?? { hr: [], steps: [] };
    const hr = reading(point.heart_rate);
    if (hr !== undefined) {
      entry.hr.push({ t: t * 1000, v: hr });
    }
    const steps = present(point.steps);
    if (steps !== undefined) {
      entry.steps.push({ t: t * 1000, v: steps });
    }
    byDevice.set(series, entry);
  }
  const groups = new Map<string, { record: { system: string; value: string }; observations: Observation[] }>();
  const skipped: SkipReason[] = [];
  for (const [series, samples] of byDevice) {
    const scope = {
      provider: 'withings' as const,
      patient: ctx.patient,
      device: ctx.device,
      providerUserId: ctx.providerUserId,
      series,
    };
    for (const [metric, list] of [
      ['heart-rate', samples.hr],
      ['steps', samples.steps],
    ] as const) {
      const built = buildSeriesObservations(scope, metric, list, INTRADAY_PERIOD_MS);
      if (built.dropped.length > 0) {
        const first = built.dropped[0];
        skipped.push({
          key: metric,
          reason: `${built.dropped.length} intraday ${metric} sample(s) of ${series} not stored (first: ${first?.reason ?? 'unknown'})`,
        });
      }
      for (const observation of built.observations) {
        const record = observation.identifier?.[1];
        if (!record?.system || !record.value) {
          throw new Error('series Observation without its record identifier');
        }
        const group = groups.get(record.value) ?? {
          record: { system: record.system, value: record.value },
          observations: [],
        };
        group.observations.push(observation);
        groups.set(record.value, group);
      }
    }
  }
  return {
    records: [...groups.values()].map((g) => ({ ...g, merge: mergeSeriesObservation })),
    skipped,
  };
}
