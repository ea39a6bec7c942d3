/**
 * The Withings connection lifecycle over real HTTP (local stack + Withings sandbox + webhook edge), issue 10 §4 and
 * §7: the redirect URI is pinned; a denied consent reaches the app as its human error and connects nothing; without
 * the edge (the callback pointed straight at Medplum's POST-only /webhook/:id) Withings refuses the subscriptions
 * and connect says so but still imports; through the edge each category is subscribed and disconnect revokes them;
 * disconnect keep / erase (erase deletes only that link's data, SampledData included) and reconnect imports again
 * exactly once. Ground truth comes from the sandbox's own records (expected.ts).
 */
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { describeProviderRedirectError } from '../../app/src/lib/human-errors.ts';
import { parseConnection } from '../../bots/shared/connection.ts';
import { SUBSCRIBED_APPLIS } from '../../bots/withings/schemas.ts';
import { approveConsent } from '../../scripts/sandboxes/withings/server.ts';
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
import { expectedRecordKeys, expectedSeries, recordKeyOf, taskRange } from './expected.ts';
import {
  disconnect,
  key,
  output,
  projectSecret,
  quiet,
  sandboxOf,
  setSecrets,
  startWithingsStack,
  sweep,
  tasksOf,
  tokenRecordOf,
  until,
  withingsCalls,
  withingsConnection,
  withingsObservations,
} from './helpers.ts';

const DAYS = 12;

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let ownerPatient: WithId<Patient>;
let edgeCallback: string;
let directCallback: string;
/** Live Observations (both profiles) the owner's first backfill wrote. */
let expectedCount = 0;

beforeAll(async () => {
  env = await startWithingsStack({ withings: { days: DAYS, people: 2, rateLimitPerMinute: 100_000 } });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '8', BASELINE_APP_URLS: 'http://127.0.0.1:3000' });
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  edgeCallback = (await projectSecret(env, 'WITHINGS_WEBHOOK_URL')) ?? '';
  directCallback = env.deployReport.bots.find((b) => b.name === 'withings-webhook')?.webhookUrl ?? '';
  expect(edgeCallback.startsWith(env.edge?.url ?? 'no edge')).toBe(true);
  expect(new URL(directCallback).pathname).toBe(new URL(edgeCallback).pathname);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

function sandbox(): ReturnType<typeof sandboxOf> {
  return sandboxOf(env);
}

async function live(patient: WithId<Patient>): Promise<Observation[]> {
  return (await withingsObservations(env, patient)).filter((o) => o.status !== 'entered-in-error');
}

/**
 * The patient's live Withings Observations are exactly what the sandbox's records call for over the current link's
 * backfill range — every record, and one series per device × UTC day with minutes — each once.
 * @returns how many live Observations the patient has
 */
async function expectExactlyTheSandboxRecords(patient: WithId<Patient>, userId = sandbox().userId): Promise<number> {
  const basic = await withingsConnection(env, patient);
  const linkId = parseConnection(basic).linkId ?? '';
  const linkTasks = (await tasksOf(env, basic.id, 'backfill')).filter((t) =>
    t.identifier?.some((i) => i.value?.includes(linkId))
  );
  expect(linkTasks.length).toBeGreaterThan(0);
  expect(linkTasks.every((t) => t.status === 'completed')).toBe(true);
  const range = taskRange(linkTasks);
  const all = await live(patient);
  const ids = all.map(key);
  expect(new Set(ids).size).toBe(ids.length);
  const series = all.filter((o) => o.valueSampledData);
  const single = all.filter((o) => !o.valueSampledData);
  const records = expectedRecordKeys(sandbox(), range, userId);
  expect(records.size).toBeGreaterThan(0);
  expect(new Set(single.map(recordKeyOf))).toEqual(records);
  expect(series.length).toBe(expectedSeries(sandbox(), range, userId, DAYS).size);
  expect(all.every((o) => o.subject?.reference === getReferenceString(patient))).toBe(true);
  return all.length;
}

/** Waits until the connection's erase chain has finished; returns what it deleted in total. */
async function erased(connectionId: string): Promise<number> {
  return until(
    env,
    'the erase to finish',
    async () => {
      const tasks = await tasksOf(env, connectionId, 'erase');
      if (tasks.length === 0 || tasks.some((t) => t.status !== 'completed')) {
        return undefined;
      }
      return tasks.reduce((sum, t) => sum + output(t, 'deleted'), 0);
    },
    150_000
  );
}

