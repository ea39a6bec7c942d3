/**
 * Small helpers shared by the FHIR write paths: the identifier query conditional requests and searches use, and the
 * one-line summary of failed batch entries a failed Task carries. The ingestion write path itself is
 * write-changed.ts (read in bulk, write only what changed, within the FHIR quota).
 */

export interface UpsertIdentifier {
  readonly system: string;
  readonly value: string;
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

/**
 * @param identifier - the identifier
 * @returns `identifier=<system>|<value>` URL-encoded, for conditional URLs and searches
 */
export function identifierQuery(identifier: UpsertIdentifier): string {
  return new URLSearchParams({ identifier: `${identifier.system}|${identifier.value}` }).toString();
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
