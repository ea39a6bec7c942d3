/**
 * The Oura sandbox: a loopback stand-in for Oura's API v2 (api.ouraring.com: `/v2/usercollection/*`,
 * `/v2/webhook/subscription*`, `/oauth/token`, `/oauth/revoke`) and its authorize page (cloud.ouraring.com:
 * `/oauth/authorize`), serving the WHOOP sandbox's synthetic people as an Oura ring sees them, with signed webhook
 * deliveries and a control surface (`control` methods and `/_sandbox/*` JSON) for tests and the dev stack. Both
 * hosts are this one server. See README.md beside this file for what is faithful and what is not.
 * Vendor docs: https://cloud.ouraring.com/v2/docs (API reference), https://cloud.ouraring.com/docs/authentication,
 * https://cloud.ouraring.com/docs/error-handling.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { dateOfDay, dayNumberOf, offsetMinutesOn, todayUtc } from '../whoop/data.ts';
import { sandboxPeople, sandboxUser } from '../people.ts';
import type { PersonTraits } from '../whoop/data.ts';
import type { SandboxPersonName } from '../whoop/server.ts';
import { localMidnight, OURA_DOCUMENT_TYPES, OuraGenerator } from './data.ts';
import type { HeartRateRow, OuraDocument, OuraDocumentType } from './data.ts';
import { OAuthServer, OURA_SCOPES, SCOPE_DESCRIPTIONS } from './oauth.ts';
import type { AccessContext, IssuedTokens, OuraScope, SandboxClient } from './oauth.ts';
import { loadState, saveState, STATE_VERSION } from './persist.ts';
import type { RecordOp, SandboxState } from './persist.ts';
import { OuraStore, StoreError } from './store.ts';
import type { RecordEvent, WebhookEventType } from './store.ts';
import {
  DEFAULT_RETRY_DELAYS_MS,
  DEFAULT_SUBSCRIPTION_TTL_DAYS,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  subscriptionView,
  WebhookError,
  Webhooks,
} from './webhooks.ts';
import type { ChallengeAttempt, DeliveryAttempt, DispatchResult, Subscription, SubscriptionModel } from './webhooks.ts';

export type { SandboxClient } from './oauth.ts';
export type { SandboxPersonName } from '../whoop/server.ts';

export const DEFAULT_SEED = 1;
export const DEFAULT_DAYS = 400;
/** Oura's FAQ: "5000 requests per 5-minute period". */
export const DEFAULT_RATE_LIMIT: OuraRateLimit = { limit: 5000, windowSeconds: 300 };
export const DEFAULT_PAGE_SIZES = { documents: 50, heartRate: 5000 } as const;
/** heartrate refuses longer windows (not in the spec; reported by several clients, who chunk by 30 days). */
export const HEART_RATE_MAX_DAYS = 30;
const MAX_BODY_BYTES = 64 * 1024;

export interface OuraRateLimit {
  /** Calls per window per application. */
  limit: number;
  windowSeconds: number;
  /** Optional second layer: calls per window per access token (Oura has both; its figures are not published). */
  perTokenLimit?: number;
}

export interface OuraSandboxOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  seed?: number;
  /** The current day (`YYYY-MM-DD`): the morning the person last synced; default today (UTC). */
  endDate?: string;
  /** Days of history ending at `endDate` (default 400). */
  days?: number;
  /** The WHOOP sandbox's people (same semantics, same seed → same person). Default 1. */
  people?: number | readonly SandboxPersonName[];
  clients: SandboxClient[];
  /** Keep the state in `<dataDir>/oura-sandbox-state.json` and resume from it on start. Default: in memory. */
  dataDir?: string;
  /** Default 86400 (what clients observe; Oura's docs disagree with themselves). */
  accessTokenTtlSeconds?: number;
  rateLimit?: OuraRateLimit;
  /** Documents per page (default 50) and heart-rate rows per page (default 5000). Oura documents neither. */
  pageSizes?: { documents?: number; heartRate?: number };
  /** Delays before retries 1…n (default: ten, 50 ms → 1 s). */
  webhookRetryDelaysMs?: readonly number[];
  /** Timeout of a delivery and of a verification GET (default 2000 ms; Oura: 10 s). */
  webhookTimeoutMs?: number;
  subscriptionTtlDays?: number;
  /** The sandbox clock before `advanceClock` (token/code/subscription expiry, rate windows, timestamps). */
  now?: () => number;
}

export interface SandboxUser {
  /** Oura's user id (`personal_info.id`, the webhook `user_id`). */
  userId: string;
  email: string;
  firstName: string;
  lastName: string;
  timeZone: string;
  recentEpisodeStart?: string;
}

export interface FaultSpec {
  status: 500 | 503 | 429 | 401;
  count: number;
  /** Path prefix, e.g. `/v2/usercollection/sleep` or `/oauth/token`; default every `/v2/usercollection/` call. */
  pathPrefix?: string;
}

export interface SandboxStats {
  /** API calls by route, e.g. `GET /v2/usercollection/sleep`. */
  api: Record<string, number>;
  apiStatuses: Record<string, number>;
  tokenRequests: { authorization_code: number; refresh_token: number; failed: number };
  tokenRefreshes: number;
  /** Refreshes refused because the refresh token had already been used. */
  refreshTokenReuseRefusals: number;
  webhookDeliveries: DeliveryAttempt[];
  /** Delivery attempts that did not get a 2xx. */
  webhookFailures: number;
  /** Delivery attempts after the first. */
  webhookRetries: number;
  challenges: ChallengeAttempt[];
}

export interface ControlResult {
  events: RecordEvent[];
  dispatches: DispatchResult[];
}

