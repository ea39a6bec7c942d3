/**
 * saveAuditEvents in the repository (Medplum 5.0.10 fhir/repo.ts logEvent and its call sites): which interactions
 * store an AuditEvent, with which outcome and subject, written as the caller (so its policy must allow the create),
 * after a transaction commits and never for a rolled-back one, without charging the FHIR quota.
 */
import { validateResource } from '@medplum/core';
import type { WithId } from '@medplum/core';
import type { AccessPolicy, AuditEvent, Bundle, Observation, Patient, Reference } from '@medplum/fhirtypes';
import { beforeEach, describe, expect, test } from 'vitest';
import type { QuotaRecorder, RepoContext } from './repo.ts';
import type { LocalRepository } from './repo.ts';
import type { Fixture } from './testing.ts';
import { createFixture, request } from './testing.ts';

let fx: Fixture;
let patient: WithId<Patient>;
let other: WithId<Patient>;

function observation(subject: string): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: subject },
  };
}

beforeEach(async () => {
  fx = await createFixture();
  patient = await fx.system.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ given: ['Alex'], family: 'Rivera' }],
  });
  other = await fx.system.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ given: ['Sam'], family: 'Okafor' }],
  });
});

function auditing(ctx: Partial<RepoContext> = {}): LocalRepository {
  return fx.repo({ saveAuditEvents: true, ...ctx });
}

async function stored(): Promise<WithId<AuditEvent>[]> {
  const bundle = await fx.system.search<AuditEvent>({ resourceType: 'AuditEvent', count: 1000 });
  return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
}

function summary(events: AuditEvent[]): string[] {
  return events.map((e) => `${e.subtype?.[0]?.code}:${e.outcome}:${e.entity?.[0]?.what?.reference ?? '-'}`);
}

describe('which interactions are stored (full access, Practitioner author)', () => {
  test('create, read, history, update, patch, delete of one resource; not vread, search or a deleted history', async () => {
    const repo = auditing({ author: { reference: 'Practitioner/pr1' } });
    const obs = await repo.createResource(observation(`Patient/${patient.id}`));
    const ref = `Observation/${obs.id}`;
    await repo.readResource('Observation', obs.id);
    await repo.readReferences([{ reference: ref }, { reference: `Observation/${crypto.randomUUID()}` }]);
    const updated = await repo.updateResource({ ...obs, status: 'amended' });
    await repo.readVersion('Observation', obs.id, updated.meta?.versionId ?? '');
    await repo.readHistory('Observation', obs.id);
    await repo.patchResource('Observation', obs.id, [{ op: 'replace', path: '/status', value: 'final' }]);
    await repo.search({ resourceType: 'Observation' });
    await repo.deleteResource('Observation', obs.id);
    await repo.readHistory('Observation', obs.id);
    expect(summary(await stored())).toEqual([
      `create:0:${ref}`,
      `read:0:${ref}`,
      `read:0:${ref}`,
      `update:0:${ref}`,
      `history:0:${ref}`,
      `patch:0:${ref}`,
      `delete:0:${ref}`,
    ]);
  });

  test('failures: only update stores one (outcome 4, outcomeDesc); read, create, patch and delete failures do not', async () => {
    const repo = auditing({ author: { reference: 'Practitioner/pr1' }, strictValidation: true });
    const obs = await repo.createResource(observation(`Patient/${patient.id}`));
    const before = (await stored()).length;
    await expect(repo.readResource('Observation', crypto.randomUUID())).rejects.toThrow('Not found');
    await expect(repo.createResource({ resourceType: 'Observation' } as Observation)).rejects.toThrow(
      'Missing required'
    );
    await expect(repo.deleteResource('Observation', crypto.randomUUID())).rejects.toThrow('Not found');
    await expect(
      repo.patchResource('Observation', crypto.randomUUID(), [{ op: 'replace', path: '/status', value: 'final' }])
    ).rejects.toThrow('Not found');
    await expect(repo.updateResource({ ...obs, status: 'amended' }, { ifMatch: 'stale' })).rejects.toThrow(
      'Precondition Failed'
    );
    const events = (await stored()).slice(before);
    expect(summary(events)).toEqual([`update:4:Observation/${obs.id}`]);
    expect(events[0]?.outcomeDesc).toBe('Precondition Failed');
  });

  test('the stored AuditEvent: caller as agent and meta.author, entity with display, project, compartment', async () => {
    const repo = auditing({ author: { reference: 'Practitioner/pr1' }, remoteAddress: '10.1.2.3', extendedMode: true });
    const obs = await repo.createResource(observation(`Patient/${patient.id}`));
    await repo.readResource('Patient', patient.id);
    const [created, readPatient] = await stored();
    expect(created?.agent).toEqual([
      { who: { reference: 'Practitioner/pr1' }, requestor: true, network: { address: '10.1.2.3', type: '2' } },
    ]);
    expect(created?.entity).toEqual([{ what: { reference: `Observation/${obs.id}`, display: 'Heart rate' } }]);
    expect(created?.meta?.author).toEqual({ reference: 'Practitioner/pr1' });
    expect(created?.meta?.project).toBe(fx.project);
    // About an Observation by a Practitioner: in no patient's compartment (only the deprecated project entry).
    expect(created?.meta?.compartment).toEqual([{ reference: `Project/${fx.project}` }]);
    expect(readPatient?.entity?.[0]?.what).toEqual({ reference: `Patient/${patient.id}`, display: 'Alex Rivera' });
    expect(readPatient?.meta?.compartment).toEqual([
      { reference: `Project/${fx.project}` },
      { reference: `Patient/${patient.id}` },
    ]);
    // The repository skips validating the AuditEvents it builds itself: they must be valid by construction.
    for (const event of await stored()) {
      expect(() => validateResource(event)).not.toThrow();
    }
  });

  test('not stored: the system author, saveAuditEvents off, interactions on AuditEvents', async () => {
    await fx.system.createResource(observation(`Patient/${patient.id}`));
    const off = fx.repo({ author: { reference: 'Practitioner/pr1' } });
    await off.readResource('Patient', patient.id);
    expect(await stored()).toEqual([]);
    const system = auditing({ author: { reference: 'system' } });
    await system.readResource('Patient', patient.id);
    expect(await stored()).toEqual([]);
    const repo = auditing();
    await repo.readResource('Patient', patient.id);
    const [event] = await stored();
    await repo.readResource('AuditEvent', event?.id ?? '');
    await repo.readHistory('AuditEvent', event?.id ?? '');
    expect(await stored()).toHaveLength(1);
  });
});

