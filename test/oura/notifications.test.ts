/**
 * Oura notifications on Medplum 5.0 (the webhook bot gets parsed JSON, no bytes, so a delivery is only a hint) and
 * the app's webhook subscriptions (issue 10 §7 items 3 and 4): hints are bounded (100 forged ones cost a handful of
 * Oura calls and no retries), an unknown user gets the same answer and queues nothing, a forged deletion changes
 * nothing while a genuine one (confirmed by Oura's 404) retracts; the sweeper's upkeep renews the subscriptions
 * before `expiration_time` (sandbox clock and the sweeper's `asOf` advanced together), recreates expired ones, and an
 * expired subscription delivers nothing. Oura calls are counted by the sandbox's own counters.
 * (The signed 5.2 path — verification, exact refusals, one Task per event — is in pipeline.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import type { MedplumClient, WithId } from '@medplum/core';
import type { Patient, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TASK_EXTENSION } from '../../bots/shared/extensions.ts';
import { HINTS_PER_HOUR } from '../../bots/shared/queue.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { connect, settle, waitForBackfill } from '../providers/helpers.ts';
import {
  ofDocument,
  ouraApiCalls,
  ouraObservations,
  ouraSandbox,
  postJson,
  quiet,
  requireConnection,
  setSecrets,
  sweep,
  tasksOf,
  webhookUrl,
} from './helpers.ts';

const DAY_MS = 86_400_000;

let env: TestStack;
let owner: MedplumClient;
let ownerPatient: WithId<Patient>;
let connectionId: string;

beforeAll(async () => {
  env = await startTestStack({
    oura: { days: 10, people: 2, webhookRetryDelaysMs: [50, 100], rateLimit: { limit: 100_000, windowSeconds: 300 } },
    medplumVersion: '5.0',
  });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '10' });
  owner = await env.signIn('owner');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  const result = await connect(owner, 'oura');
  expect(result.notifications?.subscribed).toHaveLength(21);
  await waitForBackfill(owner, 'oura');
  connectionId = (await requireConnection(env, ownerPatient)).id;
  await quiet(env, connectionId);
}, 240_000);

afterAll(async () => {
  await env?.stop();
});

function sandbox(): ReturnType<typeof ouraSandbox> {
  return ouraSandbox(env);
}

function event(fields: Record<string, string>): string {
  return JSON.stringify({
    event_type: 'update',
    data_type: 'workout',
    object_id: randomUUID(),
    event_time: new Date().toISOString(),
    user_id: sandbox().userId,
    ...fields,
  });
}

async function allTasks(): Promise<WithId<Task>[]> {
  return env.adminClient.searchResources('Task', { _count: '1000' }, { cache: 'no-cache' });
}

describe('Medplum 5.0: parsed bodies are hints', () => {
  test('the same empty 2xx for a known and an unknown Oura user, echoing no id; the unknown one queues nothing', async () => {
    const before = (await allTasks()).length;
    const unknownUser = randomUUID();
    const a = await postJson(webhookUrl(env), event({ user_id: unknownUser }));
    await quiet(env, connectionId);
    expect((await allTasks()).length).toBe(before);
    const b = await postJson(webhookUrl(env), event({}));
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
    for (const secret of [sandbox().userId, unknownUser, connectionId]) {
      expect(a.text).not.toContain(secret);
    }
    await quiet(env, connectionId);
  });

  test('a form body is refused, and a signed-only deployment refuses parsed bodies', async () => {
    const form = await fetch(webhookUrl(env), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `event_type=update&data_type=workout&object_id=x&user_id=${sandbox().userId}`,
    });
    expect(form.status).toBe(400);
    expect(await form.text()).toContain('Rejected Oura webhook: body is not JSON');
    await setSecrets(env, { OURA_WEBHOOK_SIGNED_ONLY: 'true' });
    try {
      const res = await postJson(webhookUrl(env), event({}));
      expect(res.status).toBe(400);
      expect(res.text).toContain('Rejected Oura webhook: Missing raw body');
    } finally {
      await setSecrets(env, { OURA_WEBHOOK_SIGNED_ONLY: 'false' });
    }
  });

  test('a forged deletion of a real sleep period changes nothing', async () => {
    await quiet(env, connectionId);
    const sleep = (sandbox().control.documents('sleep') as { id: string; type: string }[]).find(
      (s) => s.type === 'long_sleep'
    );
    const id = sleep?.id ?? '';
    const before = ofDocument(await ouraObservations(env, ownerPatient), id);
    expect(before.length).toBeGreaterThan(0);
    const res = await postJson(webhookUrl(env), event({ event_type: 'delete', data_type: 'sleep', object_id: id }));
    expect(res.status).toBe(200);
    await quiet(env, connectionId);
    const after = ofDocument(await ouraObservations(env, ownerPatient), id);
    expect(after.map((o) => [o.id, o.status, o.meta?.versionId])).toEqual(
      before.map((o) => [o.id, o.status, o.meta?.versionId])
    );
  });

  test('a genuine deletion (Oura deleted the workout and notified) still retracts it', async () => {
    const workout = (sandbox().control.documents('workout') as { id: string }[]).at(-1);
    const id = workout?.id ?? '';
    expect(ofDocument(await ouraObservations(env, ownerPatient), id).length).toBeGreaterThan(0);
    await sandbox().control.deleteDocument(sandbox().userId, 'workout', id);
    await quiet(env, connectionId);
    const mine = ofDocument(await ouraObservations(env, ownerPatient), id);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((o) => o.status === 'entered-in-error')).toBe(true);
  }, 90_000);

  test('100 forged hints cost a handful of Oura calls and no retries', async () => {
    await quiet(env, connectionId);
    const callsBefore = ouraApiCalls(env);
    const byIdBefore = ouraApiCalls(env, '{id}') + ouraApiCalls(env, 'workout/');
    const tasksBefore = new Set((await tasksOf(env, connectionId)).map((t) => t.id));
    for (let i = 0; i < 100; i += 10) {
      const results = await Promise.all(Array.from({ length: 10 }, () => postJson(webhookUrl(env), event({}))));
      for (const r of results) {
        expect(r.status).toBe(200);
      }
    }
    const tasks = (await quiet(env, connectionId)).filter((t) => !tasksBefore.has(t.id));
    const keys = tasks.map((t) => t.identifier?.[0]?.value ?? '');
    expect(keys.filter((k) => k.includes(':hint:')).length).toBeLessThanOrEqual(HINTS_PER_HOUR);
    expect(keys.filter((k) => k.includes(':hint-reconcile:'))).toHaveLength(1);
    expect(tasks.length).toBeLessThanOrEqual(HINTS_PER_HOUR + 1);
    // ≤ 5 document look-ups (each a 404) + one 48-hour window (7 collections and the heart rate, paged).
    expect(ouraApiCalls(env) - callsBefore).toBeLessThanOrEqual(15);
    expect(ouraApiCalls(env, '{id}') + ouraApiCalls(env, 'workout/') - byIdBefore).toBeLessThanOrEqual(HINTS_PER_HOUR);
    expect(tasks.every((t) => t.status === 'completed')).toBe(true);
    expect(tasks.filter((t) => t.extension?.some((e) => e.url === TASK_EXTENSION.nextAttempt))).toEqual([]);
    // Past the longest backoff, the sweeper still finds none of them to retry.
    await sweep(env.adminClient, { asOf: new Date(Date.now() + 7 * 3600_000).toISOString() });
    await settle(env);
    const afterSweep = await tasksOf(env, connectionId);
    expect(afterSweep.filter((t) => tasks.some((f) => f.id === t.id)).every((t) => t.status === 'completed')).toBe(
      true
    );
  }, 120_000);
});

describe('subscription upkeep (the sweeper, with the sandbox clock advanced)', () => {
  let advancedMs = 0;

  function advance(ms: number): string {
    sandbox().control.advanceClock(ms);
    advancedMs += ms;
    return new Date(Date.now() + advancedMs).toISOString();
  }

  function expirations(): number[] {
    return sandbox()
      .control.subscriptions()
      .map((s) => Date.parse(s.expiration_time));
  }

  test('within 7 days of expiration_time the sweeper renews every subscription, before it lapses', async () => {
    const first = expirations();
    expect(first).toHaveLength(21);
    // Nothing to do far from expiry.
    const idle = (await sweep(env.adminClient)) as { subscriptions: Record<string, unknown> };
    expect(idle.subscriptions.oura).toEqual({ renewed: 0, created: 0, failed: 0 });
    const asOf = advance(85 * DAY_MS);
    const result = (await sweep(env.adminClient, { asOf })) as { subscriptions: Record<string, unknown> };
    expect(result.subscriptions.oura).toEqual({ renewed: 21, created: 0, failed: 0 });
    const renewed = expirations();
    expect(renewed).toHaveLength(21);
    // Renewed for another 90 days from the (advanced) sandbox clock.
    for (const t of renewed) {
      expect(t).toBeGreaterThan(Math.max(...first));
      expect(Math.abs(t - (Date.now() + advancedMs + 90 * DAY_MS))).toBeLessThan(10 * 60_000);
    }
    await settle(env);
  }, 120_000);

  test('an expired subscription delivers nothing; the sweeper recreates it through the edge, and deliveries resume', async () => {
    const asOf = advance(100 * DAY_MS);
    const workout = (sandbox().control.documents('workout') as { id: string }[])[0];
    const deliveriesBefore = sandbox().control.stats().webhookDeliveries.length;
    await sandbox().control.sendWebhook({ dataType: 'workout', eventType: 'update', objectId: workout?.id ?? '' });
    await sandbox().control.webhooksIdle();
    expect(sandbox().control.stats().webhookDeliveries.length).toBe(deliveriesBefore);
    const challengesBefore = sandbox().control.stats().challenges.length;
    const result = (await sweep(env.adminClient, { asOf })) as { subscriptions: Record<string, unknown> };
    expect(result.subscriptions.oura).toEqual({ renewed: 0, created: 21, failed: 0 });
    expect(sandbox().control.stats().challenges.length - challengesBefore).toBe(21);
    const now = Date.now() + advancedMs;
    expect(expirations()).toHaveLength(21);
    expect(expirations().every((t) => t > now)).toBe(true);
    await sandbox().control.sendWebhook({ dataType: 'workout', eventType: 'update', objectId: workout?.id ?? '' });
    await sandbox().control.webhooksIdle();
    const delivered = sandbox().control.stats().webhookDeliveries.slice(deliveriesBefore);
    expect(delivered.length).toBeGreaterThanOrEqual(1);
    expect(delivered.every((d) => d.status === 200)).toBe(true);
    await settle(env);
  }, 120_000);

  test('without the edge (callback straight at Medplum POST-only /webhook/:id) the challenge fails: nothing is created, connect warns and still imports', async () => {
    const direct = webhookUrl(env);
    const before = sandbox().control.subscriptions().length;
    const edgeUrl = sandbox()
      .control.subscriptions()
      .map((s) => s.callback_url)[0];
    const challengesBefore = sandbox().control.stats().challenges.length;
    await setSecrets(env, { OURA_WEBHOOK_URL: direct });
    try {
      const asOf = new Date(Date.now() + advancedMs).toISOString();
      const result = (await sweep(env.adminClient, { asOf })) as { subscriptions: Record<string, unknown> };
      expect(result.subscriptions.oura).toEqual({ renewed: 0, created: 0, failed: 21 });
      expect(sandbox().control.subscriptions()).toHaveLength(before);
      expect(
        sandbox()
          .control.subscriptions()
          .some((s) => s.callback_url === direct)
      ).toBe(false);
      // Oura's GET challenge reached Medplum's POST-only route and got its 404.
      const challenges = sandbox().control.stats().challenges.slice(challengesBefore);
      expect(challenges.length).toBeGreaterThan(0);
      expect(challenges.every((c) => c.status === 404 && !c.passed)).toBe(true);
      // A second owner connecting now: the subscriptions fail with a warning, the backfill still imports.
      const other = await env.signIn('other');
      const connected = await connect(other, 'oura', 1);
      expect(connected.connection.status).toBe('active');
      expect(connected.notifications?.subscribed ?? []).toEqual([]);
      // The owner is told plainly; the detail (the failed challenge) is the operator's and goes to the log.
      expect(connected.notifications?.warning).toBe(
        'Oura notifications could not all be set up; your data still arrives, a little later'
      );
      await waitForBackfill(other, 'oura');
      const otherPatient = (await other.getProfileAsync()) as WithId<Patient>;
      await quiet(env, (await requireConnection(env, otherPatient)).id);
      expect((await ouraObservations(env, otherPatient)).length).toBeGreaterThan(0);
    } finally {
      await setSecrets(env, { OURA_WEBHOOK_URL: edgeUrl ?? '' });
    }
  }, 180_000);
});
