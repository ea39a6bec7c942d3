import { describe, expect, test } from 'vitest';
import {
  createPerson,
  dateOfDay,
  dayContext,
  dayNumberOf,
  DAY_MS,
  episodesBetween,
  formatOffset,
  hash32,
  offsetMinutesOn,
  PersonGenerator,
  weekdayOf,
} from './data.ts';
import type { GeneratedDay, PersonTraits } from './data.ts';

const END = '2026-10-31';
const person = createPerson(7);
const generator = new PersonGenerator(person);
const endDay = dayNumberOf(END);
const days: GeneratedDay[] = [];
for (let day = endDay - 399; day <= endDay; day++) {
  days.push(generator.day(day));
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function recoveryOf(day: number): NonNullable<GeneratedDay['recovery']['score']> | undefined {
  return new PersonGenerator(person).day(day).recovery.score;
}

function window(from: number, to: number, pick: (day: GeneratedDay) => number | undefined): number[] {
  return days
    .filter((day) => day.day >= from && day.day < to)
    .map(pick)
    .filter((value): value is number => value !== undefined);
}

describe('calendar helpers', () => {
  test('dates round-trip and invalid dates are refused', () => {
    expect(dateOfDay(dayNumberOf('2026-02-28'))).toBe('2026-02-28');
    expect(weekdayOf(dayNumberOf('2026-11-21'))).toBe(6);
    expect(() => dayNumberOf('2026-02-30')).toThrow('Invalid date (expected YYYY-MM-DD): 2026-02-30');
    expect(() => dayNumberOf('26-1-1')).toThrow('Invalid date (expected YYYY-MM-DD): 26-1-1');
  });

  test('daylight saving follows the US and EU rules; offsets are TZD strings', () => {
    const newYork = { name: 'America/New_York', standardOffsetMinutes: -300, dst: 'us' as const };
    const london = { name: 'Europe/London', standardOffsetMinutes: 0, dst: 'eu' as const };
    expect(offsetMinutesOn(newYork, dayNumberOf('2026-03-07'))).toBe(-300);
    expect(offsetMinutesOn(newYork, dayNumberOf('2026-03-08'))).toBe(-240);
    expect(offsetMinutesOn(newYork, dayNumberOf('2026-11-01'))).toBe(-300);
    expect(offsetMinutesOn(london, dayNumberOf('2026-03-29'))).toBe(60);
    expect(offsetMinutesOn(london, dayNumberOf('2026-10-25'))).toBe(0);
    expect(formatOffset(0)).toBe('Z');
    expect(formatOffset(-300)).toBe('-05:00');
    expect(formatOffset(330)).toBe('+05:30');
  });

  test('hash32 separates seeds beyond 32 bits', () => {
    expect(hash32(1)).not.toBe(hash32(1 + 2 ** 32));
  });
});

describe('determinism', () => {
  test('a day depends only on (seed, person, date), not on what else was generated', () => {
    const fresh = new PersonGenerator(createPerson(7));
    const sample = days[123];
    expect(fresh.day(sample?.day ?? 0)).toEqual(sample);
  });

  test('other seeds and other people differ, with distinct user ids', () => {
    const other = createPerson(8);
    const second = createPerson(7, 1);
    expect(new PersonGenerator(other).day(endDay - 10)).not.toEqual(days[389]);
    expect(second.userId).not.toBe(person.userId);
    expect(new PersonGenerator(second).day(endDay - 10).sleep.id).not.toBe(days[389]?.sleep.id);
  });
});

describe('record shapes', () => {
  test('cycles chain: each ends where the next starts; sleep opens its cycle; ids rise with time', () => {
    for (let i = 0; i + 1 < days.length; i++) {
      const today = days[i];
      const tomorrow = days[i + 1];
      expect(today?.cycle.end).toBe(tomorrow?.cycle.start);
      expect(today?.sleep.start).toBe(today?.cycle.start);
      expect(today?.sleep.cycle_id).toBe(today?.cycle.id);
      expect(today?.recovery).toMatchObject({ cycle_id: today?.cycle.id, sleep_id: today?.sleep.id });
      expect(tomorrow?.cycle.id ?? 0).toBeGreaterThan(today?.cycle.id ?? 0);
    }
  });

  test('ids are unique v4 UUIDs', () => {
    const ids = days.flatMap((day) => [
      day.sleep.id,
      ...day.naps.map((nap) => nap.id),
      ...day.workouts.map((w) => w.id),
    ]);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  test('sleep stages add up to time in bed; zone durations add up to the workout; timestamps are ordered', () => {
    for (const day of days) {
      for (const sleep of [day.sleep, ...day.naps]) {
        const stages = sleep.score?.stage_summary;
        if (stages) {
          expect(
            stages.total_awake_time_milli +
              stages.total_no_data_time_milli +
              stages.total_light_sleep_time_milli +
              stages.total_slow_wave_sleep_time_milli +
              stages.total_rem_sleep_time_milli
          ).toBe(stages.total_in_bed_time_milli);
          expect(Date.parse(sleep.end) - Date.parse(sleep.start)).toBe(stages.total_in_bed_time_milli);
        }
        expect(Date.parse(sleep.created_at)).toBeGreaterThan(Date.parse(sleep.end));
        expect(Date.parse(sleep.updated_at)).toBeGreaterThanOrEqual(Date.parse(sleep.created_at));
      }
      for (const workout of day.workouts) {
        const zones = workout.score?.zone_durations;
        if (zones) {
          const total = Object.values(zones).reduce((sum, value) => sum + value, 0);
          expect(total).toBe(Date.parse(workout.end) - Date.parse(workout.start));
        }
        expect(Date.parse(workout.start)).toBeGreaterThan(Date.parse(day.sleep.end));
        expect(Date.parse(workout.end)).toBeLessThan(Date.parse(day.cycle.end ?? ''));
        const hasDistance = workout.score?.distance_meter !== undefined;
        expect(hasDistance).toBe(
          workout.score !== undefined && (workout.sport_name === 'running' || workout.sport_name === 'cycling')
        );
      }
    }
  });

  test('a few records are UNSCORABLE, and those carry no score', () => {
    const sleeps = days.filter((day) => day.sleep.score_state === 'UNSCORABLE');
    const workouts = days.flatMap((day) => day.workouts).filter((w) => w.score_state === 'UNSCORABLE');
    expect(sleeps.length).toBeGreaterThanOrEqual(7);
    expect(sleeps.length).toBeLessThanOrEqual(9);
    expect(workouts.length).toBeGreaterThanOrEqual(1);
    for (const day of sleeps) {
      expect(day.sleep).not.toHaveProperty('score');
      expect(day.recovery.score_state).toBe('UNSCORABLE');
      expect(day.recovery).not.toHaveProperty('score');
    }
  });
});

describe('physiology', () => {
  function illnessOf(p: PersonTraits): number {
    const [illness] = episodesBetween(p, dateOfDay(endDay - 380), dateOfDay(endDay - 30)).illnesses;
    if (!illness) {
      throw new Error('no illness in the window');
    }
    return dayNumberOf(illness.start);
  }

  test('an illness: HRV down ~30 %, RHR up 6–8, skin temperature +0.6 °C, breathing faster, recovery low', () => {
    const start = illnessOf(person);
    const peak = [start + 1, start + 2];
    const before = window(start - 21, start - 7, (day) => day.recovery.score?.hrv_rmssd_milli);
    const peakHrv = peak.map((day) => recoveryOf(day)?.hrv_rmssd_milli ?? NaN);
    expect(mean(peakHrv) / mean(before)).toBeLessThan(0.8);
    const rhrBefore = mean(window(start - 21, start - 7, (day) => day.recovery.score?.resting_heart_rate));
    expect(mean(peak.map((day) => recoveryOf(day)?.resting_heart_rate ?? NaN)) - rhrBefore).toBeGreaterThan(4);
    const tempBefore = mean(window(start - 21, start - 7, (day) => day.recovery.score?.skin_temp_celsius));
    expect(mean(peak.map((day) => recoveryOf(day)?.skin_temp_celsius ?? NaN)) - tempBefore).toBeGreaterThan(0.4);
    expect(mean(peak.map((day) => recoveryOf(day)?.recovery_score ?? NaN))).toBeLessThan(33);
    expect(dayContext(person, start + 1).illness).toBe(1);
    const sick = days.filter((day) => day.day >= start + 1 && day.day <= start + 3);
    expect(sick.flatMap((day) => day.workouts)).toEqual([]);
  });

  test('a training block: strain rises; afterwards RHR is ~3 bpm lower and HRV higher than before it', () => {
    const blocks = episodesBetween(person, dateOfDay(endDay - 399), END).trainingBlocks;
    const block = blocks.find(
      (candidate) => dayNumberOf(candidate.start) - (endDay - 399) >= 28 && dayNumberOf(candidate.end) + 28 <= endDay
    );
    if (!block) {
      throw new Error('no complete training block in the window');
    }
    const start = dayNumberOf(block.start);
    const end = dayNumberOf(block.end);
    const strainIn = mean(window(start + 28, end, (day) => day.cycle.score?.strain));
    const strainBefore = mean(window(start - 28, start, (day) => day.cycle.score?.strain));
    expect(strainIn).toBeGreaterThan(strainBefore);
    const rhrBefore = mean(window(start - 14, start, (day) => day.recovery.score?.resting_heart_rate));
    const rhrAfter = mean(window(end + 14, end + 28, (day) => day.recovery.score?.resting_heart_rate));
    expect(rhrBefore - rhrAfter).toBeGreaterThan(1.5);
    const hrvBefore = mean(window(start - 14, start, (day) => day.recovery.score?.hrv_rmssd_milli));
    const hrvAfter = mean(window(end + 14, end + 28, (day) => day.recovery.score?.hrv_rmssd_milli));
    expect(hrvAfter).toBeGreaterThan(hrvBefore);
  });

  test('weekly rhythm: weekend mornings start later; 3–5 workouts in a healthy week', () => {
    const localWake = (day: GeneratedDay): number => {
      const offset = offsetMinutesOn(person.zone, day.day);
      return (Date.parse(day.sleep.end) - day.day * DAY_MS) / 60_000 + offset;
    };
    const weekend = mean(days.filter((day) => [0, 6].includes(weekdayOf(day.day))).map(localWake));
    const weekday = mean(days.filter((day) => ![0, 6].includes(weekdayOf(day.day))).map(localWake));
    expect(weekend - weekday).toBeGreaterThan(45);
    const firstMonday = days.find((day) => weekdayOf(day.day) === 1)?.day ?? 0;
    for (let monday = firstMonday; monday + 7 <= endDay; monday += 7) {
      const week = days.filter((day) => day.day >= monday && day.day < monday + 7);
      const healthy = week.every((day) => dayContext(person, day.day).illness === 0);
      const count = week.reduce((sum, day) => sum + day.workouts.length, 0);
      if (healthy) {
        expect(count, dateOfDay(monday)).toBeGreaterThanOrEqual(3);
        expect(count, dateOfDay(monday)).toBeLessThanOrEqual(5);
      }
    }
    expect(days.some((day) => day.naps.length > 0)).toBe(true);
  });
});
