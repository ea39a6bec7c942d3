/**
 * Medplum 5's FHIR quota (packages/server/src/fhir/fhirquota.ts + context.ts getFhirRateLimiter), reproduced so that
 * code which is fine locally is fine on a default-configured server:
 * - every FHIR interaction of a membership spends points: write (create, update — even a no-op —, patch, delete) 100,
 *   search 20 (× references for searchByReference), read 1 (× references), history 10; a batch/transaction costs
 *   nothing itself, only its entries;
 * - two fixed 60-second windows (rate-limiter-flexible semantics: the window starts at the first point spent and the
 *   count keeps growing past the limit, also for refused requests): one per membership (limit: the membership's
 *   UserConfiguration option `fhirQuota`, else the `userFhirQuota` system setting, else the server's
 *   `defaultFhirQuota`, 50,000) and one per project (`totalFhirQuota`, else 10 × the user limit);
 * - over either limit the interaction throws the 429 `too-many-requests` OperationOutcome whose diagnostics are the
 *   limiter's JSON; once a request has seen 0 remaining points, every later interaction of that request is refused
 *   without spending (so every further batch entry gets its own 429 while the batch answers 200);
 * - `Project.systemSetting` `enableFhirQuota: false` keeps counting but never refuses;
 * - every authenticated FHIR response carries `RateLimit: "fhirInteractions";r=<remaining>;t=<seconds>`.
 * The separate per-IP request limiter (`"requests"`, 60,000/min, 160/min for auth URLs) is `RequestRateLimiter`.
 */
import { deepClone, OperationOutcomeError, tooManyRequests } from '@medplum/core';
import type { Project, UserConfiguration } from '@medplum/fhirtypes';

/** Medplum's `defaultFhirQuota` server setting. */
export const DEFAULT_FHIR_QUOTA = 50_000;
const WINDOW_MS = 60_000;

export const QUOTA_POINTS = { read: 1, history: 10, search: 20, write: 100 } as const;

/** What rate-limiter-flexible's RateLimiterRes holds; field order matters, it is serialised into diagnostics. */
export interface LimiterResult {
  _remainingPoints: number;
  _msBeforeNext: number;
  _consumedPoints: number;
  _isFirstInDuration: boolean;
}

interface Window {
  consumed: number;
  resetAt: number;
}

/** Fixed-window counters shared by every request (Medplum keeps them in Redis). */
export class QuotaLedger {
  private readonly windows = new Map<string, Window>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** Adds `points` to `key` and reports the state; `rejected` when the count is now above `limit`. */
  consume(key: string, limit: number, points: number): { result: LimiterResult; rejected: boolean } {
    const now = this.now();
    let window = this.windows.get(key);
    let first = false;
    if (!window || window.resetAt <= now) {
      window = { consumed: 0, resetAt: now + WINDOW_MS };
      this.windows.set(key, window);
      first = true;
    }
    window.consumed += points;
    const result: LimiterResult = {
      _remainingPoints: Math.max(limit - window.consumed, 0),
      _msBeforeNext: Math.max(window.resetAt - now, 0),
      _consumedPoints: window.consumed,
      _isFirstInDuration: first,
    };
    return { result, rejected: window.consumed > limit };
  }

  /** Forgets every window (a super admin lifting a quota does not reset counters on Medplum; tests may). */
  reset(): void {
    this.windows.clear();
  }
}

export interface QuotaLimits {
  user: number;
  total: number;
  enabled: boolean;
}

function integerSetting(project: Project, name: string): number | undefined {
  return project.systemSetting?.find((s) => s.name === name)?.valueInteger;
}

/**
 * The limits for one request, read from the project (and the membership's UserConfiguration) as they are now —
 * Medplum reads them per request: `UserConfiguration.option` `fhirQuota`, else the project's `userFhirQuota`, else
 * the server default; the project total `totalFhirQuota`, else 10 × the user limit.
 */
export function quotaLimits(project: Project, defaultFhirQuota: number, userConfig?: UserConfiguration): QuotaLimits {
  const userSpecific = userConfig?.option?.find((o) => o.id === 'fhirQuota')?.valueInteger;
  const user = userSpecific ?? integerSetting(project, 'userFhirQuota') ?? defaultFhirQuota;
  const total = integerSetting(project, 'totalFhirQuota') ?? user * 10;
  const enabled = project.systemSetting?.find((s) => s.name === 'enableFhirQuota')?.valueBoolean !== false;
  return { user, total, enabled };
}

