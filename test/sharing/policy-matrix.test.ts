/**
 * The policy matrix of issue 9 §7, over real HTTP: every kind of caller × every way of reading (read, search,
 * `_include`, `_revinclude`, `_history`, batch, GraphQL) and writing, against two owners' records. For every cell
 * the set of owner records returned must lie inside what that caller's grants allow — 0 unauthorized reads — and
 * the records a grant does allow must actually be readable (a matrix that passes by returning nothing proves
 * nothing). No caller but the bots may write. The number of cells is printed.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Bundle, ClientApplication, Patient, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { POLICY_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { EHR_CLIENT_IDENTIFIER_SYSTEM } from '../../bots/sharing/membership.ts';
import { POLICY_KEYS } from '../../data/core/access-policies.ts';
import { CLIENT_KEYS } from '../../data/core/client-applications.ts';
import { tokenSearch } from '../../data/core/identity.ts';
import { clientCredentialsClient, passwordClient } from '../../scripts/medplum-client.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { bot } from '../whoop/helpers.ts';
import { seedRecord } from '../../scripts/e2e/sharing-record.ts';
import type { OwnerRecord } from '../../scripts/e2e/sharing-record.ts';
import { grant, revoke } from '../../scripts/e2e/sharing-client.ts';

let env: TestStack;
let a: OwnerRecord;
let b: OwnerRecord;
/** Every owner record of both owners (incl. the Patients and the grants), by `Type/id`. */
const universe = new Map<string, Resource>();
interface Actor {
  name: string;
  client: MedplumClient;
  /** `Type/id` of the owner records this caller may read. */
  allowed: Set<string>;
}
const actors: Actor[] = [];
let cells = 0;
let unauthorized = 0;

const ref = (r: Resource): string => `${r.resourceType}/${r.id ?? ''}`;

async function clinician(name: string): Promise<{ client: MedplumClient; id: string }> {
  const email = `${name}@matrix.local`;
  const policy = await env.adminClient.searchOne('AccessPolicy', {
    _tag: tokenSearch(POLICY_IDENTIFIER_SYSTEM, POLICY_KEYS.clinicianBase),
  });
  await env.adminClient.invite(env.projectId, {
    resourceType: 'Practitioner',
    firstName: name,
    lastName: 'Matrix',
    email,
    password: `${name}-matrix-password`,
    sendEmail: false,
    membership: { accessPolicy: { reference: `AccessPolicy/${policy?.id ?? ''}` } },
  });
  const client = await passwordClient(env.baseUrl, email, `${name}-matrix-password`);
  const profile = await client.getProfileAsync();
  return { client, id: profile?.id ?? '' };
}

async function clientOf(key: string): Promise<MedplumClient> {
  const id = env.deployReport.clients[key] ?? '';
  const app: ClientApplication = await env.adminClient.readResource('ClientApplication', id);
  return clientCredentialsClient(env.baseUrl, id, app.secret ?? '');
}

/** The owner's part of a grant: its Patient, Device and Consent, plus the listed records. */
function scope(record: OwnerRecord, consentId: string, records: readonly Resource[]): string[] {
  return [record.patient, ref(record.device), `Consent/${consentId}`, ...records.map(ref)];
}

