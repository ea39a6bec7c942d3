import { describe, expect, test } from 'vitest';
import { createPerson, dayContext, dayNumberOf, episodesBetween, PersonGenerator } from '../whoop/data.ts';
import { decodeMeasure, encodeMeasure, localDayOf, localMidnightMs, MEASTYPE, WithingsGenerator } from './data.ts';

const END = dayNumberOf('2026-10-31');
const YEAR = Array.from({ length: 365 }, (_, i) => END - 364 + i);

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

function realValue(generator: WithingsGenerator, day: number, type: number): number | undefined {
  for (const { group } of generator.measureGroups(day)) {
    const measure = group.measures.find((candidate) => candidate.type === type);
    if (measure) {
      return decodeMeasure(measure);
    }
  }
  return undefined;
}

describe('value × 10^unit encoding', () => {
  test('encodes to an integer mantissa and decodes back exactly at the exponent’s precision', () => {
    expect(encodeMeasure(MEASTYPE.weight, 65.75, -3)).toMatchObject({ value: 65750, unit: -3, type: 1 });
    expect(decodeMeasure({ value: 65750, unit: -3 })).toBe(65.75);
    expect(decodeMeasure({ value: 2150, unit: -2 })).toBe(21.5);
    expect(decodeMeasure({ value: 118, unit: 0 })).toBe(118);
    expect(decodeMeasure({ value: 12, unit: 1 })).toBe(120);
  });
});

describe('determinism', () => {
  test('the same seed, index and day give identical data in fresh generators; another index differs', () => {
    const day = END - 40;
    const a = new WithingsGenerator(createPerson(3, 0));
    const b = new WithingsGenerator(createPerson(3, 0));
    const other = new WithingsGenerator(createPerson(3, 1));
    expect(b.measureGroups(day)).toEqual(a.measureGroups(day));
    expect(b.activity(day)).toEqual(a.activity(day));
    expect(b.sleepSummary(day)).toEqual(a.sleepSummary(day));
    expect(b.workouts(day)).toEqual(a.workouts(day));
    expect([...b.intraday(day)]).toEqual([...a.intraday(day)]);
    expect(other.activity(day)).not.toEqual(a.activity(day));
    expect(other.traits.scale.deviceid).not.toBe(a.traits.scale.deviceid);
  });

  test('a day does not depend on which other days were generated first', () => {
    const a = new WithingsGenerator(createPerson(5, 0));
    const b = new WithingsGenerator(createPerson(5, 0));
    for (const day of YEAR.slice(0, 30)) {
      a.activity(day);
    }
    expect(b.activity(END)).toEqual(a.activity(END));
  });
});

