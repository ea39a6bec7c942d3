/**
 * Encryption of per-patient OAuth tokens at rest (the token-store Basic of a connection, see tokens.ts).
 *
 * Format: `v2.<kid>.<iv>.<ciphertext>.<tag>`, the last three base64url. AES-256-GCM with a random 12-byte IV per
 * message. The additional authenticated data is `v2.<kid>.<binding>`, where the binding names the connection the
 * blob belongs to (tokenBinding: connection id + provider + provider user id). So relabelling a blob with another
 * key id, or copying it onto another connection's record, fails authentication instead of handing one owner's
 * provider account to another. `v1` blobs (AAD `v1.<kid>`, no binding) were written before binding existed; only
 * decryptLegacyJson reads them, for the one-time migration.
 * Rotation: BASELINE_TOKEN_KEY/BASELINE_TOKEN_KEY_ID is the current key (every new blob uses it);
 * BASELINE_TOKEN_PREVIOUS_KEYS (JSON `{"<kid>":"<base64 key>"}`) keeps older keys readable until
 * reencryptStaleTokens (tokens.ts, called by the sweeper) has re-encrypted every connection. Dropping an old key
 * afterwards also makes every copy under it unreadable — including the ones Medplum keeps in resource history.
 *
 * No error message here contains plaintext, ciphertext or key bytes: they end up in Task reasons and bot logs.
 */
import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readOptionalSecret, readSecret } from './secrets.ts';
import type { BotSecrets } from './secrets.ts';

const VERSION = 'v2';
const LEGACY_VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/;
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]*$/;

export interface TokenKeyring {
  /** Key id every new blob is written with. */
  readonly currentKid: string;
  /** Every readable key by id, the current one included. */
  readonly keys: ReadonlyMap<string, Buffer>;
}

function decodeKey(encoded: string): Buffer | undefined {
  const trimmed = encoded.trim();
  if (!BASE64_PATTERN.test(trimmed)) {
    return undefined;
  }
  const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

function checkKid(kid: string, secretName: string): void {
  if (!KID_PATTERN.test(kid)) {
    throw new Error(`${secretName} must be 1-64 characters of A-Z a-z 0-9 _ -`);
  }
}

/**
 * @param currentKid - id of the key new blobs are written with
 * @param currentKey - base64 of 32 bytes
 * @param previous - older keys by id (base64), still accepted for decryption
 * @returns the keyring
 */
export function buildKeyring(
  currentKid: string,
  currentKey: string,
  previous: Readonly<Record<string, string>> = {}
): TokenKeyring {
  checkKid(currentKid, 'BASELINE_TOKEN_KEY_ID');
  const key = decodeKey(currentKey);
  if (!key) {
    throw new Error('BASELINE_TOKEN_KEY must be 32 bytes of base64');
  }
  const keys = new Map<string, Buffer>();
  for (const [kid, encoded] of Object.entries(previous)) {
    checkKid(kid, 'BASELINE_TOKEN_PREVIOUS_KEYS key id');
    const old = decodeKey(encoded);
    if (!old) {
      throw new Error(`BASELINE_TOKEN_PREVIOUS_KEYS key ${kid} must be 32 bytes of base64`);
    }
    keys.set(kid, old);
  }
  keys.set(currentKid, key);
  return { currentKid, keys };
}

/**
 * @param secrets - `event.secrets` with BASELINE_TOKEN_KEY, BASELINE_TOKEN_KEY_ID and optional
 *   BASELINE_TOKEN_PREVIOUS_KEYS
 * @returns the keyring
 */
export function keyringFromSecrets(secrets: BotSecrets | undefined): TokenKeyring {
  const key = readSecret(secrets, 'BASELINE_TOKEN_KEY');
  const kid = readSecret(secrets, 'BASELINE_TOKEN_KEY_ID');
  const previousJson = readOptionalSecret(secrets, 'BASELINE_TOKEN_PREVIOUS_KEYS');
  let previous: Record<string, string> = {};
  if (previousJson !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(previousJson);
    } catch {
      // The parser's message quotes the input, which is key material: replace it.
      throw new Error('BASELINE_TOKEN_PREVIOUS_KEYS must be a JSON object of key id to base64 key');
    }
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      Array.isArray(parsed) ||
      !Object.values(parsed).every((v) => typeof v === 'string')
    ) {
      throw new Error('BASELINE_TOKEN_PREVIOUS_KEYS must be a JSON object of key id to base64 key');
    }
    previous = parsed as Record<string, string>;
  }
  return buildKeyring(kid, key, previous);
}

