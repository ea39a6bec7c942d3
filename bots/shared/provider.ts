/**
 * The provider-independent OAuth surface the connect, disconnect and sync bots use. WHOOP implements it in
 * bots/whoop/client.ts; Withings and Oura plug in by implementing the same interface, so the bots never branch on
 * the provider for the token lifecycle.
 */
import type { Observation } from '@medplum/fhirtypes';
import { z } from 'zod';
import type { ProviderId } from './catalogue.ts';
import type { MapContext, SkipReason } from './observations.ts';
import type { BotSecrets } from './secrets.ts';
import type { ParsedTaskInput } from './tasks.ts';
import type { RecordGroup } from './write-changed.ts';

export type ProviderKey = ProviderId;

/**
 * What Baseline stores (encrypted) per connection. `refreshToken` is optional only on a provider's answer: when a
 * refresh returns none, the previous one stays valid (mergeTokenSets).
 */
export const TokenSetSchema = z.object({
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1).optional(),
  expiresAt: z.iso.datetime({ offset: true }),
  scope: z.string(),
  /** The account the tokens belong to, where the token response names it (Withings' `userid`). */
  providerUserId: z.string().min(1).optional(),
});
export type TokenSet = z.infer<typeof TokenSetSchema>;

export interface AuthorizeParams {
  readonly clientId: string;
  readonly redirectUri: string;
  /** The raw state (≥ 32 url-safe chars, oauth-state.ts); only its hash is stored. */
  readonly state: string;
  /** Defaults to the provider's full read scope set. */
  readonly scopes?: readonly string[];
}

export interface OAuthProvider {
  readonly key: ProviderKey;
  /** @returns the provider's authorize URL with response_type=code, client_id, redirect_uri, scope and state. */
  authorizeUrl(params: AuthorizeParams): string;
  /** Authorization-code exchange. */
  exchangeCode(code: string, redirectUri: string): Promise<TokenSet>;
  /** Refresh-token grant; providers rotate refresh tokens, so callers must store the result before using it. */
  refresh(refreshToken: string): Promise<TokenSet>;
  /**
   * Revokes the user's grant (stops the provider's webhooks for that user where supported). Withings revokes by user
   * id with a signed request rather than by token, hence both.
   */
  revoke(accessToken: string, providerUserId: string): Promise<void>;
  /** @returns the provider's stable user id for the token's owner (string even where the provider uses numbers). */
  userId(accessToken: string): Promise<string>;
}

/**
 * The OAuth 2 authorization-code request every provider uses (RFC 6749 §4.1.1); providers differ only in the endpoint,
 * their scope names and how scopes are joined (space, Withings: comma).
 * @param endpoint - the provider's authorize URL
 * @param params - client, redirect URI, state and optional scopes
 * @param defaultScopes - the provider's full read scope set
 * @param separator - how the provider joins scopes
 * @returns the URL to send the owner to
 */
