import { describe, expect, test, vi } from 'vitest';
import type { ParsedTaskInput } from '../shared/tasks.ts';
import { validateWearableObservation } from '../shared/validate-observation.ts';
import type { WithingsClient } from './client.ts';
import { APPLI_RECORD_TYPES, SUBSCRIBED_APPLIS } from './schemas.ts';
import {
  APPLI_CATEGORIES,
  CATEGORIES,
  fetchWithingsPlan,
  groupWithingsRecords,
  intradayDays,
  planWithingsSync,
} from './sync-plan.ts';
import type { WithingsFetchPlan, WithingsRecords } from './sync-plan.ts';
import { ACTIVITY, BP_GROUP, CTX, INTRADAY_BODY, SLEEP_SUMMARY, WEIGHT_GROUP, WORKOUT } from './test-fixtures.ts';

const NOW = new Date('2026-11-02T12:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const HOUR_S = 3600;
const DAY_S = 86_400;

function input(overrides: Partial<ParsedTaskInput>): ParsedTaskInput {
  return {
    id: 't1',
    kind: 'sync',
    dedupeKey: 'k',
    patient: { reference: 'Patient/p1' },
    connection: { reference: 'Basic/c1' },
    provider: 'withings',
    window: undefined,
    recordType: undefined,
    recordId: undefined,
    eventType: undefined,
    attempts: 0,
    nextAttemptAt: undefined,
    ...overrides,
  };
}

const PLAN_CTX = { providerUserId: '363', now: NOW, lastSync: '2026-11-02T06:00:00Z' };

function fetchPlan(plan: ReturnType<typeof planWithingsSync>): WithingsFetchPlan {
  if (plan.kind !== 'fetch') {
    throw new Error('expected a fetch plan');
  }
  return plan;
}

describe('planWithingsSync', () => {
  test('a backfill window reads every category from start − 48 h to end, by date', () => {
    const plan = planWithingsSync(
      input({ kind: 'backfill', window: { start: '2026-10-01T00:00:00Z', end: '2026-10-31T00:00:00Z' } }),
      PLAN_CTX
    );
    expect(plan).toEqual({
      kind: 'fetch',
      categories: CATEGORIES,
      range: { start: Date.parse('2026-09-29T00:00:00Z') / 1000, end: Date.parse('2026-10-31T00:00:00Z') / 1000 },
      lastupdate: undefined,
    });
  });

  test('a window never reaches past now', () => {
    const plan = fetchPlan(
      planWithingsSync(input({ window: { start: '2026-11-01T00:00:00Z', end: '2026-11-05T00:00:00Z' } }), PLAN_CTX)
    );
    expect(plan.range.end).toBe(NOW_S);
  });

  test('a notification re-reads its category changed in the last 7 days (lastupdate), intraday over the named window', () => {
    const plan = planWithingsSync(
      input({
        recordType: 'activity',
        recordId: `${NOW_S - 6 * HOUR_S}-${NOW_S - HOUR_S}`,
        eventType: 'appli-16',
      }),
      PLAN_CTX
    );
    expect(plan).toEqual({
      kind: 'fetch',
      categories: ['activity', 'intraday', 'workout'],
      range: { start: NOW_S - 6 * HOUR_S, end: NOW_S - HOUR_S },
      lastupdate: NOW_S - 7 * DAY_S,
    });
  });

  test.each([
    ['appli-1', ['measure']],
    ['appli-2', ['measure']],
    ['appli-4', ['measure']],
    ['appli-44', ['sleep']],
  ])('%s re-reads %j', (eventType, categories) => {
    expect(fetchPlan(planWithingsSync(input({ eventType, recordId: 'unspecified' }), PLAN_CTX)).categories).toEqual(
      categories
    );
  });

  test('a forged year-long window is clamped to the last 7 days', () => {
    const plan = fetchPlan(
      planWithingsSync(
        input({ eventType: 'appli-16', recordId: `${NOW_S - 365 * DAY_S}-${NOW_S + 365 * DAY_S}` }),
        PLAN_CTX
      )
    );
    expect(plan.range).toEqual({ start: NOW_S - 7 * DAY_S, end: NOW_S });
    expect(intradayDays(plan.range).length).toBeLessThanOrEqual(8);
  });

  test('a window wholly in the past or backwards falls back to the last 48 hours', () => {
    for (const recordId of [`${NOW_S - 400 * DAY_S}-${NOW_S - 300 * DAY_S}`, `${NOW_S}-${NOW_S - DAY_S}`]) {
      const plan = fetchPlan(planWithingsSync(input({ eventType: 'appli-16', recordId }), PLAN_CTX));
      expect(plan.range).toEqual({ start: NOW_S - 2 * DAY_S, end: NOW_S });
    }
  });

  test('lastupdate is always the last 7 days, whatever the last sync (another category may have moved it)', () => {
    for (const lastSync of ['2025-01-01T00:00:00Z', undefined, '2026-11-02T05:00:00Z', '2027-01-01T00:00:00Z']) {
      const plan = fetchPlan(
        planWithingsSync(input({ eventType: 'appli-1', recordId: 'x' }), { ...PLAN_CTX, lastSync })
      );
      expect(plan.lastupdate, lastSync).toBe(NOW_S - 7 * DAY_S);
    }
  });

  test('a window Task naming one category reads only it', () => {
    const plan = fetchPlan(
      planWithingsSync(
        input({ recordType: 'sleep', window: { start: '2026-11-01T00:00:00Z', end: '2026-11-02T00:00:00Z' } }),
        PLAN_CTX
      )
    );
    expect(plan.categories).toEqual(['sleep']);
  });

  test.each(['appli-46', 'appli-50', 'sleep.updated', 'appli-'])('%s is refused', (eventType) => {
    expect(() => planWithingsSync(input({ eventType }), PLAN_CTX)).toThrow(
      `Unknown Withings notification ${eventType}`
    );
  });

  test('a Task with neither window nor event is refused', () => {
    expect(() => planWithingsSync(input({}), PLAN_CTX)).toThrow(
      'Withings sync Task has neither a window nor a notification'
    );
  });

  test('every subscribed appli has categories and a Task record type that is one of them', () => {
    expect(Object.keys(APPLI_CATEGORIES).map(Number)).toEqual([...SUBSCRIBED_APPLIS]);
    expect(Object.keys(APPLI_RECORD_TYPES).map(Number)).toEqual([...SUBSCRIBED_APPLIS]);
    for (const appli of SUBSCRIBED_APPLIS) {
      expect(APPLI_CATEGORIES[appli]).toContain(APPLI_RECORD_TYPES[appli]);
    }
  });
});

describe('intradayDays', () => {
  test('one call per UTC day touched, each whole and half a minute early (no read splits a minute slot)', () => {
    const start = Date.parse('2026-11-01T18:00:20Z') / 1000;
    const end = Date.parse('2026-11-03T06:00:20Z') / 1000;
    const at = (iso: string): number => Date.parse(iso) / 1000;
    expect(intradayDays({ start, end })).toEqual([
      { startdate: at('2026-10-31T23:59:30Z'), enddate: at('2026-11-01T23:59:30Z') },
      { startdate: at('2026-11-01T23:59:30Z'), enddate: at('2026-11-02T23:59:30Z') },
      { startdate: at('2026-11-02T23:59:30Z'), enddate: at('2026-11-03T23:59:30Z') },
    ]);
    // A range ending at midnight also reads the next day's first slot, which starts 30 s before it.
    expect(intradayDays({ start: at('2026-11-01T00:00:00Z'), end: at('2026-11-02T00:00:00Z') })).toHaveLength(2);
  });
});

function fakeClient(): {
  client: Pick<WithingsClient, 'getMeasures' | 'getActivity' | 'getIntraday' | 'getWorkouts' | 'getSleepSummaries'>;
  calls: string[];
} {
  const calls: string[] = [];
  const points = Object.entries(INTRADAY_BODY.series).map(([t, point]) => ({ t: Number(t), point }));
  return {
    calls,
    client: {
      getMeasures: vi.fn((_t, q) => {
        calls.push(`getmeas ${JSON.stringify(q)}`);
        return Promise.resolve({ groups: [BP_GROUP, WEIGHT_GROUP], timezone: 'Europe/Berlin' });
      }),
      getActivity: vi.fn((_t, q) => {
        calls.push(`getactivity ${JSON.stringify(q)}`);
        return Promise.resolve([ACTIVITY]);
      }),
      getIntraday: vi.fn((_t, r) => {
        calls.push(`getintradayactivity ${r.startdate}-${r.enddate}`);
        return Promise.resolve(r.startdate <= 1697760000 && 1697760000 < r.enddate ? points : []);
      }),
      getWorkouts: vi.fn((_t, q) => {
        calls.push(`getworkouts ${JSON.stringify(q)}`);
        return Promise.resolve([WORKOUT]);
      }),
      getSleepSummaries: vi.fn((_t, q) => {
        calls.push(`getsummary ${JSON.stringify(q)}`);
        return Promise.resolve([SLEEP_SUMMARY]);
      }),
    },
  };
}

describe('fetchWithingsPlan', () => {
  test('a window: date ranges, one intraday call per day', async () => {
    const { client, calls } = fakeClient();
    const start = Date.parse('2023-10-19T12:00:00Z') / 1000;
    const end = Date.parse('2023-10-21T00:00:00Z') / 1000;
    const records = await fetchWithingsPlan(client, 'tok', {
      kind: 'fetch',
      categories: CATEGORIES,
      range: { start, end },
      lastupdate: undefined,
    });
    expect(calls).toEqual([
      `getmeas {"startdate":${start},"enddate":${end}}`,
      'getactivity {"startdateymd":"2023-10-19","enddateymd":"2023-10-21"}',
      // Whole UTC days, half a minute early: 2023-10-19, 2023-10-20, and 2023-10-21's first slot (from 23:59:30).
      'getintradayactivity 1697673570-1697759970',
      'getintradayactivity 1697759970-1697846370',
      'getintradayactivity 1697846370-1697932770',
      'getworkouts {"startdateymd":"2023-10-19","enddateymd":"2023-10-21"}',
      'getsummary {"startdateymd":"2023-10-19","enddateymd":"2023-10-21"}',
    ]);
    expect(records.intraday).toHaveLength(3);
    expect(records.measures.groups).toHaveLength(2);
  });

  test('a notification: lastupdate for everything but intraday; only its categories', async () => {
    const { client, calls } = fakeClient();
    await fetchWithingsPlan(client, 'tok', {
      kind: 'fetch',
      categories: ['measure'],
      range: { start: 1, end: 2 },
      lastupdate: 1234,
    });
    expect(calls).toEqual(['getmeas {"lastupdate":1234}']);
  });

  test('a provider error propagates (the sync bot retries or refreshes by its kind)', async () => {
    const { client } = fakeClient();
    vi.mocked(client.getActivity).mockRejectedValueOnce(new Error('boom'));
    await expect(
      fetchWithingsPlan(client, 'tok', {
        kind: 'fetch',
        categories: ['activity'],
        range: { start: 1, end: 2 },
        lastupdate: 1,
      })
    ).rejects.toThrow('boom');
  });
});

describe('groupWithingsRecords', () => {
  const records: WithingsRecords = {
    measures: {
      groups: [BP_GROUP, WEIGHT_GROUP, { ...WEIGHT_GROUP, attrib: 1, grpid: 77 }],
      timezone: 'Europe/Berlin',
    },
    activities: [ACTIVITY],
    intraday: Object.entries(INTRADAY_BODY.series).map(([t, point]) => ({ t: Number(t), point })),
    workouts: [WORKOUT],
    sleeps: [SLEEP_SUMMARY, SLEEP_SUMMARY],
  };

  test('one group per record (repeats collapse), the series as a merging group, skips collected', () => {
    const grouped = groupWithingsRecords(records, CTX);
    expect(grouped.records.map((g) => [g.record.value, g.observations.length, g.merge !== undefined])).toEqual([
      ['measure:p1:363:4716596696', 2, false],
      ['measure:p1:363:4815757309', 2, false],
      // Re-attributed as ambiguous: an empty group, so whatever was stored for it is retracted.
      ['measure:p1:363:77', 0, false],
      ['activity:p1:363:2023-10-20.model-1055', 7, false],
      ['workout:p1:363:3094586', 1, false],
      ['sleep:p1:363:2081804182', 2, false],
      ['series:p1:363:intraday.tracker01:2023-10-20T00:00:00Z', 2, true],
    ]);
    expect(grouped.writeOnce).toEqual([]);
    // Every Observation passes the catalogue check Medplum's profile invariants mirror (series samples included).
    for (const observation of grouped.records.flatMap((g) => g.observations)) {
      const check = validateWearableObservation(observation);
      expect(check.ok ? [] : check.errors).toEqual([]);
    }
    expect(grouped.skipped).toEqual([
      {
        key: 'record',
        reason: 'measure group 77 is ambiguous (attrib 1: it may belong to another person on the device)',
      },
    ]);
  });
});
