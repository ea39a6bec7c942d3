/**
 * Withings' data-update notifications (reference/providers.md §2.3; withings.yml `notify-*`).
 *
 * Subscribe:  `POST /notify action=subscribe` (callbackurl, appli, comment) per user × appli, with the user's access
 *             token. Withings first sends an HTTP HEAD to the callback URL and refuses the subscription unless it
 *             answers 2xx: status 293 "The callback URL is either unknown or invalid" (the code public reports show
 *             for an unreachable callback). Medplum answers HEAD /webhook/:id with 404, hence the edge rule.
 *             https://developer.withings.com/developer-guide/v3/integration-guide/bulkship-sdk/data-api/notifications/notification-subscribe
 * Message:    `POST` `application/x-www-form-urlencoded` `userid=<int>&appli=<int>&startdate=<unix>&enddate=<unix>`.
 *             No signature: Withings signs nothing (it publishes sender IP ranges instead).
 * Success:    an HTTP status < 400 within 2 s (the timeout is configurable).
 * Retries:    Withings documents up to 10 attempts in 5 cycles of 2 tries (immediately, +10 s, +1 min, +1 h, +4 h);
 *             here `retryDelaysMs` lists the waits between attempts (fast by default, main.ts uses the real ones).
 * Drop:       "After four consecutive failures, the notification subscription is removed" (older Withings doc).
 *             Here: a subscription whose `dropAfterFailures` consecutive notifications each ran out of attempts is
 *             removed. A delivered notification resets the count.
 * Docs:       https://developer.withings.com/developer-guide/v3/integration-guide/bulkship-sdk/data-api/notifications/notification-overview
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SubscriptionState } from './persist.ts';

/** Two tries per cycle, five cycles, in milliseconds instead of Withings' seconds to hours. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [0, 50, 0, 100, 0, 200, 0, 400, 0];
/** Withings' documented schedule (the jitter left out): main.ts uses it. */
export const WITHINGS_RETRY_DELAYS_MS: readonly number[] = [0, 10_000, 0, 60_000, 0, 3_600_000, 0, 14_400_000, 0];
export const DEFAULT_NOTIFY_TIMEOUT_MS = 2000;
export const DEFAULT_DROP_AFTER_FAILURES = 4;
/** What `list` reports as `expires`: subscriptions do not expire. */
export const NEVER_EXPIRES = 2_147_483_647;

export type Subscription = SubscriptionState;

export interface NotificationPayload {
  userid: number;
  appli: number;
  startdate: number;
  enddate: number;
}

export interface NotificationAttempt {
  clientId: string;
  userId: number;
  appli: number;
  url: string;
  /** 1 = first try. */
  attempt: number;
  /** HTTP status, or `timeout` / `network-error`. */
  status: number | 'timeout' | 'network-error';
  body: string;
  at: string;
}

export interface HeadCheck {
  url: string;
  status: number | 'timeout' | 'network-error';
  accepted: boolean;
  at: string;
}

export interface NotificationOutcome {
  clientId: string;
  callbackurl: string;
  delivered: boolean;
  attempts: number;
  /** The subscription was removed after this failure. */
  dropped: boolean;
}

export interface NotifierOptions {
  now: () => number;
  retryDelaysMs: readonly number[];
  timeoutMs: number;
  dropAfterFailures: number;
  onChange?: () => void;
}

function sameSubscription(a: Subscription, b: Omit<Subscription, 'comment'>): boolean {
  return a.clientId === b.clientId && a.userId === b.userId && a.appli === b.appli && a.callbackurl === b.callbackurl;
}

export class Notifier {
  private readonly options: NotifierOptions;
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  private subscriptionList: Subscription[] = [];
  private readonly failures = new Map<string, number>();
  readonly attempts: NotificationAttempt[] = [];
  readonly headChecks: HeadCheck[] = [];
  readonly dropped: Subscription[] = [];

  constructor(options: NotifierOptions) {
    this.options = options;
  }

  private key(subscription: Omit<Subscription, 'comment'>): string {
    return `${subscription.clientId}|${subscription.userId}|${subscription.appli}|${subscription.callbackurl}`;
  }

  /** Withings' HEAD check of a callback URL: accepted only with a 2xx answer within the timeout. */
  async headCheck(url: string): Promise<boolean> {
    let status: HeadCheck['status'];
    try {
      const response = await fetch(url, {
        method: 'HEAD',
        redirect: 'manual',
        headers: { 'user-agent': 'Withings-Sandbox-Notify/1.0' },
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      });
      status = response.status;
    } catch (error) {
      status = error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network-error';
    }
    const accepted = typeof status === 'number' && status >= 200 && status < 300;
    this.headChecks.push({ url, status, accepted, at: new Date(this.options.now()).toISOString() });
    return accepted;
  }

