/**
 * The period narratives the analytics bot stores (bots/analytics/narrative.ts narrativeObservation), read back for
 * the narrative card on Home: which one to show for a week or a month in the owner's language, and its provenance
 * (the method, the sources, the band Observations it rests on, the beats as numbers) in the same language.
 *
 * A narrative exists only when the bot found enough data; for a gated period it writes nothing. So "no narrative
 * for the last complete period" is what the app reads as "not enough data yet", worded with the bot's own gate text
 * (renderGate), never filled with an older story presented as current.
 *
 * Pure: the search parameters are built and the resources parsed here; the I/O is the component's.
 */
import type { Observation } from '@medplum/fhirtypes';
import { z } from 'zod';
import {
  NARRATIVE_EXTENSION,
  NARRATIVE_IDENTIFIER_SYSTEM,
  formatDay,
  formatNumber,
} from '../../../bots/analytics/narrative.ts';
import { lastCompletePeriod, periodContaining } from '../../../bots/analytics/periods.ts';
import type { Period, PeriodKind } from '../../../bots/analytics/periods.ts';
import { TASK_TYPE_SYSTEM } from '../../../bots/shared/extensions.ts';
import { CODE_SYSTEM, NARRATIVE_PROFILE } from '../../../bots/shared/systems.ts';
import { describeFailedLoad } from './human-errors.ts';
import type { HumanError } from './human-errors.ts';
import type { Language } from './language.ts';

export { renderGate } from '../../../bots/analytics/narrative.ts';

export const NARRATIVE_CODES: Readonly<Record<PeriodKind, string>> = {
  week: 'narrative-weekly',
  month: 'narrative-monthly',
};

/** Narratives that stand; a superseded or retracted one is not shown. */
const SHOWN_STATUSES = ['final', 'amended', 'corrected'];

/**
 * One search for the owner's recent narratives of both kinds in both languages, newest period first. The bot keeps
 * one per owner × period × language, so 24 cover the latest periods of each kind even with older ones left over.
 * @param patientId - the owner's Patient id
 * @returns the Observation search parameters
 */
export function narrativeSearch(patientId: string): Record<string, string> {
  return {
    subject: `Patient/${patientId}`,
    code: [NARRATIVE_CODES.week, NARRATIVE_CODES.month].map((c) => `${CODE_SYSTEM}|${c}`).join(','),
    status: SHOWN_STATUSES.join(','),
    _sort: '-date',
    _count: '24',
  };
}

/**
 * @param patientId - the owner's Patient id
 * @param state - 'pending' (waiting or running) or 'completed'
 * @returns Task search parameters counting the owner's analytics recomputes in that state: Home reloads its
 *   insights when the completed count moves (each recompute is one Task), and asks more often while one is pending
 */
export function recomputeCountSearch(patientId: string, state: 'pending' | 'completed'): Record<string, string> {
  return {
    code: `${TASK_TYPE_SYSTEM}|analytics`,
    subject: `Patient/${patientId}`,
    status: state === 'pending' ? 'requested,in-progress' : 'completed',
    _summary: 'count',
  };
}

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

const ExtensionSchema = z.looseObject({
  url: z.string(),
  valueString: z.string().optional(),
});

const ComponentSchema = z.looseObject({
  extension: z.array(ExtensionSchema).optional(),
  code: z.looseObject({ text: z.string().optional() }),
  valueQuantity: z
    .looseObject({ value: z.number().optional(), unit: z.string().optional(), code: z.string().optional() })
    .optional(),
  valueInteger: z.number().optional(),
  valueDateTime: z.string().optional(),
  valuePeriod: z.looseObject({ start: z.string().optional(), end: z.string().optional() }).optional(),
});

const NarrativeSchema = z.looseObject({
  resourceType: z.literal('Observation'),
  id: z.string(),
  language: z.string().optional(),
  meta: z.looseObject({ profile: z.array(z.string()).optional() }).optional(),
  identifier: z.array(z.looseObject({ system: z.string().optional(), value: z.string().optional() })).optional(),
  code: z.looseObject({
    coding: z.array(z.looseObject({ system: z.string().optional(), code: z.string().optional() })).optional(),
  }),
  effectivePeriod: z.looseObject({ start: Day, end: Day }),
  method: z.looseObject({ text: z.string().optional() }).optional(),
  derivedFrom: z
    .array(
      z.looseObject({
        reference: z.string().optional(),
        identifier: z.looseObject({ system: z.string().optional(), value: z.string().optional() }).optional(),
      })
    )
    .optional(),
  valueString: z.string().min(1),
  component: z.array(ComponentSchema).optional(),
});

