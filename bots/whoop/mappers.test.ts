import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { getMetric } from '../shared/catalogue.ts';
import { IDENTIFIER_BASE, WEARABLE_PROFILE } from '../shared/systems.ts';
import { validateWearableObservation } from '../shared/validate-observation.ts';
import {
  convertWhoopBodyToFhir,
  convertWhoopCycleToFhir,
  convertWhoopRecoveryToFhir,
  convertWhoopSleepToFhir,
  convertWhoopWorkoutToFhir,
} from './mappers.ts';
import type { MapResult } from './mappers.ts';
import { CycleSchema, RecoverySchema, SleepSchema, UserBodyMeasurementSchema, WorkoutSchema } from './schemas.ts';
import { BODY, CYCLE, PENDING_RECOVERY, RECOVERY, SLEEP, WORKOUT } from './test-fixtures.ts';

const ctx = {
  patient: { reference: 'Patient/p1' as const },
  device: { reference: 'Device/d1' as const },
  whoopUserId: '10129',
};
const cycle = CycleSchema.parse(CYCLE);
const sleep = SleepSchema.parse(SLEEP);
const recovery = RecoverySchema.parse(RECOVERY);
const workout = WorkoutSchema.parse(WORKOUT);
const body = UserBodyMeasurementSchema.parse(BODY);

function metricKey(o: Observation): string {
  const value = o.identifier?.[0]?.value ?? '';
  return value.slice(value.lastIndexOf(':') + 1);
}

/** metric key → value, the golden summary of a mapping. */
function values(result: MapResult): Record<string, number | undefined> {
  return Object.fromEntries(result.observations.map((o) => [metricKey(o), o.valueQuantity?.value]));
}

function expectValid(result: MapResult): void {
  expect(result.observations.length).toBeGreaterThan(0);
  for (const observation of result.observations) {
    const check = validateWearableObservation(observation);
    expect(check.ok ? [] : check.errors).toEqual([]);
    const metric = getMetric(metricKey(observation));
    expect(check.ok && check.metric.key).toBe(metric.key);
    if (metric.valueTypes.includes('Quantity')) {
      expect(observation.valueQuantity?.code).toBe(metric.unit);
    }
    expect(observation.category?.[0]?.coding?.[0]?.code).toBe(metric.category);
    expect(observation).toMatchObject({
      meta: { profile: [WEARABLE_PROFILE] },
      subject: ctx.patient,
      device: ctx.device,
      status: 'final',
    });
  }
}

describe('convertWhoopCycleToFhir', () => {
  test('golden: day strain, total energy in kcal, average and max heart rate over the cycle period', () => {
    const result = convertWhoopCycleToFhir(cycle, ctx);
    expectValid(result);
    expect(values(result)).toEqual({
      'whoop-day-strain': 5.2951527,
      'total-energy': 1981,
      'heart-rate-average': 68,
      'heart-rate-max': 141,
    });
    for (const o of result.observations) {
      expect(o.effectivePeriod).toEqual({ start: CYCLE.start, end: CYCLE.end });
    }
    expect(result.skipped).toEqual([]);
    const strain = result.observations[0];
    expect(strain?.identifier).toEqual([
      { system: `${IDENTIFIER_BASE}/whoop/cycle`, value: '10129:93845:whoop-day-strain' },
      { system: `${IDENTIFIER_BASE}/whoop/record`, value: 'cycle:10129:93845' },
    ]);
    expect(strain?.effectivePeriod).toEqual({ start: CYCLE.start, end: CYCLE.end });
    expect(strain?.issued).toBe(CYCLE.updated_at);
  });

  test('a cycle in progress (no end) is skipped, not stored as a partial day', () => {
    const { end: _end, ...open } = cycle;
    expect(convertWhoopCycleToFhir(open, ctx)).toEqual({
      observations: [],
      skipped: [{ key: 'record', reason: 'cycle 93845 is still in progress (no end)' }],
    });
  });

  test('PENDING_SCORE and UNSCORABLE give no Observations and a reason', () => {
    const { score: _s, ...pending } = cycle;
    expect(convertWhoopCycleToFhir({ ...pending, score_state: 'PENDING_SCORE' }, ctx)).toEqual({
      observations: [],
      skipped: [{ key: 'record', reason: 'cycle 93845 is PENDING_SCORE, not SCORED' }],
    });
    expect(convertWhoopCycleToFhir({ ...pending, score_state: 'UNSCORABLE' }, ctx).skipped[0]?.reason).toBe(
      'cycle 93845 is UNSCORABLE, not SCORED'
    );
  });
});

