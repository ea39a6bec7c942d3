import { normalizeErrorString } from '@medplum/core';
import type { MedplumClient } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { z } from 'zod';
import { ANNOTATION_KIND_CODES } from '../../../../bots/analytics/annotation-kinds.ts';
import { getMetric } from '../../../../bots/shared/catalogue.ts';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { annotationRangeQuery } from '../../lib/annotation-spans.ts';
import { readAnnotations } from '../../lib/annotations.ts';
import type { AnnotationItem } from '../../lib/annotations.ts';
import { clearDataCache, readCached, writeCached } from '../../lib/data-cache.ts';
import { loadLatest } from './latest.ts';
import { buildSeriesQuery, MAX_SERIES_PAGES, toSeriesPoints } from './observations.ts';
import type { LatestResult, SeriesPoint } from './observations.ts';

/**
 * What a view shows. `ready` may be stale (from the cache, being revalidated) or partial (more metrics on their
 * way): `pending` says a request is still running; `error` is a failed revalidation of data still shown.
 */
export type Loadable<T> =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: string }
  | {
      readonly status: 'ready';
      readonly data: T;
      readonly pending: boolean;
      readonly partial: boolean;
      readonly error?: string;
    };

/** While the page is open (and the tab visible) it refetches this often, so an import's new values appear. */
export const REVALIDATE_MS = 60_000;

/** Counts revalidations: once a minute while the tab is visible, and whenever it becomes visible again. */
function useRevalidateTick(): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let last = Date.now();
    const bump = (): void => {
      last = Date.now();
      setTick((t) => t + 1);
    };
    const onVisible = (): void => {
      if (document.visibilityState === 'visible' && Date.now() - last > 5_000) {
        bump();
      }
    };
    const timer = window.setInterval(() => document.visibilityState === 'visible' && bump(), REVALIDATE_MS);
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      window.clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, []);
  return tick;
}

const watched = new WeakSet<MedplumClient>();

/** Health data must not outlive the session: the cache goes when the client signs out (or switches user). */
function clearCacheOnSignOut(medplum: MedplumClient): void {
  if (watched.has(medplum)) {
    return;
  }
  watched.add(medplum);
  medplum.addEventListener('change', () => {
    if (!medplum.getProfile()) {
      clearDataCache();
    }
  });
}

interface Store<T> {
  read(): T | undefined;
  write(value: T): void;
}

/**
 * Stale-while-revalidate: the cached value (if any) at once, then the server's. Partial results replace a loading
 * state or an earlier partial one, never a complete cached one (so tiles do not vanish and come back).
 * @param key - identifies the data; undefined while there is nothing to load.
 * @param load - fetches it; may report partial results.
 * @param store - where the last complete value is kept.
 * @returns What to show.
 */
function useStaleWhileRevalidate<T>(
  key: string | undefined,
  load: (onPartial: (partial: T) => void) => Promise<T>,
  store: Store<T>
): Loadable<T> {
  const tick = useRevalidateTick();
  const [entry, setEntry] = useState<{ key: string; state: Loadable<T> }>();

  useEffect(() => {
    if (!key) {
      return undefined;
    }
    let active = true;
    setEntry((prev) => {
      if (prev?.key === key && prev.state.status === 'ready') {
        return { key, state: { ...prev.state, pending: true } };
      }
      const cached = store.read();
      return {
        key,
        state:
          cached === undefined
            ? { status: 'loading' }
            : { status: 'ready', data: cached, pending: true, partial: false },
      };
    });
    load((partial) => {
      if (active) {
        setEntry((prev) =>
          prev?.key === key && prev.state.status === 'ready' && !prev.state.partial
            ? prev
            : { key, state: { status: 'ready', data: partial, pending: true, partial: true } }
        );
      }
    })
      .then((data) => {
        if (active) {
          store.write(data);
          setEntry({ key, state: { status: 'ready', data, pending: false, partial: false } });
        }
      })
      .catch((err: unknown) => {
        if (active) {
          const error = normalizeErrorString(err);
          setEntry((prev) =>
            prev?.key === key && prev.state.status === 'ready'
              ? { key, state: { ...prev.state, pending: false, error } }
              : { key, state: { status: 'error', error } }
          );
        }
      });
    return () => {
      active = false;
    };
    // `load` and `store` are rebuilt every render; `key` identifies what they load.
  }, [key, tick]);

  if (!key) {
    return { status: 'loading' };
  }
  if (entry?.key === key) {
    return entry.state;
  }
  // The first render for a key, before the effect: the cache answers without waiting for it.
  const cached = store.read();
  return cached === undefined
    ? { status: 'loading' }
    : { status: 'ready', data: cached, pending: true, partial: false };
}

const observationValueSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('quantity'), value: z.number() }),
  z.object({ kind: z.literal('panel'), values: z.array(z.number()).readonly() }),
  z.object({ kind: z.literal('series'), mean: z.number(), count: z.number() }),
  z.object({ kind: z.literal('session'), text: z.string(), length: z.number() }),
]);

const storedLatestSchema = z.array(
  z.object({
    metric: z.string(),
    observationId: z.string().optional(),
    value: observationValueSchema,
    time: z.string().optional(),
    device: z.string().optional(),
  })
);
type StoredLatest = z.infer<typeof storedLatestSchema>;

