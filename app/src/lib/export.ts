/**
 * The owner's export of their whole record (issue 9 §5): every resource their AccessPolicy lets them read in their own
 * Patient compartment — raw wearable, derived, narrative and annotation Observations, Devices, Tasks, AuditEvents,
 * DocumentReferences, alert Flags and Communications, grant Consents — as ONE FHIR Bundle, optionally as NDJSON.
 *
 * The Bundle is a `collection`, not a ready transaction: it is the record exactly as the server holds it (ids,
 * versions, lastUpdated — evidence of what was stored when), and how to recreate it depends on the target (what ids
 * it assigns, what it limits: Medplum caps conditional transactions at 8 entries and request bodies at 1 MB).
 * `toImportTransaction` (export-import.ts) derives the transaction from it; `compareRecords` (export-compare.ts)
 * proves a re-import lost nothing.
 *
 * Paging: every type is read sorted by `_lastUpdated` with pages of 1,000, following the server's `next` link, which
 * Medplum then writes as a `_cursor`; `_offset` paging stops at 10,000 results, which an owner's Observations pass
 * within a few years. A resource updated while the export pages can appear twice (it moves to the end of the order); the newest
 * copy wins. Size, measured on one owner-year from the WHOOP sandbox (3,785 resources, 3,748 of them Observations):
 * 12.1 MB as JSON, 11.7 MB as NDJSON, read in 0.65 s from the local stack, with a peak of ~120 MB of Node heap
 * (garbage included) for either variant; a browser tab holds that.
 *
 * The owner's token store (`Basic`) is not one of the types read, and extras of server-internal types are refused:
 * an export never carries token material.
 */
import type { Bundle, BundleEntry, Extension, Resource, ResourceType } from '@medplum/fhirtypes';
import { z } from 'zod';
import { BASELINE_BASE, IDENTIFIER_BASE } from '../../../bots/shared/systems.ts';
import { EXPORT_SOURCE_EXTENSION, keyOf, sourceBase } from './export-references.ts';

export { EXPORT_SOURCE_EXTENSION, SOURCE_REFERENCE_EXTENSION } from './export-references.ts';

export { chunkTransaction, importChunks, toImportTransaction } from './export-import.ts';
export type { ImportChunk } from './export-import.ts';
export { compareRecords } from './export-compare.ts';
export type { RecordComparison } from './export-compare.ts';

/** `Bundle.meta.tag` of every Baseline export. */
export const EXPORT_TAG = { system: BASELINE_BASE + '/CodeSystem/export', code: 'owner-record' } as const;
/** `Bundle.identifier.system`: each export gets its own value. */
export const EXPORT_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/export';
/** `Bundle.meta.extension`: counts per resource type (one sub-extension per type, `url` = the type). */
export const EXPORT_COUNTS_EXTENSION = BASELINE_BASE + '/StructureDefinition/export-counts';
/** `Bundle.meta.extension`: whose record (valueReference to the Patient). */
export const EXPORT_PATIENT_EXTENSION = BASELINE_BASE + '/StructureDefinition/export-patient';

/**
 * The types an owner can read about themselves (data/core/access-policies.ts ownerPolicy), and how each is found.
 * Device is not in FHIR R4's Patient compartment, so it is found by `Device.patient`, as the policy scopes it.
 */
export const EXPORTED_TYPES = [
  'Patient',
  'Device',
  'Observation',
  'Task',
  'AuditEvent',
  'DocumentReference',
  'Flag',
  'Communication',
  'Consent',
] as const satisfies readonly ResourceType[];
export type ExportedType = (typeof EXPORTED_TYPES)[number];

/** Never in an export, also not as an extra: token store, binaries, and the project's own machinery. */
const NEVER_EXPORTED: ReadonlySet<string> = new Set([
  'Basic',
  'Binary',
  'Bot',
  'ClientApplication',
  'Login',
  'Project',
  'ProjectMembership',
  'AccessPolicy',
  'Subscription',
  'User',
  'UserConfiguration',
  'UserSecurityRequest',
]);

/** Medplum's largest page. */
const PAGE_SIZE = 1000;

/**
 * What the export needs of a client (MedplumClient has it); narrow so tests can page a fake server.
 */
export interface ExportClient {
  search(resourceType: ExportedType, query: Record<string, string>, options: { cache: 'no-cache' }): Promise<Bundle>;
  get(url: string, options: { cache: 'no-cache' }): Promise<Bundle>;
  fhirUrl(): URL;
  /** MedplumClient keeps every GET in its request cache; dropping a type's pages once read halves the peak. */
  invalidateSearches?(resourceType: ExportedType): void;
}

