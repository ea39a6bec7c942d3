/**
 * Everything one recompute decides for one owner (issue 8 §1–§6), pure: from the owner's stored Observations
 * (wearable data, annotations, what was derived before), their settings (alert rules, source ladders) and their
 * alert Flags, to
 * - the derived Observations (bands, trends, projections: derive.ts) over the daily series with annotated days left
 *   out and the owner's ladders applied;
 * - the period narratives of the last complete ISO week and calendar month, in every locale (narrative.ts); a period
 *   that is gated gets none, and one written earlier for that period is superseded (status cancelled);
 * - the alert decisions (alerts.ts): which rules fire, which Flags end.
 * The analytics bot (recompute.ts) reads, calls planInsights and writes the difference; the benchmark times this.
 *
 * Narratives name the bands they rest on by identifier (a logical reference), not by id: a narrative written in the
 * same run as its bands would otherwise change on the next run, when the bands have ids, and a recompute with no new
 * data must write nothing.
 */
import type { Basic, Flag, Observation, Reference } from '@medplum/fhirtypes';
import { NARRATIVE_PROFILE } from '../shared/systems.ts';
import { sameObservation } from '../shared/write-changed.ts';
import { ALERT_RULE_CODE, effectiveRules, evaluateRules, parseAlertFlag, parseAlertRule } from './alerts.ts';
import type { AlertDecisions, AlertRule, FlagState } from './alerts.ts';
import { ANNOTATION_CODE, ANNOTATION_CODE_SYSTEM } from './annotation-kinds.ts';
import { excludedDaysFrom, parseAnnotation } from './annotations.ts';
import type { Annotation } from './annotations.ts';
import { DERIVED_IDENTIFIER_SYSTEM, planDerived } from './derive.ts';
import type { DerivedPlan } from './derive.ts';
import { buildBeats, LOCALES, NARRATIVE_IDENTIFIER_SYSTEM, narrativeObservation } from './narrative.ts';
import type { Beats, NarrativeGate } from './narrative.ts';
import { ANALYTICS_PARAMS } from './params.ts';
import type { AnalyticsParams } from './params.ts';
import { lastCompletePeriod, priorPeriod } from './periods.ts';
import type { Period, PeriodKind } from './periods.ts';
import { parseSourcePriority, SOURCE_PRIORITY_CODE } from './source-priority.ts';
import type { Ladders } from './source-priority.ts';
import { dayFromIndex, dayIndex, rollingBands } from './stats.ts';
import type { BandDay } from './stats.ts';
import { BASIC_TYPE_SYSTEM } from '../shared/extensions.ts';

export const NARRATIVE_PERIODS: readonly PeriodKind[] = ['week', 'month'];
/** Wearable inputs a narrative names when no band of its period exists (the profile needs at least one). */
const MAX_NARRATIVE_INPUTS = 60;

export interface InsightsInput {
  /** `Patient/<id>`. */
  readonly patient: string;
  /** Every Observation of the owner as stored: wearable, annotations, derived and narrative. */
  readonly observations: readonly Observation[];
  /** The owner's setting Basics (alert rules, source ladders); others are ignored. */
  readonly settings: readonly Basic[];
  /** The owner's Flags (Baseline's alert Flags are picked out). */
  readonly flags: readonly Flag[];
  readonly now: Date;
  readonly params?: AnalyticsParams;
}

export interface NarrativePlan {
  /** The narratives that should stand for the periods judged (cancellations of gated ones included). */
  readonly desired: Observation[];
  /** The subset that differs from what is stored. */
  readonly writes: Observation[];
  readonly unchanged: number;
  readonly cancelled: number;
  /** Periods with no narrative, and why. */
  readonly gated: readonly { readonly period: Period; readonly gate: NarrativeGate }[];
}

export interface InsightsPlan {
  readonly derived: DerivedPlan;
  readonly narratives: NarrativePlan;
  readonly alerts: AlertDecisions;
  /** The day each alert rule was judged on, by rule id. */
  readonly alertDays: Readonly<Record<string, string>>;
  /** Standing annotations of the owner (their days are out of every series). */
  readonly annotations: readonly Annotation[];
  /** Stored settings or annotations that could not be read (logged by the bot; the defaults apply). */
  readonly problems: readonly string[];
}

