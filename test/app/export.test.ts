import type { Bundle, BundleEntry, Communication, Consent, Flag, Observation, Resource } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  chunkTransaction,
  compareRecords,
  EXPORT_COUNTS_EXTENSION,
  EXPORT_IDENTIFIER_SYSTEM,
  EXPORT_TAG,
  EXPORTED_TYPES,
  exportBundle,
  exportRecord,
  exportRecordNdjson,
  fromNdjson,
  importChunks,
  parseExportBundle,
  SOURCE_REFERENCE_EXTENSION,
  toImportTransaction,
  toNdjson,
} from '../../app/src/lib/export.ts';
import type { ExportClient, ExportedType } from '../../app/src/lib/export.ts';
import { externalDisplay } from '../../app/src/lib/export-references.ts';
import { ownerPolicy } from '../../data/core/access-policies.ts';
import { BOT_DEFINITIONS } from '../../data/core/bots.ts';

const BASE = 'https://a.example/fhir/R4/';
const OTHER_BASE = 'https://b.example/fhir/R4/';
const WHOOP = 'https://baseline.health/fhir/identifier/whoop';
// A minute series, so its profile is the intraday one (the wearable profile takes single values only).
const PROFILE = 'https://baseline.health/fhir/StructureDefinition/baseline-intraday-observation';

function serverMeta(version: string): Resource['meta'] {
  return {
    versionId: version,
    lastUpdated: '2026-11-30T10:00:00.000Z',
    author: { reference: 'Bot/sync-bot' },
    project: 'project-a',
    compartment: [{ reference: 'Project/project-a' }, { reference: 'Patient/p1' }],
  };
}

/** A small record with every shape the export must carry: see the test names. */
function record(): Resource[] {
  const raw: Observation = {
    resourceType: 'Observation',
    id: 'o1',
    meta: { ...serverMeta('3'), profile: [PROFILE], tag: [{ system: 'https://x.example/tag', code: 't' }] },
    status: 'final',
    identifier: [{ system: WHOOP, value: 'cycle-1:hr' }],
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    subject: { reference: 'Patient/p1' },
    device: { reference: 'Device/d1' },
    effectivePeriod: { start: '2026-11-29T00:00:00Z', end: '2026-11-29T01:00:00Z' },
    valueSampledData: {
      origin: { value: 0, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      period: 60000,
      dimensions: 1,
      data: '61 62 E 64',
    },
  };
  const components: Observation = {
    resourceType: 'Observation',
    id: 'o2',
    meta: serverMeta('1'),
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2026-11-29T07:00:00Z',
    extension: [
      { url: 'https://baseline.health/fhir/StructureDefinition/source', valueReference: { reference: 'Device/d1' } },
      { url: 'https://baseline.health/fhir/StructureDefinition/note', valueString: 'cuff' },
    ],
    component: [
      { code: { text: 'systolic' }, valueQuantity: { value: 120, unit: 'mm[Hg]' } },
      { code: { text: 'diastolic' }, valueQuantity: { value: 80, unit: 'mm[Hg]' } },
    ],
  };
  const derived: Observation = {
    resourceType: 'Observation',
    id: 'o3',
    meta: serverMeta('2'),
    status: 'final',
    code: { coding: [{ system: 'https://baseline.health/fhir/CodeSystem/baseline-metrics', code: 'baseline-band' }] },
    subject: { reference: BASE + 'Patient/p1' },
    derivedFrom: [
      { reference: 'Observation/o1/_history/3' },
      { reference: 'Observation/o2' },
      { type: 'Observation', identifier: { system: WHOOP, value: 'cycle-0:hr' } },
    ],
    valueRange: { low: { value: 55 }, high: { value: 65 } },
  };
  const consent: Consent = {
    resourceType: 'Consent',
    id: 'c1',
    meta: { ...serverMeta('1'), author: { reference: 'Patient/p1' } },
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: 'Patient/p1' },
    performer: [{ reference: 'Patient/p1' }],
    provision: {
      type: 'permit',
      period: { start: '2026-12-01', end: '2027-01-01' },
      actor: [
        { role: { text: 'recipient' }, reference: { reference: 'Practitioner/pr1', display: 'Jordan Lee' } },
        { role: { text: 'custodian' }, reference: { reference: 'Organization/org1' } },
      ],
    },
  };
  const flag: Flag = {
    resourceType: 'Flag',
    id: 'f1',
    meta: serverMeta('1'),
    status: 'active',
    code: { text: 'HRV below baseline' },
    subject: { reference: 'Patient/p1' },
  };
  const message: Communication = {
    resourceType: 'Communication',
    id: 'm1',
    meta: serverMeta('1'),
    status: 'completed',
    subject: { reference: 'Patient/p1' },
    recipient: [{ reference: 'Patient/p1' }],
    sender: { reference: 'Bot/analytics', display: 'analytics' },
    about: [{ reference: 'Flag/f1' }],
    payload: [{ contentString: 'Your HRV is below your baseline.' }],
  };
  return [
    { resourceType: 'Patient', id: 'p1', meta: serverMeta('1'), name: [{ given: ['Alex'], family: 'Rivera' }] },
    {
      resourceType: 'Device',
      id: 'd1',
      meta: serverMeta('1'),
      patient: { reference: 'Patient/p1' },
      manufacturer: 'WHOOP',
    },
    derived,
    raw,
    components,
    consent,
    message,
    flag,
    {
      resourceType: 'Task',
      id: 't1',
      meta: serverMeta('4'),
      status: 'completed',
      intent: 'order',
      for: { reference: 'Patient/p1' },
      focus: { reference: 'Basic/connection-1' },
      owner: { reference: BASE + 'Bot/sync-bot' },
    },
  ];
}

