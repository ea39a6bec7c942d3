/**
 * The Settings page's model of the `preferences` bot (bots/analytics/owner-api.ts): alert rules as a form a person
 * fills in, and source ladders as lists they reorder.
 *
 * A rule's thresholds are stored as ratios (below 0.8 × baseline) but a person thinks in percent ("below 80 % of my
 * baseline"), so the form holds percents and whole numbers as the inputs give them, and formToRule turns them back
 * into a rule checked by the same AlertRuleSchema the bot checks, so what the page accepts the bot accepts.
 *
 * Pure: no I/O.
 */
import { AlertRuleSchema } from '../../../bots/analytics/alerts.ts';
import type { AlertRule } from '../../../bots/analytics/alerts.ts';
import type { HumanError } from './human-errors.ts';

/** A number input's value: a number, or '' while the field is empty (Mantine NumberInput's own convention). */
export type NumberField = number | '';

interface FormBase {
  readonly enabled: boolean;
  readonly severity: AlertRule['severity'];
  readonly cooldownHours: NumberField;
}

export interface RatioForm extends FormBase {
  readonly kind: 'ratio-to-baseline';
  readonly shortDays: NumberField;
  readonly baselineDays: NumberField;
  /** Percent of the baseline; '' when the rule has no lower threshold. */
  readonly belowPercent: NumberField;
  /** Percent of the baseline; '' when the rule has no upper threshold. */
  readonly abovePercent: NumberField;
}

export interface StreakForm extends FormBase {
  readonly kind: 'outside-band-streak';
  readonly direction: 'above' | 'below';
  readonly days: NumberField;
}

export type RuleForm = RatioForm | StreakForm;

/** The form fields a message can belong to. */
export type RuleField =
  'cooldownHours' | 'shortDays' | 'baselineDays' | 'belowPercent' | 'abovePercent' | 'days' | 'rule';

/** Percent ↔ ratio without float noise (0.8 → 80, not 80.00000000000001; 80 → 0.8). */
function toPercent(ratio: number): number {
  return Math.round(ratio * 100 * 1_000) / 1_000;
}
function toRatio(percent: number): number {
  return Math.round(percent * 1_000) / 100_000;
}

/**
 * @param rule - a rule as the bot returns it
 * @returns the form's starting values
 */
export function ruleToForm(rule: AlertRule): RuleForm {
  const base = { enabled: rule.enabled, severity: rule.severity, cooldownHours: rule.cooldownHours };
  if (rule.kind === 'ratio-to-baseline') {
    return {
      ...base,
      kind: rule.kind,
      shortDays: rule.shortDays,
      baselineDays: rule.baselineDays,
      belowPercent: rule.below === undefined ? '' : toPercent(rule.below),
      abovePercent: rule.above === undefined ? '' : toPercent(rule.above),
    };
  }
  return { ...base, kind: rule.kind, direction: rule.direction, days: rule.days };
}

export type FormResult =
  | { readonly ok: true; readonly rule: AlertRule }
  | { readonly ok: false; readonly errors: Partial<Record<RuleField, string>> };

const REQUIRED = 'Enter a number.';

/** Schema paths → the form field that shows the message, and the message a person reads for that field. */
const FIELD_MESSAGES: Readonly<Record<string, { field: RuleField; message: string }>> = {
  cooldownHours: { field: 'cooldownHours', message: 'Between 0 and 2160 hours (90 days), in whole hours.' },
  shortDays: { field: 'shortDays', message: 'Between 1 and 28 days, in whole days.' },
  baselineDays: { field: 'baselineDays', message: 'Between 7 and 180 days, in whole days.' },
  below: { field: 'belowPercent', message: 'Above 0 % and below 100 % of the baseline.' },
  above: { field: 'abovePercent', message: 'Above 100 % and at most 1000 % of the baseline.' },
  days: { field: 'days', message: 'Between 2 and 30 days in a row, in whole days.' },
};

/**
 * @param form - what the owner entered
 * @param original - the rule being edited (its id, metric and kind are not editable)
 * @returns the rule to store, or a message per field
 */
