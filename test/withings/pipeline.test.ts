/**
 * Withings end to end, over real HTTP: the local stack (Medplum stand-in) running the deployed bot bundles, the
 * Withings sandbox serving Withings' OAuth, API and form-encoded notifications, and the webhook edge in front of the
 * stack. One stack for the file; the tests run in order (OAuth state → backfill and SampledData → late minutes →
 * refresh race → provider faults with sweeper retry → refresh refused / invalid client), each checking its failure
 * modes by their exact message, then reading the data back against the sandbox's own records (expected.ts).
 */
import { randomUUID } from 'node:crypto';
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CONNECTION_EXTENSION, TASK_EXTENSION, TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { buildStateRecord, hashState } from '../../bots/shared/oauth-state.ts';
import { alignedBackfillWindows } from '../../bots/shared/queue.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { WithingsClient } from '../../bots/withings/client.ts';
import { SUBSCRIBED_APPLIS } from '../../bots/withings/schemas.ts';
import { fetchWithingsPlan, groupWithingsRecords, planWithingsSync } from '../../bots/withings/sync-plan.ts';
import type { TestStack } from '../harness/stack.ts';
import { connections, finishConnect, settle, startConnect, waitForBackfill } from '../providers/helpers.ts';
import { decodeSeriesObservation, expectedRecordKeys, expectedSeries, recordKeyOf, taskRange } from './expected.ts';
import type { Range } from './expected.ts';
import {
  expireToken,
  key,
  output,
  projectSecret,
  quiet,
  queueWindowSync,
  sandboxOf,
  seriesObservations,
  setSecrets,
  startWithingsStack,
  sweep,
  tasksOf,
  waitForTask,
  wearableObservations,
  withingsCalls,
  withingsConnection,
} from './helpers.ts';

const DAYS = 45;
const BACKFILL_DAYS = 60;

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let ownerPatient: WithId<Patient>;
let connectedAt: Date;
let deviceId: string;

beforeAll(async () => {
  env = await startWithingsStack({
    // This file runs a 60-day backfill, re-syncs and every fault case within a couple of minutes; Withings' real
    // 120 calls/min is tested on its own in ratelimit.test.ts.
    withings: { days: DAYS, rateLimitPerMinute: 100_000 },
  });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: String(BACKFILL_DAYS) });
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

function sandbox(): ReturnType<typeof sandboxOf> {
  return sandboxOf(env);
}

async function backfillRange(): Promise<Range> {
  const basic = await withingsConnection(env, ownerPatient);
  return taskRange(await tasksOf(env, basic.id, 'backfill'));
}

/**
 * The Observations the mappers make from what the sandbox's API serves over a range (a separate client with the
 * connection's current token, like the WHOOP tests): the exact identifier set the backfill must have written.
 */
async function mappedIdentifiers(range: Range): Promise<Set<string>> {
  const token = sandbox().control.tokensFor(sandbox().userId).at(-1)?.accessToken;
  if (!token) {
    throw new Error('no sandbox token');
  }
  const client = new WithingsClient({
    clientId: 'x',
    clientSecret: 'x',
    apiBaseUrl: sandbox().apiBaseUrl,
    authBaseUrl: sandbox().authBaseUrl,
  });
  const plan = planWithingsSync(
    {
      id: undefined,
      kind: 'backfill',
      dedupeKey: 'expected',
      patient: { reference: getReferenceString(ownerPatient) },
      connection: { reference: 'Basic/expected' },
      provider: 'withings',
      // planWithingsSync subtracts the overlap again: hand it the range's start plus the overlap.
      window: {
        start: new Date(range.start * 1000 + 48 * 3600_000).toISOString(),
        end: new Date(range.end * 1000).toISOString(),
      },
      recordType: undefined,
      recordId: undefined,
      eventType: undefined,
      attempts: 0,
      nextAttemptAt: undefined,
    },
    { providerUserId: String(sandbox().userId), now: new Date(range.end * 1000), lastSync: undefined }
  );
  if (plan.kind !== 'fetch') {
    throw new Error('expected a fetch plan');
  }
  const records = await fetchWithingsPlan(client, token, plan as Parameters<typeof fetchWithingsPlan>[2]);
  const grouped = groupWithingsRecords(records, {
    patient: { reference: getReferenceString(ownerPatient) },
    device: { reference: `Device/${deviceId}` },
    providerUserId: String(sandbox().userId),
  });
  return new Set(grouped.records.flatMap((g) => g.observations).map(key));
}

