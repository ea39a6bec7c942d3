import type { Communication, Flag } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  ALERT_COMMUNICATION_IDENTIFIER_SYSTEM,
  alertText,
  communicationResource,
  DEFAULT_RULES,
  endedFlag,
  flagResource,
} from '../../bots/analytics/alerts.ts';
import type { AlertRule, Evaluation, Firing } from '../../bots/analytics/alerts.ts';
import {
  activeAlerts,
  communicationFor,
  communicationSearch,
  describeAlertsLoadFailure,
  flagSearch,
  payloadIn,
} from '../../app/src/lib/alerts.ts';

const OWNER = { reference: 'Patient/p1' };

function rule(id: string): AlertRule {
  const found = DEFAULT_RULES.find((r) => r.id === id);
  if (!found) {
    throw new Error(id);
  }
  return found;
}

const HRV_EVALUATION: Evaluation = {
  kind: 'ratio-to-baseline',
  holds: true,
  crossed: 'below',
  recentMean: 40,
  recentDays: 7,
  recentStart: '2026-11-02',
  recentEnd: '2026-11-08',
  baseline: 60,
  baselineDays: 30,
  baselineStart: '2026-10-03',
  baselineEnd: '2026-11-01',
  ratio: 40 / 60,
};

const RHR_EVALUATION: Evaluation = {
  kind: 'outside-band-streak',
  holds: true,
  days: ['2026-11-06', '2026-11-07', '2026-11-08'].map((day) => ({
    day,
    value: 60,
    lower: 48,
    upper: 56,
    status: 'above',
  })),
};

function firing(ruleId: string, evaluation: Evaluation, asOfDay: string, firedAt: string): Firing {
  const r = rule(ruleId);
  return { rule: r, asOfDay, firedAt, evaluation, text: alertText(r, evaluation) };
}

const HRV = firing('hrv-below-baseline', HRV_EVALUATION, '2026-11-08', '2026-11-09T06:00:00.000Z');
const RHR = firing('resting-heart-rate-above-band', RHR_EVALUATION, '2026-11-08', '2026-11-09T07:00:00.000Z');

function storedFlag(f: Firing, id: string): Flag {
  return { ...flagResource(f, OWNER), id };
}

describe('searches', () => {
  test("the owner's Flags, newest first", () => {
    expect(flagSearch('p1')).toBe('subject=Patient%2Fp1&_sort=-date&_count=100');
  });

  test('the Communications of the Flags, by their shared identifier value; none without Flags', () => {
    const flags = [storedFlag(HRV, 'f1'), storedFlag(RHR, 'f2')];
    expect(communicationSearch(flags)).toEqual({
      identifier: [
        `${ALERT_COMMUNICATION_IDENTIFIER_SYSTEM}|p1:hrv-below-baseline:2026-11-08`,
        `${ALERT_COMMUNICATION_IDENTIFIER_SYSTEM}|p1:resting-heart-rate-above-band:2026-11-08`,
      ].join(','),
      _count: '10',
    });
    expect(communicationSearch([])).toBeUndefined();
    expect(communicationSearch([{ ...storedFlag(HRV, 'f1'), identifier: [] }])).toBeUndefined();
  });
});

describe('communicationFor', () => {
  const flag = storedFlag(HRV, 'f1');
  const byAbout: Communication = { ...communicationResource(HRV, OWNER, { flag: { reference: 'Flag/f1' } }), id: 'c1' };
  const byIdentifier: Communication = { ...communicationResource(HRV, OWNER), id: 'c2' };
  const other: Communication = { ...communicationResource(RHR, OWNER, { flag: { reference: 'Flag/f2' } }), id: 'c3' };

  test('the one whose about names the Flag first', () => {
    expect(communicationFor(flag, [other, byIdentifier, byAbout])?.id).toBe('c1');
  });
  test('else the one with the same identifier value (written before the Flag had an id)', () => {
    expect(communicationFor(flag, [other, byIdentifier])?.id).toBe('c2');
  });
  test("another firing's Communication is never taken", () => {
    expect(communicationFor(flag, [other])).toBeUndefined();
    // Same rule, another day: another firing.
    const later = firing('hrv-below-baseline', HRV_EVALUATION, '2026-11-09', '2026-11-10T06:00:00.000Z');
    expect(communicationFor(flag, [communicationResource(later, OWNER)])).toBeUndefined();
  });
});

describe('payloadIn', () => {
  const c = communicationResource(HRV, OWNER);
  test('each language its own text', () => {
    expect(payloadIn(c, 'en')).toBe(HRV.text.en);
    expect(payloadIn(c, 'de')).toBe(HRV.text.de);
    expect(HRV.text.de).not.toBe(HRV.text.en);
  });
  test('a regional language code counts; a missing language is undefined', () => {
    const regional: Communication = {
      ...c,
      payload: [
        {
          contentString: 'Hallo',
          extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/language', valueCode: 'de-AT' }],
        },
      ],
    };
    expect(payloadIn(regional, 'de')).toBe('Hallo');
    expect(payloadIn(regional, 'en')).toBeUndefined();
  });
});

describe('activeAlerts', () => {
  const hrvFlag = storedFlag(HRV, 'f1');
  const rhrFlag = storedFlag(RHR, 'f2');
  const comms = [
    { ...communicationResource(HRV, OWNER, { flag: { reference: 'Flag/f1' } }), id: 'c1' },
    { ...communicationResource(RHR, OWNER), id: 'c2' },
  ];

  test("active Flags only, newest first, in the owner's language, with since and severity", () => {
    const ended = { ...endedFlag(storedFlag(HRV, 'f0'), '2026-11-08T00:00:00.000Z') };
    const notOurs: Flag = { resourceType: 'Flag', id: 'x', status: 'active', code: { text: 'Other' }, subject: OWNER };
    expect(activeAlerts([hrvFlag, ended, notOurs, rhrFlag], comms, 'de')).toEqual([
      {
        flagId: 'f2',
        ruleId: 'resting-heart-rate-above-band',
        since: '2026-11-09T07:00:00.000Z',
        severity: 'info',
        text: RHR.text.de,
        language: 'de',
      },
      {
        flagId: 'f1',
        ruleId: 'hrv-below-baseline',
        since: '2026-11-09T06:00:00.000Z',
        severity: 'warning',
        text: HRV.text.de,
        language: 'de',
      },
    ]);
    expect(activeAlerts([hrvFlag], comms, 'en')[0]?.text).toBe(HRV.text.en);
  });

  test('without its Communication, the Flag’s own English text, marked as English', () => {
    expect(activeAlerts([hrvFlag], [], 'de')).toEqual([
      expect.objectContaining({ flagId: 'f1', text: HRV.text.en, language: 'en' }),
    ]);
  });

  test('the texts describe, they do not diagnose', () => {
    for (const a of [
      ...activeAlerts([hrvFlag, rhrFlag], comms, 'en'),
      ...activeAlerts([hrvFlag, rhrFlag], comms, 'de'),
    ]) {
      expect(a.text).not.toMatch(/diagnos|disease|illness|infection|krank|infekt/i);
    }
  });

  test('no Flags: no alerts', () => {
    expect(activeAlerts([], comms, 'en')).toEqual([]);
  });
});

test('load failures read as a person reads them', () => {
  expect(describeAlertsLoadFailure('Failed to fetch')).toMatchObject({
    title: 'Baseline could not be reached',
    retry: true,
  });
  expect(describeAlertsLoadFailure('Forbidden')).toMatchObject({
    title: 'Your alerts could not be loaded',
    detail: 'Forbidden',
  });
});