beforeAll(async () => {
  env = await startTestStack();
  const owner = await env.signIn('owner');
  const other = await env.signIn('other');
  const pa = (await owner.getProfileAsync()) as WithId<Patient>;
  const pb = (await other.getProfileAsync()) as WithId<Patient>;
  a = await seedRecord(env.adminClient, `Patient/${pa.id}`);
  b = await seedRecord(env.adminClient, `Patient/${pb.id}`);
  for (const r of [...a.all, ...b.all, pa, pb]) {
    universe.set(ref(r), r);
  }

  const before = await clinician('before');
  const withGrant = await clinician('granted');
  const revoked = await clinician('revoked');
  const expired = await clinician('expired');
  const two = await clinician('two');
  const ehr = await clientOf(CLIENT_KEYS.ehrClient);
  const patientApp = await clientOf(CLIENT_KEYS.patientApp);
  const ehrOrg = await env.adminClient.searchOne('Organization', { identifier: `${EHR_CLIENT_IDENTIFIER_SYSTEM}|` });

  const heart = { groups: ['heart' as const], content: ['wearable' as const, 'derived' as const] };
  const gGrant = await grant(owner, { grantee: { practitioner: withGrant.id }, ...heart });
  const gRevoked = await grant(owner, { grantee: { practitioner: revoked.id }, ...heart });
  await revoke(owner, gRevoked.id);
  const gExpired = await grant(owner, {
    grantee: { practitioner: expired.id },
    ...heart,
    until: new Date(Date.now() + 3000).toISOString(),
  });
  const gTwoA = await grant(owner, { grantee: { practitioner: two.id }, groups: ['heart'], content: ['wearable'] });
  const gTwoB = await grant(other, {
    grantee: { practitioner: two.id },
    groups: ['sleep'],
    content: ['wearable', 'alerts'],
  });
  const gEhr = await grant(owner, {
    grantee: { organization: ehrOrg?.id ?? '' },
    groups: ['heart', 'sleep'],
    content: ['wearable', 'derived', 'narratives'],
  });
  for (const id of [gGrant.id, gRevoked.id, gExpired.id, gTwoA.id, gTwoB.id, gEhr.id]) {
    const consent = await env.adminClient.readResource('Consent', id);
    universe.set(ref(consent), consent);
  }
  await new Promise((resolve) => setTimeout(resolve, 3200));
  await env.adminClient.executeBot(bot('share-reconcile'), {});

  const ownerGrants = (ids: string[]): string[] => ids.map((id) => `Consent/${id}`);
  const allOf = (record: OwnerRecord): string[] => [
    record.patient,
    ...record.all.filter((r) => r.resourceType !== 'Basic').map(ref),
  ];
  actors.push(
    {
      name: 'owner A',
      client: owner,
      allowed: new Set([...allOf(a), ...ownerGrants([gGrant.id, gRevoked.id, gExpired.id, gTwoA.id, gEhr.id])]),
    },
    { name: 'owner B', client: other, allowed: new Set([...allOf(b), `Consent/${gTwoB.id}`]) },
    { name: 'clinician before grant', client: before.client, allowed: new Set() },
    {
      name: 'clinician with grant',
      client: withGrant.client,
      allowed: new Set(scope(a, gGrant.id, [a.hrvRecent, a.rhrRecent, a.band])),
    },
    { name: 'clinician after revoke', client: revoked.client, allowed: new Set() },
    { name: 'clinician after expiry', client: expired.client, allowed: new Set() },
    {
      name: 'clinician with two owners’ grants',
      client: two.client,
      allowed: new Set([
        ...scope(a, gTwoA.id, [a.hrvRecent, a.rhrRecent]),
        ...scope(b, gTwoB.id, [b.sleepRecent, b.flag, b.communication]),
      ]),
    },
    {
      name: 'EHR client',
      client: ehr,
      allowed: new Set(scope(a, gEhr.id, [a.hrvRecent, a.rhrRecent, a.sleepRecent, a.band, a.narrative])),
    },
    { name: 'patient-app client', client: patientApp, allowed: new Set() }
  );
}, 180_000);

afterAll(async () => {
  console.log(`policy matrix: ${cells} cells, ${unauthorized} unauthorized reads`);
  await env?.stop();
});

/** Owner records among the resources a response carried. */
function ownerRecords(resources: readonly Resource[]): string[] {
  return resources.map(ref).filter((r) => universe.has(r));
}

function bundleResources(bundle: Bundle | undefined): Resource[] {
  const out: Resource[] = [];
  for (const entry of bundle?.entry ?? []) {
    if (entry.resource?.resourceType === 'Bundle') {
      out.push(...bundleResources(entry.resource));
    } else if (entry.resource) {
      out.push(entry.resource);
    }
  }
  return out;
}

async function attempt<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch {
    return undefined;
  }
}

async function succeeds(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch {
    return false;
  }
}

/** Records the cell and checks nothing outside the allowed set came back. */
function check(actor: Actor, interaction: string, returned: readonly string[]): void {
  cells++;
  const outside = [...new Set(returned)].filter((r) => !actor.allowed.has(r));
  unauthorized += outside.length;
  expect(outside, `${actor.name} × ${interaction}`).toEqual([]);
}

const SEARCH_TYPES = ['Patient', 'Observation', 'Device', 'Consent', 'Flag', 'Communication', 'Task', 'Basic'];

