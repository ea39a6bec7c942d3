/**
 * WHOOP Developer API v2 client: OAuth (authorization code, refresh, revoke) and the read endpoints Baseline maps.
 *
 * - Authorize: `${AUTH}/oauth2/auth` (https://developer.whoop.com/docs/developing/oauth). Token:
 *   `${AUTH}/oauth2/token`, form body with client_id + client_secret (client_secret_post; WHOOP rejects Basic auth).
 *   Refresh tokens rotate and the first concurrent refresh wins, so callers serialize refreshes per connection.
 * - Data: `${API}/v2/...`, Bearer token; collections page with `nextToken` (request) / `next_token` (response), at
 *   most 25 per page (https://developer.whoop.com/api).
 * - 429 carries `X-RateLimit-Reset` (seconds), surfaced as ProviderHttpError.retryAfterSeconds
 *   (https://developer.whoop.com/docs/developing/rate-limiting).
 * Every response is zod-parsed; a malformed one is a `bad-response` naming the endpoint, never echoing the body.
 */
import type { z } from 'zod';
import { ProviderHttpError, fetchJson, parseResponse } from '../shared/http.ts';
import type { AuthorizeParams, OAuthProvider, TokenSet } from '../shared/provider.ts';
import { authorizationCodeUrl } from '../shared/provider.ts';
import { readOptionalSecret, readSecret } from '../shared/secrets.ts';
import type { BotSecrets } from '../shared/secrets.ts';
import {
  CyclePageSchema,
  CycleSchema,
  RecoveryPageSchema,
  RecoverySchema,
  SleepPageSchema,
  SleepSchema,
  TokenResponseSchema,
  UserBasicProfileSchema,
  UserBodyMeasurementSchema,
  WorkoutPageSchema,
  WorkoutSchema,
} from './schemas.ts';
import type { WhoopBody, WhoopCycle, WhoopProfile, WhoopRecovery, WhoopSleep, WhoopWorkout } from './schemas.ts';

export const WHOOP_PROVIDER = 'whoop';
export const DEFAULT_WHOOP_API_BASE_URL = 'https://api.prod.whoop.com/developer';
export const DEFAULT_WHOOP_AUTH_BASE_URL = 'https://api.prod.whoop.com/oauth';
export const WHOOP_SCOPES: readonly string[] = [
  'offline',
  'read:recovery',
  'read:cycles',
  'read:sleep',
  'read:workout',
  'read:profile',
  'read:body_measurement',
];
/** WHOOP's documented maximum page size. */
export const WHOOP_PAGE_LIMIT = 25;

export interface WhoopClientOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly apiBaseUrl?: string;
  readonly authBaseUrl?: string;
  /** Per request; default 15 s. */
  readonly timeoutMs?: number;
  /** Safety stop for pagination; default 400 pages (10 000 records). */
  readonly maxPages?: number;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
}

export interface TimeRange {
  /** ISO instant, inclusive. */
  readonly start: string;
  /** ISO instant, exclusive. */
  readonly end: string;
}

export interface CallCounts {
  total: number;
  byEndpoint: Record<string, number>;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

export class WhoopClient implements OAuthProvider {
  readonly key = WHOOP_PROVIDER;
  readonly apiBaseUrl: string;
  readonly authBaseUrl: string;
  /** Calls made by this instance, by endpoint label (for the benchmark and rate-limit budgeting). */
  readonly calls: CallCounts = { total: 0, byEndpoint: {} };
  private readonly clientId: string;
  private readonly clientSecret: string;
  private readonly timeoutMs: number;
  private readonly maxPages: number;
  private readonly now: () => number;
  private readonly fetchImpl: typeof fetch | undefined;

  constructor(options: WhoopClientOptions) {
    this.clientId = options.clientId;
    this.clientSecret = options.clientSecret;
    this.apiBaseUrl = trimSlash(options.apiBaseUrl ?? DEFAULT_WHOOP_API_BASE_URL);
    this.authBaseUrl = trimSlash(options.authBaseUrl ?? DEFAULT_WHOOP_AUTH_BASE_URL);
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.maxPages = options.maxPages ?? 400;
    this.now = options.now ?? Date.now;
    this.fetchImpl = options.fetch;
  }

