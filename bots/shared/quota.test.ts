import { describe, expect, it } from 'vitest';
import { batchSizeFor, fhirBudget, isThrottled, QuotaPacer, throttledWaitMs } from './quota.ts';

const throttled = {
  resourceType: 'OperationOutcome',
  issue: [
    {
      severity: 'error',
      code: 'throttled',
      details: { text: 'Too Many Requests' },
      diagnostics: '{"_remainingPoints":0,"_msBeforeNext":41000,"limit":50000}',
    },
  ],
} as const;

function client(header: { r: number; t: number } | undefined) {
  return {
    rateLimitStatus: () =>
      header ? [{ name: 'fhirInteractions', remainingUnits: header.r, secondsUntilReset: header.t }] : [],
  };
}

describe('fhirBudget', () => {
  it('reads the fhirInteractions limit from the last response', () => {
    expect(fhirBudget(client({ r: 1200, t: 17 }))).toEqual({ remaining: 1200, resetMs: 17_000 });
  });
  it('is undefined when the server sent no quota header', () => {
    expect(fhirBudget(client(undefined))).toBeUndefined();
    expect(fhirBudget({})).toBeUndefined();
  });
  it('is undefined when the client cannot parse the header', () => {
    expect(
      fhirBudget({
        rateLimitStatus: () => {
          throw new Error('Could not parse RateLimit header');
        },
      })
    ).toBeUndefined();
  });
});

describe('isThrottled / throttledWaitMs', () => {
  it("recognises Medplum's 429 outcome and reads its wait", () => {
    expect(isThrottled(throttled)).toBe(true);
    expect(throttledWaitMs(throttled)).toBe(41_000);
  });
  it('does not treat other errors as throttling', () => {
    expect(isThrottled(new Error('Not found'))).toBe(false);
  });
});

describe('QuotaPacer', () => {
  it('waits for the reset when the next request does not fit above the reserve', async () => {
    const waits: number[] = [];
    const pacer = new QuotaPacer(client({ r: 10_500, t: 30 }), {
      reserve: 10_000,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    expect(pacer.available()).toBe(500);
    await pacer.ensure(100);
    expect(waits).toEqual([]);
    await pacer.ensure(1_000);
    expect(waits).toEqual([30_250]);
    expect(pacer.spend.waitedMs).toBe(30_250);
  });

  it('retries a throttled request after the wait the server named, then succeeds', async () => {
    const waits: number[] = [];
    const pacer = new QuotaPacer(client({ r: 0, t: 5 }), {
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    let calls = 0;
    const result = await pacer.run(100, async () => {
      calls++;
      if (calls === 1) {
        throw throttled;
      }
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(pacer.spend.throttled).toBe(1);
    expect(pacer.spend.points).toBe(200);
    // One wait before the first try (0 remaining), one for the 429 (41 s from its diagnostics).
    expect(waits).toEqual([5_250, 41_250]);
  });

  it('gives up after the allowed attempts with the server error', async () => {
    const pacer = new QuotaPacer(client(undefined), { sleep: async () => undefined });
    await expect(
      pacer.run(
        100,
        async () => {
          throw throttled;
        },
        3
      )
    ).rejects.toBe(throttled);
    expect(pacer.spend.throttled).toBe(2);
  });

  it('does not retry other errors', async () => {
    const pacer = new QuotaPacer(client(undefined), { sleep: async () => undefined });
    await expect(
      pacer.run(20, async () => {
        throw new Error('Forbidden');
      })
    ).rejects.toThrow('Forbidden');
    expect(pacer.spend.throttled).toBe(0);
  });
});

describe('batchSizeFor', () => {
  it('fits the batch to the budget, within bounds', () => {
    expect(batchSizeFor(Number.POSITIVE_INFINITY, 120, 200)).toBe(200);
    expect(batchSizeFor(50_000, 120, 200)).toBe(200);
    expect(batchSizeFor(6_000, 120, 200)).toBe(50);
    expect(batchSizeFor(50, 120, 200)).toBe(1);
  });
});
