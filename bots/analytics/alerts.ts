/**
 * Alert rules as data (issue 8 §6). A rule is a small zod-checked object ("7-day average HRV below 0.80 × its
 * 30-day baseline → warning, cooldown 24 h"); the analytics bot evaluates every rule on every recompute, and a
 * firing becomes a `Flag` on the owner's record plus a `Communication` to the owner (and to clinicians the owner
 * chose, once sharing exists). The Flag ends when the condition clears.
 *
 * Where rules live: one `Basic` per owner and rule (code BASIC_TYPE_SYSTEM|alert-rule, subject = the Patient, the
 * rule as JSON in one extension, identifier `<patient id>:<rule id>`), written only when the owner changes a
 * default; DEFAULT_RULES apply to every rule id the owner has not stored. Basic because a rule is an owner setting,
 * not clinical knowledge: PlanDefinition/ActivityDefinition model care protocols with FHIRPath/CQL conditions, which
 * is far more than two parameterised rule kinds need, is not in the Patient compartment, and would invite evaluating
 * expressions from the record. A Basic with a code is searchable by code and subject, sits in the owner's
 * compartment, and is reached by a bot policy entry `Basic?code=…|alert-rule` that does not open the token store.
 *
 * Wording rule: texts are built only from templates here, the catalogue's labels and the numbers; a rule carries no
 * free text. They describe the measurements relative to the owner's own history and never name a cause, a condition
 * or a diagnosis (alerts.test.ts checks the vocabulary).
 *
 * Pure: no I/O and no Node built-ins.
 */
import { PATIENT_REFERENCE, patientIdOf } from '../shared/requester.ts';
import type {
  Basic,
  Communication,
  Extension,
  Flag,
  Organization,
  Patient,
  Practitioner,
  Reference,
} from '@medplum/fhirtypes';
import { z } from 'zod';
import { getMetric } from '../shared/catalogue.ts';
import { BASIC_TYPE_SYSTEM } from '../shared/extensions.ts';
import { BASELINE_BASE, IDENTIFIER_BASE, PROFILE_BASE } from '../shared/systems.ts';
import { GERMAN_LABELS, GERMAN_UNITS } from './labels-de.ts';
import { dayFromIndex, dayIndex, median } from './stats.ts';
import type { BandDay, DailyPoint } from './stats.ts';

/** Code-unit order, not the locale's: the same order in every runtime, whatever its ICU data. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Systems

export const ALERT_RULE_CODE = 'alert-rule';
export const ALERT_RULE_CODE_TOKEN = `${BASIC_TYPE_SYSTEM}|${ALERT_RULE_CODE}`;
/** Criteria for the policies that read or write stored rules (and nothing else of type Basic). */
export const ALERT_RULE_CRITERIA = `Basic?code=${ALERT_RULE_CODE_TOKEN}`;
export const ALERT_RULE_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/alert-rule';
/** The rule itself, as JSON (validated by AlertRuleSchema on every read). */
export const ALERT_RULE_EXTENSION = PROFILE_BASE + '/alert-rule-definition';
/** Flag.code system: the code is the rule id. */
export const ALERT_RULE_SYSTEM = BASELINE_BASE + '/CodeSystem/baseline-alert-rules';
export const ALERT_FLAG_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/alert-flag';
export const ALERT_COMMUNICATION_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/alert-communication';

const FLAG_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/flag-category';
const FLAG_PRIORITY_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/flag-priority';
const FLAG_PRIORITY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/flag-priority-code';
const COMMUNICATION_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/communication-category';
/** Core extension "Human Language" on the payload: which language each of the two texts is in. */
const LANGUAGE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/language';

// ---------------------------------------------------------------------------------------------------------------
// Rules

/** A metric the daily series carries as one number per day: a catalogue key, or `<panel>.<component code>`. */
function isSeriesMetric(key: string): boolean {
  const [panelKey, componentCode, extra] = key.split('.');
  if (extra !== undefined || panelKey === undefined) {
    return false;
  }
  try {
    const metric = getMetric(panelKey);
    return componentCode === undefined
      ? metric.valueTypes.includes('Quantity')
      : (metric.components ?? []).some((c) => c.code.code === componentCode);
  } catch {
    return false;
  }
}

