import { describe, expect, test } from 'vitest';
import { chartDateFormats, dayTicks } from '../../app/src/lib/data-dates.ts';

const DAY = 86_400_000;
const UTC = { timeZone: 'UTC' };

function window(endIso: string, days: number): { start: number; end: number } {
  const end = Date.parse(endIso);
  return { start: end - days * DAY, end };
}

describe('chartDateFormats', () => {
  test('a range inside the current year has no year on its ticks', () => {
    const now = new Date('2026-06-15T12:00:00Z');
    const f = chartDateFormats(window('2026-06-15T12:00:00Z', 30), now, { ...UTC, locale: 'en-US' });
    expect(f.withYear).toBe(false);
    expect(f.tick(Date.parse('2026-06-01T08:00:00Z'))).toBe('Jun 1');
  });

  test('a range that crosses New Year shows the year on every tick', () => {
    const now = new Date('2026-01-10T12:00:00Z');
    const f = chartDateFormats(window('2026-01-10T12:00:00Z', 30), now, { ...UTC, locale: 'en-US' });
    expect(f.withYear).toBe(true);
    expect(f.tick(Date.parse('2025-12-30T08:00:00Z'))).toBe('Dec 30, 2025');
    expect(f.tick(Date.parse('2026-01-02T08:00:00Z'))).toBe('Jan 2, 2026');
  });

  test('a range entirely in an earlier year shows the year', () => {
    const now = new Date('2026-03-01T12:00:00Z');
    const f = chartDateFormats(window('2025-06-30T00:00:00Z', 30), now, { ...UTC, locale: 'en-US' });
    expect(f.withYear).toBe(true);
    expect(f.tick(Date.parse('2025-06-10T00:00:00Z'))).toBe('Jun 10, 2025');
  });

  test('day and month follow the locale, so 03/04 is never ambiguous', () => {
    const now = new Date('2026-06-15T12:00:00Z');
    const range = window('2026-06-15T12:00:00Z', 90);
    const time = Date.parse('2026-04-03T08:00:00Z');
    expect(chartDateFormats(range, now, { ...UTC, locale: 'en-US' }).tick(time)).toBe('Apr 3');
    expect(chartDateFormats(range, now, { ...UTC, locale: 'en-GB' }).tick(time)).toBe('3 Apr');
    expect(chartDateFormats(range, now, { ...UTC, locale: 'de-DE' }).tick(time)).toBe('3. Apr.');
  });

  test('the year boundary is the reader’s, not UTC’s', () => {
    // 23:30 UTC on 31 Dec is already 1 Jan in Berlin: a 1-day window ending then lies within the new year there.
    const end = Date.parse('2025-12-31T23:30:00Z');
    const range = { start: Date.parse('2025-12-31T23:10:00Z'), end };
    const now = new Date('2026-01-01T00:00:00Z');
    expect(chartDateFormats(range, now, { locale: 'en-US', timeZone: 'Europe/Berlin' }).withYear).toBe(false);
    expect(chartDateFormats(range, now, { locale: 'en-US', timeZone: 'UTC' }).withYear).toBe(true);
  });

  test('the tooltip always has the full date, with the year, and the time', () => {
    const now = new Date('2026-06-15T12:00:00Z');
    const f = chartDateFormats(window('2026-06-15T12:00:00Z', 30), now, { ...UTC, locale: 'en-US' });
    expect(f.full(Date.parse('2026-06-01T08:05:00Z'))).toMatch(/^Jun 1, 2026, 8:05\sAM$/);
  });
});

describe('dayTicks', () => {
  test.each([7, 30, 90, 365])('%d days: at most 6 ticks at local noon, evenly spaced, inside the window', (days) => {
    const end = Date.parse('2026-06-15T17:00:00Z');
    const range = { start: end - days * DAY, end };
    const ticks = dayTicks(range, 6);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(ticks.length).toBeLessThanOrEqual(6);
    for (const [i, t] of ticks.entries()) {
      expect(t).toBeGreaterThanOrEqual(range.start);
      expect(t).toBeLessThanOrEqual(range.end);
      const d = new Date(t);
      expect([d.getHours(), d.getMinutes()]).toEqual([12, 0]);
      if (i > 0) {
        const gapDays = Math.round((t - (ticks[i - 1] ?? 0)) / DAY);
        expect(gapDays).toBe(Math.ceil(days / 6));
      }
    }
  });
});
