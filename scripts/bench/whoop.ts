/**
 * `npm run bench:whoop`: WHOOP ingestion on the local stack (Medplum 5.0 mode, FHIR quota on), in quota points and
 * time. Takes ~8 minutes on a 2-core machine (the default-quota backfill alone is ~5 minutes, by design).
 *
 * 1. Default quota (50,000 points/min per membership): a 1-year backfill of the sandbox's default person, connected
 *    through the real bots and consent page. Reports wall time, Observations, WHOOP records, quota points and writes
 *    per WHOOP record (from the Tasks' own `points` outputs and the stack's per-membership ledger), failed Tasks.
 * 2. Re-sync of unchanged data: every backfill window runs again; it must write nothing.
 * 3. Quota lifted (as a super admin would, `userFhirQuota` 10,000,000): the same backfill on a fresh stack, and a raw
 *    batch import of the same Observations (200 per batch, one request after another, the fastest plain import a
 *    client can do) in the same run; reports the ratio pipeline ÷ raw import in Observations per second.
 * 4. Webhook → searchable (5.2 mode, so WHOOP's signed JSON is verified, not a hint): N workouts are re-scored at
 *    WHOOP, which sends `workout.updated`; the time until the new value is searchable (webhook bot → Task → Subscription → sync bot → WHOOP API → write). `BENCH_EVENTS`
 *    (default 60) sets N, paced under WHOOP's 100 calls/min.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import type { Bundle, Observation, Task } from '@medplum/fhirtypes';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { expectedFromSandbox, backfillRange } from '../../test/whoop/expected.ts';
import { deploy } from '../deploy/index.ts';
import { startLocalStack } from '../local-stack/server.ts';
import type { LocalStack } from '../local-stack/server.ts';
import { clientCredentialsClient, passwordClient } from '../medplum-client.ts';
import { finishConnect, startConnect } from '../sandboxes/connect-flow.ts';
import { registerWhoopWebhook, startWiredWhoopSandbox, WHOOP_CALLBACK_PATH } from '../sandboxes/wire.ts';
import type { WiredWhoop } from '../sandboxes/wire.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../seed.ts';
import { announce, machineLine } from './about.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 60);
const APP = 'http://127.0.0.1:3000';
const REDIRECT = APP + WHOOP_CALLBACK_PATH;
const BACKFILL = `${TASK_TYPE_SYSTEM}|backfill`;

announce('bench:whoop', '~8 minutes (the default-quota year backfill alone is ~5 minutes, by design)');

interface Env {
  stack: LocalStack;
  admin: MedplumClient;
  owner: MedplumClient;
  patientId: string;
  whoop: WiredWhoop;
}

async function setUp(medplumVersion: '5.0' | '5.2'): Promise<Env> {
  const stack = await startLocalStack({
    dataDir: mkdtempSync(join(tmpdir(), 'baseline-bench-whoop-')),
    port: 0,
    medplumVersion,
  });
  const admin = await clientCredentialsClient(
    stack.baseUrl,
    stack.adminClient.clientId,
    stack.adminClient.clientSecret
  );
  const whoop = await startWiredWhoopSandbox({ admin, projectId: stack.projectId, appBaseUrls: [APP] });
  const report = await deploy({ client: admin, projectId: stack.projectId, appBaseUrls: [APP], log: () => undefined });
  registerWhoopWebhook(whoop, report);
  await seedDemoPeople(admin, stack.projectId);
  const owner = await passwordClient(stack.baseUrl, DEMO_LOGINS.owner.email, DEMO_LOGINS.owner.password);
  const patientId = (await owner.getProfileAsync())?.id ?? '';
  return { stack, admin, owner, patientId, whoop };
}

async function tearDown(env: Env): Promise<void> {
  await env.whoop.sandbox.close();
  await env.stack.close();
}

async function backfillTasks(admin: MedplumClient): Promise<Task[]> {
  return admin.searchResources('Task', { code: BACKFILL, _count: '100' }, { cache: 'no-cache' });
}

function output(task: Task, code: string): number {
  return task.output?.find((o) => o.type.coding?.some((c) => c.code === code))?.valueInteger ?? 0;
}

async function countObservations(admin: MedplumClient, query: Record<string, string>): Promise<number> {
  return (await admin.search('Observation', { ...query, _summary: 'count' }, { cache: 'no-cache' })).total ?? 0;
}

/** Connects the owner and waits until every backfill window has finished; returns the wall time. */
async function backfill(env: Env): Promise<{ ms: number; tasks: Task[] }> {
  const consent = await startConnect(env.owner, REDIRECT);
  const started = performance.now();
  const { queuedWindows } = await finishConnect(env.owner, REDIRECT, consent);
  for (;;) {
    const tasks = await backfillTasks(env.admin);
    const done = tasks.filter((t) => t.status === 'completed' || t.status === 'failed').length;
    if (done >= queuedWindows) {
      await env.stack.subscriptions.idle();
      return { ms: performance.now() - started, tasks: await backfillTasks(env.admin) };
    }
    await sleep(500);
  }
}