const RuleBase = {
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'rule id: lowercase letters, digits and hyphens'),
  metric: z.string().refine(isSeriesMetric, { message: 'not a catalogue metric with one number per day' }),
  severity: z.enum(['info', 'warning']),
  /** After a firing, the same rule does not fire again for this long, even if its Flag ended in between. */
  cooldownHours: z
    .number()
    .int()
    .min(0)
    .max(24 * 90),
  enabled: z.boolean(),
};

export const RatioRuleSchema = z
  .strictObject({
    ...RuleBase,
    kind: z.literal('ratio-to-baseline'),
    /** Days in the recent window whose mean is compared, ending on the day judged. */
    shortDays: z.number().int().min(1).max(28),
    /** Days in the baseline window, ending the day before the recent window starts (so the two never overlap). */
    baselineDays: z.number().int().min(7).max(180),
    /** Fires when mean(short) < below × baseline. */
    below: z.number().gt(0).lt(1).optional(),
    /** Fires when mean(short) > above × baseline. */
    above: z.number().gt(1).max(10).optional(),
  })
  .refine((r) => r.below !== undefined || r.above !== undefined, { message: 'needs below, above or both' });

export const StreakRuleSchema = z.strictObject({
  ...RuleBase,
  kind: z.literal('outside-band-streak'),
  direction: z.enum(['above', 'below']),
  /** Consecutive calendar days, ending on the day judged, each outside the personal band on `direction`'s side. */
  days: z.number().int().min(2).max(30),
});

export const AlertRuleSchema = z.discriminatedUnion('kind', [RatioRuleSchema, StreakRuleSchema]);
export type AlertRule = z.infer<typeof AlertRuleSchema>;
export type RatioRule = z.infer<typeof RatioRuleSchema>;
export type StreakRule = z.infer<typeof StreakRuleSchema>;

/** The issue's two examples, in plain descriptive terms. Owners may change any field but the id. */
export const DEFAULT_RULES: readonly AlertRule[] = Object.freeze([
  Object.freeze({
    id: 'hrv-below-baseline',
    metric: 'hrv-rmssd',
    kind: 'ratio-to-baseline',
    shortDays: 7,
    baselineDays: 30,
    below: 0.8,
    severity: 'warning',
    cooldownHours: 24,
    enabled: true,
  } satisfies RatioRule),
  Object.freeze({
    id: 'resting-heart-rate-above-band',
    metric: 'resting-heart-rate',
    kind: 'outside-band-streak',
    direction: 'above',
    days: 3,
    severity: 'info',
    cooldownHours: 24,
    enabled: true,
  } satisfies StreakRule),
]);

/**
 * @param stored - the owner's stored rules (parsed)
 * @returns every rule in force, by id: a stored rule replaces the default with its id; stored rules with new ids add
 */
export function effectiveRules(stored: readonly AlertRule[]): AlertRule[] {
  const byId = new Map<string, AlertRule>(DEFAULT_RULES.map((r) => [r.id, r]));
  for (const rule of stored) {
    byId.set(rule.id, rule);
  }
  return [...byId.values()].sort((a, b) => compareText(a.id, b.id));
}

// ---------------------------------------------------------------------------------------------------------------
// Stored rules (Basic)

/**
 * @param rule - a rule (validated here)
 * @param patient - the owner
 * @returns the Basic that stores the owner's version of the rule (write conditionally on its identifier)
 */
export function alertRuleResource(rule: AlertRule, patient: Reference<Patient>): Basic {
  const valid = AlertRuleSchema.parse(rule);
  const pid = patientIdOf(patient);
  return {
    resourceType: 'Basic',
    identifier: [{ system: ALERT_RULE_IDENTIFIER_SYSTEM, value: `${pid}:${valid.id}` }],
    code: {
      coding: [{ system: BASIC_TYPE_SYSTEM, code: ALERT_RULE_CODE, display: 'Alert rule' }],
      text: ruleDescription(valid, 'en'),
    },
    subject: { reference: `Patient/${pid}` },
    extension: [{ url: ALERT_RULE_EXTENSION, valueString: JSON.stringify(valid) }],
  };
}

const StoredRuleSchema = z.looseObject({
  resourceType: z.literal('Basic'),
  code: z.looseObject({
    coding: z.array(z.looseObject({ system: z.string().optional(), code: z.string().optional() })).optional(),
  }),
  subject: z.looseObject({ reference: z.string().regex(PATIENT_REFERENCE) }),
  extension: z.array(z.looseObject({ url: z.string(), valueString: z.string().optional() })).optional(),
});

