import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { metricByCode } from '../shared/catalogue.ts';
import { decodeSeries, INTRADAY_PROFILE } from '../shared/sampled-data.ts';
import { IDENTIFIER_BASE, WEARABLE_PROFILE } from '../shared/systems.ts';
import { validateWearableObservation } from '../shared/validate-observation.ts';
import {
  convertOuraDailyActivityToFhir,
  convertOuraDailyReadinessToFhir,
  convertOuraDailySleepToFhir,
  convertOuraDailySpo2ToFhir,
  convertOuraDailyStressToFhir,
  convertOuraHeartRateToFhir,
  convertOuraSleepSeriesToFhir,
  convertOuraSleepToFhir,
  convertOuraWorkoutToFhir,
  ouraRecordIdentifier,
} from './mappers.ts';
import type { MapResult } from './mappers.ts';
import {
  DailyActivitySchema,
  DailyReadinessSchema,
  DailySleepSchema,
  DailySpo2Schema,
  DailyStressSchema,
  HeartRateRowSchema,
  SleepSchema,
  WorkoutSchema,
} from './schemas.ts';
import {
  DAILY_ACTIVITY,
  DAILY_READINESS,
  DAILY_SLEEP,
  DAILY_SPO2,
  DAILY_STRESS,
  HEART_RATE_ROWS,
  OURA_USER_ID,
  SLEEP,
  WORKOUT,
} from './test-fixtures.ts';

const ctx = {
  patient: { reference: 'Patient/p1' as const },
  device: { reference: 'Device/d1' as const },
  providerUserId: OURA_USER_ID,
};
const sleep = SleepSchema.parse(SLEEP);

function metricKey(o: Observation): string {
  const value = o.identifier?.[0]?.value ?? '';
  return value.slice(value.lastIndexOf(':') + 1);
}

/** metric key → value over the Observations and their components: the golden summary of a mapping. */
function values(result: MapResult): Record<string, number | string | undefined> {
  const out: Record<string, number | string | undefined> = {};
  for (const o of result.observations) {
    out[metricKey(o)] = o.valueQuantity?.value ?? o.valueCodeableConcept?.text;
    for (const c of o.component ?? []) {
      const coding = c.code.coding?.[0];
      out[metricByCode(coding?.system, coding?.code)?.key ?? '?'] = c.valueQuantity?.value;
    }
  }
  return out;
}

function samplesOf(o: Observation | undefined, windowStart: string): ReturnType<typeof decodeSeries> {
  if (!o?.valueSampledData) {
    throw new Error('no valueSampledData');
  }
  expect(validateWearableObservation(o), 'series').toMatchObject({ ok: true });
  return decodeSeries(o.valueSampledData, windowStart);
}

function expectValid(result: MapResult): void {
  for (const o of result.observations) {
    expect(validateWearableObservation(o), metricKey(o)).toMatchObject({ ok: true });
    expect(o.meta?.profile).toEqual([WEARABLE_PROFILE]);
    expect(o.subject).toEqual(ctx.patient);
    expect(o.device).toEqual(ctx.device);
  }
}

