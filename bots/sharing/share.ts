/**
 * Bot `share` (owner-invocable; its membership is a project admin, because only an admin may write
 * ProjectMemberships or invite): the owner's grants to clinicians and EHRs (issue 9 §1–§2).
 *
 * - create: validates the request (scope, start, end ≤ 90 days), resolves the grantee (a Practitioner or EHR
 *   Organization of this project, or invites a clinician by email — the owner never holds admin rights), writes the
 *   Consent conditional on `<patient>:<key>` (a doubled submit makes one grant), then reconciles the grantee's
 *   membership at once, so the grant holds from the grantee's next request;
 * - revoke: marks the owner's Consent inactive (reason revoked) and reconciles: the grantee's next request, with the
 *   token they already hold, is denied;
 * - list / grantees: what the app shows; access-log: who looked, from Medplum's AuditEvents (access-log.ts).
 * Another owner's grant id gets "No such grant", the same words as one that does not exist.
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { AuditEvent, Consent, Organization, Practitioner, ProjectMembership } from '@medplum/fhirtypes';
import { formatHumanName } from '@medplum/core';
import { DERIVED_KINDS, METRICS, NARRATIVE_KINDS } from '../shared/catalogue.ts';
import { isAbsent, updateIfUnchanged } from '../shared/fhir-write.ts';
import { patientIdOf, requesterPatient } from '../shared/requester.ts';
import { searchAll } from '../shared/search.ts';
import { CODE_SYSTEM, IDENTIFIER_BASE } from '../shared/systems.ts';
import { accessedReferences, summarizeAccess } from './access-log.ts';
import type { Access } from './access-log.ts';
import {
  endConsent,
  grantConsent,
  grantEnd,
  parseGrant,
  SHARE_CATEGORY_TOKEN,
  SHARE_IDENTIFIER_SYSTEM,
} from './grants.ts';
import type { Grant, GranteeInput } from './grants.ts';
import { actingProfile, EHR_CLIENT_IDENTIFIER_SYSTEM, reconcileGrantee } from './membership.ts';
import { ShareInputSchema } from './owner-api.ts';
import type { GranteeView, GrantView, ShareResult } from './owner-api.ts';
import {
  isGranteeMembership,
  MAX_GRANTS_PER_GRANTEE,
  MAX_GRANTS_PER_OWNER,
  parseSharePolicyIds,
  SHARE_POLICIES_SECRET,
} from './reconcile.ts';
import type { SharePolicyIds } from './reconcile.ts';

/** On a membership the share bot created by invite: the owner (`Patient/<id>`) who invited. */
export const INVITED_BY_SYSTEM = IDENTIFIER_BASE + '/invited-by';
export const MAX_INVITES_PER_OWNER = 10;

function nameOf(resource: Practitioner | Organization): string {
  if (resource.resourceType === 'Organization') {
    return resource.name ?? 'Organization';
  }
  const name = resource.name?.[0];
  return name ? formatHumanName(name) : 'Clinician';
}

function view(grant: Grant): GrantView {
  return {
    id: grant.consentId,
    grantee: {
      reference: `${grant.grantee.type}/${grant.grantee.id}`,
      display: grant.grantee.display ?? grant.grantee.type,
      kind: grant.grantee.type === 'Organization' ? 'ehr' : 'clinician',
    },
    groups: [...grant.groups],
    content: [...grant.content],
    since: grant.since,
    start: grant.start,
    end: grant.end,
    status: grant.status,
    ...(grant.endedAt ? { endedAt: grant.endedAt } : {}),
  };
}

async function readOrUndefined<T extends Practitioner | Organization>(
  medplum: MedplumClient,
  reference: string
): Promise<WithId<T> | undefined> {
  try {
    return await medplum.readReference<T>({ reference }, { cache: 'no-cache' });
  } catch (err) {
    if (isAbsent(err)) {
      return undefined;
    }
    throw err;
  }
}

