import { describe, expect, test } from 'vitest';
import { alignedBackfillWindows, BACKFILL_DAYS, backfillDays, taskKey } from './queue.ts';

describe('backfill horizon', () => {
  test('BASELINE_BACKFILL_DAYS takes whole days from 1 to 365; anything else is the default', () => {
    expect(backfillDays('5')).toBe(5);
    expect(backfillDays('365')).toBe(365);
    for (const bad of [undefined, '', '0', '-3', '2.5', '366', 'many']) {
      expect(backfillDays(bad)).toBe(BACKFILL_DAYS);
    }
  });

  test('a short horizon queues only the windows that cover it', () => {
    const now = new Date('2026-11-28T12:00:00.000Z');
    const windows = alignedBackfillWindows(now, 5);
    expect(windows.length).toBeGreaterThanOrEqual(1);
    expect(windows.length).toBeLessThanOrEqual(2);
    expect(Date.parse(windows[0]?.start ?? '')).toBeLessThanOrEqual(now.getTime() - 5 * 86_400_000);
    expect(windows.at(-1)?.end).toBe(now.toISOString());
  });

  test('backfill keys name the link, so a reconnect gets fresh windows', () => {
    expect(taskKey('whoop', 'backfill', 'c1', 'link-a', 'w')).not.toBe(
      taskKey('whoop', 'backfill', 'c1', 'link-b', 'w')
    );
  });
});
