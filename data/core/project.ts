/**
 * What the target Project must provide. Features can only be set by a super admin (project admins see `features` as
 * read-only), so deploy checks them first and stops with instructions. Secrets are set by a project admin; deploy
 * only compares names and never reads or prints a value.
 */
import type { Project } from '@medplum/fhirtypes';
import { APP_URLS_SECRET } from '../../bots/connect/redirect.ts';
import { PROVIDER_MODULES } from '../../bots/providers.ts';
import { SHARE_POLICIES_SECRET, SHARE_POLICY_KEYS } from '../../bots/sharing/reconcile.ts';
import type { SharePolicyIds } from '../../bots/sharing/reconcile.ts';
import { POLICY_KEYS } from './access-policies.ts';
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

/**
 * Secrets that point a provider client somewhere other than the provider (the local WHOOP sandbox sets them). On a
 * real server they must name the provider's own hosts, or tokens and health data go to whoever runs that host.
 */
export const PROVIDER_URL_SECRETS: readonly {
  readonly name: string;
  readonly defaultUrl: string;
  readonly otherHosts?: readonly string[];
}[] = PROVIDER_MODULES.flatMap((m) => m.urlSecrets);

export interface ProviderSecretStatus {
  readonly provider: string;
  readonly name: string;
  /** Required secrets of this provider that are not set; empty when owners can connect it. */
  readonly missing: readonly string[];
}

/**
 * Which providers this project can offer: a provider whose client credentials are not set cannot be connected (its
 * connect fails with the missing name), which is fine for a deployment that does not offer it.
 * @param secrets - Project.secret (names only are compared).
 */
export function providerSecretStatus(
  secrets: readonly { name: string; valueString?: string | undefined }[] | undefined
): ProviderSecretStatus[] {
  const set = new Set((secrets ?? []).filter((s) => s.valueString).map((s) => s.name));
  return PROVIDER_MODULES.map((m) => ({
    provider: m.key,
    name: m.name,
    missing: m.requiredSecrets.filter((name) => !set.has(name)),
  }));
}

/**
 * Provider URL secrets that are set to something other than an https URL on the provider's own host.
 * @param secrets - Project.secret (values are read, never returned: only the name and the host are).
 * @returns One line per such secret, e.g. `WHOOP_API_BASE_URL points at 127.0.0.1:9000, not api.prod.whoop.com`.
 */
export function providerUrlProblems(
  secrets: readonly { name: string; valueString?: string | undefined }[] | undefined
): string[] {
  const problems: string[] = [];
  for (const { name, defaultUrl, otherHosts } of PROVIDER_URL_SECRETS) {
    const value = (secrets ?? []).find((secret) => secret.name === name)?.valueString?.trim();
    if (!value) {
      continue;
    }
    const expectedHost = new URL(defaultUrl).host;
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (!url) {
      problems.push(`${name} is not a URL (expected https://${expectedHost}/...)`);
    } else if (url.protocol !== 'https:' || (url.host !== expectedHost && !(otherHosts ?? []).includes(url.host))) {
      problems.push(`${name} points at ${url.protocol}//${url.host}, not https://${expectedHost}`);
    }
  }
  return problems;
}

/**
 * Project secrets deploy itself keeps in step, because bots must agree with the deployment about them:
 * `BASELINE_APP_URLS`, the app base URLs whose `/connect/<provider>/callback` the connect bots accept as OAuth
 * redirect URIs (the server-side pin in bots/connect/redirect.ts), the same list the ClientApplications get; and
 * `BASELINE_SHARE_POLICIES`, the ids of the share templates on this server, which the sharing bots bind into grantees'
 * memberships (bots cannot read AccessPolicies: they are a project-admin type that `*` and policies never grant).
 * @param appBaseUrls - The app's base URLs (BASELINE_APP_URL).
 * @param sharePolicies - The share template ids (absent in a dry run before the policies exist).
 * @returns Secret name → value.
 */
export function deployedSecrets(
  appBaseUrls: readonly string[],
  sharePolicies?: SharePolicyIds
): Record<string, string> {
  return {
    [APP_URLS_SECRET]: appBaseUrls.map((base) => base.replace(/\/+$/, '')).join(','),
    ...(sharePolicies ? { [SHARE_POLICIES_SECRET]: JSON.stringify(sharePolicies) } : {}),
  };
}

/**
 * The share template ids deploy hands the sharing bots, from the ids it just upserted.
 * @param policyIds - policy key → id (undefined in a dry run for a policy not created yet).
 * @returns The ids, or undefined when any is missing.
 */
export function sharePolicyIds(policyIds: ReadonlyMap<string, string | undefined>): SharePolicyIds | undefined {
  const ids = {
    base: policyIds.get(SHARE_POLICY_KEYS.base),
    wearable: policyIds.get(SHARE_POLICY_KEYS.wearable),
    derived: policyIds.get(SHARE_POLICY_KEYS.derived),
    narratives: policyIds.get(SHARE_POLICY_KEYS.narratives),
    alerts: policyIds.get(SHARE_POLICY_KEYS.alerts),
    clinicianBase: policyIds.get(POLICY_KEYS.clinicianBase),
    ehrClient: policyIds.get(POLICY_KEYS.ehrClient),
  };
  return Object.values(ids).every((id) => id !== undefined) ? (ids as SharePolicyIds) : undefined;
}
