/**
 * `npm run e2e:medplum`: the whole WHOOP flow against any Medplum 5 server, as an operator and two owners would use
 * it, with the attacks of issue 6 — and the figures it measured.
 *
 * Target: `MEDPLUM_BASE_URL`, `MEDPLUM_CLIENT_ID`, `MEDPLUM_CLIENT_SECRET` (a project-admin client of a project with
 * the bots, cron and transaction-bundles features; env or .env). Without them it starts a fresh local stack
 * (`LOCAL_STACK_MEDPLUM_VERSION`, default 5.0). The WHOOP sandbox runs in this process on 127.0.0.1; the server's bots
 * reach it there, so the server must run on this machine (or reach this one).
 *
 * Steps: deploy twice (the second must change nothing) → Project secrets (token key, sandbox app) → two owners →
 * owner A connects through the sandbox's consent page → the 1-year backfill under the server's quota (exact count
 * from the sandbox's records, 0 failed Tasks) → re-sync of unchanged data (0 writes) → signed webhooks → searchable
 * latency → insights (bands, narratives, an annotation, an alert; insights.ts) → attacks (forged deletion, 100 forged hints, owner B reading A, token material through FHIR) → disconnect
 * with erase (paced, to 0) → reconnect (imports again, exactly once) → disconnect keeping data → Withings and Oura
 * through the webhook edge (providers.ts).
 * Exits 1 on the first failed check, printing what it saw.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import type { Task } from '@medplum/fhirtypes';
import {
  CONNECTION_CODE_TOKEN,
  parseConnection,
  TOKEN_STORE_CODE_TOKEN,
  TOKEN_STORE_IDENTIFIER_SYSTEM,
} from '../../bots/shared/connection.ts';
import type { ConnectionView } from '../../bots/shared/connection.ts';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { whoopSignature } from '../../bots/whoop/signature.ts';
import { expectedWhoopObservations } from '../../test/whoop/expected.ts';
import { insightsStep } from './insights.ts';
import { providersStep } from './providers.ts';
import { sharingStep } from './sharing.ts';
import { loadEnv } from '../deploy/env.ts';
import { deploy } from '../deploy/index.ts';
import type { DeployReport } from '../deploy/index.ts';
import { clientCredentialsClient, passwordClient } from '../medplum-client.ts';
import { bot, finishConnect, startConnect } from '../sandboxes/connect-flow.ts';
import { mergeProjectSecrets } from '../sandboxes/project-secrets.ts';
import { registerWhoopWebhook, startWiredWhoopSandbox, WHOOP_CALLBACK_PATH } from '../sandboxes/wire.ts';
import type { WiredWhoop } from '../sandboxes/wire.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../seed.ts';

const APP = 'http://127.0.0.1:3000';
const REDIRECT = APP + WHOOP_CALLBACK_PATH;
const BACKFILL_TIMEOUT_MS = Number(process.env.E2E_BACKFILL_TIMEOUT_S ?? 1800) * 1000;
const WEBHOOK_EVENTS = Number(process.env.E2E_WEBHOOK_EVENTS ?? 30);
/**
 * `E2E_ONLY=sharing`: deploy, the demo people and the sharing step only (~2 minutes); `E2E_ONLY=providers`: deploy,
 * the demo people and the Withings + Oura step only (providers.ts).
 */
const ONLY = process.env.E2E_ONLY;

const figures: [string, string][] = [];
function figure(name: string, value: string): void {
  figures.push([name, value]);
  console.log(`  ${name}: ${value}`);
}
function check(ok: boolean, what: string, saw: unknown): void {
  if (!ok) {
    throw new Error(`${what} — saw ${JSON.stringify(saw)}`);
  }
  console.log(`  ✔ ${what}`);
}

interface Target {
  /** Whether the server hands bots the raw body (Medplum ≥ 5.2): webhooks are then verified, not hints. */
  rawBody: boolean;
  baseUrl: string;
  admin: MedplumClient;
  projectId: string;
  label: string;
  close(): Promise<void>;
}

