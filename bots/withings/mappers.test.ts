import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { mergeSeriesObservation } from '../shared/sampled-data.ts';
import { validateWearableObservation } from '../shared/validate-observation.ts';
import {
  convertWithingsActivityToFhir,
  convertWithingsMeasureGroupToFhir,
  convertWithingsSleepSummaryToFhir,
  convertWithingsWorkoutToFhir,
  intradaySeriesName,
  localMidnight,
  mapWithingsIntraday,
  scaledValue,
} from './mappers.ts';
import { ACTIVITY, BP_GROUP, CTX, INTRADAY_BODY, SLEEP_SUMMARY, WEIGHT_GROUP, WORKOUT } from './test-fixtures.ts';

const BASE = 'https://baseline.health/fhir';
const MEASURE_CTX = { ...CTX, timezone: 'Europe/Berlin' };

function codeOf(o: Observation): string | undefined {
  return o.code.coding?.[0]?.code;
}

function components(o: Observation | undefined): Record<string, number | undefined> {
  return Object.fromEntries((o?.component ?? []).map((c) => [c.code.coding?.[0]?.code ?? '', c.valueQuantity?.value]));
}

function byCode(observations: readonly Observation[]): Record<string, number | undefined> {
  return Object.fromEntries(observations.map((o) => [codeOf(o) ?? '', o.valueQuantity?.value]));
}

describe('scaledValue', () => {
  test.each([
    [65750, -3, 65.75],
    [3655, -2, 36.55],
    [7010, -2, 70.1],
    [373, -1, 37.3],
    [5, -3, 0.005],
    [-125, -2, -1.25],
    [18, 1, 180],
    [89, 0, 89],
    [0, -3, 0],
  ])('%i × 10^%i = %d exactly', (value, unit, expected) => {
    expect(scaledValue(value, unit)).toBe(expected);
  });

  test('the naive product would drift; scaledValue does not', () => {
    expect(3655 * 10 ** -2).not.toBe(36.55);
    expect(scaledValue(3655, -2)).toBe(36.55);
  });

  test('refuses a non-integer value', () => {
    expect(() => scaledValue(1.5, -1)).toThrow(
      'Withings measure 1.5 × 10^-1 is not an integer with an integer exponent'
    );
  });
});

