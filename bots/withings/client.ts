/**
 * Withings Public Health Data API client: OAuth (authorization code, refresh, signed revoke), the read endpoints
 * Baseline maps, and the per-user notification subscriptions.
 *
 * Protocol (https://developer.withings.com/api-reference, reference/providers.md §2):
 * - Authorize: `https://account.withings.com/oauth2_user/authorize2`, scopes COMMA-separated, `state` required
 *   (https://developer.withings.com/developer-guide/v3/integration-guide/public-health-data-api/get-access/oauth-web-flow).
 *   The code lives 30 seconds, so connect-callback exchanges it at once.
 * - Token: `POST https://wbsapi.withings.net/v2/oauth2 action=requesttoken` with client_id + client_secret in the
 *   form body. The answer names the user (`userid`, int or string): it becomes TokenSet.providerUserId, since there
 *   is no endpoint that maps a bare access token to its user. Refresh tokens rotate: the new one must be stored; the
 *   old one stays valid up to 8 hours or until the new access token is used
 *   (https://developer.withings.com/developer-guide/v3/integration-guide/public-health-data-api/get-access/access-and-refresh-tokens-no-recover).
 * - Revoke: `POST /v2/signature action=getnonce` (signature = hex HMAC-SHA256(client_secret,
 *   "getnonce,<client_id>,<timestamp>")), then `POST /v2/oauth2 action=revoke` signed over
 *   "revoke,<client_id>,<nonce>" with the user id; Withings then also drops the user's notification subscriptions
 *   (https://developer.withings.com/developer-guide/v3/integration-guide/bulkship-sdk/get-access/sign-your-requests).
 * - Data: every service is `POST <API>/<service>` with a form body and an `action`, Bearer token. Every answer is
 *   HTTP 200 `{status, body, error?}`; `status` 0 is success and every other status is mapped by classifyWithingsStatus
 *   onto a ProviderHttpError kind (retry / reconnect / operator error). getmeas pages with `offset` + `more` (0/1),
 *   the v2 endpoints with `offset` + `more` (boolean).
 * - Rate limit: 120 requests a minute for the whole app; exceeding it answers status 601 (rate-limited, retry after
 *   60 s). Calls are sequential. https://developer.withings.com/developer-guide/v3/data-api/keep-user-data-up-to-date/
 * Errors never carry a token, code, URL or response body: the `error` text Withings sends is reduced to its status.
 */
import { createHmac } from 'node:crypto';
import type { z } from 'zod';
import { ProviderHttpError, RateLimitWaiter, fetchJson, parseResponse } from '../shared/http.ts';
import type { ProviderHttpErrorKind } from '../shared/http.ts';
import type { AuthorizeParams, OAuthProvider, TokenSet } from '../shared/provider.ts';
import { authorizationCodeUrl } from '../shared/provider.ts';
import { readOptionalSecret, readSecret } from '../shared/secrets.ts';
import type { BotSecrets } from '../shared/secrets.ts';
import {
  ActivityBodySchema,
  EnvelopeSchema,
  IntradayBodySchema,
  MeasureBodySchema,
  NonceBodySchema,
  NotifyListBodySchema,
  SleepSummaryBodySchema,
  TokenBodySchema,
  WorkoutBodySchema,
} from './schemas.ts';
import type {
  WithingsActivity,
  WithingsIntradayPoint,
  WithingsMeasureGroup,
  WithingsSleepSummary,
  WithingsWorkout,
} from './schemas.ts';

export const WITHINGS_PROVIDER = 'withings';
export const DEFAULT_WITHINGS_API_BASE_URL = 'https://wbsapi.withings.net';
export const DEFAULT_WITHINGS_AUTH_BASE_URL = 'https://account.withings.com';
export const WITHINGS_SCOPES: readonly string[] = ['user.info', 'user.metrics', 'user.activity', 'user.sleepevents'];
/** Seconds to wait after a 601 when Withings says nothing more (its limit is per minute). */
export const RATE_LIMIT_RETRY_SECONDS = 60;
/** The measure types Baseline maps (mappers.ts MEASURE_TYPES); getmeas is asked for these only. */
export const MEASURE_TYPES_REQUESTED: readonly number[] = [
  1, 4, 5, 6, 8, 9, 10, 11, 12, 54, 71, 73, 76, 77, 88, 91, 123,
];
const REVOKE_ENDPOINT = 'POST /v2/oauth2 revoke';
/** getmeas category 1: real measures (2 is the user's objectives, which are not measurements). */
const REAL_MEASURES = 1;