describe('daily documents', () => {
  test('daily_sleep → the sleep score at its localized timestamp, with both identifiers', () => {
    const result = convertOuraDailySleepToFhir(DailySleepSchema.parse(DAILY_SLEEP), ctx);
    expect(values(result)).toEqual({ 'oura-sleep-score': 63 });
    const [o] = result.observations;
    expect(o?.effectiveDateTime).toBe('2024-01-15T00:00:00+01:00');
    expect(o?.identifier).toEqual([
      {
        system: `${IDENTIFIER_BASE}/oura/daily_sleep`,
        value: `p1:${OURA_USER_ID}:a1b2c3d4-daily-sleep:oura-sleep-score`,
      },
      ouraRecordIdentifier('daily_sleep', 'p1', OURA_USER_ID, 'a1b2c3d4-daily-sleep'),
    ]);
    expect(ouraRecordIdentifier('daily_sleep', 'p1', OURA_USER_ID, 'x')).toEqual({
      system: `${IDENTIFIER_BASE}/oura/record`,
      value: `daily_sleep:p1:${OURA_USER_ID}:x`,
    });
    expectValid(result);
  });

  test('daily_readiness → readiness score and skin temperature deviation (K)', () => {
    const result = convertOuraDailyReadinessToFhir(DailyReadinessSchema.parse(DAILY_READINESS), ctx);
    expect(values(result)).toEqual({ 'oura-readiness-score': 78, 'skin-temperature-deviation': -0.12 });
    expect(result.observations.find((o) => metricKey(o) === 'skin-temperature-deviation')?.valueQuantity?.code).toBe(
      'K'
    );
    expectValid(result);
  });

  test('daily_activity → six day totals over the 24 hours from its 4 a.m. timestamp', () => {
    const result = convertOuraDailyActivityToFhir(DailyActivitySchema.parse(DAILY_ACTIVITY), ctx);
    expect(values(result)).toEqual({
      steps: 9123,
      'active-energy': 412,
      'total-energy': 2510,
      distance: 7800,
      // medium 2400 s + high 600 s
      'active-duration': 50,
      'oura-activity-score': 82,
    });
    for (const o of result.observations) {
      expect(o.effectivePeriod).toEqual({ start: '2024-01-15T04:00:00+01:00', end: '2024-01-16T04:00:00+01:00' });
    }
    expectValid(result);
  });

  test("Oura's meta.updated_at becomes Observation.issued; a malformed one is left out", () => {
    const withMeta = DailySleepSchema.parse({
      ...DAILY_SLEEP,
      meta: { updated_at: '2024-01-15T09:12:00Z', version: 2 },
    });
    expect(convertOuraDailySleepToFhir(withMeta, ctx).observations[0]?.issued).toBe('2024-01-15T09:12:00Z');
    const odd = DailySleepSchema.parse({ ...DAILY_SLEEP, meta: { updated_at: 'yesterday' } });
    expect(convertOuraDailySleepToFhir(odd, ctx).observations[0]).not.toHaveProperty('issued');
  });

  test('daily_activity without a score keeps the totals', () => {
    const result = convertOuraDailyActivityToFhir(DailyActivitySchema.parse({ ...DAILY_ACTIVITY, score: null }), ctx);
    expect(Object.keys(values(result))).not.toContain('oura-activity-score');
    expect(result.observations).toHaveLength(5);
  });

  test('daily_spo2 → SpO2 dated by its day; a null average is skipped with a reason', () => {
    const result = convertOuraDailySpo2ToFhir(DailySpo2Schema.parse(DAILY_SPO2), ctx);
    expect(values(result)).toEqual({ spo2: 96.4 });
    expect(result.observations[0]?.effectiveDateTime).toBe('2024-01-15');
    expectValid(result);
    const none = convertOuraDailySpo2ToFhir(DailySpo2Schema.parse({ ...DAILY_SPO2, spo2_percentage: null }), ctx);
    expect(none.observations).toEqual([]);
    expect(none.skipped).toEqual([{ key: 'spo2', reason: 'daily_spo2 spo2-0115 has no average' }]);
  });

  test('daily_stress → high stress and high recovery in minutes', () => {
    const result = convertOuraDailyStressToFhir(DailyStressSchema.parse(DAILY_STRESS), ctx);
    expect(values(result)).toEqual({ 'oura-stress-high': 90, 'oura-recovery-high': 120 });
    expectValid(result);
  });

  test('an implausible value is skipped with the catalogue reason, never clamped', () => {
    const result = convertOuraDailySpo2ToFhir(
      DailySpo2Schema.parse({ ...DAILY_SPO2, spo2_percentage: { average: 30 } }),
      ctx
    );
    expect(result.observations).toEqual([]);
    expect(result.skipped).toEqual([
      { key: 'spo2', reason: 'spo2 value 30 % is outside the plausible range 50–100 %' },
    ]);
  });
});