function encodeLatest(result: LatestResult): StoredLatest {
  return result.latest.map((l) => ({
    metric: l.metric.key,
    observationId: l.observationId,
    value: l.value,
    time: l.time?.toISOString(),
    device: l.device,
  }));
}

function decodeLatest(stored: StoredLatest): LatestResult | undefined {
  try {
    return {
      latest: stored.map((l) => ({
        metric: getMetric(l.metric),
        observationId: l.observationId,
        value: l.value,
        time: l.time === undefined ? undefined : new Date(l.time),
        device: l.device,
      })),
      failures: [],
    };
  } catch {
    // A metric the catalogue no longer has: the cache is from another version of the app.
    return undefined;
  }
}

/**
 * The latest value of every catalogue metric for this patient (see latest.ts for how few requests that takes), from
 * the cache at once when this tab has shown it before, revalidated on every visit.
 * @param patientId - the signed-in patient's id.
 * @returns The latest values, or the loading / error state.
 */
export function useLatestValues(patientId: string): Loadable<LatestResult> {
  const medplum = useMedplum();
  clearCacheOnSignOut(medplum);
  const key = `${patientId}.latest`;
  return useStaleWhileRevalidate<LatestResult>(
    patientId ? key : undefined,
    (onPartial) =>
      loadLatest(
        {
          // Our own cache decides what is stale; MedplumClient's would hand back a minute-old answer.
          search: (params) => medplum.search('Observation', params, { cache: 'no-cache' }),
          batch: (bundle) => medplum.executeBatch(bundle),
        },
        patientId,
        onPartial
      ),
    {
      read: () => {
        const cached = readCached(key, storedLatestSchema);
        return cached ? decodeLatest(cached.value) : undefined;
      },
      write: (result) => {
        // A result with failures is incomplete; the next visit must not start from it.
        if (result.failures.length === 0) {
          writeCached(key, encodeLatest(result));
        }
      },
    }
  );
}

export interface Series {
  readonly points: SeriesPoint[];
  /** True when MAX_SERIES_PAGES pages were read and more existed: the chart is missing the newest values. */
  readonly truncated: boolean;
  /** The charted window: its start and end (ms since epoch). */
  readonly start: number;
  readonly end: number;
}

const storedSeriesSchema = z.object({
  points: z.array(
    z.object({
      time: z.number(),
      // JSON has no NaN (a panel member without a value); it comes back as null.
      values: z.record(
        z.string(),
        z
          .number()
          .nullable()
          .transform((v) => v ?? Number.NaN)
      ),
    })
  ),
  truncated: z.boolean(),
  start: z.number(),
  end: z.number(),
});

/**
 * One metric's values over the last `days` days, oldest first, paged and capped (see observations.ts); cached and
 * revalidated like the latest values.
 * @param patientId - the signed-in patient's id.
 * @param metric - the metric to chart, or undefined for none.
 * @param days - window length.
 * @returns The chart points, or the loading / error state.
 */
export function useMetricSeries(patientId: string, metric: Metric | undefined, days: number): Loadable<Series> {
  const medplum = useMedplum();
  const key = metric ? `${patientId}.series.${metric.key}.${days}` : undefined;
  return useStaleWhileRevalidate<Series>(
    key,
    async () => {
      if (!metric) {
        throw new Error('no metric');
      }
      const observations: Observation[] = [];
      let pages = 0;
      let truncated = false;
      const now = new Date();
      const query = buildSeriesQuery(patientId, metric, days, now);
      for await (const page of medplum.searchResourcePages('Observation', query, { cache: 'no-cache' })) {
        if (pages === MAX_SERIES_PAGES) {
          truncated = true;
          break;
        }
        observations.push(...page);
        pages++;
      }
      return {
        points: toSeriesPoints(observations, metric),
        truncated,
        start: now.getTime() - days * 86_400_000,
        end: now.getTime(),
      };
    },
    {
      read: () => (key ? readCached(key, storedSeriesSchema)?.value : undefined),
      write: (series) => key && writeCached(key, series),
    }
  );
}

const storedAnnotationsSchema = z.array(
  z.object({
    id: z.string(),
    kind: z.enum(ANNOTATION_KIND_CODES),
    label: z.string(),
    start: z.string(),
    end: z.string(),
    note: z.string().optional(),
  })
);

/**
 * The owner's standing annotations covering the last `days` days, for the chart's shaded spans: one search (the
 * same as the Trends view's), cached and revalidated like the chart's values. Not per metric: an annotated day is
 * one for every metric.
 * @param patientId - the signed-in patient's id.
 * @param days - window length.
 * @returns The annotations, newest first, or the loading / error state.
 */
export function useAnnotations(patientId: string, days: number): Loadable<AnnotationItem[]> {
  const medplum = useMedplum();
  const key = patientId ? `${patientId}.annotations.${days}` : undefined;
  return useStaleWhileRevalidate<AnnotationItem[]>(
    key,
    async () => {
      const end = Date.now();
      const observations = await medplum.searchResources(
        'Observation',
        annotationRangeQuery(patientId, { start: end - days * 86_400_000, end }),
        { cache: 'no-cache' }
      );
      return readAnnotations(observations);
    },
    {
      read: () => (key ? readCached(key, storedAnnotationsSchema)?.value : undefined),
      write: (annotations) => key && writeCached(key, annotations),
    }
  );
}
