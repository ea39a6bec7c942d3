/**
 * Crash mid-backfill: the local stack is killed with SIGKILL while backfill windows are running, restarted on the
 * same data directory, and the sweeper re-queues what the dead process left in progress. The backfill then
 * completes with exactly the Observations WHOOP has — nothing lost, nothing duplicated.
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
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { deploy } from '../../scripts/deploy/index.ts';
import { clientCredentialsClient, passwordClient } from '../../scripts/medplum-client.ts';
import { bot, finishConnect, startConnect } from '../../scripts/sandboxes/connect-flow.ts';
import { registerWhoopWebhook, startWiredWhoopSandbox, WHOOP_CALLBACK_PATH } from '../../scripts/sandboxes/wire.ts';
import type { WiredWhoop } from '../../scripts/sandboxes/wire.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../../scripts/seed.ts';
import { TEST_APP_BASE_URL } from '../harness/stack.ts';
import { backfillRange, expectedFromSandbox } from './expected.ts';
import { allObservations } from './helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'baseline-crash-'));
let child: ChildProcess | undefined;
let whoop: WiredWhoop | undefined;

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
  await whoop?.sandbox.close();
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
  whoop = await startWiredWhoopSandbox({
    admin,
    projectId: creds.projectId,
    appBaseUrls: [TEST_APP_BASE_URL],
    options: { days: 150 },
  });
  registerWhoopWebhook(whoop, await deploy({ client: admin, projectId: creds.projectId, log: () => undefined }));
  await seedDemoPeople(admin, creds.projectId);
  const owner = await passwordClient(first.baseUrl, DEMO_LOGINS.owner.email, DEMO_LOGINS.owner.password);
  const redirect = TEST_APP_BASE_URL + WHOOP_CALLBACK_PATH;
  const { connection, queuedWindows } = await finishConnect(owner, redirect, await startConnect(owner, redirect));
  // 30-day windows aligned to the epoch: 365 days span 13 or 14 of them, depending on the date.
  expect([13, 14]).toContain(queuedWindows);

  // Let at least one window finish, then kill the process while the next one is claimed and running: a window
  // that is in progress at the moment of the kill (the check after the restart proves it was).
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

  // The dead process's in-flight work is stuck (its subscription deliveries died with it); the sweeper — normally
  // every 5 minutes — re-queues it. Nothing runs in the new process yet, so everything in flight is stale.
  await admin2.executeBot(bot('sweeper'), { staleAfterSeconds: 0 });
  for (let i = 0; i < 900 && ((await backfillCounts(admin2)).completed ?? 0) < queuedWindows; i++) {
    await sleep(200);
  }
  expect(await backfillCounts(admin2)).toEqual({ completed: queuedWindows });

  const patient = (await owner.getProfileAsync())?.id ?? '';
  // Wearable records only: sync queues an analytics recompute, whose derived Observations may land at any moment.
  const observations = await allObservations(admin2, { subject: `Patient/${patient}`, _profile: WEARABLE_PROFILE });
  const ids = observations.map((o) => `${o.identifier?.[0]?.system}|${o.identifier?.[0]?.value}`);
  expect(new Set(ids).size).toBe(ids.length);
  // Exact count from the sandbox's own records (not from the mappers under test), plus height and weight.
  const tasks = await admin2.searchResources('Task', { code: `${TASK_TYPE_SYSTEM}|backfill`, _count: '100' });
  const expected = expectedFromSandbox(whoop.sandbox, backfillRange(tasks));
  expect(observations.filter((o) => o.status === 'final')).toHaveLength(expected.observations + 2);
  expect(observations.every((o) => o.device?.reference === `Device/${connection.deviceId ?? ''}`)).toBe(true);
}, 240_000);
