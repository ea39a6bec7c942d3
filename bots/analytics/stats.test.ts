import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ANALYTICS_PARAMS } from './params.ts';
import {
  averageRanks,
  bandFor,
  bandGate,
  bandTransitions,
  benjaminiHochberg,
  classify,
  type DailyPoint,
  dayFromIndex,
  dayIndex,
  lnGamma,
  mad,
  median,
  ols,
  pairByDay,
  predictionInterval,
  regularizedIncompleteBeta,
  rollingBands,
  screenAssociations,
  spearman,
  studentTCdf,
  studentTQuantile,
  studentTTwoSidedP,
  trajectories,
  trajectory,
  trendGate,
} from './stats.ts';

const BAND = ANALYTICS_PARAMS.band;
const TREND = ANALYTICS_PARAMS.trend;
const DRIVERS = ANALYTICS_PARAMS.drivers;

/** |actual − expected| ≤ 10^−digits · |expected|: agreement to `digits` significant digits. */
function expectSignificant(actual: number, expected: number, digits: number): void {
  const tolerance = 10 ** -digits * Math.abs(expected);
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance);
}

/** Deterministic pseudo-random numbers (mulberry32) so property tests are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(xs: readonly T[], random: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** A daily series starting at `start`, one point per value, skipping the day offsets listed in `gaps`. */
function series(start: string, values: readonly number[], gaps: ReadonlySet<number> = new Set()): DailyPoint[] {
  const s = dayIndex(start);
  const out: DailyPoint[] = [];
  values.forEach((value, i) => {
    if (!gaps.has(i)) {
      out.push({ day: dayFromIndex(s + i), value });
    }
  });
  return out;
}

describe('days', () => {
  it('counts days since 1970-01-01 like Date.UTC, across leap years and centuries', () => {
    // Years 0001..9999: what 'YYYY-MM-DD' can spell and Date.toISOString prints without a sign.
    for (let idx = -719_162; idx <= 2_932_896; idx += 997) {
      const iso = new Date(idx * 86_400_000).toISOString().slice(0, 10);
      expect(dayIndex(iso)).toBe(idx);
      expect(dayFromIndex(idx)).toBe(iso);
    }
    expect(dayIndex('1970-01-01')).toBe(0);
    expect(dayIndex('2024-02-29') - dayIndex('2024-02-28')).toBe(1);
    expect(dayIndex('2000-03-01') - dayIndex('2000-02-28')).toBe(2);
    expect(dayIndex('1900-03-01') - dayIndex('1900-02-28')).toBe(1);
  });
  it('refuses what is not a calendar day', () => {
    for (const bad of ['2023-02-29', '2023-13-01', '2023-00-10', '2023-04-31', '2023-1-01', '20230101', '']) {
      expect(() => dayIndex(bad), bad).toThrow(RangeError);
    }
  });
});

describe('median and MAD', () => {
  it('median of odd and even n', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });
  it('MAD of odd n: the textbook example [1, 1, 2, 2, 4, 6, 9] has median 2 and MAD 1', () => {
    expect(median([1, 1, 2, 2, 4, 6, 9])).toBe(2);
    expect(mad([1, 1, 2, 2, 4, 6, 9])).toBe(1);
    expect(mad([9, 1, 6, 2, 4, 1, 2], 1.4826)).toBeCloseTo(1.4826, 15);
  });
  it('MAD of even n averages the two middle deviations', () => {
    // median 3.5; deviations 2.5 1.5 0.5 0.5 3.5 96.5 → sorted 0.5 0.5 1.5 2.5 3.5 96.5 → (1.5 + 2.5)/2
    expect(median([1, 2, 3, 4, 100, 7])).toBe(3.5);
    expect(mad([1, 2, 3, 4, 100, 7])).toBe(2);
    expect(mad([1, 2, 3, 4])).toBe(1);
  });
  it('no data gives no median and no MAD', () => {
    expect(median([])).toBeUndefined();
    expect(mad([])).toBeUndefined();
  });
  it('all-equal values have MAD 0', () => {
    expect(mad([5, 5, 5, 5])).toBe(0);
    expect(mad([5, 5, 5, 1, 9])).toBe(0);
  });
  it('refuses non-finite input rather than sorting NaN somewhere', () => {
    expect(() => median([1, Number.NaN, 2])).toThrow(RangeError);
  });
  it('the O(n) MAD matches sorting the deviations, for many random samples (odd and even n, ties)', () => {
    const random = rng(1);
    for (let trial = 0; trial < 500; trial++) {
      const n = 1 + Math.floor(random() * 40);
      const xs = Array.from({ length: n }, () => Math.round(random() * 20) / 2);
      const med = median(xs)!;
      const naive = median(xs.map((x) => Math.abs(x - med)))!;
      expect(mad(xs)).toBe(naive);
    }
  });
  it('is invariant under permutation, shifts with the data, and scales with |a|', () => {
    const random = rng(2);
    const xs = Array.from({ length: 27 }, () => random() * 100);
    const perm = shuffled(xs, random);
    expect(median(perm)).toBe(median(xs));
    expect(mad(perm)).toBe(mad(xs));
    expect(median(xs.map((x) => x + 1000))).toBeCloseTo(median(xs)! + 1000, 9);
    expect(mad(xs.map((x) => x + 1000))).toBeCloseTo(mad(xs)!, 9);
    expect(median(xs.map((x) => -3 * x))).toBeCloseTo(-3 * median(xs)!, 9);
    expect(mad(xs.map((x) => -3 * x))).toBeCloseTo(3 * mad(xs)!, 9);
  });
});

