/**
 * The daily series: the one input every analysis reads (issue 8 §1). Per owner, per catalogue metric, one value per
 * owner-local day, each naming the source it was taken from and the Observations it came from.
 *
 * - The day is read from the Observation's own time, in the offset it was written with (the mappers write a
 *   record's times in the record's own offset, e.g. WHOOP's `timezone_offset`), never from the server's or the
 *   viewer's zone: the date part of "2026-11-05T23:30:00-05:00" is the 5th. Which time of a period counts is the
 *   catalogue's `dayOf` ('end' for a night and what is measured in it, else the midpoint). A value whose time says
 *   no day (a year or month only, an open period) is left out, never placed on a guessed day.
 * - Only what stands: the newest version per identifier (a re-scored record replaces its value), then only status
 *   final / amended / corrected (so a retraction, `entered-in-error`, removes the value), then not on an excluded
 *   day (annotations, supplied by the caller).
 * - Values: a Quantity in the catalogue unit; a panel's components, under their catalogue range keys (a member
 *   metric's key, or `<panel>.<code>` for a panel member such as 'blood-pressure.8480-6'); a coded session's length
 *   in minutes. Intraday series (SampledData) are not daily values and are skipped. A session's components feed
 *   only metrics that no day-long record carries: a workout's energy and heart rate are part of its day's cycle,
 *   so counting them again would double them.
 * - Several sources on one day: all raw values stay stored; the series takes the best source on the owner's
 *   ladder for the metric (their override, else the catalogue's), and within that source combines the day's values
 *   by the catalogue's `dailyAggregate`.
 *
 * Pure: no I/O and no Node built-ins, so the app, a bot and the tests run the same code. The result does not depend
 * on the order of the input.
 */
import type { Observation, ObservationComponent, Quantity } from '@medplum/fhirtypes';
import { allowedComponents, getMetric, metricByCode, metricParents, sourceLadder } from '../shared/catalogue.ts';
import type { AllowedComponent, DailyAggregate, DayOf, Metric } from '../shared/catalogue.ts';
import { IDENTIFIER_BASE } from '../shared/systems.ts';

export interface DailyValue {
  /** Owner-local day, YYYY-MM-DD. */
  readonly day: string;
  readonly value: number;
  /** Provider key the value was taken from (e.g. 'whoop'); see sourceOf. */
  readonly source: string;
  /** The Device reference of the latest contributing Observation, when it names one. */
  readonly device?: string;
  /** Every Observation that contributed (one for 'last'; several for a day's sum, mean or max), sorted. */
  readonly observationIds: readonly string[];
}

/** Series key (a catalogue key, or `<panel>.<componentCode>` for a panel member) → values, by day ascending. */
export type DailySeries = Record<string, DailyValue[]>;

export interface DailyOptions {
  /** Owner-local days left out of every metric (annotated out). */
  readonly excludedDays?: ReadonlySet<string>;
  /** Series key → owner-local days left out of that series only. */
  readonly excludedMetricDays?: Readonly<Record<string, ReadonlySet<string>>>;
  /**
   * The owner's source ladders, by catalogue key, best first; replaces the catalogue default for that metric. A
   * panel member follows its panel's ladder. Sources missing from a ladder rank below every listed one.
   */
  readonly sourcePriority?: Readonly<Record<string, readonly string[]>>;
}

const STANDING = new Set(['final', 'amended', 'corrected']);
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;
const PROVIDER_SYSTEM = new RegExp('^' + IDENTIFIER_BASE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '/([a-z0-9-]+)/');

interface Candidate {
  readonly key: string;
  readonly day: string;
  readonly value: number;
  readonly source: string;
  readonly device: string | undefined;
  readonly observationId: string;
  /** For 'last' and a stable order: the value's end time (ms), then its id. */
  readonly at: number;
}

/**
 * @param observations - one owner's Observations (any mix of metrics, sources and versions)
 * @param options - excluded days and the owner's source ladders
 * @returns series key → one value per owner-local day; keys without any value are absent
 */
export function dailySeries(observations: readonly Observation[], options: DailyOptions = {}): DailySeries {
  const subjects = new Set(observations.flatMap((o) => (o.subject?.reference ? [o.subject.reference] : [])));
  if (subjects.size > 1) {
    // One owner's series must never contain another's values; mixing is a caller bug, not data to average.
    throw new Error(`dailySeries takes one owner's Observations, got ${[...subjects].sort().join(', ')}`);
  }
  const candidates = currentVersions(observations)
    .filter((o) => STANDING.has(o.status))
    .flatMap(candidatesOf)
    .filter((c) => !options.excludedDays?.has(c.day) && !options.excludedMetricDays?.[c.key]?.has(c.day));

  const byKeyDay = new Map<string, Map<string, Candidate[]>>();
  for (const c of candidates) {
    const days = byKeyDay.get(c.key) ?? new Map<string, Candidate[]>();
    byKeyDay.set(c.key, days);
    const list = days.get(c.day);
    if (list) {
      list.push(c);
    } else {
      days.set(c.day, [c]);
    }
  }
  const series: DailySeries = {};
  for (const key of [...byKeyDay.keys()].sort()) {
    const metric = seriesMetric(key);
    const ladder = options.sourcePriority?.[metric.key] ?? sourceLadder(metric);
    const days = byKeyDay.get(key) ?? new Map<string, Candidate[]>();
    series[key] = [...days.keys()].sort().map((day) => chooseDay(day, days.get(day) ?? [], ladder, metric));
  }
  return series;
}

