/**
 * Bot `disconnect` (owner, `$execute`): revokes Baseline's access at the provider (which also stops its webhooks),
 * deletes the stored tokens, cancels queued work and marks the connection disconnected. With `erase: true` it then
 * queues an `erase` Task (erase.ts, run by the sync bot within the FHIR quota, with progress in its output) instead
 * of deleting inline: a year of data is thousands of deletes, far beyond one bot run's share of the quota.
 *
 * It reports what it really did, also when retried: `revocation` is 'revoked' (now), 'already' (the tokens were
 * gone before this call, or the provider no longer accepted them: an earlier call or the owner at the provider
 * revoked them, or the account was relinked to another owner) or 'failed'
 * (the provider refused or could not be reached, after one wait for its rate-limit reset; syncing stops anyway and
 * the tokens are kept — `tokens: 'kept'` — so disconnecting again can still revoke); `tokens` is 'deleted',
 * 'already' or 'kept'; `erase` is the state of the erase and how many resources it has deleted so far.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Task } from '@medplum/fhirtypes';
import { z } from 'zod';
import { providerModule, ProviderKeySchema } from '../providers.ts';
import type { NotificationOutcome, ProviderHandle } from '../shared/provider.ts';
import {
  connectionIdentifier,
  ofLink,
  parseConnection,
  summarizeErase,
  tokenNeedsRefresh,
  toConnectionView,
  withStatus,
} from '../shared/connection.ts';
import { ProviderHttpError } from '../shared/http.ts';
import type { ConnectionView } from '../shared/connection.ts';
import { TASK_IDENTIFIER_SYSTEM, TASK_TYPE_SYSTEM } from '../shared/extensions.ts';
import { updateWithRetry } from '../shared/fhir-write.ts';
import { connectionTasks } from '../shared/queue.ts';
import { requesterPatient } from '../shared/requester.ts';
import { buildTask } from '../shared/tasks.ts';
import { keyringFromSecrets } from '../shared/token-crypto.ts';
import { deleteTokens, freshAccessToken, migrateLegacyTokens, readTokens } from '../shared/tokens.ts';
import { cancelOpenTasks } from './connect-callback.ts';
import { eraseTaskKey } from './erase.ts';

export const DisconnectInput = z.object({ provider: ProviderKeySchema, erase: z.boolean() });

export interface DisconnectResult {
  connection: ConnectionView;
  /** True when Baseline's access is revoked — by this call or an earlier one. */
  revoked: boolean;
  revocation: 'revoked' | 'already' | 'failed';
  /** 'kept' only when the revoke failed: a retried disconnect revokes and deletes them. */
  tokens: 'deleted' | 'already' | 'kept';
  /** Whether the deleted token record's history was expunged too (needs a project-admin bot; see tokens.ts). */
  expunged: boolean;
  /** Resources the erase has deleted so far (0 right after queueing it; the app polls `connections`). */
  erased: number;
  erase?: { status: Task['status']; deleted: number };
  /** What was done about the provider's notification subscriptions, for a provider that has them. */
  notifications?: NotificationOutcome;
}

async function eraseProgress(
  medplum: MedplumClient,
  connectionId: string,
  linkId: string | undefined
): Promise<{ status: Task['status']; deleted: number } | undefined> {
  const tasks = await medplum.searchResources(
    'Task',
    { focus: `Basic/${connectionId}`, code: `${TASK_TYPE_SYSTEM}|erase`, _count: '100' },
    { cache: 'no-cache' }
  );
  return summarizeErase(tasks.filter((t) => ofLink(t, linkId)));
}

/** Longest wait for the provider's rate-limit reset before one more revoke attempt. */
const MAX_REVOKE_WAIT_S = 60;