/** Puts each Task back to requested (via on-hold, as the sweeper does) and waits for them all to finish again. */
async function rerun(env: Env, tasks: Task[]): Promise<Task[]> {
  for (const task of tasks) {
    const held = await env.admin.updateResource({ ...task, status: 'on-hold' });
    await env.admin.updateResource({ ...held, status: 'requested' });
    // One window at a time, as the queue runs them.
    for (;;) {
      const current = await env.admin.readResource('Task', task.id ?? '', { cache: 'no-cache' });
      if (current.status === 'completed' || current.status === 'failed') {
        break;
      }
      await sleep(200);
    }
  }
  await env.stack.subscriptions.idle();
  return Promise.all(tasks.map((t) => env.admin.readResource('Task', t.id ?? '', { cache: 'no-cache' })));
}

const sum = (tasks: Task[], ...codes: string[]): number =>
  tasks.reduce((n, t) => n + codes.reduce((m, c) => m + output(t, c), 0), 0);

const figures: [string, string][] = [];
function figure(name: string, value: string): void {
  figures.push([name, value]);
  console.log(`  ${name}: ${value}`);
}

// ---- 1 + 2: default quota
{
  console.log('\n1. One-year backfill at the default FHIR quota (50,000 points/min per membership), Medplum 5.0 mode');
  const env = await setUp('5.0');
  try {
    const { ms, tasks } = await backfill(env);
    const expected = expectedFromSandbox(env.whoop.sandbox, backfillRange(tasks));
    // WHOOP's Observations only: the analytics bot's derived ones share the record.
    const stored = await countObservations(env.admin, {
      subject: `Patient/${env.patientId}`,
      status: 'final',
      _profile: WEARABLE_PROFILE,
    });
    const failed = tasks.filter((t) => t.status === 'failed').length;
    const points = sum(tasks, 'points');
    const writes = sum(tasks, 'created', 'updated', 'retracted');
    figure('default-quota backfill wall time', `${(ms / 60_000).toFixed(2)} min (target ≤ 8), ${failed} failed Tasks`);
    figure(
      'Observations',
      `${stored} stored, ${expected.observations} + 2 body values expected from ${expected.records} WHOOP records`
    );
    figure(
      'quota points per WHOOP record',
      `${(points / expected.records).toFixed(0)} (target ≤ 300); ${(writes / expected.records).toFixed(2)} writes per record (target ≤ 3)`
    );
    const ledger = env.stack.ctx.stats.quotaPoints;
    figure('points by membership (stack ledger)', JSON.stringify(ledger));

    console.log('\n2. Re-sync of unchanged data (every window again)');
    const again = await rerun(env, tasks);
    figure(
      're-sync of a year of unchanged data',
      `${sum(again, 'created', 'updated', 'retracted')} writes, ${sum(again, 'points')} points (${(sum(again, 'points') / expected.records).toFixed(1)} per record)`
    );
  } finally {
    await tearDown(env);
  }
}

