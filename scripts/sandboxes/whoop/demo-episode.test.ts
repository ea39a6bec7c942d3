/**
 * The demo owner's recent episode (synthetic demo data, data.ts RecentEpisode): what `npm start` serves makes the
 * analytics bot's own code raise the default alerts on the newest day it can judge, whatever day the demo starts on;
 * the episode is fixed when the sandbox's history is first generated and survives restarts; and nobody without the
 * option gets different data.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Observation } from '@medplum/fhirtypes';
import { afterAll, describe, expect, test } from 'vitest';
import { planInsights } from '../../../bots/analytics/insights.ts';
import type { InsightsPlan } from '../../../bots/analytics/insights.ts';
import {
  convertWhoopBodyToFhir,
  convertWhoopCycleToFhir,
  convertWhoopRecoveryToFhir,
  convertWhoopSleepToFhir,
  convertWhoopWorkoutToFhir,
} from '../../../bots/whoop/mappers.ts';
import type { MapResult } from '../../../bots/whoop/mappers.ts';
import {
  CycleSchema,
  RecoverySchema,
  SleepSchema,
  UserBodyMeasurementSchema,
  WorkoutSchema,
} from '../../../bots/whoop/schemas.ts';
import {
  DEMO_LOGINS,
  DEMO_OWNER_EPISODE_START_DAYS_BEFORE_CURRENT,
  DEMO_START_WHOOP_PEOPLE,
  DEMO_WHOOP_PEOPLE,
} from '../../seed.ts';
import { bodyOf, createPerson, DAY_MS, dateOfDay, dayNumberOf } from './data.ts';
import type { WhoopRecord } from './data.ts';
import { stateFile } from './persist.ts';
import { DEFAULT_SEED, startWhoopSandbox } from './server.ts';
import type { SandboxClient, WhoopSandbox, WhoopSandboxOptions } from './server.ts';

const APP: SandboxClient = { clientId: 'app', clientSecret: 'app-secret', redirectUris: ['https://app.local/cb'] };
const running: WhoopSandbox[] = [];
const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(running.map((sandbox) => sandbox.close()));
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** As `npm start` runs it (scripts/sandboxes/wire.ts): history ending yesterday (UTC), the clock in today. */
async function start(currentDate: string, options: Partial<WhoopSandboxOptions> = {}): Promise<WhoopSandbox> {
  const sandbox = await startWhoopSandbox({
    endDate: currentDate,
    now: () => (dayNumberOf(currentDate) + 1) * DAY_MS + 9 * 3_600_000,
    clients: [APP],
    webhookRetryDelaysMs: [],
    people: DEMO_START_WHOOP_PEOPLE,
    ...options,
  });
  running.push(sandbox);
  return sandbox;
}

async function stop(sandbox: WhoopSandbox): Promise<void> {
  running.splice(running.indexOf(sandbox), 1);
  await sandbox.close();
}

function userIdOf(sandbox: WhoopSandbox, email: string): number {
  const user = sandbox.users.find((u) => u.email === email);
  if (!user) {
    throw new Error(`no sandbox user ${email}`);
  }
  return user.userId;
}

/**
 * Everything the API serves for the person, mapped by the sync bot's own schemas and mappers, with server ids; with
 * `readOn`, also the body measurement as the sync reads it on that day (it is dated by the day it was read).
 */
function observationsOf(sandbox: WhoopSandbox, userId: number, readOn?: string): Observation[] {
  const ctx = {
    patient: { reference: 'Patient/demo-owner' },
    device: { reference: 'Device/demo-whoop' },
    whoopUserId: String(userId),
  };
  const out: Observation[] = [];
  const add = (result: MapResult): void => {
    for (const o of [...result.observations, ...result.writeOnce]) {
      out.push({ ...o, id: `o-${out.length}`, meta: { ...o.meta, versionId: '1' } });
    }
  };
  const sleeps = new Map(
    sandbox.control.records('sleep', { userId }).map((r) => {
      const sleep = SleepSchema.parse(r);
      return [sleep.id, sleep] as const;
    })
  );
  for (const sleep of sleeps.values()) {
    add(convertWhoopSleepToFhir(sleep, ctx));
  }
  for (const r of sandbox.control.records('cycle', { userId })) {
    add(convertWhoopCycleToFhir(CycleSchema.parse(r), ctx));
  }
  for (const r of sandbox.control.records('recovery', { userId })) {
    const recovery = RecoverySchema.parse(r);
    const sleep = sleeps.get(recovery.sleep_id);
    add(convertWhoopRecoveryToFhir(recovery, sleep ? { ...ctx, sleep } : ctx));
  }
  for (const r of sandbox.control.records('workout', { userId })) {
    add(convertWhoopWorkoutToFhir(WorkoutSchema.parse(r), ctx));
  }
  const person = sandbox.users.find((u) => u.userId === userId);
  if (readOn !== undefined && person) {
    const body = UserBodyMeasurementSchema.parse(bodyOf(createPerson(DEFAULT_SEED, sandbox.users.indexOf(person))));
    add(convertWhoopBodyToFhir(body, { ...ctx, observedOn: readOn }));
  }
  return out;
}

