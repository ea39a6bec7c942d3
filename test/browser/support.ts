/**
 * Real Chromium for the browser tests (Debian's /usr/bin/chromium; `npx playwright install` cannot work here), a
 * fresh profile per test that records uncaught page errors and screenshots failures, and Medplum's two-step
 * SignInForm driven as a person would.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { onTestFailed } from 'vitest';

export const OUTPUT_DIR = fileURLToPath(new URL('../output/browser/', import.meta.url));
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Where the README's pictures live; they are rewritten only when BASELINE_SCREENSHOTS=1. */
export const SCREENSHOT_DIR = fileURLToPath(new URL('./screenshots/', import.meta.url));

/** A README picture of the page as it is (only with BASELINE_SCREENSHOTS=1, so a test run changes no tracked file). */
export async function readmeScreenshot(page: Page, name: string): Promise<void> {
  if (process.env.BASELINE_SCREENSHOTS !== '1') {
    return;
  }
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  // The pointer stays where the last click was; over a chart it would open a tooltip in the picture.
  await page.mouse.move(0, 0);
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${SCREENSHOT_DIR}${name}.png`, animations: 'disabled' });
}

export async function launchBrowser(): Promise<Browser> {
  await mkdir(OUTPUT_DIR, { recursive: true });
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** The desktop size every browser test uses unless it says otherwise (and the README screenshots are taken at). */
export const DESKTOP = { width: 1280, height: 900 } as const;
/** A common phone (iPhone 12–15 class) in CSS pixels: the app must work at this size. */
export const PHONE = { width: 390, height: 844 } as const;

export async function openPage(
  browser: Browser,
  url: string,
  name: string,
  timeoutMs = 15_000,
  viewport: { width: number; height: number } = DESKTOP
): Promise<{ context: BrowserContext; page: Page; pageErrors: string[] }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(timeoutMs);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  onTestFailed(async () => {
    await page.screenshot({ path: `${OUTPUT_DIR}failed-${name}.png`, fullPage: true });
  });
  await page.goto(url);
  return { context, page, pageErrors };
}

export async function signIn(page: Page, login: { email: string; password: string }): Promise<void> {
  await page.waitForURL(/\/signin$/);
  await page.locator('input[name="email"]').fill(login.email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.locator('input[name="password"]').fill(login.password);
  await page.getByRole('button', { name: 'Sign In' }).click();
}
