/**
 * Oura as a Baseline provider module: OAuth through OuraClient (single-use refresh tokens, configurable token URL),
 * the sync plan of sync-plan.ts, and the app-level webhook subscription upkeep of subscriptions.ts.
 */
import type { ProviderHandle, ProviderModule, ProviderSync, RecordRef, RetractPlan } from '../shared/provider.ts';
import { readOptionalSecret, readSecret } from '../shared/secrets.ts';
import type { BotSecrets } from '../shared/secrets.ts';
import { DEFAULT_OURA_API_BASE_URL, DEFAULT_OURA_AUTH_BASE_URL, DEFAULT_OURA_TOKEN_URL, OuraClient } from './client.ts';
import { SIGNED_ONLY_SECRET } from './signature.ts';
import { ouraNotificationHooks, VERIFICATION_TOKEN_SECRET, WEBHOOK_URL_SECRET } from './subscriptions.ts';
import { confirmOuraDeletion, fetchOuraPlan, groupOuraRecords, planOuraSync } from './sync-plan.ts';
import type { OuraFetchPlan } from './sync-plan.ts';
import { PROVIDER_ABOUT } from './about.ts';

/** `OURA_TIMEOUT_MS` (optional secret) bounds each Oura request; 15 s by default. */
export function ouraClientFor(secrets: BotSecrets | undefined, options: { rateLimitWaitMs?: number } = {}): OuraClient {
  const timeout = Number(readOptionalSecret(secrets, 'OURA_TIMEOUT_MS'));
  return OuraClient.fromSecrets(secrets, {
    ...options,
    ...(Number.isFinite(timeout) && timeout > 0 ? { timeoutMs: timeout } : {}),
  });
}

/** The most one sync run waits out Oura's rate limit before its Task fails and retries later. */
export const SYNC_RATE_LIMIT_WAIT_MS = 150_000;

function ouraSync(secrets: BotSecrets | undefined): ProviderSync<OuraFetchPlan> {
  // `OURA_RATE_LIMIT_WAIT_MS` (optional secret) changes how long one run waits out the rate limit; 0: never.
  const wait = Number(readOptionalSecret(secrets, 'OURA_RATE_LIMIT_WAIT_MS') ?? SYNC_RATE_LIMIT_WAIT_MS);
  const client = ouraClientFor(secrets, {
    rateLimitWaitMs: Number.isFinite(wait) && wait >= 0 ? wait : SYNC_RATE_LIMIT_WAIT_MS,
  });
  return {
    plan: (input, ctx) => planOuraSync(input, ctx),
    fetch: async (accessToken, plan, ctx) =>
      groupOuraRecords(await fetchOuraPlan(client, accessToken, plan), {
        patient: ctx.patient,
        device: ctx.device,
        providerUserId: ctx.providerUserId,
      }),
    confirmDeletion: (accessToken, plan: RetractPlan, input): Promise<readonly RecordRef[]> =>
      confirmOuraDeletion(client, accessToken, plan, input),
  };
}

export const OURA_PROVIDER_MODULE: ProviderModule = {
  ...PROVIDER_ABOUT,
  requiredSecrets: ['OURA_CLIENT_ID', 'OURA_CLIENT_SECRET'],
  optionalSecrets: [
    'OURA_API_BASE_URL',
    'OURA_AUTH_BASE_URL',
    'OURA_TOKEN_URL',
    'OURA_TIMEOUT_MS',
    'OURA_RATE_LIMIT_WAIT_MS',
    WEBHOOK_URL_SECRET,
    VERIFICATION_TOKEN_SECRET,
    SIGNED_ONLY_SECRET,
  ],
  urlSecrets: [
    { name: 'OURA_API_BASE_URL', defaultUrl: DEFAULT_OURA_API_BASE_URL },
    { name: 'OURA_AUTH_BASE_URL', defaultUrl: DEFAULT_OURA_AUTH_BASE_URL },
    // Apps made in Oura's new developer portal exchange tokens at moi.ouraring.com (providers.md §3.1).
    { name: 'OURA_TOKEN_URL', defaultUrl: DEFAULT_OURA_TOKEN_URL, otherHosts: ['moi.ouraring.com'] },
  ],
  webhookBot: {
    name: 'oura-webhook',
    source: 'bots/oura/oura-webhook.ts',
    description:
      'Oura webhook receiver: verifies x-oura-signature where the raw body is available, else treats the delivery as a hint; queues a sync Task, never changes data.',
    rawBody: true,
  },
  oauth(secrets): ProviderHandle {
    const client = ouraClientFor(secrets);
    return {
      key: client.key,
      clientId: readSecret(secrets, 'OURA_CLIENT_ID'),
      authorizeUrl: (params) => client.authorizeUrl(params),
      exchangeCode: (code, redirectUri) => client.exchangeCode(code, redirectUri),
      refresh: (refreshToken) => client.refresh(refreshToken),
      revoke: (accessToken) => client.revoke(accessToken),
      userId: (accessToken) => client.userId(accessToken),
    };
  },
  sync: ouraSync,
  notifications: (secrets) => ouraNotificationHooks(secrets, () => ouraClientFor(secrets)),
};
