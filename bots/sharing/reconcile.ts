/**
 * From grants to `ProjectMembership.access[]` (pure). Each grant in force becomes one entry per part of its scope,
 * each a parameterized AccessPolicy template (data/core/access-policies.ts) bound to the owner:
 * `patient` (the owner), `consent` (the grant, so the grantee can read its scope and expiry), `codes` (the metric
 * tokens of the chosen groups) and `since` (the first day of data shared). Medplum substitutes them as text into the
 * template's criteria and ORs entries, so grants from several owners (each bound to its own patient) combine without
 * widening one another.
 *
 * The membership is reconciled, never edited incrementally: every share entry is recomputed from the Consents and
 * the rest of `access[]` (the clinician's base policy) is kept, so a lost or doubled run is repaired by the next.
 */
import type { ProjectMembership, ProjectMembershipAccess } from '@medplum/fhirtypes';
import { z } from 'zod';
import { isInForce, metricTokens } from './grants.ts';
import type { Grant } from './grants.ts';

/** AccessPolicy keys (meta.tag codes) of the share templates, one per part of a grant's scope. */
export const SHARE_POLICY_KEYS = {
  base: 'clinician-share',
  wearable: 'clinician-share-wearable',
  derived: 'clinician-share-derived',
  narratives: 'clinician-share-narratives',
  alerts: 'clinician-share-alerts',
} as const;
export type SharePart = keyof typeof SHARE_POLICY_KEYS;

/** Project secret deploy writes: the ids of the share templates and of the clinician base policy on this server. */
export const SHARE_POLICIES_SECRET = 'BASELINE_SHARE_POLICIES';

export const SharePolicyIdsSchema = z.strictObject({
  base: z.string().min(1),
  wearable: z.string().min(1),
  derived: z.string().min(1),
  narratives: z.string().min(1),
  alerts: z.string().min(1),
  clinicianBase: z.string().min(1),
  /** The EHR client's standing policy (its membership is a grantee's); absent in secrets from before it was added. */
  ehrClient: z.string().min(1).optional(),
});
export type SharePolicyIds = z.infer<typeof SharePolicyIdsSchema>;

/**
 * Reads the secret; a missing or malformed one is an operator error (run deploy).
 * @param value - the secret's valueString.
 * @returns The policy ids.
 */
export function parseSharePolicyIds(value: string | undefined): SharePolicyIds {
  if (!value) {
    throw new Error(
      `Sharing is not set up on this server: the ${SHARE_POLICIES_SECRET} secret is missing (run deploy)`
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    json = undefined;
  }
  const parsed = SharePolicyIdsSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `Sharing is not set up on this server: the ${SHARE_POLICIES_SECRET} secret is malformed (run deploy)`
    );
  }
  return parsed.data;
}

function policyRef(id: string): { reference: string } {
  return { reference: `AccessPolicy/${id}` };
}

/**
 * The access entries one grant gives, in a fixed order.
 * @param grant - a grant (in force or not; the caller decides).
 * @param ids - the template ids.
 * @returns Entries for the grantee's membership.
 */
export function accessForGrant(grant: Grant, ids: SharePolicyIds): ProjectMembershipAccess[] {
  const patient = { name: 'patient', valueReference: { reference: `Patient/${grant.patientId}` } };
  // Every entry names its grant (that is how reconcile knows a share entry, whatever the policy's id), and carries
  // only the parameters its template uses: a membership is one resource under Medplum's 1 MB body limit, and the
  // metric list is the bulk of an entry.
  const consent = { name: 'consent', valueReference: { reference: `Consent/${grant.consentId}` } };
  const codes = { name: 'codes', valueString: metricTokens(grant.groups) };
  const since = { name: 'since', valueString: grant.since };
  const entries: ProjectMembershipAccess[] = [{ policy: policyRef(ids.base), parameter: [patient, consent] }];
  for (const content of ['wearable', 'derived', 'narratives', 'alerts'] as const) {
    if (grant.content.includes(content)) {
      const parameter =
        content === 'wearable' || content === 'derived' ? [patient, consent, codes, since] : [patient, consent, since];
      entries.push({ policy: policyRef(ids[content]), parameter });
    }
  }
  return entries.map((e) => ({ policy: { ...e.policy }, parameter: (e.parameter ?? []).map((p) => ({ ...p })) }));
}

