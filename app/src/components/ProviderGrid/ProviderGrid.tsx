import { SimpleGrid } from '@mantine/core';
import type { JSX } from 'react';
import type { ConnectionsState } from '../../hooks/useConnections.ts';
import { useConnectProvider } from '../../hooks/useConnectProvider.ts';
import { useNow } from '../../hooks/useNow.ts';
import { connectionFor } from '../../lib/connections.ts';
import { KNOWN_PROVIDERS } from '../../lib/providers.ts';
import { ConnectionCard } from '../ConnectionCard/ConnectionCard.tsx';
import { DeviceCard } from '../DeviceCard/DeviceCard.tsx';

export interface ProviderGridProps {
  /** The page's connections (the page owns the polling so it can also use the answer itself). */
  readonly state: ConnectionsState;
}

/**
 * A card per provider with its connection; a provider this server does not offer (and the owner never connected)
 * says so instead of offering a connect button that would fail.
 * @param props - the connections state from useConnections.
 * @returns The grid of cards.
 */
export function ProviderGrid(props: ProviderGridProps): JSX.Element {
  const { connections, providers, error, reload } = props.state;
  const { connect, connecting } = useConnectProvider();
  const now = useNow();

  return (
    <SimpleGrid cols={{ base: 1, sm: 3 }}>
      {KNOWN_PROVIDERS.map((p) => {
        const connection = connections ? connectionFor(connections, p.key) : undefined;
        const offered = providers?.find((a) => a.key === p.key)?.available ?? true;
        return offered || connection ? (
          <ConnectionCard
            key={p.key}
            provider={p}
            connection={connection}
            known={connections !== undefined}
            loadError={error}
            onRetry={reload}
            connecting={connecting === p.key}
            onConnect={() => void connect(p)}
            onChanged={reload}
            now={now}
          />
        ) : (
          <DeviceCard key={p.key} name={p.name} summary={p.summary} />
        );
      })}
    </SimpleGrid>
  );
}
