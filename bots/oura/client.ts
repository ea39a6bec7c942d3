/**
 * Oura API v2 client: OAuth (authorization code, refresh, revoke), the user collections Baseline maps, the heart rate
 * time series, and the app-level webhook subscription API.
 *
 * Protocol (https://cloud.ouraring.com/docs/authentication, https://cloud.ouraring.com/v2/docs,
 * https://cloud.ouraring.com/docs/error-handling):
 * - Authorize: `${AUTH}/oauth/authorize` (cloud.ouraring.com), space-separated scopes. Token: `POST
 *   ${API}/oauth/token`, form body with client_id + client_secret. Apps registered in Oura's new developer portal
 *   (developer.ouraring.com, since ≈ Nov 2025) must use `https://moi.ouraring.com/oauth/v2/ext/oauth-token` instead
 *   (the old endpoint answers their refreshes `400 invalid_request`): the `OURA_TOKEN_URL` secret sets it.
 * - Refresh tokens are SINGLE-USE: the first refresh rotates them, a second refresh with the same token is refused
 *   (`400 invalid_grant`, "Token already used or revoked"). Callers serialize refreshes per connection
 *   (bots/shared/tokens.ts); this client only has to say truthfully whether a refusal is `invalid_grant` (the grant is
 *   dead: the owner must reconnect) or something else (operator error, outage: retry), also when Oura answers with an
 *   RFC 7807 body that carries no OAuth `error` field.
 * - Revoke: `GET ${API}/oauth/revoke?access_token=…` (the token is in the URL; fetchJson never puts a URL into an
 *   error, and neither does this client).
 * - Data: `GET ${API}/v2/usercollection/{type}` with start_date/end_date and `next_token` paging;
 *   `/v2/usercollection/{type}/{id}` for one document; `/v2/usercollection/heartrate` with start_datetime/end_datetime,
 *   at most 30 days per call (longer ranges are refused), so ranges are split here.
 * - Errors: RFC 7807 bodies. 401 → `unauthorized` (the sync refreshes once and retries), 403 → `forbidden` (a scope
 *   the owner unticked at consent, or an expired Oura membership), 404 → `not-found`, 400/422 → `bad-request`, 429 →
 *   `rate-limited` with `Retry-After` seconds (Oura: per token and per app, 5,000 requests per 5 minutes).
 * - Webhook subscriptions: `${API}/v2/webhook/subscription[...]` with the app's `x-client-id` / `x-client-secret`
 *   headers (no user token); a duplicate create answers 409.
 * Every response is zod-parsed; a malformed one is a `bad-response` naming the endpoint, never echoing the body.
 */
import type { z } from 'zod';
import { fetchJson, parseResponse, ProviderHttpError, RateLimitWaiter } from '../shared/http.ts';
import type { AuthorizeParams, OAuthProvider, TokenSet } from '../shared/provider.ts';
import { authorizationCodeUrl } from '../shared/provider.ts';
import { readOptionalSecret, readSecret } from '../shared/secrets.ts';
import type { BotSecrets } from '../shared/secrets.ts';
import {
  DailyActivityPageSchema,
  DailyActivitySchema,
  DailyReadinessPageSchema,
  DailyReadinessSchema,
  DailySleepPageSchema,
  DailySleepSchema,
  DailySpo2PageSchema,
  DailySpo2Schema,
  DailyStressPageSchema,
  DailyStressSchema,
  HeartRatePageSchema,
  PersonalInfoSchema,
  SleepPageSchema,
  SleepSchema,
  SubscriptionListSchema,
  SubscriptionSchema,
  TokenResponseSchema,
  WorkoutPageSchema,
  WorkoutSchema,
} from './schemas.ts';
import type {
  OuraDailyActivity,
  OuraDailyReadiness,
  OuraDailySleep,
  OuraDailySpo2,
  OuraDailyStress,
  OuraDataType,
  OuraEventType,
  OuraHeartRateRow,
  OuraSleep,
  OuraSubscription,
  OuraWorkout,
} from './schemas.ts';

