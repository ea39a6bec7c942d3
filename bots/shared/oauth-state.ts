/**
 * OAuth `state` for the connect flow: random, single use, bound to one patient and one provider, valid 10 minutes.
 *
 * Only sha256(state) is stored (an `oauth-state` Basic, identifier IDENTIFIER_BASE/oauth-state|<hash>), so a reader
 * of the store cannot replay a pending authorization. The callback looks the record up by the hash of the state it
 * received, checks it with checkStateRecord, then marks it used before exchanging the code.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Basic, Patient, Reference } from '@medplum/fhirtypes';
import {
  BASIC_TYPE_SYSTEM,
  CONNECTION_EXTENSION,
  OAUTH_STATE_CODE,
  OAUTH_STATE_EXTENSION,
  OAUTH_STATE_IDENTIFIER_SYSTEM,
} from './extensions.ts';

export const OAUTH_STATE_TTL_MS = 10 * 60_000;
/** Search criteria for the bot policy that may touch state records (and no other Basic). */
export const OAUTH_STATE_CRITERIA = `Basic?code=${BASIC_TYPE_SYSTEM}|${OAUTH_STATE_CODE}`;

/**
 * @param state - the raw state
 * @returns its sha256, lower-case hex
 */
export function hashState(state: string): string {
  return createHash('sha256').update(state, 'utf8').digest('hex');
}

/** @returns a fresh state (43 base64url chars from 32 random bytes) and its hash. */
export function mintState(): { state: string; hash: string } {
  const state = randomBytes(32).toString('base64url');
  return { state, hash: hashState(state) };
}

/**
 * @param params - state hash, patient, provider, issue time
 * @returns the Basic to create (with `ifNoneExist` on its identifier)
 */
export function buildStateRecord(params: {
  hash: string;
  patient: Reference<Patient>;
  provider: string;
  now: Date;
}): Basic {
  return {
    resourceType: 'Basic',
    code: { coding: [{ system: BASIC_TYPE_SYSTEM, code: OAUTH_STATE_CODE }] },
    subject: params.patient,
    identifier: [{ system: OAUTH_STATE_IDENTIFIER_SYSTEM, value: params.hash }],
    extension: [
      { url: CONNECTION_EXTENSION.provider, valueCode: params.provider },
      {
        url: OAUTH_STATE_EXTENSION.expires,
        valueDateTime: new Date(params.now.getTime() + OAUTH_STATE_TTL_MS).toISOString(),
      },
      { url: OAUTH_STATE_EXTENSION.used, valueBoolean: false },
    ],
  };
}

/**
 * @param record - the state record
 * @returns the record marked used (write it before the code exchange so a replayed callback fails)
 */
export function markStateUsed(record: Basic): Basic {
  return {
    ...record,
    extension: [
      ...(record.extension ?? []).filter((e) => e.url !== OAUTH_STATE_EXTENSION.used),
      { url: OAUTH_STATE_EXTENSION.used, valueBoolean: true },
    ],
  };
}

/**
 * Throws exactly one of: `Unknown state`, `State belongs to another patient`, `State was issued for another
 * provider`, `State already used`, `Expired state`. Ownership is checked before use and expiry so that another
 * patient's state reveals nothing about its lifecycle.
 * @param record - the record found by the state's hash, if any
 * @param expected - the caller's patient, the provider in the callback, the current time
 */
export function checkStateRecord(
  record: Basic | undefined,
  expected: { patient: Reference<Patient>; provider: string; now: Date }
): void {
  if (!record?.code?.coding?.some((c) => c.system === BASIC_TYPE_SYSTEM && c.code === OAUTH_STATE_CODE)) {
    throw new Error('Unknown state');
  }
  if (!expected.patient.reference || record.subject?.reference !== expected.patient.reference) {
    throw new Error('State belongs to another patient');
  }
  const ext = (url: string): NonNullable<Basic['extension']>[number] | undefined =>
    record.extension?.find((e) => e.url === url);
  if (ext(CONNECTION_EXTENSION.provider)?.valueCode !== expected.provider) {
    throw new Error('State was issued for another provider');
  }
  if (ext(OAUTH_STATE_EXTENSION.used)?.valueBoolean !== false) {
    throw new Error('State already used');
  }
  const expires = Date.parse(ext(OAUTH_STATE_EXTENSION.expires)?.valueDateTime ?? '');
  if (Number.isNaN(expires) || expires <= expected.now.getTime()) {
    throw new Error('Expired state');
  }
}
