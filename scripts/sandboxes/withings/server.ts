/**
 * The Withings sandbox: a loopback stand-in for account.withings.com (the consent page) and wbsapi.withings.net (the
 * Public Health Data API: OAuth tokens, signatures, measures, activity, intraday, workouts, sleep, notifications),
 * serving the WHOOP sandbox's synthetic people wearing Withings devices (data.ts), plus a control surface
 * (`control` methods and `/_sandbox/*` JSON) for tests and the dev stack. See README.md beside this file for what is
 * faithful and what is not.
 *
 * Wire format (reference/providers.md §2): every service is `POST <service>` with form parameters (or GET with a
 * query) and an `action`; every answer is HTTP 200 with `{status, body}`, `status: 0` on success and an error code
 * with an `error` string otherwise.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { dateOfDay, dayNumberOf, todayUtc } from '../whoop/data.ts';
import { sandboxPopulation } from '../people.ts';
import type { PersonTraits } from '../whoop/data.ts';
import type { SandboxPersonName } from '../whoop/server.ts';
import type { Activity, IntradayEntry, MeasureGroup, SleepSegment, SleepSummary, Workout } from './data.ts';
import {
  DEFAULT_DROP_AFTER_FAILURES,
  DEFAULT_NOTIFY_TIMEOUT_MS,
  DEFAULT_RETRY_DELAYS_MS,
  NEVER_EXPIRES,
  Notifier,
} from './notify.ts';
import type { HeadCheck, NotificationAttempt, NotificationOutcome, Subscription } from './notify.ts';
import { fail, ok, SCOPE_DESCRIPTIONS, WithingsOAuth } from './oauth.ts';
import type { AccessContext, IssuedTokens, SandboxClient, WithingsAnswer, WithingsScope } from './oauth.ts';
import { loadState, saveState, STATE_VERSION } from './persist.ts';
import type { SandboxState } from './persist.ts';
import { StoreError, WithingsStore } from './store.ts';
import type { DataChange, MeasureChange, RecordOp } from './store.ts';

export type { SandboxClient } from './oauth.ts';
export type { SandboxPersonName } from '../whoop/server.ts';

export const DEFAULT_SEED = 1;
export const DEFAULT_DAYS = 400;
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 120;
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 10_800;
/** Rows per page for getmeas, getactivity, getworkouts and getsummary (Withings does not document its size). */
export const DEFAULT_PAGE_SIZE = 200;
const MAX_BODY_BYTES = 64 * 1024;
const DAY_SECONDS = 86_400;

export interface WithingsSandboxOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: '127.0.0.1';
  seed?: number;
  /** The newest day with data (`YYYY-MM-DD`); default today (UTC). */
  endDate?: string;
  /** Days of history ending at `endDate` (default 400). */
  days?: number;
  /** Synthetic people, exactly as the WHOOP sandbox's `people` (same seed and index → same person). */
  people?: number | readonly SandboxPersonName[];
  clients: SandboxClient[];
  /** Keep the state in `<dataDir>/withings-sandbox-state.json` and resume from it on start. */
  dataDir?: string;
  accessTokenTtlSeconds?: number;
  rateLimitPerMinute?: number;
  /** Waits between notification attempts (default: Withings' 10 attempts in 5 cycles, in fast milliseconds). */
  notifyRetryDelaysMs?: readonly number[];
  notifyTimeoutMs?: number;
  /** Consecutive failed notifications (each after all its attempts) before a subscription is removed (default 4). */
  notifyDropAfterFailures?: number;
  pageSize?: number;
  /** The sandbox clock (token/code/nonce expiry, rate-limit windows, `updatetime`, `modified` of added days). */
  now?: () => number;
}

export interface SandboxUser {
  userId: number;
  email: string;
  firstName: string;
  lastName: string;
  timeZone: string;
  recentEpisodeStart?: string;
}

export type FaultKind = 'http-500' | 'status-601' | 'status-522' | 'status-401';

export interface FaultSpec {
  kind: FaultKind;
  count: number;
  /** Only calls with this `action` (e.g. `getmeas`). */
  action?: string;
  /**
   * Only calls under this path (e.g. `/v2/sleep`). Without it, faults hit the data services (`/measure`,
   * `/v2/measure`, `/v2/sleep`, `/notify`, `/v2/user`); OAuth and signature calls fail only when named here.
   */
  pathPrefix?: string;
}

export interface SandboxStats {
  /** Calls by service and action, e.g. `measure getmeas`, `v2/oauth2 requesttoken`. */
  calls: Record<string, number>;
  /** Answers by body `status` (and `http-500` for injected outages). */
  statuses: Record<string, number>;
  tokenRequests: { authorization_code: number; refresh_token: number; failed: number };
  tokenRefreshes: number;
  rateLimited: number;
  /** Counted per HTTP attempt: `delivered` (< 400), `failed` (≥ 400, timeout, network error), `retried` (attempt > 1). */
  notifications: {
    delivered: number;
    failed: number;
    retried: number;
    /** Subscriptions removed after repeated failures. */
    dropped: number;
    attempts: NotificationAttempt[];
  };
  headChecks: HeadCheck[];
}

export interface NotificationResult {
  change: DataChange;
  outcomes: NotificationOutcome[];
}

