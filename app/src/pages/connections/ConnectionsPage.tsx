import { Stack, Text, Title } from '@mantine/core';
import type { JSX } from 'react';
import { HumanErrorAlert } from '../../components/HumanErrorAlert/HumanErrorAlert.tsx';
import { ProviderGrid } from '../../components/ProviderGrid/ProviderGrid.tsx';
import { useConnections } from '../../hooks/useConnections.ts';
import { describeLoadFailure } from '../../lib/human-errors.ts';

/**
 * `/connections`: every provider with its connection, import progress and the connect / reconnect / disconnect
 * actions. The list refreshes itself while a history import or sync is running.
 * @returns The Connections page.
 */
export function ConnectionsPage(): JSX.Element {
  const state = useConnections();

  return (
    <Stack maw={960} mx="auto" gap="lg">
      <div>
        <Title order={2}>Connections</Title>
        <Text c="dimmed">
          Wearables Baseline imports from. Connecting one imports its history first, then keeps up as new data arrives.
        </Text>
      </div>
      {/* Connections already shown stay on screen; a failed refresh is reported without hiding them. */}
      {state.connections && state.error && (
        <HumanErrorAlert
          color="orange"
          error={{ ...describeLoadFailure(state.error), title: 'Could not refresh your connections' }}
        />
      )}
      <ProviderGrid state={state} />
    </Stack>
  );
}
