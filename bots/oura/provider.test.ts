import { describe, expect, test } from 'vitest';
import type { BotSecrets } from '../shared/secrets.ts';
import { OURA_PROVIDER_MODULE } from './provider.ts';

function secrets(values: Record<string, string>): BotSecrets {
  return Object.fromEntries(Object.entries(values).map(([name, valueString]) => [name, { name, valueString }]));
}

describe('OURA_PROVIDER_MODULE', () => {
  test('declares its secrets, the webhook bot and the real hosts behind every URL secret', () => {
    expect(OURA_PROVIDER_MODULE.key).toBe('oura');
    expect(OURA_PROVIDER_MODULE.requiredSecrets).toEqual(['OURA_CLIENT_ID', 'OURA_CLIENT_SECRET']);
    expect(OURA_PROVIDER_MODULE.optionalSecrets).toEqual(
      expect.arrayContaining([
        'OURA_API_BASE_URL',
        'OURA_AUTH_BASE_URL',
        'OURA_TOKEN_URL',
        'OURA_TIMEOUT_MS',
        'OURA_WEBHOOK_URL',
        'OURA_WEBHOOK_VERIFICATION_TOKEN',
        'OURA_WEBHOOK_SIGNED_ONLY',
      ])
    );
    expect(OURA_PROVIDER_MODULE.urlSecrets).toEqual([
      { name: 'OURA_API_BASE_URL', defaultUrl: 'https://api.ouraring.com' },
      { name: 'OURA_AUTH_BASE_URL', defaultUrl: 'https://cloud.ouraring.com' },
      { name: 'OURA_TOKEN_URL', defaultUrl: 'https://api.ouraring.com/oauth/token', otherHosts: ['moi.ouraring.com'] },
    ]);
    expect(OURA_PROVIDER_MODULE.webhookBot).toMatchObject({
      name: 'oura-webhook',
      source: 'bots/oura/oura-webhook.ts',
      rawBody: true,
    });
  });

  test('its methods are plain closures (callers do not bind `this`)', () => {
    const { authorizeUrl, clientId } = OURA_PROVIDER_MODULE.oauth(
      secrets({ OURA_CLIENT_ID: 'cid', OURA_CLIENT_SECRET: 'cs', OURA_AUTH_BASE_URL: 'https://sandbox.test' })
    );
    expect(clientId).toBe('cid');
    expect(authorizeUrl({ clientId, redirectUri: 'https://app/cb', state: 's'.repeat(43) })).toMatch(
      /^https:\/\/sandbox\.test\/oauth\/authorize\?response_type=code&client_id=cid&/
    );
    const { plan } = OURA_PROVIDER_MODULE.sync(secrets({ OURA_CLIENT_ID: 'cid', OURA_CLIENT_SECRET: 'cs' }));
    expect(typeof plan).toBe('function');
    const hooks = OURA_PROVIDER_MODULE.notifications?.(secrets({ OURA_CLIENT_ID: 'cid', OURA_CLIENT_SECRET: 'cs' }));
    expect(typeof hooks?.maintain).toBe('function');
  });

  test('a missing client secret fails with the secret named', () => {
    expect(() => OURA_PROVIDER_MODULE.oauth(secrets({ OURA_CLIENT_ID: 'cid' }))).toThrow(
      'Missing project secret OURA_CLIENT_SECRET'
    );
  });
});
