import { LineChart } from '@mantine/charts';
import { Alert, Loader, Stack, Text } from '@mantine/core';
import type { JSX } from 'react';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
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
 * One metric's raw values over the chosen window, one point per record, in the metric's display unit.
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
  const { points, truncated } = series.data;
  if (points.length === 0) {
    return (
      <Text c="dimmed" size="sm" h={300} data-testid="chart-empty">
        No {metric.label.toLowerCase()} values in the last {days} days.
      </Text>
    );
  }
  const dateFormat = new Intl.DateTimeFormat(undefined, {
    month: 'short',
    day: 'numeric',
    ...(days > 90 ? { year: '2-digit' as const } : {}),
  });
  const lines = seriesLines(metric);
  const data = points.map((p) => ({ date: dateFormat.format(new Date(p.time)), ...p.values }));

  return (
    <Stack gap="xs" data-testid="metric-chart">
      <LineChart
        h={300}
        data={data}
        dataKey="date"
        series={lines.map((line, i) => ({ name: line.key, label: line.label, color: COLORS[i % COLORS.length] }))}
        curveType="linear"
        connectNulls
        withDots={points.length <= 60}
        withLegend={lines.length > 1}
        valueFormatter={(value) => joinValue(formatMetricValue(metric, value))}
        yAxisProps={{ domain: ['auto', 'auto'], width: 80 }}
        xAxisProps={{ minTickGap: 24 }}
      />
      <Text size="xs" c="dimmed">
        {points.length.toLocaleString()} {points.length === 1 ? 'value' : 'values'} in the last {days} days.
        {truncated && ' Only the oldest values fit in the chart; choose a shorter window to see the latest.'}
      </Text>
    </Stack>
  );
}
