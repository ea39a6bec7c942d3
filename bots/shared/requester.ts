/**
 * Who called an owner-facing bot. Medplum 5 passes `event.requester` (the caller's profile) to vmcontext bots; the
 * server authenticated the caller for `$execute`, so it can be trusted. Only patients connect their own devices.
 */
import type { BotEvent } from '@medplum/core';
import type { Patient, Reference } from '@medplum/fhirtypes';

export function requesterPatient(event: Pick<BotEvent, 'requester'>): Reference<Patient> & { reference: string } {
  const reference = event.requester?.reference ?? '';
  if (!/^Patient\/[^/]+$/.test(reference)) {
    throw new Error('Only a signed-in patient can do this');
  }
  return { reference: reference as `Patient/${string}` };
}

/** `Patient/<FHIR id>`, the id captured. */
export const PATIENT_REFERENCE = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;

/**
 * The id of a `Patient/<id>` reference; anything else is a programming error, so it throws.
 * @param patient - the reference
 * @param what - what the reference is, for the message (e.g. "Connection subject")
 * @returns the id
 */
export function patientIdOf(patient: Reference<Patient>, what = 'patient'): string {
  const match = PATIENT_REFERENCE.exec(patient.reference ?? '');
  if (!match?.[1]) {
    throw new Error(`${what} must be a Patient/<id> reference, got ${patient.reference ?? '(none)'}`);
  }
  return match[1];
}