export const OURA_PROVIDER = 'oura';
export const DEFAULT_OURA_API_BASE_URL = 'https://api.ouraring.com';
export const DEFAULT_OURA_AUTH_BASE_URL = 'https://cloud.ouraring.com';
export const DEFAULT_OURA_TOKEN_URL = `${DEFAULT_OURA_API_BASE_URL}/oauth/token`;
/**
 * Least privilege: `daily` (daily sleep/readiness/activity/stress and sleep periods), `heartrate`, `workout`,
 * `spo2Daily`. Not `personal` or `email`: `personal_info.id` comes with any token, and Baseline stores neither the
 * profile nor the address. (`stress` appears in third-party code but not in Oura's spec; daily stress comes with
 * `daily`.)
 */
export const OURA_SCOPES: readonly string[] = ['daily', 'heartrate', 'workout', 'spo2Daily'];
/** Oura refuses heart rate ranges longer than this (reported by several clients; not in the spec). */
export const HEART_RATE_MAX_RANGE_MS = 30 * 86_400_000;

/** Each mapped collection's document type. */
export interface OuraDocuments {
  daily_sleep: OuraDailySleep;
  daily_readiness: OuraDailyReadiness;
  daily_activity: OuraDailyActivity;
  daily_spo2: OuraDailySpo2;
  daily_stress: OuraDailyStress;
  sleep: OuraSleep;
  workout: OuraWorkout;
}

const DOCUMENT_SCHEMAS: { readonly [K in OuraDataType]: z.ZodType<OuraDocuments[K]> } = {
  daily_sleep: DailySleepSchema,
  daily_readiness: DailyReadinessSchema,
  daily_activity: DailyActivitySchema,
  daily_spo2: DailySpo2Schema,
  daily_stress: DailyStressSchema,
  sleep: SleepSchema,
  workout: WorkoutSchema,
};

type Page<T> = { data: T[]; next_token?: string | null };
const PAGE_SCHEMAS: { readonly [K in OuraDataType]: z.ZodType<Page<OuraDocuments[K]>> } = {
  daily_sleep: DailySleepPageSchema,
  daily_readiness: DailyReadinessPageSchema,
  daily_activity: DailyActivityPageSchema,
  daily_spo2: DailySpo2PageSchema,
  daily_stress: DailyStressPageSchema,
  sleep: SleepPageSchema,
  workout: WorkoutPageSchema,
};

export interface OuraClientOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly apiBaseUrl?: string;
  readonly authBaseUrl?: string;
  /** Full token endpoint URL; default `${apiBaseUrl}/oauth/token`. */
  readonly tokenUrl?: string;
  /** Per request; default 15 s. */
  readonly timeoutMs?: number;
  /** Safety stop for pagination; default 400 pages. */
  readonly maxPages?: number;
  /**
   * How long data calls of this client may wait out 429s in all (http.ts RateLimitWaiter); default 0: throw at once.
   * The sync sets it, so a backfill waits for Oura's window instead of failing its Task.
   */
  readonly rateLimitWaitMs?: number;
  readonly now?: () => number;
  readonly fetch?: typeof fetch;
}

/** start_date / end_date exactly as sent (a date `YYYY-MM-DD` or a date-time with offset). */
export interface DateRange {
  readonly startDate: string;
  readonly endDate: string;
}

/** Instants (ISO with offset); start inclusive, end exclusive. */
export interface TimeRange {
  readonly start: string;
  readonly end: string;
}

export interface CallCounts {
  total: number;
  byEndpoint: Record<string, number>;
}

