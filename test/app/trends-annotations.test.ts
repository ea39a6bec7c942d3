/**
 * Annotations in the app (app/src/lib/annotations.ts): read back from what annotations.ts writes, the form's checks
 * (the bot's own schema), the bot input, the list after the bot answers, and the bot's errors in plain words (the
 * messages are the ones bots/analytics/annotate.ts throws).
 */
import { describe, expect, test } from 'vitest';
import { annotationObservation } from '../../bots/analytics/annotations.ts';
import { AnnotateInputSchema } from '../../bots/analytics/owner-api.ts';
import {
  annotateInput,
  applyAnnotationView,
  checkAnnotationForm,
  describeAnnotateFailure,
  EMPTY_FORM,
  formFor,
  KIND_OPTIONS,
  mintAnnotationKey,
  readAnnotations,
  spanText,
} from '../../app/src/lib/annotations.ts';
import type { AnnotationItem } from '../../app/src/lib/annotations.ts';

const OWNER = { reference: 'Patient/p1' };

function stored(
  key: string,
  input: { kind: 'ill' | 'travelling' | 'other'; start: string; end?: string; note?: string },
  id: string
) {
  return { ...annotationObservation({ key, ...input }, OWNER), id };
}

describe('reading annotations', () => {
  test('standing ones, newest first; deleted (entered-in-error) and unreadable ones are left out', () => {
    const a = stored('key-aaaa-1', { kind: 'ill', start: '2026-11-03', end: '2026-11-05', note: 'flu' }, 'o1');
    const b = stored('key-bbbb-2', { kind: 'travelling', start: '2026-11-20' }, 'o2');
    const deleted = {
      ...stored('key-cccc-3', { kind: 'ill', start: '2026-11-25' }, 'o3'),
      status: 'entered-in-error' as const,
    };
    const broken = {
      ...stored('key-dddd-4', { kind: 'ill', start: '2026-11-26' }, 'o4'),
      effectivePeriod: { start: '2026-11-26' },
    };
    const list = readAnnotations([a, b, deleted, broken]);
    expect(list).toEqual([
      { id: 'o2', kind: 'travelling', label: 'Travelling', start: '2026-11-20', end: '2026-11-20' },
      { id: 'o1', kind: 'ill', label: 'Felt ill', start: '2026-11-03', end: '2026-11-05', note: 'flu' },
    ]);
  });

  test('after the bot answers: an update replaces, a new one is added in order, a deletion leaves', () => {
    const list: AnnotationItem[] = [
      { id: 'o2', kind: 'travelling', label: 'Travelling', start: '2026-11-20', end: '2026-11-20' },
      { id: 'o1', kind: 'ill', label: 'Felt ill', start: '2026-11-03', end: '2026-11-05' },
    ];
    const updated = applyAnnotationView(list, {
      id: 'o1',
      kind: 'alcohol',
      start: '2026-11-04',
      end: '2026-11-04',
      status: 'final',
    });
    expect(updated.map((a) => [a.id, a.label, a.start])).toEqual([
      ['o2', 'Travelling', '2026-11-20'],
      ['o1', 'Alcohol', '2026-11-04'],
    ]);
    const added = applyAnnotationView(list, {
      id: 'o9',
      kind: 'other',
      start: '2026-11-10',
      end: '2026-11-11',
      note: 'exam',
      status: 'final',
    });
    expect(added.map((a) => a.id)).toEqual(['o2', 'o9', 'o1']);
    const deleted = applyAnnotationView(list, {
      id: 'o2',
      kind: 'travelling',
      start: '2026-11-20',
      end: '2026-11-20',
      status: 'entered-in-error',
    });
    expect(deleted.map((a) => a.id)).toEqual(['o1']);
  });
});

