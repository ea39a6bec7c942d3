import { Alert, Badge, Button, Card, Group, Loader, Progress, Skeleton, Stack, Text } from '@mantine/core';
import { useState } from 'react';
import type { JSX } from 'react';
import { backfillProgress, connectionState, isErasing } from '../../lib/connections.ts';
import { describeConnectionProblem, describeLoadFailure } from '../../lib/human-errors.ts';
import type { ConnectionState, ConnectionView } from '../../lib/connections.ts';
import type { ProviderInfo } from '../../lib/providers.ts';
import { formatDate, formatDateTime, formatRelativeTime } from '../../lib/time.ts';
import { showSuccessNotification } from '../../utils/notifications.ts';
import { HumanErrorAlert } from '../HumanErrorAlert/HumanErrorAlert.tsx';
import classes from './ConnectionCard.module.css';
import { DisconnectModal } from './DisconnectModal.tsx';
import type { DisconnectResult } from './DisconnectModal.tsx';

export interface ConnectionCardProps {
  readonly provider: ProviderInfo;
  /** The provider's connection; undefined when there is none or it is not known yet. */
  readonly connection: ConnectionView | undefined;
  /** Whether the connections are known at all (false until the first answer, and when it failed). */
  readonly known: boolean;
  /** Why the connections could not be loaded, when they are not known. */
  readonly loadError: string | undefined;
  readonly onRetry: () => void;
  /** True while connect-start runs and the browser leaves for the provider. */
  readonly connecting: boolean;
  readonly onConnect: () => void;
  /** Called after a disconnect, so the page reloads the connections. */
  readonly onChanged: () => void;
  readonly now: Date;
}

const BADGES: Readonly<Record<ConnectionState | 'connecting' | 'unknown', { label: string; color: string }>> = {
  'not-connected': { label: 'Not connected', color: 'gray' },
  connecting: { label: 'Connecting…', color: 'blue' },
  active: { label: 'Connected', color: 'teal' },
  'credentials-expired': { label: 'Reconnect needed', color: 'red' },
  unknown: { label: 'Status unknown', color: 'gray' },
};

/**
 * One live provider (WHOOP): connect, its connection's health (since when, last sync, history import progress, last
 * error), reconnect when the provider stopped accepting Baseline's tokens, and disconnect.
 * @param props - the provider, its connection and the page's callbacks.
 * @returns The card.
 */
export function ConnectionCard(props: ConnectionCardProps): JSX.Element {
  const { provider, connection, known, loadError, onRetry, connecting, onConnect, onChanged, now } = props;
  const [disconnectOpen, setDisconnectOpen] = useState(false);
  const [lastDisconnect, setLastDisconnect] = useState<DisconnectResult>();
  const state = connectionState(connection);
  const badgeKey = connecting ? 'connecting' : known ? state : 'unknown';
  const badge = BADGES[badgeKey];

  const onDisconnected = (result: DisconnectResult): void => {
    setDisconnectOpen(false);
    setLastDisconnect(result);
    showSuccessNotification(`${provider.name} disconnected`, disconnectMessage(provider, result));
    onChanged();
  };

  return (
    <Card withBorder padding="lg" className={classes.card} data-testid={`device-card-${provider.name}`}>
      <Group justify="space-between" mb="xs">
        <Text fw={600}>{provider.name}</Text>
        <Badge color={badge.color} variant="light" data-testid="connection-status">
          {badge.label}
        </Badge>
      </Group>
      <Text size="sm" c="dimmed" mb="md">
        {provider.summary}
      </Text>

      <Stack gap="sm" className={classes.body}>
        {!known && !loadError && <Skeleton height={36} aria-label={`Loading your ${provider.name} connection`} />}

        {!known && loadError && (
          <HumanErrorAlert error={describeLoadFailure(loadError)} data-testid="load-error">
            <Button size="xs" variant="light" color="red" onClick={onRetry}>
              Try again
            </Button>
          </HumanErrorAlert>
        )}

        {known && state === 'not-connected' && lastDisconnect && (
          <Alert
            color="teal"
            variant="light"
            title={`${provider.name} is disconnected`}
            data-testid="disconnect-result"
          >
            {disconnectMessage(provider, lastDisconnect)}
          </Alert>
        )}

        {known && state === 'not-connected' && connection?.erase && (
          <Text size="sm" c="dimmed" data-testid="erase-progress">
            {eraseMessage(provider, connection.erase, isErasing(connection))}
          </Text>
        )}

        {known && state === 'credentials-expired' && (
          <Alert color="red" title={`${provider.name} needs you to reconnect`} data-testid="reconnect-alert">
            <Stack gap="xs" align="flex-start">
              <Text size="sm">
                {provider.name} no longer accepts Baseline&apos;s access, so nothing new is being imported. Reconnect to
                resume; the data already imported stays in your record.
              </Text>
              <Button size="xs" color="red" loading={connecting} onClick={onConnect}>
                Reconnect
              </Button>
              {connection?.lastError && (
                <Text size="xs" c="dimmed" style={{ overflowWrap: 'anywhere' }} data-testid="error-detail">
                  Details: {connection.lastError}
                </Text>
              )}
            </Stack>
          </Alert>
        )}

        {known && connection && state !== 'not-connected' && (
          <ConnectionDetails provider={provider} connection={connection} now={now} />
        )}
      </Stack>

      {known && state === 'not-connected' && (
        <Button fullWidth mt="md" loading={connecting} onClick={onConnect}>
          Connect {provider.name}
        </Button>
      )}
      {known && state !== 'not-connected' && (
        <Button fullWidth mt="md" variant="light" color="red" onClick={() => setDisconnectOpen(true)}>
          Disconnect
        </Button>
      )}

      <DisconnectModal
        provider={provider}
        opened={disconnectOpen}
        onClose={() => setDisconnectOpen(false)}
        onDisconnected={onDisconnected}
      />
    </Card>
  );
}

