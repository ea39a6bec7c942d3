import { describe, expect, test } from 'vitest';
import { CODE_TTL_MS, OLD_REFRESH_GRACE_MS, signWithings, WithingsOAuth } from './oauth.ts';

const REDIRECT = 'https://app.example/cb';
const CLIENT = { clientId: 'client', clientSecret: 'secret', redirectUris: [REDIRECT] };

function setup(): { oauth: WithingsOAuth; clock: { at: number } } {
  const clock = { at: Date.parse('2026-11-01T00:00:00Z') };
  const oauth = new WithingsOAuth({ clients: [CLIENT], now: () => clock.at, accessTokenTtlSeconds: 10_800 });
  return { oauth, clock };
}

function form(values: Record<string, string>): URLSearchParams {
  return new URLSearchParams(values);
}

function code(oauth: WithingsOAuth, scope = 'user.metrics,user.activity'): string {
  const check = oauth.checkAuthorize(
    form({ client_id: 'client', redirect_uri: REDIRECT, response_type: 'code', scope, state: 's' })
  );
  if (check.kind !== 'consent') {
    throw new Error(JSON.stringify(check));
  }
  const decision = oauth.decide(oauth.createChallenge(check.request), true, 42);
  if ('error' in decision) {
    throw new Error(decision.error);
  }
  return new URL(decision.location).searchParams.get('code') ?? '';
}

function exchange(oauth: WithingsOAuth, value: string): ReturnType<WithingsOAuth['requestToken']> {
  return oauth.requestToken(
    form({
      grant_type: 'authorization_code',
      client_id: 'client',
      client_secret: 'secret',
      code: value,
      redirect_uri: REDIRECT,
    })
  );
}

function refresh(oauth: WithingsOAuth, token: string): ReturnType<WithingsOAuth['requestToken']> {
  return oauth.requestToken(
    form({ grant_type: 'refresh_token', client_id: 'client', client_secret: 'secret', refresh_token: token })
  );
}

describe('WithingsOAuth', () => {
  test('the signature is hex HMAC-SHA256 over the comma-joined values (a known vector)', () => {
    // echo -n "getnonce,client,1700000000" | openssl dgst -sha256 -hmac secret
    expect(signWithings('secret', ['getnonce', 'client', '1700000000'])).toBe(
      '4b8337ee03dce86858470675ac49d649acea0f1afaaafcd539b925f6e26084ee'
    );
    expect(signWithings('secret', ['a', 'b'])).not.toBe(signWithings('secret', ['a,b', '']));
  });

  test('scopes are comma-separated and echoed comma-separated; the body has the documented fields', () => {
    const { oauth } = setup();
    const answer = exchange(oauth, code(oauth));
    expect(answer.status).toBe(0);
    expect(Object.keys(answer.body).sort()).toEqual(
      ['access_token', 'csrf_token', 'expires_in', 'refresh_token', 'scope', 'token_type', 'userid'].sort()
    );
    expect(answer.body['scope']).toBe('user.metrics,user.activity');
    expect(answer.body['userid']).toBe(42);
  });

  test('a code expires after 30 s', () => {
    const { oauth, clock } = setup();
    const value = code(oauth);
    clock.at += CODE_TTL_MS;
    expect(exchange(oauth, value)).toMatchObject({ status: 503, error: 'Invalid Params: invalid code' });
  });

  test('rotation: the old refresh token lives until the new access token is used, or 8 h', () => {
    const { oauth, clock } = setup();
    const first = exchange(oauth, code(oauth)).body;
    const second = refresh(oauth, String(first['refresh_token'])).body;
    clock.at += OLD_REFRESH_GRACE_MS - 1;
    const third = refresh(oauth, String(first['refresh_token']));
    expect(third.status).toBe(0);
    expect(oauth.authenticate(`Bearer ${String(third.body['access_token'])}`)).toBeDefined();
    expect(refresh(oauth, String(first['refresh_token'])).status).toBe(503);
    expect(refresh(oauth, String(second['refresh_token'])).status).toBe(503);
    const fourth = refresh(oauth, String(third.body['refresh_token']));
    expect(fourth.status).toBe(0);
    clock.at += OLD_REFRESH_GRACE_MS;
    expect(refresh(oauth, String(third.body['refresh_token'])).status).toBe(503);
    expect(refresh(oauth, String(fourth.body['refresh_token'])).status).toBe(0);
  });

  test('signed token requests: nonce + signature instead of the secret, the nonce single-use', () => {
    const { oauth, clock } = setup();
    const timestamp = String(Math.floor(clock.at / 1000));
    const nonce = String(
      oauth.getNonce(
        form({ client_id: 'client', timestamp, signature: signWithings('secret', ['getnonce', 'client', timestamp]) })
      ).body['nonce']
    );
    const signed = (value: string): ReturnType<WithingsOAuth['requestToken']> =>
      oauth.requestToken(
        form({
          grant_type: 'authorization_code',
          client_id: 'client',
          nonce,
          signature: signWithings('secret', ['requesttoken', 'client', nonce]),
          code: value,
          redirect_uri: REDIRECT,
        })
      );
    expect(signed(code(oauth)).status).toBe(0);
    expect(signed(code(oauth))).toMatchObject({ status: 503, error: 'Invalid Params: invalid nonce' });
  });

  test('state survives export/import (rotation included)', () => {
    const { oauth, clock } = setup();
    const first = exchange(oauth, code(oauth)).body;
    const second = refresh(oauth, String(first['refresh_token'])).body;
    const copy = new WithingsOAuth({ clients: [CLIENT], now: () => clock.at, accessTokenTtlSeconds: 10_800 });
    copy.importState(structuredClone(oauth.exportState()));
    expect(copy.authenticate(`Bearer ${String(second['access_token'])}`)?.userId).toBe(42);
    expect(refresh(copy, String(first['refresh_token'])).status).toBe(503);
    expect(refresh(copy, String(second['refresh_token'])).status).toBe(0);
  });
});
