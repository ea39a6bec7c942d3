/**
 * WHOOP end to end, over real HTTP: the local stack (Medplum stand-in) running the deployed bot bundles, and the
 * WHOOP sandbox serving WHOOP's OAuth, API and signed webhooks. One stack for the file; the tests run in order
 * (connect → backfill → webhooks → faults → security → disconnect), each checking its failure modes by their exact
 * message and then reading the data back.
 */
import { randomUUID } from 'node:crypto';
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Basic, Observation, Patient, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  BASIC_TYPE_SYSTEM,
  TASK_TYPE_SYSTEM,
  CONNECTION_CODE,
  CONNECTION_EXTENSION,
  TASK_IDENTIFIER_SYSTEM,
  TASK_OUTPUT_SYSTEM,
} from '../../bots/shared/extensions.ts';
import { buildStateRecord, hashState } from '../../bots/shared/oauth-state.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { buildTask } from '../../bots/shared/tasks.ts';
import { whoopSignature } from '../../bots/whoop/signature.ts';
import { mergeProjectSecrets } from '../../scripts/sandboxes/project-secrets.ts';
import type { WhoopRecord } from '../../scripts/sandboxes/whoop/data.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import {
  allObservations,
  bot,
  connections,
  expectedIdentifiers,
  finishConnect,
  settle,
  startConnect,
  waitForBackfill,
} from './helpers.ts';
import { backfillRange, expectedFromSandbox } from './expected.ts';

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let ownerPatient: WithId<Patient>;
let webhookUrl: string;
let clientSecret: string;
let connectedAt: Date;

