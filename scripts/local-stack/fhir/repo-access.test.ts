import { randomUUID } from 'node:crypto';
import { parseSearchRequest } from '@medplum/core';
import type { WithId } from '@medplum/core';
import type {
  AccessPolicy,
  Bundle,
  ClientApplication,
  Observation,
  Patient,
  ProjectMembership,
  Reference,
} from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { buildAccessPolicy } from './access.ts';
import type { LocalRepository } from './repo.ts';
import type { Fixture } from './testing.ts';
import { createFixture, issueText, request } from './testing.ts';

/** The patient-facing policy: own Patient, own compartment's Observations, client apps without secrets. */
const patientPolicy: AccessPolicy = {
  resourceType: 'AccessPolicy',
  name: 'patient',
  resource: [
    {
      resourceType: 'Patient',
      criteria: 'Patient?_id=%patient.id',
      interaction: ['read', 'search', 'update'],
      readonlyFields: ['identifier'],
    },
    {
      resourceType: 'Observation',
      criteria: 'Observation?_compartment=%patient',
      interaction: ['read', 'vread', 'history', 'search', 'create', 'update'],
    },
    { resourceType: 'ClientApplication', interaction: ['read', 'search'], hiddenFields: ['secret', 'retiringSecret'] },
  ],
};

/** The clinician template, bound to one patient per access[] entry. */
const sharedPolicy: AccessPolicy = {
  resourceType: 'AccessPolicy',
  name: 'shared patient',
  resource: [
    { resourceType: 'Patient', criteria: 'Patient?_id=%patient.id', interaction: ['read', 'search'] },
    {
      resourceType: 'Observation',
      criteria: 'Observation?_compartment=%patient',
      interaction: ['read', 'search', 'history', 'vread'],
    },
  ],
};

interface World {
  fx: Fixture;
  patientA: WithId<Patient>;
  patientB: WithId<Patient>;
  obsA: WithId<Observation>;
  obsB: WithId<Observation>;
  obsAPerformedByB: WithId<Observation>;
  obsBAboutA: WithId<Observation>;
  app: WithId<ClientApplication>;
  policies: Map<string, AccessPolicy>;
}

let world: World;

function heartRate(subject: string, extra?: Partial<Observation>): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'heart rate' },
    subject: { reference: subject },
    ...extra,
  };
}

beforeAll(async () => {
  const fx = await createFixture();
  const { system } = fx;
  const patientA = await system.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family: 'A' }],
    identifier: [{ system: 'mrn', value: 'A1' }],
  });
  const patientB = await system.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'B' }] });
  const obsA = await system.createResource(heartRate(`Patient/${patientA.id}`));
  const obsB = await system.createResource(heartRate(`Patient/${patientB.id}`));
  // In A's compartment (subject) and B's (performer): A may read it, but not follow it to B.
  const obsAPerformedByB = await system.createResource(
    heartRate(`Patient/${patientA.id}`, { performer: [{ reference: `Patient/${patientB.id}` }] })
  );
  // Only in B's compartment; it merely points at A through `focus`.
  const obsBAboutA = await system.createResource(
    heartRate(`Patient/${patientB.id}`, { focus: [{ reference: `Patient/${patientA.id}` }] })
  );
  const app = await system.createResource<ClientApplication>({
    resourceType: 'ClientApplication',
    name: 'app',
    secret: 'top-secret',
  });
  const patientRef = await system.createResource(patientPolicy);
  const sharedRef = await system.createResource(sharedPolicy);
  const policies = new Map<string, AccessPolicy>([
    [`AccessPolicy/${patientRef.id}`, patientRef],
    [`AccessPolicy/${sharedRef.id}`, sharedRef],
  ]);
  world = { fx, patientA, patientB, obsA, obsB, obsAPerformedByB, obsBAboutA, app, policies };
});

function policyId(name: string): Reference<AccessPolicy> {
  for (const [reference, policy] of world.policies) {
    if (policy.name === name) {
      return { reference };
    }
  }
  throw new Error(`No policy ${name}`);
}

