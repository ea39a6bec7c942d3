/**
 * The access token for a connection, refreshed at most once at a time.
 *
 * WHOOP, Oura and Withings all rotate refresh tokens: a refresh invalidates the old ones, and of two concurrent
 * refreshes with the same token the second fails (`invalid_grant`). So a run that finds the token expiring first
 * takes a short lease on the connection with a versioned update (If-Match); exactly one run wins it, refreshes, and
 * stores the new tokens; the losers wait for the winner's tokens and use them. A provider refusal of the refresh
 * (401/400 invalid_grant) marks the connection `credentials-expired`: only the owner reconnecting can fix that.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient, WithId } from '@medplum/core';
import type { Basic } from '@medplum/fhirtypes';
import {
  parseConnection,
  refreshLeaseHeld,
  tokenNeedsRefresh,
  withRefreshLease,
  withStatus,
  withTokens,
} from './connection.ts';
import type { Connection } from './connection.ts';
import { updateIfUnchanged } from './fhir-write.ts';
import { ProviderHttpError } from './http.ts';
import { mergeTokenSets, TokenSetSchema } from './provider.ts';
import type { OAuthProvider, TokenSet } from './provider.ts';
import { decryptJson, encryptJson } from './token-crypto.ts';
import type { TokenKeyring } from './token-crypto.ts';

const LEASE_MS = 30_000;
const WAIT_STEP_MS = 200;

export class CredentialsExpiredError extends Error {
  constructor(provider: string) {
    super(`${provider} refused the stored credentials; the owner needs to reconnect`);
    this.name = 'CredentialsExpiredError';
  }
}

export function decryptTokens(connection: Connection, keyring: TokenKeyring): TokenSet {
  if (!connection.tokens) {
    throw new CredentialsExpiredError(connection.provider);
  }
  return TokenSetSchema.parse(decryptJson(connection.tokens, keyring));
}

async function readConnection(medplum: MedplumClient, id: string): Promise<WithId<Basic>> {
  return medplum.readResource('Basic', id, { cache: 'no-cache' });
}

function isRefusal(err: unknown): boolean {
  return err instanceof ProviderHttpError && (err.kind === 'unauthorized' || err.oauthError === 'invalid_grant');
}

/**
 * @param medplum - bot client
 * @param basic - the connection as last read
 * @param provider - the provider's OAuth implementation
 * @param keyring - token keys
 * @param options - `force` refreshes even if not yet expiring (after a 401 from the API); `now` for tests
 * @returns a usable access token and the connection version that holds it
 */
export async function freshAccessToken(
  medplum: MedplumClient,
  basic: WithId<Basic>,
  provider: OAuthProvider,
  keyring: TokenKeyring,
  options: { force?: boolean; waitMs?: number } = {}
): Promise<{ accessToken: string; connection: WithId<Basic>; refreshed: boolean }> {
  const deadline = Date.now() + (options.waitMs ?? LEASE_MS + 5_000);
  let current = basic;
  const startingExpiry = parseConnection(basic).tokenExpiresAt;
  for (;;) {
    const connection = parseConnection(current);
    if (connection.status !== 'active') {
      throw new CredentialsExpiredError(connection.provider);
    }
    const stillFresh = !tokenNeedsRefresh(connection, new Date());
    const someoneRefreshed = options.force && connection.tokenExpiresAt !== startingExpiry;
    if ((stillFresh && !options.force) || someoneRefreshed) {
      return { accessToken: decryptTokens(connection, keyring).accessToken, connection: current, refreshed: false };
    }
    if (!refreshLeaseHeld(connection, new Date())) {
      const leased = await updateIfUnchanged(
        medplum,
        withRefreshLease(current, new Date(Date.now() + LEASE_MS)),
        current
      );
      if (leased) {
        return refreshUnderLease(medplum, leased, provider, keyring);
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for another run to refresh the ${connection.provider} token`);
    }
    await sleep(WAIT_STEP_MS);
    current = await readConnection(medplum, basic.id);
  }
}

async function refreshUnderLease(
  medplum: MedplumClient,
  leased: WithId<Basic>,
  provider: OAuthProvider,
  keyring: TokenKeyring
): Promise<{ accessToken: string; connection: WithId<Basic>; refreshed: boolean }> {
  const connection = parseConnection(leased);
  const previous = decryptTokens(connection, keyring);
  if (!previous.refreshToken) {
    await updateIfUnchanged(medplum, withStatus(leased, 'credentials-expired', 'No refresh token stored'), leased);
    throw new CredentialsExpiredError(connection.provider);
  }
  let refreshed: TokenSet;
  try {
    refreshed = mergeTokenSets(previous, await provider.refresh(previous.refreshToken));
  } catch (err) {
    if (isRefusal(err)) {
      await updateIfUnchanged(
        medplum,
        withStatus(leased, 'credentials-expired', `${connection.provider} refused the token refresh`),
        leased
      );
      throw new CredentialsExpiredError(connection.provider);
    }
    // Temporary failure: release the lease so the next run can try again.
    await updateIfUnchanged(medplum, withRefreshLease(leased, undefined), leased);
    throw err;
  }
  // The lease makes us the only writer; if this write still loses, the new tokens would be lost, so fail loudly.
  const stored = await updateIfUnchanged(
    medplum,
    withTokens(leased, encryptJson(refreshed, keyring), refreshed.expiresAt),
    leased
  );
  if (!stored) {
    throw new Error(`The ${connection.provider} connection changed while its refresh lease was held`);
  }
  return { accessToken: refreshed.accessToken, connection: stored, refreshed: true };
}
