/**
 * Intraday series for the day view: which Observations to read for one owner-local day, and how to turn them into
 * chart points with the gaps left as gaps.
 *
 * A series is stored per UTC day (bots/shared/sampled-data.ts), so a local day overlaps one UTC day (UTC itself) or
 * two (anywhere else); the query asks for the series Observations of the metric whose window touches the local
 * day, by `code` and `date`, and the points are cut to the local day after decoding. A local day is 23 or 25 hours
 * on a daylight-saving change, which the range computation gets from the time zone, never from 24 × 60 minutes.
 *
 * One chart line per device series (its per-Observation identifier without the metric and window: a watch's minute
 * heart rate and a ring's 5-minute heart rate are two lines, with two periods). Points are on the series' own grid:
 * a period without a sample is a `null` point, so the line breaks there instead of being drawn across the gap.
 */
import type { Device, Observation } from '@medplum/fhirtypes';
import type { Metric } from '../../../bots/shared/catalogue.ts';
import { decodeSlots, INTRADAY_PROFILE, SERIES_WINDOW_MS } from '../../../bots/shared/sampled-data.ts';

/** Observation statuses that carry a current value (retracted series are never charted). */
const CURRENT_STATUSES = ['final', 'amended', 'corrected', 'preliminary'] as const;

export interface TimeRange {
  /** ms since the epoch, inclusive. */
  readonly start: number;
  /** ms since the epoch, exclusive. */
  readonly end: number;
}

export interface IntradayPoint {
  readonly t: number;
  /** The value in the metric's catalogue unit, or null for a period without a valid sample. */
  readonly v: number | null;
}

export interface IntradaySeries {
  /** Identifies the device series (stable across days). */
  readonly key: string;
  /** The Device reference, when the Observations name one. */
  readonly device: string | undefined;
  /** What to call it: the Device's name, else its display, else the reference. */
  readonly label: string;
  readonly periodMs: number;
  /** One point per period from the first to the last sample in the range; nulls are gaps. */
  readonly points: IntradayPoint[];
  /** Points with a value. */
  readonly samples: number;
  /** Runs of missing periods between samples (an absence before the first or after the last is not counted). */
  readonly gaps: number;
  readonly min: number | undefined;
  readonly max: number | undefined;
}

export interface IntradayDay {
  readonly range: TimeRange;
  readonly series: IntradaySeries[];
  /** Observations that could not be read, each with why (shown, not silently dropped). */
  readonly problems: string[];
}

/** Offset of a time zone from UTC at an instant, in ms (positive east of Greenwich). */
function zoneOffset(ms: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(ms);
  const part = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(part('year'), part('month') - 1, part('day'), part('hour'), part('minute'), part('second'));
  return asUtc - Math.floor(ms / 1000) * 1000;
}

function parseDay(day: string): [number, number, number] {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!match) {
    throw new Error(`${day} is not a YYYY-MM-DD date`);
  }
  return [Number(match[1]), Number(match[2]) - 1, Number(match[3])];
}

/** The instant of local midnight at the start of a calendar date (y, m0, d may overflow, as in Date.UTC). */
function localMidnight(y: number, m0: number, d: number, timeZone: string | undefined): number {
  if (timeZone === undefined) {
    return new Date(y, m0, d).getTime();
  }
  const wall = Date.UTC(y, m0, d);
  // Two rounds: the offset at the first guess may be the other side of a DST change from the answer.
  let t = wall - zoneOffset(wall, timeZone);
  t = wall - zoneOffset(t, timeZone);
  return t;
}

/**
 * @param day - a calendar date, `YYYY-MM-DD`
 * @param timeZone - IANA zone; undefined means the browser's
 * @returns local midnight to the next local midnight (23 or 25 hours on a DST change)
 */
export function localDayRange(day: string, timeZone?: string): TimeRange {
  const [y, m0, d] = parseDay(day);
  return { start: localMidnight(y, m0, d, timeZone), end: localMidnight(y, m0, d + 1, timeZone) };
}

