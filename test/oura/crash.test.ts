/**
 * Crash mid-backfill (Oura): the local stack runs as a child process and is killed with SIGKILL while a backfill
 * window is in progress, restarted on the same data directory, and the sweeper re-queues what the dead process left.
 * The backfill then completes with exactly what the Oura sandbox holds — SampledData series included — nothing lost,
 * nothing duplicated. The sandbox lives in this process and outlives the stack, as Oura outlives a Medplum crash.
 */
import type { Observation } from '@medplum/fhirtypes';
import { afterAll, expect, test } from 'vitest';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { deploy } from '../../scripts/deploy/index.ts';
import { startNodeEdge } from '../../scripts/edge/node-edge.ts';
import type { NodeEdge } from '../../scripts/edge/node-edge.ts';
import { passwordClient } from '../../scripts/medplum-client.ts';
import { registerEdgeWebhooks, startWiredOuraSandbox } from '../../scripts/sandboxes/wire.ts';
import type { WiredOura } from '../../scripts/sandboxes/wire.ts';
import { mergeProjectSecrets } from '../../scripts/sandboxes/project-secrets.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../../scripts/seed.ts';
import { backfillCounts, crashRig, sweepUntilBackfilled } from '../harness/crash.ts';
import { TEST_APP_BASE_URL } from '../harness/stack.ts';
import { allObservations, finishConnect, startConnect } from '../providers/helpers.ts';
import { decodeStored, expectedFromSandbox } from './expected.ts';
import { countByType } from './helpers.ts';

const rig = crashRig('baseline-oura-crash');
let oura: WiredOura | undefined;
let edge: NodeEdge | undefined;

afterAll(async () => {
  rig.close();
  await oura?.sandbox.close();
  await edge?.close();
});

test('kill -9 mid-backfill, restart, sweep: the backfill completes with exact counts and no duplicates', async () => {
  const first = await rig.start();
  const { admin, creds } = first;
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
