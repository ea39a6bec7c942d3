/**
 * The Data page's queries and the pure work on their results.
 *
 * Many metrics are stored as components of their record's Observation (a night's stages inside its sleep-duration
 * Observation, a workout's energy and heart rate zones inside its session; see the catalogue's `members`), so every
 * query uses `combo-code`, which matches Observation.code OR component.code (checked on a real Medplum 5.0.10 and on
 * the local stack, Nov 2026), and the value is read from the component when the Observation is the record's.
 *
 * What the page fetches (it shows the latest value per metric and one metric's chart, so that is all it asks for):
 * - Latest values: see latest.ts — the newest page of Observations decides nearly every metric in one search; the
 *   per-metric `combo-code=<metric codes>&_sort=-date&_count=1` searches (`buildLatestBatch`, one batch) run only for
 *   the few metrics that page leaves open. Each per-metric search is cheap on Medplum (an index lookup on subject,
 *   code and date) but costs 20 FHIR quota points, and ~50 of them on every visit added up.
 * - Charts: one metric over the chosen window (`date=ge<start>`, 30 days first), oldest first, 1000 per page
 *   (Medplum's maximum), stopping after MAX_SERIES_PAGES. A daily metric is ~365 rows a year; the cap only matters
 *   for a metric recorded many times a day, and the chart says when it was reached.
 * Both trim each Observation to the elements the page reads (`_elements`), filter on `status` so retracted records
 * (`entered-in-error`, how a deleted WHOOP record is marked) never show,
 * and on the wearable profile so the page shows what the wearables imported, not derived or EHR-entered data.
 */
import type { Bundle, BundleEntry, Device, Observation, ObservationComponent, Resource } from '@medplum/fhirtypes';
import { METRICS, metricByCode, metricCodings, metricParents } from '../../../../bots/shared/catalogue.ts';
import type { Metric, MetricCoding, MetricGroup } from '../../../../bots/shared/catalogue.ts';
import { WEARABLE_PROFILE } from '../../../../bots/shared/systems.ts';

/** Observation statuses that carry a current value; everything else (entered-in-error, cancelled, ...) is hidden. */
export const CURRENT_STATUSES = ['final', 'amended', 'corrected', 'preliminary'] as const;

export const SERIES_PAGE_SIZE = 1000;
export const MAX_SERIES_PAGES = 10;

/**
 * The Observation elements the page reads (`_elements`; Medplum adds the mandatory ones, `status` and `code`, and
 * each choice type's variants: `value` brings valueQuantity, valueSampledData, ...). Identifiers, categories,
 * `derivedFrom`, text and the rest stay on the server: about half of each Observation's bytes.
 */
export const OBSERVATION_ELEMENTS = ['status', 'code', 'effective', 'value', 'component', 'device'] as const;
/** The Device elements `deviceLabel` reads, for searches that `_include` Devices (`_elements` applies to them too). */
export const DEVICE_ELEMENTS = ['deviceName', 'manufacturer'] as const;

/** Chart windows offered, in days. */
export const CHART_WINDOWS = [30, 90, 365] as const;
export type ChartWindow = (typeof CHART_WINDOWS)[number];
/** The window a first visit charts: a month of daily values is readable point by point and a small download. */
export const DEFAULT_CHART_WINDOW: ChartWindow = 30;

/** Section titles and order of the catalogue's metric groups on the page. */
export const GROUP_LABELS: Readonly<Record<MetricGroup, string>> = {
  scores: 'Scores',
  heart: 'Heart',
  sleep: 'Sleep',
  respiratory: 'Breathing and oxygen',
  temperature: 'Temperature',
  activity: 'Activity',
  body: 'Body',
};
const GROUP_ORDER = Object.keys(GROUP_LABELS) as MetricGroup[];

/** The codings that identify a metric's value: its own codes, or for a panel (heart rate zones) its members'. */
function valueCodings(metric: Metric): MetricCoding[] {
  return metric.components
    ? [...metricCodings(metric), ...metric.components.map((c) => c.code)]
    : metricCodings(metric);
}

/**
 * @param metric - a catalogue metric.
 * @returns Its value codings as a token search value (`system|code,...`).
 */
export function codeParam(metric: Metric): string {
  return valueCodings(metric)
    .map((c) => `${c.system}|${c.code}`)
    .join(',');
}

/**
 * Record panels whose copy of this metric the page does not show as the metric: a workout's energy and heart rates
 * describe the workout, and mixed into the daily values they would make "Total energy 375 kcal" read as a day. A
 * session is excluded only when the metric also has a daily home (a cycle or night); distance, altitude gain,
 * workout strain and heart rate zones live only in workouts and are shown from there.
 * @param metric - a catalogue metric.
 * @returns The session metrics to exclude (usually none).
 */