function bundleOf(resources: readonly Resource[], base = BASE): Bundle {
  return exportBundle(
    resources.map((resource) => ({ fullUrl: `${base}${resource.resourceType}/${resource.id}`, resource })),
    { id: 'e1', timestamp: '2026-12-01T00:00:00.000Z', patient: 'Patient/p1', source: base }
  );
}

function counter(): () => string {
  let n = 0;
  return () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
}

/**
 * What a FHIR server does with the transaction: new ids for every entry, urns in references replaced by them, its
 * own meta. Then re-exported from that server.
 */
function importOnServer(transaction: Bundle, prefix = 'new'): Bundle {
  const ids = new Map<string, string>();
  (transaction.entry ?? []).forEach((e, i) => {
    ids.set(e.fullUrl ?? '', `${e.resource?.resourceType}/${prefix}-${i}`);
  });
  const entries: BundleEntry[] = (transaction.entry ?? []).map((e) => {
    const text = JSON.stringify(e.resource).replace(/urn:uuid:[0-9a-f-]{36}/g, (urn) => ids.get(urn) ?? urn);
    const key = ids.get(e.fullUrl ?? '') ?? '';
    const resource = {
      ...(JSON.parse(text) as Resource),
      id: key.split('/')[1],
      meta: { ...(JSON.parse(text) as Resource).meta, versionId: '1', lastUpdated: '2026-12-02T00:00:00.000Z' },
    } as Resource;
    return { fullUrl: OTHER_BASE + key, resource };
  });
  return exportBundle(entries, {
    id: 'e2',
    timestamp: '2026-12-02T00:00:00.000Z',
    patient: ids.get(transaction.entry?.[0]?.fullUrl ?? '') ?? '',
    source: OTHER_BASE,
  });
}

function entryFor(transaction: Bundle, predicate: (r: Resource) => boolean): BundleEntry {
  const found = transaction.entry?.find((e) => e.resource && predicate(e.resource));
  if (!found) {
    throw new Error('no such entry');
  }
  return found;
}

function urnOf(transaction: Bundle, type: string, pick: (r: Resource) => boolean = () => true): string {
  return entryFor(transaction, (r) => r.resourceType === type && pick(r)).fullUrl ?? '';
}

