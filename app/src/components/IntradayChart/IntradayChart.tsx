import { ActionIcon, Alert, Group, Loader, Paper, SegmentedControl, Stack, Text, Title } from '@mantine/core';
import { useMemo, useState } from 'react';
import type { JSX } from 'react';
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { getMetric } from '../../../../bots/shared/catalogue.ts';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import {
  ZOOM_SPANS,
  countInView,
  localDayRange,
  localToday,
  panWindow,
  pointsInView,
  shiftDay,
  summaryText,
  timeTicks,
  zoomWindow,
} from '../../lib/intraday.ts';
import type { IntradaySeries, TimeRange, ZoomSpan } from '../../lib/intraday.ts';
import { formatMetricValue, joinValue } from '../../lib/units.ts';
import { useIntradayDay } from './useIntradayDay.ts';

/** The catalogue's series metrics, in the order the switch offers them. */
const SERIES_METRICS = ['heart-rate', 'steps', 'hrv-rmssd'] as const;
const ZOOMS = Object.keys(ZOOM_SPANS) as ZoomSpan[];
const COLORS = ['var(--mantine-color-teal-7)', 'var(--mantine-color-indigo-7)', 'var(--mantine-color-orange-7)'];
/** Axis text as the Data page's other chart (Mantine's) draws it. */
const TICK = { fontSize: 12, fill: 'var(--mantine-color-dimmed)' };

export interface IntradayChartProps {
  readonly patientId: string;
  /** The metric first shown (default heart rate). */
  readonly metric?: (typeof SERIES_METRICS)[number];
  /** The local day first shown, `YYYY-MM-DD` (default today). */
  readonly day?: string;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  year: 'numeric',
});

function rangeText(view: TimeRange, whole: boolean): string {
  return whole ? 'all day' : `${timeFormat.format(view.start)}–${timeFormat.format(view.end)}`;
}

/**
 * A zoomable day view of the owner's intraday series (minute heart rate and steps from a watch, 5-minute heart rate
 * and HRV from a ring): one chart per device series, the day or a 6-hour or 1-hour part of it, with periods without
 * a sample left as breaks in the line (never drawn across). Each chart says what it shows in one line ("n samples,
 * m gaps"), which is also its accessible name.
 * @param props - the owner, and the metric and day to start with
 * @returns the day view
 */
export function IntradayChart(props: IntradayChartProps): JSX.Element {
  const [metricKey, setMetricKey] = useState<string>(props.metric ?? 'heart-rate');
  const [day, setDay] = useState(() => props.day ?? localToday(new Date()));
  const [zoom, setZoom] = useState<ZoomSpan>('24h');
  const range = useMemo(() => localDayRange(day), [day]);
  const [viewStart, setViewStart] = useState(range.start);
  const metric = getMetric(metricKey);
  const view = zoomWindow(range, zoom, viewStart);
  const state = useIntradayDay(props.patientId, metric, range);
  const today = localToday(new Date());

  const moveDay = (delta: number): void => {
    const next = shiftDay(day, delta);
    setDay(next);
    setViewStart(localDayRange(next).start + (viewStart - range.start));
  };
  const changeZoom = (next: ZoomSpan): void => {
    // Zoom in around the middle of what is shown now.
    const centre = (view.start + view.end) / 2;
    setZoom(next);
    setViewStart(centre - Math.min(ZOOM_SPANS[next], range.end - range.start) / 2);
  };

  return (
    <Paper withBorder p="lg" data-testid="intraday-chart">
      <Stack gap="md">
        <Group justify="space-between" align="flex-end">
          <Title order={3}>During the day</Title>
          <SegmentedControl
            aria-label="Series"
            value={metricKey}
            onChange={setMetricKey}
            data={SERIES_METRICS.map((key) => ({ value: key, label: getMetric(key).label }))}
          />
        </Group>
        <Group justify="space-between">
          <Group gap="xs">
            <ActionIcon variant="subtle" aria-label="Previous day" onClick={() => moveDay(-1)}>
              ‹
            </ActionIcon>
            <Text fw={500} data-testid="intraday-day">
              {dayFormat.format(range.start)}
            </Text>
            <ActionIcon variant="subtle" aria-label="Next day" disabled={day >= today} onClick={() => moveDay(1)}>
              ›
            </ActionIcon>
          </Group>
          <Group gap="xs">
            {zoom !== '24h' && (
              <ActionIcon
                variant="subtle"
                aria-label="Earlier"
                disabled={view.start <= range.start}
                onClick={() => setViewStart(panWindow(range, view, -1).start)}
              >
                ‹
              </ActionIcon>
            )}
            <SegmentedControl
              aria-label="Zoom"
              value={zoom}
              onChange={(value) => changeZoom(ZOOMS.find((z) => z === value) ?? '24h')}
              data={ZOOMS.map((z) => ({ value: z, label: z.replace('h', ' h') }))}
            />
            {zoom !== '24h' && (
              <ActionIcon
                variant="subtle"
                aria-label="Later"
                disabled={view.end >= range.end}
                onClick={() => setViewStart(panWindow(range, view, 1).start)}
              >
                ›
              </ActionIcon>
            )}
          </Group>
        </Group>
        {state.status === 'loading' && (
          <Stack h={220} align="center" justify="center">
            <Loader size="sm" aria-label={`Loading ${metric.label.toLowerCase()} for the day`} />
          </Stack>
        )}
        {state.status === 'error' && (
          <Alert color="red" variant="light" title={`Could not load ${metric.label.toLowerCase()}`}>
            {state.error}
          </Alert>
        )}
        {state.status === 'ready' && state.day.problems.length > 0 && (
          <Alert color="orange" variant="light" title="Some series could not be read" data-testid="intraday-problems">
            {state.day.problems.join('; ')}
          </Alert>
        )}
        {state.status === 'ready' && state.day.series.length === 0 && (
          <Text c="dimmed" size="sm" data-testid="intraday-empty">
            No intraday {metric.label.toLowerCase()} on this day.
          </Text>
        )}
        {state.status === 'ready' &&
          state.day.series.map((series, i) => (
            <SeriesChart
              key={series.key}
              metric={metric}
              series={series}
              view={view}
              whole={zoom === '24h'}
              zoom={zoom}
              color={COLORS[i % COLORS.length] ?? 'currentColor'}
            />
          ))}
      </Stack>
    </Paper>
  );
}

