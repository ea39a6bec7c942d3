/**
 * The owner's export (issue 9 §5) over real HTTP, round-tripped: a local stack with two owners who both connected
 * WHOOP (the sandbox's own person each) and whose data went through the real backfill and analytics, plus what the
 * owner adds through the app's bots (an annotation, an alert rule that raises a Flag and its Communication) and a
 * grant Consent to the clinician. The owner exports with their own token; the export holds their whole compartment,
 * nothing of the other owner and no token material. A second, fresh stack imports it as its admin; exported again
 * from there, it compares equal to the original.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MedplumClient, WithId } from '@medplum/core';
import type { Bundle, Consent, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  compareRecords,
  exportRecord,
  exportRecordNdjson,
  fromNdjson,
  parseExportBundle,
  SOURCE_REFERENCE_EXTENSION,
  toNdjson,
} from '../../app/src/lib/export.ts';
import { TOKEN_STORE_BLOB_EXTENSION } from '../../bots/shared/connection.ts';
import { CONNECTION_EXTENSION } from '../../bots/shared/extensions.ts';
import { BOT_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { importRecord } from '../../scripts/import-record.ts';
import { startLocalStack } from '../../scripts/local-stack/server.ts';
import { clientCredentialsClient } from '../../scripts/medplum-client.ts';
import { startConnect } from '../../scripts/sandboxes/connect-flow.ts';
import { DEMO_LOGINS, DEMO_WHOOP_PEOPLE } from '../../scripts/seed.ts';
import { analyticsSettled } from '../harness/analytics.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { connectionOf, setSecrets, tokenRecordOf } from '../whoop/connection-helpers.ts';
import { finishConnect, REDIRECT_URI, settle, waitForBackfill } from '../whoop/helpers.ts';

type Who = 'owner' | 'other';

let source: TestStack;
let target: { stop(): Promise<void> } | undefined;
const clients = {} as Record<Who, MedplumClient>;
const patients = {} as Record<Who, WithId<Patient>>;
let exported: Bundle;
let exportMs = 0;
let clinicianId = '';

async function run(client: MedplumClient, name: string, input: Record<string, unknown>): Promise<unknown> {
  return client.executeBot({ system: BOT_IDENTIFIER_SYSTEM, value: name }, input, 'application/json');
}

function whoopUserId(who: Who): number {
  const person = source.whoop?.sandbox.users.find((u) => u.email === DEMO_LOGINS[who].email);
  if (!person) {
    throw new Error(`no sandbox person for ${who}`);
  }
  return person.userId;
}

async function quiet(): Promise<void> {
  await settle(source);
  for (const who of ['owner', 'other'] as const) {
    await analyticsSettled(source, `Patient/${patients[who].id}`);
  }
}

beforeAll(async () => {
  // The FHIR quota is not under test here; with the default, two owners' recomputes in one minute can run the
  // analytics bot out of its budget (a failed recompute, retried later by the sweeper, fails analyticsSettled).
  source = await startTestStack({ whoop: { days: 45, people: DEMO_WHOOP_PEOPLE }, fhirQuota: 1_000_000 });
  // The sandbox holds 45 days; importing just those (2 backfill windows instead of a year's 14) keeps the file fast.
  await setSecrets(source, { BASELINE_BACKFILL_DAYS: '45' });
  for (const who of ['owner', 'other'] as const) {
    clients[who] = await source.signIn(who);
    patients[who] = (await clients[who].getProfileAsync()) as WithId<Patient>;
    await finishConnect(clients[who], await startConnect(clients[who], REDIRECT_URI, whoopUserId(who)));
  }
  for (const who of ['owner', 'other'] as const) {
    await waitForBackfill(clients[who], 400_000);
  }
  await quiet();
  // What the owner adds in the app: an annotation, and an alert rule tight enough to raise a Flag + Communication.
  for (const who of ['owner', 'other'] as const) {
    await run(clients[who], 'annotate', {
      action: 'create',
      key: `k-export-${who}`,
      kind: 'travelling',
      start: '2026-11-20',
      end: '2026-11-22',
      note: `${who} in Lisbon`,
    });
  }
  const prefs = (await run(clients.owner, 'preferences', { action: 'get' })) as { rules: { rule: object }[] };
  await run(clients.owner, 'preferences', {
    action: 'set-rule',
    rule: { ...prefs.rules[0]?.rule, below: 0.999, above: 1.001 },
  });
  await quiet();
  // A grant to the clinician through the share bot: a Consent naming a Practitioner who is not part of the record.
  const clinician = await (await source.signIn('clinician')).getProfileAsync();
  if (!clinician) {
    throw new Error('the clinician has no profile');
  }
  clinicianId = clinician.id;
  const day = (offset: number): string => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  await run(clients.owner, 'share', {
    action: 'create',
    key: randomUUID(),
    grantee: { practitioner: clinician.id },
    groups: ['heart'],
    content: ['wearable', 'derived'],
    since: day(-30),
    until: day(30),
  });
  await quiet();
  const started = Date.now();
  exported = await exportRecord(clients.owner, patients.owner.id);
  exportMs = Date.now() - started;
}, 900_000);

afterAll(async () => {
  await target?.stop();
  await source?.stop();
});

function count(bundle: Bundle, type: string): number {
  return bundle.entry?.filter((e) => e.resource?.resourceType === type).length ?? 0;
}

describe('the owner exports their whole record', () => {
  test('every readable type is there, with the owner as the compartment of each', () => {
    const bytes = Buffer.byteLength(JSON.stringify(exported));
    const types = Object.fromEntries(
      ['Patient', 'Device', 'Observation', 'Task', 'AuditEvent', 'Flag', 'Communication', 'Consent'].map((t) => [
        t,
        count(exported, t),
      ])
    );
    console.log(`export: ${JSON.stringify(types)}, ${bytes} bytes, ${exportMs} ms`);
    expect(types).toMatchObject({ Patient: 1, Device: 1, Consent: 1 });
    expect(types['Observation']).toBeGreaterThan(200);
    for (const type of ['Task', 'AuditEvent', 'Flag', 'Communication']) {
      expect(types[type]).toBeGreaterThan(0);
    }
    const patientRef = `Patient/${patients.owner.id}`;
    for (const entry of exported.entry ?? []) {
      const resource = entry.resource;
      if (resource?.resourceType === 'Device') {
        expect(resource.patient?.reference).toBe(patientRef);
      } else {
        expect(resource?.meta?.compartment?.map((c) => c.reference)).toContain(patientRef);
      }
    }
    // Raw, derived, narrative and annotation Observations alike.
    const profiles = new Set(exported.entry?.flatMap((e) => e.resource?.meta?.profile ?? []));
    expect([...profiles].map((p) => p.split('/').pop()).sort()).toEqual(
      expect.arrayContaining([
        'baseline-annotation-observation',
        'baseline-derived-observation',
        'baseline-wearable-observation',
      ])
    );
    expect(parseExportBundle(JSON.parse(JSON.stringify(exported)))).toEqual(exported);
  });

  test('nothing of the other owner is in it', () => {
    const text = JSON.stringify(exported);
    expect(text).not.toContain(patients.other.id);
    expect(text).not.toContain('other in Lisbon');
    expect(text).not.toContain(`:${whoopUserId('other')}:`);
    expect(text).toContain('owner in Lisbon');
  });

  test('no token material: no Basic, no token fields, none of the issued or stored token strings', async () => {
    expect(exported.entry?.some((e) => e.resource?.resourceType === 'Basic')).toBe(false);
    const text = JSON.stringify(exported);
    expect(text).not.toMatch(/access_token|refresh_token|accessToken|refreshToken/i);
    const issued = (source.whoop?.sandbox.control.tokensFor(whoopUserId('owner')) ?? []).flatMap((t) =>
      [t.accessToken, t.refreshToken].filter((s): s is string => typeof s === 'string')
    );
    expect(issued.length).toBeGreaterThan(0);
    // The encrypted tokens at rest, and every long base64-ish piece of them.
    const connection = await connectionOf(source, patients.owner);
    const record = connection ? await tokenRecordOf(source, connection.id) : undefined;
    const blobs = [connection, record]
      .flatMap((basic) => basic?.extension ?? [])
      .filter((e) => e.url === TOKEN_STORE_BLOB_EXTENSION || e.url === CONNECTION_EXTENSION.tokens)
      .flatMap((e) => (e.valueString ? [e.valueString] : []));
    expect(blobs.length).toBeGreaterThan(0);
    const stored = blobs.flatMap((blob) => [blob, ...blob.split(/[^A-Za-z0-9+/=_-]+/).filter((s) => s.length >= 24)]);
    for (const secret of [...issued, ...stored]) {
      expect(text.includes(secret)).toBe(false);
    }
  });

  test('the owner sees all of it: small cursor pages and an admin export of the same compartment agree', async () => {
    const paged = await exportRecord(clients.owner, patients.owner.id, { pageSize: 50 });
    expect(compareRecords(exported, paged).differences).toEqual([]);
    const byAdmin = await exportRecord(source.adminClient, patients.owner.id);
    expect(compareRecords(exported, byAdmin).differences).toEqual([]);
  });

  test('the other owner cannot export the owner', async () => {
    await expect(exportRecord(clients.other, patients.owner.id)).rejects.toThrow(
      `Patient/${patients.owner.id} is not readable`
    );
  });

  test('NDJSON carries the same record, converted or streamed', async () => {
    expect(compareRecords(exported, fromNdjson(toNdjson(exported))).differences).toEqual([]);
    const lines = await exportRecordNdjson(clients.owner, patients.owner.id, { pageSize: 100 });
    expect(compareRecords(exported, fromNdjson(lines.join(''))).differences).toEqual([]);
  });
});

describe('re-imported into an empty project', () => {
  test('exported again from there, nothing is lost', async () => {
    // A fresh local stack with nothing deployed: an empty project, its admin client, no Baseline profiles or bots.
    // (A project with Baseline deployed refuses the imported grant Consents: its share profile requires a literal
    // grantee, and the grantee is not part of the record; see app/src/lib/export-import.ts.)
    const dataDir = mkdtempSync(join(tmpdir(), 'baseline-import-'));
    const stack = await startLocalStack({ dataDir, port: 0 });
    target = {
      stop: async () => {
        await stack.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
    const admin = await clientCredentialsClient(
      stack.baseUrl,
      stack.adminClient.clientId,
      stack.adminClient.clientSecret
    );
    const importStarted = new Date().toISOString();
    const report = await importRecord(admin, exported);
    console.log(
      `import: ${JSON.stringify(report.created)} in ${report.requests} requests, ${report.points} points, ${report.ms} ms`
    );
    expect(report.patient).toMatch(/^Patient\//);
    const reexported = await exportRecord(admin, report.patient.slice('Patient/'.length));
    // With `saveAuditEvents` (Medplum's documented setting, the local stack's default) the target records the import
    // itself: the admin client's create of the Patient is an AuditEvent in the new compartment. That is the target's
    // own fact, newer than the export; it is set aside once checked to be exactly that.
    const own = (reexported.entry ?? []).filter(
      (e) => e.resource?.resourceType === 'AuditEvent' && (e.resource.recorded ?? '') >= importStarted
    );
    expect(own.length).toBeLessThanOrEqual(1);
    for (const entry of own) {
      expect(entry.resource).toMatchObject({
        action: 'C',
        agent: [{ who: { reference: `ClientApplication/${stack.adminClient.clientId}` } }],
        entity: [{ what: { reference: report.patient } }],
      });
    }
    const again: Bundle = { ...reexported, entry: reexported.entry?.filter((e) => !own.includes(e)) };
    const comparison = compareRecords(exported, again);
    expect(comparison.differences).toEqual([]);
    expect(comparison.equal).toBe(true);
    expect(Object.values(comparison.counts).reduce((sum, [a]) => sum + a, 0)).toBe(exported.entry?.length);
    // The comparison is not blind on real data: one value changed inside one Observation is found (with whatever is
    // derived from it).
    const tampered = JSON.parse(JSON.stringify(again)) as Bundle;
    const sampled = tampered.entry?.find((e) => e.resource?.resourceType === 'Observation' && e.resource.valueQuantity);
    if (sampled?.resource?.resourceType === 'Observation' && sampled.resource.valueQuantity) {
      sampled.resource.valueQuantity.value = (sampled.resource.valueQuantity.value ?? 0) + 1;
    }
    expect(compareRecords(exported, tampered).differences.join('\n')).toMatch(/^Observation: \d+ only in a/m);
    // The grant's clinician is not in the new project: the Consent says who it was, without a literal reference.
    const consent = again.entry?.find((e) => e.resource?.resourceType === 'Consent')?.resource as Consent;
    expect(consent.provision?.actor?.[0]?.reference).toMatchObject({
      extension: [
        { url: SOURCE_REFERENCE_EXTENSION, valueUri: `${source.baseUrl}fhir/R4/Practitioner/${clinicianId}` },
      ],
    });
    expect(consent.provision?.actor?.[0]?.reference?.reference).toBeUndefined();

    // A second import into the same project is refused instead of doubling the record.
    await expect(importRecord(admin, exported)).rejects.toThrow(/already holds/);
  }, 300_000);
});
