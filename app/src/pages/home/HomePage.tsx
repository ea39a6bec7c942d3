import { Alert, Anchor, Stack, Text, Title } from '@mantine/core';
import { formatHumanName } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import type { JSX } from 'react';
import { Link } from 'react-router';
import { ProviderGrid } from '../../components/ProviderGrid/ProviderGrid.tsx';
import { useConnections } from '../../hooks/useConnections.ts';
import { connectionState } from '../../lib/connections.ts';

export interface HomePageProps {
  readonly patient: Patient;
}

/**
 * The owner's home: a greeting and the device cards (the same cards as the Connections page), with the
 * connect-a-device explanation while nothing is connected.
 * @param props - the signed-in Patient profile.
 * @returns The home page.
 */
export function HomePage(props: HomePageProps): JSX.Element {
  const name = props.patient.name?.[0];
  const displayName = name ? formatHumanName(name) : '';
  const connectionsState = useConnections();
  const { connections } = connectionsState;
  const anyConnected = connections?.some((c) => connectionState(c) !== 'not-connected') ?? false;

  return (
    <Stack maw={960} mx="auto" gap="lg">
      <div>
        <Title order={2} data-testid="greeting">
          {displayName ? `Welcome, ${displayName}` : 'Welcome'}
        </Title>
        <Text c="dimmed">Your wearable data, kept in your own FHIR health record.</Text>
      </div>

      <Stack gap="xs">
        <Title order={3}>Connect a device</Title>
        {connections && !anyConnected && (
          <Alert color="gray" variant="light" title="No devices connected yet">
            Once a wearable is connected, Baseline imports its measurements into your record and works out your personal
            baselines. Nothing is imported until you connect one.
          </Alert>
        )}
        {anyConnected && (
          <Text size="sm" c="dimmed">
            See what has been imported on the{' '}
            <Anchor component={Link} to="/data">
              Data
            </Anchor>{' '}
            page.
          </Text>
        )}
      </Stack>

      <ProviderGrid state={connectionsState} />

      <Anchor component={Link} to="/connections" size="sm">
        Manage connections
      </Anchor>
    </Stack>
  );
}
