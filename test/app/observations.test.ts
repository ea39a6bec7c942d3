import type { Bundle, Device, Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { getMetric, METRICS, metricQuantity } from '../../bots/shared/catalogue.ts';
import type { Metric } from '../../bots/shared/catalogue.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import {
  buildLatestBatch,
  buildSeriesQuery,
  excludedParents,
  groupLatest,
  observationTime,
  observationValue,
  readLatestBatch,
  toSeriesPoints,
} from '../../app/src/pages/data/observations.ts';

const RHR = getMetric('resting-heart-rate');
const SLEEP = getMetric('sleep-duration');
const RECOVERY = getMetric('whoop-recovery');
const BP = getMetric('blood-pressure');

const DEVICE: Device = {
  resourceType: 'Device',
  id: 'dev-1',
  manufacturer: 'WHOOP',
  deviceName: [{ name: 'WHOOP', type: 'manufacturer-name' }],
};

function obs(metric: Metric, value: number, when: string, extra: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    id: `${metric.key}-${when}`,
    meta: { profile: [WEARABLE_PROFILE] },
    status: 'final',
    code: { coding: [metric.code] },
    subject: { reference: 'Patient/p1' },
    device: { reference: 'Device/dev-1' },
    effectiveDateTime: when,
    valueQuantity: metricQuantity(metric, value),
    ...extra,
  };
}

function searchset(...resources: (Observation | Device)[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: resources.map((resource) => ({
      resource,
      search: { mode: resource.resourceType === 'Device' ? 'include' : 'match' },
    })),
  };
}

function batchResponse(...entries: (Bundle | { status: string; text: string })[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'batch-response',
    entry: entries.map((e) =>
      'resourceType' in e
        ? { resource: e, response: { status: '200 OK' } }
        : {
            response: {
              status: e.status,
              outcome: {
                resourceType: 'OperationOutcome',
                issue: [{ severity: 'error', code: 'invalid', details: { text: e.text } }],
              },
            },
          }
    ),
  };
}

describe('buildLatestBatch', () => {
  test('one newest-first, one-row search per catalogue metric, excluding retracted and non-wearable data', () => {
    const batch = buildLatestBatch('p1');
    expect(batch.type).toBe('batch');
    expect(batch.entry).toHaveLength(METRICS.length);
    const spo2Index = METRICS.findIndex((m) => m.key === 'spo2');
    const url = batch.entry?.[spo2Index]?.request?.url ?? '';
    const [path, query] = url.split('?');
    expect(path).toBe('Observation');
    const params = Object.fromEntries(new URLSearchParams(query));
    expect(params).toEqual({
      subject: 'Patient/p1',
      // SpO2 carries two LOINC codings; either finds it. combo-code also matches a component (members).
      'combo-code': 'http://loinc.org|2708-6,http://loinc.org|59408-5',
      status: 'final,amended,corrected,preliminary',
      _profile: WEARABLE_PROFILE,
      // Medplum puts undated resources first on -date: only dated ones may be "latest".
      date: 'ge1970-01-01T00:00:00Z',
      _sort: '-date',
      _count: '1',
      _include: 'Observation:device',
      // Only what the page reads: the Observation's value, time and device, the Device's name.
      _elements: 'status,code,effective,value,component,device,deviceName,manufacturer',
    });
  });
});

test('buildSeriesQuery bounds the window and pages oldest first', () => {
  const params = buildSeriesQuery('p1', RHR, 30, new Date('2026-03-31T00:00:00Z'));
  expect(params.get('date')).toBe('ge2026-03-01T00:00:00.000Z');
  expect(params.get('_sort')).toBe('date');
  expect(params.get('_count')).toBe('1000');
  expect(params.get('status')).toBe('final,amended,corrected,preliminary');
  expect(params.get('_elements')).toBe('status,code,effective,value,component,device');
});

