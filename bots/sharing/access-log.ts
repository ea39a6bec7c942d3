/**
 * "Who looked" (issue 9 §2), from Medplum's own per-interaction AuditEvents: with the server setting
 * `saveAuditEvents: true`, Medplum 5 persists one AuditEvent for every successful read, history, create, update,
 * patch and delete of a specific resource by a non-system caller (agent.who = the caller's profile, entity.what = the
 * resource; not vread), written by the server — through the caller's own policy, which must allow creating it — not
 * by the caller's app. Searches are not persisted (Medplum only sends them to
 * its log stream with `logAuditEvents`), which is why the clinician view opens each record it shows by id.
 *
 * This module is pure: it groups the owner-relevant events of one grantee into visits.
 */
import type { AuditEvent } from '@medplum/fhirtypes';
import type { AccessLogEntry } from './owner-api.ts';

/** Accesses closer than this belong to one visit. */
export const VISIT_GAP_MS = 30 * 60_000;

export interface Access {
  readonly at: string;
  /** e.g. "Observation: Heart rate variability", "Patient", "Consent". */
  readonly kind: string;
}

/**
 * Successful interactions (outcome 0) and the reference each was about. Grantees may create AuditEvents about
 * themselves (Medplum writes their audit records as them), so only events the server would write count: exactly one
 * agent, and that agent is the event's author (`meta.author`, set by the server); the time is the server's
 * `meta.lastUpdated`, not the writer's `recorded`.
 */
export function accessedReferences(events: readonly AuditEvent[]): { at: string; reference: string }[] {
  const out: { at: string; reference: string }[] = [];
  for (const event of events) {
    const agent = event.agent?.length === 1 ? event.agent[0]?.who?.reference : undefined;
    const at = event.meta?.lastUpdated;
    if (event.outcome !== '0' || !at || !agent || event.meta?.author?.reference !== agent) {
      continue;
    }
    for (const entity of event.entity ?? []) {
      const reference = entity.what?.reference;
      if (reference) {
        // A vread names `Type/id/_history/vid`: the record is `Type/id`.
        out.push({ at, reference: reference.split('/_history/')[0] as string });
      }
    }
  }
  return out;
}

/**
 * Groups accesses into visits, newest first.
 * @param accesses - accesses in any order.
 * @returns One entry per visit with counts per kind.
 */
export function summarizeAccess(accesses: readonly Access[]): AccessLogEntry[] {
  const sorted = [...accesses].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const visits: AccessLogEntry[] = [];
  let current: AccessLogEntry | undefined;
  for (const access of sorted) {
    if (!current || Date.parse(access.at) - Date.parse(current.to) > VISIT_GAP_MS) {
      current = { from: access.at, to: access.at, kinds: {}, count: 0 };
      visits.push(current);
    }
    current.to = access.at;
    current.kinds[access.kind] = (current.kinds[access.kind] ?? 0) + 1;
    current.count++;
  }
  return visits.reverse();
}
