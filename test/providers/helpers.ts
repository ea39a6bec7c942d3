/**
 * Helpers for the provider end-to-end tests (Withings, Oura; WHOOP's own live in test/whoop/): connect a patient
 * through a sandbox's real consent page (no browser), wait for the queue to drain, and read back what was written.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import type { ConnectionView } from '../../bots/shared/connection.ts';
import type { NotificationOutcome } from '../../bots/shared/provider.ts';
import { bot, finishProviderConnect, startProviderConnect } from '../../scripts/sandboxes/connect-flow.ts';
import type { SandboxProvider } from '../../scripts/sandboxes/connect-flow.ts';
import { TEST_APP_BASE_URL } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';

export { bot };
export type { SandboxProvider };

export function redirectUri(provider: SandboxProvider): string {
  return `${TEST_APP_BASE_URL}/connect/${provider}/callback`;
}

export async function startConnect(
  client: MedplumClient,
  provider: SandboxProvider,
  userId?: number | string
): Promise<{ code: string; state: string }> {
  return startProviderConnect(client, provider, redirectUri(provider), userId);
}

export async function finishConnect(
  client: MedplumClient,
  provider: SandboxProvider,
  params: { code: string; state: string }
): Promise<{ connection: ConnectionView; queuedWindows: number; notifications?: NotificationOutcome }> {
  return finishProviderConnect(client, provider, redirectUri(provider), params);
}

/** Connects through the consent page in one go. */
export async function connect(
  client: MedplumClient,
  provider: SandboxProvider,
  userId?: number | string
): Promise<{ connection: ConnectionView; queuedWindows: number; notifications?: NotificationOutcome }> {
  return finishConnect(client, provider, await startConnect(client, provider, userId));
}

export async function connections(client: MedplumClient): Promise<ConnectionView[]> {
  return ((await client.executeBot(bot('connections'), {})) as { connections: ConnectionView[] }).connections;
}

/** Waits until the owner's backfill of that provider has no window left to run (completed or given up). */
export async function waitForBackfill(
  client: MedplumClient,
  provider: SandboxProvider,
  timeoutMs = 180_000
): Promise<ConnectionView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = (await connections(client)).find((c) => c.provider === provider);
    if (view && view.backfill.total > 0 && view.backfill.inProgress === 0) {
      return view;
    }
    if (Date.now() > deadline) {
      throw new Error(`${provider} backfill did not finish: ${JSON.stringify(view?.backfill)}`);
    }
    await sleep(250);
  }
}

/** Waits for every sandbox's deliveries and the local stack's queue (subscriptions → bots) to go quiet. */
export async function settle(env: TestStack): Promise<void> {
  for (let round = 0; round < 2; round++) {
    await env.whoop?.sandbox.control.webhooksIdle();
    await env.withings?.sandbox.control.notificationsIdle();
    await env.oura?.sandbox.control.webhooksIdle();
    await env.stack.subscriptions.idle();
  }
}

export async function allObservations(client: MedplumClient, query: Record<string, string>): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const page of client.searchResourcePages('Observation', { ...query, _count: '1000' })) {
    out.push(...page);
  }
  return out;
}
