import { Alert, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { formatHumanName } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import type { JSX } from 'react';
import { DeviceCard } from '../../components/DeviceCard/DeviceCard.tsx';
import { PROVIDERS } from './providers.data.ts';

export interface HomePageProps {
  readonly patient: Patient;
}

/**
 * The owner's home: a greeting and, until a wearable is connected, the connect-a-device empty state.
 * @param props - the signed-in Patient profile.
 * @returns The home page.
 */
export function HomePage(props: HomePageProps): JSX.Element {
  const name = props.patient.name?.[0];
  const displayName = name ? formatHumanName(name) : '';

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
        <Alert color="gray" variant="light" title="No devices connected yet">
          Once a wearable is connected, Baseline imports its measurements into your record and works out your personal
          baselines. Nothing is imported until you connect one.
        </Alert>
      </Stack>

      <SimpleGrid cols={{ base: 1, sm: 3 }}>
        {PROVIDERS.map((p) => (
          <DeviceCard key={p.key} name={p.name} summary={p.summary} />
        ))}
      </SimpleGrid>
    </Stack>
  );
}
