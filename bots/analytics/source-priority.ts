/**
 * The owner's source ladders (issue 8 §1): which provider's value a daily series takes when several measured the
 * same metric on one day. The catalogue holds the defaults (Metric.sourcePriority); an owner's override is one
 * `Basic` per owner (code BASIC_TYPE_SYSTEM|source-priority, subject = the Patient, identifier `<patient id>`), the
 * ladders as JSON in one extension: `{"resting-heart-rate": ["oura", "whoop"]}`. Basic for the same reasons as alert
 * rules (alerts.ts): an owner setting, in the owner's compartment, reachable by a policy entry on its code alone.
 *
 * Pure: no I/O and no Node built-ins.
 */
import type { Basic, Patient, Reference } from '@medplum/fhirtypes';
import { z } from 'zod';
import { getMetric, PROVIDER_IDS } from '../shared/catalogue.ts';
import { BASIC_TYPE_SYSTEM } from '../shared/extensions.ts';
import { PATIENT_REFERENCE, patientIdOf } from '../shared/requester.ts';
import { IDENTIFIER_BASE, PROFILE_BASE } from '../shared/systems.ts';

export const SOURCE_PRIORITY_CODE = 'source-priority';
export const SOURCE_PRIORITY_CODE_TOKEN = `${BASIC_TYPE_SYSTEM}|${SOURCE_PRIORITY_CODE}`;
export const SOURCE_PRIORITY_CRITERIA = `Basic?code=${SOURCE_PRIORITY_CODE_TOKEN}`;
export const SOURCE_PRIORITY_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/source-priority';
export const SOURCE_PRIORITY_EXTENSION = PROFILE_BASE + '/source-priority';

const Provider = z.enum(PROVIDER_IDS);

function isMetricKey(key: string): boolean {
  try {
    getMetric(key);
    return true;
  } catch {
    return false;
  }
}

/** metric key → providers, best first, each once. */
export const LaddersSchema = z.record(
  z.string().refine(isMetricKey, { message: 'not a catalogue metric' }),
  z
    .array(Provider)
    .min(1)
    .refine((s) => new Set(s).size === s.length, { message: 'each source once' })
);
export type Ladders = z.infer<typeof LaddersSchema>;

/** Sorted keys: the same ladders are the same JSON, so an unchanged save is recognised and not written. */
function canonicalLadders(ladders: Ladders): Ladders {
  return Object.fromEntries(
    Object.keys(ladders)
      .sort()
      .map((k) => [k, ladders[k] ?? []])
  );
}

/**
 * @param ladders - the owner's overrides (validated here)
 * @param patient - the owner
 * @returns the Basic to write (conditionally, on its identifier)
 */
export function sourcePriorityResource(ladders: Ladders, patient: Reference<Patient>): Basic {
  const valid = LaddersSchema.parse(ladders);
  const pid = patientIdOf(patient);
  return {
    resourceType: 'Basic',
    identifier: [{ system: SOURCE_PRIORITY_IDENTIFIER_SYSTEM, value: pid }],
    code: {
      coding: [{ system: BASIC_TYPE_SYSTEM, code: SOURCE_PRIORITY_CODE, display: 'Source priority' }],
      text: 'Source priority',
    },
    subject: { reference: `Patient/${pid}` },
    extension: [{ url: SOURCE_PRIORITY_EXTENSION, valueString: JSON.stringify(canonicalLadders(valid)) }],
  };
}

export type LaddersParse = { ok: true; ladders: Ladders; patient: string } | { ok: false; errors: string[] };

/**
 * @param basic - a stored source-priority Basic
 * @returns the ladders, or every reason they cannot be used (the caller then keeps the catalogue defaults)
 */
export function parseSourcePriority(basic: Basic): LaddersParse {
  const errors: string[] = [];
  if (!basic.code?.coding?.some((c) => c.system === BASIC_TYPE_SYSTEM && c.code === SOURCE_PRIORITY_CODE)) {
    errors.push(`code is not ${SOURCE_PRIORITY_CODE_TOKEN}`);
  }
  const patient = basic.subject?.reference;
  if (!patient || !PATIENT_REFERENCE.test(patient)) {
    errors.push('subject is not a Patient');
  }
  const json = basic.extension?.find((e) => e.url === SOURCE_PRIORITY_EXTENSION)?.valueString;
  let raw: unknown;
  try {
    raw = json === undefined ? undefined : JSON.parse(json);
  } catch {
    errors.push('ladders are not JSON');
  }
  if (json === undefined) {
    errors.push('no ladders extension');
  }
  const parsed = LaddersSchema.safeParse(raw);
  if (!parsed.success && json !== undefined && errors.length === 0) {
    errors.push(...parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  if (errors.length > 0 || !parsed.success || !patient) {
    return { ok: false, errors };
  }
  return { ok: true, ladders: parsed.data, patient };
}
