/**
 * Connecting a patient to WHOOP without a browser, through the same bots the app calls and the sandbox's real
 * consent page: used by the integration tests and the benchmarks.
 */
import type { MedplumClient } from '@medplum/core';
import type { ConnectionView } from '../../bots/shared/connection.ts';
import { BOT_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { approveConsent } from './whoop/server.ts';

export function bot(identifier: string): { system: string; value: string } {
  return { system: BOT_IDENTIFIER_SYSTEM, value: identifier };
}

/**
 * @param client - signed in as the patient
 * @param redirectUri - the app's callback
 * @param whoopUserId - who signs in on the sandbox's consent page (default: its first person)
 * @returns the code and state the sandbox redirected back with
 */
export async function startConnect(
  client: MedplumClient,
  redirectUri: string,
  whoopUserId?: number
): Promise<{ code: string; state: string }> {
  const { authorizeUrl } = (await client.executeBot(bot('connect-start'), { provider: 'whoop', redirectUri })) as {
    authorizeUrl: string;
  };
  const location = new URL(
    await approveConsent(authorizeUrl, whoopUserId === undefined ? {} : { userId: whoopUserId })
  );
  return { code: location.searchParams.get('code') ?? '', state: location.searchParams.get('state') ?? '' };
}

export async function finishConnect(
  client: MedplumClient,
  redirectUri: string,
  params: { code: string; state: string }
): Promise<{ connection: ConnectionView; queuedWindows: number }> {
  return (await client.executeBot(bot('connect-callback'), { provider: 'whoop', redirectUri, ...params })) as {
    connection: ConnectionView;
    queuedWindows: number;
  };
}
