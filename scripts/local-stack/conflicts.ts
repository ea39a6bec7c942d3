/**
 * Medplum runs each write in a serializable Postgres transaction; two that read and write overlapping rows at once can
 * fail with SQLSTATE 40001, which Medplum answers with a 409 `conflict` outcome "could not serialize access …"
 * (server `normalizeDatabaseError`: `conflict(err.message, err.code)`). Seen on a real 5.0.10 inside batches, when an
 * owner's recompute and a sync wrote at the same time. The stand-in applies one write at a time, so it never loses
 * such a race by itself: a test arms this to make the next writes of a resource type lose one, exactly as Medplum
 * reports it, and checks that nothing is lost.
 */
import { conflict, OperationOutcomeError } from '@medplum/core';

/** Postgres' message for the failure Medplum saw (SQLSTATE 40001). */
export const SERIALIZATION_FAILURE_MESSAGE =
  'could not serialize access due to read/write dependencies among transactions';

export class SerializationConflicts {
  private readonly armed = new Map<string, number>();

  /**
   * @param resourceType - which writes lose
   * @param count - how many of the next creates and updates of that type (by any caller but the stack itself) fail
   */
  arm(resourceType: string, count: number): void {
    this.armed.set(resourceType, (this.armed.get(resourceType) ?? 0) + count);
  }

  /** @returns how many armed failures of that type are still to come */
  remaining(resourceType: string): number {
    return this.armed.get(resourceType) ?? 0;
  }

  /**
   * Called before a create or update runs.
   * @param resourceType - the written type
   * @throws Medplum's 409 outcome when a failure is armed for the type
   */
  check(resourceType: string): void {
    const left = this.armed.get(resourceType) ?? 0;
    if (left <= 0) {
      return;
    }
    this.armed.set(resourceType, left - 1);
    throw new OperationOutcomeError(conflict(SERIALIZATION_FAILURE_MESSAGE, '40001'));
  }
}
