/**
 * The registry of Baseline's bots: what deploy creates, configures and `$deploy`s on a Medplum server.
 *
 * One entry per bot. `name`, `source` and `dist` mirror medplum.config.json (the medplum CLI's format, read by
 * scripts/build-bots.ts); `checkBotConfig` keeps the two in step. Each bot runs as its own ProjectMembership bound to
 * its own least-privilege AccessPolicy from BOT_ACCESS_POLICIES (never a role policy, never shared with another bot).
 */
import type { AccessPolicyResource, Bot } from '@medplum/fhirtypes';
import { PROVIDER_MODULES } from '../../bots/providers.ts';
import { TOKEN_STORE_CRITERIA } from '../../bots/shared/connection.ts';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import {
  ALERT_COMMUNICATION_IDENTIFIER_SYSTEM,
  ALERT_FLAG_IDENTIFIER_SYSTEM,
  ALERT_RULE_CRITERIA,
} from '../../bots/analytics/alerts.ts';
import { ANNOTATION_CRITERIA } from '../../bots/analytics/annotations.ts';
import { PLANNED_KINDS } from '../../bots/analytics/derive.ts';
import { SOURCE_PRIORITY_CRITERIA } from '../../bots/analytics/source-priority.ts';
import { NARRATIVE_KINDS } from '../../bots/shared/catalogue.ts';
import { TASK_KINDS } from '../../bots/shared/tasks.ts';
import { BOT_IDENTIFIER_SYSTEM, CODE_SYSTEM } from '../../bots/shared/systems.ts';
import { TOKEN_EXPUNGE_BOT } from '../../bots/shared/tokens.ts';
import { RECORD_EXPUNGE_BOT } from '../../bots/connect/record-expunge.ts';
import { SHARE_CONSENT_CRITERIA } from '../../bots/sharing/grants.ts';
import type { PolicyDefinition } from './access-policies.ts';
import { CONNECTION_CRITERIA, OAUTH_STATE_CRITERIA } from './connection.ts';
import { tokenSearch } from './identity.ts';

export interface BotDefinition {
  /** Bot.name and the medplum.config.json `name`; also the bundle's filename stem. */
  readonly name: string;
  /** Stable value in BOT_IDENTIFIER_SYSTEM; how deploy and `executeBot({ system, value })` find the bot. */
  readonly identifier: string;
  readonly description: string;
  readonly runtimeVersion: 'vmcontext';
  /** Reachable unauthenticated at `POST /webhook/<membership id>`; the bot must verify the caller itself. */
  readonly publicWebhook?: boolean;
  /** Medplum ≥ 5.2: hand the bot the original request text so it can check signatures over the exact bytes. */
  readonly rawBody?: boolean;
  readonly cronString?: string;
  /** Bot.timeout. In vmcontext this bounds synchronous execution only. */
  readonly timeoutSeconds?: number;
  /** Key of this bot's own policy in BOT_ACCESS_POLICIES. */
  readonly accessPolicy: string;
  /** The owner's policy grants read on this bot, which is what `$execute` requires. */
  readonly ownerInvocable?: boolean;
  /**
   * Deploy marks the bot's membership `admin`. Only for a bot that needs a project-admin-only operation (`$expunge`,
   * membership writes and invites for sharing); its AccessPolicy still applies to every other type it touches.
   */
  readonly projectAdmin?: boolean;
  /** Project secrets the bot needs; deploy reports the ones an admin has not set yet. */
  readonly secrets?: readonly string[];
  /** Project secrets the bot reads when set and otherwise defaults (provider URLs); never reported as missing. */
  readonly optionalSecrets?: readonly string[];
  /** TypeScript entry, relative to the repo root. */
  readonly source: string;
  /** Bundled CommonJS output, relative to the repo root. */
  readonly dist: string;
}

/**
 * Every provider's secrets (bots/providers.ts). They are optional for the bots: a deployment configures the providers
 * it offers, and deploy reports per provider what is still missing (providerSecretStatus in project.ts). The client
 * defaults to each provider's own hosts; the URL secrets exist to point it at a sandbox.
 */
