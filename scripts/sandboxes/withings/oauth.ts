/**
 * Withings' OAuth 2.0 as the sandbox reproduces it (reference/providers.md §2.1; withings.yml `oauth2-*`,
 * `signaturev2-getnonce`).
 *
 * - Authorize: `GET account.withings.com/oauth2_user/authorize2`, scopes comma-separated, `state` required, the
 *   redirect URI must be one registered for the app (exact match). The code lives 30 seconds and is single-use.
 *   https://developer.withings.com/api-reference/#operation/oauth2-authorize
 * - Token: `POST wbsapi.withings.net/v2/oauth2 action=requesttoken`, grant_type authorization_code | refresh_token,
 *   authenticated by client_secret, or by nonce + signature. Always HTTP 200 with `{status, body}`; the body has
 *   `userid, access_token, refresh_token, expires_in (10800), scope (comma-separated), csrf_token, token_type`.
 *   https://developer.withings.com/api-reference/#operation/oauth2-getaccesstoken
 * - Rotation (WI-TOK): every refresh issues a new pair. "The former refresh_token stops being valid after 8 hours, or
 *   as soon as the new access_token is used. This is a safety net in case you were not able to store the new
 *   access_token and refresh_token." So inside that grace a second refresh with the old token SUCCEEDS and issues
 *   another new pair (the first new pair was presumably lost); the pair it replaces becomes "old" in turn. Once any
 *   access token issued from an old refresh token is used, that old refresh token is dead. Access tokens are not
 *   revoked by a refresh: they live their 3 hours.
 *   https://developer.withings.com/developer-guide/v3/integration-guide/public-health-data-api/get-access/access-and-refresh-tokens-no-recover
 * - Signing (WI-SIGN): `getnonce` is signed `hex(HMAC-SHA256(client_secret, "getnonce,<client_id>,<timestamp>"))`;
 *   a signed call is `hex(HMAC-SHA256(client_secret, "<action>,<client_id>,<nonce>"))`. A nonce is single-use.
 *   https://developer.withings.com/developer-guide/v3/integration-guide/bulkship-sdk/get-access/sign-your-requests
 * - Revoke: `action=revoke` with client_id, nonce, signature, userid: the tokens die (the server also drops the
 *   user's notification subscriptions for that app).
 *
 * Error statuses (body `status`, HTTP 200): 503 "Invalid Params: …" for a bad, expired or reused code or refresh
 * token, a bad nonce or signature (the status real Withings answers for a bad code, per public reports); 401 for
 * unknown client credentials.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { OAuthState } from './persist.ts';

export const WITHINGS_SCOPES = ['user.info', 'user.metrics', 'user.activity', 'user.sleepevents'] as const;
export type WithingsScope = (typeof WITHINGS_SCOPES)[number];

export const SCOPE_DESCRIPTIONS: Readonly<Record<WithingsScope, string>> = {
  'user.info': 'Your profile, devices and goals.',
  'user.metrics': 'Your measures: weight, body composition, blood pressure, heart rate, SpO2, temperature.',
  'user.activity': 'Your activity: steps, distance, calories, heart rate through the day, workouts.',
  'user.sleepevents': 'Your sleep: duration, stages, heart and breathing rate at night.',
};

export const CODE_TTL_MS = 30_000;
/** How long the consent page stays valid (Withings' login session; not documented). */
export const CONSENT_TTL_MS = 10 * 60_000;
export const OLD_REFRESH_GRACE_MS = 8 * 3_600_000;
export const NONCE_TTL_MS = 10 * 60_000;
/** How far a getnonce timestamp may be from the sandbox clock (Withings does not document it). */
export const TIMESTAMP_TOLERANCE_S = 3600;

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
  scopes: WithingsScope[];
  state: string;
}

export type AuthorizeCheck =
  | { kind: 'consent'; request: AuthorizationRequest }
  | { kind: 'redirect'; location: string }
  | { kind: 'error'; status: number; error: string; description: string };

