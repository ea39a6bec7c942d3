import {
  Alert,
  Button,
  Card,
  Group,
  Loader,
  SegmentedControl,
  Select,
  Skeleton,
  Stack,
  Text,
  Title,
} from '@mantine/core';
import type { Patient } from '@medplum/fhirtypes';
import { useEffect, useMemo, useRef, useState } from 'react';
import type { JSX } from 'react';
import { Link } from 'react-router';
import { z } from 'zod';
import { annotationDays, annotationsOverlapping } from '../../../../bots/analytics/annotations.ts';
import { ANALYTICS_PARAMS } from '../../../../bots/analytics/params.ts';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { applyAnnotationView } from '../../lib/annotations.ts';
import type { AnnotationItem } from '../../lib/annotations.ts';
import { readCached, writeCached } from '../../lib/data-cache.ts';
import {
  bandSteps,
  buildTrendRows,
  daysInBandWindow,
  DEFAULT_TREND_RANGE,
  isTrendable,
  projectionFan,
  summarize,
  TREND_RANGES,
} from '../../lib/trends.ts';
import type { DerivedRecord, Fan, TrendRange } from '../../lib/trends.ts';
import { formatMetricValue, joinValue } from '../../lib/units.ts';
import { groupLatest } from '../data/observations.ts';
import { useLatestValues } from '../data/useObservations.ts';
import { AnnotationsPanel } from './AnnotationsPanel.tsx';
import { formatDay, TrendsChart } from './TrendsChart.tsx';
import { useTrendData } from './useTrendData.ts';
import type { PollOutcome, TrendData } from './useTrendData.ts';

const viewSchema = z.object({ metric: z.string().optional(), days: z.number() });
/** Shown first when the owner has it: the metric most people open a recovery view for. */
const PREFERRED_METRIC = 'hrv-rmssd';

type RecomputeState = 'idle' | 'updating' | PollOutcome;

/**
 * `/trends`: one metric's daily values against the owner's personal baseline band, days outside it marked, the
 * projection fan where the analytics bot made one, and the owner's annotated days, which they add, change and delete
 * here. Everything drawn is read from the record (the bands, trend and projection are derived Observations); the
 * page computes nothing the bot did not, except the daily points of a fan the bot stored the end of.
 * @param props - the signed-in Patient profile.
 * @returns The Trends page.
 */
export function TrendsPage(props: { readonly patient: Patient }): JSX.Element {
  const patientId = props.patient.id ?? '';
  const latest = useLatestValues(patientId);
  const metrics = useMemo(() => {
    if (latest.status !== 'ready') {
      return [];
    }
    return groupLatest(latest.data.latest.filter((l) => isTrendable(l.metric)));
  }, [latest]);
  const available = metrics.flatMap((g) => g.items.map((i) => i.metric));

  const viewKey = `${patientId}.trends.view`;
  const [view, setView] = useState(() => readCached(viewKey, viewSchema)?.value);
  const days: TrendRange = TREND_RANGES.find((d) => d === view?.days) ?? DEFAULT_TREND_RANGE;
  const remembered = view?.metric ? available.find((m) => m.key === view.metric) : undefined;
  // The default is fixed when the first metrics arrive: more arriving later (the rarer ones) must not switch it.
  const defaultKey = useRef<string | undefined>(undefined);
  defaultKey.current ??= (available.find((m) => m.key === PREFERRED_METRIC) ?? available[0])?.key;
  const selected = remembered ?? available.find((m) => m.key === defaultKey.current) ?? available[0];

  const choose = (next: { metric?: string; days?: TrendRange }): void => {
    const value = { metric: next.metric ?? selected?.key, days: next.days ?? days };
    setView(value);
    writeCached(viewKey, value);
  };

  const empty = latest.status === 'ready' && !latest.pending && available.length === 0;

  return (
    <Stack maw={1080} mx="auto" gap="lg">
      <div>
        <Title order={2}>Trends</Title>
        <Text c="dimmed">
          Each day against your usual range — your personal baseline, computed from your own last four weeks.
        </Text>
      </div>
      {latest.status === 'loading' && <Skeleton height={380} radius="sm" data-testid="trends-loading" />}
      {latest.status === 'error' && (
        <Alert color="red" title="Could not load your metrics">
          {latest.error}
        </Alert>
      )}
      {empty && (
        <Card withBorder padding="xl" data-testid="trends-empty">
          <Stack align="center" gap="sm">
            <Title order={3}>Connect a device to see trends</Title>
            <Text c="dimmed" ta="center">
              Nothing has been imported yet. Once a wearable is connected, its daily values and your baselines appear
              here.
            </Text>
            <Button component={Link} to="/connections">
              Go to Connections
            </Button>
          </Stack>
        </Card>
      )}
      {selected && (
        <MetricTrends
          key={patientId}
          patientId={patientId}
          metric={selected}
          days={days}
          picker={
            <Group justify="space-between" align="flex-end" wrap="wrap" gap="sm">
              <Select
                label="Metric"
                data={metrics.map((g) => ({
                  group: g.label,
                  items: g.items.map((i) => ({ value: i.metric.key, label: i.metric.label })),
                }))}
                value={selected.key}
                onChange={(value) => value && choose({ metric: value })}
                allowDeselect={false}
                w={280}
                maw="100%"
                data-testid="trends-metric"
              />
              <SegmentedControl
                aria-label="Range"
                value={String(days)}
                onChange={(value) => choose({ days: TREND_RANGES.find((d) => String(d) === value) })}
                data={TREND_RANGES.map((d) => ({ value: String(d), label: `${d} days` }))}
              />
            </Group>
          }
        />
      )}
    </Stack>
  );
}

