/**
 * Deploys Baseline to one Medplum project, idempotently. Every step reads what the server has, compares it with the
 * definitions in data/core (reconcile, in diff.ts) and writes only what differs, so a second run reports no change.
 *
 * Order: check the Project's features (stop with instructions if one is missing) → validate the definitions →
 * profiles and terminology → AccessPolicies → ClientApplications (+ their memberships' policies) → Bots (+
 * memberships' policies, + code) → Subscriptions → report Project secrets an admin still has to set.
 *
 * Only the admin API gives a Bot or ClientApplication its ProjectMembership (and a client its secret), so those are
 * created through `POST admin/projects/:projectId/bot|client`; a plain FHIR create would leave a bot that cron and
 * subscriptions cannot run. Membership policies change through `POST admin/projects/:projectId/members/:id`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MedplumClient, MedplumRequestOptions } from '@medplum/core';
import type {
  Bot,
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
  REQUIRED_FEATURES,
  requiredSecrets,
  SUBSCRIPTION_DEFINITIONS,
  toAccessPolicy,
  toBotResource,
  toClientApplication,
  tokenSearch,
  toSubscription,
  validateDefinitions,
} from '../../data/core/index.ts';
import type { BotDefinition, PolicyDefinition, SubscriptionDefinition } from '../../data/core/index.ts';
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
  | 'Subscription';

export type DeployAction = 'created' | 'updated' | 'unchanged';

export interface DeployChange {
  readonly kind: DeployKind;
  /** Definition key, bot name or canonical url. */
  readonly key: string;
  readonly action: DeployAction;
  /** `Type/id` on the server (absent for a dry-run create). */
  readonly reference?: string;
  /** Changed fields, for updates. */
  readonly fields?: readonly string[];
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
  readonly changes: readonly DeployChange[];
  readonly counts: Readonly<Record<DeployAction, number>>;
  /** ClientApplication ids by key (the ids apps and EHRs configure as client_id). */
  readonly clients: Readonly<Record<string, string | undefined>>;
  readonly bots: readonly DeployedBot[];
  /** Required Project secrets that are not set (names only). */
  readonly missingSecrets: readonly string[];
  readonly durationMs: number;
  /** formatSummary of this report, e.g. `deploy: 12 unchanged, 3 created, 1 updated (2.1 s)`. */
  readonly summary: string;
}

const NO_CACHE: MedplumRequestOptions = { cache: 'no-cache' };

const SessionSchema = z.object({
  project: z.object({ id: z.string(), name: z.string().optional(), superAdmin: z.boolean().optional() }),
  membership: z.object({ admin: z.boolean().optional() }).passthrough(),
  profile: z.object({ resourceType: z.string(), id: z.string() }).passthrough(),
});

const ProjectSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  features: z.array(z.string()).optional(),
  secret: z
    .array(
      z
        .object({
          name: z.string(),
          valueString: z.string().optional(),
          valueBoolean: z.boolean().optional(),
          valueInteger: z.number().optional(),
          valueDecimal: z.number().optional(),
        })
        .passthrough()
    )
    .optional(),
});

const CreatedSchema = z.object({ id: z.string(), resourceType: z.string() }).passthrough();

/**
 * `deploy: 12 unchanged, 3 created, 1 updated (2.1 s)`.
 * @param report - A finished deploy.
 * @returns The summary line.
 */
export function formatSummary(report: Pick<DeployReport, 'counts' | 'dryRun' | 'durationMs'>): string {
  const { unchanged, created, updated } = report.counts;
  const seconds = (report.durationMs / 1000).toFixed(1);
  return report.dryRun
    ? `deploy --dry-run: ${unchanged} unchanged, ${created} to create, ${updated} to update (${seconds} s)`
    : `deploy: ${unchanged} unchanged, ${created} created, ${updated} updated (${seconds} s)`;
}

/**
 * The line logged for one change.
 * @param change - The change.
 * @param dryRun - Whether nothing was written.
 * @returns E.g. `  updated   Bot whoop-sync (Bot/1): cronString`.
 */
