import { describe, expect, test } from 'vitest';
import { ProviderHttpError } from '../shared/http.ts';
import type { RetractPlan } from '../shared/provider.ts';
import { mergeSeriesObservation } from '../shared/sampled-data.ts';
import { buildTask, readTaskInput } from '../shared/tasks.ts';
import type { BuildTaskParams } from '../shared/tasks.ts';
import type { DateRange, OuraDocuments, TimeRange } from './client.ts';
import { ouraRecordIdentifier } from './mappers.ts';
import { MAPPED_DATA_TYPES, SleepSchema } from './schemas.ts';
import type { OuraDataType, OuraHeartRateRow } from './schemas.ts';
import { confirmOuraDeletion, fetchOuraPlan, groupOuraRecords, heartRateRangeOf, planOuraSync } from './sync-plan.ts';
import type { OuraFetchPlan, OuraRecords } from './sync-plan.ts';
import {
  DAILY_ACTIVITY,
  DAILY_READINESS,
  DAILY_SLEEP,
  DAILY_SPO2,
  DAILY_STRESS,
  HEART_RATE_ROWS,
  OURA_USER_ID,
  SLEEP,
  WORKOUT,
} from './test-fixtures.ts';

const now = new Date('2024-01-20T12:00:00Z');
const ctx = { providerUserId: OURA_USER_ID, now };
const mapCtx = {
  patient: { reference: 'Patient/p1' as const },
  device: { reference: 'Device/d1' as const },
  providerUserId: OURA_USER_ID,
};

function input(extra: Partial<BuildTaskParams>) {
  return readTaskInput({
    ...buildTask({
      kind: 'sync',
      patient: { reference: 'Patient/p1' },
      connection: { reference: 'Basic/c1' },
      provider: 'oura',
      dedupeKey: 'oura:test',
      ...extra,
    }),
    id: 't1',
  });
}

const FIXTURES: { [K in OuraDataType]: OuraDocuments[K] } = {
  daily_sleep: DAILY_SLEEP,
  daily_readiness: DAILY_READINESS,
  daily_activity: DAILY_ACTIVITY,
  daily_spo2: DAILY_SPO2,
  daily_stress: DAILY_STRESS,
  sleep: SleepSchema.parse(SLEEP),
  workout: WORKOUT,
};

/** A fake client: per collection a list, or an error to throw; every call recorded. */
function fakeClient(
  options: {
    lists?: Partial<Record<OuraDataType, unknown[]>>;
    fail?: Partial<Record<OuraDataType | 'heartrate', ProviderHttpError>>;
    documents?: Record<string, unknown>;
    heartRate?: OuraHeartRateRow[];
  } = {}
) {
  const calls: string[] = [];
  const client = {
    listDocuments: async <K extends OuraDataType>(_t: string, type: K, range: DateRange) => {
      calls.push(`list ${type} ${range.startDate}..${range.endDate}`);
      const error = options.fail?.[type];
      if (error) {
        throw error;
      }
      return (options.lists?.[type] ?? [FIXTURES[type]]) as OuraDocuments[K][];
    },
    getDocument: async <K extends OuraDataType>(_t: string, type: K, id: string) => {
      calls.push(`get ${type} ${id}`);
      const error = options.fail?.[type];
      if (error) {
        throw error;
      }
      return options.documents?.[`${type}/${id}`] as OuraDocuments[K] | undefined;
    },
    listHeartRate: async (_t: string, range: TimeRange) => {
      calls.push(`heartrate ${range.start}..${range.end}`);
      if (options.fail?.heartrate) {
        throw options.fail.heartrate;
      }
      return options.heartRate ?? HEART_RATE_ROWS;
    },
  };
  return { client, calls };
}

const forbidden = (endpoint: string) =>
  new ProviderHttpError({ provider: 'oura', endpoint, kind: 'forbidden', status: 403 });