export interface SandboxControl {
  injectFaults(fault: FaultSpec): void;
  injectTimeout(options: { count: number; delayMs: number; pathPrefix?: string }): void;
  /** The next day's data arrives (modified = now); notifies every subscribed category. */
  addDay(): Promise<NotificationResult[]>;
  /** Changes measures of a group (real values by meastype) and bumps its `modified`; notifies its category. */
  editMeasure(userId: number, grpid: number, changes: MeasureChange[]): Promise<NotificationResult[]>;
  deleteMeasure(userId: number, grpid: number): Promise<NotificationResult[]>;
  sendNotification(
    userId: number,
    appli: number,
    window: { startdate: number; enddate: number }
  ): Promise<NotificationResult>;
  subscriptions(userId?: number): Subscription[];
  /**
   * Withings removes a subscription after repeated failed deliveries and tells no one (notify.ts models the rule);
   * this does it at once. @returns how many went
   */
  dropSubscriptions(userId: number, applis: readonly number[]): number;
  stats(): SandboxStats;
  tokensFor(userId: number): IssuedTokens[];
  /** The person removes every app in Health Mate: grants, tokens and subscriptions go. */
  revokeUserAccess(userId: number): void;
  /** The newest day with data. */
  currentDate(): string;
  notificationsIdle(): Promise<void>;
  /** Ground truth (what the API pages through, unpaginated). */
  measureGroups(userId?: number): MeasureGroup[];
  activities(userId?: number): Activity[];
  workouts(userId?: number): Workout[];
  sleepSummaries(userId?: number): SleepSummary[];
  /** A local day's intraday entries keyed by epoch second. */
  intraday(userId: number, date: string): Record<string, IntradayEntry>;
}

export interface WithingsSandbox {
  baseUrl: string;
  /** The wbsapi.withings.net stand-in (`<apiBaseUrl>/v2/oauth2`, `/measure`, `/v2/measure`, `/v2/sleep`, `/notify`). */
  apiBaseUrl: string;
  /** The account.withings.com stand-in (`<authBaseUrl>/oauth2_user/authorize2`). */
  authBaseUrl: string;
  users: SandboxUser[];
  /** The default synthetic person's Withings user id. */
  userId: number;
  control: SandboxControl;
  close(): Promise<void>;
}

class HttpFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** A Withings error inside an HTTP 200 answer. */
class WithingsError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const DATA_SERVICES = ['/measure', '/v2/measure', '/v2/sleep', '/notify', '/v2/user'] as const;
const ALL_SERVICES = [...DATA_SERVICES, '/v2/oauth2', '/v2/signature'] as const;

/** Which scope each notification category needs (reference/providers.md §2.3). */
const APPLI_SCOPES: Readonly<Record<number, WithingsScope>> = {
  1: 'user.metrics',
  2: 'user.metrics',
  4: 'user.metrics',
  16: 'user.activity',
  44: 'user.sleepevents',
  46: 'user.info',
  50: 'user.sleepevents',
  51: 'user.sleepevents',
  54: 'user.metrics',
  55: 'user.metrics',
  58: 'user.metrics',
};

const INTRADAY_FIELDS = ['steps', 'elevation', 'calories', 'distance', 'duration', 'heart_rate'] as const;
const SLEEP_GET_FIELDS = ['hr', 'rr', 'snoring'] as const;
/** Status for a token that lacks the scope an action needs (one of the spec's "unauthorized" codes). */
const MISSING_SCOPE_STATUS = 214;
const NO_SUCH_SUBSCRIPTION_STATUS = 343;
const CALLBACK_REFUSED_STATUS = 293;
const INVALID_TOKEN_ERROR = 'XRequestID: Not provided invalid_token: The access token provided is invalid';

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
      throw new HttpFailure(413, 'Request body too large');
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

function answerOf(answer: WithingsAnswer): Record<string, unknown> {
  return answer.error === undefined
    ? { status: answer.status, body: answer.body }
    : { status: answer.status, body: answer.body, error: answer.error };
}

function intParam(params: URLSearchParams, name: string): number | undefined {
  const value = params.get(name);
  if (value === null || value === '') {
    return undefined;
  }
  if (!/^-?\d+$/.test(value)) {
    throw new WithingsError(503, `Invalid Params: ${name} must be an integer`);
  }
  return Number(value);
}

function ymdParam(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name);
  if (value === null || value === '') {
    return undefined;
  }
  try {
    dayNumberOf(value);
  } catch {
    throw new WithingsError(503, `Invalid Params: ${name} must be YYYY-MM-DD`);
  }
  return value;
}

function fieldsParam(params: URLSearchParams): Set<string> | undefined {
  const value = params.get('data_fields');
  return value === null || value === '' ? undefined : new Set(value.split(',').map((field) => field.trim()));
}

