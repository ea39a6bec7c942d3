/**
 * The Trends view's pure parts, checked against what the analytics bot actually writes: the derived Observations
 * come from derive.ts `planDerived` over a synthetic history, and the bands and fan read back from them are compared
 * with stats.ts computed independently.
 */
import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { dailySeries } from '../../bots/analytics/daily.ts';
import { DERIVED_IDENTIFIER_SYSTEM as BOT_DERIVED_SYSTEM, planDerived } from '../../bots/analytics/derive.ts';
import { ANALYTICS_PARAMS } from '../../bots/analytics/params.ts';
import { bandFor, classify, dayIndex, trajectory } from '../../bots/analytics/stats.ts';
import { getMetric, metricCodings, metricQuantity } from '../../bots/shared/catalogue.ts';
import { CODE_SYSTEM, DERIVED_PROFILE, IDENTIFIER_BASE } from '../../bots/shared/systems.ts';
import {
  addDays,
  bandSteps,
  buildDerivedQuery,
  buildTrendRows,
  buildWearableQuery,
  dayAxisTicks,
  daysInBandWindow,
  DERIVED_IDENTIFIER_SYSTEM,
  derivedSignature,
  intervalLevel,
  isTrendable,
  localToday,
  projectionFan,
  readDerived,
  stepForDay,
  summarize,
  trendWindow,
} from '../../app/src/lib/trends.ts';
import type { DerivedRecord } from '../../app/src/lib/trends.ts';

const PATIENT = 'Patient/p1';
const RHR = getMetric('resting-heart-rate');
const HRV = getMetric('hrv-rmssd');

function reading(key: string, day: string, value: number): Observation {
  const metric = getMetric(key);
  return {
    resourceType: 'Observation',
    id: `${key}-${day}`,
    meta: { lastUpdated: '2026-12-01T00:00:00Z', versionId: '1' },
    status: 'final',
    identifier: [{ system: `${IDENTIFIER_BASE}/whoop/daily`, value: `p1:${key}:${day}` }],
    code: { coding: metricCodings(metric) },
    subject: { reference: PATIENT },
    device: { reference: 'Device/whoop-1' },
    valueQuantity: metricQuantity(metric, value),
    effectiveDateTime: `${day}T07:00:00+01:00`,
  };
}

/** 70 days to 2026-11-29 (a Sunday): resting heart rate rising 0.1/day with a weekly wobble; HRV flat and noisy. */
const FIRST = '2026-09-21';
const LAST = '2026-11-29';
function history(): Observation[] {
  const out: Observation[] = [];
  for (let i = 0; i < 70; i++) {
    const day = addDays(FIRST, i);
    out.push(reading('resting-heart-rate', day, 52 + 0.1 * i + [0, 1, -1, 2, -2, 0.5, -0.5][i % 7]!));
    out.push(reading('hrv-rmssd', day, 50 + [6, -4, 9, -7, 3, -8, 5, -2, 7, -6, 1][i % 11]!));
  }
  return out;
}
const NOW = new Date('2026-11-29T20:00:00Z');

function records(observations: readonly Observation[], metric = RHR): DerivedRecord[] {
  return observations.flatMap((o) => {
    const r = readDerived(o, metric);
    return r ? [r] : [];
  });
}

const wearable = history();
const plan = planDerived({ patient: PATIENT, observations: wearable, now: NOW });
const rhrValues = dailySeries(wearable)[RHR.key] ?? [];
const rhrPoints = rhrValues.map((v) => ({ day: v.day, value: v.value }));

