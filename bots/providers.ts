/**
 * Which implementation serves a provider key. WHOOP is live; Withings and Oura join by adding their client here
 * (the connect, sync and sweeper bots only see the OAuthProvider interface and the provider's sync plan).
 */
import { z } from 'zod';
import type { OAuthProvider } from './shared/provider.ts';
import { readOptionalSecret, readSecret } from './shared/secrets.ts';
import type { BotSecrets } from './shared/secrets.ts';
import { WhoopClient } from './whoop/client.ts';

export const ProviderKeySchema = z.enum(['whoop'], { error: 'Unsupported provider (supported: whoop)' });
export type LiveProvider = z.infer<typeof ProviderKeySchema>;

export interface ProviderHandle extends OAuthProvider {
  /** The app's client id at the provider (goes into the authorize URL). */
  readonly clientId: string;
}

export function oauthProviderFor(key: LiveProvider, secrets: BotSecrets | undefined): ProviderHandle {
  switch (key) {
    case 'whoop': {
      const client = whoopClientFor(secrets);
      return {
        key: client.key,
        clientId: readSecret(secrets, 'WHOOP_CLIENT_ID'),
        authorizeUrl: (params) => client.authorizeUrl(params),
        exchangeCode: (code, redirectUri) => client.exchangeCode(code, redirectUri),
        refresh: (refreshToken) => client.refresh(refreshToken),
        revoke: (accessToken) => client.revoke(accessToken),
        userId: (accessToken) => client.userId(accessToken),
      };
    }
  }
}

/** `WHOOP_TIMEOUT_MS` (optional secret) bounds each WHOOP request; 15 s by default. */
export function whoopClientFor(secrets: BotSecrets | undefined): WhoopClient {
  const timeout = Number(readOptionalSecret(secrets, 'WHOOP_TIMEOUT_MS'));
  return WhoopClient.fromSecrets(secrets, Number.isFinite(timeout) && timeout > 0 ? { timeoutMs: timeout } : {});
}
