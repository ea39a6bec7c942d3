import {
  Alert,
  Button,
  Card,
  Group,
  Loader,
  Paper,
  SegmentedControl,
  Select,
  SimpleGrid,
  Skeleton,
  Stack,
  Text,
  Title,
} from '@mantine/core';
import type { Patient } from '@medplum/fhirtypes';
import { useRef, useState } from 'react';
import type { JSX } from 'react';
import { Link } from 'react-router';
import { z } from 'zod';
import { getMetric } from '../../../../bots/shared/catalogue.ts';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { IntradaySection } from '../../components/IntradayChart/IntradaySection.tsx';
import { useNow } from '../../hooks/useNow.ts';
import { readCached, writeCached } from '../../lib/data-cache.ts';
import { formatDateTime, formatRelativeTime } from '../../lib/time.ts';
import { formatMetricValue, formatPanelValue, joinValue, panelAsList } from '../../lib/units.ts';
import type { FormattedValue } from '../../lib/units.ts';
import { MetricChart } from './MetricChart.tsx';
import { CHART_WINDOWS, DEFAULT_CHART_WINDOW, groupLatest } from './observations.ts';
import type { ChartWindow, LatestValue } from './observations.ts';
import { useLatestValues } from './useObservations.ts';

export interface DataPageProps {
  readonly patient: Patient;
}

const viewSchema = z.object({ metric: z.string().optional(), days: z.number() });

/**
 * `/data`: the latest value of every metric the wearables have imported, grouped as the catalogue groups them, and
 * a chart of one metric's raw values over 30, 90 or 365 days.
 *
 * It shows what it has as soon as it has it: the cached page of the last visit at once (then refreshed), on a first
 * visit the tiles after one request (the rarer metrics follow), and the chart beside them; never a blank page while
 * the rest loads, also not while an import is writing.
 * @param props - the signed-in Patient profile.
 * @returns The Data page.
 */
export function DataPage(props: DataPageProps): JSX.Element {
  const patientId = props.patient.id ?? '';
  const latest = useLatestValues(patientId);
  const ready = latest.status === 'ready' ? latest : undefined;
  const empty = ready && ready.data.latest.length === 0 && ready.data.failures.length === 0;

  return (
    <Stack maw={1080} mx="auto" gap="lg">
      <Group justify="space-between" align="flex-end">
        <div>
          <Title order={2}>Your data</Title>
          <Text c="dimmed">The latest measurements your wearables have sent, as stored in your record.</Text>
        </div>
        {ready?.pending && (
          <Group gap={6} data-testid="data-refreshing">
            <Loader size="xs" />
            <Text size="sm" c="dimmed">
              {ready.partial ? 'Loading more metrics…' : 'Checking for new data…'}
            </Text>
          </Group>
        )}
      </Group>
      {latest.status === 'loading' && <TilesSkeleton />}
      {latest.status === 'error' && (
        <Alert color="red" title="Could not load your data">
          {latest.error}
        </Alert>
      )}
      {ready?.error && (
        <Alert color="orange" variant="light" title="Could not check for new data" data-testid="data-refresh-error">
          Showing what was loaded before. {ready.error}
        </Alert>
      )}
      {empty && !ready.pending && <EmptyState />}
      {ready && !empty && (
        <LoadedData patientId={patientId} latest={ready.data.latest} failures={ready.data.failures} />
      )}
    </Stack>
  );
}

function TilesSkeleton(): JSX.Element {
  return (
    <SimpleGrid cols={{ base: 1, sm: 2, md: 3 }} data-testid="latest-loading" aria-label="Loading your data">
      {Array.from({ length: 6 }, (_, i) => (
        <Skeleton key={i} height={104} radius="sm" />
      ))}
    </SimpleGrid>
  );
}

function EmptyState(): JSX.Element {
  return (
    <Paper withBorder p="xl" data-testid="data-empty">
      <Stack align="center" gap="sm">
        <Title order={3}>Connect a device to see your data</Title>
        <Text c="dimmed" ta="center">
          Nothing has been imported yet. Once a wearable is connected, its measurements appear here.
        </Text>
        <Button component={Link} to="/connections">
          Go to Connections
        </Button>
      </Stack>
    </Paper>
  );
}

interface LoadedDataProps {
  readonly patientId: string;
  readonly latest: readonly LatestValue[];
  readonly failures: readonly { readonly metric: { readonly label: string }; readonly reason: string }[];
}