describe('connect: the OAuth state is single-use, bound to the patient and the provider, and expires', () => {
  let pending: { code: string; state: string };

  test('an unknown state is refused', async () => {
    await expect(
      finishConnect(owner, 'withings', { code: 'whatever', state: 'not-a-state-of-ours-123' })
    ).rejects.toThrow('Unknown state');
  });

  test("another patient's state is refused, and connects nobody", async () => {
    pending = await startConnect(owner, 'withings');
    await expect(finishConnect(other, 'withings', pending)).rejects.toThrow('State belongs to another patient');
    expect(await connections(other)).toEqual([]);
  });

  test("another provider's state is refused", async () => {
    const state = 'oura-state-' + randomUUID();
    await env.adminClient.createResource(
      buildStateRecord({
        hash: hashState(state),
        patient: { reference: getReferenceString(ownerPatient) },
        provider: 'oura',
        now: new Date(),
      })
    );
    await expect(finishConnect(owner, 'withings', { code: 'whatever', state })).rejects.toThrow(
      'State was issued for another provider'
    );
  });

  test('an expired state is refused', async () => {
    const state = 'expired-state-' + randomUUID();
    await env.adminClient.createResource(
      buildStateRecord({
        hash: hashState(state),
        patient: { reference: getReferenceString(ownerPatient) },
        provider: 'withings',
        now: new Date(Date.now() - 11 * 60_000),
      })
    );
    await expect(finishConnect(owner, 'withings', { code: 'whatever', state })).rejects.toThrow('Expired state');
  });

  test('the owner connects: a Device, the backfill windows, and one subscription per category through the edge', async () => {
    connectedAt = new Date();
    const result = await finishConnect(owner, 'withings', pending);
    expect(result.connection.status).toBe('active');
    expect(result.queuedWindows).toBe(alignedBackfillWindows(connectedAt, BACKFILL_DAYS).length);
    expect(result.notifications).toEqual({ subscribed: SUBSCRIBED_APPLIS.map((a) => `appli-${a}`) });
    deviceId = result.connection.deviceId ?? '';
    const device = await env.adminClient.readResource('Device', deviceId);
    expect(device.patient?.reference).toBe(getReferenceString(ownerPatient));
    // The sandbox's own view: each category subscribed at the edge's URL, after a HEAD check the edge answered.
    const callback = await projectSecret(env, 'WITHINGS_WEBHOOK_URL');
    expect(callback?.startsWith(env.edge?.url ?? 'no edge')).toBe(true);
    const subs = sandbox().control.subscriptions(sandbox().userId);
    expect(subs.map((s) => s.appli).sort((a, b) => a - b)).toEqual([...SUBSCRIBED_APPLIS].sort((a, b) => a - b));
    expect(subs.every((s) => s.callbackurl === callback)).toBe(true);
    const heads = sandbox()
      .control.stats()
      .headChecks.filter((h) => h.url === callback);
    expect(heads.length).toBe(SUBSCRIBED_APPLIS.length);
    expect(heads.every((h) => h.accepted && typeof h.status === 'number' && h.status >= 200 && h.status < 300)).toBe(
      true
    );
    // The tokens are not on the connection.
    const basic = await withingsConnection(env, ownerPatient);
    for (const t of sandbox().control.tokensFor(sandbox().userId)) {
      expect(JSON.stringify(basic)).not.toContain(t.accessToken);
      expect(JSON.stringify(basic)).not.toContain(t.refreshToken ?? 'no refresh token');
    }
  });

  test('the same state cannot be used twice', async () => {
    await expect(finishConnect(owner, 'withings', pending)).rejects.toThrow('State already used');
  });
});

