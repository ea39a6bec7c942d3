/**
 * Owner annotations (issue 8 §5): the owner marks a day or a span (ill, travelling, alcohol, menstruation, other, with
 * an optional note); annotated days leave baselines and trajectories (daily.ts `excludedDays`), and charts and
 * narratives name them.
 *
 * Stored as an Observation, because of what each candidate would claim or cost:
 * - Observation (chosen): "the owner reported that on these days X was the case" is a patient-reported observation
 *   (category `survey`, performer = the Patient). It sits in the Patient compartment through `subject`, so the owner,
 *   a clinician share and `Patient/$everything` see it with the grants they already have, and it is found the way
 *   every other analytics input is: `Observation?code=<day-annotation>&subject=…&date=…` (see annotationSearch for
 *   how Medplum indexes a Period). effectivePeriod holds the span with date precision: a FHIR date means the whole
 *   calendar day, so "2026-11-03..2026-11-05" is three owner-local days, inclusive, with no time zone to get wrong. The kind is the value (valueCodeableConcept) and one code names every annotation, so one
 *   search returns them all and `value-concept` narrows by kind.
 * - Basic: no standard search by date, and no role may hold `Basic` (it is the token store's type, see
 *   data/core/connection.ts).
 * - Flag: meant for warnings shown to whoever opens the record; Baseline's alerts use it (alerts.ts), an owner's
 *   note about travelling is not one.
 * - Condition: asserts a problem or diagnosis; "I felt ill" must never become a coded condition on the record.
 *
 * Identifiers: `<patient id>:<key>`, the key minted by the app once per annotation, so a retried or doubled submit
 * writes one resource. Deleting an annotation marks it `entered-in-error` (kept for audit); only final, amended and
 * corrected annotations exclude days, the same statuses daily.ts lets stand.
 *
 * Pure: no I/O and no Node built-ins (the app and a bot run the same code).
 */
import { PATIENT_REFERENCE, patientIdOf } from '../shared/requester.ts';
import type { Observation, Patient, Reference } from '@medplum/fhirtypes';
import { z } from 'zod';
import { ANNOTATION_PROFILE, IDENTIFIER_BASE, OBSERVATION_CATEGORY_SYSTEM } from '../shared/systems.ts';
import { ANNOTATION_CODE, ANNOTATION_CODE_SYSTEM, ANNOTATION_KIND_CODES, annotationKind } from './annotation-kinds.ts';
import type { AnnotationKind } from './annotation-kinds.ts';
import { dayFromIndex, dayIndex } from './stats.ts';

/** Code-unit order, not the locale's: the same order in every runtime, whatever its ICU data. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export const ANNOTATION_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/annotation';
/** `code` token of every annotation Observation. */
export const ANNOTATION_CODE_TOKEN = `${ANNOTATION_CODE_SYSTEM}|${ANNOTATION_CODE.code}`;
/** Search criteria for annotation Observations (a bot policy entry, a Subscription, or the base of a search). */
export const ANNOTATION_CRITERIA = `Observation?code=${ANNOTATION_CODE_TOKEN}`;

/**
 * Longest span one annotation may cover. A season of travel or a long illness is entered as several spans; one
 * mistyped year ("2025" for "2026") must not silently remove a year from every baseline.
 */
export const MAX_SPAN_DAYS = 92;
export const MAX_NOTE_LENGTH = 500;
const STANDING = new Set(['final', 'amended', 'corrected']);
const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
/** A date, or a dateTime read in the offset it was written with (as daily.ts reads days). */
const DATE_OR_DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

function isCalendarDay(day: string): boolean {
  if (!DAY_RE.test(day)) {
    return false;
  }
  try {
    dayIndex(day);
    return true;
  } catch {
    return false;
  }
}

const Day = z.string().refine(isCalendarDay, { message: 'must be a calendar day, YYYY-MM-DD' });

/** What the app sends. `end` defaults to `start` (a single day); 'other' needs a note saying what it was. */
export const AnnotationInputSchema = z
  .strictObject({
    key: z.string().regex(/^[A-Za-z0-9-]{8,64}$/, 'key: 8–64 letters, digits or hyphens'),
    kind: z.enum(ANNOTATION_KIND_CODES),
    start: Day,
    end: Day.optional(),
    note: z.string().trim().max(MAX_NOTE_LENGTH).optional(),
  })
  .transform((v) => ({
    key: v.key,
    kind: v.kind,
    start: v.start,
    end: v.end ?? v.start,
    ...(v.note ? { note: v.note } : {}),
  }))
  .superRefine((v, ctx) => {
    const span = dayIndex(v.end) - dayIndex(v.start) + 1;
    if (span < 1) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: 'end is before start' });
    } else if (span > MAX_SPAN_DAYS) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: `a span covers at most ${MAX_SPAN_DAYS} days` });
    }
    if (v.kind === 'other' && v.note === undefined) {
      ctx.addIssue({ code: 'custom', path: ['note'], message: "'other' needs a note" });
    }
  });