export function excludedParents(metric: Metric): Metric[] {
  const parents = metricParents(metric.key);
  const isSession = (m: Metric): boolean => m.valueTypes.includes('CodeableConcept');
  return parents.some((p) => !isSession(p)) ? parents.filter(isSession) : [];
}

function baseParams(patientId: string, metric: Metric): URLSearchParams {
  // `combo-code` first: the local stack evaluates filters in order, and this one rejects most Observations.
  const params = new URLSearchParams({
    'combo-code': codeParam(metric),
    subject: `Patient/${patientId}`,
    status: CURRENT_STATUSES.join(','),
    _profile: WEARABLE_PROFILE,
  });
  const excluded = excludedParents(metric).flatMap(metricCodings);
  if (excluded.length > 0) {
    // `:not` on a token, comma-separated: none of these codes (checked on Medplum 5.0.10 and the local stack).
    params.set('code:not', excluded.map((c) => `${c.system}|${c.code}`).join(','));
  }
  return params;
}

/**
 * @param patientId - the signed-in patient's id.
 * @param metrics - the metrics to look up (default: the whole catalogue).
 * @returns A batch Bundle with one `_count=1` newest-first search per metric, in the same order as `metrics`.
 */
export function buildLatestBatch(patientId: string, metrics: readonly Metric[] = METRICS): Bundle {
  return {
    resourceType: 'Bundle',
    type: 'batch',
    entry: metrics.map((metric): BundleEntry => {
      const params = baseParams(patientId, metric);
      // Medplum sorts resources without a date FIRST on `-date`; a date filter keeps an undated Observation (e.g.
      // one an EHR wrote) from being shown as the latest value.
      params.set('date', 'ge1970-01-01T00:00:00Z');
      params.set('_sort', '-date');
      params.set('_count', '1');
      params.set('_include', 'Observation:device');
      params.set('_elements', [...OBSERVATION_ELEMENTS, ...DEVICE_ELEMENTS].join(','));
      return { request: { method: 'GET', url: `Observation?${params.toString()}` } };
    }),
  };
}

/**
 * @param patientId - the signed-in patient's id.
 * @param metric - the charted metric.
 * @param days - window length.
 * @param now - the current time.
 * @returns Search parameters for the metric's values in the window, oldest first.
 */
export function buildSeriesQuery(patientId: string, metric: Metric, days: number, now: Date): URLSearchParams {
  const params = baseParams(patientId, metric);
  params.set('date', `ge${new Date(now.getTime() - days * 86_400_000).toISOString()}`);
  params.set('_sort', 'date');
  params.set('_count', String(SERIES_PAGE_SIZE));
  params.set('_elements', OBSERVATION_ELEMENTS.join(','));
  return params;
}

/** An Observation's value in the catalogue unit, by kind. */
export type ObservationValue =
  | { readonly kind: 'quantity'; readonly value: number }
  | { readonly kind: 'panel'; readonly values: readonly number[] }
  | { readonly kind: 'series'; readonly mean: number; readonly count: number }
  /** A coded session (a workout): what it was, and its length in the metric's unit (minutes). */
  | { readonly kind: 'session'; readonly text: string; readonly length: number };

/**
 * Reads an Observation's value as the catalogue defines it. A Quantity in another unit is not converted here (the
 * bots always store the catalogue unit); it is treated as unreadable rather than shown with the wrong unit.
 * @param obs - the Observation.
 * @param metric - its catalogue metric.
 * @returns The value, or undefined when the Observation carries none the page can show.
 */
export function observationValue(obs: Observation, metric: Metric): ObservationValue | undefined {
  if (!hasOwnCode(obs, metric) && !metric.components) {
    // A member stored inside its record's Observation (a night's deep sleep, a workout's energy).
    return memberValue(obs, metric);
  }
  if (metric.components) {
    const values: number[] = [];
    for (const member of metric.components) {
      const component = obs.component?.find((c) =>
        c.code.coding?.some((coding) => coding.system === member.code.system && coding.code === member.code.code)
      );
      const value = component?.valueQuantity?.value;
      if (typeof value !== 'number' || !sameUnit(component?.valueQuantity?.code, member.unit)) {
        return undefined;
      }
      values.push(value);
    }
    return { kind: 'panel', values };
  }
  const quantity = obs.valueQuantity;
  if (quantity && typeof quantity.value === 'number' && sameUnit(quantity.code, metric.unit)) {
    return { kind: 'quantity', value: quantity.value };
  }
  if (obs.valueCodeableConcept && metric.valueTypes.includes('CodeableConcept')) {
    return sessionValue(obs, metric);
  }
  const sampled = obs.valueSampledData;
  if (sampled?.data && sameUnit(sampled.origin.code, metric.unit)) {
    // SampledData holds (origin + factor·x) per sample; "E", "L", "U" mark samples without a value.
    const factor = sampled.factor ?? 1;
    const origin = sampled.origin.value ?? 0;
    const samples = sampled.data
      .split(/\s+/)
      .filter((s) => s !== '' && !Number.isNaN(Number(s)))
      .map((s) => origin + factor * Number(s));
    if (samples.length === 0) {
      return undefined;
    }
    return { kind: 'series', mean: samples.reduce((a, b) => a + b, 0) / samples.length, count: samples.length };
  }
  return undefined;
}

