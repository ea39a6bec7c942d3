/**
 * Search-filter matching and sorting for the in-memory store.
 *
 * Most filters go straight to @medplum/core's `matchesSearchRequest` (the matcher Medplum itself uses for
 * subscription criteria). A few parameter types it does not cover, or covers differently from Medplum's SQL search,
 * are handled here so a query that works against the real server also works locally:
 * - string: FHIR's default is "starts with" (Medplum matches each name part), `:contains` and `:exact` as specified;
 *   core only does "contains";
 * - uri: exact by default (`url=` lookups must not match longer URLs), `:below`/`:above` as prefixes;
 * - number and quantity: core has no matcher for them at all;
 * - date: Medplum 5.0 indexes one instant per value (the start of a Period, midnight UTC of a bare date) and compares
 *   it with the filter value as Postgres would (`date=2024-05-04` is `= 2024-05-04T00:00Z`, not "that day"); resources
 *   without a value never match, and sort like SQL NULLs (last ascending, first descending);
 * - token `:text`: case-insensitive "contains" on CodeableConcept.text and Coding.display;
 * - unknown parameters, chained search, `_has`, composite and special parameters are rejected with 400 instead of
 *   silently matching nothing.
 */
import {
  badRequest,
  convertToSearchableDates,
  convertToSearchableNumbers,
  convertToSearchableQuantities,
  convertToSearchableReferences,
  convertToSearchableStrings,
  convertToSearchableTokens,
  convertToSearchableUris,
  evalFhirPathTyped,
  getSearchParameter,
  LRUCache,
  matchesSearchRequest,
  OperationOutcomeError,
  Operator,
  splitSearchOnComma,
  toTypedValue,
} from '@medplum/core';
import type { Filter, FhirPathAtom, SortRule, TypedValue } from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import './schema.ts';

const expressionCache = new LRUCache<FhirPathAtom>(1000);

/**
 * Rejects filters the local matcher cannot evaluate faithfully.
 * @param resourceType - The searched type.
 * @param filters - The parsed filters.
 */
export function assertSupportedFilters(resourceType: string, filters: readonly Filter[] | undefined): void {
  for (const filter of filters ?? []) {
    if (filter.code.startsWith('_has:') || filter.code.includes('.')) {
      throw new OperationOutcomeError(badRequest(`Chained search is not supported by the local stack: ${filter.code}`));
    }
    const param = getSearchParameter(resourceType, filter.code);
    if (!param) {
      throw new OperationOutcomeError(badRequest(`Unknown search parameter: ${filter.code}`));
    }
    if (param.type === 'composite' || param.type === 'special') {
      throw new OperationOutcomeError(
        badRequest(`Search parameter type ${param.type} is not supported by the local stack: ${filter.code}`)
      );
    }
  }
}

/**
 * @param resource - A stored resource.
 * @param filters - Filters already checked by `assertSupportedFilters` for the resource's type.
 * @returns True when the resource satisfies every filter.
 */
export function matchesFilters(resource: Resource, filters: readonly Filter[] | undefined): boolean {
  for (const filter of filters ?? []) {
    if (!matchesFilter(resource, filter)) {
      return false;
    }
  }
  return true;
}

function matchesFilter(resource: Resource, filter: Filter): boolean {
  const param = getSearchParameter(resource.resourceType, filter.code);
  if (!param?.expression) {
    return false;
  }
  if (filter.operator === Operator.MISSING || filter.operator === Operator.PRESENT) {
    return matchesSearchRequest(resource, { resourceType: resource.resourceType, filters: [filter] });
  }
  switch (param.type) {
    case 'string':
      return matchesAny(filter, convertToSearchableStrings(evaluate(param, resource)), matchesString);
    case 'uri':
      return matchesAny(filter, convertToSearchableUris(evaluate(param, resource)), matchesUri);
    case 'number':
      return matchesAny(filter, convertToSearchableNumbers(evaluate(param, resource)), matchesNumber);
    case 'quantity':
      return matchesAny(filter, convertToSearchableQuantities(evaluate(param, resource)), (q, f, op) =>
        matchesQuantity(q, f, op)
      );
    case 'date':
      return matchesDate(dateColumnValues(evaluate(param, resource)), filter);
    case 'token':
      if (filter.operator === Operator.TEXT) {
        return matchesTokenText(evaluate(param, resource), filter.value);
      }
      return matchesSearchRequest(resource, { resourceType: resource.resourceType, filters: [filter] });
    case 'reference':
    case 'composite':
    case 'special':
    case undefined:
      return matchesSearchRequest(resource, { resourceType: resource.resourceType, filters: [filter] });
  }
}

