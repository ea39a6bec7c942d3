import { useMedplum } from '@medplum/react';
import { useEffect, useRef, useState } from 'react';
import { recomputeCountSearch } from '../../lib/narratives.ts';

/** While an import runs or a recompute is waiting: soon after it finishes, the new narrative is there. */
const BUSY_POLL_MS = 5_000;
/** Otherwise: a webhook sync, the nightly run or a change made on another device is picked up within this. */
const IDLE_POLL_MS = 30_000;

/**
 * A number that goes up each time one of the owner's analytics recomputes finishes, so Home reloads the narrative
 * and the alerts then, and not only when a sync ends (the recompute it queues finishes seconds later) or on a
 * reload. Each recompute is one Task, so the count of completed ones moving is the signal; two `_summary=count`
 * searches per check, no resources transferred.
 * @param patientId - the owner's Patient id
 * @param importing - a history import is running (recomputes will follow it)
 * @returns the version
 */
export function useInsightsVersion(patientId: string, importing: boolean): number {
  const medplum = useMedplum();
  const [version, setVersion] = useState(0);
  const [pending, setPending] = useState(false);
  const [tick, setTick] = useState(0);
  const completed = useRef<number | undefined>(undefined);

  useEffect(() => {
    let active = true;
    const count = (state: 'pending' | 'completed'): Promise<number> =>
      medplum
        .search('Task', recomputeCountSearch(patientId, state), { cache: 'no-cache' })
        .then((bundle) => bundle.total ?? 0);
    Promise.all([count('pending'), count('completed')])
      .then(([waiting, done]) => {
        if (!active) {
          return;
        }
        // The first answer is the baseline: the cards loaded their own data on mount.
        if (completed.current !== undefined && done !== completed.current) {
          setVersion((v) => v + 1);
        }
        completed.current = done;
        setPending(waiting > 0);
      })
      // A failed check only delays a refresh; the cards show their own load errors, and the next check asks again.
      .catch(() => undefined);
    return () => {
      active = false;
    };
  }, [medplum, patientId, tick]);

  useEffect(() => {
    const id = window.setTimeout(() => setTick((t) => t + 1), pending || importing ? BUSY_POLL_MS : IDLE_POLL_MS);
    return () => window.clearTimeout(id);
  }, [pending, importing, tick]);

  return version;
}