export interface NewSubscription {
  readonly callbackUrl: string;
  readonly verificationToken: string;
  readonly eventType: OuraEventType;
  readonly dataType: string;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

const SINGLE_USE_REFUSAL = /already used or revoked|can only be used once/i;

/**
 * Oura documents its token refusals as RFC 7807 bodies ("Token already used or revoked…"), which may carry no OAuth
 * `error` field: such a refusal is an `invalid_grant` all the same.
 * @param body - the refusal's parsed JSON (never logged)
 * @returns 'invalid_grant' when the body says the grant is used up or revoked
 */
export function refusalGrantError(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) {
    return undefined;
  }
  const texts = ['detail', 'title', 'error_description', 'message']
    .map((key) => (key in body ? (body as Record<string, unknown>)[key] : undefined))
    .filter((value): value is string => typeof value === 'string');
  return texts.some((text) => SINGLE_USE_REFUSAL.test(text)) ? 'invalid_grant' : undefined;
}

export class OuraClient implements OAuthProvider {
  readonly key = OURA_PROVIDER;
  readonly apiBaseUrl: string;
  readonly authBaseUrl: string;
  readonly tokenUrl: string;
  /** Calls made by this instance, by endpoint label (for the benchmark and rate-limit budgeting). */
  readonly calls: CallCounts = { total: 0, byEndpoint: {} };
  private readonly clientId: string;
  private readonly clientSecret: string;
  private readonly timeoutMs: number;
  private readonly maxPages: number;
  private readonly waiter: RateLimitWaiter;
  private readonly now: () => number;
  private readonly fetchImpl: typeof fetch | undefined;

  constructor(options: OuraClientOptions) {
    this.clientId = options.clientId;
    this.clientSecret = options.clientSecret;
    this.apiBaseUrl = trimSlash(options.apiBaseUrl ?? DEFAULT_OURA_API_BASE_URL);
    this.authBaseUrl = trimSlash(options.authBaseUrl ?? DEFAULT_OURA_AUTH_BASE_URL);
    this.tokenUrl = options.tokenUrl ?? `${this.apiBaseUrl}/oauth/token`;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.maxPages = options.maxPages ?? 400;
    this.waiter = new RateLimitWaiter(options.rateLimitWaitMs ?? 0);
    this.now = options.now ?? Date.now;
    this.fetchImpl = options.fetch;
  }

  /**
   * @param secrets - `event.secrets`: OURA_CLIENT_ID, OURA_CLIENT_SECRET, optional OURA_API_BASE_URL,
   *   OURA_AUTH_BASE_URL (a sandbox) and OURA_TOKEN_URL (new-portal apps)
   * @param options - other client options
   * @returns a client
   */
  static fromSecrets(
    secrets: BotSecrets | undefined,
    options: Omit<OuraClientOptions, 'clientId' | 'clientSecret' | 'apiBaseUrl' | 'authBaseUrl' | 'tokenUrl'> = {}
  ): OuraClient {
    return new OuraClient({
      ...options,
      clientId: readSecret(secrets, 'OURA_CLIENT_ID'),
      clientSecret: readSecret(secrets, 'OURA_CLIENT_SECRET'),
      apiBaseUrl: readOptionalSecret(secrets, 'OURA_API_BASE_URL'),
      authBaseUrl: readOptionalSecret(secrets, 'OURA_AUTH_BASE_URL'),
      tokenUrl: readOptionalSecret(secrets, 'OURA_TOKEN_URL'),
    });
  }

  /** https://cloud.ouraring.com/docs/authentication — response_type=code, space-separated scopes, state echoed. */
  authorizeUrl(params: AuthorizeParams): string {
    return authorizationCodeUrl(`${this.authBaseUrl}/oauth/authorize`, params, OURA_SCOPES);
  }

  /** POST token grant_type=authorization_code (codes live 10 minutes and are single-use). */
  async exchangeCode(code: string, redirectUri: string): Promise<TokenSet> {
    return this.tokenRequest('POST /oauth/token (authorization_code)', {
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
    });
  }

