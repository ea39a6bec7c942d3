import { Badge, Button, Card, Group, Text } from '@mantine/core';
import type { JSX } from 'react';
import classes from './DeviceCard.module.css';

export interface DeviceCardProps {
  readonly name: string;
  readonly summary: string;
}

/**
 * A provider this server does not offer (its administrator has not set up the provider's app credentials). The
 * button is disabled and says why rather than pretending to connect; offered providers use ConnectionCard.
 * @param props - the provider's display name and what it measures.
 * @returns The card.
 */
export function DeviceCard(props: DeviceCardProps): JSX.Element {
  const { name, summary } = props;
  return (
    <Card withBorder padding="lg" className={classes.card} data-testid={`device-card-${name}`}>
      <Group justify="space-between" mb="xs">
        <Text fw={600}>{name}</Text>
        <Badge color="gray" variant="light">
          Not connected
        </Badge>
      </Group>
      <Text size="sm" c="dimmed" className={classes.summary}>
        {summary}
      </Text>
      <Text size="xs" c="dimmed" mt="sm">
        This server does not offer {name} yet: ask your administrator to set it up.
      </Text>
      <Button fullWidth mt="md" disabled aria-label={`Connect ${name} (not offered on this server)`}>
        Not offered here
      </Button>
    </Card>
  );
}
