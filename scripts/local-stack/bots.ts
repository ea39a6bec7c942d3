/**
 * Running bots the way a Medplum 5 server does: `Bot/$execute` (by id or identifier), `POST /webhook/:membershipId`
 * for public webhooks, rest-hook Subscriptions whose endpoint is `Bot/<id>`, and cron (`Bot.cronString`).
 *
 * Medplum semantics reproduced here (see shared/reference/medplum.md §1–2):
 * - the project needs the `bots` feature; a bot runs as its own ProjectMembership (its AccessPolicy scopes what it
 *   can do); `$execute` falls back to the caller's membership when the bot has none, subscriptions and cron refuse;
 * - the caller of `$execute` must be able to read the Bot;
 * - `Bot.rawBody` hands the original UTF-8 body to the bot instead of the parsed JSON;
 * - every run writes an AuditEvent (type `execute`, outcome 0/4, the log tail in outcomeDesc);
 * - a failed bot run triggered by a subscription is not retried; other rest-hooks retry up to max-attempts.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  allOk,
  badRequest,
  createReference,
  getReferenceString,
  normalizeErrorString,
  notFound,
  OperationOutcomeError,
  resourceMatchesSubscriptionCriteria,
} from '@medplum/core';
import type { WithId } from '@medplum/core';
import type {
  AuditEvent,
  Binary,
  Coding,
  Bot,
  Project,
  ProjectMembership,
  ProjectSetting,
  Reference,
  Resource,
  Subscription,
} from '@medplum/fhirtypes';
import { z } from 'zod';
import { createBotAccessToken, loadProject } from './auth.ts';
import type { Caller, StackContext } from './context.ts';
import { cronMatches, parseCron } from './cron.ts';
import type { Change } from './fhir/index.ts';
import { formObject, parseBody, readBody, sendOutcome, sendText, traceOf } from './http.ts';
import type { RawBody } from './http.ts';
import { runVmContextBot } from './bots/vmcontext.ts';
import type { BotExecutionResult } from './bots/vmcontext.ts';

type AgentReference = NonNullable<AuditEvent['agent']>[number]['who'];

const MAX_LOG_IN_AUDIT = 10 * 1024;
const MAX_ATTEMPTS_URL = 'https://medplum.com/fhir/StructureDefinition/subscription-max-attempts';

export interface ExecuteRequest {
  bot: WithId<Bot>;
  runAs: WithId<ProjectMembership>;
  input: unknown;
  /** The Content-Type header as sent (undefined for GET `$execute`). */
  contentType: string | undefined;
  requester?: Reference;
  headers?: Record<string, string | string[] | undefined>;
  subscription?: WithId<Subscription>;
  /** `$execute` and subscriptions hand the bot a trace id; webhooks and cron hand none (Medplum 5.0). */
  traceId?: string;
}

function projectHasFeature(project: Project, feature: string): boolean {
  return (project.features ?? []).includes(feature as never);
}

async function botMembership(ctx: StackContext, bot: WithId<Bot>): Promise<WithId<ProjectMembership> | undefined> {
  return ctx.system.searchOne<ProjectMembership>({
    resourceType: 'ProjectMembership',
    filters: [{ code: 'profile', operator: 'eq' as never, value: getReferenceString(bot) }],
  });
}

async function botCode(ctx: StackContext, bot: Bot): Promise<string | undefined> {
  const url = bot.executableCode?.url;
  if (!url?.startsWith('Binary/')) {
    return undefined;
  }
  const binary = await ctx.system.readReference<Binary>({ reference: url }).catch(() => undefined);
  return binary?.data ? Buffer.from(binary.data, 'base64').toString('utf8') : undefined;
}

function secretsRecord(project: Project): Record<string, ProjectSetting> {
  return Object.fromEntries((project.secret ?? []).map((s) => [s.name, s]));
}

async function writeAuditEvent(ctx: StackContext, request: ExecuteRequest, result: BotExecutionResult): Promise<void> {
  const trigger = request.bot.auditEventTrigger ?? 'always';
  if (
    trigger === 'never' ||
    (trigger === 'on-error' && result.success) ||
    (trigger === 'on-output' && !result.logResult)
  ) {
    return;
  }
  const log = result.logResult.length > MAX_LOG_IN_AUDIT ? result.logResult.slice(-MAX_LOG_IN_AUDIT) : result.logResult;
  const now = new Date().toISOString();
  // Medplum's createAuditEventEntities(bot, input, subscription): every one that is a resource with an id.
  const entities = [request.bot, request.input, request.subscription].filter(
    (v): v is WithId<Resource> =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as Resource).resourceType === 'string' &&
      Boolean((v as Resource).id)
  );
  await ctx.system.createResource<AuditEvent>({
    resourceType: 'AuditEvent',
    type: { system: 'https://medplum.com/CodeSystem/audit-event', code: 'execute' },
    recorded: now,
    period: { start: now, end: now },
    outcome: result.success ? '0' : '4',
    outcomeDesc: log,
    agent: [
      ...(request.requester ? [{ who: request.requester as AgentReference, requestor: true }] : []),
      { who: request.runAs.profile as AgentReference, requestor: false },
    ],
    source: { observer: createReference(request.bot) },
    entity: entities.map((resource) => ({ what: createReference(resource) as Reference, role: entityRole(resource) })),
  });
}

