/**
 * The clinician's SMART launch (issue 9 §3) over real HTTP, driven by a SMART client that is not ours: the
 * `fhirclient` library (SMART Health IT's client-js, Node API). Its `authorize()` builds the redirect to the local
 * stack's `/oauth2/authorize` with the clinician-launch client, this test signs in on the stack's own form as the
 * clinician (as test/auth.test.ts does), and its `ready()` exchanges the code from the callback URL. Then the
 * clinician's own token reads exactly what the owner shared: with a grant, the launch patient and only the shared
 * records; standalone, exactly the granting owners; without a grant, after a revoke and after an expiry, nothing.
 *
 * The same scope is then read the way the app's clinician view reads it (app/src/lib/clinician-reader.ts): ids by
 * search, records by id in one batch, so Medplum writes an AuditEvent for each record shown.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { MedplumClient } from '@medplum/core';
import type { WithId } from '@medplum/core';
import type { Bundle, Observation, Patient, Practitioner, Resource, SmartAppLaunch } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { auditedReader, loadSharedOwners } from '../../app/src/lib/clinician-reader.ts';
import { CLIENT_KEYS } from '../../data/core/client-applications.ts';
import { startTestStack, TEST_APP_BASE_URL } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { bot } from '../whoop/helpers.ts';
import { seedRecord } from '../../scripts/e2e/sharing-record.ts';
import type { OwnerRecord } from '../../scripts/e2e/sharing-record.ts';
import { grant, revoke, share } from '../../scripts/e2e/sharing-client.ts';

const REDIRECT_URI = `${TEST_APP_BASE_URL}/launch/callback`;

/**
 * The part of fhirclient's Node API this test uses. Its own typings are not imported: they pull the DOM lib into the
 * whole type-check (`/// <reference lib="dom" />`), which changes `fetch`'s types for every script and test.
 */
interface FhirclientStorage {
  set(key: string, value: unknown): Promise<unknown>;
  get(key: string): Promise<unknown>;
  unset(key: string): Promise<boolean>;
}
interface Client {
  readonly patient: { readonly id: string | null; read(): Promise<unknown> };
  readonly user: { readonly fhirUser: string | null };
  readonly state: { readonly tokenResponse?: { readonly access_token?: string } };
  request(url: string): Promise<unknown>;
}
interface Smart {
  authorize(options: {
    clientId: string;
    scope: string;
    redirectUri: string;
    noRedirect: boolean;
    iss?: string;
  }): Promise<string | void>;
  ready(): Promise<Client>;
}
const smart = createRequire(import.meta.url)('fhirclient') as (
  request: IncomingMessage,
  response: ServerResponse,
  storage: FhirclientStorage
) => Smart;

let env: TestStack;
let clinician: MedplumClient;
let clientId: string;
let fhirBase: string;
let ownerId: string;
let otherId: string;
let drId: string;
let a: OwnerRecord;
let owner: MedplumClient;

/** fhirclient's server-side state store: in memory, one per launch (a session, in a real server). */
class MemoryStore implements FhirclientStorage {
  private readonly values = new Map<string, unknown>();
  async set(key: string, value: unknown): Promise<unknown> {
    this.values.set(key, value);
    return value;
  }
  async get(key: string): Promise<unknown> {
    return this.values.get(key);
  }
  async unset(key: string): Promise<boolean> {
    return this.values.delete(key);
  }
}

/** The parts of a Node request fhirclient's NodeAdapter reads (url, host, protocol): the app's launch or callback. */
function appRequest(url: string): IncomingMessage {
  const parsed = new URL(url);
  const request = { url: parsed.pathname + parsed.search, headers: { host: parsed.host }, socket: {} };
  return request as unknown as IncomingMessage;
}

/** With `noRedirect` fhirclient returns the URL instead of writing a 302, so no response is ever written. */
const NO_RESPONSE = {} as ServerResponse;

/**
 * One launch as the clinician: fhirclient's authorize, the stack's sign-in form, fhirclient's ready.
 * @param launch - a SmartAppLaunch id (EHR launch), or undefined (standalone launch).
 * @returns The fhirclient Client holding the clinician's token.
 */
async function launchAsClinician(launch: string | undefined): Promise<Client> {
  const store = new MemoryStore();
  const launchUrl = launch
    ? `${TEST_APP_BASE_URL}/launch?iss=${encodeURIComponent(fhirBase)}&launch=${launch}`
    : `${TEST_APP_BASE_URL}/launch`;
  const authorize = await smart(appRequest(launchUrl), NO_RESPONSE, store).authorize({
    clientId,
    scope: launch ? 'openid fhirUser launch patient/*.rs' : 'openid fhirUser user/*.rs',
    redirectUri: REDIRECT_URI,
    noRedirect: true,
    // A standalone launch names the server itself; an EHR launch takes `iss` from the launch URL.
    ...(launch ? {} : { iss: fhirBase }),
  });
  if (typeof authorize !== 'string') {
    throw new Error('fhirclient returned no authorize URL');
  }
  const authorizeUrl = new URL(authorize);
  expect(authorizeUrl.origin + authorizeUrl.pathname).toBe(`${env.baseUrl}oauth2/authorize`);
  expect(authorizeUrl.searchParams.get('client_id')).toBe(clientId);
  expect(authorizeUrl.searchParams.get('launch')).toBe(launch ?? null);
  expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');

  const page = await fetch(authorizeUrl);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<form method="post">');
  const submitted = await fetch(authorizeUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      ...Object.fromEntries(authorizeUrl.searchParams),
      ...env.logins.clinician,
    }).toString(),
    redirect: 'manual',
  });
  expect(submitted.status).toBe(302);
  const callback = submitted.headers.get('location') ?? '';
  expect(callback.startsWith(`${REDIRECT_URI}?`)).toBe(true);
  return smart(appRequest(callback), NO_RESPONSE, store).ready();
}

