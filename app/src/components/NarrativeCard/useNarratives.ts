import { normalizeErrorString } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import { useMedplum } from '@medplum/react';
import { useEffect, useState } from 'react';
import { narrativeSearch, parseNarrative } from '../../lib/narratives.ts';
import type { NarrativeView } from '../../lib/narratives.ts';

export type NarrativesState =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: string }
  | { readonly status: 'ready'; readonly narratives: readonly NarrativeView[] };

/**
 * The owner's recent narratives (both kinds, both languages) in one search, so switching week/month or language
 * shows the other text at once instead of asking the server again.
 * @param patientId - the owner's Patient id
 * @param refreshKey - changes when a recompute may have written new narratives (e.g. a sync finished)
 * @returns the narratives, or the loading / error state
 */
export function useNarratives(patientId: string, refreshKey: string): NarrativesState {
  const medplum = useMedplum();
  const [state, setState] = useState<NarrativesState>({ status: 'loading' });

  useEffect(() => {
    let active = true;
    medplum
      // MedplumClient caches GETs; a recompute may have replaced a narrative since the last visit.
      .searchResources('Observation', narrativeSearch(patientId), { cache: 'no-cache' })
      .then((found: Observation[]) => {
        if (active) {
          setState({ status: 'ready', narratives: found.flatMap((o) => parseNarrative(o) ?? []) });
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
  }, [medplum, patientId, refreshKey]);

  return state;
}
