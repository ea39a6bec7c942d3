import { normalizeErrorString } from '@medplum/core';
import { useMedplum } from '@medplum/react';
import { useCallback, useEffect, useState } from 'react';
import { executeOwnerBot } from '../lib/bots.ts';
import { ConnectionsResponseSchema, isBusy } from '../lib/connections.ts';
import type { ConnectionView, ProviderAvailability } from '../lib/connections.ts';

/** How often the page asks again while a backfill or sync is running. */
export const CONNECTIONS_POLL_MS = 5_000;

export interface ConnectionsState {
  /** Undefined until the first answer arrives. */
  readonly connections: ConnectionView[] | undefined;
  /** Which providers this server offers; undefined until the first answer (or from an older server). */
  readonly providers: ProviderAvailability[] | undefined;
  /** Why the last request failed; cleared by the next success. */
  readonly error: string | undefined;
  readonly loading: boolean;
  /** Asks the connections bot again now (after a connect or disconnect). */
  readonly reload: () => void;
}

/**
 * The owner's connections from the `connections` bot, re-fetched every CONNECTIONS_POLL_MS while any connection has
 * queued or running work, and not at all once everything is idle. Polling is a chain of timeouts (one request at a
 * time, the next scheduled only after an answer) and stops when the component unmounts.
 * @returns The connections, the last error, and a reload function.
 */
export function useConnections(): ConnectionsState {
  const medplum = useMedplum();
  const [connections, setConnections] = useState<ConnectionView[]>();
  const [providers, setProviders] = useState<ProviderAvailability[]>();
  const [error, setError] = useState<string>();
  const [loading, setLoading] = useState(true);
  // Each increment is one request; the polling effect bumps it, and so does reload().
  const [generation, setGeneration] = useState(0);
  const [answered, setAnswered] = useState(0);

  useEffect(() => {
    let active = true;
    setLoading(true);
    executeOwnerBot(medplum, 'connections', {}, ConnectionsResponseSchema)
      .then((response) => {
        if (active) {
          setConnections(response.connections);
          setProviders(response.providers);
          setError(undefined);
        }
      })
      .catch((err: unknown) => {
        if (active) {
          setError(normalizeErrorString(err));
        }
      })
      .finally(() => {
        if (active) {
          setLoading(false);
          setAnswered((n) => n + 1);
        }
      });
    return () => {
      active = false;
    };
  }, [medplum, generation]);

  const busy = connections?.some(isBusy) ?? false;

  useEffect(() => {
    if (!busy) {
      return undefined;
    }
    const id = window.setTimeout(() => setGeneration((g) => g + 1), CONNECTIONS_POLL_MS);
    return () => window.clearTimeout(id);
    // `answered` re-arms the timer after every answer, so the chain continues while busy.
  }, [busy, answered]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);

  return { connections, providers, error, loading, reload };
}
