/**
 * Ground truth for Oura imports, from the sandbox's own documents and heart-rate rows (`control.documents`,
 * `control.heartRate`) — deliberately NOT from the mappers or sampled-data.ts under test. The rules are the documented
 * ones (bots/oura/README.md "Mapping", bots/shared/sampled-data.ts "Encoding"), restated here from Oura's fields:
 *
 *   daily_sleep      1 if score
 *   daily_readiness  1 if score, 1 if temperature_deviation
 *   daily_activity   5 (steps, active_calories, total_calories, equivalent_walking_distance, medium + high activity
 *                    time) + 1 if score
 *   daily_spo2       1 if spo2_percentage.average
 *   daily_stress     1 if stress_high, 1 if recovery_high
 *   sleep            long_sleep only: 1 panel if total_sleep_duration, 1 each if lowest_heart_rate, average_hrv,
 *                    average_breath
 *   workout          1 if activity is not blank
 *
 * Series: one Observation per metric × series × UTC day. `heartrate`: the heart-rate rows on a 5-minute grid; `sleep`:
 * each long_sleep's `heart_rate` and `hrv` arrays (item i at timestamp + i × interval). A sample belongs to the nearest
 * slot (ties to the later one), so a sample just before midnight is the next day's first slot; several samples in a
 * slot are averaged, then rounded (bpm to integers, HRV to 0.1 ms).
 */
import type { Observation } from '@medplum/fhirtypes';
import type { OuraSandbox } from '../../scripts/sandboxes/oura/server.ts';

type Loose = Record<string, unknown>;
const DAY_MS = 86_400_000;
export const HR_PERIOD_MS = 300_000;
/** Everything the sandbox can hold (it clips to its people's history). */
const ALL_TIME = { start: '2000-01-01T00:00:00Z', end: '2100-01-01T00:00:00Z' };

const present = (value: unknown): boolean => value !== null && value !== undefined;

export const DOCUMENT_TYPES = [
  'daily_sleep',
  'daily_readiness',
  'daily_activity',
  'daily_spo2',
  'daily_stress',
  'sleep',
  'workout',
] as const;
export type DocumentType = (typeof DOCUMENT_TYPES)[number];

/** @returns how many Observations one document calls for */
export function observationsOfDocument(type: DocumentType, d: Loose): number {
  switch (type) {
    case 'daily_sleep':
      return present(d.score) ? 1 : 0;
    case 'daily_readiness':
      return (present(d.score) ? 1 : 0) + (present(d.temperature_deviation) ? 1 : 0);
    case 'daily_activity':
      return 5 + (present(d.score) ? 1 : 0);
    case 'daily_spo2':
      return present((d.spo2_percentage as Loose | null | undefined)?.average) ? 1 : 0;
    case 'daily_stress':
      return (present(d.stress_high) ? 1 : 0) + (present(d.recovery_high) ? 1 : 0);
    case 'sleep':
      return d.type === 'long_sleep'
        ? (present(d.total_sleep_duration) ? 1 : 0) +
            (present(d.lowest_heart_rate) ? 1 : 0) +
            (present(d.average_hrv) ? 1 : 0) +
            (present(d.average_breath) ? 1 : 0)
        : 0;
    case 'workout':
      return String(d.activity ?? '').trim() ? 1 : 0;
    default: {
      const never: never = type;
      throw new Error(`unknown type ${String(never)}`);
    }
  }
}

export interface SeriesTruth {
  /** `<series>|<metric>|<UTC day start ISO>` → slot index → value. */
  readonly windows: Map<string, Map<number, number>>;
  /** Raw samples (before slotting) per window key. */
  readonly rawSamples: Map<string, number>;
}

export interface Expected {
  /** Non-series Observations, by document type. */
  readonly byType: Record<DocumentType, number>;
  readonly observations: number;
  readonly series: SeriesTruth;
}

function dayStartIso(ms: number): string {
  return new Date(Math.floor(ms / DAY_MS) * DAY_MS).toISOString().replace('.000Z', 'Z');
}

