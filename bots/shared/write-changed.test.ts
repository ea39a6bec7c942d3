import type { WithId } from '@medplum/core';
import type { Bundle, BundleEntry, Observation } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { QuotaPacer } from './quota.ts';
import { mergeSeriesObservation, seriesObservation, seriesWindow } from './sampled-data.ts';
import type { SeriesScope, SeriesWindow } from './sampled-data.ts';
import { UCUM } from './systems.ts';
import {
  bytesBound,
  MERGE_ATTEMPTS,
  mayRace,
  planWrites,
  RACE_HORIZON_MS,
  sameObservation,
  utf8Length,
  writeChanged,
} from './write-changed.ts';
import type { Op } from './write-changed.ts';

const RECORD = 'https://baseline.test/record';
const KEY = 'https://baseline.test/obs';

function obs(record: string, metric: string, value: number, extra: Partial<Observation> = {}): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    identifier: [
      { system: KEY, value: `${record}:${metric}` },
      { system: RECORD, value: record },
    ],
    code: { text: metric },
    valueQuantity: { value, unit: 'ms', system: 'http://unitsofmeasure.org', code: 'ms' },
    meta: { profile: ['https://baseline.test/profile'] },
    ...extra,
  };
}

function stored(o: Observation, id: string, version = '1'): WithId<Observation> {
  return {
    ...o,
    id,
    meta: { ...o.meta, versionId: version, lastUpdated: '2026-11-01T00:00:00Z', author: { reference: 'Bot/x' } },
  };
}

/** What Medplum 5.0.10 answered for a batch entry whose transaction lost a race (seen on the real server). */
const SERIALIZATION_FAILURE: BundleEntry = {
  response: {
    status: '409',
    outcome: {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: 'conflict',
          details: {
            coding: [{ code: '40001' }],
            text: 'could not serialize access due to read/write dependencies among transactions',
          },
        },
      ],
    },
  },
};

/** A tiny in-memory server: searches by identifier, batch writes, and a per-entry quota like Medplum's. */
class FakeServer {
  readonly rows = new Map<string, WithId<Observation>>();
  budget: number;
  batches: number[] = [];
  searches = 0;
  private seq = 0;
  constructor(budget: number) {
    this.budget = budget;
  }
  rateLimitStatus() {
    return [{ name: 'fhirInteractions', remainingUnits: this.budget, secondsUntilReset: 1 }];
  }
  async searchResources(_type: string, query: Record<string, string>): Promise<WithId<Observation>[]> {
    this.searches++;
    this.budget -= 20;
    const wanted = new Set((query.identifier ?? '').split(','));
    return [...this.rows.values()].filter((o) => o.identifier?.some((i) => wanted.has(`${i.system}|${i.value}`)));
  }
  async executeBatch(bundle: Bundle): Promise<Bundle> {
    this.batches.push(bundle.entry?.length ?? 0);
    const entry: BundleEntry[] = (bundle.entry ?? []).map((e) => {
      if (this.budget < 100) {
        return {
          response: {
            status: '429',
            outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'throttled' }] },
          },
        };
      }
      this.budget -= 100;
      const resource = e.resource as Observation;
      if (e.request?.method === 'POST' && e.request.ifNoneExist) {
        // Medplum answers a conditional create that finds a match with 200 and writes nothing.
        const wanted = decodeURIComponent(e.request.ifNoneExist.replace(/^identifier=/, ''));
        const match = [...this.rows.values()].some((o) =>
          o.identifier?.some((i) => `${i.system}|${i.value}` === wanted)
        );
        if (match) {
          return { response: { status: '200' } };
        }
      }
      if (e.request?.method === 'POST') {
        const id = `o${++this.seq}`;
        this.rows.set(id, stored(resource, id));
        return { response: { status: '201' } };
      }
      const id = e.request?.url?.split('/')[1] ?? '';
      const current = this.rows.get(id);
      if (!current || `W/"${current.meta?.versionId}"` !== e.request?.ifMatch) {
        return { response: { status: '412' } };
      }
      this.rows.set(id, stored(resource, id, String(Number(current.meta?.versionId) + 1)));
      return { response: { status: '200' } };
    });
    return { resourceType: 'Bundle', type: 'batch-response', entry };
  }
}

