/**
 * The provider tokens of a connection: where they are kept, how they are refreshed, moved, re-encrypted and deleted.
 *
 * Store. Each connection's tokens are one AES-GCM blob (token-crypto.ts) on its own token-store `Basic` (code
 * wearable-tokens, identifier TOKEN_STORE_IDENTIFIER_SYSTEM|<connection id>, no subject so it is in no patient's
 * compartment). That record changes only when the tokens change, so its history holds one version per token set,
 * not one per sync; the blob is bound to the connection (id + provider + provider user id) as associated data, so a
 * blob copied onto another record does not decrypt. Only the bots that use tokens (connect-callback, sync, sweeper,
 * disconnect) have the token store in their policies. Records from before the store carried a `v1` blob on the
 * connection itself; migrateLegacyTokens moves it on first touch (and reencryptStaleTokens sweeps the rest).
 *
 * Refresh. WHOOP, Oura and Withings all rotate refresh tokens: a refresh invalidates the old ones, and of two
 * concurrent refreshes with the same token the second fails (`invalid_grant`). So a run that finds the token
 * expiring first takes a short lease on the connection with a versioned update (If-Match); exactly one run wins it,
 * refreshes, stores the new tokens (versioned write on the token store) and releases the lease with the new expiry;
 * the losers wait for the winner's tokens and use them. Only `invalid_grant` (or no refresh token at all) marks the
 * connection `credentials-expired` — the owner must reconnect. `invalid_client` means the operator's client id or
 * secret is wrong: the connection stays active and the error says so, for the operator, without any secret.
 *
 * Delete. On disconnect (and when an account is relinked to another owner) the token-store record is removed with its
 * whole history by the `token-expunge` bot (bots/connect/token-expunge.ts): Medplum 5 allows `$expunge` to
 * project-admin memberships only, so that one narrow bot is the admin, not every bot that handles tokens. Where it is
 * missing or refuses (a deployment older than it), the record is deleted plainly and `expunged: false` says that its
 * old versions — ciphertext bound to that connection — remain until the key they were written under is retired.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { getStatus, isOperationOutcome, normalizeOperationOutcome } from '@medplum/core';
import type { MedplumClient, WithId } from '@medplum/core';
import type { Basic } from '@medplum/fhirtypes';
import { z } from 'zod';
import {
  BASIC_TYPE_SYSTEM,
  CONNECTION_CODE_TOKEN,
  TOKEN_STORE_BLOB_EXTENSION,
  TOKEN_STORE_CODE,
  TOKEN_STORE_CODE_TOKEN,
  TOKEN_STORE_IDENTIFIER_SYSTEM,
  parseConnection,
  refreshLeaseHeld,
  tokenNeedsRefresh,
  withoutLegacyTokens,
  withRefreshLease,
  withStatus,
  withTokenExpiry,
} from './connection.ts';
import type { Connection } from './connection.ts';
import { CONNECTION_EXTENSION } from './extensions.ts';
import { isAbsent, updateIfUnchanged } from './fhir-write.ts';
import { ProviderHttpError } from './http.ts';
import { isThrottled } from './quota.ts';
import { mergeTokenSets, TokenSetSchema } from './provider.ts';
import type { OAuthProvider, TokenSet } from './provider.ts';
import type { BotSecrets } from './secrets.ts';
import { BOT_IDENTIFIER_SYSTEM } from './systems.ts';
import {
  blobKeyId,
  decryptJson,
  decryptLegacyJson,
  encryptJson,
  keyringFromSecrets,
  tokenBinding,
} from './token-crypto.ts';
import type { TokenKeyring } from './token-crypto.ts';

/**
 * How long a refresh lease holds. Longer than a provider's token call (15 s by default) plus a wait for one FHIR quota
 * window to store the result (STORE_RETRY_MS): with single-use refresh tokens (Oura) a lease that lapsed between the
 * provider's answer and the store would let a second run present the spent token and lose the connection.
 */
const LEASE_MS = 90_000;
/** The most a run waits to store freshly refreshed tokens through throttling or a failing server. */
const STORE_RETRY_MS = 65_000;
const WAIT_STEP_MS = 200;