function repoFor(membership: Partial<ProjectMembership>, extendedMode = false): LocalRepository {
  const full: ProjectMembership = {
    resourceType: 'ProjectMembership',
    project: { reference: `Project/${world.fx.project}` },
    user: { reference: 'User/u' },
    profile: { reference: `Patient/${world.patientA.id}` },
    ...membership,
  };
  const accessPolicy = buildAccessPolicy(full, (ref) => world.policies.get(ref.reference ?? ''));
  return world.fx.repo({ author: full.profile as Reference, accessPolicy, extendedMode });
}

function patientA(): LocalRepository {
  return repoFor({ accessPolicy: policyId('patient') });
}

function clinicianFor(...patients: string[]): LocalRepository {
  return repoFor({
    profile: { reference: 'Practitioner/clinician' },
    access: patients.map((p) => ({
      policy: policyId('shared patient'),
      parameter: [{ name: 'patient', valueReference: { reference: p } }],
    })),
  });
}

function ids(bundle: Bundle | undefined): string[] {
  return (bundle?.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`).sort();
}

describe('AccessPolicy: patient A cannot reach patient B', () => {
  test('reading B data is 404 Not found; reading A data works', async () => {
    const repo = patientA();
    expect((await request(repo, 'GET', `Observation/${world.obsA.id}`)).status).toBe(200);
    const other = await request(repo, 'GET', `Observation/${world.obsB.id}`);
    expect(other.status).toBe(404);
    expect(issueText(other.outcome)).toBe('Not found');
    expect((await request(repo, 'GET', `Patient/${world.patientB.id}`)).status).toBe(404);
    expect((await request(repo, 'GET', `Observation/${world.obsB.id}/_history`)).status).toBe(404);
    expect(
      (await request(repo, 'GET', `Observation/${world.obsB.id}/_history/${world.obsB.meta?.versionId}`)).status
    ).toBe(404);
  });

  test('search returns only A data, even when asked for B by id', async () => {
    const repo = patientA();
    const all = await request<Bundle>(repo, 'GET', 'Observation');
    expect(ids(all.resource)).toEqual(
      [`Observation/${world.obsA.id}`, `Observation/${world.obsAPerformedByB.id}`].sort()
    );
    const byId = await request<Bundle>(repo, 'GET', `Observation?_id=${world.obsB.id}`);
    expect(byId.resource?.entry ?? []).toEqual([]);
    const patients = await request<Bundle>(repo, 'GET', 'Patient');
    expect(ids(patients.resource)).toEqual([`Patient/${world.patientA.id}`]);
  });

  test('_include and _revinclude never add B resources', async () => {
    const repo = patientA();
    const included = await request<Bundle>(
      repo,
      'GET',
      `Observation?_id=${world.obsAPerformedByB.id}&_include=Observation:performer&_include=Observation:subject`
    );
    expect(ids(included.resource)).toEqual(
      [`Observation/${world.obsAPerformedByB.id}`, `Patient/${world.patientA.id}`].sort()
    );
    const revIncluded = await request<Bundle>(
      repo,
      'GET',
      `Patient?_id=${world.patientA.id}&_revinclude=Observation:focus`
    );
    expect(ids(revIncluded.resource)).toEqual([`Patient/${world.patientA.id}`]);
  });

  test('writes for B are refused; writes for A succeed', async () => {
    const repo = patientA();
    const forB = await request(repo, 'POST', 'Observation', heartRate(`Patient/${world.patientB.id}`));
    expect(forB.status).toBe(403);
    expect(issueText(forB.outcome)).toBe('Forbidden');
    const forA = await request<Observation>(repo, 'POST', 'Observation', heartRate(`Patient/${world.patientA.id}`));
    expect(forA.status).toBe(201);
  });

  test('a policy compartment tags creations with meta.account, which also puts them in that compartment', async () => {
    // Medplum behaves the same: accounts are compartments, so `_compartment=%patient` then admits a resource about
    // another patient that A created. A patient policy must not set `compartment` if that is not wanted.
    const tagging = await world.fx.system.createResource<AccessPolicy>({
      ...patientPolicy,
      name: 'patient with account',
      compartment: { reference: '%patient' },
    });
    world.policies.set(`AccessPolicy/${tagging.id}`, tagging);
    const repo = repoFor({ accessPolicy: { reference: `AccessPolicy/${tagging.id}` } }, true);
    const forB = await request<Observation>(repo, 'POST', 'Observation', heartRate(`Patient/${world.patientB.id}`));
    expect(forB.status).toBe(201);
    expect(forB.resource?.meta?.account).toEqual({ reference: `Patient/${world.patientA.id}` });
    expect(forB.resource?.meta?.compartment).toContainEqual({ reference: `Patient/${world.patientA.id}` });
    expect(forB.resource?.meta?.compartment).toContainEqual({ reference: `Patient/${world.patientB.id}` });
    await world.fx.system.deleteResource('Observation', forB.resource?.id as string);
  });

  test('moving an A resource into B compartment is Forbidden; updating B data is Not found', async () => {
    const repo = patientA();
    const own = await repo.readResource<Observation>('Observation', world.obsA.id);
    const moved = await request(repo, 'PUT', `Observation/${own.id}`, {
      ...own,
      subject: { reference: `Patient/${world.patientB.id}` },
    });
    expect(moved.status).toBe(403);
    const theirs = await request(repo, 'PUT', `Observation/${world.obsB.id}`, { ...world.obsB, status: 'amended' });
    expect(theirs.status).toBe(404);
    expect((await request(repo, 'DELETE', `Observation/${world.obsB.id}`)).status).toBe(404);
  });

  test('an interaction the policy omits is Forbidden even on own data', async () => {
    const repo = patientA();
    const deleted = await request(repo, 'DELETE', `Observation/${world.obsA.id}`);
    expect(deleted.status).toBe(403);
    expect(issueText(deleted.outcome)).toBe('Forbidden');
    const devices = await request(repo, 'GET', 'Device');
    expect(devices.status).toBe(403);
    expect((await request(repo, 'GET', 'ProjectMembership')).status).toBe(403);
  });

  test('a batch mixing A and B entries fails per entry', async () => {
    const repo = patientA();
    const result = await request<Bundle>(repo, 'POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Observation/${world.obsA.id}` } },
        { request: { method: 'GET', url: `Observation/${world.obsB.id}` } },
        { request: { method: 'POST', url: 'Observation' }, resource: heartRate(`Patient/${world.patientB.id}`) },
        { request: { method: 'POST', url: 'Observation' }, resource: heartRate(`Patient/${world.patientA.id}`) },
      ],
    });
    expect(result.status).toBe(200);
    expect(result.resource?.entry?.map((e) => e.response?.status)).toEqual(['200', '404', '403', '201']);
  });

  test('hidden fields are removed on read and search; readonly fields are restored on write', async () => {
    const repo = patientA();
    const app = await repo.readResource<ClientApplication>('ClientApplication', world.app.id);
    expect(app.name).toBe('app');
    expect(app.secret).toBeUndefined();
    const [searched] = await repo.searchResources(parseSearchRequest<ClientApplication>('ClientApplication'));
    expect(searched?.secret).toBeUndefined();

    const self = await repo.readResource<Patient>('Patient', world.patientA.id);
    const updated = await repo.updateResource<Patient>({
      ...self,
      identifier: [{ system: 'mrn', value: 'FORGED' }],
      gender: 'other',
    });
    expect(updated.gender).toBe('other');
    expect(updated.identifier).toEqual([{ system: 'mrn', value: 'A1' }]);
  });
});

