/**
 * `Patient/:id/$everything` on the local stack over real HTTP, as Medplum 5.0.10 runs it
 * (fhir/operations/patienteverything.ts): the caller's repository throughout (so AccessPolicies apply), one
 * searchset of the Patient compartment sorted by id, care-date filtering by start/end, references to
 * Organization/Location/Practitioner/PractitionerRole/Medication/Device resolved as `include` entries, and the
 * parameter handling's quirks (a lone `_type` is a 400; Parameters without `_type` search only the Patient).
 */
import { getReferenceString } from '@medplum/core';
import type { MedplumClient, WithId } from '@medplum/core';
import type {
  AccessPolicy,
  AuditEvent,
  Bundle,
  BundleEntry,
  Device,
  Observation,
  OperationOutcome,
  Organization,
  Patient,
  Practitioner,
  ProjectMembership,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestStack } from './harness/stack.ts';
import type { TestStack } from './harness/stack.ts';

let env: TestStack;
let admin: MedplumClient;
let clinician: MedplumClient;
let owner: WithId<Patient>;
let other: WithId<Patient>;
let gp: WithId<Practitioner>;
let org: WithId<Organization>;
let device: WithId<Device>;
let january: WithId<Observation>;
let march: WithId<Observation>;
let undated: WithId<Observation>;
let othersObs: WithId<Observation>;
let sinceMarch: string;
let clinicianMembership: WithId<ProjectMembership>;

interface Answer {
  status: number;
  json: unknown;
}

async function call(client: MedplumClient, method: 'GET' | 'POST', path: string, json?: unknown): Promise<Answer> {
  const res = await fetch(`${env.baseUrl}fhir/R4/${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${client.getAccessToken() ?? ''}`,
      ...(json === undefined ? {} : { 'Content-Type': 'application/fhir+json' }),
    },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  return { status: res.status, json: (await res.json()) as unknown };
}

function everything(client: MedplumClient, patient: Patient, query = ''): Promise<Answer> {
  return call(client, 'GET', `Patient/${patient.id}/$everything${query}`);
}

function bundleOf(answer: Answer): Bundle {
  expect(answer.status, JSON.stringify(answer.json)).toBe(200);
  return answer.json as Bundle;
}

function refs(entries: BundleEntry[] | undefined, mode?: 'match' | 'include'): string[] {
  return (entries ?? [])
    .filter((e) => mode === undefined || e.search?.mode === mode)
    .map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
}

function issue(answer: Answer): string | undefined {
  return (answer.json as OperationOutcome).issue?.[0]?.details?.text;
}

function observation(patient: Patient, extra: Partial<Observation>): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: getReferenceString(patient) },
    ...extra,
  };
}

async function grantClinician(policy: WithId<AccessPolicy>): Promise<void> {
  // Exactly this policy: the demo clinician's standing policy (data/core) must not decide what these tests show.
  const { accessPolicy: _standing, ...current } = await admin.readResource('ProjectMembership', clinicianMembership.id);
  await admin.updateResource<ProjectMembership>({
    ...current,
    access: [
      {
        policy: { reference: getReferenceString(policy) },
        parameter: [{ name: 'patient', valueReference: { reference: getReferenceString(owner) } }],
      },
    ],
  });
}