/** The instants Medplum's date column holds for these values (ms since epoch). */
function dateColumnValues(values: TypedValue[]): number[] {
  return convertToSearchableDates(values)
    .map((p) => Date.parse(p.start ?? p.end ?? ''))
    .filter((t) => Number.isFinite(t));
}

/** A filter value as Postgres casts it to timestamptz in a UTC session (no zone = UTC). */
function filterInstant(value: string): number {
  const withZone = /T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/.test(value) ? value + 'Z' : value;
  const t = Date.parse(withZone);
  if (!Number.isFinite(t)) {
    throw new OperationOutcomeError(badRequest(`Invalid date value: ${value}`));
  }
  return t;
}

function matchesDate(columns: number[], filter: Filter): boolean {
  const target = filterInstant(filter.value);
  return columns.some((t) => {
    switch (filter.operator) {
      case Operator.EQUALS:
        return t === target;
      case Operator.NOT:
      case Operator.NOT_EQUALS:
        return t !== target;
      case Operator.GREATER_THAN:
      case Operator.STARTS_AFTER:
        return t > target;
      case Operator.GREATER_THAN_OR_EQUALS:
        return t >= target;
      case Operator.LESS_THAN:
      case Operator.ENDS_BEFORE:
        return t < target;
      case Operator.LESS_THAN_OR_EQUALS:
        return t <= target;
      default:
        throw new OperationOutcomeError(badRequest(`Search filter '${filter.operator}' not valid for date`));
    }
  });
}

function matchesTokenText(values: TypedValue[], text: string): boolean {
  const needle = text.toLowerCase();
  const texts: string[] = [];
  for (const { value } of values) {
    const v = value as { text?: string; display?: string; coding?: { display?: string }[] } | undefined;
    texts.push(v?.text ?? '', v?.display ?? '', ...(v?.coding ?? []).map((c) => c.display ?? ''));
  }
  return texts.some((t) => t.toLowerCase().includes(needle));
}

function evaluate(param: SearchParameter, resource: Resource): TypedValue[] {
  return evalFhirPathTyped(param.expression as string, [toTypedValue(resource)], undefined, expressionCache);
}

function matchesAny<V>(
  filter: Filter,
  values: V[],
  match: (value: V, filterValue: string, op: string) => boolean
): boolean {
  const negated = filter.operator === Operator.NOT_EQUALS || filter.operator === Operator.NOT;
  const operator = negated ? Operator.EQUALS : filter.operator;
  const filterValues = splitSearchOnComma(filter.value);
  const found = values.some((value) => filterValues.some((fv) => match(value, fv, operator)));
  return negated ? !found : found;
}

function matchesString(value: string, filterValue: string, operator: string): boolean {
  if (operator === Operator.EXACT) {
    return value === filterValue;
  }
  const haystack = value.toLowerCase();
  const needle = filterValue.toLowerCase();
  if (operator === Operator.CONTAINS) {
    return haystack.includes(needle);
  }
  // Medplum indexes each part of a name/address as well as the whole, so "starts with" applies per word.
  return haystack.startsWith(needle) || haystack.split(/\s+/).some((word) => word.startsWith(needle));
}

function matchesUri(value: string, filterValue: string, operator: string): boolean {
  if (operator === Operator.BELOW) {
    return value.startsWith(filterValue);
  }
  if (operator === Operator.ABOVE) {
    return filterValue.startsWith(value);
  }
  if (operator === Operator.CONTAINS) {
    return value.includes(filterValue);
  }
  return value === filterValue;
}

