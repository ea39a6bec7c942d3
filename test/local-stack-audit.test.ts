/**
 * The local stack stores Medplum's per-interaction AuditEvents (server config `saveAuditEvents: true`, its default)
 * over real HTTP, as Medplum 5.0.10 does (fhir/repo.ts logEvent, util/auditevent.ts createAuditEvent): one per
 * create, read, history, update, patch and delete of one resource by a non-system author (clients, users, bots),
 * never for vread, searches or AuditEvents; written as the caller, so a policy without AuditEvent create stores
 * nothing. And a policy-limited caller sees no other patient's data through GraphQL or `_include`/`_revinclude`.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getReferenceString } from '@medplum/core';
import type { MedplumClient, WithId } from '@medplum/core';
import type {
  AccessPolicy,
  AuditEvent,
  Bundle,
  Device,
  Observation,
  Patient,
  Practitioner,
  ProjectMembership,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { envStackOptions, startLocalStack } from '../scripts/local-stack/server.ts';
import { clientCredentialsClient } from '../scripts/medplum-client.ts';
import { startTestStack } from './harness/stack.ts';
import type { TestStack } from './harness/stack.ts';

let env: TestStack;
let admin: MedplumClient;
let owner: MedplumClient;
let clinician: MedplumClient;
let ownerPatient: WithId<Patient>;
let otherPatient: WithId<Patient>;
let practitioner: WithId<Practitioner>;
let membership: WithId<ProjectMembership>;
let device: WithId<Device>;
let ownerObs: WithId<Observation>;
let otherObs: WithId<Observation>;
let sharePolicy: WithId<AccessPolicy>;
let auditCreatePolicy: WithId<AccessPolicy>;

interface Answer {
  status: number;
  json: unknown;
}

async function call(
  token: string,
  method: string,
  path: string,
  options: { json?: unknown; headers?: Record<string, string> } = {}
): Promise<Answer> {
  const res = await fetch(`${env.baseUrl}fhir/R4/${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(options.json === undefined ? {} : { 'Content-Type': 'application/fhir+json' }),
      ...options.headers,
    },
    body: options.json === undefined ? undefined : JSON.stringify(options.json),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    json = text; // a bot's plain-text answer
  }
  return { status: res.status, json };
}

function token(client: MedplumClient): string {
  return client.getAccessToken() ?? '';
}

function heartRate(subject: Patient, extra: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: getReferenceString(subject) },
    valueQuantity: { value: 61, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    ...extra,
  };
}

/** Every stored AuditEvent, oldest first, read by the admin in extended mode (searches are never audited). */
async function auditEvents(query = ''): Promise<WithId<AuditEvent>[]> {
  const answer = await call(token(admin), 'GET', `AuditEvent?_count=1000&_sort=_lastUpdated${query}`, {
    headers: { 'X-Medplum': 'extended' },
  });
  expect(answer.status).toBe(200);
  return ((answer.json as Bundle<WithId<AuditEvent>>).entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
}

function summary(events: AuditEvent[]): string[] {
  return events.map((e) => `${e.subtype?.[0]?.code}:${e.outcome}:${e.entity?.[0]?.what?.reference ?? '-'}`);
}

/** Gives the demo clinician exactly these policies (one `access[]` entry each, bound to the owner where it says so). */
async function grantClinician(entries: { policy: WithId<AccessPolicy>; boundToOwner: boolean }[]): Promise<void> {
  const { accessPolicy: _standing, ...current } = await admin.readResource('ProjectMembership', membership.id);
  // Only these policies: the demo clinician's standing policy (data/core) must not decide what these tests show.
  await admin.updateResource<ProjectMembership>({
    ...current,
    access: entries.map(({ policy, boundToOwner }) => ({
      policy: { reference: getReferenceString(policy) },
      ...(boundToOwner
        ? { parameter: [{ name: 'patient', valueReference: { reference: getReferenceString(ownerPatient) } }] }
        : {}),
    })),
  });
}

beforeAll(async () => {
  env = await startTestStack();
  admin = env.adminClient;
  owner = await env.signIn('owner');
  clinician = await env.signIn('clinician');
  ownerPatient = owner.getProfile() as WithId<Patient>;
  otherPatient = (await env.signIn('other')).getProfile() as WithId<Patient>;
  practitioner = clinician.getProfile() as WithId<Practitioner>;
  const found = await admin.searchOne('ProjectMembership', { profile: getReferenceString(practitioner) });
  if (!found) {
    throw new Error('no clinician membership');
  }
  membership = found;
  device = await admin.createResource<Device>({
    resourceType: 'Device',
    patient: { reference: getReferenceString(ownerPatient) },
    manufacturer: 'WHOOP',
  });
  ownerObs = await admin.createResource(
    heartRate(ownerPatient, {
      device: { reference: getReferenceString(device) },
      // In the owner's compartment (subject) and the other patient's (performer).
      performer: [{ reference: getReferenceString(otherPatient) }],
    })
  );
  otherObs = await admin.createResource(heartRate(otherPatient));
  sharePolicy = await admin.createResource<AccessPolicy>({
    resourceType: 'AccessPolicy',
    name: 'test share (one patient)',
    resource: [
      { resourceType: 'Patient', criteria: 'Patient?_id=%patient.id', interaction: ['read', 'search'] },
      {
        resourceType: 'Observation',
        criteria: 'Observation?_compartment=%patient',
        interaction: ['read', 'search', 'history', 'vread'],
      },
      { resourceType: 'Device', criteria: 'Device?patient=%patient', interaction: ['read', 'search'] },
    ],
  });
  auditCreatePolicy = await admin.createResource<AccessPolicy>({
    resourceType: 'AccessPolicy',
    name: 'test AuditEvent create',
    resource: [{ resourceType: 'AuditEvent', interaction: ['create'] }],
  });
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

describe('saveAuditEvents: what is stored, and its shape', () => {
  test('a full-access client: create, read, history, update, patch, delete stored; vread and search not', async () => {
    const t = token(admin);
    const created = await call(t, 'POST', 'Observation', { json: heartRate(ownerPatient) });
    const obs = created.json as WithId<Observation>;
    const ref = getReferenceString(obs);
    expect((await call(t, 'GET', ref)).status).toBe(200);
    expect((await call(t, 'GET', `${ref}/_history/${obs.meta?.versionId}`)).status).toBe(200);
    expect((await call(t, 'GET', `${ref}/_history`)).status).toBe(200);
    expect((await call(t, 'PUT', ref, { json: { ...obs, status: 'amended' } })).status).toBe(200);
    const patch = [{ op: 'replace', path: '/status', value: 'final' }];
    const patched = await fetch(`${env.baseUrl}fhir/R4/${ref}`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${t}`, 'Content-Type': 'application/json-patch+json' },
      body: JSON.stringify(patch),
    });
    expect(patched.status).toBe(200);
    expect((await call(t, 'GET', `Observation?_id=${obs.id}`)).status).toBe(200);
    expect((await call(t, 'DELETE', ref)).status).toBe(200);
    expect(summary(await auditEvents(`&entity=${ref}`))).toEqual([
      `create:0:${ref}`,
      `read:0:${ref}`,
      `history:0:${ref}`,
      `update:0:${ref}`,
      `patch:0:${ref}`,
      `delete:0:${ref}`,
    ]);
  });

  test('the AuditEvent as createAuditEvent builds it: agent, network, observer, entity display, tracing, meta', async () => {
    const traceId = crypto.randomUUID();
    const read = await call(token(admin), 'GET', getReferenceString(ownerObs), { headers: { 'X-Trace-Id': traceId } });
    expect(read.status).toBe(200);
    const event = (await auditEvents(`&entity=${getReferenceString(ownerObs)}`)).find((e) =>
      e.extension?.some((x) => x.extension?.some((y) => y.valueId === traceId))
    );
    const client = `ClientApplication/${env.admin.clientId}`;
    expect(event).toMatchObject({
      type: {
        system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
        code: 'rest',
        display: 'Restful Operation',
      },
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read', display: 'read' }],
      action: 'R',
      outcome: '0',
      source: { observer: { identifier: { value: env.baseUrl } } },
      agent: [{ who: { reference: client }, requestor: true, network: { address: '127.0.0.1', type: '2' } }],
      entity: [{ what: { reference: getReferenceString(ownerObs), display: 'Heart rate' } }],
      meta: { project: env.projectId, author: { reference: client } },
    });
    expect(event?.outcomeDesc).toBeUndefined();
    const tracing = event?.extension?.find((x) => x.url === 'https://medplum.com/fhir/StructureDefinition/tracing');
    expect(tracing?.extension?.map((x) => x.url)).toEqual(['requestId', 'traceId']);
    // About an Observation, by a client: in no patient's compartment.
    expect(event?.meta?.compartment).toEqual([{ reference: `Project/${env.projectId}` }]);
  });

  test('failures: a stale If-Match update is stored (outcome 4, "Precondition Failed"); a 404 read is not', async () => {
    const t = token(admin);
    const ref = getReferenceString(ownerObs);
    const before = await auditEvents(`&entity=${ref}`);
    const stale = await call(t, 'PUT', ref, { json: ownerObs, headers: { 'If-Match': 'W/"stale"' } });
    expect(stale.status).toBe(412);
    expect((await call(t, 'GET', `Observation/${crypto.randomUUID()}`)).status).toBe(404);
    const after = (await auditEvents(`&entity=${ref}`)).slice(before.length);
    expect(summary(after)).toEqual([`update:4:${ref}`]);
    expect(after[0]?.outcomeDesc).toBe('Precondition Failed');
    expect(after[0]?.action).toBe('U');
  });

  test('reading AuditEvents stores none about them; the FHIR quota is not charged for the stored AuditEvent', async () => {
    const t = token(admin);
    const [event] = await auditEvents();
    const stats = env.stack.ctx.stats;
    const adminMembership = await admin.searchOne('ProjectMembership', {
      profile: `ClientApplication/${env.admin.clientId}`,
    });
    const points = (): number => stats.quotaPoints[adminMembership?.id ?? ''] ?? 0;
    const count = (await auditEvents()).length;
    let spent = points();
    expect((await call(t, 'GET', `AuditEvent/${event?.id}`)).status).toBe(200);
    const auditRead = points() - spent;
    expect((await auditEvents()).length).toBe(count);
    spent = points();
    expect((await call(t, 'GET', getReferenceString(ownerObs))).status).toBe(200);
    const audited = points() - spent;
    expect((await auditEvents()).length).toBe(count + 1);
    // Same price with and without the AuditEvent write (the search in auditEvents() is charged separately).
    expect(audited).toBe(auditRead);
  });

  test('no subscription fires for an AuditEvent (a control Subscription on Observation does)', async () => {
    const hits: string[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        hits.push((JSON.parse(body || '{}') as { resourceType?: string }).resourceType ?? '?');
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      for (const criteria of ['AuditEvent', 'Observation']) {
        await admin.createResource({
          resourceType: 'Subscription',
          status: 'active',
          reason: 'test',
          criteria,
          channel: { type: 'rest-hook', endpoint, payload: 'application/fhir+json' },
        });
      }
      expect((await call(token(admin), 'GET', getReferenceString(ownerObs))).status).toBe(200);
      await admin.createResource(heartRate(otherPatient));
      await env.stack.subscriptions.idle();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(hits).toEqual(['Observation']);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('policy-limited callers', () => {
  test('a clinician bound to one patient, allowed to create AuditEvents: its reads are stored as Practitioner', async () => {
    await grantClinician([
      { policy: sharePolicy, boundToOwner: true },
      { policy: auditCreatePolicy, boundToOwner: false },
    ]);
    const t = token(clinician);
    const who = getReferenceString(practitioner);
    const before = await auditEvents(`&agent=${who}`);
    expect((await call(t, 'GET', getReferenceString(ownerObs))).status).toBe(200);
    expect((await call(t, 'GET', getReferenceString(ownerPatient))).status).toBe(200);
    expect((await call(t, 'GET', getReferenceString(otherObs))).status).toBe(404);
    expect((await call(t, 'GET', `Observation?subject=${getReferenceString(ownerPatient)}`)).status).toBe(200);
    const events = (await auditEvents(`&agent=${who}`)).slice(before.length);
    expect(summary(events)).toEqual([
      `read:0:${getReferenceString(ownerObs)}`,
      `read:0:${getReferenceString(ownerPatient)}`,
    ]);
    // Only the read of the Patient itself lands in the patient's compartment.
    expect(events[0]?.meta?.compartment).toEqual([{ reference: `Project/${env.projectId}` }]);
    expect(events[1]?.meta?.compartment).toContainEqual({ reference: getReferenceString(ownerPatient) });
    // The clinician cannot read what it wrote: its policy has no AuditEvent read.
    expect((await call(t, 'GET', `AuditEvent/${events[0]?.id}`)).status).toBe(403);
    // The owner's policy reads AuditEvents of its compartment: the Patient read, not the Observation read.
    const seen = await call(token(owner), 'GET', `AuditEvent?agent=${who}&_count=1000`);
    const ids = ((seen.json as Bundle).entry ?? []).map((e) => e.resource?.id);
    expect(ids).toContain(events[1]?.id);
    expect(ids).not.toContain(events[0]?.id);
  });

  test('a clinician whose policy cannot create AuditEvents: its reads work and nothing is stored', async () => {
    await grantClinician([{ policy: sharePolicy, boundToOwner: true }]);
    const who = getReferenceString(practitioner);
    const before = (await auditEvents(`&agent=${who}`)).length;
    const refused = env.stack.ctx.stats.auditEvents.refused;
    expect((await call(token(clinician), 'GET', getReferenceString(ownerObs))).status).toBe(200);
    expect(await auditEvents(`&agent=${who}`)).toHaveLength(before);
    expect(env.stack.ctx.stats.auditEvents.refused).toBe(refused + 1);
  });

  test('GraphQL: lists show only the bound patient; a read of one resource is stored, a list is not', async () => {
    await grantClinician([
      { policy: sharePolicy, boundToOwner: true },
      { policy: auditCreatePolicy, boundToOwner: false },
    ]);
    const who = getReferenceString(practitioner);
    const graphql = async (query: string): Promise<{ data?: Record<string, unknown>; errors?: unknown[] }> =>
      (await call(token(clinician), 'POST', '$graphql', { json: { query } })).json as {
        data?: Record<string, unknown>;
        errors?: unknown[];
      };
    const before = (await auditEvents(`&agent=${who}`)).length;
    const lists = await graphql(
      `{ ObservationList(_count: 100) { id } PatientList { id } DeviceList { id }
         other: ObservationList(subject: "${getReferenceString(otherPatient)}") { id } }`
    );
    expect(lists.data?.ObservationList).toEqual([{ id: ownerObs.id }]);
    expect(lists.data?.PatientList).toEqual([{ id: ownerPatient.id }]);
    expect(lists.data?.DeviceList).toEqual([{ id: device.id }]);
    const connection = await graphql(`
      {
        ObservationConnection {
          count
          edges {
            resource {
              id
            }
          }
        }
      }
    `);
    expect(connection.data?.ObservationConnection).toEqual({ count: 1, edges: [{ resource: { id: ownerObs.id } }] });
    // Medplum's searchImpl hands GraphQL `entry: []` ([]); the stand-in leaves `entry` out (null). Either is empty.
    expect(lists.data?.other ?? []).toEqual([]);
    expect(await auditEvents(`&agent=${who}`)).toHaveLength(before);

    const other = await graphql(`{ Observation(id: "${otherObs.id}") { id } }`);
    expect(other.data?.Observation ?? null).toBeNull();
    // A list's references resolved: the owner's Patient yes, the other patient (performer) never.
    const refs = await graphql(`
      {
        ObservationList(_count: 100) {
          id
          performer {
            resource {
              ... on Patient {
                id
              }
            }
          }
        }
      }
    `);
    expect(refs.data?.ObservationList).toEqual([{ id: ownerObs.id, performer: [{ resource: null }] }]);
    const one = await graphql(`{ Observation(id: "${ownerObs.id}") { id } }`);
    expect(one.data?.Observation).toEqual({ id: ownerObs.id });
    const after = (await auditEvents(`&agent=${who}`)).slice(before);
    expect(summary(after)).toContain(`read:0:${getReferenceString(ownerObs)}`);
    expect(summary(after).some((s) => s.includes(otherPatient.id) || s.includes(otherObs.id))).toBe(false);
  });

  test('_include and _revinclude never bring in another patient; included reads are stored, searches not', async () => {
    await grantClinician([
      { policy: sharePolicy, boundToOwner: true },
      { policy: auditCreatePolicy, boundToOwner: false },
    ]);
    const t = token(clinician);
    const who = getReferenceString(practitioner);
    const before = (await auditEvents(`&agent=${who}`)).length;
    const included = await call(t, 'GET', 'Observation?_include=Observation:performer&_include=Observation:subject');
    const entries = (included.json as Bundle).entry ?? [];
    expect(entries.map((e) => `${e.search?.mode}:${e.resource?.resourceType}/${e.resource?.id}`).sort()).toEqual(
      [`include:${getReferenceString(ownerPatient)}`, `match:${getReferenceString(ownerObs)}`].sort()
    );
    const revincluded = await call(t, 'GET', 'Patient?_revinclude=Observation:subject&_revinclude=Device:patient');
    const revEntries = (revincluded.json as Bundle).entry ?? [];
    expect(revEntries.map((e) => `${e.resource?.resourceType}/${e.resource?.id}`).sort()).toEqual(
      [getReferenceString(ownerPatient), getReferenceString(ownerObs), getReferenceString(device)].sort()
    );
    const byId = await call(t, 'GET', `Observation?_id=${otherObs.id}&_include=Observation:subject`);
    expect((byId.json as Bundle).entry ?? []).toEqual([]);
    // Medplum resolves _include with readReferences: each included resource is a read; the searches are not stored.
    const after = (await auditEvents(`&agent=${who}`)).slice(before);
    expect(summary(after)).toEqual([`read:0:${getReferenceString(ownerPatient)}`]);
  });
});

describe('bots are non-system authors', () => {
  test('a bot run stores its reads as Bot/<id> (no network: its login has no address); $execute reads the Bot', async () => {
    const t = token(admin);
    const policy = await admin.createResource<AccessPolicy>({
      resourceType: 'AccessPolicy',
      name: 'test bot',
      resource: [
        { resourceType: 'Observation', interaction: ['read'] },
        { resourceType: 'AuditEvent', interaction: ['create'] },
      ],
    });
    const created = await fetch(`${env.baseUrl}admin/projects/${env.projectId}/bot`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${t}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: `audit-bot-${crypto.randomUUID()}`,
        runtimeVersion: 'vmcontext',
        accessPolicy: { reference: getReferenceString(policy) },
      }),
    });
    const botId = ((await created.json()) as { id: string }).id;
    const code = `exports.handler = async function (medplum, event) {
      const obs = await medplum.readResource('Observation', event.input.id);
      return obs.id;
    };`;
    expect((await call(t, 'POST', `Bot/${botId}/$deploy`, { json: { code } })).status).toBe(200);
    const run = await call(t, 'POST', `Bot/${botId}/$execute`, { json: { id: ownerObs.id } });
    expect(run.status).toBe(200);
    // The bot run's own `execute` AuditEvent (agents: requester and bot) is another kind; only `rest` ones here.
    const byBot = await auditEvents(`&agent=Bot/${botId}&type=rest`);
    expect(summary(byBot)).toEqual([`read:0:${getReferenceString(ownerObs)}`]);
    expect(byBot[0]?.agent).toEqual([{ who: expect.objectContaining({ reference: `Bot/${botId}` }), requestor: true }]);
    const aboutBot = await auditEvents(`&entity=Bot/${botId}&agent=ClientApplication/${env.admin.clientId}`);
    expect(summary(aboutBot)).toContain(`read:0:Bot/${botId}`);
  });
});

describe('the switch', () => {
  test('LOCAL_STACK_SAVE_AUDIT_EVENTS is true|false; anything else is refused', () => {
    expect(envStackOptions({ LOCAL_STACK_SAVE_AUDIT_EVENTS: 'false' }).saveAuditEvents).toBe(false);
    expect(envStackOptions({ LOCAL_STACK_SAVE_AUDIT_EVENTS: 'true' }).saveAuditEvents).toBe(true);
    expect(envStackOptions({}).saveAuditEvents).toBeUndefined();
    expect(() => envStackOptions({ LOCAL_STACK_SAVE_AUDIT_EVENTS: 'yes' })).toThrow('LOCAL_STACK_SAVE_AUDIT_EVENTS');
  });

  test('saveAuditEvents: false stores none; the test stack (default) has it on', async () => {
    expect(env.stack.ctx.saveAuditEvents).toBe(true);
    const stack = await startLocalStack({ port: 0, saveAuditEvents: false });
    try {
      const client = await clientCredentialsClient(
        stack.baseUrl,
        stack.adminClient.clientId,
        stack.adminClient.clientSecret
      );
      const patient = await client.createResource<Patient>({ resourceType: 'Patient' });
      await client.readResource('Patient', patient.id);
      const events = await client.search('AuditEvent', { _count: '100' });
      expect(events.entry ?? []).toEqual([]);
      expect(stack.ctx.stats.auditEvents).toEqual({ stored: 0, refused: 0 });
    } finally {
      await stack.close();
    }
  });
});
