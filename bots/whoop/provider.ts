/**
 * WHOOP as a Baseline provider module: OAuth through WhoopClient, the sync plan of sync-plan.ts, and no notification
 * upkeep (WHOOP's webhook URL is set once per app in WHOOP's developer dashboard, not per user or by API).
 */
import type { ProviderHandle, ProviderModule, ProviderSync, RecordRef, RetractPlan } from '../shared/provider.ts';
import { readOptionalSecret, readSecret } from '../shared/secrets.ts';
import type { BotSecrets } from '../shared/secrets.ts';
import { DEFAULT_WHOOP_API_BASE_URL, DEFAULT_WHOOP_AUTH_BASE_URL, WhoopClient } from './client.ts';
import { confirmWhoopDeletion, fetchWhoopPlan, groupWhoopRecords, planWhoopSync } from './sync-plan.ts';
import type { WhoopSyncPlan } from './sync-plan.ts';
import { PROVIDER_ABOUT } from './about.ts';

type WhoopFetchPlan = Exclude<WhoopSyncPlan, { kind: 'retract' }>;

/** `WHOOP_TIMEOUT_MS` (optional secret) bounds each WHOOP request; 15 s by default. */
export function whoopClientFor(secrets: BotSecrets | undefined): WhoopClient {
  const timeout = Number(readOptionalSecret(secrets, 'WHOOP_TIMEOUT_MS'));
  return WhoopClient.fromSecrets(secrets, Number.isFinite(timeout) && timeout > 0 ? { timeoutMs: timeout } : {});
}

function whoopSync(secrets: BotSecrets | undefined): ProviderSync<WhoopFetchPlan> {
  const client = whoopClientFor(secrets);
  return {
    plan: (input, ctx) => planWhoopSync(input, { whoopUserId: ctx.providerUserId, now: ctx.now }),
    fetch: async (accessToken, plan, ctx) => {
      const records = await fetchWhoopPlan(client, accessToken, plan);
      const grouped = groupWhoopRecords(records, {
        patient: ctx.patient,
        device: ctx.device,
        whoopUserId: ctx.providerUserId,
      });
      return { ...grouped, missing: records.missing };
    },
    confirmDeletion: (accessToken, plan: RetractPlan, input): Promise<readonly RecordRef[]> =>
      confirmWhoopDeletion(client, accessToken, plan, input.recordId ?? ''),
  };
}

export const WHOOP_PROVIDER_MODULE: ProviderModule = {
  ...PROVIDER_ABOUT,
  requiredSecrets: ['WHOOP_CLIENT_ID', 'WHOOP_CLIENT_SECRET'],
  optionalSecrets: ['WHOOP_API_BASE_URL', 'WHOOP_AUTH_BASE_URL', 'WHOOP_TIMEOUT_MS'],
  urlSecrets: [
    { name: 'WHOOP_API_BASE_URL', defaultUrl: DEFAULT_WHOOP_API_BASE_URL },
    { name: 'WHOOP_AUTH_BASE_URL', defaultUrl: DEFAULT_WHOOP_AUTH_BASE_URL },
  ],
  webhookBot: {
    name: 'whoop-webhook',
    source: 'bots/whoop/whoop-webhook.ts',
    description:
      'WHOOP webhook receiver: verifies the signature where the raw body is available, else treats the notification as a hint; queues a sync Task, never changes data.',
    rawBody: true,
  },
  oauth(secrets): ProviderHandle {
    const client = whoopClientFor(secrets);
    return {
      key: client.key,
      clientId: readSecret(secrets, 'WHOOP_CLIENT_ID'),
      authorizeUrl: (params) => client.authorizeUrl(params),
      exchangeCode: (code, redirectUri) => client.exchangeCode(code, redirectUri),
      refresh: (refreshToken) => client.refresh(refreshToken),
      revoke: (accessToken) => client.revoke(accessToken),
      userId: (accessToken) => client.userId(accessToken),
    };
  },
  sync: whoopSync,
};