describe('a year of one person (seed 1)', () => {
  const person = createPerson(1, 0);
  const generator = new WithingsGenerator(person);
  const whoop = new PersonGenerator(person);

  test('resting heart rate: the Sleep Analyzer’s minimum follows WHOOP’s resting HR (r > 0.6), but is not equal', () => {
    const whoopRhr: number[] = [];
    const withingsMin: number[] = [];
    for (const day of YEAR) {
      const rhr = whoop.day(day).recovery.score?.resting_heart_rate;
      if (rhr !== undefined) {
        whoopRhr.push(rhr);
        withingsMin.push(generator.sleepSummary(day).data.hr_min);
      }
    }
    expect(correlation(whoopRhr, withingsMin)).toBeGreaterThan(0.6);
    expect(withingsMin.filter((value, i) => value !== whoopRhr[i]).length).toBeGreaterThan(whoopRhr.length / 3);
  });

  test('the Sleep Analyzer’s average HR sits a few bpm above the resting HR; its timing is close to WHOOP’s sleep', () => {
    const gaps: number[] = [];
    for (const day of YEAR) {
      const summary = generator.sleepSummary(day);
      gaps.push(summary.data.hr_average - summary.data.hr_min);
      const sleep = whoop.day(day).sleep;
      expect(Math.abs(summary.startdate * 1000 - Date.parse(sleep.start))).toBeLessThan(15 * 60_000);
      expect(Math.abs(summary.enddate * 1000 - Date.parse(sleep.end))).toBeLessThan(12 * 60_000);
      expect(summary.data.sleep_efficiency).toBeGreaterThan(0.5);
      expect(summary.data.sleep_efficiency).toBeLessThanOrEqual(1);
      expect(summary.data.lightsleepduration + summary.data.deepsleepduration + summary.data.remsleepduration).toBe(
        summary.data.total_sleep_time
      );
    }
    expect(mean(gaps)).toBeGreaterThan(3);
    expect(mean(gaps)).toBeLessThan(8);
  });

  test('plausible ranges: weight near the typed one but not equal, body composition adds up, BP, SpO2, temperature', () => {
    const weights: number[] = [];
    let bp = 0;
    for (const day of YEAR) {
      for (const { group } of generator.measureGroups(day)) {
        const values = new Map(group.measures.map((measure) => [measure.type, decodeMeasure(measure)]));
        if (values.has(MEASTYPE.weight)) {
          const weight = values.get(MEASTYPE.weight) ?? 0;
          weights.push(weight);
          expect((values.get(MEASTYPE.fatMass) ?? 0) + (values.get(MEASTYPE.fatFreeMass) ?? 0)).toBeCloseTo(weight, 1);
          expect(values.get(MEASTYPE.fatRatio)).toBeGreaterThan(5);
          expect(values.get(MEASTYPE.fatRatio)).toBeLessThan(45);
          expect(group.model).toBe('Body+');
        }
        if (values.has(MEASTYPE.systolic)) {
          bp += 1;
          expect(values.get(MEASTYPE.diastolic)).toBeDefined();
          expect(values.get(MEASTYPE.heartPulse)).toBeDefined();
          expect(values.get(MEASTYPE.systolic)).toBeGreaterThan((values.get(MEASTYPE.diastolic) ?? 0) + 20);
          expect(values.get(MEASTYPE.systolic)).toBeLessThan(170);
          expect(values.get(MEASTYPE.diastolic)).toBeGreaterThan(50);
          expect(group.model).toBe('BPM Core');
        }
        if (values.has(MEASTYPE.spo2)) {
          expect(values.get(MEASTYPE.spo2)).toBeGreaterThanOrEqual(88);
          expect(values.get(MEASTYPE.spo2)).toBeLessThanOrEqual(100);
        }
        if (values.has(MEASTYPE.bodyTemperature)) {
          expect(values.get(MEASTYPE.bodyTemperature)).toBeGreaterThan(35.5);
          expect(values.get(MEASTYPE.bodyTemperature)).toBeLessThan(39.5);
        }
      }
    }
    expect(weights.length).toBeGreaterThan(250);
    expect(weights.length).toBeLessThan(330);
    expect(bp).toBeGreaterThan(120);
    expect(Math.abs(mean(weights) - person.weightKilogram)).toBeLessThan(4);
    expect(new Set(weights).size).toBeGreaterThan(200);
  });

  test('illness shows: higher resting HR, lower sleep score, higher body temperature, fewer steps', () => {
    const { illnesses } = episodesBetween(person, '2025-11-01', '2026-10-31');
    expect(illnesses.length).toBeGreaterThanOrEqual(2);
    const sick = YEAR.filter((day) => dayContext(person, day).illness >= 0.8);
    const healthy = YEAR.filter((day) => dayContext(person, day).illness === 0);
    const hr = (days: number[]): number => mean(days.map((day) => generator.sleepSummary(day).data.hr_min));
    const score = (days: number[]): number => mean(days.map((day) => generator.sleepSummary(day).data.sleep_score));
    const steps = (days: number[]): number => mean(days.map((day) => generator.activity(day).steps));
    expect(hr(sick) - hr(healthy)).toBeGreaterThan(4);
    expect(score(healthy) - score(sick)).toBeGreaterThan(10);
    expect(steps(sick)).toBeLessThan(steps(healthy) * 0.7);
    const sickTemps = sick
      .map((day) => realValue(generator, day, MEASTYPE.bodyTemperature))
      .filter((v) => v !== undefined);
    expect(sickTemps.length).toBeGreaterThan(0);
    expect(mean(sickTemps)).toBeGreaterThan(37.4);
  });

  test('daily activity: steps are the sum of the intraday minutes, HR fields come from them, values plausible', () => {
    const stepCounts: number[] = [];
    for (const day of YEAR.slice(-30)) {
      const activity = generator.activity(day);
      const minutes = [...generator.intraday(day).values()];
      expect(minutes.reduce((sum, entry) => sum + (entry.steps ?? 0), 0)).toBe(activity.steps);
      const heartRates = minutes.flatMap((entry) => (entry.heart_rate === undefined ? [] : [entry.heart_rate]));
      expect(Math.min(...heartRates)).toBe(activity.hr_min);
      expect(Math.max(...heartRates)).toBe(activity.hr_max);
      expect(activity.active).toBe(activity.moderate + activity.intense);
      expect(activity.totalcalories).toBeGreaterThan(activity.calories);
      stepCounts.push(activity.steps);
    }
    expect(mean(stepCounts)).toBeGreaterThan(4000);
    expect(mean(stepCounts)).toBeLessThan(16_000);
  });

  test('intraday: minute resolution in local-day order, with gaps where the watch was off the wrist', () => {
    const day = END - 3;
    const entries = [...generator.intraday(day).keys()];
    const midnight = localMidnightMs(person, day) / 1000;
    expect(entries[0]).toBeGreaterThanOrEqual(midnight);
    for (const at of entries) {
      expect((at - midnight) % 60).toBe(0);
      expect(localDayOf(person, at * 1000)).toBe(day);
    }
    expect(entries.length).toBeLessThan(1440);
    expect(entries.length).toBeGreaterThan(1300);
    const gaps = entries.slice(1).filter((at, i) => at - (entries[i] ?? at) > 60);
    expect(gaps.length).toBeGreaterThanOrEqual(1);
  });

  test('workouts: the WHOOP sessions, a little shorter, with Withings categories and HR close to WHOOP’s', () => {
    let count = 0;
    for (const day of YEAR) {
      const whoopWorkouts = whoop.workouts(day);
      const workouts = generator.workouts(day);
      expect(workouts).toHaveLength(whoopWorkouts.length);
      for (const [i, workout] of workouts.entries()) {
        const source = whoopWorkouts[i];
        count += 1;
        expect(workout.startdate * 1000).toBeGreaterThanOrEqual(Date.parse(source?.start ?? '') - 1000);
        expect(workout.enddate).toBeGreaterThan(workout.startdate);
        expect([1, 2, 6, 16, 17, 28]).toContain(workout.category);
        if (source?.score) {
          expect(Math.abs(workout.data.hr_average - source.score.average_heart_rate)).toBeLessThan(10);
        }
      }
    }
    expect(count).toBeGreaterThan(150);
  });
});
