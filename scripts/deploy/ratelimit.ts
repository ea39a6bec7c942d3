/**
 * Deploy spends Medplum's FHIR quota like any client (points per minute per membership: write 100, search 20,
 * read 1). `QuotaMeter` runs each request, waits for the quota window to reset when the server answers 429 instead
 * of failing the deploy half way, and adds up the points spent from the `RateLimit: "fhirInteractions";r=;t=`
 * header Medplum puts on every FHIR response.
 */
import { OperationOutcomeError } from '@medplum/core';
import { isThrottled, throttledWaitMs } from '../../bots/shared/quota.ts';

export interface RateLimitReading {
  readonly name: string;
  /** Points left in the current window. */
  readonly remaining: number;
  /** Seconds until the window resets. */
  readonly resetSeconds: number;
}

/**
 * Parses a `RateLimit` header. Medplum sends one per limiter (`"requests"` per IP, `"fhirInteractions"` per
 * membership and project); fetch joins repeated headers with `, `.
 * @param header - The header value(s).
 * @returns One reading per well-formed entry; malformed ones are skipped.
 */
export function parseRateLimit(header: string | null | undefined): RateLimitReading[] {
  if (!header) {
    return [];
  }
  const readings: RateLimitReading[] = [];
  for (const entry of header.split(',')) {
    const match = /^\s*"([^"]+)"\s*;\s*r=(\d+)\s*;\s*t=(\d+)\s*$/.exec(entry);
    if (match?.[1] && match[2] && match[3]) {
      readings.push({ name: match[1], remaining: Number(match[2]), resetSeconds: Number(match[3]) });
    }
  }
  return readings;
}

/** The FHIR quota reading among a response's RateLimit headers. */
export function fhirQuotaReading(header: string | null | undefined): RateLimitReading | undefined {
  return parseRateLimit(header).find((reading) => reading.name === 'fhirInteractions');
}

/**
 * Whether an error is the server refusing a request over the FHIR quota.
 * @param err - What a MedplumClient call threw.
 * @returns The milliseconds until the quota resets (from the outcome, 0 when it does not say), or undefined when
 * the error is something else.
 */
export function quotaRefusal(err: unknown): number | undefined {
  if (!(err instanceof OperationOutcomeError) || !isThrottled(err.outcome)) {
    return undefined;
  }
  return throttledWaitMs(err.outcome) ?? 0;
}

export interface QuotaMeterOptions {
  /** The `RateLimit` header of the most recent response (MedplumClient keeps it). */
  readonly readHeader: () => string | undefined;
  /** Waits; tests pass one that records instead. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly log?: (line: string) => void;
  /** How many times one request may wait for a reset before deploy gives up (default 3). */
  readonly maxWaits?: number;
  readonly now?: () => number;
}

/** Longest single wait: a Medplum quota window is 60 s, so more than that means the reset time is wrong. */
const MAX_WAIT_MS = 61_000;
/** Added to the announced reset so the retry lands in the new window, not at its edge. */
const RESET_MARGIN_MS = 250;

export class QuotaMeter {
  private readonly options: QuotaMeterOptions;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private last: { remaining: number; resetAt: number } | undefined;
  /** The header the client held before this meter's first request (another caller's), ignored until it changes. */
  private stale: string | undefined;
  /** Points spent, summed from the RateLimit header (undefined until the server sends one). */
  spent: number | undefined;
  /** The last reading (points left, seconds to reset). */
  lastReading: RateLimitReading | undefined;
  /** How often deploy waited for a quota reset. */
  waits = 0;

  constructor(options: QuotaMeterOptions) {
    this.options = options;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
    this.stale = options.readHeader();
  }

  /**
   * Runs one request; on a quota refusal waits for the reset and runs it again (a refused request did nothing:
   * the server checks the quota before the interaction).
   * @param label - What the request is, for the wait line.
   * @param cost - Its points by Medplum's price list, counted when the header cannot show them (first response,
   * new window).
   * @param request - The request.
   * @returns Its result.
   */
  async run<T>(label: string, cost: number, request: () => Promise<T>): Promise<T> {
    const maxWaits = this.options.maxWaits ?? 3;
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await request();
        this.observe(cost);
        return result;
      } catch (err) {
        this.observe(0);
        const resetMs = quotaRefusal(err);
        if (resetMs === undefined || attempt >= maxWaits) {
          throw err;
        }
        const fromHeader = this.lastReading ? this.lastReading.resetSeconds * 1000 : 0;
        const waitMs = Math.min(Math.max(resetMs, fromHeader, 1000) + RESET_MARGIN_MS, MAX_WAIT_MS);
        this.waits++;
        this.options.log?.(
          `  FHIR quota used up (${label}): waiting ${Math.ceil(waitMs / 1000)} s for it to reset, as Medplum asks`
        );
        await this.sleep(waitMs);
      }
    }
  }

  /** Adds what the latest response says was spent since the previous one. */
  private observe(cost: number): void {
    const header = this.options.readHeader();
    if (this.stale !== undefined && header === this.stale) {
      return;
    }
    this.stale = undefined;
    const reading = fhirQuotaReading(header);
    if (!reading) {
      return;
    }
    const resetAt = this.now() + reading.resetSeconds * 1000;
    const previous = this.last;
    if (previous && reading.remaining === previous.remaining && Math.abs(resetAt - previous.resetAt) < 1500) {
      // The same reading again: a response without a header of its own (admin API), or nothing spent.
      this.lastReading = reading;
      return;
    }
    if (previous && reading.remaining <= previous.remaining && resetAt - previous.resetAt < 1500) {
      this.spent = (this.spent ?? 0) + (previous.remaining - reading.remaining);
    } else {
      // First reading, or a new window began: the header shows what is left, not what this request took, and
      // Medplum does not send the limit; count the request at its list price.
      this.spent = (this.spent ?? 0) + cost;
    }
    this.last = { remaining: reading.remaining, resetAt };
    this.lastReading = reading;
  }
}