beforeAll(async () => {
  env = await startTestStack();
  admin = env.adminClient;
  clinician = await env.signIn('clinician');
  const ownerProfile = (await env.signIn('owner')).getProfile() as WithId<Patient>;
  other = (await env.signIn('other')).getProfile() as WithId<Patient>;
  gp = await admin.createResource<Practitioner>({ resourceType: 'Practitioner', name: [{ family: 'Gp' }] });
  org = await admin.createResource<Organization>({ resourceType: 'Organization', name: 'Clinic' });
  owner = await admin.updateResource<Patient>({
    ...(await admin.readResource('Patient', ownerProfile.id)),
    generalPractitioner: [{ reference: getReferenceString(gp) }],
  });
  device = await admin.createResource<Device>({
    resourceType: 'Device',
    patient: { reference: getReferenceString(owner) },
    manufacturer: 'WHOOP',
  });
  january = await admin.createResource(
    observation(owner, {
      issued: '2026-01-10T08:00:00Z',
      device: { reference: getReferenceString(device) },
      performer: [{ reference: getReferenceString(org) }],
    })
  );
  march = await admin.createResource(observation(owner, { issued: '2026-03-10T08:00:00Z' }));
  sinceMarch = new Date(Date.parse(march.meta?.lastUpdated ?? '') + 1).toISOString();
  await new Promise((resolve) => setTimeout(resolve, 5));
  undated = await admin.createResource(observation(owner, { effectiveDateTime: '2026-02-01T00:00:00Z' }));
  othersObs = await admin.createResource(observation(other, { issued: '2026-01-10T08:00:00Z' }));
  const practitioner = clinician.getProfile() as WithId<Practitioner>;
  const found = await admin.searchOne('ProjectMembership', { profile: getReferenceString(practitioner) });
  if (!found) {
    throw new Error('no clinician membership');
  }
  clinicianMembership = found;
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

describe('GET Patient/:id/$everything as a full-access client', () => {
  test('a searchset: the compartment by id (Patient included, not first), then resolved references', async () => {
    const bundle = bundleOf(await everything(admin, owner));
    expect(bundle.type).toBe('searchset');
    expect(bundle.total).toBeUndefined();
    const matches = refs(bundle.entry, 'match');
    for (const r of [owner, january, march, undated]) {
      expect(matches).toContain(getReferenceString(r));
    }
    expect(matches).not.toContain(getReferenceString(othersObs));
    // Sorted by id across types (Medplum's `_sort=_id`), whatever the type.
    const ids = (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource?.id ?? '');
    expect(ids).toEqual([...ids].sort());
    // Device is listed in the compartment without a parameter: it comes in only as a resolved reference.
    expect(refs(bundle.entry, 'include').sort()).toEqual(
      [getReferenceString(device), getReferenceString(gp), getReferenceString(org)].sort()
    );
    const firstInclude = (bundle.entry ?? []).findIndex((e) => e.search?.mode === 'include');
    expect((bundle.entry ?? []).slice(firstInclude).every((e) => e.search?.mode === 'include')).toBe(true);
    // Resolved entries carry no fullUrl (Medplum pushes `{ resource, search }`), matches do.
    expect((bundle.entry ?? []).every((e) => (e.search?.mode === 'match') === (e.fullUrl !== undefined))).toBe(true);
    // AuditEvent is a compartment type: the AuditEvent of this very call's Patient read is there the next time.
    const again = bundleOf(await everything(admin, owner));
    expect(refs(again.entry, 'match').filter((r) => r.startsWith('AuditEvent/')).length).toBeGreaterThan(
      refs(bundle.entry, 'match').filter((r) => r.startsWith('AuditEvent/')).length
    );
    const self = bundle.link?.find((l) => l.relation === 'self')?.url ?? '';
    expect(
      self.startsWith(`${env.baseUrl}fhir/R4/Patient?_compartment=Patient%2F${owner.id}&_count=1000&_sort=_id`)
    ).toBe(true);
  });

  test('_count/_offset page the compartment by id (a next link while more remain)', async () => {
    // Without AuditEvent in _type, each call's own Patient-read AuditEvent (in the compartment) would shift the pages.
    const types = '_type=Observation&_type=Device';
    const all = refs(bundleOf(await everything(admin, owner, `?${types}`)).entry, 'match');
    const first = bundleOf(await everything(admin, owner, `?${types}&_count=2`));
    expect(refs(first.entry, 'match')).toEqual(all.slice(0, 2));
    expect(first.link?.find((l) => l.relation === 'next')?.url).toContain('_offset=2');
    const second = bundleOf(await everything(admin, owner, `?${types}&_count=2&_offset=2`));
    expect(refs(second.entry, 'match')).toEqual(all.slice(2, 4));
  });

  test('_type repeated limits the types (Patient always added); a lone _type is 400 as on Medplum', async () => {
    const typed = bundleOf(await everything(admin, owner, '?_type=Observation&_type=Device'));
    expect(new Set(refs(typed.entry, 'match').map((r) => r.split('/')[0]))).toEqual(
      new Set(['Observation', 'Patient'])
    );
    const lone = await everything(admin, owner, '?_type=Observation');
    expect(lone.status).toBe(400);
    expect(issue(lone)).toBe('types.push is not a function');
    const commas = await everything(admin, owner, '?_type=Observation,Device');
    expect(issue(commas)).toBe('types.push is not a function');
  });

  test('_since filters by lastUpdated; start/end by care date (Observation.issued), undated entries kept', async () => {
    const since = refs(bundleOf(await everything(admin, owner, `?_since=${sinceMarch}`)).entry, 'match');
    expect(since).toContain(getReferenceString(undated));
    expect(since).not.toContain(getReferenceString(january));
    expect(since).not.toContain(getReferenceString(march));
    const window = refs(bundleOf(await everything(admin, owner, '?start=2026-02-01&end=2026-04-01')).entry, 'match');
    expect(window).toContain(getReferenceString(march));
    expect(window).toContain(getReferenceString(undated));
    expect(window).not.toContain(getReferenceString(january));
  });

  test('bad parameters: 400 with Medplum messages', async () => {
    expect(issue(await everything(admin, owner, '?_count=abc'))).toBe(
      "Invalid value 'abc' provided for integer parameter '_count'"
    );
    expect(issue(await everything(admin, owner, '?_count=1&_count=2'))).toBe(
      'Expected 0..1 value(s) for input parameter _count, but 2 provided'
    );
  });

  test('POST: Parameters with _type as GET; Parameters without _type search only the Patient', async () => {
    const typed = bundleOf(
      await call(admin, 'POST', `Patient/${owner.id}/$everything`, {
        resourceType: 'Parameters',
        parameter: [{ name: '_type', valueCode: 'Observation' }],
      })
    );
    expect(refs(typed.entry, 'match')).toContain(getReferenceString(january));
    const untyped = bundleOf(
      await call(admin, 'POST', `Patient/${owner.id}/$everything`, {
        resourceType: 'Parameters',
        parameter: [{ name: '_count', valueInteger: 50 }],
      })
    );
    expect(refs(untyped.entry, 'match')).toEqual([getReferenceString(owner)]);
    expect(refs(untyped.entry, 'include')).toEqual([getReferenceString(gp)]);
    const empty = bundleOf(await call(admin, 'POST', `Patient/${owner.id}/$everything`));
    expect(refs(empty.entry, 'match')).toContain(getReferenceString(march));
  });

  test('AuditEvents: the Patient read and each resolved reference are stored; the compartment search is not', async () => {
    const before = await admin.searchResources('AuditEvent', {
      _count: '1000',
      agent: `ClientApplication/${env.admin.clientId}`,
    });
    bundleOf(await everything(admin, owner));
    const after = await admin.searchResources('AuditEvent', {
      _count: '1000',
      agent: `ClientApplication/${env.admin.clientId}`,
    });
    const known = new Set<string>(before.map((e) => e.id));
    const added = after
      .filter((e: WithId<AuditEvent>) => !known.has(e.id))
      .map((e: AuditEvent) => `${e.subtype?.[0]?.code}:${e.entity?.[0]?.what?.reference}`)
      .sort();
    expect(added).toEqual(
      [
        `read:${getReferenceString(owner)}`,
        `read:${getReferenceString(device)}`,
        `read:${getReferenceString(gp)}`,
        `read:${getReferenceString(org)}`,
      ].sort()
    );
  });
});

describe('as a policy-limited caller (AccessPolicies apply throughout)', () => {
  test('a clinician bound to the owner: 403 without _type, the owner only with it, 404 for another patient', async () => {
    const policy = await admin.createResource<AccessPolicy>({
      resourceType: 'AccessPolicy',
      name: 'everything share',
      resource: [
        { resourceType: 'Patient', criteria: 'Patient?_id=%patient.id', interaction: ['read', 'search'] },
        { resourceType: 'Observation', criteria: 'Observation?_compartment=%patient', interaction: ['read', 'search'] },
        { resourceType: 'Device', criteria: 'Device?patient=%patient', interaction: ['read', 'search'] },
      ],
    });
    await grantClinician(policy);
    // Every compartment type must be searchable by the caller, else the search is refused as a whole.
    const all = await everything(clinician, owner);
    expect(all.status).toBe(403);
    expect(issue(all)).toBe('Forbidden');
    const typed = bundleOf(await everything(clinician, owner, '?_type=Observation&_type=Device'));
    expect(refs(typed.entry, 'match').sort()).toEqual(
      [
        getReferenceString(owner),
        getReferenceString(january),
        getReferenceString(march),
        getReferenceString(undated),
      ].sort()
    );
    // Organization and Practitioner are not readable: silently left out; the Device is.
    expect(refs(typed.entry, 'include')).toEqual([getReferenceString(device)]);
    const theirs = await everything(clinician, other, '?_type=Observation&_type=Device');
    expect(theirs.status).toBe(404);
    expect(issue(theirs)).toBe('Not found');
  });

  test('a caller whose policy cannot read Patient at all: 403', async () => {
    const policy = await admin.createResource<AccessPolicy>({
      resourceType: 'AccessPolicy',
      name: 'observations only',
      resource: [
        { resourceType: 'Observation', criteria: 'Observation?_compartment=%patient', interaction: ['read', 'search'] },
      ],
    });
    await grantClinician(policy);
    const answer = await everything(clinician, owner, '?_type=Observation&_type=Device');
    expect(answer.status).toBe(403);
    expect(issue(answer)).toBe('Forbidden');
  });
});
