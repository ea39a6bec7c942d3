import { Button, Group, Text } from '@mantine/core';
import { useState } from 'react';
import type { JSX } from 'react';
import { IntradayChart } from './IntradayChart.tsx';

export interface IntradaySectionProps {
  readonly patientId: string;
}

/**
 * The day view behind a button: it costs a search, and owners with only a WHOOP have no series, so the page does
 * not pay for it on every visit.
 * @param props - the owner
 * @returns the button, or the day view once asked for
 */
export function IntradaySection(props: IntradaySectionProps): JSX.Element {
  const [open, setOpen] = useState(false);
  if (open) {
    return <IntradayChart patientId={props.patientId} />;
  }
  return (
    <Group justify="space-between" data-testid="intraday-section">
      <Text size="sm" c="dimmed">
        Minute-by-minute heart rate and steps from a Withings watch, and 5-minute values from an Oura ring.
      </Text>
      <Button variant="light" onClick={() => setOpen(true)}>
        Show during the day
      </Button>
    </Group>
  );
}
