import type { Bundle, Device, Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { getMetric, METRICS, metricQuantity } from '../../bots/shared/catalogue.ts';
import type { Metric } from '../../bots/shared/catalogue.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import {
  buildNewestQuery,
  LATEST_PAGE_SIZE,
  loadLatest,
  readNewest,
  REMAINING_PAGE_SIZE,
} from '../../app/src/pages/data/latest.ts';
import type { LatestFetchers } from '../../app/src/pages/data/latest.ts';
import { readLatestBatch } from '../../app/src/pages/data/observations.ts';

const RHR = getMetric('resting-heart-rate');
const HRV = getMetric('hrv-rmssd');
const WEIGHT = getMetric('body-weight');
const ENERGY = getMetric('total-energy');
const DAY_STRAIN = getMetric('whoop-day-strain');
const WORKOUT = getMetric('workout-activity');
const DISTANCE = getMetric('distance');

const DEVICE: Device = {
  resourceType: 'Device',
  id: 'dev-1',
  deviceName: [{ name: 'WHOOP', type: 'manufacturer-name' }],
};

let serial = 0;
function obs(metric: Metric, value: number, when: string, extra: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    id: `o${++serial}`,
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

/** A searchset as Medplum returns it: matches newest first, then the included Devices. */
function page(...observations: Observation[]): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    entry: [
      ...observations.map((resource) => ({ resource, search: { mode: 'match' as const } })),
      { resource: DEVICE, search: { mode: 'include' as const } },
    ],
  };
}

/** `n` filler Observations (resting heart rate), newest first, to make a page full. */
function filler(n: number, from = Date.now() - 3_600_000): Observation[] {
  return Array.from({ length: n }, (_, i) => obs(RHR, 50, new Date(from - i * 3_600_000).toISOString()));
}

describe('buildNewestQuery', () => {
  test('newest first, dated only, current wearable Observations, trimmed, with their Devices', () => {
    expect(Object.fromEntries(buildNewestQuery('p1', undefined, 100))).toEqual({
      subject: 'Patient/p1',
      status: 'final,amended,corrected,preliminary',
      _profile: WEARABLE_PROFILE,
      date: 'ge1970-01-01T00:00:00Z',
      _sort: '-date',
      _count: '100',
      _include: 'Observation:device',
      _elements: 'status,code,effective,value,component,device,deviceName,manufacturer',
    });
  });

  test('with a date floor, the floor replaces the undated guard and comes first', () => {
    const params = buildNewestQuery('p1', undefined, 50, new Date('2026-03-01T00:00:00Z'));
    expect([...params.entries()][0]).toEqual(['date', 'ge2026-03-01T00:00:00.000Z']);
    expect(params.getAll('date')).toEqual(['ge2026-03-01T00:00:00.000Z']);
  });

  test('restricted to some metrics, it searches their codes and components (combo-code) first', () => {
    const params = buildNewestQuery('p1', [WEIGHT, HRV], 50);
    expect([...params.keys()][0]).toBe('combo-code');
    expect(params.get('combo-code')).toBe(
      'http://loinc.org|29463-7,https://baseline.health/fhir/CodeSystem/baseline-metrics|hrv-rmssd'
    );
  });
});

