/**
 * The clinician view's pure parts (app/src/lib/clinician.ts): id-only searches and batch reads, grants in words,
 * the latest value per shared metric, and the memory that tells "never shared" from "access ended".
 */
import type { Bundle, Consent, Observation, Patient } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { getMetric } from '../../bots/shared/catalogue.ts';
import { endConsent, grantConsent } from '../../bots/sharing/grants.ts';
import {
  AccessEndedError,
  batchReadBundles,
  describeGrant,
  idOnlyQuery,
  latestIdsQuery,
  latestValues,
  MAX_BATCH_ENTRIES,
  noAccessReason,
  patientName,
  readBatchResponses,
  readSeen,
  referencesOf,
  rememberSeen,
  sharedOwners,
  sharedScope,
} from '../../app/src/lib/clinician.ts';

const NOW = new Date('2026-12-06T10:00:00Z');

function consent(
  id: string,
  patientId: string,
  overrides: { end?: string; groups?: ('heart' | 'sleep')[] } = {}
): Consent {
  return {
    ...grantConsent({
      key: `key-${id}`,
      patientId,
      grantee: { reference: 'Practitioner/dr-1', display: 'Jordan Lee' },
      groups: overrides.groups ?? ['heart'],
      content: ['wearable', 'narratives'],
      since: '2026-11-06',
      start: '2026-12-01T09:00:00.000Z',
      end: overrides.end ?? '2027-01-05T23:59:59.999Z',
    }),
    id,
  };
}

const ALEX: Patient = { resourceType: 'Patient', id: 'p-alex', name: [{ given: ['Alex'], family: 'Rivera' }] };
const SAM: Patient = { resourceType: 'Patient', id: 'p-sam', name: [{ given: ['Sam'], family: 'Okafor' }] };

describe('id-only searches and batch reads', () => {
  test('a search asks for ids only and drops includes', () => {
    const q = idOnlyQuery({ subject: 'Patient/1', _elements: 'status,code', _include: 'Observation:device' });
    expect(q.get('_elements')).toBe('id');
    expect(q.get('_include')).toBeNull();
    expect(q.get('subject')).toBe('Patient/1');
  });

  test('ids become batch GETs of at most 100 entries, each record once, in order', () => {
    const refs = Array.from({ length: 205 }, (_, i) => `Observation/o${i}`);
    const bundles = batchReadBundles([...refs, 'Observation/o0']);
    expect(bundles.map((b) => b.entry?.length)).toEqual([MAX_BATCH_ENTRIES, MAX_BATCH_ENTRIES, 5]);
    expect(bundles[0]?.type).toBe('batch');
    expect(bundles[0]?.entry?.[0]?.request).toEqual({ method: 'GET', url: 'Observation/o0' });
    expect(bundles[2]?.entry?.[4]?.request?.url).toBe('Observation/o204');
    expect(batchReadBundles([])).toEqual([]);
  });

  test('references of a search page skip included and OperationOutcome entries', () => {
    const page: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: [
        { resource: { resourceType: 'Observation', id: 'a', status: 'final', code: {} } },
        { resource: { resourceType: 'Device', id: 'd' } },
        { resource: { resourceType: 'OperationOutcome', issue: [] } },
      ],
    };
    expect(referencesOf(page, 'Observation')).toEqual(['Observation/a']);
  });

  test('batch answers: records by reference, gone ones left out, a refused read means access ended', () => {
    const [request] = batchReadBundles(['Observation/a', 'Observation/b']);
    if (!request) {
      throw new Error('no bundle');
    }
    const obs: Observation = { resourceType: 'Observation', id: 'a', status: 'final', code: {} };
    const ok: Bundle = {
      resourceType: 'Bundle',
      type: 'batch-response',
      entry: [{ response: { status: '200 OK' }, resource: obs }, { response: { status: '404' } }],
    };
    const found = readBatchResponses([request], [ok]);
    expect([...found.keys()]).toEqual(['Observation/a']);
    const refused: Bundle = {
      ...ok,
      entry: [{ response: { status: '200' }, resource: obs }, { response: { status: '403' } }],
    };
    expect(() => readBatchResponses([request], [refused])).toThrow(AccessEndedError);
    const broken: Bundle = { ...ok, entry: [{ response: { status: '500' } }] };
    expect(() => readBatchResponses([request], [broken])).toThrow('Reading Observation/a failed: HTTP 500');
  });
});

