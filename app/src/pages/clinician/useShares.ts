import { normalizeErrorString } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import { useEffect, useState } from 'react';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { AccessEndedError, latestIdsQuery, latestValues } from '../../lib/clinician.ts';
import type { SharedOwner } from '../../lib/clinician.ts';
import { useRecordReader } from '../../lib/clinician-context.ts';
import { loadSharedOwners } from '../../lib/clinician-reader.ts';
import type { LatestValue } from '../data/observations.ts';

export type Loaded<T> =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: string }
  /** The server refused a read mid-way: the grant ended between the search and the read. */
  | { readonly status: 'ended' }
  | { readonly status: 'ready'; readonly value: T };

function settle<T>(promise: Promise<T>, set: (state: Loaded<T>) => void, isActive: () => boolean): void {
  promise
    .then((value) => isActive() && set({ status: 'ready', value }))
    .catch((err: unknown) => {
      if (isActive()) {
        set(
          err instanceof AccessEndedError ? { status: 'ended' } : { status: 'error', error: normalizeErrorString(err) }
        );
      }
    });
}

/**
 * @param patientId - one owner, or undefined for everyone who shared.
 * @param reloadKey - changes to read again.
 * @returns The owners who shared with the clinician.
 */
export function useSharedOwners(patientId: string | undefined, reloadKey: number): Loaded<SharedOwner[]> {
  const reader = useRecordReader();
  const [state, setState] = useState<Loaded<SharedOwner[]>>({ status: 'loading' });
  useEffect(() => {
    let active = true;
    setState({ status: 'loading' });
    settle(loadSharedOwners(reader, patientId), setState, () => active);
    return () => {
      active = false;
    };
  }, [reader, patientId, reloadKey]);
  return state;
}

/**
 * The latest value of each shared metric: one id search over their codes (newest first, last two weeks), then one
 * batch read.
 * @param patientId - the owner.
 * @param metrics - the shared metrics (empty: nothing is read); memoize it, a new array reads again.
 * @returns The latest values.
 */
export function useSharedLatest(patientId: string, metrics: readonly Metric[]): Loaded<LatestValue[]> {
  const reader = useRecordReader();
  const [state, setState] = useState<Loaded<LatestValue[]>>({ status: 'loading' });
  useEffect(() => {
    let active = true;
    setState({ status: 'loading' });
    const wanted = metrics;
    const load = async (): Promise<LatestValue[]> => {
      if (wanted.length === 0) {
        return [];
      }
      const [found] = await reader.searchAll([
        { resourceType: 'Observation', query: latestIdsQuery(patientId, wanted, new Date()) },
      ]);
      const observations = (found?.resources ?? []).filter((r): r is Observation => r.resourceType === 'Observation');
      return latestValues(observations, wanted);
    };
    settle(load(), setState, () => active);
    return () => {
      active = false;
    };
  }, [reader, patientId, metrics]);
  return state;
}
