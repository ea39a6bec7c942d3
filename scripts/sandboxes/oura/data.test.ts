import { describe, expect, test } from 'vitest';
import { createPerson, DAY_MS, dayNumberOf, episodesBetween, PersonGenerator } from '../whoop/data.ts';
import { createOuraPerson, localIso, OuraGenerator, ouraUserIdOf } from './data.ts';
import type { OuraDay, OuraSleep } from './data.ts';

const END = dayNumberOf('2026-10-31');
const generator = createOuraPerson(7);
const year: { oura: OuraDay; whoop: ReturnType<PersonGenerator['day']> }[] = [];
for (let day = END - 364; day <= END; day++) {
  year.push({ oura: generator.day(day), whoop: generator.whoop.day(day) });
}

function mainSleep(day: OuraDay): OuraSleep {
  const sleep = day.sleeps.find((candidate) => candidate.type === 'long_sleep');
  if (!sleep) {
    throw new Error(`no main sleep on ${day.date}`);
  }
  return sleep;
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function correlation(a: number[], b: number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let covariance = 0;
  let va = 0;
  let vb = 0;
  for (const [i, x] of a.entries()) {
    const y = b[i] ?? mb;
    covariance += (x - ma) * (y - mb);
    va += (x - ma) ** 2;
    vb += (y - mb) ** 2;
  }
  return covariance / Math.sqrt(va * vb);
}

/** Pairs of (Oura value, WHOOP value) over the year, on nights WHOOP scored. */
function paired(pick: (entry: (typeof year)[number]) => [number, number] | undefined): [number[], number[]] {
  const pairs = year.map(pick).filter((pair): pair is [number, number] => pair !== undefined);
  return [pairs.map((pair) => pair[0]), pairs.map((pair) => pair[1])];
}

describe('the same person as in the WHOOP sandbox', () => {
  test('same name, email and zone for the same seed and index; a stable UUID as Oura user id', () => {
    const whoopPerson = createPerson(7, 1);
    const ring = createOuraPerson(7, 1);
    expect(ring.person).toEqual(whoopPerson);
    expect(ring.personalInfo().email).toBe(whoopPerson.email);
    expect(ring.userId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ouraUserIdOf(whoopPerson)).toBe(ring.userId);
    expect(createOuraPerson(7, 0).userId).not.toBe(ring.userId);
  });

  test('generating the ring’s data leaves WHOOP’s untouched', () => {
    const day = END - 40;
    const untouched = new PersonGenerator(createPerson(7)).day(day);
    const ring = createOuraPerson(7);
    ring.day(day);
    ring.heartRateDay(day);
    expect(ring.whoop.day(day)).toEqual(untouched);
  });
});

describe('determinism', () => {
  test('a day depends only on (seed, person, date), not on what was generated before', () => {
    const fresh = createOuraPerson(7);
    expect(fresh.day(END - 100)).toEqual(year[264]?.oura);
    expect(fresh.heartRateDay(END - 100)).toEqual(generator.heartRateDay(END - 100));
  });

  test('other seeds and people differ', () => {
    expect(createOuraPerson(8).day(END - 10)).not.toEqual(year[354]?.oura);
    expect(createOuraPerson(7, 1).day(END - 10).sleeps[0]?.id).not.toBe(year[354]?.oura.sleeps[0]?.id);
  });
});

describe('ranges', () => {
  test('sleep periods: plausible durations, stages that add up, scores 1–100, localized timestamps', () => {
    for (const { oura } of year) {
      for (const sleep of oura.sleeps) {
        expect(sleep.time_in_bed).toBe((sleep.total_sleep_duration ?? 0) + (sleep.awake_time ?? 0));
        expect(sleep.total_sleep_duration).toBe(
          (sleep.deep_sleep_duration ?? 0) + (sleep.light_sleep_duration ?? 0) + (sleep.rem_sleep_duration ?? 0)
        );
        expect(sleep.efficiency).toBeGreaterThanOrEqual(1);
        expect(sleep.efficiency).toBeLessThanOrEqual(100);
        expect(sleep.bedtime_start).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$/);
      }
      const main = mainSleep(oura);
      expect(main.time_in_bed).toBeGreaterThan(5 * 3600);
      expect(main.time_in_bed).toBeLessThan(11 * 3600);
      expect(main.lowest_heart_rate).toBeGreaterThanOrEqual(35);
      expect(main.lowest_heart_rate).toBeLessThanOrEqual(95);
      expect(main.average_hrv).toBeGreaterThan(5);
      expect(main.readiness?.score).toBeGreaterThanOrEqual(1);
      expect(oura.dailySleep.score).toBeLessThanOrEqual(100);
      expect(oura.dailySpo2.spo2_percentage?.average).toBeGreaterThanOrEqual(90);
      expect(oura.dailySpo2.spo2_percentage?.average).toBeLessThanOrEqual(100);
      expect(oura.dailyActivity.met.items).toHaveLength(1440);
      expect(oura.dailyActivity.class_5_min).toHaveLength(288);
      expect(
        oura.dailyActivity.high_activity_time +
          oura.dailyActivity.medium_activity_time +
          oura.dailyActivity.low_activity_time +
          oura.dailyActivity.sedentary_time +
          oura.dailyActivity.resting_time +
          oura.dailyActivity.non_wear_time
      ).toBe(86_400);
      expect(oura.dailyActivity.total_calories).toBeGreaterThan(oura.dailyActivity.active_calories);
    }
  });

  test('the night’s HR samples start the night, hold nulls, and their minimum is lowest_heart_rate', () => {
    const nights = year.map(({ oura }) => mainSleep(oura));
    for (const night of nights) {
      const items = night.heart_rate?.items ?? [];
      expect(night.heart_rate?.timestamp).toBe(
        localIso(Date.parse(night.bedtime_start), offsetOf(night.bedtime_start), true)
      );
      expect(items.length).toBe(Math.floor(night.time_in_bed / 300));
      expect(items[0]).toBeNull();
      expect(Math.min(...items.filter((value): value is number => value !== null))).toBe(night.lowest_heart_rate);
    }
  });

  test('steps follow workouts: days with a run have more steps than days without any workout', () => {
    const run = year.filter(({ whoop }) => whoop.workouts.some((workout) => workout.sport_name === 'running'));
    const rest = year.filter(
      ({ whoop, oura }) => whoop.workouts.length === 0 && oura.dailyReadiness.temperature_deviation < 0.2
    );
    expect(mean(run.map(({ oura }) => oura.dailyActivity.steps))).toBeGreaterThan(
      mean(rest.map(({ oura }) => oura.dailyActivity.steps)) + 3000
    );
  });
});

