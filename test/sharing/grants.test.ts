/**
 * Grants end to end over real HTTP (issue 9 §1): the owner's `share` bot writes the Consent and the grantee's
 * membership; the clinician, with the token they signed in with before the grant, sees exactly the scope; a revoke
 * and an expiry take effect on their next request; two owners' grants combine without widening each other; bad
 * requests get their exact message and change nothing.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Consent, Patient, Practitioner, ProjectMembership } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SHARE_ENDED_EXTENSION } from '../../bots/sharing/grants.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { bot } from '../whoop/helpers.ts';
import { daysAgo, seedRecord } from '../../scripts/e2e/sharing-record.ts';
import type { OwnerRecord } from '../../scripts/e2e/sharing-record.ts';
import { canRead, grant, readStatus, revoke, searchIds, share, shareError } from '../../scripts/e2e/sharing-client.ts';

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let clinician: MedplumClient;
let a: OwnerRecord;
let b: OwnerRecord;
let drId: string;

beforeAll(async () => {
  env = await startTestStack();
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  clinician = await env.signIn('clinician');
  const pa = (await owner.getProfileAsync()) as WithId<Patient>;
  const pb = (await other.getProfileAsync()) as WithId<Patient>;
  drId = ((await clinician.getProfileAsync()) as WithId<Practitioner>).id;
  a = await seedRecord(env.adminClient, `Patient/${pa.id}`);
  b = await seedRecord(env.adminClient, `Patient/${pb.id}`);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

async function membershipOf(profile: string): Promise<WithId<ProjectMembership>> {
  const found = await env.adminClient.searchOne('ProjectMembership', { profile }, { cache: 'no-cache' });
  if (!found) {
    throw new Error(`no membership for ${profile}`);
  }
  return found;
}

describe('before any grant', () => {
  test('the clinician sees no patient data at all', async () => {
    for (const resource of [...a.all, ...b.all]) {
      expect(await canRead(clinician, resource), `${resource.resourceType}/${resource.id}`).toBe(false);
    }
    expect(await searchIds(clinician, 'Observation')).toEqual([]);
    expect(await searchIds(clinician, 'Patient')).toEqual([]);
  });
});

describe('bad requests change nothing', () => {
  const base = {
    action: 'create',
    key: '7d0f4a6e-1b2c-4d3e-8f9a-0b1c2d3e4f5a',
    grantee: { practitioner: 'unknown' },
    groups: ['heart'],
    content: ['wearable'],
    since: daysAgo(30),
  };

  test.each([
    [{ ...base }, 'Invalid sharing request: until: Choose when the grant ends (at most 90 days from now)'],
    [{ ...base, until: daysAgo(-91) }, 'A grant may last at most 90 days'],
    [{ ...base, until: daysAgo(1) }, 'The grant must end in the future'],
    [
      { ...base, until: daysAgo(-10), groups: [] },
      'Invalid sharing request: groups: Choose at least one group of metrics',
    ],
    [{ ...base, until: daysAgo(-10), since: daysAgo(-2) }, 'The first day of data shared cannot be in the future'],
    [{ ...base, until: daysAgo(-10) }, 'No such clinician in this project'],
    [{ ...base, until: daysAgo(-10), grantee: { organization: 'nope' } }, 'No such EHR in this project'],
    [{ action: 'revoke', id: 'nope' }, 'No such grant'],
  ])('%j → %s', async (input, message) => {
    expect(await shareError(owner, input)).toBe(message);
  });

  test('no Consent was written by any of them, and owners cannot write Consents directly', async () => {
    expect(await searchIds(env.adminClient, 'Consent')).toEqual([]);
    const direct = await shareError(owner, undefined);
    expect(direct).toContain('Invalid sharing request');
    await expect(
      owner.createResource<Consent>({
        resourceType: 'Consent',
        status: 'active',
        scope: { text: 'x' },
        category: [{ text: 'x' }],
        patient: { reference: a.patient },
      })
    ).rejects.toThrow('Forbidden');
  });

  test('a clinician or a patient who is not signed in as the owner cannot use the bot on their behalf', async () => {
    expect(await shareError(clinician, { action: 'list' })).toMatch(/Only a signed-in patient can do this|Forbidden/);
  });
});

describe('a grant, a revoke and an expiry', () => {
  let grantId = '';

  test('the grant is a Consent in the owner’s record and lands on the clinician’s membership', async () => {
    const view = await grant(owner, {
      grantee: { practitioner: drId },
      groups: ['heart'],
      content: ['wearable', 'derived'],
      sinceDaysAgo: 30,
    });
    grantId = view.id;
    expect(view).toMatchObject({
      grantee: { reference: `Practitioner/${drId}`, display: 'Jordan Lee', kind: 'clinician' },
      groups: ['heart'],
      content: ['wearable', 'derived'],
      status: 'active',
    });
    const consent = await owner.readResource('Consent', grantId);
    expect(consent.patient?.reference).toBe(a.patient);
    expect(consent.provision?.actor?.[0]?.reference.reference).toBe(`Practitioner/${drId}`);
    const membership = await membershipOf(`Practitioner/${drId}`);
    // One entry per part of the scope: the base (owner, devices, the grant), wearable values, derived insights.
    expect(membership.access?.length).toBe(3);
    // The owner sees it in their list; the other owner does not, and cannot revoke it.
    const list = await share(owner, { action: 'list' });
    expect('grants' in list && list.grants.map((g) => g.id)).toEqual([grantId]);
    const otherList = await share(other, { action: 'list' });
    expect('grants' in otherList && otherList.grants).toEqual([]);
    expect(await shareError(other, { action: 'revoke', id: grantId })).toBe('No such grant');
  });

  test('with the token from before the grant, the clinician sees exactly the scope', async () => {
    expect(await canRead(clinician, a.hrvRecent)).toBe(true);
    expect(await canRead(clinician, a.rhrRecent)).toBe(true);
    expect(await canRead(clinician, a.band)).toBe(true);
    // Not before the start date, not another group, not narratives or alerts (not chosen), not the work items.
    for (const hidden of [a.hrvOld, a.sleepRecent, a.narrative, a.flag, a.communication, a.task, a.connection]) {
      expect(await readStatus(clinician, hidden), `${hidden.resourceType}/${hidden.id}`).not.toBe(200);
    }
    // Not the other owner.
    for (const resource of b.all) {
      expect(await canRead(clinician, resource)).toBe(false);
    }
    expect((await searchIds(clinician, 'Observation')).sort()).toEqual(
      [a.hrvRecent.id, a.rhrRecent.id, a.band.id].sort()
    );
    expect(await searchIds(clinician, 'Patient')).toEqual([a.patient.split('/')[1]]);
    expect(await canRead(clinician, a.device)).toBe(true);
    expect(await searchIds(clinician, 'Consent')).toEqual([grantId]);
    // Read-only.
    await expect(clinician.updateResource({ ...a.hrvRecent, status: 'entered-in-error' })).rejects.toThrow();
  });

  test('who looked: the owner sees the clinician’s reads, from the server’s own AuditEvents', async () => {
    const before = await share(owner, { action: 'access-log', id: grantId });
    const seen = 'total' in before ? before.total : -1;
    await clinician.readResource('Observation', a.hrvRecent.id, { cache: 'no-cache' });
    await clinician.readResource('Observation', a.band.id, { cache: 'no-cache' });
    // Reads of another owner's record are not this grant's business, and searches are not stored by Medplum.
    await clinician.searchResources('Observation', {}, { cache: 'no-cache' });
    const after = await share(owner, { action: 'access-log', id: grantId });
    expect('total' in after && after.total).toBe(seen + 2);
    const visit = 'accessLog' in after ? after.accessLog[0] : undefined;
    expect(visit?.kinds['Observation: HRV (RMSSD)']).toBeGreaterThanOrEqual(1);
    expect(visit?.kinds['Observation: Personal baseline band']).toBeGreaterThanOrEqual(1);
    // Another owner cannot read this grant's log.
    expect(await shareError(other, { action: 'access-log', id: grantId })).toBe('No such grant');
  });

  test('a doubled submit makes one grant', async () => {
    const key = '3f2e1d0c-9b8a-4765-8432-10fedcba9876';
    const input = {
      action: 'create' as const,
      key,
      grantee: { practitioner: drId },
      groups: ['sleep' as const],
      content: ['wearable' as const],
      since: daysAgo(30),
      until: daysAgo(-20),
    };
    const [one, two] = await Promise.all([share(owner, input), share(owner, input)]);
    expect('grant' in one && 'grant' in two && one.grant.id === two.grant.id).toBe(true);
    const list = await share(owner, { action: 'list' });
    expect('grants' in list && list.grants.length).toBe(2);
    if ('grant' in one) {
      await revoke(owner, one.grant.id);
    }
  });

  test('revoke: the clinician’s next request is denied, with the same token', async () => {
    expect(await canRead(clinician, a.hrvRecent)).toBe(true);
    const revoked = await revoke(owner, grantId);
    expect(revoked.status).toBe('revoked');
    // No grant left: Observation is not in the clinician's policy at all, so Medplum answers 403 (not 404).
    expect(await readStatus(clinician, a.hrvRecent)).toBe(403);
    expect(await searchIds(clinician, 'Observation')).toEqual([]);
    expect(await searchIds(clinician, 'Patient')).toEqual([]);
    const consent = await owner.readResource('Consent', grantId);
    expect(consent.status).toBe('inactive');
    expect(consent.extension?.find((e) => e.url === SHARE_ENDED_EXTENSION)?.extension?.[0]?.valueCode).toBe('revoked');
    // Revoking again changes nothing.
    expect((await revoke(owner, grantId)).status).toBe('revoked');
    expect((await membershipOf(`Practitioner/${drId}`)).access ?? []).toHaveLength(0);
  });

  test('expiry: past its end the reconciler removes the access and marks the grant expired', async () => {
    const until = new Date(Date.now() + 4000).toISOString();
    const view = await grant(owner, { grantee: { practitioner: drId }, until });
    expect(await canRead(clinician, a.hrvRecent)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, Date.parse(until) - Date.now() + 200));
    // Before the reconciler runs the grant still holds: AccessPolicy criteria cannot compare dates with the clock.
    expect(await canRead(clinician, a.hrvRecent)).toBe(true);
    await env.adminClient.executeBot(bot('share-reconcile'), {});
    expect(await readStatus(clinician, a.hrvRecent)).toBe(403);
    const list = await share(owner, { action: 'list' });
    expect('grants' in list && list.grants.find((g) => g.id === view.id)?.status).toBe('expired');
  });
});

describe('grants from two owners', () => {
  test('combine without widening each other, and a membership edited by hand is repaired by the reconciler', async () => {
    const fromA = await grant(owner, { grantee: { practitioner: drId }, groups: ['heart'], content: ['wearable'] });
    const fromB = await grant(other, {
      grantee: { practitioner: drId },
      groups: ['sleep'],
      content: ['wearable', 'alerts'],
    });
    expect((await searchIds(clinician, 'Observation')).sort()).toEqual(
      [a.hrvRecent.id, a.rhrRecent.id, b.sleepRecent.id].sort()
    );
    expect(await canRead(clinician, a.sleepRecent)).toBe(false);
    expect(await canRead(clinician, b.hrvRecent)).toBe(false);
    expect(await canRead(clinician, b.flag)).toBe(true);
    expect(await canRead(clinician, a.flag)).toBe(false);
    expect((await searchIds(clinician, 'Patient')).sort()).toEqual(
      [a.patient.split('/')[1], b.patient.split('/')[1]].sort()
    );

    // An admin wipes the share entries by mistake: the next reconcile restores exactly them.
    const membership = await membershipOf(`Practitioner/${drId}`);
    const before = membership.access;
    await env.adminClient.updateResource({ ...membership, access: [] });
    expect(await canRead(clinician, a.hrvRecent)).toBe(false);
    const report = (await env.adminClient.executeBot(bot('share-reconcile'), {})) as { updated: number };
    expect(report.updated).toBe(1);
    expect((await membershipOf(`Practitioner/${drId}`)).access).toEqual(before);
    expect(await canRead(clinician, a.hrvRecent)).toBe(true);
    const again = (await env.adminClient.executeBot(bot('share-reconcile'), {})) as { updated: number };
    expect(again.updated).toBe(0);

    await revoke(owner, fromA.id);
    expect(await canRead(clinician, a.hrvRecent)).toBe(false);
    expect(await canRead(clinician, b.sleepRecent)).toBe(true);
    await revoke(other, fromB.id);
    expect(await searchIds(clinician, 'Observation')).toEqual([]);
  });
});

describe('invite by email', () => {
  test('creates the clinician through the bot once; a second grant to the same email reuses them', async () => {
    const invite = { email: 'new.doctor@example.org', firstName: 'Robin', lastName: 'Hale' };
    const first = await grant(owner, { grantee: { invite } });
    const second = await grant(owner, { grantee: { invite: { ...invite, email: 'New.Doctor@example.org' } } });
    expect(first.grantee.reference).toMatch(/^Practitioner\//);
    expect(second.grantee.reference).toBe(first.grantee.reference);
    const membership = await membershipOf(first.grantee.reference);
    expect(membership.access?.filter((e) => e.parameter === undefined)).toHaveLength(1);
    await revoke(owner, first.id);
    await revoke(owner, second.id);
  });
});

describe('revoke-all (first step of an erasure)', () => {
  test('ends every grant in force at once, and only the caller’s', async () => {
    await grant(owner, { grantee: { practitioner: drId }, groups: ['heart'] });
    await grant(owner, { grantee: { practitioner: drId }, groups: ['sleep'] });
    const fromB = await grant(other, { grantee: { practitioner: drId }, groups: ['sleep'] });
    expect(await canRead(clinician, a.hrvRecent)).toBe(true);
    const result = await share(owner, { action: 'revoke-all' });
    expect(result).toEqual({ revoked: 2 });
    expect(await canRead(clinician, a.hrvRecent)).toBe(false);
    expect(await canRead(clinician, a.sleepRecent)).toBe(false);
    expect(await canRead(clinician, b.sleepRecent)).toBe(true);
    expect(await share(owner, { action: 'revoke-all' })).toEqual({ revoked: 0 });
    await revoke(other, fromB.id);
  });
});

describe('what the security review found', () => {
  test('an admin cannot be made a grantee (a grant would narrow them and go unaudited)', async () => {
    const admin = await env.signIn('admin');
    const adminId = (await admin.getProfileAsync())?.id ?? '';
    expect(
      await shareError(owner, {
        action: 'create',
        key: '0f1e2d3c-4b5a-4968-8776-655443322110',
        grantee: { practitioner: adminId },
        groups: ['heart'],
        content: ['wearable'],
        since: daysAgo(10),
        until: daysAgo(-10),
      })
    ).toBe('No such clinician in this project');
    expect(
      await shareError(owner, {
        action: 'create',
        key: '0f1e2d3c-4b5a-4968-8776-655443322111',
        grantee: { invite: { email: env.logins.admin.email, firstName: 'Not', lastName: 'Admin' } },
        groups: ['heart'],
        content: ['wearable'],
        since: daysAgo(10),
        until: daysAgo(-10),
      })
    ).toBe('This email cannot receive shared records');
  });

  test('an owner’s invitee is listed to that owner only, and every clinician is listed with their email', async () => {
    const invited = await grant(owner, {
      grantee: { invite: { email: 'lookalike@evil.example', firstName: 'Jordan', lastName: 'Lee' } },
    });
    const mine = await share(owner, { action: 'grantees' });
    const theirs = await share(other, { action: 'grantees' });
    const refs = (r: Awaited<ReturnType<typeof share>>): string[] =>
      'grantees' in r ? r.grantees.map((g) => g.reference) : [];
    expect(refs(mine)).toContain(invited.grantee.reference);
    expect(refs(theirs)).not.toContain(invited.grantee.reference);
    expect('grantees' in theirs && theirs.grantees.map((g) => g.display)).toContain(
      'Jordan Lee (clinician@baseline.local)'
    );
    await revoke(owner, invited.id);
  });

  test('a grantee cannot plant entries in another grantee’s access log', async () => {
    const forDr = await grant(owner, { grantee: { practitioner: drId } });
    const invitee = await grant(owner, {
      grantee: { invite: { email: 'second.doctor@example.org', firstName: 'Sam', lastName: 'Second' } },
    });
    // The clinician may create AuditEvents naming themselves (Medplum writes their audit records as them), so they
    // could name another grantee beside themselves; such an event is not the server's and does not count.
    await clinician.createResource({
      resourceType: 'AuditEvent',
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
      recorded: new Date().toISOString(),
      outcome: '0',
      source: { observer: { display: 'forged' } },
      agent: [
        { who: { reference: `Practitioner/${drId}` }, requestor: true },
        { who: { reference: invitee.grantee.reference }, requestor: true },
      ],
      entity: [{ what: { reference: `Observation/${a.hrvRecent.id}` } }],
    });
    const log = await share(owner, { action: 'access-log', id: invitee.id });
    expect('total' in log && log.total).toBe(0);
    await revoke(owner, forDr.id);
    await revoke(owner, invitee.id);
  });

  test('an owner may have at most 20 grants in force', async () => {
    const made: string[] = [];
    for (let i = 0; i < 20; i++) {
      made.push((await grant(owner, { grantee: { practitioner: drId } })).id);
    }
    await expect(grant(owner, { grantee: { practitioner: drId } })).rejects.toThrow(
      'You can have at most 20 grants at once; revoke one first'
    );
    expect(await share(owner, { action: 'revoke-all' })).toEqual({ revoked: 20 });
    expect(made).toHaveLength(20);
  }, 60_000);
});
