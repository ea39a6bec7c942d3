import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { approveConsent, startWhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';
import type { WhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';
import { METRICS } from '../shared/catalogue.ts';
import { IDENTIFIER_BASE } from '../shared/systems.ts';
import { buildTask, readTaskInput } from '../shared/tasks.ts';
import type { BuildTaskParams } from '../shared/tasks.ts';
import { validateWearableObservation } from '../shared/validate-observation.ts';
import { WhoopClient } from './client.ts';
import { fetchWhoopPlan, mapWhoopRecords, planWhoopSync } from './sync-plan.ts';

const now = new Date('2026-11-21T12:00:00.000Z');
const base = {
  patient: { reference: 'Patient/p1' as const },
  connection: { reference: 'Basic/c1' as const },
  provider: 'whoop',
};
const SLEEP_ID = '550e8400-e29b-41d4-a716-446655440000';

function input(params: Partial<BuildTaskParams>) {
  return readTaskInput(buildTask({ ...base, kind: 'sync', dedupeKey: 'k', ...params }));
}

describe('planWhoopSync (pure)', () => {
  test('a window is widened by 24 hours at the start; body only when it reaches the present', () => {
    const recent = input({
      kind: 'backfill',
      window: { start: '2026-10-22T12:00:00.000Z', end: '2026-11-21T12:00:00.000Z' },
    });
    expect(planWhoopSync(recent, { whoopUserId: '1', now })).toEqual({
      kind: 'window',
      range: { start: '2026-10-21T12:00:00.000Z', end: '2026-11-21T12:00:00.000Z' },
      collections: ['cycles', 'sleeps', 'recoveries', 'workouts'],
      bodyOn: '2026-11-21',
    });
    const old = input({
      kind: 'backfill',
      window: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-31T00:00:00.000Z' },
    });
    expect(planWhoopSync(old, { whoopUserId: '1', now })).toMatchObject({
      range: { start: '2025-12-31T00:00:00.000Z', end: '2026-01-31T00:00:00.000Z' },
      bodyOn: undefined,
    });
  });

  test('updated events fetch the record (and a sleep’s or recovery’s cycle recovery)', () => {
    expect(planWhoopSync(input({ eventType: 'sleep.updated', recordId: SLEEP_ID }), { whoopUserId: '1', now })).toEqual(
      {
        kind: 'sleep',
        sleepId: SLEEP_ID,
      }
    );
    expect(
      planWhoopSync(input({ eventType: 'recovery.updated', recordId: SLEEP_ID }), { whoopUserId: '1', now })
    ).toEqual({
      kind: 'recovery',
      sleepId: SLEEP_ID,
    });
    expect(planWhoopSync(input({ eventType: 'workout.updated', recordId: 'w1' }), { whoopUserId: '1', now })).toEqual({
      kind: 'workout',
      workoutId: 'w1',
    });
  });

  test('deleted events retract by the per-record identifier; a deleted sleep takes its recovery along', () => {
    const record = `${IDENTIFIER_BASE}/whoop/record`;
    expect(
      planWhoopSync(input({ eventType: 'sleep.deleted', recordId: SLEEP_ID }), { whoopUserId: '456', now })
    ).toEqual({
      kind: 'retract',
      records: [
        { recordType: 'sleep', system: record, value: `sleep:456:${SLEEP_ID}` },
        { recordType: 'recovery', system: record, value: `recovery:456:${SLEEP_ID}` },
      ],
    });
    expect(
      planWhoopSync(input({ eventType: 'recovery.deleted', recordId: SLEEP_ID }), { whoopUserId: '456', now })
    ).toEqual({
      kind: 'retract',
      records: [{ recordType: 'recovery', system: record, value: `recovery:456:${SLEEP_ID}` }],
    });
    expect(planWhoopSync(input({ eventType: 'workout.deleted', recordId: 'w1' }), { whoopUserId: '456', now })).toEqual(
      {
        kind: 'retract',
        records: [{ recordType: 'workout', system: record, value: 'workout:456:w1' }],
      }
    );
  });

  test('malformed Tasks', () => {
    expect(() =>
      planWhoopSync(input({ eventType: 'cycle.updated', recordId: '1' }), { whoopUserId: '1', now })
    ).toThrow('Unknown WHOOP event type cycle.updated');
    expect(() => planWhoopSync(input({ eventType: 'sleep.updated' }), { whoopUserId: '1', now })).toThrow(
      'Task for sleep.updated has no record id'
    );
    expect(() => planWhoopSync(input({}), { whoopUserId: '1', now })).toThrow(
      'WHOOP sync Task has neither a window nor an event'
    );
  });
});

describe('fetchWhoopPlan + mapWhoopRecords against the WHOOP sandbox', () => {
  const CLIENT = {
    clientId: 'plan-test',
    clientSecret: 'plan-secret',
    redirectUris: ['http://127.0.0.1:3000/connect/whoop/callback'],
  };
  let sandbox: WhoopSandbox;
  let client: WhoopClient;
  let token: string;
  const ctx = () => ({
    patient: { reference: 'Patient/p1' as const },
    device: { reference: 'Device/d1' as const },
    whoopUserId: String(sandbox.userId),
  });

  beforeAll(async () => {
    sandbox = await startWhoopSandbox({ clients: [CLIENT], days: 60, seed: 11 });
    client = new WhoopClient({ ...CLIENT, apiBaseUrl: sandbox.apiBaseUrl, authBaseUrl: sandbox.authBaseUrl });
    const url = client.authorizeUrl({
      clientId: CLIENT.clientId,
      redirectUri: CLIENT.redirectUris[0] ?? '',
      state: 'x'.repeat(43),
    });
    const code = new URL(await approveConsent(url)).searchParams.get('code') ?? '';
    token = (await client.exchangeCode(code, CLIENT.redirectUris[0] ?? '')).accessToken;
  });

  afterAll(async () => {
    await sandbox?.close();
  });

  test('a 30-day window maps to valid Observations, each recovery dated by its sleep, with unique identifiers', async () => {
    const today = new Date(`${sandbox.control.currentDate()}T12:00:00.000Z`);
    const task = input({
      kind: 'backfill',
      window: { start: new Date(today.getTime() - 30 * 86_400_000).toISOString(), end: today.toISOString() },
    });
    const plan = planWhoopSync(task, { whoopUserId: String(sandbox.userId), now: today });
    if (plan.kind !== 'window') {
      throw new Error('expected a window plan');
    }
    const records = await fetchWhoopPlan(client, token, plan);
    expect(records.cycles.length).toBeGreaterThanOrEqual(30);
    expect(records.body?.observedOn).toBe(today.toISOString().slice(0, 10));
    const mapped = mapWhoopRecords(records, ctx());
    expect(mapped.observations.length).toBeGreaterThan(30 * 10);
    for (const o of mapped.observations) {
      const check = validateWearableObservation(o);
      expect(check.ok ? [] : check.errors).toEqual([]);
    }
    const keys = mapped.observations.map((o) => o.identifier?.[0]?.value);
    expect(new Set(keys).size).toBe(keys.length);
    // Every metric the catalogue says WHOOP supplies is produced, except the heart-rate series, which WHOOP only
    // offers through the beta sleep stream that the sync does not read.
    const produced = new Set(keys.map((k) => k?.slice(k.lastIndexOf(':') + 1)));
    const expected = METRICS.filter((m) => m.providers.includes('whoop') && m.key !== 'heart-rate').map((m) => m.key);
    expect(expected.filter((k) => !produced.has(k))).toEqual([]);
    for (const { recovery, sleep } of records.recoveries) {
      if (recovery.score_state === 'SCORED') {
        expect(sleep?.id).toBe(recovery.sleep_id);
      }
    }
    // Realistic data is never implausible: every skip is an unscored record, a nap or an open cycle.
    for (const { reason } of mapped.skipped) {
      expect(reason).toMatch(/is (PENDING_SCORE|UNSCORABLE), not SCORED$|is a nap$|is still in progress|calibrating$/);
    }
  });

  test('recovery.updated: sleep → cycle recovery; sleep.updated also maps the sleep', async () => {
    const sleeps = sandbox.control.records('sleep') as { id: string; nap: boolean; score_state: string }[];
    const main = sleeps.find((s) => !s.nap && s.score_state === 'SCORED');
    expect(main).toBeDefined();
    const byRecovery = await fetchWhoopPlan(client, token, { kind: 'recovery', sleepId: main?.id ?? '' });
    expect(byRecovery.sleeps).toEqual([]);
    expect(byRecovery.recoveries.map((r) => r.recovery.sleep_id)).toEqual([main?.id]);
    const bySleep = await fetchWhoopPlan(client, token, { kind: 'sleep', sleepId: main?.id ?? '' });
    expect(bySleep.sleeps.map((s) => s.id)).toEqual([main?.id]);
    const mapped = mapWhoopRecords(bySleep, ctx());
    expect(mapped.observations.some((o) => o.identifier?.[1]?.value === `recovery:${sandbox.userId}:${main?.id}`)).toBe(
      true
    );
  });
});
