import type { Task } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  TASK_EXTENSION,
  TASK_IDENTIFIER_SYSTEM,
  TASK_INPUT_SYSTEM,
  TASK_OUTPUT_SYSTEM,
  TASK_TYPE_SYSTEM,
} from './extensions.ts';
import {
  MAX_ATTEMPTS,
  analyticsPendingKey,
  analyticsRunKey,
  backfillWindows,
  buildAnalyticsTask,
  buildTask,
  isDue,
  isStuck,
  markCompleted,
  markFailed,
  markInProgress,
  readAnalyticsTask,
  readTaskInput,
  retryDelayMs,
} from './tasks.ts';

const now = new Date('2026-11-21T12:00:00.000Z');
const base = {
  patient: { reference: 'Patient/p1' as const },
  connection: { reference: 'Basic/c1' as const },
  provider: 'whoop',
};

function ext(task: Task, url: string) {
  return task.extension?.find((e) => e.url === url);
}

describe('buildTask / readTaskInput', () => {
  test('a backfill window Task round-trips', () => {
    const task = buildTask({
      ...base,
      kind: 'backfill',
      dedupeKey: 'whoop:backfill:c1:2026-10-01T00:00:00.000Z',
      window: { start: '2026-10-01T00:00:00.000Z', end: '2026-10-31T00:00:00.000Z' },
    });
    expect(task).toMatchObject({
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      code: { coding: [{ system: TASK_TYPE_SYSTEM, code: 'backfill' }] },
      for: { reference: 'Patient/p1' },
      focus: { reference: 'Basic/c1' },
      identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: 'whoop:backfill:c1:2026-10-01T00:00:00.000Z' }],
    });
    expect(task.input?.[1]).toEqual({
      type: { coding: [{ system: TASK_INPUT_SYSTEM, code: 'window-start' }] },
      valueDateTime: '2026-10-01T00:00:00.000Z',
    });
    expect(readTaskInput({ ...task, id: 't1' })).toEqual({
      id: 't1',
      kind: 'backfill',
      dedupeKey: 'whoop:backfill:c1:2026-10-01T00:00:00.000Z',
      patient: { reference: 'Patient/p1' },
      connection: { reference: 'Basic/c1' },
      provider: 'whoop',
      window: { start: '2026-10-01T00:00:00.000Z', end: '2026-10-31T00:00:00.000Z' },
      recordType: undefined,
      recordId: undefined,
      eventType: undefined,
      attempts: 0,
      nextAttemptAt: undefined,
    });
  });

  test('a webhook Task carries event type and record id', () => {
    const task = buildTask({
      ...base,
      kind: 'sync',
      dedupeKey: 'whoop:trace:t-1',
      recordType: 'sleep',
      recordId: 'ecfc6a15-4661-442f-a9a4-f160dd7afae8',
      eventType: 'sleep.updated',
    });
    const input = readTaskInput(task);
    expect(input).toMatchObject({ kind: 'sync', recordType: 'sleep', eventType: 'sleep.updated', window: undefined });
    expect(input.recordId).toBe('ecfc6a15-4661-442f-a9a4-f160dd7afae8');
  });

  test('an empty or inverted window is refused', () => {
    expect(() =>
      buildTask({
        ...base,
        kind: 'backfill',
        dedupeKey: 'k',
        window: { start: '2026-10-02T00:00:00Z', end: '2026-10-01T00:00:00Z' },
      })
    ).toThrow('Invalid task window 2026-10-02T00:00:00Z to 2026-10-01T00:00:00Z');
  });

  test('a malformed Task names its problems', () => {
    const task = buildTask({ ...base, kind: 'sync', dedupeKey: 'k', eventType: 'sleep.updated' });
    expect(() => readTaskInput({ ...task, id: 't9', for: { reference: 'Practitioner/x' } })).toThrow(
      /^Task t9 is not a Baseline work item: patient: /
    );
    expect(() => readTaskInput({ ...task, code: undefined })).toThrow(/kind: /);
    const oneSided: Task = {
      ...task,
      input: [
        ...(task.input ?? []),
        {
          type: { coding: [{ system: TASK_INPUT_SYSTEM, code: 'window-start' }] },
          valueDateTime: '2026-10-01T00:00:00Z',
        },
      ],
    };
    expect(() => readTaskInput(oneSided)).toThrow('window-start and window-end come together');
  });
});