export type AlertRuleParse = { ok: true; rule: AlertRule; patient: string } | { ok: false; errors: string[] };

/**
 * @param basic - a Basic found by ALERT_RULE_CRITERIA
 * @returns the rule, or why it is unusable (the bot then applies the default for that id and reports the problem)
 */
export function parseAlertRule(basic: Basic): AlertRuleParse {
  const shape = StoredRuleSchema.safeParse(basic);
  if (!shape.success) {
    return { ok: false, errors: shape.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) };
  }
  if (!(shape.data.code.coding ?? []).some((c) => c.system === BASIC_TYPE_SYSTEM && c.code === ALERT_RULE_CODE)) {
    return { ok: false, errors: [`code is not ${ALERT_RULE_CODE_TOKEN}`] };
  }
  const json = (shape.data.extension ?? []).find((e) => e.url === ALERT_RULE_EXTENSION)?.valueString;
  if (json === undefined) {
    return { ok: false, errors: [`no ${ALERT_RULE_EXTENSION} extension`] };
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return { ok: false, errors: ['rule is not JSON'] };
  }
  const rule = AlertRuleSchema.safeParse(value);
  if (!rule.success) {
    return { ok: false, errors: rule.error.issues.map((i) => `${i.path.join('.') || '(rule)'}: ${i.message}`) };
  }
  return { ok: true, rule: rule.data, patient: shape.data.subject.reference };
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

/**
 * Why a rule could not be judged on a day. Not evidence either way: an active Flag is kept, no new one is raised.
 * - 'too-few-recent-days' / 'too-few-baseline-days': under half of the window's days have a value (the band's own
 *   sufficiency rule), so one unusual day would dominate the mean or median.
 * - 'zero-baseline': a ratio to 0 means nothing.
 * - 'no-band': a day in the streak has no value or no band (a gap is not a deviation, nor the end of one).
 */
export type NotEvaluable = 'too-few-recent-days' | 'too-few-baseline-days' | 'zero-baseline' | 'no-band';

export interface RatioEvaluation {
  readonly kind: 'ratio-to-baseline';
  readonly holds: boolean;
  /** Which threshold was crossed, when one was. */
  readonly crossed?: 'below' | 'above';
  readonly recentMean: number;
  readonly recentDays: number;
  readonly recentStart: string;
  readonly recentEnd: string;
  /** Median of the baseline window (Baseline's "personal baseline", as in the band). */
  readonly baseline: number;
  readonly baselineDays: number;
  readonly baselineStart: string;
  readonly baselineEnd: string;
  readonly ratio: number;
}

export interface StreakEvaluation {
  readonly kind: 'outside-band-streak';
  readonly holds: boolean;
  /** The streak's days, oldest first, with each day's value and band (only days that had one). */
  readonly days: readonly { day: string; value: number; lower: number; upper: number; status: string }[];
}

export type Evaluation = RatioEvaluation | StreakEvaluation;
export type EvaluationOutcome =
  { readonly ok: true; readonly evaluation: Evaluation } | { readonly ok: false; readonly reason: NotEvaluable };

function valuesBetween(series: readonly DailyPoint[], from: number, to: number): number[] {
  const out: number[] = [];
  for (const p of series) {
    const d = dayIndex(p.day);
    if (d >= from && d <= to) {
      out.push(p.value);
    }
  }
  return out;
}

