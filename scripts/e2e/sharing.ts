/**
 * The sharing part of `npm run e2e:medplum` (issue 9), on whatever server the run targets (`E2E_ONLY=sharing` runs
 * just this, in about two minutes): each owner gets a small record written by the admin; owner A grants the demo
 * clinician and the demo EHR through the `share` bot (a project-admin bot writing ProjectMemberships on the real
 * server); the clinician and the EHR client, with tokens they already hold, read exactly the scope (read, search,
 * batch, GraphQL, `Patient/$everything`); the owner's access log shows the clinician's reads from the server's own
 * AuditEvents (needs `saveAuditEvents: true`); a revoke is denied on the next request; an expired grant is ended
 * by the `share-reconcile` cron. Figures: grant → first allowed read, revoke → denied, end → denied.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import type { Bundle, ClientApplication, Resource } from '@medplum/fhirtypes';
import { CLIENT_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { metricTokens } from '../../bots/sharing/grants.ts';
import { EHR_CLIENT_IDENTIFIER_SYSTEM } from '../../bots/sharing/membership.ts';
import { tokenSearch } from '../../data/core/identity.ts';
import { CLIENT_KEYS } from '../../data/core/client-applications.ts';
import { clientCredentialsClient, passwordClient } from '../medplum-client.ts';
import { DEMO_LOGINS } from '../seed.ts';
import { canRead, grant, revoke, searchIds, share } from './sharing-client.ts';
import { daysAgo, seedRecord, SLEEP } from './sharing-record.ts';
import type { OwnerRecord } from './sharing-record.ts';

type Check = (ok: boolean, what: string, saw: unknown) => void;
type Figure = (name: string, value: string) => void;

export interface SharingContext {
  readonly baseUrl: string;
  readonly projectId: string;
  readonly admin: MedplumClient;
  readonly ownerA: MedplumClient;
  readonly ownerB: MedplumClient;
  readonly patientA: string;
  readonly patientB: string;
  readonly check: Check;
  readonly figure: Figure;
}

const ref = (r: Resource): string => `${r.resourceType}/${r.id ?? ''}`;

/** Owner records (of both fixtures) a client can read by id. */
async function readable(client: MedplumClient, records: readonly OwnerRecord[]): Promise<string[]> {
  const out: string[] = [];
  for (const record of records) {
    for (const resource of record.all) {
      if (await canRead(client, resource)) {
        out.push(ref(resource));
      }
    }
  }
  return out.sort();
}

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await probe()) {
      return performance.now() - start;
    }
    await sleep(250);
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for: ${what}`);
}

/** Revokes what an earlier run on the same server may have left in force, so this run starts from no grant. */
async function revokeAll(owner: MedplumClient): Promise<void> {
  const list = await share(owner, { action: 'list' });
  for (const g of 'grants' in list ? list.grants : []) {
    if (g.status === 'active') {
      await revoke(owner, g.id);
    }
  }
}

export async function sharingStep(ctx: SharingContext): Promise<void> {
  const { check, figure } = ctx;
  await revokeAll(ctx.ownerA);
  await revokeAll(ctx.ownerB);
  const a = await seedRecord(ctx.admin, `Patient/${ctx.patientA}`, { connectionRecord: false });
  const b = await seedRecord(ctx.admin, `Patient/${ctx.patientB}`, { connectionRecord: false });
  const clinician = await passwordClient(
    ctx.baseUrl,
    DEMO_LOGINS.clinician.email,
    DEMO_LOGINS.clinician.password,
    ctx.projectId
  );
  const drId = (await clinician.getProfileAsync())?.id ?? '';
  check((await readable(clinician, [a, b])).length === 0, 'clinician before any grant reads none of the records', '');

  // Grant → first allowed read (the token the clinician already holds).
  const grantStart = performance.now();
  const heart = await grant(ctx.ownerA, {
    grantee: { practitioner: drId },
    groups: ['heart'],
    content: ['wearable', 'derived'],
  });
  await waitUntil('the grant to hold', () => canRead(clinician, a.hrvRecent), 30_000);
  figure(
    'grant → first allowed read',
    `${(performance.now() - grantStart).toFixed(0)} ms (share bot + membership write)`
  );
  const expected = [ref(a.hrvRecent), ref(a.rhrRecent), ref(a.band), ref(a.device)].sort();
  const seen = await readable(clinician, [a, b]);
  check(JSON.stringify(seen) === JSON.stringify(expected), 'clinician reads exactly the granted records', seen);
  const since = daysAgo(30);
  const heartTokens = new Set(metricTokens(['heart']).split(','));
  const searched = await clinician.searchResources('Observation', { _count: '1000' }, { cache: 'no-cache' });
  const stray = searched.filter((o) => {
    const day = (o.effectiveDateTime ?? o.effectivePeriod?.end ?? o.effectivePeriod?.start ?? '').slice(0, 10);
    const codes = [...(o.code?.coding ?? []), ...(o.component ?? []).flatMap((c) => c.code?.coding ?? [])];
    const inGroup = codes.some((c) => heartTokens.has(`${c.system ?? ''}|${c.code ?? ''}`));
    return o.subject?.reference !== `Patient/${ctx.patientA}` || !inGroup || day < since;
  });
  check(
    searched.length > 0 && stray.length === 0,
    'clinician search: only owner A’s heart-group Observations since the start date',
    { returned: searched.length, stray: stray.map((o) => o.id) }
  );
  const otherOwner = await searchIds(clinician, 'Observation', { subject: `Patient/${ctx.patientB}` });
  check(otherOwner.length === 0, 'clinician search finds nothing of owner B', otherOwner.length);
  const basic = await searchIds(clinician, 'Basic');
  check(basic.length === 0, 'clinician sees no connection or token record', basic.length);
  const gql = (await clinician
    .graphql('{ ObservationList(_count: 1000) { id subject { reference } } }')
    .catch(() => undefined)) as { data?: { ObservationList?: { subject?: { reference?: string } }[] } } | undefined;
  const gqlOwners = new Set((gql?.data?.ObservationList ?? []).map((o) => o.subject?.reference));
  check(
    [...gqlOwners].every((o) => o === `Patient/${ctx.patientA}`),
    'clinician GraphQL: only owner A’s records',
    [...gqlOwners]
  );
  const batch = await clinician.executeBatch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: [...a.all, ...b.all].map((r) => ({ request: { method: 'GET', url: ref(r) } })),
  });
  const batchOk = (batch.entry ?? [])
    .filter((e) => e.response?.status?.startsWith('200'))
    .map((e) => ref(e.resource as Resource));
  check(
    JSON.stringify(batchOk.sort()) === JSON.stringify(expected),
    'clinician batch GET: exactly the granted records',
    batchOk
  );

  // Who looked: the server's own AuditEvents of those reads (saveAuditEvents).
  let total = 0;
  try {
    await waitUntil(
      'the access log',
      async () => {
        const log = await share(ctx.ownerA, { action: 'access-log', id: heart.id });
        total = 'total' in log ? log.total : 0;
        return total >= expected.length;
      },
      20_000
    );
  } catch {
    // Reported below.
  }
  check(total >= expected.length, `owner's access log lists the clinician's reads (saveAuditEvents)`, total);

  // Revoke → denied on the next request.
  const revokeStart = performance.now();
  await revoke(ctx.ownerA, heart.id);
  const deniedAfter = await canRead(clinician, a.hrvRecent);
  figure('revoke → denied', `${(performance.now() - revokeStart).toFixed(0)} ms (next request after the bot returns)`);
  check(!deniedAfter, 'after revoke the clinician’s next request is denied (same token)', deniedAfter);

  // Expiry → ended by the share-reconcile cron (every minute).
  const end = new Date(Date.now() + 5000);
  await grant(ctx.ownerA, { grantee: { practitioner: drId }, until: end.toISOString() });
  check(await canRead(clinician, a.hrvRecent), 'a short grant holds until its end', '');
  await sleep(Math.max(0, end.getTime() - Date.now()));
  const afterEnd = await waitUntil(
    'the expired grant to end',
    async () => !(await canRead(clinician, a.hrvRecent)),
    150_000
  );
  figure('grant end → denied', `${(afterEnd / 1000).toFixed(1)} s (share-reconcile cron, every minute)`);

  // EHR client: granted like a clinician, through the EHR's Organization.
  const org = await ctx.admin.searchOne('Organization', { identifier: `${EHR_CLIENT_IDENTIFIER_SYSTEM}|` });
  const app: ClientApplication | undefined = await ctx.admin.searchOne('ClientApplication', {
    _tag: tokenSearch(CLIENT_IDENTIFIER_SYSTEM, CLIENT_KEYS.ehrClient),
  });
  check(Boolean(org && app), 'the demo EHR Organization and its client exist', CLIENT_KEYS.ehrClient);
  if (org && app?.id && app.secret) {
    const ehr = await clientCredentialsClient(ctx.baseUrl, app.id, app.secret);
    check((await searchIds(ehr, 'Observation')).length === 0, 'EHR client before a grant reads nothing', '');
    const ehrGrant = await grant(ctx.ownerA, {
      grantee: { organization: org.id ?? '' },
      groups: ['heart', 'sleep'],
      content: ['wearable', 'derived'],
    });
    const sleepIds = await searchIds(ehr, 'Observation', {
      code: `${SLEEP.system}|${SLEEP.code}`,
      date: `ge${a.sleepRecent.effectiveDateTime?.slice(0, 10) ?? ''}`,
    });
    check(
      sleepIds.includes(a.sleepRecent.id) && !sleepIds.includes(b.sleepRecent.id),
      'EHR searches Observations by LOINC code and date: owner A’s, not B’s',
      sleepIds
    );
    // Medplum checks every type $everything searches against the caller's policy: without `_type` a grantee, who
    // may read only a few types, gets 403; with `_type` naming what it may read, the scoped record. Medplum 5.0.10
    // needs `_type` repeated (one `_type=A,B` fails with "types.push is not a function").
    const bare = await ehr
      .get<Bundle>(`fhir/R4/Patient/${ctx.patientA}/$everything`, { cache: 'no-cache' })
      .then(() => 'ok')
      .catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
    check(bare !== 'ok', 'EHR Patient/$everything without _type is refused (types it may not read)', bare);
    const everything = await ehr.get<Bundle>(
      `fhir/R4/Patient/${ctx.patientA}/$everything?_type=Observation&_type=Consent`,
      { cache: 'no-cache' }
    );
    const everythingRefs = everything.entry?.map((e) => (e.resource ? ref(e.resource) : '')) ?? [];
    const allowed = new Set([`Patient/${ctx.patientA}`, ...expected, ref(a.sleepRecent), `Consent/${ehrGrant.id}`]);
    const outside = everythingRefs.filter((r) => [...a.all, ...b.all].some((x) => ref(x) === r) && !allowed.has(r));
    check(everythingRefs.length > 0 && outside.length === 0, 'EHR Patient/$everything: only the granted records', {
      returned: everythingRefs.length,
      outside,
    });
    const otherEverything = await ehr
      .get<Bundle>(`fhir/R4/Patient/${ctx.patientB}/$everything?_type=Observation&_type=Consent`, {
        cache: 'no-cache',
      })
      .then((bundle) => (bundle.entry ?? []).length)
      .catch(() => 0);
    check(otherEverything === 0, 'EHR Patient/$everything of an owner who did not grant it: nothing', otherEverything);
    await revoke(ctx.ownerA, ehrGrant.id);
    check((await searchIds(ehr, 'Observation')).length === 0, 'EHR client after revoke reads nothing', '');
  }

  // Invite by email: the bot creates the clinician (the owner holds no admin rights).
  const invited = await grant(ctx.ownerA, {
    grantee: { invite: { email: `e2e.invite.${Date.now()}@example.org`, firstName: 'Invited', lastName: 'Clinician' } },
  });
  check(
    invited.grantee.reference.startsWith('Practitioner/'),
    'invite by email creates a clinician through the bot',
    invited.grantee
  );
  await revoke(ctx.ownerA, invited.id);
  // The step's own records go again: the owners' real data and later steps must not see them.
  for (const resource of [...a.all, ...b.all]) {
    await ctx.admin.deleteResource(resource.resourceType, resource.id ?? '').catch(() => undefined);
  }
}
