/**
 * Withings as a Baseline provider module: OAuth through WithingsClient (the token answer names the user, so
 * connect-callback never calls userId), the sync plan of sync-plan.ts, and per-user notification subscriptions.
 *
 * Notifications (https://developer.withings.com/developer-guide/v3/integration-guide/public-health-data-api/data-api/notifications/notification-subscribe):
 * on connect, `POST /notify action=subscribe` per category Baseline re-fetches (appli 1 weight, 2 temperature,
 * 4 pressure/SpO2, 16 activity, 44 sleep) with `callbackurl` = the WITHINGS_WEBHOOK_URL project secret (the public
 * edge URL in front of Medplum's POST /webhook/<membership>; Withings HEAD-checks it, which the edge answers). No URL
 * → no subscriptions and a warning: data then arrives by the sweeper's reconcile windows only. A refused
 * subscription is a warning, never an error (the connection works without it). On disconnect each category is
 * revoked before the grant is (revoking the grant drops them too; revoking first also covers a failed grant revoke).
 * Withings subscriptions do not expire, so there is no cron upkeep (`maintain` is absent), but Withings removes one
 * after repeated failed deliveries without telling anyone: the sweeper's daily reconcile sync (the per-user token is
 * at hand only during a sync) lists the user's subscriptions and re-subscribes the missing categories (`onReconcile`).
 */
import { ProviderHttpError, sameUrl } from '../shared/http.ts';
import type {
  NotificationHooks,
  NotificationOutcome,
  ProviderHandle,
  ProviderModule,
  ProviderSync,
  RecordRef,
} from '../shared/provider.ts';
import { readOptionalSecret, readSecret } from '../shared/secrets.ts';
import type { BotSecrets } from '../shared/secrets.ts';
import { DEFAULT_WITHINGS_API_BASE_URL, DEFAULT_WITHINGS_AUTH_BASE_URL, WithingsClient } from './client.ts';
import { SUBSCRIBED_APPLIS } from './schemas.ts';
import { fetchWithingsPlan, groupWithingsRecords, planWithingsSync } from './sync-plan.ts';
import type { WithingsFetchPlan } from './sync-plan.ts';
import { PROVIDER_ABOUT } from './about.ts';

export const WEBHOOK_URL_SECRET = 'WITHINGS_WEBHOOK_URL';
/** The `comment` Withings keeps on each subscription (shown in its partner dashboard). */
export const SUBSCRIPTION_COMMENT = 'Baseline';

/** `WITHINGS_TIMEOUT_MS` (optional secret) bounds each Withings request; 15 s by default. */
export function withingsClientFor(
  secrets: BotSecrets | undefined,
  options: { rateLimitWaitMs?: number } = {}
): WithingsClient {
  const timeout = Number(readOptionalSecret(secrets, 'WITHINGS_TIMEOUT_MS'));
  return WithingsClient.fromSecrets(secrets, {
    ...options,
    ...(Number.isFinite(timeout) && timeout > 0 ? { timeoutMs: timeout } : {}),
  });
}

/**
 * The most one sync run waits out Withings' app-wide 120 calls/min (status 601) before its Task fails and retries
 * later: a 30-day window is ~35 calls, so a year's backfill meets the limit every few windows.
 */
export const SYNC_RATE_LIMIT_WAIT_MS = 150_000;

function withingsSync(secrets: BotSecrets | undefined): ProviderSync<WithingsFetchPlan> {
  // `WITHINGS_RATE_LIMIT_WAIT_MS` (optional secret) changes how long one run waits out the rate limit; 0: never.
  const wait = Number(readOptionalSecret(secrets, 'WITHINGS_RATE_LIMIT_WAIT_MS') ?? SYNC_RATE_LIMIT_WAIT_MS);
  const client = withingsClientFor(secrets, {
    rateLimitWaitMs: Number.isFinite(wait) && wait >= 0 ? wait : SYNC_RATE_LIMIT_WAIT_MS,
  });
  return {
    plan: (input, ctx) => planWithingsSync(input, ctx),
    fetch: async (accessToken, plan, ctx) => {
      const records = await fetchWithingsPlan(client, accessToken, plan);
      const grouped = groupWithingsRecords(records, {
        patient: ctx.patient,
        device: ctx.device,
        providerUserId: ctx.providerUserId,
      });
      return { ...grouped, missing: [] };
    },
    // Withings never announces a per-record deletion (sync-plan.ts), so no plan retracts and nothing is confirmed.
    confirmDeletion: (): Promise<readonly RecordRef[]> => Promise.resolve([]),
  };
}

function describe(err: unknown): string {
  return err instanceof ProviderHttpError ? err.kind : 'error';
}

/** @returns "appli 1 (forbidden), appli 4 (timeout)" */
function failures(failed: readonly { appli: number; reason: string }[]): string {
  return failed.map((f) => `appli ${f.appli} (${f.reason})`).join(', ');
}

/**
 * Runs one notify call per category, one after another (Withings' 120/min is app-wide), collecting what failed.
 * @returns the categories done (`appli-<n>`) and the failures with their kind
 */