describe('backfill', () => {
  test('exactly the records the sandbox holds, no duplicates, each coded, tied to the Device, with its profile', async () => {
    const view = await waitForBackfill(owner, 'withings');
    const windows = alignedBackfillWindows(connectedAt, BACKFILL_DAYS).length;
    expect(view.backfill).toMatchObject({ total: windows, completed: windows, failed: 0, inProgress: 0 });
    await settle(env);
    const range = await backfillRange();
    const single = await wearableObservations(env, ownerPatient);
    const series = await seriesObservations(env, ownerPatient);
    const all = [...single, ...series];
    const ids = all.map(key);
    expect(new Set(ids).size).toBe(ids.length);
    // Independently of the mappers: the record of every sandbox record in range, and nothing else.
    const records = new Set(single.map(recordKeyOf));
    expect(records).toEqual(expectedRecordKeys(sandbox(), range, sandbox().userId));
    // With the mappers over what the API serves: the exact Observation set.
    expect(new Set(ids)).toEqual(await mappedIdentifiers(range));
    expect(all.every((o) => o.device?.reference === `Device/${deviceId}`)).toBe(true);
    expect(all.every((o) => o.subject?.reference === getReferenceString(ownerPatient))).toBe(true);
    expect(all.every((o) => (o.code?.coding?.length ?? 0) > 0)).toBe(true);
    expect(single.every((o) => o.meta?.profile?.length === 1 && o.meta.profile[0] === WEARABLE_PROFILE)).toBe(true);
    expect(series.every((o) => o.meta?.profile?.length === 1 && o.meta.profile[0] === INTRADAY_PROFILE)).toBe(true);
    // A blood-pressure group is one panel with systolic and diastolic components.
    const bp = single.filter((o) => o.code?.coding?.some((c) => c.code === '85354-9'));
    expect(bp.length).toBeGreaterThan(0);
    for (const panel of bp) {
      const codes = (panel.component ?? []).flatMap((c) => c.code.coding?.map((x) => x.code) ?? []);
      expect(codes).toEqual(expect.arrayContaining(['8480-6', '8462-4']));
    }
  }, 240_000);

  test('intraday: one SampledData resource per series × UTC day with data, ≥ 60 samples each, equal to the sandbox', async () => {
    const range = await backfillRange();
    const truth = expectedSeries(sandbox(), range, sandbox().userId, DAYS);
    const series = await seriesObservations(env, ownerPatient);
    expect(series.length).toBe(truth.size);
    let samples = 0;
    for (const o of series) {
      expect(o.valueSampledData?.period).toBe(60_000);
      const decoded = decodeSeriesObservation(o);
      const expected = truth.get(decoded.key);
      expect(expected, decoded.key).toBeDefined();
      expect(decoded.samples).toEqual(expected);
      samples += decoded.samples.size;
    }
    // Heart rate is a minute series: far fewer resources than samples.
    const hr = series.filter((o) => decodeSeriesObservation(o).key.includes('|heart-rate|'));
    const hrSamples = hr.reduce((n, o) => n + decodeSeriesObservation(o).samples.size, 0);
    expect(hr.length).toBeGreaterThan(DAYS - 2);
    expect(hrSamples / hr.length).toBeGreaterThanOrEqual(60);
    expect(samples / series.length).toBeGreaterThanOrEqual(60);
  });

  test('re-running the whole range writes nothing and changes nothing', async () => {
    const before = [
      ...(await wearableObservations(env, ownerPatient)),
      ...(await seriesObservations(env, ownerPatient)),
    ];
    const versions = new Map(before.map((o) => [o.id, o.meta?.versionId]));
    const range = await backfillRange();
    const basic = await withingsConnection(env, ownerPatient);
    const k = await queueWindowSync(
      env,
      ownerPatient,
      basic,
      {
        start: new Date(range.start * 1000 + 48 * 3600_000).toISOString(),
        end: new Date().toISOString(),
      },
      'rerun'
    );
    const task = await waitForTask(env, k, ['completed', 'failed'], 120_000);
    expect(task.businessStatus?.text ?? '').toBe('');
    expect(task.status).toBe('completed');
    expect(output(task, 'created')).toBe(0);
    expect(output(task, 'updated')).toBe(0);
    const after = [
      ...(await wearableObservations(env, ownerPatient)),
      ...(await seriesObservations(env, ownerPatient)),
    ];
    expect(after).toHaveLength(before.length);
    expect(after.every((o) => versions.get(o.id) === o.meta?.versionId)).toBe(true);
  }, 150_000);

  test('late minutes: a new day arrives by notification and merges into the UTC day already stored, losing nothing', async () => {
    const basic = await withingsConnection(env, ownerPatient);
    const before = new Map(
      (await seriesObservations(env, ownerPatient)).map((o) => {
        const d = decodeSeriesObservation(o);
        return [d.key, { samples: d.samples, id: o.id, version: o.meta?.versionId }];
      })
    );
    const callsBefore = withingsCalls(sandbox(), 'getintradayactivity');
    const results = await sandbox().control.addDay();
    // Each notification went through the edge to the webhook and was accepted.
    const outcomes = results.flatMap((r) => r.outcomes);
    expect(outcomes.length).toBeGreaterThan(0);
    expect(outcomes.every((o) => o.delivered && o.attempts === 1)).toBe(true);
    const syncedAt = Date.now();
    await quiet(env, basic.id);
    const after = new Map(
      (await seriesObservations(env, ownerPatient)).map((o) => {
        const d = decodeSeriesObservation(o);
        return [d.key, { samples: d.samples, id: o.id, version: o.meta?.versionId }];
      })
    );
    // No stored sample was lost, in any series.
    for (const [k, old] of before) {
      const now = after.get(k);
      expect(now, k).toBeDefined();
      for (const [t, v] of old.samples) {
        expect(now?.samples.get(t)).toBe(v);
      }
    }
    // The day that held the last local day's evening (New York: UTC 00:00–05:00) got the new morning's minutes, in
    // the same resource (updated, not a second one).
    const grown = [...after].filter(([k, now]) => {
      const old = before.get(k);
      return old !== undefined && now.samples.size > old.samples.size;
    });
    expect(grown.length).toBeGreaterThan(0);
    for (const [k, now] of grown) {
      expect(now.id).toBe(before.get(k)?.id);
      expect(now.version).not.toBe(before.get(k)?.version);
    }
    // And the merged days equal the sandbox's minutes up to the sync (minutes later than that were not asked for).
    const truth = expectedSeries(
      sandbox(),
      { start: Math.floor(connectedAt.getTime() / 1000) - 10 * 86_400, end: Math.floor(syncedAt / 1000) },
      sandbox().userId,
      DAYS + 1
    );
    for (const [k] of grown) {
      const got = after.get(k)?.samples ?? new Map<number, number>();
      const want = truth.get(k) ?? new Map<number, number>();
      for (const [t, v] of want) {
        if (t < syncedAt - 120_000) {
          expect(got.get(t), `${k} ${new Date(t).toISOString()}`).toBe(v);
        }
      }
    }
    // Intraday was re-read for the notified days only, not the whole history.
    const intradayCalls = withingsCalls(sandbox(), 'getintradayactivity') - callsBefore;
    expect(intradayCalls).toBeGreaterThan(0);
    expect(intradayCalls).toBeLessThanOrEqual(8);
  }, 120_000);
});