export interface SandboxControl {
  injectFaults(fault: FaultSpec): void;
  injectTimeout(options: { count: number; delayMs: number; pathPrefix?: string }): void;
  /** The next morning: new documents for every person, `create` webhooks. */
  addDay(): Promise<ControlResult>;
  /** A bedtime edit re-analyses a sleep period: new version, `update` webhook. */
  reanalyseSleep(userId: string, id: string): Promise<ControlResult>;
  /** The member deletes a document: `delete` webhook (a sleep period stays as `type: "deleted"`). */
  deleteDocument(userId: string, dataType: OuraDocumentType, id: string): Promise<ControlResult>;
  sendWebhook(event: {
    dataType: OuraDocumentType;
    eventType: WebhookEventType;
    objectId: string;
    userId?: string;
  }): Promise<DispatchResult>;
  subscriptions(): (SubscriptionModel & { client_id: string })[];
  /** Moves the sandbox clock forward (subscriptions and tokens expire against it). */
  advanceClock(ms: number): void;
  stats(): SandboxStats;
  tokensFor(userId: string): IssuedTokens[];
  /** The person removes the app in the Oura app: grants and tokens die, deliveries about them stop. */
  revokeUserAccess(userId: string): void;
  /** Ground truth: every current document of a type, oldest first, unpaginated and unfiltered. */
  documents(type: OuraDocumentType, userId?: string): OuraDocument[];
  /** Ground truth: the heart-rate rows in [start, end). */
  heartRate(start: string, end: string, userId?: string): HeartRateRow[];
  currentDate(): string;
  webhooksIdle(): Promise<void>;
}

export interface OuraSandbox {
  baseUrl: string;
  /** The api.ouraring.com stand-in: `<apiBaseUrl>/v2/usercollection/…`, `<apiBaseUrl>/oauth/token`. */
  apiBaseUrl: string;
  /** The cloud.ouraring.com stand-in: `<authBaseUrl>/oauth/authorize`. */
  authBaseUrl: string;
  users: SandboxUser[];
  /** The default person's Oura user id. */
  userId: string;
  control: SandboxControl;
  close(): Promise<void>;
}

/** An RFC 7807 problem (Oura's error style), or FastAPI's 422 `{detail: [...]}` when `validation` is set. */
class HttpFailure extends Error {
  readonly status: number;
  readonly title: string;
  readonly validation?: { loc: (string | number)[]; msg: string; type: string }[];
  constructor(
    status: number,
    title: string,
    detail: string,
    validation?: { loc: (string | number)[]; msg: string; type: string }[]
  ) {
    super(detail);
    this.status = status;
    this.title = title;
    if (validation) {
      this.validation = validation;
    }
  }

  body(): unknown {
    return this.validation
      ? { detail: this.validation }
      : { status: this.status, title: this.title, detail: this.message };
  }
}

function invalid(location: (string | number)[], msg: string, type = 'value_error'): HttpFailure {
  return new HttpFailure(422, 'Validation Error', msg, [{ loc: location, msg, type }]);
}

const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/;

/** Oura's webhook data types (ExtApiV2DataType in the spec). */
const WEBHOOK_DATA_TYPES = [
  'tag',
  'enhanced_tag',
  'workout',
  'session',
  'sleep',
  'daily_sleep',
  'daily_readiness',
  'daily_activity',
  'daily_spo2',
  'sleep_time',
  'rest_mode_period',
  'ring_configuration',
  'daily_stress',
  'daily_cycle_phases',
  'activation_status',
  'daily_cardiovascular_age',
  'daily_resilience',
  'vo2_max',
  'period_start',
  'pregnancy',
  'fertile_window',
  'ovulation_confirmed',
  'blood_glucose',
] as const;

/** Collections the sandbox serves and the scope each needs (spec securitySchemes; `daily` covers sleep periods). */
const COLLECTION_SCOPES: Readonly<Record<OuraDocumentType | 'tag' | 'enhanced_tag' | 'session', OuraScope>> = {
  daily_sleep: 'daily',
  daily_readiness: 'daily',
  daily_activity: 'daily',
  daily_stress: 'daily',
  sleep: 'daily',
  daily_spo2: 'spo2Daily',
  workout: 'workout',
  tag: 'tag',
  enhanced_tag: 'tag',
  session: 'session',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpFailure(413, 'Payload Too Large', 'Request body too large');
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function encodeToken(offset: number, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ o: offset, f: fingerprint })).toString('base64url');
}

function decodeToken(token: string, fingerprint: string): number {
  try {
    const parsed = z
      .object({ o: z.number().int().nonnegative(), f: z.string() })
      .parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    if (parsed.f === fingerprint) {
      return parsed.o;
    }
  } catch {
    // Falls through to the 400 below: a token from elsewhere is the client's error.
  }
  throw new HttpFailure(400, 'Bad Request', 'Invalid next_token for this query');
}

function renderConsentPage(options: {
  clientName: string;
  scopes: OuraScope[];
  challenge: string;
  users: SandboxUser[];
}): string {
  const scopeItems = options.scopes
    .map(
      (scope) =>
        `<li><label><input type="checkbox" name="scope" value="${scope}" checked> <strong>${escapeHtml(scope)}</strong><span>${escapeHtml(SCOPE_DESCRIPTIONS[scope])}</span></label></li>`
    )
    .join('');
  const nameOf = (user: SandboxUser): string => `${user.firstName} ${user.lastName} (${user.email})`;
  const [only] = options.users;
  // No login in the sandbox: with several people the member says who they are, and nobody is preselected, so a
  // careless Allow cannot link someone else's ring (the WHOOP sandbox's consent contract).
  const who =
    options.users.length === 1 && only
      ? `<p class="who">Connect Oura as <strong>${escapeHtml(nameOf(only))}</strong></p>
<input type="hidden" name="user_id" value="${only.userId}">`
      : `<fieldset><legend>Sign in to Oura as</legend>${options.users
          .map(
            (user) =>
              `<label><input type="radio" name="user_id" value="${user.userId}" required> ${escapeHtml(nameOf(user))}</label>`
          )
          .join('')}</fieldset>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Oura Sandbox – Authorize ${escapeHtml(options.clientName)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;font-family:system-ui,sans-serif;background:#f6f4f1;color:#1c1c1c;display:flex;justify-content:center}
main{max-width:460px;padding:40px 24px}.brand{font-weight:300;letter-spacing:.4em;font-size:28px}
.sandbox{color:#a0522d;font-size:12px;letter-spacing:.1em;text-transform:uppercase}
ul{list-style:none;padding:0}li{border-bottom:1px solid #ddd;padding:10px 0}
li label{display:flex;gap:8px;align-items:baseline;flex-wrap:wrap}li span{color:#666;font-size:14px;flex-basis:100%;padding-left:24px}
.who{margin:16px 0 24px}fieldset{border:1px solid #ccc;margin:8px 0 24px;padding:8px 12px}legend{color:#666;font-size:14px}
fieldset label{display:block;padding:8px 0;cursor:pointer}
.actions{display:flex;gap:12px}button{flex:1;padding:14px;font-weight:600;border-radius:24px;border:0;cursor:pointer;font-size:15px}
.allow{background:#1c1c1c;color:#fff}.deny{background:#e4e0da;color:#1c1c1c}
</style></head>
<body><main>
<div class="brand">ŌURA</div><div class="sandbox">Developer sandbox · synthetic data</div>
<h1>${escapeHtml(options.clientName)} would like to access your Oura data</h1>
<form method="post" action="/oauth/authorize/consent">
<input type="hidden" name="challenge" value="${escapeHtml(options.challenge)}">
<ul>${scopeItems}</ul>
${who}
<div class="actions">
<button class="deny" type="submit" name="decision" value="deny" formnovalidate>Deny</button>
<button class="allow" type="submit" name="decision" value="allow">Allow</button>
</div></form>
</main></body></html>`;
}

