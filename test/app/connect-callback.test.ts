import { describe, expect, test } from 'vitest';
import { connectRedirectUri, parseConnectCallback, stripOAuthParams } from '../../app/src/lib/connect-callback.ts';

describe('parseConnectCallback', () => {
  test('an OAuth error wins, even beside a code', () => {
    expect(parseConnectCallback('?error=access_denied&error_description=User+declined&code=c&state=s')).toEqual({
      kind: 'error',
      error: 'access_denied',
      description: 'User declined',
    });
  });

  test('an error without a description', () => {
    expect(parseConnectCallback('?error=server_error')).toEqual({
      kind: 'error',
      error: 'server_error',
      description: undefined,
    });
  });

  test.each(['', '?code=abc', '?state=xyz', '?code=&state=xyz'])('%s has nothing to send', (search) => {
    expect(parseConnectCallback(search)).toEqual({ kind: 'missing' });
  });

  test('code and state', () => {
    expect(parseConnectCallback('?code=abc%2Fdef&state=s-1&scope=read%3Asleep')).toEqual({
      kind: 'code',
      code: 'abc/def',
      state: 's-1',
    });
  });
});

describe('stripOAuthParams', () => {
  test('removes code, state and scope and keeps everything else', () => {
    expect(stripOAuthParams('https://app.example/connect/whoop/callback?code=c&state=s&scope=x&keep=1#frag')).toBe(
      '/connect/whoop/callback?keep=1#frag'
    );
  });

  test('leaves a bare path when nothing else was there', () => {
    expect(stripOAuthParams('http://127.0.0.1:3000/connect/whoop/callback?code=c&state=s')).toBe(
      '/connect/whoop/callback'
    );
  });
});

test('connectRedirectUri is the app origin plus the provider callback path', () => {
  expect(connectRedirectUri('https://app.example', 'whoop')).toBe('https://app.example/connect/whoop/callback');
});
