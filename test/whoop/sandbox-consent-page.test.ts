/**
 * The sandbox's consent page in Chromium, with the demo's two WHOOP people: nobody is preselected, Allow does
 * nothing until the member says who they are, Deny works without a choice, and choosing "Sam Okafor
 * (other@baseline.local)" connects Sam's WHOOP account — what the second demo patient does in the browser.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { DEMO_WHOOP_PEOPLE } from '../../scripts/seed.ts';
import { startWhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';
import type { WhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';
import { launchBrowser, openPage, OUTPUT_DIR } from '../browser/support.ts';

let browser: Browser;
let sandbox: WhoopSandbox;
/** Stands in for the app's callback route: answers every redirect with a blank page. */
let callback: Server;
let redirectUri = '';

beforeAll(async () => {
  callback = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<p>callback</p>'));
  await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', () => resolve()));
  redirectUri = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/connect/whoop/callback`;
  sandbox = await startWhoopSandbox({
    endDate: '2026-10-31',
    days: 5,
    people: DEMO_WHOOP_PEOPLE,
    clients: [{ clientId: 'baseline', clientSecret: 'secret', redirectUris: [redirectUri], name: 'Baseline' }],
  });
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await sandbox?.close();
  callback?.closeAllConnections();
  await new Promise<void>((resolve) => (callback ? callback.close(() => resolve()) : resolve()));
});

function authorizeUrl(): string {
  const url = new URL(`${sandbox.authBaseUrl}/oauth2/auth`);
  url.search = new URLSearchParams({
    client_id: 'baseline',
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'offline read:profile read:recovery',
    state: 'state-0123456789',
  }).toString();
  return url.toString();
}

test('the second demo patient signs in to WHOOP as themselves on the consent page', async () => {
  const { page, pageErrors, context } = await openPage(browser, authorizeUrl(), 'whoop-consent-people');
  try {
    await page.getByText('Sign in to WHOOP as').waitFor();
    const alex = page.getByLabel('Alex Rivera (owner@baseline.local)');
    const sam = page.getByLabel('Sam Okafor (other@baseline.local)');
    expect(await alex.isChecked()).toBe(false);
    expect(await sam.isChecked()).toBe(false);

    // Allow without a choice: the browser keeps the form (the radio group is required).
    await page.getByRole('button', { name: 'Allow' }).click();
    expect(page.url()).toBe(authorizeUrl());

    await sam.check();
    await page.screenshot({ path: `${OUTPUT_DIR}whoop-consent-people.png`, fullPage: true });
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => url.toString().startsWith(redirectUri));
    const code = new URL(page.url()).searchParams.get('code') ?? '';
    expect(code).not.toBe('');

    const tokens = (await (
      await fetch(`${sandbox.authBaseUrl}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirectUri,
          client_id: 'baseline',
          client_secret: 'secret',
        }).toString(),
      })
    ).json()) as { access_token: string };
    const profile = (await (
      await fetch(`${sandbox.apiBaseUrl}/v2/user/profile/basic`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      })
    ).json()) as Record<string, unknown>;
    expect(profile).toMatchObject({ first_name: 'Sam', last_name: 'Okafor', email: 'other@baseline.local' });
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
}, 60_000);

test("with one person (the tests' default) the page names them and Allow needs no choice", async () => {
  const single = await startWhoopSandbox({
    endDate: '2026-10-31',
    days: 5,
    clients: [{ clientId: 'baseline', clientSecret: 'secret', redirectUris: [redirectUri], name: 'Baseline' }],
  });
  const [person] = single.users;
  const { page, context } = await openPage(
    browser,
    authorizeUrl().replace(sandbox.authBaseUrl, single.authBaseUrl),
    'whoop-consent-single'
  );
  try {
    await page.getByText(`${person?.firstName} ${person?.lastName} (${person?.email})`).waitFor();
    expect(await page.getByText('Connect WHOOP as').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => url.toString().startsWith(redirectUri));
    expect(new URL(page.url()).searchParams.get('code')).toBeTruthy();
  } finally {
    await context.close();
    await single.close();
  }
}, 60_000);

test('Deny needs no choice', async () => {
  const { page, context } = await openPage(browser, authorizeUrl(), 'whoop-consent-deny');
  try {
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.waitForURL((url) => url.toString().startsWith(redirectUri));
    expect(new URL(page.url()).searchParams.get('error')).toBe('access_denied');
  } finally {
    await context.close();
  }
}, 60_000);
