/**
 * Oura's OAuth 2.0 server as the sandbox reproduces it (reference/providers.md §3.1).
 *
 * Authorize: `GET https://cloud.ouraring.com/oauth/authorize` with `response_type=code`, `client_id`, `redirect_uri`
 *   (optional when the app registered exactly one; otherwise an exact match), `state` (optional, echoed) and `scope`
 *   (space separated; omitted → every scope is offered). The member may untick scopes on the consent page; data of
 *   an unticked scope then answers 403.
 * Token: `POST https://api.ouraring.com/oauth/token`, form body, `client_id` + `client_secret` in the body (HTTP
 *   Basic is accepted too). Codes live 10 minutes and are single-use (`invalid_grant`). The answer is standard OAuth
 *   JSON `{access_token, token_type: "Bearer", expires_in, refresh_token, scope}`; a refresh token always comes.
 * Refresh tokens are single-use: the first refresh wins and rotates; the token presented again gets
 *   `400 invalid_grant` "Token already used or revoked" (https://cloud.ouraring.com/docs/error-handling). The access
 *   token a refresh replaces stays valid until it expires (Oura does not document otherwise).
 * Revoke: `GET|POST https://api.ouraring.com/oauth/revoke?access_token=…` ends the grant with all its tokens.
 * Docs: https://cloud.ouraring.com/docs/authentication
 */
import { randomBytes } from 'node:crypto';
import type { OAuthState } from './persist.ts';

export const OURA_SCOPES = [
  'email',
  'personal',
  'daily',
  'heartrate',
  'workout',
  'tag',
  'session',
  'spo2Daily',
] as const;
export type OuraScope = (typeof OURA_SCOPES)[number];

export const SCOPE_DESCRIPTIONS: Readonly<Record<OuraScope, string>> = {
  email: 'Email address',
  personal: 'Personal information (gender, age, height, weight)',
  daily: 'Daily summaries of sleep, activity and readiness, and sleep periods',
  heartrate: 'Time series heart rate',
  workout: 'Workout summaries',
  tag: 'Tags you have added',
  session: 'Guided and unguided sessions in the Oura app',
  spo2Daily: 'Daily SpO2 (blood oxygen) average',
};

export const CODE_TTL_MS = 10 * 60_000;
/** Used refresh tokens remembered per grant, so a late duplicate is still recognised (and bounded). */
const USED_KEPT_PER_GRANT = 20;

export interface SandboxClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** Shown on the consent page. */
  name?: string;
}

export interface AuthorizationRequest {
  client: SandboxClient;
  redirectUri: string;
  scopes: OuraScope[];
  /** Absent when the app sent none (Oura echoes only what it got). */
  state?: string;
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
  /** Oura's user id (`personal_info.id`). */
  userId: string;
  scopes: OuraScope[];
  revoked: boolean;
}

interface CodeRecord {
  clientId: string;
  userId: string;
  redirectUri: string;
  scopes: OuraScope[];
  expiresAt: number;
  used: boolean;
}

export interface AccessContext {
  token: string;
  clientId: string;
  userId: string;
  scopes: OuraScope[];
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
  /** Called once after each operation that changed what the server knows (so it can be saved). */
  onChange?: () => void;
}

function token(): string {
  return randomBytes(32).toString('base64url');
}

function withQuery(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) {
      url.searchParams.set(key, value);
    }
  }
  return url.toString();
}

function tokenError(status: number, error: string, description: string): TokenResponse {
  return { status, body: { error, error_description: description } };
}

/** Parses a space-separated scope list; unknown names are returned apart. */
export function parseScopes(value: string): { scopes: OuraScope[]; unknown: string[] } {
  const names = value.split(/[\s+]+/).filter((name) => name !== '');
  const known = names.filter((name): name is OuraScope => (OURA_SCOPES as readonly string[]).includes(name));
  return { scopes: [...new Set(known)], unknown: names.filter((name) => !known.includes(name as OuraScope)) };
}

export class OAuthServer {
  private readonly options: OAuthOptions;
  private readonly clients = new Map<string, SandboxClient>();
  private readonly challenges = new Map<string, { request: AuthorizationRequest; expiresAt: number }>();
  private readonly codes = new Map<string, CodeRecord>();
  private readonly grants = new Map<string, Grant>();
  private readonly accessTokens = new Map<string, { grantId: string; expiresAt: number }>();
  private readonly refreshTokens = new Map<string, { grantId: string }>();
  private readonly usedRefreshTokens = new Map<string, { grantId: string }>();
  refreshCount = 0;
  refreshReuseRefusals = 0;

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

