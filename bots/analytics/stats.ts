/**
 * The numeric core of Baseline's analytics (issue 8 §2–§4): personal baseline band, OLS trajectory with a prediction
 * interval, Spearman associations screened by Benjamini–Hochberg, and the special functions they need.
 *
 * Pure and dependency-free on purpose: bots run in Medplum's vmcontext (no Node built-ins) and an owner-year of ~46
 * metrics must recompute in well under 100 ms, so there is no statistics library, no Date parsing in loops and no
 * per-element allocation in the rolling window. Every gate returns a reason code instead of a band or projection:
 * Baseline never fabricates a number it could not compute from enough data.
 */
import type { BandParams, DriverParams, TrendParams } from './params.ts';

// ---------------------------------------------------------------------------------------------------------------
// Days

/** One value per calendar day; a day without data is simply absent from the series. */
export interface DailyPoint {
  /** Calendar day, 'YYYY-MM-DD'. */
  readonly day: string;
  readonly value: number;
}

function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : NaN;
}

function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/**
 * Days since 1970-01-01 (the x axis of every regression). Parsed by character codes and converted with integer
 * arithmetic (H. Hinnant's days_from_civil) rather than a RegExp and Date: it is exact, and it runs once per point
 * per metric per call, which dominated the cost of a year's recompute.
 */
