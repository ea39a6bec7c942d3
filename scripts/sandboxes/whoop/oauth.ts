/**
 * WHOOP's OAuth 2.0 server as the sandbox reproduces it (reference/providers.md §1.1). WHOOP runs Ory Hydra
 * (Fosite): `/oauth2/auth` + `/oauth2/token`, state of at least 8 characters (`invalid_state`), client_secret_post
 * only (Basic → 401 `invalid_client`), a refresh token only with the `offline` scope, and refresh-token rotation:
 * a refresh invalidates the previous access and refresh tokens, so of two refreshes racing with one token the second
 * gets `400 invalid_grant`. Codes are single-use and live 10 minutes; replaying a code revokes what it issued (RFC
 * 6749 §4.1.2, Fosite's behaviour). Tokens are opaque random strings.
 */
import { randomBytes } from 'node:crypto';
import type { OAuthState } from './persist.ts';

export const WHOOP_SCOPES = [
  'read:recovery',
  'read:cycles',
  'read:workout',
  'read:sleep',
  'read:profile',
  'read:body_measurement',
  'offline',
] as const;
export type WhoopScope = (typeof WHOOP_SCOPES)[number];

export const SCOPE_DESCRIPTIONS: Readonly<Record<WhoopScope, string>> = {
  'read:recovery': 'Read Recovery data, including score, heart rate variability, and resting heart rate.',
  'read:cycles': 'Read cycles data, including day Strain and average heart rate during a physiological cycle.',
  'read:workout': 'Read workout data, including activity Strain and average heart rate.',
  'read:sleep': 'Read sleep data, including performance % and duration per sleep stage.',
  'read:profile': 'Read profile data, including name and email.',
  'read:body_measurement': 'Read body measurements data, including height, weight, and max heart rate.',
  offline: 'Stay connected when you are not using the app (refresh token).',
};

export const CODE_TTL_MS = 10 * 60_000;
const MIN_STATE_LENGTH = 8;

export interface SandboxClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** Shown on the consent page. */
  name?: string;
  /** Overrides the sandbox-wide webhook URL for this app (WHOOP configures webhooks per app). */
  webhookUrl?: string;
}

export interface AuthorizationRequest {
  client: SandboxClient;
  redirectUri: string;
  scopes: WhoopScope[];
  state: string;
}

export type AuthorizeCheck =
  | { kind: 'consent'; request: AuthorizationRequest }
  | { kind: 'redirect'; location: string }
  | { kind: 'error'; status: number; error: string; description: string };

export interface TokenResponse {
  status: number;
  body: Record<string, unknown>;
}

interface Grant {
  id: string;
  clientId: string;
  userId: number;
  scopes: WhoopScope[];
  revoked: boolean;
}

interface CodeRecord {
  clientId: string;
  userId: number;
  redirectUri: string;
  scopes: WhoopScope[];
  expiresAt: number;
  used: boolean;
  grantId?: string;
}

export interface AccessContext {
  token: string;
  clientId: string;
  userId: number;
  scopes: WhoopScope[];
  grantId: string;
}

export interface IssuedTokens {
  clientId: string;
  accessToken: string;
  refreshToken?: string;
  scope: string;
  expiresAt: string;
}

export interface OAuthOptions {
  clients: SandboxClient[];
  now: () => number;
  accessTokenTtlSeconds: number;
  /**
   * What a rotated refresh token does when presented again: `reject` (WHOOP's documented behaviour: the late
   * request fails, the winner's tokens stay valid) or `revoke-grant` (Hydra's reuse detection, which also kills the
   * winner's tokens; whether WHOOP enables it is not documented).
   */
  refreshTokenReuse: 'reject' | 'revoke-grant';
  /** Called once after each operation that changed what the server knows (so it can be saved). */
  onChange?: () => void;
}

/** Rotated refresh tokens kept per grant: enough to recognise a recent reuse, bounded for a long-running demo. */
const ROTATED_KEPT_PER_GRANT = 20;

