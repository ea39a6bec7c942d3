import type { Basic, Flag, Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { getMetric, metricCodings, metricQuantity } from '../shared/catalogue.ts';
import { IDENTIFIER_BASE } from '../shared/systems.ts';
import { alertRuleResource, DEFAULT_RULES, flagResource } from './alerts.ts';
import type { RatioRule } from './alerts.ts';
import { annotationObservation } from './annotations.ts';
import { DERIVED_IDENTIFIER_SYSTEM } from './derive.ts';
import { planInsights } from './insights.ts';
import type { InsightsInput, InsightsPlan } from './insights.ts';
import { NARRATIVE_IDENTIFIER_SYSTEM } from './narrative.ts';
import { sourcePriorityResource } from './source-priority.ts';

const PATIENT = 'Patient/p1';
const NOW = new Date('2026-11-30T20:00:00Z');

function dayString(start: string, offset: number): string {
  return new Date(Date.parse(start + 'T00:00:00Z') + offset * 86_400_000).toISOString().slice(0, 10);
}

function reading(key: string, day: string, value: number, source = 'whoop'): Observation {
  const metric = getMetric(key);
  return {
    resourceType: 'Observation',
    id: `${source}-${key}-${day}`,
    meta: { versionId: '1' },
    status: 'final',
    identifier: [{ system: `${IDENTIFIER_BASE}/${source}/daily`, value: `p1:${key}:${day}` }],
    code: { coding: metricCodings(metric) },
    subject: { reference: PATIENT },
    valueQuantity: metricQuantity(metric, value),
    effectiveDateTime: `${day}T07:00:00+01:00`,
  };
}

/** 84 days to 2026-11-30 (a Monday): resting heart rate and HRV with a weekly wobble. */
const FIRST = '2026-09-08';
function history(days = 84): Observation[] {
  const out: Observation[] = [];
  for (let i = 0; i < days; i++) {
    const day = dayString(FIRST, i);
    out.push(reading('resting-heart-rate', day, 52 + 0.05 * i + [0, 1, -1, 2, -2, 0.5, -0.5][i % 7]!));
    out.push(reading('hrv-rmssd', day, 50 + [6, -4, 9, -7, 3, -8, 5, -2, 7, -6, 1][i % 11]!));
  }
  return out;
}

function input(extra: Partial<InsightsInput> = {}): InsightsInput {
  return { patient: PATIENT, observations: history(), settings: [], flags: [], now: NOW, ...extra };
}

/** What the server holds after the plan's writes: each written resource with an id and a new version. */
function stored(observations: readonly Observation[], plan: InsightsPlan): Observation[] {
  const key = (o: Observation) => `${o.identifier?.[0]?.system}|${o.identifier?.[0]?.value}`;
  const byKey = new Map(observations.map((o) => [key(o), o]));
  for (const o of [...plan.derived.writes, ...plan.narratives.writes]) {
    const prior = byKey.get(key(o));
    byKey.set(key(o), {
      ...o,
      id: prior?.id ?? `new-${byKey.size}`,
      meta: { ...o.meta, versionId: String(Number(prior?.meta?.versionId ?? '0') + 1) },
    });
  }
  return [...byKey.values()];
}

function band(plan: InsightsPlan, value: string): Observation | undefined {
  return plan.derived.desired.find((o) =>
    o.identifier?.some((i) => i.system === DERIVED_IDENTIFIER_SYSTEM && i.value === value)
  );
}

function sampleCount(o: Observation | undefined): number | undefined {
  return o?.component?.find((c) => c.code.coding?.some((k) => k.code === 'sample-count'))?.valueInteger;
}

describe('planInsights', () => {
  test('plans bands, a weekly and a monthly narrative in English and German, and judges the default rules', () => {
    const plan = planInsights(input());
    const narratives = plan.narratives.desired.map((o) => o.identifier?.[0]?.value);
    expect(narratives).toEqual([
      'p1/narrative-weekly/2026-11-23--2026-11-29/en',
      'p1/narrative-weekly/2026-11-23--2026-11-29/de',
      'p1/narrative-monthly/2026-10-01--2026-10-31/en',
      'p1/narrative-monthly/2026-10-01--2026-10-31/de',
    ]);
    const [en, de] = plan.narratives.desired;
    expect(en?.language).toBe('en');
    expect(de?.language).toBe('de');
    expect(en?.valueString).not.toEqual(de?.valueString);
    // The weekly narrative rests on the bands that judged its days, named by their stable identifiers.
    expect(en?.derivedFrom).toContainEqual({
      type: 'Observation',
      identifier: {
        system: DERIVED_IDENTIFIER_SYSTEM,
        value: 'p1/resting-heart-rate/personal-baseline/week-ending-2026-11-22',
      },
    });
    expect(en?.derivedFrom?.every((r) => r.reference === undefined)).toBe(true);
    expect(plan.alertDays).toEqual({
      'hrv-below-baseline': '2026-11-30',
      'resting-heart-rate-above-band': '2026-11-30',
    });
    expect(
      [...plan.alerts.skip, ...plan.alerts.fire].map((d) => ('ruleId' in d ? d.ruleId : d.rule.id)).sort()
    ).toEqual(DEFAULT_RULES.map((r) => r.id).sort());
  });

  test('a recompute over what the first one stored writes nothing', () => {
    const first = planInsights(input());
    const second = planInsights(input({ observations: stored(history(), first) }));
    expect(second.derived.writes).toEqual([]);
    expect(second.narratives.writes).toEqual([]);
    expect(second.narratives.unchanged).toBe(4);
  });

  test('annotated days leave the bands, and the narrative names the annotation', () => {
    const before = planInsights(input());
    const ill = annotationObservation(
      { key: 'annotation-1', kind: 'ill', start: '2026-11-16', end: '2026-11-18', note: 'flu' },
      { reference: PATIENT }
    );
    const after = planInsights(input({ observations: [...history(), { ...ill, id: 'a1' }] }));
    expect(after.annotations).toHaveLength(1);
    const slot = 'p1/resting-heart-rate/personal-baseline/week-ending-2026-11-22';
    expect(sampleCount(band(before, slot))).toBe(28);
    expect(sampleCount(band(after, slot))).toBe(25);
    const weekly = after.narratives.desired.find((o) => o.identifier?.[0]?.value?.includes('2026-11-23'));
    // The annotation ended before the week: only a span overlapping the period is named.
    expect(weekly?.component?.some((c) => c.extension?.[0]?.valueString === 'annotation.ill')).toBe(false);
    const deleted = planInsights(
      input({ observations: [...history(), { ...ill, id: 'a1', status: 'entered-in-error' }] })
    );
    expect(sampleCount(band(deleted, slot))).toBe(28);
  });

  test("the owner's source ladder picks the day's value when two providers measured it", () => {
    const oura = ['2026-11-30', '2026-11-29'].map((d) => reading('resting-heart-rate', d, 40, 'oura'));
    const observations = [...history(), ...oura];
    const last = (plan: InsightsPlan) => plan.derived.series['resting-heart-rate']?.at(-1);
    // The catalogue ranks the ring above the wrist for resting heart rate.
    expect(last(planInsights(input({ observations })))).toMatchObject({ value: 40, source: 'oura' });
    const ladder = sourcePriorityResource({ 'resting-heart-rate': ['whoop', 'oura'] }, { reference: PATIENT });
    expect(last(planInsights(input({ observations, settings: [ladder] })))).toMatchObject({ source: 'whoop' });
    // Another owner's ladder is never applied.
    const others = sourcePriorityResource({ 'resting-heart-rate': ['whoop', 'oura'] }, { reference: 'Patient/p2' });
    expect(last(planInsights(input({ observations, settings: [others] })))).toMatchObject({ source: 'oura' });
  });

  test("an owner's rule fires once, is kept while it holds, and its Flag ends when the rule is disabled", () => {
    const rule: RatioRule = {
      ...(DEFAULT_RULES[0] as RatioRule),
      below: 0.999,
      above: 1.001,
    };
    const settings: Basic[] = [alertRuleResource(rule, { reference: PATIENT })];
    const plan = planInsights(input({ settings }));
    expect(plan.alerts.fire.map((f) => f.rule.id)).toEqual(['hrv-below-baseline']);
    const firing = plan.alerts.fire[0]!;
    const flag: Flag = { ...flagResource(firing, { reference: PATIENT }), id: 'f1' };
    const again = planInsights(input({ settings, flags: [flag] }));
    expect(again.alerts.fire).toEqual([]);
    expect(again.alerts.keep.map((k) => k.ruleId)).toEqual(['hrv-below-baseline']);
    const off = planInsights(
      input({ settings: [alertRuleResource({ ...rule, enabled: false }, { reference: PATIENT })], flags: [flag] })
    );
    expect(off.alerts.clear).toMatchObject([{ ruleId: 'hrv-below-baseline', reason: 'disabled' }]);
  });

  test("each rule is judged on its own metric's newest day, not on another metric's newer one", () => {
    // A body weight read today while the wearable's last scored day is two days ago (it arrives the morning after).
    const weight = reading('body-weight', '2026-12-02', 70);
    const plan = planInsights(input({ observations: [...history(), weight], now: new Date('2026-12-02T09:00:00Z') }));
    expect(plan.alertDays).toEqual({
      'hrv-below-baseline': '2026-11-30',
      'resting-heart-rate-above-band': '2026-11-30',
    });
    // Older than the staleness limit (3 days): judged on today, so a stale condition is not carried.
    const late = planInsights(input({ now: new Date('2026-12-10T09:00:00Z') }));
    expect(late.alertDays['hrv-below-baseline']).toBe('2026-12-10');
  });

  test('a value dated in the future (a device clock) is left out, and does not move the day trends are judged on', () => {
    const clean = planInsights(input());
    const future = reading('body-weight', '2027-11-30', 70);
    const plan = planInsights(input({ observations: [...history(), future] }));
    expect(plan.derived.asOf).toBe(clean.derived.asOf);
    expect(plan.derived.series['body-weight']).toBeUndefined();
    const standing = (p: typeof plan) => p.derived.desired.filter((o) => o.status === 'final').length;
    expect(standing(plan)).toBe(standing(clean));
    expect(plan.narratives.gated).toEqual([]);
  });

  test('unreadable settings are reported and the defaults apply', () => {
    const broken: Basic = {
      ...sourcePriorityResource({ 'resting-heart-rate': ['whoop'] }, { reference: PATIENT }),
      id: 'b1',
      extension: [{ url: 'https://baseline.health/fhir/StructureDefinition/source-priority', valueString: '{' }],
    };
    const plan = planInsights(input({ settings: [broken] }));
    expect(plan.problems).toEqual(['source priority b1: ladders are not JSON']);
    expect(plan.derived.desired.length).toBeGreaterThan(0);
  });

  test('too little history: no narrative, and one written earlier for that period is superseded', () => {
    const short = history(84).filter((o) => (o.effectiveDateTime ?? '') >= '2026-11-25');
    const full = planInsights(input());
    const weekly = full.narratives.desired.filter((o) => o.identifier?.[0]?.value?.includes('weekly'));
    const plan = planInsights(
      input({
        observations: [...short, ...weekly.map((o, i) => ({ ...o, id: `n${i}`, meta: { ...o.meta, versionId: '1' } }))],
      })
    );
    expect(plan.narratives.gated.map((g) => `${g.period.kind} ${g.gate}`)).toEqual([
      'week too-little-history',
      'month no-data',
    ]);
    expect(
      plan.narratives.writes.map((o) => [
        o.identifier?.find((i) => i.system === NARRATIVE_IDENTIFIER_SYSTEM)?.value,
        o.status,
      ])
    ).toEqual([
      ['p1/narrative-weekly/2026-11-23--2026-11-29/en', 'cancelled'],
      ['p1/narrative-weekly/2026-11-23--2026-11-29/de', 'cancelled'],
    ]);
    expect(plan.narratives.cancelled).toBe(2);
  });
});
