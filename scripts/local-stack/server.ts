/**
 * The local stack: one process on loopback that speaks the subset of Medplum's HTTP API Baseline uses, built on
 * Medplum's own engine (@medplum/fhir-router for FHIR REST/batch/search, @medplum/core for matching, policies and
 * subscription criteria). It is a development and CI stand-in, never a production store.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { allOk, getStatus, normalizeErrorString } from '@medplum/core';
import type { WithId } from '@medplum/core';
import { FhirRouter } from '@medplum/fhir-router';
import type { FhirRequest, HttpMethod } from '@medplum/fhir-router';
import type { ClientApplication, Practitioner, Project, ProjectMembership, Resource, User } from '@medplum/fhirtypes';
import { createClientApplication } from './admin.ts';
import { handleStorage, presignAttachments } from './attachments.ts';
import { binaryWriteTarget, handleBinaryWrite } from './binary.ts';
import { parseEverythingParams, patientEverything, routerQuery } from './everything.ts';
import { handleAdminRoute } from './admin.ts';
import { clientAddress, runInRequest } from './audit.ts';
import { authenticate, handleAuthRoute } from './auth.ts';
import { CronRunner, handleDeploy, handleExecute, handleWebhook, SubscriptionDispatcher } from './bots.ts';
import type { MedplumVersion, StackContext } from './context.ts';
import { LocalRepository, ResourceStore } from './fhir/index.ts';
import {
  beforeHead,
  errorToResponse,
  HttpError,
  parseBody,
  readBody,
  sendEmpty,
  sendExpressNotFound,
  sendJson,
  sendOutcome,
  setCors,
  startTrace,
} from './http.ts';
import { loadOrCreateKeys, publicJwks } from './jwt.ts';
import { z } from 'zod';
import { hashPassword } from './passwords.ts';
import { DEFAULT_FHIR_QUOTA, QuotaLedger, RequestRateLimiter } from './quota.ts';
import { SerializationConflicts } from './conflicts.ts';

export const REQUIRED_FEATURES = ['bots', 'cron', 'transaction-bundles', 'websocket-subscriptions'] as const;
export const DEFAULT_SEARCH_COUNT = 20;
export const ADMIN_LOGIN = { email: 'admin@baseline.local', password: 'baseline-admin' } as const;

export interface LocalStackOptions {
  /** Where the journal and keys live; undefined = memory only (lost on exit). */
  dataDir?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Run cron bots once a minute (off in most tests, which call `cron.tick` directly). */
  cron?: boolean;
  log?: (message: string, data?: Record<string, unknown>) => void;
  /**
   * Which Medplum release to imitate where they differ (`Bot.rawBody` exists from 5.2; `/healthcheck` version).
   * Default '5.2'.
   */
  medplumVersion?: MedplumVersion;
  /**
   * The server's `defaultFhirQuota`: points per membership per minute (default 50,000, as Medplum). Projects override
   * it with `Project.systemSetting` `userFhirQuota` / `totalFhirQuota` (see `LocalStack.setFhirQuota`).
   */
  fhirQuota?: number;
  /**
   * The server's `saveAuditEvents` (default true, as Baseline's documented deployment): every create, read, history,
   * update, patch and delete of one resource by a non-system author (users, clients, bots) is stored as an
   * AuditEvent, written as that caller — see audit.ts.
   */
  saveAuditEvents?: boolean;
}

/** What `/healthcheck` reports per imitated release: the real version with a `-local` suffix instead of a git sha. */
export const LOCAL_STACK_VERSIONS: Record<MedplumVersion, string> = { '5.0': '5.0.10-local', '5.2': '5.2.13-local' };

const EnvOptions = z.object({
  LOCAL_STACK_MEDPLUM_VERSION: z.enum(['5.0', '5.2']).optional(),
  LOCAL_STACK_FHIR_QUOTA: z.coerce.number().int().positive().optional(),
  LOCAL_STACK_SAVE_AUDIT_EVENTS: z.enum(['true', 'false']).optional(),
});

