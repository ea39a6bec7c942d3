import { OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { ProviderHttpError } from './http.ts';
import { classifyTokenEndpointError, ProviderClientError, storeRefreshed } from './tokens.ts';

function tokenError(oauthError: string, status = 400): ProviderHttpError {
  return new ProviderHttpError({
    provider: 'whoop',
    endpoint: 'POST /oauth2/token',
    kind: 'bad-request',
    status,
    oauthError,
  });
}

describe('token endpoint errors', () => {
  test('invalid_client is an operator error that names the secrets, not their values', () => {
    const err = classifyTokenEndpointError(tokenError('invalid_client', 401), 'whoop');
    expect(err).toBeInstanceOf(ProviderClientError);
    expect((err as Error).message).toBe(
      "whoop rejected Baseline's client credentials (invalid_client): an operator must check the WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET Project secrets"
    );
  });

  test('unauthorized_client is the same operator error', () => {
    expect(classifyTokenEndpointError(tokenError('unauthorized_client'), 'whoop')).toBeInstanceOf(ProviderClientError);
  });

  test('invalid_grant and anything else pass through unchanged (the refresh logic decides)', () => {
    const grant = tokenError('invalid_grant');
    expect(classifyTokenEndpointError(grant, 'whoop')).toBe(grant);
    const other = new Error('network');
    expect(classifyTokenEndpointError(other, 'whoop')).toBe(other);
  });
});

describe('storeRefreshed (tokens a provider has already rotated must not be dropped)', () => {
  const outcome = (code: 'throttled' | 'exception' | 'forbidden', status: string): OperationOutcome => ({
    resourceType: 'OperationOutcome',
    id: status,
    issue: [{ severity: 'error', code, details: { text: status } }],
  });
  function clock(): { now: () => number; pause: (ms: number) => Promise<void>; waits: number[] } {
    let t = 0;
    const waits: number[] = [];
    return {
      now: () => t,
      pause: (ms) => {
        waits.push(ms);
        t += ms;
        return Promise.resolve();
      },
      waits,
    };
  }

  test('a throttled store waits for the quota window and then succeeds', async () => {
    const c = clock();
    let calls = 0;
    const stored = await storeRefreshed(
      () =>
        ++calls === 1 ? Promise.reject(new OperationOutcomeError(outcome('throttled', '429'))) : Promise.resolve('ok'),
      c.pause,
      c.now
    );
    expect(stored).toBe('ok');
    expect(c.waits).toEqual([61_000]);
    // A second throttle within the same store gets only what is left of the 65-second budget, then gives up.
    const d = clock();
    let n = 0;
    await expect(
      storeRefreshed(
        () =>
          ++n < 4 ? Promise.reject(new OperationOutcomeError(outcome('throttled', '429'))) : Promise.resolve('ok'),
        d.pause,
        d.now
      )
    ).rejects.toThrow();
    expect(d.waits).toEqual([61_000, 4_000]);
  });

  test('a failing server is retried; a refusal that is not temporary is thrown at once', async () => {
    const c = clock();
    let calls = 0;
    await expect(
      storeRefreshed(
        () =>
          ++calls < 3 ? Promise.reject(new OperationOutcomeError(outcome('exception', '500'))) : Promise.resolve(1),
        c.pause,
        c.now
      )
    ).resolves.toBe(1);
    expect(c.waits).toEqual([2_000, 2_000]);
    const forbidden = new OperationOutcomeError(outcome('forbidden', '403'));
    await expect(storeRefreshed(() => Promise.reject(forbidden), c.pause, c.now)).rejects.toBe(forbidden);
  });

  test('gives up (throws the last error) once the retry budget is spent', async () => {
    const c = clock();
    const throttled = new OperationOutcomeError(outcome('throttled', '429'));
    await expect(storeRefreshed(() => Promise.reject(throttled), c.pause, c.now)).rejects.toBe(throttled);
    expect(c.waits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(65_000);
  });
});
