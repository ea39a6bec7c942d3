/**
 * Versioned writes. Medplum's optimistic locking (`If-Match: W/"<versionId>"`) is what makes a claim (a Task moving
 * to in-progress, a refresh lease on a connection, a state marked used) single-winner across concurrent bot runs.
 */
import { getStatus, isOperationOutcome, normalizeOperationOutcome } from '@medplum/core';
import type { MedplumClient, WithId } from '@medplum/core';
import type { ExtractResource, Resource, ResourceType } from '@medplum/fhirtypes';

/** True when the server refused a write because the resource changed since it was read (HTTP 412). */
export function isPreconditionFailed(err: unknown): boolean {
  const outcome = isOperationOutcome(err) ? err : normalizeOperationOutcome(err);
  return getStatus(outcome) === 412 || outcome.issue?.some((i) => i.details?.text === 'Precondition Failed') === true;
}

/**
 * Updates `next` only if the stored version is still `expected`'s.
 * @param medplum - client
 * @param next - the new content (same id)
 * @param expected - the version it was derived from
 * @returns the written resource, or undefined when another writer got there first
 */
export async function updateIfUnchanged<T extends Resource>(
  medplum: MedplumClient,
  next: T,
  expected: Resource
): Promise<WithId<T> | undefined> {
  const versionId = expected.meta?.versionId;
  if (!versionId) {
    throw new Error(`${expected.resourceType}/${expected.id ?? '(new)'} has no versionId to lock on`);
  }
  try {
    return await medplum.updateResource(next, { headers: { 'If-Match': `W/"${versionId}"` } });
  } catch (err) {
    if (isPreconditionFailed(err)) {
      return undefined;
    }
    throw err;
  }
}

/**
 * Read-modify-write with retries on concurrent change (for small bookkeeping like `last-sync`).
 * @param medplum - client
 * @param resourceType - type
 * @param id - id
 * @param change - pure function from the current version to the next
 * @param attempts - how many times to retry a lost race
 * @returns the written resource
 */
export async function updateWithRetry<K extends ResourceType>(
  medplum: MedplumClient,
  resourceType: K,
  id: string,
  change: (current: WithId<ExtractResource<K>>) => ExtractResource<K>,
  attempts = 5
): Promise<WithId<ExtractResource<K>>> {
  for (let i = 0; i < attempts; i++) {
    const current = await medplum.readResource(resourceType, id, { cache: 'no-cache' });
    const written = await updateIfUnchanged(medplum, change(current), current);
    if (written) {
      return written;
    }
  }
  throw new Error(`${resourceType}/${id} kept changing; gave up after ${attempts} attempts`);
}

/**
 * Medplum's answer for a record that is not there: not-found (never existed, or outside the caller's policy — Medplum
 * does not tell the two apart) or gone (deleted).
 * @param err - what a MedplumClient call threw
 * @returns whether it means "absent"
 */
export function isAbsent(err: unknown): boolean {
  const outcome = (err as { outcome?: { issue?: { code?: string }[] } } | undefined)?.outcome;
  return outcome?.issue?.some((i) => i.code === 'not-found' || i.code === 'deleted') === true;
}