function entityRole(resource: Resource): Coding {
  switch (resource.resourceType) {
    case 'Patient':
      return { code: '1', display: 'Patient' };
    case 'Subscription':
      return { code: '9', display: 'Subscriber' };
    default:
      return { code: '4', display: 'Domain' };
  }
}

/** Runs a bot once and records the run. Never throws for a failing bot: the failure is in the result. */
export async function executeBot(ctx: StackContext, request: ExecuteRequest): Promise<BotExecutionResult> {
  const project = await loadProject(ctx);
  if (!projectHasFeature(project, 'bots')) {
    return { success: false, logResult: 'Bots not enabled', returnValue: badRequest('Bots not enabled') };
  }
  if (request.bot.runtimeVersion && request.bot.runtimeVersion !== 'vmcontext') {
    const message = `Unsupported bot runtime: ${request.bot.runtimeVersion} (the local stack runs vmcontext bots)`;
    return { success: false, logResult: message, returnValue: badRequest(message) };
  }
  const code = await botCode(ctx, request.bot);
  if (!code) {
    return {
      success: false,
      logResult: 'Executable code not found',
      returnValue: badRequest('Executable code not found'),
    };
  }
  ctx.stats.botRuns++;
  const accessToken = await createBotAccessToken(ctx, request.runAs);
  const result = await runVmContextBot({
    code,
    bot: request.bot,
    baseUrl: ctx.baseUrl,
    accessToken,
    requester: request.requester,
    input: request.input,
    contentType: request.contentType,
    secrets: secretsRecord(project),
    traceId: request.traceId,
    headers: request.headers,
  });
  await writeAuditEvent(ctx, request, result).catch((err: unknown) =>
    ctx.log('audit event write failed', { bot: request.bot.id, error: normalizeErrorString(err) })
  );
  return result;
}

function botInput(ctx: StackContext, bot: Bot, body: RawBody): { input: unknown; contentType: string | undefined } {
  // `Bot.rawBody` exists from Medplum 5.2; a 5.0 server cannot store it, and would not honour it.
  if (bot.rawBody && ctx.medplumVersion !== '5.0') {
    return { input: body.text, contentType: body.contentTypeHeader };
  }
  return { input: parseBody(body), contentType: body.contentTypeHeader };
}

/** Content types Medplum mirrors in a bot's answer (exactly as sent); everything else is answered as JSON. */
const MIRRORED_CONTENT_TYPES = ['text/plain', 'x-application/hl7-v2+er7'];

/**
 * Medplum's answer to a bot run (getResponseBodyFromResult + Express `res.type(...).send(body)`): the return value, or
 * an OperationOutcome when there is none; a string is sent as it is and anything else as JSON, in the request's
 * content type when that is mirrored, else as application/json.
 */
function sendBotResult(
  res: ServerResponse,
  result: BotExecutionResult,
  requestContentTypeHeader: string | undefined
): void {
  const status = result.success ? 200 : 400;
  let body = result.returnValue;
  if (body === undefined) {
    body = result.success ? allOk : badRequest(result.logResult);
  } else if (typeof body === 'number') {
    body = body.toString();
  }
  const contentType =
    requestContentTypeHeader && MIRRORED_CONTENT_TYPES.includes(requestContentTypeHeader)
      ? requestContentTypeHeader
      : 'application/json';
  sendText(res, status, typeof body === 'string' ? body : JSON.stringify(body), contentType);
}

/** `GET|POST /fhir/R4/Bot/:id/$execute` and `Bot/$execute?identifier=system|value`. */
export async function handleExecute(
  ctx: StackContext,
  caller: Caller,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  botId: string | undefined
): Promise<void> {
  // The caller must be able to read the bot: its own policy decides which bots it may run.
  let bot: WithId<Bot> | undefined;
  if (botId) {
    bot = await caller.repo.readResource<Bot>('Bot', botId);
  } else {
    const identifier = url.searchParams.get('identifier');
    if (!identifier) {
      throw new OperationOutcomeError(badRequest('Missing bot id or identifier'));
    }
    bot = await caller.repo.searchOne<Bot>({
      resourceType: 'Bot',
      filters: [{ code: 'identifier', operator: 'eq' as never, value: identifier }],
    });
    if (!bot) {
      throw new OperationOutcomeError(notFound);
    }
  }
  // GET: the query string is the input, and there is no content type (Medplum hands the bot `undefined`).
  const { input, contentType } =
    req.method === 'GET'
      ? { input: formObject(url.searchParams), contentType: undefined }
      : botInput(ctx, bot, await readBody(req));
  const runAs = (await botMembership(ctx, bot)) ?? caller.membership;
  const result = await executeBot(ctx, {
    bot,
    runAs,
    input,
    contentType,
    requester: caller.profile,
    headers: req.headers,
    traceId: traceOf(res)?.traceId,
  });
  sendBotResult(res, result, req.headers['content-type']);
}