function hasOwnCode(obs: Observation, metric: Metric): boolean {
  return obs.code.coding?.some((c) => metricByCode(c.system, c.code)?.key === metric.key) ?? false;
}

function componentWith(obs: Observation, codings: readonly MetricCoding[]): ObservationComponent | undefined {
  return obs.component?.find((c) =>
    c.code.coding?.some((coding) => codings.some((m) => m.system === coding.system && m.code === coding.code))
  );
}

function memberValue(obs: Observation, metric: Metric): ObservationValue | undefined {
  const quantity = componentWith(obs, metricCodings(metric))?.valueQuantity;
  if (quantity && typeof quantity.value === 'number' && sameUnit(quantity.code, metric.unit)) {
    return { kind: 'quantity', value: quantity.value };
  }
  return undefined;
}

function sessionValue(obs: Observation, metric: Metric): ObservationValue | undefined {
  const concept = obs.valueCodeableConcept;
  const text = concept?.text ?? concept?.coding?.find((c) => c.display)?.display;
  const start = Date.parse(obs.effectivePeriod?.start ?? '');
  const end = Date.parse(obs.effectivePeriod?.end ?? '');
  // The catalogue gives a coded metric the unit of its session's length; minutes is the only one it uses.
  if (!text || Number.isNaN(start) || Number.isNaN(end) || end < start || metric.unit !== 'min') {
    return undefined;
  }
  return { kind: 'session', text, length: (end - start) / 60_000 };
}

function sameUnit(code: string | undefined, unit: string): boolean {
  // Quantity.code is optional in FHIR; the profile requires it, but an absent code is not evidence of another unit.
  return code === undefined || code === unit;
}

/**
 * When the measurement applies: the instant, or the end of its period (a night's sleep is "this morning's").
 * @param obs - the Observation.
 * @returns The time, or undefined when the Observation has no effective time.
 */
export function observationTime(obs: Observation): Date | undefined {
  const raw = obs.effectiveDateTime ?? obs.effectiveInstant ?? obs.effectivePeriod?.end ?? obs.effectivePeriod?.start;
  if (!raw) {
    return undefined;
  }
  const time = new Date(raw);
  return Number.isNaN(time.getTime()) ? undefined : time;
}

/**
 * @param device - the Device, if it could be read.
 * @param obs - the Observation naming it (its reference may carry a display).
 * @returns A name for the source device, or undefined.
 */
export function deviceLabel(device: Device | undefined, obs: Observation): string | undefined {
  return device?.deviceName?.find((n) => n.name)?.name ?? device?.manufacturer ?? obs.device?.display ?? undefined;
}

export interface LatestValue {
  readonly metric: Metric;
  readonly observationId: string | undefined;
  readonly value: ObservationValue;
  readonly time: Date | undefined;
  readonly device: string | undefined;
}

export interface LatestResult {
  /** One entry per metric that has a current value, in catalogue order. */
  readonly latest: LatestValue[];
  /** Metrics whose search failed, with the server's reason; the rest of the page still renders. */
  readonly failures: { readonly metric: Metric; readonly reason: string }[];
}

export function isObservation(r: Resource | undefined): r is Observation {
  return r?.resourceType === 'Observation';
}

export function isDevice(r: Resource | undefined): r is Device {
  return r?.resourceType === 'Device';
}

function outcomeText(entry: BundleEntry): string {
  const outcome =
    entry.response?.outcome ?? (entry.resource?.resourceType === 'OperationOutcome' ? entry.resource : undefined);
  const text = outcome?.resourceType === 'OperationOutcome' ? outcome.issue?.[0]?.details?.text : undefined;
  return text ?? `HTTP ${entry.response?.status ?? 'status unknown'}`;
}

/**
 * Reads the batch response of `buildLatestBatch`.
 * @param response - the batch-response Bundle.
 * @param metrics - the same metrics, in the same order, as the request.
 * @returns The latest value per metric, and the metrics whose search failed.
 */
