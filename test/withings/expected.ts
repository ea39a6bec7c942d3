/**
 * Ground truth for Withings imports, from the sandbox's own records (control.measureGroups / activities / workouts /
 * sleepSummaries / intraday) — deliberately NOT from the mappers under test. The rule is the documented granularity
 * (bots/withings/mappers.ts "Decisions", bots/shared/sampled-data.ts), restated from Withings' fields:
 *
 *   measure group  category 1, attrib ≠ 1, with a measure type Baseline maps   → a `measure:<grpid>` record
 *   activity day   every day listed                                            → an `activity:<date>.<deviceid>` record
 *   workout        every workout listed                                        → a `workout:<id>` record
 *   sleep summary  completed                                                   → a `sleep:<id>` record
 *   intraday       per device × UTC day: one heart-rate series (minutes with a non-zero heart_rate) and one steps
 *                  series (minutes with a steps field), each minute one slot
 *
 * A range is what a set of window Tasks fetched: [earliest start − 48 h, latest end) — measures by their `date`,
 * daily records by their local `date`, minutes by their epoch second. SampledData is decoded here on its own (FHIR
 * R4 SampledData: value = origin + token × factor, token i at start + i × period, `E` = no value).
 */
import type { Observation, Task } from '@medplum/fhirtypes';
import { WINDOW_OVERLAP_MS } from '../../bots/withings/sync-plan.ts';
import type { WithingsSandbox } from '../../scripts/sandboxes/withings/server.ts';

/** Withings measure types Baseline maps (weight, fat, muscle, bone, hydration, BP, pulse, SpO2, temperatures). */
export const MAPPED_MEASURE_TYPES = new Set([1, 4, 5, 6, 8, 9, 10, 11, 12, 54, 71, 73, 76, 77, 88, 91, 123]);
const DAY_S = 86_400;

export interface Range {
  /** Epoch seconds, inclusive. */
  start: number;
  /** Epoch seconds, exclusive. */
  end: number;
}

/** The range a set of window Tasks fetches: the earliest window start less the overlap, to the latest end. */
export function taskRange(tasks: readonly Task[]): Range {
  const starts: number[] = [];
  const ends: number[] = [];
  for (const task of tasks) {
    for (const input of task.input ?? []) {
      const code = input.type.coding?.[0]?.code;
      if (code === 'window-start' && input.valueDateTime) {
        starts.push(Date.parse(input.valueDateTime));
      }
      if (code === 'window-end' && input.valueDateTime) {
        ends.push(Date.parse(input.valueDateTime));
      }
    }
  }
  if (starts.length === 0 || ends.length === 0) {
    throw new Error('no windows in these Tasks');
  }
  return {
    start: Math.floor((Math.min(...starts) - WINDOW_OVERLAP_MS) / 1000),
    end: Math.floor(Math.max(...ends) / 1000),
  };
}

function ymd(epochS: number): string {
  return new Date(epochS * 1000).toISOString().slice(0, 10);
}

/**
 * @param sandbox - the Withings sandbox
 * @param range - what the import fetched
 * @param userId - the Withings user
 * @returns `<record-type>:<record-id>` of every record the range must have written
 */
export function expectedRecordKeys(sandbox: WithingsSandbox, range: Range, userId: number): Set<string> {
  const keys = new Set<string>();
  const [from, to] = [ymd(range.start), ymd(range.end)];
  for (const g of sandbox.control.measureGroups(userId)) {
    if (
      g.category === 1 &&
      g.attrib !== 1 &&
      g.date >= range.start &&
      g.date <= range.end &&
      g.measures.some((m) => MAPPED_MEASURE_TYPES.has(m.type))
    ) {
      keys.add(`measure:${g.grpid}`);
    }
  }
  for (const a of sandbox.control.activities(userId)) {
    if (a.date >= from && a.date <= to) {
      keys.add(`activity:${a.date}.${a.deviceid}`);
    }
  }
  for (const w of sandbox.control.workouts(userId)) {
    if (w.date >= from && w.date <= to) {
      keys.add(`workout:${w.id}`);
    }
  }
  for (const s of sandbox.control.sleepSummaries(userId)) {
    if (s.completed && s.date >= from && s.date <= to) {
      keys.add(`sleep:${s.id}`);
    }
  }
  return keys;
}

