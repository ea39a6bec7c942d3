/**
 * Bot `disconnect` (owner, `$execute`): revokes Baseline's access at the provider (which also stops its webhooks),
 * deletes the stored tokens, cancels queued work, and — only if the owner chose to — erases every Observation that
 * came from that device, and the Device. With `erase: false` the data already imported stays in the record.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Bundle } from '@medplum/fhirtypes';
import { z } from 'zod';
import { oauthProviderFor, ProviderKeySchema } from '../providers.ts';
import { connectionIdentifier, parseConnection, toConnectionView, withStatus } from '../shared/connection.ts';
import type { ConnectionView } from '../shared/connection.ts';
import { updateWithRetry } from '../shared/fhir-write.ts';
import { connectionTasks } from '../shared/queue.ts';
import { requesterPatient } from '../shared/requester.ts';
import { decryptTokens } from '../shared/tokens.ts';
import { keyringFromSecrets } from '../shared/token-crypto.ts';

export const DisconnectInput = z.object({ provider: ProviderKeySchema, erase: z.boolean() });

export interface DisconnectResult {
  connection: ConnectionView;
  revoked: boolean;
  erased: number;
}

const OPEN_STATUSES = new Set(['draft', 'requested', 'failed', 'on-hold']);

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<DisconnectResult> {
  const patient = requesterPatient(event);
  const input = DisconnectInput.parse(event.input);
  const id = connectionIdentifier(input.provider, patient.reference.split('/')[1] ?? '');
  const record = await medplum.searchOne('Basic', { identifier: `${id.system}|${id.value}` }, { cache: 'no-cache' });
  if (!record) {
    throw new Error(`No ${input.provider} connection to disconnect`);
  }
  const connection = parseConnection(record);

  // Revoke first: if the provider is unreachable we still stop syncing, and say so.
  let revoked = false;
  if (connection.tokens) {
    try {
      await oauthProviderFor(input.provider, event.secrets).revoke(
        decryptTokens(connection, keyringFromSecrets(event.secrets)).accessToken
      );
      revoked = true;
    } catch (err) {
      console.log(JSON.stringify({ bot: 'disconnect', revokeFailed: err instanceof Error ? err.name : 'error' }));
    }
  }
  const updated = await updateWithRetry(medplum, 'Basic', record.id, (current) =>
    withStatus(current, 'disconnected', revoked ? undefined : 'Access could not be revoked at the provider')
  );

  const tasks = await connectionTasks(medplum, { reference: `Basic/${record.id}` });
  for (const task of tasks.filter((t) => OPEN_STATUSES.has(t.status))) {
    await updateWithRetry(medplum, 'Task', task.id, (current) =>
      OPEN_STATUSES.has(current.status) ? { ...current, status: 'cancelled' } : current
    );
  }

  let erased = 0;
  if (input.erase && connection.device?.reference) {
    erased = await eraseDeviceData(medplum, connection.device.reference);
  }
  return { connection: toConnectionView(parseConnection(updated), tasks), revoked, erased };
}

async function eraseDeviceData(medplum: MedplumClient, device: string): Promise<number> {
  let erased = 0;
  for (;;) {
    // Always the first page: each round deletes what it found.
    const page = await medplum.searchResources('Observation', { device, _count: '200' }, { cache: 'no-cache' });
    if (page.length === 0) {
      break;
    }
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: page.map((o) => ({ request: { method: 'DELETE', url: `Observation/${o.id}` } })),
    };
    const result = await medplum.executeBatch(bundle);
    const failed = (result.entry ?? []).filter((e) => !e.response?.status?.startsWith('2'));
    if (failed.length > 0) {
      throw new Error(`Erasing stopped: ${failed.length} Observation(s) could not be deleted`);
    }
    erased += page.length;
  }
  await medplum.deleteResource('Device', device.split('/')[1] ?? '');
  return erased;
}