describe('the redirect URI is pinned server-side; a denied consent connects nothing', () => {
  test('connect-start refuses a redirect URI outside BASELINE_APP_URLS', async () => {
    await expect(
      owner.executeBot(bot('connect-start'), {
        provider: 'withings',
        redirectUri: 'https://attacker.example/connect/withings/callback',
      })
    ).rejects.toThrow('Redirect URI is not allowed');
  });

  test('connect-callback refuses it too, before touching the state', async () => {
    const pending = await startConnect(owner, 'withings');
    await expect(
      owner.executeBot(bot('connect-callback'), {
        provider: 'withings',
        redirectUri: 'http://127.0.0.1:3000/elsewhere',
        ...pending,
      })
    ).rejects.toThrow('Redirect URI is not allowed');
    // The state was not burnt, but the code lives only 30 s at Withings: exchange it now, then disconnect.
    const result = await finishConnect(owner, 'withings', pending);
    expect(result.connection.status).toBe('active');
    expect(redirectUri('withings')).toBe('http://127.0.0.1:3000/connect/withings/callback');
    await waitForBackfill(owner, 'withings');
    await settle(env);
    await disconnect(owner, false);
  }, 120_000);

  test("consent denied at Withings: the redirect carries access_denied, the app's error says nothing was connected", async () => {
    const { authorizeUrl } = (await other.executeBot(bot('connect-start'), {
      provider: 'withings',
      redirectUri: redirectUri('withings'),
    })) as { authorizeUrl: string };
    const location = new URL(await approveConsent(authorizeUrl, { decision: 'deny' }));
    expect(`${location.origin}${location.pathname}`).toBe(redirectUri('withings'));
    expect(location.searchParams.get('error')).toBe('access_denied');
    expect(location.searchParams.get('code')).toBeNull();
    expect(location.searchParams.get('state')).toBe(new URL(authorizeUrl).searchParams.get('state'));
    const shown = describeProviderRedirectError('Withings', location.searchParams.get('error') ?? '');
    expect(shown.title).toBe('Withings was not connected');
    expect(shown.retry).toBe(true);
    expect(await connections(other)).toEqual([]);
  });
});

describe('notification subscriptions need the edge', () => {
  test('without the edge Withings refuses every subscription (Medplum answers HEAD with 404); connect warns and still imports', async () => {
    await setSecrets(env, { WITHINGS_WEBHOOK_URL: directCallback });
    try {
      const result = await finishConnect(owner, 'withings', await startConnect(owner, 'withings'));
      expect(result.connection.status).toBe('active');
      expect(result.notifications?.subscribed).toEqual([]);
      expect(result.notifications?.warning).toBe(
        `Withings refused notifications for ${SUBSCRIBED_APPLIS.map((a) => `appli ${a} (bad-request)`).join(', ')}: that data arrives by the periodic reconcile`
      );
      expect(sandbox().control.subscriptions(sandbox().userId)).toEqual([]);
      const heads = sandbox()
        .control.stats()
        .headChecks.filter((h) => h.url === directCallback);
      expect(heads.length).toBe(SUBSCRIBED_APPLIS.length);
      expect(heads.every((h) => h.status === 404 && !h.accepted)).toBe(true);
      // Medplum really routes only POST there.
      expect((await fetch(directCallback, { method: 'HEAD' })).status).toBe(404);
      await waitForBackfill(owner, 'withings');
      await settle(env);
      await expectExactlyTheSandboxRecords(ownerPatient);
    } finally {
      await setSecrets(env, { WITHINGS_WEBHOOK_URL: edgeCallback });
    }
  }, 120_000);

  test('through the edge: reconnect subscribes each category; disconnect revokes them and the grant', async () => {
    await disconnect(owner, false);
    const result = await finishConnect(owner, 'withings', await startConnect(owner, 'withings'));
    expect(result.notifications).toEqual({ subscribed: SUBSCRIBED_APPLIS.map((a) => `appli-${a}`) });
    const subs = sandbox().control.subscriptions(sandbox().userId);
    expect(subs.map((s) => s.appli).sort((a, b) => a - b)).toEqual([...SUBSCRIBED_APPLIS].sort((a, b) => a - b));
    expect(subs.every((s) => s.callbackurl === edgeCallback)).toBe(true);
    // The edge answers Withings' HEAD check itself.
    expect((await fetch(edgeCallback, { method: 'HEAD' })).status).toBe(200);
    await waitForBackfill(owner, 'withings');
    await settle(env);
    expectedCount = await expectExactlyTheSandboxRecords(ownerPatient);
    const basic = await withingsConnection(env, ownerPatient);
    const out = await disconnect(owner, false);
    expect(out).toMatchObject({
      revoked: true,
      revocation: 'revoked',
      tokens: 'deleted',
      erased: 0,
      notifications: { unsubscribed: SUBSCRIBED_APPLIS.map((a) => `appli-${a}`) },
    });
    expect(sandbox().control.subscriptions(sandbox().userId)).toEqual([]);
    expect(sandbox().control.tokensFor(sandbox().userId)).toEqual([]);
    expect(await tokenRecordOf(env, basic.id)).toBeUndefined();
    // A notification now reaches nobody: the sandbox has nowhere to send it.
    const now = Math.floor(Date.now() / 1000);
    const sent = await sandbox().control.sendNotification(sandbox().userId, 44, {
      startdate: now - 3600,
      enddate: now,
    });
    expect(sent.outcomes).toEqual([]);
    const again = await disconnect(owner, false);
    expect(again).toMatchObject({ revoked: true, revocation: 'already', tokens: 'already', erased: 0 });
    expect((await live(ownerPatient)).length).toBe(expectedCount);
  }, 150_000);
});