describe.each([
  'owner A',
  'owner B',
  'clinician before grant',
  'clinician with grant',
  'clinician after revoke',
  'clinician after expiry',
  'clinician with two owners’ grants',
  'EHR client',
  'patient-app client',
])('%s', (name) => {
  const actor = (): Actor => {
    const found = actors.find((x) => x.name === name);
    if (!found) {
      throw new Error(`no actor ${name}`);
    }
    return found;
  };

  test('read: exactly the allowed records', async () => {
    const readable: string[] = [];
    for (const [key, resource] of universe) {
      if (
        await attempt(() =>
          actor().client.readResource(resource.resourceType, resource.id ?? '', { cache: 'no-cache' })
        )
      ) {
        readable.push(key);
      }
    }
    check(actor(), 'read', readable);
    // Everything allowed is really readable.
    expect(readable.sort()).toEqual([...actor().allowed].sort());
  });

  test('search', async () => {
    const found: Resource[] = [];
    for (const type of SEARCH_TYPES) {
      found.push(
        ...bundleResources(
          await attempt(() => actor().client.search(type as 'Patient', { _count: '1000' }, { cache: 'no-cache' }))
        )
      );
    }
    check(actor(), 'search', ownerRecords(found));
  });

  test('_include', async () => {
    const found: Resource[] = [];
    for (const [type, include] of [
      ['Observation', 'Observation:subject'],
      ['Communication', 'Communication:about'],
      ['Flag', 'Flag:subject'],
      ['Consent', 'Consent:patient'],
      ['Device', 'Device:patient'],
    ] as const) {
      found.push(
        ...bundleResources(
          await attempt(() => actor().client.search(type, { _include: include }, { cache: 'no-cache' }))
        )
      );
    }
    check(actor(), '_include', ownerRecords(found));
  });

  test('_revinclude', async () => {
    const found = bundleResources(
      await attempt(() =>
        actor().client.search(
          'Patient',
          new URLSearchParams([
            ['_revinclude', 'Observation:subject'],
            ['_revinclude', 'Task:patient'],
            ['_revinclude', 'Basic:subject'],
            ['_revinclude', 'Flag:subject'],
            ['_revinclude', 'Consent:patient'],
          ]),
          { cache: 'no-cache' }
        )
      )
    );
    check(actor(), '_revinclude', ownerRecords(found));
  });

  test('_history', async () => {
    const found: Resource[] = [];
    for (const resource of universe.values()) {
      found.push(
        ...bundleResources(await attempt(() => actor().client.readHistory(resource.resourceType, resource.id ?? '')))
      );
    }
    check(actor(), '_history', ownerRecords(found));
  });

  test('batch', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        ...[...universe.values()].map((r) => ({
          request: { method: 'GET' as const, url: `${r.resourceType}/${r.id ?? ''}` },
        })),
        ...SEARCH_TYPES.map((type) => ({ request: { method: 'GET' as const, url: `${type}?_count=1000` } })),
      ],
    };
    const result = await attempt(() => actor().client.executeBatch(bundle));
    check(actor(), 'batch', ownerRecords(bundleResources(result)));
  });

  test('GraphQL', async () => {
    const query = `{ PatientList { id } ObservationList(_count: 1000) { id } DeviceList { id } ConsentList { id } FlagList { id } CommunicationList { id } TaskList { id } BasicList { id } }`;
    const result = await attempt(() => actor().client.graphql(query));
    const data = (result as { data?: Record<string, { id: string }[] | null> } | undefined)?.data ?? {};
    const returned = Object.entries(data).flatMap(([list, rows]) =>
      (rows ?? []).map((row) => `${list.replace(/List$/, '')}/${row.id}`)
    );
    check(
      actor(),
      'GraphQL',
      returned.filter((r) => universe.has(r))
    );
  });

  test('write: nothing, anywhere', async () => {
    cells++;
    const { id: _id, meta: _meta, ...copy } = a.hrvRecent;
    const created = await succeeds(() => actor().client.createResource(copy));
    const updated = await succeeds(() =>
      actor().client.updateResource({ ...b.sleepRecent, status: 'entered-in-error' })
    );
    const deleted = await succeeds(() => actor().client.deleteResource('Observation', a.hrvOld.id));
    expect([created, updated, deleted], actor().name).toEqual([false, false, false]);
    expect((await env.adminClient.readResource('Observation', a.hrvOld.id)).status).toBe('final');
  });
});