// ---------------------------------------------------------------------------------------------------------------
// Status table (the spec's `response_status`, reference/providers.md §2.1). Withings answers HTTP 200 for every
// error; the body's status says what happened.

export type StatusClass =
  { readonly ok: true } | { readonly ok: false; readonly kind: ProviderHttpErrorKind; readonly meaning: string };

type Range = readonly [number, number];
const AUTH_FAILED: readonly Range[] = [
  [100, 102],
  [200, 200],
  [401, 401],
];
const FORBIDDEN: readonly Range[] = [
  [214, 214],
  [277, 277],
  [2553, 2553],
  [2555, 2555],
];
/** "Invalid params" in the spec, plus 503 (the status real and sandbox answers use for a bad parameter). */
const INVALID_PARAMS: readonly Range[] = [
  [201, 213],
  [216, 218],
  [220, 221],
  [223, 223],
  [225, 225],
  [227, 230],
  [234, 236],
  [238, 238],
  [240, 252],
  [254, 254],
  [260, 267],
  [271, 272],
  [275, 276],
  [283, 288],
  [290, 290],
  [293, 295],
  [297, 297],
  [300, 304],
  [321, 321],
  [323, 353],
  [380, 382],
  [400, 400],
  [501, 511],
  [503, 503],
  [523, 523],
  [532, 532],
  [3017, 3019],
];

function inRanges(status: number, ranges: readonly Range[]): boolean {
  return ranges.some(([lo, hi]) => status >= lo && status <= hi);
}

/**
 * What a Withings body status means for Baseline:
 *   0 → ok; 100–102, 200, 401 → unauthorized (the sync refreshes once; on the token endpoint: reconnect);
 *   214, 277, 2553, 2555 → forbidden (missing scope or plan: retry cannot fix it soon, the sweeper retries with
 *   backoff); the invalid-params ranges and 503 → bad-request; 601 → rate-limited (retry after 60 s);
 *   522 → timeout (retry); 2554 → not implemented (an operator/code error: bad-request); anything else (524 "bad
 *   state", 5xx, unknown) → server (retry).
 * @param status - the body's `status`
 * @returns ok, or the error kind and a short meaning for messages
 */
export function classifyWithingsStatus(status: number): StatusClass {
  if (status === 0) {
    return { ok: true };
  }
  if (inRanges(status, AUTH_FAILED)) {
    return { ok: false, kind: 'unauthorized', meaning: 'authentication failed' };
  }
  if (inRanges(status, FORBIDDEN)) {
    return { ok: false, kind: 'forbidden', meaning: 'not allowed for this user or app' };
  }
  if (status === 601) {
    return { ok: false, kind: 'rate-limited', meaning: 'too many requests' };
  }
  if (status === 522) {
    return { ok: false, kind: 'timeout', meaning: 'timeout at Withings' };
  }
  if (status === 2554) {
    return { ok: false, kind: 'bad-request', meaning: 'action not implemented (operator error)' };
  }
  if (inRanges(status, INVALID_PARAMS)) {
    return { ok: false, kind: 'bad-request', meaning: 'invalid parameters' };
  }
  return { ok: false, kind: 'server', meaning: 'an error occurred at Withings' };
}

/** On the token endpoint, an `error` text naming the app's own credentials: the operator must fix the secrets. */
const CLIENT_CREDENTIAL_ERROR = /client[_ ]?(id|secret)|invalid_client|signature/i;
/** On the token endpoint, an `error` text naming the grant: the code or refresh token is dead (reconnect). */
const GRANT_ERROR = /refresh[_ ]?token|\bcode\b|invalid_grant/i;
/** On revoke, Withings' way of saying the user's grant is already gone (an invalid-params status). */
const ALREADY_REVOKED = /not authori[sz]ed/i;

