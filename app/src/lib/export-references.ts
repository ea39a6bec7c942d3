/**
 * References inside an exported record, shared by the import transaction and the comparison: which references point
 * at a resource the export holds (rewritten on import, matched on compare) and which point outside it (a granted
 * Practitioner, the Bot that owns a Task, the token store a Task is about).
 *
 * An outside reference cannot stay literal in the new project: there `Practitioner/<id>` names nothing, or on a
 * server with reference checks the write fails. Dropping it would lose who a grant was for. So the import keeps
 * everything else of the Reference (display, identifier, type) and records where it pointed as an extension holding
 * the absolute URL on the source server; when the Reference would otherwise be empty it also gets a display saying
 * so, because a Reference with nothing a reader can see helps nobody. The comparison undoes exactly this.
 *
 * Pure.
 */
import type { Bundle, Meta, Resource } from '@medplum/fhirtypes';
import { BASELINE_BASE } from '../../../bots/shared/systems.ts';

/** `Bundle.meta.extension` of an export: the FHIR base of the exporting server (resolves relative references). */
export const EXPORT_SOURCE_EXTENSION = BASELINE_BASE + '/StructureDefinition/export-source';

/** Where an outside reference pointed (absolute URL on the exporting server), kept on the imported Reference. */
export const SOURCE_REFERENCE_EXTENSION = BASELINE_BASE + '/StructureDefinition/export-source-reference';

/** Server bookkeeping that the target server assigns anew, so neither import nor comparison carries it. */
export const SERVER_META_FIELDS = [
  'versionId',
  'lastUpdated',
  'author',
  'project',
  'compartment',
  'account',
  'onBehalfOf',
] as const;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** What a literal reference means for a record. */
export type ReferenceTarget =
  | { kind: 'internal'; key: string }
  | { kind: 'external'; url: string }
  /** Contained (`#x`) or a transaction placeholder (`urn:uuid:`): meaningful only inside its own resource/bundle. */
  | { kind: 'local' };

const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** The index of one record: the exporting server's FHIR base and the `Type/id` of every resource it holds. */
export interface RecordIndex {
  /** e.g. `https://medplum.example.com/fhir/R4/`, or '' when unknown. */
  readonly base: string;
  readonly keys: ReadonlySet<string>;
}

/**
 * @param resource - a resource with an id
 * @returns its `Type/id`
 */
export function keyOf(resource: Resource): string {
  return `${resource.resourceType}/${resource.id ?? ''}`;
}

/**
 * @param fullUrl - an entry's fullUrl (absolute, ends in `Type/id`)
 * @param resource - the entry's resource
 * @returns the FHIR base the fullUrl was minted under, or undefined when it does not end in the resource's key
 */
export function baseOf(fullUrl: string | undefined, resource: Resource): string | undefined {
  const key = keyOf(resource);
  return fullUrl?.endsWith('/' + key) ? fullUrl.slice(0, fullUrl.length - key.length) : undefined;
}

/**
 * @param reference - `Reference.reference`
 * @param index - the record
 * @returns whether it points into the record (by `Type/id`, a version dropped), outside it (as an absolute URL), or is
 *   local to its resource
 */
export function resolveReference(reference: string, index: RecordIndex): ReferenceTarget {
  if (reference.startsWith('#') || reference.startsWith('urn:uuid:')) {
    return { kind: 'local' };
  }
  const relative = index.base && reference.startsWith(index.base) ? reference.slice(index.base.length) : reference;
  const match = RELATIVE.exec(relative);
  if (match) {
    const key = `${match[1]}/${match[2]}`;
    return index.keys.has(key) ? { kind: 'internal', key } : { kind: 'external', url: index.base + relative };
  }
  return { kind: 'external', url: reference };
}

/**
 * The display given to an outside reference that had neither display nor identifier.
 * @param url - where it pointed
 * @returns the display
 */
