/**
 * From an export (a collection, export.ts) to a transaction that recreates the record in an empty project.
 *
 * - Every resource is a plain `POST` with a `urn:uuid:` fullUrl, and every reference between exported resources
 *   points at that urn; the server assigns new ids. Not conditional creates: Medplum refuses a transaction with a
 *   conditional entry once it has more than 8 entries (reference/medplum.md §0.18), and the target is meant to be
 *   empty. The importer (scripts/import-record.ts) refuses a target that already holds the record instead.
 * - Ids and the server's meta bookkeeping (versionId, lastUpdated, author, project, compartment, account) are
 *   dropped: the target assigns its own. Profiles, tags and security labels are the record's and stay.
 * - References to resources outside the export (a granted Practitioner, the Bot that owns a Task, the token store a
 *   Task is about) keep everything but the literal `reference`, and carry the absolute URL they had as an extension
 *   (export-references.ts): visible, lossless, and never a dangling or — worse — a wrongly resolving literal.
 *   A reference's version (`/_history/n`) to an exported resource is not kept: the target has only version 1.
 *   So an imported grant Consent names its clinician only by the source URL: it is history, never a live grant in
 *   the target (a grant is to a person of one deployment). A project with Baseline's share Consent profile deployed
 *   refuses such a Consent (the profile requires a literal grantee); the import targets an empty project.
 * - Order: every resource after the resources it references (Patient and Devices first), so the transaction can be
 *   cut into requests that each fit Medplum's 1 MB body limit and FHIR quota (`importChunks`), each chunk's urns to
 *   earlier chunks replaced by the ids those chunks got. Resources in a reference cycle (none in Baseline's data
 *   today) go last and are never split across chunks.
 *
 * Pure.
 */
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import {
  externalReference,
  indexRecord,
  keyOf,
  mapReferences,
  resolveReference,
  withoutServerFields,
} from './export-references.ts';
import type { JsonValue } from './export-references.ts';

export interface ImportOptions {
  /** New placeholder ids (tests pass a counter; default crypto.randomUUID). */
  newUuid?: () => string;
}

/** Kahn's order, stable: each resource after its references; what is left (cycles) keeps its original order. */
function dependencyOrder(deps: readonly ReadonlySet<number>[]): number[] {
  const dependents: number[][] = deps.map(() => []);
  const waiting = deps.map((d) => d.size);
  deps.forEach((d, i) => d.forEach((target) => dependents[target]?.push(i)));
  const ready: number[] = [];
  deps.forEach((d, i) => {
    if (d.size === 0) {
      ready.push(i);
    }
  });
  const order: number[] = [];
  const placed = new Set<number>();
  // Level by level, each level in the export's order: the Patient and Devices unlock almost everything at once, so
  // there are few levels and sorting each is cheap.
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const batch = ready.splice(0, ready.length);
    for (const i of batch) {
      order.push(i);
      placed.add(i);
      for (const dependent of dependents[i] ?? []) {
        const left = (waiting[dependent] ?? 0) - 1;
        waiting[dependent] = left;
        if (left === 0) {
          ready.push(dependent);
        }
      }
    }
  }
  deps.forEach((_, i) => {
    if (!placed.has(i)) {
      order.push(i);
    }
  });
  return order;
}

/**
 * @param bundle - an export (collection)
 * @param options - placeholder ids
 * @returns the transaction Bundle that recreates the record (see the module comment)
 */
export function toImportTransaction(bundle: Bundle, options: ImportOptions = {}): Bundle {
  const newUuid = options.newUuid ?? (() => crypto.randomUUID());
  const index = indexRecord(bundle);
  const resources: Resource[] = [];
  const seen = new Set<string>();
  for (const entry of bundle.entry ?? []) {
    const resource = entry.resource;
    if (resource?.id && !seen.has(keyOf(resource))) {
      seen.add(keyOf(resource));
      resources.push(resource);
    }
  }
  const urns = new Map<string, string>(resources.map((r) => [keyOf(r), `urn:uuid:${newUuid()}`]));
  const position = new Map<string, number>(resources.map((r, i) => [keyOf(r), i]));
  const deps: Set<number>[] = resources.map(() => new Set<number>());
  const rewritten = resources.map((resource, i) =>
    mapReferences(withoutServerFields(resource), (reference): JsonValue => {
      const target = resolveReference(reference.reference, index);
      switch (target.kind) {
        case 'local':
          return reference;
        case 'external':
          return externalReference(reference, target.url);
        case 'internal': {
          const at = position.get(target.key);
          if (at !== undefined && at !== i) {
            deps[i]?.add(at);
          }
          return { ...reference, reference: urns.get(target.key) ?? '' };
        }
      }
    })
  );
  const entry: BundleEntry[] = dependencyOrder(deps).map((i) => {
    const original = resources[i] as Resource;
    return {
      fullUrl: urns.get(keyOf(original)),
      // The rewrite copied the resource field by field; its shape is the original's.
      resource: rewritten[i] as unknown as Resource,
      request: { method: 'POST', url: original.resourceType },
    };
  });
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

export interface ImportChunk {
  /** Index of the first entry of the whole transaction this chunk holds. */
  start: number;
  entries: BundleEntry[];
}

const URN = /urn:uuid:[0-9a-fA-F-]{36}/g;

function urnsIn(entry: BundleEntry): string[] {
  return JSON.stringify(entry.resource ?? {}).match(URN) ?? [];
}

/**
 * Cuts a transaction into consecutive chunks of at most `maxEntries` entries and about `maxBytes` of JSON, never
 * between a resource and a later one it references (only cycles make that possible; they stay together even past
 * the limits).
 * @param transaction - from toImportTransaction
 * @param limits - per chunk
 * @returns the chunks, in order
 */
export function importChunks(transaction: Bundle, limits: { maxEntries: number; maxBytes: number }): ImportChunk[] {
  const entries = transaction.entry ?? [];
  const positionOf = new Map<string, number>();
  entries.forEach((e, i) => {
    if (e.fullUrl) {
      positionOf.set(e.fullUrl, i);
    }
  });
  const chunks: ImportChunk[] = [];
  let current: ImportChunk = { start: 0, entries: [] };
  let bytes = 0;
  let reach = -1;
  entries.forEach((entry, i) => {
    const size = JSON.stringify(entry).length + 1;
    const full = current.entries.length >= limits.maxEntries || bytes + size > limits.maxBytes;
    if (full && current.entries.length > 0 && reach < i) {
      chunks.push(current);
      current = { start: i, entries: [] };
      bytes = 0;
    }
    current.entries.push(entry);
    bytes += size;
    for (const urn of urnsIn(entry)) {
      reach = Math.max(reach, positionOf.get(urn) ?? -1);
    }
  });
  if (current.entries.length > 0) {
    chunks.push(current);
  }
  return chunks;
}

/**
 * A chunk ready to send: urns of entries created by earlier chunks replaced by their new `Type/id`.
 * @param chunk - the chunk
 * @param created - urn → `Type/id` of what earlier chunks created
 * @returns the transaction Bundle for this chunk
 */
export function chunkTransaction(chunk: ImportChunk, created: ReadonlyMap<string, string>): Bundle {
  const entry = chunk.entries.map((e): BundleEntry => {
    const text = JSON.stringify(e.resource ?? {}).replace(URN, (urn) => created.get(urn) ?? urn);
    // Only reference strings changed; the resource's shape is the entry's own.
    return { ...e, resource: JSON.parse(text) as Resource };
  });
  return { resourceType: 'Bundle', type: 'transaction', entry };
}
