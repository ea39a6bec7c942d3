import { Box, Group, Paper, Stack, Text } from '@mantine/core';
import type { JSX } from 'react';
import {
  Area,
  CartesianGrid,
  ComposedChart,
  Line,
  ReferenceArea,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { dayIndex } from '../../../../bots/analytics/stats.ts';
import type { Metric } from '../../../../bots/shared/catalogue.ts';
import { providerByKey } from '../../lib/providers.ts';
import { dayAxisTicks, dayNoonUtc } from '../../lib/trends.ts';
import type { DayStatus, Fan, TrendAnnotation, TrendRow } from '../../lib/trends.ts';
import { formatMetricValue, joinValue } from '../../lib/units.ts';

export interface TrendsChartProps {
  readonly metric: Metric;
  readonly rows: readonly TrendRow[];
  readonly annotations: readonly TrendAnnotation[];
  readonly fan: Fan | undefined;
  /** The clinician view speaks of the patient's range, not "your" range. Default: the owner. */
  readonly whose?: 'your' | "the patient's";
}

const COLOR = {
  value: 'var(--mantine-color-teal-7)',
  band: 'var(--mantine-color-teal-4)',
  median: 'var(--mantine-color-teal-5)',
  above: 'var(--mantine-color-red-7)',
  below: 'var(--mantine-color-orange-7)',
  annotated: 'var(--mantine-color-gray-6)',
  annotation: 'var(--mantine-color-yellow-3)',
  fan: 'var(--mantine-color-indigo-4)',
  projected: 'var(--mantine-color-indigo-7)',
};

/** Days are charted at their calendar date, not at an instant: formatted in UTC, noon UTC is that date everywhere. */
const tickFormat = (withYear: boolean): Intl.DateTimeFormat =>
  new Intl.DateTimeFormat(undefined, {
    month: 'short',
    day: 'numeric',
    ...(withYear ? { year: 'numeric' as const } : {}),
    timeZone: 'UTC',
  });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });

export function formatDay(day: string): string {
  return fullFormat.format(dayNoonUtc(day));
}

function statusText(status: DayStatus, whose: string): string {
  switch (status) {
    case 'within':
      return `within ${whose} usual range`;
    case 'above':
      return `above ${whose} usual range`;
    case 'below':
      return `below ${whose} usual range`;
    case 'no-band':
      return 'no usual range yet';
    case 'annotated':
      return 'annotated: left out of baselines';
  }
}

interface DotProps {
  readonly cx?: number;
  readonly cy?: number;
  readonly index?: number;
  readonly payload?: TrendRow;
}

function StatusDot(props: DotProps & { readonly small: boolean }): JSX.Element {
  const { cx, cy, payload, index, small } = props;
  const key = `dot-${index ?? 0}`;
  if (cx === undefined || cy === undefined || !payload || payload.value === null) {
    return <g key={key} />;
  }
  switch (payload.status) {
    case 'above':
    case 'below':
      return (
        <circle
          key={key}
          cx={cx}
          cy={cy}
          r={4.5}
          fill={COLOR[payload.status]}
          stroke="white"
          strokeWidth={1}
          data-testid="out-of-band-dot"
          data-status={payload.status}
          data-day={payload.day}
        />
      );
    case 'annotated':
      return (
        <circle
          key={key}
          cx={cx}
          cy={cy}
          r={4}
          fill="white"
          stroke={COLOR.annotated}
          strokeWidth={1.5}
          data-testid="annotated-dot"
          data-day={payload.day}
        />
      );
    default:
      return small ? <g key={key} /> : <circle key={key} cx={cx} cy={cy} r={2.5} fill={COLOR.value} />;
  }
}

function TrendTooltip(props: {
  readonly active?: boolean;
  readonly payload?: readonly { readonly payload?: TrendRow }[];
  readonly metric: Metric;
  readonly whose: string;
}): JSX.Element | null {
  const row = props.payload?.[0]?.payload;
  if (!props.active || !row) {
    return null;
  }
  const fmt = (v: number): string => joinValue(formatMetricValue(props.metric, v));
  return (
    <Paper withBorder shadow="sm" p="xs" maw={260} data-testid="trend-tooltip">
      <Text size="sm" fw={600}>
        {formatDay(row.day)}
      </Text>
      {row.value !== null && (
        <Text size="sm">
          {fmt(row.value)}
          {row.source && (
            <Text span size="xs" c="dimmed">
              {' '}
              from {providerByKey(row.source)?.name ?? row.source}
            </Text>
          )}
        </Text>
      )}
      {row.status && (
        <Text size="xs" c={row.status === 'above' || row.status === 'below' ? 'red.7' : 'dimmed'}>
          {statusText(row.status, props.whose)}
        </Text>
      )}
      {row.band && (
        <Text size="xs" c="dimmed">
          Usual range {fmt(row.band[0])} – {fmt(row.band[1])}
        </Text>
      )}
      {row.fan && row.projected !== null && (
        <Text size="xs" c="indigo.8">
          Projection (not a measurement): {fmt(row.projected)}, {fmt(row.fan[0])} – {fmt(row.fan[1])}
        </Text>
      )}
      {row.annotations.length > 0 && (
        <Text size="xs" c="dimmed">
          Annotated: {row.annotations.join(', ')}
        </Text>
      )}
    </Paper>
  );
}

