import type { WithId } from '@medplum/core';
import type { Bundle, BundleEntry, Observation } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { QuotaPacer } from './quota.ts';
import {
  bytesBound,
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
