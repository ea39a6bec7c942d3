/**
 * Recompute planning (issue 8 §2, §3, §7): one owner's Observations → the derived Observations that should stand,
 * and the few of them that differ from what is stored. Pure; the analytics bot (recompute.ts) reads, calls this and
 * writes the difference through writeChanged.
 *
 * What is stored, per catalogue metric that has a daily series (a panel member's series, e.g. systolic pressure, has
 * no catalogue code of its own to name in the metric component, so it gets none):
 * - `personal-baseline` for every Sunday window end plus the latest day with data. A band per metric per day would be
 *   ~46 × 365 ≈ 16,800 Observations a year per owner at 100 quota points each; weekly steps are ≤ 53 per metric,
 *   enough for a chart to draw the band as a step (the band of the 28 days ending on a Sunday is exactly the band
 *   the following Monday is judged against), and the `latest` one, updated in place, is the band of today.
 * - `trend`: one current per metric (identifier …/trend/current), updated in place, written whenever a line can be
 *   fitted to enough current data (it describes the direction even when R² is too low to project).
 * - `projection`: one current per metric, only when the trajectory passes every gate.
 * A derived Observation that should no longer stand (a gated projection, a band whose window lost its inputs to
 * re-scoring or retraction, a metric whose data was erased) is superseded: written back with status `cancelled` and
 * a note saying why. Not `entered-in-error`, which says the record should never have existed (it was right for the
 * data it was computed from), and not deleted, so its history stays auditable. Readers take status `final` only.
 *
 * Parameters: the method coding names the method, `method.text` spells out every parameter (and the parameter
 * version), and the numbers are components. derivedFrom lists the inputs of the window, newest first, at most
 * MAX_DERIVED_FROM (a month of daily values; sample-count still says how many days the window held).
 */
import type { Observation, ObservationComponent, Quantity, Reference } from '@medplum/fhirtypes';
import { DERIVED_COMPONENTS, DERIVED_KINDS, DERIVED_METHODS, METRICS } from '../shared/catalogue.ts';
import type { BaselineConcept, Metric } from '../shared/catalogue.ts';
import {
  CODE_SYSTEM,
  DERIVED_PROFILE,
  IDENTIFIER_BASE,
  NARRATIVE_PROFILE,
  PROFILE_BASE,
  UCUM,
} from '../shared/systems.ts';
import { sameObservation } from '../shared/write-changed.ts';
import { dailySeries } from './daily.ts';
import type { DailyOptions, DailySeries, DailyValue } from './daily.ts';
import { ANALYTICS_PARAMS } from './params.ts';
import type { AnalyticsParams } from './params.ts';
import { bandsFor, dayFromIndex, dayIndex, ols, studentTQuantile, trajectory } from './stats.ts';
import type { Band, OlsFit, Trajectory } from './stats.ts';

export const DERIVED_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/derived';
/** The provider(s) whose daily values a derived Observation rests on (issue 8 §1: the chosen source is shown). */
export const DERIVED_SOURCE_EXTENSION = PROFILE_BASE + '/derived-source';
/** The kinds this planner owns; other derived Observations (narratives, alerts) are someone else's. */
export const PLANNED_KINDS = ['personal-baseline', 'trend', 'projection'] as const;
export type PlannedKind = (typeof PLANNED_KINDS)[number];
/** References per derived Observation: bounded, so a sum of many sessions cannot make one huge resource. */
export const MAX_DERIVED_FROM = 60;
const SIGNIFICANT_DIGITS = 6;

export interface PlanInput {
  /** `Patient/<id>`. */
  readonly patient: string;
  /** The owner's Observations as stored: wearable ones feed the series, derived ones are what stands now. */
  readonly observations: readonly Observation[];
  /** When the recompute runs: the trajectory is judged as of this day (UTC) or the newest data, whichever is later. */
  readonly now: Date;
  readonly params?: AnalyticsParams;
  readonly daily?: DailyOptions;
}

export interface DerivedPlan {
  /** Every derived Observation of the planned kinds that should exist now, cancellations included. */
  readonly desired: Observation[];
  /** The subset that differs from what is stored: what the bot writes. */
  readonly writes: Observation[];
  /** Stored Observations whose identifier is planned and unchanged. */
  readonly unchanged: number;
  /** How many of `writes` supersede a stored Observation (status cancelled). */
  readonly cancelled: number;
  /** The day the trajectories were judged on. */
  readonly asOf: string;
  /** The daily series the plan was computed from (annotated days and the owner's ladders applied). */
  readonly series: DailySeries;
}

