import { OperationOutcomeError, tooManyRequests } from '@medplum/core';
import { describe, expect, test } from 'vitest';
import { fhirQuotaReading, parseRateLimit, QuotaMeter, quotaRefusal } from './ratelimit.ts';

function throttled(msBeforeNext: number): OperationOutcomeError {
  return new OperationOutcomeError({
    ...tooManyRequests,
    issue: [
      {
        severity: 'error',
        code: 'throttled',
        details: { text: 'Too Many Requests' },
        diagnostics: JSON.stringify({
          _remainingPoints: 0,
          _msBeforeNext: msBeforeNext,
          _consumedPoints: 50_100,
          _isFirstInDuration: false,
          limit: 50_000,
        }),
      },
    ],
  });
}

describe('parseRateLimit', () => {
  test("Medplum's two limiters, as fetch joins them", () => {
    expect(parseRateLimit('"requests";r=59970;t=30, "fhirInteractions";r=49579;t=38')).toEqual([
      { name: 'requests', remaining: 59970, resetSeconds: 30 },
      { name: 'fhirInteractions', remaining: 49579, resetSeconds: 38 },
    ]);
    expect(fhirQuotaReading('"requests";r=1;t=2, "fhirInteractions";r=0;t=12')).toEqual({
      name: 'fhirInteractions',
      remaining: 0,
      resetSeconds: 12,
    });
  });

  test('absent or malformed', () => {
    expect(parseRateLimit(undefined)).toEqual([]);
    expect(parseRateLimit('garbage, "x";r=a;t=1')).toEqual([]);
    expect(fhirQuotaReading('"requests";r=1;t=2')).toBeUndefined();
  });
});

describe('quotaRefusal', () => {
  test("a 429 outcome gives its reset time from the diagnostics (Medplum's underscored fields)", () => {
    expect(quotaRefusal(throttled(38_000))).toBe(38_000);
  });

  test('a 429 without diagnostics waits the minimum', () => {
    expect(quotaRefusal(new OperationOutcomeError(tooManyRequests))).toBe(0);
  });

  test('other errors are not quota refusals', () => {
    expect(quotaRefusal(new Error('x'))).toBeUndefined();
    expect(
      quotaRefusal(
        new OperationOutcomeError({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'invalid', details: { text: 'bad' } }],
        })
      )
    ).toBeUndefined();
  });
});

describe('QuotaMeter', () => {
  test('waits for the reset on a 429 and runs the request again', async () => {
    const waits: number[] = [];
    const lines: string[] = [];
    const meter = new QuotaMeter({
      readHeader: () => undefined,
      sleep: async (ms) => {
        waits.push(ms);
      },
      log: (line) => lines.push(line),
    });
    let calls = 0;
    const result = await meter.run('search Bot', 20, async () => {
      calls++;
      if (calls === 1) {
        throw throttled(12_000);
      }
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(waits).toEqual([12_250]);
    expect(meter.waits).toBe(1);
    expect(lines).toEqual(['  FHIR quota used up (search Bot): waiting 13 s for it to reset, as Medplum asks']);
  });

  test('gives up after maxWaits refusals and throws the 429', async () => {
    const meter = new QuotaMeter({ readHeader: () => undefined, sleep: async () => undefined, maxWaits: 2 });
    let calls = 0;
    await expect(
      meter.run('x', 1, async () => {
        calls++;
        throw throttled(1000);
      })
    ).rejects.toThrow('Too Many Requests');
    expect(calls).toBe(3);
  });

  test('other errors are not retried', async () => {
    const meter = new QuotaMeter({ readHeader: () => undefined, sleep: async () => undefined });
    let calls = 0;
    await expect(
      meter.run('x', 1, async () => {
        calls++;
        throw new Error('boom');
      })
    ).rejects.toThrow('boom');
    expect(calls).toBe(1);
  });

  test('adds up points from the header: list price for the first response, then the differences', async () => {
    let header: string | undefined;
    let now = 0;
    const meter = new QuotaMeter({ readHeader: () => header, now: () => now });
    header = '"fhirInteractions";r=49980;t=60';
    await meter.run('search', 20, async () => undefined);
    expect(meter.spent).toBe(20);
    header = '"fhirInteractions";r=49880;t=59';
    now = 1000;
    await meter.run('write', 100, async () => undefined);
    expect(meter.spent).toBe(120);
    // An admin API call carries no header: the client still holds the last one, nothing is added.
    await meter.run('admin', 200, async () => undefined);
    expect(meter.spent).toBe(120);
    // ...and the next FHIR response shows what both spent.
    header = '"fhirInteractions";r=49660;t=59';
    await meter.run('search', 20, async () => undefined);
    expect(meter.spent).toBe(340);
    expect(meter.lastReading?.remaining).toBe(49660);
  });

  test('a new window counts the request at its list price', async () => {
    let header: string | undefined;
    let now = 0;
    const meter = new QuotaMeter({ readHeader: () => header, now: () => now });
    header = '"fhirInteractions";r=100;t=1';
    await meter.run('a', 20, async () => undefined);
    header = '"fhirInteractions";r=49980;t=60';
    now = 2000;
    await meter.run('b', 20, async () => undefined);
    expect(meter.spent).toBe(40);
  });

  test('no header: nothing to report', async () => {
    const meter = new QuotaMeter({ readHeader: () => undefined });
    await meter.run('a', 20, async () => undefined);
    expect(meter.spent).toBeUndefined();
  });
});

test("the header another caller left on the client is not this meter's spending", async () => {
  let header = '"fhirInteractions";r=40000;t=20';
  const meter = new QuotaMeter({ readHeader: () => header, now: () => 0 });
  await meter.run('admin call without a header', 200, async () => undefined);
  expect(meter.spent).toBeUndefined();
  header = '"fhirInteractions";r=49999;t=60';
  await meter.run('read', 1, async () => undefined);
  expect(meter.spent).toBe(1);
});