/**
 * A share entry: one bound to a grant (a `consent` parameter), or one naming a share template. The parameter
 * matters after a redeploy that gave the templates new ids: entries of the old ids are still recognised and
 * replaced, never kept as if they were someone else's.
 */
function isShareEntry(entry: ProjectMembershipAccess, ids: SharePolicyIds): boolean {
  const shareRefs = (Object.keys(SHARE_POLICY_KEYS) as SharePart[]).map((part) => policyRef(ids[part]).reference);
  return (
    shareRefs.includes(entry.policy.reference ?? '') ||
    (entry.parameter ?? []).some((p) => p.name === 'consent' && p.valueReference?.reference?.startsWith('Consent/'))
  );
}

/** Most grants one grantee may hold at once: a membership must stay far under Medplum's 1 MB body limit. */
export const MAX_GRANTS_PER_GRANTEE = 100;
/** Most grants in force one owner may have at once. */
export const MAX_GRANTS_PER_OWNER = 20;

/**
 * Whether a membership may receive grants: a clinician's (the clinician base policy) or the EHR client's, never an
 * admin's (an admin reads everything anyway, and a grant would only narrow and un-audit them).
 */
export function isGranteeMembership(membership: ProjectMembership, ids: SharePolicyIds, ehrPolicyId?: string): boolean {
  if (membership.admin) {
    return false;
  }
  const policies = [membership.accessPolicy?.reference, ...(membership.access ?? []).map((a) => a.policy.reference)];
  return policies.some(
    (ref) =>
      ref === `AccessPolicy/${ids.clinicianBase}` ||
      (ehrPolicyId !== undefined && ref === `AccessPolicy/${ehrPolicyId}`)
  );
}

/** The membership with no share entry at all: what a failed reconcile writes, so a failure never leaves access. */
export function withoutShares(membership: ProjectMembership, ids: SharePolicyIds): ProjectMembershipAccess[] {
  return (membership.access ?? []).filter((entry) => !isShareEntry(entry, ids));
}

/** Whether a membership holds any share entry (the reconciler must look at it even with no grant left). */
export function hasShareEntries(membership: ProjectMembership, ids: SharePolicyIds): boolean {
  return (membership.access ?? []).some((entry) => isShareEntry(entry, ids));
}

/**
 * The membership's `access[]` as the grants say it should be, or undefined when it already is.
 * @param membership - the grantee's membership as stored.
 * @param grants - every grant naming this grantee (any status; only those in force give access).
 * @param ids - the template ids.
 * @param now - the current time.
 * @returns The new `access[]`, or undefined for "no change".
 */
export function planAccess(
  membership: ProjectMembership,
  grants: readonly Grant[],
  ids: SharePolicyIds,
  now: Date
): ProjectMembershipAccess[] | undefined {
  const current = membership.access ?? [];
  const kept = current.filter((entry) => !isShareEntry(entry, ids));
  const desired = grants
    .filter((grant) => isInForce(grant, now))
    .sort((a, b) => a.consentId.localeCompare(b.consentId))
    .slice(0, MAX_GRANTS_PER_GRANTEE)
    .flatMap((grant) => accessForGrant(grant, ids));
  const next = [...kept, ...desired];
  return JSON.stringify(next) === JSON.stringify(current) ? undefined : next;
}

/** Grants that are still `active` but past their end: the reconciler marks them expired. */
export function expiredGrants(grants: readonly Grant[], now: Date): Grant[] {
  return grants.filter((grant) => grant.status === 'active' && Date.parse(grant.end) <= now.getTime());
}