/**
 * @param connectionId - the connection Basic's id
 * @param provider - provider key
 * @param providerUserId - the provider account the tokens are for
 * @returns the associated data that binds a blob to that connection and account
 */
export function tokenBinding(connectionId: string, provider: string, providerUserId: string): string {
  if (!connectionId || !provider || !providerUserId) {
    throw new Error('A token binding needs a connection id, a provider and a provider user id');
  }
  return `Basic/${connectionId}|${provider}|${providerUserId}`;
}

function aad(version: string, kid: string, binding?: string): Buffer {
  return Buffer.from(binding === undefined ? `${version}.${kid}` : `${version}.${kid}.${binding}`, 'utf8');
}

/**
 * @param value - any JSON-serialisable value
 * @param keyring - keys; the current one is used
 * @param binding - tokenBinding(...) of the connection the blob belongs to
 * @returns `v2.<kid>.<iv>.<ciphertext>.<tag>`
 */
export function encryptJson(value: unknown, keyring: TokenKeyring, binding: string): string {
  if (!binding) {
    throw new Error('Token encryption needs a binding');
  }
  const key = keyring.keys.get(keyring.currentKid);
  if (!key) {
    throw new Error(`Token key ${keyring.currentKid} is not configured`);
  }
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(VERSION, keyring.currentKid, binding));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [
    VERSION,
    keyring.currentKid,
    iv.toString('base64url'),
    ciphertext.toString('base64url'),
    tag.toString('base64url'),
  ].join('.');
}

function parseBlob(blob: string): { version: string; kid: string; iv: string; ciphertext: string; tag: string } {
  const parts = blob.split('.');
  const [version, kid, iv, ciphertext, tag] = parts;
  if (
    parts.length !== 5 ||
    (version !== VERSION && version !== LEGACY_VERSION) ||
    kid === undefined ||
    !KID_PATTERN.test(kid) ||
    iv === undefined ||
    ciphertext === undefined ||
    tag === undefined ||
    ![iv, ciphertext, tag].every((p) => BASE64URL_PATTERN.test(p))
  ) {
    throw new Error('Token ciphertext is malformed');
  }
  return { version, kid, iv, ciphertext, tag };
}

/**
 * @param blob - output of encryptJson (or a legacy v1 blob)
 * @returns the key id the blob was written with (to decide whether it needs re-encryption after a rotation)
 */
export function blobKeyId(blob: string): string {
  return parseBlob(blob).kid;
}

/**
 * @param blob - a token blob
 * @returns true for a v1 blob (no connection binding): it must be migrated
 */
export function isLegacyBlob(blob: string): boolean {
  return parseBlob(blob).version === LEGACY_VERSION;
}

function decrypt(parts: ReturnType<typeof parseBlob>, keyring: TokenKeyring, binding: string | undefined): unknown {
  const key = keyring.keys.get(parts.kid);
  if (!key) {
    throw new Error(`Token key ${parts.kid} is not configured`);
  }
  const iv = Buffer.from(parts.iv, 'base64url');
  const tag = Buffer.from(parts.tag, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw new Error('Token ciphertext is malformed');
  }
  let plaintext: string;
  try {
    const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(parts.version, parts.kid, binding));
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(Buffer.from(parts.ciphertext, 'base64url')), decipher.final()]).toString(
      'utf8'
    );
  } catch (err) {
    throw new Error('Token ciphertext failed authentication', { cause: err });
  }
  return JSON.parse(plaintext) as unknown;
}

/**
 * @param blob - output of encryptJson
 * @param keyring - keys; the blob's key id picks the key
 * @param binding - tokenBinding(...) of the connection the caller is reading tokens for
 * @returns the decrypted JSON value (callers validate its shape with zod)
 */
export function decryptJson(blob: string, keyring: TokenKeyring, binding: string): unknown {
  const parts = parseBlob(blob);
  if (parts.version !== VERSION) {
    throw new Error('Token ciphertext is not bound to a connection');
  }
  return decrypt(parts, keyring, binding);
}

/**
 * Reads a v1 blob (written before blobs were bound to their connection); used only to migrate it.
 * @param blob - a v1 blob
 * @param keyring - keys
 * @returns the decrypted JSON value
 */
export function decryptLegacyJson(blob: string, keyring: TokenKeyring): unknown {
  const parts = parseBlob(blob);
  if (parts.version !== LEGACY_VERSION) {
    throw new Error('Token ciphertext is not a legacy blob');
  }
  return decrypt(parts, keyring, undefined);
}
