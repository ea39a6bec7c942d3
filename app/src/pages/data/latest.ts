/**
 * The latest value of every catalogue metric, in as few searches as the data allows.
 *
 * One `_count=1` search per metric (~50 metrics) is exact but costs ~50 searches on every visit: 1,000 FHIR quota
 * points on a real Medplum (a search is 20), and on the local stack, whose memory search scans a patient's whole
 * compartment per search, seconds with a year of data. Instead:
 *
 * 1. the newest Observations of any metric from the last LATEST_WINDOW_DAYS days (`date=ge<then>&_sort=-date&_count=
 *    LATEST_PAGE_SIZE`): a wearable writes most of its metrics every day, so this one page holds the latest value of
 *    nearly every metric that has data (the date floor lets the server, and the local stack, skip older rows);
 * 2. for the metrics not in that page: one search for any of their codes, newest first (usually empty: metrics
 *    nobody's device measures);
 * 3. only if that page was full too, the exact per-metric searches (one batch) for whatever is still unresolved.
 *
 * Why this is exact, not a heuristic: a page sorted newest first is a prefix of the full sorted result. The first
 * Observation in it that is the metric's (by the same rule as the per-metric search, `sameMetric`) is therefore the
 * metric's latest — in step 1 only if its own sort date is on or after the floor, since every newer Observation then
 * passes the floor too. A page with fewer entries than `_count` and no floor (step 2) is the whole result, so a
 * metric absent from it has no value at all. Every other metric is unresolved and goes to the next step.
 *
 * Each step renders as soon as it arrives (`onProgress`), so the tiles most people look at appear after one request.
 */
import { normalizeErrorString } from '@medplum/core';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { METRICS } from '../../../../bots/shared/catalogue.ts';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { WEARABLE_PROFILE } from '../../../../bots/shared/systems.ts';
import {
  buildLatestBatch,
  codeParam,
  CURRENT_STATUSES,
  DEVICE_ELEMENTS,
  deviceLabel,
  isDevice,
  isObservation,
  OBSERVATION_ELEMENTS,
  observationTime,
  observationValue,
  readLatestBatch,
  sameMetric,
} from './observations.ts';
import type { LatestResult, LatestValue } from './observations.ts';

/**
 * Step 1's page: WHOOP writes ~7 Observations a day, so this reaches back about a week (a sleep record with its
 * stages is ~2 kB, so the page is ~100 kB); a metric not seen in a week is left to step 2.
 */
export const LATEST_PAGE_SIZE = 50;
/** Step 1's date floor: a metric a device reports at all, it reports within two weeks (else step 2 finds it). */
export const LATEST_WINDOW_DAYS = 14;
/** Step 2's page: the metrics left after step 1 are rare or absent, so few Observations match. */
export const REMAINING_PAGE_SIZE = 50;

/**
 * @param patientId - the signed-in patient's id.
 * @param metrics - restrict to these metrics' codes (`combo-code`), or undefined for every wearable Observation.
 * @param count - page size.
 * @param since - only Observations dated on or after this (step 1), or undefined for all.
 * @returns Search parameters for the newest current wearable Observations, with their Devices, trimmed to what the
 *   page reads.
 */
export function buildNewestQuery(
  patientId: string,
  metrics: readonly Metric[] | undefined,
  count: number,
  since?: Date
): URLSearchParams {
  const params = new URLSearchParams();
  // The most selective filter first: the local stack evaluates filters in order, so this one rejects most rows early.
  if (since) {
    params.set('date', `ge${since.toISOString()}`);
  }
  if (metrics) {
    params.set('combo-code', metrics.map(codeParam).join(','));
  }
  params.set('subject', `Patient/${patientId}`);
  params.set('status', CURRENT_STATUSES.join(','));
  params.set('_profile', WEARABLE_PROFILE);
  if (!since) {
    // Medplum sorts Observations without a date FIRST on `-date`; an undated one must not pass for the latest.
    params.set('date', 'ge1970-01-01T00:00:00Z');
  }
  params.set('_sort', '-date');
  params.set('_count', String(count));
  params.set('_include', 'Observation:device');
  // `_elements` applies to the included Devices too, so it names the Device fields the page reads as well.
  params.set('_elements', [...OBSERVATION_ELEMENTS, ...DEVICE_ELEMENTS].join(','));
  return params;
}

export interface NewestRound {
  /** Metrics whose latest value this page decided, with the value (or none: its latest Observation is unreadable). */
  readonly latest: LatestValue[];
  /** Metrics this page could not decide: absent from a full page. */
  readonly unresolved: Metric[];
}

