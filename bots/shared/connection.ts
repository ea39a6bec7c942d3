/**
 * The provider connection record: one `Basic` per patient and provider (code BASIC_TYPE_SYSTEM|wearable-connection),
 * holding the provider user id, the AES-GCM token blob (token-crypto.ts), the status and sync bookkeeping.
 *
 * Only the connect/sync/sweeper bots' policies name `Basic?code=...`; owners see a connection only through
 * toConnectionView, which drops the token blob, the lease and the provider user id. Every helper is pure and
 * returns a new Basic.
 */
import type { Basic, Device, Extension, Patient, Reference, Task } from '@medplum/fhirtypes';
import { z } from 'zod';
import {
  BASIC_TYPE_SYSTEM,
  CONNECTION_CODE,
  CONNECTION_EXTENSION,
  CONNECTION_IDENTIFIER_SYSTEM,
  TASK_EXTENSION,
  TASK_TYPE_SYSTEM,
  providerUserIdSystem,
} from './extensions.ts';
import type { ProviderKey } from './provider.ts';

export { BASIC_TYPE_SYSTEM, CONNECTION_CODE } from './extensions.ts';
export const CONNECTION_RESOURCE_TYPE = 'Basic';
/** Search criteria a bot policy uses to reach connection records and nothing else of type Basic. */
/** `Basic.code` token of a connection record, for searches. */
export const CONNECTION_CODE_TOKEN = `${BASIC_TYPE_SYSTEM}|${CONNECTION_CODE}`;
export const CONNECTION_CRITERIA = `Basic?code=${CONNECTION_CODE_TOKEN}`;

export const CONNECTION_STATUSES = ['active', 'credentials-expired', 'disconnected'] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];
const PROVIDERS = ['whoop', 'withings', 'oura'] as const satisfies readonly ProviderKey[];

export interface Connection {
  readonly id: string | undefined;
  readonly provider: ProviderKey;
  readonly patient: Reference<Patient>;
  readonly patientId: string;
  readonly providerUserId: string;
  readonly status: ConnectionStatus;
  /** `Basic.created` (a FHIR date): the day the connection was (re)made. */
  readonly connectedAt: string | undefined;
  /** The `v1.<kid>...` token blob; absent once disconnected. */
  readonly tokens: string | undefined;
  readonly tokenExpiresAt: string | undefined;
  readonly refreshLeaseUntil: string | undefined;
  readonly lastSync: string | undefined;
  readonly lastWebhook: string | undefined;
  readonly lastError: string | undefined;
  readonly device: Reference<Device> | undefined;
  /** The resource the view was parsed from, for the with* helpers. */
  readonly resource: Basic;
}

export interface ConnectionView {
  provider: ProviderKey;
  status: ConnectionStatus;
  connectedAt: string;
  lastSyncAt?: string;
  lastError?: string;
  deviceId?: string;
  backfill: { total: number; completed: number; failed: number; inProgress: number };
}

/**
 * @param provider - provider key
 * @param patientId - Patient id
 * @returns the connection's primary identifier (one connection per patient and provider)
 */
export function connectionIdentifier(provider: string, patientId: string): { system: string; value: string } {
  return { system: CONNECTION_IDENTIFIER_SYSTEM, value: `${provider}:${patientId}` };
}

function patientIdOf(patient: Reference<Patient>): string {
  const match = /^Patient\/([^/]+)$/.exec(patient.reference ?? '');
  if (!match?.[1]) {
    throw new Error(`Connection subject must be a Patient reference, got ${patient.reference ?? '(none)'}`);
  }
  return match[1];
}

export interface BuildConnectionParams {
  readonly provider: ProviderKey;
  readonly patient: Reference<Patient>;
  readonly providerUserId: string;
  /** Token blob from encryptJson. */
  readonly tokens: string;
  readonly tokenExpiresAt: string;
  readonly device?: Reference<Device>;
  readonly now: Date;
}

/**
 * @param params - who, which provider, encrypted tokens
 * @returns an active connection Basic (write it with PUT Basic?identifier=<connectionIdentifier>)
 */
export function buildConnection(params: BuildConnectionParams): Basic {
  const extension: Extension[] = [
    { url: CONNECTION_EXTENSION.provider, valueCode: params.provider },
    { url: CONNECTION_EXTENSION.status, valueCode: 'active' },
    { url: CONNECTION_EXTENSION.tokens, valueString: params.tokens },
    { url: CONNECTION_EXTENSION.tokenExpiresAt, valueDateTime: params.tokenExpiresAt },
  ];
  if (params.device) {
    extension.push({ url: CONNECTION_EXTENSION.device, valueReference: params.device });
  }
  return {
    resourceType: 'Basic',
    code: { coding: [{ system: BASIC_TYPE_SYSTEM, code: CONNECTION_CODE }] },
    subject: params.patient,
    created: params.now.toISOString().slice(0, 10),
    identifier: [
      connectionIdentifier(params.provider, patientIdOf(params.patient)),
      { system: providerUserIdSystem(params.provider), value: params.providerUserId },
    ],
    extension,
  };
}