describe('searches', () => {
  test('the identifier system is derive.ts’s (rebuilt because derive.ts cannot enter a browser bundle)', () => {
    expect(DERIVED_IDENTIFIER_SYSTEM).toBe(BOT_DERIVED_SYSTEM);
  });

  test('the window reaches back for the band of the first day and for the trend window', () => {
    const w = trendWindow('2026-11-29', 30);
    expect(w.start).toBe('2026-10-31');
    expect(w.end).toBe('2026-11-29');
    // The fan needs the 56-day trend window, longer than a 30-day range.
    expect(w.dataFrom).toBe(addDays('2026-11-29', -ANALYTICS_PARAMS.trend.windowDays - 1));
    // The band held for 2026-10-31 ended at most 7 days before it, and started 27 days before that.
    expect(w.derivedFrom <= addDays('2026-10-31', -7 - 27)).toBe(true);
    const year = trendWindow('2026-11-29', 365);
    expect(year.start).toBe('2025-11-30');
    expect(year.dataFrom).toBe('2025-11-29');
  });

  test('wearable query: the Data page’s codes and filters, from the window start, with identifiers', () => {
    const q = buildWearableQuery('p1', HRV, '2026-10-01', NOW);
    expect(q.get('date')).toBe('ge2026-10-01');
    expect(q.get('subject')).toBe('Patient/p1');
    expect(q.get('combo-code')).toContain(`${HRV.code.system}|${HRV.code.code}`);
    expect(q.get('_elements')?.split(',')).toEqual(expect.arrayContaining(['identifier', 'effective', 'component']));
    expect(q.get('_sort')).toBe('date');
  });

  test('derived query: one search, this metric, standing bands/trend/projection only, without derivedFrom', () => {
    const q = buildDerivedQuery('p1', RHR, '2026-09-01');
    expect(q.get('component-code')).toBe(`${RHR.code.system}|${RHR.code.code}`);
    expect(q.get('_profile')).toBe(DERIVED_PROFILE);
    expect(q.get('status')).toBe('final');
    expect(q.get('code')?.split(',')).toEqual([
      `${CODE_SYSTEM}|personal-baseline`,
      `${CODE_SYSTEM}|trend`,
      `${CODE_SYSTEM}|projection`,
    ]);
    expect(q.get('_elements')).not.toContain('derivedFrom');
    expect(Number(q.get('_count'))).toBeGreaterThanOrEqual(56);
  });

  test('panels are not trendable (no derived Observations of their own)', () => {
    expect(isTrendable(getMetric('blood-pressure'))).toBe(false);
    expect(isTrendable(HRV)).toBe(true);
  });

  test('local day and axis ticks', () => {
    expect(localToday(new Date(2026, 0, 5, 23, 59))).toBe('2026-01-05');
    expect(dayAxisTicks(100, 129, 6)).toEqual([105, 111, 117, 123, 129]);
    expect(dayAxisTicks(100, 130, 6)).toEqual([100, 106, 112, 118, 124, 130]);
    expect(dayAxisTicks(100, 100, 6)).toEqual([100]);
  });
});

describe('derived Observations as the bot writes them', () => {
  const rhr = records(plan.desired);

  test('bands, trend and projection of the metric are read; other metrics’ are not', () => {
    expect(rhr.filter((r) => r.kind === 'personal-baseline').map((r) => r.slot)).toContain('latest');
    expect(rhr.some((r) => r.kind === 'trend')).toBe(true);
    expect(rhr.some((r) => r.kind === 'projection')).toBe(true);
    expect(rhr.every((r) => r.metricKey === RHR.key)).toBe(true);
    expect(records(plan.desired, HRV).every((r) => r.metricKey === HRV.key)).toBe(true);
    expect(records(plan.desired, HRV).length).toBeGreaterThan(0);
  });

  test('a weekly band is the band of the Monday after its window end, held for that week', () => {
    const steps = bandSteps(rhr);
    expect(steps.length).toBeGreaterThan(3);
    for (const step of steps) {
      expect(step.from).toBe(addDays(step.windowEnd, 1));
      expect(dayIndex(step.to) - dayIndex(step.from)).toBeLessThanOrEqual(6);
      const exact = bandFor(rhrPoints, step.from, ANALYTICS_PARAMS.band);
      expect(exact.ok).toBe(true);
      if (exact.ok) {
        expect(step.lower).toBeCloseTo(exact.band.lower, 3);
        expect(step.upper).toBeCloseTo(exact.band.upper, 3);
        expect(step.median).toBeCloseTo(exact.band.median, 3);
      }
    }
    // Steps do not overlap, so each day has one band.
    for (let i = 1; i < steps.length; i++) {
      expect(steps[i]!.from > steps[i - 1]!.to).toBe(true);
    }
    // The first 14 days have no window with 14 values: no band there, never a fabricated one.
    expect(stepForDay(steps, addDays(FIRST, 10))).toBeUndefined();
    // A day past every band's week has none either.
    expect(stepForDay(steps, addDays(LAST, 30))).toBeUndefined();
  });

  test('a superseded (cancelled) band is not drawn', () => {
    const bands = rhr.filter((r) => r.kind === 'personal-baseline');
    const cancelled = bands.map((b) => (b.slot === bands[0]!.slot ? { ...b, status: 'cancelled' as const } : b));
    expect(bandSteps(cancelled).length).toBe(bandSteps(bands).length - 1);
  });

  test('the fan is recomputed exactly and ends where the stored projection ends', () => {
    const projection = rhr.find((r) => r.kind === 'projection');
    const trend = rhr.find((r) => r.kind === 'trend');
    const fan = projectionFan(projection, trend, [rhrPoints]);
    expect(fan?.kind).toBe('exact');
    expect(fan?.level).toBe(95);
    expect(fan?.points.length).toBe(ANALYTICS_PARAMS.trend.horizonDays);
    expect(fan?.points[0]?.day).toBe(projection?.start);
    const last = fan?.points[fan.points.length - 1];
    expect(last?.day).toBe(projection?.end);
    expect(last?.yHat).toBeCloseTo(projection?.value ?? Number.NaN, 3);
    expect(last?.lower).toBeCloseTo(projection?.components['prediction-lower'] ?? Number.NaN, 3);
    // The interval widens with distance from the data.
    const widths = (fan?.points ?? []).map((p) => p.upper - p.lower);
    expect(widths.every((w, i) => i === 0 || w > widths[i - 1]!)).toBe(true);
    // Independently: stats.ts over the same series gives the same first projected day.
    const t = trajectory(rhrPoints, addDays(projection!.start, -1), ANALYTICS_PARAMS.trend);
    expect(t.ok && t.trajectory.projection[0]?.yHat).toBeCloseTo(fan!.points[0]!.yHat, 9);
  });

  test('a fan that cannot be reproduced is drawn straight to the stored interval and says so', () => {
    const projection = rhr.find((r) => r.kind === 'projection');
    const trend = rhr.find((r) => r.kind === 'trend');
    const other = rhrPoints.map((p) => ({ ...p, value: p.value + 3 }));
    const fan = projectionFan(projection, trend, [other]);
    expect(fan?.kind).toBe('approximate');
    const last = fan?.points[fan.points.length - 1];
    expect(last?.yHat).toBe(projection?.value);
    expect(last?.upper).toBe(projection?.components['prediction-upper']);
    expect(fan?.points[0]?.day).toBe(projection?.start);
  });

  test('no stored projection, no fan (a gated projection is never drawn)', () => {
    expect(projectionFan(undefined, undefined, [rhrPoints])).toBeUndefined();
    const hrvProjection = records(plan.desired, HRV).find((r) => r.kind === 'projection');
    // HRV is flat noise: the bot gates it on R², and the view draws nothing.
    expect(hrvProjection).toBeUndefined();
  });

  test('interval level from the method text', () => {
    expect(intervalLevel('… alpha=0.1 (90 % prediction interval …')).toBe(90);
    expect(intervalLevel(undefined)).toBe(95);
  });

  test('the signature changes when a derived Observation is updated', () => {
    const stored = plan.desired.slice(0, 5).map((o, i) => ({ ...o, id: `d${i}`, meta: { versionId: '1' } }));
    const before = derivedSignature(stored);
    expect(derivedSignature([...stored].reverse())).toBe(before);
    const updated = stored.map((o, i) => (i === 2 ? { ...o, meta: { versionId: '2' } } : o));
    expect(derivedSignature(updated)).not.toBe(before);
  });
});