async function eachCategory(
  applis: readonly number[],
  call: (appli: number) => Promise<void>
): Promise<{ done: string[]; failed: { appli: number; reason: string }[] }> {
  const done: string[] = [];
  const failed: { appli: number; reason: string }[] = [];
  for (const appli of applis) {
    try {
      await call(appli);
      done.push(`appli-${appli}`);
    } catch (err) {
      failed.push({ appli, reason: describe(err) });
    }
  }
  return { done, failed };
}

/**
 * Subscribes each category to the callback URL (Withings HEAD-checks the URL each time).
 * @returns the categories subscribed, and a warning naming each refused one
 */
async function subscribeEach(
  client: WithingsClient,
  accessToken: string,
  callbackUrl: string,
  applis: readonly number[]
): Promise<NotificationOutcome> {
  const { done, failed } = await eachCategory(applis, (appli) =>
    client.subscribe(accessToken, appli, callbackUrl, SUBSCRIPTION_COMMENT)
  );
  return failed.length === 0
    ? { subscribed: done }
    : {
        subscribed: done,
        warning: `Withings refused notifications for ${failures(failed)}: that data arrives by the periodic reconcile`,
      };
}

/**
 * @param secrets - the run's secrets (client, base URLs, WITHINGS_WEBHOOK_URL)
 * @returns subscribe on connect, re-subscribe what Withings dropped on the daily reconcile, revoke on disconnect;
 *   problems are warnings (a failed listing on reconcile throws, and the sync logs it)
 */
export function withingsNotifications(secrets: BotSecrets | undefined): NotificationHooks {
  const callbackUrl = readOptionalSecret(secrets, WEBHOOK_URL_SECRET);
  return {
    onConnect: async (accessToken): Promise<NotificationOutcome> => {
      if (!callbackUrl) {
        return {
          warning: `${WEBHOOK_URL_SECRET} is not set: Withings notifications are off; data arrives by the periodic reconcile`,
        };
      }
      return subscribeEach(withingsClientFor(secrets), accessToken, callbackUrl, SUBSCRIBED_APPLIS);
    },
    onReconcile: async (accessToken): Promise<NotificationOutcome> => {
      if (!callbackUrl) {
        return {};
      }
      const client = withingsClientFor(secrets);
      const listed = await client.listSubscriptions(accessToken);
      const missing = SUBSCRIBED_APPLIS.filter(
        (appli) => !listed.some((s) => s.appli === appli && sameUrl(s.callbackurl, callbackUrl))
      );
      return missing.length === 0 ? {} : subscribeEach(client, accessToken, callbackUrl, missing);
    },
    onDisconnect: async (accessToken): Promise<NotificationOutcome> => {
      if (!callbackUrl) {
        return {};
      }
      const client = withingsClientFor(secrets);
      const { done, failed } = await eachCategory(SUBSCRIBED_APPLIS, (appli) =>
        client.unsubscribe(accessToken, appli, callbackUrl)
      );
      return failed.length === 0
        ? { unsubscribed: done }
        : {
            unsubscribed: done,
            warning: `Withings did not revoke notifications for ${failures(failed)} (revoking the grant removes them)`,
          };
    },
  };
}

export const WITHINGS_PROVIDER_MODULE: ProviderModule = {
  ...PROVIDER_ABOUT,
  requiredSecrets: ['WITHINGS_CLIENT_ID', 'WITHINGS_CLIENT_SECRET'],
  optionalSecrets: [
    'WITHINGS_API_BASE_URL',
    'WITHINGS_AUTH_BASE_URL',
    'WITHINGS_TIMEOUT_MS',
    'WITHINGS_RATE_LIMIT_WAIT_MS',
    WEBHOOK_URL_SECRET,
  ],
  urlSecrets: [
    { name: 'WITHINGS_API_BASE_URL', defaultUrl: DEFAULT_WITHINGS_API_BASE_URL },
    { name: 'WITHINGS_AUTH_BASE_URL', defaultUrl: DEFAULT_WITHINGS_AUTH_BASE_URL },
  ],
  webhookBot: {
    name: 'withings-webhook',
    source: 'bots/withings/withings-webhook.ts',
    description:
      'Withings notification receiver: unsigned form posts are hints only; queues a bounded re-fetch Task for an active connection, never changes data.',
    rawBody: false,
  },
  oauth(secrets): ProviderHandle {
    const client = withingsClientFor(secrets);
    return {
      key: client.key,
      clientId: readSecret(secrets, 'WITHINGS_CLIENT_ID'),
      authorizeUrl: (params) => client.authorizeUrl(params),
      exchangeCode: (code, redirectUri) => client.exchangeCode(code, redirectUri),
      refresh: (refreshToken) => client.refresh(refreshToken),
      revoke: (accessToken, providerUserId) => client.revoke(accessToken, providerUserId),
      userId: (accessToken) => client.userId(accessToken),
    };
  },
  sync: withingsSync,
  notifications: withingsNotifications,
};
