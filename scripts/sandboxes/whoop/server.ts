/**
 * The WHOOP sandbox: a loopback stand-in for api.prod.whoop.com serving WHOOP's OAuth (`/oauth/oauth2/*`), the v2
 * Developer API (`/developer/v2/*`) and signed webhooks from deterministic synthetic people, plus a control surface
 * (`control` methods and `/_sandbox/*` JSON over HTTP) for tests and the dev stack. See README.md beside this file
 * for what is faithful and what is not.
 */
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { bodyOf, dateOfDay, dayNumberOf, profileOf, todayUtc } from './data.ts';
import { sandboxPopulation } from '../people.ts';
import type { PersonTraits, RecordType, WhoopRecord } from './data.ts';
import { OAuthServer, SCOPE_DESCRIPTIONS } from './oauth.ts';
import type { AccessContext, IssuedTokens, SandboxClient, WhoopScope } from './oauth.ts';
import { loadState, saveState, STATE_VERSION } from './persist.ts';
import type { RecordOp, SandboxState } from './persist.ts';
import { StoreError, WhoopStore } from './store.ts';
import type { RecordEvent, WebhookEventType } from './store.ts';
import { DEFAULT_RETRY_DELAYS_MS, DEFAULT_WEBHOOK_TIMEOUT_MS, WebhookSender } from './webhooks.ts';
import type { DeliveryAttempt, DispatchResult } from './webhooks.ts';

export type { SandboxClient } from './oauth.ts';

export const DEFAULT_SEED = 1;
export const DEFAULT_DAYS = 400;
export const DEFAULT_RATE_LIMIT = { perMinute: 100, perDay: 10_000 } as const;
const MAX_LIMIT = 25;
const DEFAULT_LIMIT = 10;
const MAX_BODY_BYTES = 64 * 1024;

export interface WhoopSandboxOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: '127.0.0.1';
  seed?: number;
  /** The last day of data (`YYYY-MM-DD`), whose cycle is in progress; default today (UTC). */
  endDate?: string;
  /** Days of history ending at `endDate` (default 400). */
  days?: number;
  /**
   * Synthetic people (default 1): how many, or a name and email for each. Their physiology and records come from
   * `seed` and their position either way. The first is the default user.
   */
  people?: number | readonly SandboxPersonName[];
  clients: SandboxClient[];
  /**
   * Keep the sandbox's state in `<dataDir>/whoop-sandbox-state.json` (see persist.ts) and resume from it on start.
   * Without it everything is in memory and lost on close.
   */
  dataDir?: string;
  webhookUrl?: string;
  accessTokenTtlSeconds?: number;
  rateLimit?: { perMinute: number; perDay: number };
  /** Delays before retries 1…n (default 200, 400, 800, 1600, 3200 ms: five retries, fast). */
  webhookRetryDelaysMs?: readonly number[];
  webhookTimeoutMs?: number;
  refreshTokenReuse?: 'reject' | 'revoke-grant';
  /** The sandbox clock (token/code expiry, default `end`, rate-limit windows, webhook timestamps). */
  now?: () => number;
}

export interface SandboxPersonName {
  firstName: string;
  lastName: string;
  email: string;
  /**
   * Demo only: give this person a synthetic illness-like episode (data.ts RecentEpisode) that starts this many days
   * before the current day. Fixed once, when the sandbox's records are first generated, and kept in the state file,
   * so restarts serve the same data (days added later move past it, as real days would). A saved history that has
   * no episode keeps having none: the records it already served stay as they were.
   */
  recentEpisode?: { startDaysBeforeCurrent: number };
}

export interface SandboxUser {
  userId: number;
  email: string;
  firstName: string;
  lastName: string;
  timeZone: string;
  /** First day (`YYYY-MM-DD`) of the person's demo episode, when they have one (SandboxPersonName.recentEpisode). */
  recentEpisodeStart?: string;
}

export interface FaultSpec {
  status: 500 | 429 | 503;
  count: number;
  /** Matched against the request path with and without `/developer` (e.g. `/v2/cycle`, `/oauth/oauth2/token`). */
  pathPrefix?: string;
}

export interface SandboxStats {
  /** API calls by route, e.g. `GET /v2/cycle`. */
  api: Record<string, number>;
  /** API responses by HTTP status. */
  apiStatuses: Record<string, number>;
  tokenRequests: { authorization_code: number; refresh_token: number; failed: number };
  tokenRefreshes: number;
  webhookDeliveries: DeliveryAttempt[];
}

export interface ControlResult {
  events: RecordEvent[];
  dispatches: DispatchResult[];
}

export interface RecordsQuery {
  userId?: number;
  /** Inclusive, ISO date-time. */
  start?: string;
  /** Exclusive, ISO date-time; default the sandbox clock's now. */
  end?: string;
}