function evaluateRatio(rule: RatioRule, series: readonly DailyPoint[], asOf: number): EvaluationOutcome {
  const recentStart = asOf - rule.shortDays + 1;
  const baselineEnd = recentStart - 1;
  const baselineStart = baselineEnd - rule.baselineDays + 1;
  const recent = valuesBetween(series, recentStart, asOf);
  const base = valuesBetween(series, baselineStart, baselineEnd);
  if (recent.length < Math.ceil(rule.shortDays / 2)) {
    return { ok: false, reason: 'too-few-recent-days' };
  }
  if (base.length < Math.ceil(rule.baselineDays / 2)) {
    return { ok: false, reason: 'too-few-baseline-days' };
  }
  const baseline = median(base) ?? 0;
  if (!(baseline > 0)) {
    return { ok: false, reason: 'zero-baseline' };
  }
  const recentMean = recent.reduce((s, v) => s + v, 0) / recent.length;
  const ratio = recentMean / baseline;
  // Strict: a value exactly on a threshold has not crossed it (as classify treats a band's edge).
  const crossed =
    rule.below !== undefined && ratio < rule.below
      ? 'below'
      : rule.above !== undefined && ratio > rule.above
        ? 'above'
        : undefined;
  return {
    ok: true,
    evaluation: {
      kind: 'ratio-to-baseline',
      holds: crossed !== undefined,
      ...(crossed ? { crossed } : {}),
      recentMean,
      recentDays: recent.length,
      recentStart: dayFromIndex(recentStart),
      recentEnd: dayFromIndex(asOf),
      baseline,
      baselineDays: base.length,
      baselineStart: dayFromIndex(baselineStart),
      baselineEnd: dayFromIndex(baselineEnd),
      ratio,
    },
  };
}

function evaluateStreak(rule: StreakRule, bands: readonly BandDay[], asOf: number): EvaluationOutcome {
  const byDay = new Map(bands.map((b) => [b.day, b]));
  const days: { day: string; value: number; lower: number; upper: number; status: string }[] = [];
  let contradicted = false;
  let missing = false;
  for (let d = asOf - rule.days + 1; d <= asOf; d++) {
    const day = dayFromIndex(d);
    const banded = byDay.get(day);
    if (!banded || !banded.outcome.ok) {
      missing = true;
      continue;
    }
    days.push({
      day,
      value: banded.value,
      lower: banded.outcome.band.lower,
      upper: banded.outcome.band.upper,
      status: banded.status,
    });
    if (banded.status !== rule.direction) {
      contradicted = true;
    }
  }
  // One banded day on the other side ends the streak; a gap alone says nothing.
  if (!contradicted && missing) {
    return { ok: false, reason: 'no-band' };
  }
  return { ok: true, evaluation: { kind: 'outside-band-streak', holds: !contradicted, days } };
}

/**
 * @param rule - the rule
 * @param series - the rule metric's daily series (annotated days already left out), ascending by day
 * @param bands - rollingBands of that series (needed by 'outside-band-streak' only)
 * @param asOfDay - the owner-local day judged, YYYY-MM-DD
 */
export function evaluateRule(
  rule: AlertRule,
  series: readonly DailyPoint[],
  bands: readonly BandDay[],
  asOfDay: string
): EvaluationOutcome {
  const asOf = dayIndex(asOfDay);
  switch (rule.kind) {
    case 'ratio-to-baseline':
      return evaluateRatio(rule, series, asOf);
    case 'outside-band-streak':
      return evaluateStreak(rule, bands, asOf);
  }
}

/** A Flag Baseline raised, as evaluateRules needs it (parseAlertFlag reads one from the server). */
export interface FlagState {
  readonly ruleId: string;
  readonly status: 'active' | 'inactive';
  /** When it was raised (Flag.period.start, an instant): the cooldown counts from here. */
  readonly firedAt: string;
  /** The owner-local day that was judged when it was raised (part of its identifier). */
  readonly day: string;
  readonly flagId?: string;
}

export interface Firing {
  readonly rule: AlertRule;
  readonly asOfDay: string;
  readonly firedAt: string;
  readonly evaluation: Evaluation;
  readonly text: AlertText;
}

export interface Clearing {
  readonly ruleId: string;
  readonly flag: FlagState;
  /** 'cleared': the condition no longer holds; 'disabled' / 'removed': the owner turned the rule off or deleted it. */
  readonly reason: 'cleared' | 'disabled' | 'removed' | 'superseded';
  readonly evaluation?: Evaluation;
}

export interface Keeping {
  readonly ruleId: string;
  readonly flag: FlagState;
  readonly reason: 'holds' | NotEvaluable;
}

export interface Skipping {
  readonly ruleId: string;
  readonly reason: 'disabled' | 'not-met' | 'cooldown' | 'already-fired' | NotEvaluable;
  /** For 'cooldown': the first instant the rule may fire again. */
  readonly until?: string;
}

export interface AlertDecisions {
  readonly fire: readonly Firing[];
  readonly clear: readonly Clearing[];
  readonly keep: readonly Keeping[];
  /** Rules that do nothing this time, with why (for the bot's log and the tests). */
  readonly skip: readonly Skipping[];
}