export interface MetricTrendsProps {
  readonly patientId: string;
  readonly metric: Metric;
  readonly days: TrendRange;
  readonly picker: JSX.Element;
  /**
   * Who is looking: the owner (default) annotates their days here; a clinician sees the annotations on the chart
   * but cannot change them, and the text speaks of "the patient", not "you".
   */
  readonly audience?: Audience;
}

/** Who a trends view is written for. */
export type Audience = 'owner' | 'clinician';

/**
 * One metric's trends card (and, for the owner, the annotations panel). The clinician view reuses it for a patient
 * who shared data with them; what it reads comes through the context's RecordReader.
 * @param props - the patient, the metric, the range, the picker to show above the chart and the audience.
 * @returns The card.
 */
export function MetricTrends(props: MetricTrendsProps): JSX.Element {
  const { patientId, metric, days, picker } = props;
  const audience = props.audience ?? 'owner';
  const { state, setAnnotations, waitForRecompute } = useTrendData(patientId, metric, days);
  const [recompute, setRecompute] = useState<RecomputeState>('idle');
  const polling = useRef<AbortController | undefined>(undefined);

  // A poll belongs to the metric it watches; leaving the page or the metric stops it.
  useEffect(() => {
    setRecompute('idle');
    return () => polling.current?.abort();
  }, [metric.key, days]);

  const onChanged = (annotationView: Parameters<typeof applyAnnotationView>[1]): void => {
    setAnnotations((list) => applyAnnotationView(list, annotationView));
    polling.current?.abort();
    const controller = new AbortController();
    polling.current = controller;
    setRecompute('updating');
    void waitForRecompute(controller.signal).then((outcome) => {
      if (!controller.signal.aborted) {
        setRecompute(outcome);
      }
    });
  };

  const ready = state.status === 'ready' ? state.data : undefined;
  return (
    <>
      <Card withBorder padding="lg">
        <Stack gap="md">
          {picker}
          <RecomputeNotice state={recompute} metric={metric} />
          {state.status === 'loading' && (
            <Stack h={320} align="center" justify="center">
              <Loader size="sm" aria-label={`Loading ${metric.label} trends`} />
            </Stack>
          )}
          {state.status === 'error' && (
            <Alert color="red" variant="light" title={`Could not load ${metric.label}`}>
              {state.error}
            </Alert>
          )}
          {ready && (
            <TrendsView
              data={ready}
              metric={metric}
              days={days}
              refreshing={state.status === 'ready' && state.refreshing}
              audience={audience}
            />
          )}
        </Stack>
      </Card>
      {ready && audience === 'owner' && (
        <AnnotationsPanel
          annotations={annotationsOverlapping(ready.annotations, ready.window.start, ready.window.end)}
          today={ready.window.end}
          onChanged={onChanged}
        />
      )}
    </>
  );
}

function RecomputeNotice(props: { readonly state: RecomputeState; readonly metric: Metric }): JSX.Element | null {
  switch (props.state) {
    case 'idle':
      return null;
    case 'updating':
      return (
        <Group gap={6} data-testid="recompute-status" data-state="updating">
          <Loader size="xs" />
          <Text size="sm" c="dimmed">
            Updating your baselines…
          </Text>
        </Group>
      );
    case 'changed':
      return (
        <Text size="sm" c="teal.8" data-testid="recompute-status" data-state="changed">
          Your baselines were updated.
        </Text>
      );
    case 'unchanged':
      return (
        <Text size="sm" c="dimmed" data-testid="recompute-status" data-state="unchanged">
          No change to your {props.metric.label} baseline yet. If the annotated days had values, it follows within a
          minute: reload the page to see it.
        </Text>
      );
    case 'failed':
      return (
        <Text size="sm" c="orange.8" data-testid="recompute-status" data-state="failed">
          Could not check whether your baselines were updated; reload the page in a minute.
        </Text>
      );
  }
}