  /** POST token grant_type=refresh_token; the refresh token is single-use and comes back rotated. */
  async refresh(refreshToken: string): Promise<TokenSet> {
    return this.tokenRequest('POST /oauth/token (refresh_token)', {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
    });
  }

  /** GET /oauth/revoke?access_token=… ends the grant (and with it Oura's deliveries for the user). */
  async revoke(accessToken: string): Promise<void> {
    const url = new URL(`${this.apiBaseUrl}/oauth/revoke`);
    url.searchParams.set('access_token', accessToken);
    try {
      await this.request('GET /oauth/revoke', url.toString(), {});
    } catch (err) {
      // Oura documents no response body for a revoke: a 2xx with plain text is a success.
      if (err instanceof ProviderHttpError && err.kind === 'bad-response' && err.status !== undefined) {
        return;
      }
      throw err;
    }
  }

  /** GET /v2/usercollection/personal_info → id (available with any scope). */
  async userId(accessToken: string): Promise<string> {
    const info = await this.get(
      accessToken,
      'GET /v2/usercollection/personal_info',
      '/v2/usercollection/personal_info',
      PersonalInfoSchema
    );
    return info.id;
  }

  /**
   * GET /v2/usercollection/{type} (all pages).
   * @param accessToken - the owner's access token
   * @param type - a mapped collection
   * @param range - start_date / end_date as Oura should see them (see sync-plan.ts for Oura's date semantics)
   * @returns every document in the range, as Oura lists them
   */
  async listDocuments<K extends OuraDataType>(
    accessToken: string,
    type: K,
    range: DateRange
  ): Promise<OuraDocuments[K][]> {
    return this.collect(accessToken, `/v2/usercollection/${type}`, PAGE_SCHEMAS[type], {
      start_date: range.startDate,
      end_date: range.endDate,
    });
  }

  /**
   * GET /v2/usercollection/{type}/{document_id}
   * @returns the document, or undefined when Oura does not know it (404)
   */
  async getDocument<K extends OuraDataType>(
    accessToken: string,
    type: K,
    documentId: string
  ): Promise<OuraDocuments[K] | undefined> {
    try {
      return await this.get(
        accessToken,
        `GET /v2/usercollection/${type}/{document_id}`,
        `/v2/usercollection/${type}/${encodeURIComponent(documentId)}`,
        DOCUMENT_SCHEMAS[type]
      );
    } catch (err) {
      if (err instanceof ProviderHttpError && err.kind === 'not-found') {
        return undefined;
      }
      throw err;
    }
  }

  /**
   * GET /v2/usercollection/heartrate, split into calls of at most 30 days.
   * @param accessToken - the owner's access token
   * @param range - instants; start inclusive, end exclusive
   * @returns every row, in call order
   */
  async listHeartRate(accessToken: string, range: TimeRange): Promise<OuraHeartRateRow[]> {
    const start = Date.parse(range.start);
    const end = Date.parse(range.end);
    if (Number.isNaN(start) || Number.isNaN(end) || end <= start) {
      throw new Error(`Invalid heart rate range ${range.start} to ${range.end}`);
    }
    const rows: OuraHeartRateRow[] = [];
    for (let from = start; from < end; from += HEART_RATE_MAX_RANGE_MS) {
      const to = Math.min(from + HEART_RATE_MAX_RANGE_MS, end);
      rows.push(
        ...(await this.collect(accessToken, '/v2/usercollection/heartrate', HeartRatePageSchema, {
          start_datetime: new Date(from).toISOString(),
          end_datetime: new Date(to).toISOString(),
        }))
      );
    }
    return rows;
  }

  /** GET /v2/webhook/subscription (app credentials). */
  async listSubscriptions(): Promise<OuraSubscription[]> {
    const body = await this.request('GET /v2/webhook/subscription', `${this.apiBaseUrl}/v2/webhook/subscription`, {
      headers: this.appHeaders(),
    });
    return parseResponse(SubscriptionListSchema, body, OURA_PROVIDER, 'GET /v2/webhook/subscription');
  }