describe('readNewest', () => {
  test('the first Observation of a metric in a newest-first page is its latest, with its Device', () => {
    const newer = obs(HRV, 61, '2026-03-09T06:00:00Z');
    const older = obs(HRV, 40, '2026-03-08T06:00:00Z');
    const result = readNewest(page(newer, older), [HRV], 100);
    expect(result.unresolved).toEqual([]);
    expect(result.latest.map((l) => [l.metric.key, l.value, l.observationId, l.device])).toEqual([
      ['hrv-rmssd', { kind: 'quantity', value: 61 }, newer.id, 'WHOOP'],
    ]);
  });

  test('a metric missing from a page that was not full has no value; from a full page it is still open', () => {
    expect(readNewest(page(...filler(99)), [RHR, WEIGHT], 100)).toMatchObject({ unresolved: [] });
    expect(readNewest(page(...filler(99)), [RHR, WEIGHT], 100).latest.map((l) => l.metric.key)).toEqual([
      'resting-heart-rate',
    ]);
    expect(readNewest(page(...filler(100)), [RHR, WEIGHT], 100).unresolved).toEqual([WEIGHT]);
  });

  test('a workout is not a day: its energy is skipped and the cycle behind it is the latest total energy', () => {
    const run = obs(WORKOUT, 0, '', {
      effectiveDateTime: undefined,
      effectivePeriod: { start: '2026-03-09T17:00:00Z', end: '2026-03-09T17:45:00Z' },
      valueQuantity: undefined,
      valueCodeableConcept: { text: 'running' },
      component: [
        { code: { coding: [ENERGY.code] }, valueQuantity: metricQuantity(ENERGY, 512) },
        { code: { coding: [DISTANCE.code] }, valueQuantity: metricQuantity(DISTANCE, 7420) },
      ],
    });
    const day = obs(DAY_STRAIN, 12.1, '2026-03-09T04:00:00Z', {
      component: [{ code: { coding: [ENERGY.code] }, valueQuantity: metricQuantity(ENERGY, 2604.7) }],
    });
    const result = readNewest(page(run, day), [ENERGY, DISTANCE], 100);
    expect(result.latest.map((l) => [l.metric.key, l.value])).toEqual([
      ['total-energy', { kind: 'quantity', value: 2604.7 }],
      ['distance', { kind: 'quantity', value: 7420 }],
    ]);
  });

  test('as the per-metric search does, an unreadable latest value shows nothing rather than an older one', () => {
    const wrongUnit = obs(RHR, 1, '2026-03-09T06:00:00Z', { valueQuantity: { value: 1, code: 'Hz' } });
    const older = obs(RHR, 50, '2026-03-08T06:00:00Z');
    const result = readNewest(page(wrongUnit, older), [RHR], 100);
    expect(result).toEqual({ latest: [], unresolved: [] });
    const exact = readLatestBatch(
      {
        resourceType: 'Bundle',
        type: 'batch-response',
        entry: [{ resource: page(wrongUnit), response: { status: '200' } }],
      },
      [RHR]
    );
    expect(exact.latest).toEqual([]);
  });

  test('under a date floor, absence decides nothing, and a value dated before the floor is not trusted', () => {
    const since = new Date('2026-03-01T00:00:00Z');
    const night = obs(getMetric('sleep-duration'), 431, '', {
      effectiveDateTime: undefined,
      // Starts before the floor, so a newer record could exist that the floor left out (Medplum sorts by start).
      effectivePeriod: { start: '2026-02-28T23:00:00Z', end: '2026-03-01T07:00:00Z' },
    });
    const result = readNewest(
      page(obs(HRV, 61, '2026-03-09T06:00:00Z'), night),
      [HRV, WEIGHT, getMetric('sleep-duration')],
      50,
      since
    );
    expect(result.latest.map((l) => l.metric.key)).toEqual(['hrv-rmssd']);
    expect(result.unresolved.map((m) => m.key)).toEqual(['body-weight', 'sleep-duration']);
  });

  test('a retracted Observation is never a latest value', () => {
    const retracted = obs(HRV, 99, '2026-03-09T06:00:00Z', { status: 'entered-in-error' });
    const before = obs(HRV, 45, '2026-03-08T06:00:00Z');
    expect(readNewest(page(retracted, before), [HRV], 100).latest.map((l) => l.value)).toEqual([
      { kind: 'quantity', value: 45 },
    ]);
  });
});

interface Recorded {
  fetchers: LatestFetchers;
  calls: string[];
}

/** Answers each step from the given pages, recording what was asked. */
function server(answers: { newest: Bundle; remaining?: Bundle; batch?: (metrics: string[]) => Bundle }): Recorded {
  const calls: string[] = [];
  return {
    calls,
    fetchers: {
      search: (params) => {
        const combo = params.get('combo-code');
        calls.push(combo ? `remaining ${params.get('_count')}` : `newest ${params.get('_count')}`);
        const answer = combo ? answers.remaining : answers.newest;
        return answer ? Promise.resolve(answer) : Promise.reject(new Error('Too Many Requests'));
      },
      batch: (bundle) => {
        const urls = (bundle.entry ?? []).map((e) => e.request?.url ?? '');
        calls.push(`batch ${urls.length}`);
        const metrics = urls.map(
          (u) =>
            METRICS.find((m) => new URLSearchParams(u.split('?')[1]).get('combo-code')?.includes(m.code.code))?.key ??
            ''
        );
        return answers.batch ? Promise.resolve(answers.batch(metrics)) : Promise.reject(new Error('batch failed'));
      },
    },
  };
}