const PROVIDER_SECRETS: readonly string[] = PROVIDER_MODULES.flatMap((m) => [
  ...m.requiredSecrets,
  ...m.optionalSecrets,
]);
const TOKEN_SECRETS = ['BASELINE_TOKEN_KEY', 'BASELINE_TOKEN_KEY_ID'] as const;

function bot(def: Omit<BotDefinition, 'runtimeVersion' | 'accessPolicy' | 'dist'> & { dist?: string }): BotDefinition {
  return {
    runtimeVersion: 'vmcontext',
    accessPolicy: `bot-${def.identifier}`,
    dist: `bots/dist/${def.name}.js`,
    ...def,
  };
}

export const BOT_DEFINITIONS: readonly BotDefinition[] = [
  bot({
    name: 'connect-start',
    identifier: 'connect-start',
    description: 'Owner starts connecting a wearable: mints a single-use OAuth state and returns the consent URL.',
    ownerInvocable: true,
    optionalSecrets: [...PROVIDER_SECRETS, 'BASELINE_APP_URLS'],
    source: 'bots/connect/connect-start.ts',
  }),
  bot({
    name: 'connect-callback',
    identifier: 'connect-callback',
    description:
      'Owner finishes connecting: checks the state, exchanges the code, stores encrypted tokens, queues the backfill.',
    ownerInvocable: true,
    secrets: TOKEN_SECRETS,
    optionalSecrets: [...PROVIDER_SECRETS, 'BASELINE_APP_URLS', 'BASELINE_BACKFILL_DAYS'],
    source: 'bots/connect/connect-callback.ts',
  }),
  bot({
    name: 'connections',
    identifier: 'connections',
    description: "The owner's wearable connections with sync and backfill progress (no tokens).",
    ownerInvocable: true,
    source: 'bots/connect/connections.ts',
  }),
  bot({
    name: 'disconnect',
    identifier: 'disconnect',
    description:
      'Owner disconnects a wearable: revokes access at the provider, stops syncing, keeps or erases the data.',
    ownerInvocable: true,
    secrets: TOKEN_SECRETS,
    optionalSecrets: PROVIDER_SECRETS,
    source: 'bots/connect/disconnect.ts',
  }),
  bot({
    name: 'token-expunge',
    identifier: TOKEN_EXPUNGE_BOT,
    description:
      'Run by the disconnect and connect-callback bots only: expunges a token-store record with its history (project admin for $expunge only).',
    projectAdmin: true,
    source: 'bots/connect/token-expunge.ts',
  }),
  bot({
    name: 'record-expunge',
    identifier: RECORD_EXPUNGE_BOT,
    description:
      "Run by the sync bot's erase only: expunges a page of one owner's erased records with their history (project admin for $expunge only).",
    projectAdmin: true,
    source: 'bots/connect/record-expunge.ts',
  }),
  // One public webhook bot per provider (its protocol lives in the provider's folder).
  ...PROVIDER_MODULES.map((m) =>
    bot({
      name: m.webhookBot.name,
      identifier: m.webhookBot.name,
      description: m.webhookBot.description,
      publicWebhook: true,
      ...(m.webhookBot.rawBody ? { rawBody: true } : {}),
      optionalSecrets: [...m.requiredSecrets, ...m.optionalSecrets],
      source: m.webhookBot.source,
    })
  ),
  bot({
    name: 'sync',
    identifier: 'sync',
    description:
      'Runs one sync, backfill or erase Task within the FHIR quota: refreshes the token once, fetches, maps and writes only what changed.',
    timeoutSeconds: 60,
    secrets: TOKEN_SECRETS,
    optionalSecrets: PROVIDER_SECRETS,
    source: 'bots/sync/sync.ts',
  }),
  bot({
    name: 'sweeper',
    identifier: 'sweeper',
    description:
      'Every 5 minutes: retries failed Tasks, re-queues stuck ones, refreshes expiring tokens, reconciles quiet connections.',
    cronString: '*/5 * * * *',
    timeoutSeconds: 60,
    secrets: TOKEN_SECRETS,
    optionalSecrets: PROVIDER_SECRETS,
    source: 'bots/sync/sweeper.ts',
  }),
  bot({
    name: 'analytics',
    identifier: 'analytics',
    description:
      "Recomputes one owner's personal baselines, trends and projections after a sync (one at a time per owner, collapsed) and nightly; writes only what changed.",
    // Nightly, for day boundaries: the trend window and the staleness gate move even when no data arrives.
    cronString: '30 3 * * *',
    timeoutSeconds: 60,
    source: 'bots/analytics/recompute.ts',
  }),
  bot({
    name: 'annotate',
    identifier: 'annotate',
    description:
      'Owner adds, edits or deletes an annotation of their own days (ill, travelling, …); queues a recompute of their insights.',
    ownerInvocable: true,
    source: 'bots/analytics/annotate.ts',
  }),
  bot({
    name: 'preferences',
    identifier: 'preferences',
    description:
      'Owner reads and changes their alert rules and source ladders (stored as Basic, which owners cannot reach); queues a recompute.',
    ownerInvocable: true,
    source: 'bots/analytics/preferences.ts',
  }),
  bot({
    name: 'share',
    identifier: 'share',
    description:
      'Owner grants, lists and revokes clinician/EHR access (Consent → membership access entries) and reads who looked (project admin for memberships and invites).',
    ownerInvocable: true,
    projectAdmin: true,
    source: 'bots/sharing/share.ts',
  }),
  bot({
    name: 'share-reconcile',
    identifier: 'share-reconcile',
    description:
      'Every minute: makes every grantee membership match the Consents (ends expired grants, repairs failed runs; project admin).',
    projectAdmin: true,
    cronString: '* * * * *',
    source: 'bots/sharing/share-reconcile.ts',
  }),
];