describe('baseline band', () => {
  const values28 = Array.from({ length: 28 }, (_, i) => 60 + (i % 7)); // 60..66, median 63, MAD 2

  it('uses the 28 days ending the day before, median ± k·1.4826·MAD', () => {
    const s = [...series('2024-01-01', values28), { day: '2024-01-29', value: 100 }];
    const out = bandFor(s, '2024-01-29', BAND);
    expect(out.ok).toBe(true);
    if (!out.ok) {
      return;
    }
    expect(out.band).toMatchObject({
      median: 63,
      mad: 2,
      validDays: 28,
      windowStart: '2024-01-01',
      windowEnd: '2024-01-28',
    });
    expect(out.band.lower).toBeCloseTo(63 - 2 * 1.4826 * 2, 12);
    expect(out.band.upper).toBeCloseTo(63 + 2 * 1.4826 * 2, 12);
    // The judged day's own value (100) is not in its window.
    const later = bandFor(s, '2024-01-30', BAND);
    expect(later.ok && later.band.windowStart).toBe('2024-01-02');
    expect(later.ok && later.band.median).toBe(63);
  });

  it('counts valid days, not calendar days: 13 present days give no band, 14 do', () => {
    const evenDays = Array.from({ length: 14 }, (_, i) => i * 2);
    const s13 = series('2024-03-01', values28, new Set([...evenDays, 27]));
    expect(s13).toHaveLength(13);
    expect(bandFor(s13, '2024-03-29', BAND)).toEqual({ ok: false, reason: 'insufficient-days', validDays: 13 });
    const s14 = series('2024-03-01', values28, new Set(evenDays));
    expect(s14).toHaveLength(14);
    const out = bandFor(s14, '2024-03-29', BAND);
    expect(out.ok && out.band.validDays).toBe(14);
  });

  it('no data: no band', () => {
    expect(bandFor([], '2024-03-29', BAND)).toEqual({ ok: false, reason: 'insufficient-days', validDays: 0 });
    expect(rollingBands([], BAND)).toEqual([]);
  });

  it('all-equal values (MAD 0) give no band rather than a zero-width one', () => {
    const flat = series(
      '2024-01-01',
      Array.from({ length: 28 }, () => 55)
    );
    expect(bandFor(flat, '2024-01-29', BAND)).toEqual({ ok: false, reason: 'no-variation', validDays: 28 });
    expect(bandGate(28, 0, BAND)).toBe('no-variation');
    expect(bandGate(13, 1, BAND)).toBe('insufficient-days');
    expect(bandGate(14, 1, BAND)).toBeUndefined();
  });

  it('classifies within (edges included), above and below', () => {
    const band = { lower: 10, upper: 20 };
    expect(classify(10, band)).toBe('within');
    expect(classify(20, band)).toBe('within');
    expect(classify(20.0001, band)).toBe('above');
    expect(classify(9.9999, band)).toBe('below');
  });

  it('the sliding window gives every day exactly the band computed from scratch (random gappy series)', () => {
    const random = rng(3);
    const values = Array.from({ length: 200 }, () => Math.round(50 + random() * 20));
    const gaps = new Set(Array.from({ length: 200 }, (_, i) => i).filter(() => random() < 0.3));
    const s = series('2023-11-15', values, gaps);
    const rolled = rollingBands(s, BAND);
    expect(rolled).toHaveLength(s.length);
    rolled.forEach((d) => {
      const direct = bandFor(s, d.day, BAND);
      expect(d.outcome).toEqual(direct);
      expect(d.status).toBe(direct.ok ? classify(d.value, direct.band) : 'no-band');
    });
    expect(rolled.some((d) => d.outcome.ok)).toBe(true);
    expect(rolled.some((d) => !d.outcome.ok)).toBe(true);
  });

  it('…and on dense series, where the window is full and a value enters before the oldest leaves', () => {
    // A full window plus the entering value is w + 1 values at once; a buffer of w dropped the largest of them.
    const climbing = [...Array.from({ length: 40 }, (_, i) => 54 + (i % 3)), ...Array<number>(20).fill(64)];
    const random = rng(11);
    for (const values of [climbing, Array.from({ length: 120 }, () => Math.round(50 + random() * 20))]) {
      const s = series('2024-03-01', values);
      rollingBands(s, BAND).forEach((d) => {
        expect(d.outcome, d.day).toEqual(bandFor(s, d.day, BAND));
      });
    }
  });

  it('shifting the series by c shifts every band by c; permuting the window does not change it', () => {
    const random = rng(4);
    const values = Array.from({ length: 60 }, () => 40 + random() * 10);
    const base = rollingBands(series('2024-05-01', values), BAND);
    const shifted = rollingBands(
      series(
        '2024-05-01',
        values.map((v) => v + 250)
      ),
      BAND
    );
    base.forEach((d, i) => {
      const e = shifted[i]!;
      expect(e.status).toBe(d.status);
      if (d.outcome.ok && e.outcome.ok) {
        expect(e.outcome.band.median).toBeCloseTo(d.outcome.band.median + 250, 9);
        expect(e.outcome.band.lower).toBeCloseTo(d.outcome.band.lower + 250, 9);
        expect(e.outcome.band.upper).toBeCloseTo(d.outcome.band.upper + 250, 9);
      } else {
        expect(e.outcome.ok).toBe(d.outcome.ok);
      }
    });
    // Reordering the 28 window values across the window's days leaves the band of the day after unchanged.
    const window = values.slice(0, 28);
    const a = bandFor(series('2024-05-01', window), '2024-05-29', BAND);
    const b = bandFor(series('2024-05-01', shuffled(window, random)), '2024-05-29', BAND);
    expect(b).toEqual(a);
  });

  it('reports transitions between banded days, skipping days without a band', () => {
    const values = [...values28, 63, 90, 91, 63, 30, 63];
    const s = series('2024-01-01', values);
    const rolled = rollingBands(s, BAND);
    expect(rolled.slice(28).map((d) => d.status)).toEqual(['within', 'above', 'above', 'within', 'below', 'within']);
    expect(bandTransitions(rolled)).toEqual([
      { day: '2024-01-30', previousDay: '2024-01-29', from: 'within', to: 'above' },
      { day: '2024-02-01', previousDay: '2024-01-31', from: 'above', to: 'within' },
      { day: '2024-02-02', previousDay: '2024-02-01', from: 'within', to: 'below' },
      { day: '2024-02-03', previousDay: '2024-02-02', from: 'below', to: 'within' },
    ]);
    expect(rolled.slice(0, 14).every((d) => d.status === 'no-band')).toBe(true);
  });

  it('refuses unsorted, duplicate or non-finite series', () => {
    expect(() =>
      rollingBands(
        [
          { day: '2024-01-02', value: 1 },
          { day: '2024-01-01', value: 1 },
        ],
        BAND
      )
    ).toThrow(RangeError);
    expect(() =>
      rollingBands(
        [
          { day: '2024-01-01', value: 1 },
          { day: '2024-01-01', value: 2 },
        ],
        BAND
      )
    ).toThrow(RangeError);
    expect(() => rollingBands([{ day: '2024-01-01', value: Number.NaN }], BAND)).toThrow(RangeError);
  });
});