describe('loadLatest', () => {
  test('two searches when the second page is not full: everything it lacks has no value', async () => {
    const recent = new Date(Date.now() - 86_400_000).toISOString();
    const s = server({ newest: page(obs(HRV, 61, recent)), remaining: page() });
    const result = await loadLatest(s.fetchers, 'p1');
    expect(s.calls).toEqual([`newest ${LATEST_PAGE_SIZE}`, `remaining ${REMAINING_PAGE_SIZE}`]);
    expect(result.latest.map((l) => l.metric.key)).toEqual(['hrv-rmssd']);
    expect(result.failures).toEqual([]);
  });

  test('a full newest page: one more search for the metrics it lacks, reported progressively', async () => {
    const weight = obs(WEIGHT, 71.5, '2025-11-02T07:00:00Z');
    const s = server({ newest: page(...filler(LATEST_PAGE_SIZE)), remaining: page(weight) });
    const progress: string[][] = [];
    const result = await loadLatest(s.fetchers, 'p1', (partial) =>
      progress.push(partial.latest.map((l) => l.metric.key))
    );
    expect(s.calls).toEqual([`newest ${LATEST_PAGE_SIZE}`, `remaining ${REMAINING_PAGE_SIZE}`]);
    expect(progress).toEqual([['resting-heart-rate']]);
    // Catalogue order, whichever step found them.
    expect(result.latest.map((l) => l.metric.key)).toEqual(['resting-heart-rate', 'body-weight']);
  });

  test('only metrics still open after a full second page get the exact per-metric searches', async () => {
    const weights = Array.from({ length: REMAINING_PAGE_SIZE }, (_, i) =>
      obs(WEIGHT, 70 + i / 10, new Date(Date.parse('2026-01-01T00:00:00Z') - i * 86_400_000).toISOString())
    );
    const s = server({
      newest: page(...filler(LATEST_PAGE_SIZE)),
      remaining: page(...weights),
      batch: (metrics) => ({
        resourceType: 'Bundle',
        type: 'batch-response',
        entry: metrics.map((key) => ({
          response: { status: '200 OK' },
          resource: key === 'body-height' ? page(obs(getMetric('body-height'), 180, '2024-05-01T00:00:00Z')) : page(),
        })),
      }),
    });
    const result = await loadLatest(s.fetchers, 'p1');
    const openAfterTwo = METRICS.length - 2;
    expect(s.calls).toEqual([
      `newest ${LATEST_PAGE_SIZE}`,
      `remaining ${REMAINING_PAGE_SIZE}`,
      `batch ${openAfterTwo}`,
    ]);
    expect(result.latest.map((l) => l.metric.key)).toEqual(['resting-heart-rate', 'body-weight', 'body-height']);
    expect(result.latest.find((l) => l.metric.key === 'body-weight')?.value).toEqual({ kind: 'quantity', value: 70 });
  });

  test('a failed later step keeps what the first found and names the metrics it could not load', async () => {
    const s = server({ newest: page(...filler(LATEST_PAGE_SIZE)) });
    const result = await loadLatest(s.fetchers, 'p1');
    expect(result.latest.map((l) => l.metric.key)).toEqual(['resting-heart-rate']);
    expect(result.failures).toHaveLength(METRICS.length - 1);
    expect(result.failures[0]?.reason).toBe('Too Many Requests');
  });

  test('a failed first step fails the load (the page shows the error)', async () => {
    const s = server({ newest: page() });
    s.fetchers.search = () => Promise.reject(new Error('Unauthorized'));
    await expect(loadLatest(s.fetchers, 'p1')).rejects.toThrow('Unauthorized');
  });
});
