/**
 * Deploys Baseline to one Medplum project, idempotently. Every step compares what the server has with the
 * definitions in data/core (reconcile, in diff.ts) and writes only what differs, so a second run reports no change.
 *
 * Everything that can stop a deploy is checked before its first write: the server's version and what it supports
 * (`GET /healthcheck`; server.ts), the client's admin rights, the Project's features, the definitions, and the
 * server's current state — read in bulk (one search per resource type, since every search costs FHIR quota), with
 * duplicates refused. Then: profiles and terminology → AccessPolicies → ClientApplications (+ their memberships'
 * policies) → Bots (+ memberships' policies, + code) → Subscriptions → what an admin still has to do.
 *
 * Only the admin API gives a Bot or ClientApplication its ProjectMembership (and a client its secret), so those are
 * created through `POST admin/projects/:projectId/bot|client` and then given their identifier by an update. A run
 * that fails between the two leaves a Bot or client without its identifier; the next run recognises it (same name
 * and description, no Baseline identifier, no deployed code) and adopts it when it has its membership, or removes
 * it with its membership(s) otherwise or when the definition already has its resource.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MedplumClient, MedplumRequestOptions } from '@medplum/core';
import type {
  AccessPolicy,
  Bot,
  Bundle,
  ClientApplication,
  ProjectMembership,
  Resource,
  ResourceType,
  Subscription,
} from '@medplum/fhirtypes';
import { z } from 'zod';
import {
  BOT_ACCESS_POLICIES,
  BOT_DEFINITIONS,
  BOT_OWNED_FIELDS,
  buildClientDefinitions,
  buildPolicyDefinitions,
  CLIENT_SERVER_FIELDS,
  DEFAULT_APP_BASE_URLS,
  deployedSecrets,
  sharePolicyIds,
  providerUrlProblems,
  REQUIRED_FEATURES,
  providerSecretStatus,
  requiredSecrets,
  SUBSCRIPTION_DEFINITIONS,
  toAccessPolicy,
  toBotResource,
  toClientApplication,
  tokenSearch,
  toSubscription,
  validateDefinitions,
} from '../../data/core/index.ts';
import type {
  BotDefinition,
  ClientDefinition,
  PolicyDefinition,
  ProviderSecretStatus,
  SubscriptionDefinition,
} from '../../data/core/index.ts';
import {
  BOT_IDENTIFIER_SYSTEM,
  CLIENT_IDENTIFIER_SYSTEM,
  POLICY_IDENTIFIER_SYSTEM,
  SUBSCRIPTION_IDENTIFIER_SYSTEM,
} from '../../bots/shared/systems.ts';
import type { FieldPolicy } from './diff.ts';
import { reconcile } from './diff.ts';
import { DeployError } from './errors.ts';
import type { ConformanceResource } from './profiles.ts';
import { loadProfiles } from './profiles.ts';
import { DEFAULT_EXPECTED_OWNERS, projectQuota, QUOTA_POINTS, quotaReport } from './quota.ts';
import { QuotaMeter } from './ratelimit.ts';
import { planForServer, readServerVersion } from './server.ts';
import type { ServerPlan } from './server.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const DEFAULT_PROFILES_DIR = path.join(REPO_ROOT, 'profiles');

/** What deploy needs from a bot build (scripts/build-bots.ts `BuiltBot`). */
export interface BuiltBotCode {
  readonly name: string;
  readonly code: string;
  readonly sha256: string;
}

export type BuildBotsFn = (bots: readonly BotDefinition[]) => Promise<readonly BuiltBotCode[]>;

export interface DeployOptions {
  /** Signed in as a project admin of the target project. */
  readonly client: MedplumClient;
  /** Defaults to the client's project (from `auth/me`). */
  readonly projectId?: string;
  /** Read and compare only; report what would change. */
  readonly dryRun?: boolean;
  /** Defaults to BOT_DEFINITIONS. */
  readonly bots?: readonly BotDefinition[];
  /** Defaults to BOT_ACCESS_POLICIES. */
  readonly botPolicies?: readonly PolicyDefinition[];
  /** Defaults to SUBSCRIPTION_DEFINITIONS. */
  readonly subscriptions?: readonly SubscriptionDefinition[];
  /** Base URLs of the Baseline app, for redirect/launch URIs. Defaults to the dev server. */
  readonly appBaseUrls?: readonly string[];
  /** Conformance resources to upload. Defaults to everything in profiles/. */
  readonly profiles?: readonly ConformanceResource[];
  /** Bundles the bots. Defaults to scripts/build-bots.ts with the given bots as entries. */
  readonly buildBots?: BuildBotsFn;
  /** Owners the operator expects, for the FHIR quota check. Defaults to DEFAULT_EXPECTED_OWNERS. */
  readonly expectedOwners?: number;
  /** Waits for a FHIR quota reset (tests pass one that does not really wait). */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: (line: string) => void;
}

export type DeployKind =
  | 'CodeSystem'
  | 'ValueSet'
  | 'StructureDefinition'
  | 'AccessPolicy'
  | 'ClientApplication'
  | 'ClientMembership'
  | 'Bot'
  | 'BotMembership'
  | 'BotCode'
  | 'Subscription'
  | 'ProjectSecret';