export type BeatValue =
  | { readonly type: 'quantity'; readonly value: number; readonly unit: string }
  | { readonly type: 'integer'; readonly value: number }
  | { readonly type: 'day'; readonly day: string }
  | { readonly type: 'span'; readonly start: string; readonly end: string }
  | { readonly type: 'none' };

/** One stored beat (a component): what it is, about which metric (as the bot labelled it), its number, its sources. */
export interface BeatRow {
  readonly beat: string;
  readonly subject: string;
  readonly value: BeatValue;
  readonly sources: readonly string[];
}

/**
 * What a narrative rests on: a literal reference ('Observation/<id>'), or a logical one by identifier (the bot names
 * bands by identifier, so a narrative written in the same run as its bands stays unchanged once they have ids).
 */
export type DerivedRef =
  { readonly reference: string } | { readonly identifier: { readonly system: string; readonly value: string } };

export interface NarrativeView {
  readonly id: string;
  readonly kind: PeriodKind;
  readonly language: Language;
  readonly start: string;
  readonly end: string;
  readonly text: string;
  readonly method: string | undefined;
  /** Every derived Observation the narrative rests on. */
  readonly derivedFrom: readonly DerivedRef[];
  /** Every source any beat names, sorted. */
  readonly sources: readonly string[];
  readonly beats: readonly BeatRow[];
}

function beatValue(c: z.infer<typeof ComponentSchema>): BeatValue {
  if (c.valueQuantity?.value !== undefined) {
    // UCUM '1' is a pure number (ρ, q); the bot leaves `unit` out for it.
    const unit = c.valueQuantity.unit ?? (c.valueQuantity.code === '1' ? '' : (c.valueQuantity.code ?? ''));
    return { type: 'quantity', value: c.valueQuantity.value, unit };
  }
  if (c.valueInteger !== undefined) {
    return { type: 'integer', value: c.valueInteger };
  }
  if (c.valueDateTime !== undefined) {
    return { type: 'day', day: c.valueDateTime.slice(0, 10) };
  }
  if (c.valuePeriod?.start !== undefined) {
    return {
      type: 'span',
      start: c.valuePeriod.start.slice(0, 10),
      end: (c.valuePeriod.end ?? c.valuePeriod.start).slice(0, 10),
    };
  }
  return { type: 'none' };
}

function kindOf(
  codings: readonly { system?: string | undefined; code?: string | undefined }[]
): PeriodKind | undefined {
  for (const c of codings) {
    if (c.system === CODE_SYSTEM && c.code === NARRATIVE_CODES.week) {
      return 'week';
    }
    if (c.system === CODE_SYSTEM && c.code === NARRATIVE_CODES.month) {
      return 'month';
    }
  }
  return undefined;
}

/**
 * @param resource - an Observation from narrativeSearch
 * @returns the narrative as the card shows it, or undefined when it is not a Baseline narrative in a language the
 *   app shows (a malformed one is skipped rather than breaking the card)
 */
export function parseNarrative(resource: Observation): NarrativeView | undefined {
  const parsed = NarrativeSchema.safeParse(resource);
  if (!parsed.success) {
    return undefined;
  }
  const o = parsed.data;
  const kind = kindOf(o.code.coding ?? []);
  const language = o.language === 'en' || o.language === 'de' ? o.language : undefined;
  const identified = (o.identifier ?? []).some((i) => i.system === NARRATIVE_IDENTIFIER_SYSTEM);
  const profiled = o.meta?.profile?.includes(NARRATIVE_PROFILE) ?? false;
  if (!kind || !language || !(identified || profiled)) {
    return undefined;
  }
  const beats = (o.component ?? []).map((c): BeatRow => {
    const ext = c.extension ?? [];
    const of = (url: string): string[] =>
      ext.filter((e) => e.url === url && e.valueString !== undefined).map((e) => e.valueString ?? '');
    return {
      beat: of(NARRATIVE_EXTENSION.beat)[0] ?? '',
      subject: c.code.text ?? of(NARRATIVE_EXTENSION.metric).join(', '),
      value: beatValue(c),
      sources: of(NARRATIVE_EXTENSION.source),
    };
  });
  return {
    id: o.id,
    kind,
    language,
    start: o.effectivePeriod.start,
    end: o.effectivePeriod.end,
    text: o.valueString,
    method: o.method?.text,
    derivedFrom: (o.derivedFrom ?? []).flatMap((r): DerivedRef[] => {
      if (r.reference) {
        return [{ reference: r.reference }];
      }
      const { system, value } = r.identifier ?? {};
      return system && value ? [{ identifier: { system, value } }] : [];
    }),
    sources: [...new Set(beats.flatMap((b) => b.sources))].sort(),
    beats,
  };
}