export interface SandboxControl {
  setWebhookUrl(url: string | undefined, clientId?: string): void;
  injectFaults(fault: FaultSpec): void;
  injectTimeout(options: { count: number; delayMs: number; pathPrefix?: string }): void;
  rescore(recordType: RecordType, id: string): Promise<ControlResult>;
  scorePending(): Promise<ControlResult>;
  deleteRecord(recordType: RecordType, id: string): Promise<ControlResult>;
  addDay(): Promise<ControlResult>;
  sendWebhook(
    event: { type: WebhookEventType; id: string; userId?: number },
    options?: { duplicates?: number; traceId?: string }
  ): Promise<DispatchResult>;
  stats(): SandboxStats;
  tokensFor(userId: number): IssuedTokens[];
  /**
   * The person removes every app's access in WHOOP's own app (not through the API, so no rate limit applies):
   * their grants and tokens die and their webhooks stop, as after `DELETE /v2/user/access`.
   */
  revokeUserAccess(userId: number): void;
  /** Ground truth: the records the API serves for a window, newest first, unpaginated. */
  records(recordType: RecordType, query?: RecordsQuery): WhoopRecord[];
  /** The day whose cycle is in progress. */
  currentDate(): string;
  webhooksIdle(): Promise<void>;
}

export interface WhoopSandbox {
  baseUrl: string;
  /** `<base>/oauth`, the value for WHOOP_AUTH_BASE_URL. */
  authBaseUrl: string;
  /** `<base>/developer`, the value for WHOOP_API_BASE_URL. */
  apiBaseUrl: string;
  users: SandboxUser[];
  /** The default synthetic person's WHOOP user id. */
  userId: number;
  control: SandboxControl;
  close(): Promise<void>;
}

class HttpFailure extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

interface RateWindow {
  minuteStart: number;
  minuteCount: number;
  dayStart: number;
  dayCount: number;
}

interface ApiRoute {
  method: 'GET' | 'DELETE';
  template: string;
  pattern: RegExp;
  scope?: WhoopScope;
  handle: (context: AccessContext, params: string[], query: URLSearchParams) => { status: number; body?: unknown };
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function encodeCursor(startMs: number, id: string): string {
  return Buffer.from(`${startMs}:${id}`).toString('base64url');
}

function decodeCursor(token: string): { startMs: number; id: string } {
  const decoded = Buffer.from(token, 'base64url').toString('utf8');
  const match = /^(\d+):([0-9a-f-]+)$/i.exec(decoded);
  if (!match?.[1] || !match[2]) {
    throw new HttpFailure(400, 'bad_request', 'Invalid nextToken');
  }
  return { startMs: Number(match[1]), id: match[2] };
}

function parseDateTime(value: string | null, name: string): number | undefined {
  if (value === null) {
    return undefined;
  }
  const ms = Date.parse(value);
  if (!DATE_TIME_PATTERN.test(value) || Number.isNaN(ms)) {
    throw new HttpFailure(400, 'bad_request', `Invalid ${name}: expected an ISO 8601 date-time`);
  }
  return ms;
}

function parseLimit(value: string | null): number {
  if (value === null) {
    return DEFAULT_LIMIT;
  }
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_LIMIT) {
    throw new HttpFailure(400, 'bad_request', `limit must be an integer between 1 and ${MAX_LIMIT}`);
  }
  return Number(value);
}

async function readText(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpFailure(413, 'payload_too_large', 'Request body too large');
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
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(text);
}