function TrendsView(props: {
  readonly data: TrendData;
  readonly metric: Metric;
  readonly days: number;
  readonly refreshing: boolean;
  readonly audience: Audience;
}): JSX.Element {
  const { data, metric, days, refreshing, audience } = props;
  const owner = audience === 'owner';
  const model = useMemo(() => trendModel(data), [data]);
  const { rows, fan, steps, trend, projection } = model;
  const summary = summarize(rows);
  const fmt = (v: number): string => joinValue(formatMetricValue(metric, v));
  const bandShown = rows.some((r) => r.band !== null);
  const haveDays = daysInBandWindow(data.values, data.window.end);
  const { minValidDays, windowDays } = ANALYTICS_PARAMS.band;
  const latestStep = steps[steps.length - 1];

  return (
    <Stack gap="sm" data-testid="trends-view" data-stale={refreshing ? 'true' : 'false'}>
      {summary.days === 0 ? (
        <Text c="dimmed" size="sm" data-testid="trends-no-values">
          No {metric.label} values in the last {days} days.
        </Text>
      ) : (
        <TrendsChart
          metric={metric}
          rows={rows}
          annotations={data.annotations}
          fan={fan}
          whose={owner ? 'your' : "the patient's"}
        />
      )}
      {bandShown && latestStep ? (
        <Text size="sm" data-testid="band-summary">
          {owner ? 'Your usual range' : "The patient's usual range"}: {fmt(latestStep.lower)} – {fmt(latestStep.upper)}
          {latestStep.median !== undefined && ` (median ${fmt(latestStep.median)})`}, from the {windowDays} days to{' '}
          {formatDay(latestStep.windowEnd)}. In this range {summary.above}{' '}
          {summary.above === 1 ? 'day was' : 'days were'} above it and {summary.below} below
          {summary.annotated > 0 &&
            `; ${summary.annotated} annotated ${summary.annotated === 1 ? 'day is' : 'days are'} left out`}
          .
        </Text>
      ) : (
        <Alert
          color="gray"
          variant="light"
          title={`No baseline yet: needs ${minValidDays} days in ${windowDays}`}
          data-testid="no-baseline"
        >
          A usual range needs at least {minValidDays} days with a {metric.label} value in a {windowDays}
          -day window. {owner ? 'You have' : 'The shared data has'} {haveDays} in the last {windowDays} days.
        </Alert>
      )}
      <ProjectionText fan={fan} trend={trend} projection={projection} metric={metric} />
      {data.truncated && (
        <Text size="xs" c="orange.8">
          Only the oldest values fit in the chart; choose a shorter range to see the latest.
        </Text>
      )}
    </Stack>
  );
}

function ProjectionText(props: {
  readonly fan: Fan | undefined;
  readonly trend: DerivedRecord | undefined;
  readonly projection: DerivedRecord | undefined;
  readonly metric: Metric;
}): JSX.Element {
  const { fan, trend, projection, metric } = props;
  const fmt = (v: number): string => joinValue(formatMetricValue(metric, v));
  const { windowDays, rSquaredFloor } = ANALYTICS_PARAMS.trend;
  if (fan && projection?.value !== undefined) {
    const lower = projection.components['prediction-lower'];
    const upper = projection.components['prediction-upper'];
    return (
      <Text size="sm" c="indigo.9" data-testid="projection-label" data-kind={fan.kind}>
        Projection (not a measurement): {fmt(projection.value)} on {formatDay(fan.end)}
        {lower !== undefined && upper !== undefined && `, ${fan.level} % interval ${fmt(lower)} – ${fmt(upper)}`}. A
        straight line through the last {windowDays} days
        {fan.rSquared !== undefined && ` (R² ${fan.rSquared.toFixed(2)})`}, carried forward; it says where the line
        goes, not what will happen.
        {fan.kind === 'approximate' &&
          ' The shaded interval is drawn as straight lines to its stored end (approximate).'}
      </Text>
    );
  }
  const r2 = trend?.components['r-squared'];
  return (
    <Text size="sm" c="dimmed" data-testid="projection-absent">
      No projection for {metric.label}:{' '}
      {r2 !== undefined && r2 < rSquaredFloor
        ? `the trend over the last ${windowDays} days explains ${Math.round(r2 * 100)} % of the day-to-day variation, below the ${Math.round(rSquaredFloor * 100)} % a projection needs.`
        : 'there is not enough recent data for one.'}
    </Text>
  );
}

function trendModel(data: TrendData): {
  rows: ReturnType<typeof buildTrendRows>;
  fan: Fan | undefined;
  steps: ReturnType<typeof bandSteps>;
  trend: DerivedRecord | undefined;
  projection: DerivedRecord | undefined;
} {
  const steps = bandSteps(data.derived);
  const trend = data.derived.find((d) => d.kind === 'trend' && d.slot === 'current');
  const projection = data.derived.find((d) => d.kind === 'projection' && d.slot === 'current');
  const annotated = new Set(data.annotations.flatMap(annotationDays));
  const points = data.values.map((v) => ({ day: v.day, value: v.value }));
  const fan = projectionFan(projection, trend, [points.filter((p) => !annotated.has(p.day)), points]);
  const lastValue = data.values[data.values.length - 1]?.day;
  const end = lastValue !== undefined && lastValue > data.window.end ? lastValue : data.window.end;
  const rows = buildTrendRows({
    start: data.window.start,
    end,
    values: data.values.filter((v) => v.day >= data.window.start),
    steps,
    annotations: data.annotations.map(toTrendAnnotation),
    fan,
  });
  return { rows, fan, steps, trend, projection };
}

function toTrendAnnotation(a: AnnotationItem): { id: string; kind: string; label: string; start: string; end: string } {
  return { id: a.id, kind: a.kind, label: a.label, start: a.start, end: a.end };
}