export function formatChange(change: DeployChange, dryRun: boolean): string {
  const verb =
    change.action === 'unchanged'
      ? 'unchanged'
      : dryRun
        ? change.action === 'created'
          ? 'would create'
          : 'would update'
        : change.action;
  const ref = change.reference ? ` (${change.reference})` : '';
  const fields = change.fields && change.fields.length > 0 ? `: ${change.fields.join(', ')}` : '';
  return `  ${verb.padEnd(12)} ${change.kind} ${change.key}${ref}${fields}`;
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

class Deployment {
  readonly changes: DeployChange[] = [];
  readonly medplum: MedplumClient;
  readonly projectId: string;
  readonly dryRun: boolean;
  readonly log: (line: string) => void;

  constructor(medplum: MedplumClient, projectId: string, dryRun: boolean, log: (line: string) => void) {
    this.medplum = medplum;
    this.projectId = projectId;
    this.dryRun = dryRun;
    this.log = log;
  }

  record(change: DeployChange): void {
    this.changes.push(change);
    this.log(formatChange(change, this.dryRun));
  }

  /** The single resource matching a search; two matches mean a duplicate someone must remove. */
  async findOne<T extends Resource>(resourceType: T['resourceType'], query: Record<string, string>, label: string) {
    const found = await this.medplum.searchResources(resourceType as ResourceType, { ...query, _count: '2' }, NO_CACHE);
    if (found.length > 1) {
      const refs = found.map((r) => `${r.resourceType}/${r.id}`).join(', ');
      throw new DeployError(`${label} matches more than one resource on the server (${refs}); delete the extra one`);
    }
    return found[0] as (T & { id: string }) | undefined;
  }

  /** Create or update a resource deploy owns outright, found by `query`. */
  async upsert<T extends Resource>(
    kind: DeployKind,
    key: string,
    desired: T,
    query: Record<string, string>,
    fields: FieldPolicy
  ): Promise<string | undefined> {
    const existing = await this.findOne<T>(desired.resourceType, query, `${kind} ${key}`);
    const result = reconcile(existing, desired, fields);
    if (result.action === 'create') {
      const created = this.dryRun ? undefined : await this.medplum.createResource(desired);
      this.record({ kind, key, action: 'created', ...(created ? { reference: `${kind}/${created.id}` } : {}) });
      return created?.id;
    }
    const id = existing?.id;
    if (result.action === 'update' && !this.dryRun) {
      await this.medplum.updateResource(result.next);
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

  /** Point a bot's or client's membership at its policy. */
  async ensureMembershipPolicy(
    kind: 'BotMembership' | 'ClientMembership',
    key: string,
    profile: string | undefined,
    policyId: string | undefined,
    policyKey: string,
    justCreated: boolean
  ): Promise<string | undefined> {
    const wantedRef = policyId ? `AccessPolicy/${policyId}` : undefined;
    if (!profile) {
      // Dry run of a resource that does not exist yet: its membership is made with the policy on creation.
      this.record({ kind, key, action: 'created', fields: [`accessPolicy → ${policyKey}`] });
      return undefined;
    }
    const memberships = await this.medplum.searchResources('ProjectMembership', { profile }, NO_CACHE);
    const membership = memberships[0];
    if (!membership) {
      throw new DeployError(
        `${profile} has no ProjectMembership (it was not created through the admin API); delete it and deploy again`
      );
    }
    const reference = `ProjectMembership/${membership.id}`;
    if (wantedRef !== undefined && membership.accessPolicy?.reference === wantedRef) {
      // The admin API made it along with its bot or client, already bound to the policy.
      this.record({ kind, key, action: justCreated ? 'created' : 'unchanged', reference });
      return membership.id;
    }
    if (!this.dryRun && wantedRef !== undefined) {
      const next: ProjectMembership = { ...membership, accessPolicy: { reference: wantedRef } };
      await this.medplum.post(`admin/projects/${this.projectId}/members/${membership.id}`, next);
    }
    this.record({ kind, key, action: 'updated', reference, fields: [`accessPolicy → ${policyKey}`] });
    return membership.id;
  }

  async adminCreate(kind: 'bot' | 'client', body: Record<string, unknown>): Promise<z.infer<typeof CreatedSchema>> {
    const response: unknown = await this.medplum.post(`admin/projects/${this.projectId}/${kind}`, body);
    return CreatedSchema.parse(response);
  }
}

async function defaultBuildBots(bots: readonly BotDefinition[]): Promise<readonly BuiltBotCode[]> {
  const { buildBots } = await import('../build-bots.ts');
  return buildBots({ entries: bots.map(({ name, source, dist }) => ({ name, source, dist })) });
}

/**
 * Deploys (or, with `dryRun`, plans) Baseline on the client's Medplum project.
 * @param options - See DeployOptions.
 * @returns What was (or would be) created, updated and left unchanged, and what an admin must still do.
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

  // 1. Who we are and where.
  const session = SessionSchema.parse(await medplum.get('auth/me', NO_CACHE));
  const projectId = options.projectId ?? session.project.id;
  if (!session.membership.admin && !session.project.superAdmin) {
    throw new DeployError(
      `${session.profile.resourceType}/${session.profile.id} is not an admin of project ${session.project.name ?? projectId}; deploy needs a project-admin client`
    );
  }

  // 2. Features first: without them bots cannot run and cron would not register.
  const project = ProjectSchema.parse(await medplum.readResource('Project', projectId, NO_CACHE));
  const missing = missingFeatures(project.features);
  if (missing.length > 0) {
    throw new DeployError(`Project ${project.name ?? projectId} lacks required features: ${missing.join(', ')}`, {
      details: featureInstructions(baseUrl, project, missing),
    });
  }

  // 3. Definitions must hang together before anything is written.
  const problems = validateDefinitions({ bots, botPolicies, subscriptions });
  if (problems.length > 0) {
    throw new DeployError(`The definitions in data/core are inconsistent (${problems.length} problem(s))`, {
      details: problems,
    });
  }
  const built = bots.length > 0 ? await (options.buildBots ?? defaultBuildBots)(bots) : [];

  const run = new Deployment(medplum, projectId, dryRun, log);
  log(`${dryRun ? 'Planning' : 'Deploying'} Baseline on ${baseUrl} (project ${project.name ?? projectId})`);

  // 4. Profiles and terminology, by canonical url.
  const profiles = options.profiles ?? loadProfiles(DEFAULT_PROFILES_DIR);
  for (const resource of profiles) {
    const url = resource.url ?? '';
    await run.upsert(resource.resourceType, url, resource, { url }, { preserve: [] });
  }

  // 5. AccessPolicies.
  const policyIds = new Map<string, string | undefined>();
  for (const def of buildPolicyDefinitions(bots, botPolicies)) {
    const id = await run.upsert(
      'AccessPolicy',
      def.key,
      toAccessPolicy(def),
      { _tag: tokenSearch(POLICY_IDENTIFIER_SYSTEM, def.key) },
      { preserve: [] }
    );
    policyIds.set(def.key, id);
  }

  // 6. ClientApplications: created through the admin API (membership + secret), then kept in step.
  const clients: Record<string, string | undefined> = {};
  for (const def of buildClientDefinitions(options.appBaseUrls ?? DEFAULT_APP_BASE_URLS)) {
    const desired = toClientApplication(def);
    const policyId = policyIds.get(def.accessPolicy);
    const tag = tokenSearch(CLIENT_IDENTIFIER_SYSTEM, def.key);
    let existing = await run.findOne<ClientApplication>(
      'ClientApplication',
      { _tag: tag },
      `ClientApplication ${def.key}`
    );
    let created = false;
    if (!existing && !dryRun) {
      const made = await run.adminCreate('client', {
        name: def.name,
        description: def.description,
        ...(def.redirectUris?.[0] ? { redirectUri: def.redirectUris[0] } : {}),
        ...(policyId ? { accessPolicy: { reference: `AccessPolicy/${policyId}` } } : {}),
      });
      existing = await medplum.readResource('ClientApplication', made.id, NO_CACHE);
      created = true;
    }
    if (!existing) {
      run.record({ kind: 'ClientApplication', key: def.key, action: 'created' });
    } else {
      const result = reconcile(existing, desired, { preserve: CLIENT_SERVER_FIELDS });
      if (result.action === 'update' && !dryRun) {
        await medplum.updateResource(result.next);
      }
      run.record({
        kind: 'ClientApplication',
        key: def.key,
        action: created ? 'created' : result.action === 'update' ? 'updated' : 'unchanged',
        reference: `ClientApplication/${existing.id}`,
        ...(result.action === 'update' && !created ? { fields: result.changes } : {}),
      });
    }
    clients[def.key] = existing?.id;
    await run.ensureMembershipPolicy(
      'ClientMembership',
      def.key,
      existing ? `ClientApplication/${existing.id}` : undefined,
      policyId,
      def.accessPolicy,
      created
    );
  }

  // 7. Bots: admin create (membership) → owned fields → membership policy → code.
  const deployedBots: DeployedBot[] = [];
  const botIds = new Map<string, string | undefined>();
  for (const def of bots) {
    const policyId = policyIds.get(def.accessPolicy);
    const desired = toBotResource(def);
    const ident = tokenSearch(BOT_IDENTIFIER_SYSTEM, def.identifier);
    let existing = await run.findOne<Bot>('Bot', { identifier: ident }, `Bot ${def.name}`);
    let created = false;
    if (!existing && !dryRun) {
      const made = await run.adminCreate('bot', {
        name: def.name,
        description: def.description,
        runtimeVersion: def.runtimeVersion,
        ...(policyId ? { accessPolicy: { reference: `AccessPolicy/${policyId}` } } : {}),
      });
      existing = await medplum.readResource('Bot', made.id, NO_CACHE);
      created = true;
    }
    let current: Bot | undefined = existing;
    if (!existing) {
      run.record({ kind: 'Bot', key: def.name, action: 'created' });
    } else {
      const result = reconcile(existing, desired, { own: BOT_OWNED_FIELDS });
      if (result.action === 'update' && !dryRun) {
        current = await medplum.updateResource(result.next);
      }
      run.record({
        kind: 'Bot',
        key: def.name,
        action: created ? 'created' : result.action === 'update' ? 'updated' : 'unchanged',
        reference: `Bot/${existing.id}`,
        ...(result.action === 'update' && !created ? { fields: result.changes } : {}),
      });
    }
    const botRef = existing ? `Bot/${existing.id}` : undefined;
    const membershipId = await run.ensureMembershipPolicy(
      'BotMembership',
      def.name,
      botRef,
      policyId,
      def.accessPolicy,
      created
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
        await medplum.post(medplum.fhirUrl('Bot', existing.id, '$deploy'), { code: bundle.code, filename });
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

  // 8. Subscriptions, pointed at the bots' ids on this server.
  for (const def of subscriptions) {
    const botId = botIds.get(def.bot) ?? `(new ${def.bot})`;
    await run.upsert<Subscription>(
      'Subscription',
      def.key,
      toSubscription(def, botId),
      { _tag: tokenSearch(SUBSCRIPTION_IDENTIFIER_SYSTEM, def.key) },
      { preserve: [] }
    );
  }

  // 9. Secrets: names only.
  const missingSecrets = missingSecretNames(project.secret, requiredSecrets(bots));

  const counts: Record<DeployAction, number> = { created: 0, updated: 0, unchanged: 0 };
  for (const change of run.changes) {
    counts[change.action]++;
  }
  const durationMs = performance.now() - started;
  return {
    projectId,
    dryRun,
    changes: run.changes,
    counts,
    clients,
    bots: deployedBots,
    missingSecrets,
    durationMs,
    summary: formatSummary({ counts, dryRun, durationMs }),
  };
}