describe('observationValue and observationTime', () => {
  test('a Quantity in another unit is not shown as if it were the catalogue unit', () => {
    const wrong = obs(RHR, 1, '2026-03-01T00:00:00Z', {
      valueQuantity: { value: 1, unit: 'Hz', system: 'http://unitsofmeasure.org', code: 'Hz' },
    });
    expect(observationValue(wrong, RHR)).toBeUndefined();
  });

  test('a panel needs every member', () => {
    const partial: Observation = {
      ...obs(BP, 0, '2026-03-01T00:00:00Z'),
      valueQuantity: undefined,
      component: [
        { code: { coding: [BP.components?.[0]?.code ?? RHR.code] }, valueQuantity: { value: 120, code: 'mm[Hg]' } },
      ],
    };
    expect(observationValue(partial, BP)).toBeUndefined();
    const whole: Observation = {
      ...partial,
      component: (BP.components ?? []).map((c, i) => ({
        code: { coding: [c.code] },
        valueQuantity: { value: [120, 80][i], code: 'mm[Hg]' },
      })),
    };
    expect(observationValue(whole, BP)).toEqual({ kind: 'panel', values: [120, 80] });
  });

  test('SampledData gives the mean of its valid samples', () => {
    const sampled: Observation = {
      ...obs(RHR, 0, '2026-03-01T00:00:00Z'),
      valueQuantity: undefined,
      valueSampledData: {
        origin: { value: 50, code: '/min' },
        period: 60_000,
        dimensions: 1,
        factor: 2,
        data: '1 E 3 5',
      },
    };
    expect(observationValue(sampled, RHR)).toEqual({ kind: 'series', mean: 56, count: 3 });
  });

  test('a period is dated by its end (the night of sleep belongs to the morning)', () => {
    const night = obs(SLEEP, 420, '', {
      effectiveDateTime: undefined,
      effectivePeriod: { start: '2026-03-01T23:00:00Z', end: '2026-03-02T06:00:00Z' },
    });
    expect(observationTime(night)?.toISOString()).toBe('2026-03-02T06:00:00.000Z');
    expect(observationTime(obs(SLEEP, 1, 'not a date'))).toBeUndefined();
  });
});

describe('readLatestBatch', () => {
  const metrics = [RHR, SLEEP, RECOVERY];

  test('reports a failed search by the server reason and still reads the others', () => {
    const result = readLatestBatch(
      batchResponse(
        searchset(obs(RHR, 52, '2026-03-09T07:00:00Z'), DEVICE),
        { status: '400', text: 'Unknown search parameter: _profile' },
        searchset()
      ),
      metrics
    );
    expect(result.failures).toEqual([{ metric: SLEEP, reason: 'Unknown search parameter: _profile' }]);
    expect(result.latest.map((l) => l.metric.key)).toEqual(['resting-heart-rate']);
  });

  test('never shows a retracted value, even if the server returned one', () => {
    const retracted = obs(RECOVERY, 10, '2026-03-09T07:00:00Z', { status: 'entered-in-error' });
    const result = readLatestBatch(batchResponse(searchset(), searchset(), searchset(retracted)), metrics);
    expect(result.latest).toEqual([]);
  });

  test('latest value per metric with time and the included Device name', () => {
    const result = readLatestBatch(
      batchResponse(
        searchset(obs(RHR, 52, '2026-03-09T07:00:00Z'), DEVICE),
        searchset(
          obs(SLEEP, 432, '2026-03-09T06:30:00Z', { device: { reference: 'Device/gone', display: 'Old band' } })
        ),
        searchset(obs(RECOVERY, 67, '2026-03-09T06:31:00Z', { device: undefined }))
      ),
      metrics
    );
    expect(result.failures).toEqual([]);
    expect(result.latest.map((l) => [l.metric.key, l.value, l.time?.toISOString(), l.device])).toEqual([
      ['resting-heart-rate', { kind: 'quantity', value: 52 }, '2026-03-09T07:00:00.000Z', 'WHOOP'],
      ['sleep-duration', { kind: 'quantity', value: 432 }, '2026-03-09T06:30:00.000Z', 'Old band'],
      ['whoop-recovery', { kind: 'quantity', value: 67 }, '2026-03-09T06:31:00.000Z', undefined],
    ]);
  });
});

test('groupLatest orders groups for the page and metrics as the catalogue does, dropping empty groups', () => {
  const latest = [RECOVERY, SLEEP, getMetric('hrv-rmssd'), RHR].map((metric) => ({
    metric,
    observationId: undefined,
    value: { kind: 'quantity' as const, value: 1 },
    time: undefined,
    device: undefined,
  }));
  expect(groupLatest(latest).map((g) => [g.label, g.items.map((i) => i.metric.key)])).toEqual([
    ['Scores', ['whoop-recovery']],
    ['Heart', ['resting-heart-rate', 'hrv-rmssd']],
    ['Sleep', ['sleep-duration']],
  ]);
});