describe('sameObservation', () => {
  it('ignores id and server meta but not values or profiles', () => {
    const a = obs('r1', 'deep', 10);
    expect(sameObservation(stored(a, 'x'), a)).toBe(true);
    expect(sameObservation(stored(a, 'x'), obs('r1', 'deep', 11))).toBe(false);
    expect(sameObservation(stored({ ...a, meta: {} }, 'x'), a)).toBe(false);
  });

  it('compares as JSON: key order and undefined keys do not matter, arrays are ordered, nesting counts', () => {
    const a = obs('r1', 'deep', 10);
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as Observation;
    expect(sameObservation(stored(reordered, 'x'), a)).toBe(true);
    expect(sameObservation(stored(a, 'x'), { ...a, note: undefined })).toBe(true);
    expect(sameObservation(stored(a, 'x'), { ...a, note: [] })).toBe(false);
    const two = { ...a, derivedFrom: [{ reference: 'Observation/1' }, { reference: 'Observation/2' }] };
    expect(sameObservation(stored(two, 'x'), { ...two, derivedFrom: [...two.derivedFrom].reverse() })).toBe(false);
    expect(sameObservation(stored(a, 'x'), { ...a, valueQuantity: { ...a.valueQuantity, unit: 'other' } })).toBe(false);
    expect(sameObservation(stored({ ...a, issued: '2026-01-01' }, 'x'), a)).toBe(false);
    expect(sameObservation(stored(a, 'x'), { ...a, issued: '2026-01-01' })).toBe(false);
  });
});

describe('planWrites', () => {
  it('creates new, updates changed, leaves equal alone and retracts what a record no longer produces', () => {
    const keep = obs('r1', 'deep', 10);
    const change = obs('r1', 'rem', 20);
    const gone = obs('r1', 'light', 30);
    const storedRows = [
      stored(keep, 'a'),
      stored({ ...change, valueQuantity: { ...change.valueQuantity, value: 19 } }, 'b'),
      stored(gone, 'c'),
    ];
    const byKey = new Map(storedRows.map((o) => [`${KEY}|${o.identifier?.[0]?.value}`, o]));
    const byRecord = new Map([[`${RECORD}|r1`, storedRows]]);
    const fresh = obs('r2', 'deep', 5);
    const plan = planWrites(
      {
        records: [
          { record: { system: RECORD, value: 'r1' }, observations: [keep, change] },
          { record: { system: RECORD, value: 'r2' }, observations: [fresh] },
        ],
      },
      byKey,
      byRecord
    );
    expect(plan.unchanged).toBe(1);
    expect(plan.ops.map((op) => [op.kind, op.key.value])).toEqual([
      ['update', 'r1:rem'],
      ['retract', 'r1:light'],
      ['create', 'r2:deep'],
    ]);
    const retract = plan.ops.find((op) => op.kind === 'retract');
    expect(retract?.resource.status).toBe('entered-in-error');
  });

  it('does not retract twice and writes write-once values only when new', () => {
    const retracted = stored({ ...obs('r1', 'light', 30), status: 'entered-in-error' }, 'c');
    const height = obs('body', 'height:1.80', 180);
    const plan = planWrites(
      { records: [{ record: { system: RECORD, value: 'r1' }, observations: [] }], writeOnce: [height] },
      new Map([[`${KEY}|body:height:1.80`, stored(height, 'h')]]),
      new Map([[`${RECORD}|r1`, [retracted]]])
    );
    expect(plan.ops).toEqual([]);
    expect(plan.unchanged).toBe(1);
  });
});

