import { describe, expect, test } from 'vitest';
import { TokenSetSchema, mergeTokenSets } from './provider.ts';

describe('provider', () => {
  const previous = { accessToken: 'a1', refreshToken: 'r1', expiresAt: '2026-11-21T12:00:00.000Z', scope: 'offline' };

  test('a refresh without a refresh token keeps the previous one; a rotated one replaces it', () => {
    const fresh = { accessToken: 'a2', expiresAt: '2026-11-21T13:00:00.000Z', scope: 'offline' };
    expect(mergeTokenSets(previous, fresh)).toEqual({ ...fresh, refreshToken: 'r1' });
    expect(mergeTokenSets(previous, { ...fresh, refreshToken: 'r2' }).refreshToken).toBe('r2');
  });

  test('TokenSetSchema requires an access token and an ISO expiry', () => {
    expect(TokenSetSchema.safeParse(previous).success).toBe(true);
    expect(TokenSetSchema.safeParse({ ...previous, expiresAt: 'in an hour' }).success).toBe(false);
    expect(TokenSetSchema.safeParse({ ...previous, accessToken: '' }).success).toBe(false);
  });
});