describe('AccessPolicy: clinician grants and union semantics', () => {
  test('a parameterized grant for A reads A only', async () => {
    const repo = clinicianFor(`Patient/${world.patientA.id}`);
    expect((await request(repo, 'GET', `Observation/${world.obsA.id}`)).status).toBe(200);
    expect((await request(repo, 'GET', `Observation/${world.obsB.id}`)).status).toBe(404);
    const found = await request<Bundle<Observation>>(repo, 'GET', 'Observation?_count=100');
    expect(ids(found.resource)).toContain(`Observation/${world.obsA.id}`);
    expect(ids(found.resource)).not.toContain(`Observation/${world.obsB.id}`);
    expect(found.resource?.entry?.every((e) => e.resource?.subject?.reference === `Patient/${world.patientA.id}`)).toBe(
      true
    );
    expect((await request(repo, 'POST', 'Observation', heartRate(`Patient/${world.patientA.id}`))).status).toBe(403);
  });

  test('two grants are OR-ed', async () => {
    const repo = clinicianFor(`Patient/${world.patientA.id}`, `Patient/${world.patientB.id}`);
    const found = ids((await request<Bundle>(repo, 'GET', 'Observation?_count=100')).resource);
    expect(found).toContain(`Observation/${world.obsA.id}`);
    expect(found).toContain(`Observation/${world.obsB.id}`);
  });

  test('one broad entry anywhere disables filtering for that type', async () => {
    const broadRef = await world.fx.system.createResource<AccessPolicy>({
      resourceType: 'AccessPolicy',
      name: 'broad observation',
      resource: [{ resourceType: 'Observation', interaction: ['read', 'search'] }],
    });
    world.policies.set(`AccessPolicy/${broadRef.id}`, broadRef);
    const repo = repoFor({
      profile: { reference: 'Practitioner/clinician' },
      access: [
        {
          policy: policyId('shared patient'),
          parameter: [{ name: 'patient', valueReference: { reference: `Patient/${world.patientA.id}` } }],
        },
        { policy: { reference: `AccessPolicy/${broadRef.id}` } },
      ],
    });
    expect((await request(repo, 'GET', `Observation/${world.obsB.id}`)).status).toBe(200);
    const found = await request<Bundle>(repo, 'GET', 'Observation?_count=100');
    expect(found.resource?.entry?.length).toBeGreaterThanOrEqual(4);
    expect((await request(repo, 'GET', `Patient/${world.patientB.id}`)).status).toBe(404);
  });

  test('a writeConstraint that fails is Forbidden', async () => {
    const constrained = await world.fx.system.createResource<AccessPolicy>({
      resourceType: 'AccessPolicy',
      name: 'preliminary only',
      resource: [
        {
          resourceType: 'Observation',
          writeConstraint: [{ language: 'text/fhirpath', expression: "%after.status = 'preliminary'" }],
        },
      ],
    });
    world.policies.set(`AccessPolicy/${constrained.id}`, constrained);
    const repo = repoFor({ accessPolicy: { reference: `AccessPolicy/${constrained.id}` } });
    expect((await request(repo, 'POST', 'Observation', heartRate('Patient/' + randomUUID()))).status).toBe(403);
    expect(
      (await request(repo, 'POST', 'Observation', heartRate('Patient/' + randomUUID(), { status: 'preliminary' })))
        .status
    ).toBe(201);
  });

  test('admins read memberships of their project; the wildcard never matches admin types', async () => {
    await world.fx.system.createResource<ProjectMembership>({
      resourceType: 'ProjectMembership',
      project: { reference: `Project/${world.fx.project}` },
      user: { reference: 'User/u' },
      profile: { reference: `Patient/${world.patientA.id}` },
    });
    const admin = repoFor({ admin: true, profile: { reference: 'Practitioner/admin' } });
    expect(await admin.searchResources(parseSearchRequest('ProjectMembership'))).toHaveLength(1);
    const legacy = repoFor({ profile: { reference: 'Practitioner/nobody' } });
    expect((await request(legacy, 'GET', 'Observation')).status).toBe(200);
    expect((await request(legacy, 'GET', 'ProjectMembership')).status).toBe(403);
    expect((await request(legacy, 'GET', 'AccessPolicy')).status).toBe(403);
  });

  test('protected types (Login, JsonWebKey) are closed to everyone but the system', async () => {
    const admin = repoFor({ admin: true, profile: { reference: 'Practitioner/admin' } });
    expect((await request(admin, 'GET', 'Login')).status).toBe(403);
    expect((await request(world.fx.system, 'GET', 'Login')).status).toBe(200);
  });
});
