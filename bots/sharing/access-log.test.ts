import type { AuditEvent } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { accessedReferences, summarizeAccess } from './access-log.ts';

const event = (
  recorded: string,
  what: string,
  outcome: AuditEvent['outcome'] = '0',
  agents = ['Practitioner/dr'],
  author = 'Practitioner/dr'
): AuditEvent => ({
  resourceType: 'AuditEvent',
  meta: { lastUpdated: recorded, author: { reference: author } },
  type: { code: 'rest' },
  recorded: '2030-01-01T00:00:00Z',
  outcome,
  agent: agents.map((reference) => ({ who: { reference }, requestor: true })),
  source: { observer: { display: 'x' } },
  entity: [{ what: { reference: what } }],
});

describe('access log', () => {
  test('only successful accesses count, a vread names its record', () => {
    expect(
      accessedReferences([
        event('2026-12-06T10:00:00Z', 'Observation/o1/_history/2'),
        event('2026-12-06T10:01:00Z', 'Observation/o2', '4'),
      ])
    ).toEqual([{ at: '2026-12-06T10:00:00Z', reference: 'Observation/o1' }]);
  });

  test('events a grantee wrote to pollute another grantee’s log do not count, and the server’s time is used', () => {
    expect(
      accessedReferences([
        event('2026-12-06T10:00:00Z', 'Observation/o1', '0', ['Practitioner/dr', 'Practitioner/other']),
        event('2026-12-06T10:00:00Z', 'Observation/o1', '0', ['Practitioner/other'], 'Practitioner/dr'),
      ])
    ).toEqual([]);
  });

  test('accesses within 30 minutes are one visit, newest visit first, counted by kind', () => {
    const log = summarizeAccess([
      { at: '2026-12-06T10:00:00Z', kind: 'Patient' },
      { at: '2026-12-06T10:20:00Z', kind: 'Observation: HRV' },
      { at: '2026-12-06T10:21:00Z', kind: 'Observation: HRV' },
      { at: '2026-12-06T12:00:00Z', kind: 'Consent' },
    ]);
    expect(log).toEqual([
      { from: '2026-12-06T12:00:00Z', to: '2026-12-06T12:00:00Z', kinds: { Consent: 1 }, count: 1 },
      {
        from: '2026-12-06T10:00:00Z',
        to: '2026-12-06T10:21:00Z',
        kinds: { Patient: 1, 'Observation: HRV': 2 },
        count: 3,
      },
    ]);
  });
});