function concept(list: readonly BaselineConcept[], code: string): { system: string; code: string; display: string } {
  const found = list.find((c) => c.code === code);
  if (!found) {
    throw new Error(`no Baseline concept ${code}`);
  }
  return { system: CODE_SYSTEM, code: found.code, display: found.display };
}

function round(value: number): number {
  return Number(value.toPrecision(SIGNIFICANT_DIGITS));
}

function quantity(value: number, code: string, label = code): Quantity {
  return { value: round(value), unit: label, system: UCUM, code };
}

/** A value in the metric's own unit, labelled as the catalogue labels it. */
function inUnit(metric: Metric, value: number): Quantity {
  return quantity(value, metric.unit, metric.unitLabel);
}

/** A change per day. A temperature difference is in kelvin: UCUM's Cel is an offset scale and cannot be divided. */
function perDay(metric: Metric, value: number): Quantity {
  return metric.unit === 'Cel'
    ? quantity(value, 'K/d', 'K/day')
    : quantity(value, `${metric.unit}/d`, `${metric.unitLabel}/day`);
}

function component(code: string, value: Quantity | number): ObservationComponent {
  const coding = concept(DERIVED_COMPONENTS, code);
  return typeof value === 'number'
    ? { code: { coding: [coding] }, valueInteger: value }
    : { code: { coding: [coding] }, valueQuantity: value };
}

function metricComponent(metric: Metric, value: number): ObservationComponent {
  return {
    code: { coding: [{ system: metric.code.system, code: metric.code.code, display: metric.code.display }] },
    valueQuantity: inUnit(metric, value),
  };
}

/** @returns the identifier value `<patient id>/<metric>/<kind>/<slot>` */
export function derivedKey(patient: string, metricKey: string, kind: PlannedKind, slot: string): string {
  return `${patient.replace(/^Patient\//, '')}/${metricKey}/${kind}/${slot}`;
}

/** The window's daily values, newest first (days are YYYY-MM-DD, ascending: string order is day order). */
function windowValues(values: readonly DailyValue[], from: string, to: string): DailyValue[] {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]!.day <= to) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const out: DailyValue[] = [];
  for (let i = lo - 1; i >= 0 && values[i]!.day >= from; i--) {
    out.push(values[i]!);
  }
  return out;
}

/** derivedFrom of a window: its inputs, newest first, at most MAX_DERIVED_FROM. */
function inputsOf(values: readonly DailyValue[], from: string, to: string): Reference<Observation>[] {
  const ids: string[] = [];
  for (const v of windowValues(values, from, to)) {
    for (const id of v.observationIds) {
      if (ids.length >= MAX_DERIVED_FROM) {
        return ids.map((i) => ({ reference: `Observation/${i}` }));
      }
      if (!ids.includes(id)) {
        ids.push(id);
      }
    }
  }
  return ids.map((id) => ({ reference: `Observation/${id}` }));
}

/** The providers the window's values were taken from, sorted (every one, not only those derivedFrom names). */
function sourcesOf(values: readonly DailyValue[], from: string, to: string): string[] {
  return [...new Set(windowValues(values, from, to).map((v) => v.source))].sort();
}

interface Base {
  readonly patient: string;
  readonly metric: Metric;
  readonly kind: PlannedKind;
  readonly slot: string;
  readonly text: string;
  readonly method: 'median-mad' | 'ols';
  readonly methodText: string;
  readonly start: string;
  readonly end: string;
  readonly derivedFrom: Reference<Observation>[];
  readonly sources: readonly string[];
  readonly component: ObservationComponent[];
  readonly value?: Quantity;
}

function derived(b: Base): Observation {
  return {
    resourceType: 'Observation',
    meta: { profile: [DERIVED_PROFILE] },
    extension: b.sources.map((source) => ({ url: DERIVED_SOURCE_EXTENSION, valueString: source })),
    identifier: [{ system: DERIVED_IDENTIFIER_SYSTEM, value: derivedKey(b.patient, b.metric.key, b.kind, b.slot) }],
    status: 'final',
    code: { coding: [concept(DERIVED_KINDS, b.kind)], text: b.text },
    subject: { reference: b.patient },
    effectivePeriod: { start: b.start, end: b.end },
    ...(b.value ? { valueQuantity: b.value } : {}),
    method: { coding: [concept(DERIVED_METHODS, b.method)], text: b.methodText },
    derivedFrom: b.derivedFrom,
    component: b.component,
  };
}

