import { describe, expect, test } from 'vitest';
import type { GrantView } from '../../bots/sharing/owner-api.ts';
import {
  accessLogResources,
  defaultGrantForm,
  describeScope,
  describeVisit,
  formProblems,
  grantStatus,
  latestUntil,
} from '../../app/src/lib/sharing.ts';

const NOW = new Date('2026-12-06T10:00:00Z');
const GRANT: GrantView = {
  id: 'g1',
  grantee: { reference: 'Practitioner/dr', display: 'Jordan Lee', kind: 'clinician' },
  groups: ['heart', 'sleep'],
  content: ['wearable', 'derived'],
  since: '2026-11-06',
  start: '2026-12-06T09:00:00Z',
  end: '2027-01-05T23:59:59.999Z',
  status: 'active',
};

describe('sharing page words', () => {
  test('the default form shares heart and sleep, the last 30 days, for 30 days, and is complete once someone is chosen', () => {
    const form = defaultGrantForm(NOW);
    expect(form).toMatchObject({ groups: ['heart', 'sleep'], since: '2026-11-06', until: '2027-01-05' });
    expect(formProblems(form, NOW, false)).toEqual(['Choose whom to share with']);
    expect(formProblems({ ...form, grantee: 'Practitioner/dr' }, NOW, false)).toEqual([]);
  });

  test('the end is required and at most 90 days away; the data start cannot be in the future', () => {
    const form = { ...defaultGrantForm(NOW), grantee: 'Practitioner/dr' };
    expect(latestUntil(NOW)).toBe('2027-03-06');
    expect(formProblems({ ...form, until: '' }, NOW, false)).toEqual(['Choose when the sharing ends']);
    expect(formProblems({ ...form, until: '2027-03-07' }, NOW, false)).toEqual(['Sharing can last at most 90 days']);
    expect(formProblems({ ...form, until: '2027-03-06' }, NOW, false)).toEqual([]);
    expect(formProblems({ ...form, since: '2026-12-07' }, NOW, false)).toEqual([
      'The first day of data must be today or earlier',
    ]);
    expect(formProblems({ ...form, groups: [], content: [] }, NOW, false)).toEqual([
      'Choose at least one group of metrics',
      'Choose at least one kind of data',
    ]);
  });

  test('an invite needs an email and a name', () => {
    const form = defaultGrantForm(NOW);
    expect(formProblems(form, NOW, true)).toEqual([
      'Enter the clinician’s email address',
      'Enter the clinician’s name',
    ]);
    expect(
      formProblems({ ...form, invite: { email: 'dr@example.org', firstName: 'A', lastName: 'B' } }, NOW, true)
    ).toEqual([]);
  });

  test('a grant in words, and its state', () => {
    expect(describeScope(GRANT)).toBe('heart and sleep: measurements, baselines and trends; data from 6 Nov 2026');
    expect(grantStatus(GRANT, NOW)).toEqual({
      label: 'Active',
      color: 'green',
      line: 'Since 6 Dec 2026, until 5 Jan 2027',
    });
    expect(grantStatus({ ...GRANT, status: 'revoked', endedAt: '2026-12-07T08:00:00Z' }, NOW).line).toBe(
      'Revoked on 7 Dec 2026'
    );
    expect(grantStatus(GRANT, new Date('2027-01-06T00:00:00Z')).label).toBe('Ended');
  });

  test('a visit of the access log in words', () => {
    expect(
      describeVisit({ from: 'a', to: 'b', kinds: { Patient: 1, 'Observation: HRV (RMSSD)': 10 }, count: 11 })
    ).toBe('11 records: Observation: HRV (RMSSD) ×10, Patient ×1');
  });

  test('the access log goes into the export as one AuditEvent per visit, naming the grant and the grantee', () => {
    const [event] = accessLogResources(GRANT, [
      { from: '2026-12-06T10:00:00Z', to: '2026-12-06T10:05:00Z', kinds: { Patient: 1 }, count: 1 },
    ]);
    expect(event).toMatchObject({
      resourceType: 'AuditEvent',
      id: 'access-g1-1',
      period: { start: '2026-12-06T10:00:00Z', end: '2026-12-06T10:05:00Z' },
      agent: [{ who: { reference: 'Practitioner/dr', display: 'Jordan Lee' } }],
      entity: [{ what: { reference: 'Consent/g1' }, description: '1 record: Patient ×1' }],
    });
  });
});