describe('writeChanged', () => {
  const noWait = { sleep: async () => undefined };

  it('writes a new record set once; re-running it writes nothing and costs only searches', async () => {
    const server = new FakeServer(1_000_000);
    const records = Array.from({ length: 50 }, (_, i) => ({
      record: { system: RECORD, value: `r${i}` },
      observations: [obs(`r${i}`, 'deep', i), obs(`r${i}`, 'rem', i + 1)],
    }));
    const first = await writeChanged(server, new QuotaPacer(server, noWait), { records });
    expect(first).toMatchObject({ created: 100, updated: 0, unchanged: 0, failures: [] });
    const pacer = new QuotaPacer(server, noWait);
    const batchesBefore = server.batches.length;
    const again = await writeChanged(server, pacer, { records });
    expect(again).toMatchObject({ created: 0, updated: 0, unchanged: 100, retracted: 0, failures: [] });
    expect(server.batches.length).toBe(batchesBefore);
    // 50 records → 2 searches of ≤ 40 records, 20 points each.
    expect(pacer.spend.points).toBe(40);
  });

  it('re-sends throttled batch entries after the reset and loses nothing', async () => {
    const server = new FakeServer(2_000);
    let resets = 0;
    const pacer = new QuotaPacer(server, {
      sleep: async () => {
        resets++;
        server.budget = 2_000;
      },
    });
    const records = Array.from({ length: 30 }, (_, i) => ({
      record: { system: RECORD, value: `r${i}` },
      observations: [obs(`r${i}`, 'deep', i)],
    }));
    const result = await writeChanged(server, pacer, { records });
    expect(result).toMatchObject({ created: 30, failures: [] });
    expect(server.rows.size).toBe(30);
    expect(resets).toBeGreaterThan(0);
  });

  it('re-sends entries that lost a transaction race (409 "could not serialize access") and loses nothing', async () => {
    const server = new FakeServer(1_000_000);
    const pauses: number[] = [];
    const pacer = new QuotaPacer(server, { sleep: async (ms: number) => void pauses.push(ms) });
    const original = server.executeBatch.bind(server);
    // Real Medplum 5.0.10 under a concurrent recompute: some entries of a batch fail, twice in a row for one of them.
    let round = 0;
    server.executeBatch = async (bundle: Bundle) => {
      round++;
      const entries = bundle.entry ?? [];
      const losing = new Set(round === 1 ? [0, 3] : round === 2 ? [0] : []);
      const sent = await original({ ...bundle, entry: entries.filter((_, i) => !losing.has(i)) });
      const answers = [...(sent.entry ?? [])];
      return {
        ...sent,
        entry: entries.map((_, i) => (losing.has(i) ? SERIALIZATION_FAILURE : (answers.shift() ?? {}))),
      };
    };
    const records = Array.from({ length: 5 }, (_, i) => ({
      record: { system: RECORD, value: `r${i}` },
      observations: [obs(`r${i}`, 'deep', i)],
    }));
    const result = await writeChanged(server, pacer, { records });
    expect(result).toMatchObject({ created: 5, failures: [] });
    expect(server.rows.size).toBe(5);
    expect(server.batches).toEqual([3, 1, 1]);
    expect(pauses).toEqual([250, 500]);
  });

  it('gives up on an entry that keeps losing after three re-sends, with the server’s message', async () => {
    const server = new FakeServer(1_000_000);
    const original = server.executeBatch.bind(server);
    server.executeBatch = async (bundle: Bundle) => {
      const [, ...others] = bundle.entry ?? [];
      const sent = others.length > 0 ? await original({ ...bundle, entry: others }) : { entry: [] };
      return { resourceType: 'Bundle', type: 'batch-response', entry: [SERIALIZATION_FAILURE, ...(sent.entry ?? [])] };
    };
    const result = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [0, 1].map((i) => ({
        record: { system: RECORD, value: `r${i}` },
        observations: [obs(`r${i}`, 'deep', i)],
      })),
    });
    expect(result.created).toBe(1);
    expect(result.failures).toEqual([
      {
        identifier: { system: KEY, value: 'r0:deep' },
        status: '409',
        message: 'could not serialize access due to read/write dependencies among transactions',
      },
    ]);
    expect(server.batches).toEqual([1]);
  });

  it('reports a version conflict as a failure with its status', async () => {
    const server = new FakeServer(1_000_000);
    const record = { system: RECORD, value: 'r1' };
    await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [{ record, observations: [obs('r1', 'deep', 1)] }],
    });
    const original = server.executeBatch.bind(server);
    server.executeBatch = async (bundle: Bundle) => {
      // Another writer updates the row between our read and our write.
      for (const row of server.rows.values()) {
        row.meta = { ...row.meta, versionId: '99' };
      }
      return original(bundle);
    };
    const result = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [{ record, observations: [obs('r1', 'deep', 2)] }],
    });
    expect(result.failures).toEqual([
      { identifier: { system: KEY, value: 'r1:deep' }, status: '412', message: 'no outcome' },
    ]);
  });
});

