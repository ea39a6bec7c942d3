import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { getMetric, metricCodings, metricQuantity } from '../shared/catalogue.ts';
import { IDENTIFIER_BASE } from '../shared/systems.ts';
import {
  convertWhoopCycleToFhir,
  convertWhoopRecoveryToFhir,
  convertWhoopSleepToFhir,
  convertWhoopWorkoutToFhir,
} from '../whoop/mappers.ts';
import type { MapResult } from '../whoop/mappers.ts';
import { CycleSchema, RecoverySchema, SleepSchema, WorkoutSchema } from '../whoop/schemas.ts';
import { CYCLE, RECOVERY, SLEEP, WORKOUT } from '../whoop/test-fixtures.ts';
import { dailySeries, localDay, sourceOf } from './daily.ts';
import type { DailySeries } from './daily.ts';

const ctx = {
  patient: { reference: 'Patient/p1' as const },
  device: { reference: 'Device/whoop-1' as const },
  whoopUserId: '10129',
};

let nextId = 0;

/** The mapped Observations as the server would hold them: with an id and a lastUpdated. */
function stored(result: MapResult, lastUpdated = '2026-12-01T00:00:00Z'): Observation[] {
  expect(result.skipped).toEqual([]);
  return result.observations.map((o) => ({ ...o, id: `obs-${++nextId}`, meta: { ...o.meta, lastUpdated } }));
}

function sleepOf(id: string, start: string, end: string, offset: string, deepMilli = 6_000_000): Observation[] {
  const base = SleepSchema.parse(SLEEP);
  const score = base.score ?? SLEEP.score;
  return stored(
    convertWhoopSleepToFhir(
      {
        ...base,
        id,
        start,
        end,
        timezone_offset: offset,
        score: { ...score, stage_summary: { ...score.stage_summary, total_slow_wave_sleep_time_milli: deepMilli } },
      },
      ctx
    )
  );
}

function recoveryOf(sleepId: string, start: string, end: string, offset: string, rmssd: number): Observation[] {
  const base = RecoverySchema.parse(RECOVERY);
  const score = base.score ?? RECOVERY.score;
  return stored(
    convertWhoopRecoveryToFhir(
      { ...base, sleep_id: sleepId, score: { ...score, hrv_rmssd_milli: rmssd } },
      { ...ctx, sleep: { id: sleepId, start, end, timezone_offset: offset } }
    )
  );
}

function cycleOf(id: number, start: string, end: string, offset: string, kilojoule = 8288.297): Observation[] {
  const base = CycleSchema.parse(CYCLE);
  const score = base.score ?? CYCLE.score;
  return stored(
    convertWhoopCycleToFhir({ ...base, id, start, end, timezone_offset: offset, score: { ...score, kilojoule } }, ctx)
  );
}

function workoutOf(id: string, start: string, end: string, offset: string, strain: number, meters: number) {
  const base = WorkoutSchema.parse(WORKOUT);
  const score = base.score ?? WORKOUT.score;
  return stored(
    convertWhoopWorkoutToFhir(
      { ...base, id, start, end, timezone_offset: offset, score: { ...score, strain, distance_meter: meters } },
      ctx
    )
  );
}

/** A single-value Observation from another provider (Oura has no mapper yet; its identifiers follow WHOOP's). */
function single(
  provider: string,
  key: string,
  value: number,
  effective: Pick<Observation, 'effectiveDateTime' | 'effectivePeriod'>,
  extra: Partial<Observation> = {}
): Observation {
  const metric = getMetric(key);
  const id = `obs-${++nextId}`;
  return {
    resourceType: 'Observation',
    id,
    meta: { lastUpdated: '2026-12-01T00:00:00Z' },
    status: 'final',
    identifier: [{ system: `${IDENTIFIER_BASE}/${provider}/daily`, value: `p1:${id}:${key}` }],
    code: { coding: metricCodings(metric) },
    subject: ctx.patient,
    device: { reference: `Device/${provider}-1` },
    valueQuantity: metricQuantity(metric, value),
    ...effective,
    ...extra,
  };
}

/** day → value (and source) of one series: the compact view the assertions read. */
function days(series: DailySeries, key: string): Record<string, number> {
  return Object.fromEntries((series[key] ?? []).map((v) => [v.day, v.value]));
}

function sources(series: DailySeries, key: string): Record<string, string> {
  return Object.fromEntries((series[key] ?? []).map((v) => [v.day, v.source]));
}