describe('toImportTransaction', () => {
  const original = bundleOf(record());
  const tx = toImportTransaction(original, { newUuid: counter() });

  test('every resource is a POST with its own urn:uuid fullUrl and no id or server meta', () => {
    expect(tx.type).toBe('transaction');
    expect(tx.entry).toHaveLength(record().length);
    const urls = tx.entry?.map((e) => e.fullUrl) ?? [];
    expect(new Set(urls).size).toBe(urls.length);
    for (const entry of tx.entry ?? []) {
      expect(entry.fullUrl).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
      expect(entry.request).toEqual({ method: 'POST', url: entry.resource?.resourceType });
      expect(entry.resource?.id).toBeUndefined();
      const meta = entry.resource?.meta ?? {};
      for (const field of ['versionId', 'lastUpdated', 'author', 'project', 'compartment']) {
        expect(meta).not.toHaveProperty(field);
      }
    }
    // The record's own meta stays.
    const raw = entryFor(tx, (r) => r.resourceType === 'Observation' && r.meta?.profile !== undefined).resource;
    expect(raw?.meta).toEqual({ profile: [PROFILE], tag: [{ system: 'https://x.example/tag', code: 't' }] });
  });

  test('references between exported resources point at their urns, also absolute and versioned ones', () => {
    const patient = urnOf(tx, 'Patient');
    const device = urnOf(tx, 'Device');
    const raw = urnOf(tx, 'Observation', (r) => (r as Observation).valueSampledData !== undefined);
    const components = urnOf(tx, 'Observation', (r) => (r as Observation).component !== undefined);
    const derived = entryFor(tx, (r) => (r as Observation).derivedFrom !== undefined).resource as Observation;
    expect(derived.subject).toEqual({ reference: patient });
    expect(derived.derivedFrom).toEqual([
      { reference: raw },
      { reference: components },
      // A logical reference by identifier has no literal to rewrite and stays as it was.
      { type: 'Observation', identifier: { system: WHOOP, value: 'cycle-0:hr' } },
    ]);
    const withExtension = entryFor(tx, (r) => (r as Observation).component !== undefined).resource as Observation;
    expect(withExtension.extension?.[0]?.valueReference).toEqual({ reference: device });
    expect(withExtension.extension?.[1]).toEqual({
      url: 'https://baseline.health/fhir/StructureDefinition/note',
      valueString: 'cuff',
    });
    const message = entryFor(tx, (r) => r.resourceType === 'Communication').resource as Communication;
    expect(message.about).toEqual([{ reference: urnOf(tx, 'Flag') }]);
    expect(message.recipient).toEqual([{ reference: patient }]);
    const consent = entryFor(tx, (r) => r.resourceType === 'Consent').resource as Consent;
    expect(consent.patient).toEqual({ reference: patient });
    expect(consent.performer).toEqual([{ reference: patient }]);
  });

  test('references to resources outside the export keep display and the source URL, never a literal', () => {
    const consent = entryFor(tx, (r) => r.resourceType === 'Consent').resource as Consent;
    expect(consent.provision?.actor?.[0]?.reference).toEqual({
      display: 'Jordan Lee',
      extension: [{ url: SOURCE_REFERENCE_EXTENSION, valueUri: BASE + 'Practitioner/pr1' }],
    });
    expect(consent.provision?.actor?.[1]?.reference).toEqual({
      display: externalDisplay(BASE + 'Organization/org1'),
      extension: [{ url: SOURCE_REFERENCE_EXTENSION, valueUri: BASE + 'Organization/org1' }],
    });
    const task = entryFor(tx, (r) => r.resourceType === 'Task').resource;
    const text = JSON.stringify(task);
    expect(text).not.toContain('"reference":"Basic/');
    expect(text).not.toContain('"reference":"' + BASE);
    expect(text).toContain(`"valueUri":"${BASE}Basic/connection-1"`);
    expect(text).toContain(`"valueUri":"${BASE}Bot/sync-bot"`);
    for (const entry of tx.entry ?? []) {
      for (const [, literal] of JSON.stringify(entry.resource).matchAll(/"reference":"([^"]+)"/g)) {
        expect(literal).toMatch(/^urn:uuid:/);
      }
    }
  });

  test('every resource comes after the resources it references', () => {
    const position = new Map(tx.entry?.map((e, i) => [e.fullUrl ?? '', i]));
    expect(tx.entry?.[0]?.resource?.resourceType).toBe('Patient');
    tx.entry?.forEach((entry, i) => {
      for (const [urn] of JSON.stringify(entry.resource).matchAll(/urn:uuid:[0-9a-f-]{36}/g)) {
        expect(position.get(urn)).toBeLessThan(i);
      }
    });
  });

  test('imported on another server and exported again, the record compares equal', () => {
    const reexported = importOnServer(tx);
    const comparison = compareRecords(original, reexported);
    expect(comparison.differences).toEqual([]);
    expect(comparison.equal).toBe(true);
    expect(comparison.counts).toEqual({
      Patient: [1, 1],
      Device: [1, 1],
      Observation: [3, 3],
      Consent: [1, 1],
      Communication: [1, 1],
      Flag: [1, 1],
      Task: [1, 1],
    });
    // Importing the re-export again changes nothing either: outside references stay as imported.
    const again = importOnServer(toImportTransaction(reexported, { newUuid: counter() }), 'again');
    expect(compareRecords(original, again).differences).toEqual([]);
    expect(compareRecords(reexported, again).differences).toEqual([]);
  });

  test('cut into chunks, each chunk resolving earlier chunks by their new ids, the result is the same', () => {
    const chunks = importChunks(tx, { maxEntries: 2, maxBytes: 1_000_000 });
    expect(chunks.length).toBe(Math.ceil(record().length / 2));
    const created = new Map<string, string>();
    const entries: BundleEntry[] = [];
    for (const chunk of chunks) {
      const body = chunkTransaction(chunk, created);
      // Within a chunk only its own urns remain.
      const own = new Set(chunk.entries.map((e) => e.fullUrl));
      for (const [urn] of JSON.stringify(body).matchAll(/urn:uuid:[0-9a-f-]{36}/g)) {
        expect(own.has(urn)).toBe(true);
      }
      const server = importOnServer(body, `chunk${chunk.start}`);
      server.entry?.forEach((e, i) => {
        created.set(chunk.entries[i]?.fullUrl ?? '', `${e.resource?.resourceType}/${e.resource?.id}`);
        entries.push(e);
      });
    }
    const reexported = exportBundle(entries, {
      id: 'e3',
      timestamp: '2026-12-02T00:00:00.000Z',
      patient: created.get(urnOf(tx, 'Patient')) ?? '',
      source: OTHER_BASE,
    });
    expect(compareRecords(original, reexported).differences).toEqual([]);
  });

  test('chunks respect the byte limit and never split a reference cycle', () => {
    const a: Observation = {
      resourceType: 'Observation',
      id: 'a',
      status: 'final',
      code: { text: 'a' },
      hasMember: [{ reference: 'Observation/b' }],
    };
    const b: Observation = {
      resourceType: 'Observation',
      id: 'b',
      status: 'final',
      code: { text: 'b' },
      derivedFrom: [{ reference: 'Observation/a' }],
    };
    const c: Observation = { resourceType: 'Observation', id: 'c', status: 'final', code: { text: 'c' } };
    const cyclic = toImportTransaction(bundleOf([a, b, c]), { newUuid: counter() });
    // c has no references and goes first; the cycle keeps its order at the end.
    expect(cyclic.entry?.map((e) => (e.resource as Observation).code.text)).toEqual(['c', 'a', 'b']);
    const chunks = importChunks(cyclic, { maxEntries: 1, maxBytes: 1_000_000 });
    expect(chunks.map((ch) => ch.entries.length)).toEqual([1, 2]);
    const big = toImportTransaction(bundleOf(record()), { newUuid: counter() });
    const bySize = importChunks(big, { maxEntries: 100, maxBytes: 1200 });
    expect(bySize.length).toBeGreaterThan(1);
    for (const chunk of bySize) {
      const size = chunk.entries.reduce((sum, e) => sum + JSON.stringify(e).length + 1, 0);
      expect(chunk.entries.length === 1 || size <= 1200).toBe(true);
    }
  });
});

