/**
 * A new user's WHOOP journey in Chromium: sign in to the app, connect WHOOP through the sandbox's consent page,
 * land back on the app's callback route, watch the history import progress, see home reflect the connection, see
 * the data with its chart, and be told in plain words what a replayed callback means. Then every page at a phone's
 * size (390 x 844), with real data on it, for the owner, a clinician, the admin and a signed-out visitor.
 *
 * With BASELINE_SCREENSHOTS=1 the run also refreshes the README's pictures in test/browser/screenshots/ (they show
 * dates and times, so an ordinary run does not rewrite committed files).
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { expectFitsPhone } from './layout.ts';
import { launchBrowser, openPage, OUTPUT_DIR, PHONE, signIn, readmeScreenshot } from './support.ts';

let env: TestStack;
let browser: Browser;

beforeAll(async () => {
  env = await startTestStack({ withApp: true, whoop: { days: 45 } });
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await env?.stop();
});

function appUrl(path: string): string {
  return new URL(path, env.appUrl).toString();
}

/** A README picture: the viewport as a person first sees it, with CSS animations finished. */
test('connect WHOOP in the browser, watch the backfill, see home and the data', async () => {
  const { page, pageErrors, context } = await openPage(browser, env.appUrl, 'whoop');
  try {
    await signIn(page, env.logins.owner);
    await page.getByTestId('greeting').waitFor();
    await page.getByRole('heading', { name: 'Connect a device' }).waitFor();
    await page.goto(appUrl('/connections'));
    await page.getByRole('button', { name: 'Connect WHOOP' }).click();

    // The sandbox's consent page (WHOOP's OAuth authorize step).
    await page.waitForURL((url) => url.origin === new URL(env.whoop?.sandbox.baseUrl ?? '').origin);
    await page.screenshot({ path: `${OUTPUT_DIR}whoop-consent.png`, fullPage: true });
    // The app removes code and state from the address bar at once; the request keeps them, for the replay below.
    const callbackRequest = page.waitForRequest(
      (req) => req.isNavigationRequest() && new URL(req.url()).pathname === '/connect/whoop/callback'
    );
    await page.getByRole('button', { name: 'Allow' }).click();
    const callbackUrl = (await callbackRequest).url();
    expect(new URL(callbackUrl).searchParams.get('state')).toBeTruthy();

    // Back in the app: the callback route finishes the connection and shows the connections page.
    await page.waitForURL(/\/connections/, { timeout: 30_000 });
    await page.getByText('Connected', { exact: true }).first().waitFor({ timeout: 30_000 });
    await page.getByTestId('backfill-progress').waitFor();
    await page.screenshot({ path: `${OUTPUT_DIR}whoop-connected.png`, fullPage: true });

    // The import runs in the background; the page polls until it is done.
    await page
      .getByText(/History imported/)
      .first()
      .waitFor({ timeout: 150_000 });
    await page.screenshot({ path: `${OUTPUT_DIR}whoop-backfill-done.png`, fullPage: true });
    await readmeScreenshot(page, 'connections');

    // Home now says what is connected and how much it brought, instead of inviting to connect a device.
    await page.goto(env.appUrl);
    const summary = page.getByTestId('home-connection-WHOOP');
    await summary.waitFor();
    expect(await summary.getByTestId('home-connection-title').textContent()).toBe('WHOOP connected');
    const count = summary.getByTestId('home-observation-count');
    await count.waitFor();
    const observations = Number(
      /([\d,]+) observations/.exec((await count.textContent()) ?? '')?.[1]?.replace(/,/g, '')
    );
    expect(observations).toBeGreaterThan(0);
    expect(await summary.getByTestId('home-connection-summary').textContent()).toMatch(
      /^Last synced (.+ ago|just now)/
    );
    expect(await page.getByRole('heading', { name: 'Connect a device' }).count()).toBe(0);
    await page.screenshot({ path: `${OUTPUT_DIR}whoop-home.png`, fullPage: true });
    await summary.getByRole('link', { name: 'See your data' }).click();
    await page.waitForURL(/\/data$/);

    const hrv = page.getByTestId('latest-hrv-rmssd');
    await hrv.waitFor({ timeout: 30_000 });
    expect(await hrv.getByTestId('latest-device').textContent()).toContain('WHOOP');
    await page.getByTestId('metric-chart').first().waitFor({ timeout: 30_000 });
    await page.locator('.recharts-surface').first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: `${OUTPUT_DIR}whoop-data.png`, fullPage: true });
    // Recharts draws its lines with a JavaScript animation that `animations: 'disabled'` does not stop.
    await page.waitForTimeout(2_000);
    await readmeScreenshot(page, 'data');
    expect(new URL(page.url()).search).toBe('');

    // The same callback again (a reload, a restored tab, a copied link): the state is spent. The page says what
    // happened and what to do, in words; the bot's message is only the small print.
    await page.goto(callbackUrl);
    const error = page.getByTestId('connect-error');
    await error.waitFor({ timeout: 30_000 });
    expect(await error.getByText('This connection link was already used').isVisible()).toBe(true);
    expect(await error.getByTestId('error-what').textContent()).toContain('works only once');
    expect(await error.getByTestId('error-next').textContent()).toContain('Connections page');
    expect(await error.getByTestId('error-detail').textContent()).toBe('Details: State already used');
    expect(await page.getByRole('button', { name: 'Try again' }).isVisible()).toBe(true);
    await page.screenshot({ path: `${OUTPUT_DIR}whoop-callback-replayed.png`, fullPage: true });
    // The replay changed nothing: WHOOP is still connected.
    await page.getByRole('link', { name: 'Back to connections' }).click();
    await page.getByTestId('device-card-WHOOP').getByText('Connected', { exact: true }).waitFor();

    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
}, 300_000);