describe('planOuraSync', () => {
  test('a window: every mapped collection with padded dates, heart rate with a 24-hour overlap', () => {
    const plan = planOuraSync(input({ window: { start: '2024-01-10T00:00:00Z', end: '2024-01-20T00:00:00Z' } }), ctx);
    expect(plan).toEqual({
      kind: 'window',
      // 24 h overlap (→ 01-09) and one day of padding on each side for Oura's date semantics.
      dates: { startDate: '2024-01-08', endDate: '2024-01-21' },
      collections: MAPPED_DATA_TYPES,
      heartRate: { start: '2024-01-08T23:57:30.000Z', end: '2024-01-20T23:57:30.000Z' },
    });
  });

  test('create / update events fetch the one document', () => {
    expect(planOuraSync(input({ recordType: 'sleep', recordId: 'abc', eventType: 'update.sleep' }), ctx)).toEqual({
      kind: 'document',
      dataType: 'sleep',
      documentId: 'abc',
    });
    expect(
      planOuraSync(input({ recordType: 'daily_spo2', recordId: 'x', eventType: 'create.daily_spo2' }), ctx)
    ).toEqual({ kind: 'document', dataType: 'daily_spo2', documentId: 'x' });
  });

  test('a delete event retracts the record of that patient and Oura account', () => {
    expect(planOuraSync(input({ recordType: 'workout', recordId: 'w1', eventType: 'delete.workout' }), ctx)).toEqual({
      kind: 'retract',
      records: [{ recordType: 'workout', ...ouraRecordIdentifier('workout', 'p1', OURA_USER_ID, 'w1') }],
    });
  });

  test.each([
    ['Unknown Oura event type update.tag', { recordId: 'x', eventType: 'update.tag' }],
    ['Unknown Oura event type sleep.updated', { recordId: 'x', eventType: 'sleep.updated' }],
    ['Unknown Oura event type update.sleep.x', { recordId: 'x', eventType: 'update.sleep.x' }],
    ['Task for update.sleep has no record id', { eventType: 'update.sleep' }],
    ['Oura sync Task has neither a window nor an event', {}],
  ] as const)('%s', (message, extra) => {
    expect(() => planOuraSync(input(extra), ctx)).toThrow(message);
  });
});

describe('fetchOuraPlan', () => {
  const windowPlan = planOuraSync(
    input({ window: { start: '2024-01-10T00:00:00Z', end: '2024-01-20T00:00:00Z' } }),
    ctx
  ) as OuraFetchPlan;

  test('a window reads the seven collections in order, then heart rate, and dedupes documents by id', async () => {
    const { client, calls } = fakeClient({ lists: { daily_sleep: [DAILY_SLEEP, { ...DAILY_SLEEP, score: 70 }] } });
    const records = await fetchOuraPlan(client, 'at', windowPlan);
    expect(calls).toEqual([
      ...MAPPED_DATA_TYPES.map((t) => `list ${t} 2024-01-08..2024-01-21`),
      'heartrate 2024-01-08T23:57:30.000Z..2024-01-20T23:57:30.000Z',
    ]);
    expect(records.documents.daily_sleep).toEqual([{ ...DAILY_SLEEP, score: 70 }]);
    expect(records.heartRate).toHaveLength(3);
    expect(records.refused).toEqual([]);
  });

  test('403 on a collection or on heart rate skips it with a reason; the rest is still read', async () => {
    const { client } = fakeClient({
      fail: { daily_spo2: forbidden('GET /v2/usercollection/daily_spo2'), heartrate: forbidden('GET heartrate') },
    });
    const records = await fetchOuraPlan(client, 'at', windowPlan);
    expect(records.refused).toEqual([
      {
        key: 'daily_spo2',
        reason:
          'Oura refused daily_spo2 (403: the owner did not grant its scope, or their Oura membership has expired)',
      },
      {
        key: 'heartrate',
        reason: 'Oura refused heartrate (403: the owner did not grant its scope, or their Oura membership has expired)',
      },
    ]);
    expect(records.documents.daily_spo2).toEqual([]);
    expect(records.documents.workout).toHaveLength(1);
  });

  test('any other error fails the fetch (the Task retries)', async () => {
    const limited = new ProviderHttpError({
      provider: 'oura',
      endpoint: 'GET /v2/usercollection/sleep',
      kind: 'rate-limited',
      status: 429,
      retryAfterSeconds: 30,
    });
    const { client } = fakeClient({ fail: { sleep: limited } });
    await expect(fetchOuraPlan(client, 'at', windowPlan)).rejects.toBe(limited);
  });

  test('a document event: the document, or `missing` when Oura answers 404', async () => {
    const { client, calls } = fakeClient({
      documents: { 'sleep/s1': SleepSchema.parse(SLEEP), 'workout/w1': WORKOUT },
    });
    const found = await fetchOuraPlan(client, 'at', { kind: 'document', dataType: 'sleep', documentId: 's1' });
    expect(found.documents.sleep).toHaveLength(1);
    await fetchOuraPlan(client, 'at', { kind: 'document', dataType: 'workout', documentId: 'w1' });
    const gone = await fetchOuraPlan(client, 'at', { kind: 'document', dataType: 'workout', documentId: 'w9' });
    expect(gone.missing).toEqual(['workout w9']);
    // A sleep period brings the heart rate of its bedtime (Oura has no heart rate webhook); a workout does not.
    expect(calls).toEqual([
      'get sleep s1',
      'heartrate 2024-01-13T23:57:30.000Z..2024-01-15T23:57:30.000Z',
      'get workout w1',
      'get workout w9',
    ]);
    expect(found.heartRate).toHaveLength(3);
    const refused = await fetchOuraPlan(fakeClient({ fail: { workout: forbidden('x') } }).client, 'at', {
      kind: 'document',
      dataType: 'workout',
      documentId: 'w9',
    });
    expect(refused.refused.map((r) => r.key)).toEqual(['workout']);
  });
});