beforeAll(async () => {
  // 45 days of WHOOP history keep the file fast; the year-long backfill is measured by `npm run bench:whoop`.
  env = await startTestStack({
    whoop: {
      days: 45,
      webhookRetryDelaysMs: [50, 100, 200, 400, 800],
      // This file runs a year's backfill twice plus every webhook and fault case within a minute or two; WHOOP's
      // 100 calls/min would make its later cases depend on how many 30-day windows today's date yields. The
      // rate-limit behaviour itself is tested with injected 429s below and in the sandbox's contract test.
      rateLimit: { perMinute: 1000, perDay: 10_000 },
    },
  });
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  webhookUrl = env.deployReport.bots.find((b) => b.name === 'whoop-webhook')?.webhookUrl ?? '';
  clientSecret = env.whoop?.clientSecret ?? '';
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

/** Sleeps, workouts and cycles carry `id`; a recovery is keyed by its sleep. */
function rid(record: WhoopRecord | undefined): string {
  if (!record) {
    throw new Error('no such sandbox record');
  }
  return 'id' in record ? String(record.id) : record.sleep_id;
}

function sandbox(): NonNullable<TestStack['whoop']>['sandbox'] {
  if (!env.whoop) {
    throw new Error('no sandbox');
  }
  return env.whoop.sandbox;
}

async function ownerConnection(): Promise<WithId<Basic>> {
  const found = await env.adminClient.searchOne('Basic', {
    subject: getReferenceString(ownerPatient),
    code: `${BASIC_TYPE_SYSTEM}|${CONNECTION_CODE}`,
  });
  if (!found) {
    throw new Error('owner has no connection');
  }
  return found;
}

async function tasksFor(query: Record<string, string>): Promise<WithId<Task>[]> {
  return env.adminClient.searchResources('Task', { ...query, _count: '500' });
}

function output(task: Task, code: string): number | undefined {
  return task.output?.find((o) => o.type.coding?.some((c) => c.system === TASK_OUTPUT_SYSTEM && c.code === code))
    ?.valueInteger;
}

/** What the sync bot wrote: the analytics bot's derived Observations in the same record are not WHOOP's. */
async function ownerObservations(): Promise<Observation[]> {
  return allObservations(env.adminClient, { subject: getReferenceString(ownerPatient), _profile: WEARABLE_PROFILE });
}

async function postWebhook(body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  const res = await fetch(webhookUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, text: await res.text() };
}

function signed(body: string, secret = clientSecret, ts = String(Date.now())): Record<string, string> {
  return { 'X-WHOOP-Signature': whoopSignature(secret, ts, body), 'X-WHOOP-Signature-Timestamp': ts };
}

async function waitForTask(dedupeKey: string, statuses: string[], timeoutMs = 30_000): Promise<WithId<Task>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await settle(env);
    const [task] = await tasksFor({ identifier: `${TASK_IDENTIFIER_SYSTEM}|${dedupeKey}` });
    if (task && statuses.includes(task.status)) {
      return task;
    }
    if (Date.now() > deadline) {
      throw new Error(`Task ${dedupeKey} is ${task?.status ?? 'missing'}, expected ${statuses.join('|')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('connect: the OAuth state is single-use, bound to the patient, and expires', () => {
  let pending: { code: string; state: string };

  test('an unknown state is refused', async () => {
    await expect(finishConnect(owner, { code: 'whatever', state: 'not-a-state-of-ours-123' })).rejects.toThrow(
      'Unknown state'
    );
  });

  test("another patient's state is refused, and connects nobody", async () => {
    pending = await startConnect(owner);
    await expect(finishConnect(other, pending)).rejects.toThrow('State belongs to another patient');
    expect(await connections(other)).toEqual([]);
  });

  test('an expired state is refused', async () => {
    const state = 'expired-state-' + randomUUID();
    await env.adminClient.createResource(
      buildStateRecord({
        hash: hashState(state),
        patient: { reference: getReferenceString(ownerPatient) },
        provider: 'whoop',
        now: new Date(Date.now() - 11 * 60_000),
      })
    );
    await expect(finishConnect(owner, { code: 'whatever', state })).rejects.toThrow('Expired state');
  });

  test('the owner connects; tokens are stored encrypted; a Device and the backfill windows exist', async () => {
    connectedAt = new Date();
    const result = await finishConnect(owner, pending);
    expect(result.connection.status).toBe('active');
    expect(result.queuedWindows).toBe(windowsCovering(connectedAt));
    const basic = await ownerConnection();
    // The tokens live in the token store, not on the connection (tokens-at-rest.test.ts covers where and how).
    expect(basic.extension?.some((e) => e.url === CONNECTION_EXTENSION.tokens)).toBe(false);
    const issued = sandbox().control.tokensFor(sandbox().userId);
    for (const t of issued) {
      expect(JSON.stringify(basic)).not.toContain(t.accessToken);
    }
    const device = await env.adminClient.readResource('Device', result.connection.deviceId ?? '');
    expect(device.patient?.reference).toBe(getReferenceString(ownerPatient));
  });

  test('the same state cannot be used twice', async () => {
    await expect(finishConnect(owner, pending)).rejects.toThrow('State already used');
  });
});

/** Backfill windows are 30 days aligned to the epoch, so a year spans 13 or 14 of them depending on the date. */
function windowsCovering(now: Date, days = 365): number {
  const step = 30 * 86_400_000;
  return Math.ceil(now.getTime() / step) - Math.floor((now.getTime() - days * 86_400_000) / step);
}

describe('backfill', () => {
  test('completes with exactly the Observations WHOOP has, no duplicates, each coded and tied to the Device', async () => {
    const view = await waitForBackfill(owner);
    const windows = windowsCovering(connectedAt);
    expect(view.backfill).toMatchObject({ total: windows, completed: windows, failed: 0, inProgress: 0 });
    await settle(env);
    const observations = await ownerObservations();
    const ids = observations.map((o) => `${o.identifier?.[0]?.system}|${o.identifier?.[0]?.value}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(await expectedIdentifiers(env, connectedAt, ownerPatient.id, view.deviceId ?? ''));
    // The count, independently of the mappers: the sandbox's own records by the documented rule, plus height and
    // weight (written once by value).
    const tasks = await env.adminClient.searchResources('Task', {
      code: `${TASK_TYPE_SYSTEM}|backfill`,
      _count: '100',
    });
    expect(observations).toHaveLength(expectedFromSandbox(sandbox(), backfillRange(tasks)).observations + 2);
    // Ground truth: every scored record in the sandbox maps to at least one Observation.
    const scoredSleeps = sandbox()
      .control.records('sleep')
      .filter((s) => s.score_state === 'SCORED' && !(s as { nap?: boolean }).nap);
    for (const sleep of scoredSleeps) {
      expect(ids.some((id) => id.includes(`:${rid(sleep)}:`))).toBe(true);
    }
    const unscored = sandbox()
      .control.records('sleep')
      .filter((s) => s.score_state !== 'SCORED');
    for (const sleep of unscored) {
      expect(ids.some((id) => id.includes(`:${rid(sleep)}:`))).toBe(false);
    }
    expect(observations.every((o) => o.device?.reference === `Device/${view.deviceId}`)).toBe(true);
    expect(observations.every((o) => o.meta?.profile?.length === 1)).toBe(true);
  }, 180_000);

  test('re-running the whole backfill writes nothing new and changes nothing', async () => {
    const before = await ownerObservations();
    const versions = new Map(before.map((o) => [o.id, o.meta?.versionId]));
    const basic = await ownerConnection();
    const key = `whoop:rerun:${randomUUID()}`;
    await env.adminClient.createResource(
      buildTask({
        kind: 'sync',
        patient: { reference: getReferenceString(ownerPatient) },
        connection: { reference: `Basic/${basic.id}` },
        provider: 'whoop',
        dedupeKey: key,
        window: { start: new Date(Date.now() - 400 * 86_400_000).toISOString(), end: new Date().toISOString() },
      })
    );
    const task = await waitForTask(key, ['completed', 'failed'], 110_000);
    expect(task.businessStatus?.text ?? '').toBe('');
    expect(task.status).toBe('completed');
    expect(output(task, 'created')).toBe(0);
    expect(output(task, 'updated')).toBe(0);
    expect(output(task, 'unchanged')).toBe(before.length);
    const after = await ownerObservations();
    expect(after).toHaveLength(before.length);
    expect(after.every((o) => versions.get(o.id) === o.meta?.versionId)).toBe(true);
  }, 120_000);
});

