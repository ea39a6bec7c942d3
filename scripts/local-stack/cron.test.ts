import { describe, expect, test } from 'vitest';
import { cronMatches, parseCron } from './cron.ts';

describe('cron', () => {
  test('every minute matches any time', () => {
    expect(cronMatches(parseCron('* * * * *'), new Date('2026-11-21T10:17:00Z'))).toBe(true);
  });

  test('steps, ranges and lists', () => {
    const s = parseCron('*/15 9-17 * * 1,3,5');
    expect(cronMatches(s, new Date('2026-11-23T09:30:00Z'))).toBe(true); // Monday
    expect(cronMatches(s, new Date('2026-11-23T09:31:00Z'))).toBe(false);
    expect(cronMatches(s, new Date('2026-11-24T09:30:00Z'))).toBe(false); // Tuesday
    expect(cronMatches(s, new Date('2026-11-23T18:00:00Z'))).toBe(false);
  });

  test('day-of-week 7 is Sunday', () => {
    expect(cronMatches(parseCron('0 0 * * 7'), new Date('2026-11-22T00:00:00Z'))).toBe(true);
  });

  test('rejects the wrong number of fields', () => {
    expect(() => parseCron('* * * *')).toThrow('Invalid cron string "* * * *": expected 5 fields, got 4');
  });

  test('rejects out-of-range values', () => {
    expect(() => parseCron('61 * * * *')).toThrow('Invalid cron string "61 * * * *": "61" is out of range 0-59');
  });

  test('rejects a bad step', () => {
    expect(() => parseCron('*/0 * * * *')).toThrow('Invalid cron string "*/0 * * * *": bad step "*/0"');
  });
});