export function externalDisplay(url: string): string {
  return `${url} (not part of the export)`;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A deep copy of a JSON value with every Reference-shaped object (one with a string `reference`) replaced.
 * @param value - the value
 * @param replace - gets each Reference (already copied, its own nested values mapped) and returns its replacement
 * @returns the copy
 */
export function mapReferences(
  value: JsonValue,
  replace: (reference: JsonObject & { reference: string }) => JsonValue
): JsonValue {
  if (Array.isArray(value)) {
    return value.map((item) => mapReferences(item, replace));
  }
  if (!isObject(value)) {
    return value;
  }
  const copy: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = mapReferences(item, replace);
  }
  const reference = copy['reference'];
  return typeof reference === 'string' ? replace({ ...copy, reference }) : copy;
}

/**
 * The Reference the import writes for an outside target (see the module comment).
 * @param reference - the original Reference (with `reference`)
 * @param url - where it pointed, absolute
 * @returns the Reference without `reference`, carrying the source extension
 */
export function externalReference(reference: JsonObject, url: string): JsonObject {
  const { reference: _dropped, ...rest } = reference;
  const extensions = Array.isArray(rest['extension']) ? rest['extension'] : [];
  const out: JsonObject = {
    ...rest,
    extension: [...extensions, { url: SOURCE_REFERENCE_EXTENSION, valueUri: url }],
  };
  if (rest['display'] === undefined && rest['identifier'] === undefined) {
    out['display'] = externalDisplay(url);
  }
  return out;
}

/**
 * The inverse of externalReference, for comparison: the source URL and the Reference as it was before import.
 * @param reference - a Reference without `reference`
 * @returns undefined when it is not an imported outside reference
 */
export function parseExternalReference(reference: JsonObject): { url: string; rest: JsonObject } | undefined {
  const extensions = reference['extension'];
  if (!Array.isArray(extensions)) {
    return undefined;
  }
  const mine = extensions.find((e) => isObject(e) && e['url'] === SOURCE_REFERENCE_EXTENSION);
  const url = isObject(mine) ? mine['valueUri'] : undefined;
  if (typeof url !== 'string') {
    return undefined;
  }
  const rest: JsonObject = { ...reference };
  const others = extensions.filter((e) => e !== mine);
  if (others.length > 0) {
    rest['extension'] = others;
  } else {
    delete rest['extension'];
  }
  if (rest['display'] === externalDisplay(url)) {
    delete rest['display'];
  }
  return { url, rest };
}

/**
 * A copy of a resource as JSON without its id and the server's meta bookkeeping (profile, tags and security stay:
 * they are the record's, not the server's).
 * @param resource - the resource
 * @returns the copy
 */
export function withoutServerFields(resource: Resource): JsonObject {
  const copy = JSON.parse(JSON.stringify(resource)) as JsonObject;
  delete copy['id'];
  const meta = copy['meta'];
  if (isObject(meta)) {
    for (const field of SERVER_META_FIELDS) {
      delete meta[field satisfies keyof Meta];
    }
    if (Object.keys(meta).length === 0) {
      delete copy['meta'];
    }
  }
  return copy;
}

/**
 * @param bundle - an export
 * @returns the exporting server's FHIR base: the marker extension, else what the entries' fullUrls say, else ''
 */
export function sourceBase(bundle: Bundle): string {
  const marked = bundle.meta?.extension?.find((e) => e.url === EXPORT_SOURCE_EXTENSION)?.valueUri;
  if (marked) {
    return marked;
  }
  for (const entry of bundle.entry ?? []) {
    const base = entry.resource ? baseOf(entry.fullUrl, entry.resource) : undefined;
    if (base) {
      return base;
    }
  }
  return '';
}

/**
 * @param bundle - an export (its entries' resources with ids)
 * @returns the record's index: its source base and the keys of the resources it holds
 */
export function indexRecord(bundle: Bundle): RecordIndex {
  const keys = new Set<string>();
  for (const entry of bundle.entry ?? []) {
    if (entry.resource?.id) {
      keys.add(keyOf(entry.resource));
    }
  }
  return { base: sourceBase(bundle), keys };
}