function token(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

function withQuery(uri: string, params: Record<string, string>): string {
  const url = new URL(uri);
  for (const [key, value] of Object.entries(params)) {
    url.searchParams.set(key, value);
  }
  return url.toString();
}

function tokenError(status: number, error: string, description: string): TokenResponse {
  return { status, body: { error, error_description: description } };
}

export class OAuthServer {
  private readonly options: OAuthOptions;
  private readonly clients = new Map<string, SandboxClient>();
  private readonly challenges = new Map<string, { request: AuthorizationRequest; expiresAt: number }>();
  private readonly codes = new Map<string, CodeRecord>();
  private readonly grants = new Map<string, Grant>();
  private readonly accessTokens = new Map<string, { grantId: string; expiresAt: number }>();
  private readonly refreshTokens = new Map<string, { grantId: string }>();
  private readonly rotatedRefreshTokens = new Map<string, { grantId: string }>();
  refreshCount = 0;

  constructor(options: OAuthOptions) {
    this.options = options;
    for (const client of options.clients) {
      this.clients.set(client.clientId, client);
    }
  }

  client(clientId: string): SandboxClient | undefined {
    return this.clients.get(clientId);
  }

  allClients(): SandboxClient[] {
    return [...this.clients.values()];
  }

  /** Validates `GET /oauth2/auth`. Untrusted client or redirect URI → an error page, never a redirect. */
  checkAuthorize(params: URLSearchParams): AuthorizeCheck {
    const client = this.clients.get(params.get('client_id') ?? '');
    if (!client) {
      return { kind: 'error', status: 401, error: 'invalid_client', description: 'Unknown client_id.' };
    }
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!client.redirectUris.includes(redirectUri)) {
      return {
        kind: 'error',
        status: 400,
        error: 'invalid_request',
        description:
          "The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls.",
      };
    }
    const state = params.get('state') ?? '';
    const fail = (error: string, description: string): AuthorizeCheck => ({
      kind: 'redirect',
      location: withQuery(redirectUri, {
        error,
        error_description: description,
        ...(state === '' ? {} : { state }),
      }),
    });
    if (params.get('response_type') !== 'code') {
      return fail('unsupported_response_type', 'The authorization server does not support this response type.');
    }
    if (state.length < MIN_STATE_LENGTH) {
      return fail(
        'invalid_state',
        `Request parameter 'state' must be at least be ${MIN_STATE_LENGTH} characters long to ensure sufficient entropy.`
      );
    }
    const requested = (params.get('scope') ?? '').split(' ').filter((scope) => scope !== '');
    const unknown = requested.filter((scope) => !(WHOOP_SCOPES as readonly string[]).includes(scope));
    if (unknown.length > 0) {
      return fail('invalid_scope', `The requested scope is invalid: ${unknown.join(' ')}`);
    }
    return { kind: 'consent', request: { client, redirectUri, scopes: requested as WhoopScope[], state } };
  }

  createChallenge(request: AuthorizationRequest): string {
    const challenge = token('');
    this.challenges.set(challenge, { request, expiresAt: this.options.now() + CODE_TTL_MS });
    this.changed();
    return challenge;
  }

  /** The member's answer on the consent page → where the browser goes next. */
  decide(challenge: string, allow: boolean, userId: number): { location: string } | { error: string } {
    const pending = this.challenges.get(challenge);
    this.challenges.delete(challenge);
    if (!pending || pending.expiresAt <= this.options.now()) {
      if (pending) {
        this.changed();
      }
      return { error: 'The consent request is unknown or expired. Start the authorization again.' };
    }
    const { request } = pending;
    if (!allow) {
      this.changed();
      return {
        location: withQuery(request.redirectUri, {
          error: 'access_denied',
          error_description: 'The resource owner denied the request',
          state: request.state,
        }),
      };
    }
    const code = token('');
    this.codes.set(code, {
      clientId: request.client.clientId,
      userId,
      redirectUri: request.redirectUri,
      scopes: request.scopes,
      expiresAt: this.options.now() + CODE_TTL_MS,
      used: false,
    });
    this.changed();
    // Hydra's redirect carries code, scope and state.
    return {
      location: withQuery(request.redirectUri, { code, scope: request.scopes.join(' '), state: request.state }),
    };
  }

  /** `POST /oauth2/token` with the parsed form body and the request's Authorization header. */
  token(form: URLSearchParams, authorization: string | undefined): TokenResponse {
    if (authorization !== undefined && authorization !== '') {
      return tokenError(
        401,
        'invalid_client',
        'Client authentication failed. The OAuth 2.0 Client supports client authentication method "client_secret_post", but method "client_secret_basic" was requested.'
      );
    }
    const client = this.clients.get(form.get('client_id') ?? '');
    if (!client || form.get('client_secret') !== client.clientSecret) {
      return tokenError(401, 'invalid_client', 'Client authentication failed.');
    }
    switch (form.get('grant_type')) {
      case 'authorization_code':
        return this.exchangeCode(client, form);
      case 'refresh_token':
        return this.refresh(client, form);
      default:
        return tokenError(400, 'unsupported_grant_type', 'The authorization grant type is not supported.');
    }
  }

  private exchangeCode(client: SandboxClient, form: URLSearchParams): TokenResponse {
    const code = this.codes.get(form.get('code') ?? '');
    if (!code || code.clientId !== client.clientId) {
      return tokenError(400, 'invalid_grant', 'The authorization code is invalid.');
    }
    if (code.used) {
      if (code.grantId) {
        this.revokeGrant(code.grantId);
        this.changed();
      }
      return tokenError(400, 'invalid_grant', 'The authorization code has already been used.');
    }
    if (code.expiresAt <= this.options.now()) {
      return tokenError(400, 'invalid_grant', 'The authorization code has expired.');
    }
    if (form.get('redirect_uri') !== code.redirectUri) {
      return tokenError(
        400,
        'invalid_grant',
        "The 'redirect_uri' from this request does not match the one from the authorize request."
      );
    }
    code.used = true;
    const grant: Grant = {
      id: token('g_'),
      clientId: client.clientId,
      userId: code.userId,
      scopes: code.scopes,
      revoked: false,
    };
    this.grants.set(grant.id, grant);
    code.grantId = grant.id;
    const body = this.issue(grant);
    this.changed();
    return { status: 200, body };
  }

  private refresh(client: SandboxClient, form: URLSearchParams): TokenResponse {
    const presented = form.get('refresh_token') ?? '';
    const current = this.refreshTokens.get(presented);
    if (!current) {
      const rotated = this.rotatedRefreshTokens.get(presented);
      if (rotated && this.options.refreshTokenReuse === 'revoke-grant') {
        this.revokeGrant(rotated.grantId);
        this.changed();
      }
      return tokenError(
        400,
        'invalid_grant',
        'The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.'
      );
    }
    const grant = this.grants.get(current.grantId);
    if (!grant || grant.revoked || grant.clientId !== client.clientId) {
      return tokenError(400, 'invalid_grant', 'The refresh token is invalid.');
    }
    const requested = (form.get('scope') ?? '').split(' ').filter((scope) => scope !== '');
    const outside = requested.filter((scope) => !(grant.scopes as string[]).includes(scope));
    if (outside.length > 0) {
      return tokenError(400, 'invalid_scope', `The requested scope was not granted: ${outside.join(' ')}`);
    }
    this.refreshTokens.delete(presented);
    this.rotatedRefreshTokens.set(presented, { grantId: grant.id });
    this.dropAccessTokens(grant.id);
    this.refreshCount += 1;
    const body = this.issue(grant);
    // Saved before the answer leaves: a refresh token the client holds must survive a restart right after.
    this.changed();
    return { status: 200, body };
  }

  private issue(grant: Grant): Record<string, unknown> {
    const accessToken = token('');
    this.accessTokens.set(accessToken, {
      grantId: grant.id,
      expiresAt: this.options.now() + this.options.accessTokenTtlSeconds * 1000,
    });
    const body: Record<string, unknown> = {
      access_token: accessToken,
      expires_in: this.options.accessTokenTtlSeconds,
    };
    if (grant.scopes.includes('offline')) {
      const refreshToken = token('');
      this.refreshTokens.set(refreshToken, { grantId: grant.id });
      body['refresh_token'] = refreshToken;
    }
    body['scope'] = grant.scopes.join(' ');
    body['token_type'] = 'bearer';
    return body;
  }

  private dropAccessTokens(grantId: string): void {
    for (const [accessToken, record] of this.accessTokens) {
      if (record.grantId === grantId) {
        this.accessTokens.delete(accessToken);
      }
    }
  }

  private revokeGrant(grantId: string): void {
    const grant = this.grants.get(grantId);
    if (grant) {
      grant.revoked = true;
    }
    this.dropAccessTokens(grantId);
    for (const [refreshToken, record] of this.refreshTokens) {
      if (record.grantId === grantId) {
        this.refreshTokens.delete(refreshToken);
      }
    }
  }

  /** The access context of a bearer token, or undefined when it is unknown, rotated, revoked or expired. */
  authenticate(authorization: string | undefined): AccessContext | undefined {
    const match = /^Bearer (\S+)$/i.exec(authorization ?? '');
    const presented = match?.[1];
    if (presented === undefined) {
      return undefined;
    }
    const record = this.accessTokens.get(presented);
    if (!record || record.expiresAt <= this.options.now()) {
      return undefined;
    }
    const grant = this.grants.get(record.grantId);
    if (!grant || grant.revoked) {
      return undefined;
    }
    return {
      token: presented,
      clientId: grant.clientId,
      userId: grant.userId,
      scopes: grant.scopes,
      grantId: grant.id,
    };
  }

  /** `DELETE /v2/user/access`: every grant of this user to this app goes, with its tokens (and its webhooks). */
  revokeUserAccess(context: AccessContext): void {
    for (const grant of this.grants.values()) {
      if (grant.clientId === context.clientId && grant.userId === context.userId) {
        this.revokeGrant(grant.id);
      }
    }
    this.changed();
  }

  /** The person revokes every app in WHOOP's own app (the sandbox's control surface). */
  revokeAllGrantsOf(userId: number): void {
    for (const grant of this.grants.values()) {
      if (grant.userId === userId) {
        this.revokeGrant(grant.id);
      }
    }
    this.changed();
  }

  /** Whether WHOOP would send this app webhooks about this user. */
  isAuthorized(clientId: string, userId: number): boolean {
    for (const grant of this.grants.values()) {
      if (grant.clientId === clientId && grant.userId === userId && !grant.revoked) {
        return true;
      }
    }
    return false;
  }

  /** The tokens currently valid for a user (tests only). */
  tokensFor(userId: number): IssuedTokens[] {
    const now = this.options.now();
    const result: IssuedTokens[] = [];
    for (const grant of this.grants.values()) {
      if (grant.userId !== userId || grant.revoked) {
        continue;
      }
      const refreshToken = [...this.refreshTokens].find(([, record]) => record.grantId === grant.id)?.[0];
      for (const [accessToken, record] of this.accessTokens) {
        if (record.grantId === grant.id && record.expiresAt > now) {
          result.push({
            clientId: grant.clientId,
            accessToken,
            ...(refreshToken === undefined ? {} : { refreshToken }),
            scope: grant.scopes.join(' '),
            expiresAt: new Date(record.expiresAt).toISOString(),
          });
        }
      }
    }
    return result;
  }

  private changed(): void {
    this.options.onChange?.();
  }

  /**
   * What must survive a restart. Expired challenges, codes and access tokens, and revoked grants, are left out:
   * after a restart they would be refused exactly as they are now.
   */
  exportState(): OAuthState {
    const now = this.options.now();
    const live = (grantId: string): boolean => this.grants.get(grantId)?.revoked === false;
    const rotatedByGrant = new Map<string, string[]>();
    for (const [presented, record] of this.rotatedRefreshTokens) {
      if (live(record.grantId)) {
        const list = rotatedByGrant.get(record.grantId) ?? [];
        list.push(presented);
        rotatedByGrant.set(record.grantId, list);
      }
    }
    return {
      challenges: [...this.challenges]
        .filter(([, pending]) => pending.expiresAt > now)
        .map(([challenge, { request, expiresAt }]) => ({
          challenge,
          clientId: request.client.clientId,
          redirectUri: request.redirectUri,
          scopes: request.scopes,
          state: request.state,
          expiresAt,
        })),
      codes: [...this.codes]
        .filter(([, record]) => record.expiresAt > now)
        .map(([code, record]) => ({ code, ...record })),
      grants: [...this.grants.values()].filter((grant) => !grant.revoked).map((grant) => ({ ...grant })),
      accessTokens: [...this.accessTokens]
        .filter(([, record]) => record.expiresAt > now && live(record.grantId))
        .map(([presented, record]) => ({ token: presented, ...record })),
      refreshTokens: [...this.refreshTokens]
        .filter(([, record]) => live(record.grantId))
        .map(([presented, record]) => ({ token: presented, ...record })),
      rotatedRefreshTokens: [...rotatedByGrant].flatMap(([grantId, tokens]) =>
        tokens.slice(-ROTATED_KEPT_PER_GRANT).map((presented) => ({ token: presented, grantId }))
      ),
    };
  }

  /** Restores a saved state (on start, before any request); entries of apps no longer registered are dropped. */
  importState(state: OAuthState): void {
    for (const saved of state.challenges) {
      const client = this.clients.get(saved.clientId);
      if (client) {
        this.challenges.set(saved.challenge, {
          request: { client, redirectUri: saved.redirectUri, scopes: saved.scopes, state: saved.state },
          expiresAt: saved.expiresAt,
        });
      }
    }
    for (const { code, ...record } of state.codes) {
      if (this.clients.has(record.clientId)) {
        this.codes.set(code, record);
      }
    }
    for (const grant of state.grants) {
      if (this.clients.has(grant.clientId)) {
        this.grants.set(grant.id, { ...grant });
      }
    }
    for (const { token: presented, grantId, expiresAt } of state.accessTokens) {
      if (this.grants.has(grantId)) {
        this.accessTokens.set(presented, { grantId, expiresAt });
      }
    }
    for (const { token: presented, grantId } of state.refreshTokens) {
      if (this.grants.has(grantId)) {
        this.refreshTokens.set(presented, { grantId });
      }
    }
    for (const { token: presented, grantId } of state.rotatedRefreshTokens) {
      if (this.grants.has(grantId)) {
        this.rotatedRefreshTokens.set(presented, { grantId });
      }
    }
  }
}
