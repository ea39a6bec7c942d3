/**
 * Encryption of per-patient OAuth tokens at rest (the connection Basic's `connection-tokens` extension).
 *
 * Format: `v1.<kid>.<iv>.<ciphertext>.<tag>`, the last three base64url. AES-256-GCM with a random 12-byte IV per
 * message; the `v1.<kid>` prefix is bound as additional authenticated data, so relabelling a blob with another key
 * id fails authentication instead of silently trying another key. Rotation: BASELINE_TOKEN_KEY/BASELINE_TOKEN_KEY_ID
 * is the current key (every new blob uses it); BASELINE_TOKEN_PREVIOUS_KEYS (JSON `{"<kid>":"<base64 key>"}`) keeps
 * older keys readable until the sweeper has re-encrypted every connection.
 *
 * No error message here contains plaintext, ciphertext or key bytes: they end up in Task reasons and bot logs.
 */
import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readOptionalSecret, readSecret } from './secrets.ts';
import type { BotSecrets } from './secrets.ts';

const VERSION = 'v1';
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
 * @param value - any JSON-serialisable value
 * @param keyring - keys; the current one is used
 * @returns `v1.<kid>.<iv>.<ciphertext>.<tag>`
 */
export function encryptJson(value: unknown, keyring: TokenKeyring): string {
  const key = keyring.keys.get(keyring.currentKid);
  if (!key) {
    throw new Error(`Token key ${keyring.currentKid} is not configured`);
  }
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(`${VERSION}.${keyring.currentKid}`, 'utf8'));
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

/**
 * @param blob - output of encryptJson
 * @returns the key id the blob was written with (to decide whether it needs re-encryption after a rotation)
 */
export function blobKeyId(blob: string): string {
  const parts = blob.split('.');
  const kid = parts[1];
  if (parts.length !== 5 || parts[0] !== VERSION || kid === undefined || !KID_PATTERN.test(kid)) {
    throw new Error('Token ciphertext is malformed');
  }
  return kid;
}

/**
 * @param blob - output of encryptJson
 * @param keyring - keys; the blob's key id picks the key
 * @returns the decrypted JSON value (callers validate its shape with zod)
 */
export function decryptJson(blob: string, keyring: TokenKeyring): unknown {
  const kid = blobKeyId(blob);
  const [, , ivText, ciphertextText, tagText] = blob.split('.') as [string, string, string, string, string];
  if (![ivText, ciphertextText, tagText].every((p) => BASE64URL_PATTERN.test(p))) {
    throw new Error('Token ciphertext is malformed');
  }
  const key = keyring.keys.get(kid);
  if (!key) {
    throw new Error(`Token key ${kid} is not configured`);
  }
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw new Error('Token ciphertext is malformed');
  }
  let plaintext: string;
  try {
    const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(`${VERSION}.${kid}`, 'utf8'));
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(Buffer.from(ciphertextText, 'base64url')), decipher.final()]).toString(
      'utf8'
    );
  } catch (err) {
    throw new Error('Token ciphertext failed authentication', { cause: err });
  }
  return JSON.parse(plaintext) as unknown;
}
