import { normalizeErrorString } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import {
  buildLatestBatch,
  buildSeriesQuery,
  MAX_SERIES_PAGES,
  readLatestBatch,
  toSeriesPoints,
} from './observations.ts';
import type { LatestResult, SeriesPoint } from './observations.ts';

export type Loadable<T> =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: string }
  | { readonly status: 'ready'; readonly data: T };

/**
 * The latest value of every catalogue metric for this patient, in one batch request (see observations.ts for why).
 * @param patientId - the signed-in patient's id.
 * @returns The latest values, or the loading / error state.
 */
export function useLatestValues(patientId: string): Loadable<LatestResult> {
  const medplum = useMedplum();
  const [state, setState] = useState<Loadable<LatestResult>>({ status: 'loading' });

  useEffect(() => {
    let active = true;
    setState({ status: 'loading' });
    medplum
      .executeBatch(buildLatestBatch(patientId))
      .then((response) => {
        if (active) {
          setState({ status: 'ready', data: readLatestBatch(response) });
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
  }, [medplum, patientId]);

  return state;
}

export interface Series {
  readonly points: SeriesPoint[];
  /** True when MAX_SERIES_PAGES pages were read and more existed: the chart is missing the newest values. */
  readonly truncated: boolean;
}

/**
 * One metric's values over the last `days` days, oldest first, paged and capped (see observations.ts).
 * @param patientId - the signed-in patient's id.
 * @param metric - the metric to chart, or undefined for none.
 * @param days - window length.
 * @returns The chart points, or the loading / error state.
 */
export function useMetricSeries(patientId: string, metric: Metric | undefined, days: number): Loadable<Series> {
  const medplum = useMedplum();
  const [state, setState] = useState<Loadable<Series>>({ status: 'loading' });

  useEffect(() => {
    if (!metric) {
      return undefined;
    }
    let active = true;
    setState({ status: 'loading' });
    const load = async (): Promise<Series> => {
      const observations: Observation[] = [];
      let pages = 0;
      let truncated = false;
      const query = buildSeriesQuery(patientId, metric, days, new Date());
      // MedplumClient caches GETs; a chart reopened after a sync must show the new values.
      for await (const page of medplum.searchResourcePages('Observation', query, { cache: 'no-cache' })) {
        if (pages === MAX_SERIES_PAGES) {
          truncated = true;
          break;
        }
        observations.push(...page);
        pages++;
      }
      return { points: toSeriesPoints(observations, metric), truncated };
    };
    load()
      .then((data) => {
        if (active) {
          setState({ status: 'ready', data });
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
  }, [medplum, patientId, metric, days]);

  return state;
}