describe('backfillWindows', () => {
  test('30-day windows, oldest first, the last ending exactly at `to`', () => {
    const windows = backfillWindows('2026-01-01T00:00:00.000Z', '2026-03-15T00:00:00.000Z');
    expect(windows).toEqual([
      { start: '2026-01-01T00:00:00.000Z', end: '2026-01-31T00:00:00.000Z' },
      { start: '2026-01-31T00:00:00.000Z', end: '2026-03-02T00:00:00.000Z' },
      { start: '2026-03-02T00:00:00.000Z', end: '2026-03-15T00:00:00.000Z' },
    ]);
    expect(backfillWindows(now, now)).toEqual([]);
    expect(backfillWindows('2026-01-01T00:00:00.000Z', '2026-01-03T00:00:00.000Z', 1)).toHaveLength(2);
  });
  test('invalid input', () => {
    expect(() => backfillWindows('nope', now)).toThrow('backfillWindows needs valid instants');
    expect(() => backfillWindows(now, now, 0)).toThrow('backfillWindows needs a positive window length, got 0');
  });
});

describe('retryDelayMs', () => {
  test('exponential from 1 minute, doubling, capped at 6 hours', () => {
    expect([1, 2, 3, 4, 9, 10, 20].map((n) => retryDelayMs(n))).toEqual([
      60_000,
      120_000,
      240_000,
      480_000,
      256 * 60_000,
      6 * 3_600_000,
      6 * 3_600_000,
    ]);
  });
  test('jitter is deterministic per key, within +10 %, and never beyond the cap', () => {
    const a = retryDelayMs(3, 'task-a');
    expect(retryDelayMs(3, 'task-a')).toBe(a);
    expect(a).toBeGreaterThanOrEqual(240_000);
    expect(a).toBeLessThanOrEqual(264_000);
    expect(new Set(['a', 'b', 'c', 'd'].map((k) => retryDelayMs(3, k))).size).toBeGreaterThan(1);
    expect(retryDelayMs(12, 'x')).toBe(6 * 3_600_000);
  });
});