describe('measure groups', () => {
  test('a blood-pressure group is one BP panel plus its pulse alone, in the zone’s offset', () => {
    const result = convertWithingsMeasureGroupToFhir(BP_GROUP, MEASURE_CTX);
    expect(result.skipped).toEqual([]);
    expect(result.observations.map(codeOf)).toEqual(['85354-9', '8867-4']);
    const [bp, hr] = result.observations;
    expect(components(bp)).toEqual({ '8480-6': 109, '8462-4': 89 });
    expect(bp?.effectiveDateTime).toBe('2023-07-27T22:59:36+02:00');
    expect(bp?.issued).toBe('2023-07-27T21:01:03.000Z');
    expect(bp?.identifier).toEqual([
      { system: `${BASE}/identifier/withings/measure`, value: 'p1:363:4716596696:blood-pressure' },
      { system: `${BASE}/identifier/withings/record`, value: 'measure:p1:363:4716596696' },
    ]);
    expect(hr?.valueQuantity).toEqual({
      value: 88,
      unit: 'beats/min',
      system: 'http://unitsofmeasure.org',
      code: '/min',
    });
    expect(bp?.performer).toBeUndefined();
  });

  test('a weight group: one Observation per value', () => {
    const result = convertWithingsMeasureGroupToFhir(WEIGHT_GROUP, MEASURE_CTX);
    // 118.003 kg is stored at the catalogue's 10 g precision (observations.ts roundToUnit).
    expect(byCode(result.observations)).toEqual({ '29463-7': 118, '41982-0': 21.5 });
    expect(result.observations[0]?.effectiveDateTime).toBe('2023-09-02T12:39:11+02:00');
  });

  test('every mapped type, exactly', () => {
    const group = {
      ...WEIGHT_GROUP,
      measures: [
        { value: 65750, type: 1, unit: -3 },
        { value: 180, type: 4, unit: -2 },
        { value: 52100, type: 5, unit: -3 },
        { value: 13650, type: 8, unit: -3 },
        { value: 4900, type: 76, unit: -2 },
        { value: 3800, type: 77, unit: -2 },
        { value: 265, type: 88, unit: -2 },
        { value: 3655, type: 71, unit: -2 },
        { value: 3610, type: 12, unit: -2 },
        { value: 3320, type: 73, unit: -2 },
        { value: 97, type: 54, unit: 0 },
        { value: 72, type: 91, unit: -1 },
        { value: 452, type: 123, unit: -1 },
      ],
    };
    const result = convertWithingsMeasureGroupToFhir(group, MEASURE_CTX);
    expect(
      Object.fromEntries(
        result.observations.map((o) => [o.identifier?.[0]?.value?.split(':')[3], o.valueQuantity?.value])
      )
    ).toEqual({
      'body-weight': 65.75,
      'body-height': 180,
      'fat-free-mass': 52.1,
      'fat-mass': 13.65,
      'muscle-mass': 49,
      hydration: 38,
      'bone-mass': 2.65,
      'body-temperature': 36.55,
      'skin-temperature': 33.2,
      spo2: 97,
      'pulse-wave-velocity': 7.2,
      vo2max: 45.2,
    });
    expect(result.skipped).toEqual([
      { key: 'body-temperature', reason: 'measure group 4815757309: type 12 repeats body-temperature' },
    ]);
    for (const observation of convertWithingsMeasureGroupToFhir({ ...group, attrib: 2 }, MEASURE_CTX).observations) {
      const check = validateWearableObservation(observation);
      expect(check.ok ? [] : check.errors).toEqual([]);
    }
  });

  test('half a blood pressure is not stored', () => {
    const group = { ...BP_GROUP, measures: [{ value: 109, type: 10, unit: 0 }] };
    const result = convertWithingsMeasureGroupToFhir(group, MEASURE_CTX);
    expect(result.observations).toEqual([]);
    expect(result.skipped).toEqual([{ key: 'blood-pressure', reason: 'measure 4716596696 has no Diastolic' }]);
  });

  test('category 2 (objectives) is skipped', () => {
    const result = convertWithingsMeasureGroupToFhir({ ...WEIGHT_GROUP, category: 2 }, MEASURE_CTX);
    expect(result).toEqual({
      observations: [],
      writeOnce: [],
      skipped: [
        { key: 'record', reason: 'measure group 4815757309 is category 2 (a user objective, not a measurement)' },
      ],
    });
  });

  test('attrib 1 (ambiguous) is skipped', () => {
    const result = convertWithingsMeasureGroupToFhir({ ...WEIGHT_GROUP, attrib: 1 }, MEASURE_CTX);
    expect(result.observations).toEqual([]);
    expect(result.skipped).toEqual([
      {
        key: 'record',
        reason: 'measure group 4815757309 is ambiguous (attrib 1: it may belong to another person on the device)',
      },
    ]);
  });

  test.each([2, 4])('attrib %i (typed in) is kept with the Patient as performer', (attrib) => {
    const result = convertWithingsMeasureGroupToFhir({ ...WEIGHT_GROUP, attrib }, MEASURE_CTX);
    expect(result.observations).toHaveLength(2);
    expect(result.observations.every((o) => o.performer?.[0]?.reference === 'Patient/p1')).toBe(true);
  });

  test('an unknown zone skips the group rather than guessing its day', () => {
    const result = convertWithingsMeasureGroupToFhir(WEIGHT_GROUP, { ...CTX, timezone: 'Mars/Olympus' });
    expect(result.skipped).toEqual([
      {
        key: 'record',
        reason: 'measure group 4815757309 has no usable timezone (Mars/Olympus): its local day is unknown',
      },
    ]);
    expect(convertWithingsMeasureGroupToFhir(WEIGHT_GROUP, { ...CTX, timezone: undefined }).skipped[0]?.reason).toBe(
      'measure group 4815757309 has no usable timezone (none): its local day is unknown'
    );
  });

  test('a group’s own zone wins over the body’s', () => {
    const result = convertWithingsMeasureGroupToFhir({ ...WEIGHT_GROUP, timezone: 'America/New_York' }, MEASURE_CTX);
    expect(result.observations[0]?.effectiveDateTime).toBe('2023-09-02T06:39:11-04:00');
  });

  test('an implausible value is skipped, the others kept; unmapped types are reported', () => {
    const group = {
      ...BP_GROUP,
      measures: [
        { value: 30, type: 54, unit: 0 },
        { value: 88, type: 11, unit: 0 },
        { value: 1, type: 130, unit: 0 },
      ],
    };
    const result = convertWithingsMeasureGroupToFhir(group, MEASURE_CTX);
    expect(result.observations.map(codeOf)).toEqual(['8867-4']);
    expect(result.skipped).toEqual([
      { key: 'record', reason: 'measure group 4716596696: measure type 130 is not mapped' },
      { key: 'spo2', reason: 'spo2 value 30 % is outside the plausible range 50–100 %' },
    ]);
  });
});