export type AnnotationInput = z.input<typeof AnnotationInputSchema>;
export type ValidAnnotationInput = z.output<typeof AnnotationInputSchema>;

export interface Annotation {
  readonly id?: string;
  readonly patient: string;
  readonly kind: AnnotationKind;
  /** First owner-local day, YYYY-MM-DD. */
  readonly start: string;
  /** Last owner-local day, inclusive. */
  readonly end: string;
  readonly note?: string;
  readonly status: Observation['status'];
}

export type AnnotationParse = { ok: true; annotation: Annotation } | { ok: false; errors: string[] };

/**
 * @param input - the app's annotation (validated here, so no unvalidated input reaches the record)
 * @param patient - the owner, `Patient/<id>`
 * @returns the Observation to write (conditionally, on its identifier); throws a ZodError for invalid input
 */
export function annotationObservation(input: AnnotationInput, patient: Reference<Patient>): Observation {
  const v = AnnotationInputSchema.parse(input);
  const kind = annotationKind(v.kind);
  const subject = { reference: `Patient/${patientIdOf(patient)}` };
  return {
    resourceType: 'Observation',
    meta: { profile: [ANNOTATION_PROFILE] },
    identifier: [{ system: ANNOTATION_IDENTIFIER_SYSTEM, value: `${patientIdOf(patient)}:${v.key}` }],
    status: 'final',
    category: [{ coding: [{ system: OBSERVATION_CATEGORY_SYSTEM, code: 'survey', display: 'Survey' }] }],
    code: {
      coding: [{ system: ANNOTATION_CODE_SYSTEM, code: ANNOTATION_CODE.code, display: ANNOTATION_CODE.display }],
      text: ANNOTATION_CODE.display,
    },
    subject,
    performer: [subject],
    effectivePeriod: { start: v.start, end: v.end },
    valueCodeableConcept: {
      coding: [{ system: ANNOTATION_CODE_SYSTEM, code: v.kind, display: kind?.display ?? v.kind }],
      text: kind?.label.en ?? v.kind,
    },
    ...(v.note ? { note: [{ text: v.note }] } : {}),
  };
}

const CodingSchema = z.looseObject({ system: z.string().optional(), code: z.string().optional() });
/** The part of a stored Observation an annotation is read from; everything else passes through unchecked. */
const StoredAnnotationSchema = z.looseObject({
  resourceType: z.literal('Observation'),
  id: z.string().optional(),
  status: z.enum([
    'registered',
    'preliminary',
    'final',
    'amended',
    'corrected',
    'cancelled',
    'entered-in-error',
    'unknown',
  ]),
  subject: z.looseObject({ reference: z.string().optional() }).optional(),
  code: z.looseObject({ coding: z.array(CodingSchema).optional() }),
  valueCodeableConcept: z.looseObject({ coding: z.array(CodingSchema).optional() }).optional(),
  effectivePeriod: z.looseObject({ start: z.string().optional(), end: z.string().optional() }).optional(),
  note: z.array(z.looseObject({ text: z.string().optional() })).optional(),
});

/**
 * The largest span a stored annotation may cover before it is refused as malformed: above the input limit, so an
 * annotation written under an older, looser limit still reads, but bounded, so excludedDaysFrom stays cheap.
 */
const MAX_STORED_SPAN_DAYS = 366;

/**
 * @param observation - an Observation as stored (from ANNOTATION_CRITERIA)
 * @returns the annotation, or every reason it is not a readable one
 */
