import { LineChart } from '@mantine/charts';
import { Alert, Loader, Stack, Text } from '@mantine/core';
import type { JSX } from 'react';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { chartDateFormats, dayTicks } from '../../lib/data-dates.ts';
import { formatMetricValue, joinValue } from '../../lib/units.ts';
import { seriesLines } from './observations.ts';
import { useMetricSeries } from './useObservations.ts';

export interface MetricChartProps {
  readonly patientId: string;
  readonly metric: Metric;
  readonly days: number;
}

const COLORS = ['teal.6', 'indigo.6', 'orange.6', 'grape.6', 'red.6', 'cyan.6'];

/**
 * One metric's raw values over the chosen window, one point per record, in the metric's display unit, on a time
 * axis whose dates follow the reader's locale (with the year only where it is needed: see data-dates.ts).
 * @param props - patient, metric and window length.
 * @returns The chart, or why there is none.
 */
export function MetricChart(props: MetricChartProps): JSX.Element {
  const { patientId, metric, days } = props;
  const series = useMetricSeries(patientId, metric, days);

  if (series.status === 'loading') {
    return (
      <Stack h={300} align="center" justify="center">
        <Loader size="sm" aria-label={`Loading ${metric.label} chart`} />
      </Stack>
    );
  }
  if (series.status === 'error') {
    return (
      <Alert color="red" variant="light" title={`Could not load ${metric.label}`}>
        {series.error}
      </Alert>
    );
  }
  const { points, truncated, start, end } = series.data;
  if (points.length === 0) {
    return (
      <Text c="dimmed" size="sm" h={300} data-testid="chart-empty">
        {series.pending
          ? `Loading ${metric.label.toLowerCase()}…`
          : `No ${metric.label.toLowerCase()} values in the last ${days} days.`}
      </Text>
    );
  }
  const range = { start, end };
  const dates = chartDateFormats(range, new Date(end));
  const lines = seriesLines(metric);
  const data = points.map((p) => ({ time: p.time, ...p.values }));

  return (
    <Stack gap="xs" data-testid="metric-chart" data-stale={series.pending ? 'true' : 'false'}>
      <LineChart
        h={300}
        data={data}
        dataKey="time"
        series={lines.map((line, i) => ({ name: line.key, label: line.label, color: COLORS[i % COLORS.length] }))}
        curveType="linear"
        connectNulls
        withDots={points.length <= 60}
        withLegend={lines.length > 1}
        valueFormatter={(value) => joinValue(formatMetricValue(metric, value))}
        yAxisProps={{ domain: ['auto', 'auto'], width: 80 }}
        xAxisProps={{
          type: 'number',
          scale: 'time',
          domain: [start, end],
          ticks: dayTicks(range, 6),
          tickFormatter: (time: number) => dates.tick(time),
          minTickGap: 24,
        }}
        tooltipProps={{ labelFormatter: (time: unknown) => (typeof time === 'number' ? dates.full(time) : '') }}
      />
      <Text size="xs" c="dimmed">
        {points.length.toLocaleString()} {points.length === 1 ? 'value' : 'values'} in the last {days} days.
        {truncated && ' Only the oldest values fit in the chart; choose a shorter window to see the latest.'}
      </Text>
    </Stack>
  );
}
