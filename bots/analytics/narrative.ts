/**
 * Period narratives (issue 8 §4): a week or a month described against the one before, deterministically, from
 * structured beats (label + number + source) that are rendered through fixed templates in English or German and
 * stored as the components of a narrative Observation. No generative model, no causal language: a beat says what
 * the numbers did, and two metrics "moved together", never that one caused the other.
 *
 * - Deltas: per metric, the mean of its daily values in the period and in the prior period, only when it has at
 *   least `minDays` values in both. Means, not sums, so a 31-day month and a 30-day one compare fairly. The change
 *   is a percentage only where a ratio means something: a temperature in °C has no true zero (+1 % of 33 °C is not a
 *   quantity) and a change of a percentage is told in percentage points, so both are told as absolute changes.
 *   Order: the largest standardized change (difference of means over the pooled daily SD) first, then the key, so
 *   a 0.4 °C temperature shift and a 10 % step change are ranked on one scale.
 * - Bands: the days of the period outside the metric's personal band (stats.rollingBands) and the transitions into
 *   and out of it that happened in the period (stats.bandTransitions).
 * - Coincident-deviation days: days on which at least `coincidentMinMetrics` metrics were outside their bands.
 * - Drivers: Spearman's ρ for metric pairs over the driver window, kept only when they survive Benjamini–Hochberg
 *   at ANALYTICS_PARAMS.drivers.q over all pairs tested. Pairs whose values come from one record (a metric and its
 *   member, two members of one record, two parts of one panel, a workout and the day it is part of: sleep and its
 *   stages, recovery and HRV, workout strain and day strain) are not tested: they move together by construction,
 *   and their tiny p-values would also loosen the BH threshold for the pairs that are real questions.
 * - Annotations the owner made that overlap the period are named.
 * - Gate: no value in the period, or no metric with enough days on both sides, gives no narrative, only a reason.
 * - The text names the largest beats only (narrative-params.ts, max…InText) and counts the rest; the components
 *   hold every beat.
 *
 * Pure: no I/O and no Node built-ins (runs in Medplum's vmcontext), numbers are formatted by hand (no Intl, whose
 * output depends on the ICU build), and the output does not depend on the order of the input.
 */
import type {
  CodeableConcept,
  Observation,
  ObservationComponent,
  Patient,
  Quantity,
  Reference,
} from '@medplum/fhirtypes';
import { METRICS, NARRATIVE_KINDS, allowedComponents, metricParents } from '../shared/catalogue.ts';
import type { Metric, MetricCoding } from '../shared/catalogue.ts';
import { CODE_SYSTEM, IDENTIFIER_BASE, NARRATIVE_PROFILE, PROFILE_BASE, UCUM } from '../shared/systems.ts';
import { annotationKind } from './annotation-kinds.ts';
import { GERMAN_LABELS, GERMAN_UNITS } from './labels-de.ts';
import { NARRATIVE_PARAMS } from './narrative-params.ts';
import type { NarrativeParams } from './narrative-params.ts';
import { ANALYTICS_PARAMS } from './params.ts';
import type { DriverParams } from './params.ts';
import { inPeriod } from './periods.ts';
import type { Period } from './periods.ts';
import { bandTransitions, benjaminiHochberg, dayFromIndex, dayIndex, pairByDay, spearman } from './stats.ts';
import type { BandDay, BandStatus, DailyPoint } from './stats.ts';

export type Locale = 'en' | 'de';
export const LOCALES: readonly Locale[] = ['en', 'de'];

/** One day of a metric as the daily series holds it (bots/analytics/daily.ts DailyValue satisfies this). */
export interface SeriesPoint extends DailyPoint {
  readonly source: string;
}

/** A span the owner annotated (issue 8 §5), owner-local days, bounds inclusive. */
export interface Annotation {
  readonly start: string;
  readonly end: string;
  /** A kind code of annotation-kinds.ts ('ill', 'travelling', …); an unknown one is shown as written. */
  readonly kind: string;
  /** The owner's own words, quoted as written. */
  readonly note?: string;
}

export interface NarrativeInput {
  /** Series key → daily values (any order; one value per day). */
  readonly series: Readonly<Record<string, readonly SeriesPoint[]>>;
  /** Series key → stats.rollingBands over that series (covering the period and the days before it). */
  readonly bands: Readonly<Record<string, readonly BandDay[]>>;
  readonly period: Period;
  /** The period compared against (periods.priorPeriod(period)). */
  readonly prior: Period;
  readonly annotations?: readonly Annotation[];
  readonly params?: NarrativeParams;
  readonly drivers?: DriverParams;
}

export interface DeltaBeat {
  readonly key: string;
  readonly currentMean: number;
  readonly priorMean: number;
  /** currentMean − priorMean, in the metric's unit. */
  readonly change: number;
  /** Percent change against the prior mean; absent where a ratio is meaningless (see the module comment). */
  readonly percentChange?: number;
  /** change / pooled daily SD; ±Infinity when both periods are constant and differ, 0 when they are equal. */
  readonly standardizedChange: number;
  readonly currentDays: number;
  readonly priorDays: number;
  readonly sources: readonly string[];
}

export interface BandBeatTransition {
  readonly day: string;
  readonly from: BandStatus;
  readonly to: BandStatus;
}

export interface BandBeat {
  readonly key: string;
  /** Days of the period on which the metric had a value and a band. */
  readonly bandedDays: number;
  readonly daysAbove: number;
  readonly daysBelow: number;
  /** Changes of status on days of the period, by day. */
  readonly transitions: readonly BandBeatTransition[];
  readonly sources: readonly string[];
}