export function parseAnnotation(observation: Observation): AnnotationParse {
  const parsed = StoredAnnotationSchema.safeParse(observation);
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`) };
  }
  const obs = parsed.data;
  const errors: string[] = [];
  if (!(obs.code.coding ?? []).some((c) => c.system === ANNOTATION_CODE_SYSTEM && c.code === ANNOTATION_CODE.code)) {
    errors.push(`code is not ${ANNOTATION_CODE_TOKEN}`);
  }
  const patient = PATIENT_REFERENCE.test(obs.subject?.reference ?? '') ? obs.subject?.reference : undefined;
  if (!patient) {
    errors.push('subject is not a Patient');
  }
  const kindCode = (obs.valueCodeableConcept?.coding ?? []).find((c) => c.system === ANNOTATION_CODE_SYSTEM)?.code;
  const kind = annotationKind(kindCode);
  if (!kind) {
    errors.push(`value is not an annotation kind: ${kindCode ?? '(none)'}`);
  }
  const start = DATE_OR_DATE_TIME.exec(obs.effectivePeriod?.start ?? '')?.[1];
  const end = DATE_OR_DATE_TIME.exec(obs.effectivePeriod?.end ?? '')?.[1];
  if (!start || !end || !isCalendarDay(start) || !isCalendarDay(end)) {
    // An open span would exclude every future day; a missing end is refused, not read as "until now".
    errors.push('effectivePeriod needs a start and an end day');
  } else {
    const span = dayIndex(end) - dayIndex(start) + 1;
    if (span < 1) {
      errors.push('effectivePeriod ends before it starts');
    } else if (span > MAX_STORED_SPAN_DAYS) {
      errors.push(`effectivePeriod covers ${span} days, more than ${MAX_STORED_SPAN_DAYS}`);
    }
  }
  if (errors.length > 0 || !patient || !kind || !start || !end) {
    return { ok: false, errors };
  }
  const note = (obs.note ?? [])
    .map((n) => n.text?.trim() ?? '')
    .filter((t) => t !== '')
    .join('\n');
  return {
    ok: true,
    annotation: {
      ...(obs.id ? { id: obs.id } : {}),
      patient,
      kind: kind.code,
      start,
      end,
      ...(note ? { note } : {}),
      status: obs.status,
    },
  };
}

/** Every owner-local day an annotation covers, first to last inclusive. */
export function annotationDays(annotation: Pick<Annotation, 'start' | 'end'>): string[] {
  const from = dayIndex(annotation.start);
  const to = dayIndex(annotation.end);
  const days: string[] = [];
  for (let d = from; d <= to; d++) {
    days.push(dayFromIndex(d));
  }
  return days;
}

/**
 * @param annotations - one owner's parsed annotations (any order, overlaps allowed)
 * @param kinds - only these kinds exclude days; absent: every kind (the issue's rule)
 * @returns the owner-local days to leave out of every series (daily.ts `excludedDays`)
 */
export function excludedDaysFrom(annotations: readonly Annotation[], kinds?: readonly AnnotationKind[]): Set<string> {
  const days = new Set<string>();
  for (const a of annotations) {
    if (!STANDING.has(a.status) || (kinds && !kinds.includes(a.kind))) {
      continue;
    }
    for (const day of annotationDays(a)) {
      days.add(day);
    }
  }
  return days;
}

/**
 * For charts and narratives: each annotated day → the standing annotations covering it, ordered by start, kind
 * and id so the same record always renders the same way.
 */
export function annotationsByDay(annotations: readonly Annotation[]): Map<string, Annotation[]> {
  const ordered = annotations
    .filter((a) => STANDING.has(a.status))
    .slice()
    .sort(
      (a, b) => compareText(a.start, b.start) || compareText(a.kind, b.kind) || compareText(a.id ?? '', b.id ?? '')
    );
  const byDay = new Map<string, Annotation[]>();
  for (const a of ordered) {
    for (const day of annotationDays(a)) {
      byDay.set(day, [...(byDay.get(day) ?? []), a]);
    }
  }
  return new Map([...byDay.entries()].sort(([x], [y]) => compareText(x, y)));
}

/**
 * Search parameters for one owner's annotations that may overlap [from, to] (inclusive days), for
 * `medplum.searchResources('Observation', …)`; keep the ones that do with annotationsOverlapping.
 *
 * Medplum 5 indexes a date parameter as one instant per value: a Period by its start, a bare date as midnight UTC
 * (scripts/local-stack/fhir/match.ts, checked against a real 5.0.10 by the conformance suite). So a search cannot ask
 * "overlaps"; `date=ge<from>&date=le<to>` would miss a span that began before `from`. It asks instead for every
 * annotation that starts at most MAX_STORED_SPAN_DAYS before `from` and no later than `to` — one day wider on each
 * side, since a start written as a dateTime in another offset can fall on a neighbouring UTC day.
 */
export function annotationSearch(patient: Reference<Patient>, from: string, to: string): string {
  if (!isCalendarDay(from) || !isCalendarDay(to) || to < from) {
    throw new RangeError(`annotation search needs two calendar days in order, got ${from} and ${to}`);
  }
  const lower = dayFromIndex(dayIndex(from) - MAX_STORED_SPAN_DAYS - 1);
  const upper = dayFromIndex(dayIndex(to) + 2);
  return [
    `code=${encodeURIComponent(ANNOTATION_CODE_TOKEN)}`,
    `subject=${encodeURIComponent(`Patient/${patientIdOf(patient)}`)}`,
    `date=ge${lower}`,
    `date=lt${upper}`,
    '_count=1000',
  ].join('&');
}

/** The annotations that cover at least one day of [from, to] (inclusive), in their input order. */
export function annotationsOverlapping<T extends Pick<Annotation, 'start' | 'end'>>(
  annotations: readonly T[],
  from: string,
  to: string
): T[] {
  // 'YYYY-MM-DD' strings order like the days they name.
  return annotations.filter((a) => a.start <= to && a.end >= from);
}