function Swatch(props: {
  readonly color: string;
  readonly label: string;
  readonly shape?: 'box' | 'dot' | 'ring';
}): JSX.Element {
  const shape = props.shape ?? 'box';
  return (
    <Group gap={6} wrap="nowrap">
      <Box
        w={shape === 'box' ? 14 : 9}
        h={shape === 'box' ? 10 : 9}
        style={{
          background: shape === 'ring' ? 'white' : props.color,
          border: shape === 'ring' ? `1.5px solid ${props.color}` : undefined,
          borderRadius: shape === 'box' ? 2 : '50%',
          opacity: shape === 'box' ? 0.6 : 1,
        }}
      />
      <Text size="xs">{props.label}</Text>
    </Group>
  );
}

/**
 * One metric's daily values with the personal baseline band held as a weekly step, out-of-band days in red (above)
 * or orange (below), annotated days as open circles under a shaded span, and the projection fan after the last day.
 * @param props - the metric, the rows (see buildTrendRows), the annotations and the fan.
 * @returns The chart and its legend.
 */
export function TrendsChart(props: TrendsChartProps): JSX.Element {
  const { metric, rows, annotations, fan } = props;
  const whose = props.whose ?? 'your';
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (!first || !last) {
    return <Text c="dimmed">Nothing to chart.</Text>;
  }
  const withYear = first.day.slice(0, 4) !== last.day.slice(0, 4);
  const ticks = dayAxisTicks(first.x, last.x, 6);
  const format = tickFormat(withYear);
  const fmt = (v: number): string => formatMetricValue(metric, v).value;
  const small = rows.length > 92;
  const domain: [number, number] = [first.x - 0.5, last.x + 0.5];
  const spans = annotations
    .map((a) => ({
      ...a,
      x1: Math.max(dayIndex(a.start) - 0.5, domain[0]),
      x2: Math.min(dayIndex(a.end) + 0.5, domain[1]),
    }))
    .filter((a) => a.x1 < a.x2);

  return (
    <Stack gap="xs">
      <Box h={320} data-testid="trends-chart" data-rows={rows.length} data-annotation-spans={spans.length}>
        <ResponsiveContainer width="100%" height="100%">
          <ComposedChart data={[...rows]} margin={{ top: 18, right: 8, bottom: 0, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" vertical={false} />
            <XAxis
              dataKey="x"
              type="number"
              domain={domain}
              ticks={ticks}
              tickFormatter={(x: number) => format.format(x * 86_400_000 + 43_200_000)}
              minTickGap={16}
              allowDataOverflow
            />
            <YAxis domain={['auto', 'auto']} width={56} tickFormatter={fmt} />
            {spans.map((a) => (
              <ReferenceArea
                key={`${a.id ?? a.kind}-${a.start}`}
                x1={a.x1}
                x2={a.x2}
                fill={COLOR.annotation}
                fillOpacity={0.35}
                ifOverflow="hidden"
                label={{ value: a.label, position: 'insideTop', fontSize: 11 }}
              />
            ))}
            <Area
              dataKey="band"
              name="Usual range"
              type="step"
              stroke="none"
              fill={COLOR.band}
              fillOpacity={0.3}
              isAnimationActive={false}
              activeDot={false}
              connectNulls={false}
            />
            <Line
              dataKey="median"
              type="step"
              stroke={COLOR.median}
              strokeDasharray="2 3"
              strokeWidth={1}
              dot={false}
              activeDot={false}
              isAnimationActive={false}
              connectNulls={false}
            />
            {fan && (
              <Area
                dataKey="fan"
                name="Projection interval"
                type="linear"
                stroke={COLOR.fan}
                strokeDasharray="4 3"
                fill={COLOR.fan}
                fillOpacity={0.2}
                isAnimationActive={false}
                activeDot={false}
                connectNulls={false}
              />
            )}
            {fan && (
              <Line
                dataKey="projected"
                type="linear"
                stroke={COLOR.projected}
                strokeDasharray="6 4"
                strokeWidth={2}
                dot={false}
                isAnimationActive={false}
                connectNulls={false}
              />
            )}
            <Line
              dataKey="value"
              type="linear"
              stroke={COLOR.value}
              strokeWidth={small ? 1 : 1.5}
              dot={(p: DotProps) => <StatusDot {...p} small={small} />}
              activeDot={{ r: 4 }}
              isAnimationActive={false}
              connectNulls
            />
            <Tooltip content={<TrendTooltip metric={metric} whose={whose} />} />
          </ComposedChart>
        </ResponsiveContainer>
      </Box>
      <Group gap="md" wrap="wrap" data-testid="trends-legend">
        <Swatch color={COLOR.value} label="Daily value" shape="dot" />
        <Swatch color={COLOR.band} label={`Usual range (${whose} baseline)`} />
        <Swatch color={COLOR.above} label="Above" shape="dot" />
        <Swatch color={COLOR.below} label="Below" shape="dot" />
        {spans.length > 0 && <Swatch color={COLOR.annotated} label="Annotated day" shape="ring" />}
        {fan && <Swatch color={COLOR.fan} label={`Projection (not a measurement), ${fan.level} % interval`} />}
      </Group>
    </Stack>
  );
}