export class CredentialsExpiredError extends Error {
  constructor(provider: string) {
    super(`${provider} refused the stored credentials; the owner needs to reconnect`);
    this.name = 'CredentialsExpiredError';
  }
}

/** The provider refused Baseline's own client credentials: an operator has to fix the Project secrets. */
export class ProviderClientError extends Error {
  constructor(provider: string, oauthError: string) {
    super(
      `${provider} rejected Baseline's client credentials (${oauthError}): an operator must check the ` +
        `${provider.toUpperCase()}_CLIENT_ID and ${provider.toUpperCase()}_CLIENT_SECRET Project secrets`
    );
    this.name = 'ProviderClientError';
  }
}

const CLIENT_ERRORS = new Set(['invalid_client', 'unauthorized_client']);

/**
 * @param err - an error from a provider token endpoint
 * @param provider - provider key
 * @returns the error to throw: ProviderClientError for a client-credential problem, else the error itself
 */
export function classifyTokenEndpointError(err: unknown, provider: string): unknown {
  if (err instanceof ProviderHttpError && err.oauthError && CLIENT_ERRORS.has(err.oauthError)) {
    return new ProviderClientError(provider, err.oauthError);
  }
  return err;
}

function isInvalidGrant(err: unknown): boolean {
  return err instanceof ProviderHttpError && err.oauthError === 'invalid_grant';
}

function bindingOf(connection: Connection): string {
  if (!connection.id) {
    throw new Error('A connection must be saved before tokens can be bound to it');
  }
  return tokenBinding(connection.id, connection.provider, connection.providerUserId);
}

/**
 * @param medplum - bot client (token-store policy)
 * @param connectionId - the connection Basic's id
 * @returns its token-store record, if any
 */
export async function findTokenRecord(
  medplum: MedplumClient,
  connectionId: string
): Promise<WithId<Basic> | undefined> {
  return medplum.searchOne(
    'Basic',
    { code: TOKEN_STORE_CODE_TOKEN, identifier: `${TOKEN_STORE_IDENTIFIER_SYSTEM}|${connectionId}` },
    { cache: 'no-cache' }
  );
}

function blobOf(record: Basic): string | undefined {
  return record.extension?.find((e) => e.url === TOKEN_STORE_BLOB_EXTENSION)?.valueString;
}

function tokenRecord(connectionId: string, blob: string, existing?: WithId<Basic>): Basic {
  return {
    ...(existing ?? {}),
    resourceType: 'Basic',
    code: { coding: [{ system: BASIC_TYPE_SYSTEM, code: TOKEN_STORE_CODE }] },
    identifier: [{ system: TOKEN_STORE_IDENTIFIER_SYSTEM, value: connectionId }],
    extension: [{ url: TOKEN_STORE_BLOB_EXTENSION, valueString: blob }],
  };
}

/**
 * Writes the tokens of a connection to its token-store record (creating it if needed).
 * @param medplum - bot client
 * @param connection - the saved connection the tokens belong to
 * @param tokens - plaintext token set
 * @param keyring - keys (the current one is used)
 * @param expected - the record version this write replaces (a versioned write); omit to create or overwrite
 * @returns the written record, or undefined when `expected` was stale
 */
export async function storeTokens(
  medplum: MedplumClient,
  connection: Connection,
  tokens: TokenSet,
  keyring: TokenKeyring,
  expected?: WithId<Basic>
): Promise<WithId<Basic> | undefined> {
  const blob = encryptJson(tokens, keyring, bindingOf(connection));
  const connectionId = connection.id ?? '';
  if (expected) {
    return updateIfUnchanged(medplum, tokenRecord(connectionId, blob, expected), expected);
  }
  const existing = await findTokenRecord(medplum, connectionId);
  if (existing) {
    return medplum.updateResource(tokenRecord(connectionId, blob, existing));
  }
  return medplum.createResourceIfNoneExist(
    tokenRecord(connectionId, blob),
    `identifier=${TOKEN_STORE_IDENTIFIER_SYSTEM}|${connectionId}`
  );
}

