/**
 * Idempotent writes by identifier: `batch` Bundles of `PUT <Type>?identifier=<system>|<value>`.
 *
 * Why `batch` and not `transaction`: with the `transaction-bundles` feature Medplum caps a transaction at 8 entries as
 * soon as one is conditional, and without it a transaction is processed as a batch anyway (medplum.md §0.18). A batch
 * reports each entry separately, so one bad Observation cannot hide the other 199.
 *
 * Classification of each entry by its response: 201 → created; 200 whose lastModified (or the returned
 * meta.lastUpdated) is older than the moment the batch was sent → unchanged, because Medplum skips no-op updates and
 * returns the stored version (medplum.md §0.10); any other 2xx → updated; anything else → a failure the caller turns
 * into a failed Task with a summary. MockClient's in-memory repository always writes a new version, so the
 * "unchanged" path is only observable against a real Medplum (the lead's integration test).
 */
import type { MedplumClient } from '@medplum/core';
import type { Bundle, BundleEntry, Identifier, Resource } from '@medplum/fhirtypes';

export interface UpsertIdentifier {
  readonly system: string;
  readonly value: string;
}

export interface UpsertItem<T extends Resource = Resource> {
  readonly resource: T;
  readonly identifier: UpsertIdentifier;
}

export interface UpsertFailure {
  readonly identifier: UpsertIdentifier;
  /** HTTP status of the entry ('missing' when the response had no entry for it). */
  readonly status: string;
  readonly message: string;
}

export interface UpsertResult {
  created: number;
  updated: number;
  unchanged: number;
  failures: UpsertFailure[];
}

export interface UpsertOptions {
  /** Entries per Bundle; 200 Observations stay far below the 1 MB sync-batch body limit. */
  readonly chunkSize?: number;
  /** Clock, for tests; the write time is compared with the server's lastUpdated (same host in vmcontext). */
  readonly now?: () => number;
}

type BatchClient = Pick<MedplumClient, 'executeBatch'>;

/**
 * @param identifier - the identifier
 * @returns `identifier=<system>|<value>` URL-encoded, for conditional URLs and searches
 */
export function identifierQuery(identifier: UpsertIdentifier): string {
  return new URLSearchParams({ identifier: `${identifier.system}|${identifier.value}` }).toString();
}

function carries(resource: Resource, identifier: UpsertIdentifier): boolean {
  const identifiers: Identifier[] | Identifier | undefined = 'identifier' in resource ? resource.identifier : undefined;
  const list = Array.isArray(identifiers) ? identifiers : identifiers ? [identifiers] : [];
  return list.some((i) => i.system === identifier.system && i.value === identifier.value);
}

function entryMessage(entry: BundleEntry | undefined): string {
  const issues = entry?.response?.outcome?.issue ?? [];
  const text = issues
    .map((issue) => issue.details?.text ?? issue.diagnostics ?? issue.code)
    .filter((t) => t)
    .join('; ');
  return text || 'no outcome';
}

function classify(entry: BundleEntry | undefined, sentAt: number): 'created' | 'updated' | 'unchanged' | 'failed' {
  const status = Number.parseInt(entry?.response?.status ?? '', 10);
  if (status === 201) {
    return 'created';
  }
  if (status === 200) {
    const stamp = entry?.response?.lastModified ?? entry?.resource?.meta?.lastUpdated;
    const modifiedAt = stamp ? Date.parse(stamp) : Number.NaN;
    return !Number.isNaN(modifiedAt) && modifiedAt < sentAt ? 'unchanged' : 'updated';
  }
  if (status >= 200 && status < 300) {
    return 'updated';
  }
  return 'failed';
}

/**
 * Upserts resources by identifier in batch Bundles. Items with the same identifier are written once (the last one
 * wins) because two PUTs on one identifier in a batch race each other.
 * @param medplum - client (the bot's)
 * @param items - resources and the identifier each is keyed by (the resource must carry it)
 * @param options - chunk size, clock
 * @returns counts and the failed entries
 */
export async function upsertByIdentifier(
  medplum: BatchClient,
  items: readonly UpsertItem[],
  options: UpsertOptions = {}
): Promise<UpsertResult> {
  const chunkSize = options.chunkSize ?? 200;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new Error(`chunkSize must be a positive integer, got ${chunkSize}`);
  }
  const now = options.now ?? Date.now;
  const unique = new Map<string, UpsertItem>();
  for (const item of items) {
    if (!carries(item.resource, item.identifier)) {
      throw new Error(
        `${item.resource.resourceType} for ${item.identifier.system}|${item.identifier.value} does not carry that identifier`
      );
    }
    const key = `${item.resource.resourceType} ${item.identifier.system}|${item.identifier.value}`;
    unique.delete(key);
    unique.set(key, item);
  }
  const all = [...unique.values()];
  const result: UpsertResult = { created: 0, updated: 0, unchanged: 0, failures: [] };
  for (let offset = 0; offset < all.length; offset += chunkSize) {
    const chunk = all.slice(offset, offset + chunkSize);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: chunk.map((item) => ({
        resource: item.resource,
        request: { method: 'PUT', url: `${item.resource.resourceType}?${identifierQuery(item.identifier)}` },
      })),
    };
    const sentAt = now();
    const response = await medplum.executeBatch(bundle);
    chunk.forEach((item, index) => {
      const entry = response.entry?.[index];
      const verdict = classify(entry, sentAt);
      if (verdict === 'failed') {
        result.failures.push({
          identifier: { system: item.identifier.system, value: item.identifier.value },
          status: entry?.response?.status ?? 'missing',
          message: entryMessage(entry),
        });
      } else {
        result[verdict] += 1;
      }
    });
  }
  return result;
}

/**
 * @param result - an upsert result
 * @returns one line for a Task's businessStatus, e.g. `2 of 150 writes failed: 400 Observation ... (first 3)`
 */
export function summarizeFailures(result: UpsertResult): string {
  const total = result.created + result.updated + result.unchanged + result.failures.length;
  const first = result.failures
    .slice(0, 3)
    .map((f) => `${f.status} ${f.identifier.value}: ${f.message}`)
    .join('; ');
  return `${result.failures.length} of ${total} writes failed: ${first}`;
}