/**
 * @param refs - a narrative's derivedFrom
 * @returns Observation search parameters that find the ones named by identifier (ids and identifiers only), or
 *   undefined when every one is a literal reference already
 */
export function derivedFromSearch(refs: readonly DerivedRef[]): Record<string, string> | undefined {
  const tokens = refs.flatMap((r) => ('identifier' in r ? [`${r.identifier.system}|${r.identifier.value}`] : []));
  if (tokens.length === 0) {
    return undefined;
  }
  return { identifier: tokens.join(','), _elements: 'id,identifier', _count: String(tokens.length) };
}

/** One line of the provenance list: the resource as the FHIR API names it, and its stable identifier if it has one. */
export interface DerivedRow {
  /** 'Observation/<id>', or undefined when a logical reference matched nothing (yet). */
  readonly reference: string | undefined;
  readonly identifier: string | undefined;
}

/**
 * @param refs - a narrative's derivedFrom
 * @param found - what derivedFromSearch found
 * @returns the rows, in the narrative's order, each logical reference resolved to its Observation where found
 */
export function resolveDerivedFrom(refs: readonly DerivedRef[], found: readonly Observation[]): DerivedRow[] {
  return refs.map((r) => {
    if ('reference' in r) {
      return { reference: r.reference, identifier: undefined };
    }
    const match = found.find((o) =>
      (o.identifier ?? []).some((i) => i.system === r.identifier.system && i.value === r.identifier.value)
    );
    return { reference: match?.id ? `Observation/${match.id}` : undefined, identifier: r.identifier.value };
  });
}

/** @returns the owner-local calendar day of a moment, as the browser's time zone has it ('YYYY-MM-DD') */
export function localDay(when: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${String(when.getFullYear()).padStart(4, '0')}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
}

export type NarrativeChoice =
  | { readonly status: 'ready'; readonly narrative: NarrativeView }
  | { readonly status: 'none'; readonly period: Period };

/**
 * Which narrative the card shows: the one for the most recent complete period (periods.ts lastCompletePeriod) of
 * that kind, in that language. A later one also counts (the bot's "today" may already be tomorrow for an owner in
 * another zone). An older one does not: last week's story is not this week's, so the card says there is none.
 * @param narratives - parsed narratives (any order)
 * @param kind - week or month
 * @param language - the owner's language
 * @param today - owner-local today
 * @returns the narrative, or the period that has none
 */
export function pickNarrative(
  narratives: readonly NarrativeView[],
  kind: PeriodKind,
  language: Language,
  today: string
): NarrativeChoice {
  const period = lastCompletePeriod(kind, today);
  const latest = narratives
    .filter((n) => n.kind === kind && n.language === language && n.start >= period.start)
    .sort((a, b) => (a.start < b.start ? 1 : a.start > b.start ? -1 : a.id < b.id ? -1 : 1))[0];
  return latest ? { status: 'ready', narrative: latest } : { status: 'none', period };
}

/** The period a stored narrative covers, rebuilt from its dates (for the gate text and the heading). */
export function narrativePeriod(n: Pick<NarrativeView, 'kind' | 'start'>): Period {
  return periodContaining(n.kind, n.start);
}

/** @returns 'Mon 2 Nov – Sun 8 Nov 2026' / 'Mo., 2. Nov. – So., 8. Nov. 2026' */
export function formatPeriodSpan(start: string, end: string, language: Language): string {
  const yearOnStart = start.slice(0, 4) !== end.slice(0, 4);
  return `${formatDay(start, language, yearOnStart)} – ${formatDay(end, language, true)}`;
}

/** @returns the calendar days a period spans, both ends included */
export function periodLength(start: string, end: string): number {
  return Math.round((Date.parse(`${end}T00:00:00Z`) - Date.parse(`${start}T00:00:00Z`)) / 86_400_000) + 1;
}

const STATUS_WORDS: Readonly<Record<Language, Readonly<Record<string, string>>>> = {
  en: { within: 'within range', above: 'above range', below: 'below range', 'no-band': 'no range yet' },
  de: {
    within: 'im üblichen Bereich',
    above: 'über dem Bereich',
    below: 'unter dem Bereich',
    'no-band': 'noch kein Bereich',
  },
};

