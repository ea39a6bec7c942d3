/**
 * The OAuth redirect URI is pinned server-side: connect-start and connect-callback accept only
 * `<app base URL>/connect/<provider>/callback` for an app base URL in the `BASELINE_APP_URLS` Project secret
 * (comma-separated; deploy writes it from BASELINE_APP_URL). Without the pin, a caller could have the provider send
 * the authorization code to a host it controls (the provider checks its own registered list too, but Baseline must
 * not depend on how strictly an operator registered it). Without the secret only a loopback app (http on 127.0.0.1
 * or localhost, any port: `npm start`, the tests) is accepted — a code sent there never leaves the owner's own
 * machine — so a production deployment that forgot the secret fails closed.
 */
import { readOptionalSecret } from '../shared/secrets.ts';
import type { BotSecrets } from '../shared/secrets.ts';

export const APP_URLS_SECRET = 'BASELINE_APP_URLS';
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost']);

function normalizeBase(url: string): string | undefined {
  try {
    const parsed = new URL(url.trim());
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      return undefined;
    }
    return parsed.origin + parsed.pathname.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}

/**
 * @param secrets - `event.secrets`
 * @param provider - provider key
 * @returns every redirect URI the BASELINE_APP_URLS secret allows for the provider (none when it is not set)
 */
export function allowedRedirectUris(secrets: BotSecrets | undefined, provider: string): string[] {
  const raw = readOptionalSecret(secrets, APP_URLS_SECRET);
  if (raw === undefined) {
    return [];
  }
  return raw
    .split(',')
    .map(normalizeBase)
    .filter((base): base is string => base !== undefined)
    .map((base) => `${base}/connect/${provider}/callback`);
}

function isLoopbackCallback(redirectUri: string, provider: string): boolean {
  try {
    const url = new URL(redirectUri);
    return (
      url.protocol === 'http:' &&
      LOOPBACK_HOSTS.has(url.hostname) &&
      url.pathname === `/connect/${provider}/callback` &&
      url.search === '' &&
      url.hash === '' &&
      url.username === '' &&
      url.password === '' &&
      redirectUri === url.href
    );
  } catch {
    return false;
  }
}

/**
 * Throws `Redirect URI is not allowed` unless the URI is exactly one of the allowed ones (or, without the secret, a
 * loopback callback).
 * @param secrets - `event.secrets`
 * @param provider - provider key
 * @param redirectUri - what the app sent
 */
export function checkRedirectUri(secrets: BotSecrets | undefined, provider: string, redirectUri: string): void {
  const configured = readOptionalSecret(secrets, APP_URLS_SECRET) !== undefined;
  const allowed = configured
    ? allowedRedirectUris(secrets, provider).includes(redirectUri)
    : isLoopbackCallback(redirectUri, provider);
  if (!allowed) {
    throw new Error('Redirect URI is not allowed');
  }
}