async function target(): Promise<Target> {
  const env = loadEnv(join(process.cwd(), '.env'), process.env);
  const baseUrl = env.MEDPLUM_BASE_URL;
  if (baseUrl && env.MEDPLUM_CLIENT_ID && env.MEDPLUM_CLIENT_SECRET) {
    const admin = await clientCredentialsClient(baseUrl, env.MEDPLUM_CLIENT_ID, env.MEDPLUM_CLIENT_SECRET);
    const me = (await admin.get('auth/me', { cache: 'no-cache' })) as { project: { id: string } };
    const health = (await (await fetch(new URL('healthcheck', baseUrl))).json()) as { version?: string };
    const [major, minor] = (health.version ?? '0.0').split(/[.-]/).map(Number);
    return {
      rawBody: (major ?? 0) > 5 || ((major ?? 0) === 5 && (minor ?? 0) >= 2),
      baseUrl,
      admin,
      projectId: me.project.id,
      label: `${baseUrl} (Medplum ${health.version ?? 'unknown version'})`,
      close: async () => undefined,
    };
  }
  const { startLocalStack } = await import('../local-stack/server.ts');
  const version = (process.env.LOCAL_STACK_MEDPLUM_VERSION ?? '5.0') as '5.0' | '5.2';
  const stack = await startLocalStack({
    dataDir: mkdtempSync(join(tmpdir(), 'baseline-e2e-')),
    port: 0,
    cron: true,
    medplumVersion: version,
  });
  const admin = await clientCredentialsClient(
    stack.baseUrl,
    stack.adminClient.clientId,
    stack.adminClient.clientSecret
  );
  return {
    rawBody: version === '5.2',
    baseUrl: stack.baseUrl,
    admin,
    projectId: stack.projectId,
    label: `local stack in Medplum ${version} mode`,
    close: () => stack.close(),
  };
}

async function connections(client: MedplumClient): Promise<ConnectionView[]> {
  return ((await client.executeBot(bot('connections'), {})) as { connections: ConnectionView[] }).connections;
}

async function whoopView(client: MedplumClient): Promise<ConnectionView | undefined> {
  return (await connections(client)).find((c) => c.provider === 'whoop');
}

/** The id of a patient's WHOOP token-store record, as the admin sees it (undefined: none). */
async function tokenRecordId(admin: MedplumClient, patientId: string): Promise<string | undefined> {
  // The owner's WHOOP connection: on a server that already ran the providers step, they have others as well.
  const connection = (
    await admin.searchResources(
      'Basic',
      { code: CONNECTION_CODE_TOKEN, subject: `Patient/${patientId}` },
      { cache: 'no-cache' }
    )
  ).find((basic) => parseConnection(basic).provider === 'whoop');
  if (!connection) {
    return undefined;
  }
  const record = await admin.searchOne(
    'Basic',
    { code: TOKEN_STORE_CODE_TOKEN, identifier: `${TOKEN_STORE_IDENTIFIER_SYSTEM}|${connection.id}` },
    { cache: 'no-cache' }
  );
  return record?.id;
}

/** Whether any version of a record is left: an expunged record has no history, a deleted one keeps it. */
async function historyLeft(admin: MedplumClient, id: string): Promise<number> {
  const bundle = await admin.readHistory('Basic', id).catch(() => undefined);
  return bundle?.entry?.length ?? 0;
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  pollMs = 1000
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await sleep(pollMs);
  }
}

async function countObservations(admin: MedplumClient, query: Record<string, string>): Promise<number> {
  const bundle = await admin.search('Observation', { ...query, _summary: 'count' }, { cache: 'no-cache' });
  return bundle.total ?? 0;
}

async function tasksOf(admin: MedplumClient, patientId: string, kind: string, since: string): Promise<Task[]> {
  const out: Task[] = [];
  for await (const page of admin.searchResourcePages(
    'Task',
    { patient: `Patient/${patientId}`, code: `${TASK_TYPE_SYSTEM}|${kind}`, _lastUpdated: `ge${since}`, _count: '200' },
    { cache: 'no-cache' }
  )) {
    out.push(...page);
  }
  return out;
}