export type DeployAction = 'created' | 'updated' | 'unchanged' | 'removed';

export interface DeployChange {
  readonly kind: DeployKind;
  /** Definition key, bot name or canonical url. */
  readonly key: string;
  readonly action: DeployAction;
  /** `Type/id` on the server (absent for a dry-run create). */
  readonly reference?: string;
  /** Changed fields, for updates. */
  readonly fields?: readonly string[];
  /** Why, when it is not the plain definition-vs-server difference (adoption, removal of a leftover). */
  readonly note?: string;
}

export interface DeployedBot {
  readonly name: string;
  readonly identifier: string;
  readonly id?: string;
  readonly membershipId?: string;
  /** For public-webhook bots: where providers must POST. */
  readonly webhookUrl?: string;
}

export interface DeployReport {
  readonly projectId: string;
  readonly dryRun: boolean;
  /** The server's version and what deploy did because of it. */
  readonly server: Pick<ServerPlan, 'localStack' | 'rawBody' | 'rawBodyDropped' | 'notes'> & { version: string };
  readonly changes: readonly DeployChange[];
  readonly counts: Readonly<Record<DeployAction, number>>;
  /** ClientApplication ids by key (the ids apps and EHRs configure as client_id). */
  readonly clients: Readonly<Record<string, string | undefined>>;
  readonly bots: readonly DeployedBot[];
  /** Required Project secrets that are not set (names only). */
  readonly missingSecrets: readonly string[];
  /** Per provider, the client secrets still missing (empty: owners can connect it). */
  readonly providers: readonly ProviderSecretStatus[];
  /** Things an operator should fix that do not stop the deploy (already logged, without the `Warning: ` prefix). */
  readonly warnings: readonly string[];
  /** FHIR quota points this deploy spent, from the server's RateLimit header (undefined when it sends none). */
  readonly quotaPointsSpent?: number;
  /** FHIR quota points left in the current window after the deploy, from the same header. */
  readonly quotaPointsLeft?: number;
  readonly durationMs: number;
  /** formatSummary of this report, e.g. `deploy: 12 unchanged, 3 created, 1 updated (2.1 s)`. */
  readonly summary: string;
}

const NO_CACHE: MedplumRequestOptions = { cache: 'no-cache' };
/** Medplum's largest page. */
const PAGE = '1000';

const SessionSchema = z.object({
  project: z.object({ id: z.string(), name: z.string().optional(), superAdmin: z.boolean().optional() }),
  membership: z.object({ admin: z.boolean().optional() }).passthrough(),
  profile: z.object({ resourceType: z.string(), id: z.string() }).passthrough(),
});

const SettingSchema = z
  .object({
    name: z.string(),
    valueString: z.string().optional(),
    valueBoolean: z.boolean().optional(),
    valueInteger: z.number().optional(),
    valueDecimal: z.number().optional(),
  })
  .passthrough();

const ProjectSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  features: z.array(z.string()).optional(),
  secret: z.array(SettingSchema).optional(),
  systemSetting: z.array(SettingSchema).optional(),
});

const CreatedSchema = z.object({ id: z.string(), resourceType: z.string() }).passthrough();

/**
 * `deploy: 12 unchanged, 3 created, 1 updated (2.1 s)`; `, 2 removed` is added when leftovers were removed.
 * @param report - A finished deploy.
 * @returns The summary line.
 */
export function formatSummary(
  report: Pick<DeployReport, 'dryRun' | 'durationMs'> & {
    counts: Pick<DeployReport['counts'], 'unchanged' | 'created' | 'updated'> & { removed?: number };
  }
): string {
  const { unchanged, created, updated } = report.counts;
  const removed = report.counts.removed ?? 0;
  const seconds = (report.durationMs / 1000).toFixed(1);
  return report.dryRun
    ? `deploy --dry-run: ${unchanged} unchanged, ${created} to create, ${updated} to update${removed > 0 ? `, ${removed} to remove` : ''} (${seconds} s)`
    : `deploy: ${unchanged} unchanged, ${created} created, ${updated} updated${removed > 0 ? `, ${removed} removed` : ''} (${seconds} s)`;
}

const DRY_VERBS: Record<DeployAction, string> = {
  created: 'would create',
  updated: 'would update',
  removed: 'would remove',
  unchanged: 'unchanged',
};

/**
 * The line logged for one change.
 * @param change - The change.
 * @param dryRun - Whether nothing was written.
 * @returns E.g. `  updated   Bot whoop-sync (Bot/1): cronString`.
 */
export function formatChange(change: DeployChange, dryRun: boolean): string {
  const verb = dryRun ? DRY_VERBS[change.action] : change.action;
  const ref = change.reference ? ` (${change.reference})` : '';
  const fields = change.fields && change.fields.length > 0 ? `: ${change.fields.join(', ')}` : '';
  const note = change.note ? ` — ${change.note}` : '';
  return `  ${verb.padEnd(12)} ${change.kind} ${change.key}${ref}${fields}${note}`;
}