function addSamples(
  into: Map<string, Map<number, number[]>>,
  raw: Map<string, number>,
  series: string,
  metric: string,
  samples: readonly { t: number; v: number }[],
  periodMs: number
): void {
  // The same instant listed twice is one sample.
  const byInstant = new Map<number, number>();
  for (const s of samples) {
    byInstant.set(s.t, s.v);
  }
  for (const [t, v] of byInstant) {
    const gridMs = Math.floor(t / periodMs + 0.5) * periodMs;
    const day = Math.floor(gridMs / DAY_MS) * DAY_MS;
    const key = `${series}|${metric}|${dayStartIso(day)}`;
    const slot = (gridMs - day) / periodMs;
    const slots = into.get(key) ?? new Map<number, number[]>();
    slots.set(slot, [...(slots.get(slot) ?? []), v]);
    into.set(key, slots);
    raw.set(key, (raw.get(key) ?? 0) + 1);
  }
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/**
 * @param sandbox - the Oura sandbox
 * @param userId - the Oura user (default the sandbox's first person)
 * @returns what an import of the person's whole history must hold
 */
export function expectedFromSandbox(sandbox: OuraSandbox, userId?: string): Expected {
  const byType = Object.fromEntries(DOCUMENT_TYPES.map((t) => [t, 0])) as Record<DocumentType, number>;
  for (const type of DOCUMENT_TYPES) {
    for (const document of sandbox.control.documents(type, userId) as unknown as Loose[]) {
      byType[type] += observationsOfDocument(type, document);
    }
  }
  const slots = new Map<string, Map<number, number[]>>();
  const raw = new Map<string, number>();
  const rows = sandbox.control.heartRate(ALL_TIME.start, ALL_TIME.end, userId);
  addSamples(
    slots,
    raw,
    'heartrate',
    'heart-rate',
    rows.map((r) => ({ t: r.timestamp_unix, v: r.bpm })),
    HR_PERIOD_MS
  );
  for (const sleep of sandbox.control.documents('sleep', userId) as unknown as Loose[]) {
    if (sleep.type !== 'long_sleep') {
      continue;
    }
    for (const [metric, field] of [
      ['heart-rate', 'heart_rate'],
      ['hrv-rmssd', 'hrv'],
    ] as const) {
      const sample = sleep[field] as { interval: number; items: (number | null)[]; timestamp: string } | null;
      if (!sample) {
        continue;
      }
      const start = Date.parse(sample.timestamp);
      const samples = sample.items.flatMap((v, i) =>
        v === null ? [] : [{ t: start + i * sample.interval * 1000, v }]
      );
      addSamples(slots, raw, 'sleep', metric, samples, sample.interval * 1000);
    }
  }
  const windows = new Map<string, Map<number, number>>();
  for (const [key, bySlot] of slots) {
    const decimals = key.includes('|hrv-rmssd|') ? 1 : 0;
    const values = new Map<number, number>();
    for (const [slot, list] of bySlot) {
      values.set(slot, round(list.reduce((a, b) => a + b, 0) / list.length, decimals));
    }
    windows.set(key, values);
  }
  return {
    byType: Object.fromEntries(Object.entries(byType).filter(([, n]) => n > 0)) as Record<DocumentType, number>,
    observations: Object.values(byType).reduce((a, b) => a + b, 0),
    series: { windows, rawSamples: raw },
  };
}

/**
 * Decodes a stored series Observation independently of sampled-data.ts: `origin + token × factor` per period from
 * the window start, `E` (and L/U) no value.
 * @returns its key (as in SeriesTruth) and slot → value
 */
export function decodeStored(o: Observation): { key: string; values: Map<number, number> } {
  const sd = o.valueSampledData;
  const start = o.effectivePeriod?.start ?? '';
  const id = o.identifier?.[0]?.value ?? '';
  // <patient>:<oura user>:<series>:<metric>:<window start>
  const [, , series, metric] = id.split(':');
  if (!sd || !series || !metric) {
    throw new Error(`not a series Observation: ${id}`);
  }
  const values = new Map<number, number>();
  const tokens = (sd.data ?? '').trim() === '' ? [] : (sd.data ?? '').trim().split(/\s+/);
  tokens.forEach((token, i) => {
    if (!['E', 'L', 'U'].includes(token)) {
      values.set(i, (sd.origin.value ?? 0) + Number(token) * (sd.factor ?? 1));
    }
  });
  return { key: `${series}|${metric}|${new Date(Date.parse(start)).toISOString().replace('.000Z', 'Z')}`, values };
}
