/**
 * Every extension, code system and identifier system the connection, OAuth-state, Task and Observation records use.
 * All derive from BASELINE_BASE (via systems.ts) so a system string is never retyped: a one-character drift would
 * silently split an identifier space and turn idempotent conditional PUTs into duplicate creates.
 */
import { BASELINE_BASE, IDENTIFIER_BASE, PROFILE_BASE } from './systems.ts';

/** `Basic.code` system that says what a Basic resource is (connection, OAuth state). */
export const BASIC_TYPE_SYSTEM = BASELINE_BASE + '/CodeSystem/basic-resource-type';
export const CONNECTION_CODE = 'wearable-connection';
export const OAUTH_STATE_CODE = 'oauth-state';

/** `Task.code` system: `backfill` (historical window) or `sync` (webhook event, reconcile window). */
export const TASK_TYPE_SYSTEM = BASELINE_BASE + '/CodeSystem/task-type';
/** `Task.input[].type` codes. */
export const TASK_INPUT_SYSTEM = BASELINE_BASE + '/CodeSystem/task-input';
/** `Task.output[].type` codes. */
export const TASK_OUTPUT_SYSTEM = BASELINE_BASE + '/CodeSystem/task-output';

const CONNECTION_EXTENSION_BASE = PROFILE_BASE + '/connection-';

/** Extensions on the connection Basic. */
export const CONNECTION_EXTENSION = {
  provider: CONNECTION_EXTENSION_BASE + 'provider',
  status: CONNECTION_EXTENSION_BASE + 'status',
  tokens: CONNECTION_EXTENSION_BASE + 'tokens',
  tokenExpiresAt: CONNECTION_EXTENSION_BASE + 'token-expires-at',
  refreshLeaseUntil: CONNECTION_EXTENSION_BASE + 'refresh-lease-until',
  lastSync: CONNECTION_EXTENSION_BASE + 'last-sync',
  lastWebhook: CONNECTION_EXTENSION_BASE + 'last-webhook',
  lastError: CONNECTION_EXTENSION_BASE + 'last-error',
  device: CONNECTION_EXTENSION_BASE + 'device',
} as const;

/** Extensions on the OAuth-state Basic (it also carries CONNECTION_EXTENSION.provider). */
export const OAUTH_STATE_EXTENSION = {
  expires: PROFILE_BASE + '/oauth-state-expires',
  used: PROFILE_BASE + '/oauth-state-used',
} as const;

/** Extensions on a work-queue Task. */
export const TASK_EXTENSION = {
  attempts: PROFILE_BASE + '/task-attempts',
  nextAttempt: PROFILE_BASE + '/task-next-attempt',
} as const;

export const CONNECTION_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/connection';
export const OAUTH_STATE_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/oauth-state';
export const DEVICE_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/device';
export const TASK_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/task';

/**
 * @param provider - provider key, e.g. 'whoop'
 * @returns the system of the connection's provider-user-id identifier
 */
export function providerUserIdSystem(provider: string): string {
  return `${IDENTIFIER_BASE}/${provider}/user-id`;
}

/**
 * @param provider - provider key
 * @param recordType - provider record type, e.g. 'sleep'
 * @returns the system of an Observation's own identifier (value `<patientId>:<userId>:<recordId>:<metricKey>`; the
 *   Baseline patient id comes first so two owners of one provider account never share an identifier)
 */
export function providerRecordTypeSystem(provider: string, recordType: string): string {
  return `${IDENTIFIER_BASE}/${provider}/${recordType}`;
}

/**
 * @param provider - provider key
 * @returns the system of an Observation's per-record identifier (value `<recordType>:<patientId>:<userId>:<recordId>`),
 *   which finds every Observation of one provider record (read in bulk before a write; retracted on `*.deleted`)
 */
export function providerRecordSystem(provider: string): string {
  return `${IDENTIFIER_BASE}/${provider}/record`;
}