describe('status transitions', () => {
  const task: Task = {
    ...buildTask({ ...base, kind: 'sync', dedupeKey: 'k', eventType: 'workout.updated', recordId: 'w' }),
    id: 't1',
  };

  test('markInProgress / markCompleted record counts and clear a scheduled retry', () => {
    const failed = markFailed(task, 'WHOOP 500', now);
    const running = markInProgress(failed, now);
    expect(running.status).toBe('in-progress');
    expect(running.businessStatus).toBeUndefined();
    const done = markCompleted(running, { created: 3, unchanged: 2, skipped: 1 });
    expect(done.status).toBe('completed');
    expect(done.output).toEqual([
      { type: { coding: [{ system: TASK_OUTPUT_SYSTEM, code: 'created' }] }, valueInteger: 3 },
      { type: { coding: [{ system: TASK_OUTPUT_SYSTEM, code: 'unchanged' }] }, valueInteger: 2 },
      { type: { coding: [{ system: TASK_OUTPUT_SYSTEM, code: 'skipped' }] }, valueInteger: 1 },
    ]);
    expect(ext(done, TASK_EXTENSION.nextAttempt)).toBeUndefined();
    expect(ext(done, TASK_EXTENSION.attempts)?.valueInteger).toBe(1);
    expect(task.status).toBe('requested');
  });

  test('markFailed increments attempts and schedules the next one with backoff', () => {
    const once = markFailed(task, 'WHOOP 500', now);
    expect(once.status).toBe('failed');
    expect(once.businessStatus?.text).toBe('WHOOP 500');
    expect(ext(once, TASK_EXTENSION.attempts)?.valueInteger).toBe(1);
    const next = Date.parse(ext(once, TASK_EXTENSION.nextAttempt)?.valueDateTime ?? '');
    expect(next - now.getTime()).toBe(retryDelayMs(1, 't1'));
    const twice = markFailed(once, 'WHOOP 500', now);
    expect(ext(twice, TASK_EXTENSION.attempts)?.valueInteger).toBe(2);
  });

  test('a rate-limit reset is a floor for the next attempt', () => {
    const failed = markFailed(task, 'rate limited', now, { retryAfterMs: 30 * 60_000 });
    expect(ext(failed, TASK_EXTENSION.nextAttempt)?.valueDateTime).toBe('2026-11-21T12:30:00.000Z');
  });

  test(`after ${MAX_ATTEMPTS} attempts it stays failed with no next attempt and says so`, () => {
    let t = task;
    for (let i = 0; i < MAX_ATTEMPTS; i += 1) {
      t = markFailed(t, 'WHOOP 500', now);
    }
    expect(ext(t, TASK_EXTENSION.attempts)?.valueInteger).toBe(MAX_ATTEMPTS);
    expect(ext(t, TASK_EXTENSION.nextAttempt)).toBeUndefined();
    expect(t.businessStatus?.text).toBe('WHOOP 500 (gave up after 8 attempts)');
    expect(isDue(t, new Date(now.getTime() + 365 * 86_400_000))).toBe(false);
  });

  test('a non-retryable failure is not rescheduled', () => {
    const t = markFailed(task, 'credentials expired', now, { retryable: false });
    expect(ext(t, TASK_EXTENSION.nextAttempt)).toBeUndefined();
    expect(t.businessStatus?.text).toBe('credentials expired (not retried)');
  });

  test('isDue: failed tasks when their retry time has come; requested tasks unless deferred', () => {
    const failed = markFailed(task, 'x', now);
    expect(isDue(failed, now)).toBe(false);
    expect(isDue(failed, new Date(now.getTime() + 3 * 60_000))).toBe(true);
    expect(isDue(task, now)).toBe(true);
    expect(isDue(markInProgress(task), now)).toBe(false);
    expect(isDue(markCompleted(task, {}), now)).toBe(false);
  });

  test('isStuck: requested or in progress and untouched for longer than staleMs', () => {
    const running = { ...markInProgress(task), meta: { lastUpdated: '2026-11-21T11:00:00.000Z' } };
    expect(isStuck(running, now, 30 * 60_000)).toBe(true);
    expect(isStuck(running, now, 2 * 3_600_000)).toBe(false);
    expect(isStuck({ ...markCompleted(task, {}), meta: running.meta }, now, 60_000)).toBe(false);
    expect(isStuck(markInProgress(task), now, 60_000)).toBe(false);
  });
});

describe('analytics work items', () => {
  test('are per owner, hold the pending key while requested, and read back', () => {
    const task = buildAnalyticsTask({ reference: 'Patient/p1' }, 'sync whoop:trace:1');
    expect(task).toMatchObject({
      status: 'requested',
      code: { coding: [{ system: TASK_TYPE_SYSTEM, code: 'analytics' }] },
      for: { reference: 'Patient/p1' },
      identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: 'analytics:p1:pending' }],
    });
    expect(task.focus).toBeUndefined();
    expect(analyticsPendingKey('p1')).not.toBe(analyticsRunKey('p1', 't1'));
    expect(readAnalyticsTask({ ...task, id: 't1' })).toEqual({ patient: { reference: 'Patient/p1' }, patientId: 'p1' });
  });

  test('a provider Task is not an analytics one, and an analytics Task is not a provider work item', () => {
    const sync = buildTask({ ...base, kind: 'sync', dedupeKey: 'k' });
    expect(() => readAnalyticsTask({ ...sync, id: 's1' })).toThrow(
      'Task s1 is not an analytics work item: kind: Invalid input: expected "analytics"'
    );
    const analytics = buildAnalyticsTask({ reference: 'Patient/p1' }, 'nightly');
    expect(() => readTaskInput({ ...analytics, id: 'a1' })).toThrow(/^Task a1 is not a Baseline work item: kind: /);
  });
});
