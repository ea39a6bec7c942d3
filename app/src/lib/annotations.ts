/**
 * Owner annotations in the app (issue 8 §5): reading them back from the record, the add/edit form's checks and the
 * input it sends to the `annotate` bot, and the bot's failures as a person reads them.
 *
 * Owners cannot write Observations; the bot writes for them (bots/analytics/owner-api.ts) and queues a recompute,
 * so baselines follow a few seconds later. The form checks what the bot will check (AnnotationInputSchema, the same
 * schema) before sending, so the common mistakes are named beside the field instead of coming back from the server.
 */
import type { Observation } from '@medplum/fhirtypes';
import { ANNOTATION_KINDS, annotationKind } from '../../../bots/analytics/annotation-kinds.ts';
import type { AnnotationKind } from '../../../bots/analytics/annotation-kinds.ts';
import { AnnotationInputSchema, parseAnnotation } from '../../../bots/analytics/annotations.ts';
import type { Annotation } from '../../../bots/analytics/annotations.ts';
import type { AnnotateInput, AnnotationView } from '../../../bots/analytics/owner-api.ts';
import type { HumanError } from './human-errors.ts';

export interface AnnotationItem {
  readonly id: string;
  readonly kind: AnnotationKind;
  /** The kind as the owner reads it ("Felt ill"). */
  readonly label: string;
  readonly start: string;
  readonly end: string;
  readonly note?: string;
}

const STANDING = new Set(['final', 'amended', 'corrected']);

/** The kinds offered in the form, in the CodeSystem's order. */
export const KIND_OPTIONS: readonly { readonly value: AnnotationKind; readonly label: string }[] = ANNOTATION_KINDS.map(
  (k) => ({ value: k.code, label: k.label.en })
);

export function kindLabel(kind: string): string {
  return annotationKind(kind)?.label.en ?? kind;
}

function item(a: Pick<Annotation, 'kind' | 'start' | 'end' | 'note'>, id: string): AnnotationItem {
  return {
    id,
    kind: a.kind,
    label: kindLabel(a.kind),
    start: a.start,
    end: a.end,
    ...(a.note ? { note: a.note } : {}),
  };
}