type Interaction = NonNullable<AccessPolicyResource['interaction']>[number];
const CRUS: Interaction[] = ['create', 'read', 'update', 'search'];
const RS: Interaction[] = ['read', 'search'];
const CONNECTIONS = (interaction: Interaction[]): AccessPolicyResource => ({
  resourceType: 'Basic',
  criteria: CONNECTION_CRITERIA,
  interaction,
});
const STATES = (interaction: Interaction[]): AccessPolicyResource => ({
  resourceType: 'Basic',
  criteria: OAUTH_STATE_CRITERIA,
  interaction,
});
/** Token-store records (bots/shared/tokens.ts): only the bots that use provider tokens may reach them. */
const TOKENS = (interaction: Interaction[]): AccessPolicyResource => ({
  resourceType: 'Basic',
  criteria: TOKEN_STORE_CRITERIA,
  interaction,
});
/** Read on the token-expunge Bot: what `$execute` checks, so only the bots given this can run it. */
/** Read on the record-expunge Bot: only the sync bot (which runs erases) may `$execute` it. */
const RUN_RECORD_EXPUNGE: AccessPolicyResource = {
  resourceType: 'Bot',
  criteria: `Bot?identifier=${tokenSearch(BOT_IDENTIFIER_SYSTEM, RECORD_EXPUNGE_BOT)}`,
  interaction: ['read', 'search'],
};
const RUN_TOKEN_EXPUNGE: AccessPolicyResource = {
  resourceType: 'Bot',
  criteria: `Bot?identifier=${tokenSearch(BOT_IDENTIFIER_SYSTEM, TOKEN_EXPUNGE_BOT)}`,
  interaction: ['read', 'search'],
};
/** Baseline's work items, every kind the queue knows (backfill, sync, erase), and no other Task. */
const TASKS = (interaction: Interaction[]): AccessPolicyResource => ({
  resourceType: 'Task',
  criteria: `Task?code=${TASK_KINDS.map((kind) => `${TASK_TYPE_SYSTEM}|${kind}`).join(',')}`,
  interaction,
});

