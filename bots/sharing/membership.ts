/**
 * Reconciling grantees' memberships with the Consents (the I/O around reconcile.ts). Run by the `share` bot right
 * after it writes a Consent (so a grant or revoke holds from the grantee's next request) and by the `share-reconcile`
 * cron every minute (expiry, and repair of any run that failed half-way).
 *
 * A grantee is a Practitioner (their own membership) or an Organization standing for an EHR client: the Organization
 * carries the ClientApplication's id in EHR_CLIENT_IDENTIFIER_SYSTEM, and the grant lands on that client's
 * membership. Writes carry If-Match, so a concurrent change (another grant, an admin edit) is re-read, not lost.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Consent, Organization, ProjectMembership } from '@medplum/fhirtypes';
import { isAbsent, updateIfUnchanged } from '../shared/fhir-write.ts';
import { searchAll } from '../shared/search.ts';
import { IDENTIFIER_BASE } from '../shared/systems.ts';
import { endConsent, isInForce, parseGrant, SHARE_CATEGORY_TOKEN } from './grants.ts';
import type { Grant } from './grants.ts';
import { expiredGrants, hasShareEntries, isGranteeMembership, planAccess, withoutShares } from './reconcile.ts';
import type { SharePolicyIds } from './reconcile.ts';

/** On an Organization: the id of the ClientApplication (EHR backend client) that acts for it. */
export const EHR_CLIENT_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/ehr-client';

const ATTEMPTS = 5;

export interface ReconcileReport {
  /** Memberships whose share entries changed. */
  updated: number;
  /** Grants marked expired in this run. */
  expired: number;
  /** Share Consents that are not well-formed and so give no access. */
  invalid: number;
  /** Memberships that could not be written (their share entries were removed instead, failing closed). */
  failed?: number;
}

/**
 * The membership profile that acts for a grantee.
 * @param medplum - client (the sharing bot).
 * @param grantee - `Practitioner/<id>` or `Organization/<id>`.
 * @returns The profile reference string, or undefined for an Organization with no EHR client.
 */
export async function actingProfile(medplum: MedplumClient, grantee: string): Promise<string | undefined> {
  if (grantee.startsWith('Practitioner/')) {
    return grantee;
  }
  let org: WithId<Organization>;
  try {
    org = await medplum.readReference<Organization>({ reference: grantee }, { cache: 'no-cache' });
  } catch (err) {
    if (isAbsent(err)) {
      return undefined;
    }
    throw err;
  }
  const client = org.identifier?.find((i) => i.system === EHR_CLIENT_IDENTIFIER_SYSTEM)?.value;
  return client ? `ClientApplication/${client}` : undefined;
}

/** Every grant naming this grantee that is still marked active (the only ones that can give access). */
async function activeGrantsOf(
  medplum: MedplumClient,
  grantee: string
): Promise<{ grants: Grant[]; raw: WithId<Consent>[]; invalid: number }> {
  const raw = await searchAll(medplum, 'Consent', { actor: grantee, category: SHARE_CATEGORY_TOKEN, status: 'active' });
  const grants: Grant[] = [];
  let invalid = 0;
  for (const consent of raw) {
    const parsed = parseGrant(consent);
    if (parsed.ok) {
      grants.push(parsed.grant);
    } else {
      invalid++;
    }
  }
  return { grants, raw, invalid };
}

async function markExpired(
  medplum: MedplumClient,
  grants: readonly Grant[],
  raw: readonly WithId<Consent>[],
  now: Date
): Promise<number> {
  let marked = 0;
  for (const grant of expiredGrants(grants, now)) {
    const stored = raw.find((c) => c.id === grant.consentId);
    if (stored && (await updateIfUnchanged(medplum, endConsent(stored, 'expired', now), stored))) {
      marked++;
    }
  }
  return marked;
}

/**
 * Brings one membership's share entries in line with the grants. On a concurrent change it re-reads the membership
 * *and* the grants (a revoke meanwhile must not be undone by a stale list). A membership that may not hold grants
 * (an admin's, or one without the clinician or EHR base policy) gets none. Fails closed: if the desired entries
 * cannot be written (e.g. the body limit), every share entry is removed, so a failure never leaves access in place.
 */