  /**
   * @param secrets - `event.secrets`: WHOOP_CLIENT_ID, WHOOP_CLIENT_SECRET, optional WHOOP_API_BASE_URL and
   *   WHOOP_AUTH_BASE_URL (the sandbox in tests and local stacks)
   * @param options - other client options
   * @returns a client
   */
  static fromSecrets(
    secrets: BotSecrets | undefined,
    options: Omit<WhoopClientOptions, 'clientId' | 'clientSecret' | 'apiBaseUrl' | 'authBaseUrl'> = {}
  ): WhoopClient {
    return new WhoopClient({
      ...options,
      clientId: readSecret(secrets, 'WHOOP_CLIENT_ID'),
      clientSecret: readSecret(secrets, 'WHOOP_CLIENT_SECRET'),
      apiBaseUrl: readOptionalSecret(secrets, 'WHOOP_API_BASE_URL'),
      authBaseUrl: readOptionalSecret(secrets, 'WHOOP_AUTH_BASE_URL'),
    });
  }

  /** https://developer.whoop.com/docs/developing/oauth — `state` must be ≥ 8 chars (ours are 43). */
  authorizeUrl(params: AuthorizeParams): string {
    return authorizationCodeUrl(`${this.authBaseUrl}/oauth2/auth`, params, WHOOP_SCOPES);
  }

  /** POST /oauth2/token grant_type=authorization_code (client_secret_post). */
  async exchangeCode(code: string, redirectUri: string): Promise<TokenSet> {
    return this.tokenRequest('POST /oauth2/token (authorization_code)', {
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
    });
  }

  /** POST /oauth2/token grant_type=refresh_token; `scope=offline` keeps a refresh token coming back. */
  async refresh(refreshToken: string): Promise<TokenSet> {
    return this.tokenRequest('POST /oauth2/token (refresh_token)', {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      scope: 'offline',
    });
  }