/**
 * @param bundle - the searchset of a `buildNewestQuery` search.
 * @param metrics - the metrics that search was for (all of them when it had no `combo-code`).
 * @param count - the `_count` it asked for.
 * @param since - the date floor it had, if any.
 * @returns The latest value of each metric the page decides, and the metrics it leaves open.
 */
export function readNewest(bundle: Bundle, metrics: readonly Metric[], count: number, since?: Date): NewestRound {
  const entries = bundle.entry ?? [];
  const matches = entries
    .filter((e) => e.search?.mode !== 'include')
    .map((e) => e.resource)
    .filter(isObservation);
  const devices = new Map(
    entries
      .map((e) => e.resource)
      .filter(isDevice)
      .map((d) => [`Device/${d.id}`, d])
  );
  const complete = matches.length < count && !since;
  const latest: LatestValue[] = [];
  const unresolved: Metric[] = [];
  for (const metric of metrics) {
    const obs = matches.find((o) => o.status !== 'entered-in-error' && sameMetric(o, metric));
    if (!obs || (since && !(sortInstant(obs) >= since.getTime()))) {
      if (!complete) {
        unresolved.push(metric);
      }
      continue;
    }
    const value = observationValue(obs, metric);
    if (value) {
      latest.push(toLatest(obs, metric, value, devices));
    }
  }
  return { latest, unresolved };
}

/**
 * The instant `_sort=date` orders by: Medplum indexes a Period by its start.
 * @param obs - an Observation.
 * @returns ms since epoch, or NaN.
 */
export function sortInstant(obs: Observation): number {
  return Date.parse(obs.effectiveDateTime ?? obs.effectiveInstant ?? obs.effectivePeriod?.start ?? '');
}

function toLatest(
  obs: Observation,
  metric: Metric,
  value: LatestValue['value'],
  devices: ReadonlyMap<string, Parameters<typeof deviceLabel>[0]>
): LatestValue {
  const ref = obs.device?.reference;
  return {
    metric,
    observationId: obs.id,
    value,
    time: observationTime(obs),
    device: deviceLabel(ref ? devices.get(ref) : undefined, obs),
  };
}

export interface LatestFetchers {
  /** GET Observation?<params>, uncached. */
  search(params: URLSearchParams): Promise<Bundle>;
  /** POST a batch Bundle. */
  batch(bundle: Bundle): Promise<Bundle>;
}

/**
 * Runs steps 1–3 (see the file comment). A failure of step 1 rejects; a failure later leaves what step 1 found and
 * reports the metrics still open as failures, so one bad request never blanks the page.
 * @param fetchers - how to reach the server.
 * @param patientId - the signed-in patient's id.
 * @param onProgress - called with the values known so far after each step that leaves metrics open.
 * @returns Every metric's latest value (catalogue order) and the metrics that could not be loaded.
 */
export async function loadLatest(
  fetchers: LatestFetchers,
  patientId: string,
  onProgress?: (partial: LatestResult) => void
): Promise<LatestResult> {
  const since = new Date(Date.now() - LATEST_WINDOW_DAYS * 86_400_000);
  const first = readNewest(
    await fetchers.search(buildNewestQuery(patientId, undefined, LATEST_PAGE_SIZE, since)),
    METRICS,
    LATEST_PAGE_SIZE,
    since
  );
  const latest = [...first.latest];
  let open = first.unresolved;
  try {
    if (open.length > 0) {
      onProgress?.({ latest: ordered(latest), failures: [] });
      const second = readNewest(
        await fetchers.search(buildNewestQuery(patientId, open, REMAINING_PAGE_SIZE)),
        open,
        REMAINING_PAGE_SIZE
      );
      latest.push(...second.latest);
      open = second.unresolved;
    }
    if (open.length > 0) {
      onProgress?.({ latest: ordered(latest), failures: [] });
      const exact = readLatestBatch(await fetchers.batch(buildLatestBatch(patientId, open)), open);
      return { latest: ordered([...latest, ...exact.latest]), failures: exact.failures };
    }
    return { latest: ordered(latest), failures: [] };
  } catch (err) {
    const reason = normalizeErrorString(err);
    return { latest: ordered(latest), failures: open.map((metric) => ({ metric, reason })) };
  }
}

function ordered(latest: readonly LatestValue[]): LatestValue[] {
  const order = new Map(METRICS.map((m, i) => [m.key, i]));
  return [...latest].sort((a, b) => (order.get(a.metric.key) ?? 0) - (order.get(b.metric.key) ?? 0));
}
