import type { Observation, SampledData } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { getMetric, metricCategory, metricCodings, metricQuantity } from './catalogue.ts';
import {
  GAP,
  INTRADAY_PROFILE,
  buildSeriesObservations,
  decodeSeries,
  decodeSlots,
  encodeSeries,
  groupByWindow,
  mergeSeries,
  mergeSeriesObservation,
  seriesIdentifiers,
  seriesObservation,
  seriesRecordGroups,
  seriesWindow,
} from './sampled-data.ts';
import type { Sample, SeriesScope, SeriesWindow } from './sampled-data.ts';
import { IDENTIFIER_BASE, UCUM } from './systems.ts';
import { validateWearableObservation } from './validate-observation.ts';
import { utf8Length } from './write-changed.ts';

const MIN = 60_000;
const DAY = 86_400_000;
const DAY0 = Date.parse('2026-11-02T00:00:00Z');
const WINDOW: SeriesWindow = { start: '2026-11-02T00:00:00Z', end: '2026-11-03T00:00:00Z' };
const SCOPE: SeriesScope = {
  provider: 'withings',
  patient: { reference: 'Patient/p1' },
  device: { reference: 'Device/d1' },
  providerUserId: '4242',
  series: 'intraday.abc123',
};

function hr(samples: Sample[], periodMs = MIN, window = WINDOW): ReturnType<typeof encodeSeries> {
  return encodeSeries({ metric: 'heart-rate', samples, periodMs, window });
}

function sd(data: string, period = MIN, code = '/min'): SampledData {
  return { origin: { value: 0, system: UCUM, code }, period, dimensions: 1, data };
}

/** Deterministic PRNG (LCG), so the synthetic days are the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * A realistic worn day at `periodMs`: off the wrist ~75 min charging and ~20 min showering at random times, ~3 %
 * single-period dropouts, a night low, a workout peak, and timestamps jittered ±4 s around the grid (devices stamp
 * when they flush, not on the minute).
 */
function wornDay(day: number, periodMs: number, seed = 7): Sample[] {
  const r = rng(seed * 10_007 + day);
  const start = DAY0 + day * DAY;
  const slots = DAY / periodMs;
  const perMinute = MIN / periodMs;
  const charge = Math.floor(r() * (slots - 75 * perMinute));
  const shower = Math.floor(r() * (slots - 20 * perMinute));
  const out: Sample[] = [];
  let level = 60;
  for (let i = 0; i < slots; i++) {
    const off = (i >= charge && i < charge + 75 * perMinute) || (i >= shower && i < shower + 20 * perMinute);
    const dropout = r() < 0.03;
    const hour = (i * periodMs) / 3_600_000;
    const target = hour < 6 ? 52 : hour < 8 ? 65 : hour >= 17 && hour < 18.5 ? 130 : 72;
    level += (target - level) * 0.2 + (r() - 0.5) * 6;
    const jitter = Math.round((r() - 0.5) * 8_000);
    if (!off && !dropout) {
      out.push({ t: start + i * periodMs + jitter, v: Math.round(level) });
    }
  }
  return out;
}

describe('seriesWindow', () => {
  test('is the UTC day containing the instant, end exclusive', () => {
    expect(seriesWindow(DAY0, 'heart-rate')).toEqual(WINDOW);
    expect(seriesWindow(DAY0 + DAY - 1, 'steps')).toEqual(WINDOW);
    expect(seriesWindow(DAY0 + DAY, 'hrv-rmssd').start).toBe('2026-11-03T00:00:00Z');
    expect(seriesWindow(DAY0 - 1, 'heart-rate').end).toBe('2026-11-02T00:00:00Z');
  });

  test('is 24 h on DST change days everywhere (UTC has none), so a minute grid always has 1,440 slots', () => {
    for (const day of ['2026-03-29', '2026-10-25', '2026-03-08', '2026-11-01']) {
      const w = seriesWindow(Date.parse(`${day}T12:00:00Z`), 'heart-rate');
      expect(Date.parse(w.end) - Date.parse(w.start)).toBe(DAY);
      expect(w.start).toBe(`${day}T00:00:00Z`);
    }
  });

  test('refuses metrics that take no series, and non-finite instants', () => {
    expect(() => seriesWindow(DAY0, 'spo2')).toThrow('spo2 does not take a SampledData series');
    expect(() => seriesWindow(Number.NaN, 'heart-rate')).toThrow('not a finite number');
  });
});