test('toSeriesPoints sorts by time and skips retracted, undated and other-metric records', () => {
  const points = toSeriesPoints(
    [
      obs(RHR, 55, '2026-03-03T07:00:00Z'),
      obs(RHR, 50, '2026-03-01T07:00:00Z'),
      obs(RHR, 99, '2026-03-02T07:00:00Z', { status: 'entered-in-error' }),
      obs(RHR, 60, '', { effectiveDateTime: undefined }),
      obs(SLEEP, 420, '2026-03-02T07:00:00Z'),
    ],
    RHR
  );
  expect(points).toEqual([
    { time: Date.parse('2026-03-01T07:00:00Z'), values: { value: 50 } },
    { time: Date.parse('2026-03-03T07:00:00Z'), values: { value: 55 } },
  ]);
});

describe('coded sessions and long panels', () => {
  const WORKOUT = getMetric('workout-activity');
  const ZONES = getMetric('hr-zone-durations');

  test('a workout reads as what it was and how long it lasted', () => {
    const run = obs(WORKOUT, 0, '', {
      effectiveDateTime: undefined,
      valueQuantity: undefined,
      valueCodeableConcept: { text: 'running' },
      effectivePeriod: { start: '2026-03-01T07:00:00Z', end: '2026-03-01T07:45:00Z' },
    });
    expect(observationValue(run, WORKOUT)).toEqual({ kind: 'session', text: 'running', length: 45 });
    expect(toSeriesPoints([run], WORKOUT)).toEqual([
      { time: Date.parse('2026-03-01T07:45:00Z'), values: { value: 45 } },
    ]);
  });

  test('a workout without a period has no length to show', () => {
    const run = obs(WORKOUT, 0, '2026-03-01T07:00:00Z', {
      valueQuantity: undefined,
      valueCodeableConcept: { text: 'running' },
    });
    expect(observationValue(run, WORKOUT)).toBeUndefined();
  });

  test('heart rate zones read as one value per zone', () => {
    const zones: Observation = {
      ...obs(ZONES, 0, '2026-03-01T07:00:00Z'),
      valueQuantity: undefined,
      component: (ZONES.components ?? []).map((c, i) => ({
        code: { coding: [c.code] },
        valueQuantity: { value: i * 10, code: 'min' },
      })),
    };
    expect(observationValue(zones, ZONES)).toEqual({ kind: 'panel', values: [0, 10, 20, 30, 40, 50] });
  });
});

