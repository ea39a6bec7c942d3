/**
 * Crash mid-backfill (Withings): the local stack runs in a child process and is killed with SIGKILL while a backfill
 * window is running, restarted on the same data directory, and the sweeper re-queues what the dead process left in
 * progress. The backfill then completes with exactly what the sandbox's records call for — every record and every
 * intraday series once, the series' samples equal to the sandbox's minutes — nothing lost, nothing duplicated.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import { afterAll, expect, test } from 'vitest';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { alignedBackfillWindows } from '../../bots/shared/queue.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { deploy } from '../../scripts/deploy/index.ts';
import { clientCredentialsClient, passwordClient } from '../../scripts/medplum-client.ts';
import { bot, finishProviderConnect, startProviderConnect } from '../../scripts/sandboxes/connect-flow.ts';
import { startWiredWithingsSandbox } from '../../scripts/sandboxes/wire.ts';
import type { WiredWithings } from '../../scripts/sandboxes/wire.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../../scripts/seed.ts';
import { TEST_APP_BASE_URL } from '../harness/stack.ts';
import { allObservations } from '../providers/helpers.ts';
import { decodeSeriesObservation, expectedRecordKeys, expectedSeries, recordKeyOf, taskRange } from './expected.ts';
import { key } from './helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'baseline-withings-crash-'));
const DAYS = 60;
let child: ChildProcess | undefined;
let withings: WiredWithings | undefined;

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
  await withings?.sandbox.close();
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
  // No webhook URL: connect subscribes nothing (a warning), which this test does not need.
  withings = await startWiredWithingsSandbox({
    admin,
    projectId: creds.projectId,
    appBaseUrls: [TEST_APP_BASE_URL],
    options: { days: DAYS, rateLimitPerMinute: 100_000 },
  });
  await deploy({ client: admin, projectId: creds.projectId, log: () => undefined });
  await seedDemoPeople(admin, creds.projectId);
  const owner = await passwordClient(first.baseUrl, DEMO_LOGINS.owner.email, DEMO_LOGINS.owner.password);
  const redirect = `${TEST_APP_BASE_URL}/connect/withings/callback`;
  const connectedAt = new Date();
  const { connection, queuedWindows } = await finishProviderConnect(
    owner,
    'withings',
    redirect,
    await startProviderConnect(owner, 'withings', redirect)
  );
  expect(queuedWindows).toBe(alignedBackfillWindows(connectedAt).length);

  // Let at least one window finish, then kill the process while the next one is claimed and running.
  let atKill: Record<string, number> = {};
  for (let i = 0; i < 1200; i++) {
    atKill = await backfillCounts(admin);
    if ((atKill.completed ?? 0) >= 1 && (atKill['in-progress'] ?? 0) >= 1) {
      break;
    }
    await sleep(50);
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
  // The provider's own profiles only: sync queues an analytics recompute, whose derived Observations may land at any
  // moment and are not part of the backfill.
  const observations = [
    ...(await allObservations(admin2, { subject: `Patient/${patient}`, _profile: WEARABLE_PROFILE })),
    ...(await allObservations(admin2, { subject: `Patient/${patient}`, _profile: INTRADAY_PROFILE })),
  ];
  const ids = observations.map(key);
  expect(new Set(ids).size).toBe(ids.length);
  const tasks = await admin2.searchResources('Task', { code: `${TASK_TYPE_SYSTEM}|backfill`, _count: '100' });
  const range = taskRange(tasks);
  const sandbox = withings.sandbox;
  const single = observations.filter((o) => o.meta?.profile?.[0] === WEARABLE_PROFILE);
  const series = observations.filter((o) => o.meta?.profile?.[0] === INTRADAY_PROFILE);
  expect(series.every((o) => o.valueSampledData !== undefined)).toBe(true);
  // Exact, from the sandbox's own records (not the mappers under test).
  const records = expectedRecordKeys(sandbox, range, sandbox.userId);
  expect(records.size).toBeGreaterThan(0);
  expect(new Set(single.map(recordKeyOf))).toEqual(records);
  const truth = expectedSeries(sandbox, range, sandbox.userId, DAYS);
  expect(series).toHaveLength(truth.size);
  for (const o of series) {
    const decoded = decodeSeriesObservation(o);
    expect(decoded.samples).toEqual(truth.get(decoded.key));
  }
  expect(observations.every((o) => o.status === 'final')).toBe(true);
  expect(observations.every((o) => o.device?.reference === `Device/${connection.deviceId ?? ''}`)).toBe(true);
}, 300_000);