describe('grants', () => {
  test('owners are paired with their grants in force; ended, expired and malformed Consents grant nothing', () => {
    const owners = sharedOwners(
      [SAM, ALEX],
      [
        consent('c1', 'p-alex'),
        consent('c2', 'p-sam', { end: '2026-12-06T09:59:59.000Z' }),
        endConsent(consent('c3', 'p-sam'), 'revoked', NOW),
        {
          resourceType: 'Consent',
          id: 'junk',
          status: 'active',
          scope: {},
          category: [],
          patient: { reference: 'Patient/p-sam' },
        },
      ],
      NOW
    );
    expect(owners.map((o) => [o.patient.id, o.grants.map((g) => g.consentId)])).toEqual([['p-alex', ['c1']]]);
  });

  test('several owners come by name, and several grants of one owner combine their scope', () => {
    const owners = sharedOwners(
      [SAM, ALEX],
      [consent('c1', 'p-alex'), consent('c2', 'p-sam'), consent('c3', 'p-sam', { groups: ['sleep'] })],
      NOW
    );
    expect(owners.map((o) => patientName(o.patient))).toEqual(['Alex Rivera', 'Sam Okafor']);
    const scope = sharedScope(owners[1]?.grants ?? []);
    expect(scope.groups).toEqual(['heart', 'sleep']);
    expect(scope.metrics.every((m) => m.group === 'heart' || m.group === 'sleep')).toBe(true);
    expect(scope.metrics.some((m) => m.key === 'hrv-rmssd')).toBe(true);
  });

  test('a grant in words: scope, first day of data, end', () => {
    const [owner] = sharedOwners([ALEX], [consent('c1', 'p-alex')], NOW);
    const grant = owner?.grants[0];
    if (!grant) {
      throw new Error('no grant');
    }
    expect(describeGrant(grant)).toEqual({
      scope: 'Heart: wearable values, weekly and monthly narratives',
      since: 'Data from 6 November 2026',
      ends: 'Access ends on 5 January 2027',
    });
  });
});

describe('latest values', () => {
  const hrv = getMetric('hrv-rmssd');
  const rhr = getMetric('resting-heart-rate');
  function value(id: string, metricKey: string, day: string, v: number): Observation {
    const metric = getMetric(metricKey);
    return {
      resourceType: 'Observation',
      id,
      status: 'final',
      code: { coding: [{ system: metric.code.system, code: metric.code.code }] },
      effectiveDateTime: `${day}T07:00:00Z`,
      valueQuantity: { value: v, unit: metric.unitLabel, system: 'http://unitsofmeasure.org', code: metric.unit },
    };
  }

  test('one id search over the shared codes, newest first, within the window', () => {
    const q = latestIdsQuery('p-alex', [hrv, rhr], NOW);
    expect(q.get('_elements')).toBe('id');
    expect(q.get('_sort')).toBe('-date');
    expect(q.get('subject')).toBe('Patient/p-alex');
    expect(q.get('code')).toBe(`${hrv.code.system}|${hrv.code.code},${rhr.code.system}|${rhr.code.code}`);
    expect(q.get('date')).toBe('ge2026-11-22T10:00:00.000Z');
  });

  test('the first value of each metric in newest-first order is its latest', () => {
    const observations = [
      value('h2', 'hrv-rmssd', '2026-12-05', 55),
      value('r1', 'resting-heart-rate', '2026-12-04', 52),
      value('h1', 'hrv-rmssd', '2026-12-01', 61),
    ];
    const latest = latestValues(observations, [hrv, rhr, getMetric('sleep-duration')]);
    expect(latest.map((l) => [l.metric.key, l.observationId, l.value])).toEqual([
      ['hrv-rmssd', 'h2', { kind: 'quantity', value: 55 }],
      ['resting-heart-rate', 'r1', { kind: 'quantity', value: 52 }],
    ]);
  });
});

describe('owners seen before', () => {
  function memoryStore(): { getItem(k: string): string | null; setItem(k: string, v: string): void } {
    const map = new Map<string, string>();
    return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v) };
  }

  test('an owner shown before reads as "ended", any other as "never"; per clinician', () => {
    const store = memoryStore();
    const owners = sharedOwners([ALEX], [consent('c1', 'p-alex')], NOW);
    expect(noAccessReason(readSeen(store, 'Practitioner/dr-1'), 'p-alex')).toEqual({ kind: 'never' });
    rememberSeen(store, 'Practitioner/dr-1', owners);
    expect(noAccessReason(readSeen(store, 'Practitioner/dr-1'), 'p-alex')).toEqual({
      kind: 'ended',
      lastEnd: '2027-01-05T23:59:59.999Z',
    });
    expect(noAccessReason(readSeen(store, 'Practitioner/dr-1'), 'p-sam')).toEqual({ kind: 'never' });
    expect(noAccessReason(readSeen(store, 'Practitioner/dr-2'), 'p-alex')).toEqual({ kind: 'never' });
  });

  test('unreadable memory counts as none', () => {
    const store = memoryStore();
    store.setItem('baseline.clinician.seen.Practitioner/dr-1', '{not json');
    expect(readSeen(store, 'Practitioner/dr-1')).toEqual({});
    store.setItem('baseline.clinician.seen.Practitioner/dr-1', '[1,2]');
    expect(readSeen(store, 'Practitioner/dr-1')).toEqual({});
  });
});