/**
 * @param observation - an Observation as stored
 * @returns the provider key of its identifier system (`<IDENTIFIER_BASE>/<provider>/...`), else the Device's
 *   display or reference, else 'unknown'
 */
export function sourceOf(observation: Observation): string {
  for (const identifier of observation.identifier ?? []) {
    const provider = PROVIDER_SYSTEM.exec(identifier.system ?? '')?.[1];
    if (provider) {
      return provider;
    }
  }
  return observation.device?.display ?? observation.device?.reference ?? 'unknown';
}

/**
 * @param effective - the Observation's effective[x]
 * @param dayOf - which time of a period counts
 * @returns the owner-local day (YYYY-MM-DD) in the offset the time was written with, or undefined when the time
 *   names no day
 */
export function localDay(
  effective: Pick<Observation, 'effectiveDateTime' | 'effectiveInstant' | 'effectivePeriod'>,
  dayOf: DayOf
): string | undefined {
  const point = effective.effectiveDateTime ?? effective.effectiveInstant;
  if (point !== undefined) {
    return DATE_TIME.exec(point)?.[1];
  }
  const start = effective.effectivePeriod?.start;
  const end = effective.effectivePeriod?.end;
  if (dayOf === 'end' || start === undefined || end === undefined) {
    // A night's day is its end; a period open at the end (still running) has no end day yet.
    return end === undefined ? undefined : DATE_TIME.exec(end)?.[1];
  }
  const startMs = Date.parse(start);
  const endMs = Date.parse(end);
  const offset = DATE_TIME.exec(end)?.[2];
  if (Number.isNaN(startMs) || Number.isNaN(endMs) || offset === undefined) {
    // Date-only bounds: without times there is no midpoint to place, but a period within one day is that day.
    const startDay = DATE_TIME.exec(start)?.[1];
    return startDay !== undefined && startDay === DATE_TIME.exec(end)?.[1] ? startDay : undefined;
  }
  // The midpoint read in the end's offset: the zone the owner was in when the period closed.
  const mid = startMs + (endMs - startMs) / 2;
  return new Date(mid + offsetMinutes(offset) * 60_000).toISOString().slice(0, 10);
}

function offsetMinutes(offset: string): number {
  if (offset === 'Z') {
    return 0;
  }
  const sign = offset.startsWith('-') ? -1 : 1;
  return sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
}

/**
 * The newest version of each Observation: by its first identifier (the per-value key the mappers write), else by
 * id. Newest is meta.lastUpdated, then meta.versionId, then issued: a re-scored value written over the same
 * identifier wins whatever order the versions arrive in.
 */
function currentVersions(observations: readonly Observation[]): Observation[] {
  const newest = new Map<string, Observation>();
  for (const o of observations) {
    const first = o.identifier?.[0];
    const key = first?.system && first.value ? `${first.system}|${first.value}` : o.id ? `id|${o.id}` : undefined;
    if (key === undefined) {
      continue;
    }
    const held = newest.get(key);
    if (!held || compareVersions(o, held) > 0) {
      newest.set(key, o);
    }
  }
  return [...newest.values()];
}

function compareVersions(a: Observation, b: Observation): number {
  return (
    compareText(a.meta?.lastUpdated, b.meta?.lastUpdated) ||
    (Number(a.meta?.versionId) || 0) - (Number(b.meta?.versionId) || 0) ||
    compareText(a.issued, b.issued) ||
    compareText(a.id, b.id)
  );
}

/** Compares two instants (or texts when not instants); an absent one is older. */
function compareText(a: string | undefined, b: string | undefined): number {
  if (a === b) {
    return 0;
  }
  if (a === undefined || b === undefined) {
    return a === undefined ? -1 : 1;
  }
  const diff = Date.parse(a) - Date.parse(b);
  if (!Number.isNaN(diff) && diff !== 0) {
    return diff;
  }
  return a < b ? -1 : 1;
}

/** A session records its sport (CodeableConcept); its numbers are parts of a day, not the day. */
function isSession(metric: Metric): boolean {
  return metric.valueTypes.includes('CodeableConcept');
}

// The catalogue is fixed: what follows from a metric is worked out once per metric, not once per Observation.
const DAY_LONG_PARENT = new Map<string, boolean>();
const ALLOWED = new Map<string, readonly AllowedComponent[]>();