/** Loads a path, waits for what shows it is ready, and checks the phone layout; screenshots for reading the run. */
async function checkPhonePage(page: Page, path: string, ready: (page: Page) => Promise<unknown>, name: string) {
  await page.goto(appUrl(path));
  await ready(page);
  // Fonts and late layout (charts size themselves after mount) settle before measuring.
  await page.waitForTimeout(500);
  await page.screenshot({ path: `${OUTPUT_DIR}phone-${name}.png`, fullPage: true });
  await expectFitsPhone(page, PHONE.width, name);
}

test('every page works on a phone (390 x 844): one-row header, nothing under it, no sideways scrolling', async () => {
  // Contexts are closed only on success: a failing one stays open until afterAll so its failure screenshot is taken.
  // The owner (with WHOOP connected by the test above, when it passed).
  const owner = await openPage(browser, env.appUrl, 'phone-owner', 30_000, PHONE);
  const { page } = owner;
  await page.waitForURL(/\/signin$/);
  await page.locator('input[name="email"]').waitFor();
  await expectFitsPhone(page, PHONE.width, 'sign-in');
  await signIn(page, env.logins.owner);
  await page.getByTestId('greeting').waitFor();

  await checkPhonePage(
    page,
    '/',
    (p) =>
      p
        .getByTestId('home-connection-WHOOP')
        .or(p.getByRole('heading', { name: 'Connect a device' }))
        .waitFor(),
    'home'
  );
  await checkPhonePage(
    page,
    '/connections',
    (p) => p.getByTestId('device-card-WHOOP').getByRole('button').first().waitFor(),
    'connections'
  );
  await checkPhonePage(
    page,
    '/data',
    (p) => p.locator('.recharts-surface').first().or(p.getByTestId('data-empty')).waitFor({ timeout: 30_000 }),
    'data'
  );
  await checkPhonePage(
    page,
    '/connect/whoop/callback?error=access_denied&error_description=The+resource+owner+denied+the+request',
    (p) => p.getByTestId('connect-error').waitFor(),
    'callback-denied'
  );
  // access_denied in words: what happened and what to do; OAuth's own wording only in the detail line.
  const denied = page.getByTestId('connect-error');
  expect(await denied.getByText('WHOOP was not connected').isVisible()).toBe(true);
  expect(await denied.getByTestId('error-what').textContent()).toContain('nothing was connected');
  expect(await denied.getByTestId('error-next').textContent()).toContain('select Allow');
  expect(await denied.getByTestId('error-detail').textContent()).toBe(
    'Details: access_denied: The resource owner denied the request'
  );
  expect(await denied.getByText(/resource owner/).count()).toBe(1);
  await checkPhonePage(page, '/no/such/page', (p) => p.getByTestId('not-found').waitFor(), 'not-found');

  // The menu: behind a burger on a phone, and it gets out of the way after choosing a page.
  const navLink = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Connections' });
  expect(await navLink.isVisible()).toBe(false);
  await page.getByRole('button', { name: 'Open menu' }).click();
  await navLink.waitFor();
  expect(await page.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true);
  await expectFitsPhone(page, PHONE.width, 'menu open');
  await navLink.click();
  await page.waitForURL(/\/connections$/);
  await navLink.waitFor({ state: 'hidden' });
  expect(owner.pageErrors).toEqual([]);
  await owner.context.close();

  for (const who of ['clinician', 'admin'] as const) {
    const session = await openPage(browser, env.appUrl, `phone-${who}`, 30_000, PHONE);
    await signIn(session.page, env.logins[who]);
    const ready = session.page.getByTestId(who === 'admin' ? 'admin-bot-count' : 'clinician-heading');
    await ready.waitFor();
    await checkPhonePage(session.page, '/', () => ready.waitFor(), who);
    await checkPhonePage(session.page, '/connections', (p) => p.getByTestId('not-found').waitFor(), `${who}-not-found`);
    expect(session.pageErrors).toEqual([]);
    await session.context.close();
  }

  const visitor = await openPage(browser, appUrl('/somewhere'), 'phone-signed-out', 30_000, PHONE);
  await visitor.page.getByTestId('not-found').waitFor();
  await expectFitsPhone(visitor.page, PHONE.width, 'signed-out not-found');
  expect(visitor.pageErrors).toEqual([]);
  await visitor.context.close();
}, 240_000);