describe('members stored inside their record Observation (catalogue members)', () => {
  const DEEP = getMetric('sleep-deep');
  const ENERGY = getMetric('total-energy');
  const DISTANCE = getMetric('distance');
  const WORKOUT = getMetric('workout-activity');
  const ZONES = getMetric('hr-zone-durations');
  const RRATE = getMetric('respiratory-rate');

  function component(metric: Metric, value: number): NonNullable<Observation['component']>[number] {
    return { code: { coding: [metric.code] }, valueQuantity: metricQuantity(metric, value) };
  }

  const night = obs(SLEEP, 431, '2026-03-09T06:30:00Z', {
    component: [component(DEEP, 96.5), component(getMetric('time-in-bed'), 470)],
  });
  const run: Observation = obs(WORKOUT, 0, '', {
    id: 'run',
    effectiveDateTime: undefined,
    effectivePeriod: { start: '2026-03-09T17:00:00Z', end: '2026-03-09T17:45:00Z' },
    valueQuantity: undefined,
    valueCodeableConcept: { text: 'running' },
    component: [
      component(ENERGY, 512.3),
      component(DISTANCE, 7420.5),
      ...(ZONES.components ?? []).map((c, i) => ({
        code: { coding: [c.code] },
        valueQuantity: { value: i + 1, code: 'min' },
      })),
    ],
  });

  test('a member search matches the code or a component code, and a panel searches by its member codes too', () => {
    const batch = buildLatestBatch('p1', [DEEP, ZONES]);
    const param = (i: number): string | null =>
      new URLSearchParams(batch.entry?.[i]?.request?.url?.split('?')[1]).get('combo-code');
    expect(param(0)).toBe('http://loinc.org|93831-6');
    expect(param(1)?.split(',')).toEqual([
      'https://baseline.health/fhir/CodeSystem/baseline-metrics|hr-zone-durations',
      ...[0, 1, 2, 3, 4, 5].map((n) => `https://baseline.health/fhir/CodeSystem/baseline-metrics|hr-zone-${n}`),
    ]);
    expect(buildSeriesQuery('p1', DEEP, 30, new Date('2026-03-31T00:00:00Z')).get('combo-code')).toBe(
      'http://loinc.org|93831-6'
    );
  });

  test('the latest value of a member is read from the component; the record keeps its own value', () => {
    const result = readLatestBatch(
      batchResponse(searchset(night, DEVICE), searchset(night, DEVICE), searchset(run), searchset(run)),
      [SLEEP, DEEP, DISTANCE, ZONES]
    );
    expect(result.latest.map((l) => [l.metric.key, l.value, l.time?.toISOString(), l.device])).toEqual([
      ['sleep-duration', { kind: 'quantity', value: 431 }, '2026-03-09T06:30:00.000Z', 'WHOOP'],
      ['sleep-deep', { kind: 'quantity', value: 96.5 }, '2026-03-09T06:30:00.000Z', 'WHOOP'],
      ['distance', { kind: 'quantity', value: 7420.5 }, '2026-03-09T17:45:00.000Z', undefined],
      ['hr-zone-durations', { kind: 'panel', values: [1, 2, 3, 4, 5, 6] }, '2026-03-09T17:45:00.000Z', undefined],
    ]);
  });

  test('a record without that member (a night without a respiratory component) shows nothing for it', () => {
    expect(observationValue(night, RRATE)).toBeUndefined();
    expect(readLatestBatch(batchResponse(searchset(night)), [getMetric('sleep-efficiency')]).latest).toEqual([]);
  });

  test('a member in another unit is not shown as if it were the catalogue unit', () => {
    const kj = obs(SLEEP, 431, '2026-03-09T06:30:00Z', {
      component: [{ code: { coding: [DEEP.code] }, valueQuantity: { value: 5790, code: 's' } }],
    });
    expect(observationValue(kj, DEEP)).toBeUndefined();
  });

  test('a workout is not a day: energy and heart rates are read from cycles, not workouts; workout-only values from workouts', () => {
    const DAY = getMetric('whoop-day-strain');
    expect(excludedParents(ENERGY).map((m) => m.key)).toEqual(['workout-activity']);
    expect(excludedParents(getMetric('heart-rate-max')).map((m) => m.key)).toEqual(['workout-activity']);
    expect(excludedParents(getMetric('distance'))).toEqual([]);
    expect(excludedParents(ZONES)).toEqual([]);
    const params = new URLSearchParams(buildLatestBatch('p1', [ENERGY]).entry?.[0]?.request?.url?.split('?')[1]);
    expect(params.get('code:not')).toBe('https://baseline.health/fhir/CodeSystem/baseline-metrics|workout-activity');
    expect(buildSeriesQuery('p1', getMetric('distance'), 30, new Date()).has('code:not')).toBe(false);
    const day = obs(DAY, 12.1, '2026-03-09T04:00:00Z', { component: [component(ENERGY, 2604.7)] });
    // Even if a server returned the workout, the page would not read its energy as the day's.
    expect(readLatestBatch(batchResponse(searchset(run, day)), [ENERGY]).latest.map((l) => l.value)).toEqual([
      { kind: 'quantity', value: 2604.7 },
    ]);
    expect(toSeriesPoints([run, day], ENERGY)).toEqual([
      { time: Date.parse('2026-03-09T04:00:00Z'), values: { value: 2604.7 } },
    ]);
  });

  test('a member chart takes its points from the records, skipping records without it and retracted ones', () => {
    const earlier = obs(SLEEP, 400, '2026-03-08T06:30:00Z', { component: [component(DEEP, 80)] });
    const retracted = obs(SLEEP, 300, '2026-03-07T06:30:00Z', {
      status: 'entered-in-error',
      component: [component(DEEP, 10)],
    });
    const without = obs(SLEEP, 410, '2026-03-06T06:30:00Z');
    expect(toSeriesPoints([night, retracted, without, earlier], DEEP)).toEqual([
      { time: Date.parse('2026-03-08T06:30:00Z'), values: { value: 80 } },
      { time: Date.parse('2026-03-09T06:30:00Z'), values: { value: 96.5 } },
    ]);
    expect(toSeriesPoints([run], ZONES)).toEqual([
      {
        time: Date.parse('2026-03-09T17:45:00Z'),
        values: Object.fromEntries([0, 1, 2, 3, 4, 5].map((n) => [`hr-zone-${n}`, n + 1])),
      },
    ]);
  });
});
