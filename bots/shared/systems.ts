/**
 * Every URI Baseline mints derives from BASELINE_BASE, so a move to another domain is one edit and no system string
 * is ever retyped (a typo in a system silently splits an identifier space and breaks idempotent writes).
 * LOINC and UCUM come from @medplum/core so the whole repo shares Medplum's spelling of them.
 */
export { LOINC, UCUM } from '@medplum/core';

export const BASELINE_BASE = 'https://baseline.health/fhir';

export const CODE_SYSTEM = BASELINE_BASE + '/CodeSystem/baseline-metrics';
export const IDENTIFIER_BASE = BASELINE_BASE + '/identifier';
export const BOT_IDENTIFIER_SYSTEM = BASELINE_BASE + '/identifier/bot';
export const POLICY_IDENTIFIER_SYSTEM = BASELINE_BASE + '/identifier/access-policy';
export const CLIENT_IDENTIFIER_SYSTEM = BASELINE_BASE + '/identifier/client-application';
export const SUBSCRIPTION_IDENTIFIER_SYSTEM = BASELINE_BASE + '/identifier/subscription';
export const PROFILE_BASE = BASELINE_BASE + '/StructureDefinition';
export const VALUESET_BASE = BASELINE_BASE + '/ValueSet';

export const OBSERVATION_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category';

/** Canonical URLs of Baseline's profiles and value sets (generated into profiles/ by scripts/profiles/generate.ts). */
export const WEARABLE_PROFILE = PROFILE_BASE + '/baseline-wearable-observation';
export const DERIVED_PROFILE = PROFILE_BASE + '/baseline-derived-observation';
export const NARRATIVE_PROFILE = PROFILE_BASE + '/baseline-narrative-observation';
export const ANNOTATION_PROFILE = PROFILE_BASE + '/baseline-annotation-observation';
export const WEARABLE_METRICS_VALUESET = VALUESET_BASE + '/baseline-wearable-metrics';
export const DERIVED_KINDS_VALUESET = VALUESET_BASE + '/baseline-derived-kinds';
export const DERIVED_METHODS_VALUESET = VALUESET_BASE + '/baseline-derived-methods';
export const NARRATIVE_KINDS_VALUESET = VALUESET_BASE + '/baseline-narrative-kinds';
