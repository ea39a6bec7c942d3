/**
 * What the target Project must provide. Features can only be set by a super admin (project admins see `features` as
 * read-only), so deploy checks them first and stops with instructions. Secrets are set by a project admin; deploy
 * only compares names and never reads or prints a value.
 */
import type { Project } from '@medplum/fhirtypes';
import type { BotDefinition } from './bots.ts';

type ProjectFeature = NonNullable<Project['features']>[number];

export const REQUIRED_FEATURES: readonly ProjectFeature[] = [
  'bots',
  'cron',
  'transaction-bundles',
  'websocket-subscriptions',
];

/** Secrets every deployment needs: the key that encrypts provider tokens at rest, and its id for rotation. */
export const CORE_SECRETS: readonly string[] = ['BASELINE_TOKEN_KEY', 'BASELINE_TOKEN_KEY_ID'];

/**
 * Secret names the deployment needs: the core ones plus those the bots declare, sorted, without repeats.
 * @param bots - The bot registry.
 * @returns Secret names.
 */
export function requiredSecrets(bots: readonly BotDefinition[]): string[] {
  return [...new Set([...CORE_SECRETS, ...bots.flatMap((bot) => bot.secrets ?? [])])].sort();
}