export function authorizationCodeUrl(
  endpoint: string,
  params: AuthorizeParams,
  defaultScopes: readonly string[],
  separator = ' '
): string {
  const url = new URL(endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', params.clientId);
  url.searchParams.set('redirect_uri', params.redirectUri);
  url.searchParams.set('scope', (params.scopes ?? defaultScopes).join(separator));
  url.searchParams.set('state', params.state);
  return url.toString();
}

/**
 * @param previous - the stored token set
 * @param refreshed - the refresh response
 * @returns the refreshed set, keeping the previous refresh token when the provider sent none
 */
export function mergeTokenSets(previous: TokenSet, refreshed: TokenSet): TokenSet {
  return { ...refreshed, refreshToken: refreshed.refreshToken ?? previous.refreshToken };
}

// ---------------------------------------------------------------------------------------------------------------
// The provider module: everything the provider-neutral bots (connect-start, connect-callback, disconnect, sync,
// sweeper) need from one provider. Each provider folder (bots/whoop, bots/withings, bots/oura) exports one
// ProviderModule from its `provider.ts`; bots/providers.ts lists them. A fourth provider is one more folder and one
// more line there.

/** One provider record whose Observations a deletion retracts (its per-record identifier, observations.ts). */
export interface RecordRef {
  readonly recordType: string;
  readonly system: string;
  readonly value: string;
}

/** A Task that retracts records — carried out only for the records the provider confirms gone. */
export interface RetractPlan {
  readonly kind: 'retract';
  readonly records: readonly RecordRef[];
}

/** What a fetch produced, ready for write-changed.ts. */
export interface SyncBatch {
  /** Every fetched record with what it maps to now, keyed by the identifier its Observations share. */
  readonly records: readonly RecordGroup[];
  /** Observations written only if new (values the owner typed in). */
  readonly writeOnce: readonly Observation[];
  readonly skipped: readonly SkipReason[];
  /** Records a notification named that the provider does not know (nothing to write, nothing to retry). */
  readonly missing: readonly string[];
}

export interface PlanContext {
  readonly providerUserId: string;
  readonly now: Date;
  /** When this connection last synced successfully (a notification's own window is never trusted; see Withings). */
  readonly lastSync: string | undefined;
}

export interface SyncContext extends MapContext {
  readonly now: Date;
}

/**
 * A provider's data side for one bot run (built from the run's secrets: base URLs, timeouts). `Plan` is the
 * provider's own description of what to fetch; the sync bot only tells a retraction from a fetch.
 */
export interface ProviderSync<Plan extends { readonly kind: string } = { readonly kind: string }> {
  /**
   * Pure: what a sync/backfill Task does. Throws for a Task that is neither a window nor a known event.
   * @param input - the Task's parsed input (a window, or a record a notification named)
   * @param ctx - the connection's provider user id and patient, the clock
   */
  plan(input: ParsedTaskInput, ctx: PlanContext): Plan | RetractPlan;
  /** Fetches what the plan names and maps it (records the provider does not know are `missing`, not errors). */
  fetch(accessToken: string, plan: Plan, ctx: SyncContext): Promise<SyncBatch>;
  /** Asks the provider which of a retraction's records are really gone (a notification is never proof). */
  confirmDeletion(accessToken: string, plan: RetractPlan, input: ParsedTaskInput): Promise<readonly RecordRef[]>;
}

/** The public URL a provider's notifications reach (the edge in front of Medplum's POST /webhook/:id). */
export interface NotificationTarget {
  /** From the project secret `<PROVIDER>_WEBHOOK_URL`; undefined when the deployment set none. */
  readonly url: string | undefined;
}

/** What a connect or disconnect did about the provider's notifications (reported, never secret). */
export interface NotificationOutcome {
  readonly subscribed?: readonly string[];
  readonly unsubscribed?: readonly string[];
  /** A problem the owner or operator should know about; the connection still works (the sweeper reconciles). */
  readonly warning?: string;
}

export interface NotificationHooks {
  /**
   * After a connect stored the tokens: subscribe this user's notifications (Withings, per user and category) or make
   * sure the app-level subscriptions exist (Oura). Must not throw for a provider-side failure: return a warning.
   */
  onConnect?(
    accessToken: string,
    ctx: { readonly providerUserId: string; readonly now: Date }
  ): Promise<NotificationOutcome>;
  /** Before a disconnect revokes the grant: remove this user's subscriptions where revoking does not. */
  onDisconnect?(accessToken: string, ctx: { readonly providerUserId: string }): Promise<NotificationOutcome>;
  /**
   * During the sweeper's daily reconcile of a connection that sent no verified notification for a day — the one time
   * a user's token is at hand without a notification to answer: make sure this user's subscriptions still exist
   * (Withings removes one after repeated failed deliveries and says nothing). Must not throw for a provider-side
   * failure: return a warning.
   */
  onReconcile?(
    accessToken: string,
    ctx: { readonly providerUserId: string; readonly now: Date }
  ): Promise<NotificationOutcome>;
  /** Cron upkeep with app credentials (Oura: renew subscriptions before `expiration_time`, recreate lost ones). */
  maintain?(ctx: { readonly now: Date }): Promise<MaintenanceResult>;
}

export interface MaintenanceResult {
  readonly renewed: number;
  readonly created: number;
  readonly failed: number;
  readonly detail?: string;
}

/** A provider's identity as people see it (bots/<key>/about.ts; the app reads these files directly). */
export interface ProviderAbout {
  readonly key: ProviderKey;
  /** Display name: 'WHOOP', 'Withings', 'Oura'. */
  readonly name: string;
  /** One sentence: what the provider brings into the record. */
  readonly summary: string;
}

export interface ProviderModule extends ProviderAbout {
  /** Project secrets without which the provider cannot be connected (client id and secret). */
  readonly requiredSecrets: readonly string[];
  /** Project secrets read when set (base URLs for a sandbox, timeouts, the public webhook URL). */
  readonly optionalSecrets: readonly string[];
  /**
   * The optional secrets that redirect the client away from the provider's own hosts (a sandbox sets them), with the
   * provider's URL: deploy warns when one points elsewhere on a real server (tokens and health data would go there).
   */
  readonly urlSecrets: readonly {
    readonly name: string;
    readonly defaultUrl: string;
    /** Other hosts of the provider's own that the secret may name (Oura's new-portal token host). */
    readonly otherHosts?: readonly string[];
  }[];
  /** The provider's public webhook bot (bots/<provider>/<provider>-webhook.ts). */
  readonly webhookBot: {
    readonly name: string;
    readonly source: string;
    readonly description: string;
    /** The bot verifies a signature over the exact bytes (Medplum ≥ 5.2 `Bot.rawBody`); false for unsigned ones. */
    readonly rawBody: boolean;
  };
  /** OAuth for this run's secrets. */
  oauth(secrets: BotSecrets | undefined): ProviderHandle;
  /** Data access for this run's secrets. */
  sync(secrets: BotSecrets | undefined): ProviderSync;
  /** Notification upkeep for this run's secrets (absent: the provider needs none, e.g. WHOOP's dashboard URL). */
  notifications?(secrets: BotSecrets | undefined): NotificationHooks;
}

export interface ProviderHandle extends OAuthProvider {
  /** The app's client id at the provider (goes into the authorize URL). */
  readonly clientId: string;
}