/** A Withings answer: HTTP 200 always; `status` 0 or an error code. */
export interface WithingsAnswer {
  status: number;
  body: Record<string, unknown>;
  error?: string;
}

interface Grant {
  id: string;
  clientId: string;
  userId: number;
  scopes: WithingsScope[];
}

interface AccessRecord {
  grantId: string;
  expiresAt: number;
  used: boolean;
}

interface RefreshRecord {
  grantId: string;
  /** When a newer pair replaced it; absent while it is the current one. */
  supersededAt?: number;
  /** Access tokens issued after it was superseded: using any of them kills it. */
  successors: string[];
}

export interface AccessContext {
  token: string;
  clientId: string;
  userId: number;
  scopes: WithingsScope[];
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
  onChange?: () => void;
}

export function ok(body: Record<string, unknown> = {}): WithingsAnswer {
  return { status: 0, body };
}

export function fail(status: number, error: string): WithingsAnswer {
  return { status, body: {}, error };
}

function token(bytes = 20): string {
  // Withings' tokens are 40 hex characters.
  return randomBytes(bytes).toString('hex');
}

function withQuery(uri: string, params: Record<string, string>): string {
  const url = new URL(uri);
  for (const [key, value] of Object.entries(params)) {
    url.searchParams.set(key, value);
  }
  return url.toString();
}

/**
 * The Withings request signature: hex HMAC-SHA256 of the comma-joined values.
 * @param clientSecret - The app's client secret (the HMAC key).
 * @param values - The signed values in order, e.g. `['getnonce', clientId, timestamp]`.
 * @returns The hex signature.
 */
export function signWithings(clientSecret: string, values: readonly string[]): string {
  return createHmac('sha256', clientSecret).update(values.join(',')).digest('hex');
}

