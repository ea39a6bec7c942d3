import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { getMetric, metricByCode } from '../shared/catalogue.ts';
import { IDENTIFIER_BASE, WEARABLE_PROFILE } from '../shared/systems.ts';
import { validateWearableObservation } from '../shared/validate-observation.ts';
import {
  convertWhoopBodyToFhir,
  convertWhoopCycleToFhir,
  convertWhoopRecoveryToFhir,
  convertWhoopSleepToFhir,
  convertWhoopWorkoutToFhir,
  inRecordOffset,
  patientIdOf,
  whoopIdentifiers,
  whoopRecordIdentifier,
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
const RECORD_SYSTEM = `${IDENTIFIER_BASE}/whoop/record`;
/**
 * The fixtures' period (02:25:44.774Z–10:25:44.774Z, offset -05:00, the same for cycle, sleep and workout) as the
 * mappers write it: the same instants in the record's own offset, so the local day is the date part.
 */
const LOCAL_PERIOD = { start: '2022-04-23T21:25:44.774-05:00', end: '2022-04-24T05:25:44.774-05:00' };

function metricKey(o: Observation): string {
  const value = o.identifier?.[0]?.value ?? '';
  return value.slice(value.lastIndexOf(':') + 1);
}

/** The Observations' metric keys, one per Observation: what a record costs in writes. */
function keys(result: MapResult): string[] {
  return result.observations.map(metricKey);
}

/**
 * metric key → value over the Observations and their components (a component is named by its catalogue metric, or
 * by its code for a panel member such as a heart rate zone): the golden summary of a mapping.
 */
function values(result: MapResult): Record<string, number | string | undefined> {
  const out: Record<string, number | string | undefined> = {};
  for (const o of [...result.observations, ...result.writeOnce]) {
    out[metricKey(o)] = o.valueQuantity?.value ?? o.valueCodeableConcept?.text;
    for (const c of o.component ?? []) {
      const coding = c.code.coding?.[0];
      out[metricByCode(coding?.system, coding?.code)?.key ?? coding?.code ?? '?'] = c.valueQuantity?.value;
    }
  }
  return out;
}

function expectValid(result: MapResult): void {
  const all = [...result.observations, ...result.writeOnce];
  expect(all.length).toBeGreaterThan(0);
  for (const observation of all) {
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

describe("times in the record's own offset", () => {
  test('inRecordOffset writes the same instant in the given offset, keeping the fraction as sent', () => {
    expect(inRecordOffset('2026-11-06T04:30:00Z', '-05:00')).toBe('2026-11-05T23:30:00-05:00');
    expect(inRecordOffset('2026-11-05T23:45:10.123456Z', '+05:45')).toBe('2026-11-06T05:30:10.123456+05:45');
    expect(inRecordOffset('2026-11-05T23:45:10Z', 'Z')).toBe('2026-11-05T23:45:10Z');
    // Already carrying an offset: converted, not re-labelled.
    expect(inRecordOffset('2026-11-05T23:30:00-05:00', '+01:00')).toBe('2026-11-06T05:30:00+01:00');
    for (const [instant, offset] of [
      ['2026-11-06T04:30:00Z', '-0500'],
      ['2026-11-06T04:30:00Z', 'EST'],
      ['2026-11-06T04:30:00Z', '+25:00'],
      ['2026-11-06T04:30:00Z', ''],
      ['2026-11-06 04:30:00', '-05:00'],
    ] as const) {
      expect(inRecordOffset(instant, offset)).toBeUndefined();
    }
  });

  test('the instants are unchanged: only their notation is', () => {
    const [strain] = convertWhoopCycleToFhir(cycle, ctx).observations;
    expect(Date.parse(strain?.effectivePeriod?.start ?? '')).toBe(Date.parse(CYCLE.start));
    expect(Date.parse(strain?.effectivePeriod?.end ?? '')).toBe(Date.parse(CYCLE.end));
  });

  test('each record keeps its own offset (a DST change or a trip between records)', () => {
    const summer = convertWhoopSleepToFhir({ ...sleep, timezone_offset: '-04:00' }, ctx).observations[0];
    expect(summer?.effectivePeriod).toEqual({
      start: '2022-04-23T22:25:44.774-04:00',
      end: '2022-04-24T06:25:44.774-04:00',
    });
    const tokyo = convertWhoopWorkoutToFhir({ ...workout, timezone_offset: '+09:00' }, ctx).observations[0];
    expect(tokyo?.effectivePeriod).toEqual({
      start: '2022-04-24T11:25:44.774+09:00',
      end: '2022-04-24T19:25:44.774+09:00',
    });
  });

  test("a recovery takes its sleep's offset", () => {
    const result = convertWhoopRecoveryToFhir(recovery, { ...ctx, sleep: { ...sleep, timezone_offset: '+02:00' } });
    for (const o of result.observations) {
      expect(o.effectivePeriod).toEqual({
        start: '2022-04-24T04:25:44.774+02:00',
        end: '2022-04-24T12:25:44.774+02:00',
      });
    }
  });

  test('a record with an unusable offset is skipped with a reason, never stored under a guessed day', () => {
    for (const result of [
      convertWhoopCycleToFhir({ ...cycle, timezone_offset: 'EST' }, ctx),
      convertWhoopSleepToFhir({ ...sleep, timezone_offset: 'EST' }, ctx),
      convertWhoopWorkoutToFhir({ ...workout, timezone_offset: 'EST' }, ctx),
      convertWhoopRecoveryToFhir(recovery, { ...ctx, sleep: { ...sleep, timezone_offset: 'EST' } }),
    ]) {
      expect(result.observations).toEqual([]);
      expect(result.skipped).toHaveLength(1);
      expect(result.skipped[0]?.reason).toMatch(/has no usable timezone_offset \(EST\): its local day is unknown$/);
    }
  });
});

describe('identifiers', () => {
  test('carry the Baseline patient, so two owners of one WHOOP account never share an identifier', () => {
    expect(whoopIdentifiers('sleep', 'p1', '10129', 'abc', 'sleep-duration')).toEqual([
      { system: `${IDENTIFIER_BASE}/whoop/sleep`, value: 'p1:10129:abc:sleep-duration' },
      { system: RECORD_SYSTEM, value: 'sleep:p1:10129:abc' },
    ]);
    expect(whoopRecordIdentifier('recovery', 'p2', '10129', 'abc')).toEqual({
      system: RECORD_SYSTEM,
      value: 'recovery:p2:10129:abc',
    });
    const a = convertWhoopCycleToFhir(cycle, ctx).observations.map((o) => o.identifier);
    const b = convertWhoopCycleToFhir(cycle, { ...ctx, patient: { reference: 'Patient/p2' } }).observations.map(
      (o) => o.identifier
    );
    expect(a.flat().map((i) => i?.value)).not.toEqual(expect.arrayContaining(b.flat().map((i) => i?.value)));
  });

  test('refuse a patient reference that is not Patient/<id>', () => {
    expect(patientIdOf({ reference: 'Patient/0b3e-41' })).toBe('0b3e-41');
    expect(() => patientIdOf({ reference: 'Practitioner/x' })).toThrow(
      'patient must be a Patient/<id> reference, got Practitioner/x'
    );
    expect(() => convertWhoopCycleToFhir(cycle, { ...ctx, patient: {} })).toThrow(
      'patient must be a Patient/<id> reference, got (none)'
    );
  });
});

describe('granularity: writes per WHOOP record', () => {
  test('cycle 1, sleep 2, recovery 3, workout 1 — 1.75 on average for one day with one workout', () => {
    const perRecord = [
      convertWhoopCycleToFhir(cycle, ctx),
      convertWhoopSleepToFhir(sleep, ctx),
      convertWhoopRecoveryToFhir(recovery, { ...ctx, sleep }),
      convertWhoopWorkoutToFhir(workout, ctx),
    ].map((r) => r.observations.length);
    expect(perRecord).toEqual([1, 2, 3, 1]);
    expect(perRecord.reduce((a, b) => a + b, 0) / perRecord.length).toBeLessThanOrEqual(3);
  });
});

describe('convertWhoopCycleToFhir', () => {
  test('golden: one day-strain Observation with total energy in kcal and average and max heart rate as components', () => {
    const result = convertWhoopCycleToFhir(cycle, ctx);
    expectValid(result);
    expect(keys(result)).toEqual(['whoop-day-strain']);
    expect(values(result)).toEqual({
      'whoop-day-strain': 5.2951527,
      'total-energy': 1981,
      'heart-rate-average': 68,
      'heart-rate-max': 141,
    });
    expect(result.skipped).toEqual([]);
    expect(result.writeOnce).toEqual([]);
    const strain = result.observations[0];
    expect(strain?.identifier).toEqual([
      { system: `${IDENTIFIER_BASE}/whoop/cycle`, value: 'p1:10129:93845:whoop-day-strain' },
      { system: RECORD_SYSTEM, value: 'cycle:p1:10129:93845' },
    ]);
    expect(strain?.effectivePeriod).toEqual(LOCAL_PERIOD);
    expect(strain?.issued).toBe(CYCLE.updated_at);
    expect(strain?.component?.[0]).toEqual({
      code: {
        coding: [
          {
            system: 'https://baseline.health/fhir/CodeSystem/baseline-metrics',
            code: 'total-energy',
            display: 'Total energy expenditure, device estimate',
          },
        ],
        text: 'Total energy',
      },
      valueQuantity: { value: 1981, unit: 'kcal', system: 'http://unitsofmeasure.org', code: 'kcal' },
    });
  });

  test('an implausible member drops only that component', () => {
    const score = cycle.score ?? CYCLE.score;
    const result = convertWhoopCycleToFhir({ ...cycle, score: { ...score, max_heart_rate: 320 } }, ctx);
    expect(result.skipped).toEqual([
      { key: 'heart-rate-max', reason: 'heart-rate-max value 320 /min is outside the plausible range 30–250 /min' },
    ]);
    expect(Object.keys(values(result))).toEqual(['whoop-day-strain', 'total-energy', 'heart-rate-average']);
    expectValid(result);
  });

  test('an implausible strain drops the Observation: its components would describe a day that is not stored', () => {
    const score = cycle.score ?? CYCLE.score;
    expect(convertWhoopCycleToFhir({ ...cycle, score: { ...score, strain: 25 } }, ctx)).toEqual({
      observations: [],
      writeOnce: [],
      skipped: [
        {
          key: 'whoop-day-strain',
          reason: 'whoop-day-strain value 25 {score} is outside the plausible range 0–21 {score}',
        },
      ],
    });
  });

  test('a cycle in progress (no end) is skipped, not stored as a partial day', () => {
    const { end: _end, ...open } = cycle;
    expect(convertWhoopCycleToFhir(open, ctx)).toEqual({
      observations: [],
      writeOnce: [],
      skipped: [{ key: 'record', reason: 'cycle 93845 is still in progress (no end)' }],
    });
  });

  test('PENDING_SCORE and UNSCORABLE give no Observations and a reason', () => {
    const { score: _s, ...pending } = cycle;
    expect(convertWhoopCycleToFhir({ ...pending, score_state: 'PENDING_SCORE' }, ctx)).toEqual({
      observations: [],
      writeOnce: [],
      skipped: [{ key: 'record', reason: 'cycle 93845 is PENDING_SCORE, not SCORED' }],
    });
    expect(convertWhoopCycleToFhir({ ...pending, score_state: 'UNSCORABLE' }, ctx).skipped[0]?.reason).toBe(
      'cycle 93845 is UNSCORABLE, not SCORED'
    );
  });
});

describe('convertWhoopSleepToFhir', () => {
  test('golden: total sleep with stages, scores and need as components; respiratory rate on its own', () => {
    const result = convertWhoopSleepToFhir(sleep, ctx);
    expectValid(result);
    expect(keys(result)).toEqual(['sleep-duration', 'respiratory-rate']);
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
      'whoop-sleep-need': 465.74,
      'respiratory-rate': 16.11328125,
    });
    for (const o of result.observations) {
      expect(o.effectivePeriod).toEqual(LOCAL_PERIOD);
      expect(o.identifier?.[1]).toEqual({ system: RECORD_SYSTEM, value: `sleep:p1:10129:${SLEEP.id}` });
    }
    const night = result.observations[0];
    expect(night?.code?.coding?.[0]?.code).toBe('93832-4');
    expect(night?.component?.find((c) => c.code.coding?.[0]?.code === '93829-0')?.valueQuantity?.value).toBe(97.99);
    // The vital sign stays searchable by its own LOINC code.
    expect(result.observations[1]?.code?.coding?.[0]).toMatchObject({ system: 'http://loinc.org', code: '9279-1' });
    expect(result.observations[1]?.category?.[0]?.coding?.[0]?.code).toBe('vital-signs');
  });

  test('optional scores WHOOP did not report are simply absent', () => {
    const {
      respiratory_rate: _r,
      sleep_performance_percentage: _p,
      sleep_consistency_percentage: _c,
      ...score
    } = sleep.score ?? SLEEP.score;
    const result = convertWhoopSleepToFhir({ ...sleep, score: { ...score } }, ctx);
    expect(keys(result)).toEqual(['sleep-duration']);
    expect(Object.keys(values(result))).not.toContain('whoop-sleep-performance');
    expect(Object.keys(values(result))).not.toContain('whoop-sleep-consistency');
    expect(result.skipped).toEqual([]);
    expectValid(result);
  });

  test('naps are skipped', () => {
    expect(convertWhoopSleepToFhir({ ...sleep, nap: true }, ctx).skipped).toEqual([
      { key: 'record', reason: `sleep ${SLEEP.id} is a nap` },
    ]);
  });

  test('an implausible respiratory rate is skipped with the catalogue message; the night is kept', () => {
    const score = sleep.score ?? SLEEP.score;
    const result = convertWhoopSleepToFhir({ ...sleep, score: { ...score, respiratory_rate: 95 } }, ctx);
    expect(result.skipped).toEqual([
      { key: 'respiratory-rate', reason: 'respiratory-rate value 95 /min is outside the plausible range 4–60 /min' },
    ]);
    expect(keys(result)).toEqual(['sleep-duration']);
    expect(result.observations[0]?.component).toHaveLength(9);
  });

  test('unscored', () => {
    const { score: _s, ...pending } = sleep;
    expect(convertWhoopSleepToFhir({ ...pending, score_state: 'UNSCORABLE' }, ctx).observations).toEqual([]);
  });
});

describe('convertWhoopRecoveryToFhir', () => {
  test('golden: resting HR and SpO2 alone, HRV with recovery and skin temperature, over the sleep period', () => {
    const result = convertWhoopRecoveryToFhir(recovery, { ...ctx, sleep });
    expectValid(result);
    expect(keys(result)).toEqual(['resting-heart-rate', 'spo2', 'hrv-rmssd']);
    expect(values(result)).toEqual({
      'whoop-recovery': 44,
      'resting-heart-rate': 64,
      'hrv-rmssd': 31.813562,
      spo2: 95.6875,
      'skin-temperature': 33.7,
    });
    const hrv = result.observations.find((o) => metricKey(o) === 'hrv-rmssd');
    expect(hrv?.identifier).toEqual([
      { system: `${IDENTIFIER_BASE}/whoop/recovery`, value: `p1:10129:${SLEEP.id}:hrv-rmssd` },
      { system: RECORD_SYSTEM, value: `recovery:p1:10129:${SLEEP.id}` },
    ]);
    expect(hrv?.code?.coding?.[0]?.code).toBe('hrv-rmssd');
    expect(hrv?.effectivePeriod).toEqual(LOCAL_PERIOD);
    expect(hrv?.component?.map((c) => c.code.coding?.[0]?.code)).toEqual(['whoop-recovery', 'skin-temperature']);
    const spo2 = result.observations.find((o) => metricKey(o) === 'spo2');
    expect(spo2?.code?.coding?.map((c) => c.code)).toEqual(['2708-6', '59408-5']);
  });

  test('without its sleep there is no honest effective time: skipped', () => {
    expect(convertWhoopRecoveryToFhir(recovery, ctx).skipped).toEqual([
      { key: 'record', reason: `recovery ${SLEEP.id} needs its sleep for the effective period` },
    ]);
    expect(convertWhoopRecoveryToFhir(recovery, { ...ctx, sleep: { ...sleep, id: 'other' } }).observations).toEqual([]);
  });

  test('while the user is calibrating the score is left out of the HRV Observation, the physiology kept', () => {
    const score = recovery.score ?? RECOVERY.score;
    const result = convertWhoopRecoveryToFhir(
      { ...recovery, score: { ...score, user_calibrating: true } },
      { ...ctx, sleep }
    );
    expect(Object.keys(values(result))).toEqual(['resting-heart-rate', 'spo2', 'hrv-rmssd', 'skin-temperature']);
    expect(result.skipped).toEqual([
      { key: 'whoop-recovery', reason: `recovery ${SLEEP.id}: user is still calibrating` },
    ]);
    expectValid(result);
  });

  test('pending', () => {
    expect(convertWhoopRecoveryToFhir(RecoverySchema.parse(PENDING_RECOVERY), { ...ctx, sleep })).toEqual({
      observations: [],
      writeOnce: [],
      skipped: [
        { key: 'record', reason: 'recovery 123e4567-e89b-12d3-a456-426614174000 is PENDING_SCORE, not SCORED' },
      ],
    });
  });
});

describe('convertWhoopWorkoutToFhir', () => {
  const scope = { ...ctx, whoopUserId: '9012' };

  test('golden: one session Observation with strain, total energy (kJ → kcal), distance, altitude, HR and zones', () => {
    const result = convertWhoopWorkoutToFhir(workout, scope);
    expectValid(result);
    expect(keys(result)).toEqual(['workout-activity']);
    expect(values(result)).toEqual({
      'workout-activity': 'running',
      'whoop-workout-strain': 8.2463,
      // WHOOP's workout kilojoules include basal energy: total, not active, energy.
      'total-energy': 375.1,
      distance: 1772.8,
      'altitude-gain': 46.6,
      'heart-rate-average': 123,
      'heart-rate-max': 146,
      'hr-zone-0': 5,
      'hr-zone-1': 10,
      'hr-zone-2': 15,
      'hr-zone-3': 15,
      'hr-zone-4': 10,
      'hr-zone-5': 5,
    });
    expect(result.skipped).toEqual([]);
    const session = result.observations[0];
    expect(session?.identifier).toEqual([
      { system: `${IDENTIFIER_BASE}/whoop/workout`, value: `p1:9012:${WORKOUT.id}:workout-activity` },
      { system: RECORD_SYSTEM, value: `workout:p1:9012:${WORKOUT.id}` },
    ]);
    expect(session?.effectivePeriod).toEqual(LOCAL_PERIOD);
    expect(session?.issued).toBe(WORKOUT.updated_at);
    expect(session?.valueCodeableConcept).toEqual({ text: 'running' });
    expect(session?.category?.[0]?.coding?.[0]?.code).toBe('activity');
  });

  test('a zone longer than a day drops all six zones (a workout takes them all or none); the rest is kept', () => {
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
    expect(Object.keys(values(result)).filter((k) => k.startsWith('hr-zone'))).toEqual([]);
    expect(result.observations[0]?.component).toHaveLength(6);
    expectValid(result);
  });

  test('a blank sport name gives no Observation and a reason: the session is what the values hang on', () => {
    expect(convertWhoopWorkoutToFhir({ ...workout, sport_name: '  ' }, scope)).toEqual({
      observations: [],
      writeOnce: [],
      skipped: [{ key: 'workout-activity', reason: `workout ${WORKOUT.id} has no sport name` }],
    });
  });

  test('an implausible max heart rate drops that component with the catalogue message', () => {
    const score = workout.score ?? WORKOUT.score;
    const result = convertWhoopWorkoutToFhir({ ...workout, score: { ...score, max_heart_rate: 320 } }, scope);
    expect(result.skipped).toEqual([
      { key: 'heart-rate-max', reason: 'heart-rate-max value 320 /min is outside the plausible range 30–250 /min' },
    ]);
    expect(Object.keys(values(result))).not.toContain('heart-rate-max');
    expectValid(result);
  });

  test('no distance or altitude reported → no distance or altitude component', () => {
    const { distance_meter: _d, altitude_gain_meter: _a, ...score } = workout.score ?? WORKOUT.score;
    const result = convertWhoopWorkoutToFhir({ ...workout, score }, ctx);
    expect(Object.keys(values(result)).slice(0, 5)).toEqual([
      'workout-activity',
      'whoop-workout-strain',
      'total-energy',
      'heart-rate-average',
      'heart-rate-max',
    ]);
    expectValid(result);
  });

  test('an unscored workout gives nothing, not even the session', () => {
    const { score: _s, ...pending } = workout;
    expect(convertWhoopWorkoutToFhir({ ...pending, score_state: 'PENDING_SCORE' }, ctx)).toEqual({
      observations: [],
      writeOnce: [],
      skipped: [{ key: 'record', reason: `workout ${WORKOUT.id} is PENDING_SCORE, not SCORED` }],
    });
  });
});

describe('convertWhoopBodyToFhir', () => {
  test('golden: height in cm and weight in kg, write-once, patient-reported, keyed by value', () => {
    const result = convertWhoopBodyToFhir(body, { ...ctx, observedOn: '2026-11-21' });
    expectValid(result);
    expect(result.observations).toEqual([]);
    expect(values(result)).toEqual({ 'body-height': 182.9, 'body-weight': 90.72 });
    const [height, weight] = result.writeOnce;
    expect(height?.effectiveDateTime).toBe('2026-11-21');
    expect(height?.performer).toEqual([ctx.patient]);
    expect(weight?.identifier).toEqual([
      { system: `${IDENTIFIER_BASE}/whoop/body`, value: 'p1:10129:body-weight=90.72:body-weight' },
      { system: RECORD_SYSTEM, value: 'body:p1:10129:body-weight=90.72' },
    ]);
  });

  test('the same values read on another day map to the same identifiers (nothing new to write); a change does not', () => {
    const ids = (r: MapResult): (string | undefined)[] => r.writeOnce.map((o) => o.identifier?.[0]?.value);
    const monday = convertWhoopBodyToFhir(body, { ...ctx, observedOn: '2026-11-23' });
    const friday = convertWhoopBodyToFhir(body, { ...ctx, observedOn: '2026-11-27' });
    expect(ids(friday)).toEqual(ids(monday));
    const lighter = convertWhoopBodyToFhir({ ...body, weight_kilogram: 89.4 }, { ...ctx, observedOn: '2026-11-27' });
    expect(ids(lighter)).toEqual([ids(monday)[0], 'p1:10129:body-weight=89.4:body-weight']);
  });

  test('an implausible value is skipped with the catalogue message', () => {
    const result = convertWhoopBodyToFhir({ ...body, height_meter: 3.2 }, { ...ctx, observedOn: '2026-11-21' });
    expect(result.skipped).toEqual([
      { key: 'body-height', reason: 'body-height value 320 cm is outside the plausible range 40–260 cm' },
    ]);
    expect(result.writeOnce.map(metricKey)).toEqual(['body-weight']);
  });

  test('observedOn must be a date', () => {
    expect(() => convertWhoopBodyToFhir(body, { ...ctx, observedOn: 'today' })).toThrow(
      'observedOn must be a YYYY-MM-DD date, got today'
    );
  });
});