describe('special functions', () => {
  it('lnGamma matches known values (mpmath.loggamma at 30 digits)', () => {
    expectSignificant(lnGamma(0.5), 0.5723649429247001, 14); // ln √π
    expectSignificant(lnGamma(10), 12.801827480081469, 14); // ln 9!
    expectSignificant(lnGamma(100), 359.1342053695754, 14);
    expectSignificant(lnGamma(3.7), 1.428072326665388, 14);
    expectSignificant(lnGamma(0.1), 2.252712651734206, 14);
    expectSignificant(lnGamma(1e5), 1051287.7089736569, 14);
    expect(Math.abs(lnGamma(1))).toBeLessThan(1e-15);
    expect(Math.abs(lnGamma(2))).toBeLessThan(1e-15);
  });
  it('the regularized incomplete beta matches closed forms and mpmath.betainc', () => {
    for (const x of [0.001, 0.01, 0.3, 0.5, 0.77, 0.999]) {
      // I_x(a, 1) = x^a;  I_x(1, b) = 1 − (1 − x)^b;  I_x(½, ½) = (2/π)·asin √x
      expectSignificant(regularizedIncompleteBeta(x, 3.5, 1), x ** 3.5, 13);
      expectSignificant(regularizedIncompleteBeta(x, 1, 4.25), 1 - (1 - x) ** 4.25, 13);
      expectSignificant(regularizedIncompleteBeta(x, 0.5, 0.5), (2 / Math.PI) * Math.asin(Math.sqrt(x)), 13);
    }
    expectSignificant(regularizedIncompleteBeta(0.5, 7, 7), 0.5, 14);
    expectSignificant(regularizedIncompleteBeta(0.3, 2.5, 0.5), 0.01892712407194565, 13);
    expectSignificant(regularizedIncompleteBeta(0.9, 30, 0.5), 0.01228244849985276, 13);
    // One large argument: the Stirling branch of ln B.
    expectSignificant(regularizedIncompleteBeta(0.99, 200, 0.5), 0.04509410713707969, 12);
    expectSignificant(regularizedIncompleteBeta(0.995, 500, 0.5), 0.02520076536204578, 12);
    expectSignificant(regularizedIncompleteBeta(0.6, 120, 80), 0.49615829847575205, 12);
    expectSignificant(regularizedIncompleteBeta(0.0001, 0.5, 5000), 0.6826894927420732, 12);
    expect(regularizedIncompleteBeta(0, 2, 3)).toBe(0);
    expect(regularizedIncompleteBeta(1, 2, 3)).toBe(1);
  });
  it('t quantiles match the table values to ≥ 10 significant digits', () => {
    // Values: mpmath 1.3.0 at 40 digits (betainc + findroot); they agree with standard t tables.
    const table: [number, number, number][] = [
      [0.975, 1, 12.706204736174692],
      [0.975, 2, 4.302652729749462],
      [0.975, 10, 2.2281388519862744],
      [0.975, 30, 2.0422724563012378],
      [0.975, 34, 2.0322445093177186],
      [0.975, 1000, 1.962339080826408],
      [0.975, 100000, 1.9599877075346093],
      [0.95, 5, 2.0150483733330233],
      [0.995, 2, 9.92484320091829],
      [0.9995, 3, 12.923978636687965],
      [0.6, 7, 0.2631668613520228],
      [0.999999, 4, 41.5778541501515],
    ];
    for (const [p, df, t] of table) {
      expectSignificant(studentTQuantile(p, df), t, 12);
      expectSignificant(studentTQuantile(1 - p, df), -t, 9);
      expectSignificant(1 - studentTCdf(t, df), 1 - p, 11);
    }
    expect(studentTQuantile(0.5, 9)).toBe(0);
    // The issue's own reference values.
    expectSignificant(studentTQuantile(0.975, 1), 12.7062047362, 10);
    expectSignificant(studentTQuantile(0.975, 10), 2.228138852, 9);
    expectSignificant(studentTQuantile(0.975, 30), 2.0422724563, 10);
    expectSignificant(studentTQuantile(0.975, 1000), 1.9623390808, 10);
  });
  it('t with 1 df is Cauchy: P(T ≤ t) = ½ + atan(t)/π', () => {
    for (const t of [-50, -1, -0.2, 0, 0.3, 2, 700]) {
      expectSignificant(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 12);
    }
    expectSignificant(studentTTwoSidedP(1, 1), 0.5, 14);
  });
  it('refuses impossible arguments', () => {
    expect(() => studentTQuantile(0, 5)).toThrow(RangeError);
    expect(() => studentTQuantile(1, 5)).toThrow(RangeError);
    expect(() => studentTQuantile(0.9, 0)).toThrow(RangeError);
    expect(() => regularizedIncompleteBeta(1.2, 1, 1)).toThrow(RangeError);
  });
});