function renderConsentPage(options: {
  clientName: string;
  scopes: WithingsScope[];
  challenge: string;
  users: SandboxUser[];
}): string {
  const scopeItems = options.scopes
    .map(
      (scope) => `<li><strong>${escapeHtml(scope)}</strong><span>${escapeHtml(SCOPE_DESCRIPTIONS[scope])}</span></li>`
    )
    .join('');
  const nameOf = (user: SandboxUser): string => `${user.firstName} ${user.lastName} (${user.email})`;
  const [only] = options.users;
  // No login in the sandbox: with several people the member says who they are, and nobody is preselected, so a
  // careless Allow cannot link someone else's account (the same contract as the WHOOP sandbox's page).
  const who =
    options.users.length === 1 && only
      ? `<p class="who">Connect Withings as <strong>${escapeHtml(nameOf(only))}</strong></p>
<input type="hidden" name="user_id" value="${only.userId}">`
      : `<fieldset><legend>Sign in to Withings as</legend>${options.users
          .map(
            (user) =>
              `<label><input type="radio" name="user_id" value="${user.userId}" required> ${escapeHtml(nameOf(user))}</label>`
          )
          .join('')}</fieldset>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Withings Sandbox – Authorize ${escapeHtml(options.clientName)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;font-family:system-ui,sans-serif;background:#f4f6f8;color:#1b1f24;display:flex;justify-content:center}
main{max-width:460px;padding:40px 24px;background:#fff;margin:32px 0;border-radius:12px}
.brand{font-weight:700;letter-spacing:.12em;font-size:26px;color:#0a3a5e}
.sandbox{color:#b85c00;font-size:12px;letter-spacing:.1em;text-transform:uppercase}
ul{list-style:none;padding:0}li{border-bottom:1px solid #e3e7eb;padding:10px 0;display:flex;flex-direction:column;gap:4px}
li span{color:#5b6570;font-size:14px}.who{margin:16px 0 24px}
fieldset{border:1px solid #d5dbe1;margin:8px 0 24px;padding:8px 12px}legend{color:#5b6570;font-size:14px}
label{display:block;padding:8px 0;cursor:pointer}
.actions{display:flex;gap:12px}button{flex:1;padding:14px;font-weight:700;border-radius:24px;border:0;cursor:pointer;font-size:15px}
.allow{background:#0a3a5e;color:#fff}.deny{background:#e3e7eb;color:#1b1f24}
</style></head>
<body><main>
<div class="brand">WITHINGS</div><div class="sandbox">Developer sandbox · synthetic data</div>
<h1>${escapeHtml(options.clientName)} would like to access your Health Mate data</h1>
<ul>${scopeItems}</ul>
<form method="post" action="/oauth2_user/consent">
<input type="hidden" name="challenge" value="${escapeHtml(options.challenge)}">
${who}
<div class="actions">
<button class="deny" type="submit" name="decision" value="deny" formnovalidate>Deny</button>
<button class="allow" type="submit" name="decision" value="allow">Allow</button>
</div></form>
</main></body></html>`;
}

const ControlBodies = {
  faults: z.object({
    kind: z.enum(['http-500', 'status-601', 'status-522', 'status-401']),
    count: z.number().int().positive(),
    action: z.string().optional(),
    pathPrefix: z.string().optional(),
  }),
  timeouts: z.object({
    count: z.number().int().positive(),
    delayMs: z.number().int().nonnegative(),
    pathPrefix: z.string().optional(),
  }),
  edit: z.object({
    userId: z.number().int(),
    grpid: z.number().int(),
    changes: z.array(z.object({ type: z.number().int(), value: z.number() })).min(1),
  }),
  remove: z.object({ userId: z.number().int(), grpid: z.number().int() }),
  notification: z.object({
    userId: z.number().int(),
    appli: z.number().int(),
    startdate: z.number().int(),
    enddate: z.number().int(),
  }),
  user: z.object({ userId: z.number().int() }),
};

/**
 * Starts the sandbox on loopback.
 * @param options - Seed, history window, people, apps, limits, notification timing and clock.
 * @returns The URLs, users, control surface and `close()`.
 */