describe('localMidnight', () => {
  test('the offset at local midnight, across a DST change', () => {
    expect(localMidnight('2023-10-29', 'Europe/Amsterdam')).toEqual({
      epochMs: Date.parse('2023-10-28T22:00:00Z'),
      offset: 120,
    });
    expect(localMidnight('2023-10-30', 'Europe/Amsterdam')).toEqual({
      epochMs: Date.parse('2023-10-29T23:00:00Z'),
      offset: 60,
    });
    expect(localMidnight('2023-10-30', 'Nowhere/Else')).toBeUndefined();
  });
});

describe('activity', () => {
  test('a day: steps and each other value, over the local day', () => {
    const result = convertWithingsActivityToFhir(ACTIVITY, CTX);
    expect(result.skipped).toEqual([]);
    expect(result.observations.map((o) => [o.identifier?.[0]?.value, o.valueQuantity?.value])).toEqual([
      ['p1:363:2023-10-20.model-1055:steps', 1209],
      ['p1:363:2023-10-20.model-1055:distance', 1028.6],
      ['p1:363:2023-10-20.model-1055:active-energy', 85.5],
      ['p1:363:2023-10-20.model-1055:total-energy', 2303.8],
      ['p1:363:2023-10-20.model-1055:active-duration', 4.87],
      ['p1:363:2023-10-20.model-1055:heart-rate-average', 80],
      ['p1:363:2023-10-20.model-1055:heart-rate-max', 80],
    ]);
    expect(result.observations[0]?.effectivePeriod).toEqual({
      start: '2023-10-20T00:00:00+02:00',
      end: '2023-10-21T00:00:00+02:00',
    });
  });

  test('the day DST ends is 25 hours long, each end in its own offset', () => {
    const result = convertWithingsActivityToFhir({ ...ACTIVITY, date: '2023-10-29' }, CTX);
    expect(result.observations[0]?.effectivePeriod).toEqual({
      start: '2023-10-29T00:00:00+02:00',
      end: '2023-10-30T00:00:00+01:00',
    });
  });

  test('heart-rate zeros (no HR device) are not values; a device id names the record', () => {
    const result = convertWithingsActivityToFhir({ ...ACTIVITY, hr_average: 0, hr_max: 0, deviceid: 'abc' }, CTX);
    expect(result.observations.map((o) => o.identifier?.[0]?.value?.split(':')[3])).toEqual([
      'steps',
      'distance',
      'active-energy',
      'total-energy',
      'active-duration',
    ]);
    expect(result.observations[0]?.identifier?.[1]?.value).toBe('activity:p1:363:2023-10-20.abc');
  });

  test('active duration falls back to `active` when moderate/intense are absent', () => {
    const result = convertWithingsActivityToFhir(
      { ...ACTIVITY, moderate: undefined, intense: undefined, active: 600 },
      CTX
    );
    expect(byCode(result.observations)['active-duration']).toBe(10);
  });

  test('no zone → skipped', () => {
    const result = convertWithingsActivityToFhir({ ...ACTIVITY, timezone: null }, CTX);
    expect(result.skipped).toEqual([
      {
        key: 'record',
        reason: 'activity 2023-10-20.model-1055 has no usable timezone (none): its local day is unknown',
      },
    ]);
  });
});

describe('workout', () => {
  test('one session Observation with its measurements as components', () => {
    const result = convertWithingsWorkoutToFhir(WORKOUT, CTX);
    expect(result.skipped).toEqual([]);
    const [session] = result.observations;
    expect(session?.valueCodeableConcept).toEqual({ text: 'Run' });
    expect(session?.effectivePeriod).toEqual({ start: '2023-10-20T10:00:00+02:00', end: '2023-10-20T11:00:00+02:00' });
    expect(session?.identifier?.[1]?.value).toBe('workout:p1:363:3094586');
    expect(components(session)).toEqual({
      '41981-2': 512.4,
      distance: 10050.5,
      '55423-8': 9000,
      'heart-rate-average': 148,
      'heart-rate-max': 176,
    });
  });

  test('an unknown category keeps its number; category 128 and a reversed period are skipped', () => {
    expect(
      convertWithingsWorkoutToFhir({ ...WORKOUT, category: 999 }, CTX).observations[0]?.valueCodeableConcept
    ).toEqual({
      text: 'Withings workout category 999',
    });
    expect(convertWithingsWorkoutToFhir({ ...WORKOUT, category: 128 }, CTX).skipped).toEqual([
      { key: 'workout-activity', reason: 'workout 3094586 is category 128 (no activity)' },
    ]);
    expect(convertWithingsWorkoutToFhir({ ...WORKOUT, enddate: WORKOUT.startdate }, CTX).skipped).toEqual([
      { key: 'workout-activity', reason: 'workout 3094586 ends before it starts' },
    ]);
  });
});

