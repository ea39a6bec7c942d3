import { describe, expect, test } from 'vitest';
import { BOT_DEFINITIONS } from './bots.ts';
import { providerSecretStatus, providerUrlProblems, requiredSecrets } from './project.ts';

describe('providerUrlProblems', () => {
  test("unset, or WHOOP's own host: nothing to say", () => {
    expect(providerUrlProblems(undefined)).toEqual([]);
    expect(
      providerUrlProblems([
        { name: 'WHOOP_API_BASE_URL', valueString: 'https://api.prod.whoop.com/developer' },
        { name: 'WHOOP_AUTH_BASE_URL', valueString: 'https://api.prod.whoop.com/oauth/' },
      ])
    ).toEqual([]);
  });

  test('the sandbox, plain http and a look-alike host are named with the host only', () => {
    expect(
      providerUrlProblems([
        { name: 'WHOOP_API_BASE_URL', valueString: 'http://127.0.0.1:8110/developer?token=x' },
        { name: 'WHOOP_AUTH_BASE_URL', valueString: 'https://api.prod.whoop.com.evil.example/oauth' },
      ])
    ).toEqual([
      'WHOOP_API_BASE_URL points at http://127.0.0.1:8110, not https://api.prod.whoop.com',
      'WHOOP_AUTH_BASE_URL points at https://api.prod.whoop.com.evil.example, not https://api.prod.whoop.com',
    ]);
    expect(
      providerUrlProblems([{ name: 'WHOOP_API_BASE_URL', valueString: 'http://api.prod.whoop.com/developer' }])
    ).toEqual(['WHOOP_API_BASE_URL points at http://api.prod.whoop.com, not https://api.prod.whoop.com']);
  });

  test('not a URL', () => {
    expect(providerUrlProblems([{ name: 'WHOOP_AUTH_BASE_URL', valueString: 'whoop' }])).toEqual([
      'WHOOP_AUTH_BASE_URL is not a URL (expected https://api.prod.whoop.com/...)',
    ]);
  });
});

describe('requiredSecrets', () => {
  test('only the token key is required of every deployment; provider secrets are per provider', () => {
    expect(requiredSecrets(BOT_DEFINITIONS)).toEqual(['BASELINE_TOKEN_KEY', 'BASELINE_TOKEN_KEY_ID']);
  });
});

test("Oura's new-portal token host is Oura's own; a look-alike is not", () => {
  expect(
    providerUrlProblems([{ name: 'OURA_TOKEN_URL', valueString: 'https://moi.ouraring.com/oauth/v2/ext/oauth-token' }])
  ).toEqual([]);
  expect(
    providerUrlProblems([{ name: 'OURA_TOKEN_URL', valueString: 'https://moi.ouraring.com.evil.example/oauth/token' }])
  ).toEqual(['OURA_TOKEN_URL points at https://moi.ouraring.com.evil.example, not https://api.ouraring.com']);
});

describe('providerSecretStatus', () => {
  test('a provider is ready when its client credentials are set, and names what is missing otherwise', () => {
    const status = providerSecretStatus([
      { name: 'WHOOP_CLIENT_ID', valueString: 'id' },
      { name: 'WHOOP_CLIENT_SECRET', valueString: 'secret' },
    ]);
    expect(status.find((p) => p.provider === 'whoop')).toEqual({ provider: 'whoop', name: 'WHOOP', missing: [] });
    expect(providerSecretStatus([{ name: 'WHOOP_CLIENT_ID', valueString: '' }])[0]?.missing).toEqual([
      'WHOOP_CLIENT_ID',
      'WHOOP_CLIENT_SECRET',
    ]);
  });
});