/** NIST StRD Norris: data and certified values read from the vendored file, not retyped. */
function readNorris() {
  const text = readFileSync(new URL('../../test/fixtures/nist/Norris.dat', import.meta.url), 'utf8');
  const lines = text.split('\n');
  const range = /Data\s+\(lines (\d+) to (\d+)\)/.exec(text);
  const num = (re: RegExp) => {
    const m = re.exec(text);
    if (!m?.[1]) {
      throw new Error(`Norris.dat lacks ${re}`);
    }
    return Number(m[1]);
  };
  const x: number[] = [];
  const y: number[] = [];
  for (const line of lines.slice(Number(range?.[1]) - 1, Number(range?.[2]))) {
    const [yv, xv] = line.trim().split(/\s+/).map(Number);
    y.push(yv!);
    x.push(xv!);
  }
  return {
    x,
    y,
    b0: num(/^\s+B0\s+(\S+)/m),
    b0Sd: num(/^\s+B0\s+\S+\s+(\S+)/m),
    b1: num(/^\s+B1\s+(\S+)/m),
    b1Sd: num(/^\s+B1\s+\S+\s+(\S+)/m),
    residualSd: num(/Standard Deviation\s+(\S+)\s*$/m),
    rSquared: num(/R-Squared\s+(\S+)/),
    residualSs: num(/^Residual\s+34\s+(\S+)/m),
  };
}

