/**
 * The registry of Baseline's bots: what deploy creates, configures and `$deploy`s on a Medplum server.
 *
 * One entry per bot. `name`, `source` and `dist` mirror medplum.config.json (the medplum CLI's format, read by
 * scripts/build-bots.ts); `checkBotConfig` keeps the two in step. Each bot runs as its own ProjectMembership bound to
 * its own least-privilege AccessPolicy from BOT_ACCESS_POLICIES (never a role policy, never shared with another bot).
 * The list is empty until the provider bots land.
 */
import type { Bot } from '@medplum/fhirtypes';
import { BOT_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import type { PolicyDefinition } from './access-policies.ts';

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
  /** Project secrets the bot reads; deploy reports the ones an admin has not set yet. */
  readonly secrets?: readonly string[];
  /** TypeScript entry, relative to the repo root. */
  readonly source: string;
  /** Bundled CommonJS output, relative to the repo root. */
  readonly dist: string;
}

export const BOT_DEFINITIONS: readonly BotDefinition[] = [];

/** One policy per bot in BOT_DEFINITIONS. */
export const BOT_ACCESS_POLICIES: readonly PolicyDefinition[] = [];

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

/**
 * The Bot resource fields a definition asks for (code attachments come from `$deploy`, not from here).
 * @param def - The bot definition.
 * @returns The Bot with only the owned fields set.
 */
export function toBotResource(def: BotDefinition): Bot {
  return {
    resourceType: 'Bot',
    name: def.name,
    description: def.description,
    identifier: [{ system: BOT_IDENTIFIER_SYSTEM, value: def.identifier }],
    runtimeVersion: def.runtimeVersion,
    ...(def.publicWebhook ? { publicWebhook: true } : {}),
    ...(def.rawBody ? { rawBody: true } : {}),
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
      problems.push(`Bot ${def.name} is missing from medplum.config.json`);
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
      problems.push(`medplum.config.json lists ${entry.name}, which is not in data/core/bots.ts`);
    }
  }
  return problems;
}