async function createLaunch(patientId: string): Promise<string> {
  // As the Medplum app does on the patient page: the clinician creates the SmartAppLaunch with their own token.
  const launch = await clinician.createResource<SmartAppLaunch>({
    resourceType: 'SmartAppLaunch',
    patient: { reference: `Patient/${patientId}` },
  });
  return launch.id;
}

/** Ids in a search answer; a refused request counts as nothing, with its status. */
async function ids(client: Client, url: string): Promise<{ status: number; ids: string[] }> {
  try {
    const bundle = (await client.request(url)) as Bundle;
    return { status: 200, ids: (bundle.entry ?? []).flatMap((e) => (e.resource?.id ? [e.resource.id] : [])).sort() };
  } catch (err) {
    const status = (err as { status?: unknown }).status;
    return { status: typeof status === 'number' ? status : 0, ids: [] };
  }
}

async function readStatus(client: Client, url: string): Promise<number> {
  try {
    await client.request(url);
    return 200;
  } catch (err) {
    const status = (err as { status?: unknown }).status;
    return typeof status === 'number' ? status : 0;
  }
}

/** A MedplumClient on the token fhirclient obtained: the app's clinician view reads with exactly this token. */
function medplumOn(client: Client, fetchImpl: typeof fetch = fetch): MedplumClient {
  const medplum = new MedplumClient({ baseUrl: env.baseUrl, fetch: fetchImpl });
  const token = client.state.tokenResponse?.access_token;
  if (!token) {
    throw new Error('no access token');
  }
  medplum.setAccessToken(token);
  return medplum;
}

