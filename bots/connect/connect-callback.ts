/**
 * Bot `connect-callback` (owner, `$execute`): finishes connecting a wearable after the provider's consent page
 * redirected back to the app with `code` + `state`.
 *
 * 1. The redirect URI must be one the deployment allows (redirect.ts). The state must be one `connect-start` minted
 *    for the same patient and provider, unexpired and unused; it is marked used with a versioned write *before* the
 *    code exchange, so a replayed callback fails.
 * 2. The code is exchanged and the provider user id read. Relinking (bots/whoop/README.md "Relinking"): if that
 *    provider account is actively linked to another patient, the new link wins — it proved control of the account
 *    just now — and the old connection is disconnected with a reason, its tokens deleted and its queued work
 *    cancelled; the data it imported stays its owner's.
 * 3. A fresh random link id, the connection (kept across reconnects), the tokens in the token store (tokens.ts,
 *    bound to this connection), the patient's Device (one per patient and provider account), and the backfill
 *    windows of this link (BASELINE_BACKFILL_DAYS, default 365).
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Basic, Device, Patient, Reference } from '@medplum/fhirtypes';
import { z } from 'zod';
import { providerModule, providerName, ProviderKeySchema } from '../providers.ts';
import {
  buildConnection,
  CONNECTION_CODE_TOKEN,
  connectionIdentifier,
  newLinkId,
  parseConnection,
  toConnectionView,
  withNewLink,
  withStatus,
} from '../shared/connection.ts';
import type { ConnectionView } from '../shared/connection.ts';
import {
  DEVICE_IDENTIFIER_SYSTEM,
  OAUTH_STATE_IDENTIFIER_SYSTEM,
  TASK_TYPE_SYSTEM,
  providerUserIdSystem,
} from '../shared/extensions.ts';
import { updateIfUnchanged, updateWithRetry } from '../shared/fhir-write.ts';
import { checkStateRecord, hashState, markStateUsed } from '../shared/oauth-state.ts';
import type { NotificationOutcome, TokenSet } from '../shared/provider.ts';
import { BACKFILL_DAYS_SECRET, backfillDays, connectionTasks, queueBackfill } from '../shared/queue.ts';
import { requesterPatient } from '../shared/requester.ts';
import { readOptionalSecret } from '../shared/secrets.ts';
import { keyringFromSecrets } from '../shared/token-crypto.ts';
import { classifyTokenEndpointError, deleteTokens, storeTokens } from '../shared/tokens.ts';
import { checkRedirectUri } from './redirect.ts';

export const ConnectCallbackInput = z.object({
  provider: ProviderKeySchema,
  code: z.string().min(1),
  state: z.string().min(1),
  redirectUri: z.url({ protocol: /^https?$/ }),
});

export interface ConnectCallbackResult {
  connection: ConnectionView;
  queuedWindows: number;
  /** What was done about the provider's notifications, when it has any to set up. */
  notifications?: NotificationOutcome;
}

/** An error's message without its stack; provider errors never carry URLs, tokens or bodies (shared/http.ts). */
function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Work that has not finished yet (cancelled when its connection is relinked elsewhere). */
export const OPEN_TASK_STATUSES = new Set(['draft', 'requested', 'in-progress', 'failed', 'on-hold']);

async function findOne(medplum: MedplumClient, query: Record<string, string>): Promise<WithId<Basic> | undefined> {
  return medplum.searchOne('Basic', query, { cache: 'no-cache' });
}

/**
 * The patient's Device for a provider account: the one the connection already names when it still exists and is
 * this patient's, else one identified by provider, account and patient (so two owners of one account never share a
 * Device, and one owner's erase can never reach the other's data).
 */
export async function upsertDevice(
  medplum: MedplumClient,
  params: { provider: string; providerUserId: string; patient: Reference<Patient>; current?: Reference<Device> }
): Promise<WithId<Device>> {
  const currentId = params.current?.reference?.split('/')[1];
  if (currentId) {
    const current: WithId<Device> | undefined = await medplum
      .readResource('Device', currentId, { cache: 'no-cache' })
      .catch(() => undefined);
    if (current && current.patient?.reference === params.patient.reference) {
      return current;
    }
  }
  const patientId = params.patient.reference?.split('/')[1] ?? '';
  const value = `${params.provider}:${params.providerUserId}:${patientId}`;
  const name = providerName(params.provider);
  return medplum.createResourceIfNoneExist<Device>(
    {
      resourceType: 'Device',
      identifier: [{ system: DEVICE_IDENTIFIER_SYSTEM, value }],
      status: 'active',
      manufacturer: name,
      deviceName: [{ name, type: 'manufacturer-name' }],
      patient: params.patient,
    },
    `identifier=${DEVICE_IDENTIFIER_SYSTEM}|${value}`
  );
}

/** The new link wins: every other patient's active link to this account is disconnected (its data stays theirs). */
async function unlinkOtherOwners(
  medplum: MedplumClient,
  provider: string,
  providerUserId: string,
  patient: Reference<Patient>
): Promise<void> {
  const linked = await medplum.searchResources(
    'Basic',
    { code: CONNECTION_CODE_TOKEN, identifier: `${providerUserIdSystem(provider)}|${providerUserId}` },
    { cache: 'no-cache' }
  );
  for (const other of linked) {
    if (other.subject?.reference === patient.reference) {
      continue;
    }
    if (parseConnection(other).status === 'disconnected') {
      // A disconnect whose revoke failed keeps its tokens so a retry can revoke; now that the account is linked here,
      // such a retry would revoke (Withings: by user id) this new link's grant. The old tokens go.
      await deleteTokens(medplum, other.id);
      continue;
    }
    await deleteTokens(medplum, other.id);
    await updateWithRetry(medplum, 'Basic', other.id, (current) =>
      withStatus(current, 'disconnected', `This ${providerName(provider)} account was linked to another Baseline user`)
    );
    await cancelOpenTasks(medplum, other.id);
  }
}