export interface CoincidentBeat {
  readonly day: string;
  /** The metrics outside their band that day, by key. */
  readonly metrics: readonly { readonly key: string; readonly status: 'above' | 'below' }[];
}

export interface DriverBeat {
  readonly a: string;
  readonly b: string;
  readonly n: number;
  readonly rho: number;
  readonly pValue: number;
  readonly qValue: number;
  /** 'together': ρ > 0, higher with higher; 'opposite': ρ < 0. */
  readonly direction: 'together' | 'opposite';
}

export interface AnnotationBeat {
  readonly start: string;
  readonly end: string;
  readonly kind: string;
  readonly note?: string;
}

export interface Beats {
  readonly period: Period;
  readonly prior: Period;
  readonly deltas: readonly DeltaBeat[];
  readonly bands: readonly BandBeat[];
  readonly coincident: readonly CoincidentBeat[];
  readonly drivers: readonly DriverBeat[];
  /** The days the drivers were screened over and how many pairs formed the BH family. */
  readonly driverWindow: { readonly start: string; readonly end: string; readonly pairsTested: number };
  readonly annotations: readonly AnnotationBeat[];
  /** Every source of a value the beats rest on, sorted. */
  readonly sources: readonly string[];
  readonly paramsVersion: { readonly narrative: number; readonly analytics: number };
}

export type NarrativeGate = 'no-data' | 'too-little-history';

export type BeatsOutcome =
  | { readonly ok: true; readonly beats: Beats }
  | { readonly ok: false; readonly gated: NarrativeGate; readonly period: Period; readonly prior: Period };

// ---------------------------------------------------------------------------------------------------------------
// Beats

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortedPoints(points: readonly SeriesPoint[]): SeriesPoint[] {
  return [...points].sort((a, b) => compareText(a.day, b.day));
}

function within(points: readonly SeriesPoint[], period: Pick<Period, 'start' | 'end'>): SeriesPoint[] {
  return points.filter((p) => inPeriod(p.day, period));
}

function mean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) {
    sum += v;
  }
  return sum / values.length;
}

function sumSquares(values: readonly number[], m: number): number {
  let s = 0;
  for (const v of values) {
    s += (v - m) * (v - m);
  }
  return s;
}

function sourcesOf(...lists: readonly (readonly SeriesPoint[])[]): string[] {
  return [...new Set(lists.flatMap((l) => l.map((p) => p.source)))].sort(compareText);
}

/** Units on an interval scale (no true zero) or already percentages: a percent change of them is not told. */
const NO_PERCENT_UNITS = new Set(['Cel', 'K', '%']);

function deltaBeat(key: string, current: SeriesPoint[], prior: SeriesPoint[]): DeltaBeat {
  const cv = current.map((p) => p.value);
  const pv = prior.map((p) => p.value);
  const currentMean = mean(cv);
  const priorMean = mean(pv);
  const change = currentMean - priorMean;
  const pooled = Math.sqrt(
    (sumSquares(cv, currentMean) + sumSquares(pv, priorMean)) / Math.max(1, cv.length + pv.length - 2)
  );
  const standardizedChange = change === 0 ? 0 : pooled > 0 ? change / pooled : change > 0 ? Infinity : -Infinity;
  const unit = seriesInfo(key).unit;
  const percent = !NO_PERCENT_UNITS.has(unit) && priorMean > 0 ? (change / priorMean) * 100 : undefined;
  return {
    key,
    currentMean,
    priorMean,
    change,
    ...(percent !== undefined ? { percentChange: percent } : {}),
    standardizedChange,
    currentDays: cv.length,
    priorDays: pv.length,
    sources: sourcesOf(current, prior),
  };
}

function bandBeat(key: string, days: readonly BandDay[], period: Period, points: SeriesPoint[]): BandBeat | undefined {
  const sorted = [...days].sort((a, b) => compareText(a.day, b.day));
  const inside = sorted.filter((d) => inPeriod(d.day, period) && d.status !== 'no-band');
  const daysAbove = inside.filter((d) => d.status === 'above').length;
  const daysBelow = inside.filter((d) => d.status === 'below').length;
  const transitions = bandTransitions(sorted)
    .filter((t) => inPeriod(t.day, period))
    .map((t) => ({ day: t.day, from: t.from, to: t.to }));
  if (daysAbove + daysBelow === 0 && transitions.length === 0) {
    return undefined;
  }
  return {
    key,
    bandedDays: inside.length,
    daysAbove,
    daysBelow,
    transitions,
    sources: sourcesOf(points.filter((p) => inside.some((d) => d.day === p.day))),
  };
}

function metricOf(key: string): Metric | undefined {
  return METRICS.find((m) => m.key === key);
}

/** The records a series is read from: its own metric when that is a record (has members) or stands alone, else the
 * records it is a member of. */
function recordsOf(key: string): string[] {
  const base = key.split('.', 1)[0] ?? key;
  let known = RECORDS.get(base);
  if (known === undefined) {
    const parents = metricParents(base).map((m) => m.key);
    known = metricOf(base)?.members || parents.length === 0 ? [base] : parents;
    RECORDS.set(base, known);
  }
  return known;
}
/** The catalogue is fixed: a series' records are worked out once per key. */
const RECORDS = new Map<string, string[]>();

/**
 * @returns true when both series are read from one record, or from records that overlap: the same panel, a metric
 *   and its member, two members of one record, or a workout and the day (cycle) it is part of (both carry the same
 *   energy and heart rate members). Such values move together by construction, not as something to report.
 */