export interface ExportOptions {
  /** Resources to append (the access log); the same type/id twice is kept once. */
  extra?: readonly Resource[];
  /** Export time (tests). */
  now?: () => Date;
  /** Called after each page (a progress bar). */
  onPage?: (type: ExportedType, total: number) => void;
  /** For tests of the paging. */
  pageSize?: number;
}

function searchQuery(type: ExportedType, patientRef: string): Record<string, string> {
  switch (type) {
    case 'Patient':
      return { _id: patientRef.slice('Patient/'.length) };
    case 'Device':
      return { patient: patientRef };
    default:
      return { _compartment: patientRef };
  }
}

/**
 * Every resource of one type in the owner's compartment, page by page, by cursor.
 * @param medplum - client
 * @param type - type
 * @param patientRef - `Patient/<id>`
 * @param options - export options
 * @param sink - gets each entry, in server order
 */
async function readAll(
  medplum: ExportClient,
  type: ExportedType,
  patientRef: string,
  options: ExportOptions,
  sink: (entry: BundleEntry) => void
): Promise<void> {
  let read = 0;
  let bundle = await medplum.search(
    type,
    { ...searchQuery(type, patientRef), _sort: '_lastUpdated', _count: String(options.pageSize ?? PAGE_SIZE) },
    { cache: 'no-cache' }
  );
  for (;;) {
    for (const entry of bundle.entry ?? []) {
      if (entry.resource && entry.search?.mode !== 'include') {
        sink({ fullUrl: entry.fullUrl, resource: entry.resource });
        read++;
      }
    }
    options.onPage?.(type, read);
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (!next) {
      medplum.invalidateSearches?.(type);
      return;
    }
    bundle = await medplum.get(next, { cache: 'no-cache' });
  }
}

/**
 * @param entries - the record's entries
 * @returns counts per resource type, in first-seen order
 */
export function countByType(entries: readonly BundleEntry[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const entry of entries) {
    if (entry.resource) {
      counts[entry.resource.resourceType] = (counts[entry.resource.resourceType] ?? 0) + 1;
    }
  }
  return counts;
}

interface ExportInfo {
  id: string;
  timestamp: string;
  patient: string;
  source: string;
  /** Counts per type, when the entries are not in the Bundle (NDJSON). */
  counts?: Record<string, number>;
}

/**
 * The Bundle around a record's entries: marker tag, identifier, time, whose record, source server, counts.
 * @param entries - the entries
 * @param info - export id, time, patient reference, source FHIR base
 * @returns the collection Bundle
 */
export function exportBundle(entries: BundleEntry[], info: ExportInfo): Bundle {
  const counts: Extension[] = Object.entries(info.counts ?? countByType(entries)).map(([type, count]) => ({
    url: type,
    valueInteger: count,
  }));
  return {
    resourceType: 'Bundle',
    type: 'collection',
    identifier: { system: EXPORT_IDENTIFIER_SYSTEM, value: info.id },
    timestamp: info.timestamp,
    meta: {
      tag: [{ ...EXPORT_TAG }],
      extension: [
        { url: EXPORT_PATIENT_EXTENSION, valueReference: { reference: info.patient } },
        { url: EXPORT_SOURCE_EXTENSION, valueUri: info.source },
        { url: EXPORT_COUNTS_EXTENSION, extension: counts },
      ],
    },
    entry: entries,
  };
}

/**
 * Walks the whole record once: every type by cursor, then the extras; a resource seen twice (updated while paging)
 * is given to `keep` again only when newer.
 * @param medplum - client
 * @param patientId - the owner's Patient id
 * @param options - export options
 * @param keep - gets each resource (`again` when it replaces an earlier copy)
 * @returns the export's info (without counts)
 */
async function walkRecord(
  medplum: ExportClient,
  patientId: string,
  options: ExportOptions,
  keep: (key: string, entry: BundleEntry & { resource: Resource }, again: boolean) => void
): Promise<ExportInfo> {
  for (const resource of options.extra ?? []) {
    if (NEVER_EXPORTED.has(resource.resourceType)) {
      throw new Error(`A ${resource.resourceType} is never part of an export`);
    }
  }
  const timestamp = (options.now?.() ?? new Date()).toISOString();
  const patient = `Patient/${patientId}`;
  const source = medplum.fhirUrl().toString().replace(/\/?$/, '/');
  const lastUpdated = new Map<string, string>();
  const add = (entry: BundleEntry): void => {
    const resource = entry.resource;
    if (!resource?.id) {
      return;
    }
    const key = keyOf(resource);
    const seen = lastUpdated.get(key);
    const updated = resource.meta?.lastUpdated ?? '';
    if (seen === undefined || updated >= seen) {
      lastUpdated.set(key, updated);
      keep(key, { fullUrl: entry.fullUrl ?? source + key, resource }, seen !== undefined);
    }
  };
  for (const type of EXPORTED_TYPES) {
    await readAll(medplum, type, patient, options, add);
  }
  if (!lastUpdated.has(patient)) {
    throw new Error(`${patient} is not readable: nothing to export`);
  }
  for (const resource of options.extra ?? []) {
    add({ resource });
  }
  return { id: crypto.randomUUID(), timestamp, patient, source };
}

