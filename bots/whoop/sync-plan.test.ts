import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { approveConsent, startWhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';
import type { WhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';
import { METRICS } from '../shared/catalogue.ts';
import { IDENTIFIER_BASE } from '../shared/systems.ts';
import { buildTask, readTaskInput } from '../shared/tasks.ts';
import { expectedFromSandbox } from '../../test/whoop/expected.ts';
import type { BuildTaskParams } from '../shared/tasks.ts';
import { validateWearableObservation } from '../shared/validate-observation.ts';
import { WhoopClient } from './client.ts';
import {
  confirmWhoopDeletion,
  fetchWhoopPlan,
  groupWhoopRecords,
  mapWhoopRecords,
  planWhoopSync,
} from './sync-plan.ts';

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
        { recordType: 'sleep', system: record, value: `sleep:p1:456:${SLEEP_ID}` },
        { recordType: 'recovery', system: record, value: `recovery:p1:456:${SLEEP_ID}` },
      ],
    });
    expect(
      planWhoopSync(input({ eventType: 'recovery.deleted', recordId: SLEEP_ID }), { whoopUserId: '456', now })
    ).toEqual({
      kind: 'retract',
      records: [{ recordType: 'recovery', system: record, value: `recovery:p1:456:${SLEEP_ID}` }],
    });
    expect(planWhoopSync(input({ eventType: 'workout.deleted', recordId: 'w1' }), { whoopUserId: '456', now })).toEqual(
      {
        kind: 'retract',
        records: [{ recordType: 'workout', system: record, value: 'workout:p1:456:w1' }],
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
    // The count comes from the sandbox's records by the documented rule, not from the mappers.
    expect(mapped.observations.length).toBe(expectedFromSandbox(sandbox, plan.range).observations);
    expect(mapped.writeOnce.map((o) => o.code?.text)).toEqual(['Height', 'Weight']);
    for (const o of [...mapped.observations, ...mapped.writeOnce]) {
      const check = validateWearableObservation(o);
      expect(check.ok ? [] : check.errors).toEqual([]);
    }
    const keys = mapped.observations.map((o) => o.identifier?.[0]?.value);
    expect(new Set(keys).size).toBe(keys.length);
    // Every metric the catalogue says WHOOP supplies is produced — as an Observation's code or as a component —
    // except the heart-rate series, which WHOOP only offers through the beta sleep stream that the sync does not read.
    const codes = new Set(
      [...mapped.observations, ...mapped.writeOnce]
        .flatMap((o) => [...(o.code?.coding ?? []), ...(o.component ?? []).flatMap((c) => c.code.coding ?? [])])
        .map((c) => `${c.system}|${c.code}`)
    );
    const missing = METRICS.filter((m) => m.providers.includes('whoop') && m.key !== 'heart-rate')
      .filter(
        (m) =>
          !codes.has(`${m.code.system}|${m.code.code}`) &&
          !(m.components ?? []).every((c) => codes.has(`${c.code.system}|${c.code.code}`))
      )
      .map((m) => m.key);
    expect(missing).toEqual([]);
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
    expect(
      mapped.observations.some((o) => o.identifier?.[1]?.value === `recovery:p1:${sandbox.userId}:${main?.id}`)
    ).toBe(true);
  });

  test('a record WHOOP does not know is reported missing, not thrown (nothing to retry)', async () => {
    const workout = await fetchWhoopPlan(client, token, {
      kind: 'workout',
      workoutId: '00000000-0000-4000-8000-000000000000',
    });
    expect(workout).toMatchObject({ missing: ['workout 00000000-0000-4000-8000-000000000000'], workouts: [] });
    const sleep = await fetchWhoopPlan(client, token, {
      kind: 'recovery',
      sleepId: '00000000-0000-4000-8000-000000000001',
    });
    expect(sleep).toMatchObject({ missing: ['sleep 00000000-0000-4000-8000-000000000001'], recoveries: [] });
  });

  test('a deletion is confirmed only when WHOOP no longer has the record', async () => {
    const sleeps = sandbox.control.records('sleep') as { id: string; nap: boolean; score_state: string }[];
    const workouts = sandbox.control.records('workout') as { id: string }[];
    const [main, other] = sleeps.filter((s) => !s.nap && s.score_state === 'SCORED');
    const workout = workouts[0];
    if (!main || !other || !workout) {
      throw new Error('the sandbox has no scored sleeps or workouts');
    }
    const user = String(sandbox.userId);
    const planFor = (eventType: string, id: string) => {
      const plan = planWhoopSync(input({ eventType, recordId: id }), { whoopUserId: user, now });
      if (plan.kind !== 'retract') {
        throw new Error('expected a retract plan');
      }
      return plan;
    };
    // Forged: the records exist, so nothing is confirmed.
    expect(await confirmWhoopDeletion(client, token, planFor('sleep.deleted', main.id), main.id)).toEqual([]);
    expect(await confirmWhoopDeletion(client, token, planFor('recovery.deleted', main.id), main.id)).toEqual([]);
    expect(await confirmWhoopDeletion(client, token, planFor('workout.deleted', workout.id), workout.id)).toEqual([]);
    // Genuine: deleted at WHOOP first.
    await sandbox.control.deleteRecord('sleep', main.id);
    await sandbox.control.deleteRecord('workout', workout.id);
    expect(
      (await confirmWhoopDeletion(client, token, planFor('sleep.deleted', main.id), main.id)).map((r) => r.recordType)
    ).toEqual(['sleep', 'recovery']);
    expect(
      (await confirmWhoopDeletion(client, token, planFor('workout.deleted', workout.id), workout.id)).map(
        (r) => r.recordType
      )
    ).toEqual(['workout']);
    expect(
      (await confirmWhoopDeletion(client, token, planFor('recovery.deleted', main.id), main.id)).map(
        (r) => r.recordType
      )
    ).toEqual(['recovery']);
  });

  test('records are grouped one per fetched record, so a record that maps to nothing still has a group', async () => {
    const today = new Date(`${sandbox.control.currentDate()}T12:00:00.000Z`);
    const plan = planWhoopSync(
      input({
        kind: 'backfill',
        window: { start: new Date(today.getTime() - 10 * 86_400_000).toISOString(), end: today.toISOString() },
      }),
      { whoopUserId: String(sandbox.userId), now: today }
    );
    if (plan.kind !== 'window') {
      throw new Error('expected a window plan');
    }
    const records = await fetchWhoopPlan(client, token, plan);
    const grouped = groupWhoopRecords(records, ctx());
    const fetched = records.cycles.length + records.sleeps.length + records.recoveries.length + records.workouts.length;
    expect(grouped.records).toHaveLength(fetched);
    const flat = mapWhoopRecords({ ...records, body: undefined }, ctx()).observations;
    expect(grouped.records.flatMap((g) => g.observations)).toEqual(flat);
    for (const group of grouped.records) {
      for (const o of group.observations) {
        expect(o.identifier?.some((i) => i.system === group.record.system && i.value === group.record.value)).toBe(
          true
        );
      }
    }
    // Naps and open cycles map to nothing but keep their group (their old Observations get retracted).
    expect(grouped.records.some((g) => g.observations.length === 0)).toBe(true);
  });
});