/**
 * The webhook bots' work items: sync Tasks only. A public endpoint's bot has no business queueing a backfill, an
 * erase or a recompute, so not even a bug in one could.
 */
const SYNC_TASKS = (interaction: Interaction[]): AccessPolicyResource => ({
  resourceType: 'Task',
  criteria: `Task?code=${TASK_TYPE_SYSTEM}|sync`,
  interaction,
});

/** The analytics bot's work items only. */
const ANALYTICS_TASKS: AccessPolicyResource = {
  resourceType: 'Task',
  criteria: `Task?code=${TASK_TYPE_SYSTEM}|analytics`,
  interaction: CRUS,
};
const NARRATIVE_CODES = NARRATIVE_KINDS.map((k) => k.code);
/** The derived Observations the analytics bot owns (by kind, narratives too); every other one it may only read. */
const DERIVED_OBSERVATIONS: AccessPolicyResource = {
  resourceType: 'Observation',
  criteria: `Observation?code=${[...PLANNED_KINDS, ...NARRATIVE_CODES].map((kind) => `${CODE_SYSTEM}|${kind}`).join(',')}`,
  interaction: CRUS,
};
/** The owner settings the insight bots keep as Basic: alert rules and source ladders, never other Basic kinds. */
const ALERT_RULES = (interaction: Interaction[]): AccessPolicyResource => ({
  resourceType: 'Basic',
  criteria: ALERT_RULE_CRITERIA,
  interaction,
});
const SOURCE_LADDERS = (interaction: Interaction[]): AccessPolicyResource => ({
  resourceType: 'Basic',
  criteria: SOURCE_PRIORITY_CRITERIA,
  interaction,
});