describe('compareRecords', () => {
  const original = bundleOf(record());

  function changed(edit: (resources: Resource[]) => void): Bundle {
    const resources = record();
    edit(resources);
    return bundleOf(resources);
  }

  function find<T extends Resource>(resources: Resource[], id: string): T {
    return resources.find((r) => r.id === id) as T;
  }

  test('ignores ids, server meta, key order, entry order and relative versus absolute references', () => {
    const shuffled = record()
      .reverse()
      .map((r) => {
        const { meta: _meta, ...rest } = r;
        const reordered = Object.fromEntries(Object.entries(rest).reverse()) as unknown as Resource;
        return r.meta?.profile ? { ...reordered, meta: { profile: r.meta.profile, tag: r.meta.tag } } : reordered;
      });
    const comparison = compareRecords(original, bundleOf(shuffled));
    expect(comparison.differences).toEqual([]);
  });

  test('a changed sampled value, component, extension or profile is a difference', () => {
    const edits: [string, (resources: Resource[]) => void][] = [
      [
        'o1',
        (rs) => {
          const o = find<Observation>(rs, 'o1');
          o.valueSampledData = { ...o.valueSampledData, data: '61 62 E 65' } as Observation['valueSampledData'];
        },
      ],
      [
        'o2',
        (rs) => {
          const o = find<Observation>(rs, 'o2');
          o.component = o.component?.slice().reverse();
        },
      ],
      ['o2', (rs) => find<Observation>(rs, 'o2').extension?.pop()],
      ['o1', (rs) => (find<Observation>(rs, 'o1').meta = serverMeta('9'))],
      ['o3', (rs) => find<Observation>(rs, 'o3').derivedFrom?.pop()],
    ];
    for (const [id, edit] of edits) {
      const comparison = compareRecords(original, changed(edit));
      expect(comparison.equal).toBe(false);
      const [onlyA, onlyB] = [' only in a, ', ' only in b, '].map((marker) =>
        comparison.differences.filter((d) => d.includes(marker)).join('\n')
      );
      expect(onlyA).toContain(`Observation/${id} `);
      expect(onlyB).toContain(`Observation/${id} `);
      // What references the changed resource differs with it (o3 is derived from o1 and o2); nothing else does.
      expect(comparison.differences.join('\n')).not.toMatch(/^(Patient|Device|Consent|Flag|Communication|Task):/m);
    }
  });

  test('a missing resource changes the counts', () => {
    const comparison = compareRecords(
      original,
      changed((rs) =>
        rs.splice(
          rs.findIndex((r) => r.id === 'm1'),
          1
        )
      )
    );
    expect(comparison.equal).toBe(false);
    expect(comparison.counts['Communication']).toEqual([1, 0]);
    expect(comparison.differences[0]).toBe('Communication: 1 in a, 0 in b');
  });

  test('a reference that points at the wrong resource is a difference, even where all contents match', () => {
    // Two Flags, two messages about them; b swaps what each message is about.
    const withTwo = (swap: boolean): Resource[] => {
      const resources = record();
      const second: Flag = { ...find<Flag>(resources, 'f1'), id: 'f2', code: { text: 'RHR above band' } };
      const other: Communication = {
        ...find<Communication>(resources, 'm1'),
        id: 'm2',
        payload: [{ contentString: 'Your resting heart rate is above your band.' }],
        about: [{ reference: 'Flag/f2' }],
      };
      if (swap) {
        find<Communication>(resources, 'm1').about = [{ reference: 'Flag/f2' }];
        other.about = [{ reference: 'Flag/f1' }];
      }
      return [...resources, second, other];
    };
    expect(compareRecords(bundleOf(withTwo(false)), bundleOf(withTwo(false))).equal).toBe(true);
    const comparison = compareRecords(bundleOf(withTwo(false)), bundleOf(withTwo(true)));
    expect(comparison.equal).toBe(false);
    expect(comparison.differences.join('\n')).toContain('Communication: 2 only in a');
  });

  test('an outside reference compares by where it pointed on the first server', () => {
    const tx = toImportTransaction(original, { newUuid: counter() });
    const imported = importOnServer(tx);
    for (const entry of imported.entry ?? []) {
      if (entry.resource?.resourceType === 'Consent') {
        const actor = entry.resource.provision?.actor?.[0];
        if (actor) {
          actor.reference = {
            display: 'Jordan Lee',
            extension: [{ url: SOURCE_REFERENCE_EXTENSION, valueUri: BASE + 'Practitioner/someone-else' }],
          };
        }
      }
    }
    const comparison = compareRecords(original, imported);
    expect(comparison.equal).toBe(false);
    expect(comparison.differences.join('\n')).toContain('Consent: 1 only in a');
    // The same literal on another server points somewhere else.
    const elsewhere = compareRecords(original, bundleOf(record(), OTHER_BASE));
    expect(elsewhere.equal).toBe(false);
    expect(elsewhere.differences.join('\n')).toContain('Consent: 1 only in a');
  });
});