describe('heartRateRangeOf', () => {
  test('a daily activity: the UTC days of its 24 hours; a sleep: of its bedtime; others and empty periods: none', () => {
    // Whole UTC days of 5-minute slots (each day from 23:57:30 before it): a read that began inside a slot would overwrite that slot's stored value with part of it.
    expect(heartRateRangeOf(DAILY_ACTIVITY)).toEqual({
      start: '2024-01-14T23:57:30.000Z',
      end: '2024-01-16T23:57:30.000Z',
    });
    expect(heartRateRangeOf(SleepSchema.parse(SLEEP))).toEqual({
      start: '2024-01-13T23:57:30.000Z',
      end: '2024-01-15T23:57:30.000Z',
    });
    expect(heartRateRangeOf(DAILY_SPO2)).toBeUndefined();
    expect(heartRateRangeOf(SleepSchema.parse({ ...SLEEP, bedtime_end: SLEEP.bedtime_start }))).toBeUndefined();
  });

  test('a daily activity event whose heart rate is refused (403) keeps the activity and says why', async () => {
    const { client } = fakeClient({
      documents: { 'daily_activity/a1': DAILY_ACTIVITY },
      fail: { heartrate: forbidden('GET heartrate') },
    });
    const records = await fetchOuraPlan(client, 'at', {
      kind: 'document',
      dataType: 'daily_activity',
      documentId: 'a1',
    });
    expect(records.documents.daily_activity).toHaveLength(1);
    expect(records.refused.map((r) => r.key)).toEqual(['heartrate']);
  });
});

describe('confirmOuraDeletion', () => {
  const plan = planOuraSync(
    input({ recordType: 'sleep', recordId: 's1', eventType: 'delete.sleep' }),
    ctx
  ) as RetractPlan;
  const taskInput = { recordType: 'sleep', recordId: 's1' };

  test('confirmed by a 404', async () => {
    expect(await confirmOuraDeletion(fakeClient().client, 'at', plan, taskInput)).toEqual(plan.records);
  });

  test('confirmed by a sleep period now typed "deleted"', async () => {
    const { client } = fakeClient({ documents: { 'sleep/s1': SleepSchema.parse({ ...SLEEP, type: 'deleted' }) } });
    expect(await confirmOuraDeletion(client, 'at', plan, taskInput)).toEqual(plan.records);
  });

  test('refused while the document exists (a forged or stale delete)', async () => {
    const { client } = fakeClient({ documents: { 'sleep/s1': SleepSchema.parse(SLEEP) } });
    expect(await confirmOuraDeletion(client, 'at', plan, taskInput)).toEqual([]);
  });

  test('an unmapped record type confirms nothing; a server error propagates', async () => {
    expect(await confirmOuraDeletion(fakeClient().client, 'at', plan, { recordType: 'tag', recordId: 's1' })).toEqual(
      []
    );
    const down = new ProviderHttpError({ provider: 'oura', endpoint: 'x', kind: 'server', status: 502 });
    await expect(confirmOuraDeletion(fakeClient({ fail: { sleep: down } }).client, 'at', plan, taskInput)).rejects.toBe(
      down
    );
  });
});

