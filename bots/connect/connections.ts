/**
 * Bot `connections` (owner, `$execute`): the caller's wearable connections as the app shows them — status, last
 * sync, last error, backfill progress and erase progress — without tokens, leases or provider account ids (owners cannot read the
 * connection records themselves), and which providers this deployment offers.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import { CONNECTION_CODE_TOKEN, parseConnection, toConnectionView } from '../shared/connection.ts';
import type { ConnectionView } from '../shared/connection.ts';
import { connectionTasks } from '../shared/queue.ts';
import { requesterPatient } from '../shared/requester.ts';
import { readOptionalSecret } from '../shared/secrets.ts';
import { PROVIDER_MODULES } from '../providers.ts';

export interface ProviderAvailability {
  readonly key: string;
  /** False when this server has not set the provider's client credentials: owners cannot connect it here. */
  readonly available: boolean;
}

export interface ConnectionsResult {
  connections: ConnectionView[];
  /** Every provider Baseline supports, and whether this deployment offers it (names of secrets never leave). */
  providers: ProviderAvailability[];
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<ConnectionsResult> {
  const patient = requesterPatient(event);
  const records = await medplum.searchResources(
    'Basic',
    { subject: patient.reference, code: CONNECTION_CODE_TOKEN },
    { cache: 'no-cache' }
  );
  const connections: ConnectionView[] = [];
  for (const record of records) {
    // Backfill and erase Tasks: the view shows the import's progress and, after a disconnect, the erase's.
    const tasks = await connectionTasks(medplum, { reference: `Basic/${record.id}` });
    connections.push(toConnectionView(parseConnection(record), tasks));
  }
  const providers = PROVIDER_MODULES.map((m) => ({
    key: m.key,
    available: m.requiredSecrets.every((name) => Boolean(readOptionalSecret(event.secrets, name))),
  }));
  return { connections, providers };
}