describe('token rotation', () => {
  test('two syncs racing on an expiring token: both succeed, one refresh, the connection stays active', async () => {
    const basic = await expireToken(env, ownerPatient);
    const refreshesBefore = sandbox().control.stats().tokenRefreshes;
    const failedBefore = sandbox().control.stats().tokenRequests.failed;
    const day = { start: new Date(Date.now() - 86_400_000).toISOString(), end: new Date().toISOString() };
    const keys = await Promise.all([
      queueWindowSync(env, ownerPatient, basic, day, 'race-a'),
      queueWindowSync(env, ownerPatient, basic, day, 'race-b'),
    ]);
    for (const k of keys) {
      const task = await waitForTask(env, k, ['completed', 'failed']);
      expect(task.businessStatus?.text ?? '').toBe('');
      expect(task.status).toBe('completed');
    }
    expect(sandbox().control.stats().tokenRefreshes - refreshesBefore).toBe(1);
    expect(sandbox().control.stats().tokenRequests.failed).toBe(failedBefore);
    expect((await connections(owner)).find((c) => c.provider === 'withings')?.status).toBe('active');
  });
});

describe('provider faults: the Task fails with the exact reason, the sweeper retries, nothing is lost or duplicated', () => {
  // Status 601 (the rate limit) is waited out inside the run first: ratelimit.test.ts covers it.
  async function faultRun(inject: () => void, reason: string): Promise<void> {
    const basic = await withingsConnection(env, ownerPatient);
    // Whatever the previous sweep queued runs first: an injected fault must meet this Task's call, nobody else's.
    await quiet(env, basic.id);
    const before = [
      ...(await wearableObservations(env, ownerPatient)),
      ...(await seriesObservations(env, ownerPatient)),
    ];
    // Three days back: measures, activity, sleep and minutes to re-read, all already stored.
    const window = {
      start: new Date(Date.now() - 3 * 86_400_000).toISOString(),
      end: new Date().toISOString(),
    };
    const callsBefore = sandbox().control.stats().calls;
    inject();
    const k = await queueWindowSync(env, ownerPatient, basic, window, 'fault');
    const failed = await waitForTask(env, k, ['failed']).catch((err: unknown) => {
      // Which calls the sandbox answered meanwhile, to tell who met the injected fault.
      const calls = sandbox().control.stats().calls;
      const diff = Object.fromEntries(
        Object.entries(calls).flatMap(([c, n]) => (n === callsBefore[c] ? [] : [[c, n - (callsBefore[c] ?? 0)]]))
      );
      throw new Error(`${String(err)}; calls meanwhile ${JSON.stringify(diff)}`);
    });
    expect(failed.businessStatus?.text).toBe(reason);
    const next = failed.extension?.find((e) => e.url === TASK_EXTENSION.nextAttempt)?.valueDateTime;
    expect(next).toBeDefined();
    // Before its next attempt is due, the sweeper leaves it alone.
    await sweep(env);
    await settle(env);
    expect((await waitForTask(env, k, ['failed'])).status).toBe('failed');
    await sweep(env, { asOf: new Date(Date.now() + 7 * 3600_000).toISOString() });
    const done = await waitForTask(env, k, ['completed']);
    expect(output(done, 'created')).toBe(0);
    const after = [
      ...(await wearableObservations(env, ownerPatient)),
      ...(await seriesObservations(env, ownerPatient)),
    ];
    expect(after.map(key).sort()).toEqual(before.map(key).sort());
    expect((await connections(owner)).find((c) => c.provider === 'withings')?.status).toBe('active');
  }

  test('an outage (HTTP 500)', async () => {
    await faultRun(
      () => sandbox().control.injectFaults({ kind: 'http-500', count: 1, action: 'getmeas' }),
      'withings POST /measure getmeas failed: HTTP 500 (server)'
    );
  }, 90_000);

  test("Withings' own timeout (status 522)", async () => {
    await faultRun(
      () => sandbox().control.injectFaults({ kind: 'status-522', count: 1, action: 'getsummary' }),
      'withings POST /v2/sleep getsummary failed: timeout - status 522 (timeout at Withings)'
    );
  }, 90_000);

  test('no answer in time', async () => {
    await setSecrets(env, { WITHINGS_TIMEOUT_MS: '500' });
    try {
      await faultRun(
        () => sandbox().control.injectTimeout({ count: 1, delayMs: 2000, pathPrefix: '/measure' }),
        'withings POST /measure getmeas failed: timeout - no response within 500ms'
      );
    } finally {
      await setSecrets(env, { WITHINGS_TIMEOUT_MS: '15000' });
    }
  }, 90_000);

  test('401 on a valid-looking token: one forced refresh; refused again → failed with the reason, then retried', async () => {
    await quiet(env, (await withingsConnection(env, ownerPatient)).id);
    const refreshes = sandbox().control.stats().tokenRefreshes;
    await faultRun(
      () => sandbox().control.injectFaults({ kind: 'status-401', count: 2, action: 'getmeas' }),
      'withings POST /measure getmeas failed: unauthorized - status 401 (authentication failed)'
    );
    expect(sandbox().control.stats().tokenRefreshes - refreshes).toBe(1);
  }, 90_000);
});