interface SeriesChartProps {
  readonly metric: Metric;
  readonly series: IntradaySeries;
  readonly view: TimeRange;
  readonly whole: boolean;
  readonly zoom: ZoomSpan;
  readonly color: string;
}

function SeriesChart(props: SeriesChartProps): JSX.Element {
  const { metric, series, view, whole, zoom, color } = props;
  const points = pointsInView(series, view);
  const counts = countInView(points);
  const values = points.flatMap((p) => (p.v === null ? [] : [p.v]));
  const format = (value: number): string => joinValue(formatMetricValue(metric, value));
  const summary = summaryText({
    metric: metric.label,
    device: series.label,
    when: rangeText(view, whole),
    samples: counts.samples,
    gaps: counts.gaps,
    ...(values.length > 0 ? { low: format(Math.min(...values)), high: format(Math.max(...values)) } : {}),
  });
  return (
    <Stack gap={4} data-testid="intraday-series" data-samples={counts.samples} data-gaps={counts.gaps}>
      <Text size="sm" fw={500}>
        {series.label}
      </Text>
      <div role="img" aria-label={summary} style={{ width: '100%', height: 220 }}>
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={points} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis
              dataKey="t"
              type="number"
              scale="time"
              domain={[view.start, view.end]}
              ticks={timeTicks(view, zoom)}
              tickFormatter={(t: number) => timeFormat.format(t)}
              tick={TICK}
              allowDataOverflow
            />
            <YAxis width={72} domain={['auto', 'auto']} tick={TICK} tickFormatter={(v: number) => format(v)} />
            <Tooltip
              labelFormatter={(t: unknown) => (typeof t === 'number' ? timeFormat.format(t) : '')}
              formatter={(v: unknown) => (typeof v === 'number' ? format(v) : 'no sample')}
            />
            {/* connectNulls off: a period without a sample is a break in the line, not an interpolated value. */}
            <Line
              type={metric.key === 'steps' ? 'stepAfter' : 'linear'}
              dataKey="v"
              name={metric.label}
              stroke={color}
              dot={points.length <= 60}
              strokeWidth={1.5}
              connectNulls={false}
              isAnimationActive={false}
            />
          </LineChart>
        </ResponsiveContainer>
      </div>
      <Text size="xs" c="dimmed" data-testid="intraday-summary">
        {counts.samples.toLocaleString()} {counts.samples === 1 ? 'sample' : 'samples'}, {counts.gaps}{' '}
        {counts.gaps === 1 ? 'gap' : 'gaps'} ({rangeText(view, whole)}, every {series.periodMs / 60_000} min)
      </Text>
    </Stack>
  );
}