describe('OLS against NIST StRD Norris (certified values)', () => {
  const norris = readNorris();

  it('reads 36 observations and the certified values from the fixture', () => {
    expect(norris.x).toHaveLength(36);
    expect(norris.y).toHaveLength(36);
    expect(norris.x.every(Number.isFinite) && norris.y.every(Number.isFinite)).toBe(true);
    expect(norris.b1).toBe(1.00211681802045);
    expect(norris.b0).toBe(-0.262323073774029);
    expect(norris.residualSd).toBe(0.884796396144373);
    expect(norris.rSquared).toBe(0.999993745883712);
  });

  it('reproduces slope, intercept, s, R², standard errors and SSE to ≥ 12 significant digits', () => {
    const out = ols(norris.x, norris.y);
    expect(out.ok).toBe(true);
    if (!out.ok) {
      return;
    }
    const f = out.fit;
    expect(f.n).toBe(36);
    // NIST prints 15 significant digits; 12 leaves room for the last printed digit's rounding.
    expectSignificant(f.slope, norris.b1, 12);
    expectSignificant(f.intercept, norris.b0, 12);
    expectSignificant(f.residualSe, norris.residualSd, 12);
    expectSignificant(f.rSquared, norris.rSquared, 14);
    expectSignificant(1 - f.rSquared, 1 - norris.rSquared, 9);
    expectSignificant(f.slopeSe, norris.b1Sd, 12);
    expectSignificant(f.interceptSe, norris.b0Sd, 12);
    expectSignificant(f.sse, norris.residualSs, 12);
  });

  it('is invariant to the order of the observations', () => {
    const random = rng(5);
    const idx = shuffled(
      norris.x.map((_, i) => i),
      random
    );
    const a = ols(norris.x, norris.y);
    const b = ols(
      idx.map((i) => norris.x[i]!),
      idx.map((i) => norris.y[i]!)
    );
    expect(a.ok && b.ok).toBe(true);
    if (a.ok && b.ok) {
      expectSignificant(b.fit.slope, a.fit.slope, 13);
      expectSignificant(b.fit.residualSe, a.fit.residualSe, 12);
    }
  });

  it('prediction interval matches an independent 40-digit computation', () => {
    // Reference: exact rational OLS on Norris.dat (Python fractions) and t(0.975, 34) from mpmath at 40 digits;
    // the script is in test/fixtures/nist/README.md.
    const out = ols(norris.x, norris.y);
    if (!out.ok) {
      throw new Error('Norris fit failed');
    }
    const cases: [number, number, number, number][] = [
      [0, -0.26232307377402947, -2.1216535432760697, 1.5970073957280106],
      [500, 500.79608593645315, 498.97179405418365, 502.6203778187227],
      [1500, 1502.9129039569075, 1500.8600324639885, 1504.9657754498267],
    ];
    for (const [x0, yHat, lower, upper] of cases) {
      const pi = predictionInterval(out.fit, x0, 0.05);
      expectSignificant(pi.t, 2.032244509317719, 12);
      expectSignificant(pi.yHat, yHat, 11);
      expectSignificant(pi.lower, lower, 11);
      expectSignificant(pi.upper, upper, 11);
    }
  });

  it('the interval also agrees with the formula evaluated from the certified numbers alone', () => {
    // ŷ = B0 + B1·x₀ with NIST's B0, B1, s; x̄ and Sxx follow from the certified SDs: SD(B1) = s/√Sxx and
    // SD(B0) = s·√(1/n + x̄²/Sxx).
    const out = ols(norris.x, norris.y);
    if (!out.ok) {
      throw new Error('Norris fit failed');
    }
    const n = 36;
    const sxx = (norris.residualSd / norris.b1Sd) ** 2;
    const xBar = Math.sqrt(((norris.b0Sd / norris.residualSd) ** 2 - 1 / n) * sxx);
    const t = 2.032244509317719;
    for (const x0 of [-100, 250, 2000]) {
      const half = t * norris.residualSd * Math.sqrt(1 + 1 / n + (x0 - xBar) ** 2 / sxx);
      const pi = predictionInterval(out.fit, x0, 0.05);
      expectSignificant(pi.yHat, norris.b0 + norris.b1 * x0, 9);
      expectSignificant(pi.upper - pi.yHat, half, 9);
    }
  });
});