describe('credentials', () => {
  test('invalid client: the Task says an operator must fix the client secret; the connection stays active', async () => {
    const secret = (await projectSecret(env, 'WITHINGS_CLIENT_SECRET')) ?? '';
    await setSecrets(env, { WITHINGS_CLIENT_SECRET: 'not-the-client-secret' });
    try {
      const basic = await expireToken(env, ownerPatient);
      const k = await queueWindowSync(
        env,
        ownerPatient,
        basic,
        { start: new Date(Date.now() - 86_400_000).toISOString(), end: new Date().toISOString() },
        'invalid-client'
      );
      const failed = await waitForTask(env, k, ['failed']);
      expect(failed.businessStatus?.text).toContain("rejected Baseline's client credentials (invalid_client)");
      expect(failed.businessStatus?.text).not.toContain('not-the-client-secret');
      expect((await connections(owner)).find((c) => c.provider === 'withings')?.status).toBe('active');
    } finally {
      await setSecrets(env, { WITHINGS_CLIENT_SECRET: secret });
    }
  }, 90_000);

  test('refresh refused (the owner removed Baseline in Health Mate): credentials-expired, asked to reconnect', async () => {
    expect(sandbox().control.tokensFor(sandbox().userId).length).toBeGreaterThan(0);
    sandbox().control.revokeUserAccess(sandbox().userId);
    expect(sandbox().control.tokensFor(sandbox().userId)).toEqual([]);
    await expireToken(env, ownerPatient);
    await sweep(env);
    const view = (await connections(owner)).find((c) => c.provider === 'withings');
    expect(view?.status).toBe('credentials-expired');
    expect(view?.lastError).toBe('withings refused the token refresh');
    const again = await finishConnect(owner, 'withings', await startConnect(owner, 'withings'));
    expect(again.connection.status).toBe('active');
    await waitForBackfill(owner, 'withings');
    await settle(env);
    // Reconnecting re-imported nothing twice.
    const all = [...(await wearableObservations(env, ownerPatient)), ...(await seriesObservations(env, ownerPatient))];
    const ids = all.map(key);
    expect(new Set(ids).size).toBe(ids.length);
    const backfills = (await tasksOf(env, (await withingsConnection(env, ownerPatient)).id, 'backfill')).filter((t) =>
      t.code?.coding?.some((c) => c.system === TASK_TYPE_SYSTEM)
    );
    expect(backfills.every((t) => t.status === 'completed' || t.status === 'cancelled')).toBe(true);
  }, 180_000);
});

describe('isolation', () => {
  test("the other patient sees none of the owner's Withings connection, Tasks, Device or Observations", async () => {
    expect(await connections(other)).toEqual([]);
    await expect(other.searchResources('Basic', {})).rejects.toThrow('Forbidden');
    expect(await other.searchResources('Task', { _count: '500' })).toHaveLength(0);
    const mine: Observation[] = await seriesObservations(env, ownerPatient);
    await expect(other.readResource('Observation', mine[0]?.id ?? '')).rejects.toThrow('Not found');
    expect(await other.searchResources('Observation', { _profile: INTRADAY_PROFILE })).toHaveLength(0);
    expect(await other.searchResources('Device', {})).toHaveLength(0);
    const basic = await withingsConnection(env, ownerPatient);
    expect(basic.extension?.some((e) => e.url === CONNECTION_EXTENSION.tokens)).toBe(false);
  });
});