function recoveries(sandbox: WhoopSandbox, userId: number): WhoopRecord[] {
  return sandbox.control.records('recovery', { userId });
}

interface OwnerPlans {
  /** From everything a connect imports (the body measurement, read today, included). */
  readonly imported: InsightsPlan;
  /** From the wearable days alone: judged on the newest of them. */
  readonly wearable: InsightsPlan;
  readonly episodeStart: string | undefined;
}

/** The owner's insights as the analytics bot plans them, the morning after the sandbox's current day. */
async function ownerPlans(currentDate: string): Promise<OwnerPlans> {
  const sandbox = await start(currentDate);
  const owner = sandbox.users.find((u) => u.email === DEMO_LOGINS.owner.email);
  const now = new Date((dayNumberOf(currentDate) + 1) * DAY_MS + 12 * 3_600_000);
  const plan = (observations: Observation[]): InsightsPlan =>
    planInsights({ patient: 'Patient/demo-owner', observations, settings: [], flags: [], now });
  const userId = owner?.userId ?? 0;
  const imported = plan(observationsOf(sandbox, userId, now.toISOString().slice(0, 10)));
  const wearable = plan(observationsOf(sandbox, userId));
  await stop(sandbox);
  return { imported, wearable, episodeStart: owner?.recentEpisodeStart };
}

// Spread over a year, so weekdays, DST switches, training blocks and the hashed episodes all fall differently; and
// the day this was written (npm start's current day is yesterday, UTC).
const CURRENT_DATES = [
  '2025-12-06',
  '2026-01-14',
  '2026-02-21',
  '2026-03-29',
  '2026-05-04',
  '2026-06-09',
  '2026-07-15',
  '2026-08-19',
  '2026-09-24',
  '2026-10-25',
  '2026-11-29',
  '2026-12-05',
  '2026-12-06',
];
const rhrFired = new Map<string, boolean>();

describe('the demo owner of npm start', () => {
  test.each(CURRENT_DATES)(
    'current day %s: the HRV rule fires on what a connect imports',
    async (currentDate) => {
      const { imported, wearable, episodeStart } = await ownerPlans(currentDate);
      const current = dayNumberOf(currentDate);
      expect(episodeStart).toBe(dateOfDay(current - DEMO_OWNER_EPISODE_START_DAYS_BEFORE_CURRENT));
      // The current day's sleep and recovery are still being scored: the day before is the newest wearable day, and
      // each rule is judged on its own metric's newest day, so the body measurement read today changes nothing.
      expect(wearable.alertDays['hrv-below-baseline']).toBe(dateOfDay(current - 1));
      expect(imported.alertDays).toEqual(wearable.alertDays);
      for (const plan of [imported, wearable]) {
        const hrv = plan.alerts.fire.find((f) => f.rule.id === 'hrv-below-baseline')?.evaluation;
        expect(hrv?.kind).toBe('ratio-to-baseline');
        // With a margin: a demo that fires only just would stop firing with the next small change to the data.
        expect(hrv?.kind === 'ratio-to-baseline' ? hrv.ratio : 1).toBeLessThan(0.75);
      }
      rhrFired.set(
        currentDate,
        imported.alerts.fire.some((f) => f.rule.id === 'resting-heart-rate-above-band')
      );
    },
    30_000
  );

  test('the resting heart rate rule fires too, on nearly every one of those days', () => {
    // Not on every day: where the personal band is gated (no band: the rule cannot judge) or has widened with the
    // first sick days inside its window, three days above it in a row may not all clear it.
    expect(rhrFired.size).toBe(CURRENT_DATES.length);
    const fired = [...rhrFired].filter(([, yes]) => yes).map(([date]) => date);
    expect(fired.length).toBeGreaterThanOrEqual(10);
    expect(fired).toContain('2026-12-05');
  });

  test('the 2nd patient and people without the option get exactly the seed’s data', async () => {
    const date = '2026-10-25';
    const demo = await start(date, { days: 60 });
    const plain = await start(date, { days: 60, people: DEMO_WHOOP_PEOPLE });
    const [ownerEmail, otherEmail] = DEMO_WHOOP_PEOPLE.map((p) => p.email);
    const other = userIdOf(demo, otherEmail ?? '');
    expect(demo.users.find((u) => u.userId === other)).not.toHaveProperty('recentEpisodeStart');
    expect(plain.users.every((u) => u.recentEpisodeStart === undefined)).toBe(true);
    for (const type of ['cycle', 'sleep', 'recovery', 'workout'] as const) {
      expect(demo.control.records(type, { userId: other })).toEqual(plain.control.records(type, { userId: other }));
    }
    // The owner's records differ only from the episode on: before it, the same as without the option.
    const owner = userIdOf(demo, ownerEmail ?? '');
    const episodeStart = demo.users.find((u) => u.userId === owner)?.recentEpisodeStart ?? '';
    const before = (records: WhoopRecord[]): WhoopRecord[] =>
      // Two days' margin: a cycle ends when the next night starts, and the episode's first night starts earlier.
      records.filter((r) => 'start' in r && r.start < `${dateOfDay(dayNumberOf(episodeStart) - 2)}T00:00:00Z`);
    for (const type of ['cycle', 'sleep', 'workout'] as const) {
      const withEpisode = before(demo.control.records(type, { userId: owner }));
      expect(withEpisode.length).toBeGreaterThan(type === 'workout' ? 15 : 40);
      expect(withEpisode).toEqual(before(plain.control.records(type, { userId: owner })));
    }
    // A recovery belongs to a cycle, whose id begins with its day number.
    const recoveriesBefore = (records: WhoopRecord[]): WhoopRecord[] =>
      records.filter((r) => 'cycle_id' in r && Math.floor(r.cycle_id / 1000) < dayNumberOf(episodeStart));
    expect(recoveriesBefore(recoveries(demo, owner)).length).toBeGreaterThan(40);
    expect(recoveriesBefore(recoveries(demo, owner))).toEqual(recoveriesBefore(recoveries(plain, owner)));
    expect(recoveries(demo, owner)).not.toEqual(recoveries(plain, owner));
    await stop(demo);
    await stop(plain);
  });
});