describe('sleep summary', () => {
  test('a night: the sleep panel and the respiratory rate', () => {
    const result = convertWithingsSleepSummaryToFhir(SLEEP_SUMMARY, CTX);
    expect(result.skipped).toEqual([]);
    const [sleep, rr] = result.observations;
    expect(codeOf(sleep as Observation)).toBe('93832-4');
    expect(sleep?.valueQuantity?.value).toBe(311);
    expect(sleep?.effectivePeriod).toEqual({ start: '2021-04-17T22:30:53+02:00', end: '2021-04-18T04:32:53+02:00' });
    expect(components(sleep)).toEqual({
      '93831-6': 97,
      '93830-8': 174,
      '93829-0': 40,
      'sleep-awake': 51,
      '103212-7': 9,
      'time-in-bed': 362,
      'sleep-efficiency': 86,
      'withings-sleep-score': 37,
    });
    expect(codeOf(rr as Observation)).toBe('9279-1');
    expect(rr?.valueQuantity?.value).toBe(14);
  });

  test('an unfinished night is skipped', () => {
    expect(convertWithingsSleepSummaryToFhir({ ...SLEEP_SUMMARY, completed: false }, CTX).skipped).toEqual([
      { key: 'record', reason: 'sleep 2081804182 is not completed yet' },
    ]);
  });

  test('an external source’s asleepduration stands in for the total', () => {
    const data = {
      ...SLEEP_SUMMARY.data,
      total_sleep_time: undefined,
      lightsleepduration: null,
      asleepduration: 24000,
    };
    const [sleep] = convertWithingsSleepSummaryToFhir({ ...SLEEP_SUMMARY, data }, CTX).observations;
    expect(sleep?.valueQuantity?.value).toBe(400);
  });
});

describe('intraday', () => {
  const points = Object.entries(INTRADAY_BODY.series).map(([t, point]) => ({ t: Number(t), point }));

  test('one heart-rate and one steps series per device and UTC day, in one merging group', () => {
    const { records, skipped } = mapWithingsIntraday(points, CTX);
    expect(skipped).toEqual([]);
    expect(records).toHaveLength(1);
    const [group] = records;
    expect(group?.record).toEqual({
      system: `${BASE}/identifier/withings/record`,
      value: 'series:p1:363:intraday.tracker01:2023-10-20T00:00:00Z',
    });
    expect(group?.merge).toBe(mergeSeriesObservation);
    const [hr, steps] = group?.observations ?? [];
    expect(hr?.valueSampledData?.data).toBe('61 63');
    expect(hr?.valueSampledData?.period).toBe(60_000);
    expect(steps?.valueSampledData?.data).toBe('0 12 E 30');
    expect(hr?.effectivePeriod).toEqual({ start: '2023-10-20T00:00:00Z', end: '2023-10-21T00:00:00Z' });
  });

  test('two days and two devices are separate series', () => {
    const more = [
      ...points,
      { t: 1697760000 + 86_400, point: { deviceid: 'tracker01', heart_rate: 70 } },
      { t: 1697760000, point: { deviceid: 'scale:02', heart_rate: 66 } },
    ];
    const { records } = mapWithingsIntraday(more, CTX);
    expect(records.map((r) => r.record.value)).toEqual([
      'series:p1:363:intraday.tracker01:2023-10-20T00:00:00Z',
      'series:p1:363:intraday.tracker01:2023-10-21T00:00:00Z',
      'series:p1:363:intraday.scale_02:2023-10-20T00:00:00Z',
    ]);
  });

  test('implausible samples are reported, not stored', () => {
    const { skipped } = mapWithingsIntraday([{ t: 1697760000, point: { deviceid: 'x', heart_rate: 400 } }], CTX);
    expect(skipped).toEqual([
      {
        key: 'heart-rate',
        reason:
          '1 intraday heart-rate sample(s) of intraday.x not stored (first: heart-rate value 400 /min is outside the plausible range 20–250 /min)',
      },
    ]);
  });

  test('series names are identifier-safe', () => {
    expect(intradaySeriesName(null)).toBe('intraday.account');
    expect(intradaySeriesName('a:b/c')).toBe('intraday.a_b_c');
  });
});
