import {
  Alert,
  Card,
  Group,
  List,
  Paper,
  SegmentedControl,
  Select,
  Skeleton,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core';
import { useEffect, useMemo, useState } from 'react';
import type { JSX } from 'react';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { AlertList } from '../../components/AlertList/AlertList.tsx';
import { NarrativeCard } from '../../components/NarrativeCard/NarrativeCard.tsx';
import { describeGrant, FENCE_TEXT, patientName, sharedScope } from '../../lib/clinician.ts';
import type { SharedOwner } from '../../lib/clinician.ts';
import type { Language } from '../../lib/language.ts';
import { formatDate } from '../../lib/time.ts';
import { DEFAULT_TREND_RANGE, isTrendable, TREND_RANGES } from '../../lib/trends.ts';
import type { TrendRange } from '../../lib/trends.ts';
import { formatMetricValue, joinValue } from '../../lib/units.ts';
import type { LatestValue, ObservationValue } from '../data/observations.ts';
import { MetricTrends } from '../trends/TrendsPage.tsx';
import { useSharedLatest } from './useShares.ts';

/** Shown first when shared: the metric most people open a recovery view for (as on the owner's Trends page). */
const PREFERRED_METRIC = 'hrv-rmssd';
/** Day-month-year, as the grant's dates are written (describeGrant), so no date on the page reads two ways. */
const DATE_LOCALE = 'en-GB';

function formatValue(metric: Metric, value: ObservationValue): string {
  const fmt = (v: number): string => joinValue(formatMetricValue(metric, v));
  switch (value.kind) {
    case 'quantity':
      return fmt(value.value);
    case 'panel':
      return value.values.map(fmt).join(' / ');
    case 'series':
      return `${fmt(value.mean)} (mean of ${value.count})`;
    case 'session':
      return `${value.text}, ${fmt(value.length)}`;
  }
}

/**
 * One owner's shared data, for a clinician: who they are, what they granted and until when, and — inside a fence
 * that says this is consumer wearable data, not clinical data — the latest values, Trends, narratives and alerts of
 * what the grants cover, drawn by the owner's own components.
 * @param props - the owner with their grants; `onEnded` when a read is refused (the grant ended meanwhile).
 * @returns The view.
 */
export function SharedPatientView(props: { readonly owner: SharedOwner; readonly onEnded: () => void }): JSX.Element {
  const { owner, onEnded } = props;
  const patientId = owner.patient.id;
  const scope = useMemo(() => sharedScope(owner.grants), [owner.grants]);
  const wearable = scope.content.includes('wearable');
  const valueMetrics = useMemo(() => (wearable ? scope.metrics : []), [wearable, scope.metrics]);
  const latest = useSharedLatest(patientId, valueMetrics);
  const [language, setLanguage] = useState<Language>('en');

  useEffect(() => {
    if (latest.status === 'ended') {
      onEnded();
    }
  }, [latest.status, onEnded]);

  return (
    <Stack gap="md" data-testid="shared-patient-view" data-patient={patientId}>
      <Card withBorder padding="lg">
        <Stack gap="xs">
          <Title order={3} data-testid="shared-patient-name">
            {patientName(owner.patient)}
          </Title>
          {owner.patient.birthDate && <Text size="sm">Born {owner.patient.birthDate}</Text>}
          <Text size="sm" fw={500}>
            {owner.grants.length === 1 ? 'What they shared with you' : 'What they shared with you (several grants)'}
          </Text>
          <List size="sm" spacing={4}>
            {owner.grants.map((grant) => {
              const text = describeGrant(grant);
              return (
                <List.Item key={grant.consentId} data-testid="grant-summary">
                  {text.scope}. {text.since}. <span data-testid="access-ends">{text.ends}</span>.
                </List.Item>
              );
            })}
          </List>
        </Stack>
      </Card>

      <Paper
        component="section"
        withBorder
        radius="md"
        p="lg"
        aria-labelledby="clinician-fence-title"
        data-testid="clinician-fence"
        style={{ borderWidth: 2, borderStyle: 'dashed', borderColor: 'var(--mantine-color-orange-6)' }}
      >
        <Stack gap="md">
          <div>
            <Title order={3} id="clinician-fence-title">
              {FENCE_TEXT.title}
            </Title>
            <Text size="sm" c="orange.9" data-testid="fence-note">
              {FENCE_TEXT.note}
            </Text>
          </div>
          <SharedTrends patientId={patientId} latest={latest} scopeMetrics={scope.metrics} />
          {wearable && <LatestValues state={latest} />}
          {scope.content.includes('narratives') && (
            <NarrativeCard patientId={patientId} language={language} onLanguageChange={setLanguage} refreshKey="" />
          )}
          {scope.content.includes('alerts') && <AlertList patientId={patientId} language={language} refreshKey="" />}
        </Stack>
      </Paper>
    </Stack>
  );
}

function LatestValues(props: { readonly state: ReturnType<typeof useSharedLatest> }): JSX.Element {
  const { state } = props;
  if (state.status === 'loading') {
    return <Skeleton height={80} aria-label="Loading the latest values" />;
  }
  if (state.status === 'error') {
    return (
      <Alert color="red" variant="light" title="Could not load the latest values">
        {state.error}
      </Alert>
    );
  }
  if (state.status === 'ended') {
    return <Text size="sm">Access ended while loading.</Text>;
  }
  if (state.value.length === 0) {
    return (
      <Text size="sm" c="dimmed" data-testid="latest-none">
        No shared measurements in the last two weeks.
      </Text>
    );
  }
  return (
    <div>
      <Title order={4}>Latest values</Title>
      <Table striped verticalSpacing={4} data-testid="latest-values">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Measurement</Table.Th>
            <Table.Th>Latest</Table.Th>
            <Table.Th>When</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {state.value.map((l: LatestValue) => (
            <Table.Tr key={l.metric.key} data-metric={l.metric.key}>
              <Table.Td>{l.metric.label}</Table.Td>
              <Table.Td>{formatValue(l.metric, l.value)}</Table.Td>
              <Table.Td>{l.time ? formatDate(l.time, DATE_LOCALE) : '—'}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </div>
  );
}

function SharedTrends(props: {
  readonly patientId: string;
  readonly latest: ReturnType<typeof useSharedLatest>;
  readonly scopeMetrics: readonly Metric[];
}): JSX.Element | null {
  const { patientId, latest, scopeMetrics } = props;
  // Metrics with a recent value first; a share of derived data only has no values, so then every shared metric.
  const available = useMemo(() => {
    const withValues = latest.status === 'ready' ? latest.value.map((l) => l.metric).filter(isTrendable) : [];
    return withValues.length > 0 ? withValues : scopeMetrics.filter(isTrendable);
  }, [latest, scopeMetrics]);
  const [chosen, setChosen] = useState<string>();
  const [days, setDays] = useState<TrendRange>(DEFAULT_TREND_RANGE);
  if (latest.status === 'loading') {
    return null;
  }
  const selected =
    available.find((m) => m.key === chosen) ?? available.find((m) => m.key === PREFERRED_METRIC) ?? available[0];
  if (!selected) {
    return null;
  }
  return (
    <div data-testid="clinician-trends">
      <MetricTrends
        patientId={patientId}
        metric={selected}
        days={days}
        audience="clinician"
        picker={
          <Group justify="space-between" align="flex-end" wrap="wrap" gap="sm">
            <Select
              label="Metric"
              data={available.map((m) => ({ value: m.key, label: m.label }))}
              value={selected.key}
              onChange={(value) => value && setChosen(value)}
              allowDeselect={false}
              w={280}
              maw="100%"
              data-testid="clinician-metric"
            />
            <SegmentedControl
              aria-label="Range"
              value={String(days)}
              onChange={(value) => setDays(TREND_RANGES.find((d) => String(d) === value) ?? DEFAULT_TREND_RANGE)}
              data={TREND_RANGES.map((d) => ({ value: String(d), label: `${d} days` }))}
            />
          </Group>
        }
      />
    </div>
  );
}
