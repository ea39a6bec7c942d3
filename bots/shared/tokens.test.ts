import { describe, expect, test } from 'vitest';
import { ProviderHttpError } from './http.ts';
import { classifyTokenEndpointError, ProviderClientError } from './tokens.ts';

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