const INSTANT = z.iso.datetime({ offset: true });

function instantMs(instant: string, what: string): number {
  if (!INSTANT.safeParse(instant).success) {
    throw new RangeError(`${what} is not an instant with a zone: ${instant}`);
  }
  return Date.parse(instant);
}

/**
 * Decides, for one owner and one recompute, which rules fire, which Flags end and which stay. Deterministic: the
 * result depends only on the arguments (rules are handled in id order) and not on their order.
 *
 * - A rule fires when its condition holds, it has no active Flag, and its last firing is at least cooldownHours
 *   before `now`. While its Flag stays active nothing new is sent: the Flag is the standing signal, and repeating
 *   the same message daily would teach the owner to ignore it. The cooldown therefore limits re-firing after a
 *   Flag ended (a condition flickering around its threshold).
 * - An active Flag ends when its condition is judged and does not hold, when its rule is disabled or removed, or
 *   when another active Flag of the same rule is newer (a duplicate from a concurrent run). It stays while the
 *   condition holds or cannot be judged.
 *
 * @param rules - the rules in force (effectiveRules)
 * @param seriesByMetric - series key → daily points, annotated days left out
 * @param bandsByMetric - series key → rollingBands of that series
 * @param asOfDay - the owner-local day judged: one for every rule, or a rule's own (the newest day of its metric)
 * @param flags - the owner's Baseline alert Flags: every active one, and at least the latest of each rule
 * @param now - the current instant (ISO 8601 with zone)
 */
export function evaluateRules(
  rules: readonly AlertRule[],
  seriesByMetric: Readonly<Record<string, readonly DailyPoint[]>>,
  bandsByMetric: Readonly<Record<string, readonly BandDay[]>>,
  asOfDay: string | ((rule: AlertRule) => string),
  flags: readonly FlagState[],
  now: string
): AlertDecisions {
  const nowMs = instantMs(now, 'now');
  const dayOf = typeof asOfDay === 'string' ? () => asOfDay : asOfDay;
  const fire: Firing[] = [];
  const clear: Clearing[] = [];
  const keep: Keeping[] = [];
  const skip: Skipping[] = [];
  const ruleIds = new Set<string>();
  const ordered = [...rules].sort((a, b) => compareText(a.id, b.id));
  const byNewest = (a: FlagState, b: FlagState) =>
    instantMs(b.firedAt, 'firedAt') - instantMs(a.firedAt, 'firedAt') || compareText(b.flagId ?? '', a.flagId ?? '');

  for (const rule of ordered) {
    if (ruleIds.has(rule.id)) {
      throw new Error(`two rules with id ${rule.id}`);
    }
    ruleIds.add(rule.id);
    const own = flags.filter((f) => f.ruleId === rule.id).sort(byNewest);
    const active = own.filter((f) => f.status === 'active');
    const current = active[0];
    for (const extra of active.slice(1)) {
      clear.push({ ruleId: rule.id, flag: extra, reason: 'superseded' });
    }
    if (!rule.enabled) {
      if (current) {
        clear.push({ ruleId: rule.id, flag: current, reason: 'disabled' });
      } else {
        skip.push({ ruleId: rule.id, reason: 'disabled' });
      }
      continue;
    }
    const day = dayOf(rule);
    dayIndex(day);
    const outcome = evaluateRule(rule, seriesByMetric[rule.metric] ?? [], bandsByMetric[rule.metric] ?? [], day);
    if (!outcome.ok) {
      if (current) {
        keep.push({ ruleId: rule.id, flag: current, reason: outcome.reason });
      } else {
        skip.push({ ruleId: rule.id, reason: outcome.reason });
      }
      continue;
    }
    const evaluation = outcome.evaluation;
    if (!evaluation.holds) {
      if (current) {
        clear.push({ ruleId: rule.id, flag: current, reason: 'cleared', evaluation });
      } else {
        skip.push({ ruleId: rule.id, reason: 'not-met' });
      }
      continue;
    }
    if (current) {
      keep.push({ ruleId: rule.id, flag: current, reason: 'holds' });
      continue;
    }
    const last = own[0];
    if (last && last.day === day) {
      // One firing per rule and judged day (its Flag and Communication are identified by the day): a rule turned
      // off and on again over the same data does not raise the same alert twice.
      skip.push({ ruleId: rule.id, reason: 'already-fired' });
      continue;
    }
    const untilMs = last ? instantMs(last.firedAt, 'firedAt') + rule.cooldownHours * 3_600_000 : -Infinity;
    if (nowMs < untilMs) {
      skip.push({ ruleId: rule.id, reason: 'cooldown', until: new Date(untilMs).toISOString() });
      continue;
    }
    fire.push({ rule, asOfDay: day, firedAt: now, evaluation, text: alertText(rule, evaluation) });
  }
  const orphans = flags
    .filter((f) => f.status === 'active' && !ruleIds.has(f.ruleId))
    .sort((a, b) => compareText(a.ruleId, b.ruleId) || byNewest(a, b));
  for (const flag of orphans) {
    clear.push({ ruleId: flag.ruleId, flag, reason: 'removed' });
  }
  return { fire, clear, keep, skip };
}

