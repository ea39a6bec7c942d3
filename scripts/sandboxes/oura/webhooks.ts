/**
 * Oura's webhook subscriptions and deliveries (reference/providers.md §3.3).
 *
 * Subscriptions: per app (`x-client-id` / `x-client-secret` headers, no user token), one per
 *   event_type × data_type × callback_url, each with an `expiration_time` (now + subscriptionTtlDays; Oura does not
 *   document the lifetime, 90 days is what open-wearables assumes). An expired subscription delivers nothing until
 *   `PUT /v2/webhook/subscription/renew/{id}` pushes its expiry out again.
 * Verification: on create and update Oura calls `GET <callback_url>?verification_token=<token>&challenge=<random>`
 *   and needs `200` with JSON `{"challenge": "<random>"}` back; anything else fails the create or update.
 * Message:   POST, `Content-Type: application/json`, body
 *            `{"event_type","data_type","object_id","event_time","user_id"}` (user_id = `personal_info.id`)
 * Algorithm: HMAC-SHA256, key = the app's client secret, message = `x-oura-timestamp` + raw body (no separator)
 * Encoding:  hex, upper case
 * Headers:   `x-oura-signature`, `x-oura-timestamp` — the unit is not documented; the sandbox sends epoch SECONDS
 * Retries:   a non-2xx answer or a timeout is retried (Oura: 10 retries over about an hour, 10-s timeout; here the
 *            delays and timeout are options, fast by default). `410 Gone` cancels the subscription at once.
 *            Only users who authorised the app are delivered; an expired or deleted subscription stops retrying.
 * Docs:      https://cloud.ouraring.com/v2/docs#tag/Webhook-Subscription-Routes
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PersistedSubscription } from './persist.ts';
import type { RecordEvent, WebhookEventType } from './store.ts';

/** Ten retries, from 50 ms up to 1 s: the shape of Oura's schedule at test speed (about 6.5 s in all). */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [50, 100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000];
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 2000;
export const DEFAULT_SUBSCRIPTION_TTL_DAYS = 90;

/**
 * The documented Oura signature.
 * @param clientSecret - The app's client secret (the HMAC key).
 * @param timestamp - The `x-oura-timestamp` header value.
 * @param rawBody - The exact request body.
 * @returns The upper-case hex `x-oura-signature` value.
 */
export function signOuraWebhook(clientSecret: string, timestamp: string, rawBody: string): string {
  return createHmac('sha256', clientSecret)
    .update(timestamp + rawBody)
    .digest('hex')
    .toUpperCase();
}

export interface Subscription {
  id: string;
  clientId: string;
  callbackUrl: string;
  verificationToken: string;
  eventType: WebhookEventType;
  dataType: string;
  expiresAt: number;
}

/** WebhookSubscriptionModel (spec components.schemas). */
export interface SubscriptionModel {
  id: string;
  callback_url: string;
  event_type: WebhookEventType;
  data_type: string;
  expiration_time: string;
}

/** WebhookSubscriptionModel as the API returns it. */
export function subscriptionView(subscription: Subscription): SubscriptionModel {
  return {
    id: subscription.id,
    callback_url: subscription.callbackUrl,
    event_type: subscription.eventType,
    data_type: subscription.dataType,
    expiration_time: `${new Date(subscription.expiresAt).toISOString().slice(0, 19)}+00:00`,
  };
}

export interface ChallengeAttempt {
  subscriptionId?: string;
  clientId: string;
  url: string;
  /** HTTP status, or `timeout` / `network-error`. */
  status: number | 'timeout' | 'network-error';
  /** Whether the answer echoed the challenge. */
  passed: boolean;
  at: string;
}

export interface DeliveryAttempt {
  subscriptionId: string;
  clientId: string;
  url: string;
  eventType: WebhookEventType;
  dataType: string;
  objectId: string;
  userId: string;
  /** 1 = first try, 2… = retries. */
  attempt: number;
  status: number | 'timeout' | 'network-error';
  at: string;
}

export interface DispatchResult {
  event: RecordEvent;
  /** One per matching subscription: whether it was finally accepted with a 2xx. */
  outcomes: { subscriptionId: string; clientId: string; delivered: boolean; attempts: number; cancelled: boolean }[];
}

