/**
 * WHOOP's webhook sender (reference/providers.md §1.3).
 *
 * Message:   POST, `Content-Type: application/json`, body `{"user_id":<int64>,"id":"<uuid>","type":"<event>","trace_id":"<uuid>"}`
 * Algorithm: HMAC-SHA256, key = the app's client secret, message = `X-WHOOP-Signature-Timestamp` + raw body (no separator)
 * Encoding:  base64
 * Headers:   `X-WHOOP-Signature`, `X-WHOOP-Signature-Timestamp` (milliseconds since the epoch)
 * Events:    workout.updated|deleted, sleep.updated|deleted, recovery.updated|deleted (recovery id = the sleep UUID)
 * Retries:   a non-2xx answer or a timeout is retried five times (WHOOP: over about an hour; here the delays are
 *            configurable and default to fast ones for tests). Every attempt of one event carries the same trace_id
 *            and is signed afresh with the time of sending.
 * Docs:      https://developer.whoop.com/docs/developing/webhooks
 */
import { createHmac, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebhookEventType } from './store.ts';

export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [200, 400, 800, 1600, 3200];
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 2000;

/**
 * The documented WHOOP signature.
 * @param clientSecret - The app's client secret (the HMAC key).
 * @param timestamp - The `X-WHOOP-Signature-Timestamp` header value.
 * @param rawBody - The exact request body.
 * @returns The base64 `X-WHOOP-Signature` value.
 */
export function signWhoopWebhook(clientSecret: string, timestamp: string, rawBody: string): string {
  return createHmac('sha256', clientSecret)
    .update(timestamp + rawBody)
    .digest('base64');
}

export interface WebhookEvent {
  type: WebhookEventType;
  id: string;
  userId: number;
}

export interface WebhookTarget {
  clientId: string;
  clientSecret: string;
  url: string;
}

export interface DeliveryAttempt {
  traceId: string;
  type: WebhookEventType;
  id: string;
  userId: number;
  clientId: string;
  url: string;
  /** 1 = first try, 2…6 = retries. */
  attempt: number;
  /** HTTP status, or `timeout` / `network-error`. */
  status: number | 'timeout' | 'network-error';
  at: string;
}

export interface DispatchResult {
  traceId: string;
  event: WebhookEvent;
  /** One per target and copy: whether it was finally accepted with a 2xx. */
  outcomes: { clientId: string; delivered: boolean; attempts: number }[];
}

export interface WebhookSenderOptions {
  now: () => number;
  retryDelaysMs: readonly number[];
  timeoutMs: number;
  /** The apps to notify about a user right now (authorised, with a webhook URL); asked again before each retry. */
  targets: (userId: number) => WebhookTarget[];
}

export class WebhookSender {
  private readonly options: WebhookSenderOptions;
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  readonly attempts: DeliveryAttempt[] = [];

  constructor(options: WebhookSenderOptions) {
    this.options = options;
  }

  /**
   * Sends one event (`copies` times with the same trace_id, as WHOOP may) to every target; resolves when each copy
   * was accepted or ran out of retries.
   */
  async send(event: WebhookEvent, copies = 1, traceId: string = randomUUID()): Promise<DispatchResult> {
    const work = Promise.all(
      this.options
        .targets(event.userId)
        .flatMap((target) => Array.from({ length: copies }, () => this.deliver(event, traceId, target)))
    );
    this.inFlight.add(work);
    try {
      return { traceId, event, outcomes: await work };
    } finally {
      this.inFlight.delete(work);
    }
  }

  private async deliver(
    event: WebhookEvent,
    traceId: string,
    target: WebhookTarget
  ): Promise<{ clientId: string; delivered: boolean; attempts: number }> {
    const body = JSON.stringify({ user_id: event.userId, id: event.id, type: event.type, trace_id: traceId });
    const maxAttempts = 1 + this.options.retryDelaysMs.length;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (attempt > 1) {
        const stillAuthorised = this.options
          .targets(event.userId)
          .some((candidate) => candidate.clientId === target.clientId);
        if (!stillAuthorised || this.abort.signal.aborted) {
          return { clientId: target.clientId, delivered: false, attempts: attempt - 1 };
        }
      }
      const timestamp = String(this.options.now());
      let status: DeliveryAttempt['status'];
      try {
        const response = await fetch(target.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-whoop-signature': signWhoopWebhook(target.clientSecret, timestamp, body),
            'x-whoop-signature-timestamp': timestamp,
            'user-agent': 'WHOOP-Sandbox-Webhooks/1.0',
          },
          body,
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs)]),
        });
        status = response.status;
        // Drain the body so the socket is released.
        await response.arrayBuffer().catch(() => undefined);
      } catch (error) {
        status = error instanceof Error && error.name === 'TimeoutError' ? 'timeout' : 'network-error';
      }
      this.attempts.push({
        traceId,
        type: event.type,
        id: event.id,
        userId: event.userId,
        clientId: target.clientId,
        url: target.url,
        attempt,
        status,
        at: new Date(this.options.now()).toISOString(),
      });
      if (typeof status === 'number' && status >= 200 && status < 300) {
        return { clientId: target.clientId, delivered: true, attempts: attempt };
      }
      const delay = this.options.retryDelaysMs[attempt - 1];
      if (delay === undefined || this.abort.signal.aborted) {
        return { clientId: target.clientId, delivered: false, attempts: attempt };
      }
      try {
        await sleep(delay, undefined, { signal: this.abort.signal });
      } catch {
        // Closed while waiting: the retry is dropped with the sandbox.
        return { clientId: target.clientId, delivered: false, attempts: attempt };
      }
    }
    return { clientId: target.clientId, delivered: false, attempts: maxAttempts };
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
