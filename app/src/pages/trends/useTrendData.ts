import { normalizeErrorString } from '@medplum/core';
import type { Observation, Resource } from '@medplum/fhirtypes';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { dailySeries } from '../../../../bots/analytics/daily.ts';
import type { DailyValue } from '../../../../bots/analytics/daily.ts';
import { annotationSearch } from '../../../../bots/analytics/annotations.ts';
import { readAnnotations } from '../../lib/annotations.ts';
import { useRecordReader } from '../../lib/clinician-context.ts';
import type { RecordReader } from '../../lib/clinician-reader.ts';
import type { AnnotationItem } from '../../lib/annotations.ts';
import {
  buildDerivedQuery,
  buildWearableQuery,
  derivedSignature,
  localToday,
  readDerived,
  trendWindow,
} from '../../lib/trends.ts';
import type { DerivedRecord, TrendWindow } from '../../lib/trends.ts';
import { MAX_SERIES_PAGES } from '../data/observations.ts';
import { ANNOTATION_ELEMENTS } from '../../lib/annotation-spans.ts';

/** The annotation elements parseAnnotation reads. */

export interface TrendData {
  readonly window: TrendWindow;
  /** The metric's daily values from `window.dataFrom` (every day, annotated ones included). */
  readonly values: readonly DailyValue[];
  /** Standing derived records of the metric (bands, trend, projection). */
  readonly derived: readonly DerivedRecord[];
  /** What the post-annotation polling compares. */
  readonly signature: string;
  readonly annotations: readonly AnnotationItem[];
  /** True when the wearable search hit its page cap (a very long range with several sources). */
  readonly truncated: boolean;
}

export type TrendState =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: string }
  | { readonly status: 'ready'; readonly data: TrendData; readonly refreshing: boolean };

/** After an annotation: how often, and how many times, to look whether the recompute has written. */
export const POLL_DELAYS_MS = [1000, 1500, 1500, 2000, 2500, 3000, 3000, 4000, 4000, 5000, 5000] as const;

export type PollOutcome = 'changed' | 'unchanged' | 'failed';

async function readDerivedObservations(
  reader: RecordReader,
  patientId: string,
  metric: Metric,
  window: TrendWindow
): Promise<Observation[]> {
  const [derived] = await reader.searchAll([
    { resourceType: 'Observation', query: buildDerivedQuery(patientId, metric, window.derivedFrom) },
  ]);
  return (derived?.resources ?? []).filter(isObservation);
}

function isObservation(resource: Resource): resource is Observation {
  return resource.resourceType === 'Observation';
}

async function load(reader: RecordReader, patientId: string, metric: Metric, days: number): Promise<TrendData> {
  const now = new Date();
  const window = trendWindow(localToday(now), days);
  // One call, so a clinician's reader reads all three results in one batch.
  const [w, a, d] = await reader.searchAll([
    {
      resourceType: 'Observation',
      query: buildWearableQuery(patientId, metric, window.dataFrom, now),
      maxPages: MAX_SERIES_PAGES,
    },
    {
      resourceType: 'Observation',
      query: `${annotationSearch({ reference: `Patient/${patientId}` }, window.dataFrom, window.end)}&_elements=${ANNOTATION_ELEMENTS.join(',')}`,
    },
    { resourceType: 'Observation', query: buildDerivedQuery(patientId, metric, window.derivedFrom) },
  ]);
  const derived = (d?.resources ?? []).filter(isObservation);
  return {
    window,
    values: dailySeries((w?.resources ?? []).filter(isObservation))[metric.key] ?? [],
    derived: derived.flatMap((o) => {
      const record = readDerived(o, metric);
      return record ? [record] : [];
    }),
    signature: derivedSignature(derived),
    annotations: readAnnotations((a?.resources ?? []).filter(isObservation)),
    truncated: w?.truncated ?? false,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => window.setTimeout(resolve, ms));

/**
 * One metric's trend data for the last `days` days: three searches (wearable values, derived Observations,
 * annotations), run together, through the reader of the context (the owner's searches, or a clinician's id searches
 * and one batch read).
 * @param patientId - the owner.
 * @param metric - the metric, or undefined while none is chosen.
 * @param days - the range.
 * @returns The state, a reload, a way to replace the annotation list after the bot answered, and the polling that
 *   waits for the recompute an annotation queued.
 */
export function useTrendData(
  patientId: string,
  metric: Metric | undefined,
  days: number
): {
  state: TrendState;
  reload: () => void;
  setAnnotations: (update: (list: readonly AnnotationItem[]) => AnnotationItem[]) => void;
  waitForRecompute: (signal: AbortSignal) => Promise<PollOutcome>;
} {
  const reader = useRecordReader();
  const [state, setState] = useState<TrendState>({ status: 'loading' });
  const [tick, setTick] = useState(0);
  const current = useRef<TrendData | undefined>(undefined);
  const loadedKey = useRef<string | undefined>(undefined);

  useEffect(() => {
    if (!metric || !patientId) {
      return undefined;
    }
    let active = true;
    const key = `${patientId}.${metric.key}.${days}`;
    // A reload of what is shown keeps it on screen; another metric or range starts from a loader.
    setState((prev) =>
      prev.status === 'ready' && loadedKey.current === key ? { ...prev, refreshing: true } : { status: 'loading' }
    );
    load(reader, patientId, metric, days)
      .then((data) => {
        if (active) {
          current.current = data;
          loadedKey.current = key;
          setState({ status: 'ready', data, refreshing: false });
        }
      })
      .catch((err: unknown) => {
        if (active) {
          setState({ status: 'error', error: normalizeErrorString(err) });
        }
      });
    return () => {
      active = false;
    };
  }, [reader, patientId, metric, days, tick]);

  const reload = useCallback(() => setTick((t) => t + 1), []);

  const setAnnotations = useCallback((update: (list: readonly AnnotationItem[]) => AnnotationItem[]) => {
    setState((prev) => {
      if (prev.status !== 'ready') {
        return prev;
      }
      const data = { ...prev.data, annotations: update(prev.data.annotations) };
      current.current = data;
      return { ...prev, data };
    });
  }, []);

  const waitForRecompute = useCallback(
    async (signal: AbortSignal): Promise<PollOutcome> => {
      const before = current.current;
      if (!metric || !before) {
        return 'unchanged';
      }
      let last = before.signature;
      let changed = false;
      for (const delay of POLL_DELAYS_MS) {
        await sleep(delay);
        if (signal.aborted) {
          return 'unchanged';
        }
        let observations: Observation[];
        try {
          observations = await readDerivedObservations(reader, patientId, metric, before.window);
        } catch {
          return 'failed';
        }
        const signature = derivedSignature(observations);
        // The bot writes in batches: once something changed, one more read that sees no further change says the
        // recompute is through with this metric, so the page does not re-read it half written.
        if (changed && signature === last) {
          break;
        }
        changed ||= signature !== before.signature;
        last = signature;
      }
      if (changed && !signal.aborted) {
        setTick((t) => t + 1);
      }
      return changed ? 'changed' : 'unchanged';
    },
    [reader, patientId, metric]
  );

  return { state, reload, setAnnotations, waitForRecompute };
}