/** The grantee's reference and display name; invites a clinician who is not in the project yet. */
async function resolveGrantee(
  medplum: MedplumClient,
  grantee: GranteeInput,
  ids: SharePolicyIds,
  owner: string
): Promise<{ reference: string; display: string }> {
  if ('practitioner' in grantee) {
    const reference = `Practitioner/${grantee.practitioner}`;
    const practitioner = await readOrUndefined<Practitioner>(medplum, reference);
    const member = practitioner && (await medplum.searchOne('ProjectMembership', { profile: reference }));
    // Only a clinician's membership can hold grants (not an admin's, not someone else's profile).
    if (!practitioner || !member || !isGranteeMembership(member, ids)) {
      throw new Error('No such clinician in this project');
    }
    return { reference, display: nameOf(practitioner) };
  }
  if ('organization' in grantee) {
    const reference = `Organization/${grantee.organization}`;
    const org = await readOrUndefined<Organization>(medplum, reference);
    if (!org?.identifier?.some((i) => i.system === EHR_CLIENT_IDENTIFIER_SYSTEM)) {
      throw new Error('No such EHR in this project');
    }
    return { reference, display: nameOf(org) };
  }
  const { email, firstName, lastName } = grantee.invite;
  const known = await medplum.searchOne('Practitioner', { email: email.toLowerCase() }, { cache: 'no-cache' });
  if (known) {
    const member = await medplum.searchOne('ProjectMembership', { profile: `Practitioner/${known.id}` });
    if (!member || !isGranteeMembership(member, ids)) {
      throw new Error('This email cannot receive shared records');
    }
    return { reference: `Practitioner/${known.id}`, display: nameOf(known) };
  }
  const invitedByMe = await medplum.search('ProjectMembership', {
    identifier: `${INVITED_BY_SYSTEM}|${owner}`,
    _summary: 'count',
  });
  if ((invitedByMe.total ?? 0) >= MAX_INVITES_PER_OWNER) {
    throw new Error(`You can invite at most ${MAX_INVITES_PER_OWNER} clinicians`);
  }
  const project = await medplum.searchOne('Project', {}, { cache: 'no-cache' });
  if (!project) {
    throw new Error('The sharing bot cannot see its project (it must be a project admin)');
  }
  const membership = await medplum.post<ProjectMembership>(`admin/projects/${project.id}/invite`, {
    resourceType: 'Practitioner',
    firstName,
    lastName,
    email: email.toLowerCase(),
    sendEmail: false,
    membership: {
      access: [{ policy: { reference: `AccessPolicy/${ids.clinicianBase}` } }],
      // Whom an owner invited is listed to that owner only: an invite names anyone anything, so it must not appear
      // in every owner's list of clinicians as if the project had vetted it.
      identifier: [{ system: INVITED_BY_SYSTEM, value: owner }],
    },
  });
  const reference = membership.profile?.reference;
  if (!reference?.startsWith('Practitioner/')) {
    throw new Error('The invite did not create a clinician');
  }
  return { reference, display: `${firstName} ${lastName}` };
}

/** The caller's share Consent with this id, or the one error for "absent" and "not yours". */
async function ownConsent(medplum: MedplumClient, id: string, owner: string): Promise<WithId<Consent>> {
  let stored: WithId<Consent>;
  try {
    stored = await medplum.readResource('Consent', id, { cache: 'no-cache' });
  } catch (err) {
    if (isAbsent(err)) {
      throw new Error('No such grant');
    }
    throw err;
  }
  const parsed = parseGrant(stored);
  if (!parsed.ok || stored.patient?.reference !== owner) {
    throw new Error('No such grant');
  }
  return stored;
}

function observationKind(code: { system?: string; code?: string }[] | undefined): string {
  for (const coding of code ?? []) {
    const metric = METRICS.find((m) => m.code.system === coding.system && m.code.code === coding.code);
    if (metric) {
      return `Observation: ${metric.label}`;
    }
    if (coding.system === CODE_SYSTEM) {
      const concept = [...DERIVED_KINDS, ...NARRATIVE_KINDS].find((k) => k.code === coding.code);
      if (concept) {
        return `Observation: ${concept.display}`;
      }
    }
  }
  return 'Observation';
}

/** Kinds of the owner's records among the references; references to anything else are dropped. */
async function ownerKinds(
  medplum: MedplumClient,
  ownerId: string,
  references: readonly string[]
): Promise<Map<string, string>> {
  const kinds = new Map<string, string>();
  const byType = new Map<string, Set<string>>();
  for (const reference of references) {
    const [type, id] = reference.split('/');
    if (!type || !id) {
      continue;
    }
    if (type === 'Patient') {
      if (id === ownerId) {
        kinds.set(reference, 'Patient');
      }
      continue;
    }
    byType.set(type, (byType.get(type) ?? new Set()).add(id));
  }
  for (const [type, idSet] of byType) {
    if (!['Observation', 'Device', 'Consent', 'Flag', 'Communication'].includes(type)) {
      continue;
    }
    const ids = [...idSet];
    for (let i = 0; i < ids.length; i += 100) {
      const chunk = ids.slice(i, i + 100).join(',');
      const scope: Record<string, string> =
        type === 'Device' ? { patient: `Patient/${ownerId}` } : { _compartment: `Patient/${ownerId}` };
      const found = await searchAll(medplum, type as 'Observation', { _id: chunk, ...scope, _count: '100' });
      for (const resource of found) {
        kinds.set(`${type}/${resource.id}`, type === 'Observation' ? observationKind(resource.code?.coding) : type);
      }
    }
  }
  return kinds;
}

