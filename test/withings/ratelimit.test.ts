/**
 * Withings' real rate limit: 120 calls a minute per app, refused as status 601 inside an HTTP 200. The sync waits a
 * 601 out inside its run, up to SYNC_RATE_LIMIT_WAIT_MS in all (bots/withings/provider.ts), and past that fails the
 * Task with the reason and a next attempt ≥ 60 s out, for the sweeper to retry.
 *
 * 1. A 90-day backfill (~140 calls) under the real limit: it meets the limit, waits the minute out in-run, and
 *    completes with exactly the sandbox's records; Withings saw each needed call once, plus one repeat per 601.
 * 2. 601s past the in-run budget: the Task fails with the exact reason, the sweeper's retry completes it, and
 *    nothing is lost or duplicated.
 * The in-run waits are real minutes (the bot sleeps), so this file takes ~3.5 minutes.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Patient, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { TASK_EXTENSION } from '../../bots/shared/extensions.ts';
import { alignedBackfillWindows } from '../../bots/shared/queue.ts';
import { SYNC_RATE_LIMIT_WAIT_MS } from '../../bots/withings/provider.ts';
import type { TestStack } from '../harness/stack.ts';
import { finishConnect, settle, startConnect, waitForBackfill } from '../providers/helpers.ts';
import { decodeSeriesObservation, expectedRecordKeys, expectedSeries, recordKeyOf, taskRange } from './expected.ts';
import {
  key,
  output,
  queueWindowSync,
  sandboxOf,
  seriesObservations,
  setSecrets,
  startWithingsStack,
  sweep,
  tasksOf,
  waitForTask,
  wearableObservations,
  withingsConnection,
} from './helpers.ts';

const DAYS = 20;
const BACKFILL_DAYS = 90;
const DATA_SERVICES = ['measure ', 'v2/measure ', 'v2/sleep '];
let env: TestStack;
let owner: MedplumClient;
let ownerPatient: WithId<Patient>;

beforeAll(async () => {
  // Withings' default limit (120/min). The FHIR quota is raised so that only Withings' limit paces this backfill
  // (the quota's own pacing is tested by test/whoop/fairness.test.ts and the erase tests).
  env = await startWithingsStack({ withings: { days: DAYS }, fhirQuota: 10_000_000 });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: String(BACKFILL_DAYS) });
  owner = await env.signIn('owner');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

function attempts(task: Task): number {
  return task.extension?.find((e) => e.url === TASK_EXTENSION.attempts)?.valueInteger ?? 0;
}

function dataCalls(): number {
  return Object.entries(sandboxOf(env).control.stats().calls)
    .filter(([k]) => DATA_SERVICES.some((s) => k.startsWith(s)))
    .reduce((n, [, v]) => n + v, 0);
}

/**
 * Calls one window needs: getmeas, getactivity, getworkouts, getsummary, and one intraday call per UTC day whose
 * minute slots the window touches — each day read from 30 s before its midnight (a day's first minute slot starts
 * there), so a window ending at midnight also reads the next day.
 */
function neededCalls(task: Task, overlapMs = 48 * 3600_000): number {
  const input = (code: string): number =>
    Date.parse(task.input?.find((i) => i.type.coding?.[0]?.code === code)?.valueDateTime ?? '');
  const start = Math.floor((input('window-start') - overlapMs) / 1000);
  const end = Math.floor(input('window-end') / 1000);
  const days = Math.floor((end - 1 + 30) / 86_400) - Math.floor((start + 30) / 86_400) + 1;
  return 4 + days;
}

async function exactlyTheSandboxRecords(tasks: readonly Task[]): Promise<number> {
  const sandbox = sandboxOf(env);
  const range = taskRange(tasks);
  const single = await wearableObservations(env, ownerPatient);
  const series = await seriesObservations(env, ownerPatient);
  const ids = [...single, ...series].map(key);
  expect(new Set(ids).size).toBe(ids.length);
  const records = expectedRecordKeys(sandbox, range, sandbox.userId);
  expect(records.size).toBeGreaterThan(0);
  expect(new Set(single.map(recordKeyOf))).toEqual(records);
  const truth = expectedSeries(sandbox, range, sandbox.userId, DAYS);
  expect(series).toHaveLength(truth.size);
  for (const o of series) {
    const decoded = decodeSeriesObservation(o);
    expect(decoded.samples).toEqual(truth.get(decoded.key));
  }
  return ids.length;
}

test('a 90-day backfill under 120 calls/min meets the limit, waits it out in-run, and ends exact', async () => {
  const sandbox = sandboxOf(env);
  const connectedAt = new Date();
  const before = dataCalls();
  const { queuedWindows } = await finishConnect(owner, 'withings', await startConnect(owner, 'withings'));
  const windows = alignedBackfillWindows(connectedAt, BACKFILL_DAYS).length;
  expect(queuedWindows).toBe(windows);
  const view = await waitForBackfill(owner, 'withings', 200_000);
  expect(view.backfill).toMatchObject({ total: windows, completed: windows, failed: 0 });
  await settle(env);
  const basic = await withingsConnection(env, ownerPatient);
  const tasks = await tasksOf(env, basic.id, 'backfill');
  expect(tasks.map((t) => [t.status, attempts(t)])).toEqual(tasks.map(() => ['completed', 0]));
  // The limit was really met (connect's token and subscribe calls count too), and waited out rather than failed.
  const limited = sandbox.control.stats().rateLimited;
  expect(limited).toBeGreaterThanOrEqual(1);
  // Each needed call once, plus the one refused call repeated after each 601.
  const needed = tasks.reduce((n, t) => n + neededCalls(t), 0);
  expect(dataCalls() - before).toBe(needed + limited);
  await exactlyTheSandboxRecords(tasks);
}, 240_000);

test('601s past the in-run budget: failed with the exact reason, swept retry, nothing lost or duplicated', async () => {
  const basic = await withingsConnection(env, ownerPatient);
  const before = [...(await wearableObservations(env, ownerPatient)), ...(await seriesObservations(env, ownerPatient))];
  // Each 601 costs a 60.5 s wait: the third would pass SYNC_RATE_LIMIT_WAIT_MS, so it fails the Task.
  const refusals = Math.floor(SYNC_RATE_LIMIT_WAIT_MS / 60_500) + 1;
  sandboxOf(env).control.injectFaults({ kind: 'status-601', count: refusals, action: 'getmeas' });
  const k = await queueWindowSync(
    env,
    ownerPatient,
    basic,
    { start: new Date(Date.now() - 2 * 86_400_000).toISOString(), end: new Date().toISOString() },
    'rate-limit'
  );
  const failed = await waitForTask(env, k, ['failed', 'completed'], 240_000);
  expect(failed.status).toBe('failed');
  expect(failed.businessStatus?.text).toBe(
    'withings POST /measure getmeas failed: rate-limited - status 601 (too many requests) retry after 60s'
  );
  const next = Date.parse(failed.extension?.find((e) => e.url === TASK_EXTENSION.nextAttempt)?.valueDateTime ?? '');
  expect(next - Date.parse(failed.lastModified ?? '')).toBeGreaterThanOrEqual(60_000);
  await sweep(env, { asOf: new Date(Date.now() + 7 * 3600_000).toISOString() });
  const done = await waitForTask(env, k, ['completed']);
  expect(output(done, 'created')).toBe(0);
  const after = [...(await wearableObservations(env, ownerPatient)), ...(await seriesObservations(env, ownerPatient))];
  expect(after.map(key).sort()).toEqual(before.map(key).sort());
}, 300_000);
