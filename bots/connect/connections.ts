/**
 * Bot `connections` (owner, `$execute`): the caller's wearable connections as the app shows them — status, last
 * sync, last error, backfill progress and erase progress — without tokens, leases or provider account ids (owners cannot read the
 * connection records themselves).
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import { CONNECTION_CODE_TOKEN, parseConnection, toConnectionView } from '../shared/connection.ts';
import type { ConnectionView } from '../shared/connection.ts';
import { connectionTasks } from '../shared/queue.ts';
import { requesterPatient } from '../shared/requester.ts';

export interface ConnectionsResult {
  connections: ConnectionView[];
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
  return { connections };
}