// ---------------------------------------------------------------------------------------------------------------

export interface WithingsClientOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly apiBaseUrl?: string;
  readonly authBaseUrl?: string;
  /** Per request; default 15 s. */
  readonly timeoutMs?: number;
  /** Safety stop for pagination; default 200 pages. */
  readonly maxPages?: number;
  /**
   * How long data calls of this client may wait out status 601 in all (http.ts RateLimitWaiter); default 0: throw at
   * once. The sync sets it, so a backfill proceeds at the app's 120/min instead of failing its window.
   */
  readonly rateLimitWaitMs?: number;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
}

/** Either a date range or `lastupdate` (Withings refuses both together: it then returns nothing). */
export type MeasureQuery = { readonly startdate: number; readonly enddate: number } | { readonly lastupdate: number };
export type DayQuery = { readonly startdateymd: string; readonly enddateymd: string } | { readonly lastupdate: number };

export interface CallCounts {
  total: number;
  byEndpoint: Record<string, number>;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function hmacHex(key: string, message: string): string {
  return createHmac('sha256', key).update(message).digest('hex');
}

function queryParams(query: MeasureQuery | DayQuery): Record<string, string> {
  return Object.fromEntries(Object.entries(query).map(([k, v]) => [k, String(v)]));
}

export class WithingsClient implements OAuthProvider {
  readonly key = WITHINGS_PROVIDER;
  readonly apiBaseUrl: string;
  readonly authBaseUrl: string;
  readonly clientId: string;
  /** Calls made by this instance, by endpoint label (for the benchmark and rate-limit budgeting). */
  readonly calls: CallCounts = { total: 0, byEndpoint: {} };
  private readonly clientSecret: string;
  private readonly timeoutMs: number;
  private readonly maxPages: number;
  private readonly waiter: RateLimitWaiter;
  private readonly now: () => number;
  private readonly fetchImpl: typeof fetch | undefined;

  constructor(options: WithingsClientOptions) {
    this.clientId = options.clientId;
    this.clientSecret = options.clientSecret;
    this.apiBaseUrl = trimSlash(options.apiBaseUrl ?? DEFAULT_WITHINGS_API_BASE_URL);
    this.authBaseUrl = trimSlash(options.authBaseUrl ?? DEFAULT_WITHINGS_AUTH_BASE_URL);
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.maxPages = options.maxPages ?? 200;
    this.waiter = new RateLimitWaiter(options.rateLimitWaitMs ?? 0);
    this.now = options.now ?? Date.now;
    this.fetchImpl = options.fetch;
  }

  /**
   * @param secrets - `event.secrets`: WITHINGS_CLIENT_ID, WITHINGS_CLIENT_SECRET, optional WITHINGS_API_BASE_URL and
   *   WITHINGS_AUTH_BASE_URL (a sandbox)
   * @param options - other client options
   * @returns a client
   */
  static fromSecrets(
    secrets: BotSecrets | undefined,
    options: Omit<WithingsClientOptions, 'clientId' | 'clientSecret' | 'apiBaseUrl' | 'authBaseUrl'> = {}
  ): WithingsClient {
    return new WithingsClient({
      ...options,
      clientId: readSecret(secrets, 'WITHINGS_CLIENT_ID'),
      clientSecret: readSecret(secrets, 'WITHINGS_CLIENT_SECRET'),
      apiBaseUrl: readOptionalSecret(secrets, 'WITHINGS_API_BASE_URL'),
      authBaseUrl: readOptionalSecret(secrets, 'WITHINGS_AUTH_BASE_URL'),
    });
  }

  /** https://developer.withings.com/api-reference#operation/oauth2-authorize — comma-separated scopes. */
  authorizeUrl(params: AuthorizeParams): string {
    return authorizationCodeUrl(`${this.authBaseUrl}/oauth2_user/authorize2`, params, WITHINGS_SCOPES, ',');
  }

  /** POST /v2/oauth2 action=requesttoken grant_type=authorization_code. */
  async exchangeCode(code: string, redirectUri: string): Promise<TokenSet> {
    return this.tokenRequest('POST /v2/oauth2 requesttoken (authorization_code)', {
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
    });
  }