describe('owner-local days', () => {
  test('a value at 23:30 at -05:00 belongs to that local day, not to the UTC day after', () => {
    const workout = workoutOf('w1', '2026-11-06T04:00:00Z', '2026-11-06T04:45:00Z', '-05:00', 9, 5000);
    expect(workout[0]?.effectivePeriod?.start).toBe('2026-11-05T23:00:00-05:00');
    const spot = single('withings', 'heart-rate', 61, { effectiveDateTime: '2026-11-05T23:30:00-05:00' });
    const series = dailySeries([...workout, spot]);
    expect(days(series, 'workout-activity')).toEqual({ '2026-11-05': 45 });
    expect(days(series, 'whoop-workout-strain')).toEqual({ '2026-11-05': 9 });
    expect(days(series, 'heart-rate')).toEqual({ '2026-11-05': 61 });
  });

  test('DST change: the offset moves from -04:00 to -05:00 and each evening keeps its own day', () => {
    // US DST ended on 2026-11-01. Both workouts are at 20:30 local, which is past midnight UTC either way.
    const before = workoutOf('w1', '2026-11-01T00:30:00Z', '2026-11-01T01:00:00Z', '-04:00', 8, 1000);
    const after = workoutOf('w2', '2026-11-02T01:30:00Z', '2026-11-02T02:00:00Z', '-05:00', 10, 2000);
    expect(after[0]?.effectivePeriod?.start).toBe('2026-11-01T20:30:00-05:00');
    const series = dailySeries([...before, ...after]);
    expect(days(series, 'distance')).toEqual({ '2026-10-31': 1000, '2026-11-01': 2000 });
    // A night spanning the change ends on the 1st in the offset WHOOP recorded for it.
    const night = sleepOf('s1', '2026-11-01T03:30:00Z', '2026-11-01T12:00:00Z', '-05:00');
    expect(days(dailySeries(night), 'sleep-duration')).toHaveProperty(['2026-11-01']);
  });

  test('a sleep ending after midnight belongs to the day it ends, with its recovery; the cycle to its waking day', () => {
    // Asleep 23:10 on the 4th (local, -05:00), awake 06:40 on the 5th; the cycle runs from sleep onset to the next.
    const start = '2026-11-05T04:10:00Z';
    const end = '2026-11-05T11:40:00Z';
    const series = dailySeries([
      ...sleepOf('s1', start, end, '-05:00'),
      ...recoveryOf('s1', start, end, '-05:00', 48),
      ...cycleOf(1, start, '2026-11-06T03:45:00Z', '-05:00'),
    ]);
    for (const key of ['sleep-duration', 'sleep-deep', 'respiratory-rate', 'hrv-rmssd', 'resting-heart-rate']) {
      expect(Object.keys(days(series, key)), key).toEqual(['2026-11-05']);
    }
    // The cycle starts on the 4th (local) but is the 5th's strain: dated by its midpoint, not its start.
    expect(Object.keys(days(series, 'whoop-day-strain'))).toEqual(['2026-11-05']);
    // An early night, 19:00 to 01:30, is mostly on the 7th but ends on the 8th: its end decides.
    const early = dailySeries(sleepOf('s2', '2026-11-08T00:00:00Z', '2026-11-08T06:30:00Z', '-05:00'));
    expect(Object.keys(days(early, 'sleep-duration'))).toEqual(['2026-11-08']);
    expect(Object.keys(days(early, 'sleep-deep'))).toEqual(['2026-11-08']);
  });

  test('localDay reads the time as written and places nothing it cannot', () => {
    expect(localDay({ effectiveDateTime: '2026-11-05' }, 'middle')).toBe('2026-11-05');
    expect(localDay({ effectiveDateTime: '2026-11' }, 'middle')).toBeUndefined();
    expect(localDay({ effectiveDateTime: '2026-11-06T00:30:00+09:00' }, 'end')).toBe('2026-11-06');
    expect(localDay({ effectivePeriod: { start: '2026-11-05T22:00:00-05:00' } }, 'middle')).toBeUndefined();
    expect(localDay({ effectivePeriod: { start: '2026-11-05T22:00:00-05:00' } }, 'end')).toBeUndefined();
    expect(
      localDay({ effectivePeriod: { start: '2026-11-05T22:00:00-05:00', end: '2026-11-06T02:00:00-05:00' } }, 'middle')
    ).toBe('2026-11-06');
    expect(
      localDay({ effectivePeriod: { start: '2026-11-05T20:00:00-05:00', end: '2026-11-06T01:00:00-05:00' } }, 'middle')
    ).toBe('2026-11-05');
    expect(localDay({ effectivePeriod: { start: '2026-11-05', end: '2026-11-05' } }, 'middle')).toBe('2026-11-05');
    expect(localDay({}, 'middle')).toBeUndefined();
  });
});