async function applyToMembership(
  medplum: MedplumClient,
  membership: WithId<ProjectMembership>,
  loadGrants: () => Promise<readonly Grant[]>,
  ids: SharePolicyIds,
  now: Date
): Promise<boolean> {
  let current = membership;
  let grants = await loadGrants();
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const eligible = isGranteeMembership(current, ids, ids.ehrClient);
      const next = planAccess(current, eligible ? grants : [], ids, now);
      if (!next) {
        return false;
      }
      if (await updateIfUnchanged(medplum, { ...current, access: next }, current)) {
        return true;
      }
      current = await medplum.readResource('ProjectMembership', current.id, { cache: 'no-cache' });
      grants = await loadGrants();
    }
    throw new Error(`ProjectMembership/${membership.id} kept changing; the next reconcile will retry`);
  } catch (err) {
    const fresh = await medplum.readResource('ProjectMembership', membership.id, { cache: 'no-cache' });
    if (hasShareEntries(fresh, ids)) {
      await medplum.updateResource({ ...fresh, access: withoutShares(fresh, ids) });
    }
    throw err;
  }
}

/**
 * Reconciles one grantee: their grants in force become their membership's share entries, expired ones are marked.
 * @param medplum - client (the sharing bot, a project admin).
 * @param grantee - `Practitioner/<id>` or `Organization/<id>`.
 * @param ids - the share template ids.
 * @param now - the current time.
 * @returns What changed.
 */
export async function reconcileGrantee(
  medplum: MedplumClient,
  grantee: string,
  ids: SharePolicyIds,
  now: Date
): Promise<ReconcileReport> {
  const { grants, raw, invalid } = await activeGrantsOf(medplum, grantee);
  const expired = await markExpired(medplum, grants, raw, now);
  const profile = await actingProfile(medplum, grantee);
  let updated = 0;
  if (profile) {
    const memberships = await searchAll(medplum, 'ProjectMembership', { profile });
    const load = async (): Promise<Grant[]> => (await activeGrantsOf(medplum, grantee)).grants;
    for (const membership of memberships) {
      if (await applyToMembership(medplum, membership, load, ids, now)) {
        updated++;
      }
    }
  }
  return { updated, expired, invalid };
}

/**
 * Reconciles every grantee: those named by an active share Consent and every membership still holding a share
 * entry (whose grants may all have ended).
 * @param medplum - client (the sharing bot, a project admin).
 * @param ids - the share template ids.
 * @param now - the current time.
 * @returns What changed.
 */
export async function reconcileAll(medplum: MedplumClient, ids: SharePolicyIds, now: Date): Promise<ReconcileReport> {
  const consents = await searchAll(medplum, 'Consent', { category: SHARE_CATEGORY_TOKEN, status: 'active' });
  const byGrantee = new Map<string, { grants: Grant[]; raw: WithId<Consent>[] }>();
  let invalid = 0;
  for (const consent of consents) {
    const parsed = parseGrant(consent);
    if (!parsed.ok) {
      invalid++;
      continue;
    }
    const ref = `${parsed.grant.grantee.type}/${parsed.grant.grantee.id}`;
    const entry = byGrantee.get(ref) ?? { grants: [], raw: [] };
    entry.grants.push(parsed.grant);
    entry.raw.push(consent);
    byGrantee.set(ref, entry);
  }
  let expired = 0;
  for (const entry of byGrantee.values()) {
    expired += await markExpired(medplum, entry.grants, entry.raw, now);
  }
  const holding = await searchAll(medplum, 'ProjectMembership', { 'access-policy': `AccessPolicy/${ids.base}` });
  const seen = new Set<string>();
  let updated = 0;
  let failed = 0;
  // One membership that cannot be written must not stop the others' reconcile (their expiries above all).
  const apply = async (membership: WithId<ProjectMembership>, grantee: string | undefined): Promise<void> => {
    try {
      const load = async (): Promise<Grant[]> =>
        grantee ? (await activeGrantsOf(medplum, grantee)).grants.filter((g) => isInForce(g, now)) : [];
      if (await applyToMembership(medplum, membership, load, ids, now)) {
        updated++;
      }
    } catch (err) {
      failed++;
      console.log(JSON.stringify({ bot: 'share-reconcile', membership: membership.id, error: String(err) }));
    }
  };
  const granteeOf = new Map<string, string>();
  for (const [grantee] of byGrantee) {
    const profile = await actingProfile(medplum, grantee);
    if (profile) {
      granteeOf.set(profile, grantee);
    }
  }
  for (const membership of holding) {
    seen.add(membership.id);
    if (hasShareEntries(membership, ids)) {
      await apply(membership, granteeOf.get(membership.profile?.reference ?? ''));
    }
  }
  for (const [profile, grantee] of granteeOf) {
    for (const membership of await searchAll(medplum, 'ProjectMembership', { profile })) {
      if (!seen.has(membership.id)) {
        await apply(membership, grantee);
      }
    }
  }
  return { updated, expired, invalid, ...(failed > 0 ? { failed } : {}) };
}
