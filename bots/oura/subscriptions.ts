/**
 * Oura webhook subscriptions: per app (not per user), one per event type × data type × callback URL, created and
 * renewed with the app's credentials (`x-client-id` / `x-client-secret`), each with an `expiration_time` after
 * which Oura stops delivering (https://cloud.ouraring.com/v2/docs#tag/Webhook-Subscription-Routes).
 *
 * Baseline wants {create, update, delete} × every data type it maps, at `OURA_WEBHOOK_URL` (the operator's edge in
 * front of Medplum's POST /webhook/<bot membership id>; the edge answers Oura's GET verification challenge with
 * `OURA_WEBHOOK_VERIFICATION_TOKEN`). The plan (planSubscriptionUpkeep, pure) compares what Oura lists with that:
 * - missing → create (Oura's 409 for one that exists after all counts as present);
 * - ours and expiring within RENEW_WITHIN_MS (7 days) → renew;
 * - ours and already expired → recreate (delete, then create): an expired subscription delivers nothing;
 * - another callback URL (another deployment of the same Oura app, a developer's tunnel) → never touched.
 * The cron sweeper runs `maintain` (only while someone has an active Oura connection); a connect runs the same upkeep
 * so the first owner's data flows at once. Neither throws for an Oura failure: they report it (the sweeper retries
 * next run, and the data still arrives through reconcile windows meanwhile).
 */
import { ProviderHttpError, sameUrl } from '../shared/http.ts';
import type { MaintenanceResult, NotificationHooks, NotificationOutcome } from '../shared/provider.ts';
import { readOptionalSecret } from '../shared/secrets.ts';
import type { BotSecrets } from '../shared/secrets.ts';
import type { OuraClient } from './client.ts';
import { MAPPED_DATA_TYPES, WEBHOOK_EVENT_TYPES } from './schemas.ts';
import type { OuraEventType, OuraSubscription } from './schemas.ts';

/** Renew a subscription of ours when it expires within this. */
export const RENEW_WITHIN_MS = 7 * 86_400_000;
export const WEBHOOK_URL_SECRET = 'OURA_WEBHOOK_URL';
export const VERIFICATION_TOKEN_SECRET = 'OURA_WEBHOOK_VERIFICATION_TOKEN';

export interface SubscriptionKind {
  readonly eventType: OuraEventType;
  readonly dataType: string;
}

export interface WantedSubscriptions {
  readonly callbackUrl: string;
  readonly kinds: readonly SubscriptionKind[];
}

export type UpkeepAction =
  | ({ readonly kind: 'create' } & SubscriptionKind)
  | ({ readonly kind: 'renew'; readonly id: string } & SubscriptionKind)
  | ({ readonly kind: 'recreate'; readonly id: string } & SubscriptionKind);

/** Every event type × every data type Baseline maps. */
export const WANTED_KINDS: readonly SubscriptionKind[] = WEBHOOK_EVENT_TYPES.flatMap((eventType) =>
  MAPPED_DATA_TYPES.map((dataType) => ({ eventType, dataType }))
);

/**
 * @param existing - what GET /v2/webhook/subscription lists
 * @param wanted - the callback URL and the kinds Baseline needs there
 * @param now - the clock
 * @returns what to do, one action per wanted kind that needs one (nothing for subscriptions at other URLs)
 */
export function planSubscriptionUpkeep(
  existing: readonly OuraSubscription[],
  wanted: WantedSubscriptions,
  now: Date
): UpkeepAction[] {
  const ours = existing.filter((s) => sameUrl(s.callback_url, wanted.callbackUrl));
  const actions: UpkeepAction[] = [];
  for (const kind of wanted.kinds) {
    const matches = ours
      .filter((s) => s.event_type === kind.eventType && s.data_type === kind.dataType)
      .map((s) => ({ id: s.id, expires: Date.parse(s.expiration_time) }))
      // The longest-lived one decides; an unreadable expiry counts as expiring (renewing it is harmless).
      .sort((a, b) => (Number.isNaN(b.expires) ? 0 : b.expires) - (Number.isNaN(a.expires) ? 0 : a.expires));
    const best = matches[0];
    if (!best) {
      actions.push({ kind: 'create', ...kind });
    } else if (!Number.isNaN(best.expires) && best.expires <= now.getTime()) {
      actions.push({ kind: 'recreate', id: best.id, ...kind });
    } else if (Number.isNaN(best.expires) || best.expires - now.getTime() <= RENEW_WITHIN_MS) {
      actions.push({ kind: 'renew', id: best.id, ...kind });
    }
  }
  return actions;
}

type SubscriptionClient = Pick<
  OuraClient,
  'listSubscriptions' | 'createSubscription' | 'renewSubscription' | 'deleteSubscription'
>;

export interface UpkeepResult extends MaintenanceResult {
  /** `<event_type>.<data_type>` of each subscription created (or recreated). */
  readonly createdKinds: readonly string[];
}

