/**
 * The provider connection record: one `Basic` per patient and provider (code BASIC_TYPE_SYSTEM|wearable-connection),
 * holding the provider user id, the link id, the status, the (plaintext) access-token expiry and sync bookkeeping.
 *
 * The tokens are NOT on it. The connection changes on every sync (last sync, refresh lease), and Medplum keeps every
 * version in `_history`, so a token blob here would be copied into each of them. The blob lives on a separate
 * token-store `Basic` (code wearable-tokens, identifier = the connection id, see tokens.ts) that changes only when
 * the tokens do and is deleted on disconnect. Records written before that still carry a `v1` blob in the `tokens`
 * extension (`legacyTokens` here); tokens.ts moves it on first touch.
 *
 * Each link (connect or reconnect) gets a fresh random link id: backfill Task identifiers include it, so a reconnect
 * queues (and imports) its history again instead of finding the previous link's finished windows.
 *
 * Only bot policies name `Basic?code=...`; owners see a connection only through toConnectionView, which drops the
 * lease and the provider user id. Every helper is pure and returns a new Basic.
 */
import { randomBytes } from 'node:crypto';
import type { Basic, Device, Extension, Patient, Reference, Task } from '@medplum/fhirtypes';
import { z } from 'zod';
import {
  BASIC_TYPE_SYSTEM,
  CONNECTION_CODE,
  CONNECTION_EXTENSION,
  CONNECTION_IDENTIFIER_SYSTEM,
  TASK_EXTENSION,
  TASK_OUTPUT_SYSTEM,
  TASK_TYPE_SYSTEM,
  providerUserIdSystem,
} from './extensions.ts';
import { PROVIDER_IDS } from './catalogue.ts';
import type { ProviderKey } from './provider.ts';
import { patientIdOf } from './requester.ts';
import { IDENTIFIER_BASE, PROFILE_BASE } from './systems.ts';

export { BASIC_TYPE_SYSTEM, CONNECTION_CODE } from './extensions.ts';
export const CONNECTION_RESOURCE_TYPE = 'Basic';
/** Search criteria a bot policy uses to reach connection records and nothing else of type Basic. */
/** `Basic.code` token of a connection record, for searches. */
export const CONNECTION_CODE_TOKEN = `${BASIC_TYPE_SYSTEM}|${CONNECTION_CODE}`;
export const CONNECTION_CRITERIA = `Basic?code=${CONNECTION_CODE_TOKEN}`;

/** The connection's current link (random, minted by connect-callback on every connect and reconnect). */
export const CONNECTION_LINK_EXTENSION = PROFILE_BASE + '/connection-link-id';

/** `Basic.code` of a token-store record: one per connection, holding only the bound token blob. */
export const TOKEN_STORE_CODE = 'wearable-tokens';
export const TOKEN_STORE_CODE_TOKEN = `${BASIC_TYPE_SYSTEM}|${TOKEN_STORE_CODE}`;
/** Criteria for the policies of the bots that use tokens (connect-callback, sync, sweeper, disconnect) — no other. */
export const TOKEN_STORE_CRITERIA = `Basic?code=${TOKEN_STORE_CODE_TOKEN}`;
/** Identifier of a token-store record: value = the connection Basic's id. */
export const TOKEN_STORE_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/connection-tokens';
/** The blob extension on the token-store record. */
export const TOKEN_STORE_BLOB_EXTENSION = PROFILE_BASE + '/token-store-blob';

export const CONNECTION_STATUSES = ['active', 'credentials-expired', 'disconnected'] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

export interface Connection {
  readonly id: string | undefined;
  readonly provider: ProviderKey;
  readonly patient: Reference<Patient>;
  readonly patientId: string;
  readonly providerUserId: string;
  readonly status: ConnectionStatus;
  /** `Basic.created` (a FHIR date): the day the connection was (re)made. */
  readonly connectedAt: string | undefined;
  /** The current link's id; absent on records made before links had ids. */
  readonly linkId: string | undefined;
  /** A `v1` token blob still on the record from before the token store (migrated on first touch). */
  readonly legacyTokens: string | undefined;
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
  /** The current link's erase, once the owner asked for one: its state and how many resources it has deleted. */
  erase?: EraseProgress;
}

export interface EraseProgress {
  status: Task['status'];
  deleted: number;
}

/**
 * @param tasks - erase Tasks (one chain per link: each run hands over to the next)
 * @returns the chain's state (completed only when every Task of it is) and the total deleted, or undefined for none
 */
export function summarizeErase(tasks: readonly Task[]): EraseProgress | undefined {
  if (tasks.length === 0) {
    return undefined;
  }
  let deleted = 0;
  for (const task of tasks) {
    for (const out of task.output ?? []) {
      if (out.type.coding?.some((c) => c.system === TASK_OUTPUT_SYSTEM && c.code === 'deleted')) {
        deleted += out.valueInteger ?? 0;
      }
    }
  }
  const open = tasks.find((t) => t.status !== 'completed' && t.status !== 'cancelled');
  return { status: open ? open.status : 'completed', deleted };
}

/**
 * @param provider - provider key
 * @param patientId - Patient id
 * @returns the connection's primary identifier (one connection per patient and provider)
 */
export function connectionIdentifier(provider: string, patientId: string): { system: string; value: string } {
  return { system: CONNECTION_IDENTIFIER_SYSTEM, value: `${provider}:${patientId}` };
}

export interface BuildConnectionParams {
  readonly provider: ProviderKey;
  readonly patient: Reference<Patient>;
  readonly providerUserId: string;
  /** A fresh random link id (newLinkId). */
  readonly linkId: string;
  readonly tokenExpiresAt: string;
  readonly device?: Reference<Device>;
  readonly now: Date;
}