function bandMethodText(p: AnalyticsParams): string {
  const b = p.band;
  return (
    `median ± k·scale·MAD over the ${b.windowDays} calendar days ending on the window end; k=${b.k}, ` +
    `scale=${b.madScale}, windowDays=${b.windowDays}, minValidDays=${b.minValidDays}; parameters v${p.version}`
  );
}

function trendMethodText(p: AnalyticsParams, projection: boolean): string {
  const t = p.trend;
  const level = Math.round((1 - t.alpha) * 100);
  const base =
    `OLS of the daily value on the day over the ${t.windowDays} days ending on the as-of day; ` +
    `windowDays=${t.windowDays}, minDays=${t.minDays}, maxStalenessDays=${t.maxStalenessDays}, `;
  return projection
    ? base +
        `rSquaredFloor=${t.rSquaredFloor}, horizonDays=${t.horizonDays}, alpha=${t.alpha} ` +
        `(${level} % prediction interval at the horizon end); parameters v${p.version}`
    : base + `slope CI at ${level} % (alpha=${t.alpha}); parameters v${p.version}`;
}

function bandObservation(
  patient: string,
  metric: Metric,
  values: readonly DailyValue[],
  band: Band,
  slot: string,
  params: AnalyticsParams
): Observation {
  const days = `${params.band.windowDays} days to ${band.windowEnd}`;
  const label = slot === 'latest' ? `latest, ${days}` : days;
  return derived({
    patient,
    metric,
    kind: 'personal-baseline',
    slot,
    text: `${metric.label} personal baseline (${label})`,
    method: 'median-mad',
    methodText: bandMethodText(params),
    start: band.windowStart,
    end: band.windowEnd,
    derivedFrom: inputsOf(values, band.windowStart, band.windowEnd),
    sources: sourcesOf(values, band.windowStart, band.windowEnd),
    component: [
      metricComponent(metric, band.median),
      component('band-lower', inUnit(metric, band.lower)),
      component('band-upper', inUnit(metric, band.upper)),
      component('sample-count', band.validDays),
    ],
  });
}

function trendComponents(metric: Metric, fit: OlsFit, asOf: string, alpha: number): ObservationComponent[] {
  const t = studentTQuantile(1 - alpha / 2, fit.n - 2);
  return [
    // The fitted level on the as-of day: where the line says the metric stands now.
    metricComponent(metric, fit.yMean + fit.slope * (dayIndex(asOf) - fit.xMean)),
    component('slope', perDay(metric, fit.slope)),
    component('slope-ci-lower', perDay(metric, fit.slope - t * fit.slopeSe)),
    component('slope-ci-upper', perDay(metric, fit.slope + t * fit.slopeSe)),
    component('r-squared', quantity(fit.rSquared, '1')),
    component('sample-count', fit.n),
  ];
}

/**
 * The fit a trend describes: the trajectory's window and data gates, but no R² floor (a flat line is a finding).
 * @returns the fit, or why there is none (a TrendGateReason)
 */
function trendFit(
  values: readonly DailyValue[],
  asOf: string,
  params: AnalyticsParams
): { ok: true; fit: OlsFit } | { ok: false; reason: string; n: number } {
  const end = dayIndex(asOf);
  const start = end - params.trend.windowDays + 1;
  const inWindow = values.filter((v) => {
    const d = dayIndex(v.day);
    return d >= start && d <= end;
  });
  const last = inWindow[inWindow.length - 1];
  const n = inWindow.length;
  if (n < params.trend.minDays || !last) {
    return { ok: false, reason: 'too-few-days', n };
  }
  if (end - dayIndex(last.day) > params.trend.maxStalenessDays) {
    return { ok: false, reason: 'stale', n };
  }
  const fitted = ols(
    inWindow.map((v) => dayIndex(v.day)),
    inWindow.map((v) => v.value)
  );
  return fitted.ok ? { ok: true, fit: fitted.fit } : { ok: false, reason: 'no-variation', n };
}

