/**
 * Oura end to end, over real HTTP (issue 10 §7): the local stack (Medplum 5.2 stand-in, raw webhook bodies) running
 * the deployed bot bundles, the Oura sandbox serving Oura's OAuth, API, subscriptions and signed deliveries, and the
 * webhook edge in front of the stack answering Oura's GET challenge. One stack for the file; the tests run in order
 * (OAuth state → backfill and SampledData → re-sync → late samples → signed deliveries and deletions → refresh race →
 * provider faults with sweeper retry), each failure mode checked by its exact message, then the data read back
 * against the sandbox's own documents (expected.ts).
 */
import { randomUUID } from 'node:crypto';
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Observation, Patient, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TASK_EXTENSION } from '../../bots/shared/extensions.ts';
import { buildStateRecord, hashState } from '../../bots/shared/oauth-state.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { buildTask } from '../../bots/shared/tasks.ts';
import { describeProviderRedirectError } from '../../app/src/lib/human-errors.ts';
import { approveConsent } from '../../scripts/sandboxes/oura/server.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import {
  bot,
  connections,
  finishConnect,
  redirectUri,
  settle,
  startConnect,
  waitForBackfill,
} from '../providers/helpers.ts';
import { decodeStored, expectedFromSandbox, HR_PERIOD_MS } from './expected.ts';
import {
  expireToken,
  identifierKeys,
  ofDocument,
  ouraApiCalls,
  ouraObservations,
  ouraSandbox,
  output,
  postJson,
  quiet,
  requireConnection,
  setSecrets,
  signedHeaders,
  sweep,
  tasksOf,
  until,
  webhookUrl,
  countByType,
} from './helpers.ts';

const DAYS = 30;
const BACKFILL_DAYS = 60;

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let ownerPatient: WithId<Patient>;
let deviceId: string;
let connectionId: string;

beforeAll(async () => {
  env = await startTestStack({
    oura: {
      days: DAYS,
      webhookRetryDelaysMs: [50, 100, 200, 400],
      // The real limit (5,000 per 5 min) is tested in connections.test.ts with exact counts; here it must not decide.
      rateLimit: { limit: 100_000, windowSeconds: 300 },
    },
  });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: String(BACKFILL_DAYS) });
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

function sandbox(): ReturnType<typeof ouraSandbox> {
  return ouraSandbox(env);
}

function clientSecret(): string {
  return env.oura?.clientSecret ?? '';
}

async function newTasksSince(before: Set<string>): Promise<WithId<Task>[]> {
  return (await tasksOf(env, connectionId)).filter((t) => !before.has(t.id));
}

async function taskIds(): Promise<Set<string>> {
  return new Set((await tasksOf(env, connectionId)).map((t) => t.id));
}