  /** POST /v2/oauth2 action=requesttoken grant_type=refresh_token; the answer carries a new refresh token. */
  async refresh(refreshToken: string): Promise<TokenSet> {
    return this.tokenRequest('POST /v2/oauth2 requesttoken (refresh_token)', {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
    });
  }

  /**
   * Revokes the user's grant with a signed request (getnonce, then revoke by user id). The access token is not
   * needed: Withings revokes by user id, authenticated by the app's signature.
   */
  async revoke(_accessToken: string, providerUserId: string): Promise<void> {
    if (!/^\d{1,20}$/.test(providerUserId)) {
      throw new Error('Withings revoke needs the numeric Withings user id');
    }
    const nonce = await this.nonce();
    await this.call(REVOKE_ENDPOINT, '/v2/oauth2', {
      action: 'revoke',
      client_id: this.clientId,
      nonce,
      signature: hmacHex(this.clientSecret, `revoke,${this.clientId},${nonce}`),
      userid: providerUserId,
    });
  }

  /**
   * Withings has no endpoint that names the owner of a bare access token: the user id comes with the token answer
   * (TokenSet.providerUserId), which connect-callback uses.
   */
  async userId(_accessToken: string): Promise<string> {
    throw new Error(
      'Withings names the user only in the token response (TokenSet.providerUserId); it has no user-id endpoint'
    );
  }

  /** POST /v2/signature action=getnonce, signed over "getnonce,<client_id>,<timestamp>". */
  async nonce(): Promise<string> {
    const timestamp = String(Math.floor(this.now() / 1000));
    const body = await this.call('POST /v2/signature getnonce', '/v2/signature', {
      action: 'getnonce',
      client_id: this.clientId,
      timestamp,
      signature: hmacHex(this.clientSecret, `getnonce,${this.clientId},${timestamp}`),
    });
    return parseResponse(NonceBodySchema, body, WITHINGS_PROVIDER, 'POST /v2/signature getnonce').nonce;
  }

  /** POST /measure action=getmeas (category 1, Baseline's measure types), every page. */
  async getMeasures(
    accessToken: string,
    query: MeasureQuery
  ): Promise<{ groups: WithingsMeasureGroup[]; timezone: string | undefined }> {
    const endpoint = 'POST /measure getmeas';
    const groups: WithingsMeasureGroup[] = [];
    let timezone: string | undefined;
    let offset: number | undefined;
    for (let page = 0; page < this.maxPages; page += 1) {
      const params: Record<string, string> = {
        action: 'getmeas',
        meastypes: MEASURE_TYPES_REQUESTED.join(','),
        category: String(REAL_MEASURES),
        ...queryParams(query),
      };
      if (offset !== undefined) {
        params.offset = String(offset);
      }
      const body = parseResponse(
        MeasureBodySchema,
        await this.call(endpoint, '/measure', params, accessToken),
        WITHINGS_PROVIDER,
        endpoint
      );
      groups.push(...body.measuregrps);
      timezone = timezone ?? body.timezone ?? undefined;
      const next = this.nextOffset(endpoint, body.more === true, body.offset, offset);
      if (next === undefined) {
        return { groups, timezone };
      }
      offset = next;
    }
    throw this.tooManyPages(endpoint);
  }

  /** POST /v2/measure action=getactivity, every page. */
  async getActivity(accessToken: string, query: DayQuery): Promise<WithingsActivity[]> {
    return this.pagedV2(
      'POST /v2/measure getactivity',
      '/v2/measure',
      'getactivity',
      query,
      accessToken,
      ActivityBodySchema,
      (b) => b.activities
    );
  }

  /** POST /v2/measure action=getworkouts, every page. */
  async getWorkouts(accessToken: string, query: DayQuery): Promise<WithingsWorkout[]> {
    return this.pagedV2(
      'POST /v2/measure getworkouts',
      '/v2/measure',
      'getworkouts',
      query,
      accessToken,
      WorkoutBodySchema,
      (b) => b.series
    );
  }

