/**
 * The provider's OAuth redirect back into the app (`/connect/<provider>/callback`, RFC 6749 §4.1.2). The app does
 * not check `state` itself: connect-callback does, against the hashed state it stored, and is the only party that
 * may spend the code. What the app must get right is sending the code at most once and not leaving it in the URL
 * (history, screenshots, Referer), hence `stripOAuthParams`.
 */

export type ConnectCallbackParams =
  | { readonly kind: 'code'; readonly code: string; readonly state: string }
  | { readonly kind: 'error'; readonly error: string; readonly description: string | undefined }
  | { readonly kind: 'missing' };

/**
 * @param search - `window.location.search` of the callback page.
 * @returns What the provider sent: a code with its state, an OAuth error, or nothing usable.
 */
export function parseConnectCallback(search: string): ConnectCallbackParams {
  const params = new URLSearchParams(search);
  const error = params.get('error');
  // An error wins even beside a code: the provider said the grant failed.
  if (error) {
    return { kind: 'error', error, description: params.get('error_description') || undefined };
  }
  const code = params.get('code');
  const state = params.get('state');
  if (!code || !state) {
    return { kind: 'missing' };
  }
  return { kind: 'code', code, state };
}

/** Parameters that must not outlive their single use in the address bar. */
const SINGLE_USE_PARAMS = ['code', 'state', 'scope'];

/**
 * @param href - the callback page's full URL.
 * @returns The same URL (path, other parameters, hash) without `code`, `state` and `scope`, as a path for
 *   `history.replaceState`.
 */
export function stripOAuthParams(href: string): string {
  const url = new URL(href);
  for (const name of SINGLE_USE_PARAMS) {
    url.searchParams.delete(name);
  }
  const search = url.searchParams.toString();
  return `${url.pathname}${search ? `?${search}` : ''}${url.hash}`;
}

/**
 * The redirect URI for a provider: connect-start and connect-callback must send the very same string, and the
 * provider's app registration must list it.
 * @param origin - the app's origin, e.g. `https://baseline.example.org`.
 * @param provider - provider key.
 * @returns e.g. `https://baseline.example.org/connect/whoop/callback`.
 */
export function connectRedirectUri(origin: string, provider: string): string {
  return `${origin}/connect/${provider}/callback`;
}
