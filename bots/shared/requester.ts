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
