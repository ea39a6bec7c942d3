/**
 * Bot `record-expunge` (bots only, `$execute`; project admin for `$expunge`): during an erase (erase.ts) removes a
 * page of one owner's erased records *with their whole history*. A plain delete leaves every earlier version in
 * Medplum's `_history` (readable by project admins); `$expunge` removes them all, and only a project admin may run it.
 *
 * Like `token-expunge` it is kept as narrow as a bot can be: only bots may run it (no role policy grants read on it,
 * only the sync bot's policy, which runs erases), it refuses any caller that is not a Bot, and since Medplum's
 * `$expunge` checks nothing but the admin flag, it first reads each record through its own read-only policy and
 * expunges it only when it is of the named owner (its subject or patient is that Patient); others are skipped and
 * counted. It answers how many it expunged; the erase deletes whatever it did not.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { z } from 'zod';
import { isAbsent } from '../shared/fhir-write.ts';
import { PATIENT_REFERENCE } from '../shared/requester.ts';
import { requesterIsBot } from './token-expunge.ts';

export const RECORD_EXPUNGE_BOT = 'record-expunge';
export const EXPUNGE_TYPES = ['Observation', 'Flag', 'Communication', 'Device'] as const;
export const MAX_EXPUNGE_IDS = 100;

export const RecordExpungeInput = z.strictObject({
  patient: z.string().regex(PATIENT_REFERENCE, 'patient must be a Patient/<id> reference'),
  type: z.enum(EXPUNGE_TYPES),
  ids: z
    .array(z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/, 'ids must be FHIR ids'))
    .min(1)
    .max(MAX_EXPUNGE_IDS),
});
export type RecordExpungeInput = z.infer<typeof RecordExpungeInput>;

export const RecordExpungeResult = z.strictObject({
  /** Ids whose record and history are gone. */
  expunged: z.array(z.string()),
  /** Ids not of that owner (left alone). */
  refused: z.number().int().nonnegative(),
});
export type RecordExpungeResult = z.infer<typeof RecordExpungeResult>;

/** Whether a record is the owner's: what erase.ts searches by (subject) or a Device's patient. */
export function ownedBy(resource: Resource, patient: string): boolean {
  const r = resource as { subject?: { reference?: string }; patient?: { reference?: string } };
  return r.subject?.reference === patient || (resource.resourceType === 'Device' && r.patient?.reference === patient);
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<RecordExpungeResult> {
  if (!requesterIsBot(event)) {
    throw new Error('Only Baseline bots can expunge records');
  }
  const input = RecordExpungeInput.parse(event.input);
  const expunged: string[] = [];
  let refused = 0;
  for (const id of input.ids) {
    let resource: Resource;
    try {
      resource = await medplum.readResource(input.type, id, { cache: 'no-cache' });
    } catch (err) {
      if (isAbsent(err)) {
        continue;
      }
      throw err;
    }
    if (!ownedBy(resource, input.patient)) {
      refused++;
      continue;
    }
    await medplum.post(medplum.fhirUrl(input.type, id, '$expunge'), {});
    expunged.push(id);
  }
  return { expunged, refused };
}
