import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { CURRENT_STATUSES } from '../pages/data/observations.ts';

export type CountState =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: string }
  | { readonly status: 'ready'; readonly count: number };

/**
 * How many current Observations one device has put into the patient's record: one `_summary=count` search (no
 * resources transferred), counting what the Data page would show (retracted records are not counted).
 * @param patientId - the signed-in patient's id.
 * @param deviceId - the connection's Device id; undefined while it is not known (nothing is fetched).
 * @param refreshKey - any value that changes when the count may have changed (e.g. the last sync time).
 * @returns The count, or the loading / error state.
 */
export function useObservationCount(patientId: string, deviceId: string | undefined, refreshKey: string): CountState {
  const medplum = useMedplum();
  const [state, setState] = useState<CountState>({ status: 'loading' });

  useEffect(() => {
    if (!deviceId) {
      return undefined;
    }
    let active = true;
    medplum
      .search(
        'Observation',
        {
          subject: `Patient/${patientId}`,
          device: `Device/${deviceId}`,
          status: CURRENT_STATUSES.join(','),
          _summary: 'count',
        },
        // MedplumClient caches GETs; the count must move while an import runs.
        { cache: 'no-cache' }
      )
      .then((bundle) => {
        if (active) {
          setState(
            bundle.total === undefined
              ? { status: 'error', error: 'The server did not return a total' }
              : { status: 'ready', count: bundle.total }
          );
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
  }, [medplum, patientId, deviceId, refreshKey]);

  return state;
}