const SubscriptionCreate = z.object({
  callback_url: z.url({ protocol: /^https?$/ }),
  verification_token: z.string().min(1),
  event_type: z.enum(['create', 'update', 'delete']),
  data_type: z.enum(WEBHOOK_DATA_TYPES),
});
const SubscriptionUpdate = z.object({
  verification_token: z.string().min(1),
  callback_url: z.url({ protocol: /^https?$/ }).nullish(),
  event_type: z.enum(['create', 'update', 'delete']).nullish(),
  data_type: z.enum(WEBHOOK_DATA_TYPES).nullish(),
});
const DocumentType = z.enum(OURA_DOCUMENT_TYPES);
const ControlBodies = {
  faults: z.object({
    status: z.union([z.literal(500), z.literal(503), z.literal(429), z.literal(401)]),
    count: z.number().int().positive(),
    pathPrefix: z.string().optional(),
  }),
  timeouts: z.object({
    count: z.number().int().positive(),
    delayMs: z.number().int().nonnegative(),
    pathPrefix: z.string().optional(),
  }),
  reanalyse: z.object({ userId: z.string().optional(), id: z.string() }),
  delete: z.object({ userId: z.string().optional(), dataType: DocumentType, id: z.string() }),
  webhook: z.object({
    dataType: DocumentType,
    eventType: z.enum(['create', 'update', 'delete']),
    objectId: z.string(),
    userId: z.string().optional(),
  }),
  clock: z.object({ ms: z.number().int().nonnegative() }),
  revoke: z.object({ userId: z.string() }),
};

function zodToValidation(error: z.ZodError, where: 'body' | 'query'): HttpFailure {
  const detail = error.issues.map((issue) => ({
    loc: [where, ...issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part))],
    msg: issue.message,
    type: issue.code,
  }));
  return new HttpFailure(422, 'Validation Error', z.prettifyError(error), detail);
}

/**
 * Starts the sandbox on 127.0.0.1.
 * @param options - Seed, history, people, registered apps, limits, webhook timing and clock.
 * @returns The URLs, users, control surface and `close()`.
 */
