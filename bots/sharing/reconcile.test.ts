import type { ProjectMembership } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import type { Grant } from './grants.ts';
import {
  accessForGrant,
  expiredGrants,
  isGranteeMembership,
  parseSharePolicyIds,
  planAccess,
  withoutShares,
} from './reconcile.ts';

const IDS = { base: 'b', wearable: 'w', derived: 'd', narratives: 'n', alerts: 'a', clinicianBase: 'cb' };
const NOW = new Date('2026-12-06T10:00:00Z');
const grant = (id: string, patient: string, over: Partial<Grant> = {}): Grant => ({
  consentId: id,
  key: `${patient}:k`,
  patientId: patient,
  grantee: { type: 'Practitioner', id: 'dr' },
  groups: ['heart'],
  content: ['wearable'],
  since: '2026-11-01',
  start: '2026-12-01T00:00:00Z',
  end: '2026-12-31T00:00:00Z',
  status: 'active',
  ...over,
});
const BASE_ENTRY = { policy: { reference: 'AccessPolicy/cb' } };
const membership = (access: ProjectMembership['access']): ProjectMembership => ({
  resourceType: 'ProjectMembership',
  project: { reference: 'Project/x' },
  user: { reference: 'User/u' },
  profile: { reference: 'Practitioner/dr' },
  ...(access ? { access } : {}),
});

describe('access entries', () => {
  test('one entry per part of the scope, each bound to the owner, the grant, the codes and the start date', () => {
    const entries = accessForGrant(grant('g1', 'p1', { content: ['wearable', 'alerts'] }), IDS);
    expect(entries.map((e) => e.policy.reference)).toEqual(['AccessPolicy/b', 'AccessPolicy/w', 'AccessPolicy/a']);
    // Each entry carries only what its template uses (a membership must stay far under Medplum's 1 MB limit).
    expect(entries.map((e) => e.parameter?.map((p) => p.name))).toEqual([
      ['patient', 'consent'],
      ['patient', 'consent', 'codes', 'since'],
      ['patient', 'consent', 'since'],
    ]);
    expect(entries[0]?.parameter?.[0]?.valueReference?.reference).toBe('Patient/p1');
    expect(entries[1]?.parameter?.[3]?.valueString).toBe('2026-11-01');
  });

  test('reconcile keeps the base policy, adds grants in force, drops ended ones, and is a no-op when in step', () => {
    const g1 = grant('g1', 'p1');
    const g2 = grant('g2', 'p2', { content: ['derived'] });
    const next = planAccess(membership([BASE_ENTRY]), [g2, g1], IDS, NOW);
    expect(next?.map((e) => e.policy.reference)).toEqual([
      'AccessPolicy/cb',
      'AccessPolicy/b',
      'AccessPolicy/w',
      'AccessPolicy/b',
      'AccessPolicy/d',
    ]);
    expect(planAccess(membership(next), [g1, g2], IDS, NOW)).toBeUndefined();
    const afterRevoke = planAccess(membership(next), [g1, { ...g2, status: 'revoked' }], IDS, NOW);
    expect(afterRevoke?.map((e) => e.policy.reference)).toEqual([
      'AccessPolicy/cb',
      'AccessPolicy/b',
      'AccessPolicy/w',
    ]);
    const afterExpiry = planAccess(membership(next), [g1, g2], IDS, new Date('2026-12-31T00:00:00Z'));
    expect(afterExpiry).toEqual([BASE_ENTRY]);
  });

  test('share entries of templates with old ids (after a redeploy) are recognised by their grant and replaced', () => {
    const stale = {
      policy: { reference: 'AccessPolicy/old' },
      parameter: [{ name: 'consent', valueReference: { reference: 'Consent/g9' } }],
    };
    expect(planAccess(membership([BASE_ENTRY, stale]), [], IDS, NOW)).toEqual([BASE_ENTRY]);
  });

  test('only clinicians’ and the EHR client’s memberships hold grants, never an admin’s', () => {
    const g1 = grant('g1', 'p1');
    expect(isGranteeMembership(membership([BASE_ENTRY]), IDS)).toBe(true);
    expect(isGranteeMembership({ ...membership([BASE_ENTRY]), admin: true }, IDS)).toBe(false);
    expect(isGranteeMembership(membership([]), IDS)).toBe(false);
    expect(isGranteeMembership(membership([{ policy: { reference: 'AccessPolicy/ehr' } }]), IDS, 'ehr')).toBe(true);
    expect(withoutShares(membership([BASE_ENTRY, ...accessForGrant(g1, IDS)]), IDS)).toEqual([BASE_ENTRY]);
  });

  test('expired grants are those still active past their end', () => {
    expect(expiredGrants([grant('g1', 'p1')], new Date('2026-12-31T00:00:01Z')).map((g) => g.consentId)).toEqual([
      'g1',
    ]);
    expect(expiredGrants([grant('g1', 'p1', { status: 'revoked' })], new Date('2027-01-01T00:00:00Z'))).toEqual([]);
  });

  test('the template ids come from the deploy-owned secret, with a clear error when it is missing', () => {
    expect(parseSharePolicyIds(JSON.stringify(IDS))).toEqual(IDS);
    expect(() => parseSharePolicyIds(undefined)).toThrow(
      'Sharing is not set up on this server: the BASELINE_SHARE_POLICIES secret is missing (run deploy)'
    );
    expect(() => parseSharePolicyIds('{"base":"b"}')).toThrow('secret is malformed (run deploy)');
  });
});