describe('written as the caller', () => {
  const shared: AccessPolicy = {
    resourceType: 'AccessPolicy',
    resource: [
      { resourceType: 'Patient', criteria: `Patient?_id=%patient.id`, interaction: ['read', 'search'] },
      { resourceType: 'Observation', criteria: 'Observation?_compartment=%patient', interaction: ['read', 'search'] },
    ],
  };

  function policy(patientId: string, extra: AccessPolicy['resource'] = []): AccessPolicy {
    const text = JSON.stringify({ ...shared, resource: [...(shared.resource ?? []), ...extra] })
      .replaceAll('%patient.id', patientId)
      .replaceAll('%patient', `Patient/${patientId}`);
    return JSON.parse(text) as AccessPolicy;
  }

  test('a policy without AuditEvent create: the read works, nothing is stored, the refusal is reported', async () => {
    const obs = await fx.system.createResource(observation(`Patient/${patient.id}`));
    const reports: boolean[] = [];
    const repo = auditing({
      author: { reference: 'Practitioner/pr1' },
      accessPolicy: policy(patient.id),
      onAuditEvent: (ok) => reports.push(ok),
    });
    await repo.readResource('Observation', obs.id);
    expect(await stored()).toEqual([]);
    expect(reports).toEqual([false]);
  });

  test('AuditEvent create limited to the patient compartment: only reads of the Patient itself are stored', async () => {
    const obs = await fx.system.createResource(observation(`Patient/${patient.id}`));
    const repo = auditing({
      author: { reference: 'Practitioner/pr1' },
      accessPolicy: policy(patient.id, [
        { resourceType: 'AuditEvent', criteria: 'AuditEvent?_compartment=%patient', interaction: ['create'] },
      ]),
    });
    await repo.readResource('Observation', obs.id);
    await repo.readResource('Patient', patient.id);
    expect(summary(await stored())).toEqual([`read:0:Patient/${patient.id}`]);
  });

  test('another patient is not readable: 404 and nothing stored; the FHIR quota is charged for the read only', async () => {
    const theirs = await fx.system.createResource(observation(`Patient/${other.id}`));
    const mine = await fx.system.createResource(observation(`Patient/${patient.id}`));
    const calls: string[] = [];
    const quota: QuotaRecorder = {
      recordRead: () => calls.push('read'),
      recordHistory: () => calls.push('history'),
      recordSearch: () => calls.push('search'),
      recordWrite: () => calls.push('write'),
    };
    const repo = auditing({
      author: { reference: 'Practitioner/pr1' },
      rateLimiter: quota,
      accessPolicy: policy(patient.id, [{ resourceType: 'AuditEvent', interaction: ['create'] }]),
    });
    await expect(repo.readResource('Observation', theirs.id)).rejects.toThrow('Not found');
    await repo.readResource('Observation', mine.id);
    expect(summary(await stored())).toEqual([`read:0:Observation/${mine.id}`]);
    expect(calls).toEqual(['read', 'read']);
  });
});

describe('transactions', () => {
  test('stored after the commit; a rolled-back transaction stores none', async () => {
    const repo = auditing({ author: { reference: 'Practitioner/pr1' } });
    const ok = await request<Bundle>(repo, 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ request: { method: 'POST', url: 'Observation' }, resource: observation(`Patient/${patient.id}`) }],
    });
    expect(ok.status).toBe(200);
    expect(summary(await stored())).toEqual([expect.stringMatching(/^create:0:Observation\//) as string]);
    const failed = await request<Bundle>(repo, 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'POST', url: 'Observation' }, resource: observation(`Patient/${patient.id}`) },
        {
          request: { method: 'PUT', url: `Observation/${crypto.randomUUID()}` },
          resource: { resourceType: 'Observation' },
        },
      ],
    });
    expect(failed.status).toBeGreaterThanOrEqual(400);
    expect(await stored()).toHaveLength(1);
  });
});

describe('subjects Medplum hands logEvent', () => {
  test('readReferences audits every entry; a failed one names only the Reference (not stored)', async () => {
    const repo = auditing({ author: { reference: 'Practitioner/pr1' } });
    const refs: Reference[] = [{ reference: `Patient/${patient.id}` }, { reference: 'Patient/not-a-uuid' }];
    const results = await repo.readReferences(refs);
    expect(results[1]).toBeInstanceOf(Error);
    expect(summary(await stored())).toEqual([`read:0:Patient/${patient.id}`]);
  });
});