describe('chart rows', () => {
  const rhr = records(plan.desired);
  const steps = bandSteps(rhr);
  const projection = rhr.find((r) => r.kind === 'projection');
  const fan = projectionFan(
    projection,
    rhr.find((r) => r.kind === 'trend'),
    [rhrPoints]
  );
  const start = addDays(LAST, -29);
  const annotation = { id: 'a1', kind: 'ill', label: 'Felt ill', start: '2026-11-10', end: '2026-11-12' };
  const rows = buildTrendRows({
    start,
    end: LAST,
    values: rhrValues.filter((v) => v.day >= start),
    steps,
    annotations: [annotation],
    fan,
  });

  test('one row per day from the start through the fan’s end', () => {
    expect(rows[0]?.day).toBe(start);
    expect(rows[rows.length - 1]?.day).toBe(projection?.end);
    expect(rows.length).toBe(30 + ANALYTICS_PARAMS.trend.horizonDays);
    expect(rows.every((r, i) => i === 0 || r.x === rows[i - 1]!.x + 1)).toBe(true);
  });

  test('each day is judged against the band held for it; annotated days are marked, not judged', () => {
    for (const row of rows) {
      if (row.value === null) {
        expect(row.status).toBeNull();
        continue;
      }
      const step = stepForDay(steps, row.day);
      if (row.day >= annotation.start && row.day <= annotation.end) {
        expect(row.status).toBe('annotated');
        expect(row.annotations).toEqual(['Felt ill']);
      } else {
        expect(row.status).toBe(step ? classify(row.value, step) : 'no-band');
      }
      expect(row.band).toEqual(step && row.day <= LAST ? [step.lower, step.upper] : null);
      expect(row.source).toBe('whoop');
    }
  });

  test('out-of-band days exist in this history (rising values leave a trailing band) and are counted', () => {
    const summary = summarize(rows);
    expect(summary.days).toBe(30);
    expect(summary.annotated).toBe(3);
    expect(summary.above + summary.below).toBeGreaterThan(0);
    expect(summary.above + summary.below + summary.within + summary.annotated + summary.noBand).toBe(30);
  });

  test('projected days carry the fan and no value', () => {
    const projected = rows.filter((r) => r.fan !== null);
    expect(projected.length).toBe(ANALYTICS_PARAMS.trend.horizonDays);
    expect(projected.every((r) => r.value === null && r.projected !== null && r.day > LAST)).toBe(true);
    // Projected days are not judged: no band under them, though the latest band's week reaches into them.
    expect(projected.every((r) => r.band === null)).toBe(true);
    expect(stepForDay(steps, addDays(LAST, 1))).toBeDefined();
  });

  test('days with a value in the band window', () => {
    expect(daysInBandWindow(rhrValues, LAST)).toBe(28);
    expect(daysInBandWindow(rhrValues.slice(0, 5), LAST)).toBe(0);
  });
});