export function formToRule(form: RuleForm, original: AlertRule): FormResult {
  const errors: Partial<Record<RuleField, string>> = {};
  const need = (field: RuleField, value: NumberField): number | undefined => {
    if (value === '') {
      errors[field] = REQUIRED;
      return undefined;
    }
    return value;
  };
  const common = {
    id: original.id,
    metric: original.metric,
    enabled: form.enabled,
    severity: form.severity,
    cooldownHours: need('cooldownHours', form.cooldownHours),
  };
  let candidate: Record<string, unknown>;
  if (form.kind === 'ratio-to-baseline') {
    if (form.belowPercent === '' && form.abovePercent === '') {
      errors.belowPercent = 'Set a lower or an upper limit (or both).';
    }
    candidate = {
      ...common,
      kind: form.kind,
      shortDays: need('shortDays', form.shortDays),
      baselineDays: need('baselineDays', form.baselineDays),
      ...(form.belowPercent === '' ? {} : { below: toRatio(form.belowPercent) }),
      ...(form.abovePercent === '' ? {} : { above: toRatio(form.abovePercent) }),
    };
  } else {
    candidate = { ...common, kind: form.kind, direction: form.direction, days: need('days', form.days) };
  }
  if (form.kind !== original.kind) {
    errors.rule = 'A rule keeps its kind; reset it instead.';
  }
  if (Object.keys(errors).length > 0) {
    return { ok: false, errors };
  }
  const parsed = AlertRuleSchema.safeParse(candidate);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '');
      const known = FIELD_MESSAGES[key];
      if (known) {
        errors[known.field] ??= known.message;
      } else {
        errors.rule ??= issue.message;
      }
    }
    return { ok: false, errors };
  }
  return { ok: true, rule: parsed.data };
}

/**
 * @param list - a ladder, best first
 * @param index - the entry to move
 * @param by - -1 up (preferred more), +1 down
 * @returns a new ladder with the entry moved; the same order when it cannot move further
 */
export function moveSource<T>(list: readonly T[], index: number, by: -1 | 1): T[] {
  const target = index + by;
  const out = [...list];
  if (index < 0 || index >= out.length || target < 0 || target >= out.length) {
    return out;
  }
  const [item] = out.splice(index, 1);
  if (item !== undefined) {
    out.splice(target, 0, item);
  }
  return out;
}

/** Offline in the browser's own words (as human-errors.ts BROWSER_OFFLINE recognises it). */
const OFFLINE = /failed to fetch|networkerror|load failed|network request failed/i;

/**
 * Why loading or saving settings failed, as a person reads it (the human-errors.ts shape).
 * @param action - 'load' or 'save'
 * @param message - the error's normalized text (the bot's own message, or the browser's)
 * @returns the human error
 */
export function describePreferencesFailure(action: 'load' | 'save', message: string): HumanError {
  const trimmed = message.trim();
  const detail = trimmed === '' ? undefined : trimmed.length > 200 ? `${trimmed.slice(0, 199)}…` : trimmed;
  if (OFFLINE.test(message)) {
    return {
      title: 'Baseline could not be reached',
      what: 'Your browser could not reach the Baseline server — you may be offline, or the server may be down.',
      next: 'Check your internet connection, then try again.',
      retry: true,
      detail,
    };
  }
  if (/forbidden|access denied|not allowed|only a signed-in patient/i.test(message)) {
    return {
      title: action === 'load' ? 'Your settings are not available to you' : 'Your change was not allowed',
      what: 'Baseline did not let this account read or change alert and source settings.',
      next: 'Sign out and in again. If it keeps happening, tell whoever runs your Baseline and mention the detail below.',
      retry: false,
      detail,
    };
  }
  if (/not found|no bot|unknown bot/i.test(message)) {
    return {
      title: 'Settings are not set up on this Baseline',
      what: 'The part of Baseline that keeps your alert and source settings is not installed on this server.',
      next: 'Please tell whoever runs your Baseline; trying again will not help until they have fixed the setup.',
      retry: false,
      detail,
    };
  }
  if (
    action === 'save' &&
    /invalid|must|expected|too (small|big)|rule id|not a metric|each source once/i.test(message)
  ) {
    return {
      title: 'Baseline did not accept this change',
      what: 'The values were refused, so nothing was changed.',
      next: 'Check the values and save again.',
      retry: true,
      detail,
    };
  }
  return action === 'load'
    ? {
        title: 'Your settings could not be loaded',
        what: 'Baseline could not load your alert and source settings just now.',
        next: 'Try again in a moment. If it keeps failing, tell whoever runs your Baseline and mention the detail below.',
        retry: true,
        detail,
      }
    : {
        title: 'Your change was not saved',
        what: 'Something went wrong while Baseline was saving the change, so your settings are as they were.',
        next: 'Try again in a moment. If it keeps failing, tell whoever runs your Baseline and mention the detail below.',
        retry: true,
        detail,
      };
}
