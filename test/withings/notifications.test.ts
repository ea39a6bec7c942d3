/**
 * A Withings notification can cause nothing Withings does not confirm (issue 10 §2, §7), over real HTTP on both
 * server versions the local stack imitates (Withings posts an unsigned form; both hand the bot the parsed form, so
 * every notification is a hint): it re-fetches only the category it names, never over the window it claims (a year
 * is clamped to 7 days), an unknown user gets the same answer and queues nothing, 100 forged hints cost a handful of
 * Withings calls and no retries, malformed posts are refused by their exact message, and nothing is ever retracted
 * on a notification's word. Withings calls are counted by the sandbox's own counters, not by the code under test.
 * Posts go to the edge URL the subscriptions name, as Withings' do.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Basic, Patient, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TASK_EXTENSION } from '../../bots/shared/extensions.ts';
import { HINTS_PER_HOUR } from '../../bots/shared/queue.ts';
import { HINT_MAX_MS } from '../../bots/withings/sync-plan.ts';
import type { TestStack } from '../harness/stack.ts';
import { finishConnect, settle, startConnect, waitForBackfill } from '../providers/helpers.ts';
import { recordKeyOf } from './expected.ts';
import {
  output,
  projectSecret,
  quiet,
  sandboxOf,
  setSecrets,
  startWithingsStack,
  sweep,
  wearableObservations,
  withingsCalls,
  withingsConnection,
} from './helpers.ts';

const DAY_S = 86_400;

describe.each(['5.0', '5.2'] as const)('Medplum %s', (version) => {
  let env: TestStack;
  let owner: MedplumClient;
  let ownerPatient: WithId<Patient>;
  let connection: WithId<Basic>;
  let callbackUrl: string;

  beforeAll(async () => {
    env = await startWithingsStack({
      withings: { days: 12, rateLimitPerMinute: 100_000 },
      medplumVersion: version,
    });
    await setSecrets(env, { BASELINE_BACKFILL_DAYS: '10' });
    owner = await env.signIn('owner');
    ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
    await finishConnect(owner, 'withings', await startConnect(owner, 'withings'));
    await waitForBackfill(owner, 'withings');
    await settle(env);
    connection = await withingsConnection(env, ownerPatient);
    callbackUrl = (await projectSecret(env, 'WITHINGS_WEBHOOK_URL')) ?? '';
    expect(callbackUrl.startsWith(env.edge?.url ?? 'no edge')).toBe(true);
  }, 180_000);

  afterAll(async () => {
    await env?.stop();
  });

  function sandbox(): ReturnType<typeof sandboxOf> {
    return sandboxOf(env);
  }

  async function post(
    fields: Record<string, string>,
    contentType = 'application/x-www-form-urlencoded'
  ): Promise<{ status: number; text: string }> {
    const res = await fetch(callbackUrl, {
      method: 'POST',
      headers: { 'Content-Type': contentType },
      body: contentType.includes('json') ? JSON.stringify(fields) : new URLSearchParams(fields).toString(),
    });
    return { status: res.status, text: await res.text() };
  }

  async function newTasks(before: Set<string>): Promise<WithId<Task>[]> {
    return (await quiet(env, connection.id)).filter((t) => !before.has(t.id));
  }

  async function taskIds(): Promise<Set<string>> {
    return new Set((await quiet(env, connection.id)).map((t) => t.id));
  }

  test('a sleep notification re-fetches sleep only, with stored tokens', async () => {
    const before = await taskIds();
    const calls = sandbox().control.stats().calls;
    const now = Math.floor(Date.now() / 1000);
    const result = await sandbox().control.sendNotification(sandbox().userId, 44, {
      startdate: now - DAY_S,
      enddate: now,
    });
    expect(result.outcomes).toEqual([expect.objectContaining({ delivered: true, attempts: 1 })]);
    const tasks = await newTasks(before);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.status).toBe('completed');
    const after = sandbox().control.stats().calls;
    const changed = Object.keys(after).filter((k) => after[k] !== calls[k] && !k.startsWith('v2/oauth2'));
    expect(changed).toEqual(['v2/sleep getsummary']);
  });

  test('a forged activity hint naming a whole year re-reads at most 7 days of minutes', async () => {
    const before = await taskIds();
    const intraday = withingsCalls(sandbox(), 'getintradayactivity');
    const now = Math.floor(Date.now() / 1000);
    const res = await post({
      userid: String(sandbox().userId),
      appli: '16',
      startdate: String(now - 365 * DAY_S),
      enddate: String(now),
    });
    expect(res.status).toBe(200);
    const tasks = await newTasks(before);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.status).toBe('completed');
    const calls = withingsCalls(sandbox(), 'getintradayactivity') - intraday;
    expect(calls).toBeGreaterThan(0);
    // One call per UTC day the clamped 7-day range touches.
    expect(calls).toBeLessThanOrEqual(HINT_MAX_MS / 86_400_000 + 1);
    // It re-read what is stored: nothing new.
    expect(output(tasks[0] as Task, 'created')).toBe(0);
  });

  test('an unknown Withings user gets the same answer, echoing no id, and nothing is queued', async () => {
    const before = await taskIds();
    const now = Math.floor(Date.now() / 1000);
    const fields = (userid: string): Record<string, string> => ({
      userid,
      appli: '1',
      startdate: String(now - 3600),
      enddate: String(now),
    });
    const calls = withingsCalls(sandbox());
    const unknown = await post(fields('987654321'));
    expect(unknown.status).toBe(200);
    for (const secret of ['987654321', String(sandbox().userId), connection.id]) {
      expect(unknown.text).not.toContain(secret);
    }
    expect(await newTasks(before)).toHaveLength(0);
    expect(withingsCalls(sandbox()) - calls).toBe(0);
    const known = await post(fields(String(sandbox().userId)));
    expect(known).toEqual(unknown);
    await quiet(env, connection.id);
  });

  test.each([
    ['a JSON body', { userid: '1', appli: '1' }, 'application/json', 'not a form-urlencoded body'],
    ['no userid', { appli: '1' }, undefined, 'Rejected Withings notification: invalid userid'],
    ['a non-numeric appli', { userid: '1', appli: 'x' }, undefined, 'Rejected Withings notification: invalid appli'],
    [
      'startdate after enddate',
      { userid: '1', appli: '1', startdate: '1700000100', enddate: '1700000000' },
      undefined,
      'Rejected Withings notification: startdate is after enddate',
    ],
  ])('%s is refused with its message and nothing is queued', async (_name, fields, type, message) => {
    const before = await taskIds();
    const res = await post(fields as Record<string, string>, type);
    expect(res.status).toBe(400);
    expect(res.text).toContain(message);
    expect(await newTasks(before)).toHaveLength(0);
  });

  test('appli 46 "delete" (an account event) and a deleted measure group retract nothing', async () => {
    const group = sandbox()
      .control.measureGroups(sandbox().userId)
      .find((g) => g.category === 1 && g.attrib !== 1);
    if (!group) {
      throw new Error('no measure group');
    }
    const mine = async (): Promise<[string | undefined, string, string | undefined][]> =>
      (await wearableObservations(env, ownerPatient))
        .filter((o) => recordKeyOf(o) === `measure:${group.grpid}`)
        .map((o) => [o.id, o.status ?? '', o.meta?.versionId]);
    const before = await mine();
    expect(before.length).toBeGreaterThan(0);
    const forged = await post({ userid: String(sandbox().userId), appli: '46', action: 'delete' });
    expect(forged.status).toBe(200);
    await quiet(env, connection.id);
    expect(await mine()).toEqual(before);
    // A genuine deletion at Withings: the notification's re-fetch no longer lists the group, and absence proves
    // nothing (bots/withings/sync-plan.ts "Deletions"), so the stored Observations stay as they were.
    await sandbox().control.deleteMeasure(sandbox().userId, group.grpid);
    await quiet(env, connection.id);
    expect(await mine()).toEqual(before);
  });

  test('100 forged hints cost a handful of Withings calls and no retries', async () => {
    const before = await taskIds();
    const calls = withingsCalls(sandbox());
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 100; i += 10) {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          post({
            userid: String(sandbox().userId),
            appli: ['1', '4', '16', '44'][(i + j) % 4] ?? '1',
            startdate: String(now - (i + j + 1) * 3600),
            enddate: String(now - (i + j) * 3600),
          })
        )
      );
      for (const r of results) {
        expect(r.status).toBe(200);
      }
    }
    const tasks = await newTasks(before);
    const keys = tasks.map((t) => t.identifier?.[0]?.value ?? '');
    // The hour's hint slots (some may have been taken by the tests above) and one 48-hour reconcile window.
    expect(keys.filter((k) => k.includes(':hint:')).length).toBeLessThanOrEqual(HINTS_PER_HOUR);
    expect(keys.filter((k) => k.includes(':hint-reconcile:'))).toHaveLength(1);
    expect(tasks.length).toBeLessThanOrEqual(HINTS_PER_HOUR + 1);
    // Each Task is a few calls (a 7-day intraday re-read is 8); the reconcile window reads every category for 2–4
    // days. Nowhere near one per hint.
    const spent = withingsCalls(sandbox()) - calls;
    expect(spent).toBeLessThanOrEqual(HINTS_PER_HOUR * 10 + 12);
    expect(tasks.every((t) => t.status === 'completed')).toBe(true);
    const retrying = tasks.filter((t) => t.extension?.some((e) => e.url === TASK_EXTENSION.nextAttempt));
    expect(retrying).toEqual([]);
    // Past the longest backoff, the sweeper finds none of them to retry.
    await sweep(env, { asOf: new Date(Date.now() + 7 * 3600_000).toISOString() });
    await settle(env);
    const ids = new Set(tasks.map((t) => t.id));
    const again = (await newTasks(before)).filter((t) => ids.has(t.id));
    expect(again.map((t) => [t.id, t.status]).sort()).toEqual(tasks.map((t) => [t.id, 'completed']).sort());
  }, 120_000);
});