describe('OLS edge cases', () => {
  it('gates too few points, no x variation and all-equal y', () => {
    expect(ols([], [])).toEqual({ ok: false, reason: 'too-few-points' });
    expect(ols([1, 2], [3, 4])).toEqual({ ok: false, reason: 'too-few-points' });
    expect(ols([1, 1, 1], [3, 4, 5])).toEqual({ ok: false, reason: 'no-x-variation' });
    expect(ols([1, 2, 3], [4, 4, 4])).toEqual({ ok: false, reason: 'no-variation' });
    expect(() => ols([1, 2, 3], [1, 2])).toThrow(RangeError);
  });
  it('an exact line has R² 1 and s 0', () => {
    const out = ols([1, 2, 3, 4], [3, 5, 7, 9]);
    expect(out.ok && out.fit).toMatchObject({ slope: 2, intercept: 1, rSquared: 1, residualSe: 0 });
  });
});

describe('trajectory', () => {
  /** 56 days ending 2024-06-30 of y = 70 − 0.1·day + noise. */
  function declining(noise: number, seed = 6): DailyPoint[] {
    const random = rng(seed);
    return series(
      '2024-05-06',
      Array.from({ length: 56 }, (_, i) => 70 - 0.1 * i + noise * (random() - 0.5))
    );
  }

  it('fits per-day slope over the trailing window and projects 14 days with a widening 95 % interval', () => {
    const s = declining(1);
    expect(s.at(-1)?.day).toBe('2024-06-30');
    const out = trajectory(s, '2024-06-30', TREND);
    expect(out.ok).toBe(true);
    if (!out.ok) {
      return;
    }
    const tr = out.trajectory;
    expect(tr.windowStart).toBe('2024-05-06');
    expect(tr.fit.n).toBe(56);
    expect(tr.fit.slope).toBeCloseTo(-0.1, 1);
    expect(tr.projection).toHaveLength(14);
    expect(tr.projection[0]?.day).toBe('2024-07-01');
    expect(tr.projection[13]?.day).toBe('2024-07-14');
    expectSignificant(tr.t, studentTQuantile(0.975, 54), 14);
    let prev = 0;
    for (const p of tr.projection) {
      const pi = predictionInterval(tr.fit, dayIndex(p.day), 0.05);
      expect(p.yHat).toBeCloseTo(pi.yHat, 12);
      expect(p.lower).toBeCloseTo(pi.lower, 12);
      const width = p.upper - p.lower;
      expect(width).toBeGreaterThan(prev);
      prev = width;
      expect(p.yHat).toBeCloseTo(70 - 0.1 * (55 + p.horizon), 0);
    }
  });

  it('gates too few days in the window', () => {
    const s = declining(1).filter((_, i) => i % 3 === 0); // 19 days
    expect(trajectory(s, '2024-06-30', TREND)).toMatchObject({ ok: false, reason: 'too-few-days', n: 19 });
    expect(trajectory([], '2024-06-30', TREND)).toMatchObject({ ok: false, reason: 'too-few-days', n: 0 });
  });

  it('gates a last data point older than the staleness limit', () => {
    const s = declining(1);
    expect(trajectory(s, '2024-07-03', TREND).ok).toBe(true);
    expect(trajectory(s, '2024-07-04', TREND)).toMatchObject({ ok: false, reason: 'stale' });
  });

  it('gates a fit below the R² floor and a flat series', () => {
    const noisy = declining(40);
    const out = trajectory(noisy, '2024-06-30', TREND);
    expect(out).toMatchObject({ ok: false, reason: 'low-r-squared' });
    expect(!out.ok && out.rSquared !== undefined && out.rSquared < TREND.rSquaredFloor).toBe(true);
    const flat = series(
      '2024-05-06',
      Array.from({ length: 56 }, () => 12)
    );
    expect(trajectory(flat, '2024-06-30', TREND)).toMatchObject({ ok: false, reason: 'no-variation' });
    expect(trendGate({ n: 30, staleDays: 0, rSquared: 0.19 }, TREND)).toBe('low-r-squared');
    expect(trendGate({ n: 30, staleDays: 0, rSquared: 0.2 }, TREND)).toBeUndefined();
  });

  it('ignores days after the as-of day and before the window', () => {
    const s = declining(1);
    const out = trajectory(s, '2024-06-20', TREND);
    expect(out.ok && out.trajectory.fit.n).toBe(46);
    expect(out.ok && out.trajectory.lastDay).toBe('2024-06-20');
  });

  it('trajectories() gives, day by day, exactly what trajectory() gives', () => {
    const s = declining(3).filter((_, i) => i % 5 !== 2);
    const days = Array.from({ length: 70 }, (_, i) => dayFromIndex(dayIndex('2024-05-10') + i));
    const many = trajectories(s, days, TREND);
    expect(many).toEqual(days.map((d) => trajectory(s, d, TREND)));
    expect(many.some((o) => o.ok)).toBe(true);
    expect(many.some((o) => !o.ok && o.reason === 'stale')).toBe(true);
    expect(many.some((o) => !o.ok && o.reason === 'too-few-days')).toBe(true);
  });

  it('refuses a window outside the configured 28..90 days', () => {
    expect(() => trajectory(declining(1), '2024-06-30', { ...TREND, windowDays: 91 })).toThrow(RangeError);
    expect(() => trajectory(declining(1), '2024-06-30', { ...TREND, windowDays: 27 })).toThrow(RangeError);
  });
});

