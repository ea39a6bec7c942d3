/**
 * Bot `disconnect` (owner, `$execute`): revokes Baseline's access at the provider (which also stops its webhooks),
 * deletes the stored tokens, cancels queued work and marks the connection disconnected. With `erase: true` it then
 * queues an `erase` Task (erase.ts, run by the sync bot within the FHIR quota, with progress in its output) instead
 * of deleting inline: a year of data is thousands of deletes, far beyond one bot run's share of the quota.
 *
 * It reports what it really did, also when retried: `revocation` is 'revoked' (now), 'already' (the tokens were
 * gone before this call: an earlier call revoked them, or the owner reconnected elsewhere) or 'failed' (the provider
 * could not be reached; the tokens are deleted anyway and syncing stops); `tokens` is 'deleted' or 'already';
 * `erase` is the state of the erase and how many resources it has deleted so far.
 */
import type { BotEvent, MedplumClient, WithId } from '@medplum/core';
import type { Task } from '@medplum/fhirtypes';
import { z } from 'zod';
import { oauthProviderFor, ProviderKeySchema } from '../providers.ts';
import {
  connectionIdentifier,
  ofLink,
  parseConnection,
  summarizeErase,
  toConnectionView,
  withStatus,
} from '../shared/connection.ts';
import type { ConnectionView } from '../shared/connection.ts';
import { TASK_IDENTIFIER_SYSTEM, TASK_TYPE_SYSTEM } from '../shared/extensions.ts';
import { updateWithRetry } from '../shared/fhir-write.ts';
import { connectionTasks } from '../shared/queue.ts';
import { requesterPatient } from '../shared/requester.ts';
import { buildTask } from '../shared/tasks.ts';
import { TokenSetSchema } from '../shared/provider.ts';
import type { TokenSet } from '../shared/provider.ts';
import { decryptLegacyJson, keyringFromSecrets } from '../shared/token-crypto.ts';
import { deleteTokens, readTokens } from '../shared/tokens.ts';
import { cancelOpenTasks } from './connect-callback.ts';
import { eraseTaskKey } from './erase.ts';

export const DisconnectInput = z.object({ provider: ProviderKeySchema, erase: z.boolean() });

export interface DisconnectResult {
  connection: ConnectionView;
  /** True when Baseline's access is revoked — by this call or an earlier one. */
  revoked: boolean;
  revocation: 'revoked' | 'already' | 'failed';
  tokens: 'deleted' | 'already';
  /** Whether the deleted token record's history was expunged too (needs a project-admin bot; see tokens.ts). */
  expunged: boolean;
  /** Resources the erase has deleted so far (0 right after queueing it; the app polls `connections`). */
  erased: number;
  erase?: { status: Task['status']; deleted: number };
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

  // Revoke first: if the provider is unreachable we still stop syncing, and say so.
  let tokens: TokenSet | undefined;
  if (connection.legacyTokens) {
    tokens = TokenSetSchema.parse(decryptLegacyJson(connection.legacyTokens, keyring));
  } else {
    tokens = await readTokens(medplum, connection, keyring).then(
      (t) => t.tokens,
      () => undefined
    );
  }
  let revocation: DisconnectResult['revocation'] = 'already';
  if (tokens) {
    try {
      await oauthProviderFor(input.provider, event.secrets).revoke(tokens.accessToken);
      revocation = 'revoked';
    } catch (err) {
      revocation = 'failed';
      console.log(JSON.stringify({ bot: 'disconnect', revokeFailed: err instanceof Error ? err.name : 'error' }));
    }
  }
  const deletion = await deleteTokens(medplum, record.id);
  const hadTokens = deletion.deleted || connection.legacyTokens !== undefined;
  const updated = await updateWithRetry(medplum, 'Basic', record.id, (current) =>
    withStatus(
      current,
      'disconnected',
      revocation === 'failed' ? 'Access could not be revoked at the provider' : undefined
    )
  );
  await cancelOpenTasks(medplum, record.id);

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
    tokens: hadTokens ? 'deleted' : 'already',
    expunged: deletion.expunged,
    erased: erase?.deleted ?? 0,
  };
  if (erase) {
    result.erase = erase;
  }
  return result;
}