  /**
   * POST /v2/webhook/subscription. Oura first verifies the callback with a GET challenge (answered by the edge).
   * @returns 'created', or 'exists' when Oura answers 409 (the same event × data type × callback is subscribed)
   */
  async createSubscription(subscription: NewSubscription): Promise<'created' | 'exists'> {
    const endpoint = 'POST /v2/webhook/subscription';
    try {
      const body = await this.request(endpoint, `${this.apiBaseUrl}/v2/webhook/subscription`, {
        method: 'POST',
        headers: { ...this.appHeaders(), 'content-type': 'application/json' },
        body: JSON.stringify({
          callback_url: subscription.callbackUrl,
          verification_token: subscription.verificationToken,
          event_type: subscription.eventType,
          data_type: subscription.dataType,
        }),
      });
      parseResponse(SubscriptionSchema, body, OURA_PROVIDER, endpoint);
      return 'created';
    } catch (err) {
      if (err instanceof ProviderHttpError && err.status === 409) {
        return 'exists';
      }
      throw err;
    }
  }

  /** PUT /v2/webhook/subscription/renew/{id} → the subscription with its new expiration_time. */
  async renewSubscription(id: string): Promise<OuraSubscription> {
    const endpoint = 'PUT /v2/webhook/subscription/renew/{id}';
    const body = await this.request(
      endpoint,
      `${this.apiBaseUrl}/v2/webhook/subscription/renew/${encodeURIComponent(id)}`,
      { method: 'PUT', headers: this.appHeaders() }
    );
    return parseResponse(SubscriptionSchema, body, OURA_PROVIDER, endpoint);
  }

  /** DELETE /v2/webhook/subscription/{id} (an expired subscription of ours is replaced by a new one). */
  async deleteSubscription(id: string): Promise<void> {
    await this.request(
      'DELETE /v2/webhook/subscription/{id}',
      `${this.apiBaseUrl}/v2/webhook/subscription/${encodeURIComponent(id)}`,
      { method: 'DELETE', headers: this.appHeaders() }
    );
  }

  private appHeaders(): Record<string, string> {
    return { 'x-client-id': this.clientId, 'x-client-secret': this.clientSecret };
  }

  private async request(
    endpoint: string,
    url: string,
    init: {
      method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
      headers?: Record<string, string>;
      body?: string;
      fetch?: typeof fetch;
    }
  ): Promise<unknown> {
    this.calls.total += 1;
    this.calls.byEndpoint[endpoint] = (this.calls.byEndpoint[endpoint] ?? 0) + 1;
    const response = await fetchJson(url, {
      method: init.method,
      headers: init.headers,
      body: init.body,
      provider: OURA_PROVIDER,
      endpoint,
      timeoutMs: this.timeoutMs,
      fetch: init.fetch ?? this.fetchImpl,
    });
    return response.body;
  }

  private async get<T>(accessToken: string, endpoint: string, path: string, schema: z.ZodType<T>): Promise<T> {
    // Data reads wait out the rate limit (up to rateLimitWaitMs); token and subscription calls do not.
    const body = await this.waiter.run(() =>
      this.request(endpoint, `${this.apiBaseUrl}${path}`, { headers: { authorization: `Bearer ${accessToken}` } })
    );
    return parseResponse(schema, body, OURA_PROVIDER, endpoint);
  }