export async function startOuraSandbox(options: OuraSandboxOptions): Promise<OuraSandbox> {
  if (options.clients.length === 0) {
    throw new Error('The Oura sandbox needs at least one registered client');
  }
  const baseNow = options.now ?? Date.now;
  const dataDir = options.dataDir;
  if (dataDir !== undefined) {
    mkdirSync(dataDir, { recursive: true });
  }
  const saved = dataDir === undefined ? undefined : loadState(dataDir);
  let clockOffsetMs = saved?.clockOffsetMs ?? 0;
  const now = (): number => baseNow() + clockOffsetMs;
  const seed = options.seed ?? DEFAULT_SEED;

  // Documents: regenerated from the seed as first generated, then the logged edits replayed (a log made with
  // another seed names documents that do not exist, so it starts over), then the days that passed while stopped.
  const configuredEndDate = options.endDate ?? todayUtc(now());
  const savedRecords = saved?.records.seed === seed ? saved.records : undefined;
  const baseEndDate = savedRecords?.baseEndDate ?? configuredEndDate;
  const savedEpisodes = new Map((savedRecords?.episodes ?? []).map((e) => [e.index, e.startDate]));
  const people: PersonTraits[] = sandboxPeople({
    seed,
    people: options.people,
    baseEndDate,
    ...(savedRecords ? { savedStart: (_person: PersonTraits, index: number) => savedEpisodes.get(index) } : {}),
  });
  const episodes = people.flatMap((person, index) =>
    person.recentEpisode ? [{ index, startDate: dateOfDay(person.recentEpisode.startDay) }] : []
  );
  const generators = people.map((person) => new OuraGenerator(person));
  const users: SandboxUser[] = generators.map((generator) => sandboxUser(generator.person, generator.userId));
  const defaultUser = users[0];
  if (!defaultUser) {
    throw new Error('people must be at least 1');
  }
  const defaultUserId = defaultUser.userId;
  const store = new OuraStore({ people: generators, endDate: baseEndDate, days: options.days ?? DEFAULT_DAYS });
  const recordLog: RecordOp[] = [];
  for (const op of savedRecords?.log ?? []) {
    try {
      applyRecordOp(store, op);
      recordLog.push(op);
    } catch (error) {
      // Only an edit to a person no longer configured can fail; it goes with that person.
      if (!(error instanceof StoreError)) {
        throw error;
      }
    }
  }
  const caughtUp: RecordEvent[] = [];
  while (store.currentDay < dayNumberOf(configuredEndDate)) {
    const op: RecordOp = { op: 'add-day', at: now() };
    caughtUp.push(...applyRecordOp(store, op));
    recordLog.push(op);
  }

  // Apps: those configured now (they win) plus any registered in an earlier run.
  const clients = new Map<string, SandboxClient>();
  for (const client of [...(saved?.clients ?? []), ...options.clients]) {
    clients.set(client.clientId, client);
  }
  let ready = false;
  const oauth = new OAuthServer({
    clients: [...clients.values()],
    now,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 86_400,
    onChange: () => save(),
  });
  if (saved) {
    oauth.importState(saved.oauth);
  }
  const webhooks = new Webhooks({
    now,
    retryDelaysMs: options.webhookRetryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
    timeoutMs: options.webhookTimeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS,
    ttlDays: options.subscriptionTtlDays ?? DEFAULT_SUBSCRIPTION_TTL_DAYS,
    clientSecret: (clientId) => oauth.client(clientId)?.clientSecret,
    isAuthorized: (clientId, userId) => oauth.isAuthorized(clientId, userId),
    onChange: () => save(),
  });
  if (saved) {
    webhooks.import(saved.subscriptions.filter((subscription) => clients.has(subscription.clientId)));
  }
  ready = true;

  /** Writes the state (one small file) after a change; never on reads. */
  function save(): void {
    if (dataDir === undefined || !ready) {
      return;
    }
    const state: SandboxState = {
      version: STATE_VERSION,
      clients: oauth.allClients(),
      oauth: oauth.exportState(),
      subscriptions: webhooks.export(),
      clockOffsetMs,
      records: { seed, baseEndDate, log: recordLog, ...(episodes.length > 0 ? { episodes } : {}) },
    };
    saveState(dataDir, state);
  }
  save();

  function changeRecords(op: RecordOp): RecordEvent[] {
    let events: RecordEvent[];
    try {
      events = applyRecordOp(store, op);
    } catch (error) {
      if (error instanceof StoreError) {
        throw new HttpFailure(404, 'Not Found', error.message);
      }
      throw error;
    }
    recordLog.push(op);
    save();
    return events;
  }

  const rateLimit = options.rateLimit ?? DEFAULT_RATE_LIMIT;
  const pageSizes = {
    documents: options.pageSizes?.documents ?? DEFAULT_PAGE_SIZES.documents,
    heartRate: options.pageSizes?.heartRate ?? DEFAULT_PAGE_SIZES.heartRate,
  };
  const stats = {
    api: {} as Record<string, number>,
    apiStatuses: {} as Record<string, number>,
    tokenRequests: { authorization_code: 0, refresh_token: 0, failed: 0 },
  };
  const faults: (FaultSpec & { remaining: number })[] = [];
  const timeouts: { remaining: number; delayMs: number; pathPrefix?: string }[] = [];
  const rateWindows = new Map<string, { start: number; count: number }>();
  const hangs = new AbortController();

  function take<T extends { remaining: number; pathPrefix?: string }>(
    list: T[],
    path: string,
    fallback: string | undefined
  ): T | undefined {
    const found = list.find((candidate) => {
      const prefix = candidate.pathPrefix ?? fallback;
      return prefix !== undefined && path.startsWith(prefix);
    });
    if (found) {
      found.remaining -= 1;
      if (found.remaining <= 0) {
        list.splice(list.indexOf(found), 1);
      }
    }
    return found;
  }

  /** Counts a call against the app's (and optionally the token's) window; the window starts at its first call. */
  function consumeRate(
    context: AccessContext
  ): { allowed: true } | { allowed: false; headers: Record<string, string> } {
    const at = now();
    const layers: { key: string; limit: number; tier: string }[] = [
      { key: `app:${context.clientId}`, limit: rateLimit.limit, tier: 'application' },
      ...(rateLimit.perTokenLimit === undefined
        ? []
        : [{ key: `token:${context.token}`, limit: rateLimit.perTokenLimit, tier: 'token' }]),
    ];
    const windowMs = rateLimit.windowSeconds * 1000;
    for (const layer of layers) {
      let window = rateWindows.get(layer.key);
      if (!window || at >= window.start + windowMs) {
        window = { start: at, count: 0 };
        rateWindows.set(layer.key, window);
      }
      if (window.count >= layer.limit) {
        const resetMs = window.start + windowMs;
        return {
          allowed: false,
          headers: {
            'retry-after': String(Math.max(1, Math.ceil((resetMs - at) / 1000))),
            'x-ratelimit-limit': String(layer.limit),
            'x-ratelimit-window': String(rateLimit.windowSeconds),
            'x-ratelimit-reset': String(Math.ceil(resetMs / 1000)),
            'x-ratelimit-tier': layer.tier,
          },
        };
      }
    }
    for (const layer of layers) {
      const window = rateWindows.get(layer.key);
      if (window) {
        window.count += 1;
      }
    }
    return { allowed: true };
  }

  function generatorOf(userId: string): OuraGenerator {
    const generator = generators.find((candidate) => candidate.userId === userId);
    if (!generator) {
      throw new HttpFailure(404, 'Not Found', 'No such user');
    }
    return generator;
  }

  /** A start_date/end_date value: a date (the person's local midnight) or a date-time; undefined when absent. */
  function boundOf(value: string | null, name: string, person: PersonTraits): { ms: number; date: string } | undefined {
    if (value === null || value === '') {
      return undefined;
    }
    if (DATE_PATTERN.test(value)) {
      let day: number;
      try {
        day = dayNumberOf(value);
      } catch {
        throw invalid(['query', name], 'invalid date format', 'date_from_datetime_parsing');
      }
      return { ms: localMidnight(person, day), date: value };
    }
    const zoned = /(Z|[+-]\d{2}:\d{2})$/.test(value);
    const wall = Date.parse(zoned ? value : `${value}Z`);
    if (!DATE_TIME_PATTERN.test(value) || Number.isNaN(wall)) {
      throw invalid(['query', name], 'Input should be a valid datetime or date', 'datetime_from_date_parsing');
    }
    // Without an offset the time is the person's wall-clock time (`end_date=2024-01-15T23:59:59` keeps the 15th).
    const ms = zoned ? wall : wall - offsetMinutesOn(person.zone, dayNumberOf(value.slice(0, 10))) * 60_000;
    return { ms, date: value.slice(0, 10) };
  }

  function page<T>(
    items: T[],
    query: URLSearchParams,
    fingerprint: string,
    size: number
  ): { data: T[]; next_token: string | null } {
    const token = query.get('next_token');
    const offset = token === null || token === '' ? 0 : decodeToken(token, fingerprint);
    const data = items.slice(offset, offset + size);
    return { data, next_token: offset + size < items.length ? encodeToken(offset + size, fingerprint) : null };
  }

  /**
   * A collection with Oura's date semantics (providers.md §3.2, from clients' reports): daily documents filter on
   * their `timestamp` (local midnight; 04:00 for activity) with `start_date` inclusive and `end_date` exclusive, so
   * a date-only end_date drops that day; sleep periods filter on `day` with start exclusive and end inclusive;
   * workouts on `day`, both inclusive. Defaults: end = now, start = one day before end.
   */
  function collection(type: OuraDocumentType, context: AccessContext, query: URLSearchParams): unknown {
    const person = generatorOf(context.userId).person;
    const end = boundOf(query.get('end_date'), 'end_date', person) ?? { ms: now(), date: todayUtc(now()) };
    const start = boundOf(query.get('start_date'), 'start_date', person) ?? {
      ms: end.ms - 86_400_000,
      date: dateOfDay(dayNumberOf(end.date) - 1),
    };
    if (start.ms > end.ms) {
      throw new HttpFailure(400, 'Bad Request', 'start_date must not be after end_date');
    }
    const documents = store.list(context.userId, type).filter((document) => {
      if (type === 'sleep') {
        const day = (document as { day: string }).day;
        return day > start.date && day <= end.date;
      }
      if (type === 'workout') {
        const day = (document as { day: string }).day;
        return day >= start.date && day <= end.date;
      }
      const stamp =
        'timestamp' in document
          ? Date.parse(document.timestamp)
          : localMidnight(person, dayNumberOf((document as { day: string }).day));
      return stamp >= start.ms && stamp < end.ms;
    });
    return page(documents, query, `${type}|${start.ms}|${end.ms}`, pageSizes.documents);
  }

  function heartRate(context: AccessContext, query: URLSearchParams): unknown {
    const missing = ['start_datetime', 'end_datetime'].filter((name) => (query.get(name) ?? '') === '');
    if (missing.length > 0) {
      throw new HttpFailure(
        422,
        'Validation Error',
        'start_datetime and end_datetime are required',
        missing.map((name) => ({ loc: ['query', name], msg: 'Field required', type: 'missing' }))
      );
    }
    const parse = (name: string): number => {
      const value = query.get(name) ?? '';
      // Heart-rate rows are UTC: a date-time without an offset is read as UTC, never as this machine's zone.
      const ms = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(value) || DATE_PATTERN.test(value) ? value : `${value}Z`);
      if (!(DATE_TIME_PATTERN.test(value) || DATE_PATTERN.test(value)) || Number.isNaN(ms)) {
        throw invalid(['query', name], 'Input should be a valid datetime', 'datetime_parsing');
      }
      return ms;
    };
    const startMs = parse('start_datetime');
    const endMs = parse('end_datetime');
    if (endMs <= startMs) {
      throw new HttpFailure(400, 'Bad Request', 'end_datetime must be after start_datetime');
    }
    if (endMs - startMs > HEART_RATE_MAX_DAYS * 86_400_000) {
      throw new HttpFailure(400, 'Bad Request', `The requested time range exceeds ${HEART_RATE_MAX_DAYS} days`);
    }
    const rows = store.heartRate(context.userId, startMs, endMs);
    if (query.get('latest') === 'true') {
      return { data: rows.slice(-1), next_token: null };
    }
    return page(rows, query, `heartrate|${startMs}|${endMs}`, pageSizes.heartRate);
  }

  function personalInfo(context: AccessContext): unknown {
    const info = generatorOf(context.userId).personalInfo();
    const personal = context.scopes.includes('personal');
    return {
      id: info.id,
      age: personal ? info.age : null,
      weight: personal ? info.weight : null,
      height: personal ? info.height : null,
      biological_sex: personal ? info.biological_sex : null,
      email: context.scopes.includes('email') ? info.email : null,
    };
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const match = /^\/v2\/usercollection\/([A-Za-z0-9_]+)(?:\/([^/]+))?$/.exec(path);
    const type = match?.[1] ?? '';
    const documentId = match?.[2] === undefined ? undefined : decodeURIComponent(match[2]);
    const known = type === 'personal_info' || type === 'heartrate' || type in COLLECTION_SCOPES;
    if (
      !match ||
      req.method !== 'GET' ||
      !known ||
      (documentId !== undefined && (type === 'personal_info' || type === 'heartrate'))
    ) {
      send(res, 404, { status: 404, title: 'Not Found', detail: 'No such endpoint' });
      return;
    }
    const template = `GET /v2/usercollection/${type}${documentId === undefined ? '' : '/{document_id}'}`;
    stats.api[template] = (stats.api[template] ?? 0) + 1;
    const respond = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      stats.apiStatuses[status] = (stats.apiStatuses[status] ?? 0) + 1;
      send(res, status, body, headers);
    };
    const context = oauth.authenticate(req.headers.authorization);
    if (!context) {
      respond(
        401,
        { status: 401, title: 'Unauthorized', detail: 'Invalid, expired or revoked access token' },
        { 'www-authenticate': 'Bearer' }
      );
      return;
    }
    const rate = consumeRate(context);
    if (!rate.allowed) {
      respond(429, { status: 429, title: 'Too Many Requests', detail: 'Request rate limit exceeded' }, rate.headers);
      return;
    }
    const delayMs = take(timeouts, path, '/v2/usercollection/')?.delayMs;
    if (delayMs !== undefined) {
      try {
        await sleep(delayMs, undefined, { signal: hangs.signal });
      } catch {
        res.destroy();
        return;
      }
    }
    const fault = take(faults, path, '/v2/usercollection/');
    if (fault) {
      const headers: Record<string, string> =
        fault.status === 429
          ? {
              'retry-after': '1',
              'x-ratelimit-limit': String(rateLimit.limit),
              'x-ratelimit-window': String(rateLimit.windowSeconds),
              'x-ratelimit-reset': String(Math.ceil(now() / 1000) + 1),
              'x-ratelimit-tier': 'application',
            }
          : {};
      respond(
        fault.status,
        { status: fault.status, title: 'Sandbox fault', detail: `Injected ${fault.status}` },
        headers
      );
      return;
    }
    const scope =
      type === 'heartrate'
        ? 'heartrate'
        : type === 'personal_info'
          ? undefined
          : COLLECTION_SCOPES[type as OuraDocumentType];
    if (scope !== undefined && !context.scopes.includes(scope)) {
      respond(403, { status: 403, title: 'Forbidden', detail: `The access token lacks the ${scope} scope` });
      return;
    }
    try {
      if (type === 'personal_info') {
        respond(200, personalInfo(context));
      } else if (type === 'heartrate') {
        respond(200, heartRate(context, url.searchParams));
      } else if (type === 'tag' || type === 'enhanced_tag' || type === 'session') {
        if (documentId !== undefined) {
          throw new HttpFailure(404, 'Not Found', 'Document not found');
        }
        respond(200, { data: [], next_token: null });
      } else if (documentId !== undefined) {
        const document = store.get(context.userId, type as OuraDocumentType, documentId);
        if (!document) {
          throw new HttpFailure(404, 'Not Found', 'Document not found');
        }
        respond(200, document);
      } else {
        respond(200, collection(type as OuraDocumentType, context, url.searchParams));
      }
    } catch (error) {
      if (error instanceof HttpFailure) {
        respond(error.status, error.body());
        return;
      }
      throw error;
    }
  }

  async function handleWebhookApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const clientId = req.headers['x-client-id'];
    const clientSecret = req.headers['x-client-secret'];
    const client = typeof clientId === 'string' ? oauth.client(clientId) : undefined;
    const key = `${req.method ?? 'GET'} ${webhookRouteTemplate(url.pathname)}`;
    stats.api[key] = (stats.api[key] ?? 0) + 1;
    const respond = (status: number, body: unknown): void => {
      stats.apiStatuses[status] = (stats.apiStatuses[status] ?? 0) + 1;
      send(res, status, body);
    };
    if (!client || clientSecret !== client.clientSecret) {
      respond(401, { status: 401, title: 'Unauthorized', detail: 'Invalid x-client-id or x-client-secret' });
      return;
    }
    const fault = take(faults, url.pathname, undefined);
    if (fault) {
      respond(fault.status, { status: fault.status, title: 'Sandbox fault', detail: `Injected ${fault.status}` });
      return;
    }
    const json = async (): Promise<unknown> => {
      const text = await readText(req);
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new HttpFailure(422, 'Validation Error', 'Invalid JSON body', [
          { loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' },
        ]);
      }
    };
    const id = /^\/v2\/webhook\/subscription\/(?:renew\/)?([^/]+)$/.exec(url.pathname)?.[1];
    const renew = url.pathname.startsWith('/v2/webhook/subscription/renew/');
    try {
      if (url.pathname === '/v2/webhook/subscription' && req.method === 'GET') {
        respond(200, webhooks.all(client.clientId).map(subscriptionView));
      } else if (url.pathname === '/v2/webhook/subscription' && req.method === 'POST') {
        const parsed = SubscriptionCreate.safeParse(await json());
        if (!parsed.success) {
          throw zodToValidation(parsed.error, 'body');
        }
        const created = await webhooks.create(client.clientId, {
          callbackUrl: parsed.data.callback_url,
          verificationToken: parsed.data.verification_token,
          eventType: parsed.data.event_type,
          dataType: parsed.data.data_type,
        });
        respond(201, subscriptionView(created));
      } else if (id !== undefined && renew && req.method === 'PUT') {
        respond(200, subscriptionView(webhooks.renew(client.clientId, id)));
      } else if (id !== undefined && !renew && req.method === 'GET') {
        respond(200, subscriptionView(webhooks.get(client.clientId, id)));
      } else if (id !== undefined && !renew && req.method === 'PUT') {
        const parsed = SubscriptionUpdate.safeParse(await json());
        if (!parsed.success) {
          throw zodToValidation(parsed.error, 'body');
        }
        const updated = await webhooks.update(client.clientId, id, {
          verificationToken: parsed.data.verification_token,
          ...(parsed.data.callback_url ? { callbackUrl: parsed.data.callback_url } : {}),
          ...(parsed.data.event_type ? { eventType: parsed.data.event_type } : {}),
          ...(parsed.data.data_type ? { dataType: parsed.data.data_type } : {}),
        });
        respond(200, subscriptionView(updated));
      } else if (id !== undefined && !renew && req.method === 'DELETE') {
        webhooks.delete(client.clientId, id);
        stats.apiStatuses[204] = (stats.apiStatuses[204] ?? 0) + 1;
        send(res, 204, undefined);
      } else {
        respond(404, { status: 404, title: 'Not Found', detail: 'No such endpoint' });
      }
    } catch (error) {
      if (error instanceof WebhookError) {
        respond(error.status, {
          status: error.status,
          title: error.status === 409 ? 'Conflict' : error.status === 403 ? 'Forbidden' : 'Bad Request',
          detail: error.message,
        });
        return;
      }
      if (error instanceof HttpFailure) {
        respond(error.status, error.body());
        return;
      }
      throw error;
    }
  }

  async function handleOAuth(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const fault = take(faults, url.pathname, undefined);
    if (fault) {
      send(res, fault.status, { error: 'server_error', error_description: `Sandbox fault ${fault.status}` });
      return;
    }
    if (url.pathname === '/oauth/authorize' && req.method === 'GET') {
      const check = oauth.checkAuthorize(url.searchParams);
      if (check.kind === 'redirect') {
        res.writeHead(302, { location: check.location }).end();
      } else if (check.kind === 'error') {
        res
          .writeHead(check.status, { 'content-type': 'text/html; charset=utf-8' })
          .end(
            `<!doctype html><title>Oura Sandbox – error</title><h1>${escapeHtml(check.error)}</h1><p>${escapeHtml(check.description)}</p>`
          );
      } else {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(
          renderConsentPage({
            clientName: check.request.client.name ?? check.request.client.clientId,
            scopes: check.request.scopes,
            challenge: oauth.createChallenge(check.request),
            users,
          })
        );
      }
      return;
    }
    if (url.pathname === '/oauth/authorize/consent' && req.method === 'POST') {
      const form = new URLSearchParams(await readText(req));
      const allow = form.get('decision') === 'allow';
      const chosen = form.get('user_id') ?? (users.length === 1 || !allow ? defaultUserId : null);
      if (chosen === null) {
        throw new HttpFailure(400, 'Bad Request', 'Choose who signs in to Oura');
      }
      if (!users.some((user) => user.userId === chosen)) {
        throw new HttpFailure(400, 'Bad Request', 'Unknown user');
      }
      const decision = oauth.decide(form.get('challenge') ?? '', allow, chosen, form.getAll('scope'));
      if ('error' in decision) {
        res
          .writeHead(400, { 'content-type': 'text/html; charset=utf-8' })
          .end(`<!doctype html><title>Oura Sandbox – error</title><p>${escapeHtml(decision.error)}</p>`);
        return;
      }
      res.writeHead(302, { location: decision.location }).end();
      return;
    }
    // The legacy endpoint and the one apps from the new developer portal use (providers.md §3.1): same behaviour.
    if ((url.pathname === '/oauth/token' || url.pathname === '/oauth/v2/ext/oauth-token') && req.method === 'POST') {
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      const text = await readText(req);
      if (contentType !== 'application/x-www-form-urlencoded') {
        stats.tokenRequests.failed += 1;
        send(res, 400, { error: 'invalid_request', error_description: 'Expected application/x-www-form-urlencoded' });
        return;
      }
      const form = new URLSearchParams(text);
      const result = oauth.token(form, req.headers.authorization);
      const grantType = form.get('grant_type');
      if (result.status !== 200) {
        stats.tokenRequests.failed += 1;
      } else if (grantType === 'authorization_code' || grantType === 'refresh_token') {
        stats.tokenRequests[grantType] += 1;
      }
      send(res, result.status, result.body, { 'cache-control': 'no-store', pragma: 'no-cache' });
      return;
    }
    if (url.pathname === '/oauth/revoke' && (req.method === 'GET' || req.method === 'POST')) {
      const body = req.method === 'POST' ? new URLSearchParams(await readText(req)) : new URLSearchParams();
      const accessToken = url.searchParams.get('access_token') ?? body.get('access_token') ?? '';
      if (!oauth.revokeAccessToken(accessToken)) {
        send(res, 400, { error: 'invalid_token', error_description: 'Unknown or already revoked access token' });
        return;
      }
      send(res, 200, {});
      return;
    }
    send(res, 404, { error: 'not_found', error_description: 'No such endpoint' });
  }

  async function dispatch(events: RecordEvent[]): Promise<ControlResult> {
    const dispatches = await Promise.all(events.map((event) => webhooks.send(event)));
    return { events, dispatches };
  }

  const control: SandboxControl = {
    injectFaults(fault) {
      faults.push({ ...fault, remaining: fault.count });
    },
    injectTimeout(timeout) {
      timeouts.push({
        remaining: timeout.count,
        delayMs: timeout.delayMs,
        ...(timeout.pathPrefix ? { pathPrefix: timeout.pathPrefix } : {}),
      });
    },
    addDay: () => dispatch(changeRecords({ op: 'add-day', at: now() })),
    reanalyseSleep: (userId, id) => dispatch(changeRecords({ op: 'reanalyse', userId, id, at: now() })),
    deleteDocument: (userId, dataType, id) =>
      dispatch(changeRecords({ op: 'delete', userId, dataType, id, at: now() })),
    sendWebhook: (event) =>
      webhooks.send({
        userId: event.userId ?? defaultUserId,
        dataType: event.dataType,
        eventType: event.eventType,
        objectId: event.objectId,
        eventTime: now(),
      }),
    subscriptions: () =>
      webhooks
        .all()
        .map((subscription: Subscription) => ({ ...subscriptionView(subscription), client_id: subscription.clientId })),
    advanceClock(ms) {
      clockOffsetMs += ms;
      save();
    },
    stats: () => {
      const deliveries = [...webhooks.deliveries];
      return {
        api: { ...stats.api },
        apiStatuses: { ...stats.apiStatuses },
        tokenRequests: { ...stats.tokenRequests },
        tokenRefreshes: oauth.refreshCount,
        refreshTokenReuseRefusals: oauth.refreshReuseRefusals,
        webhookDeliveries: deliveries,
        webhookFailures: deliveries.filter((attempt) => !(typeof attempt.status === 'number' && attempt.status < 300))
          .length,
        webhookRetries: deliveries.filter((attempt) => attempt.attempt > 1).length,
        challenges: [...webhooks.challenges],
      };
    },
    tokensFor: (userId) => oauth.tokensFor(userId),
    revokeUserAccess: (userId) => oauth.revokeAllGrantsOf(userId),
    documents: (type, userId) => store.list(userId ?? defaultUserId, type),
    heartRate: (start, end, userId) => store.heartRate(userId ?? defaultUserId, Date.parse(start), Date.parse(end)),
    currentDate: () => store.currentDate(),
    webhooksIdle: () => webhooks.idle(),
  };

  async function handleControl(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const action = url.pathname.slice('/_sandbox/'.length);
    const body = async <T>(schema: z.ZodType<T>): Promise<T> => {
      const text = await readText(req);
      let value: unknown;
      try {
        value = text === '' ? {} : (JSON.parse(text) as unknown);
      } catch {
        throw new HttpFailure(400, 'Bad Request', 'Invalid JSON body');
      }
      const parsed = schema.safeParse(value);
      if (!parsed.success) {
        throw new HttpFailure(400, 'Bad Request', z.prettifyError(parsed.error));
      }
      return parsed.data;
    };
    const route = `${req.method} ${action}`;
    switch (route) {
      case 'GET stats':
        send(res, 200, control.stats());
        return;
      case 'GET users':
        send(res, 200, { users, defaultUserId, currentDate: control.currentDate() });
        return;
      case 'GET subscriptions':
        send(res, 200, { subscriptions: control.subscriptions() });
        return;
      case 'GET tokens':
        send(res, 200, { tokens: control.tokensFor(url.searchParams.get('userId') ?? defaultUserId) });
        return;
      case 'POST faults':
        control.injectFaults(await body(ControlBodies.faults));
        send(res, 204, undefined);
        return;
      case 'POST timeouts':
        control.injectTimeout(await body(ControlBodies.timeouts));
        send(res, 204, undefined);
        return;
      case 'POST add-day':
        send(res, 200, await control.addDay());
        return;
      case 'POST reanalyse': {
        const parsed = await body(ControlBodies.reanalyse);
        send(res, 200, await control.reanalyseSleep(parsed.userId ?? defaultUserId, parsed.id));
        return;
      }
      case 'POST delete': {
        const parsed = await body(ControlBodies.delete);
        send(res, 200, await control.deleteDocument(parsed.userId ?? defaultUserId, parsed.dataType, parsed.id));
        return;
      }
      case 'POST webhooks': {
        const parsed = await body(ControlBodies.webhook);
        send(
          res,
          200,
          await control.sendWebhook({
            dataType: parsed.dataType,
            eventType: parsed.eventType,
            objectId: parsed.objectId,
            ...(parsed.userId === undefined ? {} : { userId: parsed.userId }),
          })
        );
        return;
      }
      case 'POST advance-clock':
        control.advanceClock((await body(ControlBodies.clock)).ms);
        send(res, 204, undefined);
        return;
      case 'POST revoke-user':
        control.revokeUserAccess((await body(ControlBodies.revoke)).userId);
        send(res, 204, undefined);
        return;
      default:
        send(res, 404, { status: 404, title: 'Not Found', detail: `Unknown control ${route}` });
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const work = url.pathname.startsWith('/v2/usercollection/')
      ? handleApi(req, res, url)
      : url.pathname.startsWith('/v2/webhook/subscription')
        ? handleWebhookApi(req, res, url)
        : url.pathname.startsWith('/oauth/')
          ? handleOAuth(req, res, url)
          : url.pathname.startsWith('/_sandbox/')
            ? handleControl(req, res, url)
            : Promise.resolve(send(res, 404, { status: 404, title: 'Not Found', detail: 'No such endpoint' }));
    work.catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpFailure) {
        send(res, error.status, error.body());
        return;
      }
      send(res, 500, {
        status: 500,
        title: 'Internal Server Error',
        detail: error instanceof Error ? error.message : String(error),
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  if (caughtUp.length > 0) {
    // Not awaited: deliveries (with retries) may take a while; `control.webhooksIdle()` waits for them.
    void dispatch(caughtUp);
  }
  return {
    baseUrl,
    apiBaseUrl: baseUrl,
    authBaseUrl: baseUrl,
    users,
    userId: defaultUserId,
    control,
    async close() {
      webhooks.close();
      hangs.abort();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await webhooks.idle();
    },
  };
}

/** The spec's path template of a webhook-subscription path, for the call counts. */
function webhookRouteTemplate(path: string): string {
  if (path === '/v2/webhook/subscription') {
    return path;
  }
  return path.startsWith('/v2/webhook/subscription/renew/')
    ? '/v2/webhook/subscription/renew/{id}'
    : '/v2/webhook/subscription/{id}';
}

function applyRecordOp(store: OuraStore, op: RecordOp): RecordEvent[] {
  switch (op.op) {
    case 'reanalyse':
      return store.reanalyse(op.userId, op.id, op.at);
    case 'delete':
      return store.deleteDocument(op.userId, op.dataType, op.id, op.at);
    case 'add-day':
      return store.addDay(op.at);
  }
}

/**
 * Plays the member on the consent page: opens `authorizeUrl`, answers, and returns the redirect the browser would
 * follow (to the app's redirect URI, with `code`/`scope`/`state` or `error`). For tests and scripted demos.
 * @param authorizeUrl - The full `/oauth/authorize?...` URL the app built.
 * @param options - `decision` (default allow), who signs in (default the first person; a number is a position in
 *   `users`), and `scopes` to leave ticked (default all offered; the rest are unticked, as a member may).
 * @returns The `Location` the sandbox redirected to.
 */
export async function approveConsent(
  authorizeUrl: string,
  options: { decision?: 'allow' | 'deny'; userId?: number | string; scopes?: readonly string[] } = {}
): Promise<string> {
  const page = await fetch(authorizeUrl, { redirect: 'manual' });
  const immediate = page.headers.get('location');
  if (page.status === 302 && immediate) {
    return immediate;
  }
  const html = await page.text();
  if (page.status !== 200) {
    throw new Error(`The authorize request was refused (${page.status}): ${html.replace(/<[^>]+>/g, ' ').trim()}`);
  }
  const challenge = /name="challenge" value="([^"]+)"/.exec(html)?.[1];
  const userIds = [...html.matchAll(/name="user_id" value="([^"]+)"/g)].map((found) => found[1] ?? '');
  const offered = [...html.matchAll(/name="scope" value="([^"]+)"/g)].map((found) => found[1] ?? '');
  if (!challenge || userIds.length === 0) {
    throw new Error('The consent page has no form');
  }
  const userId = typeof options.userId === 'number' ? userIds[options.userId] : (options.userId ?? userIds[0]);
  if (userId === undefined) {
    throw new Error(`No person at position ${String(options.userId)} on the consent page`);
  }
  const form = new URLSearchParams({ challenge, user_id: userId, decision: options.decision ?? 'allow' });
  for (const scope of offered.filter((name) => options.scopes === undefined || options.scopes.includes(name))) {
    form.append('scope', scope);
  }
  const response = await fetch(new URL('/oauth/authorize/consent', authorizeUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
    redirect: 'manual',
  });
  const location = response.headers.get('location');
  if (response.status !== 302 || !location) {
    throw new Error(`The consent was refused (${response.status})`);
  }
  return location;
}

export { OURA_SCOPES };