  /** DELETE /v2/user/access → 204; also stops WHOOP's webhooks for the user. */
  async revoke(accessToken: string): Promise<void> {
    await this.request('DELETE /v2/user/access', `${this.apiBaseUrl}/v2/user/access`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${accessToken}` },
    });
  }

  /** GET /v2/user/profile/basic → user_id as a string. */
  async userId(accessToken: string): Promise<string> {
    const profile = await this.getProfile(accessToken);
    return String(profile.user_id);
  }

  /** GET /v2/cycle (all pages in range). */
  async listCycles(accessToken: string, range: TimeRange): Promise<WhoopCycle[]> {
    return this.list(accessToken, '/v2/cycle', CyclePageSchema, range);
  }

  /** GET /v2/activity/sleep (all pages in range). */
  async listSleeps(accessToken: string, range: TimeRange): Promise<WhoopSleep[]> {
    return this.list(accessToken, '/v2/activity/sleep', SleepPageSchema, range);
  }

  /** GET /v2/recovery (all pages in range). */
  async listRecoveries(accessToken: string, range: TimeRange): Promise<WhoopRecovery[]> {
    return this.list(accessToken, '/v2/recovery', RecoveryPageSchema, range);
  }

  /** GET /v2/activity/workout (all pages in range). */
  async listWorkouts(accessToken: string, range: TimeRange): Promise<WhoopWorkout[]> {
    return this.list(accessToken, '/v2/activity/workout', WorkoutPageSchema, range);
  }

  /** GET /v2/activity/sleep/{sleepId} */
  async getSleep(accessToken: string, sleepId: string): Promise<WhoopSleep> {
    return this.get(
      accessToken,
      'GET /v2/activity/sleep/{sleepId}',
      `/v2/activity/sleep/${encodeURIComponent(sleepId)}`,
      SleepSchema
    );
  }

  /** GET /v2/activity/workout/{workoutId} */
  async getWorkout(accessToken: string, workoutId: string): Promise<WhoopWorkout> {
    return this.get(
      accessToken,
      'GET /v2/activity/workout/{workoutId}',
      `/v2/activity/workout/${encodeURIComponent(workoutId)}`,
      WorkoutSchema
    );
  }

  /** GET /v2/cycle/{cycleId} */
  async getCycle(accessToken: string, cycleId: number | string): Promise<WhoopCycle> {
    return this.get(
      accessToken,
      'GET /v2/cycle/{cycleId}',
      `/v2/cycle/${encodeURIComponent(String(cycleId))}`,
      CycleSchema
    );
  }

  /**
   * GET /v2/cycle/{cycleId}/recovery (there is no GET /v2/recovery/{id}).
   * @returns the recovery, or undefined on 404: a cycle without a recovery yet is normal, not an error
   */
  async getCycleRecovery(accessToken: string, cycleId: number | string): Promise<WhoopRecovery | undefined> {
    try {
      return await this.get(
        accessToken,
        'GET /v2/cycle/{cycleId}/recovery',
        `/v2/cycle/${encodeURIComponent(String(cycleId))}/recovery`,
        RecoverySchema
      );
    } catch (err) {
      if (err instanceof ProviderHttpError && err.kind === 'not-found') {
        return undefined;
      }
      throw err;
    }
  }

  /** GET /v2/user/profile/basic */
  async getProfile(accessToken: string): Promise<WhoopProfile> {
    return this.get(accessToken, 'GET /v2/user/profile/basic', '/v2/user/profile/basic', UserBasicProfileSchema);
  }

  /** GET /v2/user/measurement/body */
  async getBody(accessToken: string): Promise<WhoopBody> {
    return this.get(
      accessToken,
      'GET /v2/user/measurement/body',
      '/v2/user/measurement/body',
      UserBodyMeasurementSchema
    );
  }

  private async request(
    endpoint: string,
    url: string,
    init: { method?: 'GET' | 'POST' | 'DELETE'; headers?: Record<string, string>; body?: string }
  ): Promise<unknown> {
    this.calls.total += 1;
    this.calls.byEndpoint[endpoint] = (this.calls.byEndpoint[endpoint] ?? 0) + 1;
    const response = await fetchJson(url, {
      ...init,
      provider: WHOOP_PROVIDER,
      endpoint,
      timeoutMs: this.timeoutMs,
      fetch: this.fetchImpl,
    });
    return response.body;
  }

  private async get<T>(accessToken: string, endpoint: string, path: string, schema: z.ZodType<T>): Promise<T> {
    const body = await this.request(endpoint, `${this.apiBaseUrl}${path}`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    return parseResponse(schema, body, WHOOP_PROVIDER, endpoint);
  }

  private async list<T>(
    accessToken: string,
    path: string,
    schema: z.ZodType<{ records: T[]; next_token?: string | null }>,
    range: TimeRange
  ): Promise<T[]> {
    const endpoint = `GET ${path}`;
    const records: T[] = [];
    const seen = new Set<string>();
    let nextToken: string | undefined;
    for (let page = 0; page < this.maxPages; page += 1) {
      const url = new URL(`${this.apiBaseUrl}${path}`);
      url.searchParams.set('limit', String(WHOOP_PAGE_LIMIT));
      url.searchParams.set('start', range.start);
      url.searchParams.set('end', range.end);
      if (nextToken) {
        url.searchParams.set('nextToken', nextToken);
      }
      const body = await this.request(endpoint, url.toString(), {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      const parsed = parseResponse(schema, body, WHOOP_PROVIDER, endpoint);
      records.push(...parsed.records);
      if (!parsed.next_token) {
        return records;
      }
      if (seen.has(parsed.next_token)) {
        throw new ProviderHttpError({
          provider: WHOOP_PROVIDER,
          endpoint,
          kind: 'bad-response',
          detail: 'next_token repeats',
        });
      }
      seen.add(parsed.next_token);
      nextToken = parsed.next_token;
    }
    throw new ProviderHttpError({
      provider: WHOOP_PROVIDER,
      endpoint,
      kind: 'bad-response',
      detail: `more than ${this.maxPages} pages`,
    });
  }

  private async tokenRequest(endpoint: string, params: Record<string, string>): Promise<TokenSet> {
    const form = new URLSearchParams({ ...params, client_id: this.clientId, client_secret: this.clientSecret });
    let body: unknown;
    try {
      body = await this.request(endpoint, `${this.authBaseUrl}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
    } catch (err) {
      // RFC 6749: a 400 invalid_grant means the code or refresh token is dead — for the connection that is the same
      // as a 401 (re-consent needed), so callers only have to look at `kind`.
      if (err instanceof ProviderHttpError && err.status === 400 && err.oauthError === 'invalid_grant') {
        throw new ProviderHttpError({
          provider: WHOOP_PROVIDER,
          endpoint,
          kind: 'unauthorized',
          status: 400,
          oauthError: 'invalid_grant',
          cause: err,
        });
      }
      throw err;
    }
    const token = parseResponse(TokenResponseSchema, body, WHOOP_PROVIDER, endpoint);
    const set: TokenSet = {
      accessToken: token.access_token,
      expiresAt: new Date(this.now() + token.expires_in * 1000).toISOString(),
      scope: token.scope ?? '',
    };
    if (token.refresh_token) {
      set.refreshToken = token.refresh_token;
    }
    return set;
  }
}