export interface WebhookOptions {
  now: () => number;
  retryDelaysMs: readonly number[];
  timeoutMs: number;
  ttlDays: number;
  clientSecret: (clientId: string) => string | undefined;
  /** Whether the user has a live grant for the app (Oura delivers only those). */
  isAuthorized: (clientId: string, userId: string) => boolean;
  onChange: () => void;
}

export class WebhookError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class Webhooks {
  private readonly options: WebhookOptions;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  readonly deliveries: DeliveryAttempt[] = [];
  readonly challenges: ChallengeAttempt[] = [];

  constructor(options: WebhookOptions) {
    this.options = options;
  }

  import(saved: readonly PersistedSubscription[]): void {
    for (const subscription of saved) {
      if (
        subscription.eventType === 'create' ||
        subscription.eventType === 'update' ||
        subscription.eventType === 'delete'
      ) {
        this.subscriptions.set(subscription.id, { ...subscription });
      }
    }
  }

  export(): PersistedSubscription[] {
    return [...this.subscriptions.values()].map((subscription) => ({ ...subscription }));
  }

  all(clientId?: string): Subscription[] {
    return [...this.subscriptions.values()].filter(
      (subscription) => clientId === undefined || subscription.clientId === clientId
    );
  }

  get(clientId: string, id: string): Subscription {
    const subscription = this.subscriptions.get(id);
    if (!subscription || subscription.clientId !== clientId) {
      throw new WebhookError(403, 'Webhook with specified id does not exist.');
    }
    return subscription;
  }