/**
 * The bundle filename deploy gives `$deploy`; Medplum stores it as `Bot.executableCode.title`, which makes "is
 * this exact bundle deployed?" a string comparison.
 * @param name - Bot name.
 * @param sha256 - Hex sha256 of the bundle.
 * @returns `<name>-<first 12 hex>.js`.
 */
export function bundleFilename(name: string, sha256: string): string {
  return `${name}-${sha256.slice(0, 12)}.js`;
}

/**
 * Features the project lacks, in REQUIRED_FEATURES order.
 * @param features - Project.features.
 * @returns The missing ones.
 */
export function missingFeatures(features: readonly string[] | undefined): string[] {
  return REQUIRED_FEATURES.filter((feature) => !(features ?? []).includes(feature));
}

/**
 * What a super admin must do, as printable lines.
 * @param baseUrl - Server base URL (ends with `/`).
 * @param project - Project id, name and current features.
 * @param missing - Missing features.
 * @returns Instruction lines.
 */
export function featureInstructions(
  baseUrl: string,
  project: { id: string; name?: string | undefined; features?: readonly string[] | undefined },
  missing: readonly string[]
): string[] {
  const wanted = [...new Set([...(project.features ?? []), ...missing])];
  return [
    `Project ${project.name ?? project.id} (Project/${project.id}) lacks Medplum features Baseline needs: ${missing.join(', ')}.`,
    'Project admins cannot change features; a super admin must add them, either',
    `  - in the Medplum app: open Project/${project.id}, Edit, add ${missing.map((f) => `"${f}"`).join(', ')} to Features, Save; or`,
    `  - with the API as a super admin: PATCH ${baseUrl}fhir/R4/Project/${project.id}`,
    `    Content-Type: application/json-patch+json`,
    `    [{"op":"add","path":"/features","value":${JSON.stringify(wanted)}}]`,
    'New projects get these automatically when the server file config sets "defaultProjectFeatures".',
    'Then run npm run deploy again.',
  ];
}

/**
 * Secrets the project lacks: absent, or present with no value. Values are never returned or printed.
 * @param secrets - Project.secret.
 * @param required - Required names.
 * @returns Missing names, in `required` order.
 */
export function missingSecretNames(
  secrets: readonly { name: string; valueString?: string | undefined; [key: string]: unknown }[] | undefined,
  required: readonly string[]
): string[] {
  const set = new Set(
    (secrets ?? [])
      .filter((secret) =>
        Object.entries(secret).some(([key, value]) => key.startsWith('value') && value !== undefined && value !== '')
      )
      .map((secret) => secret.name)
  );
  return required.filter((name) => !set.has(name));
}

type WithId<T> = T & { id: string };

function hasTag(resource: Resource, system: string, code?: string): boolean {
  return (resource.meta?.tag ?? []).some((tag) => tag.system === system && (code === undefined || tag.code === code));
}

function hasBotIdentifier(bot: Bot, value?: string): boolean {
  return (bot.identifier ?? []).some(
    (ident) => ident.system === BOT_IDENTIFIER_SYSTEM && (value === undefined || ident.value === value)
  );
}

/** The one resource a key names; two mean a duplicate someone must remove (checked before any write). */
function single<T extends Resource>(found: readonly WithId<T>[], label: string): WithId<T> | undefined {
  if (found.length > 1) {
    const refs = found.map((r) => `${r.resourceType}/${r.id}`).join(', ');
    throw new DeployError(`${label} matches more than one resource on the server (${refs}); delete the extra one`);
  }
  return found[0];
}

/**
 * What a failed run can leave behind for a bot or client definition: created through the admin API (so it has the
 * definition's name and description) but never given its Baseline identifier, and never given code.
 */
function isLeftoverBot(bot: Bot, def: BotDefinition): boolean {
  return !hasBotIdentifier(bot) && bot.name === def.name && bot.description === def.description && !bot.executableCode;
}

function isLeftoverClient(client: ClientApplication, def: ClientDefinition): boolean {
  return (
    !hasTag(client, CLIENT_IDENTIFIER_SYSTEM) && client.name === def.name && client.description === def.description
  );
}

/** Which leftovers to adopt (one, with its membership, when the definition has no resource yet) and which to remove. */
export function sortLeftovers<T extends WithId<Resource>>(
  existing: T | undefined,
  leftovers: readonly T[],
  hasMembership: (resource: T) => boolean
): { adopt?: T; remove: T[] } {
  if (existing) {
    return { remove: [...leftovers] };
  }
  const adopt = leftovers.find(hasMembership);
  return { ...(adopt ? { adopt } : {}), remove: leftovers.filter((r) => r !== adopt) };
}

class Deployment {
  readonly changes: DeployChange[] = [];
  readonly warnings: string[] = [];
  readonly medplum: MedplumClient;
  readonly projectId: string;
  readonly dryRun: boolean;
  readonly log: (line: string) => void;
  readonly meter: QuotaMeter;

  constructor(
    medplum: MedplumClient,
    projectId: string,
    dryRun: boolean,
    log: (line: string) => void,
    meter: QuotaMeter
  ) {
    this.medplum = medplum;
    this.projectId = projectId;
    this.dryRun = dryRun;
    this.log = log;
    this.meter = meter;
  }