  /** Validates `GET /oauth/authorize`. Unknown client or redirect URI → an error page, never a redirect. */
  checkAuthorize(params: URLSearchParams): AuthorizeCheck {
    const client = this.clients.get(params.get('client_id') ?? '');
    if (!client) {
      return { kind: 'error', status: 400, error: 'invalid_client', description: 'Unknown client_id.' };
    }
    const given = params.get('redirect_uri');
    const only = client.redirectUris.length === 1 ? client.redirectUris[0] : undefined;
    const redirectUri = given ?? only;
    if (redirectUri === undefined || !client.redirectUris.includes(redirectUri)) {
      return {
        kind: 'error',
        status: 400,
        error: 'invalid_request',
        description: 'The redirect_uri does not match any redirect URI registered for this application.',
      };
    }
    const state = params.get('state') ?? undefined;
    const fail = (error: string, description: string): AuthorizeCheck => ({
      kind: 'redirect',
      location: withQuery(redirectUri, { error, error_description: description, state }),
    });
    if (params.get('response_type') !== 'code') {
      return fail('unsupported_response_type', 'response_type must be code.');
    }
    const requested = params.get('scope');
    const { scopes, unknown } = parseScopes(requested ?? '');
    if (unknown.length > 0) {
      return fail('invalid_scope', `Unknown scope: ${unknown.join(' ')}`);
    }
    return {
      kind: 'consent',
      request: {
        client,
        redirectUri,
        scopes: requested === null || scopes.length === 0 ? [...OURA_SCOPES] : scopes,
        ...(state === undefined ? {} : { state }),
      },
    };
  }

  createChallenge(request: AuthorizationRequest): string {
    const challenge = token();
    this.challenges.set(challenge, { request, expiresAt: this.options.now() + CODE_TTL_MS });
    this.changed();
    return challenge;
  }