describe('correlated with WHOOP, with the ring’s biases', () => {
  test('lowest_heart_rate tracks WHOOP’s resting HR (r > 0.8) about 2.5 bpm below it', () => {
    const [ring, whoop] = paired(({ oura, whoop }) =>
      whoop.recovery.score
        ? [mainSleep(oura).lowest_heart_rate ?? 0, whoop.recovery.score.resting_heart_rate]
        : undefined
    );
    expect(ring.length).toBeGreaterThan(350);
    expect(correlation(ring, whoop)).toBeGreaterThan(0.8);
    expect(correlation(ring, whoop)).toBeLessThan(0.99);
    expect(mean(whoop) - mean(ring)).toBeGreaterThan(1.5);
    expect(mean(whoop) - mean(ring)).toBeLessThan(3.5);
  });

  test('average_hrv tracks WHOOP’s RMSSD (r > 0.7) about 12 % lower', () => {
    const [ring, whoop] = paired(({ oura, whoop }) =>
      whoop.recovery.score ? [mainSleep(oura).average_hrv ?? 0, whoop.recovery.score.hrv_rmssd_milli] : undefined
    );
    expect(correlation(ring, whoop)).toBeGreaterThan(0.7);
    expect(mean(ring) / mean(whoop)).toBeGreaterThan(0.8);
    expect(mean(ring) / mean(whoop)).toBeLessThan(0.95);
  });

  test('SpO2 reads a little higher than WHOOP’s; temperature deviation follows WHOOP’s skin temperature', () => {
    const [spo2, whoopSpo2] = paired(({ oura, whoop }) =>
      whoop.recovery.score
        ? [oura.dailySpo2.spo2_percentage?.average ?? 0, whoop.recovery.score.spo2_percentage]
        : undefined
    );
    expect(correlation(spo2, whoopSpo2)).toBeGreaterThan(0.7);
    expect(mean(spo2) - mean(whoopSpo2)).toBeGreaterThan(0.2);
    const [temperature, skin] = paired(({ oura, whoop }) =>
      whoop.recovery.score
        ? [oura.dailyReadiness.temperature_deviation, whoop.recovery.score.skin_temp_celsius]
        : undefined
    );
    expect(correlation(temperature, skin)).toBeGreaterThan(0.7);
  });

  test('illness: temperature deviation up, readiness and HRV down, on the WHOOP person’s illness days', () => {
    const { illnesses } = episodesBetween(generator.person, year[0]?.oura.date ?? '', year.at(-1)?.oura.date ?? '');
    expect(illnesses.length).toBeGreaterThanOrEqual(2);
    const sickDays = new Set<number>();
    for (const illness of illnesses) {
      for (let day = dayNumberOf(illness.start) + 1; day < dayNumberOf(illness.end) - 2; day++) {
        sickDays.add(day);
      }
    }
    const sick = year.filter(({ oura }) => sickDays.has(oura.day)).map(({ oura }) => oura);
    const well = year.filter(({ oura }) => !sickDays.has(oura.day)).map(({ oura }) => oura);
    const temperature = (days: OuraDay[]): number => mean(days.map((day) => day.dailyReadiness.temperature_deviation));
    const readiness = (days: OuraDay[]): number => mean(days.map((day) => day.dailyReadiness.score));
    expect(temperature(sick) - temperature(well)).toBeGreaterThan(0.35);
    expect(readiness(well) - readiness(sick)).toBeGreaterThan(15);
  });

  test('a demo recentEpisode shows on the ring too; days before it are untouched', () => {
    const person = { ...createPerson(7), recentEpisode: { startDay: END - 7 } };
    const ring = new OuraGenerator(person);
    const plain = createOuraPerson(7);
    const peak = ring.day(END - 3);
    expect(peak.dailyReadiness.temperature_deviation).toBeGreaterThan(0.6);
    expect(peak.dailyReadiness.temperature_deviation).toBeGreaterThan(
      plain.day(END - 3).dailyReadiness.temperature_deviation
    );
    expect(peak.dailyReadiness.score).toBeLessThan(plain.day(END - 3).dailyReadiness.score);
    expect(ring.day(END - 30)).toEqual(plain.day(END - 30));
  });
});