describe('NDJSON', () => {
  test('line 1 is the Bundle without entries, then one resource a line; reading it back gives the same export', () => {
    const original = bundleOf(record());
    const text = toNdjson(original);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(record().length + 1);
    expect(JSON.parse(lines[0] ?? '')).not.toHaveProperty('entry');
    const back = fromNdjson(text);
    expect(back).toEqual(original);
    expect(compareRecords(original, back).equal).toBe(true);
  });

  test('refuses what is not an export', () => {
    expect(() => fromNdjson('')).toThrow('Empty NDJSON export');
    expect(() => fromNdjson('{"resourceType":"Bundle","type":"collection"}\n{"resourceType":"Patient"}\n')).toThrow(
      'NDJSON line 2 is not a resource with an id'
    );
    expect(() => parseExportBundle({ resourceType: 'Bundle', type: 'searchset' })).toThrow(
      /^Not a Baseline export: type/
    );
  });
});

/** A server holding resources per type, paging by `next` links of `pageSize`. */
function fakeServer(data: Partial<Record<ExportedType, Resource[]>>, pageSize: number) {
  const calls: string[] = [];
  const page = (type: ExportedType, from: number): Bundle => {
    const all = data[type] ?? [];
    const slice = all.slice(from, from + pageSize);
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: slice.map((resource) => ({
        fullUrl: `${BASE}${type}/${resource.id}`,
        resource,
        search: { mode: 'match' },
      })),
      link:
        from + pageSize < all.length ? [{ relation: 'next', url: `${BASE}${type}?_cursor=${from + pageSize}` }] : [],
    };
  };
  const client: ExportClient = {
    search: async (type, query) => {
      calls.push(`${type}?${new URLSearchParams(query).toString()}`);
      return page(type, 0);
    },
    get: async (url) => {
      calls.push(url);
      const parsed = new URL(url);
      return page(parsed.pathname.split('/').pop() as ExportedType, Number(parsed.searchParams.get('_cursor')));
    },
    fhirUrl: () => new URL(BASE),
  };
  return { client, calls };
}