const Instant = z.iso.datetime({ offset: true });
const ConnectionSchema = z.object({
  provider: z.enum(PROVIDERS),
  status: z.enum(CONNECTION_STATUSES),
  patient: z.string().regex(/^Patient\/[^/]+$/, 'subject must be a Patient reference'),
  providerUserId: z.string().min(1),
  connectedAt: z.string().optional(),
  tokens: z.string().min(1).optional(),
  tokenExpiresAt: Instant.optional(),
  refreshLeaseUntil: Instant.optional(),
  lastSync: Instant.optional(),
  lastWebhook: Instant.optional(),
  lastError: z.string().optional(),
  device: z
    .string()
    .regex(/^Device\/[^/]+$/)
    .optional(),
});

function ext(basic: Basic, url: string): Extension | undefined {
  return basic.extension?.find((e) => e.url === url);
}

/**
 * @param basic - a connection Basic read from Medplum
 * @returns the typed connection; throws `Basic/<id> is not a valid connection: <problems>` when malformed
 */
export function parseConnection(basic: Basic): Connection {
  const label = `Basic/${basic.id ?? '(new)'}`;
  if (!basic.code?.coding?.some((c) => c.system === BASIC_TYPE_SYSTEM && c.code === CONNECTION_CODE)) {
    throw new Error(`${label} is not a valid connection: code is not ${CONNECTION_CODE}`);
  }
  const provider = ext(basic, CONNECTION_EXTENSION.provider)?.valueCode;
  const raw = {
    provider,
    status: ext(basic, CONNECTION_EXTENSION.status)?.valueCode,
    patient: basic.subject?.reference,
    providerUserId: provider
      ? basic.identifier?.find((i) => i.system === providerUserIdSystem(provider))?.value
      : undefined,
    connectedAt: basic.created,
    tokens: ext(basic, CONNECTION_EXTENSION.tokens)?.valueString,
    tokenExpiresAt: ext(basic, CONNECTION_EXTENSION.tokenExpiresAt)?.valueDateTime,
    refreshLeaseUntil: ext(basic, CONNECTION_EXTENSION.refreshLeaseUntil)?.valueDateTime,
    lastSync: ext(basic, CONNECTION_EXTENSION.lastSync)?.valueDateTime,
    lastWebhook: ext(basic, CONNECTION_EXTENSION.lastWebhook)?.valueDateTime,
    lastError: ext(basic, CONNECTION_EXTENSION.lastError)?.valueString,
    device: ext(basic, CONNECTION_EXTENSION.device)?.valueReference?.reference,
  };
  const parsed = ConnectionSchema.safeParse(raw);
  if (!parsed.success) {
    // Paths only: a message must never echo the token blob.
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ');
    throw new Error(`${label} is not a valid connection: ${problems}`);
  }
  const v = parsed.data;
  const patient: Reference<Patient> = { reference: v.patient as `Patient/${string}` };
  return {
    id: basic.id,
    provider: v.provider,
    patient,
    patientId: patientIdOf(patient),
    providerUserId: v.providerUserId,
    status: v.status,
    connectedAt: v.connectedAt,
    tokens: v.tokens,
    tokenExpiresAt: v.tokenExpiresAt,
    refreshLeaseUntil: v.refreshLeaseUntil,
    lastSync: v.lastSync,
    lastWebhook: v.lastWebhook,
    lastError: v.lastError,
    device: v.device ? { reference: v.device as `Device/${string}` } : undefined,
    resource: basic,
  };
}

function withExtensions(basic: Basic, set: readonly Extension[], remove: readonly string[] = []): Basic {
  const drop = new Set([...set.map((e) => e.url), ...remove]);
  return { ...basic, extension: [...(basic.extension ?? []).filter((e) => !drop.has(e.url)), ...set] };
}

/**
 * @param basic - connection
 * @param tokens - new token blob
 * @param expiresAt - plaintext access-token expiry (read by the sweeper without decrypting)
 * @returns the connection with new tokens, the refresh lease released and the status active
 */
export function withTokens(basic: Basic, tokens: string, expiresAt: string): Basic {
  return withExtensions(
    basic,
    [
      { url: CONNECTION_EXTENSION.tokens, valueString: tokens },
      { url: CONNECTION_EXTENSION.tokenExpiresAt, valueDateTime: expiresAt },
      { url: CONNECTION_EXTENSION.status, valueCode: 'active' },
    ],
    [CONNECTION_EXTENSION.refreshLeaseUntil, CONNECTION_EXTENSION.lastError]
  );
}

