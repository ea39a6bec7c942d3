/**
 * Bot `token-expunge` (bots only, `$execute`): removes one connection's token-store record together with its whole
 * history, so that after a disconnect no version of its encrypted tokens is left anywhere on the server.
 *
 * Why a bot of its own. Medplum 5 lets only project admins (and super admins) `$expunge`; a plain delete keeps every
 * earlier version in `_history`. So this is the one Baseline bot whose membership deploy marks `admin`, and it is kept
 * as small as a bot can be:
 * - only bots may run it: no role policy grants read on it (what `$execute` checks), only the policies of the bots
 *   that delete tokens (connect-callback, disconnect), and it refuses any caller that is not a Bot;
 * - Medplum's `$expunge` checks nothing but the admin flag — not the resource's project, not the AccessPolicy — so the
 *   bot first reads the record through its own policy (token-store records only, read-only) and checks its code:
 *   whatever id it is handed, it can only ever expunge a token-store record of its own project;
 * - it holds no token key and decrypts nothing.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Basic } from '@medplum/fhirtypes';
import { z } from 'zod';
import { BASIC_TYPE_SYSTEM, TOKEN_STORE_CODE } from '../shared/connection.ts';
import { isAbsent } from '../shared/fhir-write.ts';

export const TokenExpungeInput = z.object({
  // A FHIR id (R4: [A-Za-z0-9\-\.]{1,64}); anything else never reaches a URL.
  tokenRecordId: z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/, 'tokenRecordId must be a FHIR id'),
});
export type TokenExpungeInput = z.infer<typeof TokenExpungeInput>;

export const TokenExpungeResult = z.object({ expunged: z.boolean() });
export type TokenExpungeResult = z.infer<typeof TokenExpungeResult>;

export function isTokenStoreRecord(record: Basic): boolean {
  return record.code.coding?.some((c) => c.system === BASIC_TYPE_SYSTEM && c.code === TOKEN_STORE_CODE) === true;
}

export function requesterIsBot(event: Pick<BotEvent, 'requester'>): boolean {
  return /^Bot\/[^/]+$/.test(event.requester?.reference ?? '');
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<TokenExpungeResult> {
  if (!requesterIsBot(event)) {
    throw new Error('Only Baseline bots can expunge token records');
  }
  const input = TokenExpungeInput.parse(event.input);
  let record: Basic;
  try {
    record = await medplum.readResource('Basic', input.tokenRecordId, { cache: 'no-cache' });
  } catch (err) {
    if (isAbsent(err)) {
      return { expunged: false };
    }
    throw err;
  }
  if (!isTokenStoreRecord(record)) {
    throw new Error('Not a token-store record');
  }
  await medplum.post(medplum.fhirUrl('Basic', input.tokenRecordId, '$expunge'), {});
  return { expunged: true };
}
