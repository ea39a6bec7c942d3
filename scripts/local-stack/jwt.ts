/**
 * RS256 JWTs for the local stack's access, refresh and id tokens. The signing key is generated once and kept in
 * the data directory, so tokens issued before a restart stay valid after it (as they do on Medplum).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface JwtKeys {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function loadOrCreateKeys(dataDir: string | undefined): JwtKeys {
  const file = dataDir ? join(dataDir, 'signing-key.json') : undefined;
  if (file && existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { kid: string; privateKeyPem: string };
    const privateKey = createPrivateKey(saved.privateKeyPem);
    return { kid: saved.kid, privateKey, publicKey: createPublicKey(privateKey) };
  }
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  if (file && dataDir) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify({ kid, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) }), {
      mode: 0o600,
    });
  }
  return { kid, privateKey, publicKey };
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export function signJwt(keys: JwtKeys, payload: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: keys.kid }));
  const body = b64url(JSON.stringify(payload));
  const signature = sign('RSA-SHA256', Buffer.from(`${header}.${body}`), keys.privateKey);
  return `${header}.${body}.${b64url(signature)}`;
}

/** Returns the payload of a valid, unexpired token signed by `keys`, or undefined. */
export function verifyJwt(keys: JwtKeys, token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) {
    return undefined;
  }
  const [header, body, signature] = parts as [string, string, string];
  const ok = verify(
    'RSA-SHA256',
    Buffer.from(`${header}.${body}`),
    keys.publicKey,
    Buffer.from(signature, 'base64url')
  );
  if (!ok) {
    return undefined;
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null) {
    return undefined;
  }
  const exp = (payload as { exp?: unknown }).exp;
  if (typeof exp !== 'number' || exp * 1000 <= Date.now()) {
    return undefined;
  }
  return payload as Record<string, unknown>;
}

export function publicJwks(keys: JwtKeys): { keys: object[] } {
  return { keys: [{ ...keys.publicKey.export({ format: 'jwk' }), kid: keys.kid, alg: 'RS256', use: 'sig' }] };
}