async function accessLog(medplum: MedplumClient, grant: Grant): Promise<Access[]> {
  // Who acts for the grantee: the Practitioner, or the EHR client an Organization names (as reconcile resolves it).
  const agent = await actingProfile(medplum, `${grant.grantee.type}/${grant.grantee.id}`);
  const agents = agent ? [agent] : [];
  const until = grant.endedAt && grant.endedAt < grant.end ? grant.endedAt : grant.end;
  const events: AuditEvent[] = [];
  for (const agent of agents) {
    events.push(
      ...(await searchAll(medplum, 'AuditEvent', {
        agent,
        _lastUpdated: `ge${grant.start}`,
        _count: '1000',
      }))
    );
  }
  const inWindow = accessedReferences(events).filter((a) => a.at <= until || Date.parse(a.at) <= Date.parse(until));
  const kinds = await ownerKinds(
    medplum,
    grant.patientId,
    inWindow.map((a) => a.reference)
  );
  return inWindow.flatMap((a) => {
    const kind = kinds.get(a.reference);
    return kind ? [{ at: a.at, kind }] : [];
  });
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<ShareResult> {
  const owner = requesterPatient(event);
  const patientId = patientIdOf(owner);
  const parsed = ShareInputSchema.safeParse(event.input);
  if (!parsed.success) {
    throw new Error(
      `Invalid sharing request: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}`
    );
  }
  const input = parsed.data;
  const now = new Date();

  if (input.action === 'list') {
    const consents = await searchAll(medplum, 'Consent', { patient: owner.reference, category: SHARE_CATEGORY_TOKEN });
    const grants = consents.flatMap((c) => {
      const p = parseGrant(c);
      return p.ok ? [view(p.grant)] : [];
    });
    grants.sort((a, b) => b.start.localeCompare(a.start));
    return { grants };
  }
  if (input.action === 'grantees') {
    const ids = parseSharePolicyIds(event.secrets[SHARE_POLICIES_SECRET]?.valueString);
    const memberships = await searchAll(medplum, 'ProjectMembership', {
      'access-policy': `AccessPolicy/${ids.clinicianBase}`,
      _count: '1000',
    });
    // Clinicians the project has (not admins), and those this owner invited — never another owner's invitees.
    const listed = memberships.filter((m) => {
      const invitedBy = m.identifier?.find((i) => i.system === INVITED_BY_SYSTEM)?.value;
      return isGranteeMembership(m, ids) && (!invitedBy || invitedBy === owner.reference);
    });
    const profileIds = listed.flatMap((m) => {
      const ref = m.profile?.reference ?? '';
      return ref.startsWith('Practitioner/') ? [ref.slice('Practitioner/'.length)] : [];
    });
    const practitioners =
      profileIds.length === 0
        ? []
        : await searchAll(medplum, 'Practitioner', { _id: profileIds.join(','), _count: '1000' });
    const orgs = await searchAll(medplum, 'Organization', {
      identifier: `${EHR_CLIENT_IDENTIFIER_SYSTEM}|`,
      _count: '200',
    });
    const grantees: GranteeView[] = [
      ...practitioners.map((p) => {
        const email = p.telecom?.find((t) => t.system === 'email')?.value;
        return {
          reference: `Practitioner/${p.id}`,
          display: email ? `${nameOf(p)} (${email})` : nameOf(p),
          kind: 'clinician' as const,
        };
      }),
      ...orgs.map((o) => ({ reference: `Organization/${o.id}`, display: nameOf(o), kind: 'ehr' as const })),
    ];
    grantees.sort((a, b) => a.display.localeCompare(b.display));
    return { grantees };
  }
  if (input.action === 'access-log') {
    const consent = await ownConsent(medplum, input.id, owner.reference);
    const parsedGrant = parseGrant(consent);
    if (!parsedGrant.ok) {
      throw new Error('No such grant');
    }
    const accesses = await accessLog(medplum, parsedGrant.grant);
    return { accessLog: summarizeAccess(accesses), total: accesses.length };
  }

  const ids = parseSharePolicyIds(event.secrets[SHARE_POLICIES_SECRET]?.valueString);
  if (input.action === 'revoke-all') {
    const all = await searchAll(medplum, 'Consent', { patient: owner.reference, category: SHARE_CATEGORY_TOKEN });
    // Every grantee the owner ever shared with is reconciled, so a retry after a failure repairs them all.
    const grantees = new Set<string>();
    let revoked = 0;
    for (const consent of all) {
      const parsed = parseGrant(consent);
      if (!parsed.ok) {
        continue;
      }
      grantees.add(`${parsed.grant.grantee.type}/${parsed.grant.grantee.id}`);
      if (consent.status !== 'active') {
        continue;
      }
      if (!(await updateIfUnchanged(medplum, endConsent(consent, 'revoked', now), consent))) {
        throw new Error('A grant changed meanwhile; try again');
      }
      revoked++;
    }
    for (const grantee of grantees) {
      await reconcileGrantee(medplum, grantee, ids, now);
    }
    console.log(JSON.stringify({ bot: 'share', action: 'revoke-all', revoked }));
    return { revoked };
  }
  if (input.action === 'revoke') {
    const stored = await ownConsent(medplum, input.id, owner.reference);
    let current = stored;
    if (stored.status === 'active') {
      const written = await updateIfUnchanged(medplum, endConsent(stored, 'revoked', now), stored);
      if (!written) {
        throw new Error('The grant changed meanwhile; reload and try again');
      }
      current = written;
    }
    const grant = parseGrant(current);
    if (!grant.ok) {
      throw new Error('No such grant');
    }
    // If the membership cannot be rewritten, reconcile removes every share entry of that grantee (fails closed) and
    // throws: the revoke has still taken effect, which is what the owner must be told.
    const report = await reconcileGrantee(
      medplum,
      `${grant.grant.grantee.type}/${grant.grant.grantee.id}`,
      ids,
      now
    ).catch((err: unknown) => {
      console.log(JSON.stringify({ bot: 'share', action: 'revoke', grant: stored.id, reconcileError: String(err) }));
      return { updated: 0 };
    });
    console.log(JSON.stringify({ bot: 'share', action: 'revoke', grant: stored.id, reconciled: report.updated }));
    return { grant: view(grant.grant), reconciled: report.updated };
  }

  const end = grantEnd(input.until, now);
  const today = now.toISOString().slice(0, 10);
  if (input.since > today) {
    throw new Error('The first day of data shared cannot be in the future');
  }
  const inForce = await searchAll(medplum, 'Consent', {
    patient: owner.reference,
    category: SHARE_CATEGORY_TOKEN,
    status: 'active',
  });
  if (
    inForce.length >= MAX_GRANTS_PER_OWNER &&
    !inForce.some((c) => c.identifier?.some((i) => i.value === `${patientId}:${input.key}`))
  ) {
    throw new Error(`You can have at most ${MAX_GRANTS_PER_OWNER} grants at once; revoke one first`);
  }
  const grantee = await resolveGrantee(medplum, input.grantee, ids, owner.reference);
  const theirs = await medplum.search('Consent', {
    actor: grantee.reference,
    category: SHARE_CATEGORY_TOKEN,
    status: 'active',
    _summary: 'count',
  });
  if ((theirs.total ?? 0) >= MAX_GRANTS_PER_GRANTEE) {
    throw new Error('This clinician cannot receive more shared records now');
  }
  const desired = grantConsent({
    key: input.key,
    patientId,
    grantee: { reference: grantee.reference, display: grantee.display },
    groups: input.groups,
    content: input.content,
    since: input.since,
    start: now.toISOString(),
    end,
  });
  const consent = await medplum.createResourceIfNoneExist(
    desired,
    `identifier=${encodeURIComponent(`${SHARE_IDENTIFIER_SYSTEM}|${patientId}:${input.key}`)}`
  );
  const grant = parseGrant(consent);
  if (!grant.ok) {
    throw new Error(`The stored grant is unreadable: ${grant.errors.join('; ')}`);
  }
  const report = await reconcileGrantee(medplum, grantee.reference, ids, now);
  console.log(JSON.stringify({ bot: 'share', action: 'create', grant: consent.id, reconciled: report.updated }));
  return { grant: view(grant.grant), reconciled: report.updated };
}
