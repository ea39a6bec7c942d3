import { normalizeErrorString } from '@medplum/core';
import { useEffect, useState } from 'react';
import { useRecordReader } from '../../lib/clinician-context.ts';
import { narrativeSearch, parseNarrative } from '../../lib/narratives.ts';
import type { NarrativeView } from '../../lib/narratives.ts';

export type NarrativesState =
  | { readonly status: 'loading' }
  | { readonly status: 'error'; readonly error: string }
  | { readonly status: 'ready'; readonly narratives: readonly NarrativeView[] };

/**
 * The owner's recent narratives (both kinds, both languages) in one search, so switching week/month or language
 * shows the other text at once instead of asking the server again. The search goes through the context's reader
 * (clinician-context.ts): the owner's own search, or a clinician's id search and batch read.
 * @param patientId - the owner's Patient id
 * @param refreshKey - changes when a recompute may have written new narratives (e.g. a sync finished)
 * @returns the narratives, or the loading / error state
 */
export function useNarratives(patientId: string, refreshKey: string): NarrativesState {
  const reader = useRecordReader();
  const [state, setState] = useState<NarrativesState>({ status: 'loading' });

  useEffect(() => {
    let active = true;
    reader
      .searchAll([{ resourceType: 'Observation', query: narrativeSearch(patientId) }])
      .then(([found]) => {
        if (active) {
          const narratives = (found?.resources ?? []).flatMap((o) =>
            o.resourceType === 'Observation' ? (parseNarrative(o) ?? []) : []
          );
          setState({ status: 'ready', narratives });
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