function hasCode(codings: readonly { system?: string; code?: string }[] | undefined, system: string, code: string) {
  return (codings ?? []).some((c) => c.system === system && c.code === code);
}

function identifierValue(o: Observation, system: string): string | undefined {
  return o.identifier?.find((i) => i.system === system)?.value;
}

/** The owner's annotations, ladders and rules, each read defensively: one bad record never stops a recompute. */
function readSettings(input: InsightsInput): {
  annotations: Annotation[];
  ladders: Ladders;
  rules: AlertRule[];
  problems: string[];
} {
  const problems: string[] = [];
  const annotations: Annotation[] = [];
  for (const o of input.observations) {
    if (!hasCode(o.code?.coding, ANNOTATION_CODE_SYSTEM, ANNOTATION_CODE.code)) {
      continue;
    }
    const parsed = parseAnnotation(o);
    if (!parsed.ok) {
      problems.push(`annotation ${o.id ?? '(no id)'}: ${parsed.errors.join('; ')}`);
    } else if (['final', 'amended', 'corrected'].includes(parsed.annotation.status)) {
      annotations.push(parsed.annotation);
    }
  }
  let ladders: Ladders = {};
  const rules: AlertRule[] = [];
  for (const b of input.settings) {
    if (b.subject?.reference !== input.patient) {
      continue;
    }
    if (hasCode(b.code?.coding, BASIC_TYPE_SYSTEM, SOURCE_PRIORITY_CODE)) {
      const parsed = parseSourcePriority(b);
      if (parsed.ok) {
        ladders = parsed.ladders;
      } else {
        problems.push(`source priority ${b.id ?? '(no id)'}: ${parsed.errors.join('; ')}`);
      }
    } else if (hasCode(b.code?.coding, BASIC_TYPE_SYSTEM, ALERT_RULE_CODE)) {
      const parsed = parseAlertRule(b);
      if (parsed.ok) {
        rules.push(parsed.rule);
      } else {
        problems.push(`alert rule ${b.id ?? '(no id)'}: ${parsed.errors.join('; ')}`);
      }
    }
  }
  return { annotations, ladders, rules, problems };
}

/** The band Observations (by identifier) whose windows judged the period's days, for its metrics. */
function bandsBehind(beats: Beats, derived: readonly Observation[]): Reference<Observation>[] {
  const metrics = new Set([...beats.deltas.map((d) => d.key), ...beats.bands.map((b) => b.key)]);
  const from = dayFromIndex(dayIndex(beats.period.start) - 1);
  const to = dayFromIndex(dayIndex(beats.period.end) - 1);
  const refs: Reference<Observation>[] = [];
  for (const o of derived) {
    const value = identifierValue(o, DERIVED_IDENTIFIER_SYSTEM);
    const [, metric, kind, slot] = value?.split('/') ?? [];
    const windowEnd = slot?.startsWith('week-ending-') ? slot.slice('week-ending-'.length) : undefined;
    if (
      o.status === 'final' &&
      kind === 'personal-baseline' &&
      metric !== undefined &&
      metrics.has(metric) &&
      windowEnd !== undefined &&
      windowEnd >= from &&
      windowEnd <= to
    ) {
      refs.push({ type: 'Observation', identifier: { system: DERIVED_IDENTIFIER_SYSTEM, value } });
    }
  }
  return refs;
}

/** Fallback provenance: the wearable Observations of the period (when no band of it exists yet). */
function inputsOf(beats: Beats, series: DerivedPlan['series']): Reference<Observation>[] {
  const ids = new Set<string>();
  for (const d of beats.deltas) {
    for (const v of series[d.key] ?? []) {
      if (v.day >= beats.period.start && v.day <= beats.period.end) {
        v.observationIds.forEach((id) => ids.add(id));
      }
    }
  }
  return [...ids]
    .sort()
    .slice(0, MAX_NARRATIVE_INPUTS)
    .map((id) => ({ reference: `Observation/${id}` }));
}