export function sameRecord(a: string, b: string): boolean {
  const ra = recordsOf(a);
  const rb = recordsOf(b);
  return ra.some((x) =>
    rb.some((y) => {
      if (x === y) {
        return true;
      }
      const mx = metricOf(x)?.members ?? [];
      const my = metricOf(y)?.members ?? [];
      return mx.includes(y) || my.includes(x) || mx.some((m) => my.includes(m));
    })
  );
}

/** The driver window: the period itself when long enough, else driverWindowDays ending on its last day. */
export function driverWindow(period: Period, params: NarrativeParams): { start: string; end: string } {
  if (period.days >= params.driverWindowDays) {
    return { start: period.start, end: period.end };
  }
  return { start: dayFromIndex(dayIndex(period.end) - params.driverWindowDays + 1), end: period.end };
}

/**
 * stats.screenAssociations tests every pair of the metrics it is given; the same-record exclusion has to shape the
 * BH family itself, so the pair loop is here, on the same pairByDay / spearman / benjaminiHochberg.
 */
function screenDrivers(
  series: ReadonlyMap<string, SeriesPoint[]>,
  window: { start: string; end: string },
  params: DriverParams
): { drivers: DriverBeat[]; pairsTested: number } {
  const keys = [...series.keys()];
  // Each series cut to the window once, not once per pair it takes part in.
  const windowed = new Map(keys.map((k) => [k, within(series.get(k) ?? [], window)]));
  const tested: Omit<DriverBeat, 'qValue' | 'direction'>[] = [];
  for (let i = 0; i < keys.length; i++) {
    for (let j = i + 1; j < keys.length; j++) {
      const a = keys[i]!;
      const b = keys[j]!;
      const pa = windowed.get(a) ?? [];
      const pb = windowed.get(b) ?? [];
      if (pa.length < params.minPairedDays || pb.length < params.minPairedDays || sameRecord(a, b)) {
        continue;
      }
      const paired = pairByDay(pa, pb);
      if (paired.x.length < params.minPairedDays) {
        continue;
      }
      const s = spearman(paired.x, paired.y);
      if (s.ok) {
        tested.push({ a, b, n: s.result.n, rho: s.result.rho, pValue: s.result.pValue });
      }
    }
  }
  if (tested.length === 0) {
    return { drivers: [], pairsTested: 0 };
  }
  const bh = benjaminiHochberg(
    tested.map((t) => t.pValue),
    params.q
  );
  const drivers = tested
    .map((t, i) => ({
      ...t,
      qValue: bh.qValues[i]!,
      direction: t.rho > 0 ? ('together' as const) : ('opposite' as const),
      survives: bh.rejected[i]!,
    }))
    .filter((t) => t.survives && t.rho !== 0)
    .map(({ survives: _survives, ...t }) => t)
    .sort(
      (x, y) =>
        x.qValue - y.qValue || Math.abs(y.rho) - Math.abs(x.rho) || compareText(x.a, y.a) || compareText(x.b, y.b)
    );
  return { drivers, pairsTested: tested.length };
}

/**
 * @param input - the owner's daily series and bands, the period and the one before, their annotations
 * @returns the beats of the period's narrative, or why there is none
 */
