/**
 * Bot `annotate` (owner-invocable): the owner adds, edits or deletes an annotation of their own days (issue 8 §5).
 *
 * Owners never write Observations themselves (their policy reads the record, it does not write it): this bot writes
 * the annotation Observation (annotations.ts) for the caller's own Patient only, and queues a recompute so bands,
 * trends, narratives and alerts leave the annotated days out within seconds.
 * - create: conditional on the identifier `<patient id>:<key>`, the key minted once per annotation by the app, so a
 *   doubled submit writes one Observation;
 * - update / delete: the stored annotation must be the caller's (else "No such annotation", the same words as for
 *   one that does not exist, so the answer says nothing about other owners' records), written with If-Match on the
 *   version read; delete marks it `entered-in-error` (kept for audit; it no longer excludes days).
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import { ZodError } from 'zod';
import { isAbsent, updateIfUnchanged } from '../shared/fhir-write.ts';
import { patientIdOf, requesterPatient } from '../shared/requester.ts';
import { ANNOTATION_CODE, ANNOTATION_CODE_SYSTEM } from './annotation-kinds.ts';
import { ANNOTATION_IDENTIFIER_SYSTEM, annotationObservation, parseAnnotation } from './annotations.ts';
import { AnnotateInputSchema } from './owner-api.ts';
import type { AnnotateResult, AnnotationView } from './owner-api.ts';
import { queueAnalytics } from './queue.ts';

function problems(err: ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
}

function view(o: WithId<Observation>): AnnotationView {
  const parsed = parseAnnotation(o);
  if (!parsed.ok) {
    throw new Error(`The stored annotation is unreadable: ${parsed.errors.join('; ')}`);
  }
  const a = parsed.annotation;
  return {
    id: o.id,
    kind: a.kind,
    start: a.start,
    end: a.end,
    ...(a.note !== undefined ? { note: a.note } : {}),
    status: a.status,
  };
}

/** The caller's annotation with this id, or the one error for "absent" and "not yours". */
async function ownAnnotation(medplum: MedplumClient, id: string, owner: string): Promise<WithId<Observation>> {
  let stored: WithId<Observation>;
  try {
    stored = await medplum.readResource('Observation', id, { cache: 'no-cache' });
  } catch (err) {
    if (isAbsent(err)) {
      throw new Error('No such annotation');
    }
    throw err;
  }
  const isAnnotation = stored.code?.coding?.some(
    (c) => c.system === ANNOTATION_CODE_SYSTEM && c.code === ANNOTATION_CODE.code
  );
  if (!isAnnotation || stored.subject?.reference !== owner || stored.status === 'entered-in-error') {
    throw new Error('No such annotation');
  }
  return stored;
}

/** The key the app minted when it created the annotation (after `<patient id>:` in the identifier). */
function keyOf(stored: Observation, patientId: string): string {
  const value = stored.identifier?.find((i) => i.system === ANNOTATION_IDENTIFIER_SYSTEM)?.value ?? '';
  const prefix = `${patientId}:`;
  if (!value.startsWith(prefix)) {
    throw new Error('No such annotation');
  }
  return value.slice(prefix.length);
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<AnnotateResult> {
  const owner = requesterPatient(event);
  const patientId = patientIdOf(owner);
  const parsed = AnnotateInputSchema.safeParse(event.input);
  if (!parsed.success) {
    throw new Error(`Invalid annotation: ${problems(parsed.error)}`);
  }
  const input = parsed.data;
  let written: WithId<Observation>;
  try {
    if (input.action === 'create') {
      const { action: _action, ...fields } = input;
      const desired = annotationObservation(fields, owner);
      const id = desired.identifier?.[0];
      written = await medplum.createResourceIfNoneExist(
        desired,
        `identifier=${encodeURIComponent(`${id?.system ?? ''}|${id?.value ?? ''}`)}`
      );
    } else {
      const stored = await ownAnnotation(medplum, input.id, owner.reference);
      const next: Observation =
        input.action === 'delete'
          ? { ...stored, status: 'entered-in-error' }
          : {
              ...annotationObservation(
                {
                  key: keyOf(stored, patientId),
                  kind: input.kind,
                  start: input.start,
                  ...(input.end !== undefined ? { end: input.end } : {}),
                  ...(input.note !== undefined ? { note: input.note } : {}),
                },
                owner
              ),
              id: stored.id,
            };
      const result = await updateIfUnchanged(medplum, next, stored);
      if (!result) {
        throw new Error('The annotation changed meanwhile; reload and try again');
      }
      written = result;
    }
  } catch (err) {
    if (err instanceof ZodError) {
      throw new Error(`Invalid annotation: ${problems(err)}`, { cause: err });
    }
    throw err;
  }
  await queueAnalytics(medplum, owner, `annotation ${input.action}`);
  console.log(JSON.stringify({ bot: 'annotate', action: input.action, annotation: written.id }));
  return { annotation: view(written), recompute: 'queued' };
}
