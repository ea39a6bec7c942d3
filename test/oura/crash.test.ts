/**
 * Crash mid-backfill (Oura): the local stack runs as a child process and is killed with SIGKILL while a backfill
 * window is in progress, restarted on the same data directory, and the sweeper re-queues what the dead process left.
 * The backfill then completes with exactly what the Oura sandbox holds — SampledData series included — nothing lost,
 * nothing duplicated. The sandbox lives in this process and outlives the stack, as Oura outlives a Medplum crash.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import { afterAll, expect, test } from 'vitest';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { deploy } from '../../scripts/deploy/index.ts';
import { startNodeEdge } from '../../scripts/edge/node-edge.ts';
import type { NodeEdge } from '../../scripts/edge/node-edge.ts';
import { clientCredentialsClient, passwordClient } from '../../scripts/medplum-client.ts';
import { registerEdgeWebhooks, startWiredOuraSandbox } from '../../scripts/sandboxes/wire.ts';
import type { WiredOura } from '../../scripts/sandboxes/wire.ts';
import { mergeProjectSecrets } from '../../scripts/sandboxes/project-secrets.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../../scripts/seed.ts';
import { TEST_APP_BASE_URL } from '../harness/stack.ts';
import { allObservations, bot, finishConnect, startConnect } from '../providers/helpers.ts';
import { decodeStored, expectedFromSandbox } from './expected.ts';
import { countByType } from './helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'baseline-oura-crash-'));
let child: ChildProcess | undefined;
let oura: WiredOura | undefined;
let edge: NodeEdge | undefined;

function startStack(): Promise<{ baseUrl: string; proc: ChildProcess }> {
  const proc = spawn(
    process.execPath,
    [join(root, 'scripts/local-stack/main.ts'), '--data-dir', dataDir, '--port', '0', '--no-cron'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }
  );
  child = proc;
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('LOCAL_STACK_READY '));
      if (line) {
        resolve({ baseUrl: (JSON.parse(line.slice(18)) as { baseUrl: string }).baseUrl, proc });
      }
    });
    proc.on('exit', (code) => reject(new Error(`local stack exited early (${code})`)));
  });
}

async function backfillCounts(admin: MedplumClient): Promise<Record<string, number>> {
  const tasks = await admin.searchResources(
    'Task',
    { code: `${TASK_TYPE_SYSTEM}|backfill`, _count: '100' },
    { cache: 'no-cache' }
  );
  const counts: Record<string, number> = {};
  for (const t of tasks) {
    counts[t.status] = (counts[t.status] ?? 0) + 1;
  }
  return counts;
}

afterAll(async () => {
  child?.kill('SIGKILL');
  await oura?.sandbox.close();
  await edge?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('kill -9 mid-backfill, restart, sweep: the backfill completes with exact counts and no duplicates', async () => {
  const first = await startStack();
  const creds = JSON.parse(readFileSync(join(dataDir, 'admin-client.json'), 'utf8')) as {
    clientId: string;
    clientSecret: string;
    projectId: string;
  };
  const admin = await clientCredentialsClient(first.baseUrl, creds.clientId, creds.clientSecret);
  // 90 days over three or four 30-day windows: long enough that the kill lands while a window runs.
  oura = await startWiredOuraSandbox({
    admin,
    projectId: creds.projectId,
    appBaseUrls: [TEST_APP_BASE_URL],
    options: { days: 90, rateLimit: { limit: 100_000, windowSeconds: 300 } },
  });
  await mergeProjectSecrets(admin, creds.projectId, { BASELINE_BACKFILL_DAYS: '90' });
  const report = await deploy({ client: admin, projectId: creds.projectId, log: () => undefined });
  edge = await startNodeEdge({
    port: 0,
    upstream: first.baseUrl.replace(/\/+$/, ''),
    verificationToken: oura.verificationToken,
  });
  await registerEdgeWebhooks({ admin, projectId: creds.projectId, report, edgeUrl: edge.url });
  await seedDemoPeople(admin, creds.projectId);
  const owner = await passwordClient(first.baseUrl, DEMO_LOGINS.owner.email, DEMO_LOGINS.owner.password);
  const { connection, queuedWindows } = await finishConnect(owner, 'oura', await startConnect(owner, 'oura'));
  // 90 days in 30-day windows aligned to the epoch: 3 or 4 of them, depending on the date.
  expect([3, 4]).toContain(queuedWindows);

  // Let at least one window finish, then kill the process while the next one is claimed and running.
  let atKill: Record<string, number> = {};
  for (let i = 0; i < 2400; i++) {
    atKill = await backfillCounts(admin);
    if ((atKill.completed ?? 0) >= 1 && (atKill['in-progress'] ?? 0) >= 1) {
      break;
    }
    await sleep(25);
  }
  first.proc.kill('SIGKILL');
  await new Promise((resolve) => first.proc.once('exit', resolve));

  const second = await startStack();
  const admin2 = await clientCredentialsClient(second.baseUrl, creds.clientId, creds.clientSecret);
  const afterCrash = await backfillCounts(admin2);
  expect(afterCrash.completed ?? 0).toBeGreaterThanOrEqual(1);
  // The kill landed mid-window: the dead process left a window in progress, and work remained.
  expect(afterCrash['in-progress'] ?? 0).toBe(1);
  expect((afterCrash.completed ?? 0) + (afterCrash.draft ?? 0)).toBeLessThan(queuedWindows);

  // Nothing runs in the new process yet, so everything in flight is stale: the sweeper re-queues it.
  await admin2.executeBot(bot('sweeper'), { staleAfterSeconds: 0 });
  for (let i = 0; i < 900 && ((await backfillCounts(admin2)).completed ?? 0) < queuedWindows; i++) {
    await sleep(200);
  }
  expect(await backfillCounts(admin2)).toEqual({ completed: queuedWindows });

  const patient = (await owner.getProfileAsync())?.id ?? '';
  const observations: Observation[] = [
    ...(await allObservations(admin2, { subject: `Patient/${patient}`, _profile: WEARABLE_PROFILE })),
    ...(await allObservations(admin2, { subject: `Patient/${patient}`, _profile: INTRADAY_PROFILE })),
  ];
  const ids = observations.map((o) => `${o.identifier?.[0]?.system}|${o.identifier?.[0]?.value}`);
  expect(new Set(ids).size).toBe(ids.length);
  // Exact counts from the sandbox's own documents (not from the mappers under test).
  const expected = expectedFromSandbox(oura.sandbox);
  const wearable = observations.filter((o) => o.meta?.profile?.[0] === WEARABLE_PROFILE);
  const series = observations.filter((o) => o.meta?.profile?.[0] === INTRADAY_PROFILE);
  expect(countByType(wearable)).toEqual(expected.byType);
  expect(wearable).toHaveLength(expected.observations);
  expect(series).toHaveLength(expected.series.windows.size);
  // Every series window is there once, slot for slot as the sandbox has it — also a day's first slot holding workout
  // rows from both sides of UTC midnight, which the restart's reordered reads once overwrote with half its rows
  // (2026-11-03 slot 0: 174 stored, 172 true; fixed, see series-boundary.test.ts).
  expect(new Set(series.map((o) => decodeStored(o).key))).toEqual(new Set(expected.series.windows.keys()));
  for (const o of series) {
    const { key, values } = decodeStored(o);
    expect(Object.fromEntries(values), key).toEqual(Object.fromEntries(expected.series.windows.get(key) ?? new Map()));
  }
  expect(observations.every((o) => o.device?.reference === `Device/${connection.deviceId ?? ''}`)).toBe(true);
}, 300_000);