function planNarratives(
  input: InsightsInput,
  derived: DerivedPlan,
  bands: Readonly<Record<string, readonly BandDay[]>>,
  annotations: readonly Annotation[]
): NarrativePlan {
  const stored = new Map<string, Observation>();
  for (const o of input.observations) {
    const key = identifierValue(o, NARRATIVE_IDENTIFIER_SYSTEM);
    if (key !== undefined && o.meta?.profile?.includes(NARRATIVE_PROFILE)) {
      stored.set(key, o);
    }
  }
  const pid = input.patient.replace(/^Patient\//, '');
  const desired: Observation[] = [];
  const gated: { period: Period; gate: NarrativeGate }[] = [];
  for (const kind of NARRATIVE_PERIODS) {
    const period = lastCompletePeriod(kind, derived.asOf);
    const outcome = buildBeats({
      series: derived.series,
      bands,
      period,
      prior: priorPeriod(period),
      annotations: annotations.map((a) => ({
        start: a.start,
        end: a.end,
        kind: a.kind,
        ...(a.note !== undefined ? { note: a.note } : {}),
      })),
    });
    const code = kind === 'week' ? 'narrative-weekly' : 'narrative-monthly';
    if (!outcome.ok) {
      gated.push({ period, gate: outcome.gated });
      for (const locale of LOCALES) {
        const old = stored.get(`${pid}/${code}/${period.start}--${period.end}/${locale}`);
        if (old && old.status !== 'cancelled') {
          const { id: _id, meta, ...rest } = old;
          desired.push({
            ...rest,
            meta: { profile: meta?.profile ?? [NARRATIVE_PROFILE] },
            status: 'cancelled',
            note: [{ text: `Superseded: no narrative for this period any more (${outcome.gated})` }],
          });
        }
      }
      continue;
    }
    const behind = bandsBehind(outcome.beats, derived.desired);
    const derivedFrom = behind.length > 0 ? behind : inputsOf(outcome.beats, derived.series);
    for (const locale of LOCALES) {
      desired.push(
        narrativeObservation({
          subject: { reference: input.patient },
          beats: outcome.beats,
          locale,
          derivedFrom,
        })
      );
    }
  }
  const writes: Observation[] = [];
  let unchanged = 0;
  let cancelled = 0;
  for (const o of desired) {
    const old = stored.get(identifierValue(o, NARRATIVE_IDENTIFIER_SYSTEM) ?? '');
    if (old && sameObservation(old, o)) {
      unchanged++;
    } else {
      writes.push(o);
      cancelled += o.status === 'cancelled' ? 1 : 0;
    }
  }
  return { desired, writes, unchanged, cancelled, gated };
}

/**
 * The day a rule is judged on: the newest day of its own metric while that is recent (a wearable's day arrives the
 * morning after, and another metric's newer day — a body weight read today — would break every streak), else today,
 * so a stale condition is judged, not carried forever.
 */
function alertDayOf(series: DerivedPlan['series'], now: Date, params: AnalyticsParams): (metric: string) => string {
  const today = now.toISOString().slice(0, 10);
  return (metric) => {
    const newest = series[metric]?.at(-1)?.day;
    if (newest === undefined) {
      return today;
    }
    return newest >= today || dayIndex(today) - dayIndex(newest) <= params.trend.maxStalenessDays ? newest : today;
  };
}

/**
 * @param input - the owner's stored Observations, settings and Flags, and the time
 * @returns what should stand and what must be written for it to
 */
export function planInsights(input: InsightsInput): InsightsPlan {
  const params = input.params ?? ANALYTICS_PARAMS;
  const { annotations, ladders, rules, problems } = readSettings(input);
  const derived = planDerived({
    patient: input.patient,
    observations: input.observations,
    now: input.now,
    params,
    daily: { excludedDays: excludedDaysFrom(annotations), sourcePriority: ladders },
  });
  const bands: Record<string, BandDay[]> = {};
  for (const [key, values] of Object.entries(derived.series)) {
    bands[key] = rollingBands(values, params.band);
  }
  const narratives = planNarratives(input, derived, bands, annotations);
  const flags = input.flags.map(parseAlertFlag).filter((f): f is FlagState => f !== undefined);
  const dayOf = alertDayOf(derived.series, input.now, params);
  const inForce = effectiveRules(rules);
  const alerts = evaluateRules(
    inForce,
    derived.series,
    bands,
    (rule) => dayOf(rule.metric),
    flags,
    input.now.toISOString()
  );
  const alertDays = Object.fromEntries(inForce.map((r) => [r.id, dayOf(r.metric)]));
  return { derived, narratives, alerts, alertDays, annotations, problems };
}