function sameHex(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

export class WithingsOAuth {
  private readonly options: OAuthOptions;
  private readonly clients = new Map<string, SandboxClient>();
  private readonly challenges = new Map<string, { request: AuthorizationRequest; expiresAt: number }>();
  private readonly codes = new Map<
    string,
    { clientId: string; userId: number; redirectUri: string; scopes: WithingsScope[]; expiresAt: number }
  >();
  private readonly grants = new Map<string, Grant>();
  private readonly accessTokens = new Map<string, AccessRecord>();
  private readonly refreshTokens = new Map<string, RefreshRecord>();
  private readonly nonces = new Map<string, { clientId: string; expiresAt: number }>();
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

  /** Validates the authorize request. An untrusted app or redirect URI gets an error page, never a redirect. */
  checkAuthorize(params: URLSearchParams): AuthorizeCheck {
    const client = this.clients.get(params.get('client_id') ?? '');
    if (!client) {
      return { kind: 'error', status: 400, error: 'invalid_client', description: 'Unknown client_id.' };
    }
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!client.redirectUris.includes(redirectUri)) {
      return {
        kind: 'error',
        status: 400,
        error: 'invalid_request',
        description: 'The redirect_uri is not one of the Callback URLs registered for this application.',
      };
    }
    const state = params.get('state') ?? '';
    if (state === '') {
      return { kind: 'error', status: 400, error: 'invalid_request', description: 'The state parameter is required.' };
    }
    const redirectError = (error: string, description: string): AuthorizeCheck => ({
      kind: 'redirect',
      location: withQuery(redirectUri, { error, error_description: description, state }),
    });
    if (params.get('response_type') !== 'code') {
      return redirectError('unsupported_response_type', 'response_type must be code.');
    }
    const requested = (params.get('scope') ?? '').split(',').map((scope) => scope.trim());
    const unknown = requested.filter((scope) => !(WITHINGS_SCOPES as readonly string[]).includes(scope));
    if (requested.length === 0 || unknown.length > 0) {
      return redirectError('invalid_scope', `Unknown scope: ${unknown.join(',')} (scopes are comma-separated).`);
    }
    return {
      kind: 'consent',
      request: { client, redirectUri, scopes: [...new Set(requested)] as WithingsScope[], state },
    };
  }

  createChallenge(request: AuthorizationRequest): string {
    const challenge = token(24);
    this.challenges.set(challenge, { request, expiresAt: this.options.now() + CONSENT_TTL_MS });
    this.changed();
    return challenge;
  }

  /** The member's answer on the consent page → where the browser goes next. */
  decide(challenge: string, allow: boolean, userId: number): { location: string } | { error: string } {
    const pending = this.challenges.get(challenge);
    this.challenges.delete(challenge);
    if (!pending || pending.expiresAt <= this.options.now()) {
      this.changed();
      return { error: 'This authorization request is unknown or expired. Start again from the app.' };
    }
    const { request } = pending;
    if (!allow) {
      this.changed();
      return { location: withQuery(request.redirectUri, { error: 'access_denied', state: request.state }) };
    }
    const code = token();
    this.codes.set(code, {
      clientId: request.client.clientId,
      userId,
      redirectUri: request.redirectUri,
      scopes: request.scopes,
      expiresAt: this.options.now() + CODE_TTL_MS,
    });
    this.changed();
    return { location: withQuery(request.redirectUri, { code, state: request.state }) };
  }

  /** Checks client_secret, or nonce + signature over `<action>,<client_id>,<nonce>`. */
  private authenticateClient(form: URLSearchParams, action: string): SandboxClient | WithingsAnswer {
    const client = this.clients.get(form.get('client_id') ?? '');
    if (!client) {
      return fail(401, 'Invalid client_id');
    }
    const secret = form.get('client_secret');
    if (secret !== null) {
      return secret === client.clientSecret ? client : fail(401, 'Invalid client_secret');
    }
    const signature = form.get('signature') ?? '';
    const nonce = form.get('nonce') ?? '';
    const stored = this.nonces.get(nonce);
    if (!stored || stored.clientId !== client.clientId || stored.expiresAt <= this.options.now()) {
      return fail(503, 'Invalid Params: invalid nonce');
    }
    // Single use, even when the signature turns out wrong.
    this.nonces.delete(nonce);
    if (!sameHex(signature, signWithings(client.clientSecret, [action, client.clientId, nonce]))) {
      return fail(503, 'Invalid Params: invalid signature');
    }
    return client;
  }

  /** `POST /v2/signature action=getnonce`. */
  getNonce(form: URLSearchParams): WithingsAnswer {
    const client = this.clients.get(form.get('client_id') ?? '');
    if (!client) {
      return fail(401, 'Invalid client_id');
    }
    const timestamp = form.get('timestamp') ?? '';
    if (!/^\d+$/.test(timestamp)) {
      return fail(503, 'Invalid Params: timestamp');
    }
    if (Math.abs(Number(timestamp) - this.options.now() / 1000) > TIMESTAMP_TOLERANCE_S) {
      return fail(503, 'Invalid Params: timestamp too far from the current time');
    }
    const expected = signWithings(client.clientSecret, ['getnonce', client.clientId, timestamp]);
    if (!sameHex(form.get('signature') ?? '', expected)) {
      return fail(503, 'Invalid Params: invalid signature');
    }
    const nonce = token();
    this.nonces.set(nonce, { clientId: client.clientId, expiresAt: this.options.now() + NONCE_TTL_MS });
    return ok({ nonce });
  }

  /** `POST /v2/oauth2 action=requesttoken`. */
  requestToken(form: URLSearchParams): WithingsAnswer & { grantType?: 'authorization_code' | 'refresh_token' } {
    const client = this.authenticateClient(form, 'requesttoken');
    if ('status' in client) {
      return client;
    }
    switch (form.get('grant_type')) {
      case 'authorization_code':
        return { ...this.exchangeCode(client, form), grantType: 'authorization_code' };
      case 'refresh_token':
        return { ...this.refresh(client, form), grantType: 'refresh_token' };
      default:
        return fail(503, 'Invalid Params: grant_type');
    }
  }

  private exchangeCode(client: SandboxClient, form: URLSearchParams): WithingsAnswer {
    const presented = form.get('code') ?? '';
    const code = this.codes.get(presented);
    if (!code || code.clientId !== client.clientId || code.expiresAt <= this.options.now()) {
      return fail(503, 'Invalid Params: invalid code');
    }
    if (form.get('redirect_uri') !== code.redirectUri) {
      return fail(503, 'Invalid Params: redirect_uri mismatch');
    }
    this.codes.delete(presented);
    const grant: Grant = { id: token(), clientId: client.clientId, userId: code.userId, scopes: code.scopes };
    this.grants.set(grant.id, grant);
    const body = this.issue(grant);
    this.changed();
    return ok(body);
  }

  private refreshValid(record: RefreshRecord, now: number): boolean {
    if (record.supersededAt === undefined) {
      return true;
    }
    if (now >= record.supersededAt + OLD_REFRESH_GRACE_MS) {
      return false;
    }
    return !record.successors.some((successor) => this.accessTokens.get(successor)?.used === true);
  }

  private refresh(client: SandboxClient, form: URLSearchParams): WithingsAnswer {
    const presented = form.get('refresh_token') ?? '';
    const record = this.refreshTokens.get(presented);
    const now = this.options.now();
    const grant = record ? this.grants.get(record.grantId) : undefined;
    if (!record || !grant || grant.clientId !== client.clientId || !this.refreshValid(record, now)) {
      return fail(503, 'Invalid Params: invalid refresh_token');
    }
    const body = this.issue(grant);
    const newAccess = String(body['access_token']);
    const newRefresh = String(body['refresh_token']);
    // Every refresh token of the grant still current (the presented one, or the pair a lost answer carried) is now
    // the "old" one: valid 8 h more, or until the new access token is used.
    for (const [value, other] of this.refreshTokens) {
      if (other.grantId !== grant.id || value === newRefresh) {
        continue;
      }
      if (value === presented || other.supersededAt === undefined) {
        other.supersededAt ??= now;
        other.successors.push(newAccess);
      }
    }
    this.refreshCount += 1;
    this.prune(now);
    this.changed();
    return ok(body);
  }

  private issue(grant: Grant): Record<string, unknown> {
    const accessToken = token();
    const refreshToken = token();
    const now = this.options.now();
    this.accessTokens.set(accessToken, {
      grantId: grant.id,
      expiresAt: now + this.options.accessTokenTtlSeconds * 1000,
      used: false,
    });
    this.refreshTokens.set(refreshToken, { grantId: grant.id, successors: [] });
    return {
      userid: grant.userId,
      access_token: accessToken,
      refresh_token: refreshToken,
      expires_in: this.options.accessTokenTtlSeconds,
      scope: grant.scopes.join(','),
      csrf_token: randomBytes(16).toString('base64url').slice(0, 32),
      token_type: 'Bearer',
    };
  }

  /** Forgets what can never be valid again (expired access tokens, old refresh tokens past their grace). */
  private prune(now: number): void {
    for (const [value, record] of this.accessTokens) {
      if (record.expiresAt <= now && !this.isSuccessorOfLiveRefresh(value)) {
        this.accessTokens.delete(value);
      }
    }
    for (const [value, record] of this.refreshTokens) {
      if (!this.refreshValid(record, now)) {
        this.refreshTokens.delete(value);
      }
    }
  }

  private isSuccessorOfLiveRefresh(accessToken: string): boolean {
    for (const record of this.refreshTokens.values()) {
      if (record.supersededAt !== undefined && record.successors.includes(accessToken)) {
        return true;
      }
    }
    return false;
  }

  /** `POST /v2/oauth2 action=revoke` (client_id, nonce, signature, userid). Returns the revoked user on success. */
  revoke(form: URLSearchParams): WithingsAnswer & { revoked?: { clientId: string; userId: number } } {
    const client = this.authenticateClient(form, 'revoke');
    if ('status' in client) {
      return client;
    }
    const userId = Number(form.get('userid') ?? '');
    if (!Number.isInteger(userId)) {
      return fail(503, 'Invalid Params: userid');
    }
    const found = [...this.grants.values()].some(
      (grant) => grant.clientId === client.clientId && grant.userId === userId
    );
    if (!found) {
      return fail(503, 'Invalid Params: this user has not authorized this application');
    }
    this.revokeWhere((grant) => grant.clientId === client.clientId && grant.userId === userId);
    return { ...ok(), revoked: { clientId: client.clientId, userId } };
  }

  /** The person removes every app in Health Mate (the sandbox's control surface). */
  revokeAllGrantsOf(userId: number): void {
    this.revokeWhere((grant) => grant.userId === userId);
  }

  private revokeWhere(predicate: (grant: Grant) => boolean): void {
    for (const grant of [...this.grants.values()]) {
      if (!predicate(grant)) {
        continue;
      }
      this.grants.delete(grant.id);
      for (const [value, record] of this.accessTokens) {
        if (record.grantId === grant.id) {
          this.accessTokens.delete(value);
        }
      }
      for (const [value, record] of this.refreshTokens) {
        if (record.grantId === grant.id) {
          this.refreshTokens.delete(value);
        }
      }
    }
    this.changed();
  }

  /** The access context of a bearer token (and marks it used), or undefined when unknown, revoked or expired. */
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
    if (!grant) {
      return undefined;
    }
    if (!record.used) {
      // First use of a new access token: the refresh token it replaced dies now (WI-TOK).
      record.used = true;
      this.changed();
    }
    return {
      token: presented,
      clientId: grant.clientId,
      userId: grant.userId,
      scopes: grant.scopes,
      grantId: grant.id,
    };
  }

  isAuthorized(clientId: string, userId: number): boolean {
    return [...this.grants.values()].some((grant) => grant.clientId === clientId && grant.userId === userId);
  }

  /** The live tokens of a user (tests only): each unexpired access token with its grant's current refresh token. */
  tokensFor(userId: number): IssuedTokens[] {
    const now = this.options.now();
    const result: IssuedTokens[] = [];
    for (const grant of this.grants.values()) {
      if (grant.userId !== userId) {
        continue;
      }
      const refreshToken = [...this.refreshTokens].find(
        ([, record]) => record.grantId === grant.id && record.supersededAt === undefined
      )?.[0];
      for (const [accessToken, record] of this.accessTokens) {
        if (record.grantId === grant.id && record.expiresAt > now) {
          result.push({
            clientId: grant.clientId,
            accessToken,
            ...(refreshToken === undefined ? {} : { refreshToken }),
            scope: grant.scopes.join(','),
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

  /** What must survive a restart; expired challenges and codes are left out (they would be refused anyway). */
  exportState(): OAuthState {
    const now = this.options.now();
    this.prune(now);
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
      codes: [...this.codes].filter(([, code]) => code.expiresAt > now).map(([code, record]) => ({ code, ...record })),
      grants: [...this.grants.values()].map((grant) => ({ ...grant })),
      accessTokens: [...this.accessTokens].map(([value, record]) => ({ token: value, ...record })),
      refreshTokens: [...this.refreshTokens].map(([value, record]) => ({
        token: value,
        grantId: record.grantId,
        successors: [...record.successors],
        ...(record.supersededAt === undefined ? {} : { supersededAt: record.supersededAt }),
      })),
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
    for (const { token: value, ...record } of state.accessTokens) {
      if (this.grants.has(record.grantId)) {
        this.accessTokens.set(value, record);
      }
    }
    for (const { token: value, ...record } of state.refreshTokens) {
      if (this.grants.has(record.grantId)) {
        this.refreshTokens.set(value, { ...record, successors: [...record.successors] });
      }
    }
  }
}