const DeployRequest = z.object({ code: z.string().min(1), filename: z.string().min(1).optional() });

/** `POST /fhir/R4/Bot/:id/$deploy {code, filename}`: stores the bundle as a Binary and points the bot at it. */
export async function handleDeploy(
  ctx: StackContext,
  caller: Caller,
  req: IncomingMessage,
  res: ServerResponse,
  botId: string
): Promise<void> {
  const bot = await caller.repo.readResource<Bot>('Bot', botId);
  const project = await loadProject(ctx);
  if (!projectHasFeature(project, 'bots')) {
    throw new OperationOutcomeError(badRequest('Bots not enabled'));
  }
  const parsed = DeployRequest.safeParse(parseBody(await readBody(req)));
  if (!parsed.success) {
    throw new OperationOutcomeError(badRequest('Invalid deploy request: code is required'));
  }
  const filename = parsed.data.filename ?? 'index.js';
  // As the caller, as Medplum does: the Binary costs the caller a write of FHIR quota too.
  const binary = await caller.repo.createResource<Binary>({
    resourceType: 'Binary',
    contentType: 'text/javascript',
    data: Buffer.from(parsed.data.code).toString('base64'),
  });
  await caller.repo.updateResource<Bot>({
    ...bot,
    // Medplum 5.0.10 stores bot bundles as text/javascript (ContentType.JAVASCRIPT).
    executableCode: { contentType: 'text/javascript', url: getReferenceString(binary), title: filename },
  });
  sendOutcome(res, allOk);
}

/** `POST /webhook/:membershipId`: unauthenticated; the bot verifies the sender itself (Medplum checks nothing). */
export async function handleWebhook(
  ctx: StackContext,
  req: IncomingMessage,
  res: ServerResponse,
  membershipId: string
): Promise<void> {
  // Medplum parses the body before routing: an oversized or malformed body is refused first.
  const body = await readBody(req);
  // An unknown membership is the system repository's 404; the other refusals are plain-text 403s (`res.send`).
  const membership = await ctx.system.readResource<ProjectMembership>('ProjectMembership', membershipId);
  if (!membership.profile?.reference?.startsWith('Bot/')) {
    sendText(res, 403, 'ProjectMembership must be for a Bot resource', 'text/html');
    return;
  }
  if (!membership.access && !membership.accessPolicy) {
    sendText(res, 403, 'ProjectMembership must have an Access Policy', 'text/html');
    return;
  }
  const bot = await ctx.system.readReference<Bot>(membership.profile as Reference<Bot>);
  if (!bot.publicWebhook) {
    sendText(res, 403, 'Bot is not configured for public webhook access', 'text/html');
    return;
  }
  const { input, contentType } = botInput(ctx, bot, body);
  const result = await executeBot(ctx, { bot, runAs: membership, input, contentType, headers: req.headers });
  sendBotResult(res, result, req.headers['content-type']);
}

// ---------------------------------------------------------------------------------------------------------------
// Subscriptions

interface Job {
  subscription: WithId<Subscription>;
  change: Change;
}

export class SubscriptionDispatcher {
  private readonly ctx: StackContext;
  private cache: WithId<Subscription>[] | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(ctx: StackContext) {
    this.ctx = ctx;
  }

  private async activeSubscriptions(): Promise<WithId<Subscription>[]> {
    this.cache ??= (
      await this.ctx.system.searchResources<Subscription>({ resourceType: 'Subscription', count: 1000 })
    ).filter((s) => s.status === 'active');
    return this.cache;
  }

  /** Called after every committed write. Evaluation happens at write time, delivery asynchronously. */
  onCommit(changes: Change[]): void {
    if (changes.some((c) => c.resource.resourceType === 'Subscription')) {
      this.cache = undefined;
    }
    const task = this.evaluate(changes).catch((err: unknown) =>
      this.ctx.log('subscription evaluation failed', { error: normalizeErrorString(err) })
    );
    this.track(task);
  }

