import { describe, expect, test } from 'vitest';
import {
  inPeriod,
  isoWeek,
  isoWeekday,
  lastCompletePeriod,
  monthContaining,
  periodDays,
  priorPeriod,
  weekContaining,
} from './periods.ts';

describe('weeks (ISO, Monday to Sunday)', () => {
  test('a mid-week day belongs to the week from its Monday to its Sunday', () => {
    expect(weekContaining('2026-11-04')).toEqual({
      kind: 'week',
      start: '2026-11-02',
      end: '2026-11-08',
      days: 7,
      label: '2026-W45',
    });
    expect(isoWeekday('2026-11-02')).toBe(1);
    expect(isoWeekday('2026-11-08')).toBe(7);
    // Monday and Sunday are the bounds, not the neighbours of another week.
    expect(weekContaining('2026-11-02').start).toBe('2026-11-02');
    expect(weekContaining('2026-11-08').start).toBe('2026-11-02');
    expect(weekContaining('2026-11-09').start).toBe('2026-11-09');
  });

  test('a week across the year boundary belongs to the year of its Thursday: 2026 has a week 53', () => {
    expect(weekContaining('2027-01-01')).toEqual({
      kind: 'week',
      start: '2026-12-28',
      end: '2027-01-03',
      days: 7,
      label: '2026-W53',
    });
    expect(weekContaining('2027-01-04').label).toBe('2027-W01');
    expect(isoWeek('2020-12-31')).toEqual({ year: 2020, week: 53 });
    expect(isoWeek('2021-01-03')).toEqual({ year: 2020, week: 53 });
    // And the other way: the last days of December can be week 1 of the next year.
    expect(isoWeek('2019-12-30')).toEqual({ year: 2020, week: 1 });
    expect(weekContaining('2019-12-31').label).toBe('2020-W01');
  });

  test('agrees with the ISO 8601 rule computed from Date for every day of 2015–2031', () => {
    for (let t = Date.UTC(2015, 0, 1); t < Date.UTC(2032, 0, 1); t += 86_400_000) {
      const date = new Date(t);
      const day = date.toISOString().slice(0, 10);
      const weekday = date.getUTCDay() === 0 ? 7 : date.getUTCDay();
      const thursday = new Date(t + (4 - weekday) * 86_400_000);
      const year = thursday.getUTCFullYear();
      const week = Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 / 7) + 1;
      expect(isoWeekday(day), day).toBe(weekday);
      expect(isoWeek(day), day).toEqual({ year, week });
    }
  });

  test('the prior week is the seven days before, also across a year boundary', () => {
    expect(priorPeriod(weekContaining('2026-11-04'))).toMatchObject({ start: '2026-10-26', end: '2026-11-01' });
    expect(priorPeriod(weekContaining('2027-01-06'))).toMatchObject({
      start: '2026-12-28',
      end: '2027-01-03',
      label: '2026-W53',
    });
  });

  test('the narrated week is the last complete one: on a Monday the week that just ended, on a Sunday the one before', () => {
    expect(lastCompletePeriod('week', '2026-11-09')).toMatchObject({ start: '2026-11-02', end: '2026-11-08' });
    expect(lastCompletePeriod('week', '2026-11-08')).toMatchObject({ start: '2026-10-26', end: '2026-11-01' });
    expect(lastCompletePeriod('week', '2027-01-04')).toMatchObject({ label: '2026-W53' });
  });
});

describe('calendar months', () => {
  test('February has 28 days, 29 in a leap year (2000 yes, 2100 no)', () => {
    expect(monthContaining('2026-02-10')).toEqual({
      kind: 'month',
      start: '2026-02-01',
      end: '2026-02-28',
      days: 28,
      label: '2026-02',
    });
    expect(monthContaining('2024-02-29')).toMatchObject({ end: '2024-02-29', days: 29 });
    expect(monthContaining('2000-02-01').days).toBe(29);
    expect(monthContaining('2100-02-01').days).toBe(28);
    expect(monthContaining('2026-12-31')).toMatchObject({ start: '2026-12-01', end: '2026-12-31', days: 31 });
  });

  test('the prior month is the previous calendar month, whatever its length', () => {
    expect(priorPeriod(monthContaining('2024-03-15'))).toMatchObject({ start: '2024-02-01', days: 29 });
    expect(priorPeriod(monthContaining('2024-02-15'))).toMatchObject({ start: '2024-01-01', days: 31 });
    expect(priorPeriod(monthContaining('2027-01-15'))).toMatchObject({ start: '2026-12-01', end: '2026-12-31' });
  });

  test('the narrated month is the last complete one', () => {
    expect(lastCompletePeriod('month', '2024-03-01')).toMatchObject({ label: '2024-02', days: 29 });
    expect(lastCompletePeriod('month', '2024-02-29')).toMatchObject({ label: '2024-01' });
    expect(lastCompletePeriod('month', '2027-01-01')).toMatchObject({ label: '2026-12' });
  });
});

describe('days of a period', () => {
  test('lists every day once, bounds included', () => {
    const feb = monthContaining('2024-02-01');
    const days = periodDays(feb);
    expect(days).toHaveLength(29);
    expect(days[0]).toBe('2024-02-01');
    expect(days[28]).toBe('2024-02-29');
    expect(periodDays(weekContaining('2027-01-01'))).toEqual([
      '2026-12-28',
      '2026-12-29',
      '2026-12-30',
      '2026-12-31',
      '2027-01-01',
      '2027-01-02',
      '2027-01-03',
    ]);
    expect(inPeriod('2024-02-29', feb)).toBe(true);
    expect(inPeriod('2024-03-01', feb)).toBe(false);
    expect(inPeriod('2024-01-31', feb)).toBe(false);
  });

  test('a day that is not a calendar day is refused', () => {
    expect(() => weekContaining('2026-02-30')).toThrow(RangeError);
    expect(() => monthContaining('2026-13-01')).toThrow(RangeError);
  });
});
