import { describe, expect, test } from 'vitest';
import { allowedRedirectUris, checkRedirectUri } from './redirect.ts';

const secrets = (value: string): Record<string, { name: string; valueString: string }> => ({
  BASELINE_APP_URLS: { name: 'BASELINE_APP_URLS', valueString: value },
});

describe('redirect URI pinning', () => {
  test('the allowed URIs are each app base URL plus the provider callback route', () => {
    expect(allowedRedirectUris(secrets('https://app.example.org/, https://other.example.org/base'), 'whoop')).toEqual([
      'https://app.example.org/connect/whoop/callback',
      'https://other.example.org/base/connect/whoop/callback',
    ]);
  });

  test('without the secret only a loopback app is allowed (development and tests; fails closed in production)', () => {
    expect(allowedRedirectUris(undefined, 'whoop')).toEqual([]);
    expect(() => checkRedirectUri(undefined, 'whoop', 'http://127.0.0.1:3000/connect/whoop/callback')).not.toThrow();
    expect(() => checkRedirectUri(undefined, 'whoop', 'http://localhost:5173/connect/whoop/callback')).not.toThrow();
    for (const bad of [
      'https://app.example.org/connect/whoop/callback',
      'http://127.0.0.1.attacker.example/connect/whoop/callback',
      'http://user@127.0.0.1:3000/connect/whoop/callback',
      'http://127.0.0.1:3000/connect/whoop/callback?next=https://attacker.example',
      'http://127.0.0.1:3000/elsewhere',
    ]) {
      expect(() => checkRedirectUri(undefined, 'whoop', bad)).toThrow('Redirect URI is not allowed');
    }
  });

  test('Redirect URI is not allowed: another host, another path, another provider, a look-alike', () => {
    const s = secrets('https://app.example.org');
    for (const bad of [
      'https://attacker.example/connect/whoop/callback',
      'https://app.example.org/connect/whoop/callback/../../steal',
      'https://app.example.org/connect/oura/callback',
      'https://app.example.org.attacker.example/connect/whoop/callback',
      'https://app.example.org/connect/whoop/callback?x=1',
    ]) {
      expect(() => checkRedirectUri(s, 'whoop', bad)).toThrow('Redirect URI is not allowed');
    }
    expect(() => checkRedirectUri(s, 'whoop', 'https://app.example.org/connect/whoop/callback')).not.toThrow();
  });

  test('entries that are not http(s) URLs are ignored', () => {
    expect(allowedRedirectUris(secrets('javascript:alert(1), not a url, https://ok.example'), 'whoop')).toEqual([
      'https://ok.example/connect/whoop/callback',
    ]);
  });
});
