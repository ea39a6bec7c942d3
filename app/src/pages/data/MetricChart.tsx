import { LineChart } from '@mantine/charts';
import { Alert, Box, Group, Loader, Stack, Text } from '@mantine/core';
import type { JSX } from 'react';
import { ReferenceArea } from 'recharts';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { annotationSpans } from '../../lib/annotation-spans.ts';
import type { AnnotationSpan } from '../../lib/annotation-spans.ts';
import { spanText } from '../../lib/annotations.ts';
import { chartDateFormats, dayTicks } from '../../lib/data-dates.ts';
import { formatMetricValue, joinValue } from '../../lib/units.ts';
import { formatDay } from '../trends/TrendsChart.tsx';
import { seriesLines } from './observations.ts';
import { useAnnotations, useMetricSeries } from './useObservations.ts';

export interface MetricChartProps {
  readonly patientId: string;
  readonly metric: Metric;
  readonly days: number;
}

const COLORS = ['teal.6', 'indigo.6', 'orange.6', 'grape.6', 'red.6', 'cyan.6'];
/** The Trends view's annotation shade, so an annotated day looks the same on every chart. */
const ANNOTATION_COLOR = 'var(--mantine-color-yellow-3)';
const ANNOTATION_OPACITY = 0.35;

/** What recharts hands a ReferenceArea's shape: the span's box in pixels. */
interface SpanBox {
  readonly x?: number;
  readonly y?: number;
  readonly width?: number;
  readonly height?: number;
}

/**
 * An annotation's shaded span with the kind's label along its top. The label hangs into the plot (rightwards from
 * a span in the left half, leftwards from one in the right half), so on a phone it is never cut off at an edge.
 */
function SpanShape(props: SpanBox & { readonly span: AnnotationSpan }): JSX.Element {
  const { x = 0, y = 0, width = 0, height = 0, span } = props;
  return (
    <g
      data-testid="annotation-span"
      data-kind={span.kind}
      data-start={span.start}
      data-end={span.end}
      role="img"
      aria-label={`${span.label}: ${spanText(span, formatDay)}`}
    >
      <rect x={x} y={y} width={width} height={height} fill={ANNOTATION_COLOR} fillOpacity={ANNOTATION_OPACITY} />
      <text
        x={span.rightHalf ? x + width - 3 : x + 3}
        y={y + 12}
        textAnchor={span.rightHalf ? 'end' : 'start'}
        fontSize={11}
        fill="var(--mantine-color-gray-8)"
        data-testid="annotation-span-label"
      >
        {span.label}
      </text>
    </g>
  );
}

/**
 * One metric's raw values over the chosen window, one point per record, in the metric's display unit, on a time
 * axis whose dates follow the reader's locale (with the year only where it is needed: see data-dates.ts).
 * @param props - patient, metric and window length.
 * @returns The chart, or why there is none.
 */
export function MetricChart(props: MetricChartProps): JSX.Element {
  const { patientId, metric, days } = props;
  const series = useMetricSeries(patientId, metric, days);
  const annotations = useAnnotations(patientId, days);

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
  // Annotations that fail to load leave the values charted; the note under the chart says they are missing.
  const spans = annotations.status === 'ready' ? annotationSpans(annotations.data, range) : [];

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
      >
        {spans.map((span) => (
          <ReferenceArea
            key={span.id}
            x1={span.x1}
            x2={span.x2}
            // Mantine names its value axis 'left'; without it recharts finds no y scale and draws nothing.
            yAxisId="left"
            ifOverflow="hidden"
            shape={(box: SpanBox) => <SpanShape {...box} span={span} />}
          />
        ))}
      </LineChart>
      {spans.length > 0 && (
        <Group gap={6} wrap="nowrap" data-testid="annotation-legend">
          <Box
            w={14}
            h={10}
            style={{ background: ANNOTATION_COLOR, opacity: ANNOTATION_OPACITY * 2, borderRadius: 2, flexShrink: 0 }}
          />
          <Text size="xs">Annotated days</Text>
        </Group>
      )}
      {annotations.status === 'error' && (
        <Text size="xs" c="orange.8" data-testid="annotations-error">
          Your annotations could not be loaded, so annotated days are not marked. {annotations.error}
        </Text>
      )}
      <Text size="xs" c="dimmed">
        {points.length.toLocaleString()} {points.length === 1 ? 'value' : 'values'} in the last {days} days.
        {truncated && ' Only the oldest values fit in the chart; choose a shorter window to see the latest.'}
      </Text>
    </Stack>
  );
}
