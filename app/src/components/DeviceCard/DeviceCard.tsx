import { Badge, Button, Card, Group, Text } from '@mantine/core';
import type { JSX } from 'react';
import classes from './DeviceCard.module.css';

export interface DeviceCardProps {
  readonly name: string;
  readonly summary: string;
}

/**
 * A provider Baseline cannot connect yet (no bots for it). The button is disabled and says so rather than pretending
 * to connect; live providers use ConnectionCard instead.
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
      <Button fullWidth mt="md" disabled aria-label={`Connect ${name} (coming soon)`}>
        Connect — coming soon
      </Button>
    </Card>
  );
}