/** Waits until no erase Task of the patient is still queued or running. */
async function waitForErase(admin: MedplumClient, patientId: string): Promise<void> {
  await waitFor('erase Tasks', BACKFILL_TIMEOUT_MS, async () => {
    const open = (await tasksOf(admin, patientId, 'erase', '1970-01-01T00:00:00Z')).filter(
      (task) => task.status !== 'completed' && task.status !== 'cancelled'
    );
    if (
      open.some(
        (task) => task.status === 'failed' && !task.extension?.some((e) => e.url.endsWith('/task-next-attempt'))
      )
    ) {
      throw new Error(`an erase Task gave up: ${open.map((task) => task.businessStatus?.text).join('; ')}`);
    }
    return open.length === 0 ? true : undefined;
  });
}

function outputOf(task: Task, code: string): number {
  return task.output?.find((o) => o.type.coding?.some((c) => c.code === code))?.valueInteger ?? 0;
}

/** Connects, then waits for the whole backfill; returns what it saw. */
async function connectAndBackfill(
  t: Target,
  owner: MedplumClient,
  patientId: string,
  label: string
): Promise<{ ms: number; windows: number; tasks: Task[] }> {
  const since = new Date(Date.now() - 1000).toISOString();
  const consent = await startConnect(owner, REDIRECT);
  const started = performance.now();
  const connected = await finishConnect(owner, REDIRECT, consent);
  check(connected.queuedWindows > 0, `${label}: connect queued backfill windows`, connected.queuedWindows);
  let last = '';
  await waitFor(`${label} backfill`, BACKFILL_TIMEOUT_MS, async () => {
    const view = await whoopView(owner);
    const progress = JSON.stringify(view?.backfill);
    if (progress !== last) {
      last = progress;
      console.log(`    ${((performance.now() - started) / 1000).toFixed(0)} s: ${progress}`);
    }
    return view && view.backfill.total > 0 && view.backfill.inProgress === 0 ? view : undefined;
  });
  const ms = performance.now() - started;
  // This link's windows: an earlier link's were cancelled at its disconnect, before `since`.
  const tasks = await tasksOf(t.admin, patientId, 'backfill', since);
  return { ms, windows: connected.queuedWindows, tasks };
}