describe('connect: the OAuth state is single-use, bound to the patient and the provider, and expires', () => {
  let pending: { code: string; state: string };

  test('an unknown state is refused', async () => {
    await expect(finishConnect(owner, 'oura', { code: 'whatever', state: 'not-a-state-of-ours-123' })).rejects.toThrow(
      'Unknown state'
    );
  });

  test("another patient's state is refused, and connects nobody", async () => {
    pending = await startConnect(owner, 'oura');
    await expect(finishConnect(other, 'oura', pending)).rejects.toThrow('State belongs to another patient');
    expect(await connections(other)).toEqual([]);
  });

  test('an expired state is refused', async () => {
    const state = 'expired-state-' + randomUUID();
    await env.adminClient.createResource(
      buildStateRecord({
        hash: hashState(state),
        patient: { reference: getReferenceString(ownerPatient) },
        provider: 'oura',
        now: new Date(Date.now() - 11 * 60_000),
      })
    );
    await expect(finishConnect(owner, 'oura', { code: 'whatever', state })).rejects.toThrow('Expired state');
  });

  test("another provider's state is refused", async () => {
    const state = 'whoop-state-' + randomUUID();
    await env.adminClient.createResource(
      buildStateRecord({
        hash: hashState(state),
        patient: { reference: getReferenceString(ownerPatient) },
        provider: 'whoop',
        now: new Date(),
      })
    );
    await expect(finishConnect(owner, 'oura', { code: 'whatever', state })).rejects.toThrow(
      'State was issued for another provider'
    );
  });

  test('the redirect URI is pinned: connect-start and connect-callback refuse one outside BASELINE_APP_URLS', async () => {
    await expect(
      owner.executeBot(bot('connect-start'), {
        provider: 'oura',
        redirectUri: 'https://attacker.example/connect/oura/callback',
      })
    ).rejects.toThrow('Redirect URI is not allowed');
    await expect(
      owner.executeBot(bot('connect-callback'), {
        provider: 'oura',
        redirectUri: 'http://127.0.0.1:3000/elsewhere',
        ...pending,
      })
    ).rejects.toThrow('Redirect URI is not allowed');
  });

  test('consent denied: the app gets access_denied with the state, shows its error, and nothing is connected', async () => {
    const { authorizeUrl } = (await owner.executeBot(bot('connect-start'), {
      provider: 'oura',
      redirectUri: redirectUri('oura'),
    })) as { authorizeUrl: string };
    const location = new URL(await approveConsent(authorizeUrl, { decision: 'deny' }));
    expect(location.origin + location.pathname).toBe(redirectUri('oura'));
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('code')).toBeNull();
    expect(location.searchParams.get('state')).toBe(new URL(authorizeUrl).searchParams.get('state'));
    const shown = describeProviderRedirectError('Oura', 'access_denied');
    expect(shown.title).toBe('Oura was not connected');
    expect(shown.retry).toBe(true);
    expect(await connections(owner)).toEqual([]);
  });

  test('the owner connects: Device, backfill windows, and the app subscriptions created through the edge', async () => {
    const challengesBefore = sandbox().control.stats().challenges.length;
    const result = await finishConnect(owner, 'oura', pending);
    expect(result.connection.status).toBe('active');
    expect(result.queuedWindows).toBeGreaterThanOrEqual(2);
    deviceId = result.connection.deviceId ?? '';
    const device = await env.adminClient.readResource('Device', deviceId);
    expect(device.patient?.reference).toBe(getReferenceString(ownerPatient));
    connectionId = (await requireConnection(env, ownerPatient)).id;
    // 3 event types × 7 mapped data types, each verified by the edge's answer to Oura's GET challenge.
    expect(result.notifications?.warning).toBeUndefined();
    expect(result.notifications?.subscribed).toHaveLength(21);
    const subs = sandbox().control.subscriptions();
    expect(subs).toHaveLength(21);
    const edgeOrigin = new URL(env.edge?.url ?? 'http://missing').origin;
    expect(subs.every((s) => new URL(s.callback_url).origin === edgeOrigin)).toBe(true);
    const challenges = sandbox().control.stats().challenges.slice(challengesBefore);
    expect(challenges).toHaveLength(21);
    expect(challenges.every((c) => c.status === 200 && c.passed)).toBe(true);
  });

  test('the same state cannot be used twice', async () => {
    await expect(finishConnect(owner, 'oura', pending)).rejects.toThrow('State already used');
  });
});

