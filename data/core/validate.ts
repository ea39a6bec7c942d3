/**
 * Consistency rules across the registries that the type system cannot express. Deploy refuses to touch a server
 * while any of these fail, so a half-wired bot (no policy, shared policy, dangling subscription) never ships.
 */
import type { PolicyDefinition } from './access-policies.ts';
import { POLICY_KEYS } from './access-policies.ts';
import type { BotDefinition } from './bots.ts';
import type { SubscriptionDefinition } from './subscriptions.ts';

const KEY_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const ROLE_POLICY_KEYS = new Set<string>(Object.values(POLICY_KEYS));

function duplicates(values: readonly string[]): string[] {
  const seen = new Set<string>();
  const repeated = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) {
      repeated.add(value);
    }
    seen.add(value);
  }
  return [...repeated];
}

export interface DefinitionSet {
  readonly bots: readonly BotDefinition[];
  readonly botPolicies: readonly PolicyDefinition[];
  readonly subscriptions: readonly SubscriptionDefinition[];
}

/**
 * Every problem with a set of definitions, one line each; empty when deployable.
 * @param defs - Bots, their policies and the subscriptions.
 * @returns Problems.
 */
export function validateDefinitions(defs: DefinitionSet): string[] {
  const problems: string[] = [];
  const { bots, botPolicies, subscriptions } = defs;

  for (const name of duplicates(bots.map((bot) => bot.name))) {
    problems.push(`Bot name ${name} is used more than once`);
  }
  for (const id of duplicates(bots.map((bot) => bot.identifier))) {
    problems.push(`Bot identifier ${id} is used more than once`);
  }
  for (const key of duplicates(botPolicies.map((policy) => policy.key))) {
    problems.push(`AccessPolicy key ${key} is used more than once`);
  }
  for (const key of duplicates(subscriptions.map((sub) => sub.key))) {
    problems.push(`Subscription key ${key} is used more than once`);
  }

  const policyKeys = new Set(botPolicies.map((policy) => policy.key));
  for (const policy of botPolicies) {
    if (ROLE_POLICY_KEYS.has(policy.key)) {
      problems.push(`Bot AccessPolicy ${policy.key} reuses a role policy key`);
    }
    if (!KEY_PATTERN.test(policy.key)) {
      problems.push(`AccessPolicy key ${policy.key} is not kebab-case`);
    }
    if (policy.resource.some((entry) => entry.resourceType === '*')) {
      problems.push(`Bot AccessPolicy ${policy.key} grants resourceType '*'; list the types the bot needs`);
    }
    const users = bots.filter((bot) => bot.accessPolicy === policy.key);
    if (users.length === 0) {
      problems.push(`Bot AccessPolicy ${policy.key} is not used by any bot`);
    } else if (users.length > 1) {
      problems.push(
        `Bot AccessPolicy ${policy.key} is shared by ${users.map((bot) => bot.name).join(', ')}; give each bot its own`
      );
    }
  }

  for (const bot of bots) {
    if (!KEY_PATTERN.test(bot.identifier)) {
      problems.push(`Bot ${bot.name}: identifier ${bot.identifier} is not kebab-case`);
    }
    if (!policyKeys.has(bot.accessPolicy)) {
      problems.push(`Bot ${bot.name}: AccessPolicy ${bot.accessPolicy} is not among the bot policies`);
    }
    if (bot.cronString !== undefined && !/^\S+( \S+){4,5}$/.test(bot.cronString.trim())) {
      problems.push(`Bot ${bot.name}: cronString "${bot.cronString}" does not have 5 or 6 fields`);
    }
    if (
      bot.timeoutSeconds !== undefined &&
      (!Number.isInteger(bot.timeoutSeconds) || bot.timeoutSeconds < 1 || bot.timeoutSeconds > 900)
    ) {
      problems.push(`Bot ${bot.name}: timeoutSeconds must be an integer from 1 to 900`);
    }
    if (bot.rawBody && !bot.publicWebhook) {
      problems.push(`Bot ${bot.name}: rawBody only matters for a publicWebhook bot`);
    }
  }

  const botIds = new Set(bots.map((bot) => bot.identifier));
  for (const sub of subscriptions) {
    if (!KEY_PATTERN.test(sub.key)) {
      problems.push(`Subscription key ${sub.key} is not kebab-case`);
    }
    if (!botIds.has(sub.bot)) {
      problems.push(`Subscription ${sub.key}: bot ${sub.bot} is not in the bot registry`);
    }
    if (!/^[A-Z][A-Za-z]+\?\S+$/.test(sub.criteria)) {
      problems.push(`Subscription ${sub.key}: criteria "${sub.criteria}" is not <ResourceType>?<search>`);
    }
    if (
      sub.maxAttempts !== undefined &&
      (!Number.isInteger(sub.maxAttempts) || sub.maxAttempts < 1 || sub.maxAttempts > 18)
    ) {
      problems.push(`Subscription ${sub.key}: maxAttempts must be an integer from 1 to 18`);
    }
  }
  return [...new Set(problems)];
}
