import { OperationOutcomeError } from '@medplum/core';
import type { Project } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { FhirRateLimiter, QuotaLedger, quotaLimits, RequestRateLimiter } from './quota.ts';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function limiter(
  ledger: QuotaLedger,
  user = 1000,
  total = 10_000,
  enabled = true,
  membershipId = 'm1'
): FhirRateLimiter {
  return new FhirRateLimiter({ ledger, membershipId, projectId: 'p1', limits: { user, total, enabled } });
}

function diagnostics(err: unknown): Record<string, unknown> {
  expect(err).toBeInstanceOf(OperationOutcomeError);
  const outcome = (err as OperationOutcomeError).outcome;
  expect(outcome.id).toBe('too-many-requests');
  expect(outcome.issue[0]?.code).toBe('throttled');
  expect(outcome.issue[0]?.details?.text).toBe('Too Many Requests');
  return JSON.parse(outcome.issue[0]?.diagnostics ?? '{}') as Record<string, unknown>;
}

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('QuotaLedger (rate-limiter-flexible fixed windows)', () => {
  test('the window starts at the first point and lasts 60 s; the count keeps growing past the limit', () => {
    const c = clock();
    const ledger = new QuotaLedger(c.now);
    const first = ledger.consume('k', 100, 60);
    expect(first).toEqual({
      result: { _remainingPoints: 40, _msBeforeNext: 60_000, _consumedPoints: 60, _isFirstInDuration: true },
      rejected: false,
    });
    c.advance(10_000);
    const over = ledger.consume('k', 100, 60);
    expect(over).toEqual({
      result: { _remainingPoints: 0, _msBeforeNext: 50_000, _consumedPoints: 120, _isFirstInDuration: false },
      rejected: true,
    });
    c.advance(50_000);
    expect(ledger.consume('k', 100, 1).result).toMatchObject({ _consumedPoints: 1, _isFirstInDuration: true });
  });
});

describe('FhirRateLimiter', () => {
  test('costs: read 1 (× references), history 10, search 20 (× references), write 100', () => {
    const ledger = new QuotaLedger(clock().now);
    const l = limiter(ledger);
    l.recordRead();
    l.recordRead(3);
    l.recordHistory();
    l.recordSearch();
    l.recordSearch(2);
    l.recordWrite();
    expect(l.unitsConsumed).toBe(1 + 3 + 10 + 20 + 40 + 100);
    expect(l.header()).toBe(`"fhirInteractions";r=${1000 - 174};t=60`);
  });

  test('no header before anything was spent', () => {
    expect(limiter(new QuotaLedger()).header()).toBeUndefined();
  });

  test('over the membership budget: 429 with the limiter JSON, then every later interaction refused unspent', () => {
    const ledger = new QuotaLedger(clock().now);
    const l = limiter(ledger, 150);
    l.recordWrite();
    const err = thrown(() => l.recordWrite());
    expect(diagnostics(err)).toEqual({
      _remainingPoints: 0,
      _msBeforeNext: 60_000,
      _consumedPoints: 200,
      _isFirstInDuration: false,
      limit: 150,
    });
    // Later entries of the same request (batch entries) are refused with the same state and spend nothing.
    expect(diagnostics(thrown(() => l.recordRead()))._consumedPoints).toBe(200);
    expect(l.unitsConsumed).toBe(200);
    expect(l.header()).toBe('"fhirInteractions";r=0;t=60');
  });

  test('exactly reaching the limit succeeds; the next interaction of that request is refused', () => {
    const ledger = new QuotaLedger(clock().now);
    const l = limiter(ledger, 40);
    l.recordSearch();
    l.recordSearch();
    expect(diagnostics(thrown(() => l.recordRead()))._consumedPoints).toBe(40);
  });

  test('the project total refuses too, and the diagnostics still name the membership limit', () => {
    const ledger = new QuotaLedger(clock().now);
    limiter(ledger, 1000, 150, true, 'a').recordWrite();
    const b = limiter(ledger, 1000, 150, true, 'b');
    expect(diagnostics(thrown(() => b.recordWrite()))).toMatchObject({ _consumedPoints: 200, limit: 1000 });
  });

  test('the header reports the tighter of the membership and project budgets', () => {
    const ledger = new QuotaLedger(clock().now);
    const a = limiter(ledger, 1000, 1200, true, 'a');
    a.recordWrite();
    const b = limiter(ledger, 1000, 1200, true, 'b');
    b.recordWrite();
    expect(b.header()).toBe('"fhirInteractions";r=900;t=60'); // membership 900 left, project 1000
    for (let i = 0; i < 4; i++) {
      a.recordWrite();
    }
    b.recordWrite();
    expect(b.header()).toBe('"fhirInteractions";r=500;t=60'); // membership 800 left, project 500
  });

  test('enableFhirQuota=false never refuses; each request still counts until it sees 0 left (as Medplum)', () => {
    const ledger = new QuotaLedger(clock().now);
    const first = limiter(ledger, 100, 1000, false);
    first.recordWrite();
    first.recordWrite();
    first.recordWrite();
    expect(first.unitsConsumed).toBe(100);
    expect(first.header()).toBe('"fhirInteractions";r=0;t=60');
    const second = limiter(ledger, 100, 1000, false);
    second.recordWrite();
    expect(ledger.consume('membership:m1', 100, 0).result._consumedPoints).toBe(200);
  });
});

describe('quotaLimits', () => {
  const project = (systemSetting: Project['systemSetting']): Project => ({ resourceType: 'Project', systemSetting });
  test('defaults: the server quota per membership, 10 × that per project', () => {
    expect(quotaLimits(project(undefined), 50_000)).toEqual({ user: 50_000, total: 500_000, enabled: true });
  });
  test('userFhirQuota / totalFhirQuota / enableFhirQuota system settings override', () => {
    expect(
      quotaLimits(
        project([
          { name: 'userFhirQuota', valueInteger: 700 },
          { name: 'enableFhirQuota', valueBoolean: false },
        ]),
        50_000
      )
    ).toEqual({ user: 700, total: 7000, enabled: false });
    expect(quotaLimits(project([{ name: 'totalFhirQuota', valueInteger: 900 }]), 500)).toEqual({
      user: 500,
      total: 900,
      enabled: true,
    });
  });
});

describe('quotaLimits with a UserConfiguration', () => {
  test('the membership option fhirQuota wins over the project setting; the total follows it', () => {
    const project: Project = { resourceType: 'Project', systemSetting: [{ name: 'userFhirQuota', valueInteger: 700 }] };
    expect(
      quotaLimits(project, 50_000, {
        resourceType: 'UserConfiguration',
        option: [{ id: 'fhirQuota', valueInteger: 90 }],
      })
    ).toEqual({ user: 90, total: 900, enabled: true });
  });
});

describe('RequestRateLimiter', () => {
  test('auth URLs have their own, smaller budget; /auth/me counts as a normal request', () => {
    const r = new RequestRateLimiter({ ledger: new QuotaLedger(clock().now), limit: 5, authLimit: 2 });
    expect(r.consume('ip', '/fhir/R4/Patient').header).toBe('"requests";r=4;t=60');
    expect(r.consume('ip', '/auth/me').header).toBe('"requests";r=3;t=60');
    expect(r.consume('ip', '/oauth2/token').header).toBe('"requests";r=1;t=60');
    expect(r.consume('ip', '/auth/login').refused).toBeUndefined();
    const refused = r.consume('ip', '/auth/login');
    expect(refused.header).toBe('"requests";r=0;t=60');
    expect(refused.refused?.outcome.issue[0]?.code).toBe('throttled');
  });
});