  record(change: DeployChange): void {
    this.changes.push(change);
    this.log(formatChange(change, this.dryRun));
  }

  warn(line: string): void {
    this.warnings.push(line);
    this.log(`Warning: ${line}`);
  }

  /** Every match of a search, following `next` links; one search (20 points) per page. */
  async searchAll<T extends Resource>(resourceType: T['resourceType'], query: Record<string, string>) {
    const out: WithId<T>[] = [];
    let bundle: Bundle = await this.meter.run(`search ${resourceType}`, QUOTA_POINTS.search, () =>
      this.medplum.search(resourceType as ResourceType, { _count: PAGE, ...query }, NO_CACHE)
    );
    for (let pages = 0; ; pages++) {
      for (const entry of bundle.entry ?? []) {
        if (entry.resource?.id) {
          out.push(entry.resource as WithId<T>);
        }
      }
      const next = bundle.link?.find((link) => link.relation === 'next')?.url;
      if (!next || pages > 100) {
        return out;
      }
      bundle = await this.meter.run(`search ${resourceType}`, QUOTA_POINTS.search, () =>
        this.medplum.get<Bundle>(next, NO_CACHE)
      );
    }
  }

  /** Create, update or leave a resource deploy owns outright, given what the server has. */
  async upsert<T extends Resource>(
    kind: DeployKind,
    key: string,
    desired: T,
    existing: WithId<T> | undefined,
    fields: FieldPolicy
  ): Promise<string | undefined> {
    const result = reconcile(existing, desired, fields);
    if (result.action === 'create') {
      const created = this.dryRun
        ? undefined
        : await this.meter.run(`create ${kind} ${key}`, QUOTA_POINTS.write, () => this.medplum.createResource(desired));
      this.record({ kind, key, action: 'created', ...(created ? { reference: `${kind}/${created.id}` } : {}) });
      return created?.id;
    }
    const id = existing?.id;
    if (result.action === 'update' && !this.dryRun) {
      await this.meter.run(`update ${kind} ${key}`, QUOTA_POINTS.write, () => this.medplum.updateResource(result.next));
    }
    this.record({
      kind,
      key,
      action: result.action === 'update' ? 'updated' : 'unchanged',
      reference: `${desired.resourceType}/${id}`,
      ...(result.action === 'update' ? { fields: result.changes } : {}),
    });
    return id;
  }

  /** The membership of a bot or client made just now by the admin API (not in the snapshot). */
  async findMembership(profile: string): Promise<WithId<ProjectMembership> | undefined> {
    const found = await this.searchAll<ProjectMembership>('ProjectMembership', { profile });
    return found[0];
  }

  /** Point a bot's or client's membership at its policy, and make it a project admin exactly when it should be. */
  async ensureMembershipPolicy(
    kind: 'BotMembership' | 'ClientMembership',
    key: string,
    profile: string | undefined,
    membership: WithId<ProjectMembership> | undefined,
    policyId: string | undefined,
    policyKey: string,
    justCreated: boolean,
    admin = false
  ): Promise<string | undefined> {
    const wantedRef = policyId ? `AccessPolicy/${policyId}` : undefined;
    const adminField = admin ? ['admin → true'] : [];
    if (!profile) {
      // Dry run of a resource that does not exist yet: its membership is made with the policy on creation.
      this.record({ kind, key, action: 'created', fields: [`accessPolicy → ${policyKey}`, ...adminField] });
      return undefined;
    }
    if (!membership) {
      throw new DeployError(
        `${profile} has no ProjectMembership (it was not created through the admin API); delete it and deploy again`
      );
    }
    const reference = `ProjectMembership/${membership.id}`;
    const policyOk = wantedRef !== undefined && membership.accessPolicy?.reference === wantedRef;
    const adminOk = (membership.admin === true) === admin;
    if (policyOk && adminOk) {
      // The admin API made it along with its bot or client, already bound to the policy.
      this.record({ kind, key, action: justCreated ? 'created' : 'unchanged', reference });
      return membership.id;
    }
    if (!this.dryRun && (wantedRef !== undefined || !adminOk)) {
      const next: ProjectMembership = {
        ...membership,
        ...(wantedRef === undefined ? {} : { accessPolicy: { reference: wantedRef } }),
        admin,
      };
      await this.meter.run(`update ${kind} ${key}`, QUOTA_POINTS.write + QUOTA_POINTS.read, () =>
        this.medplum.post(`admin/projects/${this.projectId}/members/${membership.id}`, next)
      );
    }
    const fields = [...(policyOk ? [] : [`accessPolicy → ${policyKey}`]), ...(adminOk ? [] : [`admin → ${admin}`])];
    this.record({ kind, key, action: justCreated ? 'created' : 'updated', reference, fields });
    return membership.id;
  }

