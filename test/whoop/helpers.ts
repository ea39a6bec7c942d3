/**
 * Helpers for the WHOOP end-to-end tests: connect a patient through the sandbox's real consent page (no browser),
 * wait for the queue to drain, and compute the ground truth the sandbox says Baseline should hold.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import { alignedBackfillWindows } from '../../bots/shared/queue.ts';
import { WhoopClient } from '../../bots/whoop/client.ts';
import { fetchWhoopPlan, mapWhoopRecords, planWhoopSync } from '../../bots/whoop/sync-plan.ts';
import type { ConnectionView } from '../../bots/shared/connection.ts';
import { bot, finishConnect as flowFinish, startConnect as flowStart } from '../../scripts/sandboxes/connect-flow.ts';
import { WHOOP_CALLBACK_PATH } from '../../scripts/sandboxes/wire.ts';
import { TEST_APP_BASE_URL } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';

export const REDIRECT_URI = TEST_APP_BASE_URL + WHOOP_CALLBACK_PATH;

export { bot };

export async function startConnect(client: MedplumClient): Promise<{ code: string; state: string }> {
  return flowStart(client, REDIRECT_URI);
}

export async function finishConnect(
  client: MedplumClient,
  params: { code: string; state: string }
): Promise<{ connection: ConnectionView; queuedWindows: number }> {
  return flowFinish(client, REDIRECT_URI, params);
}

export async function connections(client: MedplumClient): Promise<ConnectionView[]> {
  return ((await client.executeBot(bot('connections'), {})) as { connections: ConnectionView[] }).connections;
}

/** Waits until the owner's backfill has no window left to run (completed or given up). */
export async function waitForBackfill(client: MedplumClient, timeoutMs = 120_000): Promise<ConnectionView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = (await connections(client)).find((c) => c.provider === 'whoop');
    if (view && view.backfill.total > 0 && view.backfill.inProgress === 0) {
      return view;
    }
    if (Date.now() > deadline) {
      throw new Error(`backfill did not finish: ${JSON.stringify(view?.backfill)}`);
    }
    await sleep(250);
  }
}

/** Waits for the local stack's queue (subscriptions → bots) to go quiet. */
export async function settle(env: TestStack): Promise<void> {
  await env.whoop?.sandbox.control.webhooksIdle();
  await env.stack.subscriptions.idle();
}

export async function allObservations(client: MedplumClient, query: Record<string, string>): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const page of client.searchResourcePages('Observation', { ...query, _count: '1000' })) {
    out.push(...page);
  }
  return out;
}

/**
 * What the backfill must have written: every Observation the mappers make from the sandbox's records over the
 * backfill's whole range, by identifier (fetched with a separate client straight from the sandbox).
 */
export async function expectedIdentifiers(
  env: TestStack,
  connectedAt: Date,
  patientId: string,
  deviceId: string
): Promise<Set<string>> {
  const sandbox = env.whoop?.sandbox;
  const token = sandbox?.control.tokensFor(sandbox.userId)[0]?.accessToken;
  if (!sandbox || !token) {
    throw new Error('no sandbox token');
  }
  const first = alignedBackfillWindows(connectedAt)[0];
  const plan = planWhoopSync(
    {
      id: undefined,
      kind: 'backfill',
      dedupeKey: 'expected',
      patient: { reference: `Patient/${patientId}` },
      connection: { reference: 'Basic/expected' },
      provider: 'whoop',
      window: { start: first?.start ?? '', end: new Date().toISOString() },
      recordType: undefined,
      recordId: undefined,
      eventType: undefined,
      attempts: 0,
      nextAttemptAt: undefined,
    },
    { whoopUserId: String(sandbox.userId), now: new Date() }
  );
  if (plan.kind !== 'window') {
    throw new Error('expected a window plan');
  }
  const client = new WhoopClient({
    clientId: 'x',
    clientSecret: 'x',
    apiBaseUrl: sandbox.apiBaseUrl,
    authBaseUrl: sandbox.authBaseUrl,
  });
  const records = await fetchWhoopPlan(client, token, plan);
  const mapped = mapWhoopRecords(records, {
    patient: { reference: `Patient/${patientId}` },
    device: { reference: `Device/${deviceId}` },
    whoopUserId: String(sandbox.userId),
  });
  return new Set(
    [...mapped.observations, ...mapped.writeOnce].map((o) => `${o.identifier?.[0]?.system}|${o.identifier?.[0]?.value}`)
  );
}