  /** POST /v2/sleep action=getsummary, every page. */
  async getSleepSummaries(accessToken: string, query: DayQuery): Promise<WithingsSleepSummary[]> {
    return this.pagedV2(
      'POST /v2/sleep getsummary',
      '/v2/sleep',
      'getsummary',
      query,
      accessToken,
      SleepSummaryBodySchema,
      (b) => b.series
    );
  }

  /**
   * POST /v2/measure action=getintradayactivity for heart rate and steps. Withings returns at most the first 24 hours
   * after `startdate`, so callers ask one day at a time.
   * @returns the points by epoch second
   */
  async getIntraday(
    accessToken: string,
    range: { readonly startdate: number; readonly enddate: number }
  ): Promise<{ t: number; point: WithingsIntradayPoint }[]> {
    const endpoint = 'POST /v2/measure getintradayactivity';
    const body = parseResponse(
      IntradayBodySchema,
      await this.call(
        endpoint,
        '/v2/measure',
        {
          action: 'getintradayactivity',
          startdate: String(range.startdate),
          enddate: String(range.enddate),
          data_fields: 'heart_rate,steps',
        },
        accessToken
      ),
      WITHINGS_PROVIDER,
      endpoint
    );
    if (Array.isArray(body.series)) {
      return [];
    }
    return Object.entries(body.series)
      .map(([t, point]) => ({ t: Number(t), point }))
      .sort((a, b) => a.t - b.t);
  }

  /** POST /notify action=subscribe (Withings HEAD-checks the callback URL first). */
  async subscribe(accessToken: string, appli: number, callbackUrl: string, comment: string): Promise<void> {
    await this.call(
      'POST /notify subscribe',
      '/notify',
      { action: 'subscribe', appli: String(appli), callbackurl: callbackUrl, comment },
      accessToken
    );
  }

  /** POST /notify action=revoke for one category. */
  async unsubscribe(accessToken: string, appli: number, callbackUrl: string): Promise<void> {
    await this.call(
      'POST /notify revoke',
      '/notify',
      { action: 'revoke', appli: String(appli), callbackurl: callbackUrl },
      accessToken
    );
  }

  /** POST /notify action=list → the user's subscriptions. */
  async listSubscriptions(accessToken: string): Promise<{ appli: number; callbackurl: string }[]> {
    const endpoint = 'POST /notify list';
    const body = await this.call(endpoint, '/notify', { action: 'list' }, accessToken);
    return parseResponse(NotifyListBodySchema, body, WITHINGS_PROVIDER, endpoint).profiles;
  }

  private async pagedV2<B, T>(
    endpoint: string,
    path: string,
    action: string,
    query: DayQuery,
    accessToken: string,
    schema: z.ZodType<B & { more?: boolean | undefined; offset?: number | null | undefined }>,
    items: (body: B) => T[]
  ): Promise<T[]> {
    const out: T[] = [];
    let offset: number | undefined;
    for (let page = 0; page < this.maxPages; page += 1) {
      const params: Record<string, string> = { action, ...queryParams(query) };
      if (offset !== undefined) {
        params.offset = String(offset);
      }
      const body = parseResponse(
        schema,
        await this.call(endpoint, path, params, accessToken),
        WITHINGS_PROVIDER,
        endpoint
      );
      out.push(...items(body));
      const next = this.nextOffset(endpoint, body.more === true, body.offset, offset);
      if (next === undefined) {
        return out;
      }
      offset = next;
    }
    throw this.tooManyPages(endpoint);
  }

  /** @returns the next page's offset, undefined when done; throws when Withings repeats an offset */
  private nextOffset(
    endpoint: string,
    more: boolean,
    offset: number | null | undefined,
    previous: number | undefined
  ): number | undefined {
    if (!more) {
      return undefined;
    }
    if (offset === null || offset === undefined || (previous !== undefined && offset <= previous)) {
      throw new ProviderHttpError({
        provider: WITHINGS_PROVIDER,
        endpoint,
        kind: 'bad-response',
        detail: 'more pages announced without a new offset',
      });
    }
    return offset;
  }