  private async collect<T>(
    accessToken: string,
    path: string,
    schema: z.ZodType<Page<T>>,
    params: Readonly<Record<string, string>>
  ): Promise<T[]> {
    const endpoint = `GET ${path}`;
    const records: T[] = [];
    const seen = new Set<string>();
    let nextToken: string | undefined;
    for (let page = 0; page < this.maxPages; page += 1) {
      const url = new URL(`${this.apiBaseUrl}${path}`);
      for (const [name, value] of Object.entries(params)) {
        url.searchParams.set(name, value);
      }
      if (nextToken) {
        url.searchParams.set('next_token', nextToken);
      }
      const body = await this.waiter.run(() =>
        this.request(endpoint, url.toString(), { headers: { authorization: `Bearer ${accessToken}` } })
      );
      const parsed = parseResponse(schema, body, OURA_PROVIDER, endpoint);
      records.push(...parsed.data);
      if (!parsed.next_token) {
        return records;
      }
      if (seen.has(parsed.next_token)) {
        throw new ProviderHttpError({
          provider: OURA_PROVIDER,
          endpoint,
          kind: 'bad-response',
          detail: 'next_token repeats',
        });
      }
      seen.add(parsed.next_token);
      nextToken = parsed.next_token;
    }
    throw new ProviderHttpError({
      provider: OURA_PROVIDER,
      endpoint,
      kind: 'bad-response',
      detail: `more than ${this.maxPages} pages`,
    });
  }

  private async tokenRequest(endpoint: string, params: Record<string, string>): Promise<TokenSet> {
    const form = new URLSearchParams({ ...params, client_id: this.clientId, client_secret: this.clientSecret });
    // fetchJson keeps only an OAuth `error` code from a refusal; Oura's RFC 7807 refusals need their text read, so
    // the refusal body is captured here (and only classified, never logged or put into an error).
    let refusal: unknown;
    const base = this.fetchImpl;
    const capturing: typeof fetch = async (input, init) => {
      const response = await (base ?? fetch)(input, init);
      if (!response.ok) {
        try {
          refusal = JSON.parse(await response.clone().text()) as unknown;
        } catch {
          refusal = undefined;
        }
      }
      return response;
    };
    let body: unknown;
    try {
      body = await this.request(endpoint, this.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        fetch: capturing,
      });
    } catch (err) {
      throw classifyTokenRefusal(err, refusal, endpoint, params.grant_type);
    }
    const token = parseResponse(TokenResponseSchema, body, OURA_PROVIDER, endpoint);
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

/**
 * What a refused token request means for the connection, as ProviderHttpError fields the shared token code reads:
 * - `invalid_grant` (an OAuth error code, or an RFC 7807 "Token already used or revoked") on 400 or 401 → kind
 *   `unauthorized` with oauthError `invalid_grant`: the code or refresh token is dead, the owner must reconnect.
 * - `invalid_client` / `unauthorized_client` → unchanged (tokens.ts turns it into an operator error).
 * - `invalid_request` on a refresh → the same error with a hint: new-portal apps need OURA_TOKEN_URL. Not
 *   `invalid_grant`: the owner's grant may be fine, and marking the connection expired would be wrong.
 * - anything else (5xx, timeout, 429) → unchanged: temporary, the Task retries.
 */
function classifyTokenRefusal(
  err: unknown,
  refusal: unknown,
  endpoint: string,
  grantType: string | undefined
): unknown {
  if (!(err instanceof ProviderHttpError) || (err.status !== 400 && err.status !== 401)) {
    return err;
  }
  const oauthError = err.oauthError ?? refusalGrantError(refusal);
  if (oauthError === 'invalid_grant') {
    return new ProviderHttpError({
      provider: OURA_PROVIDER,
      endpoint,
      kind: 'unauthorized',
      status: err.status,
      oauthError: 'invalid_grant',
      cause: err,
    });
  }
  if (oauthError === 'invalid_request' && grantType === 'refresh_token') {
    return new ProviderHttpError({
      provider: OURA_PROVIDER,
      endpoint,
      kind: err.kind,
      status: err.status,
      oauthError,
      detail:
        'apps from the new Oura developer portal must set OURA_TOKEN_URL=https://moi.ouraring.com/oauth/v2/ext/oauth-token',
      cause: err,
    });
  }
  return err;
}
