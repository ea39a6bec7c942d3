/**
 * Crash mid-backfill: the local stack is killed with SIGKILL while backfill windows are running, restarted on the
 * same data directory, and the sweeper re-queues what the dead process left in progress. The backfill then
 * completes with exactly the Observations WHOOP has — nothing lost, nothing duplicated.
 */
import { afterAll, expect, test } from 'vitest';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { deploy } from '../../scripts/deploy/index.ts';
import { passwordClient } from '../../scripts/medplum-client.ts';
import { finishConnect, startConnect } from '../../scripts/sandboxes/connect-flow.ts';
import { registerWhoopWebhook, startWiredWhoopSandbox, WHOOP_CALLBACK_PATH } from '../../scripts/sandboxes/wire.ts';
import type { WiredWhoop } from '../../scripts/sandboxes/wire.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../../scripts/seed.ts';
import { backfillCounts, crashRig, sweepUntilBackfilled } from '../harness/crash.ts';
import { TEST_APP_BASE_URL } from '../harness/stack.ts';
import { backfillRange, expectedFromSandbox } from './expected.ts';
import { allObservations } from './helpers.ts';

const rig = crashRig('baseline-whoop-crash');
let whoop: WiredWhoop | undefined;

afterAll(async () => {
  rig.close();
  await whoop?.sandbox.close();
});

test('kill -9 mid-backfill, restart, sweep: the backfill completes with exact counts and no duplicates', async () => {
  const first = await rig.start();
  const { admin, creds } = first;
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
  await rig.killMidBackfill(admin);

  const { admin: admin2 } = await rig.start();
  const afterCrash = await backfillCounts(admin2);
  expect(afterCrash.completed ?? 0).toBeGreaterThanOrEqual(1);
  // The kill landed mid-window: the dead process left a window in progress, and work remained.
  expect(afterCrash['in-progress'] ?? 0).toBe(1);
  expect((afterCrash.completed ?? 0) + (afterCrash.draft ?? 0)).toBeLessThan(queuedWindows);

  // The dead process's in-flight work is stuck (its subscription deliveries died with it); the sweeper — normally
  // every 5 minutes — re-queues it. Nothing runs in the new process yet, so everything in flight is stale.
  expect(await sweepUntilBackfilled(admin2, queuedWindows)).toEqual({ completed: queuedWindows });

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