function trendObservation(
  patient: string,
  metric: Metric,
  values: readonly DailyValue[],
  fit: OlsFit,
  asOf: string,
  params: AnalyticsParams
): Observation {
  const start = dayFromIndex(dayIndex(asOf) - params.trend.windowDays + 1);
  return derived({
    patient,
    metric,
    kind: 'trend',
    slot: 'current',
    text: `${metric.label} trend over the ${params.trend.windowDays} days to ${asOf}`,
    method: 'ols',
    methodText: trendMethodText(params, false),
    start,
    end: asOf,
    derivedFrom: inputsOf(values, start, asOf),
    sources: sourcesOf(values, start, asOf),
    component: trendComponents(metric, fit, asOf, params.trend.alpha),
  });
}

function projectionObservation(
  patient: string,
  metric: Metric,
  values: readonly DailyValue[],
  trajectory: Trajectory,
  params: AnalyticsParams
): Observation {
  const last = trajectory.projection[trajectory.projection.length - 1];
  if (!last) {
    throw new Error('a trajectory that passed its gates has projected days');
  }
  const level = Math.round((1 - params.trend.alpha) * 100);
  const start = dayFromIndex(dayIndex(trajectory.asOf) + 1);
  return derived({
    patient,
    metric,
    kind: 'projection',
    slot: 'current',
    text:
      `${metric.label} projection, not a measurement: ${last.horizon} days ahead of ${trajectory.asOf} ` +
      `(linear trend, ${level} % prediction interval ${round(last.lower)} to ${round(last.upper)} ${metric.unitLabel})`,
    method: 'ols',
    methodText: trendMethodText(params, true),
    start,
    end: last.day,
    value: inUnit(metric, last.yHat),
    derivedFrom: inputsOf(values, trajectory.windowStart, trajectory.windowEnd),
    sources: sourcesOf(values, trajectory.windowStart, trajectory.windowEnd),
    component: [
      metricComponent(metric, last.yHat),
      component('prediction-lower', inUnit(metric, last.lower)),
      component('prediction-upper', inUnit(metric, last.upper)),
      component('slope', perDay(metric, trajectory.fit.slope)),
      component('r-squared', quantity(trajectory.fit.rSquared, '1')),
      component('sample-count', trajectory.fit.n),
    ],
  });
}

/** Sundays (window ends) from the first day of the series through its last. */
function sundays(first: string, last: string): string[] {
  const out: string[] = [];
  const end = dayIndex(last);
  // 1970-01-01 (index 0) was a Thursday: (index + 4) % 7 is the weekday with Sunday = 0.
  let d = dayIndex(first);
  d += (7 - ((d + 4) % 7)) % 7;
  for (; d <= end; d += 7) {
    out.push(dayFromIndex(d));
  }
  return out;
}

function keyOf(o: Observation): string | undefined {
  const id = o.identifier?.find((i) => i.system === DERIVED_IDENTIFIER_SYSTEM);
  return id?.value;
}

function kindOf(o: Observation): string | undefined {
  return o.code?.coding?.find((c) => c.system === CODE_SYSTEM)?.code;
}

/** @returns true for a derived Observation this planner owns (its identifier system and one of its kinds) */
export function isPlannedDerived(o: Observation): boolean {
  const kind = kindOf(o);
  return keyOf(o) !== undefined && (PLANNED_KINDS as readonly string[]).includes(kind ?? '');
}

/** Derived and narrative Observations are outputs; reading them back as inputs would feed analytics on itself. */
function isDerivedProfile(o: Observation): boolean {
  return o.meta?.profile?.some((p) => p === DERIVED_PROFILE || p === NARRATIVE_PROFILE) === true;
}

/** The same Observation, superseded: kept for audit, no longer standing. */
function cancelled(stored: Observation, why: string): Observation {
  const { id: _id, meta, ...rest } = stored;
  return { ...rest, meta: { profile: meta?.profile ?? [DERIVED_PROFILE] }, status: 'cancelled', note: [{ text: why }] };
}

/**
 * @param input - the owner, their Observations, the time
 * @returns what should stand and what must be written for it to
 */