async function main(): Promise<void> {
  const t = await target();
  console.log(`e2e:medplum against ${t.label} — takes ~25 minutes at the default quota`);
  const rawBody = t.rawBody;
  let whoop: WiredWhoop | undefined;
  try {
    // ---- operator: deploy twice, secrets
    console.log('\n1. Deploy');
    const first: DeployReport = await deploy({
      client: t.admin,
      projectId: t.projectId,
      appBaseUrls: [APP],
      log: () => undefined,
    });
    console.log(`  ${first.summary}`);
    const second = await deploy({ client: t.admin, projectId: t.projectId, appBaseUrls: [APP], log: () => undefined });
    console.log(`  ${second.summary}`);
    check(
      second.counts.created === 0 && second.counts.updated === 0,
      'second deploy changes nothing',
      second.changes.filter((c) => c.action !== 'unchanged')
    );
    await mergeProjectSecrets(
      t.admin,
      t.projectId,
      { BASELINE_TOKEN_KEY: randomBytes(32).toString('base64'), BASELINE_TOKEN_KEY_ID: 'e2e-1' },
      { onlyMissing: true }
    );
    whoop = await startWiredWhoopSandbox({
      admin: t.admin,
      projectId: t.projectId,
      appBaseUrls: [APP],
      overwriteSecrets: true,
    });
    const webhookUrl = registerWhoopWebhook(whoop, second);

    // ---- two owners
    console.log('\n2. Owners');
    await seedDemoPeople(t.admin, t.projectId);
    const ownerA = await passwordClient(t.baseUrl, DEMO_LOGINS.owner.email, DEMO_LOGINS.owner.password, t.projectId);
    const ownerB = await passwordClient(t.baseUrl, DEMO_LOGINS.other.email, DEMO_LOGINS.other.password, t.projectId);
    const patientA = (await ownerA.getProfileAsync())?.id ?? '';
    const patientB = (await ownerB.getProfileAsync())?.id ?? '';
    const sharingContext = {
      baseUrl: t.baseUrl,
      projectId: t.projectId,
      admin: t.admin,
      ownerA,
      ownerB,
      patientA,
      patientB,
      check,
      figure,
    };
    if (ONLY === 'sharing') {
      console.log('\n3. Sharing (E2E_ONLY=sharing)');
      await sharingStep(sharingContext);
      console.log('\nFigures');
      for (const [name, value] of figures) {
        console.log(`  ${name}: ${value}`);
      }
      console.log('\ne2e:medplum sharing passed');
      return;
    }
    const providersContext = {
      baseUrl: t.baseUrl,
      projectId: t.projectId,
      admin: t.admin,
      owner: ownerA,
      patientId: patientA,
      appBaseUrl: APP,
      report: second,
      check,
      figure,
    };
    if (ONLY === 'providers') {
      console.log('\n3. Withings and Oura (E2E_ONLY=providers)');
      await providersStep(providersContext, rawBody);
      console.log('\nFigures');
      for (const [name, value] of figures) {
        console.log(`  | ${name} | ${value} |`);
      }
      console.log('\ne2e:medplum providers passed');
      return;
    }
    const earlier = await whoopView(ownerA);
    if (earlier && (earlier.status !== 'disconnected' || earlier.erase?.status !== 'completed')) {
      // A previous run that stopped half way: erase it, so this run measures a fresh import (reconnecting after a
      // disconnect that kept the data finds it all in place and writes nothing).
      await ownerA.executeBot(bot('disconnect'), { provider: 'whoop', erase: true });
    }
    await waitForErase(t.admin, patientA);

    // ---- backfill
    console.log('\n3. Connect owner A and backfill a year under the server quota');
    const connectedAt = new Date().toISOString();
    const backfill = await connectAndBackfill(t, ownerA, patientA, 'owner A');
    const view = await whoopView(ownerA);
    const device = view?.deviceId ? `Device/${view.deviceId}` : '';
    const failed = backfill.tasks.filter((task) => task.status === 'failed');
    check(
      failed.length === 0,
      'backfill: 0 failed Tasks',
      failed.map((f) => f.businessStatus?.text)
    );
    const expected = await expectedWhoopObservations(whoop, backfill.tasks);
    const stored = await countObservations(t.admin, { subject: `Patient/${patientA}`, device, status: 'final' });
    // Height and weight: read by the window that reaches the present, written once by value.
    const bodyValues = 2;
    check(
      stored === expected.observations + bodyValues,
      `backfill: exactly the ${expected.observations} Observations the sandbox's records call for (+ ${bodyValues} body values)`,
      stored
    );
    const points = backfill.tasks.reduce((sum, task) => sum + outputOf(task, 'points'), 0);
    const writes = backfill.tasks.reduce(
      (sum, task) => sum + outputOf(task, 'created') + outputOf(task, 'updated') + outputOf(task, 'retracted'),
      0
    );
    figure('1-year backfill wall time', `${(backfill.ms / 60_000).toFixed(2)} min (${backfill.windows} windows)`);
    figure(
      'Observations',
      `${stored} from ${expected.records} WHOOP records (${(stored / (backfill.ms / 1000)).toFixed(0)}/s)`
    );
    figure(
      'quota points per WHOOP record',
      `${(points / expected.records).toFixed(0)} (${points} points, ${writes} writes → ${(writes / expected.records).toFixed(2)} writes/record)`
    );

    // ---- re-sync of unchanged data
    console.log('\n4. Re-sync of unchanged data');
    await sleep(61_000); // WHOOP's 100 calls/min window: a fast backfill can use most of it
    const resync = (await t.admin.createResource({
      ...backfill.tasks[0],
      id: undefined,
      meta: undefined,
      status: 'requested',
      identifier: [{ system: backfill.tasks[0]?.identifier?.[0]?.system, value: `e2e-resync-${Date.now()}` }],
      output: undefined,
      businessStatus: undefined,
      code: { coding: [{ system: TASK_TYPE_SYSTEM, code: 'sync' }] },
    } as Task)) as Task;
    const done = await waitFor('re-sync', 300_000, async () => {
      const task = await t.admin.readResource('Task', resync.id ?? '', { cache: 'no-cache' });
      return task.status === 'completed' || task.status === 'failed' ? task : undefined;
    });
    const resyncWrites = outputOf(done, 'created') + outputOf(done, 'updated') + outputOf(done, 'retracted');
    check(done.status === 'completed' && resyncWrites === 0, 're-sync of an unchanged 30-day window writes nothing', {
      status: done.status,
      writes: resyncWrites,
      why: done.businessStatus?.text,
    });
    figure('re-sync of unchanged 30-day window', `${resyncWrites} writes, ${outputOf(done, 'points')} points`);

    // ---- webhooks
    console.log('\n5. Webhooks → searchable');
    // Signed notifications the bot can verify: on Medplum ≥ 5.2 the raw JSON (rawBody); on 5.0 a `text/plain`
    // body, which Medplum hands to bots verbatim. (WHOOP itself posts JSON, which a 5.0 server parses: those are
    // hints, at most 5 an hour per connection — the attacks below exercise that path.)
    const latencies: number[] = [];
    const newest = whoop.sandbox.control.records('workout').find((w) => w.score_state === 'SCORED');
    const workoutId = newest && 'id' in newest ? String(newest.id) : '';
    whoop.sandbox.control.setWebhookUrl(undefined);
    await sleep(61_000); // WHOOP's 100 calls/min window used by the backfill
    for (let i = 0; i < WEBHOOK_EVENTS; i++) {
      await whoop.sandbox.control.rescore('workout', workoutId);
      const rescored = whoop.sandbox.control.records('workout').find((w) => 'id' in w && String(w.id) === workoutId);
      const issued = rescored && 'updated_at' in rescored ? String(rescored.updated_at) : '';
      const body = JSON.stringify({
        user_id: whoop.sandbox.userId,
        id: workoutId,
        type: 'workout.updated',
        trace_id: `e2e-${Date.now()}-${i}`,
      });
      const timestamp = String(Date.now());
      const start = performance.now();
      const res = await fetch(webhookUrl, {
        method: 'POST',
        headers: {
          'content-type': rawBody ? 'application/json' : 'text/plain',
          'X-WHOOP-Signature': whoopSignature(whoop.clientSecret, timestamp, body),
          'X-WHOOP-Signature-Timestamp': timestamp,
        },
        body,
      });
      if (!res.ok) {
        throw new Error(`a signed notification was refused: HTTP ${res.status} ${await res.text()}`);
      }
      await waitFor(
        `workout ${workoutId} re-scored`,
        60_000,
        async () => {
          const found = await t.admin.searchResources(
            'Observation',
            { subject: `Patient/${patientA}`, device, _count: '1', _sort: '-_lastUpdated' },
            { cache: 'no-cache' }
          );
          return found[0]?.issued === issued ? true : undefined;
        },
        20
      );
      latencies.push(performance.now() - start);
      await sleep(700); // under WHOOP's 100 calls/min
    }
    whoop.sandbox.control.setWebhookUrl(webhookUrl);
    console.log(`  ✔ ${latencies.length} signed notifications accepted and written`);
    latencies.sort((a, b) => a - b);
    const pct = (p: number): number =>
      latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
    figure(
      'signed webhook → searchable',
      `p50 ${pct(50).toFixed(0)} ms, p95 ${pct(95).toFixed(0)} ms, max ${pct(100).toFixed(0)} ms (${latencies.length} re-scored workouts)`
    );

    // ---- insights
    console.log('\n5b. Insights: bands, narratives, annotations, alerts');
    await insightsStep(t.admin, ownerA, ownerB, patientA, connectedAt, check, figure);

    // ---- sharing
    console.log('\n5c. Sharing: grants, clinician and EHR reads, access log, revoke, expiry');
    await sharingStep(sharingContext);

    // ---- attacks
    console.log('\n6. Attacks');
    const sleepRecord = whoop.sandbox.control
      .records('sleep')
      .find((s) => s.score_state === 'SCORED' && 'nap' in s && !s.nap);
    const sleepId = sleepRecord && 'id' in sleepRecord ? String(sleepRecord.id) : '';
    const before = await countObservations(t.admin, { subject: `Patient/${patientA}`, device, status: 'final' });
    const forged = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: whoop.sandbox.userId, id: sleepId, type: 'sleep.deleted', trace_id: 'forged' }),
    });
    await sleep(5_000);
    const after = await countObservations(t.admin, { subject: `Patient/${patientA}`, device, status: 'final' });
    check(after === before, `forged sleep.deleted (HTTP ${forged.status}) retracts nothing`, { before, after });
    const callsBefore = Object.values(whoop.sandbox.control.stats().api).reduce((a, b) => a + b, 0);
    for (let i = 0; i < 100; i++) {
      await fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          user_id: whoop.sandbox.userId,
          id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          type: 'workout.updated',
          trace_id: `f${i}`,
        }),
      });
    }
    await sleep(20_000);
    const callsAfter = Object.values(whoop.sandbox.control.stats().api).reduce((a, b) => a + b, 0);
    check(
      callsAfter - callsBefore <= 10,
      '100 forged hints cost at most a handful of WHOOP calls',
      callsAfter - callsBefore
    );
    figure('WHOOP calls caused by 100 forged hints', String(callsAfter - callsBefore));
    const leaked = await ownerB.searchResources('Observation', { subject: `Patient/${patientA}`, _count: '5' });
    check(leaked.length === 0, "owner B sees none of owner A's Observations", leaked.length);
    const basics = await ownerA.searchResources('Basic', { _count: '100' }).catch(() => []);
    const visible = JSON.stringify([basics, await connections(ownerA)]);
    check(
      !/"v[12]\.[A-Za-z0-9_-]+\./.test(visible),
      'owner A reads no token material (Basic search, connection view)',
      basics.length
    );
    void patientB;

    // ---- disconnect + erase, reconnect, disconnect keep
    console.log('\n7. Disconnect with erase, reconnect, disconnect keeping data');
    const t0 = performance.now();
    const tokensA = await tokenRecordId(t.admin, patientA);
    check(tokensA !== undefined && (await historyLeft(t.admin, tokensA)) > 0, 'owner A has a token record', tokensA);
    const erased = (await ownerA.executeBot(bot('disconnect'), { provider: 'whoop', erase: true })) as {
      expunged?: boolean;
    };
    console.log(`  disconnect: ${JSON.stringify(erased)}`);
    const versionsLeft = await historyLeft(t.admin, tokensA ?? '');
    check(
      erased.expunged === true && versionsLeft === 0,
      'disconnect expunges the token record with its whole history',
      { expunged: erased.expunged, versionsLeft }
    );
    await waitFor('erase', BACKFILL_TIMEOUT_MS, async () =>
      (await countObservations(t.admin, { subject: `Patient/${patientA}`, device })) === 0 ? true : undefined
    );
    await waitForErase(t.admin, patientA);
    figure('erase of a year', `${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const again = await connectAndBackfill(t, ownerA, patientA, 'owner A again');
    const view2 = await whoopView(ownerA);
    const stored2 = await countObservations(t.admin, {
      subject: `Patient/${patientA}`,
      device: view2?.deviceId ? `Device/${view2.deviceId}` : '',
      status: 'final',
    });
    const expected2 = await expectedWhoopObservations(whoop, again.tasks);
    check(
      stored2 === expected2.observations + bodyValues,
      'reconnect after erase imports the history again, exactly once',
      {
        stored2,
        expected: expected2.observations,
      }
    );
    const kept = await ownerA.executeBot(bot('disconnect'), { provider: 'whoop', erase: false });
    console.log(`  disconnect (keep): ${JSON.stringify(kept)}`);
    const retried = await ownerA.executeBot(bot('disconnect'), { provider: 'whoop', erase: false });
    console.log(`  disconnect again: ${JSON.stringify(retried)}`);
    const keptCount = await countObservations(t.admin, { subject: `Patient/${patientA}`, status: 'final' });
    check(keptCount >= stored2, 'disconnect keeping data keeps it', keptCount);

    // ---- Withings and Oura
    console.log('\n8. Withings and Oura: edge, connect, backfill, notifications, renewal, erase');
    await providersStep(providersContext, rawBody);

    console.log('\nFigures');
    for (const [name, value] of figures) {
      console.log(`  | ${name} | ${value} |`);
    }
    console.log('\ne2e:medplum passed');
  } finally {
    await whoop?.sandbox.close();
    await t.close();
  }
}

try {
  await main();
} catch (err) {
  console.error(`\ne2e:medplum FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