export function dayIndex(day: string): number {
  let y = digit(day, 0) * 1000 + digit(day, 1) * 100 + digit(day, 2) * 10 + digit(day, 3);
  const mo = digit(day, 5) * 10 + digit(day, 6);
  const d = digit(day, 8) * 10 + digit(day, 9);
  if (day.length !== 10 || day[4] !== '-' || day[7] !== '-' || Number.isNaN(y + mo + d)) {
    throw new RangeError(`not a YYYY-MM-DD day: ${day}`);
  }
  const monthDays = mo === 2 && isLeap(y) ? 29 : MONTH_DAYS[mo - 1];
  if (monthDays === undefined || d < 1 || d > monthDays) {
    throw new RangeError(`not a calendar day: ${day}`);
  }
  y -= mo <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Inverse of dayIndex (H. Hinnant's civil_from_days). */
export function dayFromIndex(index: number): string {
  if (!Number.isInteger(index)) {
    throw new RangeError(`not a day index: ${index}`);
  }
  const z = index + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const mo = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (mo <= 2 ? 1 : 0);
  return `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** Day indices of a series, checking the contract every function here relies on: strictly increasing days, finite values. */
export function seriesDayIndices(series: readonly DailyPoint[]): Int32Array {
  const out = new Int32Array(series.length);
  let prev = -Infinity;
  for (let i = 0; i < series.length; i++) {
    const p = series[i]!;
    if (!Number.isFinite(p.value)) {
      throw new RangeError(`non-finite value on ${p.day}: absent days are left out, not sent as NaN`);
    }
    const idx = dayIndex(p.day);
    if (idx <= prev) {
      throw new RangeError(`series not strictly increasing by day at ${p.day}`);
    }
    out[i] = idx;
    prev = idx;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Median and MAD

function checkFinite(values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new RangeError(`non-finite value at index ${i}`);
    }
  }
}

function sortedCopy(values: ArrayLike<number>): Float64Array {
  checkFinite(values);
  // Float64Array sorts numerically (Array#sort would compare strings).
  return Float64Array.from(values).sort();
}

function medianOfSorted(s: Float64Array, m: number): number {
  const mid = m >> 1;
  return (m & 1) === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** First index in s[0..m) whose value is ≥ v (s sorted ascending). */
function lowerBound(s: ArrayLike<number>, m: number, v: number): number {
  let lo = 0;
  let hi = m;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (s[mid]! < v) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/**
 * MAD of sorted s[0..m) around med without sorting the deviations: deviations grow outward from the median on both
 * sides, so merging the two runs reaches the middle one in O(m).
 */
function madOfSorted(s: Float64Array, m: number, med: number): number {
  let r = lowerBound(s, m, med);
  let l = r - 1;
  const target = m >> 1;
  let prev = 0;
  let cur = 0;
  for (let step = 0; step <= target; step++) {
    let d: number;
    if (l < 0) {
      d = s[r++]! - med;
    } else if (r >= m) {
      d = med - s[l--]!;
    } else {
      const dl = med - s[l]!;
      const dr = s[r]! - med;
      if (dl <= dr) {
        d = dl;
        l--;
      } else {
        d = dr;
        r++;
      }
    }
    prev = cur;
    cur = d;
  }
  return (m & 1) === 1 ? cur : (prev + cur) / 2;
}

/** Median (mean of the two middle values for even n); undefined for no data. */
export function median(values: ArrayLike<number>): number | undefined {
  if (values.length === 0) {
    return undefined;
  }
  const s = sortedCopy(values);
  return medianOfSorted(s, s.length);
}

/** Median absolute deviation from the median, times `scale` (1 = raw MAD; 1.4826 = σ-consistent); undefined for no data. */
export function mad(values: ArrayLike<number>, scale = 1): number | undefined {
  if (values.length === 0) {
    return undefined;
  }
  const s = sortedCopy(values);
  return scale * madOfSorted(s, s.length, medianOfSorted(s, s.length));
}

// ---------------------------------------------------------------------------------------------------------------
// Baseline band (§2)

export type BandStatus = 'within' | 'above' | 'below';

/**
 * Why a day has no band. 'no-variation': the MAD is 0 (at least half the window's values equal the median, e.g. a
 * metric that is mostly 0 or an integer score that rarely moves). A zero-width band would call every different value
 * abnormal, which is a fabricated finding, so we gate instead of returning a degenerate band.
 */
export type BandGateReason = 'insufficient-days' | 'no-variation';

export interface Band {
  readonly median: number;
  /** Raw MAD (unscaled), recorded so a reader can recompute lower/upper with the recorded k and scale. */
  readonly mad: number;
  readonly lower: number;
  readonly upper: number;
  /** Days with a value inside the window (not calendar days). */
  readonly validDays: number;
  /** First and last calendar day of the window (the window ends the day before the day judged). */
  readonly windowStart: string;
  readonly windowEnd: string;
}

export type BandOutcome =
  | { readonly ok: true; readonly band: Band }
  | { readonly ok: false; readonly reason: BandGateReason; readonly validDays: number };

export interface BandDay {
  readonly day: string;
  readonly value: number;
  readonly outcome: BandOutcome;
  /** 'no-band' when the outcome is gated. */
  readonly status: BandStatus | 'no-band';
}

/** The band gate on its own: a reason when no band may be shown, undefined when one may. */
export function bandGate(validDays: number, rawMad: number, params: BandParams): BandGateReason | undefined {
  if (validDays < params.minValidDays) {
    return 'insufficient-days';
  }
  if (!(rawMad > 0)) {
    return 'no-variation';
  }
  return undefined;
}

/** Within means lower ≤ value ≤ upper: a value exactly on the edge is not a deviation. */
export function classify(value: number, band: Pick<Band, 'lower' | 'upper'>): BandStatus {
  if (value > band.upper) {
    return 'above';
  }
  if (value < band.lower) {
    return 'below';
  }
  return 'within';
}

function bandFromSorted(
  s: Float64Array,
  m: number,
  params: BandParams,
  windowStart: string,
  windowEnd: string
): BandOutcome {
  if (m < params.minValidDays) {
    return { ok: false, reason: 'insufficient-days', validDays: m };
  }
  const med = medianOfSorted(s, m);
  const rawMad = madOfSorted(s, m, med);
  const reason = bandGate(m, rawMad, params);
  if (reason) {
    return { ok: false, reason, validDays: m };
  }
  const half = params.k * params.madScale * rawMad;
  return {
    ok: true,
    band: { median: med, mad: rawMad, lower: med - half, upper: med + half, validDays: m, windowStart, windowEnd },
  };
}

/**
 * The band a given day is judged against: the values of `series` in the `params.windowDays` calendar days ending the
 * day before `day`.
 */
export function bandFor(series: readonly DailyPoint[], day: string, params: BandParams): BandOutcome {
  const idx = seriesDayIndices(series);
  const end = dayIndex(day) - 1;
  const start = end - params.windowDays + 1;
  const values: number[] = [];
  for (let i = 0; i < series.length; i++) {
    if (idx[i]! >= start && idx[i]! <= end) {
      values.push(series[i]!.value);
    }
  }
  const s = sortedCopy(values);
  return bandFromSorted(s, s.length, params, dayFromIndex(start), dayFromIndex(end));
}

/**
 * bandFor for many days of one series: the day indices are computed once and each window is found by binary search,
 * so the weekly bands of a year cost O(weeks · (log n + w log w)) instead of O(weeks · n).
 * @returns one outcome per day, in the order given
 */
export function bandsFor(series: readonly DailyPoint[], days: readonly string[], params: BandParams): BandOutcome[] {
  const idx = seriesDayIndices(series);
  const first = (target: number): number => {
    let lo = 0;
    let hi = idx.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (idx[mid]! < target) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  };
  return days.map((day) => {
    const end = dayIndex(day) - 1;
    const start = end - params.windowDays + 1;
    const from = first(start);
    const to = first(end + 1);
    const values: number[] = [];
    for (let i = from; i < to; i++) {
      values.push(series[i]!.value);
    }
    const s = sortedCopy(values);
    return bandFromSorted(s, s.length, params, dayFromIndex(start), dayFromIndex(end));
  });
}

/**
 * Every day of the series with the band from its own trailing window and its classification. The window is kept as
 * a sorted buffer that values enter and leave as it slides, so a year costs O(n·w) with no sorting per day.
 */
export function rollingBands(series: readonly DailyPoint[], params: BandParams): BandDay[] {
  const idx = seriesDayIndices(series);
  const w = params.windowDays;
  // The day before enters before the day that left the window goes: a full window holds w values plus that one.
  const buf = new Float64Array(w + 1);
  let m = 0;
  let lo = 0;
  let hi = 0;
  const out: BandDay[] = new Array<BandDay>(series.length);
  for (let i = 0; i < series.length; i++) {
    const d = idx[i]!;
    // Window for day d is [d − w, d − 1]: everything before d enters, everything before d − w leaves.
    while (hi < i) {
      const v = series[hi]!.value;
      const pos = lowerBound(buf, m, v);
      buf.copyWithin(pos + 1, pos, m);
      buf[pos] = v;
      m++;
      hi++;
    }
    while (lo < hi && idx[lo]! < d - w) {
      const pos = lowerBound(buf, m, series[lo]!.value);
      buf.copyWithin(pos, pos + 1, m);
      m--;
      lo++;
    }
    const p = series[i]!;
    const outcome =
      m < params.minValidDays
        ? ({ ok: false, reason: 'insufficient-days', validDays: m } as const)
        : bandFromSorted(buf, m, params, dayFromIndex(d - w), dayFromIndex(d - 1));
    out[i] = { day: p.day, value: p.value, outcome, status: outcome.ok ? classify(p.value, outcome.band) : 'no-band' };
  }
  return out;
}

export interface BandTransition {
  /** The day whose status differs from the previous banded day. */
  readonly day: string;
  readonly previousDay: string;
  readonly from: BandStatus;
  readonly to: BandStatus;
}

/**
 * Changes of status between consecutive days that had a band. Days without a band neither start nor end a run: a gap
 * in the data is not evidence that a deviation ended.
 */
export function bandTransitions(days: readonly BandDay[]): BandTransition[] {
  const out: BandTransition[] = [];
  let prev: BandDay | undefined;
  for (const d of days) {
    if (d.status === 'no-band') {
      continue;
    }
    if (prev && prev.status !== 'no-band' && prev.status !== d.status) {
      out.push({ day: d.day, previousDay: prev.day, from: prev.status, to: d.status });
    }
    prev = d;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Special functions

const LANCZOS_G = 7;
// Lanczos coefficients for g = 7, n = 9 (Godfrey); relative error of Γ about 1e-15 for x ≥ 0.5.
const LANCZOS = [
  0.9999999999998099, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.984369578019572e-6, 1.5056327351493116e-7,
] as const;
const HALF_LN_2PI = 0.9189385332046728;

/** ln Γ(x) for x > 0. */
export function lnGamma(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) {
    throw new RangeError(`lnGamma needs x > 0, got ${x}`);
  }
  if (x < 0.5) {
    // Reflection keeps the Lanczos sum in its accurate range: Γ(x)Γ(1−x) = π / sin(πx).
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  }
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) {
    sum += LANCZOS[i]! / (z + i);
  }
  const t = z + LANCZOS_G + 0.5;
  return HALF_LN_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Stirling's series for lnΓ(z) − [(z − ½)ln z − z + ½ln 2π]; truncation error < 1e-20 for z ≥ 100. */
function stirlingCorrection(z: number): number {
  const z2 = z * z;
  return (1 / 12 - (1 / 360 - (1 / 1260 - 1 / (1680 * z2)) / z2) / z2) / z;
}

/**
 * ln B(a, b). With one large argument lnΓ(a) + lnΓ(b) − lnΓ(a + b) cancels two huge terms (lnΓ(5e4) ≈ 5e5), losing
 * about six digits; the difference lnΓ(L) − lnΓ(L + S) is then taken from Stirling's series in closed form instead.
 */
function lnBeta(a: number, b: number): number {
  const large = Math.max(a, b);
  const small = Math.min(a, b);
  if (large < 100) {
    return lnGamma(a) + lnGamma(b) - lnGamma(a + b);
  }
  const sum = large + small;
  const diff =
    -(large - 0.5) * Math.log1p(small / large) -
    small * Math.log(sum) +
    small +
    stirlingCorrection(large) -
    stirlingCorrection(sum);
  return lnGamma(small) + diff;
}

const CF_EPS = 1e-16;
const CF_TINY = 1e-300;
const CF_MAX_ITER = 10_000;

/** Continued fraction for I_x(a, b) (modified Lentz), converging fast for x < (a + 1)/(a + b + 2). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < CF_TINY) {
    d = CF_TINY;
  }
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= CF_MAX_ITER; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < CF_TINY) {
      d = CF_TINY;
    }
    c = 1 + aa / c;
    if (Math.abs(c) < CF_TINY) {
      c = CF_TINY;
    }
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < CF_TINY) {
      d = CF_TINY;
    }
    c = 1 + aa / c;
    if (Math.abs(c) < CF_TINY) {
      c = CF_TINY;
    }
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < CF_EPS) {
      return h;
    }
  }
  throw new Error(`incomplete beta continued fraction did not converge (x=${x}, a=${a}, b=${b})`);
}

/**
 * I_x(a, b) given both x and y = 1 − x: callers that know 1 − x more accurately than the subtraction would give
 * (t tails, 1 − ρ²) pass it, which keeps the small tail probabilities relatively accurate.
 */
function incompleteBetaXY(x: number, y: number, a: number, b: number): number {
  if (x <= 0) {
    return 0;
  }
  if (y <= 0) {
    return 1;
  }
  const lnFront = a * Math.log(x) + b * Math.log(y) - lnBeta(a, b);
  if (x < (a + 1) / (a + b + 2)) {
    return (Math.exp(lnFront) * betaContinuedFraction(x, a, b)) / a;
  }
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(y, b, a)) / b;
}

/** Regularized incomplete beta function I_x(a, b), 0 ≤ x ≤ 1, a, b > 0. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (!(x >= 0 && x <= 1) || !(a > 0) || !(b > 0)) {
    throw new RangeError(`incomplete beta needs 0 ≤ x ≤ 1 and a, b > 0 (x=${x}, a=${a}, b=${b})`);
  }
  return incompleteBetaXY(x, 1 - x, a, b);
}

function checkDf(df: number): void {
  if (!(df > 0) || !Number.isFinite(df)) {
    throw new RangeError(`degrees of freedom must be positive and finite, got ${df}`);
  }
}

/** P(T > t) for t ≥ 0 with T ~ Student t(df): ½·I_{df/(df+t²)}(df/2, ½). */
function studentUpperTail(t: number, df: number): number {
  const t2 = t * t;
  const denom = df + t2;
  return 0.5 * incompleteBetaXY(df / denom, t2 / denom, df / 2, 0.5);
}

/** Student t density. */
function studentPdf(t: number, df: number): number {
  const lnC = -0.5 * Math.log(df) - lnBeta(df / 2, 0.5);
  return Math.exp(lnC - ((df + 1) / 2) * Math.log1p((t * t) / df));
}

/** Student t distribution function P(T ≤ t). */
export function studentTCdf(t: number, df: number): number {
  checkDf(df);
  if (Number.isNaN(t)) {
    throw new RangeError('t is NaN');
  }
  return t >= 0 ? 1 - studentUpperTail(t, df) : studentUpperTail(-t, df);
}

/** Two-sided p-value P(|T| ≥ |t|). */
export function studentTTwoSidedP(t: number, df: number): number {
  checkDf(df);
  if (Number.isNaN(t)) {
    throw new RangeError('t is NaN');
  }
  return Math.min(1, 2 * studentUpperTail(Math.abs(t), df));
}

/**
 * The quantile t(p, df). Solves upper tail(t) = 1 − p (the tail itself, so no precision is lost to 1 − cdf) by
 * Newton's method on log tail, kept inside a bracket that bisection falls back to whenever a step would leave it.
 */
export function studentTQuantile(p: number, df: number): number {
  checkDf(df);
  if (!(p > 0 && p < 1)) {
    throw new RangeError(`quantile needs 0 < p < 1, got ${p}`);
  }
  if (p === 0.5) {
    return 0;
  }
  if (p < 0.5) {
    return -studentTQuantile(1 - p, df);
  }
  const target = 1 - p;
  const lnTarget = Math.log(target);
  let lo = 0;
  let hi = 1;
  while (studentUpperTail(hi, df) > target) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) {
      throw new RangeError(`quantile out of range (p=${p}, df=${df})`);
    }
  }
  let t = (lo + hi) / 2;
  for (let iter = 0; iter < 200; iter++) {
    const tail = studentUpperTail(t, df);
    if (tail > target) {
      lo = t;
    } else {
      hi = t;
    }
    // d(ln tail)/dt = −pdf/tail
    let next = t + ((Math.log(tail) - lnTarget) * tail) / studentPdf(t, df);
    if (!(next > lo && next < hi)) {
      next = (lo + hi) / 2;
    }
    if (Math.abs(next - t) <= 1e-15 * Math.abs(next) || hi - lo <= 1e-15 * hi) {
      return next;
    }
    t = next;
  }
  return t;
}

// A recompute asks for the same few (p, df) pairs thousands of times; the cache holds pure results only, so keeping
// it across bot runs changes nothing but speed.
const tCache = new Map<string, number>();

function cachedTQuantile(p: number, df: number): number {
  const key = `${p}|${df}`;
  let t = tCache.get(key);
  if (t === undefined) {
    t = studentTQuantile(p, df);
    if (tCache.size < 10_000) {
      tCache.set(key, t);
    }
  }
  return t;
}

// ---------------------------------------------------------------------------------------------------------------
// OLS and the prediction interval (§3)

export interface OlsFit {
  readonly n: number;
  readonly slope: number;
  readonly intercept: number;
  readonly rSquared: number;
  /** Residual standard error s = √(SSE / (n − 2)). */
  readonly residualSe: number;
  readonly slopeSe: number;
  readonly interceptSe: number;
  readonly xMean: number;
  readonly yMean: number;
  /** Σ(x − x̄)². */
  readonly sxx: number;
  /** Σ(y − ȳ)². */
  readonly syy: number;
  /** Σ residual². */
  readonly sse: number;
}

export type OlsGateReason = 'too-few-points' | 'no-x-variation' | 'no-variation';

export type OlsOutcome =
  { readonly ok: true; readonly fit: OlsFit } | { readonly ok: false; readonly reason: OlsGateReason };

/**
 * Ordinary least squares y = intercept + slope·x. Two passes over centred data (means first, then sums of centred
 * products, then residuals directly) instead of the textbook one-pass sums: the one-pass form loses most digits on
 * data like NIST's Norris set, the test this function must pass to ≥ 9 significant digits. n ≥ 3 so that s has
 * n − 2 ≥ 1 degrees of freedom; all-equal y gives 'no-variation' because R² is then 0/0.
 */
export function ols(xs: ArrayLike<number>, ys: ArrayLike<number>): OlsOutcome {
  const n = xs.length;
  if (ys.length !== n) {
    throw new RangeError(`x and y differ in length (${n} vs ${ys.length})`);
  }
  checkFinite(xs);
  checkFinite(ys);
  if (n < 3) {
    return { ok: false, reason: 'too-few-points' };
  }
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i]!;
    sy += ys[i]!;
  }
  const xMean = sx / n;
  const yMean = sy / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - xMean;
    const dy = ys[i]! - yMean;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (!(sxx > 0)) {
    return { ok: false, reason: 'no-x-variation' };
  }
  if (!(syy > 0)) {
    return { ok: false, reason: 'no-variation' };
  }
  const slope = sxy / sxx;
  const intercept = yMean - slope * xMean;
  let sse = 0;
  for (let i = 0; i < n; i++) {
    const r = ys[i]! - yMean - slope * (xs[i]! - xMean);
    sse += r * r;
  }
  const residualSe = Math.sqrt(sse / (n - 2));
  return {
    ok: true,
    fit: {
      n,
      slope,
      intercept,
      rSquared: 1 - sse / syy,
      residualSe,
      slopeSe: residualSe / Math.sqrt(sxx),
      interceptSe: residualSe * Math.sqrt(1 / n + (xMean * xMean) / sxx),
      xMean,
      yMean,
      sxx,
      syy,
      sse,
    },
  };
}

export interface PredictionInterval {
  readonly x0: number;
  readonly yHat: number;
  readonly lower: number;
  readonly upper: number;
  /** t(1 − α/2, n − 2). */
  readonly t: number;
  /** s·√(1 + 1/n + (x₀ − x̄)²/Sxx): the standard error of a new observation at x₀. */
  readonly se: number;
}

/** ŷ(x₀) ± t(1−α/2, n−2) · s · √(1 + 1/n + (x₀ − x̄)²/Sxx). */
export function predictionInterval(fit: OlsFit, x0: number, alpha: number, tValue?: number): PredictionInterval {
  if (!(alpha > 0 && alpha < 1)) {
    throw new RangeError(`alpha must be in (0, 1), got ${alpha}`);
  }
  const t = tValue ?? cachedTQuantile(1 - alpha / 2, fit.n - 2);
  const dx = x0 - fit.xMean;
  const se = fit.residualSe * Math.sqrt(1 + 1 / fit.n + (dx * dx) / fit.sxx);
  // ŷ from the centred form: the intercept sits ~20,000 days from the data when x counts days since 1970.
  const yHat = fit.yMean + fit.slope * dx;
  return { x0, yHat, lower: yHat - t * se, upper: yHat + t * se, t, se };
}

// ---------------------------------------------------------------------------------------------------------------
// Trajectory (§3)

export type TrendGateReason = 'too-few-days' | 'stale' | 'no-variation' | 'low-r-squared';

/** The trajectory gate on its own. Order matters only for which reason is reported when several apply. */
export function trendGate(
  input: { readonly n: number; readonly staleDays: number; readonly rSquared?: number | undefined },
  params: TrendParams
): TrendGateReason | undefined {
  if (input.n < params.minDays) {
    return 'too-few-days';
  }
  if (input.staleDays > params.maxStalenessDays) {
    return 'stale';
  }
  if (input.rSquared === undefined) {
    return 'no-variation';
  }
  if (input.rSquared < params.rSquaredFloor) {
    return 'low-r-squared';
  }
  return undefined;
}

export interface ProjectionPoint {
  readonly day: string;
  /** Days after the as-of day. */
  readonly horizon: number;
  readonly yHat: number;
  readonly lower: number;
  readonly upper: number;
}

export interface Trajectory {
  readonly asOf: string;
  readonly windowStart: string;
  readonly windowEnd: string;
  /** Regression x is days since 1970-01-01; slope is per day. */
  readonly fit: OlsFit;
  readonly lastDay: string;
  /** t(1 − α/2, n − 2) used for every projected day. */
  readonly t: number;
  readonly projection: readonly ProjectionPoint[];
}

export type TrajectoryOutcome =
  | { readonly ok: true; readonly trajectory: Trajectory }
  | {
      readonly ok: false;
      readonly reason: TrendGateReason;
      readonly n: number;
      readonly rSquared?: number;
    };

function checkTrendWindow(params: TrendParams): void {
  if (params.windowDays < params.minWindowDays || params.windowDays > params.maxWindowDays) {
    throw new RangeError(
      `trend window ${params.windowDays} days outside ${params.minWindowDays}..${params.maxWindowDays}`
    );
  }
}

function trajectoryIndexed(
  series: readonly DailyPoint[],
  idx: Int32Array,
  asOf: string,
  end: number,
  params: TrendParams
): TrajectoryOutcome {
  const start = end - params.windowDays + 1;
  const from = lowerBound(idx, idx.length, start);
  const to = lowerBound(idx, idx.length, end + 1);
  const n = to - from;
  const staleDays = n === 0 ? Infinity : end - idx[to - 1]!;
  // R² is not known yet: pass a value no floor rejects so only the data gates can fire before fitting.
  const early = trendGate({ n, staleDays, rSquared: 1 }, params);
  if (early) {
    return { ok: false, reason: early, n };
  }
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    xs[i] = idx[from + i]!;
    ys[i] = series[from + i]!.value;
  }
  const fitted = ols(xs, ys);
  if (!fitted.ok) {
    // n ≥ minDays ≥ 3 distinct days, so only all-equal values can fail here.
    return { ok: false, reason: 'no-variation', n };
  }
  const fit = fitted.fit;
  const reason = trendGate({ n, staleDays, rSquared: fit.rSquared }, params);
  if (reason) {
    return { ok: false, reason, n, rSquared: fit.rSquared };
  }
  const t = cachedTQuantile(1 - params.alpha / 2, n - 2);
  const projection: ProjectionPoint[] = [];
  for (let h = 1; h <= params.horizonDays; h++) {
    const pi = predictionInterval(fit, end + h, params.alpha, t);
    projection.push({ day: dayFromIndex(end + h), horizon: h, yHat: pi.yHat, lower: pi.lower, upper: pi.upper });
  }
  return {
    ok: true,
    trajectory: {
      asOf,
      windowStart: dayFromIndex(start),
      windowEnd: asOf,
      fit,
      lastDay: dayFromIndex(idx[to - 1]!),
      t,
      projection,
    },
  };
}

/**
 * OLS over the day-native series in the `params.windowDays` days ending on `asOf` (inclusive), projected
 * 1..horizonDays days past `asOf` with a prediction interval at level 1 − α.
 */
export function trajectory(series: readonly DailyPoint[], asOf: string, params: TrendParams): TrajectoryOutcome {
  checkTrendWindow(params);
  return trajectoryIndexed(series, seriesDayIndices(series), asOf, dayIndex(asOf), params);
}

/** trajectory() as of each of several days, parsing and checking the series once. */
export function trajectories(
  series: readonly DailyPoint[],
  asOfDays: readonly string[],
  params: TrendParams
): TrajectoryOutcome[] {
  checkTrendWindow(params);
  const idx = seriesDayIndices(series);
  return asOfDays.map((asOf) => trajectoryIndexed(series, idx, asOf, dayIndex(asOf), params));
}

// ---------------------------------------------------------------------------------------------------------------
// Spearman and Benjamini–Hochberg (§4)

/** Ranks 1..n with ties given the average of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  checkFinite(values);
  const n = values.length;
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    order[i] = i;
  }
  order.sort((a, b) => values[a]! - values[b]! || a - b);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && values[order[j]!] === values[order[i]!]) {
      j++;
    }
    // Positions i..j−1 (0-based) share ranks i+1..j, whose mean is (i + 1 + j) / 2.
    const r = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      ranks[order[k]!] = r;
    }
    i = j;
  }
  return ranks;
}

export interface Spearman {
  readonly n: number;
  readonly rho: number;
  /**
   * Two-sided p-value from the t-approximation t = ρ·√((n − 2)/(1 − ρ²)) on n − 2 degrees of freedom (as in SciPy's
   * spearmanr and R's cor.test(exact = FALSE)); it is approximate for small n, hence drivers.minPairedDays.
   * Computed as I_{1−ρ²}((n−2)/2, ½), the same quantity without forming t. |ρ| = 1 gives 0.
   */
  readonly pValue: number;
}

export type SpearmanOutcome =
  | { readonly ok: true; readonly result: Spearman }
  | { readonly ok: false; readonly reason: 'too-few-pairs' | 'constant' };

/** Spearman's ρ: Pearson's correlation of the average ranks (exact with ties, unlike 1 − 6Σd²/(n(n²−1))). */
export function spearman(xs: ArrayLike<number>, ys: ArrayLike<number>): SpearmanOutcome {
  const n = xs.length;
  if (ys.length !== n) {
    throw new RangeError(`x and y differ in length (${n} vs ${ys.length})`);
  }
  if (n < 3) {
    return { ok: false, reason: 'too-few-pairs' };
  }
  const rx = averageRanks(xs);
  const ry = averageRanks(ys);
  const mean = (n + 1) / 2;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = rx[i]! - mean;
    const dy = ry[i]! - mean;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (!(sxx > 0) || !(syy > 0)) {
    return { ok: false, reason: 'constant' };
  }
  const rho = Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
  const a = Math.abs(rho);
  const pValue = a === 1 ? 0 : incompleteBetaXY((1 - a) * (1 + a), a * a, (n - 2) / 2, 0.5);
  return { ok: true, result: { n, rho, pValue } };
}

export interface BenjaminiHochberg {
  /** Adjusted p-values (BH q-values) in input order: min over j ≥ rank of p₍ⱼ₎·m/j, capped at 1. */
  readonly qValues: readonly number[];
  /** Rejected (discovery survives) in input order. */
  readonly rejected: readonly boolean[];
  /** k = max{ i : p₍ᵢ₎ ≤ i·q/m }, 0 if none; the k smallest p-values are rejected. */
  readonly rejections: number;
}

/**
 * Benjamini–Hochberg step-up procedure at false discovery rate q. Rejection follows the step-up definition directly
 * (p₍ᵢ₎ ≤ i·q/m) rather than comparing rounded q-values with q, so it matches the published procedure exactly.
 */
export function benjaminiHochberg(pValues: readonly number[], q: number): BenjaminiHochberg {
  if (!(q > 0 && q < 1)) {
    throw new RangeError(`q must be in (0, 1), got ${q}`);
  }
  const m = pValues.length;
  for (let i = 0; i < m; i++) {
    const p = pValues[i]!;
    if (!(p >= 0 && p <= 1)) {
      throw new RangeError(`p-value at index ${i} not in [0, 1]: ${p}`);
    }
  }
  const order = new Array<number>(m);
  for (let i = 0; i < m; i++) {
    order[i] = i;
  }
  order.sort((a, b) => pValues[a]! - pValues[b]! || a - b);
  let k = 0;
  for (let i = m; i >= 1; i--) {
    if (pValues[order[i - 1]!]! <= (i * q) / m) {
      k = i;
      break;
    }
  }
  const qValues = new Array<number>(m);
  const rejected = new Array<boolean>(m);
  let running = 1;
  for (let i = m; i >= 1; i--) {
    const j = order[i - 1]!;
    running = Math.min(running, (pValues[j]! * m) / i);
    qValues[j] = running;
    rejected[j] = i <= k;
  }
  return { qValues, rejected, rejections: k };
}

/** The values of two series on the days both have one, in day order. */
export function pairByDay(
  a: readonly DailyPoint[],
  b: readonly DailyPoint[]
): { days: string[]; x: number[]; y: number[] } {
  const days: string[] = [];
  const x: number[] = [];
  const y: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const pa = a[i]!;
    const pb = b[j]!;
    // 'YYYY-MM-DD' strings order like the days they name.
    if (pa.day < pb.day) {
      i++;
    } else if (pa.day > pb.day) {
      j++;
    } else {
      days.push(pa.day);
      x.push(pa.value);
      y.push(pb.value);
      i++;
      j++;
    }
  }
  return { days, x, y };
}

export interface MetricSeries {
  readonly key: string;
  /** Already restricted to the window being narrated, sorted by day. */
  readonly points: readonly DailyPoint[];
}

export interface Association {
  readonly a: string;
  readonly b: string;
  readonly n: number;
  readonly rho: number;
  readonly pValue: number;
  readonly qValue: number;
  /** Survives Benjamini–Hochberg at drivers.q over all pairs tested. */
  readonly survives: boolean;
}

export interface AssociationScreen {
  /** Every pair that was tested, in input pair order; `survives` marks the ones the narrative may read. */
  readonly tested: readonly Association[];
  /** Pairs not tested, with why; they do not count towards the BH family size m. */
  readonly skipped: readonly {
    readonly a: string;
    readonly b: string;
    readonly reason: 'too-few-pairs' | 'constant';
  }[];
}

/**
 * Spearman ρ for every pair of metrics over the days both have, then Benjamini–Hochberg over all pairs tested. The
 * family is every pair with enough paired days and variation in both metrics; pairs skipped for lack of data were
 * never tests, so they do not dilute the correction.
 */
export function screenAssociations(metrics: readonly MetricSeries[], params: DriverParams): AssociationScreen {
  for (const metric of metrics) {
    seriesDayIndices(metric.points);
  }
  const pending: { a: string; b: string; n: number; rho: number; pValue: number }[] = [];
  const skipped: { a: string; b: string; reason: 'too-few-pairs' | 'constant' }[] = [];
  for (let i = 0; i < metrics.length; i++) {
    for (let j = i + 1; j < metrics.length; j++) {
      const ma = metrics[i]!;
      const mb = metrics[j]!;
      const paired = pairByDay(ma.points, mb.points);
      if (paired.x.length < params.minPairedDays) {
        skipped.push({ a: ma.key, b: mb.key, reason: 'too-few-pairs' });
        continue;
      }
      const s = spearman(paired.x, paired.y);
      if (!s.ok) {
        skipped.push({ a: ma.key, b: mb.key, reason: s.reason });
        continue;
      }
      pending.push({ a: ma.key, b: mb.key, ...s.result });
    }
  }
  const bh = benjaminiHochberg(
    pending.map((p) => p.pValue),
    params.q
  );
  const tested = pending.map((p, i) => ({ ...p, qValue: bh.qValues[i]!, survives: bh.rejected[i]! }));
  return { tested, skipped };
}
