/**
 * The Trends view's data, without React or I/O (issue 8 §8): which searches it makes, how the derived Observations the
 * analytics bot wrote read back, which weekly band applies to which day, the projection fan, and the chart rows.
 *
 * What the server holds and this reads (bots/analytics/derive.ts is the writer):
 * - a `personal-baseline` band per metric per Sunday window end (`…/week-ending-YYYY-MM-DD`) plus `…/latest`; the band
 *   of the 28 days ending on Sunday S is exactly the band day S+1 is judged against, and the chart holds it as a step
 *   for S+1..S+7 (the latest band, ending on the newest data day L, from L+1). Status `final` only: `cancelled` means
 *   superseded.
 * - one `trend` and one `projection` per metric (`…/current`); the projection stores only its horizon end, so the fan
 *   is recomputed here from the same daily series with the same pure functions (daily.ts, stats.ts) and drawn only
 *   when it reproduces the stored end; otherwise a straight line to the stored interval, labelled as approximate.
 *
 * derive.ts itself is not imported: it pulls the bots' quota pacer (node:timers) through write-changed.ts, which
 * does not belong in a browser bundle. The identifier system is rebuilt from the same base, and a unit test checks
 * it equals derive.ts's.
 */
import type { Observation } from '@medplum/fhirtypes';
import { DERIVED_COMPONENTS } from '../../../bots/shared/catalogue.ts';
import type { Metric } from '../../../bots/shared/catalogue.ts';
import { CODE_SYSTEM, DERIVED_PROFILE, IDENTIFIER_BASE } from '../../../bots/shared/systems.ts';
import type { DailyValue } from '../../../bots/analytics/daily.ts';
import { ANALYTICS_PARAMS } from '../../../bots/analytics/params.ts';
import type { AnalyticsParams } from '../../../bots/analytics/params.ts';
import { classify, dayFromIndex, dayIndex, trajectory } from '../../../bots/analytics/stats.ts';
import type { BandStatus, DailyPoint } from '../../../bots/analytics/stats.ts';
import { buildSeriesQuery } from '../pages/data/observations.ts';

export const DERIVED_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/derived';

/** Ranges offered, in days. */
export const TREND_RANGES = [30, 90, 365] as const;
export type TrendRange = (typeof TREND_RANGES)[number];
export const DEFAULT_TREND_RANGE: TrendRange = 90;

/** A band holds for the week after its window end; past that, a gated week has no band rather than a stale one. */
const BAND_HOLDS_DAYS = 7;

/**
 * The catalogue metrics with a daily series of their own, hence with bands and projections: a panel's members are
 * series without a catalogue code of their own (derive.ts writes nothing for them).
 * @param metric - a catalogue metric.
 * @returns Whether the Trends view can chart it.
 */