/**
 * Defaults from the environment, so `npm start`, `npm run local-stack` and benchmarks can imitate another release
 * or quota without code changes: `LOCAL_STACK_MEDPLUM_VERSION` (5.0 | 5.2), `LOCAL_STACK_FHIR_QUOTA` (points/min),
 * `LOCAL_STACK_SAVE_AUDIT_EVENTS` (true | false). Options passed to `startLocalStack` win.
 */
export function envStackOptions(
  env: NodeJS.ProcessEnv = process.env
): Pick<LocalStackOptions, 'medplumVersion' | 'fhirQuota' | 'saveAuditEvents'> {
  const parsed = EnvOptions.safeParse({
    LOCAL_STACK_MEDPLUM_VERSION: env.LOCAL_STACK_MEDPLUM_VERSION || undefined,
    LOCAL_STACK_FHIR_QUOTA: env.LOCAL_STACK_FHIR_QUOTA || undefined,
    LOCAL_STACK_SAVE_AUDIT_EVENTS: env.LOCAL_STACK_SAVE_AUDIT_EVENTS || undefined,
  });
  if (!parsed.success) {
    throw new Error(`Invalid local stack environment: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
  }
  const save = parsed.data.LOCAL_STACK_SAVE_AUDIT_EVENTS;
  return {
    medplumVersion: parsed.data.LOCAL_STACK_MEDPLUM_VERSION,
    fhirQuota: parsed.data.LOCAL_STACK_FHIR_QUOTA,
    saveAuditEvents: save === undefined ? undefined : save === 'true',
  };
}

export interface AdminClient {
  clientId: string;
  clientSecret: string;
}

export interface LocalStack {
  baseUrl: string;
  projectId: string;
  adminClient: AdminClient;
  /** True when this start created the project (first start of an empty data directory). */
  seeded: boolean;
  ctx: StackContext;
  subscriptions: SubscriptionDispatcher;
  cron: CronRunner;
  /**
   * Sets the project's `userFhirQuota` / `totalFhirQuota` system settings, as a super admin would (undefined removes
   * the override). Counters already spent in the current minute are kept, as on Medplum.
   */
  setFhirQuota(limits: { user?: number; total?: number }): Promise<void>;
  /**
   * The next `count` creates and updates of `resourceType` by a caller fail as Medplum fails a write that lost a
   * transaction race (409, conflicts.ts); the stand-in never loses one by itself.
   */
  injectSerializationConflicts(resourceType: string, count: number): void;
  close(): Promise<void>;
}

function withDefaultCount(url: URL, method: string, fhirPath: string): void {
  const isTypeSearch = method === 'GET' && /^[A-Z][A-Za-z]+$/.test(fhirPath);
  // `_summary=count` is parsed into `_count=0&_total=accurate`; a default page size must not override it.
  if (isTypeSearch && !url.searchParams.has('_count') && url.searchParams.get('_summary') !== 'count') {
    url.searchParams.set('_count', String(DEFAULT_SEARCH_COUNT));
  }
}

function capabilityStatement(baseUrl: string): Record<string, unknown> {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    kind: 'instance',
    date: new Date().toISOString(),
    fhirVersion: '4.0.1',
    format: ['json'],
    software: { name: 'Baseline local stack (Medplum stand-in)' },
    implementation: {
      description: 'Development stand-in for a Medplum 5 server',
      url: new URL('fhir/R4/', baseUrl).toString(),
    },
    rest: [
      {
        mode: 'server',
        security: {
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [
                { url: 'authorize', valueUri: new URL('oauth2/authorize', baseUrl).toString() },
                { url: 'token', valueUri: new URL('oauth2/token', baseUrl).toString() },
              ],
            },
          ],
        },
      },
    ],
  };
}

async function handleFhir(ctx: StackContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = (req.method ?? 'GET') as HttpMethod;
  const fhirPath = url.pathname.replace(/^\/fhir\/R4\/?/, '');
  if (method === 'GET' && fhirPath === 'metadata') {
    sendJson(res, 200, capabilityStatement(ctx.baseUrl), 'application/json');
    return;
  }
  const caller = await authenticate(ctx, req);
  const limiter = caller.rateLimiter;
  if (limiter) {
    beforeHead(res, () => {
      const header = limiter.header();
      if (header) {
        res.appendHeader('RateLimit', header);
      }
    });
  }

  const execute = /^Bot\/(?:([^/$]+)\/)?\$execute(?:\/.*)?$/.exec(fhirPath);
  if (execute && (method === 'GET' || method === 'POST')) {
    await handleExecute(ctx, caller, req, res, url, execute[1]);
    return;
  }
  const deploy = /^Bot\/([^/]+)\/\$deploy$/.exec(fhirPath);
  if (deploy?.[1] && method === 'POST') {
    await handleDeploy(ctx, caller, req, res, deploy[1]);
    return;
  }

  const expunge = /^([A-Z][A-Za-z]+)\/([^/$]+)\/\$expunge$/.exec(fhirPath);
  if (expunge?.[1] && expunge[2] && method === 'POST') {
    if (url.searchParams.get('everything') === 'true' || expunge[1] === 'Project') {
      throw new HttpError(400, 'The local stack does not run $expunge?everything=true (an async job on Medplum)');
    }
    await caller.repo.expungeResource(expunge[1], expunge[2]);
    sendOutcome(res, allOk);
    return;
  }

  const binaryWrite = binaryWriteTarget(method, fhirPath);
  if (binaryWrite) {
    await handleBinaryWrite(ctx, caller, req, res, binaryWrite);
    return;
  }

  let body: unknown;
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    const raw = await readBody(req);
    if (raw.text !== '') {
      // Medplum's parsers: JSON types parsed, text/plain as the string, forms as objects; the router then refuses
      // what is not a resource ("Incorrect resource type ... <EMPTY>").
      body = parseBody(raw);
    }
  }
  const everything = /^Patient\/([^/$]+)\/\$everything$/.exec(fhirPath);
  if (everything?.[1] && (method === 'GET' || method === 'POST')) {
    // Medplum's own operation (not @medplum/fhir-router's), routed before the generic router as Medplum does.
    const params = parseEverythingParams(method, routerQuery(url.searchParams), body);
    const bundle = await patientEverything(caller.repo, everything[1], params);
    sendJson(res, 200, await presignAttachments(ctx, caller.repo, bundle));
    return;
  }
  withDefaultCount(url, method, fhirPath);
  const project = caller.project as Project;
  const request: FhirRequest = {
    method,
    url: fhirPath + url.search,
    pathname: '',
    body,
    params: {},
    query: {},
    headers: req.headers,
    config: { transactions: (project.features ?? []).includes('transaction-bundles') },
  };
  const [outcome, routed] = await ctx.router.handleRequest(request, caller.repo);
  const status = getStatus(outcome);
  if (!routed) {
    sendOutcome(res, outcome, status);
    return;
  }
  // Medplum presigns Binary attachment URLs in what it answers (reading each Binary as the caller).
  const resource = await presignAttachments(ctx, caller.repo, routed);
  const withId = resource as WithId<Resource>;
  if (withId.id && withId.meta?.versionId) {
    res.setHeader('ETag', `W/"${withId.meta.versionId}"`);
    if (withId.meta.lastUpdated) {
      res.setHeader('Last-Modified', new Date(withId.meta.lastUpdated).toUTCString());
    }
    if (status === 201) {
      res.setHeader('Location', new URL(`fhir/R4/${withId.resourceType}/${withId.id}`, ctx.baseUrl).toString());
    }
  }
  if (status === 201 && /\breturn=minimal\b/.test(String(req.headers.prefer ?? ''))) {
    // Medplum answers `Prefer: return=minimal` with the headers and an empty body.
    sendEmpty(res, status, { 'Content-Type': 'application/fhir+json; charset=utf-8', 'Content-Length': '0' });
    return;
  }
  sendJson(res, status, resource);
}

async function route(ctx: StackContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', ctx.baseUrl);
  setCors(req, res);
  if (req.method === 'OPTIONS') {
    sendEmpty(res, 204);
    return;
  }
  const trace = startTrace(req, res);
  const remoteAddress = clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);
  await runInRequest({ ...trace, remoteAddress }, () => dispatch(ctx, req, res, url));
}

async function dispatch(ctx: StackContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const path = url.pathname;
  const requests = ctx.requestLimiter.consume(req.socket.remoteAddress ?? '', path);
  res.appendHeader('RateLimit', requests.header);
  if (requests.refused) {
    sendJson(res, 429, requests.refused.outcome, 'application/json');
    return;
  }
  if (path === '/healthcheck') {
    sendJson(
      res,
      200,
      {
        ok: true,
        version: LOCAL_STACK_VERSIONS[ctx.medplumVersion],
        platform: process.platform,
        runtime: process.version,
        postgres: true,
        redis: true,
      },
      'application/json'
    );
    return;
  }
  if (path === '/.well-known/jwks.json') {
    sendJson(res, 200, publicJwks(ctx.keys), 'application/json');
    return;
  }
  if (path.startsWith('/storage/') && (req.method === 'GET' || req.method === 'HEAD')) {
    await handleStorage(ctx, req, res, url);
    return;
  }
  if (await handleAuthRoute(ctx, req, res, url)) {
    return;
  }
  if (await handleAdminRoute(ctx, req, res, url)) {
    return;
  }
  const webhook = /^\/webhook\/([^/]+)\/?$/.exec(path);
  if (webhook?.[1]) {
    // Medplum routes only POST here; anything else falls through to Express's HTML 404.
    if (req.method !== 'POST') {
      sendExpressNotFound(res, req.method ?? 'GET', path);
      return;
    }
    ctx.stats.webhookRequests++;
    await handleWebhook(ctx, req, res, webhook[1]);
    return;
  }
  if (path === '/fhir/R4' || path.startsWith('/fhir/R4/')) {
    ctx.stats.fhirRequests++;
    await handleFhir(ctx, req, res, url);
    return;
  }
  sendExpressNotFound(res, req.method ?? 'GET', path);
}

/** First start of an empty store: the project (features, secrets), the admin and the deploy client. */
async function seedProject(
  store: ResourceStore,
  log: LocalStackOptions['log']
): Promise<{ projectId: string; adminClient: AdminClient }> {
  const projectId = crypto.randomUUID();
  const author = { reference: 'system' };
  const system = new LocalRepository(store, { project: projectId, author });
  const tokenKey = randomBytes(32).toString('base64');
  await system.createResource<Project>(
    {
      resourceType: 'Project',
      id: projectId,
      name: 'Baseline',
      description: 'Baseline local development project',
      strictMode: true,
      features: [...REQUIRED_FEATURES],
      secret: [
        { name: 'BASELINE_TOKEN_KEY', valueString: tokenKey },
        { name: 'BASELINE_TOKEN_KEY_ID', valueString: 'local-1' },
      ],
    },
    { assignedId: true }
  );
  const practitioner = await system.createResource<Practitioner>({
    resourceType: 'Practitioner',
    name: [{ given: ['Baseline'], family: 'Admin' }],
    telecom: [{ system: 'email', value: ADMIN_LOGIN.email }],
  });
  const user = await system.createResource<User>({
    resourceType: 'User',
    firstName: 'Baseline',
    lastName: 'Admin',
    email: ADMIN_LOGIN.email,
    passwordHash: hashPassword(ADMIN_LOGIN.password),
  });
  await system.createResource<ProjectMembership>({
    resourceType: 'ProjectMembership',
    project: { reference: `Project/${projectId}` },
    user: { reference: `User/${user.id}` },
    profile: { reference: `Practitioner/${practitioner.id}` },
    admin: true,
  });
  const client: WithId<ClientApplication> = await createClientApplication(
    { system, projectId },
    {
      name: 'Baseline deploy',
      description: 'Project-admin client used by `npm run deploy` against the local stack',
    }
  );
  const membership = await system.searchOne<ProjectMembership>({
    resourceType: 'ProjectMembership',
    filters: [{ code: 'profile', operator: 'eq' as never, value: `ClientApplication/${client.id}` }],
  });
  if (membership) {
    await system.updateResource({ ...membership, admin: true });
  }
  log?.('seeded project', { projectId });
  return { projectId, adminClient: { clientId: client.id, clientSecret: client.secret ?? '' } };
}

async function findSeed(store: ResourceStore): Promise<{ projectId: string; adminClient: AdminClient } | undefined> {
  const probe = new LocalRepository(store, { project: '', author: { reference: 'system' }, crossProject: true });
  const project = await probe.searchOne<Project>({ resourceType: 'Project' });
  if (!project) {
    return undefined;
  }
  const system = new LocalRepository(store, { project: project.id, author: { reference: 'system' } });
  const client = await system.searchOne<ClientApplication>({
    resourceType: 'ClientApplication',
    filters: [{ code: 'name', operator: 'eq' as never, value: 'Baseline deploy' }],
  });
  return { projectId: project.id, adminClient: { clientId: client?.id ?? '', clientSecret: client?.secret ?? '' } };
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((): void => undefined);
  const env = envStackOptions();
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
  }
  const store = await ResourceStore.open({ dataDir: options.dataDir });
  const existing = await findSeed(store);
  const seed = existing ?? (await seedProject(store, log));
  const keys = loadOrCreateKeys(options.dataDir);

  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8103, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://${host}:${port}/`;

  const ctx: StackContext = {
    baseUrl,
    store,
    keys,
    router: new FhirRouter(),
    projectId: seed.projectId,
    system: new LocalRepository(store, { project: seed.projectId, author: { reference: 'system' }, baseUrl }),
    log,
    stats: { fhirRequests: 0, botRuns: 0, webhookRequests: 0, quotaPoints: {}, auditEvents: { stored: 0, refused: 0 } },
    medplumVersion: options.medplumVersion ?? env.medplumVersion ?? '5.2',
    defaultFhirQuota: options.fhirQuota ?? env.fhirQuota ?? DEFAULT_FHIR_QUOTA,
    quota: new QuotaLedger(),
    requestLimiter: new RequestRateLimiter(),
    saveAuditEvents: options.saveAuditEvents ?? env.saveAuditEvents ?? true,
    conflicts: new SerializationConflicts(),
  };
  const subscriptions = new SubscriptionDispatcher(ctx);
  store.onCommit((changes) => subscriptions.onCommit(changes));
  const cron = new CronRunner(ctx);
  if (options.cron) {
    cron.start();
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    route(ctx, req, res).catch((err: unknown) => {
      const { status, outcome } = errorToResponse(err);
      if (status >= 500) {
        log('request failed', { method: req.method, path: req.url?.split('?')[0], error: normalizeErrorString(err) });
      }
      if (!res.headersSent) {
        sendOutcome(res, outcome, status);
      } else {
        res.end();
      }
    });
  });

  if (options.dataDir) {
    // For `npm start`, the deploy script and tests on the same machine: loopback-only, owner-readable.
    writeFileSync(
      join(options.dataDir, 'admin-client.json'),
      JSON.stringify({ baseUrl, projectId: seed.projectId, ...seed.adminClient }, null, 2),
      { mode: 0o600 }
    );
  }

  return {
    baseUrl,
    projectId: seed.projectId,
    adminClient: seed.adminClient,
    seeded: !existing,
    ctx,
    subscriptions,
    cron,
    async setFhirQuota(limits) {
      const project = await ctx.system.readResource<Project>('Project', seed.projectId);
      const others = (project.systemSetting ?? []).filter(
        (s) => s.name !== 'userFhirQuota' && s.name !== 'totalFhirQuota'
      );
      const settings = [
        ...others,
        ...(limits.user === undefined ? [] : [{ name: 'userFhirQuota', valueInteger: limits.user }]),
        ...(limits.total === undefined ? [] : [{ name: 'totalFhirQuota', valueInteger: limits.total }]),
      ];
      await ctx.system.updateResource<Project>({ ...project, systemSetting: settings });
    },
    injectSerializationConflicts(resourceType, count) {
      ctx.conflicts.arm(resourceType, count);
    },
    async close() {
      cron.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await subscriptions.idle();
      await store.close();
    },
  };
}