/** @returns a random link id (22 base64url characters). */
export function newLinkId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * @param params - who, which provider, which link (the tokens go to the token store, see tokens.ts)
 * @returns an active connection Basic
 */
export function buildConnection(params: BuildConnectionParams): Basic {
  const extension: Extension[] = [
    { url: CONNECTION_EXTENSION.provider, valueCode: params.provider },
    { url: CONNECTION_EXTENSION.status, valueCode: 'active' },
    { url: CONNECTION_LINK_EXTENSION, valueString: params.linkId },
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
      connectionIdentifier(params.provider, patientIdOf(params.patient, 'Connection subject')),
      { system: providerUserIdSystem(params.provider), value: params.providerUserId },
    ],
    extension,
  };
}

const Instant = z.iso.datetime({ offset: true });
const ConnectionSchema = z.object({
  provider: z.enum(PROVIDER_IDS),
  status: z.enum(CONNECTION_STATUSES),
  patient: z.string().regex(/^Patient\/[^/]+$/, 'subject must be a Patient reference'),
  providerUserId: z.string().min(1),
  connectedAt: z.string().optional(),
  linkId: z.string().min(1).optional(),
  legacyTokens: z.string().min(1).optional(),
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
    linkId: ext(basic, CONNECTION_LINK_EXTENSION)?.valueString,
    legacyTokens: ext(basic, CONNECTION_EXTENSION.tokens)?.valueString,
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
    patientId: patientIdOf(patient, 'Connection subject'),
    providerUserId: v.providerUserId,
    status: v.status,
    connectedAt: v.connectedAt,
    linkId: v.linkId,
    legacyTokens: v.legacyTokens,
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
 * @param expiresAt - plaintext access-token expiry of the tokens just stored (read by the sweeper without decrypting)
 * @returns the connection with the new expiry, the refresh lease released, the error cleared, the status active
 */
export function withTokenExpiry(basic: Basic, expiresAt: string): Basic {
  return withExtensions(
    basic,
    [
      { url: CONNECTION_EXTENSION.tokenExpiresAt, valueDateTime: expiresAt },
      { url: CONNECTION_EXTENSION.status, valueCode: 'active' },
    ],
    [CONNECTION_EXTENSION.refreshLeaseUntil, CONNECTION_EXTENSION.lastError, CONNECTION_EXTENSION.tokens]
  );
}

/**
 * @param basic - connection
 * @returns the connection without the legacy token blob (after it was moved to the token store)
 */
export function withoutLegacyTokens(basic: Basic): Basic {
  return withExtensions(basic, [], [CONNECTION_EXTENSION.tokens]);
}

/**
 * A (re)connect: the record is kept, but takes the new account, link id, token expiry and day.
 * @param basic - the existing connection (any status)
 * @param params - the new link
 * @returns the active connection for the new link
 */
export function withNewLink(
  basic: Basic,
  params: { providerUserId: string; linkId: string; tokenExpiresAt: string; device: Reference<Device>; now: Date }
): Basic {
  const provider = basic.extension?.find((e) => e.url === CONNECTION_EXTENSION.provider)?.valueCode ?? '';
  const next = withExtensions(
    basic,
    [
      { url: CONNECTION_EXTENSION.status, valueCode: 'active' },
      { url: CONNECTION_LINK_EXTENSION, valueString: params.linkId },
      { url: CONNECTION_EXTENSION.tokenExpiresAt, valueDateTime: params.tokenExpiresAt },
      { url: CONNECTION_EXTENSION.device, valueReference: params.device },
    ],
    [
      CONNECTION_EXTENSION.tokens,
      CONNECTION_EXTENSION.refreshLeaseUntil,
      CONNECTION_EXTENSION.lastError,
      CONNECTION_EXTENSION.lastSync,
      CONNECTION_EXTENSION.lastWebhook,
    ]
  );
  const userIdSystem = providerUserIdSystem(provider);
  return {
    ...next,
    created: params.now.toISOString().slice(0, 10),
    identifier: [
      ...(basic.identifier ?? []).filter((i) => i.system !== userIdSystem),
      { system: userIdSystem, value: params.providerUserId },
    ],
  };
}

/**
 * @param basic - connection
 * @param status - new status; `disconnected` also drops any legacy token blob and the token expiry
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
 * @param task - a Task of a connection
 * @param linkId - the connection's current link id (undefined for records made before link ids)
 * @returns true when the Task belongs to that link (its identifier names the link)
 */
export function ofLink(task: Task, linkId: string | undefined): boolean {
  if (linkId === undefined) {
    return true;
  }
  return (task.identifier ?? []).some((i) => i.value?.split(':').includes(linkId) === true);
}

/**
 * @param connection - parsed connection
 * @param tasks - Tasks found for it (any; only this link's backfill and erase Tasks focused on it are counted)
 * @returns the owner-facing view: no tokens, no lease, no provider user id
 */
export function toConnectionView(connection: Connection, tasks: readonly Task[]): ConnectionView {
  const focus = connection.id ? `Basic/${connection.id}` : undefined;
  const backfill = { total: 0, completed: 0, failed: 0, inProgress: 0 };
  for (const task of tasks) {
    const isBackfill = task.code?.coding?.some((c) => c.system === TASK_TYPE_SYSTEM && c.code === 'backfill');
    if (!isBackfill || task.focus?.reference !== focus || !ofLink(task, connection.linkId)) {
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
  const erase = summarizeErase(
    tasks.filter(
      (t) =>
        t.focus?.reference === focus &&
        t.code?.coding?.some((c) => c.system === TASK_TYPE_SYSTEM && c.code === 'erase') === true &&
        ofLink(t, connection.linkId)
    )
  );
  if (erase) {
    view.erase = erase;
  }
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