export function isTrendable(metric: Metric): boolean {
  return metric.components === undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Days

/** @returns the local calendar day of `now` in the browser's zone, which is the owner's when they look at it */
export function localToday(now: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export function addDays(day: string, days: number): string {
  return dayFromIndex(dayIndex(day) + days);
}

/** @returns the instant at noon UTC of a day: formatted in UTC it is that day whatever the reader's zone */
export function dayNoonUtc(day: string): number {
  return dayIndex(day) * 86_400_000 + 43_200_000;
}

/**
 * Axis ticks for a run of days: at most `maxTicks`, a whole number of days apart, ending on the last day (the one a
 * reader looks for).
 * @param first - first day index.
 * @param last - last day index.
 * @param maxTicks - the most ticks that fit.
 * @returns Day indices, ascending.
 */
export function dayAxisTicks(first: number, last: number, maxTicks: number): number[] {
  const span = Math.max(0, last - first);
  const step = Math.max(1, Math.ceil(span / Math.max(1, maxTicks - 1)));
  const ticks: number[] = [];
  for (let x = last; x >= first && ticks.length < maxTicks; x -= step) {
    ticks.unshift(x);
  }
  return ticks;
}

// ---------------------------------------------------------------------------------------------------------------
// Searches

export interface TrendWindow {
  /** First day charted. */
  readonly start: string;
  /** Last day charted before any projection (today, or the newest data day if that is later). */
  readonly end: string;
  /** Wearable Observations are read from here: the range, or the trend window if that reaches further back. */
  readonly dataFrom: string;
  /** Derived Observations are read from here: the window ending on the Sunday before the range starts. */
  readonly derivedFrom: string;
}

/**
 * @param today - the owner's local day.
 * @param days - the range length.
 * @param params - analytics parameters (the trend window decides how far back the fan needs data).
 * @returns The charted days and how far back each search reaches.
 */
export function trendWindow(today: string, days: number, params: AnalyticsParams = ANALYTICS_PARAMS): TrendWindow {
  const start = addDays(today, -(days - 1));
  // A day more on each side: an Observation is dated by its start, a night that ends on `start` began the day before.
  const trendStart = addDays(today, -params.trend.windowDays);
  const dataFrom = addDays(start < trendStart ? start : trendStart, -1);
  // The band that applies to `start` is the one of the window ending up to 7 days before it; its period starts
  // windowDays − 1 earlier, and a trend's period starts windowDays − 1 before today.
  const bandFrom = addDays(start, -(BAND_HOLDS_DAYS + params.band.windowDays));
  const derivedFrom = bandFrom < trendStart ? bandFrom : addDays(trendStart, -1);
  return { start, end: today, dataFrom, derivedFrom };
}

/** The Observation elements dailySeries reads (identifier: versions and the source; meta and id come anyway). */
export const WEARABLE_ELEMENTS = ['status', 'code', 'effective', 'value', 'component', 'device', 'identifier'] as const;
/** The derived Observation elements this view reads: not derivedFrom (up to 60 references each). */
export const DERIVED_ELEMENTS = ['status', 'code', 'identifier', 'effective', 'value', 'component', 'method'] as const;

/**
 * @param patientId - the owner.
 * @param metric - the charted metric.
 * @param from - first day to read (see trendWindow).
 * @param now - the current time.
 * @returns Search parameters for the metric's wearable Observations from `from` on, oldest first: the Data page's
 *   query (its codes, statuses and profile), with the elements dailySeries needs.
 */
export function buildWearableQuery(patientId: string, metric: Metric, from: string, now: Date): URLSearchParams {
  const params = buildSeriesQuery(patientId, metric, 1, now);
  params.set('date', `ge${from}`);
  params.set('_elements', WEARABLE_ELEMENTS.join(','));
  return params;
}

/**
 * One search for every derived Observation of one metric the view draws: its weekly bands from `from` on, the latest
 * band, the trend and the projection (a derived Observation names its metric in a component coded with the metric's
 * code). Medplum indexes a Period by its start, which for a band is its window start.
 * @param patientId - the owner.
 * @param metric - the charted metric.
 * @param from - the earliest window start wanted (see trendWindow).
 * @returns Search parameters.
 */
export function buildDerivedQuery(patientId: string, metric: Metric, from: string): URLSearchParams {
  return new URLSearchParams({
    'component-code': `${metric.code.system}|${metric.code.code}`,
    subject: `Patient/${patientId}`,
    _profile: DERIVED_PROFILE,
    code: ['personal-baseline', 'trend', 'projection'].map((k) => `${CODE_SYSTEM}|${k}`).join(','),
    status: 'final',
    date: `ge${from}`,
    // ≤ 53 weekly bands a year, the latest band, a trend and a projection.
    _count: '200',
    _elements: DERIVED_ELEMENTS.join(','),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Derived Observations, read back

export type DerivedKind = 'personal-baseline' | 'trend' | 'projection';

export interface DerivedRecord {
  readonly id: string | undefined;
  readonly kind: DerivedKind;
  /** The metric key named in the identifier (`<patient>/<metric>/<kind>/<slot>`). */
  readonly metricKey: string;
  /** `week-ending-YYYY-MM-DD`, `latest` or `current`. */
  readonly slot: string;
  readonly status: Observation['status'];
  readonly lastUpdated: string | undefined;
  /** effectivePeriod: a band's window, a trend's window, a projection's first and last projected day. */
  readonly start: string;
  readonly end: string;
  /** The metric-coded component: a band's median, a trend's level on its last day, a projection's end value. */
  readonly value: number | undefined;
  /** Components by Baseline code (band-lower, slope, r-squared, prediction-upper, sample-count, …). */
  readonly components: Readonly<Record<string, number>>;
  readonly methodText: string | undefined;
}

const KINDS: readonly DerivedKind[] = ['personal-baseline', 'trend', 'projection'];
const COMPONENT_CODES = new Set(DERIVED_COMPONENTS.map((c) => c.code));
const DAY = /^(\d{4}-\d{2}-\d{2})/;

/**
 * @param obs - a derived Observation as returned by buildDerivedQuery.
 * @param metric - the metric it should describe.
 * @returns Its numbers, or undefined when it is not a band, trend or projection of this metric.
 */
export function readDerived(obs: Observation, metric: Metric): DerivedRecord | undefined {
  const key = obs.identifier?.find((i) => i.system === DERIVED_IDENTIFIER_SYSTEM)?.value;
  const [, metricKey, kindText, slot] = key?.split('/') ?? [];
  const kind = KINDS.find((k) => k === kindText);
  const codeKind = obs.code?.coding?.find((c) => c.system === CODE_SYSTEM)?.code;
  const start = DAY.exec(obs.effectivePeriod?.start ?? '')?.[1];
  const end = DAY.exec(obs.effectivePeriod?.end ?? '')?.[1];
  if (!kind || codeKind !== kind || metricKey !== metric.key || !slot || !start || !end) {
    return undefined;
  }
  const components: Record<string, number> = {};
  let value: number | undefined;
  for (const c of obs.component ?? []) {
    const number = c.valueQuantity?.value ?? c.valueInteger;
    if (number === undefined || !Number.isFinite(number)) {
      continue;
    }
    for (const coding of c.code.coding ?? []) {
      if (coding.system === metric.code.system && coding.code === metric.code.code) {
        value = number;
      } else if (coding.system === CODE_SYSTEM && coding.code && COMPONENT_CODES.has(coding.code)) {
        components[coding.code] = number;
      }
    }
  }
  return {
    id: obs.id,
    kind,
    metricKey,
    slot,
    status: obs.status,
    lastUpdated: obs.meta?.lastUpdated,
    start,
    end,
    value,
    components,
    methodText: obs.method?.text,
  };
}

/**
 * What the polling after an annotation watches: any derived Observation written, superseded or new changes it.
 * @param observations - the derived search's result.
 * @returns A string that changes when any of them does.
 */
export function derivedSignature(observations: readonly Observation[]): string {
  return observations
    .map((o) => `${o.id ?? ''}@${o.meta?.versionId ?? ''}@${o.meta?.lastUpdated ?? ''}@${o.status}`)
    .sort()
    .join('|');
}

// ---------------------------------------------------------------------------------------------------------------
// Bands as steps

export interface BandStep {
  /** The window's last day; the band applies from the day after. */
  readonly windowEnd: string;
  /** First and last day the chart holds this band for. */
  readonly from: string;
  readonly to: string;
  readonly median: number | undefined;
  readonly lower: number;
  readonly upper: number;
  readonly sampleCount: number | undefined;
  readonly slot: string;
}

/**
 * Stored bands → the days each applies to: from the day after its window end for a week, cut short where the next
 * stored band takes over. The weekly band is exact for the Monday and held for the rest of the week (derive.ts
 * stores one per week, not one per day); the latest band, whose window ends on the newest data day, takes over from
 * the day after.
 * @param bands - standing `personal-baseline` records of one metric (any order).
 * @returns Steps ordered by day, not overlapping.
 */
export function bandSteps(bands: readonly DerivedRecord[]): BandStep[] {
  const byEnd = new Map<string, DerivedRecord>();
  for (const b of bands) {
    const lower = b.components['band-lower'];
    const upper = b.components['band-upper'];
    if (b.kind !== 'personal-baseline' || b.status !== 'final' || lower === undefined || upper === undefined) {
      continue;
    }
    // A `latest` band that ends on a Sunday is the same window as that week's: keep the weekly one's slot.
    const held = byEnd.get(b.end);
    if (!held || held.slot === 'latest') {
      byEnd.set(b.end, b);
    }
  }
  const ends = [...byEnd.keys()].sort();
  return ends.map((end, i) => {
    const b = byEnd.get(end)!;
    const next = ends[i + 1];
    const holdsTo = addDays(end, BAND_HOLDS_DAYS);
    const to = next !== undefined && next < holdsTo ? next : holdsTo;
    return {
      windowEnd: end,
      from: addDays(end, 1),
      to,
      median: b.value,
      lower: b.components['band-lower']!,
      upper: b.components['band-upper']!,
      sampleCount: b.components['sample-count'],
      slot: b.slot,
    };
  });
}

/**
 * @param steps - from bandSteps.
 * @param day - a day.
 * @returns The band the chart holds for that day, if any.
 */
export function stepForDay(steps: readonly BandStep[], day: string): BandStep | undefined {
  // Few steps (≤ 55): a linear scan keeps this obviously right.
  return steps.find((s) => s.from <= day && day <= s.to);
}

// ---------------------------------------------------------------------------------------------------------------
// Projection fan

export interface FanPoint {
  readonly day: string;
  readonly yHat: number;
  readonly lower: number;
  readonly upper: number;
}

export interface Fan {
  readonly points: readonly FanPoint[];
  /** 'exact': recomputed from the daily series and equal to the stored end; 'approximate': straight lines. */
  readonly kind: 'exact' | 'approximate';
  /** The prediction interval's level in percent (95 for alpha = 0.05). */
  readonly level: number;
  readonly asOf: string;
  readonly end: string;
  readonly rSquared: number | undefined;
}

/** @returns the level of the interval a projection records in its method text (`alpha=0.05` → 95) */
export function intervalLevel(methodText: string | undefined, params: AnalyticsParams = ANALYTICS_PARAMS): number {
  const alpha = Number(/alpha=([0-9.]+)/.exec(methodText ?? '')?.[1] ?? params.trend.alpha);
  return Math.round((1 - (alpha > 0 && alpha < 1 ? alpha : params.trend.alpha)) * 100);
}

/** Stored values carry 6 significant digits (derive.ts); equal to that precision is equal. */
function sameStored(stored: number | undefined, computed: number): boolean {
  return stored !== undefined && Math.abs(stored - computed) <= 1e-5 * Math.max(1, Math.abs(computed));
}

/**
 * The projection fan, day by day. Recomputed with stats.ts `trajectory` over each candidate series (the daily
 * values without annotated days first, as the bot reads them, then all of them), and used only if it reproduces the
 * stored horizon end; else straight lines from the trend's level on the as-of day to the stored end interval, which
 * the view labels as approximate. No stored projection: no fan (a gated projection is never drawn).
 * @param projection - the standing projection record, if any.
 * @param trend - the standing trend record, if any.
 * @param candidates - daily series to try, in order.
 * @param params - analytics parameters.
 * @returns The fan, or undefined.
 */
export function projectionFan(
  projection: DerivedRecord | undefined,
  trend: DerivedRecord | undefined,
  candidates: readonly (readonly DailyPoint[])[],
  params: AnalyticsParams = ANALYTICS_PARAMS
): Fan | undefined {
  if (!projection || projection.status !== 'final' || projection.value === undefined) {
    return undefined;
  }
  const asOf = addDays(projection.start, -1);
  const level = intervalLevel(projection.methodText, params);
  const alpha = 1 - level / 100;
  const lower = projection.components['prediction-lower'];
  const upper = projection.components['prediction-upper'];
  const rSquared = projection.components['r-squared'];
  const base = { level, asOf, end: projection.end, rSquared };
  for (const series of candidates) {
    const outcome = trajectory(series, asOf, { ...params.trend, alpha });
    if (!outcome.ok) {
      continue;
    }
    const last = outcome.trajectory.projection[outcome.trajectory.projection.length - 1];
    if (
      last &&
      last.day === projection.end &&
      sameStored(projection.value, last.yHat) &&
      sameStored(lower, last.lower) &&
      sameStored(upper, last.upper)
    ) {
      return {
        ...base,
        kind: 'exact',
        points: outcome.trajectory.projection.map((p) => ({
          day: p.day,
          yHat: p.yHat,
          lower: p.lower,
          upper: p.upper,
        })),
      };
    }
  }
  if (lower === undefined || upper === undefined) {
    return undefined;
  }
  const start = trend?.status === 'final' && trend.end === asOf ? trend.value : undefined;
  const from = start ?? projection.value;
  const span = dayIndex(projection.end) - dayIndex(asOf);
  const points: FanPoint[] = [];
  for (let h = 1; h <= span; h++) {
    const f = h / span;
    points.push({
      day: addDays(asOf, h),
      yHat: from + (projection.value - from) * f,
      lower: from + (lower - from) * f,
      upper: from + (upper - from) * f,
    });
  }
  return { ...base, kind: 'approximate', points };
}

// ---------------------------------------------------------------------------------------------------------------
// Chart rows

export type DayStatus = BandStatus | 'no-band' | 'annotated';

export interface TrendAnnotation {
  readonly id?: string;
  readonly kind: string;
  readonly label: string;
  readonly start: string;
  readonly end: string;
}

export interface TrendRow {
  /** Day index (days since 1970-01-01): the chart's x. */
  readonly x: number;
  readonly day: string;
  readonly value: number | null;
  readonly source: string | null;
  readonly status: DayStatus | null;
  /** [lower, upper] of the band held for the day. */
  readonly band: readonly [number, number] | null;
  readonly median: number | null;
  /** [lower, upper] of the projection's prediction interval. */
  readonly fan: readonly [number, number] | null;
  readonly projected: number | null;
  /** Labels of the standing annotations covering the day. */
  readonly annotations: readonly string[];
}

export interface TrendRowsInput {
  readonly start: string;
  readonly end: string;
  /** The metric's daily values (all of them: annotated days are shown, marked, not hidden). */
  readonly values: readonly DailyValue[];
  readonly steps: readonly BandStep[];
  readonly annotations: readonly TrendAnnotation[];
  readonly fan?: Fan | undefined;
}

/**
 * One row per day from `start` to the later of `end` and the fan's end: the day's value and source, the band held
 * for it (up to `end`) and the value's place in it (an annotated day is left out of baselines, so it is marked, not judged), the
 * projection, and the annotations covering it.
 * @param input - see TrendRowsInput.
 * @returns Rows in day order.
 */
export function buildTrendRows(input: TrendRowsInput): TrendRow[] {
  const byDay = new Map(input.values.map((v) => [v.day, v]));
  const fanByDay = new Map((input.fan?.points ?? []).map((p) => [p.day, p]));
  const fanEnd = input.fan?.points[input.fan.points.length - 1]?.day;
  const last = fanEnd !== undefined && fanEnd > input.end ? fanEnd : input.end;
  const rows: TrendRow[] = [];
  for (let x = dayIndex(input.start), to = dayIndex(last); x <= to; x++) {
    const day = dayFromIndex(x);
    const value = byDay.get(day);
    // A band says how a day that happened is judged; projected days are not judged, so none is drawn under them.
    const step = day <= input.end ? stepForDay(input.steps, day) : undefined;
    const covering = input.annotations.filter((a) => a.start <= day && day <= a.end);
    let status: DayStatus | null = null;
    if (value) {
      status = covering.length > 0 ? 'annotated' : step ? classify(value.value, step) : 'no-band';
    }
    const projected = fanByDay.get(day);
    rows.push({
      x,
      day,
      value: value?.value ?? null,
      source: value?.source ?? null,
      status,
      band: step ? [step.lower, step.upper] : null,
      median: step?.median ?? null,
      fan: projected ? [projected.lower, projected.upper] : null,
      projected: projected?.yHat ?? null,
      annotations: covering.map((a) => a.label),
    });
  }
  return rows;
}

export interface TrendSummary {
  readonly days: number;
  readonly above: number;
  readonly below: number;
  readonly within: number;
  readonly annotated: number;
  readonly noBand: number;
}

/** @returns how many charted days fall in each class (the text under the chart) */
export function summarize(rows: readonly TrendRow[]): TrendSummary {
  const count = (s: DayStatus): number => rows.filter((r) => r.status === s).length;
  return {
    days: rows.filter((r) => r.value !== null).length,
    above: count('above'),
    below: count('below'),
    within: count('within'),
    annotated: count('annotated'),
    noBand: count('no-band'),
  };
}

/**
 * @param values - the metric's daily values.
 * @param today - the owner's day.
 * @param params - analytics parameters.
 * @returns Days with a value in the band window that ends today (for "needs 14 days in 28").
 */
export function daysInBandWindow(
  values: readonly Pick<DailyValue, 'day'>[],
  today: string,
  params: AnalyticsParams = ANALYTICS_PARAMS
): number {
  const from = addDays(today, -(params.band.windowDays - 1));
  return values.filter((v) => v.day >= from && v.day <= today).length;
}
