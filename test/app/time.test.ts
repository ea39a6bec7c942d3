import { describe, expect, test } from 'vitest';
import { formatDate, formatDateTime, formatRelativeTime } from '../../app/src/lib/time.ts';

const NOW = new Date('2026-03-10T12:00:00Z');
const EN = 'en-US';

function ago(ms: number): string {
  return formatRelativeTime(new Date(NOW.getTime() - ms), NOW, EN);
}

describe('formatRelativeTime', () => {
  test.each([
    [10_000, 'just now'],
    [-20_000, 'just now'],
    [5 * 60_000, '5 minutes ago'],
    [3 * 3_600_000, '3 hours ago'],
    [26 * 3_600_000, 'yesterday'],
    [4 * 86_400_000, '4 days ago'],
    [70 * 86_400_000, '2 months ago'],
    [800 * 86_400_000, '2 years ago'],
    [-10 * 60_000, 'in 10 minutes'],
    [3 * 86_400_000 - 5_000, '3 days ago'],
    [59.7 * 60_000, '1 hour ago'],
    [23.8 * 3_600_000, 'yesterday'],
    [350 * 86_400_000, 'last year'],
  ])('%d ms before now → %s', (ms, text) => {
    expect(ago(ms)).toBe(text);
  });
});

describe('absolute dates', () => {
  test('date and time, and date only', () => {
    const when = new Date(2026, 2, 3, 7, 14);
    expect(formatDateTime(when, EN)).toBe('Mar 3, 2026, 7:14 AM');
    expect(formatDate(when, EN)).toBe('Mar 3, 2026');
  });
});