/**
 * @param day - a calendar date, `YYYY-MM-DD`
 * @param delta - days to move (negative: back)
 * @returns the date `delta` days away
 */
export function shiftDay(day: string, delta: number): string {
  const [y, m0, d] = parseDay(day);
  return new Date(Date.UTC(y, m0, d + delta)).toISOString().slice(0, 10);
}

/**
 * @param now - the current time
 * @param timeZone - IANA zone; undefined means the browser's
 * @returns today's calendar date where the reader is
 */
export function localToday(now: Date, timeZone?: string): string {
  // en-CA formats a date as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}

/** @returns the starts (ms) of the UTC-day windows overlapping the range, ascending */
export function utcWindowStarts(range: TimeRange): number[] {
  const starts: number[] = [];
  for (let t = Math.floor(range.start / SERIES_WINDOW_MS) * SERIES_WINDOW_MS; t < range.end; t += SERIES_WINDOW_MS) {
    starts.push(t);
  }
  return starts;
}

/**
 * @param patientId - the owner
 * @param metric - a catalogue metric that takes SampledData
 * @param range - the local day
 * @returns search parameters for the series Observations whose UTC-day window overlaps the range. The date bounds
 *   select a superset whether the server indexes a Period by its start or by its whole span; readIntradayDay cuts
 *   to the range. Devices are included for their names.
 */
export function buildIntradayQuery(patientId: string, metric: Metric, range: TimeRange): URLSearchParams {
  const starts = utcWindowStarts(range);
  const first = starts[0] ?? range.start;
  const last = (starts.at(-1) ?? range.start) + SERIES_WINDOW_MS;
  return new URLSearchParams([
    ['subject', `Patient/${patientId}`],
    ['code', [metric.code, ...(metric.extraCodes ?? [])].map((c) => `${c.system}|${c.code}`).join(',')],
    ['_profile', INTRADAY_PROFILE],
    ['status', CURRENT_STATUSES.join(',')],
    ['date', `ge${new Date(first).toISOString()}`],
    ['date', `lt${new Date(last).toISOString()}`],
    ['_sort', 'date'],
    // A handful of device series × two windows; far below one page.
    ['_count', '100'],
    ['_include', 'Observation:device'],
  ]);
}

/** The series an Observation belongs to: its own identifier minus `:<metric>:<window start>`. */
function seriesKey(observation: Observation): string | undefined {
  const id = observation.identifier?.[0];
  if (!id?.system || !id.value) {
    return undefined;
  }
  const parts = id.value.split(':');
  // <patient>:<user>:<series>:<metric>:<window start, itself containing colons>
  return parts.length >= 5 ? `${id.system}|${parts.slice(0, 3).join(':')}` : undefined;
}

function deviceName(device: Device | undefined): string | undefined {
  return device?.deviceName?.find((n) => n.name)?.name ?? device?.manufacturer;
}

function label(ref: Observation['device'], devices: ReadonlyMap<string, Device>): string {
  const reference = ref?.reference;
  return (reference ? deviceName(devices.get(reference)) : undefined) ?? ref?.display ?? reference ?? 'unknown device';
}

interface Collected {
  device: Observation['device'];
  periodMs: number;
  values: Map<number, number>;
}

/**
 * Decodes and stitches a day's series Observations.
 * @param observations - the search result's Observations (any order, possibly with other metrics' or days')
 * @param devices - the included Devices, by `Device/<id>`
 * @param metric - the metric charted
 * @param range - the local day (or any range to cut to)
 * @returns one series per device series that has a sample in the range, by label, and what could not be read
 */
export function readIntradayDay(
  observations: readonly Observation[],
  devices: ReadonlyMap<string, Device>,
  metric: Metric,
  range: TimeRange
): IntradayDay {
  const codes = new Set([metric.code, ...(metric.extraCodes ?? [])].map((c) => `${c.system}|${c.code}`));
  const problems: string[] = [];
  const collected = new Map<string, Collected>();
  for (const observation of observations) {
    const isMetric = observation.code.coding?.some((c) => codes.has(`${c.system ?? ''}|${c.code ?? ''}`)) === true;
    const current = (CURRENT_STATUSES as readonly string[]).includes(observation.status);
    const sampled = observation.valueSampledData;
    if (!isMetric || !current || !sampled) {
      continue;
    }
    const start = observation.effectivePeriod?.start;
    const key = seriesKey(observation);
    if (!start || !key) {
      problems.push(`a ${metric.label.toLowerCase()} series without its window or identifier was skipped`);
      continue;
    }
    let slots: (number | null)[];
    try {
      slots = decodeSlots(sampled, start);
    } catch (err) {
      problems.push(`${metric.label} from ${start}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const entry = collected.get(key) ?? {
      device: observation.device,
      periodMs: sampled.period,
      values: new Map<number, number>(),
    };
    if (entry.periodMs !== sampled.period) {
      problems.push(`${metric.label} from ${start} has a ${sampled.period} ms period, not ${entry.periodMs} ms`);
      continue;
    }
    const origin = Date.parse(start);
    slots.forEach((v, i) => {
      const t = origin + i * sampled.period;
      if (v !== null && t >= range.start && t < range.end) {
        entry.values.set(t, v);
      }
    });
    collected.set(key, entry);
  }
  const series = [...collected.entries()]
    .filter(([, entry]) => entry.values.size > 0)
    .map(([key, entry]) => toSeries(key, entry, devices));
  return { range, series: distinguishLabels(series), problems };
}

/**
 * What a device's series holds, for the series ids the sync bots write (bots/<provider>/mappers.ts) where one
 * device writes two series of a metric: an Oura ring's all-day time series (/heartrate, every source) and its long
 * sleeps' own samples.
 */
const SERIES_NAMES: Readonly<Record<string, string>> = { heartrate: 'through the day', sleep: 'during sleep' };

/**
 * Two charts must not carry the same title: when one device has several series of the metric, each label also says
 * which series it is (else the bot's series id).
 */
function distinguishLabels(series: readonly IntradaySeries[]): IntradaySeries[] {
  const counts = new Map<string, number>();
  for (const s of series) {
    counts.set(s.label, (counts.get(s.label) ?? 0) + 1);
  }
  return series
    .map((s) => {
      if ((counts.get(s.label) ?? 0) < 2) {
        return s;
      }
      const id = s.key.split(':').at(-1) ?? s.key;
      return { ...s, label: `${s.label} · ${SERIES_NAMES[id] ?? id}` };
    })
    .sort((a, b) => a.label.localeCompare(b.label) || a.key.localeCompare(b.key));
}

function toSeries(key: string, entry: Collected, devices: ReadonlyMap<string, Device>): IntradaySeries {
  const times = [...entry.values.keys()].sort((a, b) => a - b);
  const first = times[0] ?? 0;
  const last = times.at(-1) ?? 0;
  const points: IntradayPoint[] = [];
  let gaps = 0;
  let min: number | undefined;
  let max: number | undefined;
  for (let t = first; t <= last; t += entry.periodMs) {
    const v = entry.values.get(t) ?? null;
    if (v === null && points.at(-1)?.v !== null) {
      gaps++;
    }
    if (v !== null) {
      min = min === undefined ? v : Math.min(min, v);
      max = max === undefined ? v : Math.max(max, v);
    }
    points.push({ t, v });
  }
  return {
    key,
    device: entry.device?.reference,
    label: label(entry.device, devices),
    periodMs: entry.periodMs,
    points,
    samples: entry.values.size,
    gaps,
    min,
    max,
  };
}

export const ZOOM_SPANS = { '24h': 24 * 3_600_000, '6h': 6 * 3_600_000, '1h': 3_600_000 } as const;
export type ZoomSpan = keyof typeof ZOOM_SPANS;

/**
 * The visible part of the day at a zoom level, kept inside the day.
 * @param day - the whole day
 * @param span - zoom level; '24h' is the whole day (23 or 25 hours on a DST change)
 * @param start - where the view should start (ms); clamped so the view stays inside the day
 * @returns the visible range
 */
export function zoomWindow(day: TimeRange, span: ZoomSpan, start: number): TimeRange {
  const length = Math.min(ZOOM_SPANS[span], day.end - day.start);
  if (span === '24h' || length === day.end - day.start) {
    return day;
  }
  const from = Math.min(Math.max(start, day.start), day.end - length);
  return { start: from, end: from + length };
}

/**
 * @param day - the whole day
 * @param view - the visible range
 * @param direction - -1 back, +1 forward
 * @returns the view moved by half its length, kept inside the day
 */
export function panWindow(day: TimeRange, view: TimeRange, direction: -1 | 1): TimeRange {
  const length = view.end - view.start;
  const from = Math.min(Math.max(view.start + (direction * length) / 2, day.start), day.end - length);
  return { start: from, end: from + length };
}

/**
 * @param series - a device series
 * @param view - the visible range
 * @returns its points in the range (the chart's axis spans the whole view, so a series that starts late starts late)
 */
export function pointsInView(series: IntradaySeries, view: TimeRange): IntradayPoint[] {
  return series.points.filter((p) => p.t >= view.start && p.t < view.end);
}

/** Samples and gaps of a series within a range (gaps as in IntradaySeries: runs of nulls between samples). */
export function countInView(points: readonly IntradayPoint[]): { samples: number; gaps: number } {
  let samples = 0;
  let gaps = 0;
  let seenSample = false;
  let inGap = false;
  for (const p of points) {
    if (p.v === null) {
      inGap = seenSample;
    } else {
      if (inGap) {
        gaps++;
      }
      inGap = false;
      seenSample = true;
      samples++;
    }
  }
  return { samples, gaps };
}

/**
 * The one line a screen reader hears for a chart, and that sighted readers see under it.
 * @param input - metric label, device label, the visible range as text, counts and range of values as text
 * @returns e.g. "Heart rate from ScanWatch, 06:00–12:00: 300 samples, 2 gaps, 52–130 beats/min"
 */
export function summaryText(input: {
  readonly metric: string;
  readonly device: string;
  readonly when: string;
  readonly samples: number;
  readonly gaps: number;
  readonly low?: string;
  readonly high?: string;
}): string {
  const counts = `${input.samples.toLocaleString('en-US')} ${input.samples === 1 ? 'sample' : 'samples'}, ${input.gaps} ${input.gaps === 1 ? 'gap' : 'gaps'}`;
  const values = input.low !== undefined && input.high !== undefined ? `, ${input.low} to ${input.high}` : '';
  return `${input.metric} from ${input.device}, ${input.when}: ${counts}${values}`;
}

const TICK_STEP_MINUTES: Readonly<Record<ZoomSpan, number>> = { '24h': 180, '6h': 60, '1h': 10 };

/**
 * Axis ticks on the reader's wall clock (every 3 h for the day, hourly for 6 h, every 10 min for an hour), checked
 * tick by tick so a DST change inside the day keeps them on round local times.
 * @param view - the visible range
 * @param span - the zoom level
 * @param timeZone - IANA zone; undefined means the browser's
 * @returns tick instants, ascending, inside the view
 */
export function timeTicks(view: TimeRange, span: ZoomSpan, timeZone?: string): number[] {
  const grid = 10 * 60_000;
  const ticks: number[] = [];
  for (let t = Math.ceil(view.start / grid) * grid; t < view.end; t += grid) {
    const offset = timeZone === undefined ? -new Date(t).getTimezoneOffset() * 60_000 : zoneOffset(t, timeZone);
    const minuteOfDay = ((((t + offset) / 60_000) % 1440) + 1440) % 1440;
    if (minuteOfDay % TICK_STEP_MINUTES[span] === 0) {
      ticks.push(t);
    }
  }
  return ticks;
}