function renderConsentPage(options: {
  clientName: string;
  scopes: WhoopScope[];
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
  // Real WHOOP knows who is signed in. The sandbox has no login, so with several people the member says who they
  // are, and nobody is preselected: a careless Allow must not link someone else's account.
  const who =
    options.users.length === 1 && only
      ? `<p class="who">Connect WHOOP as <strong>${escapeHtml(nameOf(only))}</strong></p>
<input type="hidden" name="user_id" value="${only.userId}">`
      : `<fieldset><legend>Sign in to WHOOP as</legend>${options.users
          .map(
            (user) =>
              `<label><input type="radio" name="user_id" value="${user.userId}" required> ${escapeHtml(nameOf(user))}</label>`
          )
          .join('')}</fieldset>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>WHOOP Sandbox – Authorize ${escapeHtml(options.clientName)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;font-family:system-ui,sans-serif;background:#0b0b0b;color:#f5f5f5;display:flex;justify-content:center}
main{max-width:440px;padding:40px 24px}.brand{font-weight:900;letter-spacing:.35em;font-size:28px}
.sandbox{color:#ffb000;font-size:12px;letter-spacing:.1em;text-transform:uppercase}
ul{list-style:none;padding:0}li{border-bottom:1px solid #2a2a2a;padding:10px 0;display:flex;flex-direction:column;gap:4px}
li span{color:#a0a0a0;font-size:14px}.who{margin:16px 0 24px}
fieldset{border:1px solid #333;margin:8px 0 24px;padding:8px 12px}legend{color:#a0a0a0;font-size:14px}
label{display:block;padding:8px 0;cursor:pointer}
.actions{display:flex;gap:12px}button{flex:1;padding:14px;font-weight:700;border-radius:4px;border:0;cursor:pointer;font-size:15px}
.allow{background:#00f19f;color:#0b0b0b}.deny{background:#2a2a2a;color:#f5f5f5}
</style></head>
<body><main>
<div class="brand">WHOOP</div><div class="sandbox">Developer sandbox · synthetic data</div>
<h1>${escapeHtml(options.clientName)} would like to access your WHOOP data</h1>
<ul>${scopeItems}</ul>
<form method="post" action="/oauth/oauth2/auth/consent">
<input type="hidden" name="challenge" value="${escapeHtml(options.challenge)}">
${who}
<div class="actions">
<button class="deny" type="submit" name="decision" value="deny" formnovalidate>Deny</button>
<button class="allow" type="submit" name="decision" value="allow">Allow</button>
</div></form>
</main></body></html>`;
}

const ControlRecordType = z.enum(['cycle', 'sleep', 'recovery', 'workout']);
const EventType = z.enum([
  'sleep.updated',
  'sleep.deleted',
  'recovery.updated',
  'recovery.deleted',
  'workout.updated',
  'workout.deleted',
]);
const ControlBodies = {
  webhookUrl: z.object({ url: z.url().nullable(), clientId: z.string().optional() }),
  faults: z.object({
    status: z.union([z.literal(500), z.literal(429), z.literal(503)]),
    count: z.number().int().positive(),
    pathPrefix: z.string().optional(),
  }),
  timeouts: z.object({
    count: z.number().int().positive(),
    delayMs: z.number().int().nonnegative(),
    pathPrefix: z.string().optional(),
  }),
  record: z.object({ recordType: ControlRecordType, id: z.union([z.string(), z.number()]).transform(String) }),
  webhook: z.object({
    event: z.object({ type: EventType, id: z.string(), userId: z.number().int().optional() }),
    duplicates: z.number().int().positive().optional(),
    traceId: z.string().optional(),
  }),
};

/**
 * Starts the sandbox on loopback.
 * @param options - Seed, history window, registered apps, webhook target, limits and clock.
 * @returns The URLs, users, control surface and `close()`.
 */
export async function startWhoopSandbox(options: WhoopSandboxOptions): Promise<WhoopSandbox> {
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1') {
    throw new Error('The WHOOP sandbox listens on 127.0.0.1 only');
  }
  if (options.clients.length === 0) {
    throw new Error('The WHOOP sandbox needs at least one registered client');
  }
  const now = options.now ?? Date.now;
  const seed = options.seed ?? DEFAULT_SEED;
  const dataDir = options.dataDir;
  if (dataDir !== undefined) {
    mkdirSync(dataDir, { recursive: true });
  }
  const saved = dataDir === undefined ? undefined : loadState(dataDir);

  // Records: regenerated from the seed as first generated, then the logged changes replayed on top (a log made
  // with another seed names records that do not exist, so it starts over). Days that passed while the sandbox was
  // stopped are then added, as WHOOP would have; their webhooks are sent once the server listens.
  const configuredEndDate = options.endDate ?? todayUtc(now());
  const savedRecords = saved?.records.seed === seed ? saved.records : undefined;
  const baseEndDate = savedRecords?.baseEndDate ?? configuredEndDate;
  // Demo episodes belong to the records' history: placed when it is first generated, replayed from the state after.
  const { people, episodes, users, personById, defaultUserId } = sandboxPopulation({
    seed,
    people: options.people,
    baseEndDate,
    ...(savedRecords ? { saved: savedRecords.episodes ?? [] } : {}),
  });
  const recordLog: RecordOp[] = [];
  const store = new WhoopStore({ people, endDate: baseEndDate, days: options.days ?? DEFAULT_DAYS });
  for (const op of savedRecords?.log ?? []) {
    try {
      applyRecordOp(store, op);
      recordLog.push(op);
    } catch (error) {
      // Only a change to a person no longer configured can fail; it is dropped with that person.
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

  // Apps: the configured ones, plus any registered in an earlier run (a developer dashboard keeps its apps).
  const clients = new Map<string, SandboxClient>();
  for (const client of [...(saved?.clients ?? []), ...options.clients]) {
    clients.set(client.clientId, client);
  }
  const oauth = new OAuthServer({
    clients: [...clients.values()],
    now,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 3600,
    refreshTokenReuse: options.refreshTokenReuse ?? 'reject',
    onChange: () => save(),
  });
  if (saved) {
    oauth.importState(saved.oauth);
  }
  const rateLimit = options.rateLimit ?? DEFAULT_RATE_LIMIT;
  // Webhook URLs: a URL given now wins over the saved one (it is this run's configuration); otherwise the saved.
  let defaultWebhookUrl = options.webhookUrl ?? saved?.webhooks.defaultUrl ?? undefined;
  const clientWebhookUrls = new Map<string, string | undefined>();
  for (const entry of saved?.webhooks.byClient ?? []) {
    clientWebhookUrls.set(entry.clientId, entry.url ?? undefined);
  }
  for (const client of options.clients) {
    if (client.webhookUrl !== undefined) {
      clientWebhookUrls.set(client.clientId, client.webhookUrl);
    }
  }

  /** Writes the state (one small file) after a change; never on reads. */
  function save(): void {
    if (dataDir === undefined) {
      return;
    }
    const state: SandboxState = {
      version: STATE_VERSION,
      clients: oauth.allClients(),
      oauth: oauth.exportState(),
      webhooks: {
        defaultUrl: defaultWebhookUrl ?? null,
        byClient: [...clientWebhookUrls].map(([clientId, url]) => ({ clientId, url: url ?? null })),
      },
      records: { seed, baseEndDate, log: recordLog, ...(episodes.length > 0 ? { episodes } : {}) },
    };
    saveState(dataDir, state);
  }
  save();

  /** Applies one change to the records, logs it, saves, and returns the events WHOOP would send. */
  function changeRecords(op: RecordOp): RecordEvent[] {
    const events = storeCall(() => applyRecordOp(store, op));
    recordLog.push(op);
    save();
    return events;
  }
  const webhooks = new WebhookSender({
    now,
    retryDelaysMs: options.webhookRetryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
    timeoutMs: options.webhookTimeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS,
    targets: (userId) =>
      oauth.allClients().flatMap((client) => {
        const url = clientWebhookUrls.has(client.clientId) ? clientWebhookUrls.get(client.clientId) : defaultWebhookUrl;
        return url !== undefined && oauth.isAuthorized(client.clientId, userId)
          ? [{ clientId: client.clientId, clientSecret: client.clientSecret, url }]
          : [];
      }),
  });
  const stats = {
    api: {} as Record<string, number>,
    apiStatuses: {} as Record<string, number>,
    tokenRequests: { authorization_code: 0, refresh_token: 0, failed: 0 },
  };
  const faults: (FaultSpec & { remaining: number })[] = [];
  const timeouts: { remaining: number; delayMs: number; pathPrefix?: string }[] = [];
  const rateWindows = new Map<string, RateWindow>();
  const hangs = new AbortController();

  function matchesPrefix(path: string, prefix: string | undefined, fallback: string): boolean {
    const wanted = prefix ?? fallback;
    const short = path.startsWith('/developer/') ? path.slice('/developer'.length) : path;
    return path.startsWith(wanted) || short.startsWith(wanted);
  }

  function takeFault(path: string): FaultSpec | undefined {
    const fault = faults.find((candidate) => matchesPrefix(path, candidate.pathPrefix, '/developer/'));
    if (!fault) {
      return undefined;
    }
    fault.remaining -= 1;
    if (fault.remaining <= 0) {
      faults.splice(faults.indexOf(fault), 1);
    }
    return fault;
  }

  function takeTimeout(path: string): number | undefined {
    const timeout = timeouts.find((candidate) => matchesPrefix(path, candidate.pathPrefix, '/developer/'));
    if (!timeout) {
      return undefined;
    }
    timeout.remaining -= 1;
    if (timeout.remaining <= 0) {
      timeouts.splice(timeouts.indexOf(timeout), 1);
    }
    return timeout.delayMs;
  }

  /** WHOOP's headers name the limit closest to being hit first. */
  function rateHeaders(window: RateWindow, at: number): Record<string, string> {
    const minuteRemaining = Math.max(0, rateLimit.perMinute - window.minuteCount);
    const dayRemaining = Math.max(0, rateLimit.perDay - window.dayCount);
    const minuteCloser = minuteRemaining <= dayRemaining;
    const resetMs = minuteCloser ? window.minuteStart + 60_000 - at : window.dayStart + 86_400_000 - at;
    return {
      'x-ratelimit-limit': `${minuteCloser ? rateLimit.perMinute : rateLimit.perDay}, ${rateLimit.perMinute};window=60, ${rateLimit.perDay};window=86400`,
      'x-ratelimit-remaining': String(minuteCloser ? minuteRemaining : dayRemaining),
      'x-ratelimit-reset': String(Math.max(0, Math.ceil(resetMs / 1000))),
    };
  }

  /** Counts a call against the app's windows (anchored at the window's first call). */
  function consumeRate(clientId: string): { allowed: boolean; headers: Record<string, string> } {
    const at = now();
    let window = rateWindows.get(clientId);
    if (!window) {
      window = { minuteStart: at, minuteCount: 0, dayStart: at, dayCount: 0 };
      rateWindows.set(clientId, window);
    }
    if (at >= window.minuteStart + 60_000) {
      window.minuteStart = at;
      window.minuteCount = 0;
    }
    if (at >= window.dayStart + 86_400_000) {
      window.dayStart = at;
      window.dayCount = 0;
    }
    if (window.minuteCount >= rateLimit.perMinute || window.dayCount >= rateLimit.perDay) {
      return { allowed: false, headers: rateHeaders(window, at) };
    }
    window.minuteCount += 1;
    window.dayCount += 1;
    return { allowed: true, headers: rateHeaders(window, at) };
  }

  function collection(type: RecordType) {
    return (context: AccessContext, _params: string[], query: URLSearchParams): { status: number; body: unknown } => {
      const limit = parseLimit(query.get('limit'));
      const startMs = parseDateTime(query.get('start'), 'start');
      const endMs = parseDateTime(query.get('end'), 'end') ?? now();
      const nextToken = query.get('nextToken');
      const after = nextToken === null || nextToken === '' ? undefined : decodeCursor(nextToken);
      const page = store.list(context.userId, type, { startMs, endMs, limit, ...(after ? { after } : {}) });
      const last = page.entries[page.entries.length - 1];
      return {
        status: 200,
        body: {
          records: page.entries.map((entry) => entry.view),
          ...(page.more && last ? { next_token: encodeCursor(last.startMs, last.id) } : {}),
        },
      };
    };
  }

  function byId(type: RecordType) {
    return (context: AccessContext, params: string[]): { status: number; body?: unknown } => {
      const id = params[0] ?? '';
      if (type === 'cycle' ? !/^\d+$/.test(id) : !UUID_PATTERN.test(id)) {
        throw new HttpFailure(400, 'bad_request', `Invalid ${type} id`);
      }
      const entry = store.get(context.userId, type, id.toLowerCase());
      if (!entry) {
        throw new HttpFailure(404, 'not_found', `No ${type} found`);
      }
      return { status: 200, body: entry.view };
    };
  }

  function ofCycle(kind: 'sleep' | 'recovery') {
    return (context: AccessContext, params: string[]): { status: number; body?: unknown } => {
      const id = params[0] ?? '';
      if (!/^\d+$/.test(id)) {
        throw new HttpFailure(400, 'bad_request', 'Invalid cycle id');
      }
      const entry =
        kind === 'sleep'
          ? store.sleepOfCycle(context.userId, Number(id))
          : store.recoveryOfCycle(context.userId, Number(id));
      if (!entry) {
        throw new HttpFailure(404, 'not_found', `No ${kind} found for this cycle`);
      }
      return { status: 200, body: entry.view };
    };
  }

  function personOf(context: AccessContext): PersonTraits {
    const person = personById.get(context.userId);
    if (!person) {
      throw new HttpFailure(404, 'not_found', 'No user found');
    }
    return person;
  }

  // Paths and scopes from reference/openapi/whoop.yml; /v2/cycle/{id}/sleep declares no scope there, read:sleep
  // is what WHOOP's docs imply.
  const routes: ApiRoute[] = [
    {
      method: 'GET',
      template: '/v2/cycle',
      pattern: /^\/v2\/cycle$/,
      scope: 'read:cycles',
      handle: collection('cycle'),
    },
    {
      method: 'GET',
      template: '/v2/cycle/{cycleId}',
      pattern: /^\/v2\/cycle\/([^/]+)$/,
      scope: 'read:cycles',
      handle: byId('cycle'),
    },
    {
      method: 'GET',
      template: '/v2/cycle/{cycleId}/sleep',
      pattern: /^\/v2\/cycle\/([^/]+)\/sleep$/,
      scope: 'read:sleep',
      handle: ofCycle('sleep'),
    },
    {
      method: 'GET',
      template: '/v2/cycle/{cycleId}/recovery',
      pattern: /^\/v2\/cycle\/([^/]+)\/recovery$/,
      scope: 'read:recovery',
      handle: ofCycle('recovery'),
    },
    {
      method: 'GET',
      template: '/v2/recovery',
      pattern: /^\/v2\/recovery$/,
      scope: 'read:recovery',
      handle: collection('recovery'),
    },
    {
      method: 'GET',
      template: '/v2/activity/sleep',
      pattern: /^\/v2\/activity\/sleep$/,
      scope: 'read:sleep',
      handle: collection('sleep'),
    },
    {
      method: 'GET',
      template: '/v2/activity/sleep/{sleepId}',
      pattern: /^\/v2\/activity\/sleep\/([^/]+)$/,
      scope: 'read:sleep',
      handle: byId('sleep'),
    },
    {
      method: 'GET',
      template: '/v2/activity/workout',
      pattern: /^\/v2\/activity\/workout$/,
      scope: 'read:workout',
      handle: collection('workout'),
    },
    {
      method: 'GET',
      template: '/v2/activity/workout/{workoutId}',
      pattern: /^\/v2\/activity\/workout\/([^/]+)$/,
      scope: 'read:workout',
      handle: byId('workout'),
    },
    {
      method: 'GET',
      template: '/v2/user/profile/basic',
      pattern: /^\/v2\/user\/profile\/basic$/,
      scope: 'read:profile',
      handle: (context) => ({ status: 200, body: profileOf(personOf(context)) }),
    },
    {
      method: 'GET',
      template: '/v2/user/measurement/body',
      pattern: /^\/v2\/user\/measurement\/body$/,
      scope: 'read:body_measurement',
      handle: (context) => ({ status: 200, body: bodyOf(personOf(context)) }),
    },
    {
      method: 'DELETE',
      template: '/v2/user/access',
      pattern: /^\/v2\/user\/access$/,
      handle: (context) => {
        oauth.revokeUserAccess(context);
        return { status: 204 };
      },
    },
  ];

  async function handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname.slice('/developer'.length);
    let route: ApiRoute | undefined;
    let params: string[] = [];
    for (const candidate of routes) {
      const match = candidate.pattern.exec(path);
      if (match) {
        if (candidate.method !== req.method) {
          continue;
        }
        route = candidate;
        params = match.slice(1).map((param) => decodeURIComponent(param));
        break;
      }
    }
    if (!route) {
      send(res, 404, { error: 'not_found', message: 'No such endpoint' });
      return;
    }
    const key = `${route.method} ${route.template}`;
    stats.api[key] = (stats.api[key] ?? 0) + 1;
    const respond = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      stats.apiStatuses[status] = (stats.apiStatuses[status] ?? 0) + 1;
      send(res, status, body, headers);
    };
    const context = oauth.authenticate(req.headers.authorization);
    if (!context) {
      respond(
        401,
        { error: 'unauthorized', message: 'Invalid authorization' },
        { 'www-authenticate': 'Bearer error="invalid_token"' }
      );
      return;
    }
    const rate = consumeRate(context.clientId);
    if (!rate.allowed) {
      respond(429, { error: 'too_many_requests', message: 'Request rejected due to rate limiting' }, rate.headers);
      return;
    }
    const delayMs = takeTimeout(url.pathname);
    if (delayMs !== undefined) {
      try {
        await sleep(delayMs, undefined, { signal: hangs.signal });
      } catch {
        res.destroy();
        return;
      }
    }
    const fault = takeFault(url.pathname);
    if (fault) {
      const headers = fault.status === 429 ? { ...rate.headers, 'x-ratelimit-remaining': '0' } : rate.headers;
      respond(fault.status, { error: 'injected_fault', message: `Sandbox fault ${fault.status}` }, headers);
      return;
    }
    if (route.scope && !context.scopes.includes(route.scope)) {
      respond(
        403,
        { error: 'insufficient_scope', message: `This endpoint requires the ${route.scope} scope` },
        rate.headers
      );
      return;
    }
    try {
      const result = route.handle(context, params, url.searchParams);
      respond(result.status, result.body, rate.headers);
    } catch (error) {
      if (error instanceof HttpFailure) {
        respond(error.status, { error: error.code, message: error.message }, rate.headers);
        return;
      }
      throw error;
    }
  }

  async function handleOAuth(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const fault = takeFaultForOAuth(url.pathname);
    if (fault) {
      send(res, fault.status, { error: 'server_error', error_description: `Sandbox fault ${fault.status}` });
      return;
    }
    if (url.pathname === '/oauth/oauth2/auth' && req.method === 'GET') {
      const check = oauth.checkAuthorize(url.searchParams);
      if (check.kind === 'redirect') {
        res.writeHead(302, { location: check.location }).end();
      } else if (check.kind === 'error') {
        res
          .writeHead(check.status, { 'content-type': 'text/html; charset=utf-8' })
          .end(
            `<!doctype html><title>WHOOP Sandbox – error</title><h1>${escapeHtml(check.error)}</h1><p>${escapeHtml(check.description)}</p>`
          );
      } else {
        const challenge = oauth.createChallenge(check.request);
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(
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
    if (url.pathname === '/oauth/oauth2/auth/consent' && req.method === 'POST') {
      const form = new URLSearchParams(await readText(req));
      const allow = form.get('decision') === 'allow';
      // With one person there is nobody else to be; with several, an Allow must say who (Deny need not).
      const chosen = form.get('user_id') ?? (users.length === 1 || !allow ? String(defaultUserId) : null);
      if (chosen === null) {
        throw new HttpFailure(400, 'invalid_request', 'Choose who signs in to WHOOP');
      }
      const userId = Number(chosen);
      if (!personById.has(userId)) {
        throw new HttpFailure(400, 'invalid_request', 'Unknown user');
      }
      const decision = oauth.decide(form.get('challenge') ?? '', allow, userId);
      if ('error' in decision) {
        res
          .writeHead(400, { 'content-type': 'text/html; charset=utf-8' })
          .end(`<!doctype html><title>WHOOP Sandbox – error</title><p>${escapeHtml(decision.error)}</p>`);
        return;
      }
      res.writeHead(302, { location: decision.location }).end();
      return;
    }
    if (url.pathname === '/oauth/oauth2/token' && req.method === 'POST') {
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
      const text = await readText(req);
      if (contentType !== 'application/x-www-form-urlencoded') {
        stats.tokenRequests.failed += 1;
        send(res, 400, {
          error: 'invalid_request',
          error_description: 'The request must be application/x-www-form-urlencoded.',
        });
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
    send(res, 404, { error: 'not_found', error_description: 'No such endpoint' });
  }

  function takeFaultForOAuth(path: string): FaultSpec | undefined {
    // OAuth endpoints fail only when a fault names them explicitly.
    const fault = faults.find(
      (candidate) => candidate.pathPrefix !== undefined && path.startsWith(candidate.pathPrefix)
    );
    if (!fault) {
      return undefined;
    }
    fault.remaining -= 1;
    if (fault.remaining <= 0) {
      faults.splice(faults.indexOf(fault), 1);
    }
    return fault;
  }

  async function dispatch(events: RecordEvent[]): Promise<ControlResult> {
    const dispatches = await Promise.all(events.map((event) => webhooks.send(event)));
    return { events, dispatches };
  }

  function storeCall<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof StoreError) {
        throw new HttpFailure(404, 'not_found', error.message);
      }
      throw error;
    }
  }

  const control: SandboxControl = {
    setWebhookUrl(url, clientId) {
      if (clientId === undefined) {
        defaultWebhookUrl = url;
      } else {
        clientWebhookUrls.set(clientId, url);
      }
      save();
    },
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
    rescore: (recordType, id) => dispatch(changeRecords({ op: 'rescore', recordType, id, at: now() })),
    scorePending: () => dispatch(changeRecords({ op: 'score-pending', at: now() })),
    deleteRecord: (recordType, id) => dispatch(changeRecords({ op: 'delete', recordType, id })),
    addDay: () => dispatch(changeRecords({ op: 'add-day', at: now() })),
    sendWebhook: (event, sendOptions) =>
      webhooks.send(
        { type: event.type, id: event.id, userId: event.userId ?? defaultUserId },
        sendOptions?.duplicates ?? 1,
        sendOptions?.traceId
      ),
    stats: () => ({
      api: { ...stats.api },
      apiStatuses: { ...stats.apiStatuses },
      tokenRequests: { ...stats.tokenRequests },
      tokenRefreshes: oauth.refreshCount,
      webhookDeliveries: [...webhooks.attempts],
    }),
    tokensFor: (userId) => oauth.tokensFor(userId),
    revokeUserAccess: (userId) => oauth.revokeAllGrantsOf(userId),
    records(recordType, query = {}) {
      const startMs = query.start === undefined ? undefined : Date.parse(query.start);
      const endMs = query.end === undefined ? now() : Date.parse(query.end);
      return store
        .list(query.userId ?? defaultUserId, recordType, { startMs, endMs, limit: Number.MAX_SAFE_INTEGER })
        .entries.map((entry) => entry.view);
    },
    currentDate: () => dateOfDay(store.currentDay),
    webhooksIdle: () => webhooks.idle(),
  };

  async function handleControl(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const action = url.pathname.slice('/_sandbox/'.length);
    const json = async (): Promise<unknown> => {
      const text = await readText(req);
      try {
        return text === '' ? {} : (JSON.parse(text) as unknown);
      } catch {
        throw new HttpFailure(400, 'bad_request', 'Invalid JSON body');
      }
    };
    const parse = <T>(schema: z.ZodType<T>, value: unknown): T => {
      const result = schema.safeParse(value);
      if (!result.success) {
        throw new HttpFailure(400, 'bad_request', z.prettifyError(result.error));
      }
      return result.data;
    };
    const query = url.searchParams;
    const route = `${req.method} ${action}`;
    switch (route) {
      case 'GET stats':
        send(res, 200, control.stats());
        return;
      case 'GET users':
        send(res, 200, { users, defaultUserId, currentDate: control.currentDate() });
        return;
      case 'GET records': {
        const type = parse(ControlRecordType, query.get('type'));
        const userId = query.get('userId');
        send(res, 200, {
          records: control.records(type, {
            ...(userId === null ? {} : { userId: Number(userId) }),
            ...(query.get('start') === null ? {} : { start: query.get('start') ?? undefined }),
            ...(query.get('end') === null ? {} : { end: query.get('end') ?? undefined }),
          }),
        });
        return;
      }
      case 'GET tokens':
        send(res, 200, { tokens: control.tokensFor(Number(query.get('userId') ?? defaultUserId)) });
        return;
      case 'POST webhook-url': {
        const body = parse(ControlBodies.webhookUrl, await json());
        control.setWebhookUrl(body.url ?? undefined, body.clientId);
        send(res, 204, undefined);
        return;
      }
      case 'POST faults':
        control.injectFaults(parse(ControlBodies.faults, await json()));
        send(res, 204, undefined);
        return;
      case 'POST timeouts':
        control.injectTimeout(parse(ControlBodies.timeouts, await json()));
        send(res, 204, undefined);
        return;
      case 'POST rescore': {
        const body = parse(ControlBodies.record, await json());
        send(res, 200, await control.rescore(body.recordType, body.id));
        return;
      }
      case 'POST score-pending':
        send(res, 200, await control.scorePending());
        return;
      case 'POST delete': {
        const body = parse(ControlBodies.record, await json());
        send(res, 200, await control.deleteRecord(body.recordType, body.id));
        return;
      }
      case 'POST add-day':
        send(res, 200, await control.addDay());
        return;
      case 'POST webhooks': {
        const body = parse(ControlBodies.webhook, await json());
        send(
          res,
          200,
          await control.sendWebhook(body.event, {
            ...(body.duplicates === undefined ? {} : { duplicates: body.duplicates }),
            ...(body.traceId === undefined ? {} : { traceId: body.traceId }),
          })
        );
        return;
      }
      default:
        send(res, 404, { error: 'not_found', message: `Unknown control ${route}` });
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const work = url.pathname.startsWith('/developer/')
      ? handleApi(req, res, url)
      : url.pathname.startsWith('/oauth/')
        ? handleOAuth(req, res, url)
        : url.pathname.startsWith('/_sandbox/')
          ? handleControl(req, res, url)
          : Promise.resolve(send(res, 404, { error: 'not_found', message: 'No such endpoint' }));
    work.catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof HttpFailure || error instanceof StoreError) {
        const status = error instanceof HttpFailure ? error.status : 404;
        send(res, status, { error: error instanceof HttpFailure ? error.code : 'not_found', message: error.message });
        return;
      }
      send(res, 500, {
        error: 'internal_server_error',
        message: error instanceof Error ? error.message : String(error),
      });
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
    // Not awaited: delivery (with retries) may take a while; `control.webhooksIdle()` waits for it.
    void dispatch(caughtUp);
  }

  return {
    baseUrl,
    authBaseUrl: `${baseUrl}/oauth`,
    apiBaseUrl: `${baseUrl}/developer`,
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

function applyRecordOp(store: WhoopStore, op: RecordOp): RecordEvent[] {
  switch (op.op) {
    case 'rescore':
      return store.rescore(op.recordType, op.id, op.at);
    case 'score-pending':
      return store.scorePending(op.at);
    case 'delete':
      return store.deleteRecord(op.recordType, op.id);
    case 'add-day':
      return store.addDay(op.at);
  }
}

/**
 * Plays the member on the consent page: opens `authorizeUrl`, answers, and returns the redirect the browser would
 * follow (to the app's redirect URI, with `code`/`state` or `error`). For tests and scripted demos.
 * @param authorizeUrl - The full `/oauth/oauth2/auth?...` URL the app built.
 * @param options - `decision` (default allow) and which synthetic user signs in (default the first).
 * @returns The `Location` the sandbox redirected to.
 */
export async function approveConsent(
  authorizeUrl: string,
  options: { decision?: 'allow' | 'deny'; userId?: number } = {}
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
  const firstUser = /name="user_id" value="(\d+)"/.exec(html)?.[1];
  if (!challenge || !firstUser) {
    throw new Error('The consent page has no form');
  }
  const response = await fetch(new URL('/oauth/oauth2/auth/consent', authorizeUrl), {
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