/**
 * Cancels a connection's unfinished backfill and sync work (an erase is left to finish).
 * @returns how many Tasks were cancelled
 */
export async function cancelOpenTasks(medplum: MedplumClient, connectionId: string): Promise<number> {
  let cancelled = 0;
  for (const task of await connectionTasks(medplum, { reference: `Basic/${connectionId}` })) {
    const kind = task.code?.coding?.find((c) => c.system === TASK_TYPE_SYSTEM)?.code;
    if (kind !== 'erase' && OPEN_TASK_STATUSES.has(task.status)) {
      await updateWithRetry(medplum, 'Task', task.id, (current) =>
        OPEN_TASK_STATUSES.has(current.status) ? { ...current, status: 'cancelled' } : current
      );
      cancelled++;
    }
  }
  return cancelled;
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<ConnectCallbackResult> {
  const patient = requesterPatient(event);
  const input = ConnectCallbackInput.parse(event.input);
  checkRedirectUri(event.secrets, input.provider, input.redirectUri);
  const now = new Date();

  // 1. The state.
  const record = await findOne(medplum, { identifier: `${OAUTH_STATE_IDENTIFIER_SYSTEM}|${hashState(input.state)}` });
  checkStateRecord(record, { patient, provider: input.provider, now });
  if (!record || !(await updateIfUnchanged(medplum, markStateUsed(record), record))) {
    throw new Error('State already used');
  }

  // An erase of this patient's previous link deletes by Device and patient: a new import now would be erased too.
  const id = connectionIdentifier(input.provider, patient.reference.split('/')[1] ?? '');
  const existing = await findOne(medplum, { identifier: `${id.system}|${id.value}` });
  if (existing) {
    const erases = await medplum.searchResources(
      'Task',
      { focus: `Basic/${existing.id}`, code: `${TASK_TYPE_SYSTEM}|erase`, _count: '20' },
      { cache: 'no-cache' }
    );
    if (erases.some((t) => OPEN_TASK_STATUSES.has(t.status))) {
      throw new Error(
        `Erasing your earlier ${providerName(input.provider)} data is still in progress; connect again when it has finished`
      );
    }
  }

  // 2. The code and the provider account.
  const module = providerModule(input.provider);
  const provider = module.oauth(event.secrets);
  const keyring = keyringFromSecrets(event.secrets);
  let tokens: TokenSet;
  try {
    tokens = await provider.exchangeCode(input.code, input.redirectUri);
  } catch (err) {
    throw classifyTokenEndpointError(err, input.provider);
  }
  // Withings names the account only in the token response; the others have a "who am I" call.
  const providerUserId = tokens.providerUserId ?? (await provider.userId(tokens.accessToken));
  await unlinkOtherOwners(medplum, input.provider, providerUserId, patient);

  // 3. Link, connection, tokens, Device, backfill. Whatever the previous link left queued is its own, not ours.
  if (existing) {
    await cancelOpenTasks(medplum, existing.id);
  }
  const linkId = newLinkId();
  const device = await upsertDevice(medplum, {
    provider: input.provider,
    providerUserId,
    patient,
    current: existing ? parseConnection(existing).device : undefined,
  });
  const deviceRef: Reference<Device> = { reference: `Device/${device.id}` };
  const connection = existing
    ? await medplum.updateResource<Basic>(
        withNewLink(existing, { providerUserId, linkId, tokenExpiresAt: tokens.expiresAt, device: deviceRef, now })
      )
    : await medplum.createResource(
        buildConnection({
          provider: input.provider,
          patient,
          providerUserId,
          linkId,
          tokenExpiresAt: tokens.expiresAt,
          device: deviceRef,
          now,
        })
      );
  await storeTokens(medplum, parseConnection(connection), tokens, keyring);
  // Notifications (Withings: per user and category; Oura: the app's subscriptions). A failure here is reported, not
  // fatal: the backfill and the sweeper's reconcile of quiet connections still bring the data in.
  const notifications = module.notifications
    ? await module
        .notifications(event.secrets)
        .onConnect?.(tokens.accessToken, { providerUserId, now })
        .catch((err: unknown) => ({ warning: `Notifications could not be set up: ${errorText(err)}` }))
    : undefined;
  const queuedWindows = await queueBackfill(medplum, {
    patient,
    connection,
    provider: input.provider,
    linkId,
    now,
    days: backfillDays(readOptionalSecret(event.secrets, BACKFILL_DAYS_SECRET)),
  });
  const tasks = await connectionTasks(medplum, { reference: `Basic/${connection.id}` }, 'backfill');
  console.log(
    JSON.stringify({
      bot: 'connect-callback',
      provider: input.provider,
      queuedWindows,
      notifications: notifications ?? {},
    })
  );
  return {
    connection: toConnectionView(parseConnection(connection), tasks),
    queuedWindows,
    ...(notifications ? { notifications } : {}),
  };
}
