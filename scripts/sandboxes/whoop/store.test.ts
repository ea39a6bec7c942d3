import { describe, expect, test } from 'vitest';
import { createPerson, RECORD_TYPES } from './data.ts';
import type { RecordType, WhoopRecord, WhoopSleep } from './data.ts';
import { StoreError, WhoopStore } from './store.ts';

const person = createPerson(3);
const FAR_FUTURE = Date.parse('2100-01-01T00:00:00Z');
const NOW = Date.parse('2026-12-01T00:00:00Z');

function all(store: WhoopStore, type: RecordType): WhoopRecord[] {
  return store.list(person.userId, type, { endMs: FAR_FUTURE, limit: 100_000 }).entries.map((entry) => entry.view);
}

function withoutUpdatedAt(records: WhoopRecord[]): Omit<WhoopRecord, 'updated_at'>[] {
  return records.map(({ updated_at: _ignored, ...rest }) => rest);
}

describe('WhoopStore', () => {
  test('refuses a history shorter than two days', () => {
    expect(() => new WhoopStore({ people: [person], endDate: '2026-10-31', days: 1 })).toThrow(
      'days must be an integer ≥ 2'
    );
  });

  test('the last day is PENDING_SCORE (cycle without end, sleep, recovery); the day before, cycle and workouts', () => {
    const store = new WhoopStore({ people: [person], endDate: '2026-10-31', days: 30 });
    const cycles = all(store, 'cycle');
    expect(cycles).toHaveLength(30);
    expect(cycles[0]).not.toHaveProperty('end');
    expect(cycles.slice(0, 2).map((cycle) => cycle.score_state)).toEqual(['PENDING_SCORE', 'PENDING_SCORE']);
    expect(cycles[2]?.score_state).toBe('SCORED');
    expect(all(store, 'recovery').filter((record) => record.score_state === 'PENDING_SCORE')).toHaveLength(1);
    for (const record of RECORD_TYPES.flatMap((type) => all(store, type))) {
      expect('score' in record).toBe(record.score_state === 'SCORED');
      if (record.score_state === 'PENDING_SCORE') {
        expect(record.updated_at).toBe(record.created_at);
      }
    }
  });

  test('addDay reaches the same records as a history generated one day later (but for updated_at)', () => {
    const advanced = new WhoopStore({ people: [person], endDate: '2026-10-30', days: 30 });
    const events = advanced.addDay(NOW);
    const direct = new WhoopStore({ people: [person], endDate: '2026-10-31', days: 31 });
    for (const type of RECORD_TYPES) {
      expect(withoutUpdatedAt(all(advanced, type)), type).toEqual(withoutUpdatedAt(all(direct, type)));
    }
    expect(events.filter((event) => event.type === 'recovery.updated').length).toBeGreaterThanOrEqual(2);
    expect(events.some((event) => event.type.endsWith('.deleted'))).toBe(false);
  });

  test('scorePending settles everything pending and bumps updated_at; a second call finds nothing', () => {
    const store = new WhoopStore({ people: [person], endDate: '2026-10-31', days: 10 });
    const before = all(store, 'sleep').find((record) => record.score_state === 'PENDING_SCORE');
    const events = store.scorePending(NOW);
    expect(events.length).toBeGreaterThan(0);
    const after = store.get(person.userId, 'sleep', (before as WhoopSleep).id)?.view;
    expect(after?.score_state).not.toBe('PENDING_SCORE');
    expect(after?.updated_at).toBe(new Date(NOW).toISOString());
    expect(store.scorePending(NOW)).toEqual([]);
  });

  test('rescore of a SCORED record revises it and bumps updated_at; UNSCORABLE records cannot be re-scored', () => {
    const store = new WhoopStore({ people: [person], endDate: '2026-10-31', days: 120 });
    const workout = all(store, 'workout').find((record) => record.score_state === 'SCORED');
    const id = String((workout as { id: string }).id);
    expect(store.rescore('workout', id, NOW)).toEqual([{ type: 'workout.updated', id, userId: person.userId }]);
    const after = store.get(person.userId, 'workout', id)?.view;
    expect(after?.updated_at).toBe(new Date(NOW).toISOString());
    expect(after).not.toEqual(workout);
    const unscorable = all(store, 'sleep').find((record) => record.score_state === 'UNSCORABLE') as WhoopSleep;
    expect(() => store.rescore('sleep', unscorable.id, NOW)).toThrow(`sleep ${unscorable.id} is UNSCORABLE`);
    expect(() => store.rescore('sleep', 'missing', NOW)).toThrow(StoreError);
  });

  test('deleting a workout removes it; cycles cannot be deleted', () => {
    const store = new WhoopStore({ people: [person], endDate: '2026-10-31', days: 20 });
    const workout = all(store, 'workout')[0] as { id: string };
    expect(store.deleteRecord('workout', workout.id)).toEqual([
      { type: 'workout.deleted', id: workout.id, userId: person.userId },
    ]);
    expect(store.get(person.userId, 'workout', workout.id)).toBeUndefined();
    expect(() => store.deleteRecord('cycle', '1')).toThrow('Cycles cannot be deleted');
  });

  test('pages never overlap or skip: keyset cursors survive a new day arriving mid-walk', () => {
    const store = new WhoopStore({ people: [person], endDate: '2026-10-31', days: 60 });
    const expected = all(store, 'cycle');
    const seen: WhoopRecord[] = [];
    let after: { startMs: number; id: string } | undefined;
    for (let page = 0; ; page++) {
      const result = store.list(person.userId, 'cycle', { endMs: FAR_FUTURE, limit: 25, ...(after ? { after } : {}) });
      seen.push(...result.entries.map((entry) => entry.view));
      const last = result.entries.at(-1);
      if (page === 0) {
        store.addDay(NOW);
      }
      if (!result.more || !last) {
        break;
      }
      after = { startMs: last.startMs, id: last.id };
    }
    expect(seen.map((record) => String((record as { id: number }).id))).toEqual(
      expected.map((record) => String((record as { id: number }).id))
    );
  });
});