// ---------------------------------------------------------------------------------------------------------------
// Texts

export type Language = 'en' | 'de';
export interface AlertText {
  readonly en: string;
  readonly de: string;
}

function metricWords(key: string): { label: string; labelDe: string; unit: string; unitDe: string } {
  const [panelKey = key, componentCode] = key.split('.');
  const metric = getMetric(panelKey);
  const component = componentCode ? metric.components?.find((c) => c.code.code === componentCode) : undefined;
  const label = component ? `${metric.label}, ${component.label.toLowerCase()}` : metric.label;
  const unit = metric.unitLabel;
  return { label, labelDe: GERMAN_LABELS[key] ?? label, unit, unitDe: GERMAN_UNITS[unit] ?? unit };
}

/** "Resting heart rate" → "resting heart rate"; "HRV (RMSSD)" stays (an initialism keeps its capitals). */
function inSentence(label: string): string {
  const second = label.charAt(1);
  return second !== '' && second === second.toLowerCase() ? label.charAt(0).toLowerCase() + label.slice(1) : label;
}

function num(value: number, lang: Language): string {
  const rounded = Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 10) / 10;
  const text = String(rounded);
  return lang === 'de' ? text.replace('.', ',') : text;
}

/**
 * The ratio as a whole percent, except where rounding would land on the threshold itself ("80 %" for a firing
 * below 80 %): there one decimal, cut toward the side that fired, so the text never contradicts the rule.
 */
function percent(ratio: number, threshold: number | undefined, lang: Language): string {
  const whole = Math.round(ratio * 100);
  if (threshold === undefined || whole !== Math.round(threshold * 100)) {
    return String(whole);
  }
  const tenths = ratio < threshold ? Math.floor(ratio * 1000) / 10 : Math.ceil(ratio * 1000) / 10;
  const text = tenths.toFixed(1);
  return lang === 'de' ? text.replace('.', ',') : text;
}

const NOT_A_CAUSE: AlertText = {
  en: 'This describes your measurements only, not their cause.',
  de: 'Das beschreibt nur Ihre Messwerte, nicht deren Ursache.',
};

/**
 * @param rule - the rule that fired
 * @param evaluation - its evaluation (holds)
 * @returns the message to the owner, in English and German: the numbers and how they compare with the owner's own
 *   history; never a cause, a condition or a diagnosis
 */