beforeAll(async () => {
  env = await startTestStack();
  fhirBase = `${env.baseUrl}fhir/R4`;
  const id = env.deployReport.clients[CLIENT_KEYS.clinicianLaunch];
  if (!id) {
    throw new Error('deploy did not create the clinician-launch client');
  }
  clientId = id;
  owner = await env.signIn('owner');
  const other = await env.signIn('other');
  clinician = await env.signIn('clinician');
  ownerId = ((await owner.getProfileAsync()) as WithId<Patient>).id;
  otherId = ((await other.getProfileAsync()) as WithId<Patient>).id;
  drId = ((await clinician.getProfileAsync()) as WithId<Practitioner>).id;
  a = await seedRecord(env.adminClient, `Patient/${ownerId}`);
  await seedRecord(env.adminClient, `Patient/${otherId}`);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

describe('without a grant', () => {
  test('an EHR launch carries the patient, but the clinician’s token reads nothing of theirs', async () => {
    const client = await launchAsClinician(await createLaunch(ownerId));
    expect(client.patient.id).toBe(ownerId);
    expect(client.user.fhirUser).toBe(`Practitioner/${drId}`);
    expect(await readStatus(client, `Patient/${ownerId}`)).toBe(403);
    expect((await ids(client, `Observation?subject=Patient/${ownerId}`)).ids).toEqual([]);
    expect((await ids(client, 'Patient')).ids).toEqual([]);
    expect(await loadSharedOwners(auditedReader(medplumOn(client)), ownerId)).toEqual([]);
  });

  test('a standalone launch has no patient and finds no one', async () => {
    const client = await launchAsClinician(undefined);
    expect(client.patient.id).toBeNull();
    expect((await ids(client, 'Patient')).ids).toEqual([]);
    expect(await loadSharedOwners(auditedReader(medplumOn(client)), undefined)).toEqual([]);
  });
});

describe('with a grant', () => {
  let grantId = '';
  let ehr: Client;

  beforeAll(async () => {
    const view = await grant(owner, {
      grantee: { practitioner: drId },
      groups: ['heart'],
      content: ['wearable', 'derived'],
      sinceDaysAgo: 30,
    });
    grantId = view.id;
    ehr = await launchAsClinician(await createLaunch(ownerId));
  });

  test('EHR launch: the launch patient is the owner, and Observation searches return only the shared records', async () => {
    expect(ehr.patient.id).toBe(ownerId);
    const patient = (await ehr.patient.read()) as Patient;
    expect(patient.name?.[0]?.family).toBe('Rivera');
    // Heart values since the start date and the heart band; not the old HRV value, not sleep, not the narrative.
    expect((await ids(ehr, `Observation?subject=Patient/${ownerId}&_count=100`)).ids).toEqual(
      [a.hrvRecent.id, a.rhrRecent.id, a.band.id].sort()
    );
    expect((await ids(ehr, `Observation?patient=${ownerId}&_count=100`)).ids).toEqual(
      [a.hrvRecent.id, a.rhrRecent.id, a.band.id].sort()
    );
    // A type in the policy but a record outside its criteria: not found, as Medplum answers.
    expect(await readStatus(ehr, `Observation/${a.sleepRecent.id}`)).toBe(404);
    expect(await readStatus(ehr, `Observation/${a.narrative.id}`)).toBe(404);
    expect(await readStatus(ehr, `Flag/${a.flag.id}`)).toBe(403);
    expect(await readStatus(ehr, `Task/${a.task.id}`)).toBe(403);
    expect((await ids(ehr, 'Consent')).ids).toEqual([grantId]);
  });

  test('standalone launch: a Patient search returns exactly the granting owner', async () => {
    const client = await launchAsClinician(undefined);
    expect(client.patient.id).toBeNull();
    expect((await ids(client, 'Patient')).ids).toEqual([ownerId]);
    const owners = await loadSharedOwners(auditedReader(medplumOn(client)), undefined);
    expect(owners.map((o) => o.patient.id)).toEqual([ownerId]);
    expect(owners[0]?.grants.map((g) => ({ id: g.consentId, groups: g.groups, content: g.content }))).toEqual([
      { id: grantId, groups: ['heart'], content: ['wearable', 'derived'] },
    ]);
  });

  test('the app’s reader finds ids by search and reads the records themselves by id, in one batch', async () => {
    const requests: { method: string; url: string; body: string }[] = [];
    const counting: typeof fetch = async (input, init) => {
      requests.push({
        method: init?.method ?? 'GET',
        url: typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url,
        body: typeof init?.body === 'string' ? init.body : '',
      });
      return fetch(input, init);
    };
    const accessLogTotal = async (): Promise<number> => {
      const log = await share(owner, { action: 'access-log', id: grantId });
      if (!('total' in log)) {
        throw new Error('access-log returned no total');
      }
      return log.total;
    };
    const before = await accessLogTotal();
    const [found] = await auditedReader(medplumOn(ehr, counting)).searchAll([
      { resourceType: 'Observation', query: { subject: `Patient/${ownerId}`, _count: '100' } },
    ]);
    const resources = (found?.resources ?? []) as Resource[];
    expect(resources.map((r) => r.id).sort()).toEqual([a.hrvRecent.id, a.rhrRecent.id, a.band.id].sort());
    // Whole records (the search asked for ids only).
    expect((resources.find((r) => r.id === a.hrvRecent.id) as Observation | undefined)?.valueQuantity?.value).toBe(55);
    expect(requests).toHaveLength(2);
    const [search, batch] = requests;
    expect(search?.method).toBe('GET');
    expect(new URL(search?.url ?? '').searchParams.get('_elements')).toBe('id');
    expect(batch?.method).toBe('POST');
    const bundle = JSON.parse(batch?.body ?? '{}') as Bundle;
    expect(bundle.type).toBe('batch');
    expect(bundle.entry?.map((e) => `${e.request?.method} ${e.request?.url}`).sort()).toEqual(
      [a.hrvRecent.id, a.rhrRecent.id, a.band.id].map((id) => `GET Observation/${id}`).sort()
    );
    // The owner's access log (Medplum's AuditEvents): the three records read, nothing for the search.
    expect((await accessLogTotal()) - before).toBe(3);
  });

  test('after the revoke the same client’s requests return nothing or 403', async () => {
    await revoke(owner, grantId);
    expect(await readStatus(ehr, `Patient/${ownerId}`)).toBe(403);
    expect(await readStatus(ehr, `Observation/${a.hrvRecent.id}`)).toBe(403);
    expect((await ids(ehr, `Observation?subject=Patient/${ownerId}`)).ids).toEqual([]);
    expect((await ids(ehr, 'Patient')).ids).toEqual([]);
    expect(await loadSharedOwners(auditedReader(medplumOn(ehr)), ownerId)).toEqual([]);
  });
});

describe('after an expiry', () => {
  test('the client that read before the end reads nothing once the reconciler ran', async () => {
    const until = new Date(Date.now() + 4000).toISOString();
    await grant(owner, { grantee: { practitioner: drId }, until });
    const client = await launchAsClinician(await createLaunch(ownerId));
    expect((await ids(client, `Observation?subject=Patient/${ownerId}`)).ids).toEqual(
      [a.hrvRecent.id, a.rhrRecent.id].sort()
    );
    await new Promise((resolve) => setTimeout(resolve, Date.parse(until) - Date.now() + 200));
    // Past its end the view already shows nothing, even before the reconciler removed the access.
    expect(await loadSharedOwners(auditedReader(medplumOn(client)), ownerId)).toEqual([]);
    await env.adminClient.executeBot(bot('share-reconcile'), {});
    expect(await readStatus(client, `Patient/${ownerId}`)).toBe(403);
    expect((await ids(client, `Observation?subject=Patient/${ownerId}`)).ids).toEqual([]);
    expect((await ids(client, 'Patient')).ids).toEqual([]);
  });
});
