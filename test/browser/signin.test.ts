/**
 * The patient app in a real browser against the local stack: Medplum's SignInForm (email → password, PKCE through
 * /auth/method, /auth/login, /oauth2/token, /auth/me), the owner's home, the clinician placeholder and sign-out
 * (/oauth2/logout). The stack builds app/dist and serves it with a /config.js pointing at itself.
 */
import { formatHumanName } from '@medplum/core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, onTestFailed, test } from 'vitest';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { launchBrowser, OUTPUT_DIR, signIn } from './support.ts';

const UI_TIMEOUT_MS = 15_000;

let stack: TestStack | undefined;
let browser: Browser | undefined;
let context: BrowserContext | undefined;

beforeAll(async () => {
  stack = await startTestStack({ withApp: true, whoop: { days: 2 } });
  browser = await launchBrowser();
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await stack?.stop();
});

function requireStack(): TestStack {
  if (!stack) {
    throw new Error('test stack did not start');
  }
  return stack;
}

/**
 * A fresh browser profile per test, collecting uncaught page errors so a test can assert there were none, and
 * saving a screenshot of the page as it was when the test failed.
 */
async function openApp(name: string): Promise<{ page: Page; pageErrors: string[] }> {
  if (!browser) {
    throw new Error('browser did not launch');
  }
  // The previous test's context stays open until here so its failure screenshot (taken after the test) can be saved.
  await context?.close();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  onTestFailed(async () => {
    await page.screenshot({ path: `${OUTPUT_DIR}failed-${name}.png`, fullPage: true });
  });
  await page.goto(requireStack().appUrl);
  return { page, pageErrors };
}

/** The profile's display name, read over the API outside the browser (independent of the app's UI). */
async function profileName(who: 'owner' | 'clinician'): Promise<string> {
  const medplum = await requireStack().signIn(who);
  const profile = medplum.getProfile();
  const name = profile?.name?.[0];
  if (!profile || !name) {
    throw new Error(`the ${who} demo login has no profile name`);
  }
  return formatHumanName(name);
}

test('owner signs in, sees the greeting and the connect-a-device state, and signs out', async () => {
  const { owner } = requireStack().logins;
  const expectedName = await profileName('owner');
  const { page, pageErrors } = await openApp('owner');

  await signIn(page, owner);

  const greeting = page.getByTestId('greeting');
  await greeting.waitFor();
  expect(await greeting.textContent()).toBe(`Welcome, ${expectedName}`);
  expect(new URL(page.url()).pathname).toBe('/');

  await page.getByRole('heading', { name: 'Connect a device' }).waitFor();
  // WHOOP is set up on this server: its card asks the connections bot, then offers to connect.
  const whoop = page.getByTestId('device-card-WHOOP');
  await whoop.getByRole('button', { name: 'Connect WHOOP' }).waitFor();
  expect(await whoop.getByText('Not connected', { exact: true }).isVisible()).toBe(true);
  expect(await whoop.getByRole('button', { name: 'Connect WHOOP' }).isEnabled()).toBe(true);
  for (const provider of ['Withings', 'Oura']) {
    const card = page.getByTestId(`device-card-${provider}`);
    expect(await card.getByText('Not connected', { exact: true }).isVisible()).toBe(true);
    // This test's server sets up WHOOP only: the card says so instead of a connect button that would fail.
    expect(
      await card.getByRole('button', { name: `Connect ${provider} (not offered on this server)` }).isDisabled()
    ).toBe(true);
  }
  await page.screenshot({ path: `${OUTPUT_DIR}home.png`, fullPage: true });

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/signin$/);
  await page.locator('input[name="email"]').waitFor();
  // MedplumClient keeps the session in localStorage under `activeLogin`; sign-out must remove it.
  const storage = await page.context().storageState();
  const appOrigin = new URL(requireStack().appUrl).origin;
  const appStorage = storage.origins.find((o) => o.origin === appOrigin)?.localStorage ?? [];
  expect(appStorage.map((item) => item.name)).not.toContain('activeLogin');

  // The session is really gone, not just hidden: a reload stays on sign-in.
  await page.reload();
  await page.waitForURL(/\/signin$/);
  await page.locator('input[name="email"]').waitFor();
  expect(await page.getByTestId('greeting').count()).toBe(0);

  expect(pageErrors).toEqual([]);
});

test('clinician signs in and sees the clinician view (no one has shared yet), not a patient home', async () => {
  const { clinician } = requireStack().logins;
  const { page, pageErrors } = await openApp('clinician');

  await signIn(page, clinician);

  await page.getByTestId('clinician-heading').waitFor();
  expect(await page.getByTestId('signed-in-as').textContent()).toBe(await profileName('clinician'));
  await page.getByTestId('clinician-no-access').waitFor();
  expect(await page.getByTestId('clinician-no-access').textContent()).toContain('No one has shared data with you yet');
  expect(await page.getByTestId('greeting').count()).toBe(0);
  expect(await page.getByRole('heading', { name: 'Connect a device' }).count()).toBe(0);
  await page.screenshot({ path: `${OUTPUT_DIR}clinician.png`, fullPage: true });

  expect(pageErrors).toEqual([]);
});

test('the project admin lands on project administration, not the clinician view', async () => {
  const { admin } = requireStack().logins;
  const { page, pageErrors } = await openApp('admin');

  await signIn(page, admin);

  await page.getByTestId('admin-heading').waitFor();
  expect(new URL(page.url()).pathname).toBe('/');
  expect(await page.getByTestId('clinician-heading').count()).toBe(0);
  expect(await page.getByTestId('greeting').count()).toBe(0);
  // It shows which deployment the app talks to: the project and the bots deploy installed.
  const project = await requireStack().adminClient.readResource('Project', requireStack().projectId);
  expect(await page.getByTestId('admin-project').textContent()).toBe(project.name);
  await page.getByTestId('admin-bot-count').waitFor();
  expect(await page.getByTestId('admin-bot-count').textContent()).toBe(
    `${requireStack().deployReport.bots.length} Baseline bots deployed.`
  );
  await page.screenshot({ path: `${OUTPUT_DIR}admin.png`, fullPage: true });

  expect(pageErrors).toEqual([]);
});

test('an unknown address shows a not-found page with the way home, signed out and signed in', async () => {
  const stack = requireStack();
  const { page, pageErrors } = await openApp('not-found');
  await page.goto(new URL('/no-such-page', stack.appUrl).toString());
  await page.getByTestId('not-found').waitFor();
  // No silent redirect: the address stays what was asked for, and the page names it.
  expect(new URL(page.url()).pathname).toBe('/no-such-page');
  expect(await page.getByTestId('not-found-path').textContent()).toBe('/no-such-page');
  await page.getByRole('link', { name: 'Go to sign in' }).click();
  await signIn(page, stack.logins.owner);
  await page.getByTestId('greeting').waitFor();

  await page.goto(new URL('/settings/nothing-here', stack.appUrl).toString());
  await page.getByTestId('not-found').waitFor();
  expect(new URL(page.url()).pathname).toBe('/settings/nothing-here');
  await page.getByRole('link', { name: 'Go to the home page' }).click();
  await page.getByTestId('greeting').waitFor();
  expect(new URL(page.url()).pathname).toBe('/');
  // The owner's real pages still load directly, and signed in, /signin leads home rather than to not-found.
  await page.goto(new URL('/signin', stack.appUrl).toString());
  await page.getByTestId('greeting').waitFor();
  expect(new URL(page.url()).pathname).toBe('/');

  expect(pageErrors).toEqual([]);
});