describe('sources', () => {
  test('a source switching mid-window: WHOOP, then both, then Oura; the ladder picks one per day', () => {
    const whoop = [1, 2, 3].flatMap((d) =>
      recoveryOf(
        `s${d}`,
        `2026-11-0${d}T04:00:00Z`,
        `2026-11-0${d}T11:00:00Z`,
        '-05:00',
        40 + d // 41, 42, 43
      )
    );
    const oura = [3, 4, 5].map((d) =>
      single('oura', 'hrv-rmssd', 60 + d, {
        effectivePeriod: { start: `2026-11-0${d - 1}T23:30:00-05:00`, end: `2026-11-0${d}T07:00:00-05:00` },
      })
    );
    const series = dailySeries([...whoop, ...oura]);
    expect(days(series, 'hrv-rmssd')).toEqual({
      '2026-11-01': 41,
      '2026-11-02': 42,
      '2026-11-03': 63,
      '2026-11-04': 64,
      '2026-11-05': 65,
    });
    expect(sources(series, 'hrv-rmssd')).toEqual({
      '2026-11-01': 'whoop',
      '2026-11-02': 'whoop',
      '2026-11-03': 'oura',
      '2026-11-04': 'oura',
      '2026-11-05': 'oura',
    });
    const day3 = series['hrv-rmssd']?.find((v) => v.day === '2026-11-03');
    expect(day3?.device).toBe('Device/oura-1');
    expect(day3?.observationIds).toEqual([oura[0]?.id]);

    // The owner's override puts WHOOP first: the overlap day changes source, the others keep the only one they have.
    const mine = dailySeries([...whoop, ...oura], { sourcePriority: { 'hrv-rmssd': ['whoop', 'oura'] } });
    expect(sources(mine, 'hrv-rmssd')['2026-11-03']).toBe('whoop');
    expect(days(mine, 'hrv-rmssd')['2026-11-03']).toBe(43);
    expect(days(mine, 'hrv-rmssd')['2026-11-05']).toBe(65);
  });

  test('a source missing from the ladder ranks below every listed one', () => {
    const period = { effectivePeriod: { start: '2026-11-01T23:00:00-05:00', end: '2026-11-02T07:00:00-05:00' } };
    const series = dailySeries([single('acme', 'hrv-rmssd', 70, period), single('whoop', 'hrv-rmssd', 50, period)]);
    expect(sources(series, 'hrv-rmssd')).toEqual({ '2026-11-02': 'whoop' });
  });

  test('sourceOf reads the provider from the identifier system', () => {
    const [hrv] = recoveryOf('s1', '2026-11-01T04:00:00Z', '2026-11-01T11:00:00Z', '-05:00', 40);
    expect(hrv && sourceOf(hrv)).toBe('whoop');
    expect(sourceOf({ resourceType: 'Observation', status: 'final', code: {}, device: { display: 'Scale' } })).toBe(
      'Scale'
    );
  });
});