describe('backfill', () => {
  let observations: Observation[];

  test('exactly the Observations the sandbox implies, no duplicates, each coded, on the Device, profiled', async () => {
    const view = await waitForBackfill(owner, 'oura');
    expect(view.backfill).toMatchObject({ failed: 0, inProgress: 0 });
    expect(view.backfill.completed).toBe(view.backfill.total);
    await quiet(env, connectionId);
    observations = await ouraObservations(env, ownerPatient);
    const keys = identifierKeys(observations);
    expect(new Set(keys).size).toBe(keys.length);
    const expected = expectedFromSandbox(sandbox());
    const wearable = observations.filter((o) => o.meta?.profile?.[0] === WEARABLE_PROFILE);
    const series = observations.filter((o) => o.meta?.profile?.[0] === INTRADAY_PROFILE);
    expect(wearable.length + series.length).toBe(observations.length);
    expect(countByType(wearable)).toEqual(expected.byType);
    expect(wearable).toHaveLength(expected.observations);
    expect(series).toHaveLength(expected.series.windows.size);
    for (const o of observations) {
      expect(o.device?.reference).toBe(`Device/${deviceId}`);
      expect(o.subject?.reference).toBe(getReferenceString(ownerPatient));
      expect(o.meta?.profile).toHaveLength(1);
      expect(o.code?.coding?.length ?? 0).toBeGreaterThan(0);
      expect(o.status).toBe('final');
    }
    // Every long sleep of the sandbox is there, and no nap is.
    for (const sleep of sandbox().control.documents('sleep') as { id: string; type: string }[]) {
      expect(ofDocument(wearable, sleep.id).length > 0).toBe(sleep.type === 'long_sleep');
    }
  }, 200_000);

  test('SampledData: one resource per series × metric × UTC day, samples equal to the sandbox’s, ≥ 60 per resource', async () => {
    const expected = expectedFromSandbox(sandbox());
    const series = observations.filter((o) => o.meta?.profile?.[0] === INTRADAY_PROFILE);
    const seen = new Set<string>();
    for (const o of series) {
      expect(o.valueSampledData?.period).toBe(HR_PERIOD_MS);
      const { key, values } = decodeStored(o);
      seen.add(key);
      const truth = expected.series.windows.get(key);
      expect(truth, key).toBeDefined();
      expect(Object.fromEntries(values)).toEqual(Object.fromEntries(truth ?? new Map()));
    }
    expect(seen.size).toBe(series.length);
    // Heart rate: the ratio of samples to resources (Oura's series is 5-minute, its finest; a whole UTC day each).
    const hr = [...expected.series.rawSamples].filter(([k]) => k.startsWith('heartrate|'));
    const hrSamples = hr.reduce((a, [, n]) => a + n, 0);
    const hrResources = series.filter((o) => decodeStored(o).key.startsWith('heartrate|')).length;
    expect(hrResources).toBe(hr.length);
    // Full days only (the first and the last are partial): each holds ≥ 60 samples.
    expect(hrSamples / hrResources).toBeGreaterThanOrEqual(60);
  });

  test('re-running the whole history writes nothing and changes nothing', async () => {
    const before = await ouraObservations(env, ownerPatient);
    const versions = new Map(before.map((o) => [o.id, o.meta?.versionId]));
    const key = `oura:rerun:${randomUUID()}`;
    await env.adminClient.createResource(
      buildTask({
        kind: 'sync',
        patient: { reference: getReferenceString(ownerPatient) },
        connection: { reference: `Basic/${connectionId}` },
        provider: 'oura',
        dedupeKey: key,
        window: { start: new Date(Date.now() - 70 * 86_400_000).toISOString(), end: new Date().toISOString() },
      })
    );
    const tasks = await quiet(env, connectionId, 120_000);
    const task = tasks.find((t) => t.identifier?.some((i) => i.value === key));
    expect(task?.businessStatus?.text ?? '').toBe('');
    expect(task?.status).toBe('completed');
    expect(output(task ?? ({} as Task), 'created')).toBe(0);
    expect(output(task ?? ({} as Task), 'updated')).toBe(0);
    const after = await ouraObservations(env, ownerPatient);
    expect(after).toHaveLength(before.length);
    expect(after.every((o) => versions.get(o.id) === o.meta?.versionId)).toBe(true);
  }, 150_000);

  test('late samples: a new morning adds heart rate to an already imported day, merged without losing any', async () => {
    const lastDay = sandbox().control.currentDate();
    const before = (await ouraObservations(env, ownerPatient)).filter((o) => o.meta?.profile?.[0] === INTRADAY_PROFILE);
    const beforeByKey = new Map(before.map((o) => [decodeStored(o).key, o]));
    await sandbox().control.addDay();
    await quiet(env, connectionId, 120_000);
    const expected = expectedFromSandbox(sandbox());
    const after = (await ouraObservations(env, ownerPatient)).filter((o) => o.meta?.profile?.[0] === INTRADAY_PROFILE);
    expect(after).toHaveLength(expected.series.windows.size);
    let grown = 0;
    for (const o of after) {
      const { key, values } = decodeStored(o);
      expect(Object.fromEntries(values), key).toEqual(
        Object.fromEntries(expected.series.windows.get(key) ?? new Map())
      );
      const old = beforeByKey.get(key);
      if (old) {
        expect(old.id).toBe(o.id);
        const stored = decodeStored(old).values;
        for (const [slot, value] of stored) {
          expect(values.get(slot)).toBe(value);
        }
        if (values.size > stored.size) {
          grown++;
        }
      }
    }
    // At least the heart rate of the closed day (and the night that ended this morning) merged into resources that
    // existed before.
    expect(grown).toBeGreaterThanOrEqual(1);
    expect(sandbox().control.currentDate() > lastDay).toBe(true);
    // And the new morning's documents arrived by webhook.
    const wearable = (await ouraObservations(env, ownerPatient)).filter(
      (o) => o.meta?.profile?.[0] === WEARABLE_PROFILE
    );
    expect(countByType(wearable)).toEqual(expected.byType);
    expect(wearable).toHaveLength(expected.observations);
  }, 150_000);
});