  private track(task: Promise<void>): void {
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  /** Resolves when every queued delivery has finished (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) {
      await Promise.allSettled([...this.pending]);
    }
  }

  private async evaluate(changes: Change[]): Promise<void> {
    const subscriptions = await this.activeSubscriptions();
    for (const change of changes) {
      // Medplum never evaluates subscriptions for AuditEvents (they would loop on bot runs).
      if (change.resource.resourceType === 'AuditEvent') {
        continue;
      }
      for (const subscription of subscriptions) {
        const criteriaType = subscription.criteria?.split('?')[0];
        if (criteriaType !== change.resource.resourceType) {
          continue;
        }
        const matches = await resourceMatchesSubscriptionCriteria({
          resource: change.resource,
          subscription,
          context: { interaction: change.interaction },
          getPreviousResource: async () => change.previous,
        });
        if (matches) {
          this.track(this.deliver({ subscription, change }));
        }
      }
    }
  }

  private async deliver(job: Job): Promise<void> {
    const endpoint = job.subscription.channel.endpoint ?? '';
    if (job.subscription.channel.type !== 'rest-hook') {
      return;
    }
    if (endpoint.startsWith('Bot/')) {
      await this.deliverToBot(job, endpoint);
    } else if (/^https?:\/\//.test(endpoint)) {
      await this.deliverToUrl(job, endpoint);
    }
  }

  private async deliverToBot(job: Job, endpoint: string): Promise<void> {
    const bot = await this.ctx.system.readReference<Bot>({ reference: endpoint }).catch(() => undefined);
    if (!bot) {
      this.ctx.log('subscription bot not found', { subscription: job.subscription.id });
      return;
    }
    const runAs = await botMembership(this.ctx, bot);
    if (!runAs) {
      // Medplum: "Could not find project membership for bot" — thrown, job fails.
      this.ctx.log('Could not find project membership for bot', { bot: bot.id });
      return;
    }
    const input: Resource | { deletedResource: Resource } =
      job.change.interaction === 'delete' ? { deletedResource: job.change.resource } : job.change.resource;
    // A failed run is not retried (Medplum ignores success:false); bots must be idempotent and self-reporting.
    await executeBot(this.ctx, {
      bot,
      runAs,
      input,
      contentType: 'application/fhir+json',
      requester: job.change.resource.meta?.author,
      subscription: job.subscription,
      // The subscription worker hands the bot its job's trace id (cron hands none).
      traceId: randomUUID(),
    });
  }

  private async deliverToUrl(job: Job, endpoint: string): Promise<void> {
    const maxAttempts = job.subscription.extension?.find((e) => e.url === MAX_ATTEMPTS_URL)?.valueInteger ?? 3;
    const body = job.change.interaction === 'delete' ? '{}' : JSON.stringify(job.change.resource);
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const status = await fetch(endpoint, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/fhir+json',
          'X-Medplum-Subscription': job.subscription.id,
          'X-Medplum-Interaction': job.change.interaction,
        },
        body,
        signal: AbortSignal.timeout(120_000),
      }).then(
        (r) => r.status,
        () => 0
      );
      if (status >= 200 && status < 400) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 2 ** attempt * 100));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Cron

export class CronRunner {
  private readonly ctx: StackContext;
  private timer: NodeJS.Timeout | undefined;

  constructor(ctx: StackContext) {
    this.ctx = ctx;
  }

  start(): void {
    const scheduleNext = (): void => {
      const now = Date.now();
      const delay = 60_000 - (now % 60_000) + 50;
      this.timer = setTimeout(() => {
        void this.tick(new Date()).finally(scheduleNext);
      }, delay);
      this.timer.unref();
    };
    scheduleNext();
  }

  stop(): void {
    if (this.timer) {
      clearTimeout(this.timer);
    }
  }

  /** Runs every bot whose cron string matches `now`. Input is the Bot resource itself, as on Medplum. */
  async tick(now: Date): Promise<string[]> {
    const project = await loadProject(this.ctx);
    if (!projectHasFeature(project, 'cron') || !projectHasFeature(project, 'bots')) {
      return [];
    }
    const bots = await this.ctx.system.searchResources<Bot>({ resourceType: 'Bot', count: 1000 });
    const ran: string[] = [];
    for (const bot of bots) {
      if (!bot.cronString) {
        continue;
      }
      let due = false;
      try {
        due = cronMatches(parseCron(bot.cronString), now);
      } catch (err) {
        this.ctx.log('invalid cron string', { bot: bot.id, error: normalizeErrorString(err) });
      }
      const runAs = due ? await botMembership(this.ctx, bot) : undefined;
      if (due && runAs) {
        ran.push(bot.id);
        await executeBot(this.ctx, { bot, runAs, input: bot, contentType: 'application/fhir+json' });
      }
    }
    return ran;
  }
}