describe('the heart-rate series', () => {
  test('every 5 minutes while worn, one a minute in workouts, sleep rows equal the night’s samples, with gaps', () => {
    const workoutDay = year.find(({ whoop }) => whoop.workouts.length > 0);
    if (!workoutDay) {
      throw new Error('no workout in a year');
    }
    const rows = generator.heartRateDay(workoutDay.oura.day);
    const workoutRows = rows.filter((row) => row.source === 'workout');
    const minutes = workoutDay.whoop.workouts.reduce(
      (sum, workout) => sum + (Date.parse(workout.end) - Date.parse(workout.start)) / 60_000,
      0
    );
    expect(workoutRows.length).toBeGreaterThan(minutes - 3);
    const steps = rows.slice(1).map((row, index) => row.timestamp_unix - (rows[index]?.timestamp_unix ?? 0));
    expect(Math.max(...steps)).toBeGreaterThanOrEqual(30 * 60_000);
    expect(rows.length).toBeLessThan(288 + workoutRows.length);
    const night = mainSleep(workoutDay.oura);
    const start = Date.parse(night.bedtime_start);
    for (const row of rows.filter(
      (candidate) => candidate.source === 'sleep' && candidate.timestamp_unix < Date.parse(night.bedtime_end)
    )) {
      const slot = Math.floor((row.timestamp_unix - start) / 300_000);
      expect(row.bpm).toBe(night.heart_rate?.items[slot]);
    }
    for (const row of rows) {
      expect(row.timestamp_unix % 1000).toBe(0);
      expect(row.timestamp_unix).toBeGreaterThanOrEqual(workoutDay.oura.day * DAY_MS - 15 * 3_600_000);
    }
  });

  test('over a year every day has rows and at least one off-finger gap', () => {
    for (const { oura } of year.filter((_, index) => index % 30 === 0)) {
      const rows = generator.heartRateDay(oura.day);
      expect(rows.length).toBeGreaterThan(150);
      const steps = rows.slice(1).map((row, index) => row.timestamp_unix - (rows[index]?.timestamp_unix ?? 0));
      expect(Math.max(...steps)).toBeGreaterThanOrEqual(25 * 60_000);
    }
  });
});

function offsetOf(localized: string): number {
  const match = /([+-])(\d{2}):(\d{2})$/.exec(localized);
  const minutes = Number(match?.[2] ?? 0) * 60 + Number(match?.[3] ?? 0);
  return match?.[1] === '-' ? -minutes : minutes;
}
