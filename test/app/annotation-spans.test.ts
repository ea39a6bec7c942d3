/**
 * Owner annotations on the Data page's time-axis charts (app/src/lib/annotation-spans.ts): the one search for a
 * charted range, and each annotated day as the span between its local midnights, cut to the range. Run in a zone with
 * daylight saving (Europe/Berlin) so a 23-hour day is one of the cases; the zone is restored afterwards.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ANNOTATION_CODE_TOKEN, annotationSearch } from '../../bots/analytics/annotations.ts';
import { ANNOTATION_ELEMENTS, annotationRangeQuery, annotationSpans } from '../../app/src/lib/annotation-spans.ts';
import type { AnnotationItem } from '../../app/src/lib/annotations.ts';

const HOUR = 3_600_000;
let previousTz: string | undefined;

beforeAll(() => {
  previousTz = process.env.TZ;
  process.env.TZ = 'Europe/Berlin';
});

afterAll(() => {
  if (previousTz === undefined) {
    delete process.env.TZ;
  } else {
    process.env.TZ = previousTz;
  }
});

function item(id: string, start: string, end = start): AnnotationItem {
  return { id, kind: 'travelling', label: 'Travelling', start, end };
}

/** Instants written out in Berlin time, independent of the code under test. */
const berlin = (iso: string): number => Date.parse(iso);

describe('annotationRangeQuery', () => {
  test('searches the local days of the range, trimmed to what parseAnnotation reads', () => {
    const range = { start: berlin('2026-01-01T00:30:00+01:00'), end: berlin('2026-01-31T23:30:00+01:00') };
    const query = annotationRangeQuery('p1', range);
    expect(query).toBe(
      `${annotationSearch({ reference: 'Patient/p1' }, '2026-01-01', '2026-01-31')}&_elements=${ANNOTATION_ELEMENTS.join(',')}`
    );
    const params = new URLSearchParams(query);
    expect(params.get('code')).toBe(ANNOTATION_CODE_TOKEN);
    expect(params.get('subject')).toBe('Patient/p1');
    expect(params.get('_elements')).toBe('status,subject,code,value,effective,note,identifier');
  });

  test('takes the days in the browser zone, not in UTC', () => {
    // 23:30 UTC on 31 Dec is 00:30 on 1 Jan in Berlin: the search starts on 1 Jan.
    const range = { start: Date.parse('2025-12-31T23:30:00Z'), end: Date.parse('2026-01-05T12:00:00Z') };
    const expected = annotationSearch({ reference: 'Patient/p1' }, '2026-01-01', '2026-01-05');
    expect(annotationRangeQuery('p1', range).startsWith(expected + '&')).toBe(true);
  });
});

describe('annotationSpans', () => {
  const range = { start: berlin('2026-03-01T10:00:00+01:00'), end: berlin('2026-03-31T10:00:00+02:00') };

  test('a day spans from its local midnight to the next', () => {
    const [span] = annotationSpans([item('a', '2026-03-10')], range);
    expect(span?.x1).toBe(berlin('2026-03-10T00:00:00+01:00'));
    expect(span?.x2).toBe(berlin('2026-03-11T00:00:00+01:00'));
    expect(span).toMatchObject({ id: 'a', label: 'Travelling', start: '2026-03-10', end: '2026-03-10' });
  });

  test('the day the clocks go forward is 23 hours long', () => {
    const [span] = annotationSpans([item('dst', '2026-03-29')], range);
    expect(span?.x1).toBe(berlin('2026-03-29T00:00:00+01:00'));
    expect(span?.x2).toBe(berlin('2026-03-30T00:00:00+02:00'));
    expect((span?.x2 ?? 0) - (span?.x1 ?? 0)).toBe(23 * HOUR);
  });

  test('a span across a month end ends at the midnight after its last day', () => {
    const wide = { start: berlin('2026-01-01T00:00:00+01:00'), end: berlin('2026-03-31T00:00:00+02:00') };
    const [span] = annotationSpans([item('m', '2026-01-30', '2026-02-02')], wide);
    expect(span?.x1).toBe(berlin('2026-01-30T00:00:00+01:00'));
    expect(span?.x2).toBe(berlin('2026-02-03T00:00:00+01:00'));
  });

  test('spans are cut to the range; those outside it are left out', () => {
    const spans = annotationSpans(
      [
        item('before', '2026-02-20', '2026-02-27'),
        item('head', '2026-02-27', '2026-03-02'),
        item('tail', '2026-03-30', '2026-04-03'),
        item('after', '2026-04-01', '2026-04-02'),
        item('last-day-before', '2026-02-28'),
      ],
      range
    );
    expect(spans.map((s) => s.id)).toEqual(['head', 'tail']);
    expect(spans[0]?.x1).toBe(range.start);
    expect(spans[0]?.x2).toBe(berlin('2026-03-03T00:00:00+01:00'));
    expect(spans[1]?.x1).toBe(berlin('2026-03-30T00:00:00+02:00'));
    expect(spans[1]?.x2).toBe(range.end);
  });

  test('the range starting at 10:00 keeps the rest of that day', () => {
    const [span] = annotationSpans([item('first', '2026-03-01')], range);
    expect(span?.x1).toBe(range.start);
    expect(span?.x2).toBe(berlin('2026-03-02T00:00:00+01:00'));
  });

  test('oldest first, whatever the input order; labels hang inwards', () => {
    const spans = annotationSpans(
      [item('late', '2026-03-25'), item('early', '2026-03-05'), item('mid', '2026-03-12')],
      range
    );
    expect(spans.map((s) => s.id)).toEqual(['early', 'mid', 'late']);
    expect(spans.map((s) => s.rightHalf)).toEqual([false, false, true]);
  });

  test('no annotations, no spans', () => {
    expect(annotationSpans([], range)).toEqual([]);
  });
});
