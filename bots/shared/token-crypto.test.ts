import { Buffer } from 'node:buffer';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  blobKeyId,
  buildKeyring,
  decryptJson,
  decryptLegacyJson,
  encryptJson,
  isLegacyBlob,
  keyringFromSecrets,
  tokenBinding,
} from './token-crypto.ts';

const keyA = randomBytes(32).toString('base64');
const keyB = randomBytes(32).toString('base64');
const tokens = {
  accessToken: 'at-secret-value',
  refreshToken: 'rt-secret-value',
  expiresAt: '2026-01-01T00:00:00.000Z',
  scope: 'offline',
};

function secret(name: string, value: string): { name: string; valueString: string } {
  return { name, valueString: value };
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('keyringFromSecrets', () => {
  test('Missing project secret when the key is absent', () => {
    expect(() => keyringFromSecrets({ BASELINE_TOKEN_KEY_ID: secret('BASELINE_TOKEN_KEY_ID', 'k1') })).toThrow(
      'Missing project secret BASELINE_TOKEN_KEY'
    );
  });
  test('BASELINE_TOKEN_KEY must be 32 bytes of base64, and the message does not echo the key', () => {
    const short = Buffer.from('sixteen byte key').toString('base64');
    for (const bad of [short, 'not base64 !!', randomBytes(33).toString('base64')]) {
      const err = errorOf(() =>
        keyringFromSecrets({
          BASELINE_TOKEN_KEY: secret('BASELINE_TOKEN_KEY', bad),
          BASELINE_TOKEN_KEY_ID: secret('BASELINE_TOKEN_KEY_ID', 'k1'),
        })
      );
      expect(err.message).toBe('BASELINE_TOKEN_KEY must be 32 bytes of base64');
    }
  });
  test('a key id that would break the blob format is rejected', () => {
    expect(() => buildKeyring('k.1', keyA)).toThrow('BASELINE_TOKEN_KEY_ID must be 1-64 characters');
  });
  test('malformed previous keys are rejected without echoing them', () => {
    const err = errorOf(() =>
      keyringFromSecrets({
        BASELINE_TOKEN_KEY: secret('BASELINE_TOKEN_KEY', keyA),
        BASELINE_TOKEN_KEY_ID: secret('BASELINE_TOKEN_KEY_ID', 'k2'),
        BASELINE_TOKEN_PREVIOUS_KEYS: secret('BASELINE_TOKEN_PREVIOUS_KEYS', `{"k1": "${keyB}"`),
      })
    );
    expect(err.message).toBe('BASELINE_TOKEN_PREVIOUS_KEYS must be a JSON object of key id to base64 key');
    expect(err.message).not.toContain(keyB);
    expect(() => buildKeyring('k2', keyA, { k1: 'short' })).toThrow(
      'BASELINE_TOKEN_PREVIOUS_KEYS key k1 must be 32 bytes of base64'
    );
  });
});

describe('encryptJson / decryptJson', () => {
  const ring = buildKeyring('k1', keyA);
  const bindingA = tokenBinding('conn-a', 'whoop', '111');
  const bindingB = tokenBinding('conn-b', 'whoop', '111');

  /** A v1 blob as the code before connection binding wrote it (AAD `v1.<kid>`). */
  function legacyBlob(value: unknown, kid: string, key: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(key, 'base64'), iv, { authTagLength: 16 });
    cipher.setAAD(Buffer.from(`v1.${kid}`, 'utf8'));
    const ct = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return [
      'v1',
      kid,
      iv.toString('base64url'),
      ct.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.');
  }

  test('round trip, with the v2.<kid>.<iv>.<ct>.<tag> format and a fresh IV each time', () => {
    const blob = encryptJson(tokens, ring, bindingA);
    const parts = blob.split('.');
    expect(parts).toHaveLength(5);
    expect(parts.slice(0, 2)).toEqual(['v2', 'k1']);
    expect(Buffer.from(parts[2] ?? '', 'base64url')).toHaveLength(12);
    expect(blob).not.toContain('secret-value');
    expect(decryptJson(blob, ring, bindingA)).toEqual(tokens);
    expect(encryptJson(tokens, ring, bindingA)).not.toBe(blob);
    expect(blobKeyId(blob)).toBe('k1');
    expect(isLegacyBlob(blob)).toBe(false);
  });

  test('a blob copied onto another connection fails authentication (bound by associated data)', () => {
    const blob = encryptJson(tokens, ring, bindingA);
    expect(() => decryptJson(blob, ring, bindingB)).toThrow(/^Token ciphertext failed authentication$/);
    expect(() => decryptJson(blob, ring, tokenBinding('conn-a', 'whoop', '222'))).toThrow(
      'Token ciphertext failed authentication'
    );
  });

  test('A token binding needs a connection id, a provider and a provider user id', () => {
    expect(() => tokenBinding('', 'whoop', '1')).toThrow(
      'A token binding needs a connection id, a provider and a provider user id'
    );
  });

  test('legacy v1 blobs are read only by decryptLegacyJson (for migration), never by decryptJson', () => {
    const old = legacyBlob(tokens, 'k1', keyA);
    expect(isLegacyBlob(old)).toBe(true);
    expect(blobKeyId(old)).toBe('k1');
    expect(decryptLegacyJson(old, ring)).toEqual(tokens);
    expect(() => decryptJson(old, ring, bindingA)).toThrow('Token ciphertext is not bound to a connection');
    expect(() => decryptLegacyJson(encryptJson(tokens, ring, bindingA), ring)).toThrow(
      'Token ciphertext is not a legacy blob'
    );
  });

  test('rotation: the old key still decrypts, new blobs use the current key', () => {
    const oldBlob = encryptJson(tokens, ring, bindingA);
    const rotated = keyringFromSecrets({
      BASELINE_TOKEN_KEY: secret('BASELINE_TOKEN_KEY', keyB),
      BASELINE_TOKEN_KEY_ID: secret('BASELINE_TOKEN_KEY_ID', 'k2'),
      BASELINE_TOKEN_PREVIOUS_KEYS: secret('BASELINE_TOKEN_PREVIOUS_KEYS', JSON.stringify({ k1: keyA })),
    });
    expect(decryptJson(oldBlob, rotated, bindingA)).toEqual(tokens);
    const newBlob = encryptJson(tokens, rotated, bindingA);
    expect(blobKeyId(newBlob)).toBe('k2');
    expect(() => decryptJson(newBlob, ring, bindingA)).toThrow('Token key k2 is not configured');
  });

  test('Token ciphertext failed authentication when any part is tampered with', () => {
    const blob = encryptJson(tokens, ring, bindingA);
    const [v, kid, iv, ct, tag] = blob.split('.') as [string, string, string, string, string];
    const flip = (s: string): string => {
      const bytes = Buffer.from(s, 'base64url');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      return bytes.toString('base64url');
    };
    for (const tampered of [
      [v, kid, iv, flip(ct), tag],
      [v, kid, iv, ct, flip(tag)],
      [v, kid, flip(iv), ct, tag],
    ]) {
      expect(() => decryptJson(tampered.join('.'), ring, bindingA)).toThrow(/^Token ciphertext failed authentication$/);
    }
  });

  test('relabelling a blob with another configured key id fails authentication (the prefix is authenticated)', () => {
    const both = buildKeyring('k2', keyA, { k1: keyA });
    const blob = encryptJson(tokens, both, bindingA).replace(/^v2\.k2\./, 'v2.k1.');
    expect(() => decryptJson(blob, both, bindingA)).toThrow('Token ciphertext failed authentication');
  });

  test('wrong key under the same id fails authentication and reveals neither plaintext nor key', () => {
    const blob = encryptJson(tokens, ring, bindingA);
    const err = errorOf(() => decryptJson(blob, buildKeyring('k1', keyB), bindingA));
    expect(err.message).toBe('Token ciphertext failed authentication');
    expect(err.message).not.toContain('secret-value');
    expect(err.message).not.toContain(keyB);
  });

  test('Token ciphertext is malformed for anything not in the format', () => {
    for (const bad of ['', 'v2.k1.abc', 'v3.k1.a.b.c', 'v2.k1.%%.b.c']) {
      expect(() => decryptJson(bad, ring, bindingA)).toThrow('Token ciphertext is malformed');
    }
  });
});
