import { Alert, Anchor, Badge, Button, Card, Group, Skeleton, Stack, Text, Title } from '@mantine/core';
import { formatHumanName } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import type { JSX } from 'react';
import { Link } from 'react-router';
import { AlertList } from '../../components/AlertList/AlertList.tsx';
import { HumanErrorAlert } from '../../components/HumanErrorAlert/HumanErrorAlert.tsx';
import { NarrativeCard } from '../../components/NarrativeCard/NarrativeCard.tsx';
import { ProviderGrid } from '../../components/ProviderGrid/ProviderGrid.tsx';
import { useConnections } from '../../hooks/useConnections.ts';
import { useNow } from '../../hooks/useNow.ts';
import { useObservationCount } from '../../hooks/useObservationCount.ts';
import { backfillProgress, connectionFor, connectionState } from '../../lib/connections.ts';
import type { ConnectionView } from '../../lib/connections.ts';
import { describeLoadFailure } from '../../lib/human-errors.ts';
import { KNOWN_PROVIDERS } from '../../lib/providers.ts';
import type { ProviderInfo } from '../../lib/providers.ts';
import { formatDateTime, formatRelativeTime } from '../../lib/time.ts';
import { useInsightsVersion } from './useInsightsVersion.ts';
import { useOwnerLanguage } from './useOwnerLanguage.ts';

export interface HomePageProps {
  readonly patient: Patient;
}

interface Connected {
  readonly provider: ProviderInfo;
  readonly connection: ConnectionView;
}

/**
 * The owner's home: a greeting, then what is true right now. With a device connected, the period narrative and the
 * active alerts (in the owner's language), one summary per connection (last sync, how much it imported, the history
 * import while it runs) and the way to the data; with nothing connected, the connect-a-device explanation and the
 * provider cards.
 * @param props - the signed-in Patient profile.
 * @returns The home page.
 */
export function HomePage(props: HomePageProps): JSX.Element {
  const name = props.patient.name?.[0];
  const displayName = name ? formatHumanName(name) : '';
  const connectionsState = useConnections();
  const { connections, error, reload } = connectionsState;
  const connected: Connected[] | undefined = connections
    ? KNOWN_PROVIDERS.flatMap((provider) => {
        const connection = connectionFor(connections, provider.key);
        return connection && connectionState(connection) !== 'not-connected' ? [{ provider, connection }] : [];
      })
    : undefined;
  const [language, setLanguage] = useOwnerLanguage(props.patient);
  // A finished sync, import window or recompute may have changed the insights: each asks the cards to load again.
  const importing = (connected ?? []).some((c) => !backfillProgress(c.connection.backfill).finished);
  const insightsVersion = useInsightsVersion(props.patient.id ?? '', importing);
  const insightsKey =
    (connected ?? [])
      .map((c) => `${c.provider.key}:${c.connection.lastSyncAt ?? ''}:${c.connection.backfill.completed}`)
      .join('|') + `#${insightsVersion}`;

  return (
    <Stack maw={960} mx="auto" gap="lg">
      <div>
        <Title order={2} data-testid="greeting">
          {displayName ? `Welcome, ${displayName}` : 'Welcome'}
        </Title>
        <Text c="dimmed">Your wearable data, kept in your own FHIR health record.</Text>
      </div>

      {!connected && !error && <Skeleton height={120} aria-label="Loading your connections" />}
      {!connected && error && (
        <HumanErrorAlert error={describeLoadFailure(error)}>
          <Button size="xs" variant="light" color="red" onClick={reload}>
            Try again
          </Button>
        </HumanErrorAlert>
      )}

      {connected && connected.length > 0 && (
        <>
          <NarrativeCard
            patientId={props.patient.id ?? ''}
            language={language}
            onLanguageChange={setLanguage}
            refreshKey={insightsKey}
            importing={importing}
          />
          <AlertList patientId={props.patient.id ?? ''} language={language} refreshKey={insightsKey} />
        </>
      )}

      {connected && connected.length > 0 && (
        <Stack gap="sm">
          <Title order={3}>Your devices</Title>
          {connected.map((c) => (
            <ConnectedSummary key={c.provider.key} patientId={props.patient.id ?? ''} {...c} />
          ))}
          <Anchor component={Link} to="/connections" size="sm">
            Manage connections
          </Anchor>
        </Stack>
      )}

      {connected && connected.length === 0 && (
        <Stack gap="md">
          <Title order={3}>Connect a device</Title>
          <Alert color="gray" variant="light" title="No devices connected yet">
            Once a wearable is connected, Baseline imports its measurements into your record and works out your personal
            baselines. Nothing is imported until you connect one.
          </Alert>
          <ProviderGrid state={connectionsState} />
        </Stack>
      )}
    </Stack>
  );
}

function ConnectedSummary(props: Connected & { readonly patientId: string }): JSX.Element {
  const { provider, connection, patientId } = props;
  const now = useNow();
  const progress = backfillProgress(connection.backfill);
  const refreshKey = `${connection.lastSyncAt ?? ''}|${connection.backfill.completed}`;
  const count = useObservationCount(patientId, connection.deviceId, refreshKey);
  const expired = connectionState(connection) === 'credentials-expired';
  const lastSync = connection.lastSyncAt ? new Date(connection.lastSyncAt) : undefined;

  return (
    <Card withBorder padding="lg" data-testid={`home-connection-${provider.name}`}>
      <Stack gap="xs">
        <Group justify="space-between" gap="xs">
          <Text fw={600} data-testid="home-connection-title">
            {expired ? `${provider.name} needs you to reconnect` : `${provider.name} connected`}
          </Text>
          <Badge color={expired ? 'red' : 'teal'} variant="light">
            {expired ? 'Reconnect needed' : 'Connected'}
          </Badge>
        </Group>
        <Text size="sm" data-testid="home-connection-summary">
          Last synced{' '}
          {lastSync ? (
            <time dateTime={connection.lastSyncAt} title={formatDateTime(lastSync)}>
              {formatRelativeTime(lastSync, now)}
            </time>
          ) : (
            'not yet'
          )}
          {count.status === 'ready' && (
            <span data-testid="home-observation-count">
              {' · '}
              {count.count.toLocaleString()} {count.count === 1 ? 'observation' : 'observations'} in your record
            </span>
          )}
        </Text>
        {!progress.finished && (
          <Text size="sm" c="dimmed" data-testid="home-import-progress">
            Importing your history: {progress.summary}.
          </Text>
        )}
        {expired && (
          <Text size="sm">
            {provider.name} no longer accepts Baseline&apos;s access, so nothing new is being imported. The data already
            imported stays in your record.
          </Text>
        )}
        <Group gap="sm" mt={4}>
          <Button component={Link} to="/data" size="xs">
            See your data
          </Button>
          {expired && (
            <Button component={Link} to="/connections" size="xs" variant="light" color="red">
              Reconnect
            </Button>
          )}
        </Group>
      </Stack>
    </Card>
  );
}
