/**
 * Living within Medplum's FHIR quota.
 *
 * A default Medplum 5 charges every FHIR interaction points from a per-membership budget that refills each minute
 * (packages/server/src/fhir/fhirquota.ts): write (create, update — even one that changes nothing —, patch, delete)
 * 100, search 20, history 10, read 1; 50,000 points per minute per membership and 10× that per project. Every bot is
 * its own membership, so the sync bot has ~500 writes a minute for all owners together. Over budget a request gets
 * HTTP 429 (`throttled`, "Too Many Requests"); inside a batch each over-budget entry gets `"status": "429"` while the
 * batch itself answers 200 — so a 200-entry batch costs 20,000 points and may half succeed. Every response carries
 * `RateLimit: "fhirInteractions";r=<remaining>;t=<seconds to reset>`, which MedplumClient (5.0 and 5.2) exposes as
 * `rateLimitStatus()`.
 *
 * So the bots (1) size each write batch to what the budget still holds, waiting for the reset instead of spending
 * into a 429, (2) retry throttled requests and throttled batch entries after the reset, (3) keep a reserve that only
 * small, fresh work may use (a webhook's one record must not wait behind somebody's year of history), and
 * (4) count the points they spend, so benchmarks and Task outputs can report them.
 */
import { getRateLimitReset, getStatus, isOperationOutcome, normalizeOperationOutcome } from '@medplum/core';
import type { BundleEntry } from '@medplum/fhirtypes';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

/** Points per interaction on Medplum 5 (fhirquota.ts callers in fhir/repo.ts). */
export const QUOTA_POINTS = { read: 1, search: 20, history: 10, write: 100 } as const;
/** Medplum's default per-membership budget (server config `defaultFhirQuota`). */
export const DEFAULT_USER_QUOTA = 50_000;
/** The refill period: the budget is per minute. */
export const QUOTA_WINDOW_MS = 60_000;
/** Slack after a reset, so the next request does not land a few milliseconds before the counter clears. */
const RESET_MARGIN_MS = 250;

export interface FhirBudget {
  /** Points left in the current window, as the last response said. */
  readonly remaining: number;
  /** Milliseconds until the window resets. */
  readonly resetMs: number;
}

/** What the pacer needs of a client (MedplumClient 5.0 and 5.2 both have it); tests pass a plain object. */
export interface RateLimitAware {
  rateLimitStatus?: () => readonly { name: string; remainingUnits: number; secondsUntilReset: number }[];
}

/**
 * @param medplum - a client that has made at least one FHIR request
 * @returns the FHIR budget from the last response's RateLimit header, or undefined when none was seen (a server
 *   without the quota, or no request yet)
 */
export function fhirBudget(medplum: RateLimitAware): FhirBudget | undefined {
  let status: ReturnType<NonNullable<RateLimitAware['rateLimitStatus']>>;
  try {
    status = medplum.rateLimitStatus?.() ?? [];
  } catch {
    // A header the client cannot parse is no information, not an error worth failing a sync for.
    return undefined;
  }
  const fhir = status.find((s) => s.name === 'fhirInteractions');
  if (!fhir || !Number.isFinite(fhir.remainingUnits) || !Number.isFinite(fhir.secondsUntilReset)) {
    return undefined;
  }
  return { remaining: fhir.remainingUnits, resetMs: Math.max(0, fhir.secondsUntilReset * 1000) };
}

/** True for Medplum's throttled outcome (HTTP 429), thrown or as a batch entry's outcome. */
export function isThrottled(err: unknown): boolean {
  const outcome = isOperationOutcome(err) ? err : normalizeOperationOutcome(err);
  return getStatus(outcome) === 429 || outcome.issue?.some((i) => i.code === 'throttled') === true;
}

/** True for a batch entry the server refused for quota. */
export function isThrottledEntry(entry: BundleEntry | undefined): boolean {
  return entry?.response?.status?.startsWith('429') === true;
}

/**
 * A batch entry that lost a race between concurrent database transactions: Medplum runs a write in a serializable
 * transaction and answers Postgres' serialization failure (SQLSTATE 40001) with a 409 `conflict` outcome coded 40001,
 * "could not serialize access …".
 * Seen on a real Medplum 5.0.10 when a recompute and a sync wrote for the same owner at once; the same entry sent
 * again succeeds, which is what Postgres prescribes for it.
 * @param entry - a batch-response entry
 * @returns whether re-sending the entry is the remedy
 */
export function isSerializationConflict(entry: BundleEntry | undefined): boolean {
  if (entry?.response?.status?.startsWith('409') !== true) {
    return false;
  }
  return (entry.response.outcome?.issue ?? []).some(
    (issue) =>
      issue.details?.coding?.some((c) => c.code === '40001') === true ||
      /could not serialize access/i.test(`${issue.details?.text ?? ''} ${issue.diagnostics ?? ''}`)
  );
}

export interface QuotaPacerOptions {
  /**
   * Points this work leaves untouched for others (see the module comment). Bulk work (backfill windows, erase)
   * passes a reserve; fresh single-record work passes 0.
   */
  readonly reserve?: number;
  /** Longest single wait; a quota window is one minute, so anything longer means the header is wrong. */
  readonly maxWaitMs?: number;
  /** For tests. */
  readonly sleep?: (ms: number) => Promise<unknown>;
}