describe('encodeSeries', () => {
  test('writes one token per period from the window start, E for gaps, trailing gaps trimmed', () => {
    const result = hr([
      { t: DAY0 + 2 * MIN, v: 61 },
      { t: DAY0 + 3 * MIN, v: 62 },
      { t: DAY0 + 5 * MIN, v: 64 },
    ]);
    expect(result.sampledData).toEqual({
      origin: { value: 0, unit: 'beats/min', system: UCUM, code: '/min' },
      period: MIN,
      dimensions: 1,
      data: 'E E 61 62 E 64',
    });
    expect(result.count).toBe(3);
    expect(result.dropped).toEqual([]);
  });

  test('takes the catalogue unit as origin for every series metric', () => {
    expect(encodeSeries({ metric: 'steps', samples: [], periodMs: MIN, window: WINDOW }).sampledData.origin).toEqual(
      metricQuantity(getMetric('steps'), 0)
    );
    expect(
      encodeSeries({ metric: 'hrv-rmssd', samples: [], periodMs: 300_000, window: WINDOW }).sampledData.origin.code
    ).toBe('ms');
  });

  test('an empty or all-implausible window encodes to no data and count 0', () => {
    expect(hr([]).sampledData.data).toBe('');
    const result = hr([{ t: DAY0, v: 400 }]);
    expect(result.sampledData.data).toBe('');
    expect(result.count).toBe(0);
  });

  test('rounds off-grid samples to the nearest period, ties to the later one', () => {
    const result = hr([
      { t: DAY0 + 29_999, v: 60 },
      { t: DAY0 + MIN + 30_000, v: 70 },
      { t: DAY0 + 4 * MIN - 29_000, v: 80 },
    ]);
    expect(result.sampledData.data).toBe('60 E 70 E 80');
  });

  test('averages heart rate samples that land in one slot, in any input order', () => {
    const a = { t: DAY0 + MIN - 10_000, v: 60 };
    const b = { t: DAY0 + MIN + 10_000, v: 63 };
    expect(hr([a, b]).sampledData.data).toBe('E 62');
    expect(hr([b, a]).sampledData.data).toBe('E 62');
    expect(hr([a, b]).count).toBe(1);
  });

  test('sums step counts that land in one slot, and counts an instant listed twice once', () => {
    const steps = (samples: Sample[]): string =>
      encodeSeries({ metric: 'steps', samples, periodMs: MIN, window: WINDOW }).sampledData.data ?? '';
    expect(
      steps([
        { t: DAY0 + 20_000, v: 30 },
        { t: DAY0 - 20_000, v: 12 },
      ])
    ).toBe('42');
    // Overlapping provider pages list the same minute twice: not 60 steps.
    expect(
      steps([
        { t: DAY0, v: 30 },
        { t: DAY0, v: 30 },
      ])
    ).toBe('30');
    // The later listing of one instant wins (a re-scored value).
    expect(
      steps([
        { t: DAY0, v: 30 },
        { t: DAY0, v: 31 },
      ])
    ).toBe('31');
  });

  test('keeps integers for bpm and steps and one decimal for HRV', () => {
    expect(hr([{ t: DAY0, v: 61.6 }]).sampledData.data).toBe('62');
    const hrv = encodeSeries({
      metric: 'hrv-rmssd',
      samples: [
        { t: DAY0, v: 42.26 },
        { t: DAY0 + 300_000, v: 38 },
        { t: DAY0 + 600_000, v: 0.04 + 1 },
      ],
      periodMs: 300_000,
      window: WINDOW,
    });
    expect(hrv.sampledData.data).toBe('42.3 38 1');
  });

  test('drops implausible, non-finite and out-of-window samples as E and reports each', () => {
    const result = hr([
      { t: DAY0, v: 61 },
      { t: DAY0 + MIN, v: 400 },
      { t: DAY0 + 2 * MIN, v: 12 },
      { t: DAY0 + 3 * MIN, v: Number.NaN },
      { t: Number.NaN, v: 60 },
      { t: DAY0 + DAY, v: 60 },
      { t: DAY0 - MIN, v: 60 },
      { t: DAY0 + 4 * MIN, v: 64 },
    ]);
    expect(result.sampledData.data).toBe('61 E E E 64');
    expect(result.dropped.map((d) => d.reason)).toEqual([
      'time is not a finite number',
      'heart-rate value 400 /min is outside the plausible range 20–250 /min',
      'heart-rate value 12 /min is outside the plausible range 20–250 /min',
      'heart-rate value NaN is not a finite number',
      'outside the window 2026-11-02T00:00:00Z–2026-11-03T00:00:00Z',
      'outside the window 2026-11-02T00:00:00Z–2026-11-03T00:00:00Z',
    ]);
  });

  test('a sum that leaves the range is dropped with its parts reported, not clamped', () => {
    const result = encodeSeries({
      metric: 'steps',
      samples: [
        { t: DAY0, v: 100_000 },
        { t: DAY0 + 1_000, v: 100_000 },
      ],
      periodMs: MIN,
      window: WINDOW,
    });
    expect(result.sampledData.data).toBe('');
    expect(result.dropped).toHaveLength(2);
    expect(result.dropped[0]?.reason).toMatch(/steps value 200000 .* outside the plausible range/);
  });

  test('refuses a period that does not divide the window, and a metric without series', () => {
    expect(() => hr([], 7_000)).toThrow('is not a whole number of 7000 ms periods');
    expect(() => hr([], 0)).toThrow('is not a positive whole number');
    expect(() => encodeSeries({ metric: 'spo2', samples: [], periodMs: MIN, window: WINDOW })).toThrow(
      'spo2 does not take a SampledData series'
    );
  });

  test('a huge series (one-second samples for a whole day) encodes and decodes exactly, quickly', () => {
    const samples = Array.from({ length: 86_400 }, (_, i) => ({ t: DAY0 + i * 1_000, v: 40 + (i % 150) }));
    const started = performance.now();
    const result = hr(samples, 1_000);
    expect(result.count).toBe(86_400);
    expect(decodeSeries(result.sampledData, WINDOW.start)).toEqual(samples);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('decodeSeries', () => {
  test('decode(encode(x)) = x for on-grid samples, gaps and all', () => {
    for (let day = 0; day < 5; day++) {
      const start = DAY0 + day * DAY;
      const samples = wornDay(day, MIN).map((s) => ({ t: Math.round((s.t - start) / MIN) * MIN + start, v: s.v }));
      const window = seriesWindow(start, 'heart-rate');
      const encoded = hr(samples, MIN, window);
      expect(encoded.dropped).toEqual([]);
      expect(decodeSeries(encoded.sampledData, window.start)).toEqual(samples);
    }
  });

  test('applies origin and factor, and skips E, L and U', () => {
    const data: SampledData = { ...sd('1 E 2 L 3 U'), origin: { value: 50, code: '/min' }, factor: 2 };
    expect(decodeSlots(data, WINDOW.start)).toEqual([52, null, 54, null, 56, null]);
    expect(decodeSeries(data, WINDOW.start)).toEqual([
      { t: DAY0, v: 52 },
      { t: DAY0 + 2 * MIN, v: 54 },
      { t: DAY0 + 4 * MIN, v: 56 },
    ]);
  });

  test('refuses malformed data rather than guessing', () => {
    expect(() => decodeSeries(sd('61 x 62'), WINDOW.start)).toThrow('SampledData token "x"');
    expect(() => decodeSeries(sd('61 1e3'), WINDOW.start)).toThrow('SampledData token "1e3"');
    expect(() => decodeSeries({ ...sd('1'), dimensions: 2 }, WINDOW.start)).toThrow('2 dimensions');
    expect(() => decodeSeries(sd('1'), 'yesterday')).toThrow('not an instant');
    expect(decodeSeries(sd(''), WINDOW.start)).toEqual([]);
  });
});

describe('mergeSeries', () => {
  test('incoming values win; stored values stay where incoming is E or shorter', () => {
    expect(mergeSeries(sd('60 61 62 63 64'), sd('E 71 E'))).toEqual(sd('60 71 62 63 64'));
    expect(mergeSeries(sd('60'), sd('E E E 73'))).toEqual(sd('60 E E 73'));
  });

  test('disjoint windows merge to the same series in both orders', () => {
    const morning = sd('60 61 E E');
    const evening = sd('E E 62 63');
    expect(mergeSeries(morning, evening)).toEqual(sd('60 61 62 63'));
    expect(mergeSeries(evening, morning)).toEqual(sd('60 61 62 63'));
  });

  test('is idempotent: merging the same data again changes nothing', () => {
    const stored = sd('60 E 62');
    const incoming = sd('E 61 E E 64');
    const once = mergeSeries(stored, incoming);
    expect(mergeSeries(once, incoming)).toEqual(once);
    expect(mergeSeries(once, once)).toEqual(once);
  });

  test('never loses a stored sample: every stored value is in the result unless incoming has a value there', () => {
    const r = rng(11);
    const random = (): string =>
      Array.from({ length: Math.floor(r() * 40) }, () => (r() < 0.4 ? GAP : String(40 + Math.floor(r() * 100)))).join(
        ' '
      );
    for (let i = 0; i < 500; i++) {
      const stored = sd(random());
      const incoming = sd(random());
      const merged = decodeSlots(mergeSeries(stored, incoming), WINDOW.start);
      const a = decodeSlots(stored, WINDOW.start);
      const b = decodeSlots(incoming, WINDOW.start);
      for (let slot = 0; slot < Math.max(a.length, b.length); slot++) {
        expect(merged[slot] ?? null).toBe(b[slot] ?? a[slot] ?? null);
      }
      expect(mergeSeries(sd(merged.map((v) => (v === null ? GAP : String(v))).join(' ')), incoming)).toEqual(
        mergeSeries(stored, incoming)
      );
    }
  });

  test('refuses to merge series of different encodings', () => {
    expect(() => mergeSeries(sd('60', MIN), sd('60', 300_000))).toThrow('period 60000 vs 300000 ms');
    expect(() => mergeSeries(sd('60'), sd('60', MIN, 'ms'))).toThrow('cannot merge series of different encodings');
  });
});

describe('seriesObservation', () => {
  const encoded = hr([
    { t: DAY0, v: 61 },
    { t: DAY0 + 2 * MIN, v: 63 },
  ]);
  const o = seriesObservation(SCOPE, 'heart-rate', WINDOW, encoded.sampledData);

  test('is a whole Observation under the intraday profile, window as effectivePeriod', () => {
    const metric = getMetric('heart-rate');
    expect(o).toEqual({
      resourceType: 'Observation',
      meta: { profile: [INTRADAY_PROFILE] },
      status: 'final',
      identifier: [
        {
          system: `${IDENTIFIER_BASE}/withings/series`,
          value: 'p1:4242:intraday.abc123:heart-rate:2026-11-02T00:00:00Z',
        },
        { system: `${IDENTIFIER_BASE}/withings/record`, value: 'series:p1:4242:intraday.abc123:2026-11-02T00:00:00Z' },
      ],
      category: [metricCategory(metric, true)],
      code: { coding: metricCodings(metric), text: 'Heart rate' },
      subject: { reference: 'Patient/p1' },
      device: { reference: 'Device/d1' },
      effectivePeriod: WINDOW,
      valueSampledData: { ...encoded.sampledData, data: '61 E 63' },
    });
  });

  test('a heart rate series is activity data, never a vital sign, and passes the catalogue check', () => {
    expect(o.category?.[0]?.coding?.[0]?.code).toBe('activity');
    expect(validateWearableObservation(o)).toMatchObject({ ok: true });
    const steps = seriesObservation(
      SCOPE,
      'steps',
      WINDOW,
      encodeSeries({ metric: 'steps', samples: [{ t: DAY0, v: 12 }], periodMs: MIN, window: WINDOW }).sampledData
    );
    expect(validateWearableObservation(steps)).toMatchObject({ ok: true });
  });

  test('metrics of one device window share the record identifier; other devices and days do not', () => {
    const [, hrRecord] = seriesIdentifiers(SCOPE, 'heart-rate', WINDOW);
    const [, stepsRecord] = seriesIdentifiers(SCOPE, 'steps', WINDOW);
    const [, otherDevice] = seriesIdentifiers({ ...SCOPE, series: 'intraday.def456' }, 'heart-rate', WINDOW);
    const [, otherDay] = seriesIdentifiers(SCOPE, 'heart-rate', seriesWindow(DAY0 + DAY, 'heart-rate'));
    expect(stepsRecord).toEqual(hrRecord);
    expect(otherDevice).not.toEqual(hrRecord);
    expect(otherDay).not.toEqual(hrRecord);
  });

  test('refuses series names and user ids that would make an identifier ambiguous', () => {
    expect(() => seriesIdentifiers({ ...SCOPE, series: 'a:b' }, 'heart-rate', WINDOW)).toThrow('series name');
    expect(() => seriesIdentifiers({ ...SCOPE, providerUserId: '1:2' }, 'heart-rate', WINDOW)).toThrow(
      'provider user id'
    );
    expect(() => seriesIdentifiers({ ...SCOPE, patient: { reference: 'Device/x' } }, 'heart-rate', WINDOW)).toThrow(
      'Patient/<id>'
    );
  });
});

describe('buildSeriesObservations', () => {
  test('splits by UTC day (a sample seconds before midnight goes to the next day) and skips empty days', () => {
    const built = buildSeriesObservations(
      SCOPE,
      'heart-rate',
      [
        { t: DAY0 + DAY + 5 * MIN, v: 70 },
        { t: DAY0 + 10 * MIN, v: 60 },
        { t: DAY0 + DAY - 10_000, v: 65 },
        { t: DAY0 + 2 * DAY + MIN, v: 400 },
      ],
      MIN
    );
    expect(built.observations.map((o) => [o.effectivePeriod?.start, o.valueSampledData?.data])).toEqual([
      ['2026-11-02T00:00:00Z', 'E E E E E E E E E E 60'],
      ['2026-11-03T00:00:00Z', '65 E E E E 70'],
    ]);
    expect(built.count).toBe(3);
    expect(built.dropped).toHaveLength(1);
    expect(
      groupByWindow([{ t: DAY0 + DAY - 10_000, v: 65 }], 'heart-rate', MIN)
        .keys()
        .next().value
    ).toBe('2026-11-03T00:00:00Z');
  });

  test('re-import of the same samples builds identical Observations (idempotent writes)', () => {
    const samples = wornDay(0, MIN);
    const a = buildSeriesObservations(SCOPE, 'heart-rate', samples, MIN);
    const b = buildSeriesObservations(SCOPE, 'heart-rate', [...samples].reverse(), MIN);
    expect(b).toEqual(a);
  });
});

describe('mergeSeriesObservation', () => {
  const base = (data: string): Observation =>
    seriesObservation(SCOPE, 'heart-rate', WINDOW, { ...sd(data), origin: metricQuantity(getMetric('heart-rate'), 0) });

  test('merges the stored series under the new Observation', () => {
    const merged = mergeSeriesObservation(base('60 61 E 63'), base('E E 62'));
    expect(merged.valueSampledData?.data).toBe('60 61 62 63');
    expect(merged.identifier).toEqual(base('').identifier);
  });

  test('refuses to merge different windows, and replaces a stored Observation that holds no series', () => {
    const other = { ...base('60'), effectivePeriod: seriesWindow(DAY0 + DAY, 'heart-rate') };
    expect(() => mergeSeriesObservation(other, base('61'))).toThrow('series windows differ');
    const { valueSampledData: _dropped, ...noSeries } = base('60');
    expect(mergeSeriesObservation(noSeries, base('61')).valueSampledData?.data).toBe('61');
  });
});

describe('window choice (numbers in the module comment)', () => {
  /** One year of one series per window kind: resources, samples and mean JSON bytes per resource. */
  function year(periodMs: number, windowMs: number): { resources: number; samples: number; bytes: number } {
    let resources = 0;
    let samples = 0;
    let bytes = 0;
    for (let day = 0; day < 365; day++) {
      const daySamples = wornDay(day, periodMs);
      samples += daySamples.length;
      for (let w = 0; w < DAY / windowMs; w++) {
        const start = DAY0 + day * DAY + w * windowMs;
        const window = {
          start: new Date(start).toISOString().replace('.000Z', 'Z'),
          end: new Date(start + windowMs).toISOString().replace('.000Z', 'Z'),
        };
        const inWindow = daySamples.filter((s) => {
          const slot = Math.floor((s.t - start) / periodMs + 0.5);
          return slot >= 0 && slot < windowMs / periodMs;
        });
        const encoded = hr(inWindow, periodMs, window);
        if (encoded.count > 0) {
          resources++;
          bytes += utf8Length(JSON.stringify(seriesObservation(SCOPE, 'heart-rate', window, encoded.sampledData)));
        }
      }
    }
    return { resources, samples, bytes: bytes / resources };
  }

  test('a UTC day meets ≥ 60× fewer resources for a minute series; an hour cannot', () => {
    const day = year(MIN, DAY);
    const hour = year(MIN, 3_600_000);
    const samplesPerDay = day.samples / 365;
    expect(samplesPerDay).toBeGreaterThan(1_200);
    expect(samplesPerDay).toBeLessThan(1_440);
    expect(day.resources).toBe(365);
    expect(day.samples / day.resources).toBeGreaterThanOrEqual(60);
    // Hourly: at most 60 samples per resource, so a single gap anywhere is already below 60×.
    expect(hour.samples / hour.resources).toBeLessThan(60);
    expect(hour.resources).toBeGreaterThan(24 * 360);
    // Bytes: a day stays small against the 800 kB batch body (write-changed.ts MAX_BATCH_BYTES).
    expect(day.bytes).toBeGreaterThan(4_000);
    expect(day.bytes).toBeLessThan(8_000);
    // Quota points per year of backfill (100 per write): day vs hour vs one Observation per sample.
    expect(day.resources * 100).toBe(36_500);
    expect(hour.resources * 100).toBeGreaterThan(20 * day.resources * 100);
    expect(day.samples * 100).toBeGreaterThan(1_000 * day.resources * 100);
  });

  test('an Oura 5-minute day is also ≥ 60× fewer; an hour of it is 12 samples at most', () => {
    const day = year(300_000, DAY);
    const hour = year(300_000, 3_600_000);
    expect(day.samples / day.resources).toBeGreaterThanOrEqual(60);
    expect(hour.samples / hour.resources).toBeLessThanOrEqual(12);
    expect(day.bytes).toBeLessThan(3_000);
  });
});

describe('seriesRecordGroups', () => {
  test("groups a device window's metrics into one merging record group, and refuses non-series", () => {
    const day = [{ t: DAY0, v: 60 }];
    const observations = [
      ...buildSeriesObservations(SCOPE, 'heart-rate', day, MIN).observations,
      ...buildSeriesObservations(SCOPE, 'steps', day, MIN).observations,
      ...buildSeriesObservations(SCOPE, 'heart-rate', [{ t: DAY0 + DAY, v: 61 }], MIN).observations,
    ];
    const groups = seriesRecordGroups(observations);
    expect(groups.map((g) => [g.record.value, g.observations.length, g.merge])).toEqual([
      ['series:p1:4242:intraday.abc123:2026-11-02T00:00:00Z', 2, mergeSeriesObservation],
      ['series:p1:4242:intraday.abc123:2026-11-03T00:00:00Z', 1, mergeSeriesObservation],
    ]);
    const { valueSampledData: _v, ...single } = observations[0] ?? ({} as Observation);
    expect(() => seriesRecordGroups([single as Observation])).toThrow('not a series Observation');
  });
});