export async function startWithingsSandbox(options: WithingsSandboxOptions): Promise<WithingsSandbox> {
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1') {
    throw new Error('The Withings sandbox listens on 127.0.0.1 only');
  }
  if (options.clients.length === 0) {
    throw new Error('The Withings sandbox needs at least one registered client');
  }
  const now = options.now ?? Date.now;
  const nowSeconds = (): number => Math.floor(now() / 1000);
  const seed = options.seed ?? DEFAULT_SEED;
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const dataDir = options.dataDir;
  if (dataDir !== undefined) {
    mkdirSync(dataDir, { recursive: true });
  }
  const saved = dataDir === undefined ? undefined : loadState(dataDir);

  // Records: regenerated from the seed as first generated, the logged changes replayed on top; days that passed
  // while the sandbox was stopped are added (their notifications go out once the server listens).
  const configuredEndDate = options.endDate ?? todayUtc(now());
  const savedRecords = saved?.records.seed === seed ? saved.records : undefined;
  const baseEndDate = savedRecords?.baseEndDate ?? configuredEndDate;
  // Demo episodes: placed exactly as the WHOOP sandbox places them, so both sandboxes show the same illness.
  const { people, episodes, users, personById, defaultUserId } = sandboxPopulation({
    seed,
    people: options.people,
    baseEndDate,
    ...(savedRecords ? { saved: savedRecords.episodes ?? [] } : {}),
  });
  const store = new WithingsStore({ people, endDate: baseEndDate, days: options.days ?? DEFAULT_DAYS });
  const recordLog: RecordOp[] = [];
  for (const op of savedRecords?.log ?? []) {
    try {
      store.apply(op);
      recordLog.push(op);
    } catch (error) {
      // Only a change to a person no longer configured can fail; it goes with that person.
      if (!(error instanceof StoreError)) {
        throw error;
      }
    }
  }
  const caughtUp: DataChange[] = [];
  while (store.currentDay < dayNumberOf(configuredEndDate)) {
    const op: RecordOp = { op: 'add-day', at: now() };
    caughtUp.push(...store.apply(op));
    recordLog.push(op);
  }

  const clients = new Map<string, SandboxClient>();
  for (const client of [...(saved?.clients ?? []), ...options.clients]) {
    clients.set(client.clientId, client);
  }
  let loading = true;
  const oauth = new WithingsOAuth({
    clients: [...clients.values()],
    now,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
    onChange: () => save(),
  });
  const notifier = new Notifier({
    now,
    retryDelaysMs: options.notifyRetryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
    timeoutMs: options.notifyTimeoutMs ?? DEFAULT_NOTIFY_TIMEOUT_MS,
    dropAfterFailures: options.notifyDropAfterFailures ?? DEFAULT_DROP_AFTER_FAILURES,
    onChange: () => save(),
  });
  if (saved) {
    oauth.importState(saved.oauth);
    notifier.replaceAll(
      saved.subscriptions.filter(
        (subscription) => clients.has(subscription.clientId) && personById.has(subscription.userId)
      )
    );
  }
  loading = false;

  /** Writes the state after a change; never on reads. */
  function save(): void {
    if (dataDir === undefined || loading) {
      return;
    }
    const state: SandboxState = {
      version: STATE_VERSION,
      clients: oauth.allClients(),
      oauth: oauth.exportState(),
      subscriptions: notifier.all(),
      records: { seed, baseEndDate, log: recordLog, ...(episodes.length > 0 ? { episodes } : {}) },
    };
    saveState(dataDir, state);
  }
  save();

  const stats = {
    calls: {} as Record<string, number>,
    statuses: {} as Record<string, number>,
    tokenRequests: { authorization_code: 0, refresh_token: 0, failed: 0 },
    rateLimited: 0,
  };
  const faults: (FaultSpec & { remaining: number })[] = [];
  const timeouts: { remaining: number; delayMs: number; pathPrefix?: string }[] = [];
  const rateWindows = new Map<string, { start: number; count: number }>();
  const rateLimit = options.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE;
  const hangs = new AbortController();

  function bump(map: Record<string, number>, key: string): void {
    map[key] = (map[key] ?? 0) + 1;
  }

  /** 120 requests per minute per app, every action counted; the window starts at the app's first call. */
  function consumeRate(clientId: string): boolean {
    const at = now();
    let window = rateWindows.get(clientId);
    if (!window || at >= window.start + 60_000) {
      window = { start: at, count: 0 };
      rateWindows.set(clientId, window);
    }
    if (window.count >= rateLimit) {
      return false;
    }
    window.count += 1;
    return true;
  }

  function matches(path: string, action: string, prefix: string | undefined, wantedAction?: string): boolean {
    if (wantedAction !== undefined && wantedAction !== action) {
      return false;
    }
    if (prefix === undefined) {
      return (DATA_SERVICES as readonly string[]).includes(path);
    }
    return path.startsWith(prefix);
  }

  function takeFault(path: string, action: string): FaultSpec | undefined {
    const fault = faults.find((candidate) => matches(path, action, candidate.pathPrefix, candidate.action));
    if (!fault) {
      return undefined;
    }
    fault.remaining -= 1;
    if (fault.remaining <= 0) {
      faults.splice(faults.indexOf(fault), 1);
    }
    return fault;
  }

  function takeTimeout(path: string, action: string): number | undefined {
    const timeout = timeouts.find((candidate) => matches(path, action, candidate.pathPrefix));
    if (!timeout) {
      return undefined;
    }
    timeout.remaining -= 1;
    if (timeout.remaining <= 0) {
      timeouts.splice(timeouts.indexOf(timeout), 1);
    }
    return timeout.delayMs;
  }

  function personOf(context: AccessContext): PersonTraits {
    const person = personById.get(context.userId);
    if (!person) {
      // A grant of a person no longer configured: as if the account were gone.
      throw new WithingsError(401, INVALID_TOKEN_ERROR);
    }
    return person;
  }

  function requireScope(context: AccessContext, scope: WithingsScope): void {
    if (!context.scopes.includes(scope)) {
      throw new WithingsError(MISSING_SCOPE_STATUS, `Unauthorized: this access token does not grant ${scope}`);
    }
  }

  function page<T>(rows: readonly T[], params: URLSearchParams): { rows: T[]; more: boolean; offset: number } {
    const offset = intParam(params, 'offset') ?? 0;
    if (offset < 0) {
      throw new WithingsError(503, 'Invalid Params: offset');
    }
    const slice = rows.slice(offset, offset + pageSize);
    const more = offset + pageSize < rows.length;
    return { rows: slice, more, offset: more ? offset + pageSize : 0 };
  }

  /**
   * The daily services take `startdateymd` + `enddateymd` XOR `lastupdate`. Both at once returns nothing, as
   * Withings does (vangorra/python_withings_api#92); neither is invalid.
   */
  function dailyFilter(params: URLSearchParams): ((row: { date: string; modified: number }) => boolean) | 'empty' {
    const start = ymdParam(params, 'startdateymd');
    const end = ymdParam(params, 'enddateymd');
    const lastupdate = intParam(params, 'lastupdate');
    const hasRange = start !== undefined || end !== undefined;
    if (hasRange && lastupdate !== undefined) {
      return 'empty';
    }
    if (lastupdate !== undefined) {
      return (row) => row.modified > lastupdate;
    }
    if (start === undefined || end === undefined) {
      throw new WithingsError(503, 'Invalid Params: startdateymd and enddateymd, or lastupdate, are required');
    }
    return (row) => row.date >= start && row.date <= end;
  }

  function pickFields<T extends object>(row: T, keep: readonly string[], fields: Set<string> | undefined): T {
    if (fields === undefined) {
      return row;
    }
    return Object.fromEntries(
      Object.entries(row).filter(([key]) => keep.includes(key) || fields.has(key))
    ) as unknown as T;
  }

  function getmeas(context: AccessContext, params: URLSearchParams): WithingsAnswer {
    requireScope(context, 'user.metrics');
    const person = personOf(context);
    const single = intParam(params, 'meastype');
    const list = params.get('meastypes');
    const types =
      single !== undefined
        ? new Set([single])
        : list
          ? new Set(
              list.split(',').map((value) => {
                if (!/^\d+$/.test(value.trim())) {
                  throw new WithingsError(503, 'Invalid Params: meastypes');
                }
                return Number(value);
              })
            )
          : undefined;
    const category = intParam(params, 'category') ?? 1;
    const startdate = intParam(params, 'startdate');
    const enddate = intParam(params, 'enddate');
    const lastupdate = intParam(params, 'lastupdate');
    // Category 2 is user objectives (goals): the synthetic people set none.
    const groups =
      category !== 1
        ? []
        : store
            .measureGroups(context.userId)
            .filter(
              (group) =>
                (startdate === undefined || group.date >= startdate) &&
                (enddate === undefined || group.date <= enddate) &&
                (lastupdate === undefined || group.modified > lastupdate)
            )
            .map((group) =>
              types === undefined
                ? group
                : { ...group, measures: group.measures.filter((measure) => types.has(measure.type)) }
            )
            .filter((group) => group.measures.length > 0);
    const paged = page(groups, params);
    return ok({
      updatetime: nowSeconds(),
      timezone: person.zone.name,
      measuregrps: paged.rows,
      more: paged.more ? 1 : 0,
      offset: paged.offset,
    });
  }

  function daily<T extends { date: string; modified: number }>(
    rows: readonly T[],
    params: URLSearchParams,
    key: 'activities' | 'series',
    shape: (row: T, fields: Set<string> | undefined) => T
  ): WithingsAnswer {
    const filter = dailyFilter(params);
    if (filter === 'empty') {
      return ok({ [key]: [], more: false, offset: 0 });
    }
    const fields = fieldsParam(params);
    const paged = page(
      rows.filter((row) => filter(row)),
      params
    );
    return ok({ [key]: paged.rows.map((row) => shape(row, fields)), more: paged.more, offset: paged.offset });
  }

  const ACTIVITY_KEEP = [
    'date',
    'timezone',
    'deviceid',
    'hash_deviceid',
    'brand',
    'is_tracker',
    'modified',
    'model',
    'modelid',
  ];

  function getintradayactivity(context: AccessContext, params: URLSearchParams): WithingsAnswer {
    requireScope(context, 'user.activity');
    let start = intParam(params, 'startdate');
    let end = intParam(params, 'enddate');
    if (start === undefined && end === undefined) {
      // None given: the most recent day of data.
      end = store.endOfData(context.userId);
      start = end - DAY_SECONDS;
    } else if (start === undefined) {
      start = (end ?? 0) - DAY_SECONDS;
    }
    const from = start;
    // Only the first 24 hours after startdate are returned (the spec says so); enddate is inclusive.
    const to = Math.min(end === undefined ? from + DAY_SECONDS : end + 1, from + DAY_SECONDS);
    if (to <= from) {
      throw new WithingsError(503, 'Invalid Params: enddate before startdate');
    }
    const fields = fieldsParam(params);
    const wanted = fields === undefined ? INTRADAY_FIELDS : INTRADAY_FIELDS.filter((field) => fields.has(field));
    const series: Record<string, IntradayEntry> = {};
    for (const [at, entry] of Object.entries(store.intraday(context.userId, from, to))) {
      const kept = pickFields(entry, ['deviceid', 'model', 'model_id'], new Set(wanted));
      if (wanted.some((field) => field in kept)) {
        series[at] = kept;
      }
    }
    return ok({ series });
  }

  function sleepGet(context: AccessContext, params: URLSearchParams): WithingsAnswer {
    requireScope(context, 'user.sleepevents');
    const start = intParam(params, 'startdate');
    const end = intParam(params, 'enddate');
    if (start === undefined || end === undefined || end < start) {
      throw new WithingsError(503, 'Invalid Params: startdate and enddate are required');
    }
    const fields = fieldsParam(params);
    const wanted = fields === undefined ? SLEEP_GET_FIELDS : SLEEP_GET_FIELDS.filter((field) => fields.has(field));
    const segments = store
      .sleepSegments(context.userId, start, Math.min(end + 1, start + DAY_SECONDS))
      .map((segment) =>
        pickFields(segment, ['startdate', 'enddate', 'state', 'model', 'model_id', 'hash_deviceid'], new Set(wanted))
      );
    return ok({ series: segments as Partial<SleepSegment>[], model: 32 });
  }

  function getdevice(context: AccessContext): WithingsAnswer {
    requireScope(context, 'user.info');
    const generator = store.generator(context.userId);
    const first = Math.floor(Date.UTC(2024, 0, 1) / 1000);
    const last = store.endOfData(context.userId) - 3600;
    return ok({
      devices: generator.devices().map((device) => ({
        type: device.deviceType,
        model: device.model,
        model_id: device.modelId,
        battery: 'high',
        deviceid: device.deviceid,
        hash_deviceid: device.hashDeviceid,
        timezone: generator.timezone,
        first_session_date: first,
        last_session_date: last,
      })),
    });
  }

  async function notifyAction(
    context: AccessContext,
    action: string,
    params: URLSearchParams
  ): Promise<WithingsAnswer> {
    const appli = intParam(params, 'appli');
    const callbackurl = params.get('callbackurl') ?? '';
    const mine = (subscription: Subscription): boolean =>
      subscription.clientId === context.clientId && subscription.userId === context.userId;
    const checkAppli = (value: number | undefined): number => {
      if (value === undefined) {
        throw new WithingsError(503, 'Invalid Params: appli is required');
      }
      const scope = APPLI_SCOPES[value];
      if (scope === undefined) {
        throw new WithingsError(503, `Invalid Params: unknown appli ${value}`);
      }
      requireScope(context, scope);
      return value;
    };
    const checkCallback = async (url: string): Promise<void> => {
      let parsed: URL | undefined;
      try {
        parsed = new URL(url);
      } catch {
        parsed = undefined;
      }
      const valid = parsed !== undefined && (parsed.protocol === 'https:' || parsed.protocol === 'http:');
      if (!valid || url.length > 255 || !(await notifier.headCheck(url))) {
        throw new WithingsError(CALLBACK_REFUSED_STATUS, `The callback URL '${url}' is either unknown or invalid`);
      }
    };
    switch (action) {
      case 'subscribe': {
        const category = checkAppli(appli);
        await checkCallback(callbackurl);
        notifier.add({
          clientId: context.clientId,
          userId: context.userId,
          appli: category,
          callbackurl,
          comment: params.get('comment') ?? '',
        });
        return ok();
      }
      case 'get': {
        const category = appli ?? 1;
        const found = notifier
          .list({ clientId: context.clientId, userId: context.userId, appli: category })
          .find((subscription) => subscription.callbackurl === callbackurl);
        if (!found) {
          throw new WithingsError(NO_SUCH_SUBSCRIPTION_STATUS, 'No such subscription');
        }
        return ok({ appli: found.appli, callbackurl: found.callbackurl, comment: found.comment });
      }
      case 'list':
        return ok({
          profiles: notifier
            .list({ clientId: context.clientId, userId: context.userId, ...(appli === undefined ? {} : { appli }) })
            .map((subscription) => ({
              appli: subscription.appli,
              callbackurl: subscription.callbackurl,
              expires: NEVER_EXPIRES,
              comment: subscription.comment,
            })),
        });
      case 'update': {
        const category = checkAppli(appli);
        const found = notifier
          .list({ clientId: context.clientId, userId: context.userId, appli: category })
          .find((subscription) => subscription.callbackurl === callbackurl);
        if (!found) {
          throw new WithingsError(NO_SUCH_SUBSCRIPTION_STATUS, 'No such subscription');
        }
        const newUrl = params.get('new_callbackurl') ?? callbackurl;
        const newAppli = intParam(params, 'new_appli') ?? category;
        checkAppli(newAppli);
        if (newUrl !== callbackurl) {
          await checkCallback(newUrl);
        }
        notifier.remove((subscription) => mine(subscription) && subscription === found);
        notifier.add({
          ...found,
          callbackurl: newUrl,
          appli: newAppli,
          comment: params.get('comment') ?? found.comment,
        });
        return ok();
      }
      case 'revoke': {
        if (callbackurl === '') {
          throw new WithingsError(503, 'Invalid Params: callbackurl is required');
        }
        const removed = notifier.remove(
          (subscription) =>
            mine(subscription) &&
            subscription.callbackurl === callbackurl &&
            (appli === undefined || subscription.appli === appli)
        );
        if (removed === 0) {
          throw new WithingsError(NO_SUCH_SUBSCRIPTION_STATUS, 'No such subscription');
        }
        return ok();
      }
      default:
        throw new WithingsError(2554, `Unknown action ${action}`);
    }
  }

  async function dataAction(
    path: string,
    action: string,
    context: AccessContext,
    params: URLSearchParams
  ): Promise<WithingsAnswer> {
    switch (`${path} ${action}`) {
      case '/measure getmeas':
        return getmeas(context, params);
      case '/v2/measure getactivity':
        requireScope(context, 'user.activity');
        return daily(store.activities(context.userId), params, 'activities', (row, fields) =>
          pickFields(row, ACTIVITY_KEEP, fields)
        );
      case '/v2/measure getworkouts':
        requireScope(context, 'user.activity');
        return daily(store.workouts(context.userId), params, 'series', (row, fields) =>
          fields === undefined ? row : { ...row, data: pickFields(row.data, [], fields) }
        );
      case '/v2/measure getintradayactivity':
        return getintradayactivity(context, params);
      case '/v2/sleep getsummary':
        requireScope(context, 'user.sleepevents');
        return daily(store.sleepSummaries(context.userId), params, 'series', (row, fields) =>
          fields === undefined ? row : { ...row, data: pickFields(row.data, [], fields) }
        );
      case '/v2/sleep get':
        return sleepGet(context, params);
      case '/v2/user getdevice':
        return getdevice(context);
      default:
        if (path === '/notify') {
          return notifyAction(context, action, params);
        }
        throw new WithingsError(2554, `Unknown action ${action} for ${path}`);
    }
  }

  async function handleWbsapi(req: IncomingMessage, res: ServerResponse, url: URL, path: string): Promise<void> {
    const params = new URLSearchParams(url.searchParams);
    if (req.method === 'POST') {
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      const text = await readText(req);
      if (contentType === '' || contentType === 'application/x-www-form-urlencoded') {
        for (const [key, value] of new URLSearchParams(text)) {
          params.set(key, value);
        }
      }
    } else if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'Method not allowed' });
      return;
    }
    const action = params.get('action') ?? '';
    bump(stats.calls, `${path.slice(1)} ${action}`);
    const answer = (result: WithingsAnswer): void => {
      bump(stats.statuses, String(result.status));
      sendJson(res, 200, answerOf(result));
    };

    // The app a call counts against: its token's for data calls, its client_id's for OAuth and signature calls.
    const isData = (DATA_SERVICES as readonly string[]).includes(path);
    const context = isData ? oauth.authenticate(req.headers.authorization) : undefined;
    if (isData && !context) {
      answer(fail(401, INVALID_TOKEN_ERROR));
      return;
    }
    const clientId = context?.clientId ?? params.get('client_id') ?? '';
    if (oauth.client(clientId) && !consumeRate(clientId)) {
      stats.rateLimited += 1;
      answer(fail(601, 'Too Many Requests'));
      return;
    }
    const delayMs = takeTimeout(path, action);
    if (delayMs !== undefined) {
      try {
        await sleep(delayMs, undefined, { signal: hangs.signal });
      } catch {
        res.destroy();
        return;
      }
    }
    const fault = takeFault(path, action);
    if (fault) {
      if (fault.kind === 'http-500') {
        bump(stats.statuses, 'http-500');
        res.writeHead(500, { 'content-type': 'text/html' }).end('<html><body>500 Internal Server Error</body></html>');
        return;
      }
      const status = Number(fault.kind.slice('status-'.length));
      answer(fail(status, status === 401 ? INVALID_TOKEN_ERROR : `Sandbox fault ${status}`));
      return;
    }
    try {
      if (path === '/v2/signature') {
        answer(action === 'getnonce' ? oauth.getNonce(params) : fail(2554, `Unknown action ${action}`));
        return;
      }
      if (path === '/v2/oauth2') {
        if (action === 'requesttoken') {
          const result = oauth.requestToken(params);
          if (result.status !== 0) {
            stats.tokenRequests.failed += 1;
          } else if (result.grantType) {
            stats.tokenRequests[result.grantType] += 1;
          }
          answer({ status: result.status, body: result.body, ...(result.error ? { error: result.error } : {}) });
          return;
        }
        if (action === 'revoke') {
          const result = oauth.revoke(params);
          if (result.revoked) {
            const { clientId: revokedClient, userId } = result.revoked;
            notifier.remove(
              (subscription) => subscription.clientId === revokedClient && subscription.userId === userId
            );
          }
          answer({ status: result.status, body: result.body, ...(result.error ? { error: result.error } : {}) });
          return;
        }
        answer(fail(2554, `Unknown action ${action}`));
        return;
      }
      if (!context) {
        answer(fail(401, INVALID_TOKEN_ERROR));
        return;
      }
      answer(await dataAction(path, action, context, params));
    } catch (error) {
      if (error instanceof WithingsError) {
        answer(fail(error.status, error.message));
        return;
      }
      throw error;
    }
  }

  async function handleAuthorize(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const html = (status: number, text: string): void => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(text);
    };
    if (url.pathname === '/oauth2_user/authorize2' && req.method === 'GET') {
      const check = oauth.checkAuthorize(url.searchParams);
      if (check.kind === 'redirect') {
        res.writeHead(302, { location: check.location }).end();
      } else if (check.kind === 'error') {
        html(
          check.status,
          `<!doctype html><title>Withings Sandbox – error</title><h1>${escapeHtml(check.error)}</h1><p>${escapeHtml(check.description)}</p>`
        );
      } else {
        const challenge = oauth.createChallenge(check.request);
        html(
          200,
          renderConsentPage({
            clientName: check.request.client.name ?? check.request.client.clientId,
            scopes: check.request.scopes,
            challenge,
            users,
          })
        );
      }
      return;
    }
    if (url.pathname === '/oauth2_user/consent' && req.method === 'POST') {
      const form = new URLSearchParams(await readText(req));
      const allow = form.get('decision') === 'allow';
      const chosen = form.get('user_id') ?? (users.length === 1 || !allow ? String(defaultUserId) : null);
      if (chosen === null) {
        throw new HttpFailure(400, 'Choose who signs in to Withings');
      }
      const userId = Number(chosen);
      if (!personById.has(userId)) {
        throw new HttpFailure(400, 'Unknown user');
      }
      const decision = oauth.decide(form.get('challenge') ?? '', allow, userId);
      if ('error' in decision) {
        html(400, `<!doctype html><title>Withings Sandbox – error</title><p>${escapeHtml(decision.error)}</p>`);
        return;
      }
      res.writeHead(302, { location: decision.location }).end();
      return;
    }
    sendJson(res, 404, { error: 'No such page' });
  }

  async function deliver(changes: DataChange[]): Promise<NotificationResult[]> {
    return Promise.all(
      changes.map(async (change) => ({
        change,
        outcomes: await notifier.notify({
          userid: change.userId,
          appli: change.appli,
          startdate: change.startdate,
          enddate: change.enddate,
        }),
      }))
    );
  }

  function changeRecords(op: RecordOp): DataChange[] {
    const changes = store.apply(op);
    recordLog.push(op);
    save();
    return changes;
  }

  function notificationStats(): SandboxStats['notifications'] {
    const attempts = [...notifier.attempts];
    return {
      delivered: attempts.filter((attempt) => typeof attempt.status === 'number' && attempt.status < 400).length,
      failed: attempts.filter((attempt) => !(typeof attempt.status === 'number' && attempt.status < 400)).length,
      retried: attempts.filter((attempt) => attempt.attempt > 1).length,
      dropped: notifier.dropped.length,
      attempts,
    };
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
    addDay: () => deliver(changeRecords({ op: 'add-day', at: now() })),
    editMeasure: (userId, grpid, changes) =>
      deliver(changeRecords({ op: 'edit-measure', userId, grpid, changes, at: now() })),
    deleteMeasure: (userId, grpid) => deliver(changeRecords({ op: 'delete-measure', userId, grpid, at: now() })),
    async sendNotification(userId, appli, window) {
      const change: DataChange = { userId, appli: appli as DataChange['appli'], ...window };
      const [result] = await deliver([change]);
      return result ?? { change, outcomes: [] };
    },
    subscriptions: (userId) => notifier.list(userId === undefined ? {} : { userId }),
    dropSubscriptions: (userId, applis) => notifier.drop((s) => s.userId === userId && applis.includes(s.appli)),
    stats: () => ({
      calls: { ...stats.calls },
      statuses: { ...stats.statuses },
      tokenRequests: { ...stats.tokenRequests },
      tokenRefreshes: oauth.refreshCount,
      rateLimited: stats.rateLimited,
      notifications: notificationStats(),
      headChecks: [...notifier.headChecks],
    }),
    tokensFor: (userId) => oauth.tokensFor(userId),
    revokeUserAccess(userId) {
      oauth.revokeAllGrantsOf(userId);
      notifier.remove((subscription) => subscription.userId === userId);
    },
    currentDate: () => dateOfDay(store.currentDay),
    notificationsIdle: () => notifier.idle(),
    measureGroups: (userId = defaultUserId) => store.measureGroups(userId),
    activities: (userId = defaultUserId) => store.activities(userId),
    workouts: (userId = defaultUserId) => store.workouts(userId),
    sleepSummaries: (userId = defaultUserId) => store.sleepSummaries(userId),
    intraday(userId, date) {
      const generator = store.generator(userId);
      return Object.fromEntries([...generator.intraday(dayNumberOf(date))].map(([at, entry]) => [String(at), entry]));
    },
  };

  async function handleControl(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const action = url.pathname.slice('/_sandbox/'.length);
    const json = async (): Promise<unknown> => {
      const text = await readText(req);
      try {
        return text === '' ? {} : (JSON.parse(text) as unknown);
      } catch {
        throw new HttpFailure(400, 'Invalid JSON body');
      }
    };
    const parse = <T>(schema: z.ZodType<T>, value: unknown): T => {
      const result = schema.safeParse(value);
      if (!result.success) {
        throw new HttpFailure(400, z.prettifyError(result.error));
      }
      return result.data;
    };
    const query = url.searchParams;
    const userParam = (): number => Number(query.get('userId') ?? defaultUserId);
    switch (`${req.method} ${action}`) {
      case 'GET stats':
        sendJson(res, 200, control.stats());
        return;
      case 'GET users':
        sendJson(res, 200, { users, defaultUserId, currentDate: control.currentDate() });
        return;
      case 'GET subscriptions':
        sendJson(res, 200, {
          subscriptions: control.subscriptions(query.get('userId') === null ? undefined : userParam()),
        });
        return;
      case 'GET tokens':
        sendJson(res, 200, { tokens: control.tokensFor(userParam()) });
        return;
      case 'GET measures':
        sendJson(res, 200, { measuregrps: control.measureGroups(userParam()) });
        return;
      case 'POST faults':
        control.injectFaults(parse(ControlBodies.faults, await json()));
        sendJson(res, 204, undefined);
        return;
      case 'POST timeouts':
        control.injectTimeout(parse(ControlBodies.timeouts, await json()));
        sendJson(res, 204, undefined);
        return;
      case 'POST add-day':
        sendJson(res, 200, { results: await control.addDay() });
        return;
      case 'POST edit-measure': {
        const body = parse(ControlBodies.edit, await json());
        sendJson(res, 200, { results: await control.editMeasure(body.userId, body.grpid, body.changes) });
        return;
      }
      case 'POST delete-measure': {
        const body = parse(ControlBodies.remove, await json());
        sendJson(res, 200, { results: await control.deleteMeasure(body.userId, body.grpid) });
        return;
      }
      case 'POST notifications': {
        const body = parse(ControlBodies.notification, await json());
        sendJson(
          res,
          200,
          await control.sendNotification(body.userId, body.appli, { startdate: body.startdate, enddate: body.enddate })
        );
        return;
      }
      case 'POST revoke-user': {
        control.revokeUserAccess(parse(ControlBodies.user, await json()).userId);
        sendJson(res, 204, undefined);
        return;
      }
      default:
        sendJson(res, 404, { error: `Unknown control ${req.method ?? ''} ${action}` });
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const service = (ALL_SERVICES as readonly string[]).find((candidate) => url.pathname === candidate);
    const work =
      service !== undefined
        ? handleWbsapi(req, res, url, service)
        : url.pathname.startsWith('/oauth2_user/')
          ? handleAuthorize(req, res, url)
          : url.pathname.startsWith('/_sandbox/')
            ? handleControl(req, res, url)
            : Promise.resolve(sendJson(res, 404, { error: 'No such endpoint' }));
    work.catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpFailure) {
        sendJson(res, error.status, { error: error.message });
        return;
      }
      if (error instanceof StoreError) {
        sendJson(res, 404, { error: error.message });
        return;
      }
      sendJson(res, 500, { error: error instanceof Error ? error.message : String(error) });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://${host}:${port}`;
  if (caughtUp.length > 0) {
    // Not awaited: delivery with retries may take a while; `control.notificationsIdle()` waits for it.
    void deliver(caughtUp);
  }

  return {
    baseUrl,
    apiBaseUrl: baseUrl,
    authBaseUrl: baseUrl,
    users,
    userId: defaultUserId,
    control,
    async close() {
      notifier.close();
      hangs.abort();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await notifier.idle();
    },
  };
}

/**
 * Plays the member on the consent page: opens `authorizeUrl`, answers, and returns the redirect the browser would
 * follow (to the app's redirect URI, with `code`/`state` or `error`). For tests and scripted demos.
 * @param authorizeUrl - The full `/oauth2_user/authorize2?...` URL the app built.
 * @param options - `decision` (default allow) and which synthetic user signs in (default the first on the page).
 * @returns The `Location` the sandbox redirected to.
 */
export async function approveConsent(
  authorizeUrl: string,
  options: { decision?: 'allow' | 'deny'; userId?: number | string } = {}
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
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  const challenge = /name="challenge" value="([^"]+)"/.exec(html)?.[1];
  const firstUser = /name="user_id" value="(\d+)"/.exec(html)?.[1];
  if (!action || !challenge || !firstUser) {
    throw new Error('The consent page has no form');
  }
  const response = await fetch(new URL(action, authorizeUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      challenge,
      user_id: String(options.userId ?? firstUser),
      decision: options.decision ?? 'allow',
    }).toString(),
    redirect: 'manual',
  });
  const location = response.headers.get('location');
  if (response.status !== 302 || !location) {
    throw new Error(`The consent was refused (${response.status})`);
  }
  return location;
}