/** One policy per bot in BOT_DEFINITIONS: exactly the types (and Basic kinds) each one touches. */
export const BOT_ACCESS_POLICIES: readonly PolicyDefinition[] = [
  { key: 'bot-connect-start', name: 'Bot connect-start', resource: [STATES(['create'])] },
  {
    key: 'bot-connect-callback',
    name: 'Bot connect-callback',
    resource: [
      STATES(CRUS),
      CONNECTIONS(CRUS),
      // Relinking an account to a new owner removes the old link's tokens.
      TOKENS([...CRUS, 'delete']),
      RUN_TOKEN_EXPUNGE,
      { resourceType: 'Device', interaction: CRUS },
      TASKS(CRUS),
    ],
  },
  { key: 'bot-connections', name: 'Bot connections', resource: [CONNECTIONS(RS), TASKS(RS)] },
  {
    key: 'bot-token-expunge',
    name: 'Bot token-expunge',
    // Read-only and token-store records only: the read is what scopes its $expunge (see token-expunge.ts).
    resource: [{ ...TOKENS(['read']), readonly: true }],
  },
  {
    key: 'bot-record-expunge',
    name: 'Bot record-expunge',
    // Read-only: the read through this policy is what scopes its $expunge (see record-expunge.ts). The erased types
    // only, and of those only what an erase removes (Baseline's alert Flags and Communications).
    resource: [
      { resourceType: 'Observation', interaction: ['read'] },
      { resourceType: 'Device', interaction: ['read'] },
      { resourceType: 'Flag', criteria: `Flag?identifier=${ALERT_FLAG_IDENTIFIER_SYSTEM}|`, interaction: ['read'] },
      {
        resourceType: 'Communication',
        criteria: `Communication?identifier=${ALERT_COMMUNICATION_IDENTIFIER_SYSTEM}|`,
        interaction: ['read'],
      },
    ],
  },
  {
    key: 'bot-disconnect',
    name: 'Bot disconnect',
    resource: [
      CONNECTIONS(CRUS),
      TOKENS([...CRUS, 'delete']),
      RUN_TOKEN_EXPUNGE,
      TASKS(CRUS),
      // Erasing data is the sync bot's `erase` work item; disconnect only reads the Device to report it.
      { resourceType: 'Device', interaction: RS },
    ],
  },
  // A provider's public endpoint anyone can post to: it may find a connection and queue work, nothing else — no
  // token store, no writes to connections, no Observations.
  ...PROVIDER_MODULES.map((m): PolicyDefinition => ({
    key: `bot-${m.webhookBot.name}`,
    name: `Bot ${m.webhookBot.name}`,
    resource: [CONNECTIONS(['search']), SYNC_TASKS(['create', 'search'])],
  })),
  {
    key: 'bot-sync',
    name: 'Bot sync',
    resource: [
      CONNECTIONS(CRUS),
      TOKENS(CRUS),
      TASKS(CRUS),
      // The erase work item (bots/connect/erase.ts) runs here: it deletes a connection's Observations and Device, and
      // the owner's alert Flags and Communications (only Baseline's, by identifier system), with their history
      // through the record-expunge bot where it can.
      RUN_RECORD_EXPUNGE,
      { resourceType: 'Device', interaction: [...RS, 'delete'] },
      { resourceType: 'Observation', interaction: [...CRUS, 'delete'] },
      // (Medplum reads a resource through the caller's policy before deleting it: read is part of a delete.)
      {
        resourceType: 'Flag',
        criteria: `Flag?identifier=${ALERT_FLAG_IDENTIFIER_SYSTEM}|`,
        interaction: ['read', 'search', 'delete'],
      },
      {
        resourceType: 'Communication',
        criteria: `Communication?identifier=${ALERT_COMMUNICATION_IDENTIFIER_SYSTEM}|`,
        interaction: ['read', 'search', 'delete'],
      },
    ],
  },
  { key: 'bot-sweeper', name: 'Bot sweeper', resource: [CONNECTIONS(CRUS), TOKENS(CRUS), TASKS(CRUS)] },
  {
    key: 'bot-analytics',
    name: 'Bot analytics',
    resource: [
      // Which owners have a connection (the nightly run); never the token store.
      CONNECTIONS(['search']),
      ANALYTICS_TASKS,
      { resourceType: 'Observation', interaction: RS },
      DERIVED_OBSERVATIONS,
      ALERT_RULES(RS),
      SOURCE_LADDERS(RS),
      // Alerts (issue 8 §6): raises and ends Baseline's Flags and sends their Communications — only those (by
      // identifier system), never a clinician's Flag or another message in the project.
      { resourceType: 'Flag', criteria: `Flag?identifier=${ALERT_FLAG_IDENTIFIER_SYSTEM}|`, interaction: CRUS },
      {
        resourceType: 'Communication',
        criteria: `Communication?identifier=${ALERT_COMMUNICATION_IDENTIFIER_SYSTEM}|`,
        interaction: ['create', 'read', 'search'],
      },
      // Whom an alert is copied to: grantees of the owner's grants that include alerts (issue 9).
      { resourceType: 'Consent', criteria: SHARE_CONSENT_CRITERIA, interaction: RS },
    ],
  },
  {
    key: 'bot-annotate',
    name: 'Bot annotate',
    // Annotation Observations only (it checks the caller owns the one it changes), and queuing a recompute.
    resource: [
      { resourceType: 'Observation', criteria: ANNOTATION_CRITERIA, interaction: CRUS },
      { ...ANALYTICS_TASKS, interaction: ['create', 'read', 'search'] },
    ],
  },
  {
    key: 'bot-preferences',
    name: 'Bot preferences',
    resource: [
      ALERT_RULES([...CRUS, 'delete']),
      SOURCE_LADDERS([...CRUS, 'delete']),
      { ...ANALYTICS_TASKS, interaction: ['create', 'read', 'search'] },
    ],
  },
  {
    key: 'bot-share',
    name: 'Bot share',
    // Memberships and invites come with the project-admin flag; this policy covers everything else it reads.
    resource: [
      { resourceType: 'Consent', criteria: SHARE_CONSENT_CRITERIA, interaction: CRUS },
      { resourceType: 'Practitioner', interaction: RS },
      { resourceType: 'Organization', interaction: RS },
      // Who looked: Medplum's AuditEvents, and which of the records they name are the owner's.
      { resourceType: 'AuditEvent', interaction: RS },
      ...['Observation', 'Device', 'Flag', 'Communication'].map((resourceType) => ({
        resourceType,
        interaction: ['search'] as Interaction[],
      })),
    ],
  },
  {
    key: 'bot-share-reconcile',
    name: 'Bot share-reconcile',
    resource: [
      { resourceType: 'Consent', criteria: SHARE_CONSENT_CRITERIA, interaction: CRUS },
      { resourceType: 'Organization', interaction: RS },
    ],
  },
];