function eraseMessage(provider: ProviderInfo, erase: { deleted: number }, running: boolean): string {
  const n = `${erase.deleted.toLocaleString()} ${erase.deleted === 1 ? 'record' : 'records'}`;
  return running
    ? `Erasing the data imported from ${provider.name}: ${n} deleted so far. This runs in the background and can take a few minutes; you can leave this page.`
    : `Erased the data imported from ${provider.name} (${n}).`;
}

function disconnectMessage(provider: ProviderInfo, result: DisconnectResult): string {
  // The erase itself runs in the background (paced by the server's quota); the card shows its progress.
  const data = result.erase
    ? `Erasing the data imported from ${provider.name} has started.`
    : `The data already imported from ${provider.name} was kept.`;
  // Syncing has stopped either way; only the provider-side grant may outlive the disconnect.
  const revoke =
    result.revoked === false
      ? ` ${provider.name} did not confirm that Baseline's access was removed; you can remove it in your ${provider.name} account settings.`
      : '';
  return data + revoke;
}

interface ConnectionDetailsProps {
  readonly provider: ProviderInfo;
  readonly connection: ConnectionView;
  readonly now: Date;
}

function ConnectionDetails(props: ConnectionDetailsProps): JSX.Element {
  const { provider, connection, now } = props;
  const problem = connection.lastError ? describeConnectionProblem(provider.name, connection.lastError) : undefined;
  const connectedAt = connection.connectedAt ? new Date(connection.connectedAt) : undefined;
  const lastSync = connection.lastSyncAt ? new Date(connection.lastSyncAt) : undefined;
  const progress = backfillProgress(connection.backfill);
  const syncing = connection.backfill.inProgress > 0;

  return (
    <Stack gap="xs">
      <Text size="sm" data-testid="connected-since">
        Connected since{' '}
        {connectedAt ? (
          <time dateTime={connection.connectedAt} title={formatDateTime(connectedAt)}>
            {formatDate(connectedAt)}
          </time>
        ) : (
          'an unknown date'
        )}
      </Text>
      <Text size="sm" data-testid="last-sync">
        Last sync:{' '}
        {lastSync ? (
          <time dateTime={connection.lastSyncAt} title={formatDateTime(lastSync)}>
            {formatRelativeTime(lastSync, now)}
          </time>
        ) : (
          'not yet'
        )}
      </Text>

      {progress.total > 0 && (
        <Stack gap={4}>
          <Text size="sm" fw={500}>
            History import
          </Text>
          <Progress.Root size="lg" aria-label="History import progress" data-testid="backfill-progress">
            <Progress.Section value={progress.completedPercent} color="teal" />
            <Progress.Section value={progress.failedPercent} color="red" />
          </Progress.Root>
          <Text size="xs" c={progress.failed > 0 ? 'red.8' : 'dimmed'} data-testid="backfill-summary">
            {progress.summary}
          </Text>
        </Stack>
      )}

      {syncing && (
        <Group gap="xs" data-testid="sync-in-progress">
          <Loader size="xs" />
          <Text size="sm">Sync in progress</Text>
        </Group>
      )}

      {/* A card asking to reconnect already says what the expired-credentials problem means. */}
      {problem && connection.status !== 'credentials-expired' && (
        <HumanErrorAlert error={problem} color="orange" data-testid="last-error" />
      )}
    </Stack>
  );
}