export function buildBeats(input: NarrativeInput): BeatsOutcome {
  const params = input.params ?? NARRATIVE_PARAMS;
  const driverParams = input.drivers ?? ANALYTICS_PARAMS.drivers;
  const { period, prior } = input;
  const keys = Object.keys(input.series).sort(compareText);
  const series = new Map(keys.map((k) => [k, sortedPoints(input.series[k] ?? [])]));

  const minDays = params.minDays[period.kind];
  const deltas: DeltaBeat[] = [];
  let anyInPeriod = false;
  for (const [key, points] of series) {
    const current = within(points, period);
    const before = within(points, prior);
    anyInPeriod ||= current.length > 0;
    if (current.length >= minDays && before.length >= minDays) {
      deltas.push(deltaBeat(key, current, before));
    }
  }
  if (!anyInPeriod || deltas.length === 0) {
    return { ok: false, gated: anyInPeriod ? 'too-little-history' : 'no-data', period, prior };
  }
  deltas.sort(
    (a, b) =>
      // Infinity − Infinity is NaN, which is falsy: two constant-but-different metrics fall through to the key.
      Math.abs(b.standardizedChange) - Math.abs(a.standardizedChange) || compareText(a.key, b.key)
  );

  const bands: BandBeat[] = [];
  const outside = new Map<string, { key: string; status: 'above' | 'below' }[]>();
  for (const key of Object.keys(input.bands).sort(compareText)) {
    const days = input.bands[key] ?? [];
    const beat = bandBeat(key, days, period, within(series.get(key) ?? [], period));
    if (beat) {
      bands.push(beat);
    }
    for (const d of days) {
      if (inPeriod(d.day, period) && (d.status === 'above' || d.status === 'below')) {
        outside.set(d.day, [...(outside.get(d.day) ?? []), { key, status: d.status }]);
      }
    }
  }
  const coincident = [...outside.entries()]
    .filter(([, metrics]) => metrics.length >= params.coincidentMinMetrics)
    .map(([day, metrics]) => ({ day, metrics: [...metrics].sort((a, b) => compareText(a.key, b.key)) }))
    .sort((a, b) => compareText(a.day, b.day));

  const window = driverWindow(period, params);
  const { drivers, pairsTested } = screenDrivers(series, window, driverParams);

  const annotations = (input.annotations ?? [])
    .filter((a) => a.start <= period.end && a.end >= period.start)
    .map((a) => ({ start: a.start, end: a.end, kind: a.kind, ...(a.note !== undefined ? { note: a.note } : {}) }))
    .sort(
      (a, b) =>
        compareText(a.start, b.start) ||
        compareText(a.end, b.end) ||
        compareText(a.kind, b.kind) ||
        compareText(a.note ?? '', b.note ?? '')
    );

  const sources = [
    ...new Set([
      ...deltas.flatMap((d) => d.sources),
      ...bands.flatMap((b) => b.sources),
      ...drivers.flatMap((d) => [
        ...sourcesOf(within(series.get(d.a) ?? [], window)),
        ...sourcesOf(within(series.get(d.b) ?? [], window)),
      ]),
    ]),
  ].sort(compareText);

  return {
    ok: true,
    beats: {
      period,
      prior,
      deltas,
      bands,
      coincident,
      drivers,
      driverWindow: { ...window, pairsTested },
      annotations,
      sources,
      paramsVersion: { narrative: params.version, analytics: ANALYTICS_PARAMS.version },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Labels, units, numbers, dates

interface SeriesInfo {
  readonly label: string;
  readonly coding?: MetricCoding;
  /** UCUM code ('' when the key is not in the catalogue). */
  readonly unit: string;
  readonly unitLabel: string;
}

/** @returns the catalogue's label, coding and unit of a series key (a metric, or a panel's component) */
export function seriesInfo(key: string): SeriesInfo {
  const [base, component] = key.split('.', 2) as [string, string | undefined];
  const metric = metricOf(base);
  if (!metric) {
    return { label: key, unit: '', unitLabel: '' };
  }
  if (component === undefined) {
    return { label: metric.label, coding: metric.code, unit: metric.unit, unitLabel: metric.unitLabel };
  }
  const member = allowedComponents(metric).find((c) => c.rangeKey === key);
  if (!member) {
    return { label: key, unit: '', unitLabel: '' };
  }
  return {
    label: `${metric.label}: ${member.label}`,
    coding: member.code,
    unit: member.unit,
    unitLabel: metric.unitLabel,
  };
}

/** @returns the label in the locale; German falls back to the catalogue's English label where the table has none */
export function metricLabel(key: string, locale: Locale): string {
  return (locale === 'de' ? GERMAN_LABELS[key] : undefined) ?? seriesInfo(key).label;
}

/** English lowercases a label inside a sentence ("and resting heart rate"), but not an acronym (HRV, SpO2). */
function inSentence(label: string, locale: Locale): string {
  const [first = '', second = ''] = label;
  return locale === 'en' && second !== second.toUpperCase() ? first.toLowerCase() + label.slice(1) : label;
}

function unitText(key: string, locale: Locale): string {
  const { unit, unitLabel } = seriesInfo(key);
  if (unit === '{score}' || unit === '') {
    // A score's "unit" is its scale; "12.3 strain (0–21)" reads worse than the number alone.
    return '';
  }
  return locale === 'de' ? (GERMAN_UNITS[unitLabel] ?? unitLabel) : unitLabel;
}

const MINUS = '\u2212';

/**
 * Fixed decimals with the locale's separators (en 1,234.5; de 1.234,5), and a typographic minus. Hand-made rather
 * than Intl.NumberFormat so the text is the same on every server whatever its ICU data.
 */
export function formatNumber(value: number, decimals: number, locale: Locale, signed = false): string {
  const fixed = Math.abs(value).toFixed(decimals);
  const [int = '0', frac] = fixed.split('.');
  const group = locale === 'de' ? '.' : ',';
  let grouped = '';
  for (let i = 0; i < int.length; i++) {
    if (i > 0 && (int.length - i) % 3 === 0) {
      grouped += group;
    }
    grouped += int[i];
  }
  const body = frac === undefined ? grouped : grouped + (locale === 'de' ? ',' : '.') + frac;
  const zero = /^[0.]*$/.test(fixed);
  const sign = zero ? (signed ? '±' : '') : value < 0 ? MINUS : signed ? '+' : '';
  return sign + body;
}

/** Decimals for a metric's values: three significant digits for ordinary magnitudes, whole numbers from 100. */
function decimalsFor(...values: number[]): number {
  const m = Math.max(...values.map(Math.abs));
  return m >= 100 ? 0 : m >= 10 ? 1 : 2;
}

function withUnit(number: string, unit: string, locale: Locale): string {
  if (unit === '') {
    return number;
  }
  // English writes 66%, German 66 % (DIN 5008); every other unit takes a space in both.
  return unit === '%' && locale === 'en' ? number + unit : `${number} ${unit}`;
}

const MONTHS: Readonly<Record<Locale, readonly string[]>> = {
  en: [
    'January',
    'February',
    'March',
    'April',
    'May',
    'June',
    'July',
    'August',
    'September',
    'October',
    'November',
    'December',
  ],
  de: [
    'Januar',
    'Februar',
    'März',
    'April',
    'Mai',
    'Juni',
    'Juli',
    'August',
    'September',
    'Oktober',
    'November',
    'Dezember',
  ],
};
const MONTHS_SHORT: Readonly<Record<Locale, readonly string[]>> = {
  en: ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'],
  de: ['Jan.', 'Feb.', 'März', 'Apr.', 'Mai', 'Juni', 'Juli', 'Aug.', 'Sept.', 'Okt.', 'Nov.', 'Dez.'],
};
const WEEKDAYS: Readonly<Record<Locale, readonly string[]>> = {
  en: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'],
  de: ['Mo.', 'Di.', 'Mi.', 'Do.', 'Fr.', 'Sa.', 'So.'],
};

/** @returns 'Tue 3 Nov' / 'Di., 3. Nov.', with the year when asked ('Tue 3 Nov 2026' / 'Di., 3. Nov. 2026') */
export function formatDay(day: string, locale: Locale, withYear = false): string {
  const weekday = WEEKDAYS[locale][(((dayIndex(day) + 3) % 7) + 7) % 7] ?? '';
  const month = MONTHS_SHORT[locale][Number(day.slice(5, 7)) - 1] ?? '';
  const date = Number(day.slice(8, 10));
  const year = withYear ? ` ${Number(day.slice(0, 4))}` : '';
  return locale === 'de' ? `${weekday}, ${date}. ${month}${year}` : `${weekday} ${date} ${month}${year}`;
}

function formatMonth(period: Period, locale: Locale): string {
  return `${MONTHS[locale][Number(period.start.slice(5, 7)) - 1] ?? ''} ${Number(period.start.slice(0, 4))}`;
}

function formatSpan(start: string, end: string, locale: Locale): string {
  const startYear = start.slice(0, 4) !== end.slice(0, 4);
  return `${formatDay(start, locale, startYear)} – ${formatDay(end, locale, true)}`;
}

const SOURCE_NAMES: Readonly<Record<string, string>> = { whoop: 'WHOOP', oura: 'Oura', withings: 'Withings' };

/** The kind's label from the annotation CodeSystem table; a kind it does not define is shown as written. */
function kindLabel(kind: string, locale: Locale): string {
  return annotationKind(kind)?.label[locale] ?? kind;
}

function list(items: readonly string[], locale: Locale): string {
  if (items.length <= 1) {
    return items.join('');
  }
  const and = locale === 'de' ? ' und ' : ' and ';
  return items.slice(0, -1).join(', ') + and + (items[items.length - 1] ?? '');
}

// ---------------------------------------------------------------------------------------------------------------
// Templates

function header(beats: Beats, locale: Locale): string {
  const { period, prior } = beats;
  if (period.kind === 'month') {
    return locale === 'de'
      ? `${formatMonth(period, locale)}, verglichen mit ${formatMonth(prior, locale)}.`
      : `${formatMonth(period, locale)}, compared with ${formatMonth(prior, locale)}.`;
  }
  const span = formatSpan(period.start, period.end, locale);
  return locale === 'de'
    ? `Woche ${period.label} (${span}), verglichen mit der Vorwoche.`
    : `Week ${period.label} (${span}), compared with the week before.`;
}

function changeText(d: DeltaBeat, decimals: number, locale: Locale): string {
  if (d.percentChange !== undefined) {
    return withUnit(formatNumber(d.percentChange, 1, locale, true), '%', locale);
  }
  // An absolute change is the difference of the two numbers as shown, so the sentence adds up for its reader
  // (96.8 % vs 97.1 % reads as −0.3, even when the unrounded means differ by 0.38).
  const shown = Number(d.currentMean.toFixed(decimals)) - Number(d.priorMean.toFixed(decimals));
  if (seriesInfo(d.key).unit === '%') {
    return `${formatNumber(shown, decimals, locale, true)} ${locale === 'de' ? 'Prozentpunkte' : 'percentage points'}`;
  }
  return withUnit(formatNumber(shown, decimals, locale, true), unitText(d.key, locale), locale);
}

function deltaSentence(d: DeltaBeat, kind: Period['kind'], locale: Locale): string {
  const decimals = decimalsFor(d.currentMean, d.priorMean);
  const unit = unitText(d.key, locale);
  const current = withUnit(formatNumber(d.currentMean, decimals, locale), unit, locale);
  const prior = withUnit(formatNumber(d.priorMean, decimals, locale), unit, locale);
  const label = metricLabel(d.key, locale);
  const same = current === prior;
  const higher = d.change > 0;
  if (locale === 'de') {
    const before = kind === 'week' ? 'der Vorwoche' : 'des Vormonats';
    const inBefore = kind === 'week' ? 'in der Vorwoche' : 'im Vormonat';
    if (same) {
      return `${label} lag im Mittel auf dem Niveau ${before}: ${current}.`;
    }
    return `${label} lag im Mittel ${higher ? 'höher' : 'niedriger'} als ${inBefore}: ${current} statt ${prior} (${changeText(d, decimals, locale)}).`;
  }
  const before = kind === 'week' ? 'the week before' : 'the month before';
  if (same) {
    return `${label} averaged ${current}, the same as ${before}.`;
  }
  return `${label} averaged ${current}, ${higher ? 'up' : 'down'} from ${prior} ${before} (${changeText(d, decimals, locale)}).`;
}

function transitionPhrase(t: BandBeatTransition, locale: Locale): string {
  const day = formatDay(t.day, locale);
  if (locale === 'de') {
    if (t.to === 'within') {
      return `lag am ${day} wieder darin`;
    }
    if (t.from === 'within') {
      return t.to === 'above' ? `stieg am ${day} darüber` : `fiel am ${day} darunter`;
    }
    return t.to === 'above'
      ? `wechselte am ${day} von darunter nach darüber`
      : `wechselte am ${day} von darüber nach darunter`;
  }
  if (t.to === 'within') {
    return `was back within it on ${day}`;
  }
  if (t.from === 'within') {
    return t.to === 'above' ? `rose above it on ${day}` : `fell below it on ${day}`;
  }
  return t.to === 'above' ? `went from below to above it on ${day}` : `went from above to below it on ${day}`;
}

function bandSentence(b: BandBeat, locale: Locale, maxTransitions: number): string {
  const label = metricLabel(b.key, locale);
  const out = b.daysAbove + b.daysBelow;
  const parts: string[] = [];
  if (b.daysAbove > 0) {
    parts.push(locale === 'de' ? `${b.daysAbove} darüber` : `${b.daysAbove} above`);
  }
  if (b.daysBelow > 0) {
    parts.push(locale === 'de' ? `${b.daysBelow} darunter` : `${b.daysBelow} below`);
  }
  const phrases = b.transitions.length <= maxTransitions ? b.transitions.map((t) => transitionPhrase(t, locale)) : [];
  if (locale === 'de') {
    const head =
      out > 0
        ? `${label} lag an ${out} von ${b.bandedDays} Tagen außerhalb des üblichen Bereichs (${parts.join(', ')})`
        : `${label} lag an allen ${b.bandedDays} Tagen im üblichen Bereich`;
    return phrases.length > 0 ? `${head}; ${list(phrases, locale)}.` : `${head}.`;
  }
  const head =
    out > 0
      ? `${label} was outside its usual range on ${out} of ${b.bandedDays} days (${parts.join(', ')})`
      : `${label} was within its usual range on all ${b.bandedDays} days`;
  return phrases.length > 0 ? `${head}; it ${list(phrases, locale)}.` : `${head}.`;
}

function coincidentSentence(c: CoincidentBeat, locale: Locale): string {
  const names = c.metrics.map((m) => {
    const where = locale === 'de' ? (m.status === 'above' ? 'darüber' : 'darunter') : m.status;
    return `${inSentence(metricLabel(m.key, locale), locale)} (${where})`;
  });
  const day = formatDay(c.day, locale);
  return locale === 'de'
    ? `Am ${day} lagen ${c.metrics.length} Werte zugleich außerhalb ihres üblichen Bereichs: ${list(names, locale)}.`
    : `On ${day}, ${c.metrics.length} metrics were outside their usual range on the same day: ${list(names, locale)}.`;
}

function formatQ(q: number, locale: Locale): string {
  return q < 0.001 ? `< ${formatNumber(0.001, 3, locale)}` : `= ${formatNumber(q, 3, locale)}`;
}

function driverSentence(d: DriverBeat, beats: Beats, locale: Locale): string {
  const a = inSentence(metricLabel(d.a, locale), locale);
  const b = inSentence(metricLabel(d.b, locale), locale);
  const rho = formatNumber(d.rho, 2, locale);
  const { start, end } = beats.driverWindow;
  if (locale === 'de') {
    const how = d.direction === 'together' ? 'gemeinsam' : 'gegenläufig';
    return `Vom ${formatDay(start, locale)} bis ${formatDay(end, locale)} bewegten sich ${a} und ${b} ${how} (Spearman-ρ ${rho} über ${d.n} Tage, q ${formatQ(d.qValue, locale)}).`;
  }
  const how = d.direction === 'together' ? 'moved together' : 'moved in opposite directions';
  return `From ${formatDay(start, locale)} to ${formatDay(end, locale)}, ${a} and ${b} ${how} (Spearman's ρ ${rho} over ${d.n} days, q ${formatQ(d.qValue, locale)}).`;
}

function annotationSentence(a: AnnotationBeat, locale: Locale): string {
  const kind = kindLabel(a.kind, locale);
  const note = a.note === undefined ? '' : locale === 'de' ? ` („${a.note}“)` : ` (“${a.note}”)`;
  const first = formatDay(a.start, locale);
  if (locale === 'de') {
    const when = a.start === a.end ? first : `${first} bis ${formatDay(a.end, locale)}`;
    return `Ihre Notiz für ${when}: ${kind}${note}.`;
  }
  const when = a.start === a.end ? first : `${first} to ${formatDay(a.end, locale)}`;
  return `Your note for ${when}: ${kind}${note}.`;
}

/**
 * @param beats - from buildBeats
 * @param locale - the owner's language
 * @param params - how many beats the text names
 * @returns the narrative text (sentences separated by single spaces)
 */
export function renderNarrative(beats: Beats, locale: Locale, params: NarrativeParams = NARRATIVE_PARAMS): string {
  const sentences: string[] = [header(beats, locale)];
  sentences.push(...beats.annotations.map((a) => annotationSentence(a, locale)));
  const shown = beats.deltas.slice(0, params.maxDeltasInText);
  sentences.push(...shown.map((d) => deltaSentence(d, beats.period.kind, locale)));
  const rest = beats.deltas.length - shown.length;
  if (rest > 0) {
    sentences.push(
      locale === 'de'
        ? rest === 1
          ? '1 weiterer Wert veränderte sich weniger; alle Werte stehen in den Details.'
          : `${rest} weitere Werte veränderten sich weniger; alle Werte stehen in den Details.`
        : rest === 1
          ? '1 further metric changed less; all metrics are in the details.'
          : `${rest} further metrics changed less; all metrics are in the details.`
    );
  }
  const outside = beats.bands
    .filter((b) => b.daysAbove + b.daysBelow > 0)
    .sort((a, b) => b.daysAbove + b.daysBelow - (a.daysAbove + a.daysBelow) || compareText(a.key, b.key));
  const bands = outside.slice(0, params.maxBandsInText);
  // Named in the order of the beats (by key), so a reader finds a metric where the details list it.
  sentences.push(
    ...beats.bands.filter((b) => bands.includes(b)).map((b) => bandSentence(b, locale, params.maxTransitionsInText))
  );
  const moreBands = outside.length - bands.length;
  if (moreBands > 0) {
    sentences.push(
      locale === 'de'
        ? moreBands === 1
          ? '1 weiterer Wert lag an einzelnen Tagen außerhalb seines üblichen Bereichs.'
          : `${moreBands} weitere Werte lagen an einzelnen Tagen außerhalb ihres üblichen Bereichs.`
        : `${moreBands} further ${moreBands === 1 ? 'metric was' : 'metrics were'} outside ${moreBands === 1 ? 'its' : 'their'} usual range on some days.`
    );
  }
  const coincident = [...beats.coincident]
    .sort((a, b) => b.metrics.length - a.metrics.length || compareText(a.day, b.day))
    .slice(0, params.maxCoincidentInText);
  sentences.push(...beats.coincident.filter((c) => coincident.includes(c)).map((c) => coincidentSentence(c, locale)));
  const moreDays = beats.coincident.length - coincident.length;
  if (moreDays > 0) {
    sentences.push(
      locale === 'de'
        ? `An ${moreDays} ${moreDays === 1 ? 'weiteren Tag' : 'weiteren Tagen'} lagen ebenfalls zwei oder mehr Werte zugleich außerhalb ihres üblichen Bereichs.`
        : `On ${moreDays} further ${moreDays === 1 ? 'day' : 'days'}, two or more metrics were also outside their usual range.`
    );
  }
  const drivers = beats.drivers.slice(0, params.maxDriversInText);
  if (drivers.length > 0) {
    sentences.push(...drivers.map((d) => driverSentence(d, beats, locale)));
    sentences.push(
      locale === 'de'
        ? 'Das sind Muster in Ihren eigenen Daten, keine Erklärungen.'
        : 'These are patterns in your own data, not explanations.'
    );
  }
  if (beats.sources.length > 0) {
    const names = beats.sources.map((s) => SOURCE_NAMES[s] ?? s);
    sentences.push(
      locale === 'de'
        ? `${names.length === 1 ? 'Quelle' : 'Quellen'}: ${names.join(', ')}.`
        : `${names.length === 1 ? 'Source' : 'Sources'}: ${names.join(', ')}.`
    );
  }
  return sentences.join(' ');
}

/**
 * What the app shows instead of a narrative: a gated period says why, never a story made up from too little data.
 * @param gate - the reason from buildBeats
 * @param period - the period that has no narrative
 * @param locale - the owner's language
 * @param params - the minimum days the reason refers to
 */
export function renderGate(
  gate: NarrativeGate,
  period: Period,
  locale: Locale,
  params: NarrativeParams = NARRATIVE_PARAMS
): string {
  const n = params.minDays[period.kind];
  const what =
    period.kind === 'month'
      ? formatMonth(period, locale)
      : locale === 'de'
        ? `die Woche ${formatSpan(period.start, period.end, locale)}`
        : `the week ${formatSpan(period.start, period.end, locale)}`;
  if (locale === 'de') {
    const summary = period.kind === 'month' ? 'Keine Monatszusammenfassung' : 'Keine Wochenzusammenfassung';
    const unit = period.kind === 'month' ? 'diesem und dem Vormonat' : 'dieser und der Vorwoche';
    return gate === 'no-data'
      ? `${summary} für ${what}: In diesem Zeitraum wurden keine Werte aufgezeichnet.`
      : `${summary} für ${what}: Noch kein Wert liegt in ${unit} an jeweils mindestens ${n} Tagen vor.`;
  }
  const summary = period.kind === 'month' ? 'No monthly summary' : 'No weekly summary';
  const unit = period.kind === 'month' ? 'that month and the month before' : 'that week and the week before';
  return gate === 'no-data'
    ? `${summary} for ${what}: no values were recorded in that period.`
    : `${summary} for ${what}: no metric has values on at least ${n} days in both ${unit} yet.`;
}

// ---------------------------------------------------------------------------------------------------------------
// Observation

/** Extensions on a narrative component: which beat and field it is, which series, which sources. */
export const NARRATIVE_EXTENSION = {
  beat: PROFILE_BASE + '/narrative-beat',
  metric: PROFILE_BASE + '/narrative-metric',
  source: PROFILE_BASE + '/narrative-source',
} as const;

export const NARRATIVE_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/narrative';

/** Stored numbers keep four decimals: the float noise of a mean is not information, and stable text avoids no-op writes. */
function stored(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

function metricQuantity(key: string, value: number): Quantity {
  const { unit, unitLabel } = seriesInfo(key);
  return unit === '' ? { value: stored(value) } : { value: stored(value), unit: unitLabel, system: UCUM, code: unit };
}

function component(
  beat: string,
  code: CodeableConcept,
  value: Pick<ObservationComponent, 'valueQuantity' | 'valueInteger' | 'valueDateTime' | 'valuePeriod'>,
  metrics: readonly string[],
  sources: readonly string[]
): ObservationComponent {
  return {
    extension: [
      { url: NARRATIVE_EXTENSION.beat, valueString: beat },
      ...metrics.map((m) => ({ url: NARRATIVE_EXTENSION.metric, valueString: m })),
      ...sources.map((s) => ({ url: NARRATIVE_EXTENSION.source, valueString: s })),
    ],
    code,
    ...value,
  };
}

function metricCode(key: string, locale: Locale, field?: string): CodeableConcept {
  const { coding } = seriesInfo(key);
  const text = field === undefined ? metricLabel(key, locale) : `${metricLabel(key, locale)} (${field})`;
  return coding ? { coding: [{ system: coding.system, code: coding.code, display: coding.display }], text } : { text };
}

function components(beats: Beats, locale: Locale): ObservationComponent[] {
  const out: ObservationComponent[] = [];
  for (const d of beats.deltas) {
    const m = [d.key];
    out.push(
      component(
        'delta.current-mean',
        metricCode(d.key, locale),
        { valueQuantity: metricQuantity(d.key, d.currentMean) },
        m,
        d.sources
      )
    );
    out.push(
      component(
        'delta.prior-mean',
        metricCode(d.key, locale),
        { valueQuantity: metricQuantity(d.key, d.priorMean) },
        m,
        d.sources
      )
    );
    if (d.percentChange !== undefined) {
      out.push(
        component(
          'delta.percent-change',
          metricCode(d.key, locale),
          { valueQuantity: { value: stored(d.percentChange), unit: '%', system: UCUM, code: '%' } },
          m,
          d.sources
        )
      );
    }
    out.push(component('delta.current-days', metricCode(d.key, locale), { valueInteger: d.currentDays }, m, d.sources));
    out.push(component('delta.prior-days', metricCode(d.key, locale), { valueInteger: d.priorDays }, m, d.sources));
  }
  for (const b of beats.bands) {
    const m = [b.key];
    out.push(component('band.banded-days', metricCode(b.key, locale), { valueInteger: b.bandedDays }, m, b.sources));
    out.push(component('band.days-above', metricCode(b.key, locale), { valueInteger: b.daysAbove }, m, b.sources));
    out.push(component('band.days-below', metricCode(b.key, locale), { valueInteger: b.daysBelow }, m, b.sources));
    for (const t of b.transitions) {
      out.push(
        component(`band.${t.from}-to-${t.to}`, metricCode(b.key, locale), { valueDateTime: t.day }, m, b.sources)
      );
    }
  }
  for (const c of beats.coincident) {
    const keys = c.metrics.map((x) => x.key);
    const text = c.metrics.map((x) => `${metricLabel(x.key, locale)} (${x.status})`).join(', ');
    out.push(component('coincident', { text }, { valueDateTime: c.day }, keys, []));
  }
  for (const d of beats.drivers) {
    const code = { text: `${metricLabel(d.a, locale)} ~ ${metricLabel(d.b, locale)}` };
    const pair = [d.a, d.b];
    out.push(
      component('driver.rho', code, { valueQuantity: { value: stored(d.rho), system: UCUM, code: '1' } }, pair, [])
    );
    out.push(
      component('driver.q', code, { valueQuantity: { value: stored(d.qValue), system: UCUM, code: '1' } }, pair, [])
    );
    out.push(component('driver.days', code, { valueInteger: d.n }, pair, []));
  }
  for (const a of beats.annotations) {
    const kind = kindLabel(a.kind, locale);
    out.push(
      component(
        `annotation.${a.kind}`,
        { text: a.note === undefined ? kind : `${kind}: ${a.note}` },
        { valuePeriod: { start: a.start, end: a.end } },
        [],
        []
      )
    );
  }
  return out;
}

/** A reference's sort key: the literal reference, else its logical identifier. */
function referenceText(r: Reference): string {
  return r.reference ?? `${r.identifier?.system ?? ''}|${r.identifier?.value ?? ''}`;
}

export interface NarrativeObservationInput {
  /** The owner: a 'Patient/<id>' reference. */
  readonly subject: Reference<Patient> & { readonly reference: string };
  readonly beats: Beats;
  readonly locale: Locale;
  /**
   * The derived Observations (baselines) the narrative rests on; the profile requires at least one. A logical
   * reference (type + identifier) names a band by its stable identifier, so a narrative written in the same run as
   * its bands does not change once they have ids.
   */
  readonly derivedFrom: readonly Reference<Observation>[];
  /** The rendered text; default renderNarrative(beats, locale). */
  readonly text?: string;
}

/**
 * @returns a narrative Observation per the baseline-narrative-observation profile, identified by owner × kind ×
 *   period × locale so a recompute updates it in place, and free of timestamps so an unchanged recompute is a no-op
 */
export function narrativeObservation(input: NarrativeObservationInput): Observation {
  const { beats, locale, subject } = input;
  const patientId = /^Patient\/([^/]+)$/.exec(subject.reference)?.[1];
  if (patientId === undefined) {
    throw new Error(`narrative subject must be a Patient reference, got ${subject.reference}`);
  }
  if (input.derivedFrom.length === 0) {
    throw new Error('a narrative rests on derived Observations: derivedFrom must name at least one');
  }
  if (input.derivedFrom.some((r) => r.reference === undefined && (!r.identifier?.system || !r.identifier.value))) {
    throw new Error('each derivedFrom needs a reference or an identifier with system and value');
  }
  const code = beats.period.kind === 'week' ? 'narrative-weekly' : 'narrative-monthly';
  const concept = NARRATIVE_KINDS.find((k) => k.code === code);
  const { start, end } = beats.period;
  return {
    resourceType: 'Observation',
    language: locale,
    meta: { profile: [NARRATIVE_PROFILE] },
    identifier: [{ system: NARRATIVE_IDENTIFIER_SYSTEM, value: `${patientId}/${code}/${start}--${end}/${locale}` }],
    status: 'final',
    code: {
      coding: [{ system: CODE_SYSTEM, code, display: concept?.display ?? code }],
      text: concept?.display ?? code,
    },
    subject: { reference: subject.reference, ...(subject.display ? { display: subject.display } : {}) },
    // Owner-local days at date precision: a Period's end includes the whole of its last day (FHIR R4 Period.end).
    effectivePeriod: { start, end },
    method: {
      coding: [{ system: CODE_SYSTEM, code: 'narrative-template', display: 'Deterministic narrative template' }],
      text: `narrative template v${beats.paramsVersion.narrative}, analytics parameters v${beats.paramsVersion.analytics}`,
    },
    derivedFrom: [...input.derivedFrom]
      .map((r): Reference<Observation> =>
        r.reference !== undefined
          ? { reference: r.reference }
          : { type: 'Observation', identifier: { system: r.identifier?.system, value: r.identifier?.value } }
      )
      .sort((a, b) => compareText(referenceText(a), referenceText(b))),
    valueString: input.text ?? renderNarrative(beats, locale),
    component: components(beats, locale),
  };
}