  /** Oura's GET challenge against a callback URL; throws a 400 when it does not echo the challenge. */
  private async verify(
    clientId: string,
    url: string,
    verificationToken: string,
    subscriptionId?: string
  ): Promise<void> {
    const challenge = randomBytes(16).toString('hex');
    const target = new URL(url);
    target.searchParams.set('verification_token', verificationToken);
    target.searchParams.set('challenge', challenge);
    let status: ChallengeAttempt['status'];
    let passed = false;
    try {
      const response = await fetch(target, {
        method: 'GET',
        headers: { accept: 'application/json', 'user-agent': 'Oura-Sandbox-Webhooks/1.0' },
        redirect: 'manual',
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      status = response.status;
      const text = await response.text().catch(() => '');
      if (response.status === 200) {
        try {
          const body = JSON.parse(text) as unknown;
          passed =
            typeof body === 'object' && body !== null && (body as Record<string, unknown>)['challenge'] === challenge;
        } catch {
          passed = false;
        }
      }
    } catch (error) {
      status = error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network-error';
    }
    this.challenges.push({
      ...(subscriptionId === undefined ? {} : { subscriptionId }),
      clientId,
      url,
      status,
      passed,
      at: new Date(this.options.now()).toISOString(),
    });
    if (!passed) {
      throw new WebhookError(
        400,
        `Verification of ${url} failed: expected 200 with {"challenge": "<challenge>"}, got ${String(status)}`
      );
    }
  }

  async create(
    clientId: string,
    request: { callbackUrl: string; verificationToken: string; eventType: WebhookEventType; dataType: string }
  ): Promise<Subscription> {
    const refuseDuplicate = (): void => {
      const duplicate = this.all(clientId).some(
        (existing) =>
          existing.callbackUrl === request.callbackUrl &&
          existing.eventType === request.eventType &&
          existing.dataType === request.dataType
      );
      if (duplicate) {
        throw new WebhookError(409, 'A subscription with this event_type, data_type and callback_url already exists.');
      }
    };
    refuseDuplicate();
    await this.verify(clientId, request.callbackUrl, request.verificationToken);
    // Again after the handshake: a twin request may have been verified meanwhile.
    refuseDuplicate();
    const subscription: Subscription = {
      id: randomUUID(),
      clientId,
      ...request,
      expiresAt: this.options.now() + this.options.ttlDays * 86_400_000,
    };
    this.subscriptions.set(subscription.id, subscription);
    this.options.onChange();
    return subscription;
  }

  async update(
    clientId: string,
    id: string,
    request: { verificationToken: string; callbackUrl?: string; eventType?: WebhookEventType; dataType?: string }
  ): Promise<Subscription> {
    const current = this.get(clientId, id);
    const next: Subscription = {
      ...current,
      verificationToken: request.verificationToken,
      ...(request.callbackUrl === undefined ? {} : { callbackUrl: request.callbackUrl }),
      ...(request.eventType === undefined ? {} : { eventType: request.eventType }),
      ...(request.dataType === undefined ? {} : { dataType: request.dataType }),
    };
    await this.verify(clientId, next.callbackUrl, next.verificationToken, id);
    this.subscriptions.set(id, next);
    this.options.onChange();
    return next;
  }

  delete(clientId: string, id: string): void {
    this.get(clientId, id);
    this.subscriptions.delete(id);
    this.options.onChange();
  }

  renew(clientId: string, id: string): Subscription {
    const subscription = this.get(clientId, id);
    subscription.expiresAt = this.options.now() + this.options.ttlDays * 86_400_000;
    this.options.onChange();
    return subscription;
  }

  private live(subscription: Subscription): boolean {
    return this.subscriptions.get(subscription.id) === subscription && subscription.expiresAt > this.options.now();
  }

  /** Delivers one event to every live subscription that matches it; resolves when each was accepted or gave up. */
  async send(event: RecordEvent): Promise<DispatchResult> {
    const targets = this.all().filter(
      (subscription) =>
        subscription.eventType === event.eventType &&
        subscription.dataType === event.dataType &&
        this.live(subscription) &&
        this.options.isAuthorized(subscription.clientId, event.userId)
    );
    const work = Promise.all(targets.map((subscription) => this.deliver(event, subscription)));
    this.inFlight.add(work);
    try {
      return { event, outcomes: await work };
    } finally {
      this.inFlight.delete(work);
    }
  }

  private async deliver(event: RecordEvent, subscription: Subscription): Promise<DispatchResult['outcomes'][number]> {
    const outcome = (delivered: boolean, attempts: number, cancelled = false): DispatchResult['outcomes'][number] => ({
      subscriptionId: subscription.id,
      clientId: subscription.clientId,
      delivered,
      attempts,
      cancelled,
    });
    const body = JSON.stringify({
      event_type: event.eventType,
      data_type: event.dataType,
      object_id: event.objectId,
      event_time: `${new Date(event.eventTime).toISOString().slice(0, 19)}+00:00`,
      user_id: event.userId,
    });
    const maxAttempts = 1 + this.options.retryDelaysMs.length;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const secret = this.options.clientSecret(subscription.clientId);
      if (
        (attempt > 1 &&
          (!this.live(subscription) || !this.options.isAuthorized(subscription.clientId, event.userId))) ||
        secret === undefined ||
        this.abort.signal.aborted
      ) {
        return outcome(false, attempt - 1);
      }
      const timestamp = String(Math.floor(this.options.now() / 1000));
      let status: DeliveryAttempt['status'];
      try {
        const response = await fetch(subscription.callbackUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-oura-signature': signOuraWebhook(secret, timestamp, body),
            'x-oura-timestamp': timestamp,
            'user-agent': 'Oura-Sandbox-Webhooks/1.0',
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs)]),
        });
        status = response.status;
        await response.arrayBuffer().catch(() => undefined);
      } catch (error) {
        status = error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network-error';
      }
      this.deliveries.push({
        subscriptionId: subscription.id,
        clientId: subscription.clientId,
        url: subscription.callbackUrl,
        eventType: event.eventType,
        dataType: event.dataType,
        objectId: event.objectId,
        userId: event.userId,
        attempt,
        status,
        at: new Date(this.options.now()).toISOString(),
      });
      if (typeof status === 'number' && status >= 200 && status < 300) {
        return outcome(true, attempt);
      }
      if (status === 410) {
        // "Responding 410 cancels the subscription."
        this.subscriptions.delete(subscription.id);
        this.options.onChange();
        return outcome(false, attempt, true);
      }
      const delay = this.options.retryDelaysMs[attempt - 1];
      if (delay === undefined) {
        return outcome(false, attempt);
      }
      try {
        await sleep(delay, undefined, { signal: this.abort.signal });
      } catch {
        return outcome(false, attempt);
      }
    }
    return outcome(false, maxAttempts);
  }

  /** Resolves when nothing is being delivered or waiting for a retry. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) {
      await Promise.allSettled([...this.inFlight]);
    }
  }

  close(): void {
    this.abort.abort();
  }
}
