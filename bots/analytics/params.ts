/**
 * Every tunable number the analytics use, in one frozen object (issue 8 §2–§4). Derived Observations record the
 * parameters they were computed with (method + components), so a reader can recompute them; changing a value here
 * is a method change and must bump ANALYTICS_PARAMS.version.
 */

export interface BandParams {
  /** Calendar days in the rolling reference window, ending the day before the day being judged. */
  readonly windowDays: number;
  /** Valid (present, finite) days the window must hold before a band exists at all. */
  readonly minValidDays: number;
  /** Half-width of the band in scaled MADs. */
  readonly k: number;
  /** Factor that makes the MAD a consistent estimator of σ for normal data (1 / Φ⁻¹(0.75)). */
  readonly madScale: number;
}

export interface TrendParams {
  /** Calendar days in the trailing OLS window, ending on the as-of day (inclusive). */
  readonly windowDays: number;
  /** Smallest window a caller may configure. */
  readonly minWindowDays: number;
  /** Largest window a caller may configure. */
  readonly maxWindowDays: number;
  /** Valid days the window must hold before a line is fitted. */
  readonly minDays: number;
  /** Fits explaining less of the variance than this are not projected. */
  readonly rSquaredFloor: number;
  /** A last data point more than this many days before the as-of day gates the projection. */
  readonly maxStalenessDays: number;
  /** Projection horizon in days after the as-of day. */
  readonly horizonDays: number;
  /** Two-sided miscoverage of the prediction interval (0.05 → 95 % PI). */
  readonly alpha: number;
}

export interface DriverParams {
  /** Days on which both metrics of a pair have a value, needed before the pair is tested. */
  readonly minPairedDays: number;
  /** Benjamini–Hochberg false discovery rate over all pairs tested in one window. */
  readonly q: number;
}

export interface AnalyticsParams {
  /** Bumped whenever any value below changes, and recorded with every derived Observation. */
  readonly version: number;
  readonly band: BandParams;
  readonly trend: TrendParams;
  readonly drivers: DriverParams;
}

export const ANALYTICS_PARAMS: AnalyticsParams = Object.freeze({
  version: 1,
  band: Object.freeze({
    // Four weeks covers every weekday four times, so weekly rhythms (training days, weekends) do not tilt the median.
    windowDays: 28,
    // Half the window: below that, one unusual week would be half the evidence and the band would chase it.
    minValidDays: 14,
    // ±2σ-equivalent: about 95 % of ordinary days fall inside for roughly normal data, so "outside" is notable.
    k: 2,
    // 1/Φ⁻¹(3/4) = 1.4826…: the issue fixes this constant so MAD·scale estimates σ under normality.
    madScale: 1.4826,
  }),
  trend: Object.freeze({
    // Eight weeks: long enough that day-to-day noise averages out, short enough to describe the current direction.
    windowDays: 56,
    // Below four weeks a slope mostly measures weekly rhythm, not direction.
    minWindowDays: 28,
    // Past about three months a straight line stops being a sensible local model for physiological series.
    maxWindowDays: 90,
    // Three weeks of actual data inside the window; fewer points make the slope and its interval unstable.
    minDays: 21,
    // Below this the line explains under a fifth of the daily variance and a projection would extrapolate noise.
    rSquaredFloor: 0.2,
    // A projection must start from current data: after three silent days (device off, sync broken) we stop.
    maxStalenessDays: 3,
    // Two weeks ahead: the interval widens with distance, and beyond this it says nothing useful.
    horizonDays: 14,
    // 95 % prediction interval, the conventional level a clinician reads without a footnote.
    alpha: 0.05,
  }),
  drivers: Object.freeze({
    // Two weeks of paired days: the t-approximation to Spearman's p-value is poor for small n.
    minPairedDays: 14,
    // An exploratory narrative tolerates one false association in ten, not one in twenty.
    q: 0.1,
  }),
});

/** Throws a RangeError naming the first inconsistent parameter; callers that accept overrides check them here. */
export function checkParams(params: AnalyticsParams): void {
  const { band, trend, drivers } = params;
  const fail = (name: string, value: number): never => {
    throw new RangeError(`analytics parameter ${name} out of range: ${value}`);
  };
  const isInt = (v: number) => Number.isInteger(v) && v > 0;
  if (!isInt(band.windowDays)) {
    fail('band.windowDays', band.windowDays);
  }
  if (!isInt(band.minValidDays) || band.minValidDays > band.windowDays) {
    fail('band.minValidDays', band.minValidDays);
  }
  if (!(band.k > 0 && Number.isFinite(band.k))) {
    fail('band.k', band.k);
  }
  if (!(band.madScale > 0 && Number.isFinite(band.madScale))) {
    fail('band.madScale', band.madScale);
  }
  if (!isInt(trend.minWindowDays) || !isInt(trend.maxWindowDays) || trend.minWindowDays > trend.maxWindowDays) {
    fail('trend.minWindowDays', trend.minWindowDays);
  }
  if (!isInt(trend.windowDays) || trend.windowDays < trend.minWindowDays || trend.windowDays > trend.maxWindowDays) {
    fail('trend.windowDays', trend.windowDays);
  }
  // OLS with a residual standard error needs n − 2 ≥ 1.
  if (!isInt(trend.minDays) || trend.minDays < 3 || trend.minDays > trend.windowDays) {
    fail('trend.minDays', trend.minDays);
  }
  if (!(trend.rSquaredFloor >= 0 && trend.rSquaredFloor < 1)) {
    fail('trend.rSquaredFloor', trend.rSquaredFloor);
  }
  if (!(Number.isInteger(trend.maxStalenessDays) && trend.maxStalenessDays >= 0)) {
    fail('trend.maxStalenessDays', trend.maxStalenessDays);
  }
  if (!isInt(trend.horizonDays)) {
    fail('trend.horizonDays', trend.horizonDays);
  }
  if (!(trend.alpha > 0 && trend.alpha < 1)) {
    fail('trend.alpha', trend.alpha);
  }
  // Spearman's t-approximation needs n − 2 ≥ 1.
  if (!isInt(drivers.minPairedDays) || drivers.minPairedDays < 3) {
    fail('drivers.minPairedDays', drivers.minPairedDays);
  }
  if (!(drivers.q > 0 && drivers.q < 1)) {
    fail('drivers.q', drivers.q);
  }
}
