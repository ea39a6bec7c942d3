/**
 * Several synthetic people: each is their own WHOOP account with their own data, and the consent page says who is
 * being connected — with one person, that person; with several, the member picks, and nobody is preselected.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { approveConsent, startWhoopSandbox } from './server.ts';
import type { SandboxClient, WhoopSandbox, WhoopSandboxOptions } from './server.ts';

const REDIRECT = 'https://app.baseline.local/connect/whoop/callback';
const APP: SandboxClient = { clientId: 'app', clientSecret: 'app-secret', redirectUris: [REDIRECT], name: 'Baseline' };
const NAMES = [
  { firstName: 'Alex', lastName: 'Rivera', email: 'owner@baseline.local' },
  { firstName: 'Sam', lastName: 'Okafor', email: 'other@baseline.local' },
];

const running: WhoopSandbox[] = [];

async function start(options: Partial<WhoopSandboxOptions> = {}): Promise<WhoopSandbox> {
  const sandbox = await startWhoopSandbox({ seed: 1, endDate: '2026-10-31', days: 10, clients: [APP], ...options });
  running.push(sandbox);
  return sandbox;
}

afterAll(async () => {
  await Promise.all(running.map((sandbox) => sandbox.close()));
});

function authorizeUrl(sandbox: WhoopSandbox): string {
  const url = new URL(`${sandbox.authBaseUrl}/oauth2/auth`);
  url.search = new URLSearchParams({
    client_id: APP.clientId,
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: 'offline read:profile read:recovery',
    state: 'state-0123456789',
  }).toString();
  return url.toString();
}

async function consentForm(sandbox: WhoopSandbox): Promise<{ html: string; challenge: string }> {
  const html = await (await fetch(authorizeUrl(sandbox))).text();
  return { html, challenge: /name="challenge" value="([^"]+)"/.exec(html)?.[1] ?? '' };
}

function answer(sandbox: WhoopSandbox, form: Record<string, string>): Promise<Response> {
  return fetch(`${sandbox.baseUrl}/oauth/oauth2/auth/consent`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
    redirect: 'manual',
  });
}

/** Connects through the consent page as `userId` and returns the WHOOP profile the tokens belong to. */
async function profileAfterConsent(sandbox: WhoopSandbox, userId?: number): Promise<Record<string, unknown>> {
  const location = new URL(await approveConsent(authorizeUrl(sandbox), userId === undefined ? {} : { userId }));
  const tokens = (await (
    await fetch(`${sandbox.authBaseUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: location.searchParams.get('code') ?? '',
        redirect_uri: REDIRECT,
        client_id: APP.clientId,
        client_secret: APP.clientSecret,
      }).toString(),
    })
  ).json()) as { access_token: string };
  const response = await fetch(`${sandbox.apiBaseUrl}/v2/user/profile/basic`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  return (await response.json()) as Record<string, unknown>;
}

describe('one person (the default)', () => {
  test('the consent page names the person being connected; Allow needs no choice', async () => {
    const sandbox = await start();
    const [user] = sandbox.users;
    const { html, challenge } = await consentForm(sandbox);
    expect(html).toContain(`Connect WHOOP as <strong>${user?.firstName} ${user?.lastName} (${user?.email})</strong>`);
    expect(html).not.toContain('type="radio"');
    const allowed = await answer(sandbox, { challenge, decision: 'allow' });
    expect(allowed.status).toBe(302);
    expect(new URL(allowed.headers.get('location') ?? '').searchParams.get('code')).toBeTruthy();
  });
});

describe('several people', () => {
  test('each has their own user id, name and data; names given do not change the data', async () => {
    const named = await start({ people: NAMES });
    const counted = await start({ people: 2 });
    expect(named.users.map((u) => [u.firstName, u.lastName, u.email])).toEqual(
      NAMES.map((n) => [n.firstName, n.lastName, n.email])
    );
    const [first, second] = named.users;
    expect(first?.userId).not.toBe(second?.userId);
    expect(named.userId).toBe(first?.userId);
    expect(named.users.map((u) => u.userId)).toEqual(counted.users.map((u) => u.userId));
    const recoveries = (sandbox: WhoopSandbox, userId?: number): unknown[] =>
      sandbox.control
        .records('recovery', userId === undefined ? {} : { userId })
        .map((r) => (r.score_state === 'SCORED' ? r.score : null));
    expect(recoveries(named, second?.userId)).not.toEqual(recoveries(named, first?.userId));
    expect(recoveries(named, second?.userId)).toEqual(recoveries(counted, second?.userId));
  });

  test('the consent page lists everyone to sign in as, with nobody preselected', async () => {
    const sandbox = await start({ people: NAMES });
    const { html } = await consentForm(sandbox);
    expect(html).toContain('Sign in to WHOOP as');
    for (const user of sandbox.users) {
      expect(html).toContain(`value="${user.userId}" required> ${user.firstName} ${user.lastName} (${user.email})`);
    }
    expect(html).not.toContain('checked');
  });

  test('Allow without choosing is refused; Deny needs no choice', async () => {
    const sandbox = await start({ people: NAMES });
    const refused = await answer(sandbox, { challenge: (await consentForm(sandbox)).challenge, decision: 'allow' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('Choose who signs in to WHOOP');
    const denied = await answer(sandbox, { challenge: (await consentForm(sandbox)).challenge, decision: 'deny' });
    expect(new URL(denied.headers.get('location') ?? '').searchParams.get('error')).toBe('access_denied');
  });

  test('the tokens belong to the person chosen on the page', async () => {
    const sandbox = await start({ people: NAMES });
    const [first, second] = sandbox.users;
    expect(await profileAfterConsent(sandbox, second?.userId)).toEqual({
      user_id: second?.userId,
      email: 'other@baseline.local',
      first_name: 'Sam',
      last_name: 'Okafor',
    });
    // The scripted member signs in as the first person unless told otherwise.
    expect((await profileAfterConsent(sandbox))['user_id']).toBe(first?.userId);
  });
});