  async adminCreate(kind: 'bot' | 'client', body: Record<string, unknown>): Promise<z.infer<typeof CreatedSchema>> {
    // A bot costs its source Binary and the Bot; the membership is written by the server's system repository.
    const cost = kind === 'bot' ? 2 * QUOTA_POINTS.write : QUOTA_POINTS.write;
    const response: unknown = await this.meter.run(`create ${kind}`, cost, () =>
      this.medplum.post(`admin/projects/${this.projectId}/${kind}`, body)
    );
    return CreatedSchema.parse(response);
  }

  /** Removes a leftover Bot or ClientApplication: its memberships first, so none is left pointing at nothing. */
  async removeLeftover(
    kind: 'Bot' | 'ClientApplication',
    key: string,
    resource: WithId<Resource>,
    memberships: readonly WithId<ProjectMembership>[],
    why: string
  ): Promise<void> {
    const membershipKind = kind === 'Bot' ? 'BotMembership' : 'ClientMembership';
    for (const membership of memberships) {
      if (!this.dryRun) {
        await this.meter.run(`remove ${membershipKind} ${key}`, QUOTA_POINTS.write + QUOTA_POINTS.read, () =>
          this.medplum.delete(`admin/projects/${this.projectId}/members/${membership.id}`)
        );
      }
      this.record({
        kind: membershipKind,
        key,
        action: 'removed',
        reference: `ProjectMembership/${membership.id}`,
        note: why,
      });
    }
    if (!this.dryRun) {
      await this.meter.run(`remove ${kind} ${key}`, QUOTA_POINTS.write, () =>
        this.medplum.deleteResource(resource.resourceType, resource.id)
      );
    }
    this.record({ kind, key, action: 'removed', reference: `${resource.resourceType}/${resource.id}`, note: why });
  }
}

async function defaultBuildBots(bots: readonly BotDefinition[]): Promise<readonly BuiltBotCode[]> {
  const { buildBots } = await import('../build-bots.ts');
  return buildBots({ entries: bots.map(({ name, source, dist }) => ({ name, source, dist })) });
}

function rateLimitHeader(medplum: MedplumClient): string | undefined {
  try {
    return medplum
      .rateLimitStatus()
      .map((status) => `"${status.name}";r=${status.remainingUnits};t=${status.secondsUntilReset}`)
      .join(', ');
  } catch {
    // MedplumClient throws on a header it cannot parse; deploy then simply reports no figure.
    return undefined;
  }
}

const LEFTOVER = 'left by an earlier failed deploy';

/**
 * Deploys (or, with `dryRun`, plans) Baseline on the client's Medplum project.
 * @param options - See DeployOptions.
 * @returns What was (or would be) created, updated, removed and left unchanged, and what an admin must still do.
 */