/** Per-request limiter, as Medplum's FhirRateLimiter (one per authenticated request context). */
export class FhirRateLimiter {
  private readonly ledger: QuotaLedger;
  private readonly membershipId: string;
  private readonly projectId: string;
  private readonly limits: QuotaLimits;
  private readonly onSpend: (points: number) => void;
  private current: LimiterResult | undefined;
  private spent = 0;

  constructor(options: {
    ledger: QuotaLedger;
    membershipId: string;
    projectId: string;
    limits: QuotaLimits;
    onSpend?: (points: number) => void;
  }) {
    this.ledger = options.ledger;
    this.membershipId = options.membershipId;
    this.projectId = options.projectId;
    this.limits = options.limits;
    this.onSpend = options.onSpend ?? ((): void => undefined);
  }

  /** Points this request has spent (including refused attempts, as Medplum's counter does). */
  get unitsConsumed(): number {
    return this.spent;
  }

  /** The `RateLimit` header value, once the request has spent anything (Medplum adds none before). */
  header(): string | undefined {
    if (!this.current) {
      return undefined;
    }
    const t = Math.ceil(this.current._msBeforeNext / 1000);
    return `"fhirInteractions";r=${this.current._remainingPoints};t=${t}`;
  }

  consume(points: number): void {
    if (this.current && this.current._remainingPoints <= 0) {
      this.block(this.current);
      return;
    }
    this.spent += points;
    this.onSpend(points);
    const user = this.ledger.consume(`membership:${this.membershipId}`, this.limits.user, points);
    if (user.rejected) {
      this.current = user.result;
      this.block(user.result);
      return;
    }
    const project = this.ledger.consume(`project:${this.projectId}`, this.limits.total, points);
    if (project.rejected) {
      this.current = project.result;
      this.block(project.result);
      return;
    }
    this.current = project.result._remainingPoints < user.result._remainingPoints ? project.result : user.result;
  }

  private block(result: LimiterResult): void {
    if (!this.limits.enabled) {
      return;
    }
    const outcome = deepClone(tooManyRequests);
    const issue = outcome.issue[0];
    if (issue) {
      // `limit` is always the per-membership limit, also when the project total refused (as on Medplum).
      issue.diagnostics = JSON.stringify({ ...result, limit: this.limits.user });
    }
    throw new OperationOutcomeError(outcome);
  }

  recordRead(num = 1): void {
    this.consume(QUOTA_POINTS.read * Math.max(num, 1));
  }

  recordHistory(): void {
    this.consume(QUOTA_POINTS.history);
  }

  recordSearch(num = 1): void {
    this.consume(QUOTA_POINTS.search * Math.max(num, 1));
  }

  recordWrite(): void {
    this.consume(QUOTA_POINTS.write);
  }
}

/** Medplum's default per-IP request limits (ratelimit.ts): 60,000/min, 160/min for /auth/* and /oauth2/*. */
export const DEFAULT_RATE_LIMIT = 60_000;
export const DEFAULT_AUTH_RATE_LIMIT = 160;

/**
 * The per-IP `"requests"` limiter every Medplum response passes through first (it adds its own `RateLimit` header).
 * `/auth/me` counts as a normal request.
 */
export class RequestRateLimiter {
  private readonly ledger: QuotaLedger;
  private readonly limit: number;
  private readonly authLimit: number;

  constructor(options: { ledger?: QuotaLedger; limit?: number; authLimit?: number } = {}) {
    this.ledger = options.ledger ?? new QuotaLedger();
    this.limit = options.limit ?? DEFAULT_RATE_LIMIT;
    this.authLimit = options.authLimit ?? DEFAULT_AUTH_RATE_LIMIT;
  }

  /** Counts one request; returns the header value, and the 429 outcome when over the limit. */
  consume(ip: string, path: string): { header: string; refused?: OperationOutcomeError } {
    const isAuth = path !== '/auth/me' && (path.startsWith('/auth/') || path.startsWith('/oauth2/'));
    const limit = isAuth ? this.authLimit : this.limit;
    const { result, rejected } = this.ledger.consume(`${ip}${isAuth ? ':auth' : ''}`, limit, 1);
    const header = `"requests";r=${result._remainingPoints};t=${Math.ceil(result._msBeforeNext / 1000)}`;
    if (!rejected) {
      return { header };
    }
    const outcome = deepClone(tooManyRequests);
    const issue = outcome.issue[0];
    if (issue) {
      issue.diagnostics = JSON.stringify({ ...result, limit });
    }
    return { header, refused: new OperationOutcomeError(outcome) };
  }
}
