/**
 * Connecting a patient to a provider without a browser, through the same bots the app calls and the sandbox's real
 * consent page: used by the integration tests and the benchmarks.
 */
import type { MedplumClient } from '@medplum/core';
import type { ConnectionView } from '../../bots/shared/connection.ts';
import type { NotificationOutcome } from '../../bots/shared/provider.ts';
import { BOT_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { approveConsent as approveOuraConsent } from './oura/server.ts';
import { approveConsent as approveWhoopConsent } from './whoop/server.ts';
import { approveConsent as approveWithingsConsent } from './withings/server.ts';

export type SandboxProvider = 'whoop' | 'withings' | 'oura';

export function bot(identifier: string): { system: string; value: string } {
  return { system: BOT_IDENTIFIER_SYSTEM, value: identifier };
}

const APPROVE: Record<
  SandboxProvider,
  (authorizeUrl: string, options: { decision?: 'allow' | 'deny'; userId?: number | string }) => Promise<string>
> = {
  whoop: (url, options) =>
    approveWhoopConsent(url, {
      ...(options.decision ? { decision: options.decision } : {}),
      ...(options.userId === undefined ? {} : { userId: Number(options.userId) }),
    }),
  withings: approveWithingsConsent,
  oura: approveOuraConsent,
};

/**
 * @param client - signed in as the patient
 * @param provider - which sandbox's consent page to drive
 * @param redirectUri - the app's callback
 * @param userId - who signs in on the sandbox's consent page (default: its first person)
 * @returns the code and state the sandbox redirected back with
 */
export async function startProviderConnect(
  client: MedplumClient,
  provider: SandboxProvider,
  redirectUri: string,
  userId?: number | string
): Promise<{ code: string; state: string }> {
  const { authorizeUrl } = (await client.executeBot(bot('connect-start'), { provider, redirectUri })) as {
    authorizeUrl: string;
  };
  const location = new URL(await APPROVE[provider](authorizeUrl, userId === undefined ? {} : { userId }));
  return { code: location.searchParams.get('code') ?? '', state: location.searchParams.get('state') ?? '' };
}

export async function finishProviderConnect(
  client: MedplumClient,
  provider: SandboxProvider,
  redirectUri: string,
  params: { code: string; state: string }
): Promise<{ connection: ConnectionView; queuedWindows: number; notifications?: NotificationOutcome }> {
  return (await client.executeBot(bot('connect-callback'), { provider, redirectUri, ...params })) as {
    connection: ConnectionView;
    queuedWindows: number;
    notifications?: NotificationOutcome;
  };
}

/** WHOOP's connect (the tests written before Withings and Oura use these two). */
export async function startConnect(
  client: MedplumClient,
  redirectUri: string,
  whoopUserId?: number
): Promise<{ code: string; state: string }> {
  return startProviderConnect(client, 'whoop', redirectUri, whoopUserId);
}

export async function finishConnect(
  client: MedplumClient,
  redirectUri: string,
  params: { code: string; state: string }
): Promise<{ connection: ConnectionView; queuedWindows: number }> {
  return finishProviderConnect(client, 'whoop', redirectUri, params);
}
