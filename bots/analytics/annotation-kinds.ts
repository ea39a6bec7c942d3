/**
 * The concepts of Baseline's annotation CodeSystem (issue 8 §5): the one code an owner annotation Observation carries
 * (`day-annotation`) and the kinds of day its value names. Defined here, not in the metric catalogue, because an
 * annotation is context the owner states, not a measurement; scripts/profiles/generate.ts renders this table into
 * the CodeSystem and ValueSet resources (see the lead's report for the change it needs).
 *
 * Wording rule: a kind names a circumstance of the day in the owner's own terms. 'ill' is the owner saying they felt
 * ill, recorded as such; Baseline never turns it into a coded condition, and no label here names one.
 */
import type { BaselineConcept } from '../shared/catalogue.ts';
import { BASELINE_BASE, VALUESET_BASE } from '../shared/systems.ts';

export const ANNOTATION_CODE_SYSTEM = BASELINE_BASE + '/CodeSystem/baseline-annotations';
export const ANNOTATION_KINDS_VALUESET = VALUESET_BASE + '/baseline-annotation-kinds';

/** Observation.code of every owner annotation; the kind is the value, so one code finds them all. */
export const ANNOTATION_CODE: BaselineConcept = {
  code: 'day-annotation',
  display: 'Owner day annotation',
  definition:
    'A day or span of days the owner marked as unusual (with a kind and an optional note); such days are left out ' +
    'of baselines and trajectories.',
};

export const ANNOTATION_KIND_CODES = ['ill', 'travelling', 'alcohol', 'menstruation', 'other'] as const;
export type AnnotationKind = (typeof ANNOTATION_KIND_CODES)[number];

export interface AnnotationKindConcept extends BaselineConcept {
  readonly code: AnnotationKind;
  /** What the app, charts and narratives show; English and German. */
  readonly label: { readonly en: string; readonly de: string };
}

export const ANNOTATION_KINDS: readonly AnnotationKindConcept[] = [
  {
    code: 'ill',
    display: 'Felt ill',
    definition: 'The owner reported feeling ill on these days (their own report; not a clinical finding).',
    label: { en: 'Felt ill', de: 'Krank gefühlt' },
  },
  {
    code: 'travelling',
    display: 'Travelling',
    definition: 'The owner was travelling (time-zone change, disrupted routine).',
    label: { en: 'Travelling', de: 'Auf Reisen' },
  },
  {
    code: 'alcohol',
    display: 'Alcohol',
    definition: 'The owner drank alcohol on these days.',
    label: { en: 'Alcohol', de: 'Alkohol' },
  },
  {
    code: 'menstruation',
    display: 'Menstruation',
    definition: 'The owner was menstruating on these days.',
    label: { en: 'Menstruation', de: 'Menstruation' },
  },
  {
    code: 'other',
    display: 'Other',
    definition: 'Another circumstance the owner describes in the note.',
    label: { en: 'Other', de: 'Sonstiges' },
  },
];

const BY_CODE: ReadonlyMap<string, AnnotationKindConcept> = new Map(ANNOTATION_KINDS.map((k) => [k.code, k]));

/** @returns the concept of a kind code, or undefined for a code Baseline does not define */
export function annotationKind(code: string | undefined): AnnotationKindConcept | undefined {
  return code === undefined ? undefined : BY_CODE.get(code);
}