export function planDerived(input: PlanInput): DerivedPlan {
  const params = input.params ?? ANALYTICS_PARAMS;
  const wearable = input.observations.filter((o) => !isDerivedProfile(o));
  const stored = new Map<string, Observation>();
  for (const o of input.observations) {
    const key = keyOf(o);
    if (key !== undefined && isPlannedDerived(o)) {
      stored.set(key, o);
    }
  }
  const today = input.now.toISOString().slice(0, 10);
  // No owner-local day is more than a day ahead of UTC (UTC+14 is the furthest zone): a value dated later is a
  // device clock or a typo, and taken as the newest day it would judge every trend as of the future.
  const latestPossible = dayFromIndex(dayIndex(today) + 1);
  const series: DailySeries = {};
  for (const [key, values] of Object.entries(dailySeries(wearable, input.daily))) {
    const kept = values.filter((v) => v.day <= latestPossible);
    if (kept.length > 0) {
      series[key] = kept;
    }
  }
  const newest = Object.values(series).reduce((max, values) => {
    const day = values[values.length - 1]?.day ?? '';
    return day > max ? day : max;
  }, '');
  // The owner's day may be ahead of UTC; judging before their newest data would drop it from the window.
  const asOf = newest > today ? newest : today;

  const desired: Observation[] = [];
  const gated = new Map<string, string>();
  for (const metric of METRICS) {
    const values = series[metric.key];
    if (!values || values.length === 0) {
      continue;
    }
    const first = values[0]!.day;
    const last = values[values.length - 1]!.day;
    const next = (day: string): string => dayFromIndex(dayIndex(day) + 1);
    const slots = [...sundays(first, last).map((d) => [`week-ending-${d}`, d] as const), ['latest', last] as const];
    // bandFor judges a day against the window ending the day before: the band of windowEnd's window is next's.
    const outcomes = bandsFor(
      values,
      slots.map(([, windowEnd]) => next(windowEnd)),
      params.band
    );
    for (const [i, [slot, windowEnd]] of slots.entries()) {
      const outcome = outcomes[i]!;
      const key = derivedKey(input.patient, metric.key, 'personal-baseline', slot);
      if (outcome.ok) {
        desired.push(bandObservation(input.patient, metric, values, outcome.band, slot, params));
      } else {
        gated.set(key, `no band for the window ending ${windowEnd}: ${outcome.reason} (${outcome.validDays} days)`);
      }
    }
    const fit = trendFit(values, asOf, params);
    const trendKey = derivedKey(input.patient, metric.key, 'trend', 'current');
    if (fit.ok) {
      desired.push(trendObservation(input.patient, metric, values, fit.fit, asOf, params));
    } else {
      gated.set(trendKey, `no trend as of ${asOf}: ${fit.reason} (${fit.n} days)`);
    }
    const outcome = trajectory(values, asOf, params.trend);
    const projectionKey = derivedKey(input.patient, metric.key, 'projection', 'current');
    if (outcome.ok) {
      desired.push(projectionObservation(input.patient, metric, values, outcome.trajectory, params));
    } else {
      gated.set(projectionKey, `no projection as of ${asOf}: ${outcome.reason} (${outcome.n} days)`);
    }
  }

  const planned = new Set(desired.map((o) => keyOf(o) ?? ''));
  for (const [key, o] of stored) {
    // One already superseded stays as it is: its note says why it was first superseded.
    if (!planned.has(key) && o.status !== 'cancelled') {
      desired.push(cancelled(o, `Superseded: ${gated.get(key) ?? 'its metric has no data any more'}`));
    }
  }

  const writes: Observation[] = [];
  let unchanged = 0;
  let cancelledCount = 0;
  for (const o of desired) {
    const existing = stored.get(keyOf(o) ?? '');
    if (existing && sameObservation(existing, o)) {
      unchanged++;
      continue;
    }
    writes.push(o);
    if (o.status === 'cancelled') {
      cancelledCount++;
    }
  }
  return { desired, writes, unchanged, cancelled: cancelledCount, asOf, series };
}

/** The metric a derived Observation names (its first component coded with a catalogue code), for readers. */
export function derivedMetric(o: Observation): Metric | undefined {
  for (const c of o.component ?? []) {
    for (const coding of c.code.coding ?? []) {
      const metric = METRICS.find((m) => m.code.system === coding.system && m.code.code === coding.code);
      if (metric) {
        return metric;
      }
    }
  }
  return undefined;
}