describe('signed deliveries (Medplum 5.2: raw body)', () => {
  const body = (): string =>
    JSON.stringify({
      event_type: 'update',
      data_type: 'workout',
      object_id: randomUUID(),
      event_time: new Date().toISOString(),
      user_id: sandbox().userId,
    });

  test.each([
    ['missing headers', (_b: string): Record<string, string> => ({}), 'Missing x-oura-signature header'],
    [
      'no timestamp',
      (b: string): Record<string, string> => ({
        'x-oura-signature': signedHeaders(clientSecret(), b)['x-oura-signature'] ?? '',
      }),
      'Missing x-oura-timestamp header',
    ],
    [
      'a bad signature',
      (b: string): Record<string, string> => ({
        ...signedHeaders(clientSecret(), b),
        'x-oura-signature': 'AB'.repeat(32),
      }),
      'Invalid signature',
    ],
    [
      'a wrongly keyed signature',
      (b: string): Record<string, string> => signedHeaders('not-the-client-secret', b),
      'Invalid signature',
    ],
    [
      'a stale timestamp',
      (b: string): Record<string, string> => signedHeaders(clientSecret(), b, Math.floor(Date.now() / 1000) - 600),
      'Signature timestamp outside the allowed window',
    ],
    [
      'a future timestamp',
      (b: string): Record<string, string> => signedHeaders(clientSecret(), b, Math.floor(Date.now() / 1000) + 600),
      'Signature timestamp outside the allowed window',
    ],
    [
      'a garbled timestamp',
      (b: string): Record<string, string> => ({ ...signedHeaders(clientSecret(), b), 'x-oura-timestamp': 'yesterday' }),
      'Invalid signature timestamp',
    ],
  ])('%s: refused with the exact reason, nothing queued', async (_name, headers, message) => {
    const b = body();
    const before = (await env.adminClient.searchResources('Task', { _count: '1000' })).length;
    const res = await postJson(webhookUrl(env), b, headers(b));
    expect(res.status).toBe(400);
    expect(res.text).toContain(`Rejected Oura webhook: ${message}`);
    await settle(env);
    expect((await env.adminClient.searchResources('Task', { _count: '1000' })).length).toBe(before);
  });

  test('a genuine delivery through the edge queues one Task per event; a replay of it queues nothing more', async () => {
    await quiet(env, connectionId);
    const workout = (sandbox().control.documents('workout') as { id: string }[])[2];
    const before = await taskIds();
    const dispatch = await sandbox().control.sendWebhook({
      dataType: 'workout',
      eventType: 'update',
      objectId: workout?.id ?? '',
    });
    expect(dispatch.outcomes.length).toBeGreaterThan(0);
    expect(dispatch.outcomes.every((o) => o.delivered && o.attempts === 1)).toBe(true);
    await quiet(env, connectionId);
    const fresh = await newTasksSince(before);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]?.status).toBe('completed');
    expect(output(fresh[0] ?? ({} as Task), 'created')).toBe(0);
    // The same signed event posted again (Oura retries a delivery it thinks failed): the same Task, nothing new.
    const event = JSON.stringify({
      event_type: 'update',
      data_type: 'workout',
      object_id: workout?.id,
      event_time: '2026-01-01T00:00:00+00:00',
      user_id: sandbox().userId,
    });
    const before2 = await taskIds();
    for (let i = 0; i < 3; i++) {
      expect((await postJson(webhookUrl(env), event, signedHeaders(clientSecret(), event))).status).toBe(200);
    }
    await quiet(env, connectionId);
    expect(await newTasksSince(before2)).toHaveLength(1);
  });

  test('the same empty answer for a known and an unknown Oura user; the unknown one queues nothing', async () => {
    const before = (await env.adminClient.searchResources('Task', { _count: '1000' })).length;
    const unknown = JSON.stringify({
      event_type: 'update',
      data_type: 'workout',
      object_id: randomUUID(),
      event_time: new Date().toISOString(),
      user_id: randomUUID(),
    });
    const a = await postJson(webhookUrl(env), unknown, signedHeaders(clientSecret(), unknown));
    const known = body();
    const b = await postJson(webhookUrl(env), known, signedHeaders(clientSecret(), known));
    expect(a.status).toBe(200);
    expect(b).toEqual(a);
    await quiet(env, connectionId);
    // Only the known user's (invented) document: one Task, completed as missing, nothing retried.
    const all = await env.adminClient.searchResources('Task', { _count: '1000' });
    expect(all.length - before).toBe(1);
  });

  test('a forged deletion of a real document (signed, but Oura still has it) changes nothing', async () => {
    const workout = (sandbox().control.documents('workout') as { id: string }[])[3];
    const id = workout?.id ?? '';
    const mine = ofDocument(await ouraObservations(env, ownerPatient), id);
    expect(mine.length).toBeGreaterThan(0);
    const forged = JSON.stringify({
      event_type: 'delete',
      data_type: 'workout',
      object_id: id,
      event_time: new Date().toISOString(),
      user_id: sandbox().userId,
    });
    expect((await postJson(webhookUrl(env), forged, signedHeaders(clientSecret(), forged))).status).toBe(200);
    await quiet(env, connectionId);
    const after = ofDocument(await ouraObservations(env, ownerPatient), id);
    expect(after.map((o) => [o.id, o.status, o.meta?.versionId])).toEqual(
      mine.map((o) => [o.id, o.status, o.meta?.versionId])
    );
  });

  test('a genuine deletion retracts only after Oura confirms (404): the workout, and a sleep period', async () => {
    const workout = (sandbox().control.documents('workout') as { id: string }[])[4];
    const sleep = (sandbox().control.documents('sleep') as { id: string; type: string }[]).filter(
      (s) => s.type === 'long_sleep'
    )[5];
    const ids = [workout?.id ?? '', sleep?.id ?? ''];
    const all = await ouraObservations(env, ownerPatient);
    const untouched = all.filter((o) => !ids.some((id) => ofDocument([o], id).length > 0));
    for (const id of ids) {
      expect(ofDocument(all, id).length).toBeGreaterThan(0);
    }
    await sandbox().control.deleteDocument(sandbox().userId, 'workout', ids[0] ?? '');
    await sandbox().control.deleteDocument(sandbox().userId, 'sleep', ids[1] ?? '');
    await quiet(env, connectionId);
    const after = await ouraObservations(env, ownerPatient);
    for (const id of ids) {
      const gone = ofDocument(after, id);
      expect(gone.length).toBeGreaterThan(0);
      expect(gone.every((o) => o.status === 'entered-in-error')).toBe(true);
    }
    // Nothing else moved (the series minutes of the deleted night stay: they are the ring's, not the document's).
    const versions = new Map(after.map((o) => [o.id, o.meta?.versionId]));
    expect(untouched.filter((o) => versions.get(o.id) !== o.meta?.versionId)).toEqual([]);
  });
});