describe('disconnect keep / erase, reconnect exactly once', () => {
  test('reconnect after keep re-imports without duplicates', async () => {
    const result = await finishConnect(owner, 'withings', await startConnect(owner, 'withings'));
    expect(result.queuedWindows).toBeGreaterThan(0);
    await waitForBackfill(owner, 'withings');
    await settle(env);
    expect(await expectExactlyTheSandboxRecords(ownerPatient)).toBe(expectedCount);
  }, 120_000);

  test('categories Withings dropped silently come back with the next daily reconcile, and only those', async () => {
    const userId = sandbox().userId;
    expect(sandbox().control.subscriptions(userId)).toHaveLength(SUBSCRIBED_APPLIS.length);
    expect(sandbox().control.dropSubscriptions(userId, [1, 44])).toBe(2);
    const subscribes = withingsCalls(sandbox(), 'notify subscribe');
    const lists = withingsCalls(sandbox(), 'notify list');
    const basic = await withingsConnection(env, ownerPatient);
    // A day on, the connection counts as quiet (a Withings notification is a hint, never "heard"): the sweeper
    // queues its reconcile sync, which re-reads the data and then checks the subscriptions.
    await sweep(env, { asOf: new Date(Date.now() + 2 * 86_400_000).toISOString() });
    const tasks = await quiet(env, basic.id);
    expect(tasks.filter((t) => t.identifier?.some((i) => i.value?.startsWith('withings:reconcile:')))).toHaveLength(1);
    const subs = sandbox().control.subscriptions(userId);
    expect(subs.map((s) => s.appli).sort((a, b) => a - b)).toEqual([...SUBSCRIBED_APPLIS].sort((a, b) => a - b));
    expect(subs.every((s) => s.callbackurl === edgeCallback)).toBe(true);
    expect(withingsCalls(sandbox(), 'notify list') - lists).toBe(1);
    expect(withingsCalls(sandbox(), 'notify subscribe') - subscribes).toBe(2);
    expect(await expectExactlyTheSandboxRecords(ownerPatient)).toBe(expectedCount);
  }, 120_000);

  test("the other owner's connection and data are theirs alone", async () => {
    // Another Withings account for the other patient.
    const second = sandbox().users[1]?.userId;
    if (second === undefined) {
      throw new Error('the sandbox has one person only');
    }
    await finishConnect(other, 'withings', await startConnect(other, 'withings', second));
    await waitForBackfill(other, 'withings');
    await settle(env);
    await expectExactlyTheSandboxRecords(await other.getProfileAsync().then((p) => p as WithId<Patient>), second);
  }, 120_000);

  test('disconnect erasing deletes every Observation of that link, SampledData included, and its Device — nothing else', async () => {
    const otherPatient = (await other.getProfileAsync()) as WithId<Patient>;
    const otherBefore = (await live(otherPatient)).map(key).sort();
    expect(otherBefore.length).toBeGreaterThan(0);
    const basic = await withingsConnection(env, ownerPatient);
    const device = parseConnection(basic).device?.reference ?? '';
    const series = (await live(ownerPatient)).filter((o) => o.valueSampledData);
    expect(series.length).toBeGreaterThan(0);
    const first = await disconnect(owner, true);
    expect(first).toMatchObject({ revocation: 'revoked', tokens: 'deleted', erase: { deleted: 0 } });
    const total = await erased(basic.id);
    expect(total).toBe(expectedCount + 1);
    expect(await withingsObservations(env, ownerPatient)).toHaveLength(0);
    for (const o of series) {
      await expect(env.adminClient.readResource('Observation', o.id ?? '')).rejects.toThrow();
    }
    await expect(env.adminClient.readResource('Device', device.split('/')[1] ?? '')).rejects.toThrow();
    expect((await connections(owner)).find((c) => c.provider === 'withings')?.erase).toEqual({
      status: 'completed',
      deleted: expectedCount + 1,
    });
    expect((await live(otherPatient)).map(key).sort()).toEqual(otherBefore);
  }, 180_000);

  test('reconnect after erase imports the history again, exactly once', async () => {
    const result = await finishConnect(owner, 'withings', await startConnect(owner, 'withings'));
    expect(result.queuedWindows).toBeGreaterThan(0);
    await waitForBackfill(owner, 'withings');
    await settle(env);
    expect(await expectExactlyTheSandboxRecords(ownerPatient)).toBe(expectedCount);
  }, 120_000);
});