function errorText(err: unknown): string {
  // ProviderHttpError messages name the endpoint and status only (never URLs, headers or bodies).
  return err instanceof ProviderHttpError ? err.message : err instanceof Error ? err.name : 'failed';
}

/**
 * Lists Oura's subscriptions and carries out planSubscriptionUpkeep; each action's failure is counted, not thrown.
 * @param client - Oura client (app credentials)
 * @param wanted - callback URL and kinds
 * @param verificationToken - sent with every create (Oura checks it against the edge's challenge answer)
 * @param now - the clock
 * @returns counts, and the detail of the first failures
 */
export async function runSubscriptionUpkeep(
  client: SubscriptionClient,
  wanted: WantedSubscriptions,
  verificationToken: string,
  now: Date
): Promise<UpkeepResult> {
  const existing = await client.listSubscriptions();
  let renewed = 0;
  let failed = 0;
  const createdKinds: string[] = [];
  const failures: string[] = [];
  const create = async (kind: SubscriptionKind): Promise<void> => {
    await client.createSubscription({
      callbackUrl: wanted.callbackUrl,
      verificationToken,
      eventType: kind.eventType,
      dataType: kind.dataType,
    });
    createdKinds.push(`${kind.eventType}.${kind.dataType}`);
  };
  for (const action of planSubscriptionUpkeep(existing, wanted, now)) {
    try {
      switch (action.kind) {
        case 'create':
          await create(action);
          break;
        case 'renew':
          await client.renewSubscription(action.id);
          renewed++;
          break;
        case 'recreate':
          await client.deleteSubscription(action.id);
          await create(action);
          break;
        default: {
          const never: never = action;
          throw new Error(`Unhandled upkeep action ${JSON.stringify(never)}`);
        }
      }
    } catch (err) {
      failed++;
      if (failures.length < 3) {
        failures.push(`${action.kind} ${action.eventType}.${action.dataType}: ${errorText(err)}`);
      }
    }
  }
  return {
    renewed,
    created: createdKinds.length,
    failed,
    createdKinds,
    ...(failures.length > 0 ? { detail: failures.join('; ') } : {}),
  };
}

/**
 * The provider module's notification hooks for this run's secrets.
 * @param secrets - OURA_WEBHOOK_URL and OURA_WEBHOOK_VERIFICATION_TOKEN (both needed; unset → a warning, no throw)
 * @param clientFor - builds the Oura client (app credentials) lazily, so a missing secret surfaces as a warning
 * @returns onConnect and maintain (no onDisconnect: subscriptions are the app's, and revoking ends the user's
 *   deliveries)
 */
export function ouraNotificationHooks(
  secrets: BotSecrets | undefined,
  clientFor: () => SubscriptionClient
): NotificationHooks {
  const callbackUrl = readOptionalSecret(secrets, WEBHOOK_URL_SECRET);
  const verificationToken = readOptionalSecret(secrets, VERIFICATION_TOKEN_SECRET);
  const missing = [
    ...(callbackUrl ? [] : [WEBHOOK_URL_SECRET]),
    ...(verificationToken ? [] : [VERIFICATION_TOKEN_SECRET]),
  ];
  const notConfigured =
    missing.length > 0
      ? `Oura webhooks are not set up: the Project secret(s) ${missing.join(' and ')} are not set, so data arrives ` +
        'only through backfill and reconcile windows'
      : undefined;
  const upkeep = (now: Date): Promise<UpkeepResult> =>
    runSubscriptionUpkeep(
      clientFor(),
      { callbackUrl: callbackUrl ?? '', kinds: WANTED_KINDS },
      verificationToken ?? '',
      now
    );
  return {
    onConnect: async (_accessToken, ctx): Promise<NotificationOutcome> => {
      if (notConfigured) {
        return { warning: notConfigured };
      }
      try {
        const done = await upkeep(ctx.now);
        if (done.failed > 0) {
          // The detail is the operator's (app credentials, the edge), not the owner's: logged, not returned.
          console.log(
            JSON.stringify({ bot: 'oura', subscriptions: 'failed', failed: done.failed, detail: done.detail })
          );
        }
        return {
          subscribed: done.createdKinds,
          ...(done.failed > 0
            ? { warning: 'Oura notifications could not all be set up; your data still arrives, a little later' }
            : {}),
        };
      } catch (err) {
        console.log(JSON.stringify({ bot: 'oura', subscriptions: 'not listed', detail: errorText(err) }));
        return { warning: 'Oura notifications could not be set up; your data still arrives, a little later' };
      }
    },
    maintain: async (ctx): Promise<MaintenanceResult> => {
      if (notConfigured) {
        return { renewed: 0, created: 0, failed: 0, detail: notConfigured };
      }
      try {
        const done = await upkeep(ctx.now);
        return {
          renewed: done.renewed,
          created: done.created,
          failed: done.failed,
          ...(done.detail ? { detail: done.detail } : {}),
        };
      } catch (err) {
        return { renewed: 0, created: 0, failed: 1, detail: `listing failed: ${errorText(err)}` };
      }
    },
  };
}
