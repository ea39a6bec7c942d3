/**
 * A write that loses a transaction race. On a real Medplum 5.0.10 the e2e run saw batch entries answered 409
 * "could not serialize access due to read/write dependencies among transactions" (Postgres 40001) while an owner's
 * recompute and a sync wrote at once: one sync Task failed and waited for the sweeper, one recompute failed for good.
 * The local stack, which applies writes one at a time, now loses such races on demand, exactly as Medplum reports
 * them, and the write path re-sends those entries: the backfill completes in its first runs with exactly the
 * sandbox's records, nothing failed, nothing duplicated.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseConnection } from '../../bots/shared/connection.ts';
import { TASK_EXTENSION } from '../../bots/shared/extensions.ts';
import { SERIALIZATION_FAILURE_MESSAGE } from '../../scripts/local-stack/conflicts.ts';
import type { TestStack } from '../harness/stack.ts';
import { expectedRecordKeys, expectedSeries, recordKeyOf, taskRange } from '../withings/expected.ts';
import {
  key,
  sandboxOf,
  seriesObservations,
  setSecrets,
  startWithingsStack,
  tasksOf,
  wearableObservations,
  withingsConnection,
} from '../withings/helpers.ts';
import { finishConnect, settle, startConnect, waitForBackfill } from './helpers.ts';

const DAYS = 6;
let env: TestStack;
let owner: MedplumClient;
let patient: WithId<Patient>;

beforeAll(async () => {
  env = await startWithingsStack({ withings: { days: DAYS, rateLimitPerMinute: 100_000 }, medplumVersion: '5.0' });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '5' });
  owner = await env.signIn('owner');
  patient = (await owner.getProfileAsync()) as WithId<Patient>;
}, 300_000);

afterAll(async () => {
  await env?.stop();
});

test('the stand-in answers a lost race as Medplum does: that batch entry 409 coded 40001, the others written', async () => {
  env.stack.injectSerializationConflicts('Observation', 1);
  const observation = (value: string): Observation => ({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'probe' },
    subject: { reference: `Patient/${patient.id}` },
    identifier: [{ system: 'https://baseline.test/probe', value }],
  });
  const response: Bundle = await env.adminClient.executeBatch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: ['a', 'b'].map((v) => ({ request: { method: 'POST', url: 'Observation' }, resource: observation(v) })),
  });
  expect(response.entry?.[0]?.response?.status).toMatch(/^409/);
  expect(response.entry?.[0]?.response?.outcome?.issue?.[0]).toMatchObject({
    code: 'conflict',
    details: { coding: [{ code: '40001' }], text: SERIALIZATION_FAILURE_MESSAGE },
  });
  expect(response.entry?.[1]?.response?.status).toMatch(/^201/);
  for (const id of response.entry?.flatMap((e) => e.response?.location?.split('/')[1] ?? []) ?? []) {
    await env.adminClient.deleteResource('Observation', id);
  }
});

test('a backfill whose Observation writes lose races completes at once, exactly, with no failed Task', async () => {
  env.stack.injectSerializationConflicts('Observation', 6);
  await finishConnect(owner, 'withings', await startConnect(owner, 'withings'));
  const view = await waitForBackfill(owner, 'withings');
  await settle(env);
  expect(env.stack.ctx.conflicts.remaining('Observation')).toBe(0);
  expect(view.backfill.failed).toBe(0);
  const connection = parseConnection(await withingsConnection(env, patient));
  const tasks = await tasksOf(env, connection.id ?? '', 'backfill');
  // Re-sent within the run: no window failed and waited for the sweeper.
  expect(tasks.every((t) => t.status === 'completed')).toBe(true);
  const attempts = tasks.map((t) => t.extension?.find((e) => e.url === TASK_EXTENSION.attempts)?.valueInteger ?? 0);
  expect(attempts.every((n) => n === 0)).toBe(true);
  const single = await wearableObservations(env, patient);
  const series = await seriesObservations(env, patient);
  const ids = [...single, ...series].map(key);
  expect(new Set(ids).size).toBe(ids.length);
  const range = taskRange(tasks);
  const sandbox = sandboxOf(env);
  expect(new Set(single.map(recordKeyOf))).toEqual(expectedRecordKeys(sandbox, range, sandbox.userId));
  expect(series).toHaveLength(expectedSeries(sandbox, range, sandbox.userId, DAYS).size);
}, 300_000);