describe('convertWhoopSleepToFhir', () => {
  test('golden: stages in minutes, total sleep = light + SWS + REM, need = sum of its parts', () => {
    const result = convertWhoopSleepToFhir(sleep, ctx);
    expectValid(result);
    expect(values(result)).toEqual({
      'sleep-duration': 456.93,
      'sleep-deep': 110.51,
      'sleep-light': 248.43,
      'sleep-rem': 97.99,
      'sleep-awake': 23.39,
      'time-in-bed': 504.55,
      'sleep-efficiency': 91.69533848,
      'whoop-sleep-performance': 98,
      'whoop-sleep-consistency': 90,
      'respiratory-rate': 16.11328125,
      'whoop-sleep-need': 465.74,
    });
    for (const o of result.observations) {
      expect(o.effectivePeriod).toEqual({ start: SLEEP.start, end: SLEEP.end });
      expect(o.identifier?.[1]).toEqual({
        system: `${IDENTIFIER_BASE}/whoop/record`,
        value: `sleep:10129:${SLEEP.id}`,
      });
    }
    expect(result.observations.find((o) => metricKey(o) === 'sleep-rem')?.code?.coding?.[0]?.code).toBe('93829-0');
  });

  test('optional scores WHOOP did not report are simply absent', () => {
    const {
      respiratory_rate: _r,
      sleep_performance_percentage: _p,
      sleep_consistency_percentage: _c,
      ...score
    } = sleep.score ?? SLEEP.score;
    const result = convertWhoopSleepToFhir({ ...sleep, score: { ...score } }, ctx);
    expect(Object.keys(values(result))).not.toContain('respiratory-rate');
    expect(Object.keys(values(result))).not.toContain('whoop-sleep-performance');
    expect(Object.keys(values(result))).not.toContain('whoop-sleep-consistency');
    expect(result.skipped).toEqual([]);
  });

  test('naps are skipped', () => {
    expect(convertWhoopSleepToFhir({ ...sleep, nap: true }, ctx).skipped).toEqual([
      { key: 'record', reason: `sleep ${SLEEP.id} is a nap` },
    ]);
  });

  test('implausible values are skipped with the catalogue message; the rest is kept', () => {
    const score = sleep.score ?? SLEEP.score;
    const result = convertWhoopSleepToFhir({ ...sleep, score: { ...score, respiratory_rate: 95 } }, ctx);
    expect(result.skipped).toEqual([
      { key: 'respiratory-rate', reason: 'respiratory-rate value 95 /min is outside the plausible range 4–60 /min' },
    ]);
    expect(result.observations).toHaveLength(10);
  });

  test('unscored', () => {
    const { score: _s, ...pending } = sleep;
    expect(convertWhoopSleepToFhir({ ...pending, score_state: 'UNSCORABLE' }, ctx).observations).toEqual([]);
  });
});

