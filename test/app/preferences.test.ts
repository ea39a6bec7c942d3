import { describe, expect, test } from 'vitest';
import { AlertRuleSchema, DEFAULT_RULES } from '../../bots/analytics/alerts.ts';
import type { AlertRule, RatioRule, StreakRule } from '../../bots/analytics/alerts.ts';
import { PreferencesInputSchema } from '../../bots/analytics/owner-api.ts';
import { describePreferencesFailure, formToRule, moveSource, ruleToForm } from '../../app/src/lib/preferences.ts';
import type { RatioForm, StreakForm } from '../../app/src/lib/preferences.ts';

function defaultRule<K extends AlertRule['kind']>(kind: K): Extract<AlertRule, { kind: K }> {
  const found = DEFAULT_RULES.find((r): r is Extract<AlertRule, { kind: K }> => r.kind === kind);
  if (!found) {
    throw new Error(kind);
  }
  return found;
}

const RATIO: RatioRule = defaultRule('ratio-to-baseline');
const STREAK: StreakRule = defaultRule('outside-band-streak');

function ratioForm(rule: RatioRule = RATIO): RatioForm {
  const form = ruleToForm(rule);
  if (form.kind !== 'ratio-to-baseline') {
    throw new Error('kind');
  }
  return form;
}
function streakForm(rule: StreakRule = STREAK): StreakForm {
  const form = ruleToForm(rule);
  if (form.kind !== 'outside-band-streak') {
    throw new Error('kind');
  }
  return form;
}

describe('rule ↔ form', () => {
  test('a ratio rule shows its thresholds in percent, an absent one empty', () => {
    expect(ratioForm()).toEqual({
      kind: 'ratio-to-baseline',
      enabled: true,
      severity: 'warning',
      cooldownHours: 24,
      shortDays: 7,
      baselineDays: 30,
      belowPercent: 80,
      abovePercent: '',
    });
  });

  test('every default rule survives the round trip unchanged', () => {
    for (const rule of DEFAULT_RULES) {
      expect(formToRule(ruleToForm(rule), rule)).toEqual({ ok: true, rule: AlertRuleSchema.parse(rule) });
    }
  });

  test('percent back to ratio without float noise', () => {
    for (const [percent, ratio] of [
      [80, 0.8],
      [70, 0.7],
      [85.5, 0.855],
      [33, 0.33],
    ] as const) {
      const result = formToRule({ ...ratioForm(), belowPercent: percent }, RATIO);
      expect(result.ok && result.rule.kind === 'ratio-to-baseline' ? result.rule.below : undefined).toBe(ratio);
    }
    expect(ruleToForm({ ...RATIO, below: 0.07 })).toMatchObject({ belowPercent: 7 });
    const result = formToRule({ ...ratioForm(), abovePercent: 120 }, RATIO);
    expect(result).toMatchObject({ ok: true, rule: { below: 0.8, above: 1.2 } });
  });

  test('disabling keeps everything else; the result is what the bot accepts', () => {
    const result = formToRule({ ...streakForm(), enabled: false, days: 5, direction: 'below' }, STREAK);
    expect(result).toEqual({ ok: true, rule: { ...STREAK, enabled: false, days: 5, direction: 'below' } });
    if (result.ok) {
      expect(PreferencesInputSchema.safeParse({ action: 'set-rule', rule: result.rule }).success).toBe(true);
    }
  });

  test('id and metric are the original rule’s whatever the form holds', () => {
    const result = formToRule(ratioForm(), { ...RATIO, id: 'my-rule' });
    expect(result).toMatchObject({ ok: true, rule: { id: 'my-rule', metric: 'hrv-rmssd' } });
  });
});

describe('form errors, per field', () => {
  test('empty numbers', () => {
    expect(formToRule({ ...ratioForm(), shortDays: '', cooldownHours: '' }, RATIO)).toEqual({
      ok: false,
      errors: { shortDays: 'Enter a number.', cooldownHours: 'Enter a number.' },
    });
  });

  test('a ratio rule needs a lower or an upper limit', () => {
    expect(formToRule({ ...ratioForm(), belowPercent: '', abovePercent: '' }, RATIO)).toEqual({
      ok: false,
      errors: { belowPercent: 'Set a lower or an upper limit (or both).' },
    });
  });

  test.each([
    [{ belowPercent: 100 }, 'belowPercent'],
    [{ belowPercent: 0 }, 'belowPercent'],
    [{ abovePercent: 100 }, 'abovePercent'],
    [{ abovePercent: 1001 }, 'abovePercent'],
    [{ shortDays: 29 }, 'shortDays'],
    [{ shortDays: 2.5 }, 'shortDays'],
    [{ baselineDays: 6 }, 'baselineDays'],
    [{ cooldownHours: -1 }, 'cooldownHours'],
    [{ cooldownHours: 24 * 91 }, 'cooldownHours'],
  ] as const)('ratio %o → %s', (patch, field) => {
    const result = formToRule({ ...ratioForm(), ...patch }, RATIO);
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : Object.keys(result.errors)).toEqual([field]);
  });

  test.each([
    [{ days: 1 }, 'days'],
    [{ days: 31 }, 'days'],
  ] as const)('streak %o → %s', (patch, field) => {
    const result = formToRule({ ...streakForm(), ...patch }, STREAK);
    expect(result.ok ? [] : Object.keys(result.errors)).toEqual([field]);
  });

  test('a form of another kind than the rule is refused', () => {
    expect(formToRule(streakForm(), RATIO)).toMatchObject({ ok: false, errors: { rule: expect.any(String) } });
  });
});

describe('moveSource', () => {
  const ladder = ['whoop', 'oura', 'withings'] as const;
  test('up and down', () => {
    expect(moveSource(ladder, 1, -1)).toEqual(['oura', 'whoop', 'withings']);
    expect(moveSource(ladder, 1, 1)).toEqual(['whoop', 'withings', 'oura']);
  });
  test('not past either end, and a copy, never the same array', () => {
    expect(moveSource(ladder, 0, -1)).toEqual([...ladder]);
    expect(moveSource(ladder, 2, 1)).toEqual([...ladder]);
    expect(moveSource(ladder, 5, -1)).toEqual([...ladder]);
    expect(moveSource(ladder, 0, 1)).not.toBe(ladder);
  });
});

describe('describePreferencesFailure', () => {
  test('offline', () => {
    expect(describePreferencesFailure('load', 'TypeError: Failed to fetch')).toMatchObject({
      title: 'Baseline could not be reached',
      retry: true,
    });
  });
  test('the bot refusing values it cannot store', () => {
    expect(describePreferencesFailure('save', 'Invalid preferences: rule.days: Too big')).toMatchObject({
      title: 'Baseline did not accept this change',
      detail: 'Invalid preferences: rule.days: Too big',
    });
  });
  test('not allowed, and not installed, are not the owner’s to retry', () => {
    expect(describePreferencesFailure('save', 'Forbidden')).toMatchObject({ retry: false });
    expect(describePreferencesFailure('load', 'Not found')).toMatchObject({
      title: 'Settings are not set up on this Baseline',
      retry: false,
    });
  });
  test('anything else: a general text, the message as the detail, shortened', () => {
    const long = 'x'.repeat(500);
    const e = describePreferencesFailure('save', long);
    expect(e.title).toBe('Your change was not saved');
    expect(e.detail?.length).toBe(200);
    expect(describePreferencesFailure('load', 'boom').title).toBe('Your settings could not be loaded');
  });
});