function LoadedData(props: LoadedDataProps): JSX.Element {
  const { patientId, latest, failures } = props;
  const now = useNow();
  const viewKey = `${patientId}.view`;
  // The chart this tab showed last: a repeat visit shows it again (from the cache, then refreshed).
  const [view, setView] = useState(() => readCached(viewKey, viewSchema)?.value);
  const days: ChartWindow = CHART_WINDOWS.find((d) => d === view?.days) ?? DEFAULT_CHART_WINDOW;
  // Without a remembered choice, the first metric shown when the tiles first appeared: more tiles arriving later
  // must not switch the chart away.
  const [firstKey] = useState(() => latest[0]?.metric.key);
  const selectedKey = view?.metric ?? firstKey ?? latest[0]?.metric.key;
  const groups = groupLatest(latest);
  const selected = selectedKey ? findMetric(selectedKey) : undefined;
  const chartRef = useRef<HTMLDivElement>(null);

  const choose = (next: { metric?: string; days?: ChartWindow }): void => {
    const value = { metric: next.metric ?? selectedKey, days: next.days ?? days };
    setView(value);
    writeCached(viewKey, value);
  };

  // The chart sits above the tiles; a "Chart" click far down the page must show where the chart changed.
  const showChart = (key: string): void => {
    choose({ metric: key });
    chartRef.current?.scrollIntoView({ behavior: 'smooth', block: 'start' });
  };

  return (
    <>
      {failures.length > 0 && (
        <Alert color="orange" variant="light" title="Some metrics could not be loaded">
          {failures.map((f) => `${f.metric.label}: ${f.reason}`).join('; ')}
        </Alert>
      )}

      {selected && (
        <Card withBorder padding="lg" ref={chartRef} style={{ scrollMarginTop: 72 }}>
          <Stack gap="md">
            <Group justify="space-between" align="flex-end">
              <Select
                label="Metric"
                data={groups.map((g) => ({
                  group: g.label,
                  items: g.items.map((i) => ({ value: i.metric.key, label: i.metric.label })),
                }))}
                value={selected.key}
                onChange={(value) => value && choose({ metric: value })}
                allowDeselect={false}
                w={280}
              />
              <SegmentedControl
                aria-label="Chart window"
                value={String(days)}
                onChange={(value) => choose({ days: CHART_WINDOWS.find((d) => String(d) === value) })}
                data={CHART_WINDOWS.map((d) => ({ value: String(d), label: `${d} days` }))}
              />
            </Group>
            <MetricChart patientId={patientId} metric={selected} days={days} />
          </Stack>
        </Card>
      )}

      <IntradaySection patientId={patientId} />

      {groups.map((group) => (
        <Stack key={group.group} gap="xs">
          <Title order={3}>{group.label}</Title>
          <SimpleGrid cols={{ base: 1, sm: 2, md: 3 }}>
            {group.items.map((item) => (
              <MetricTile key={item.metric.key} item={item} now={now} onChart={() => showChart(item.metric.key)} />
            ))}
          </SimpleGrid>
        </Stack>
      ))}
    </>
  );
}

function findMetric(key: string): Metric | undefined {
  try {
    return getMetric(key);
  } catch {
    // A key remembered by another version of the app.
    return undefined;
  }
}

function displayValue(item: LatestValue): FormattedValue {
  switch (item.value.kind) {
    case 'quantity':
      return formatMetricValue(item.metric, item.value.value);
    case 'series':
      return formatMetricValue(item.metric, item.value.mean);
    case 'session':
      return formatMetricValue(item.metric, item.value.length);
    case 'panel':
      return formatPanelValue(item.metric, item.value.values);
  }
}

/** Extra detail under the value: what a session was, how a mean was made, or each member of a long panel. */
function ValueDetail(props: { readonly item: LatestValue }): JSX.Element | null {
  const { item } = props;
  switch (item.value.kind) {
    case 'series':
      return (
        <Text size="xs" c="dimmed">
          average of {item.value.count} readings
        </Text>
      );
    case 'session':
      return (
        <Text size="sm" data-testid="latest-session">
          {item.value.text}
        </Text>
      );
    case 'panel': {
      const { values } = item.value;
      if (!panelAsList(item.metric)) {
        return null;
      }
      return (
        <Text size="xs" c="dimmed" data-testid="latest-panel">
          {(item.metric.components ?? [])
            .map((c, i) => `${c.label} ${joinValue(formatMetricValue(item.metric, values[i] ?? Number.NaN))}`)
            .join(' · ')}
        </Text>
      );
    }
    case 'quantity':
      return null;
  }
}

interface MetricTileProps {
  readonly item: LatestValue;
  readonly now: Date;
  readonly onChart: () => void;
}

function MetricTile(props: MetricTileProps): JSX.Element {
  const { item, now, onChart } = props;
  const list = item.value.kind === 'panel' && panelAsList(item.metric);
  const value = displayValue(item);
  return (
    <Paper withBorder p="md" data-testid={`latest-${item.metric.key}`}>
      <Group justify="space-between" align="flex-start" wrap="nowrap">
        <Text size="sm" c="dimmed">
          {item.metric.label}
        </Text>
        <Button size="compact-xs" variant="subtle" onClick={onChart} aria-label={`Chart ${item.metric.label}`}>
          Chart
        </Button>
      </Group>
      {!list && (
        <Group gap={6} align="baseline">
          <Text size="xl" fw={600} data-testid="latest-value">
            {value.value}
          </Text>
          {value.unit && (
            <Text size="sm" c="dimmed" data-testid="latest-unit">
              {value.unit}
            </Text>
          )}
        </Group>
      )}
      <ValueDetail item={item} />
      <Text size="xs" c="dimmed" mt={4}>
        {item.time ? (
          <time dateTime={item.time.toISOString()} title={formatDateTime(item.time)}>
            {formatRelativeTime(item.time, now)}
          </time>
        ) : (
          'time unknown'
        )}
        {' · '}
        <span data-testid="latest-device">{item.device ?? 'unknown device'}</span>
      </Text>
    </Paper>
  );
}