/** @returns true when some record that is not a session carries this metric, so its day value comes from there */
function hasDayLongParent(key: string): boolean {
  let known = DAY_LONG_PARENT.get(key);
  if (known === undefined) {
    known = metricParents(key).some((parent) => !isSession(parent));
    DAY_LONG_PARENT.set(key, known);
  }
  return known;
}

function allowedOf(metric: Metric): readonly AllowedComponent[] {
  let known = ALLOWED.get(metric.key);
  if (known === undefined) {
    known = allowedComponents(metric);
    ALLOWED.set(metric.key, known);
  }
  return known;
}

function metricOf(observation: Observation): Metric | undefined {
  for (const c of observation.code?.coding ?? []) {
    const metric = metricByCode(c.system, c.code);
    if (metric) {
      return metric;
    }
  }
  return undefined;
}

function candidatesOf(observation: Observation): Candidate[] {
  const metric = metricOf(observation);
  const id = observation.id;
  if (!metric || !id || observation.valueSampledData) {
    return [];
  }
  const day = localDay(observation, metric.dayOf ?? 'middle');
  if (day === undefined) {
    return [];
  }
  const at = timeOf(observation);
  const base = { day, source: sourceOf(observation), device: observation.device?.reference, observationId: id, at };
  const out: Candidate[] = [];
  const own = ownValue(observation, metric);
  if (own !== undefined) {
    out.push({ ...base, key: metric.key, value: own });
  }
  const allowed = allowedOf(metric);
  for (const component of observation.component ?? []) {
    const match = allowed.find((a) => sameCoding(component, a));
    if (!match || (isSession(metric) && match.metric !== metric && hasDayLongParent(match.metric.key))) {
      continue;
    }
    const value = quantityIn(component.valueQuantity, match.unit);
    if (value !== undefined) {
      out.push({ ...base, key: match.rangeKey, value });
    }
  }
  return out;
}

function ownValue(observation: Observation, metric: Metric): number | undefined {
  if (observation.valueQuantity) {
    return quantityIn(observation.valueQuantity, metric.unit);
  }
  if (isSession(metric) && observation.valueCodeableConcept) {
    // A session's one number is its length, read from the period it was stored with (nothing is estimated).
    const start = Date.parse(observation.effectivePeriod?.start ?? '');
    const end = Date.parse(observation.effectivePeriod?.end ?? '');
    return Number.isNaN(start) || Number.isNaN(end) || end < start ? undefined : (end - start) / 60_000;
  }
  return undefined;
}

/** @returns the value when the Quantity is in the catalogue unit (validated data always is), else undefined */
function quantityIn(quantity: Quantity | undefined, unit: string): number | undefined {
  const value = quantity?.value;
  return value !== undefined && Number.isFinite(value) && quantity?.code === unit ? value : undefined;
}

function sameCoding(component: ObservationComponent, allowed: AllowedComponent): boolean {
  return (component.code.coding ?? []).some((c) => c.system === allowed.code.system && c.code === allowed.code.code);
}

/** The time a value stands for, for 'last': the end of its period, else its time. */
function timeOf(observation: Observation): number {
  const raw =
    observation.effectivePeriod?.end ??
    observation.effectivePeriod?.start ??
    observation.effectiveDateTime ??
    observation.effectiveInstant;
  const ms = Date.parse(raw ?? '');
  return Number.isNaN(ms) ? 0 : ms;
}

/** @returns the catalogue metric whose ladder and aggregate a series key follows (a panel member: its panel) */
function seriesMetric(key: string): Metric {
  return getMetric(key.split('.', 1)[0] ?? key);
}

function rank(ladder: readonly string[], source: string): number {
  const index = ladder.indexOf(source);
  return index === -1 ? ladder.length : index;
}

function chooseDay(
  day: string,
  candidates: readonly Candidate[],
  ladder: readonly string[],
  metric: Metric
): DailyValue {
  const sources = [...new Set(candidates.map((c) => c.source))].sort(
    (a, b) => rank(ladder, a) - rank(ladder, b) || (a < b ? -1 : a > b ? 1 : 0)
  );
  const source = sources[0] ?? 'unknown';
  const chosen = candidates
    .filter((c) => c.source === source)
    .sort(
      (a, b) => a.at - b.at || (a.observationId < b.observationId ? -1 : a.observationId > b.observationId ? 1 : 0)
    );
  const latest = chosen[chosen.length - 1];
  const aggregate: DailyAggregate = metric.dailyAggregate ?? 'last';
  const used = aggregate === 'last' && latest ? [latest] : chosen;
  return {
    day,
    value: combine(
      aggregate,
      used.map((c) => c.value)
    ),
    source,
    ...(latest?.device ? { device: latest.device } : {}),
    observationIds: [...new Set(used.map((c) => c.observationId))].sort(),
  };
}

function combine(aggregate: DailyAggregate, values: readonly number[]): number {
  switch (aggregate) {
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'mean':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'max':
      return Math.max(...values);
    case 'last':
      return values[values.length - 1] ?? Number.NaN;
  }
}