  /**
   * The member's answer on the consent page → where the browser goes next.
   * @param granted - The scopes left ticked (a subset of those asked for).
   */
  decide(
    challenge: string,
    allow: boolean,
    userId: string,
    granted: readonly string[]
  ): { location: string } | { error: string } {
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
          error_description: 'The user denied access.',
          state: request.state,
        }),
      };
    }
    const scopes = request.scopes.filter((scope) => granted.includes(scope));
    const code = token();
    this.codes.set(code, {
      clientId: request.client.clientId,
      userId,
      redirectUri: request.redirectUri,
      scopes,
      expiresAt: this.options.now() + CODE_TTL_MS,
      used: false,
    });
    this.changed();
    return { location: withQuery(request.redirectUri, { code, scope: scopes.join(' '), state: request.state }) };
  }

  /** `POST /oauth/token` with the parsed form body and the request's Authorization header. */
  token(form: URLSearchParams, authorization: string | undefined): TokenResponse {
    let clientId = form.get('client_id') ?? '';
    let clientSecret = form.get('client_secret') ?? '';
    const basic = /^Basic (\S+)$/i.exec(authorization ?? '')?.[1];
    if (basic !== undefined) {
      const [id = '', secret = ''] = Buffer.from(basic, 'base64').toString('utf8').split(':');
      clientId = decodeURIComponent(id);
      clientSecret = decodeURIComponent(secret);
    }
    const client = this.clients.get(clientId);
    if (!client || clientSecret !== client.clientSecret) {
      return tokenError(401, 'invalid_client', 'Invalid client credentials.');
    }
    switch (form.get('grant_type')) {
      case 'authorization_code':
        return this.exchangeCode(client, form);
      case 'refresh_token':
        return this.refresh(client, form);
      default:
        return tokenError(400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token.');
    }
  }

  private exchangeCode(client: SandboxClient, form: URLSearchParams): TokenResponse {
    const code = this.codes.get(form.get('code') ?? '');
    if (!code || code.clientId !== client.clientId || code.used) {
      return tokenError(400, 'invalid_grant', 'Invalid authorization code.');
    }
    if (code.expiresAt <= this.options.now()) {
      return tokenError(400, 'invalid_grant', 'The authorization code has expired.');
    }
    const redirectUri = form.get('redirect_uri');
    if (redirectUri !== null && redirectUri !== code.redirectUri) {
      return tokenError(400, 'invalid_grant', 'redirect_uri does not match the authorization request.');
    }
    code.used = true;
    const grant: Grant = {
      id: `g_${token()}`,
      clientId: client.clientId,
      userId: code.userId,
      scopes: code.scopes,
      revoked: false,
    };
    this.grants.set(grant.id, grant);
    const body = this.issue(grant);
    this.changed();
    return { status: 200, body };
  }

  private refresh(client: SandboxClient, form: URLSearchParams): TokenResponse {
    const presented = form.get('refresh_token') ?? '';
    const current = this.refreshTokens.get(presented);
    const grant = current ? this.grants.get(current.grantId) : undefined;
    if (!current || !grant || grant.revoked || grant.clientId !== client.clientId) {
      if (this.usedRefreshTokens.has(presented)) {
        this.refreshReuseRefusals += 1;
      }
      return tokenError(
        400,
        'invalid_grant',
        'Token already used or revoked. If you are trying to use a refresh token, note that it can only be used once.'
      );
    }
    // Single use: the token dies before anything else can see it (Node runs this synchronously, so of two racing
    // requests exactly one gets here).
    this.refreshTokens.delete(presented);
    this.usedRefreshTokens.set(presented, { grantId: grant.id });
    this.refreshCount += 1;
    const body = this.issue(grant);
    // Saved before the answer leaves: the refresh token the client now holds must survive a restart right after.
    this.changed();
    return { status: 200, body };
  }

  private issue(grant: Grant): Record<string, unknown> {
    const accessToken = token();
    const refreshToken = token();
    this.accessTokens.set(accessToken, {
      grantId: grant.id,
      expiresAt: this.options.now() + this.options.accessTokenTtlSeconds * 1000,
    });
    this.refreshTokens.set(refreshToken, { grantId: grant.id });
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: this.options.accessTokenTtlSeconds,
      refresh_token: refreshToken,
      scope: grant.scopes.join(' '),
    };
  }

  private revokeGrant(grantId: string): void {
    const grant = this.grants.get(grantId);
    if (grant) {
      grant.revoked = true;
    }
    for (const [presented, record] of this.accessTokens) {
      if (record.grantId === grantId) {
        this.accessTokens.delete(presented);
      }
    }
    for (const [presented, record] of this.refreshTokens) {
      if (record.grantId === grantId) {
        this.refreshTokens.delete(presented);
      }
    }
  }

  /** `/oauth/revoke?access_token=…`: ends the grant the token belongs to. False when the token is unknown. */
  revokeAccessToken(accessToken: string): boolean {
    const record = this.accessTokens.get(accessToken);
    if (!record) {
      return false;
    }
    this.revokeGrant(record.grantId);
    this.changed();
    return true;
  }

  /** The access context of a bearer token, or undefined when it is unknown, revoked or expired. */
  authenticate(authorization: string | undefined): AccessContext | undefined {
    const presented = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
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

  /** The person removes every app in the Oura app (the sandbox's control surface). */
  revokeAllGrantsOf(userId: string): void {
    for (const grant of this.grants.values()) {
      if (grant.userId === userId) {
        this.revokeGrant(grant.id);
      }
    }
    this.changed();
  }

  /** Whether Oura would deliver this app's webhooks about this user. */
  isAuthorized(clientId: string, userId: string): boolean {
    for (const grant of this.grants.values()) {
      if (grant.clientId === clientId && grant.userId === userId && !grant.revoked) {
        return true;
      }
    }
    return false;
  }

  /** The tokens currently valid for a user (tests only); the refresh token is the grant's current one. */
  tokensFor(userId: string): IssuedTokens[] {
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

  /** What must survive a restart; expired or revoked entries are left out (they would be refused anyway). */
  exportState(): OAuthState {
    const now = this.options.now();
    const live = (grantId: string): boolean => this.grants.get(grantId)?.revoked === false;
    const usedByGrant = new Map<string, string[]>();
    for (const [presented, record] of this.usedRefreshTokens) {
      if (live(record.grantId)) {
        usedByGrant.set(record.grantId, [...(usedByGrant.get(record.grantId) ?? []), presented]);
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
          ...(request.state === undefined ? {} : { state: request.state }),
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
      usedRefreshTokens: [...usedByGrant].flatMap(([grantId, tokens]) =>
        tokens.slice(-USED_KEPT_PER_GRANT).map((presented) => ({ token: presented, grantId }))
      ),
    };
  }

  /** Restores a saved state (on start, before any request); entries of apps no longer registered are dropped. */
  importState(state: OAuthState): void {
    for (const saved of state.challenges) {
      const client = this.clients.get(saved.clientId);
      if (client) {
        this.challenges.set(saved.challenge, {
          request: {
            client,
            redirectUri: saved.redirectUri,
            scopes: saved.scopes,
            ...(saved.state === undefined ? {} : { state: saved.state }),
          },
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
    for (const { token: presented, grantId } of state.usedRefreshTokens) {
      if (this.grants.has(grantId)) {
        this.usedRefreshTokens.set(presented, { grantId });
      }
    }
  }
}