const BEAT_LABELS: Readonly<Record<Language, Readonly<Record<string, string>>>> = {
  en: {
    'delta.current-mean': 'Average, this period',
    'delta.prior-mean': 'Average, period before',
    'delta.percent-change': 'Change',
    'delta.current-days': 'Days with a value, this period',
    'delta.prior-days': 'Days with a value, period before',
    'band.banded-days': 'Days compared with your usual range',
    'band.days-above': 'Days above your usual range',
    'band.days-below': 'Days below your usual range',
    coincident: 'Several measurements outside their usual range',
    'driver.rho': 'Moved together: Spearman ρ',
    'driver.q': 'Moved together: q (Benjamini–Hochberg)',
    'driver.days': 'Moved together: days compared',
  },
  de: {
    'delta.current-mean': 'Mittelwert, dieser Zeitraum',
    'delta.prior-mean': 'Mittelwert, Zeitraum davor',
    'delta.percent-change': 'Veränderung',
    'delta.current-days': 'Tage mit Wert, dieser Zeitraum',
    'delta.prior-days': 'Tage mit Wert, Zeitraum davor',
    'band.banded-days': 'Tage mit üblichem Bereich',
    'band.days-above': 'Tage über Ihrem üblichen Bereich',
    'band.days-below': 'Tage unter Ihrem üblichen Bereich',
    coincident: 'Mehrere Messwerte außerhalb ihres üblichen Bereichs',
    'driver.rho': 'Gemeinsam verändert: Spearman ρ',
    'driver.q': 'Gemeinsam verändert: q (Benjamini–Hochberg)',
    'driver.days': 'Gemeinsam verändert: verglichene Tage',
  },
};

/**
 * @param beat - a component's narrative-beat code ('delta.current-mean', 'band.within-to-above', 'annotation.ill')
 * @param language - the owner's language
 * @returns what the beat is, in words; an unknown code is shown as written rather than hidden
 */
export function beatLabel(beat: string, language: Language): string {
  const fixed = BEAT_LABELS[language][beat];
  if (fixed) {
    return fixed;
  }
  const transition = /^band\.([a-z-]+?)-to-([a-z-]+)$/.exec(beat);
  if (transition?.[1] && transition[2]) {
    const words = STATUS_WORDS[language];
    const from = words[transition[1]] ?? transition[1];
    const to = words[transition[2]] ?? transition[2];
    return language === 'de' ? `Wechsel: ${from} → ${to}` : `Moved: ${from} → ${to}`;
  }
  if (beat.startsWith('annotation.')) {
    return language === 'de' ? 'Ihre Notiz' : 'Your note';
  }
  return beat;
}

function decimalsOf(value: number): number {
  const m = Math.abs(value);
  return Number.isInteger(value) ? 0 : m >= 100 ? 0 : m >= 10 ? 1 : m >= 1 ? 2 : 3;
}

/**
 * @param value - a beat's value
 * @param language - the owner's language (decimal separator, day names)
 * @returns the value as text, with its unit
 */
export function formatBeatValue(value: BeatValue, language: Language): string {
  switch (value.type) {
    case 'quantity': {
      const number = formatNumber(value.value, decimalsOf(value.value), language);
      if (value.unit === '') {
        return number;
      }
      return value.unit === '%' && language === 'en' ? `${number}%` : `${number} ${value.unit}`;
    }
    case 'integer':
      return formatNumber(value.value, 0, language);
    case 'day':
      return formatDay(value.day, language, true);
    case 'span':
      return value.start === value.end
        ? formatDay(value.start, language, true)
        : formatPeriodSpan(value.start, value.end, language);
    case 'none':
      return '';
  }
}

const SOURCE_NAMES: Readonly<Record<string, string>> = { whoop: 'WHOOP', oura: 'Oura', withings: 'Withings' };

/** @returns a source's display name ('whoop' → 'WHOOP'); an unknown one as written */
export function sourceName(source: string): string {
  return SOURCE_NAMES[source] ?? source;
}

/**
 * Why the summaries could not be loaded, as a person reads it (the human-errors.ts shape).
 * @param message - the error's normalized text
 * @returns the human error
 */
export function describeNarrativeLoadFailure(message: string): HumanError {
  return describeFailedLoad(message, {
    title: 'Your summary could not be loaded',
    what: 'Baseline could not load your weekly and monthly summaries just now. Your data is not affected.',
    next: 'Try again in a moment. If it keeps failing, tell whoever runs your Baseline and mention the detail below.',
  });
}