describe('conditional creates only where two runs can race', () => {
  const now = Date.parse('2026-11-28T12:00:00Z');
  const at = (msAgo: number): Observation =>
    obs('r', 'deep', 1, {
      effectivePeriod: {
        start: new Date(now - msAgo - 3600_000).toISOString(),
        end: new Date(now - msAgo).toISOString(),
      },
    });

  it('recent records (and undated ones) are conditional, older history is a plain POST', () => {
    expect(mayRace(at(60_000), now)).toBe(true);
    expect(mayRace(at(RACE_HORIZON_MS + 60_000), now)).toBe(false);
    expect(mayRace(obs('r', 'deep', 1), now)).toBe(true);
  });

  it('the batch carries ifNoneExist only on the racing entries', async () => {
    // writeChanged plans against the real clock, so the records are dated relative to it.
    const atReal = (msAgo: number): Observation =>
      obs('r', 'deep', 1, {
        effectivePeriod: {
          start: new Date(Date.now() - msAgo - 3600_000).toISOString(),
          end: new Date(Date.now() - msAgo).toISOString(),
        },
      });
    const server = new FakeServer(1_000_000);
    const sent: Bundle[] = [];
    const original = server.executeBatch.bind(server);
    server.executeBatch = async (bundle: Bundle) => {
      sent.push(bundle);
      return original(bundle);
    };
    const recent = {
      ...atReal(0),
      identifier: [
        { system: KEY, value: 'new:deep' },
        { system: RECORD, value: 'new' },
      ],
    };
    const old = {
      ...atReal(30 * 86_400_000),
      identifier: [
        { system: KEY, value: 'old:deep' },
        { system: RECORD, value: 'old' },
      ],
    };
    await writeChanged(server, new QuotaPacer(server, { sleep: async () => undefined }), {
      records: [
        { record: { system: RECORD, value: 'new' }, observations: [recent] },
        { record: { system: RECORD, value: 'old' }, observations: [old] },
      ],
    });
    const requests = sent.flatMap((b) => b.entry ?? []).map((e) => e.request);
    expect(requests).toEqual([
      { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${encodeURIComponent(`${KEY}|new:deep`)}` },
      { method: 'POST', url: 'Observation' },
    ]);
  });
});

describe('batch bodies stay below the server body limit', () => {
  const op = (text: string): Op => ({
    kind: 'create',
    key: { system: 's', value: text.slice(0, 8) },
    resource: { resourceType: 'Observation', status: 'final', code: { text }, valueString: text },
    conditional: false,
  });

  it('counts UTF-8 bytes, not UTF-16 units', () => {
    expect(utf8Length('abc')).toBe(3);
    expect(utf8Length('Größe')).toBe(7);
    expect(utf8Length('€')).toBe(3);
    expect(utf8Length('😀')).toBe(4);
  });

  it('splits by bytes when the entries are large, and by count when they are small', () => {
    const big = Array.from({ length: 10 }, (_, i) => op(`${i}`.repeat(100_000)));
    // Each entry is ~200 kB (code.text and valueString): four fit below 1 MB, five do not.
    expect(bytesBound(big, 200, 1_000_000)).toBe(4);
    const small = Array.from({ length: 300 }, (_, i) => op(`obs-${i}`));
    expect(bytesBound(small, 200, 1_000_000)).toBe(200);
    expect(bytesBound(small, 7, 1_000_000)).toBe(7);
  });

  it('sends an entry larger than the limit alone (it fails alone, with its own status)', () => {
    expect(bytesBound([op('x'.repeat(2_000_000)), op('y')], 200, 1_000_000)).toBe(1);
    expect(bytesBound([], 200, 1_000_000)).toBe(0);
  });
});

describe('series groups (merge)', () => {
  const noWait = { sleep: async () => undefined };
  const SCOPE: SeriesScope = {
    provider: 'withings',
    patient: { reference: 'Patient/p1' },
    device: { reference: 'Device/d1' },
    providerUserId: '42',
    series: 'intraday.dev1',
  };
  // Recent, so creates are conditional (two runs can race on it), as a webhook-driven sync's day is.
  const WINDOW: SeriesWindow = seriesWindow(Date.now(), 'heart-rate');
  const OLD: SeriesWindow = seriesWindow(Date.now() - 60 * 86_400_000, 'heart-rate');

  function series(metric: 'heart-rate' | 'steps', data: string, window = WINDOW, period = 60_000): Observation {
    const code = metric === 'steps' ? '{steps}' : '/min';
    return seriesObservation(SCOPE, metric, window, {
      origin: { value: 0, unit: metric === 'steps' ? 'steps' : 'beats/min', system: UCUM, code },
      period,
      dimensions: 1,
      data,
    });
  }

  function group(...observations: Observation[]): {
    record: { system: string; value: string };
    observations: Observation[];
    merge: typeof mergeSeriesObservation;
  } {
    const record = observations[0]?.identifier?.[1];
    if (!record?.system || !record.value) {
      throw new Error('series Observation without a record identifier');
    }
    return { record: { system: record.system, value: record.value }, observations, merge: mergeSeriesObservation };
  }

  function dataOf(server: FakeServer, metric: string): string[] {
    return [...server.rows.values()]
      .filter((o) => o.code.text === (metric === 'steps' ? 'Steps' : 'Heart rate'))
      .map((o) => o.valueSampledData?.data ?? '');
  }

  it('re-importing the same day writes nothing; a late minute is one PUT with If-Match that keeps the rest', async () => {
    const server = new FakeServer(1_000_000);
    const sent: Bundle[] = [];
    const original = server.executeBatch.bind(server);
    server.executeBatch = async (bundle: Bundle) => {
      sent.push(bundle);
      return original(bundle);
    };
    const first = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', '60 61 E 63'), series('steps', '5 0 12'))],
    });
    expect(first).toMatchObject({ created: 2, updated: 0, failures: [] });

    const again = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', '60 61 E 63'), series('steps', '5 0 12'))],
    });
    expect(again).toMatchObject({ created: 0, updated: 0, unchanged: 2, retracted: 0, failures: [] });
    expect(sent).toHaveLength(1);

    // The minute that was missing arrives alone (a later notification's narrow window).
    const late = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', 'E E 62'))],
    });
    expect(late).toMatchObject({ created: 0, updated: 1, unchanged: 0, retracted: 0, failures: [] });
    expect(sent).toHaveLength(2);
    expect(sent[1]?.entry?.map((e) => e.request)).toEqual([
      { method: 'PUT', url: expect.stringMatching(/^Observation\/o\d+$/), ifMatch: 'W/"1"' },
    ]);
    expect(dataOf(server, 'heart-rate')).toEqual(['60 61 62 63']);
    // Steps were not in the partial fetch and are kept, not retracted.
    expect(dataOf(server, 'steps')).toEqual(['5 0 12']);
    expect([...server.rows.values()].every((o) => o.status === 'final')).toBe(true);
  });

  it('a re-fetch with fewer minutes never erases stored ones', async () => {
    const server = new FakeServer(1_000_000);
    await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', '60 61 62 63', OLD))],
    });
    const result = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', 'E 61', OLD))],
    });
    expect(result).toMatchObject({ created: 0, updated: 0, unchanged: 1, failures: [] });
    expect(dataOf(server, 'heart-rate')).toEqual(['60 61 62 63']);
  });

  it('the same day twice in one sync (two fetch chunks) is merged, not last-one-wins', async () => {
    const server = new FakeServer(1_000_000);
    const result = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', '60 61', OLD)), group(series('heart-rate', 'E E 62 63', OLD))],
    });
    expect(result).toMatchObject({ created: 1, failures: [] });
    expect(dataOf(server, 'heart-rate')).toEqual(['60 61 62 63']);
  });

  it("a PUT that loses to another run (412) re-reads, re-merges and keeps both runs' minutes", async () => {
    const server = new FakeServer(1_000_000);
    await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', '60'))],
    });
    const original = server.executeBatch.bind(server);
    let interfered = false;
    server.executeBatch = async (bundle: Bundle) => {
      if (!interfered) {
        interfered = true;
        // Another sync merged minute 4 in between our read and our write.
        for (const [id, row] of server.rows) {
          server.rows.set(
            id,
            stored({ ...row, valueSampledData: { ...row.valueSampledData!, data: '60 E E E 64' } }, id, '2')
          );
        }
      }
      return original(bundle);
    };
    const result = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', 'E 61'))],
    });
    expect(result).toMatchObject({ created: 0, updated: 1, failures: [] });
    expect(dataOf(server, 'heart-rate')).toEqual(['60 61 E E 64']);
    expect([...server.rows.values()][0]?.meta?.versionId).toBe('3');
  });

  it("a conditional create that finds another run's Observation merges into it instead of dropping its minutes", async () => {
    const server = new FakeServer(1_000_000);
    const original = server.executeBatch.bind(server);
    let interfered = false;
    server.executeBatch = async (bundle: Bundle) => {
      if (!interfered) {
        interfered = true;
        // The other run created the day first, with minute 0 only.
        const rival = series('heart-rate', '70');
        server.rows.set('rival', stored(rival, 'rival'));
      }
      return original(bundle);
    };
    const result = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', 'E 61 62'))],
    });
    expect(result).toMatchObject({ created: 0, updated: 1, failures: [] });
    expect(server.rows.size).toBe(1);
    expect(dataOf(server, 'heart-rate')).toEqual(['70 61 62']);
  });

  it('gives up with a 412 failure, never a silent loss, when every attempt loses a race', async () => {
    const server = new FakeServer(1_000_000);
    await writeChanged(server, new QuotaPacer(server, noWait), { records: [group(series('heart-rate', '60'))] });
    const original = server.executeBatch.bind(server);
    let batches = 0;
    server.executeBatch = async (bundle: Bundle) => {
      batches++;
      for (const [id, row] of server.rows) {
        server.rows.set(id, stored(row, id, String(Number(row.meta?.versionId) + 1)));
      }
      return original(bundle);
    };
    const result = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', 'E 61'))],
    });
    expect(batches).toBe(MERGE_ATTEMPTS);
    expect(result.updated).toBe(0);
    expect(result.failures).toEqual([
      {
        identifier: series('heart-rate', '').identifier?.[0],
        status: '412',
        message: `the series kept changing under concurrent writers; gave up after ${MERGE_ATTEMPTS} merges`,
      },
    ]);
  });

  it('a merge the library refuses (another period) is a failure for that key; the others are written', async () => {
    const server = new FakeServer(1_000_000);
    await writeChanged(server, new QuotaPacer(server, noWait), { records: [group(series('heart-rate', '60', OLD))] });
    const result = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', '61', OLD, 300_000), series('steps', '7', OLD))],
    });
    expect(result.created).toBe(1);
    expect(result.failures).toEqual([
      {
        identifier: series('heart-rate', '', OLD).identifier?.[0],
        status: 'merge',
        message: expect.stringContaining('period 60000 vs 300000 ms'),
      },
    ]);
    expect(dataOf(server, 'heart-rate')).toEqual(['60']);
  });

  it('a retracted series is replaced by the new fetch, not merged back to life', async () => {
    const server = new FakeServer(1_000_000);
    server.rows.set('x', stored({ ...series('heart-rate', '60 61', OLD), status: 'entered-in-error' }, 'x'));
    const result = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [group(series('heart-rate', 'E E 62', OLD))],
    });
    expect(result).toMatchObject({ updated: 1, failures: [] });
    expect(server.rows.get('x')).toMatchObject({ status: 'final', valueSampledData: { data: 'E E 62' } });
  });

  it('non-series groups beside a series group still retract what their record no longer produces', async () => {
    const server = new FakeServer(1_000_000);
    const record = { system: RECORD, value: 'r1' };
    await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [
        { record, observations: [obs('r1', 'deep', 1), obs('r1', 'rem', 2)] },
        group(series('heart-rate', '60', OLD)),
      ],
    });
    const result = await writeChanged(server, new QuotaPacer(server, noWait), {
      records: [{ record, observations: [obs('r1', 'deep', 1)] }, group(series('steps', '3', OLD))],
    });
    expect(result).toMatchObject({ created: 1, retracted: 1, failures: [] });
    expect(dataOf(server, 'heart-rate')).toEqual(['60']);
  });
});