/**
 * Moves a legacy (v1, unbound) blob from the connection to the token store, bound. Idempotent and race-safe: the
 * token-store write is a conditional create, and the connection is only cleared with a versioned update.
 * @param medplum - bot client
 * @param basic - the connection as last read
 * @param keyring - keys
 * @returns the connection without the legacy blob (re-read when another run moved it first)
 */
export async function migrateLegacyTokens(
  medplum: MedplumClient,
  basic: WithId<Basic>,
  keyring: TokenKeyring
): Promise<WithId<Basic>> {
  let current = basic;
  for (let attempt = 0; attempt < 5; attempt++) {
    const connection = parseConnection(current);
    if (!connection.legacyTokens) {
      return current;
    }
    if (!(await findTokenRecord(medplum, current.id))) {
      const tokens = TokenSetSchema.parse(decryptLegacyJson(connection.legacyTokens, keyring));
      await medplum.createResourceIfNoneExist(
        tokenRecord(current.id, encryptJson(tokens, keyring, bindingOf(connection))),
        `identifier=${TOKEN_STORE_IDENTIFIER_SYSTEM}|${current.id}`
      );
    }
    const cleared = await updateIfUnchanged(medplum, withoutLegacyTokens(current), current);
    if (cleared) {
      return cleared;
    }
    current = await medplum.readResource('Basic', current.id, { cache: 'no-cache' });
  }
  throw new Error(`Basic/${basic.id} kept changing while its tokens were moved to the token store`);
}

/**
 * @param medplum - bot client
 * @param connection - parsed connection (saved)
 * @param keyring - keys
 * @returns the plaintext tokens and the record holding them
 */
export async function readTokens(
  medplum: MedplumClient,
  connection: Connection,
  keyring: TokenKeyring
): Promise<{ tokens: TokenSet; record: WithId<Basic> }> {
  const record = await findTokenRecord(medplum, connection.id ?? '');
  const blob = record ? blobOf(record) : undefined;
  if (!record || !blob) {
    throw new CredentialsExpiredError(connection.provider);
  }
  return { tokens: TokenSetSchema.parse(decryptJson(blob, keyring, bindingOf(connection))), record };
}

/** BOT_IDENTIFIER_SYSTEM value of the bot that expunges token-store records (data/core/bots.ts deploys it). */
export const TOKEN_EXPUNGE_BOT = 'token-expunge';

const ExpungeReply = z.object({ expunged: z.boolean() });

/**
 * Removes a connection's token-store record: expunged with its history by the `token-expunge` bot, or, where that
 * bot is absent or refuses, deleted (its history stays; see above).
 * @param medplum - bot client
 * @param connectionId - the connection Basic's id
 * @returns whether a record was removed now (false: there was none) and whether its history went with it
 */
export async function deleteTokens(
  medplum: MedplumClient,
  connectionId: string
): Promise<{ deleted: boolean; expunged: boolean }> {
  const record = await findTokenRecord(medplum, connectionId);
  if (!record) {
    return { deleted: false, expunged: false };
  }
  try {
    const reply = ExpungeReply.parse(
      await medplum.executeBot(
        { system: BOT_IDENTIFIER_SYSTEM, value: TOKEN_EXPUNGE_BOT },
        { tokenRecordId: record.id },
        'application/json'
      )
    );
    if (reply.expunged) {
      return { deleted: true, expunged: true };
    }
  } catch {
    // Not deployed, not an admin (403 from $expunge) or not reachable: fall back to a plain delete below.
  }
  await medplum.deleteResource('Basic', record.id).catch((err: unknown) => {
    // Removed by a concurrent disconnect in the meantime: the outcome is the same.
    if (!isAbsent(err)) {
      throw err;
    }
  });
  return { deleted: true, expunged: false };
}

async function readConnection(medplum: MedplumClient, id: string): Promise<WithId<Basic>> {
  return medplum.readResource('Basic', id, { cache: 'no-cache' });
}