describe('sleep periods', () => {
  test('long_sleep → the sleep panel, resting heart rate, HRV and respiratory rate over the bedtime period', () => {
    const result = convertOuraSleepToFhir(sleep, ctx);
    expect(result.observations.map(metricKey)).toEqual([
      'sleep-duration',
      'resting-heart-rate',
      'hrv-rmssd',
      'respiratory-rate',
    ]);
    expect(values(result)).toEqual({
      'sleep-duration': 434,
      'sleep-deep': 79,
      'sleep-light': 246.5,
      'sleep-rem': 108.5,
      'sleep-awake': 12,
      'sleep-latency': 9,
      'time-in-bed': 491.5,
      'sleep-efficiency': 93,
      'resting-heart-rate': 50,
      'hrv-rmssd': 42,
      'respiratory-rate': 13.875,
    });
    for (const o of result.observations) {
      expect(o.effectivePeriod).toEqual({ start: '2024-01-14T23:01:00+01:00', end: '2024-01-15T07:12:30+01:00' });
    }
    expect(result.skipped).toEqual([]);
    expectValid(result);
  });

  test.each(['sleep', 'late_nap', 'rest', 'deleted'] as const)('a %s period yields nothing and a reason', (type) => {
    const result = convertOuraSleepToFhir(SleepSchema.parse({ ...SLEEP, type }), ctx);
    expect(result.observations).toEqual([]);
    expect(result.skipped).toEqual([{ key: 'record', reason: `sleep 8f9a-sleep-0115 is ${type}, not a long_sleep` }]);
    expect(convertOuraSleepSeriesToFhir(SleepSchema.parse({ ...SLEEP, type }), ctx).series).toEqual([]);
  });

  test('an untyped period is skipped', () => {
    expect(convertOuraSleepToFhir(SleepSchema.parse({ ...SLEEP, type: null }), ctx).skipped).toEqual([
      { key: 'record', reason: 'sleep 8f9a-sleep-0115 is untyped, not a long_sleep' },
    ]);
  });

  test('a period without a total sleep duration keeps the vital signs', () => {
    const result = convertOuraSleepToFhir(SleepSchema.parse({ ...SLEEP, total_sleep_duration: null }), ctx);
    expect(result.observations.map(metricKey)).toEqual(['resting-heart-rate', 'hrv-rmssd', 'respiratory-rate']);
    expect(result.skipped).toEqual([{ key: 'sleep-duration', reason: 'sleep 8f9a-sleep-0115 has no sleep-duration' }]);
  });

  test('heart_rate and hrv arrays → SampledData on the 5-minute grid of the UTC day, series "sleep"', () => {
    const { series, skipped } = convertOuraSleepSeriesToFhir(sleep, ctx);
    expect(skipped).toEqual([]);
    expect(series.map((s) => s.observation.code.coding?.[0]?.code)).toEqual(['8867-4', 'hrv-rmssd']);
    const [hr, hrv] = series;
    expect(hr?.observation.meta?.profile).toEqual([INTRADAY_PROFILE]);
    expect(hr?.observation.effectivePeriod).toEqual({ start: '2024-01-14T00:00:00Z', end: '2024-01-15T00:00:00Z' });
    // 23:06 and 23:11 at +01:00 are 22:06Z and 22:11Z: slots 22:05 and 22:10 (the null first item is no sample).
    expect(samplesOf(hr?.observation, '2024-01-14T00:00:00Z')).toEqual([
      { t: Date.parse('2024-01-14T22:05:00Z'), v: 58 },
      { t: Date.parse('2024-01-14T22:10:00Z'), v: 55 },
    ]);
    expect(hrv?.observation.valueSampledData?.data?.split(' ').slice(-2)).toEqual(['38', '45']);
    expect(hr?.record.value).toBe(`series:p1:${OURA_USER_ID}:sleep:2024-01-14T00:00:00Z`);
    expect(hr?.observation.identifier?.[1]).toEqual(hr?.record);
  });

  test('a sample array whose interval does not divide a day is skipped with a reason', () => {
    const odd = SleepSchema.parse({ ...SLEEP, hrv: { ...SLEEP.hrv, interval: 7 } });
    const { series, skipped } = convertOuraSleepSeriesToFhir(odd, ctx);
    expect(series.map((s) => s.observation.code.coding?.[0]?.code)).toEqual(['8867-4']);
    expect(skipped).toEqual([
      { key: 'hrv-rmssd', reason: 'sleep 8f9a-sleep-0115 hrv-rmssd interval 7 s does not divide a day' },
    ]);
  });
});

describe('workouts and heart rate', () => {
  test('workout → the session named by its activity, with active energy and distance', () => {
    const result = convertOuraWorkoutToFhir(WorkoutSchema.parse(WORKOUT), ctx);
    expect(values(result)).toEqual({ 'workout-activity': 'walking', 'active-energy': 210.5, distance: 3200 });
    expect(result.observations[0]?.effectivePeriod).toEqual({
      start: '2024-01-15T18:05:00+01:00',
      end: '2024-01-15T18:40:00+01:00',
    });
    expectValid(result);
  });

  test('a workout without an activity is skipped', () => {
    expect(convertOuraWorkoutToFhir(WorkoutSchema.parse({ ...WORKOUT, activity: ' ' }), ctx).skipped).toEqual([
      { key: 'workout-activity', reason: 'workout workout-0115 has no activity' },
    ]);
  });

  test('heart rate rows → one heart-rate SampledData per UTC day, implausible rows dropped with one reason', () => {
    const rows = [
      ...HEART_RATE_ROWS.map((r) => HeartRateRowSchema.parse(r)),
      HeartRateRowSchema.parse({ bpm: 300, source: 'awake', timestamp: '2024-01-12T06:20:00+00:00' }),
      HeartRateRowSchema.parse({ bpm: 61, source: 'sleep', timestamp: '2024-01-13T01:00:00+00:00' }),
    ];
    const { series, skipped } = convertOuraHeartRateToFhir(rows, ctx);
    expect(series.map((s) => s.observation.effectivePeriod?.start)).toEqual([
      '2024-01-12T00:00:00Z',
      '2024-01-13T00:00:00Z',
    ]);
    const first = series[0]?.observation;
    expect(first?.valueSampledData?.period).toBe(300_000);
    // 06:04:46 rounds to the 06:05 slot, then 06:10 and 06:15; the 300 bpm row is dropped.
    expect(samplesOf(first, '2024-01-12T00:00:00Z')).toEqual([
      { t: Date.parse('2024-01-12T06:05:00Z'), v: 78 },
      { t: Date.parse('2024-01-12T06:10:00Z'), v: 80 },
      { t: Date.parse('2024-01-12T06:15:00Z'), v: 82 },
    ]);
    expect(series[0]?.record.value).toBe(`series:p1:${OURA_USER_ID}:heartrate:2024-01-12T00:00:00Z`);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]?.reason).toMatch(/^1 heart-rate sample\(s\) not stored: heart-rate value 300/);
  });
});