export function alertText(rule: AlertRule, evaluation: Evaluation): AlertText {
  const w = metricWords(rule.metric);
  if (rule.kind === 'ratio-to-baseline' && evaluation.kind === 'ratio-to-baseline') {
    const threshold = evaluation.crossed === 'above' ? rule.above : rule.below;
    const pct = (lang: Language) => percent(evaluation.ratio, threshold, lang);
    return {
      en:
        `Your ${rule.shortDays}-day average ${inSentence(w.label)} is ${pct('en')} % of your ` +
        `${rule.baselineDays}-day baseline (${num(evaluation.recentMean, 'en')} ${w.unit}; baseline ` +
        `${num(evaluation.baseline, 'en')} ${w.unit}). ${NOT_A_CAUSE.en}`,
      de:
        `${w.labelDe}: Ihr ${rule.shortDays}-Tage-Mittelwert beträgt ${pct('de')} % Ihres ` +
        `${rule.baselineDays}-Tage-Ausgangswerts (${num(evaluation.recentMean, 'de')} ${w.unitDe}; Ausgangswert ` +
        `${num(evaluation.baseline, 'de')} ${w.unitDe}). ${NOT_A_CAUSE.de}`,
    };
  }
  if (rule.kind === 'outside-band-streak' && evaluation.kind === 'outside-band-streak') {
    const latest = evaluation.days[evaluation.days.length - 1];
    const n = evaluation.days.length;
    const above = rule.direction === 'above';
    const range = (lang: Language, unit: string) =>
      latest
        ? ` (${lang === 'en' ? 'latest' : 'zuletzt'} ${num(latest.value, lang)} ${unit}; ` +
          `${lang === 'en' ? 'usual range' : 'üblicher Bereich'} ` +
          `${num(latest.lower, lang)}–${num(latest.upper, lang)} ${unit})`
        : '';
    return {
      en:
        `Your ${inSentence(w.label)} has been ${above ? 'above' : 'below'} your usual range on ${n} days in a row` +
        `${range('en', w.unit)}. ${NOT_A_CAUSE.en}`,
      de:
        `${w.labelDe}: an ${n} Tagen in Folge ${above ? 'über' : 'unter'} Ihrem üblichen Bereich` +
        `${range('de', w.unitDe)}. ${NOT_A_CAUSE.de}`,
    };
  }
  throw new Error(`rule ${rule.id} (${rule.kind}) cannot describe a ${evaluation.kind} evaluation`);
}

/** A threshold as a percent with as many decimals as it has (0.999 is 99.9 %, never a rounded 100 %). */
function thresholdPercent(ratio: number, lang: Language): string {
  const value = Number((ratio * 100).toPrecision(6));
  return `${lang === 'de' ? String(value).replace('.', ',') : String(value)} %`;
}

/** What a rule watches, in words (Flag.code.text, the rule list in the app). */
export function ruleDescription(rule: AlertRule, lang: Language): string {
  const w = metricWords(rule.metric);
  if (rule.kind === 'ratio-to-baseline') {
    const parts: string[] = [];
    if (rule.below !== undefined) {
      parts.push(`${lang === 'en' ? 'below' : 'unter'} ${thresholdPercent(rule.below, lang)}`);
    }
    if (rule.above !== undefined) {
      parts.push(`${lang === 'en' ? 'above' : 'über'} ${thresholdPercent(rule.above, lang)}`);
    }
    return lang === 'en'
      ? `${rule.shortDays}-day average ${inSentence(w.label)} ${parts.join(' or ')} of its ${rule.baselineDays}-day baseline`
      : `${w.labelDe}: ${rule.shortDays}-Tage-Mittelwert ${parts.join(' oder ')} des ${rule.baselineDays}-Tage-Ausgangswerts`;
  }
  const side = rule.direction === 'above' ? (lang === 'en' ? 'above' : 'über') : lang === 'en' ? 'below' : 'unter';
  return lang === 'en'
    ? `${w.label} ${side} its usual range on ${rule.days} consecutive days`
    : `${w.labelDe}: an ${rule.days} aufeinanderfolgenden Tagen ${side} dem üblichen Bereich`;
}

// ---------------------------------------------------------------------------------------------------------------
// FHIR resources

/**
 * @param firing - a firing from evaluateRules
 * @param patient - the owner
 * @returns the active Flag (write conditionally on its identifier: `<patient id>:<rule id>:<day judged>`, so two
 *   runs judging the same day raise one Flag)
 */
export function flagResource(firing: Firing, patient: Reference<Patient>): Flag {
  const pid = patientIdOf(patient);
  const priority = firing.rule.severity === 'warning' ? 'PM' : 'PL';
  const priorityDisplay = firing.rule.severity === 'warning' ? 'Medium priority' : 'Low priority';
  return {
    resourceType: 'Flag',
    identifier: [{ system: ALERT_FLAG_IDENTIFIER_SYSTEM, value: `${pid}:${firing.rule.id}:${firing.asOfDay}` }],
    status: 'active',
    // Flags about the subject's clinical data; the text itself stays descriptive.
    category: [{ coding: [{ system: FLAG_CATEGORY_SYSTEM, code: 'clinical', display: 'Clinical' }] }],
    code: {
      coding: [{ system: ALERT_RULE_SYSTEM, code: firing.rule.id, display: ruleDescription(firing.rule, 'en') }],
      text: firing.text.en,
    },
    subject: { reference: `Patient/${pid}` },
    period: { start: firing.firedAt },
    extension: [
      {
        url: FLAG_PRIORITY_EXTENSION,
        valueCodeableConcept: { coding: [{ system: FLAG_PRIORITY_SYSTEM, code: priority, display: priorityDisplay }] },
      },
    ],
  };
}