describe('convertWhoopRecoveryToFhir', () => {
  test('golden: recovery, RHR, HRV RMSSD, SpO2, skin temperature over the sleep period; record id = sleep id', () => {
    const result = convertWhoopRecoveryToFhir(recovery, { ...ctx, sleep });
    expectValid(result);
    expect(values(result)).toEqual({
      'whoop-recovery': 44,
      'resting-heart-rate': 64,
      'hrv-rmssd': 31.813562,
      spo2: 95.6875,
      'skin-temperature': 33.7,
    });
    const hrv = result.observations.find((o) => metricKey(o) === 'hrv-rmssd');
    expect(hrv?.identifier).toEqual([
      { system: `${IDENTIFIER_BASE}/whoop/recovery`, value: `10129:${SLEEP.id}:hrv-rmssd` },
      { system: `${IDENTIFIER_BASE}/whoop/record`, value: `recovery:10129:${SLEEP.id}` },
    ]);
    expect(hrv?.code?.coding?.[0]?.code).toBe('hrv-rmssd');
    expect(hrv?.effectivePeriod).toEqual({ start: SLEEP.start, end: SLEEP.end });
    const spo2 = result.observations.find((o) => metricKey(o) === 'spo2');
    expect(spo2?.code?.coding?.map((c) => c.code)).toEqual(['2708-6', '59408-5']);
  });

  test('without its sleep there is no honest effective time: skipped', () => {
    expect(convertWhoopRecoveryToFhir(recovery, ctx).skipped).toEqual([
      { key: 'record', reason: `recovery ${SLEEP.id} needs its sleep for the effective period` },
    ]);
    expect(convertWhoopRecoveryToFhir(recovery, { ...ctx, sleep: { ...sleep, id: 'other' } }).observations).toEqual([]);
  });

  test('while the user is calibrating the score is skipped, the physiology kept', () => {
    const score = recovery.score ?? RECOVERY.score;
    const result = convertWhoopRecoveryToFhir(
      { ...recovery, score: { ...score, user_calibrating: true } },
      { ...ctx, sleep }
    );
    expect(Object.keys(values(result))).toEqual(['resting-heart-rate', 'hrv-rmssd', 'spo2', 'skin-temperature']);
    expect(result.skipped).toEqual([
      { key: 'whoop-recovery', reason: `recovery ${SLEEP.id}: user is still calibrating` },
    ]);
  });

  test('pending', () => {
    expect(convertWhoopRecoveryToFhir(RecoverySchema.parse(PENDING_RECOVERY), { ...ctx, sleep })).toEqual({
      observations: [],
      skipped: [
        { key: 'record', reason: 'recovery 123e4567-e89b-12d3-a456-426614174000 is PENDING_SCORE, not SCORED' },
      ],
    });
  });
});