describe('fixed once, kept across restarts', () => {
  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'whoop-demo-episode-'));
    dirs.push(dir);
    return dir;
  }

  function savedEpisodes(dir: string): unknown {
    const state = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as { records: { episodes?: unknown } };
    return state.records.episodes;
  }

  test('placed when the history is first generated, saved, and not moved by later starts', async () => {
    const dir = tempDir();
    const first = await start('2026-10-25', { days: 30, dataDir: dir });
    const owner = first.userId;
    const placed = dateOfDay(dayNumberOf('2026-10-25') - DEMO_OWNER_EPISODE_START_DAYS_BEFORE_CURRENT);
    expect(first.users[0]?.recentEpisodeStart).toBe(placed);
    expect(savedEpisodes(dir)).toEqual([{ userId: owner, startDate: placed }]);
    const served = recoveries(first, owner);
    await stop(first);

    // Three days later: the days in between are added, the episode stays where it was.
    const later = await start('2026-10-28', { days: 30, dataDir: dir });
    expect(later.control.currentDate()).toBe('2026-10-28');
    expect(later.users[0]?.recentEpisodeStart).toBe(placed);
    expect(savedEpisodes(dir)).toEqual([{ userId: owner, startDate: placed }]);
    // What was scored then is served unchanged now, the episode's days among it.
    const now = new Map(recoveries(later, owner).map((r) => ['sleep_id' in r ? r.sleep_id : '', r]));
    const scored = served.filter((r) => r.score_state === 'SCORED');
    expect(scored.length).toBeGreaterThan(20);
    for (const r of scored) {
      expect(now.get('sleep_id' in r ? r.sleep_id : '')).toEqual(r);
    }
    await stop(later);
  });

  test('a history saved without an episode keeps having none; one without the option saves none', async () => {
    const dir = tempDir();
    const plain = await start('2026-10-25', { days: 20, dataDir: dir, people: DEMO_WHOOP_PEOPLE });
    expect(savedEpisodes(dir)).toBeUndefined();
    const served = recoveries(plain, plain.userId);
    await stop(plain);
    const demo = await start('2026-10-25', { days: 20, dataDir: dir });
    expect(demo.users.every((u) => u.recentEpisodeStart === undefined)).toBe(true);
    expect(recoveries(demo, demo.userId)).toEqual(served);
    expect(savedEpisodes(dir)).toBeUndefined();
    await stop(demo);
  });

  test('a start offset that is not a whole number of days is refused', async () => {
    const [owner] = DEMO_WHOOP_PEOPLE;
    if (!owner) {
      throw new Error('no demo owner');
    }
    await expect(
      startWhoopSandbox({
        clients: [APP],
        days: 5,
        people: [{ ...owner, recentEpisode: { startDaysBeforeCurrent: 1.5 } }],
      })
    ).rejects.toThrow('recentEpisode.startDaysBeforeCurrent must be an integer ≥ 0');
  });
});