describe('Spearman', () => {
  it('with ties: SciPy documentation example spearmanr([1,2,3,4,5], [5,6,7,8,7])', () => {
    // SciPy docs: statistic 0.8207826816681233, pvalue 0.088587005313544 (t-approximation).
    // By hand: y ranks 1, 2, 3.5, 5, 3.5 → ρ = 8/√95.
    const out = spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]);
    expect(out.ok).toBe(true);
    if (!out.ok) {
      return;
    }
    expectSignificant(out.result.rho, 8 / Math.sqrt(95), 15);
    expectSignificant(out.result.rho, 0.8207826816681233, 15);
    expectSignificant(out.result.pValue, 0.088587005313544, 12);
    // The same p-value from the documented t form.
    const r = out.result.rho;
    expectSignificant(out.result.pValue, studentTTwoSidedP(r * Math.sqrt(3 / (1 - r * r)), 3), 12);
  });
  it('without ties equals 1 − 6Σd²/(n(n²−1)): the IQ / TV-hours example gives −29/165', () => {
    const iq = [106, 100, 86, 101, 99, 103, 97, 113, 112, 110];
    const tv = [7, 27, 2, 50, 28, 29, 20, 12, 6, 17];
    const out = spearman(iq, tv);
    expect(out.ok && out.result.rho).toBeCloseTo(-29 / 165, 14);
  });
  it('averages tied ranks', () => {
    expect(Array.from(averageRanks([10, 20, 20, 5, 20]))).toEqual([2, 4, 4, 1, 4]);
  });
  it('|ρ| = 1 has p = 0; constant input and n < 3 are gated', () => {
    expect(spearman([1, 2, 3, 4], [2, 4, 8, 16])).toEqual({ ok: true, result: { n: 4, rho: 1, pValue: 0 } });
    expect(spearman([1, 2, 3, 4], [9, 7, 5, 1])).toEqual({ ok: true, result: { n: 4, rho: -1, pValue: 0 } });
    expect(spearman([1, 2, 3], [5, 5, 5])).toEqual({ ok: false, reason: 'constant' });
    expect(spearman([1, 2], [3, 4])).toEqual({ ok: false, reason: 'too-few-pairs' });
  });
  it('is invariant under joint permutation and monotone transforms', () => {
    const random = rng(7);
    const x = Array.from({ length: 30 }, () => Math.round(random() * 10));
    const y = x.map((v) => v + Math.round(random() * 8));
    const base = spearman(x, y);
    const idx = shuffled(
      x.map((_, i) => i),
      random
    );
    const perm = spearman(
      idx.map((i) => x[i]!),
      idx.map((i) => y[i]!)
    );
    const mono = spearman(
      x.map((v) => Math.exp(v / 3)),
      y.map((v) => v ** 3 - 7)
    );
    expect(base.ok && perm.ok && mono.ok).toBe(true);
    if (base.ok && perm.ok && mono.ok) {
      expect(perm.result.rho).toBeCloseTo(base.result.rho, 14);
      expect(mono.result.rho).toBeCloseTo(base.result.rho, 14);
      expect(perm.result.pValue).toBeCloseTo(base.result.pValue, 14);
    }
  });
});