describe('what stands', () => {
  test('entered-in-error is excluded, also when it is the newest version of a value', () => {
    const night = sleepOf('s1', '2026-11-01T04:00:00Z', '2026-11-01T11:00:00Z', '-05:00');
    const retracted = night.map((o) => ({
      ...o,
      status: 'entered-in-error' as const,
      meta: { ...o.meta, lastUpdated: '2026-12-02T00:00:00Z' },
    }));
    expect(days(dailySeries(night), 'sleep-duration')).toHaveProperty(['2026-11-01']);
    expect(dailySeries(retracted)).toEqual({});
    expect(dailySeries([...retracted, ...night])).toEqual({});
    const preliminary = single('oura', 'spo2', 97, { effectiveDateTime: '2026-11-01T07:00:00-05:00' });
    expect(dailySeries([{ ...preliminary, status: 'preliminary' }])).toEqual({});
    expect(dailySeries([{ ...preliminary, status: 'amended' }])).toEqual({
      spo2: [
        { day: '2026-11-01', value: 97, source: 'oura', device: 'Device/oura-1', observationIds: [preliminary.id] },
      ],
    });
  });

  test('excluded days are left out, for every metric or for one', () => {
    const nights = [1, 2, 3].flatMap((d) =>
      sleepOf(`s${d}`, `2026-11-0${d}T04:00:00Z`, `2026-11-0${d}T11:00:00Z`, '-05:00')
    );
    const all = dailySeries(nights, { excludedDays: new Set(['2026-11-02']) });
    expect(Object.keys(days(all, 'sleep-duration'))).toEqual(['2026-11-01', '2026-11-03']);
    expect(Object.keys(days(all, 'respiratory-rate'))).toEqual(['2026-11-01', '2026-11-03']);
    const one = dailySeries(nights, { excludedMetricDays: { 'respiratory-rate': new Set(['2026-11-02']) } });
    expect(Object.keys(days(one, 'sleep-duration'))).toEqual(['2026-11-01', '2026-11-02', '2026-11-03']);
    expect(Object.keys(days(one, 'respiratory-rate'))).toEqual(['2026-11-01', '2026-11-03']);
  });

  test('a re-scored input (same identifier, new value) changes the day, whichever version arrives first', () => {
    const first = sleepOf('s1', '2026-11-01T04:00:00Z', '2026-11-01T11:00:00Z', '-05:00', 6_000_000);
    const rescored = sleepOf('s1', '2026-11-01T04:00:00Z', '2026-11-01T11:00:00Z', '-05:00', 7_200_000).map((o, i) => ({
      ...o,
      id: first[i]?.id,
      meta: { ...o.meta, lastUpdated: '2026-12-03T00:00:00Z', versionId: '2' },
    }));
    expect(days(dailySeries(first), 'sleep-deep')).toEqual({ '2026-11-01': 100 });
    expect(days(dailySeries(rescored), 'sleep-deep')).toEqual({ '2026-11-01': 120 });
    expect(days(dailySeries([...rescored, ...first]), 'sleep-deep')).toEqual({ '2026-11-01': 120 });
    expect(days(dailySeries([...first, ...rescored]), 'sleep-deep')).toEqual({ '2026-11-01': 120 });
  });

  test('intraday series are not daily values; derived Observations are not inputs', () => {
    const series = single('withings', 'heart-rate', 60, {
      effectivePeriod: { start: '2026-11-01T08:00:00-05:00', end: '2026-11-01T09:00:00-05:00' },
    });
    delete series.valueQuantity;
    series.valueSampledData = { origin: { value: 0, unit: '/min' }, period: 60_000, dimensions: 1, data: '60 61' };
    const derived: Observation = {
      ...single('whoop', 'hrv-rmssd', 50, { effectiveDateTime: '2026-11-01T07:00:00-05:00' }),
      code: { coding: [{ system: 'https://baseline.health/fhir/CodeSystem/baseline-metrics', code: 'trend' }] },
    };
    expect(dailySeries([series, derived])).toEqual({});
  });

  test('one owner only: another subject is refused, never mixed in', () => {
    const mine = single('oura', 'spo2', 97, { effectiveDateTime: '2026-11-01T07:00:00-05:00' });
    const theirs = { ...mine, id: 'other', subject: { reference: 'Patient/p2' } };
    expect(() => dailySeries([mine, theirs])).toThrow(/one owner's Observations/);
  });
});

describe('panels and several values a day', () => {
  test('panel components are extracted under their catalogue keys', () => {
    const night = sleepOf('s1', '2026-11-01T04:00:00Z', '2026-11-01T11:00:00Z', '-05:00');
    const cycle = cycleOf(1, '2026-11-01T04:00:00Z', '2026-11-02T04:30:00Z', '-05:00');
    const bp = single('withings', 'blood-pressure', 0, { effectiveDateTime: '2026-11-01T07:15:00-05:00' });
    delete bp.valueQuantity;
    const bpMetric = getMetric('blood-pressure');
    bp.component = (bpMetric.components ?? []).map((c, i) => ({
      code: { coding: [c.code] },
      valueQuantity: metricQuantity({ unit: c.unit, unitLabel: bpMetric.unitLabel }, i === 0 ? 121 : 79),
    }));
    const series = dailySeries([...night, ...cycle, bp]);
    expect(days(series, 'sleep-deep')).toEqual({ '2026-11-01': 100 });
    expect(days(series, 'whoop-sleep-performance')).toEqual({ '2026-11-01': 98 });
    expect(days(series, 'total-energy')).toEqual({ '2026-11-01': 1981 });
    expect(days(series, 'heart-rate-average')).toEqual({ '2026-11-01': 68 });
    expect(days(series, 'blood-pressure.8480-6')).toEqual({ '2026-11-01': 121 });
    expect(days(series, 'blood-pressure.8462-4')).toEqual({ '2026-11-01': 79 });
    expect(series['blood-pressure']).toBeUndefined();
  });

  test("two workouts in a day: distance and minutes add up, strain is the hardest, energy stays the cycle's", () => {
    const morning = workoutOf('w1', '2026-11-01T12:00:00Z', '2026-11-01T12:30:00Z', '-05:00', 8, 4000.5);
    const evening = workoutOf('w2', '2026-11-01T22:00:00Z', '2026-11-01T23:15:00Z', '-05:00', 12, 6000.25);
    const cycle = cycleOf(1, '2026-11-01T04:00:00Z', '2026-11-02T04:30:00Z', '-05:00', 10_000);
    const series = dailySeries([...morning, ...evening, ...cycle]);
    expect(days(series, 'distance')).toEqual({ '2026-11-01': 10000.8 });
    expect(days(series, 'workout-activity')).toEqual({ '2026-11-01': 105 });
    expect(days(series, 'whoop-workout-strain')).toEqual({ '2026-11-01': 12 });
    expect(days(series, 'hr-zone-durations.hr-zone-2')).toEqual({ '2026-11-01': 30 });
    // The workouts' energy and heart rate are already inside the day's cycle: counted once, from the cycle.
    expect(days(series, 'total-energy')).toEqual({ '2026-11-01': 2390.1 });
    expect(series['total-energy']?.[0]?.observationIds).toEqual([cycle[0]?.id]);
    expect(days(series, 'heart-rate-max')).toEqual({ '2026-11-01': 141 });
    expect(series['distance']?.[0]?.observationIds).toEqual([morning[0]?.id, evening[0]?.id].sort());
  });

  test('repeated spot readings of one source are averaged; a later night reading supersedes an earlier one', () => {
    const series = dailySeries([
      single('withings', 'heart-rate', 60, { effectiveDateTime: '2026-11-01T08:00:00-05:00' }),
      single('withings', 'heart-rate', 70, { effectiveDateTime: '2026-11-01T20:00:00-05:00' }),
      single('oura', 'spo2', 95, { effectiveDateTime: '2026-11-01T03:00:00-05:00' }),
      single('oura', 'spo2', 97, { effectiveDateTime: '2026-11-01T06:00:00-05:00' }),
    ]);
    expect(days(series, 'heart-rate')).toEqual({ '2026-11-01': 65 });
    expect(days(series, 'spo2')).toEqual({ '2026-11-01': 97 });
  });
});

describe('property', () => {
  test('input order does not matter', () => {
    const input: Observation[] = [
      ...[1, 2, 3, 4].flatMap((d) =>
        sleepOf(`s${d}`, `2026-11-0${d}T04:00:00Z`, `2026-11-0${d}T11:00:00Z`, d < 2 ? '-04:00' : '-05:00')
      ),
      ...[1, 2, 3].flatMap((d) =>
        recoveryOf(`s${d}`, `2026-11-0${d}T04:00:00Z`, `2026-11-0${d}T11:00:00Z`, '-05:00', 40 + d)
      ),
      ...workoutOf('w1', '2026-11-01T12:00:00Z', '2026-11-01T12:30:00Z', '-05:00', 8, 1000.1),
      ...workoutOf('w2', '2026-11-01T13:00:00Z', '2026-11-01T13:30:00Z', '-05:00', 8, 2000.2),
      ...workoutOf('w3', '2026-11-01T14:00:00Z', '2026-11-01T14:30:00Z', '-05:00', 9, 3000.3),
      ...cycleOf(1, '2026-11-01T04:00:00Z', '2026-11-02T04:30:00Z', '-05:00'),
      single('oura', 'hrv-rmssd', 66, { effectiveDateTime: '2026-11-03T07:00:00-05:00' }),
      single('oura', 'hrv-rmssd', 67, { effectiveDateTime: '2026-11-03T07:00:00-05:00' }),
      single('withings', 'heart-rate', 60.1, { effectiveDateTime: '2026-11-01T08:00:00-05:00' }),
      single('withings', 'heart-rate', 70.2, { effectiveDateTime: '2026-11-01T09:00:00-05:00' }),
      single('withings', 'heart-rate', 80.3, { effectiveDateTime: '2026-11-01T10:00:00-05:00' }),
    ];
    const expected = dailySeries(input);
    expect(Object.keys(expected).length).toBeGreaterThan(20);
    // A seeded shuffle: reproducible, and many orders.
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 50; round++) {
      const shuffled = [...input];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j] as Observation, shuffled[i] as Observation];
      }
      expect(dailySeries(shuffled)).toEqual(expected);
    }
  });
});