describe('exportRecord', () => {
  test('reads exactly the patient-data types the owner policy lets them read, each as the policy scopes it', () => {
    const entries = ownerPolicy(BOT_DEFINITIONS).resource.filter((r) => r.criteria?.includes('%patient'));
    expect(entries.map((r) => r.resourceType).sort()).toEqual([...EXPORTED_TYPES].sort());
    for (const entry of entries) {
      const expected =
        entry.resourceType === 'Device' ? 'Device?patient=%patient' : `${entry.resourceType}?_compartment=%patient`;
      expect(entry.criteria).toBe(expected);
    }
  });

  const observations = Array.from({ length: 7 }, (_, i): Observation => ({
    resourceType: 'Observation',
    id: `o${i}`,
    meta: { lastUpdated: `2026-11-0${i + 1}T00:00:00.000Z` },
    status: 'final',
    code: { text: String(i) },
    subject: { reference: 'Patient/p1' },
  }));
  const patient: Resource = { resourceType: 'Patient', id: 'p1', meta: { lastUpdated: '2026-10-01T00:00:00.000Z' } };

  test('reads every owner-readable type by cursor, follows next links, and marks and counts the export', async () => {
    // o3 updated while paging: it shows up again on a later page, newer.
    const o3 = { ...observations[3], meta: { lastUpdated: '2026-12-01T00:00:00.000Z' } } as Observation;
    const { client, calls } = fakeServer({ Patient: [patient], Observation: [...observations, o3] }, 3);
    const bundle = await exportRecord(client, 'p1', { now: () => new Date('2026-12-02T00:00:00.000Z') });
    expect(calls.filter((c) => !c.includes('_cursor'))).toEqual([
      'Patient?_id=p1&_sort=_lastUpdated&_count=1000',
      'Device?patient=Patient%2Fp1&_sort=_lastUpdated&_count=1000',
      'Observation?_compartment=Patient%2Fp1&_sort=_lastUpdated&_count=1000',
      'Task?_compartment=Patient%2Fp1&_sort=_lastUpdated&_count=1000',
      'AuditEvent?_compartment=Patient%2Fp1&_sort=_lastUpdated&_count=1000',
      'DocumentReference?_compartment=Patient%2Fp1&_sort=_lastUpdated&_count=1000',
      'Flag?_compartment=Patient%2Fp1&_sort=_lastUpdated&_count=1000',
      'Communication?_compartment=Patient%2Fp1&_sort=_lastUpdated&_count=1000',
      'Consent?_compartment=Patient%2Fp1&_sort=_lastUpdated&_count=1000',
    ]);
    expect(calls.filter((c) => c.includes('_cursor'))).toEqual([
      `${BASE}Observation?_cursor=3`,
      `${BASE}Observation?_cursor=6`,
    ]);
    expect(calls.join()).not.toContain('Basic');
    expect(bundle.type).toBe('collection');
    expect(bundle.meta?.tag).toEqual([EXPORT_TAG]);
    expect(bundle.identifier?.system).toBe(EXPORT_IDENTIFIER_SYSTEM);
    expect(bundle.timestamp).toBe('2026-12-02T00:00:00.000Z');
    expect(bundle.meta?.extension?.find((e) => e.url === EXPORT_COUNTS_EXTENSION)?.extension).toEqual([
      { url: 'Patient', valueInteger: 1 },
      { url: 'Observation', valueInteger: 7 },
    ]);
    const kept = bundle.entry?.find((e) => e.resource?.id === 'o3');
    expect(kept?.resource?.meta?.lastUpdated).toBe('2026-12-01T00:00:00.000Z');
    expect(kept?.fullUrl).toBe(`${BASE}Observation/o3`);
  });

  test('the streamed NDJSON holds the same record, the newest copy of a resource read twice in its first place', async () => {
    const o3 = { ...observations[3], meta: { lastUpdated: '2026-12-01T00:00:00.000Z' } } as Observation;
    const { client } = fakeServer({ Patient: [patient], Observation: [...observations, o3] }, 3);
    const now = (): Date => new Date('2026-12-02T00:00:00.000Z');
    const lines = await exportRecordNdjson(client, 'p1', { now });
    expect(lines).toHaveLength(1 + 1 + 7);
    expect(lines.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(true);
    const bundle = await exportRecord(client, 'p1', { now });
    const back = fromNdjson(lines.join(''));
    expect(back.entry).toEqual(bundle.entry);
    expect(back.meta).toEqual(bundle.meta);
    expect(back.entry?.[4]?.resource?.meta?.lastUpdated).toBe('2026-12-01T00:00:00.000Z');
  });

  test('appends extras (the access log) once, and refuses token-store or project types', async () => {
    const { client } = fakeServer({ Patient: [patient], Observation: observations.slice(0, 1) }, 10);
    const audit: Resource = { resourceType: 'AuditEvent', id: 'a1' } as Resource;
    const bundle = await exportRecord(client, 'p1', { extra: [audit, observations[0] as Observation] });
    expect(bundle.entry?.map((e) => `${e.resource?.resourceType}/${e.resource?.id}`)).toEqual([
      'Patient/p1',
      'Observation/o0',
      'AuditEvent/a1',
    ]);
    expect(bundle.entry?.[2]?.fullUrl).toBe(`${BASE}AuditEvent/a1`);
    await expect(
      exportRecord(client, 'p1', { extra: [{ resourceType: 'Basic', id: 'b' } as Resource] })
    ).rejects.toThrow('A Basic is never part of an export');
  });

  test('a Patient the client cannot read is an error, not an empty export', async () => {
    const { client } = fakeServer({}, 10);
    await expect(exportRecord(client, 'p1')).rejects.toThrow('Patient/p1 is not readable: nothing to export');
  });
});
