/**
 * The intraday day view's pure parts, fed with Observations the series library itself builds
 * (bots/shared/sampled-data.ts, what the sync bot writes): local-day ranges across DST, the query, stitching the two
 * UTC-day resources of a local day, gaps kept as gaps, zoom and pan, and the accessible summary.
 */
import type { Device, Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { getMetric } from '../../bots/shared/catalogue.ts';
import { buildSeriesObservations, INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import type { Sample, SeriesScope } from '../../bots/shared/sampled-data.ts';
import {
  buildIntradayQuery,
  countInView,
  localDayRange,
  localToday,
  panWindow,
  pointsInView,
  readIntradayDay,
  shiftDay,
  summaryText,
  timeTicks,
  utcWindowStarts,
  zoomWindow,
} from '../../app/src/lib/intraday.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const HR = getMetric('heart-rate');
const BERLIN = 'Europe/Berlin';
const WATCH: SeriesScope = {
  provider: 'withings',
  patient: { reference: 'Patient/p1' },
  device: { reference: 'Device/watch' },
  providerUserId: '42',
  series: 'intraday.watch',
};
const RING: SeriesScope = {
  provider: 'oura',
  patient: { reference: 'Patient/p1' },
  device: { reference: 'Device/ring', display: 'Oura ring' },
  providerUserId: 'u9',
  series: 'heartrate',
};
const DEVICES = new Map<string, Device>([
  [
    'Device/watch',
    { resourceType: 'Device', id: 'watch', deviceName: [{ name: 'ScanWatch 2', type: 'user-friendly-name' }] },
  ],
]);

function minutes(
  from: string,
  count: number,
  value: (i: number) => number,
  skip: (i: number) => boolean = () => false
): Sample[] {
  const start = Date.parse(from);
  return Array.from({ length: count }, (_, i) => i)
    .filter((i) => !skip(i))
    .map((i) => ({ t: start + i * MIN, v: value(i) }));
}

function stored(observations: Observation[]): Observation[] {
  return observations.map((o, i) => ({ ...o, id: `s${i}`, meta: { ...o.meta, versionId: '1' } }));
}

describe('local days', () => {
  test('a local day in Berlin is 24 hours, 23 on the spring change and 25 on the autumn one', () => {
    const day = localDayRange('2026-11-02', BERLIN);
    expect(new Date(day.start).toISOString()).toBe('2026-11-01T23:00:00.000Z');
    expect(day.end - day.start).toBe(24 * HOUR);
    const spring = localDayRange('2026-03-29', BERLIN);
    expect(new Date(spring.start).toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(spring.end - spring.start).toBe(23 * HOUR);
    const autumn = localDayRange('2026-10-25', BERLIN);
    expect(autumn.end - autumn.start).toBe(25 * HOUR);
    expect(localDayRange('2026-11-02', 'UTC')).toEqual({
      start: Date.parse('2026-11-02T00:00:00Z'),
      end: Date.parse('2026-11-03T00:00:00Z'),
    });
    expect(new Date(localDayRange('2026-11-02', 'America/Los_Angeles').start).toISOString()).toBe(
      '2026-11-02T08:00:00.000Z'
    );
  });

  test('overlaps one UTC window in UTC and two elsewhere; moving and naming days', () => {
    expect(utcWindowStarts(localDayRange('2026-11-02', 'UTC'))).toEqual([Date.parse('2026-11-02T00:00:00Z')]);
    expect(utcWindowStarts(localDayRange('2026-11-02', BERLIN))).toEqual([
      Date.parse('2026-11-01T00:00:00Z'),
      Date.parse('2026-11-02T00:00:00Z'),
    ]);
    expect(shiftDay('2026-03-01', -1)).toBe('2026-02-28');
    expect(shiftDay('2026-12-31', 1)).toBe('2027-01-01');
    expect(localToday(new Date('2026-11-01T23:30:00Z'), BERLIN)).toBe('2026-11-02');
    expect(() => localDayRange('2 Nov', BERLIN)).toThrow('not a YYYY-MM-DD date');
  });

  test('the query asks for the metric series over both UTC windows, with their devices', () => {
    const query = buildIntradayQuery('p1', HR, localDayRange('2026-11-02', BERLIN));
    expect(query.get('subject')).toBe('Patient/p1');
    expect(query.get('code')).toBe('http://loinc.org|8867-4');
    expect(query.get('_profile')).toBe(INTRADAY_PROFILE);
    expect(query.getAll('date')).toEqual(['ge2026-11-01T00:00:00.000Z', 'lt2026-11-03T00:00:00.000Z']);
    expect(query.get('_include')).toBe('Observation:device');
    expect(query.get('status')).not.toContain('entered-in-error');
  });
});

describe('readIntradayDay', () => {
  const berlinDay = localDayRange('2026-11-02', BERLIN);
  // 23:00Z on the 1st to 23:00Z on the 2nd is Berlin's 2 November: it spans two UTC-day resources.
  const evening = minutes('2026-11-01T22:30:00Z', 60, (i) => 60 + (i % 3));
  const morning = minutes(
    '2026-11-02T06:00:00Z',
    120,
    (i) => 70 + (i % 5),
    (i) => i >= 10 && i < 20
  );
  const watch = buildSeriesObservations(WATCH, 'heart-rate', [...evening, ...morning], MIN).observations;

  test('stitches the two UTC days of a local day and cuts to it; the gap stays a gap', () => {
    expect(watch).toHaveLength(2);
    const day = readIntradayDay(stored(watch), DEVICES, HR, berlinDay);
    expect(day.problems).toEqual([]);
    expect(day.series).toHaveLength(1);
    const series = day.series[0];
    expect(series?.label).toBe('ScanWatch 2');
    expect(series?.periodMs).toBe(MIN);
    // 30 evening minutes before local midnight are on the 1st (Berlin) and left out.
    expect(series?.points[0]).toEqual({ t: Date.parse('2026-11-01T23:00:00Z'), v: 60 });
    expect(series?.samples).toBe(30 + 110);
    // The night between 23:30Z and 06:00Z, and the 10 minutes off the wrist: two gaps, each one run of nulls.
    expect(series?.gaps).toBe(2);
    const off = series?.points.filter(
      (p) => p.t >= Date.parse('2026-11-02T06:10:00Z') && p.t < Date.parse('2026-11-02T06:20:00Z')
    );
    expect(off?.map((p) => p.v)).toEqual(Array.from({ length: 10 }, () => null));
    expect(series?.points.at(-1)).toEqual({ t: Date.parse('2026-11-02T07:59:00Z'), v: 74 });
    expect([series?.min, series?.max]).toEqual([60, 74]);
  });

  test('one line per device series, each on its own grid; other metrics, retracted and foreign series ignored', () => {
    const ring = buildSeriesObservations(
      RING,
      'heart-rate',
      Array.from({ length: 12 }, (_, i) => ({ t: Date.parse('2026-11-02T06:00:00Z') + i * 300_000, v: 58 + i })),
      300_000
    ).observations;
    const steps = buildSeriesObservations(
      WATCH,
      'steps',
      minutes('2026-11-02T06:00:00Z', 5, () => 10),
      MIN
    ).observations;
    const retracted = { ...(ring[0] as Observation), status: 'entered-in-error' as const };
    const day = readIntradayDay(stored([...watch, ...ring, ...steps, retracted]), DEVICES, HR, berlinDay);
    expect(day.series.map((s) => [s.label, s.periodMs, s.samples, s.gaps])).toEqual([
      ['Oura ring', 300_000, 12, 0],
      ['ScanWatch 2', MIN, 140, 2],
    ]);
  });

  test('an unreadable series is reported, not charted and not fatal', () => {
    const broken = { ...(watch[1] as Observation) };
    broken.valueSampledData = { ...broken.valueSampledData!, data: '61 x' };
    const day = readIntradayDay([watch[0] as Observation, broken], DEVICES, HR, berlinDay);
    expect(day.problems).toEqual([expect.stringContaining('SampledData token "x"')]);
    expect(day.series[0]?.samples).toBe(30);
  });

  test('a day without series has no lines', () => {
    expect(readIntradayDay([], DEVICES, HR, berlinDay).series).toEqual([]);
  });
});

describe('zoom, pan and the summary', () => {
  const day = localDayRange('2026-11-02', 'UTC');

  test('24h is the whole day; 6h and 1h stay inside it', () => {
    expect(zoomWindow(day, '24h', day.start + 5 * HOUR)).toEqual(day);
    expect(zoomWindow(day, '6h', day.start + 3 * HOUR)).toEqual({
      start: day.start + 3 * HOUR,
      end: day.start + 9 * HOUR,
    });
    expect(zoomWindow(day, '6h', day.end - HOUR)).toEqual({ start: day.end - 6 * HOUR, end: day.end });
    expect(zoomWindow(day, '1h', day.start - HOUR)).toEqual({ start: day.start, end: day.start + HOUR });
    const spring = localDayRange('2026-03-29', BERLIN);
    expect(zoomWindow(spring, '24h', spring.start)).toEqual(spring);
  });

  test('panning moves half a view and stops at the day edges', () => {
    const view = zoomWindow(day, '6h', day.start);
    expect(panWindow(day, view, 1)).toEqual({ start: day.start + 3 * HOUR, end: day.start + 9 * HOUR });
    expect(panWindow(day, view, -1)).toEqual(view);
  });

  test('counts samples and gaps in view, and says them in one line', () => {
    const points = [
      { t: 0, v: null },
      { t: 1, v: 60 },
      { t: 2, v: null },
      { t: 3, v: null },
      { t: 4, v: 61 },
      { t: 5, v: null },
    ];
    expect(countInView(points)).toEqual({ samples: 2, gaps: 1 });
    const series = readIntradayDay(
      stored(
        buildSeriesObservations(
          WATCH,
          'heart-rate',
          minutes(
            '2026-11-02T06:00:00Z',
            120,
            () => 70,
            (i) => i % 30 === 29
          ),
          MIN
        ).observations
      ),
      DEVICES,
      HR,
      day
    ).series[0];
    const view = zoomWindow(day, '1h', Date.parse('2026-11-02T06:00:00Z'));
    expect(series && countInView(pointsInView(series, view))).toEqual({ samples: 58, gaps: 1 });
    expect(
      summaryText({
        metric: 'Heart rate',
        device: 'ScanWatch 2',
        when: '06:00–07:00',
        samples: 1234,
        gaps: 1,
        low: '52',
        high: '130 bpm',
      })
    ).toBe('Heart rate from ScanWatch 2, 06:00–07:00: 1,234 samples, 1 gap, 52 to 130 bpm');
    expect(summaryText({ metric: 'Steps', device: 'x', when: 'all day', samples: 1, gaps: 0 })).toBe(
      'Steps from x, all day: 1 sample, 0 gaps'
    );
  });
});

describe('timeTicks', () => {
  test('round local times, also across a DST change inside the day', () => {
    const iso = (ticks: number[]): string[] => ticks.map((t) => new Date(t).toISOString().slice(11, 16));
    const berlin = localDayRange('2026-11-02', BERLIN);
    // Local 00:00, 03:00, ... 21:00 are 23:00Z, 02:00Z, ... in November (UTC+1).
    expect(iso(timeTicks(berlin, '24h', BERLIN))).toEqual([
      '23:00',
      '02:00',
      '05:00',
      '08:00',
      '11:00',
      '14:00',
      '17:00',
      '20:00',
    ]);
    const autumn = localDayRange('2026-10-25', BERLIN);
    // 25 hours: local 00:00 and 03:00 are still at UTC+2 before 01:00Z, then UTC+1.
    expect(iso(timeTicks(autumn, '24h', BERLIN)).slice(0, 3)).toEqual(['22:00', '02:00', '05:00']);
    const hour = { start: Date.parse('2026-11-02T06:00:00Z'), end: Date.parse('2026-11-02T07:00:00Z') };
    expect(iso(timeTicks(hour, '1h', 'UTC'))).toEqual(['06:00', '06:10', '06:20', '06:30', '06:40', '06:50']);
    expect(timeTicks(hour, '6h', 'Asia/Kolkata').map((t) => new Date(t).toISOString().slice(11, 16))).toEqual([
      '06:30',
    ]);
  });
});