/**
 * @param flag - the stored active Flag
 * @param now - when the condition was found cleared (or the rule turned off)
 * @returns the same Flag, inactive, its period ended
 */
export function endedFlag(flag: Flag, now: string): Flag {
  instantMs(now, 'now');
  return { ...flag, status: 'inactive', period: { ...flag.period, end: now } };
}

const StoredFlagSchema = z.looseObject({
  resourceType: z.literal('Flag'),
  id: z.string().optional(),
  status: z.enum(['active', 'inactive', 'entered-in-error']),
  identifier: z.array(z.looseObject({ system: z.string().optional(), value: z.string().optional() })).optional(),
  period: z.looseObject({ start: INSTANT }),
});

/**
 * @param flag - a Flag from the owner's record
 * @returns its state for evaluateRules, or undefined when it is not a Baseline alert Flag (or was entered in error)
 */
export function parseAlertFlag(flag: Flag): FlagState | undefined {
  const parsed = StoredFlagSchema.safeParse(flag);
  if (!parsed.success || parsed.data.status === 'entered-in-error') {
    return undefined;
  }
  const value = parsed.data.identifier?.find((i) => i.system === ALERT_FLAG_IDENTIFIER_SYSTEM)?.value;
  const match = /^[^:]+:([a-z0-9][a-z0-9-]{0,63}):(\d{4}-\d{2}-\d{2})$/.exec(value ?? '');
  if (!match?.[1] || !match[2]) {
    return undefined;
  }
  return {
    ruleId: match[1],
    status: parsed.data.status,
    firedAt: parsed.data.period.start,
    day: match[2],
    ...(parsed.data.id ? { flagId: parsed.data.id } : {}),
  };
}

/**
 * Search parameters for one owner's Flags, newest first (`medplum.searchResources('Flag', …)`); parseAlertFlag
 * picks Baseline's out of them (R4 Flag has no code or category search parameter).
 */
export function alertFlagSearch(patient: Reference<Patient>): string {
  return `subject=${encodeURIComponent(`Patient/${patientIdOf(patient)}`)}&_sort=-date&_count=100`;
}

export interface CommunicationOptions {
  /** The Flag the message is about, once written (or its urn:uuid in a transaction). */
  readonly flag?: Reference<Flag>;
  /** Clinicians (or EHR organisations) the owner chose to inform: grantees of grants that include alerts. */
  readonly clinicians?: readonly Reference<Practitioner | Organization>[];
}

function languagePayload(text: string, lang: Language): { extension: Extension[]; contentString: string } {
  return { extension: [{ url: LANGUAGE_EXTENSION, valueCode: lang }], contentString: text };
}

/**
 * @param firing - a firing from evaluateRules
 * @param patient - the owner (recipient and subject)
 * @param options - the Flag it is about; clinicians to copy
 * @returns the Communication (write conditionally on its identifier `<patient id>:<rule id>:<day judged>`, so a
 *   retried run sends it once)
 */
export function communicationResource(
  firing: Firing,
  patient: Reference<Patient>,
  options: CommunicationOptions = {}
): Communication {
  const pid = patientIdOf(patient);
  const owner = { reference: `Patient/${pid}` };
  return {
    resourceType: 'Communication',
    identifier: [
      { system: ALERT_COMMUNICATION_IDENTIFIER_SYSTEM, value: `${pid}:${firing.rule.id}:${firing.asOfDay}` },
    ],
    status: 'completed',
    category: [{ coding: [{ system: COMMUNICATION_CATEGORY_SYSTEM, code: 'alert', display: 'Alert' }] }],
    priority: 'routine',
    subject: owner,
    recipient: [owner, ...(options.clinicians ?? []).map((c) => ({ reference: c.reference }))],
    ...(options.flag ? { about: [{ reference: options.flag.reference }] } : {}),
    sent: firing.firedAt,
    payload: [languagePayload(firing.text.en, 'en'), languagePayload(firing.text.de, 'de')],
  };
}
