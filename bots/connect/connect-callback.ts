/**
 * Bot `connect-callback` (owner, `$execute`): finishes connecting a wearable after the provider's consent page
 * redirected back to the app with `code` + `state`.
 *
 * 1. The state must be one this bot's sibling `connect-start` minted for the same patient and provider, unexpired
 *    and unused; it is marked used with a versioned write *before* the code exchange, so a replayed callback fails.
 * 2. The code is exchanged and the provider user id read; an account already linked to another patient is refused.
 * 3. The tokens are stored AES-256-GCM encrypted on the connection record (never readable by patient or clinician
 *    policies), the patient's Device is created, and the backfill windows are queued.
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Basic, Device, Patient, Reference } from '@medplum/fhirtypes';
import { z } from 'zod';
import { oauthProviderFor, ProviderKeySchema } from '../providers.ts';
import {
  buildConnection,
  connectionIdentifier,
  parseConnection,
  toConnectionView,
  withDevice,
  withTokens,
} from '../shared/connection.ts';
import type { ConnectionView } from '../shared/connection.ts';
import { DEVICE_IDENTIFIER_SYSTEM, OAUTH_STATE_IDENTIFIER_SYSTEM, providerUserIdSystem } from '../shared/extensions.ts';
import { updateIfUnchanged } from '../shared/fhir-write.ts';
import { checkStateRecord, hashState, markStateUsed } from '../shared/oauth-state.ts';
import { connectionTasks, queueBackfill } from '../shared/queue.ts';
import { requesterPatient } from '../shared/requester.ts';
import { encryptJson, keyringFromSecrets } from '../shared/token-crypto.ts';

export const ConnectCallbackInput = z.object({
  provider: ProviderKeySchema,
  code: z.string().min(1),
  state: z.string().min(1),
  redirectUri: z.url({ protocol: /^https?$/ }),
});

export interface ConnectCallbackResult {
  connection: ConnectionView;
  queuedWindows: number;
}

const PROVIDER_NAMES: Record<string, string> = { whoop: 'WHOOP' };

async function findOne(medplum: MedplumClient, query: Record<string, string>): Promise<WithId<Basic> | undefined> {
  return medplum.searchOne('Basic', query, { cache: 'no-cache' });
}

export async function upsertDevice(
  medplum: MedplumClient,
  provider: string,
  providerUserId: string,
  patient: Reference<Patient>
): Promise<WithId<Device>> {
  const value = `${provider}:${providerUserId}`;
  const name = PROVIDER_NAMES[provider] ?? provider;
  return medplum.createResourceIfNoneExist<Device>(
    {
      resourceType: 'Device',
      identifier: [{ system: DEVICE_IDENTIFIER_SYSTEM, value }],
      status: 'active',
      manufacturer: name,
      deviceName: [{ name, type: 'manufacturer-name' }],
      patient,
    },
    `identifier=${DEVICE_IDENTIFIER_SYSTEM}|${value}`
  );
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<ConnectCallbackResult> {
  const patient = requesterPatient(event);
  const input = ConnectCallbackInput.parse(event.input);
  const now = new Date();

  // 1. The state.
  const record = await findOne(medplum, { identifier: `${OAUTH_STATE_IDENTIFIER_SYSTEM}|${hashState(input.state)}` });
  checkStateRecord(record, { patient, provider: input.provider, now });
  if (!record || !(await updateIfUnchanged(medplum, markStateUsed(record), record))) {
    throw new Error('State already used');
  }

  // 2. The code and the provider account.
  const provider = oauthProviderFor(input.provider, event.secrets);
  const tokens = await provider.exchangeCode(input.code, input.redirectUri);
  const providerUserId = await provider.userId(tokens.accessToken);
  const linked = await findOne(medplum, { identifier: `${providerUserIdSystem(input.provider)}|${providerUserId}` });
  if (linked && linked.subject?.reference !== patient.reference && parseConnection(linked).status !== 'disconnected') {
    throw new Error(`This ${PROVIDER_NAMES[input.provider]} account is already connected to another Baseline user`);
  }

  // 3. Device, encrypted tokens, backfill.
  const device = await upsertDevice(medplum, input.provider, providerUserId, patient);
  const deviceRef: Reference<Device> = { reference: `Device/${device.id}` };
  const blob = encryptJson(tokens, keyringFromSecrets(event.secrets));
  const id = connectionIdentifier(input.provider, patient.reference.split('/')[1] ?? '');
  const existing = await findOne(medplum, { identifier: `${id.system}|${id.value}` });
  const fresh = buildConnection({
    provider: input.provider,
    patient,
    providerUserId,
    tokens: blob,
    tokenExpiresAt: tokens.expiresAt,
    device: deviceRef,
    now,
  });
  const connection = existing
    ? await medplum.updateResource<Basic>({
        // A reconnect keeps the record (and its history) but takes the new account, tokens and date.
        ...withDevice(withTokens(existing, blob, tokens.expiresAt), deviceRef),
        identifier: fresh.identifier,
        created: fresh.created,
      })
    : await medplum.createResource(fresh);
  const queuedWindows = await queueBackfill(medplum, { patient, connection, provider: input.provider, now });
  const tasks = await connectionTasks(medplum, { reference: `Basic/${connection.id}` }, 'backfill');
  console.log(JSON.stringify({ bot: 'connect-callback', provider: input.provider, queuedWindows }));
  return { connection: toConnectionView(parseConnection(connection), tasks), queuedWindows };
}