/** The Bot fields deploy owns; everything else on the resource (code attachments, audit settings) is left alone. */
export const BOT_OWNED_FIELDS = [
  'name',
  'description',
  'identifier',
  'runtimeVersion',
  'publicWebhook',
  'rawBody',
  'cronString',
  'cronTiming',
  'timeout',
] as const satisfies readonly (keyof Bot)[];

export interface BotServerSupport {
  /** `Bot.rawBody` exists (Medplum ≥ 5.2); a 5.0 server refuses the whole Bot with it ("Invalid additional property"). */
  readonly rawBody: boolean;
}

/**
 * The Bot resource fields a definition asks for (code attachments come from `$deploy`, not from here).
 * @param def - The bot definition.
 * @param server - What the target server supports (default: everything the definitions use).
 * @returns The Bot with only the owned fields set.
 */
export function toBotResource(def: BotDefinition, server: BotServerSupport = { rawBody: true }): Bot {
  return {
    resourceType: 'Bot',
    name: def.name,
    description: def.description,
    identifier: [{ system: BOT_IDENTIFIER_SYSTEM, value: def.identifier }],
    runtimeVersion: def.runtimeVersion,
    ...(def.publicWebhook ? { publicWebhook: true } : {}),
    ...(def.rawBody && server.rawBody ? { rawBody: true } : {}),
    ...(def.cronString ? { cronString: def.cronString } : {}),
    ...(def.timeoutSeconds === undefined ? {} : { timeout: def.timeoutSeconds }),
  };
}

export interface BotConfigEntry {
  readonly name: string;
  readonly source: string;
  readonly dist: string;
}

/**
 * Differences between the registry and medplum.config.json, one line each (empty when they agree).
 * @param defs - The bot registry.
 * @param config - The `bots` array of medplum.config.json.
 * @returns Problems, in registry order then config order.
 */
export function checkBotConfig(defs: readonly BotDefinition[], config: readonly BotConfigEntry[]): string[] {
  const problems: string[] = [];
  const byName = new Map(config.map((entry) => [entry.name, entry]));
  for (const def of defs) {
    const entry = byName.get(def.name);
    if (!entry) {
      problems.push(`Bot ${def.name} is missing from medplum.config.json (npm run build:bots writes it)`);
      continue;
    }
    if (entry.source !== def.source) {
      problems.push(`Bot ${def.name}: medplum.config.json source ${entry.source} differs from ${def.source}`);
    }
    if (entry.dist !== def.dist) {
      problems.push(`Bot ${def.name}: medplum.config.json dist ${entry.dist} differs from ${def.dist}`);
    }
  }
  const names = new Set(defs.map((def) => def.name));
  for (const entry of config) {
    if (!names.has(entry.name)) {
      problems.push(
        `medplum.config.json lists ${entry.name}, which is not in data/core/bots.ts (npm run build:bots writes it)`
      );
    }
  }
  return problems;
}

/**
 * What medplum.config.json holds, derived from the definitions (so a provider's webhook bot arrives with its registry
 * line): `npm run build:bots` writes it, and checkBotConfig keeps a stale committed copy from passing.
 * @param defs - the bot definitions, in order.
 * @returns The file's text.
 */
export function botConfigText(defs: readonly BotDefinition[]): string {
  const bots: BotConfigEntry[] = defs.map((d) => ({ name: d.name, source: d.source, dist: d.dist }));
  return JSON.stringify({ bots }, null, 2) + '\n';
}
