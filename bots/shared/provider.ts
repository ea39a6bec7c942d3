/**
 * The provider-independent OAuth surface the connect, disconnect and sync bots use. WHOOP implements it in
 * bots/whoop/client.ts; Withings and Oura plug in by implementing the same interface, so the bots never branch on
 * the provider for the token lifecycle.
 */
import { z } from 'zod';
import type { ProviderId } from './catalogue.ts';

export type ProviderKey = ProviderId;

/**
 * What Baseline stores (encrypted) per connection. `refreshToken` is optional only on a provider's answer: when a
 * refresh returns none, the previous one stays valid (mergeTokenSets).
 */
export const TokenSetSchema = z.object({
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1).optional(),
  expiresAt: z.iso.datetime({ offset: true }),
  scope: z.string(),
});
export type TokenSet = z.infer<typeof TokenSetSchema>;

export interface AuthorizeParams {
  readonly clientId: string;
  readonly redirectUri: string;
  /** The raw state (≥ 32 url-safe chars, oauth-state.ts); only its hash is stored. */
  readonly state: string;
  /** Defaults to the provider's full read scope set. */
  readonly scopes?: readonly string[];
}

export interface OAuthProvider {
  readonly key: ProviderKey;
  /** @returns the provider's authorize URL with response_type=code, client_id, redirect_uri, scope and state. */
  authorizeUrl(params: AuthorizeParams): string;
  /** Authorization-code exchange. */
  exchangeCode(code: string, redirectUri: string): Promise<TokenSet>;
  /** Refresh-token grant; providers rotate refresh tokens, so callers must store the result before using it. */
  refresh(refreshToken: string): Promise<TokenSet>;
  /** Revokes the user's grant (stops the provider's webhooks for that user where supported). */
  revoke(accessToken: string): Promise<void>;
  /** @returns the provider's stable user id for the token's owner (string even where the provider uses numbers). */
  userId(accessToken: string): Promise<string>;
}

/**
 * @param previous - the stored token set
 * @param refreshed - the refresh response
 * @returns the refreshed set, keeping the previous refresh token when the provider sent none
 */
export function mergeTokenSets(previous: TokenSet, refreshed: TokenSet): TokenSet {
  return { ...refreshed, refreshToken: refreshed.refreshToken ?? previous.refreshToken };
}