/**
 * Reads the owner's whole record into one collection Bundle.
 * @param medplum - a MedplumClient signed in as the owner (their own token), or an admin exporting for them
 * @param patientId - the owner's Patient id
 * @param options - extras (the access log), clock, progress
 * @returns the Bundle
 */
export async function exportRecord(
  medplum: ExportClient,
  patientId: string,
  options: ExportOptions = {}
): Promise<Bundle> {
  const byKey = new Map<string, BundleEntry>();
  const info = await walkRecord(medplum, patientId, options, (key, entry) => byKey.set(key, entry));
  return exportBundle([...byKey.values()], info);
}

/**
 * The same record as NDJSON lines (see toNdjson), each resource serialised as its page arrives (the record is never
 * held as objects; the measured peak is still about the Bundle's, page objects and the client's cache dominate it):
 * a download is `new Blob(lines, { type: 'application/fhir+ndjson' })`.
 * @param medplum - as exportRecord
 * @param patientId - the owner's Patient id
 * @param options - as exportRecord
 * @returns the lines, each ending in a newline; line 1 the Bundle header with the counts
 */
export async function exportRecordNdjson(
  medplum: ExportClient,
  patientId: string,
  options: ExportOptions = {}
): Promise<string[]> {
  const lines: string[] = [''];
  const lineOf = new Map<string, number>();
  const counts: Record<string, number> = {};
  const info = await walkRecord(medplum, patientId, options, (key, entry, again) => {
    const line = JSON.stringify(entry.resource) + '\n';
    const at = lineOf.get(key);
    if (again && at !== undefined) {
      lines[at] = line;
      return;
    }
    lineOf.set(key, lines.length);
    lines.push(line);
    counts[entry.resource.resourceType] = (counts[entry.resource.resourceType] ?? 0) + 1;
  });
  const { entry: _none, ...header } = exportBundle([], { ...info, counts });
  lines[0] = JSON.stringify(header) + '\n';
  return lines;
}

const ResourceSchema = z.looseObject({ resourceType: z.string().min(1), id: z.string().min(1) });
const EntrySchema = z.looseObject({ fullUrl: z.string().optional(), resource: ResourceSchema });

/** What `toImportTransaction` and `compareRecords` accept: a collection whose entries all hold a resource with id. */
export const ExportBundleSchema = z.looseObject({
  resourceType: z.literal('Bundle'),
  type: z.literal('collection'),
  entry: z.array(EntrySchema).default([]),
});

/**
 * @param value - parsed JSON (a file the owner kept)
 * @returns the Bundle, or throws naming what is wrong
 */
export function parseExportBundle(value: unknown): Bundle {
  const parsed = ExportBundleSchema.safeParse(value);
  if (!parsed.success) {
    throw new Error(
      `Not a Baseline export: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)[0]}`,
      {
        cause: parsed.error,
      }
    );
  }
  // The schema checked the fields this module relies on; the rest is FHIR JSON passed through unchanged.
  return parsed.data as unknown as Bundle;
}

/**
 * NDJSON form of an export: line 1 is the Bundle without its entries (marker, time, counts, source), each further
 * line one resource.
 * @param bundle - an export
 * @returns the NDJSON text
 */
export function toNdjson(bundle: Bundle): string {
  const { entry, ...header } = bundle;
  const lines = [JSON.stringify(header)];
  for (const e of entry ?? []) {
    if (e.resource) {
      lines.push(JSON.stringify(e.resource));
    }
  }
  return lines.join('\n') + '\n';
}

/**
 * @param text - what toNdjson wrote
 * @returns the export Bundle again (fullUrls rebuilt from the source base)
 */
export function fromNdjson(text: string): Bundle {
  const [first, ...rest] = text.split('\n').filter((line) => line.trim() !== '');
  if (first === undefined) {
    throw new Error('Empty NDJSON export');
  }
  const header = parseExportBundle({ ...z.looseObject({}).parse(JSON.parse(first)), entry: [] });
  const base = sourceBase(header);
  const entries: BundleEntry[] = rest.map((line, i) => {
    const parsed = ResourceSchema.safeParse(JSON.parse(line));
    if (!parsed.success) {
      throw new Error(`NDJSON line ${i + 2} is not a resource with an id`, { cause: parsed.error });
    }
    const resource = parsed.data as unknown as Resource;
    return { ...(base ? { fullUrl: base + keyOf(resource) } : {}), resource };
  });
  return { ...header, entry: entries };
}