describe('webhooks', () => {
  const body = (): string =>
    JSON.stringify({ user_id: sandbox().userId, id: randomUUID(), type: 'workout.updated', trace_id: randomUUID() });

  test.each([
    ['missing headers', {}, 'Missing X-WHOOP-Signature header'],
    [
      'a bad signature',
      { 'X-WHOOP-Signature': 'AAAA', 'X-WHOOP-Signature-Timestamp': String(Date.now()) },
      'Invalid signature',
    ],
  ])('%s: refused with "%s" and nothing queued', async (_name, headers, message) => {
    const before = (await tasksFor({})).length;
    const res = await postWebhook(body(), headers as Record<string, string>);
    expect(res.status).toBe(400);
    expect(res.text).toContain(message as string);
    expect((await tasksFor({})).length).toBe(before);
  });

  test('a stale, a future and a wrongly keyed signature are refused', async () => {
    const b = body();
    const stale = await postWebhook(b, signed(b, clientSecret, String(Date.now() - 10 * 60_000)));
    expect(stale.text).toContain('Signature timestamp outside the allowed window');
    const future = await postWebhook(b, signed(b, clientSecret, String(Date.now() + 10 * 60_000)));
    expect(future.text).toContain('Signature timestamp outside the allowed window');
    const wrong = await postWebhook(b, signed(b, 'not-the-client-secret'));
    expect(wrong.text).toContain('Invalid signature');
    const garbled = await postWebhook(b, signed(b, clientSecret, 'yesterday'));
    expect(garbled.text).toContain('Invalid signature timestamp');
  });

  test('the same trace id delivered five times queues exactly one Task and one set of Observations', async () => {
    const workout = sandbox()
      .control.records('workout')
      .find((w) => w.score_state === 'SCORED');
    const traceId = randomUUID();
    await sandbox().control.sendWebhook({ type: 'workout.updated', id: rid(workout) }, { duplicates: 5, traceId });
    const task = await waitForTask(`whoop:trace:${traceId}`, ['completed']);
    expect(await tasksFor({ identifier: `${TASK_IDENTIFIER_SYSTEM}|whoop:trace:${traceId}` })).toHaveLength(1);
    expect(output(task, 'created')).toBe(0);
    const forWorkout = (await ownerObservations()).filter((o) =>
      o.identifier?.some((i) => i.value === `workout:${ownerPatient.id}:${sandbox().userId}:${rid(workout)}`)
    );
    const keys = forWorkout.map((o) => o.identifier?.[0]?.value);
    expect(new Set(keys).size).toBe(keys.length);
    expect(forWorkout.length).toBeGreaterThan(0);
  });

  test('re-scoring (PENDING_SCORE → SCORED) arrives by webhook and adds the new Observations', async () => {
    const pending = sandbox()
      .control.records('sleep')
      .filter((s) => s.score_state === 'PENDING_SCORE');
    expect(pending.length).toBeGreaterThan(0);
    const before = (await ownerObservations()).length;
    await sandbox().control.scorePending();
    const deadline = Date.now() + 30_000;
    let ids: string[] = [];
    while (Date.now() < deadline) {
      await settle(env);
      ids = (await ownerObservations()).flatMap((o) => o.identifier?.map((i) => i.value ?? '') ?? []);
      if (pending.every((s) => ids.some((id) => id.includes(`:${rid(s)}:`)))) {
        break;
      }
    }
    expect(pending.every((s) => ids.some((id) => id.includes(`:${rid(s)}:`)))).toBe(true);
    expect((await ownerObservations()).length).toBeGreaterThan(before);
  });

  test('a deleted workout marks its Observations entered-in-error (kept for audit, hidden from analytics)', async () => {
    const workout = sandbox()
      .control.records('workout')
      .find((w) => w.score_state === 'SCORED');
    await sandbox().control.deleteRecord('workout', rid(workout));
    const record = `workout:${ownerPatient.id}:${sandbox().userId}:${rid(workout)}`;
    const deadline = Date.now() + 30_000;
    let mine: Observation[] = [];
    while (Date.now() < deadline) {
      await settle(env);
      mine = (await ownerObservations()).filter((o) => o.identifier?.some((i) => i.value === record));
      if (mine.length > 0 && mine.every((o) => o.status === 'entered-in-error')) {
        break;
      }
    }
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((o) => o.status === 'entered-in-error')).toBe(true);
  });
});

