import type { AuditEvent } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { accessedReferences, summarizeAccess } from './access-log.ts';

const event = (recorded: string, what: string, outcome: AuditEvent['outcome'] = '0'): AuditEvent => ({
  resourceType: 'AuditEvent',
  type: { code: 'rest' },
  recorded,
  outcome,
  agent: [{ who: { reference: 'Practitioner/dr' }, requestor: true }],
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
