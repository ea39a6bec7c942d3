import { normalizeErrorString } from '@medplum/core';
import type { Communication, Flag } from '@medplum/fhirtypes';
import { useEffect, useState } from 'react';
import { parseAlertFlag } from '../../../../bots/analytics/alerts.ts';
import { communicationSearch, flagSearch } from '../../lib/alerts.ts';
import { useRecordReader } from '../../lib/clinician-context.ts';

export type AlertsState =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: string }
  | { readonly status: 'ready'; readonly flags: readonly Flag[]; readonly communications: readonly Communication[] };

/**
 * The owner's active alert Flags and the Communications about them: two searches, the second only for the active
 * Flags' identifiers, so it stays bounded however many alerts have come and gone. The language is applied by the
 * caller, so switching it asks nothing again.
 * @param patientId - the owner's Patient id
 * @param refreshKey - changes when a recompute may have raised or ended alerts
 * @returns the resources, or the loading / error state
 */
export function useActiveAlerts(patientId: string, refreshKey: string): AlertsState {
  const reader = useRecordReader();
  const [state, setState] = useState<AlertsState>({ status: 'loading' });

  useEffect(() => {
    let active = true;
    const load = async (): Promise<AlertsState> => {
      const [flagResult] = await reader.searchAll([{ resourceType: 'Flag', query: flagSearch(patientId) }]);
      const flags = (flagResult?.resources ?? []).filter(
        (f): f is Flag => f.resourceType === 'Flag' && parseAlertFlag(f)?.status === 'active'
      );
      const query = communicationSearch(flags);
      const [found] = query ? await reader.searchAll([{ resourceType: 'Communication', query }]) : [];
      const communications = (found?.resources ?? []).filter(
        (c): c is Communication => c.resourceType === 'Communication'
      );
      return { status: 'ready', flags, communications };
    };
    load()
      .then((next) => {
        if (active) {
          setState(next);
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
  }, [reader, patientId, refreshKey]);

  return state;
}