export interface QuotaSpend {
  /** Points spent by this pacer's requests (as charged by Medplum's table, not measured). */
  points: number;
  /** Milliseconds spent waiting for a reset. */
  waitedMs: number;
  /** Requests or batch entries refused with 429 and retried. */
  throttled: number;
}

/**
 * Paces one bot run's FHIR traffic against the membership's budget.
 */
export class QuotaPacer {
  readonly spend: QuotaSpend = { points: 0, waitedMs: 0, throttled: 0 };
  private readonly reserve: number;
  private readonly maxWaitMs: number;
  private readonly sleep: (ms: number) => Promise<unknown>;
  /** After a wait the last header is stale; until the next response, assume the window has refilled. */
  private stale = false;
  /** The most points ever seen remaining: the best estimate of a full window's budget. */
  private peak = 0;

  private readonly medplum: RateLimitAware;

  constructor(medplum: RateLimitAware, options: QuotaPacerOptions = {}) {
    this.medplum = medplum;
    this.reserve = options.reserve ?? 0;
    this.maxWaitMs = options.maxWaitMs ?? QUOTA_WINDOW_MS + 5_000;
    this.sleep = options.sleep ?? ((ms: number) => sleep(ms, undefined, { ref: false }));
  }

  /** Records that a request of this cost was made (and that a fresh header is available). */
  charge(points: number): void {
    this.spend.points += points;
    this.stale = false;
  }

  /**
   * @returns how many points may be spent now without dipping into the reserve (Infinity when the server sent no
   *   quota header)
   */
  available(): number {
    const budget = fhirBudget(this.medplum);
    if (!budget) {
      return Number.POSITIVE_INFINITY;
    }
    this.peak = Math.max(this.peak, budget.remaining);
    // Right after a reset the last header still shows the empty window; the best estimate is the fullest window
    // seen, or the default budget before one was seen (a smaller quota then answers 429s, which are retried).
    const remaining = this.stale ? Math.max(this.peak, DEFAULT_USER_QUOTA) : budget.remaining;
    return Math.max(0, remaining - this.reserve);
  }

  /**
   * Waits until `cost` points fit in the budget above the reserve (at most one reset).
   * @param cost - points the next request will spend
   */
  async ensure(cost: number): Promise<void> {
    if (this.available() >= cost) {
      return;
    }
    await this.waitForReset();
  }

  /** Waits for the window to reset (the header's t, or a whole window when there is none). */
  async waitForReset(hintMs?: number): Promise<void> {
    const budget = fhirBudget(this.medplum);
    const ms = Math.min(this.maxWaitMs, Math.max(hintMs ?? budget?.resetMs ?? QUOTA_WINDOW_MS, 0) + RESET_MARGIN_MS);
    await this.sleep(ms);
    this.spend.waitedMs += ms;
    this.stale = true;
  }

  /** Waits a short while that has nothing to do with the quota (before re-sending an entry that lost a race). */
  async pause(ms: number): Promise<void> {
    await this.sleep(ms);
    this.spend.waitedMs += ms;
  }

  /**
   * Runs one FHIR request, waiting for budget first and retrying after the reset when the server throttles it.
   * @param cost - the request's points (QUOTA_POINTS)
   * @param request - the request
   * @param attempts - throttled attempts before giving up (the error then propagates)
   * @returns the request's result
   */
  async run<T>(cost: number, request: () => Promise<T>, attempts = 4): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      await this.ensure(cost);
      try {
        const result = await request();
        this.charge(cost);
        return result;
      } catch (err) {
        this.charge(cost);
        if (!isThrottled(err) || attempt >= attempts) {
          throw err;
        }
        this.spend.throttled++;
        await this.waitForReset(throttledWaitMs(err));
      }
    }
  }
}

const ThrottledDiagnostics = z.looseObject({
  _msBeforeNext: z.number().nonnegative().optional(),
  msBeforeNext: z.number().nonnegative().optional(),
});

function parseJson(text: string | undefined): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * @param err - a throttled error
 * @returns the wait the server asked for, if it said: Medplum spreads rate-limiter-flexible's result into the 429's
 *   diagnostics, so the field keeps its underscore (`_msBeforeNext`); @medplum/core's getRateLimitReset only knows
 *   `msBeforeNext` and the reset extension, which is read as a fallback
 */
export function throttledWaitMs(err: unknown): number | undefined {
  const outcome = isOperationOutcome(err) ? err : normalizeOperationOutcome(err);
  for (const issue of outcome.issue ?? []) {
    const parsed = ThrottledDiagnostics.safeParse(parseJson(issue.diagnostics));
    const ms = parsed.data?._msBeforeNext ?? parsed.data?.msBeforeNext;
    if (ms !== undefined) {
      return ms;
    }
  }
  return getRateLimitReset(outcome);
}

/**
 * How many writes of `pointsEach` fit in the budget now, for sizing a batch.
 * @param available - points available (QuotaPacer.available)
 * @param pointsEach - points per entry
 * @param max - the largest batch the caller wants (body size)
 * @param min - never size below this (a batch of 0 makes no progress: the caller waits instead)
 * @returns the batch size
 */
export function batchSizeFor(available: number, pointsEach: number, max: number, min = 1): number {
  if (!Number.isFinite(available)) {
    return max;
  }
  return Math.max(min, Math.min(max, Math.floor(available / pointsEach)));
}