describe('token rotation', () => {
  test('two syncs racing on an expiring token: both succeed, one refresh, no invalid_grant', async () => {
    const basic = await ownerConnection();
    await env.adminClient.updateResource({
      ...basic,
      extension: basic.extension?.map((e) =>
        e.url === CONNECTION_EXTENSION.tokenExpiresAt
          ? { ...e, valueDateTime: new Date(Date.now() - 1000).toISOString() }
          : e
      ),
    });
    const refreshesBefore = sandbox().control.stats().tokenRefreshes;
    const failedBefore = sandbox().control.stats().tokenRequests.failed;
    const workouts = sandbox()
      .control.records('workout')
      .filter((w) => w.score_state === 'SCORED')
      .slice(1, 3);
    const traces = workouts.map(() => randomUUID());
    await Promise.all(
      workouts.map((w, i) =>
        sandbox().control.sendWebhook({ type: 'workout.updated', id: rid(w) }, { traceId: traces[i] })
      )
    );
    for (const trace of traces) {
      expect((await waitForTask(`whoop:trace:${trace}`, ['completed', 'failed'])).status).toBe('completed');
    }
    expect(sandbox().control.stats().tokenRefreshes - refreshesBefore).toBe(1);
    expect(sandbox().control.stats().tokenRequests.failed).toBe(failedBefore);
  });
});

describe('faults: the Task fails with a reason, the sweeper retries, nothing is lost or duplicated', () => {
  async function sweep(): Promise<void> {
    await env.adminClient.executeBot(bot('sweeper'), { asOf: new Date(Date.now() + 7 * 3600_000).toISOString() });
  }

  async function faultRun(inject: () => void, reason: string): Promise<void> {
    const workout = sandbox()
      .control.records('workout')
      .filter((w) => w.score_state === 'SCORED')[4];
    const before = (await ownerObservations()).length;
    inject();
    const trace = randomUUID();
    await sandbox().control.sendWebhook({ type: 'workout.updated', id: rid(workout) }, { traceId: trace });
    const failed = await waitForTask(`whoop:trace:${trace}`, ['failed']);
    expect(failed.businessStatus?.text).toContain(reason);
    expect(failed.extension?.some((e) => e.url.endsWith('/task-next-attempt'))).toBe(true);
    await sweep();
    const done = await waitForTask(`whoop:trace:${trace}`, ['completed']);
    expect(output(done, 'created')).toBe(0);
    expect((await ownerObservations()).length).toBe(before);
  }

  test('WHOOP 500', async () => {
    await faultRun(
      () => sandbox().control.injectFaults({ status: 500, count: 1, pathPrefix: '/v2/activity/workout' }),
      'HTTP 500'
    );
  });

  test('WHOOP 429', async () => {
    await faultRun(
      () => sandbox().control.injectFaults({ status: 429, count: 1, pathPrefix: '/v2/activity/workout' }),
      'HTTP 429'
    );
  });

  test('WHOOP timeout', async () => {
    await mergeProjectSecrets(env.adminClient, env.projectId, { WHOOP_TIMEOUT_MS: '500' });
    try {
      await faultRun(
        () => sandbox().control.injectTimeout({ count: 1, delayMs: 2000, pathPrefix: '/v2/activity/workout' }),
        'timeout'
      );
    } finally {
      await mergeProjectSecrets(env.adminClient, env.projectId, { WHOOP_TIMEOUT_MS: '15000' });
    }
  });
});

