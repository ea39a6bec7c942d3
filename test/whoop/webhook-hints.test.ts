/**
 * A webhook can cause nothing WHOOP does not confirm (issue 6 §4), over real HTTP on both server versions the local
 * stack imitates: 5.0 hands the bot parsed JSON (no bytes, so a notification is only a hint), 5.2 hands it the raw
 * body (`Bot.rawBody`), so signatures are verified and unsigned posts are refused.
 * WHOOP calls are counted by the sandbox's own counters, not by the code under test.
 */
import { randomUUID } from 'node:crypto';
import type { MedplumClient, WithId } from '@medplum/core';
import type { Basic, Observation, Patient, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TASK_EXTENSION } from '../../bots/shared/extensions.ts';
import { HINTS_PER_HOUR } from '../../bots/shared/queue.ts';
import { whoopSignature } from '../../bots/whoop/signature.ts';
import type { WhoopRecord } from '../../scripts/sandboxes/whoop/data.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { connectionOf, observationsOf, setSecrets, tasksOf, until, whoopApiCalls } from './connection-helpers.ts';
import { bot, finishConnect, settle, startConnect, waitForBackfill } from './helpers.ts';

const OPEN = new Set(['draft', 'requested', 'in-progress', 'on-hold']);

describe.each(['5.0', '5.2'] as const)('Medplum %s', (version) => {
  let env: TestStack;
  let owner: MedplumClient;
  let ownerPatient: WithId<Patient>;
  let webhookUrl: string;
  let clientSecret: string;
  let connection: WithId<Basic>;

  beforeAll(async () => {
    env = await startTestStack({ whoop: { days: 10 }, medplumVersion: version });
    await setSecrets(env, { BASELINE_BACKFILL_DAYS: '5' });
    owner = await env.signIn('owner');
    ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
    webhookUrl = env.deployReport.bots.find((b) => b.name === 'whoop-webhook')?.webhookUrl ?? '';
    clientSecret = env.whoop?.clientSecret ?? '';
    await finishConnect(owner, await startConnect(owner));
    await waitForBackfill(owner);
    await settle(env);
    const found = await connectionOf(env, ownerPatient);
    if (!found) {
      throw new Error('no connection');
    }
    connection = found;
  }, 180_000);

  afterAll(async () => {
    await env?.stop();
  });

  function sandbox(): NonNullable<TestStack['whoop']>['sandbox'] {
    if (!env.whoop) {
      throw new Error('no sandbox');
    }
    return env.whoop.sandbox;
  }

  function rid(record: WhoopRecord | undefined): string {
    if (!record) {
      throw new Error('no such sandbox record');
    }
    return 'id' in record ? String(record.id) : record.sleep_id;
  }

  async function post(body: object, sign: boolean): Promise<{ status: number; text: string }> {
    const text = JSON.stringify(body);
    const ts = String(Date.now());
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (sign) {
      headers['X-WHOOP-Signature'] = whoopSignature(clientSecret, ts, text);
      headers['X-WHOOP-Signature-Timestamp'] = ts;
    }
    const res = await fetch(webhookUrl, { method: 'POST', headers, body: text });
    return { status: res.status, text: await res.text() };
  }

  async function recordObservations(recordId: string): Promise<Observation[]> {
    return (await observationsOf(env, ownerPatient)).filter((o) =>
      o.identifier?.some((i) => i.value?.split(':').includes(recordId))
    );
  }

  async function quiet(): Promise<WithId<Task>[]> {
    return until(env, 'the queue to drain', async () => {
      const tasks = await tasksOf(env, connection.id);
      return tasks.some((t) => OPEN.has(t.status)) ? undefined : tasks;
    });
  }

  test('the same empty 2xx for a known and an unknown WHOOP user, echoing no id', async () => {
    const sleep = sandbox()
      .control.records('sleep')
      .find((s) => s.score_state === 'SCORED');
    const known = { user_id: sandbox().userId, id: rid(sleep), type: 'sleep.updated', trace_id: randomUUID() };
    const unknown = { user_id: 987654321, id: rid(sleep), type: 'sleep.updated', trace_id: randomUUID() };
    const sign = version === '5.2';
    const a = await post(known, sign);
    const b = await post(unknown, sign);
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
    for (const secret of [String(sandbox().userId), connection.id, rid(sleep), known.trace_id, 'unknown']) {
      expect(a.text).not.toContain(secret);
    }
    await quiet();
  });

  test('a forged deletion of a real sleep changes nothing', async () => {
    const sleep = sandbox()
      .control.records('sleep')
      .find((s) => s.score_state === 'SCORED' && (s as { nap?: boolean }).nap !== true);
    const id = rid(sleep);
    const before = await recordObservations(id);
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((o) => o.status !== 'entered-in-error')).toBe(true);
    const res = await post({ user_id: sandbox().userId, id, type: 'sleep.deleted', trace_id: 'x' }, false);
    if (version === '5.2') {
      expect(res.status).toBe(400);
      expect(res.text).toContain('Missing X-WHOOP-Signature header');
    } else {
      expect(res.status).toBe(200);
    }
    await quiet();
    const after = await recordObservations(id);
    expect(after.map((o) => [o.id, o.status, o.meta?.versionId])).toEqual(
      before.map((o) => [o.id, o.status, o.meta?.versionId])
    );
  });

  test('a genuine deletion (WHOOP deleted the sleep and notified) still retracts it', async () => {
    await quiet();
    const sleep = sandbox()
      .control.records('sleep')
      .filter((s) => s.score_state === 'SCORED' && (s as { nap?: boolean }).nap !== true)
      .at(-1);
    const id = rid(sleep);
    expect((await recordObservations(id)).length).toBeGreaterThan(0);
    await sandbox().control.deleteRecord('sleep', id);
    const retracted = await until(env, 'the sleep to be retracted', async () => {
      const mine = await recordObservations(id);
      return mine.length > 0 && mine.every((o) => o.status === 'entered-in-error') ? mine : undefined;
    });
    expect(retracted.length).toBeGreaterThan(0);
  }, 90_000);

  test('100 forged hints cost at most a handful of WHOOP calls and no retries', async () => {
    await quiet();
    const callsBefore = whoopApiCalls(env);
    const byIdBefore = whoopApiCalls(env, '{workoutId}');
    const tasksBefore = new Set((await tasksOf(env, connection.id)).map((t) => t.id));
    // Invented ids shaped like WHOOP's (v2 workout ids are UUIDs).
    const ids = Array.from({ length: 100 }, () => randomUUID());
    // Ten at a time: concurrent hints must not get past the per-connection budget either.
    for (let i = 0; i < ids.length; i += 10) {
      const results = await Promise.all(
        ids
          .slice(i, i + 10)
          .map((id) => post({ user_id: sandbox().userId, id, type: 'workout.updated', trace_id: randomUUID() }, false))
      );
      for (const r of results) {
        expect(r.status).toBe(version === '5.2' ? 400 : 200);
      }
    }
    const tasks = (await quiet()).filter((t) => !tasksBefore.has(t.id));
    const calls = whoopApiCalls(env) - callsBefore;
    if (version === '5.2') {
      expect(tasks).toHaveLength(0);
      // No look-up of any invented workout (list calls may come from the sweeper's cron reconcile meanwhile).
      expect(whoopApiCalls(env, '{workoutId}') - byIdBefore).toBe(0);
    } else {
      const keys = tasks.map((t) => t.identifier?.[0]?.value ?? '');
      expect(keys.filter((k) => k.includes(':hint:')).length).toBeLessThanOrEqual(HINTS_PER_HOUR);
      expect(keys.filter((k) => k.includes(':hint-reconcile:'))).toHaveLength(1);
      // ≤ 5 record look-ups + one 48-hour window (a few list calls, paged).
      expect(calls).toBeLessThanOrEqual(15);
    }
    // Nothing is left to retry: the sweeper finds no due or scheduled retry among them.
    const retrying = tasks.filter((t) => t.extension?.some((e) => e.url === TASK_EXTENSION.nextAttempt));
    expect(retrying.map((t) => [t.identifier?.[0]?.value, t.status, t.businessStatus?.text])).toEqual([]);
    expect(tasks.every((t) => t.status === 'completed')).toBe(true);
    // Past the longest backoff (6 h), the sweeper still finds none of them to retry.
    await env.adminClient.executeBot(bot('sweeper'), { asOf: new Date(Date.now() + 7 * 3600_000).toISOString() });
    const afterSweep = await tasksOf(env, connection.id);
    expect(afterSweep.filter((t) => tasks.some((f) => f.id === t.id)).every((t) => t.status === 'completed')).toBe(
      true
    );
  }, 90_000);

  test('a body that is not JSON is refused, and a signed-only deployment refuses parsed bodies', async () => {
    const form = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `user_id=${sandbox().userId}&id=${randomUUID()}&type=workout.updated&trace_id=x`,
    });
    expect(form.status).toBe(400);
    expect(await form.text()).toContain(version === '5.2' ? 'Rejected WHOOP webhook' : 'body is not JSON');
    if (version === '5.0') {
      await setSecrets(env, { WHOOP_WEBHOOK_SIGNED_ONLY: 'true' });
      try {
        const res = await post(
          { user_id: sandbox().userId, id: randomUUID(), type: 'workout.updated', trace_id: 'y' },
          false
        );
        expect(res.status).toBe(400);
        expect(res.text).toContain('Rejected WHOOP webhook: Missing raw body');
      } finally {
        await setSecrets(env, { WHOOP_WEBHOOK_SIGNED_ONLY: 'false' });
      }
    }
  });
});