  list(filter: { clientId?: string; userId?: number; appli?: number } = {}): Subscription[] {
    return this.subscriptionList.filter(
      (subscription) =>
        (filter.clientId === undefined || subscription.clientId === filter.clientId) &&
        (filter.userId === undefined || subscription.userId === filter.userId) &&
        (filter.appli === undefined || subscription.appli === filter.appli)
    );
  }

  /** Adds (or, for the same user × appli × URL, re-comments) a subscription. */
  add(subscription: Subscription): void {
    const existing = this.subscriptionList.find((candidate) => sameSubscription(candidate, subscription));
    if (existing) {
      existing.comment = subscription.comment;
    } else {
      this.subscriptionList.push({ ...subscription });
    }
    this.failures.delete(this.key(subscription));
    this.options.onChange?.();
  }

  /** Removes the matching subscriptions; returns how many went. */
  remove(match: (subscription: Subscription) => boolean): number {
    const before = this.subscriptionList.length;
    this.subscriptionList = this.subscriptionList.filter((subscription) => !match(subscription));
    const removed = before - this.subscriptionList.length;
    if (removed > 0) {
      this.options.onChange?.();
    }
    return removed;
  }

  /** Removes the matching subscriptions the way Withings drops failing ones: silently, counted as dropped. */
  drop(match: (subscription: Subscription) => boolean): number {
    this.dropped.push(...this.subscriptionList.filter(match).map((subscription) => ({ ...subscription })));
    return this.remove(match);
  }

  replaceAll(subscriptions: readonly Subscription[]): void {
    this.subscriptionList = subscriptions.map((subscription) => ({ ...subscription }));
  }

  all(): Subscription[] {
    return this.subscriptionList.map((subscription) => ({ ...subscription }));
  }

  /** Notifies every subscription of this user × appli; resolves when each was delivered or gave up. */
  async notify(payload: NotificationPayload): Promise<NotificationOutcome[]> {
    const targets = this.list({ userId: payload.userid, appli: payload.appli });
    const work = Promise.all(targets.map((subscription) => this.deliver(subscription, payload)));
    this.inFlight.add(work);
    try {
      return await work;
    } finally {
      this.inFlight.delete(work);
    }
  }

  private stillSubscribed(subscription: Subscription): boolean {
    return this.subscriptionList.some((candidate) => sameSubscription(candidate, subscription));
  }

  private async deliver(subscription: Subscription, payload: NotificationPayload): Promise<NotificationOutcome> {
    const body = new URLSearchParams({
      userid: String(payload.userid),
      appli: String(payload.appli),
      startdate: String(payload.startdate),
      enddate: String(payload.enddate),
    }).toString();
    const maxAttempts = 1 + this.options.retryDelaysMs.length;
    const outcome = (delivered: boolean, attempts: number, dropped = false): NotificationOutcome => ({
      clientId: subscription.clientId,
      callbackurl: subscription.callbackurl,
      delivered,
      attempts,
      dropped,
    });
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (attempt > 1 && (!this.stillSubscribed(subscription) || this.abort.signal.aborted)) {
        return outcome(false, attempt - 1);
      }
      let status: NotificationAttempt['status'];
      try {
        const response = await fetch(subscription.callbackurl, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'user-agent': 'Withings-Sandbox-Notify/1.0',
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
      this.attempts.push({
        clientId: subscription.clientId,
        userId: subscription.userId,
        appli: subscription.appli,
        url: subscription.callbackurl,
        attempt,
        status,
        body,
        at: new Date(this.options.now()).toISOString(),
      });
      if (typeof status === 'number' && status < 400) {
        this.failures.delete(this.key(subscription));
        return outcome(true, attempt);
      }
      const delay = this.options.retryDelaysMs[attempt - 1];
      if (delay === undefined || this.abort.signal.aborted) {
        break;
      }
      try {
        await sleep(delay, undefined, { signal: this.abort.signal });
      } catch {
        return outcome(false, attempt);
      }
    }
    if (this.abort.signal.aborted) {
      return outcome(false, maxAttempts);
    }
    const key = this.key(subscription);
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    if (failures >= this.options.dropAfterFailures && this.stillSubscribed(subscription)) {
      this.failures.delete(key);
      this.dropped.push({ ...subscription });
      this.remove((candidate) => sameSubscription(candidate, subscription));
      return outcome(false, maxAttempts, true);
    }
    return outcome(false, maxAttempts);
  }

  async idle(): Promise<void> {
    while (this.inFlight.size > 0) {
      await Promise.allSettled([...this.inFlight]);
    }
  }

  close(): void {
    this.abort.abort();
  }
}