/**
 * @param medplum - bot client
 * @param basic - the connection as last read
 * @param provider - the provider's OAuth implementation
 * @param keyring - token keys
 * @param options - `force` refreshes even if not yet expiring (after a 401 from the API); `waitMs` bounds waiting
 *   for another run's refresh
 * @returns a usable access token and the connection version that holds its expiry
 */
export async function freshAccessToken(
  medplum: MedplumClient,
  basic: WithId<Basic>,
  provider: OAuthProvider,
  keyring: TokenKeyring,
  options: { force?: boolean; waitMs?: number } = {}
): Promise<{ accessToken: string; connection: WithId<Basic>; refreshed: boolean }> {
  const deadline = Date.now() + (options.waitMs ?? LEASE_MS + 5_000);
  let current = await migrateLegacyTokens(medplum, basic, keyring);
  const startingExpiry = parseConnection(current).tokenExpiresAt;
  for (;;) {
    const connection = parseConnection(current);
    if (connection.status !== 'active') {
      throw new CredentialsExpiredError(connection.provider);
    }
    const stillFresh = !tokenNeedsRefresh(connection, new Date());
    const someoneRefreshed = options.force && connection.tokenExpiresAt !== startingExpiry;
    if ((stillFresh && !options.force) || someoneRefreshed) {
      const { tokens } = await readTokens(medplum, connection, keyring);
      return { accessToken: tokens.accessToken, connection: current, refreshed: false };
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

/** Writes `change(current)` to the connection, re-reading on a lost race (bookkeeping such as the lease release). */
async function updateConnection(
  medplum: MedplumClient,
  start: WithId<Basic>,
  change: (current: WithId<Basic>) => Basic
): Promise<WithId<Basic>> {
  let current = start;
  for (let attempt = 0; attempt < 5; attempt++) {
    const written = await updateIfUnchanged(medplum, change(current), current);
    if (written) {
      return written;
    }
    current = await readConnection(medplum, start.id);
  }
  throw new Error(`Basic/${start.id} kept changing; gave up after 5 attempts`);
}

async function refreshUnderLease(
  medplum: MedplumClient,
  leased: WithId<Basic>,
  provider: OAuthProvider,
  keyring: TokenKeyring
): Promise<{ accessToken: string; connection: WithId<Basic>; refreshed: boolean }> {
  const connection = parseConnection(leased);
  let stored: { tokens: TokenSet; record: WithId<Basic> };
  try {
    stored = await readTokens(medplum, connection, keyring);
  } catch (err) {
    await updateConnection(medplum, leased, (c) => withRefreshLease(c, undefined));
    throw err;
  }
  const previous = stored.tokens;
  if (!previous.refreshToken) {
    await updateConnection(medplum, leased, (c) => withStatus(c, 'credentials-expired', 'No refresh token stored'));
    throw new CredentialsExpiredError(connection.provider);
  }
  let refreshed: TokenSet;
  try {
    refreshed = mergeTokenSets(previous, await provider.refresh(previous.refreshToken));
  } catch (err) {
    if (isInvalidGrant(err)) {
      await updateConnection(medplum, leased, (c) =>
        withStatus(c, 'credentials-expired', `${connection.provider} refused the token refresh`)
      );
      throw new CredentialsExpiredError(connection.provider);
    }
    // Temporary failure or an operator error (invalid_client): release the lease; the connection stays active.
    await updateConnection(medplum, leased, (c) => withRefreshLease(c, undefined));
    throw classifyTokenEndpointError(err, connection.provider);
  }
  // The lease makes us the only writer of the tokens; if this write still loses, the new tokens would be lost. The
  // provider has already rotated (Oura's old refresh token is spent), so a throttled or failing store is retried
  // within the lease rather than dropping the only valid tokens.
  const written = await storeRefreshed(() => storeTokens(medplum, connection, refreshed, keyring, stored.record));
  if (!written) {
    throw new Error(`The ${connection.provider} tokens changed while their refresh lease was held`);
  }
  const released = await updateConnection(medplum, leased, (c) => withTokenExpiry(c, refreshed.expiresAt));
  return { accessToken: refreshed.accessToken, connection: released, refreshed: true };
}

/**
 * Retries a token store on 429 (waiting for the quota window) and 5xx, up to STORE_RETRY_MS in all.
 * @param store - the write
 * @param pause - how to wait (tests pass a fake clock)
 */
export async function storeRefreshed<T>(
  store: () => Promise<T>,
  pause: (ms: number) => Promise<unknown> = (ms) => sleep(ms, undefined, { ref: false }),
  now: () => number = Date.now
): Promise<T> {
  const deadline = now() + STORE_RETRY_MS;
  for (;;) {
    try {
      return await store();
    } catch (err) {
      const status = statusOf(err);
      const retryable = isThrottled(err) || (status !== undefined && status >= 500);
      const left = deadline - now();
      // A quota window is a minute: wait for its reset (or what is left of the budget); a server error briefly.
      const wait = isThrottled(err) ? Math.min(61_000, left) : 2_000;
      if (!retryable || wait <= 0 || wait > left) {
        throw err;
      }
      await pause(wait);
    }
  }
}

function statusOf(err: unknown): number | undefined {
  const outcome = isOperationOutcome(err) ? err : normalizeOperationOutcome(err);
  return getStatus(outcome);
}

export interface ReencryptResult {
  /** Token-store records re-encrypted under the current key. */
  reencrypted: number;
  /** Connections whose legacy blob was moved to the token store. */
  migrated: number;
  /** Records that could not be re-encrypted (their key is no longer configured, or they are not bound to it). */
  failed: number;
}

/**
 * The key-rotation job (the sweeper calls it each run): re-encrypts up to `limit` token-store records whose blob was
 * written with another key than the current one, and moves up to `limit` legacy blobs off connection records.
 * @param medplum - bot client (connection + token-store policy)
 * @param secrets - `event.secrets` (BASELINE_TOKEN_KEY, _KEY_ID, _PREVIOUS_KEYS)
 * @param limit - at most this many writes of each kind in one call
 * @returns what it did
 */
export async function reencryptStaleTokens(
  medplum: MedplumClient,
  secrets: BotSecrets | undefined,
  limit: number
): Promise<ReencryptResult> {
  const keyring = keyringFromSecrets(secrets);
  const result: ReencryptResult = { reencrypted: 0, migrated: 0, failed: 0 };

  for await (const page of medplum.searchResourcePages(
    'Basic',
    { code: CONNECTION_CODE_TOKEN, _count: '100' },
    { cache: 'no-cache' }
  )) {
    for (const basic of page) {
      if (result.migrated >= limit) {
        break;
      }
      if (basic.extension?.some((e) => e.url === CONNECTION_EXTENSION.tokens)) {
        try {
          await migrateLegacyTokens(medplum, basic, keyring);
          result.migrated++;
        } catch {
          result.failed++;
        }
      }
    }
    if (result.migrated >= limit) {
      break;
    }
  }

  for await (const page of medplum.searchResourcePages(
    'Basic',
    { code: TOKEN_STORE_CODE_TOKEN, _count: '100' },
    { cache: 'no-cache' }
  )) {
    for (const record of page) {
      if (result.reencrypted >= limit) {
        return result;
      }
      const blob = blobOf(record);
      if (!blob || safeKeyId(blob) === keyring.currentKid) {
        continue;
      }
      const connectionId = record.identifier?.find((i) => i.system === TOKEN_STORE_IDENTIFIER_SYSTEM)?.value;
      try {
        const connection = parseConnection(await readConnection(medplum, connectionId ?? ''));
        const tokens = TokenSetSchema.parse(decryptJson(blob, keyring, bindingOf(connection)));
        if (await storeTokens(medplum, connection, tokens, keyring, record)) {
          result.reencrypted++;
        }
      } catch {
        // Never echo why in detail: messages could end up in logs next to ids. Counted for the operator.
        result.failed++;
      }
    }
  }
  return result;
}

function safeKeyId(blob: string): string | undefined {
  try {
    return blobKeyId(blob);
  } catch {
    return undefined;
  }
}