describe('Benjamini–Hochberg', () => {
  // Benjamini & Hochberg (1995, JRSS B 57:289–300) worked example: 15 p-values from Neuhaus et al.'s thrombolysis
  // trial; at q = 0.05 BH rejects the four smallest (Bonferroni only three). Adjusted values as printed in SciPy's
  // false_discovery_control documentation, which uses this example.
  const ps = [
    0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.324, 0.4262, 0.5719, 0.6528, 0.759, 1,
  ];
  const scipyAdjusted = [
    0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.06385714, 0.06385714, 0.0645, 0.0765, 0.486, 0.58118182, 0.714875,
    0.75323077, 0.81321429, 1,
  ];

  it('rejects four at q = 0.05, with the published adjusted p-values', () => {
    const bh = benjaminiHochberg(ps, 0.05);
    expect(bh.rejections).toBe(4);
    expect(bh.rejected).toEqual(ps.map((_, i) => i < 4));
    bh.qValues.forEach((q, i) => expect(q).toBeCloseTo(scipyAdjusted[i]!, 7));
  });
  it('rejects nine at q = 0.10 (the drivers default)', () => {
    expect(benjaminiHochberg(ps, DRIVERS.q).rejections).toBe(9);
  });
  it('keeps the input order and is invariant under permutation', () => {
    const random = rng(8);
    const idx = shuffled(
      ps.map((_, i) => i),
      random
    );
    const bh = benjaminiHochberg(
      idx.map((i) => ps[i]!),
      0.05
    );
    idx.forEach((orig, pos) => {
      expect(bh.rejected[pos]).toBe(orig < 4);
      expect(bh.qValues[pos]).toBeCloseTo(scipyAdjusted[orig]!, 7);
    });
  });
  it('step-up: a p-value above its own threshold is rejected when a larger one passes', () => {
    // thresholds at q = 0.1, m = 4: 0.025 0.05 0.075 0.1; p(1) = 0.03 fails alone, p(3) = 0.07 passes → k = 3
    const bh = benjaminiHochberg([0.03, 0.07, 0.9, 0.06], 0.1);
    expect(bh.rejections).toBe(3);
    expect(bh.rejected).toEqual([true, true, false, true]);
  });
  it('handles no tests and refuses p-values outside [0, 1]', () => {
    expect(benjaminiHochberg([], 0.1)).toEqual({ qValues: [], rejected: [], rejections: 0 });
    expect(() => benjaminiHochberg([0.5, 1.2], 0.1)).toThrow(RangeError);
    expect(() => benjaminiHochberg([0.5, Number.NaN], 0.1)).toThrow(RangeError);
  });
});

describe('association screen', () => {
  it('pairs metrics by day, tests every pair with enough data, and corrects over the pairs tested', () => {
    const random = rng(9);
    const n = 40;
    const base = Array.from({ length: n }, () => random());
    const hrv = series(
      '2024-02-01',
      base.map((v) => 50 + 30 * v + 2 * random())
    );
    const rhr = series(
      '2024-02-01',
      base.map((v) => 70 - 15 * v + 2 * random())
    );
    const unrelated = series(
      '2024-02-01',
      base.map(() => random())
    );
    const sparse = series('2024-02-01', [1, 2, 3, 4, 5]);
    const flat = series(
      '2024-02-01',
      base.map(() => 3)
    );
    const screen = screenAssociations(
      [
        { key: 'hrv', points: hrv },
        { key: 'rhr', points: rhr },
        { key: 'noise', points: unrelated },
        { key: 'sparse', points: sparse },
        { key: 'flat', points: flat },
      ],
      DRIVERS
    );
    expect(screen.tested.map((t) => `${t.a}-${t.b}`)).toEqual(['hrv-rhr', 'hrv-noise', 'rhr-noise']);
    expect(screen.skipped).toContainEqual({ a: 'hrv', b: 'sparse', reason: 'too-few-pairs' });
    expect(screen.skipped).toContainEqual({ a: 'hrv', b: 'flat', reason: 'constant' });
    const strong = screen.tested[0]!;
    expect(strong.rho).toBeLessThan(-0.8);
    expect(strong.survives).toBe(true);
    const bh = benjaminiHochberg(
      screen.tested.map((t) => t.pValue),
      DRIVERS.q
    );
    expect(screen.tested.map((t) => t.survives)).toEqual(bh.rejected);
    expect(screen.tested.map((t) => t.qValue)).toEqual(bh.qValues);
  });
  it('pairByDay keeps only the days both series have', () => {
    const a = series('2024-01-01', [1, 2, 3, 4], new Set([1]));
    const b = series('2024-01-02', [20, 30, 40]);
    expect(pairByDay(a, b)).toEqual({ days: ['2024-01-03', '2024-01-04'], x: [3, 4], y: [30, 40] });
  });
});