/** Per `<series>|<metric>|<UTC day ISO>`: epoch ms → value. */
export type SeriesTruth = Map<string, Map<number, number>>;

function dayIso(epochS: number): string {
  return new Date(Math.floor(epochS / DAY_S) * DAY_S * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * The sandbox's minutes in the range, as the series Baseline must hold.
 * @param sandbox - the Withings sandbox
 * @param range - what the import fetched
 * @param userId - the Withings user
 * @param days - the sandbox's history length (its `days` option): minutes exist for those local days only
 */
export function expectedSeries(sandbox: WithingsSandbox, range: Range, userId: number, days: number): SeriesTruth {
  const truth: SeriesTruth = new Map();
  const last = Date.parse(`${sandbox.control.currentDate()}T00:00:00Z`) / 1000;
  const put = (k: string, t: number, v: number): void => {
    const m = truth.get(k) ?? new Map<number, number>();
    m.set(t * 1000, v);
    truth.set(k, m);
  };
  for (let d = 0; d < days; d++) {
    const date = ymd(last - d * DAY_S);
    for (const [at, entry] of Object.entries(sandbox.control.intraday(userId, date))) {
      const t = Number(at);
      if (t < range.start || t >= range.end) {
        continue;
      }
      const series = `intraday.${entry.deviceid}`;
      if (typeof entry.heart_rate === 'number' && entry.heart_rate !== 0) {
        put(`${series}|heart-rate|${dayIso(t)}`, t, entry.heart_rate);
      }
      if (typeof entry.steps === 'number') {
        put(`${series}|steps|${dayIso(t)}`, t, entry.steps);
      }
    }
  }
  return truth;
}

/** @returns `<record-type>:<record-id>` of a Withings Observation (from its per-record identifier) */
export function recordKeyOf(o: Observation): string | undefined {
  const record = o.identifier?.find((i) => i.system?.endsWith('/withings/record'));
  const parts = record?.value?.split(':') ?? [];
  // <record-type>:<patientId>:<withingsUserId>:<recordId…> (a series window's id holds ':' in its ISO start)
  return parts.length >= 4 ? `${parts[0]}:${parts.slice(3).join(':')}` : undefined;
}

/**
 * Decodes a series Observation on its own terms.
 * @returns its `<series>|<metric>|<window start>` key and epoch ms → value
 */
export function decodeSeriesObservation(o: Observation): { key: string; samples: Map<number, number> } {
  const sd = o.valueSampledData;
  const start = o.effectivePeriod?.start;
  // Per-Observation identifier: <patient>:<user>:<series>:<metric>:<window start ISO with ':'>
  const parts = o.identifier?.[0]?.value?.split(':') ?? [];
  if (!sd || !start || parts.length < 5) {
    throw new Error(`not a series Observation: ${o.id ?? ''}`);
  }
  const [series, metric] = [parts[2], parts[3]];
  const samples = new Map<number, number>();
  const origin = sd.origin.value ?? 0;
  const factor = sd.factor ?? 1;
  const t0 = Date.parse(start);
  (sd.data ?? '')
    .split(' ')
    .filter((token) => token !== '')
    .forEach((token, i) => {
      if (token !== 'E' && token !== 'L' && token !== 'U') {
        samples.set(t0 + i * sd.period, origin + Number(token) * factor);
      }
    });
  return { key: `${series ?? ''}|${metric ?? ''}|${new Date(t0).toISOString().replace('.000Z', 'Z')}`, samples };
}