// ---- 3: quota lifted, pipeline vs raw import
{
  // Medplum 5.2 mode: WHOOP's JSON notifications reach the bot raw, so they are verified (on 5.0 they are hints,
  // at most 5 an hour per connection, which would cap a latency run).
  console.log('\n3. Quota lifted (Medplum 5.2 mode): pipeline vs a raw batch import of the same Observations');
  const env = await setUp('5.2');
  try {
    await env.stack.setFhirQuota({ user: 10_000_000, total: 100_000_000 });
    const { ms, tasks } = await backfill(env);
    const stored: Observation[] = [];
    for await (const page of env.admin.searchResourcePages(
      'Observation',
      { subject: `Patient/${env.patientId}`, _count: '1000' },
      { cache: 'no-cache' }
    )) {
      stored.push(...page);
    }
    const pipelineRate = stored.length / (ms / 1000);
    const copies = stored.map((o): Observation => {
      const { id: _id, meta, ...rest } = o;
      return {
        ...rest,
        meta: { profile: meta?.profile },
        identifier: o.identifier?.map((i) => ({ ...i, value: `raw-${i.value}` })),
      };
    });
    const t0 = performance.now();
    for (let i = 0; i < copies.length; i += 200) {
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'batch',
        entry: copies
          .slice(i, i + 200)
          .map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })),
      };
      const response = await env.admin.executeBatch(bundle);
      const bad = response.entry?.filter((e) => !e.response?.status?.startsWith('201')) ?? [];
      if (bad.length > 0) {
        throw new Error(`raw import: ${bad.length} entries failed (${bad[0]?.response?.status})`);
      }
    }
    const rawRate = copies.length / ((performance.now() - t0) / 1000);
    figure(
      'quota-lifted backfill',
      `${stored.length} Observations in ${(ms / 1000).toFixed(1)} s → ${pipelineRate.toFixed(0)}/s (${tasks.length} windows)`
    );
    figure('raw batch import, same stack, same run', `${rawRate.toFixed(0)}/s`);
    figure('pipeline ÷ raw import', `${(pipelineRate / rawRate).toFixed(2)} (target ≥ 0.8)`);

    // ---- 4: webhook latency (the quota stays lifted, so this measures the path, not the budget)
    console.log(`\n4. Webhook → searchable (${EVENTS} re-scored workouts, paced under WHOOP's 100 calls/min)`);
    await sleep(61_000);
    const workouts = env.whoop.sandbox.control
      .records('workout')
      .filter((w) => w.score_state === 'SCORED')
      .slice(0, EVENTS);
    const latencies: number[] = [];
    for (const workout of workouts) {
      const id = 'id' in workout ? String(workout.id) : '';
      const t = performance.now();
      await env.whoop.sandbox.control.rescore('workout', id);
      const issued = env.whoop.sandbox.control.records('workout').find((w) => 'id' in w && String(w.id) === id);
      const updatedAt = issued && 'updated_at' in issued ? String(issued.updated_at) : '';
      for (;;) {
        const found = await env.admin.searchResources(
          'Observation',
          { subject: `Patient/${env.patientId}`, _sort: '-_lastUpdated', _count: '1' },
          { cache: 'no-cache' }
        );
        if (found[0]?.issued === updatedAt) {
          break;
        }
        if (performance.now() - t > 30_000) {
          throw new Error(`workout ${id} re-score not searchable within 30 s`);
        }
        await sleep(10);
      }
      latencies.push(performance.now() - t);
      await sleep(Math.max(0, 700 - (performance.now() - t)));
    }
    latencies.sort((a, b) => a - b);
    const pct = (p: number): number =>
      latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? Number.NaN;
    figure(
      'webhook → searchable',
      `p50 ${pct(50).toFixed(0)} ms, p95 ${pct(95).toFixed(0)} ms, max ${pct(100).toFixed(0)} ms (${latencies.length} events)`
    );
  } finally {
    await tearDown(env);
  }
}

console.log(`\nFigures (npm run bench:whoop; ${machineLine()})`);
for (const [name, value] of figures) {
  console.log(`| ${name} | ${value} |`);
}