describe('token rotation (single-use refresh tokens)', () => {
  test('two syncs racing on an expired token: both succeed, one refresh, no reuse refusal, still active', async () => {
    await quiet(env, connectionId);
    await expireToken(env, ownerPatient);
    const stats = sandbox().control.stats();
    const before = await taskIds();
    const workouts = (sandbox().control.documents('workout') as { id: string }[]).slice(6, 8);
    await Promise.all(
      workouts.map((w) => sandbox().control.sendWebhook({ dataType: 'workout', eventType: 'update', objectId: w.id }))
    );
    await quiet(env, connectionId);
    const fresh = await newTasksSince(before);
    expect(fresh).toHaveLength(2);
    expect(fresh.map((t) => [t.status, t.businessStatus?.text ?? ''])).toEqual([
      ['completed', ''],
      ['completed', ''],
    ]);
    const after = sandbox().control.stats();
    expect(after.tokenRefreshes - stats.tokenRefreshes).toBe(1);
    expect(after.refreshTokenReuseRefusals).toBe(stats.refreshTokenReuseRefusals);
    expect(after.tokenRequests.failed).toBe(stats.tokenRequests.failed);
    expect((await connections(owner))[0]?.status).toBe('active');
  });
});

describe('provider faults: the Task fails with the exact reason, the sweeper retries, nothing lost or doubled', () => {
  // A different workout per case: the webhook bot deduplicates a verified event by (event type, data type, object id,
  // event_time), and the sandbox's event_time has whole-second precision, so the same workout notified twice within
  // a second is one event.
  let nextWorkout = 0;
  function freshWorkout(): string {
    const workout = (sandbox().control.documents('workout') as { id: string }[])[nextWorkout++];
    if (!workout) {
      throw new Error('the sandbox has too few workouts for the fault cases');
    }
    return workout.id;
  }

  async function faultRun(inject: () => void, reason: string): Promise<void> {
    await quiet(env, connectionId);
    const workout = { id: freshWorkout() };
    const countBefore = (await ouraObservations(env, ownerPatient)).length;
    const before = await taskIds();
    inject();
    await sandbox().control.sendWebhook({ dataType: 'workout', eventType: 'update', objectId: workout?.id ?? '' });
    const failed = await until(
      env,
      'the Task to fail',
      async () => {
        const [task] = await newTasksSince(before);
        return task && (task.status === 'failed' || task.status === 'completed') ? task : undefined;
      },
      60_000,
      async () =>
        JSON.stringify({
          tasks: (await newTasksSince(before)).map((t) => [t.status, t.businessStatus?.text]),
          deliveries: sandbox().control.stats().webhookDeliveries.slice(-3),
        })
    );
    expect(failed.status).toBe('failed');
    expect(failed.businessStatus?.text).toBe(reason);
    expect(failed.extension?.some((e) => e.url === TASK_EXTENSION.nextAttempt)).toBe(true);
    await sweep(env.adminClient, { asOf: new Date(Date.now() + 7 * 3600_000).toISOString() });
    await quiet(env, connectionId);
    const [done] = await newTasksSince(before);
    expect(done?.status).toBe('completed');
    expect(output(done ?? ({} as Task), 'created')).toBe(0);
    expect((await ouraObservations(env, ownerPatient)).length).toBe(countBefore);
  }

  test('Oura 500', async () => {
    await faultRun(
      () => sandbox().control.injectFaults({ status: 500, count: 1, pathPrefix: '/v2/usercollection/workout' }),
      'oura GET /v2/usercollection/workout/{document_id} failed: HTTP 500 (server)'
    );
  }, 90_000);

  test('Oura 503', async () => {
    await faultRun(
      () => sandbox().control.injectFaults({ status: 503, count: 1, pathPrefix: '/v2/usercollection/workout' }),
      'oura GET /v2/usercollection/workout/{document_id} failed: HTTP 503 (server)'
    );
  }, 90_000);

  test('Oura 429 with a short Retry-After: the run waits it out (one extra call) and completes', async () => {
    // A 429 whose Retry-After fits the sync's wait budget (provider.ts SYNC_RATE_LIMIT_WAIT_MS) is waited out in the
    // run; one that does not fails the Task until the sweeper retries it (rate-limit.test.ts, the real limiter).
    await quiet(env, connectionId);
    const workout = { id: freshWorkout() };
    const countBefore = (await ouraObservations(env, ownerPatient)).length;
    const limitedBefore = sandbox().control.stats().apiStatuses['429'] ?? 0;
    const callsBefore = ouraApiCalls(env, 'workout/{document_id}');
    const before = await taskIds();
    sandbox().control.injectFaults({ status: 429, count: 1, pathPrefix: '/v2/usercollection/workout' });
    await sandbox().control.sendWebhook({ dataType: 'workout', eventType: 'update', objectId: workout?.id ?? '' });
    await quiet(env, connectionId);
    const [done] = await newTasksSince(before);
    expect(done?.status).toBe('completed');
    expect(done?.businessStatus?.text ?? '').toBe('');
    expect((sandbox().control.stats().apiStatuses['429'] ?? 0) - limitedBefore).toBe(1);
    expect(ouraApiCalls(env, 'workout/{document_id}') - callsBefore).toBe(2);
    expect((await ouraObservations(env, ownerPatient)).length).toBe(countBefore);
  }, 90_000);

  test('Oura 401 on a valid-looking token (twice: after the one refresh too)', async () => {
    await faultRun(
      () => sandbox().control.injectFaults({ status: 401, count: 2, pathPrefix: '/v2/usercollection/workout' }),
      'oura GET /v2/usercollection/workout/{document_id} failed: HTTP 401 (unauthorized)'
    );
    expect((await connections(owner))[0]?.status).toBe('active');
  }, 90_000);

  test('Oura timeout', async () => {
    await setSecrets(env, { OURA_TIMEOUT_MS: '500' });
    try {
      await faultRun(
        () => sandbox().control.injectTimeout({ count: 1, delayMs: 2000, pathPrefix: '/v2/usercollection/workout' }),
        'oura GET /v2/usercollection/workout/{document_id} failed: timeout - no response within 500ms'
      );
    } finally {
      await setSecrets(env, { OURA_TIMEOUT_MS: '15000' });
    }
  }, 90_000);

  test('every fault left the data exact: still what the sandbox implies', async () => {
    const expected = expectedFromSandbox(sandbox());
    const live = (await ouraObservations(env, ownerPatient)).filter((o) => o.status !== 'entered-in-error');
    const keys = identifierKeys(live);
    expect(new Set(keys).size).toBe(keys.length);
    expect(countByType(live)).toEqual(expected.byType);
    expect(live.filter((o) => o.meta?.profile?.[0] === WEARABLE_PROFILE)).toHaveLength(expected.observations);
    expect(ouraApiCalls(env)).toBeGreaterThan(0);
  });
});
