/**
 * Crash mid-backfill (Withings): the local stack runs in a child process and is killed with SIGKILL while a backfill
 * window is running, restarted on the same data directory, and the sweeper re-queues what the dead process left in
 * progress. The backfill then completes with exactly what the sandbox's records call for — every record and every
 * intraday series once, the series' samples equal to the sandbox's minutes — nothing lost, nothing duplicated.
 */
import { afterAll, expect, test } from 'vitest';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { alignedBackfillWindows } from '../../bots/shared/queue.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { deploy } from '../../scripts/deploy/index.ts';
import { passwordClient } from '../../scripts/medplum-client.ts';
import { finishProviderConnect, startProviderConnect } from '../../scripts/sandboxes/connect-flow.ts';
import { startWiredWithingsSandbox } from '../../scripts/sandboxes/wire.ts';
import type { WiredWithings } from '../../scripts/sandboxes/wire.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../../scripts/seed.ts';
import { backfillCounts, crashRig, sweepUntilBackfilled } from '../harness/crash.ts';
import { TEST_APP_BASE_URL } from '../harness/stack.ts';
import { allObservations } from '../providers/helpers.ts';
import { decodeSeriesObservation, expectedRecordKeys, expectedSeries, recordKeyOf, taskRange } from './expected.ts';
import { key } from './helpers.ts';

const rig = crashRig('baseline-withings-crash');
const DAYS = 60;
let withings: WiredWithings | undefined;

afterAll(async () => {
  rig.close();
  await withings?.sandbox.close();
});

test('kill -9 mid-backfill, restart, sweep: the backfill completes with exact counts and no duplicates', async () => {
  const first = await rig.start();
  const { admin, creds } = first;
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
  await rig.killMidBackfill(admin);

  const { admin: admin2 } = await rig.start();
  const afterCrash = await backfillCounts(admin2);
  expect(afterCrash.completed ?? 0).toBeGreaterThanOrEqual(1);
  // The kill landed mid-window: the dead process left a window in progress, and work remained.
  expect(afterCrash['in-progress'] ?? 0).toBe(1);
  expect((afterCrash.completed ?? 0) + (afterCrash.draft ?? 0)).toBeLessThan(queuedWindows);

  // Nothing runs in the new process yet, so everything in flight is stale: the sweeper re-queues it.
  expect(await sweepUntilBackfilled(admin2, queuedWindows)).toEqual({ completed: queuedWindows });

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