function matchesNumber(
  range: [number | undefined, number | undefined],
  filterValue: string,
  operator: string
): boolean {
  const target = Number(filterValue);
  if (!Number.isFinite(target)) {
    return false;
  }
  const low = range[0] ?? Number.NEGATIVE_INFINITY;
  const high = range[1] ?? Number.POSITIVE_INFINITY;
  return compareRange(low, high, target, precisionOf(filterValue), operator);
}

function matchesQuantity(
  quantity: { value?: number; system?: string; code?: string; unit?: string },
  filterValue: string,
  operator: string
): boolean {
  const [numberPart = '', system = '', code = ''] = filterValue.split('|');
  if (system && quantity.system !== system) {
    return false;
  }
  if (code && quantity.code !== code && quantity.unit !== code) {
    return false;
  }
  const target = Number(numberPart);
  if (quantity.value === undefined || !Number.isFinite(target)) {
    return false;
  }
  return compareRange(quantity.value, quantity.value, target, precisionOf(numberPart), operator);
}

/** Half a unit in the last given digit: `eq100` matches [99.5, 100.5), `eq100.0` matches [99.95, 100.05). */
function precisionOf(text: string): number {
  const dot = text.indexOf('.');
  const decimals = dot === -1 ? 0 : text.length - dot - 1;
  return 0.5 * Math.pow(10, -decimals);
}

function compareRange(low: number, high: number, target: number, half: number, operator: string): boolean {
  switch (operator) {
    case Operator.EQUALS:
      return low >= target - half && high < target + half;
    case Operator.APPROXIMATELY:
      return high >= target * 0.9 && low <= target * 1.1;
    case Operator.GREATER_THAN:
    case Operator.STARTS_AFTER:
      return high > target;
    case Operator.GREATER_THAN_OR_EQUALS:
      return high >= target;
    case Operator.LESS_THAN:
    case Operator.ENDS_BEFORE:
      return low < target;
    case Operator.LESS_THAN_OR_EQUALS:
      return low <= target;
    default:
      return false;
  }
}

type SortKey = string | number | undefined;

/**
 * Sorts resources in place by the search's sort rules (missing values last); stable for equal keys.
 * @param resources - Resources of any searched types.
 * @param sortRules - From the search request.
 */
export function sortResources(resources: Resource[], sortRules: readonly SortRule[] | undefined): void {
  if (!sortRules?.length) {
    return;
  }
  const keyed = resources.map((resource, index) => ({
    resource,
    index,
    keys: sortRules.map((rule) => sortKey(resource, rule)),
  }));
  keyed.sort((a, b) => {
    for (let i = 0; i < sortRules.length; i++) {
      const result = compareKeys(a.keys[i], b.keys[i], sortRules[i]?.descending ?? false);
      if (result !== 0) {
        return result;
      }
    }
    return a.index - b.index;
  });
  for (let i = 0; i < keyed.length; i++) {
    resources[i] = (keyed[i] as { resource: Resource }).resource;
  }
}

function sortKey(resource: Resource, rule: SortRule): SortKey {
  const param = getSearchParameter(resource.resourceType, rule.code);
  if (!param?.expression) {
    throw new OperationOutcomeError(badRequest(`Unknown sort parameter: ${rule.code}`));
  }
  const values = evaluate(param, resource);
  switch (param.type) {
    case 'date':
      return dateColumnValues(values)[0];
    case 'number':
      return convertToSearchableNumbers(values)[0]?.[0];
    case 'quantity':
      return convertToSearchableQuantities(values)[0]?.value;
    case 'string':
      return convertToSearchableStrings(values)[0]?.toLowerCase();
    case 'token':
      return convertToSearchableTokens(values)[0]?.value?.toLowerCase();
    case 'reference':
      return convertToSearchableReferences(values)[0];
    case 'uri':
      return convertToSearchableUris(values)[0];
    case 'composite':
    case 'special':
    case undefined:
      return undefined;
  }
}

function compareKeys(a: SortKey, b: SortKey, descending: boolean): number {
  if (a === b) {
    return 0;
  }
  // Missing values sort as SQL NULLs do in Postgres: last ascending, first descending.
  if (a === undefined) {
    return descending ? -1 : 1;
  }
  if (b === undefined) {
    return descending ? 1 : -1;
  }
  const result = typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b));
  return descending ? -result : result;
}