describe('sweeper', () => {
  test('a connection with no webhook for a day gets one 48-hour reconcile sync, which completes', async () => {
    const basic = await ownerConnection();
    const quiet = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await env.adminClient.updateResource({
      ...basic,
      extension: [
        ...(basic.extension ?? []).filter((e) => e.url !== CONNECTION_EXTENSION.lastWebhook),
        { url: CONNECTION_EXTENSION.lastWebhook, valueDateTime: quiet },
      ],
    });
    const first = (await env.adminClient.executeBot(bot('sweeper'), {})) as { reconciled: number };
    const again = (await env.adminClient.executeBot(bot('sweeper'), {})) as { reconciled: number };
    expect(first.reconciled).toBe(1);
    expect(again.reconciled).toBe(0);
    const key = `whoop:reconcile:${basic.id}:${new Date().toISOString().slice(0, 10)}`;
    const task = await waitForTask(key, ['completed']);
    // WHOOP sends no webhooks for cycles: re-scored cycles (day strain, energy) arrive through reconcile only.
    expect(output(task, 'unchanged')).toBeGreaterThan(0);
    const ids = (await ownerObservations()).map((o) => `${o.identifier?.[0]?.system}|${o.identifier?.[0]?.value}`);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('security', () => {
  test("the other patient sees none of the owner's connection, Tasks, Device or Observations", async () => {
    expect(await connections(other)).toEqual([]);
    await expect(other.searchResources('Basic', {})).rejects.toThrow('Forbidden');
    expect(await other.searchResources('Task', { _count: '500' })).toHaveLength(0);
    const ownerObs = (await ownerObservations())[0];
    await expect(other.readResource('Observation', ownerObs?.id ?? '')).rejects.toThrow('Not found');
    expect(await other.searchResources('Device', {})).toHaveLength(0);
  });

  test('no owner or clinician can read tokens through any FHIR call', async () => {
    const basic = await ownerConnection();
    await expect(owner.readResource('Basic', basic.id)).rejects.toThrow();
    await expect(owner.searchResources('Basic', {})).rejects.toThrow('Forbidden');
    const viaInclude = await owner.search('Patient', { _revinclude: 'Basic:subject' }).catch(() => undefined);
    expect(JSON.stringify(viaInclude ?? {})).not.toContain('v1.');
    const clinician = await env.signIn('clinician');
    await expect(clinician.searchResources('Basic', {})).rejects.toThrow('Forbidden');
    const view = JSON.stringify(await connections(owner));
    expect(view).not.toContain('v1.');
    for (const t of sandbox().control.tokensFor(sandbox().userId)) {
      expect(view).not.toContain(t.accessToken);
    }
  });
});

describe('credentials and disconnect', () => {
  test('a refused refresh marks the connection credentials-expired; reconnecting restores it', async () => {
    const basic = await ownerConnection();
    // The owner revokes Baseline at WHOOP: every token dies, so the next refresh is refused.
    // (In WHOOP's app, so it cannot meet the API's rate limit, which the earlier tests may have used up.)
    expect(sandbox().control.tokensFor(sandbox().userId).length).toBeGreaterThan(0);
    sandbox().control.revokeUserAccess(sandbox().userId);
    expect(sandbox().control.tokensFor(sandbox().userId)).toEqual([]);
    await env.adminClient.updateResource({
      ...basic,
      extension: basic.extension?.map((e) =>
        e.url === CONNECTION_EXTENSION.tokenExpiresAt
          ? { ...e, valueDateTime: new Date(Date.now() - 1000).toISOString() }
          : e
      ),
    });
    await env.adminClient.executeBot(bot('sweeper'), {});
    const view = (await connections(owner))[0];
    expect(view?.status).toBe('credentials-expired');
    expect(view?.lastError).toBe('whoop refused the token refresh');
    await finishConnect(owner, await startConnect(owner));
    expect((await connections(owner))[0]?.status).toBe('active');
  });
});
