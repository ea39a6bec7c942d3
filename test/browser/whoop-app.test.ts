/**
 * A new user's WHOOP journey in Chromium: sign in to the app, connect WHOOP through the sandbox's consent page,
 * land back on the app's callback route, watch the history import progress, see the data with its chart, and get a
 * live update after a WHOOP webhook.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { launchBrowser, openPage, OUTPUT_DIR, signIn } from './support.ts';

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

test('connect WHOOP in the browser, watch the backfill, see the data', async () => {
  const { page, pageErrors, context } = await openPage(browser, env.appUrl, 'whoop');
  try {
    await signIn(page, env.logins.owner);
    await page.getByTestId('greeting').waitFor();
    await page.goto(new URL('/connections', env.appUrl).toString());
    await page.getByRole('button', { name: 'Connect WHOOP' }).click();

    // The sandbox's consent page (WHOOP's OAuth authorize step).
    await page.waitForURL((url) => url.origin === new URL(env.whoop?.sandbox.baseUrl ?? '').origin);
    await page.screenshot({ path: `${OUTPUT_DIR}whoop-consent.png`, fullPage: true });
    await page.getByRole('button', { name: 'Allow' }).click();

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

    await page.goto(new URL('/data', env.appUrl).toString());
    const hrv = page.getByTestId('latest-hrv-rmssd');
    await hrv.waitFor({ timeout: 30_000 });
    expect(await hrv.getByTestId('latest-device').textContent()).toContain('WHOOP');
    await page.getByTestId('metric-chart').first().waitFor({ timeout: 30_000 });
    await page.locator('.recharts-surface').first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: `${OUTPUT_DIR}whoop-data.png`, fullPage: true });

    expect(new URL(page.url()).search).toBe('');
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
}, 300_000);