export async function deploy(options: DeployOptions): Promise<DeployReport> {
  const started = performance.now();
  const medplum = options.client;
  const dryRun = options.dryRun ?? false;
  const log = options.log ?? ((): void => undefined);
  const bots = options.bots ?? BOT_DEFINITIONS;
  const botPolicies = options.botPolicies ?? BOT_ACCESS_POLICIES;
  const subscriptions = options.subscriptions ?? SUBSCRIPTION_DEFINITIONS;
  const baseUrl = medplum.getBaseUrl();
  const meter = new QuotaMeter({
    readHeader: () => rateLimitHeader(medplum),
    ...(options.sleep ? { sleep: options.sleep } : {}),
    log,
  });

  // 1. Which server, and what it supports. Nothing below may write before every check has passed.
  const server = planForServer(
    await readServerVersion((p) => medplum.get(p, { ...NO_CACHE, maxRetries: 0 }), baseUrl),
    bots
  );

  // 2. Who we are and where.
  const session = SessionSchema.parse(await meter.run('auth/me', 0, () => medplum.get('auth/me', NO_CACHE)));
  const projectId = options.projectId ?? session.project.id;
  if (!session.membership.admin && !session.project.superAdmin) {
    throw new DeployError(
      `${session.profile.resourceType}/${session.profile.id} is not an admin of project ${session.project.name ?? projectId}; deploy needs a project-admin client`
    );
  }

  // 3. Features: without them bots cannot run and cron would not register.
  const project = ProjectSchema.parse(
    await meter.run('read Project', QUOTA_POINTS.read, () => medplum.readResource('Project', projectId, NO_CACHE))
  );
  const missing = missingFeatures(project.features);
  if (missing.length > 0) {
    throw new DeployError(`Project ${project.name ?? projectId} lacks required features: ${missing.join(', ')}`, {
      details: featureInstructions(baseUrl, project, missing),
    });
  }

  // 4. Definitions must hang together.
  const problems = validateDefinitions({ bots, botPolicies, subscriptions });
  if (problems.length > 0) {
    throw new DeployError(`The definitions in data/core are inconsistent (${problems.length} problem(s))`, {
      details: problems,
    });
  }
  const built = bots.length > 0 ? await (options.buildBots ?? defaultBuildBots)(bots) : [];
  for (const def of bots) {
    if (!built.some((b) => b.name === def.name)) {
      throw new DeployError(`Bot ${def.name} was not built (the build returned no bundle for it)`);
    }
  }

  const run = new Deployment(medplum, projectId, dryRun, log, meter);

  // 5. What the server has: one search per resource type (each costs 20 quota points, whatever it returns).
  const profiles = options.profiles ?? loadProfiles(DEFAULT_PROFILES_DIR);
  const policyDefs = buildPolicyDefinitions(bots, botPolicies);
  const clientDefs = buildClientDefinitions(options.appBaseUrls ?? DEFAULT_APP_BASE_URLS);

  const conformance = new Map<string, WithId<ConformanceResource>[]>();
  for (const type of [...new Set(profiles.map((p) => p.resourceType))]) {
    const urls = profiles.filter((p) => p.resourceType === type).map((p) => p.url ?? '');
    for (const found of await run.searchAll<ConformanceResource>(type, { url: urls.join(',') })) {
      const key = `${type} ${found.url ?? ''}`;
      conformance.set(key, [...(conformance.get(key) ?? []), found]);
    }
  }
  const tagged = async <T extends Resource>(type: T['resourceType'], system: string, keys: readonly string[]) =>
    keys.length === 0 ? [] : run.searchAll<T>(type, { _tag: keys.map((key) => tokenSearch(system, key)).join(',') });
  const serverPolicies = await tagged<AccessPolicy>(
    'AccessPolicy',
    POLICY_IDENTIFIER_SYSTEM,
    policyDefs.map((d) => d.key)
  );
  const serverSubscriptions = await tagged<Subscription>(
    'Subscription',
    SUBSCRIPTION_IDENTIFIER_SYSTEM,
    subscriptions.map((d) => d.key)
  );
  // All of them: a leftover has no identifier or tag to search by, only its name and description.
  const serverClients = clientDefs.length > 0 ? await run.searchAll<ClientApplication>('ClientApplication', {}) : [];
  const serverBots = bots.length > 0 ? await run.searchAll<Bot>('Bot', {}) : [];

  const clientPlans = clientDefs.map((def) => ({
    def,
    existing: single(
      serverClients.filter((c) => hasTag(c, CLIENT_IDENTIFIER_SYSTEM, def.key)),
      `ClientApplication ${def.key}`
    ),
    leftovers: serverClients.filter((c) => isLeftoverClient(c, def)),
  }));
  const botPlans = bots.map((def) => ({
    def,
    existing: single(
      serverBots.filter((b) => hasBotIdentifier(b, def.identifier)),
      `Bot ${def.name}`
    ),
    leftovers: serverBots.filter((b) => isLeftoverBot(b, def)),
  }));
  const profileRefs = [
    ...clientPlans.flatMap((p) => [p.existing, ...p.leftovers]),
    ...botPlans.flatMap((p) => [p.existing, ...p.leftovers]),
  ]
    .filter((r): r is WithId<ClientApplication> | WithId<Bot> => r !== undefined)
    .map((r) => `${r.resourceType}/${r.id}`);
  const memberships = new Map<string, WithId<ProjectMembership>[]>();
  for (let i = 0; i < profileRefs.length; i += 40) {
    const chunk = profileRefs.slice(i, i + 40);
    for (const m of await run.searchAll<ProjectMembership>('ProjectMembership', { profile: chunk.join(',') })) {
      const ref = m.profile?.reference ?? '';
      memberships.set(ref, [...(memberships.get(ref) ?? []), m]);
    }
  }
  const membershipsOf = (r: WithId<Resource>): WithId<ProjectMembership>[] =>
    memberships.get(`${r.resourceType}/${r.id}`) ?? [];

  // Duplicates stop the deploy here, before anything is written.
  const existingProfile = profiles.map((p) =>
    single(conformance.get(`${p.resourceType} ${p.url ?? ''}`) ?? [], `${p.resourceType} ${p.url ?? ''}`)
  );
  const existingPolicy = policyDefs.map((def) =>
    single(
      serverPolicies.filter((p) => hasTag(p, POLICY_IDENTIFIER_SYSTEM, def.key)),
      `AccessPolicy ${def.key}`
    )
  );
  const existingSubscription = subscriptions.map((def) =>
    single(
      serverSubscriptions.filter((s) => hasTag(s, SUBSCRIPTION_IDENTIFIER_SYSTEM, def.key)),
      `Subscription ${def.key}`
    )
  );
  for (const { existing } of [...botPlans, ...clientPlans]) {
    const found = existing ? membershipsOf(existing) : [];
    if (existing && found.length === 0) {
      throw new DeployError(
        `${existing.resourceType}/${existing.id} has no ProjectMembership (it was not created through the admin API); delete it and deploy again`
      );
    }
    if (existing && found.length > 1) {
      const refs = found.map((m) => `ProjectMembership/${m.id}`).join(', ');
      throw new DeployError(
        `${existing.resourceType}/${existing.id} has more than one ProjectMembership (${refs}); delete the extra one`
      );
    }
  }

  // 6. What this server means for the plan, and what an operator should know before it runs.
  log(
    `${dryRun ? 'Planning' : 'Deploying'} Baseline on ${baseUrl} (project ${project.name ?? projectId}, Medplum ${server.version.raw})`
  );
  for (const note of server.notes) {
    log(note);
  }
  const owners = options.expectedOwners ?? DEFAULT_EXPECTED_OWNERS;
  const [quotaLine, ...quotaWarnings] = quotaReport(owners, projectQuota(project.systemSetting));
  if (quotaLine) {
    log(quotaLine);
  }
  for (const warning of quotaWarnings) {
    run.warn(warning.replace(/^Warning: /, ''));
  }
  if (!server.localStack) {
    for (const problem of providerUrlProblems(project.secret)) {
      run.warn(
        `${problem}; outside the local stack provider URLs must be the providers' own (unset them to use the defaults)`
      );
    }
  }

  // 7. Profiles and terminology, by canonical url.
  for (const [i, resource] of profiles.entries()) {
    await run.upsert(resource.resourceType, resource.url ?? '', resource, existingProfile[i], { preserve: [] });
  }

  // 8. AccessPolicies.
  const policyIds = new Map<string, string | undefined>();
  for (const [i, def] of policyDefs.entries()) {
    policyIds.set(
      def.key,
      await run.upsert('AccessPolicy', def.key, toAccessPolicy(def), existingPolicy[i], { preserve: [] })
    );
  }

  // 9. ClientApplications: created through the admin API (membership + secret), then kept in step.
  const clients: Record<string, string | undefined> = {};
  for (const { def, existing: found, leftovers } of clientPlans) {
    const desired = toClientApplication(def);
    const policyId = policyIds.get(def.accessPolicy);
    const sorted = sortLeftovers(found, leftovers, (c) => membershipsOf(c).length > 0);
    for (const leftover of sorted.remove) {
      await run.removeLeftover('ClientApplication', def.key, leftover, membershipsOf(leftover), LEFTOVER);
    }
    let existing: WithId<ClientApplication> | undefined = found ?? sorted.adopt;
    let membership = existing ? membershipsOf(existing)[0] : undefined;
    let created = false;
    if (!existing && !dryRun) {
      const made = await run.adminCreate('client', {
        name: def.name,
        description: def.description,
        ...(def.redirectUris?.[0] ? { redirectUri: def.redirectUris[0] } : {}),
        ...(policyId ? { accessPolicy: { reference: `AccessPolicy/${policyId}` } } : {}),
      });
      existing = made as unknown as WithId<ClientApplication>;
      membership = await run.findMembership(`ClientApplication/${made.id}`);
      created = true;
    }
    if (!existing) {
      run.record({ kind: 'ClientApplication', key: def.key, action: 'created' });
    } else {
      const result = reconcile(existing, desired, { preserve: CLIENT_SERVER_FIELDS });
      if (result.action === 'update' && !dryRun) {
        await meter.run(`update ClientApplication ${def.key}`, QUOTA_POINTS.write, () =>
          medplum.updateResource(result.next)
        );
      }
      run.record({
        kind: 'ClientApplication',
        key: def.key,
        action: created ? 'created' : result.action === 'update' ? 'updated' : 'unchanged',
        reference: `ClientApplication/${existing.id}`,
        ...(result.action === 'update' && !created ? { fields: result.changes } : {}),
        ...(sorted.adopt && existing === sorted.adopt ? { note: `adopted, ${LEFTOVER}` } : {}),
      });
    }
    clients[def.key] = existing?.id;
    await run.ensureMembershipPolicy(
      'ClientMembership',
      def.key,
      existing ? `ClientApplication/${existing.id}` : undefined,
      membership,
      policyId,
      def.accessPolicy,
      created
    );
  }

  // 10. Bots: admin create (membership) → owned fields → membership policy → code.
  const deployedBots: DeployedBot[] = [];
  const botIds = new Map<string, string | undefined>();
  for (const { def, existing: found, leftovers } of botPlans) {
    const policyId = policyIds.get(def.accessPolicy);
    const desired = toBotResource(def, { rawBody: server.rawBody });
    const sorted = sortLeftovers(found, leftovers, (b) => membershipsOf(b).length > 0);
    for (const leftover of sorted.remove) {
      await run.removeLeftover('Bot', def.name, leftover, membershipsOf(leftover), LEFTOVER);
    }
    let existing: WithId<Bot> | undefined = found ?? sorted.adopt;
    let membership = existing ? membershipsOf(existing)[0] : undefined;
    let created = false;
    if (!existing && !dryRun) {
      const made = await run.adminCreate('bot', {
        name: def.name,
        description: def.description,
        runtimeVersion: def.runtimeVersion,
        ...(policyId ? { accessPolicy: { reference: `AccessPolicy/${policyId}` } } : {}),
      });
      existing = made as unknown as WithId<Bot>;
      membership = await run.findMembership(`Bot/${made.id}`);
      created = true;
    }
    let current: Bot | undefined = existing;
    if (!existing) {
      run.record({ kind: 'Bot', key: def.name, action: 'created' });
    } else {
      const result = reconcile(existing, desired, { own: BOT_OWNED_FIELDS });
      if (result.action === 'update' && !dryRun) {
        current = await meter.run(`update Bot ${def.name}`, QUOTA_POINTS.write, () =>
          medplum.updateResource(result.next)
        );
      }
      run.record({
        kind: 'Bot',
        key: def.name,
        action: created ? 'created' : result.action === 'update' ? 'updated' : 'unchanged',
        reference: `Bot/${existing.id}`,
        ...(result.action === 'update' && !created ? { fields: result.changes } : {}),
        ...(sorted.adopt && existing === sorted.adopt ? { note: `adopted, ${LEFTOVER}` } : {}),
      });
    }
    const botRef = existing ? `Bot/${existing.id}` : undefined;
    const membershipId = await run.ensureMembershipPolicy(
      'BotMembership',
      def.name,
      botRef,
      membership,
      policyId,
      def.accessPolicy,
      created,
      def.projectAdmin === true
    );

    const bundle = built.find((b) => b.name === def.name);
    if (!bundle) {
      throw new DeployError(`Bot ${def.name} was not built (the build returned no bundle for it)`);
    }
    const filename = bundleFilename(def.name, bundle.sha256);
    if (current?.executableCode?.title === filename) {
      run.record({ kind: 'BotCode', key: def.name, action: 'unchanged', reference: filename });
    } else {
      if (!dryRun && existing) {
        const botId = existing.id;
        // $deploy reads the Bot, stores the code as a Binary and updates the Bot.
        await meter.run(`deploy code ${def.name}`, 2 * QUOTA_POINTS.write + QUOTA_POINTS.read, () =>
          medplum.post(medplum.fhirUrl('Bot', botId, '$deploy'), { code: bundle.code, filename })
        );
      }
      run.record({
        kind: 'BotCode',
        key: def.name,
        action: current?.executableCode ? 'updated' : 'created',
        reference: filename,
      });
    }

    botIds.set(def.identifier, existing?.id);
    deployedBots.push({
      name: def.name,
      identifier: def.identifier,
      ...(existing ? { id: existing.id } : {}),
      ...(membershipId ? { membershipId } : {}),
      ...(def.publicWebhook && membershipId ? { webhookUrl: `${baseUrl}webhook/${membershipId}` } : {}),
    });
  }

  // 11. Subscriptions, pointed at the bots' ids on this server.
  for (const [i, def] of subscriptions.entries()) {
    const botId = botIds.get(def.bot) ?? `(new ${def.bot})`;
    await run.upsert<Subscription>('Subscription', def.key, toSubscription(def, botId), existingSubscription[i], {
      preserve: [],
    });
  }

  // 12. Secrets deploy owns (values it derives, e.g. the app URLs the connect bots accept), then the ones an admin
  // must set: names only. Medplum's secrets endpoint replaces the whole list, so the others are sent back as read.
  // A dry run has no ids for policies it would create; it still reports the secret as planned.
  const shareIds = sharePolicyIds(policyIds) ?? sharePolicyIds(new Map([...policyIds.keys()].map((k) => [k, '(new)'])));
  const owned = deployedSecrets(options.appBaseUrls ?? DEFAULT_APP_BASE_URLS, shareIds);
  const current = project.secret ?? [];
  const stale = Object.entries(owned).filter(
    ([name, value]) => current.find((secret) => secret.name === name)?.valueString !== value
  );
  if (stale.length > 0 && !dryRun) {
    const merged = [
      ...current.filter((secret) => !(secret.name in owned)),
      ...Object.entries(owned).map(([name, valueString]) => ({ name, valueString })),
    ];
    await meter.run('update Project secrets', QUOTA_POINTS.write + QUOTA_POINTS.read, () =>
      medplum.post(`admin/projects/${projectId}/secrets`, merged)
    );
  }
  for (const name of Object.keys(owned)) {
    const isStale = stale.some(([staleName]) => staleName === name);
    const existed = current.some((secret) => secret.name === name);
    run.record({
      kind: 'ProjectSecret',
      key: name,
      action: !isStale ? 'unchanged' : existed ? 'updated' : 'created',
    });
  }
  const missingSecrets = missingSecretNames(project.secret, requiredSecrets(bots));

  const counts: Record<DeployAction, number> = { created: 0, updated: 0, unchanged: 0, removed: 0 };
  for (const change of run.changes) {
    counts[change.action]++;
  }
  const durationMs = performance.now() - started;
  return {
    projectId,
    dryRun,
    server: {
      version: server.version.raw,
      localStack: server.localStack,
      rawBody: server.rawBody,
      rawBodyDropped: server.rawBodyDropped,
      notes: server.notes,
    },
    changes: run.changes,
    counts,
    clients,
    bots: deployedBots,
    missingSecrets,
    providers: providerSecretStatus(
      (project.secret ?? []).map((secret) => ({
        name: secret.name,
        valueString: Object.entries(secret).some(
          ([key, value]) => key.startsWith('value') && value !== undefined && value !== ''
        )
          ? 'set'
          : undefined,
      }))
    ),
    warnings: run.warnings,
    ...(meter.spent === undefined ? {} : { quotaPointsSpent: meter.spent }),
    ...(meter.lastReading ? { quotaPointsLeft: meter.lastReading.remaining } : {}),
    durationMs,
    summary: formatSummary({ counts, dryRun, durationMs }),
  };
}