describe('groupOuraRecords', () => {
  function records(extra: Partial<OuraRecords> = {}): OuraRecords {
    return {
      documents: {
        daily_sleep: [DAILY_SLEEP],
        daily_readiness: [DAILY_READINESS],
        daily_activity: [DAILY_ACTIVITY],
        daily_spo2: [DAILY_SPO2],
        daily_stress: [DAILY_STRESS],
        sleep: [SleepSchema.parse(SLEEP)],
        workout: [WORKOUT],
      },
      heartRate: HEART_RATE_ROWS,
      missing: [],
      refused: [],
      ...extra,
    };
  }

  test('one group per document keyed by its record identifier, one merging group per series window', () => {
    const batch = groupOuraRecords(records(), mapCtx);
    const documentGroups = batch.records.filter((g) => g.merge === undefined);
    expect(documentGroups.map((g) => [g.record.value, g.observations.length])).toEqual([
      [`daily_sleep:p1:${OURA_USER_ID}:${DAILY_SLEEP.id}`, 1],
      [`daily_readiness:p1:${OURA_USER_ID}:${DAILY_READINESS.id}`, 2],
      [`daily_activity:p1:${OURA_USER_ID}:${DAILY_ACTIVITY.id}`, 6],
      [`daily_spo2:p1:${OURA_USER_ID}:${DAILY_SPO2.id}`, 1],
      [`daily_stress:p1:${OURA_USER_ID}:${DAILY_STRESS.id}`, 2],
      [`sleep:p1:${OURA_USER_ID}:${SLEEP.id}`, 4],
      [`workout:p1:${OURA_USER_ID}:${WORKOUT.id}`, 1],
    ]);
    const seriesGroups = batch.records.filter((g) => g.merge !== undefined);
    expect(seriesGroups.map((g) => g.record.value)).toEqual([
      `series:p1:${OURA_USER_ID}:sleep:2024-01-14T00:00:00Z`,
      `series:p1:${OURA_USER_ID}:sleep:2024-01-14T00:00:00Z`,
      `series:p1:${OURA_USER_ID}:heartrate:2024-01-12T00:00:00Z`,
    ]);
    for (const group of seriesGroups) {
      expect(group.merge).toBe(mergeSeriesObservation);
      expect(group.observations).toHaveLength(1);
    }
    expect(batch.skipped).toEqual([]);
    expect(batch.writeOnce).toEqual([]);
  });

  test('a deleted sleep period is an empty group (the writer retracts what it produced), with its reason', () => {
    const batch = groupOuraRecords(
      records({
        documents: { ...records().documents, sleep: [SleepSchema.parse({ ...SLEEP, type: 'deleted' })] },
        heartRate: [],
      }),
      mapCtx
    );
    const group = batch.records.find((g) => g.record.value.startsWith('sleep:'));
    expect(group?.observations).toEqual([]);
    expect(batch.records.filter((g) => g.merge)).toEqual([]);
    expect(batch.skipped).toEqual([{ key: 'record', reason: `sleep ${SLEEP.id} is deleted, not a long_sleep` }]);
  });

  test('missing and refused pass through to the batch', () => {
    const refused = [{ key: 'heartrate', reason: 'r' }];
    const batch = groupOuraRecords(records({ missing: ['workout w9'], refused, heartRate: [] }), mapCtx);
    expect(batch.missing).toEqual(['workout w9']);
    expect(batch.skipped).toEqual(refused);
  });
});
