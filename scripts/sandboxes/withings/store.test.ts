import { describe, expect, test } from 'vitest';
import { createPerson, dayNumberOf } from '../whoop/data.ts';
import { APPLI, decodeMeasure } from './data.ts';
import { StoreError, WithingsStore } from './store.ts';

const person = createPerson(11, 0);

function store(): WithingsStore {
  return new WithingsStore({ people: [person], endDate: '2026-10-31', days: 30 });
}

describe('WithingsStore', () => {
  test('holds exactly the configured days', () => {
    const s = store();
    expect(s.activities(person.userId)).toHaveLength(30);
    expect(s.activities(person.userId)[0]?.date).toBe('2026-10-02');
    expect(s.sleepSummaries(person.userId).at(-1)?.date).toBe('2026-10-31');
    const days = new Set(s.measureGroups(person.userId).map((group) => Math.floor(group.grpid / 1_000_000)));
    expect(Math.min(...days)).toBeGreaterThanOrEqual(dayNumberOf('2026-10-02'));
  });

  test('addDay: the new day arrives with created/modified no earlier than the time it was added; notifications name it', () => {
    const s = store();
    const at = Date.parse('2026-12-01T12:00:00Z');
    const changes = s.apply({ op: 'add-day', at });
    expect(s.activities(person.userId)).toHaveLength(31);
    const day = s.activities(person.userId).at(-1);
    expect(day?.date).toBe('2026-11-01');
    expect(day?.modified).toBeGreaterThanOrEqual(at / 1000);
    expect(changes.map((change) => change.appli)).toEqual(expect.arrayContaining([APPLI.activity, APPLI.sleep]));
    const sleep = changes.find((change) => change.appli === APPLI.sleep);
    expect(sleep?.startdate).toBe(s.sleepSummaries(person.userId).at(-1)?.startdate);
  });

  test('editMeasure re-encodes the value with the group’s unit and bumps modified; deleteMeasure removes the group', () => {
    const s = store();
    const group = s.measureGroups(person.userId).find((candidate) => candidate.measures.some((m) => m.type === 1));
    if (!group) {
      throw new Error('no weigh-in');
    }
    const at = (group.modified + 100) * 1000;
    const [change] = s.apply({
      op: 'edit-measure',
      userId: person.userId,
      grpid: group.grpid,
      changes: [{ type: 1, value: 70.5 }],
      at,
    });
    expect(change).toEqual({ userId: person.userId, appli: APPLI.weight, startdate: group.date, enddate: group.date });
    const edited = s.measureGroups(person.userId).find((candidate) => candidate.grpid === group.grpid);
    const weight = edited?.measures.find((measure) => measure.type === 1);
    expect(weight && decodeMeasure(weight)).toBe(70.5);
    expect(weight?.unit).toBe(-3);
    expect(edited?.modified).toBe(group.modified + 100);
    expect(() =>
      s.apply({ op: 'edit-measure', userId: person.userId, grpid: group.grpid, changes: [{ type: 54, value: 1 }], at })
    ).toThrow(StoreError);
    s.apply({ op: 'delete-measure', userId: person.userId, grpid: group.grpid, at });
    expect(s.measureGroups(person.userId).some((candidate) => candidate.grpid === group.grpid)).toBe(false);
    expect(() => s.apply({ op: 'delete-measure', userId: person.userId, grpid: group.grpid, at })).toThrow(StoreError);
  });

  test('intraday is cut to the requested window and to the days that exist', () => {
    const s = store();
    const end = s.endOfData(person.userId);
    const series = s.intraday(person.userId, end - 3600, end + 86_400);
    const keys = Object.keys(series).map(Number);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.length).toBeLessThanOrEqual(60);
    expect(Math.max(...keys)).toBeLessThan(end);
  });
});