describe('the form', () => {
  test('names each missing or wrong field as the bot would refuse it', () => {
    expect(checkAnnotationForm(EMPTY_FORM)).toEqual({ kind: expect.any(String), start: expect.any(String) });
    expect(checkAnnotationForm({ kind: 'ill', start: '2026-11-05', end: '2026-11-03', note: '' }).end).toMatch(
      /before start/i
    );
    expect(checkAnnotationForm({ kind: 'ill', start: '2026-01-01', end: '2026-06-01', note: '' }).end).toMatch(
      /at most 92 days/
    );
    expect(checkAnnotationForm({ kind: 'other', start: '2026-11-05', end: '', note: '  ' }).note).toMatch(/note/i);
    expect(checkAnnotationForm({ kind: 'ill', start: '2026-02-30', end: '', note: '' }).start).toMatch(/calendar day/i);
    expect(
      checkAnnotationForm({ kind: 'ill', start: '2026-11-05', end: '', note: 'x'.repeat(501) }).note
    ).toBeDefined();
    expect(checkAnnotationForm({ kind: 'ill', start: '2026-11-05', end: '2026-11-07', note: '' })).toEqual({});
    expect(checkAnnotationForm({ kind: 'other', start: '2026-11-05', end: '', note: 'exam week' })).toEqual({});
  });

  test('create and update inputs pass the bot’s schema; a one-day span sends no end, a blank note none', () => {
    const key = mintAnnotationKey();
    const create = annotateInput({ kind: 'ill', start: '2026-11-05', end: '2026-11-05', note: '  ' }, { key });
    expect(create).toEqual({ action: 'create', key, kind: 'ill', start: '2026-11-05' });
    expect(AnnotateInputSchema.safeParse(create).success).toBe(true);
    const update = annotateInput(
      { kind: 'other', start: '2026-11-05', end: '2026-11-06', note: ' exam ' },
      { id: 'o1' }
    );
    expect(update).toEqual({
      action: 'update',
      id: 'o1',
      kind: 'other',
      start: '2026-11-05',
      end: '2026-11-06',
      note: 'exam',
    });
    expect(AnnotateInputSchema.safeParse(update).success).toBe(true);
    expect(() => annotateInput(EMPTY_FORM, { key })).toThrow();
  });

  test('a minted key passes the key rule (8–64 letters, digits or hyphens), and two differ', () => {
    const a = mintAnnotationKey();
    expect(a).toMatch(/^[A-Za-z0-9-]{8,64}$/);
    expect(mintAnnotationKey()).not.toBe(a);
  });

  test('editing starts from the stored values; one-day spans show no last day', () => {
    expect(formFor({ id: 'o1', kind: 'ill', label: 'Felt ill', start: '2026-11-05', end: '2026-11-05' })).toEqual({
      kind: 'ill',
      start: '2026-11-05',
      end: '',
      note: '',
    });
    expect(spanText({ start: '2026-11-05', end: '2026-11-07' }, (d) => d.slice(5))).toBe('11-05 – 11-07');
    expect(spanText({ start: '2026-11-05', end: '2026-11-05' }, (d) => d.slice(5))).toBe('11-05');
  });

  test('every kind is offered with its English label', () => {
    expect(KIND_OPTIONS.map((k) => k.value)).toEqual(['ill', 'travelling', 'alcohol', 'menstruation', 'other']);
    expect(KIND_OPTIONS[0]?.label).toBe('Felt ill');
  });
});

describe('failures in plain words', () => {
  test('the annotate bot’s messages', () => {
    const gone = describeAnnotateFailure('No such annotation');
    expect(gone.title).toMatch(/changed elsewhere/);
    expect(gone.retry).toBe(false);
    expect(describeAnnotateFailure('The annotation changed meanwhile; reload and try again').title).toBe(gone.title);
    const invalid = describeAnnotateFailure('Invalid annotation: end: end is before start');
    expect(invalid.title).toMatch(/as entered/);
    expect(invalid.detail).toBe('Invalid annotation: end: end is before start');
    expect(describeAnnotateFailure('Only a signed-in patient can do this').retry).toBe(false);
  });

  test('network, rate limit, a missing bot, and anything else', () => {
    expect(describeAnnotateFailure('Failed to fetch').title).toBe('Baseline could not be reached');
    expect(describeAnnotateFailure('Too Many Requests').retry).toBe(true);
    expect(describeAnnotateFailure('Bot not found').title).toMatch(/not set up/);
    const other = describeAnnotateFailure('Something odd');
    expect(other.title).toBe('The annotation was not saved');
    expect(other.detail).toBe('Something odd');
    expect(describeAnnotateFailure('x'.repeat(400)).detail?.length).toBe(200);
  });
});