export function readLatestBatch(response: Bundle, metrics: readonly Metric[] = METRICS): LatestResult {
  const latest: LatestValue[] = [];
  const failures: { metric: Metric; reason: string }[] = [];
  metrics.forEach((metric, i) => {
    const entry = response.entry?.[i];
    const status = entry?.response?.status ?? '';
    const searchset = entry?.resource;
    if (!entry || !status.startsWith('2') || searchset?.resourceType !== 'Bundle') {
      failures.push({ metric, reason: entry ? outcomeText(entry) : 'no response' });
      return;
    }
    const resources = (searchset.entry ?? []).map((e) => e.resource);
    const devices = new Map(resources.filter(isDevice).map((d) => [`Device/${d.id}`, d]));
    const obs = resources
      .filter(isObservation)
      // Defence in depth: the search already excludes these, but a retraction must never be shown as a value.
      .find((o) => o.status !== 'entered-in-error' && sameMetric(o, metric));
    if (!obs) {
      return;
    }
    const value = observationValue(obs, metric);
    if (!value) {
      return;
    }
    const deviceRef = obs.device?.reference;
    latest.push({
      metric,
      observationId: obs.id,
      value,
      time: observationTime(obs),
      device: deviceLabel(deviceRef ? devices.get(deviceRef) : undefined, obs),
    });
  });
  return { latest, failures };
}

/**
 * The Observation is the metric's own, or a record Observation carrying the metric's value as a component (and not
 * one of the sessions the page leaves out for this metric).
 */
export function sameMetric(obs: Observation, metric: Metric): boolean {
  if (hasOwnCode(obs, metric)) {
    return true;
  }
  if (excludedParents(metric).some((parent) => hasOwnCode(obs, parent))) {
    return false;
  }
  return componentWith(obs, valueCodings(metric)) !== undefined;
}

export interface MetricGroupSection {
  readonly group: MetricGroup;
  readonly label: string;
  readonly items: LatestValue[];
}

/**
 * @param latest - latest values (any order).
 * @returns Non-empty groups in page order, items in catalogue order.
 */
export function groupLatest(latest: readonly LatestValue[]): MetricGroupSection[] {
  const order = new Map(METRICS.map((m, i) => [m.key, i]));
  return GROUP_ORDER.map((group) => ({
    group,
    label: GROUP_LABELS[group],
    items: latest
      .filter((l) => l.metric.group === group)
      .sort((a, b) => (order.get(a.metric.key) ?? 0) - (order.get(b.metric.key) ?? 0)),
  })).filter((g) => g.items.length > 0);
}

/** One chart point: a time and one value per series key. */
export interface SeriesPoint {
  readonly time: number;
  readonly values: Readonly<Record<string, number>>;
}

export interface SeriesLine {
  /** Key in SeriesPoint.values. */
  readonly key: string;
  readonly label: string;
}

/**
 * @param metric - a catalogue metric.
 * @returns The lines its chart draws: one per panel member, otherwise one.
 */
export function seriesLines(metric: Metric): SeriesLine[] {
  if (metric.components) {
    return metric.components.map((c) => ({ key: c.code.code, label: c.label }));
  }
  if (metric.valueTypes.includes('CodeableConcept')) {
    return [{ key: 'value', label: `${metric.label} length` }];
  }
  return [{ key: 'value', label: metric.label }];
}

/**
 * Turns a metric's Observations into chart points, oldest first. Observations without a time or a readable value,
 * and retracted ones, are left out; SampledData contributes its mean (the chart shows one point per record).
 * @param observations - the metric's Observations (any order).
 * @param metric - their catalogue metric.
 * @returns Points sorted by time.
 */
export function toSeriesPoints(observations: readonly Observation[], metric: Metric): SeriesPoint[] {
  const lines = seriesLines(metric);
  const points: SeriesPoint[] = [];
  for (const obs of observations) {
    if (obs.status === 'entered-in-error' || !sameMetric(obs, metric)) {
      continue;
    }
    const time = observationTime(obs);
    const value = observationValue(obs, metric);
    if (!time || !value) {
      continue;
    }
    let values: Record<string, number>;
    switch (value.kind) {
      case 'quantity':
        values = { value: value.value };
        break;
      case 'series':
        values = { value: value.mean };
        break;
      case 'session':
        values = { value: value.length };
        break;
      case 'panel':
        values = Object.fromEntries(lines.map((line, i) => [line.key, value.values[i] ?? Number.NaN]));
        break;
    }
    points.push({ time: time.getTime(), values });
  }
  return points.sort((a, b) => a.time - b.time);
}