/**
 * @param basic - connection
 * @param status - new status; `disconnected` also drops the tokens
 * @param lastError - why (no secrets); omitted clears the previous error
 * @returns the updated connection
 */
export function withStatus(basic: Basic, status: ConnectionStatus, lastError?: string): Basic {
  const set: Extension[] = [{ url: CONNECTION_EXTENSION.status, valueCode: status }];
  const remove: string[] = [CONNECTION_EXTENSION.refreshLeaseUntil];
  if (lastError) {
    set.push({ url: CONNECTION_EXTENSION.lastError, valueString: lastError });
  } else {
    remove.push(CONNECTION_EXTENSION.lastError);
  }
  if (status === 'disconnected') {
    remove.push(CONNECTION_EXTENSION.tokens, CONNECTION_EXTENSION.tokenExpiresAt);
  }
  return withExtensions(basic, set, remove);
}

/**
 * @param basic - connection
 * @param until - lease expiry (single-flight refresh: write it with If-Match before refreshing); undefined releases
 * @returns the updated connection
 */
export function withRefreshLease(basic: Basic, until: Date | undefined): Basic {
  return until
    ? withExtensions(basic, [{ url: CONNECTION_EXTENSION.refreshLeaseUntil, valueDateTime: until.toISOString() }])
    : withExtensions(basic, [], [CONNECTION_EXTENSION.refreshLeaseUntil]);
}

/**
 * @param basic - connection
 * @param at - when a sync completed
 * @returns the updated connection
 */
export function withLastSync(basic: Basic, at: Date): Basic {
  return withExtensions(basic, [{ url: CONNECTION_EXTENSION.lastSync, valueDateTime: at.toISOString() }]);
}

/**
 * @param basic - connection
 * @param at - when a webhook for this connection arrived
 * @returns the updated connection
 */
export function withLastWebhook(basic: Basic, at: Date): Basic {
  return withExtensions(basic, [{ url: CONNECTION_EXTENSION.lastWebhook, valueDateTime: at.toISOString() }]);
}

/**
 * @param basic - connection
 * @param device - the patient's Device for this provider
 * @returns the updated connection
 */
export function withDevice(basic: Basic, device: Reference<Device>): Basic {
  return withExtensions(basic, [{ url: CONNECTION_EXTENSION.device, valueReference: device }]);
}

/**
 * @param connection - parsed connection
 * @param now - current time
 * @param skewMs - refresh this long before expiry
 * @returns true when the access token is missing its expiry or expires within skewMs
 */
export function tokenNeedsRefresh(connection: Connection, now: Date, skewMs = 5 * 60_000): boolean {
  const expires = connection.tokenExpiresAt ? Date.parse(connection.tokenExpiresAt) : Number.NaN;
  return Number.isNaN(expires) || expires - skewMs <= now.getTime();
}

/**
 * @param connection - parsed connection
 * @param now - current time
 * @returns true when another run holds an unexpired refresh lease
 */
export function refreshLeaseHeld(connection: Connection, now: Date): boolean {
  const until = connection.refreshLeaseUntil ? Date.parse(connection.refreshLeaseUntil) : Number.NaN;
  return !Number.isNaN(until) && until > now.getTime();
}

/**
 * @param connection - parsed connection
 * @param tasks - Tasks found for it (any; only backfill Tasks focused on this connection are counted)
 * @returns the owner-facing view: no tokens, no lease, no provider user id
 */
export function toConnectionView(connection: Connection, tasks: readonly Task[]): ConnectionView {
  const focus = connection.id ? `Basic/${connection.id}` : undefined;
  const backfill = { total: 0, completed: 0, failed: 0, inProgress: 0 };
  for (const task of tasks) {
    const isBackfill = task.code?.coding?.some((c) => c.system === TASK_TYPE_SYSTEM && c.code === 'backfill');
    if (!isBackfill || task.focus?.reference !== focus) {
      continue;
    }
    backfill.total += 1;
    const retryScheduled = task.extension?.some((e) => e.url === TASK_EXTENSION.nextAttempt);
    if (task.status === 'completed') {
      backfill.completed += 1;
    } else if (task.status === 'failed' && !retryScheduled) {
      backfill.failed += 1;
    } else if (task.status !== 'cancelled') {
      // requested, in progress, or failed with a retry scheduled: still on its way
      backfill.inProgress += 1;
    }
  }
  const view: ConnectionView = {
    provider: connection.provider,
    status: connection.status,
    connectedAt: connection.connectedAt ?? '',
    backfill,
  };
  if (connection.lastSync) {
    view.lastSyncAt = connection.lastSync;
  }
  if (connection.lastError) {
    view.lastError = connection.lastError;
  }
  const deviceId = /^Device\/([^/]+)$/.exec(connection.device?.reference ?? '')?.[1];
  if (deviceId) {
    view.deviceId = deviceId;
  }
  return view;
}
