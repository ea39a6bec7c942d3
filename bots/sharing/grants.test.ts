import { describe, expect, test } from 'vitest';
import {
  endConsent,
  grantConsent,
  grantEnd,
  GrantRequestSchema,
  isInForce,
  metricTokens,
  parseGrant,
} from './grants.ts';
import type { ConsentInput } from './grants.ts';

const NOW = new Date('2026-12-06T10:00:00Z');
const INPUT: ConsentInput = {
  key: '0b9c7c1e-5a4d-4b8e-9f0a-2d1c3b4a5e6f',
  patientId: 'p1',
  grantee: { reference: 'Practitioner/dr1', display: 'Jordan Lee' },
  groups: ['heart', 'sleep'],
  content: ['wearable', 'derived'],
  since: '2026-11-06',
  start: NOW.toISOString(),
  end: '2027-01-05T23:59:59.999Z',
};

describe('grant end', () => {
  test('a date counts to its end (UTC); up to 90 days from today is allowed', () => {
    expect(grantEnd('2027-03-06', NOW)).toBe('2027-03-06T23:59:59.999Z');
    expect(grantEnd('2026-12-06T10:01:00Z', NOW)).toBe('2026-12-06T10:01:00.000Z');
  });

  test('refuses a grant over 90 days, one already ended, and a non-date', () => {
    expect(() => grantEnd('2027-03-07', NOW)).toThrow('A grant may last at most 90 days');
    expect(() => grantEnd('2026-12-06T09:59:00Z', NOW)).toThrow('The grant must end in the future');
    expect(() => grantEnd('soon', NOW)).toThrow('Choose when the grant ends (at most 90 days from now)');
  });

  test('the request requires an end, a group and a kind of data', () => {
    const base = {
      key: INPUT.key,
      grantee: { practitioner: 'dr1' },
      groups: ['heart'],
      content: ['wearable'],
      since: '2026-11-06',
    };
    const noEnd = GrantRequestSchema.safeParse(base);
    expect(noEnd.success).toBe(false);
    expect(JSON.stringify(noEnd.error?.issues)).toContain('Choose when the grant ends');
    const noGroup = GrantRequestSchema.safeParse({ ...base, until: '2027-01-01', groups: [] });
    expect(JSON.stringify(noGroup.error?.issues)).toContain('Choose at least one group of metrics');
    const noContent = GrantRequestSchema.safeParse({ ...base, until: '2027-01-01', content: [] });
    expect(JSON.stringify(noContent.error?.issues)).toContain('Choose at least one kind of data');
    expect(GrantRequestSchema.safeParse({ ...base, until: '2027-01-01' }).success).toBe(true);
  });
});

describe('Consent round trip', () => {
  test('a grant Consent reads back as the same grant', () => {
    const consent = { ...grantConsent(INPUT), id: 'c1' };
    const parsed = parseGrant(consent);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) {
      return;
    }
    expect(parsed.grant).toEqual({
      consentId: 'c1',
      key: `p1:${INPUT.key}`,
      patientId: 'p1',
      grantee: { type: 'Practitioner', id: 'dr1', display: 'Jordan Lee' },
      groups: ['heart', 'sleep'],
      content: ['wearable', 'derived'],
      since: '2026-11-06',
      start: INPUT.start,
      end: INPUT.end,
      status: 'active',
    });
    expect(consent.provision?.class?.map((c) => c.code)).toEqual(['Patient', 'Device', 'Consent', 'Observation']);
    expect(isInForce(parsed.grant, NOW)).toBe(true);
    expect(isInForce(parsed.grant, new Date('2027-01-06T00:00:00Z'))).toBe(false);
  });

  test('revoked and expired Consents say which, and give no access', () => {
    const consent = { ...grantConsent(INPUT), id: 'c1' };
    const revoked = parseGrant(endConsent(consent, 'revoked', NOW));
    expect(revoked.ok && revoked.grant.status).toBe('revoked');
    expect(revoked.ok && revoked.grant.endedAt).toBe(NOW.toISOString());
    expect(revoked.ok && isInForce(revoked.grant, NOW)).toBe(false);
    const expired = parseGrant(endConsent(consent, 'expired', NOW));
    expect(expired.ok && expired.grant.status).toBe('expired');
  });

  test('a malformed share Consent is refused with its reasons', () => {
    const consent = { ...grantConsent(INPUT), id: 'c1' };
    const tooLong = parseGrant({
      ...consent,
      provision: { ...consent.provision, period: { start: INPUT.start, end: '2027-12-01T00:00:00Z' } },
    });
    expect(tooLong).toEqual({ ok: false, errors: ['period is longer than 90 days'] });
    const twoActors = parseGrant({
      ...consent,
      provision: {
        ...consent.provision,
        actor: [...(consent.provision?.actor ?? []), ...(consent.provision?.actor ?? [])],
      },
    });
    expect(twoActors).toEqual({ ok: false, errors: ['provision must name exactly one Practitioner or Organization'] });
    const patientActor = parseGrant({
      ...consent,
      provision: { ...consent.provision, actor: [{ role: { text: 'x' }, reference: { reference: 'Patient/p2' } }] },
    });
    expect(patientActor.ok).toBe(false);
    expect(parseGrant({ ...consent, category: [] })).toEqual({ ok: false, errors: ['not a Baseline share'] });
  });

  test('metric tokens list the primary codes of the chosen groups only', () => {
    const tokens = metricTokens(['sleep']).split(',');
    expect(tokens).toContain('http://loinc.org|93832-4');
    expect(tokens).not.toContain('http://loinc.org|40443-4');
  });
});