describe('convertWhoopWorkoutToFhir', () => {
  const scope = { ...ctx, whoopUserId: '9012' };

  test('golden: strain, energy (kJ → kcal), distance, altitude gain, average and max HR over the workout period', () => {
    const result = convertWhoopWorkoutToFhir(workout, scope);
    expectValid(result);
    expect(values(result)).toEqual({
      'whoop-workout-strain': 8.2463,
      'active-energy': 375.1,
      distance: 1772.8,
      'altitude-gain': 46.6,
      'heart-rate-average': 123,
      'heart-rate-max': 146,
      'hr-zone-durations': undefined,
      'workout-activity': undefined,
    });
    expect(result.skipped).toEqual([]);
    expect(result.observations[0]?.identifier?.[0]).toEqual({
      system: `${IDENTIFIER_BASE}/whoop/workout`,
      value: `9012:${WORKOUT.id}:whoop-workout-strain`,
    });
    for (const o of result.observations) {
      expect(o.effectivePeriod).toEqual({ start: WORKOUT.start, end: WORKOUT.end });
      expect(o.identifier?.[1]).toEqual({
        system: `${IDENTIFIER_BASE}/whoop/record`,
        value: `workout:9012:${WORKOUT.id}`,
      });
      expect(o.issued).toBe(WORKOUT.updated_at);
    }
  });

  test('heart rate zones: one panel Observation, a component per zone in minutes, in zone order', () => {
    const panel = convertWhoopWorkoutToFhir(workout, scope).observations.find(
      (o) => metricKey(o) === 'hr-zone-durations'
    );
    expect(panel?.valueQuantity).toBeUndefined();
    expect(panel?.code?.coding?.[0]?.code).toBe('hr-zone-durations');
    expect(
      panel?.component?.map((c) => [c.code.coding?.[0]?.code, c.valueQuantity?.value, c.valueQuantity?.code])
    ).toEqual([
      ['hr-zone-0', 5, 'min'],
      ['hr-zone-1', 10, 'min'],
      ['hr-zone-2', 15, 'min'],
      ['hr-zone-3', 15, 'min'],
      ['hr-zone-4', 10, 'min'],
      ['hr-zone-5', 5, 'min'],
    ]);
  });

  test('the session: its sport as WHOOP names it, over the workout period', () => {
    const session = convertWhoopWorkoutToFhir(workout, scope).observations.find(
      (o) => metricKey(o) === 'workout-activity'
    );
    expect(session?.valueCodeableConcept).toEqual({ text: 'running' });
    expect(session?.identifier?.[0]).toEqual({
      system: `${IDENTIFIER_BASE}/whoop/workout`,
      value: `9012:${WORKOUT.id}:workout-activity`,
    });
    expect(session?.category?.[0]?.coding?.[0]?.code).toBe('activity');
  });

  test('a zone longer than a day skips the whole panel (a panel missing a zone is invalid); the rest is kept', () => {
    const score = workout.score ?? WORKOUT.score;
    const result = convertWhoopWorkoutToFhir(
      { ...workout, score: { ...score, zone_durations: { ...score.zone_durations, zone_three_milli: 90_000_000 } } },
      scope
    );
    expect(result.skipped).toEqual([
      {
        key: 'hr-zone-durations',
        reason: 'hr-zone-durations.hr-zone-3 value 1500 min is outside the plausible range 0–1440 min',
      },
    ]);
    expect(Object.keys(values(result))).not.toContain('hr-zone-durations');
    expect(result.observations).toHaveLength(7);
  });

  test('a blank sport name gives no session Observation and a reason', () => {
    const result = convertWhoopWorkoutToFhir({ ...workout, sport_name: '  ' }, scope);
    expect(result.skipped).toEqual([{ key: 'workout-activity', reason: `workout ${WORKOUT.id} has no sport name` }]);
    expect(Object.keys(values(result))).not.toContain('workout-activity');
  });

  test('an implausible max heart rate is skipped with the catalogue message', () => {
    const score = workout.score ?? WORKOUT.score;
    const result = convertWhoopWorkoutToFhir({ ...workout, score: { ...score, max_heart_rate: 320 } }, scope);
    expect(result.skipped).toEqual([
      { key: 'heart-rate-max', reason: 'heart-rate-max value 320 /min is outside the plausible range 30–250 /min' },
    ]);
  });

  test('no distance or altitude reported → no distance or altitude Observation', () => {
    const { distance_meter: _d, altitude_gain_meter: _a, ...score } = workout.score ?? WORKOUT.score;
    expect(Object.keys(values(convertWhoopWorkoutToFhir({ ...workout, score }, ctx)))).toEqual([
      'whoop-workout-strain',
      'active-energy',
      'heart-rate-average',
      'heart-rate-max',
      'hr-zone-durations',
      'workout-activity',
    ]);
  });

  test('an unscored workout gives nothing, not even the session', () => {
    const { score: _s, ...pending } = workout;
    expect(convertWhoopWorkoutToFhir({ ...pending, score_state: 'PENDING_SCORE' }, ctx)).toEqual({
      observations: [],
      skipped: [{ key: 'record', reason: `workout ${WORKOUT.id} is PENDING_SCORE, not SCORED` }],
    });
  });
});

describe('convertWhoopBodyToFhir', () => {
  test('golden: height in cm, weight in kg, dated by the day it was read', () => {
    const result = convertWhoopBodyToFhir(body, { ...ctx, observedOn: '2026-11-21' });
    expectValid(result);
    expect(values(result)).toEqual({ 'body-height': 182.9, 'body-weight': 90.72 });
    expect(result.observations[0]?.effectiveDateTime).toBe('2026-11-21');
    expect(result.observations[0]?.identifier?.[1]).toEqual({
      system: `${IDENTIFIER_BASE}/whoop/record`,
      value: 'body:10129:2026-11-21',
    });
  });

  test('observedOn must be a date', () => {
    expect(() => convertWhoopBodyToFhir(body, { ...ctx, observedOn: 'today' })).toThrow(
      'observedOn must be a YYYY-MM-DD date, got today'
    );
  });
});