/** Newest first, then by kind and id, so the list never reorders between reads. */
function byStartDesc(a: AnnotationItem, b: AnnotationItem): number {
  return (
    (a.start < b.start ? 1 : a.start > b.start ? -1 : 0) ||
    (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/**
 * @param observations - the result of an `annotationSearch` (any status).
 * @returns The standing annotations (a deleted one is `entered-in-error`), newest first; unreadable ones are skipped.
 */
export function readAnnotations(observations: readonly Observation[]): AnnotationItem[] {
  const out: AnnotationItem[] = [];
  for (const obs of observations) {
    const parsed = parseAnnotation(obs);
    if (parsed.ok && parsed.annotation.id && STANDING.has(parsed.annotation.status)) {
      out.push(item(parsed.annotation, parsed.annotation.id));
    }
  }
  return out.sort(byStartDesc);
}

/**
 * The list after the bot answered: its view of the annotation replaces the one with the same id (or is added); a
 * deleted one leaves.
 * @param list - the current list.
 * @param view - the bot's `annotation`.
 * @returns The new list, newest first.
 */
export function applyAnnotationView(list: readonly AnnotationItem[], view: AnnotationView): AnnotationItem[] {
  const rest = list.filter((a) => a.id !== view.id);
  if (!STANDING.has(view.status)) {
    return rest;
  }
  return [...rest, item(view, view.id)].sort(byStartDesc);
}

// ---------------------------------------------------------------------------------------------------------------
// The form

export interface AnnotationForm {
  readonly kind: AnnotationKind | '';
  readonly start: string;
  /** Empty: a single day. */
  readonly end: string;
  readonly note: string;
}

export const EMPTY_FORM: AnnotationForm = { kind: '', start: '', end: '', note: '' };

export function formFor(a: AnnotationItem): AnnotationForm {
  return { kind: a.kind, start: a.start, end: a.end === a.start ? '' : a.end, note: a.note ?? '' };
}

export type FormErrors = Partial<Record<keyof AnnotationForm, string>>;

/**
 * @returns a key for a new annotation: minted once when the form opens, so a doubled or retried submit writes one
 *   resource (the bot's identifier is `<patient>:<key>`)
 */
export function mintAnnotationKey(): string {
  return crypto.randomUUID();
}

/**
 * Checks the form as the bot will (AnnotationInputSchema: calendar days, end not before start, at most 92 days,
 * 'other' needs a note, note ≤ 500 characters).
 * @param form - the form.
 * @returns Field → message; empty when the form can be sent.
 */
export function checkAnnotationForm(form: AnnotationForm): FormErrors {
  const errors: FormErrors = {};
  if (form.kind === '') {
    errors.kind = 'Choose what the day was like';
  }
  if (form.start === '') {
    errors.start = 'Choose the first day';
  }
  if (errors.kind || errors.start) {
    return errors;
  }
  const parsed = AnnotationInputSchema.safeParse({
    key: 'form-check',
    kind: form.kind,
    start: form.start,
    ...(form.end ? { end: form.end } : {}),
    ...(form.note.trim() ? { note: form.note.trim() } : {}),
  });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const field = issue.path[0];
      if (field === 'kind' || field === 'start' || field === 'end' || field === 'note') {
        errors[field] ??= sentence(issue.message);
      } else {
        errors.start ??= sentence(issue.message);
      }
    }
  }
  return errors;
}

function sentence(message: string): string {
  const text = message.replace(/^'other' needs a note$/, 'Say in the note what it was');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * @param form - a form checkAnnotationForm accepted.
 * @param target - `{ key }` for a new annotation, `{ id }` to change a stored one.
 * @returns The `annotate` bot's input.
 */
export function annotateInput(
  form: AnnotationForm,
  target: { readonly key: string } | { readonly id: string }
): AnnotateInput {
  if (form.kind === '') {
    throw new Error('annotateInput needs a checked form');
  }
  const fields = {
    kind: form.kind,
    start: form.start,
    ...(form.end && form.end !== form.start ? { end: form.end } : {}),
    ...(form.note.trim() ? { note: form.note.trim() } : {}),
  };
  return 'key' in target
    ? { action: 'create', key: target.key, ...fields }
    : { action: 'update', id: target.id, ...fields };
}

/**
 * @param a - an annotation.
 * @param formatDay - how a day reads (the view passes the reader's locale).
 * @returns "3 Nov" or "3 Nov – 5 Nov".
 */
export function spanText(a: Pick<AnnotationItem, 'start' | 'end'>, formatDay: (day: string) => string): string {
  return a.start === a.end ? formatDay(a.start) : `${formatDay(a.start)} – ${formatDay(a.end)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Failures

const MAX_DETAIL_CHARS = 200;

function detailOf(text: string): string | undefined {
  const trimmed = text.trim();
  if (!trimmed) {
    return undefined;
  }
  return trimmed.length > MAX_DETAIL_CHARS ? `${trimmed.slice(0, MAX_DETAIL_CHARS - 1)}…` : trimmed;
}

interface Rule {
  readonly pattern: RegExp;
  readonly describe: (detail: string | undefined) => HumanError;
}

const RULES: readonly Rule[] = [
  {
    // The browser's own request failing (Chromium, Firefox, Safari wordings).
    pattern: /failed to fetch|networkerror|load failed|network request failed/i,
    describe: (detail) => ({
      title: 'Baseline could not be reached',
      what: 'Your browser could not reach the Baseline server, so nothing was saved.',
      next: 'Check your internet connection, then try again.',
      retry: true,
      detail,
    }),
  },
  {
    pattern: /\(rate-limited\)|HTTP 429|too many requests/i,
    describe: (detail) => ({
      title: 'Too many changes at once',
      what: 'Baseline is limiting how many requests it takes at once, so this change was turned away.',
      next: 'Wait a minute, then try again.',
      retry: true,
      detail,
    }),
  },
  {
    // What AnnotationInputSchema says (the bot checks again what the form checked).
    pattern: /calendar day|end is before start|span covers at most|needs a note|key:|invalid/i,
    describe: (detail) => ({
      title: 'The annotation could not be saved as entered',
      what: 'Baseline did not accept the days or the note as they were entered, so nothing was saved.',
      next: 'Check the days and the note, then save again.',
      retry: true,
      detail,
    }),
  },
  {
    pattern: /no such annotation|annotation[^.;]*not found|changed meanwhile/i,
    describe: (detail) => ({
      title: 'This annotation was changed elsewhere',
      what: 'The annotation was changed or deleted elsewhere (perhaps in another tab), so this change was not made.',
      next: 'Reload the page to see your annotations as they are now.',
      retry: false,
      detail,
    }),
  },
  {
    pattern: /bot[^.]*not found|not found[^.]*bot/i,
    describe: (detail) => ({
      title: 'Annotations are not set up on this Baseline',
      what: 'The part of Baseline that saves annotations is not installed here. This is not something you did.',
      next: 'Please tell whoever runs your Baseline; trying again will not help until they have fixed the setup.',
      retry: false,
      detail,
    }),
  },
  {
    pattern: /only a signed-in patient|forbidden|unauthorized|access denied|HTTP 40[13]/i,
    describe: (detail) => ({
      title: 'You cannot change annotations here',
      what: 'Only the person whose record this is can add, change or delete its annotations, and this session was not allowed to.',
      next: 'Sign out and sign in again as yourself. If it keeps happening, tell whoever runs your Baseline.',
      retry: false,
      detail,
    }),
  },
];

/**
 * Why saving or deleting an annotation failed.
 * @param message - the error's normalized text (the bot's own message, or the browser's network error).
 * @returns The human error; an unrecognised message gets a general text with the message as the detail.
 */
export function describeAnnotateFailure(message: string): HumanError {
  const detail = detailOf(message);
  const rule = RULES.find((r) => r.pattern.test(message));
  if (rule) {
    return rule.describe(detail);
  }
  return {
    title: 'The annotation was not saved',
    what: 'Something went wrong while Baseline was saving the change, so nothing was changed.',
    next: 'Try again. If it keeps failing, tell whoever runs your Baseline and mention the detail below.',
    retry: true,
    detail,
  };
}