  private tooManyPages(endpoint: string): ProviderHttpError {
    return new ProviderHttpError({
      provider: WITHINGS_PROVIDER,
      endpoint,
      kind: 'bad-response',
      detail: `more than ${this.maxPages} pages`,
    });
  }

  /**
   * One POST with a form body; unwraps the `{status, body}` envelope.
   * @returns the envelope's body when status is 0; throws a ProviderHttpError per classifyWithingsStatus otherwise
   */
  private async call(
    endpoint: string,
    path: string,
    params: Record<string, string>,
    accessToken?: string
  ): Promise<unknown> {
    // Only calls on a user's behalf wait out the limit; the token endpoints answer an owner who is waiting.
    return accessToken === undefined
      ? this.callOnce(endpoint, path, params)
      : this.waiter.run(() => this.callOnce(endpoint, path, params, accessToken));
  }

  private async callOnce(
    endpoint: string,
    path: string,
    params: Record<string, string>,
    accessToken?: string
  ): Promise<unknown> {
    this.calls.total += 1;
    this.calls.byEndpoint[endpoint] = (this.calls.byEndpoint[endpoint] ?? 0) + 1;
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (accessToken !== undefined) {
      headers.authorization = `Bearer ${accessToken}`;
    }
    const response = await fetchJson(`${this.apiBaseUrl}${path}`, {
      method: 'POST',
      headers,
      body: new URLSearchParams(params).toString(),
      provider: WITHINGS_PROVIDER,
      endpoint,
      timeoutMs: this.timeoutMs,
      fetch: this.fetchImpl,
    });
    const envelope = parseResponse(EnvelopeSchema, response.body, WITHINGS_PROVIDER, endpoint);
    const status = classifyWithingsStatus(envelope.status);
    if (status.ok) {
      return envelope.body;
    }
    // The token endpoint's verdict on the app or the grant travels as an RFC 6749 code (tokens.ts decides on it).
    const oauthError = tokenErrorCode(endpoint, status.kind, envelope.error);
    // A grant that is already gone reads as unauthorized (disconnect then reports "already revoked"), whatever status
    // Withings chose for it (401, or 503 "invalid code" / "user has not authorized this application").
    const gone =
      oauthError === 'invalid_grant' ||
      (endpoint === REVOKE_ENDPOINT && envelope.error !== undefined && ALREADY_REVOKED.test(envelope.error));
    throw new ProviderHttpError({
      provider: WITHINGS_PROVIDER,
      endpoint,
      kind: gone ? 'unauthorized' : status.kind,
      detail: `status ${envelope.status} (${status.meaning})`,
      retryAfterSeconds: status.kind === 'rate-limited' ? RATE_LIMIT_RETRY_SECONDS : undefined,
      oauthError,
    });
  }

  private async tokenRequest(endpoint: string, params: Record<string, string>): Promise<TokenSet> {
    const body = await this.call(endpoint, '/v2/oauth2', {
      action: 'requesttoken',
      client_id: this.clientId,
      client_secret: this.clientSecret,
      ...params,
    });
    const token = parseResponse(TokenBodySchema, body, WITHINGS_PROVIDER, endpoint);
    return {
      accessToken: token.access_token,
      refreshToken: token.refresh_token,
      expiresAt: new Date(this.now() + token.expires_in * 1000).toISOString(),
      scope: token.scope ?? '',
      providerUserId: token.userid,
    };
  }
}

/**
 * On the token endpoint only: `invalid_client` when Withings refuses the app's credentials (operator must fix the
 * secrets), `invalid_grant` when it refuses the code or refresh token (the owner must reconnect). Elsewhere none.
 */
function tokenErrorCode(endpoint: string, kind: ProviderHttpErrorKind, error: string | undefined): string | undefined {
  if (!endpoint.includes('requesttoken')) {
    return undefined;
  }
  if (error !== undefined && CLIENT_CREDENTIAL_ERROR.test(error)) {
    return 'invalid_client';
  }
  if (kind === 'unauthorized' || (kind === 'bad-request' && error !== undefined && GRANT_ERROR.test(error))) {
    return 'invalid_grant';
  }
  return undefined;
}
