/**
 * Owner annotations on a chart whose x axis is time (the Data page's raw-value charts, issue 8 §5 "shown on every
 * chart"). The Trends view charts calendar days; these charts chart instants, so an annotated day becomes the span
 * from its local midnight to the next one, in the browser's zone, which is the owner's when they look at it (the
 * same assumption as `localToday`). The Data page's points are placed at their instants in that zone too, so a night
 * that ended on an annotated morning falls inside the span.
 */
import { annotationSearch } from '../../../bots/analytics/annotations.ts';
import type { AnnotationItem } from './annotations.ts';
import { localToday } from './trends.ts';

/**
 * The annotation elements parseAnnotation reads; the rest (meta history, text) stays on the server.
 * The Trends view's useTrendData.ts keeps the same list privately.
 */
export const ANNOTATION_ELEMENTS = ['status', 'subject', 'code', 'value', 'effective', 'note', 'identifier'] as const;

/** A charted range: its start and end (ms since epoch). */
export interface TimeRange {
  readonly start: number;
  readonly end: number;
}

/**
 * @param patientId - the owner.
 * @param range - the charted range.
 * @returns The one search that finds every annotation covering a local day of the range (any status: the reader
 *   keeps the standing ones).
 */
export function annotationRangeQuery(patientId: string, range: TimeRange): string {
  const from = localToday(new Date(range.start));
  const to = localToday(new Date(range.end));
  return `${annotationSearch({ reference: `Patient/${patientId}` }, from, to)}&_elements=${ANNOTATION_ELEMENTS.join(',')}`;
}

/** @returns the instant of local midnight starting `day` plus `offset` days (Date rolls months and DST over) */
function localMidnight(day: string, offset = 0): number {
  return new Date(Number(day.slice(0, 4)), Number(day.slice(5, 7)) - 1, Number(day.slice(8, 10)) + offset).getTime();
}

export interface AnnotationSpan extends AnnotationItem {
  /** Where the shaded span starts and ends on the time axis, cut to the charted range. */
  readonly x1: number;
  readonly x2: number;
  /** Whether the span's middle lies in the right half of the range: its label then hangs left, inside the plot. */
  readonly rightHalf: boolean;
}

/**
 * @param annotations - the owner's standing annotations (readAnnotations).
 * @param range - the charted range.
 * @returns One span per annotation that covers part of the range, cut to it, oldest first.
 */
export function annotationSpans(annotations: readonly AnnotationItem[], range: TimeRange): AnnotationSpan[] {
  const middle = (range.start + range.end) / 2;
  return annotations
    .map((a) => {
      const x1 = Math.max(localMidnight(a.start), range.start);
      const x2 = Math.min(localMidnight(a.end, 1), range.end);
      return { ...a, x1, x2, rightHalf: (x1 + x2) / 2 > middle };
    })
    .filter((s) => s.x1 < s.x2)
    .sort((a, b) => a.x1 - b.x1 || a.x2 - b.x2 || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