async function revokeAtProvider(
  provider: ProviderHandle,
  accessToken: string,
  providerUserId: string
): Promise<'revoked' | 'already' | 'failed'> {
  for (let attempt = 0; ; attempt++) {
    try {
      await provider.revoke(accessToken, providerUserId);
      return 'revoked';
    } catch (err) {
      if (err instanceof ProviderHttpError && err.kind === 'unauthorized') {
        // The provider no longer accepts these tokens (revoked at the provider, or expired beyond refresh).
        return 'already';
      }
      const wait = err instanceof ProviderHttpError && err.kind === 'rate-limited' ? err.retryAfterSeconds : undefined;
      if (attempt === 0 && wait !== undefined && wait <= MAX_REVOKE_WAIT_S) {
        await sleep(wait * 1000 + 250);
        continue;
      }
      console.log(JSON.stringify({ bot: 'disconnect', revokeFailed: err instanceof Error ? err.name : 'error' }));
      return 'failed';
    }
  }
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<DisconnectResult> {
  const patient = requesterPatient(event);
  const input = DisconnectInput.parse(event.input);
  const id = connectionIdentifier(input.provider, patient.reference.split('/')[1] ?? '');
  const record = await medplum.searchOne('Basic', { identifier: `${id.system}|${id.value}` }, { cache: 'no-cache' });
  if (!record) {
    throw new Error(`No ${input.provider} connection to disconnect`);
  }
  const connection = parseConnection(record);
  const keyring = keyringFromSecrets(event.secrets);

  const module = providerModule(input.provider);
  const provider = module.oauth(event.secrets);

  // The tokens to revoke with: a stored access token may have expired (WHOOP's live an hour), so refresh it first
  // when the connection can still refresh; a failed refresh falls back to what is stored.
  let current = connection.legacyTokens ? await migrateLegacyTokens(medplum, record, keyring) : record;
  let accessToken: string | undefined;
  if (parseConnection(current).status === 'active' && tokenNeedsRefresh(parseConnection(current), new Date())) {
    accessToken = await freshAccessToken(medplum, current, provider, keyring).then(
      (fresh) => {
        current = fresh.connection;
        return fresh.accessToken;
      },
      () => undefined
    );
  }
  accessToken ??= await readTokens(medplum, parseConnection(current), keyring).then(
    (t) => t.tokens.accessToken,
    () => undefined
  );

  // Stop syncing before revoking: no sync run starts on a disconnected connection, and none of ours competes with
  // the revoke for the provider's per-app rate limit.
  await updateWithRetry(medplum, 'Basic', record.id, (c) => withStatus(c, 'disconnected'));
  await cancelOpenTasks(medplum, record.id);

  let revocation: DisconnectResult['revocation'] = 'already';
  let notifications: NotificationOutcome | undefined;
  if (accessToken) {
    // The user's notification subscriptions first (Withings), while the token still works; a failure is reported and
    // does not stop the revoke, which ends the provider's deliveries for this user anyway.
    const token = accessToken;
    notifications = await module
      .notifications?.(event.secrets)
      .onDisconnect?.(token, { providerUserId: connection.providerUserId })
      .catch((err: unknown) => ({
        warning: `Notifications could not be removed: ${err instanceof Error ? err.message : String(err)}`,
      }));
    revocation = await revokeAtProvider(provider, accessToken, connection.providerUserId);
  }
  // Tokens that could not be revoked are kept (the connection no longer syncs), so disconnecting again can revoke.
  const deletion =
    revocation === 'failed' ? { deleted: false, expunged: false } : await deleteTokens(medplum, record.id);
  const updated = await updateWithRetry(medplum, 'Basic', record.id, (c) =>
    withStatus(
      c,
      'disconnected',
      revocation === 'failed' ? 'Access could not be revoked at the provider; disconnect again to retry' : undefined
    )
  );

  let erase = await eraseProgress(medplum, record.id, connection.linkId);
  if (input.erase && (!erase || erase.status === 'completed')) {
    const key = eraseTaskKey(input.provider, record.id, connection.linkId);
    await medplum.createResourceIfNoneExist(
      buildTask({
        kind: 'erase',
        patient: connection.patient,
        connection: { reference: `Basic/${record.id}` },
        provider: input.provider,
        dedupeKey: key,
      }),
      `identifier=${TASK_IDENTIFIER_SYSTEM}|${key}`
    );
    erase = await eraseProgress(medplum, record.id, connection.linkId);
  }
  const tasks: WithId<Task>[] = await connectionTasks(medplum, { reference: `Basic/${record.id}` });
  const result: DisconnectResult = {
    connection: toConnectionView(parseConnection(updated), tasks),
    revoked: revocation !== 'failed',
    revocation,
    tokens: revocation === 'failed' ? 'kept' : deletion.deleted ? 'deleted' : 'already',
    expunged: deletion.expunged,
    erased: erase?.deleted ?? 0,
  };
  if (erase) {
    result.erase = erase;
  }
  if (notifications) {
    result.notifications = notifications;
  }
  return result;
}
