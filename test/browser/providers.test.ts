/**
 * Issue 10's "done when" in Chromium: a new owner connects WHOOP, Withings and Oura from the Connections page, each
 * through its sandbox's own consent page (which names the app, the scopes and the person), comes back to the app's
 * callback route, watches the three history imports finish, and sees each provider's values on the Data page — the
 * numbers checked against what the stack stored — and the intraday day view of a day with Withings minute heart
 * rate and Oura heart rate: samples and gaps (the latter checked against the Withings sandbox's own minutes), zoom
 * 24 h → 6 h → 1 h, the metric switch. Then the Connections page and the day view at a phone's width.
 *
 * With BASELINE_SCREENSHOTS=1 the run also writes the README's pictures providers-connections.png and
 * providers-intraday.png in test/browser/screenshots/.
 */
import type { MedplumClient } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { getMetric, metricCodings } from '../../bots/shared/catalogue.ts';
import type { Metric } from '../../bots/shared/catalogue.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { localDayRange, localToday, shiftDay } from '../../app/src/lib/intraday.ts';
import { formatMetricValue, formatPanelValue } from '../../app/src/lib/units.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { expectFitsPhone } from './layout.ts';
import { DESKTOP, launchBrowser, openPage, OUTPUT_DIR, PHONE, readmeScreenshot, signIn } from './support.ts';

/**
 * Small histories and raised rate limits keep the file at a few minutes: the point here is the journey through the
 * app, not the pacing (each provider's rate-limit behaviour has its own tests under test/<provider>/). Two people
 * per sandbox, so each consent page makes the member say who they are, as the real ones do after a login.
 */
const HISTORY_DAYS = 20;
const PEOPLE = 2;

let env: TestStack;
let browser: Browser;
let admin: MedplumClient;
let patientId: string;

beforeAll(async () => {
  env = await startTestStack({
    withApp: true,
    whoop: { days: HISTORY_DAYS, people: PEOPLE, rateLimit: { perMinute: 10_000, perDay: 1_000_000 } },
    withings: { days: HISTORY_DAYS, people: PEOPLE, rateLimitPerMinute: 10_000 },
    oura: { days: HISTORY_DAYS, people: PEOPLE, rateLimit: { limit: 100_000, windowSeconds: 300 } },
  });
  admin = env.adminClient;
  const owner = await env.signIn('owner');
  patientId = (await owner.getProfileAsync())?.id ?? '';
  browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await env?.stop();
});

interface Journey {
  readonly key: 'whoop' | 'withings' | 'oura';
  readonly name: string;
  readonly origin: string;
  readonly clientId: string;
  /** Scopes the consent page must list (each sandbox lists what the bot asked for). */
  readonly scopes: readonly string[];
}

function journeys(): Journey[] {
  const origin = (url: string | undefined): string => new URL(url ?? 'http://missing.invalid').origin;
  return [
    {
      key: 'whoop',
      name: 'WHOOP',
      origin: origin(env.whoop?.sandbox.baseUrl),
      clientId: env.whoop?.clientId ?? '',
      scopes: ['read:recovery', 'read:sleep'],
    },
    {
      key: 'withings',
      name: 'Withings',
      origin: origin(env.withings?.sandbox.baseUrl),
      clientId: env.withings?.clientId ?? '',
      scopes: ['user.metrics', 'user.activity'],
    },
    {
      key: 'oura',
      name: 'Oura',
      origin: origin(env.oura?.sandbox.baseUrl),
      clientId: env.oura?.clientId ?? '',
      scopes: ['daily', 'heartrate'],
    },
  ];
}

/** The first synthetic person: the same (seed, position) in all three sandboxes, so one body wears three devices. */
function person(): { firstName: string; lastName: string; email: string } {
  const whoop = env.whoop?.sandbox.users[0];
  const withings = env.withings?.sandbox.users[0];
  const oura = env.oura?.sandbox.users[0];
  if (!whoop || !withings || !oura) {
    throw new Error('a sandbox has no people');
  }
  expect([withings.email, oura.email]).toEqual([whoop.email, whoop.email]);
  return whoop;
}

function appUrl(path: string): string {
  return new URL(path, env.appUrl).toString();
}

/**
 * Console errors, besides uncaught page errors: a failed request or a React warning logged as an error, with where
 * it came from. The sandboxes' consent pages have no favicon; Chromium's 404 for it is the sandbox's, not the app's.
 */
function recordConsoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    const where = msg.location().url;
    const sandboxFavicon = journeys().some((j) => where === `${j.origin}/favicon.ico`);
    if (msg.type() === 'error' && !sandboxFavicon) {
      errors.push(`${msg.text()} (${where})`);
    }
  });
  return errors;
}

async function connectThroughConsent(page: Page, j: Journey): Promise<void> {
  const who = person();
  const card = page.getByTestId(`device-card-${j.name}`);
  await card.getByRole('button', { name: `Connect ${j.name}` }).click();

  // The sandbox's consent page: the app (client) asking, what it asks for, and who is signing in.
  await page.waitForURL((url) => url.origin === j.origin, { timeout: 30_000 });
  const heading = (await page.getByRole('heading', { level: 1 }).textContent()) ?? '';
  expect(heading).toContain(j.clientId);
  expect(heading).toMatch(new RegExp(`access your .*data`));
  const body = (await page.locator('main').textContent()) ?? '';
  for (const scope of j.scopes) {
    expect(body, `${j.name} consent lists ${scope}`).toContain(scope);
  }
  // Two people: nobody is preselected, so the member says who they are.
  const me = page.getByRole('radio', { name: `${who.firstName} ${who.lastName} (${who.email})` });
  expect(await me.isChecked()).toBe(false);
  await page.screenshot({ path: `${OUTPUT_DIR}providers-consent-${j.key}.png`, fullPage: true });
  await me.check();

  const callback = page.waitForRequest(
    (req) => req.isNavigationRequest() && new URL(req.url()).pathname === `/connect/${j.key}/callback`
  );
  await page.getByRole('button', { name: 'Allow' }).click();
  const callbackUrl = new URL((await callback).url());
  expect(callbackUrl.origin).toBe(new URL(env.appUrl).origin);
  expect(callbackUrl.searchParams.get('code')).toBeTruthy();
  expect(callbackUrl.searchParams.get('state')).toBeTruthy();

  // Back in the app: the callback finishes the connection and shows Connections with the import under way.
  await page.waitForURL((url) => url.pathname === '/connections', { timeout: 30_000 });
  await card.getByText('Connected', { exact: true }).waitFor({ timeout: 30_000 });
  await card.getByTestId('backfill-progress').waitFor({ timeout: 30_000 });
  expect(await card.getByTestId('connected-since').textContent()).toMatch(/^Connected since /);
}

/**
 * The newest current wearable Observation carrying a metric for the owner, as the Data page's tile should show it.
 * `combo-code`: some metrics travel as a component of another Observation (WHOOP's recovery rides on its HRV).
 */
async function storedLatest(metric: Metric): Promise<Observation> {
  const [latest] = await admin.searchResources('Observation', {
    subject: `Patient/${patientId}`,
    'combo-code': metricCodings(metric)
      .map((c) => `${c.system}|${c.code}`)
      .join(','),
    _profile: WEARABLE_PROFILE,
    // A cycle still in progress (WHOOP) is preliminary; the page shows it as the latest too.
    status: 'final,amended,corrected,preliminary',
    _sort: '-date',
    _count: '1',
  });
  if (!latest) {
    throw new Error(`nothing stored for ${metric.key}`);
  }
  return latest;
}

function componentValue(obs: Observation, code: string): number | undefined {
  return obs.component?.find((c) => c.code.coding?.some((coding) => coding.code === code))?.valueQuantity?.value;
}

function expectedText(metric: Metric, obs: Observation): string {
  if (metric.components) {
    const values = metric.components.map((c) => componentValue(obs, c.code.code) ?? Number.NaN);
    return formatPanelValue(metric, values).value;
  }
  const own = obs.code.coding?.some((c) => c.code === metric.code.code);
  const value = own ? obs.valueQuantity?.value : componentValue(obs, metric.code.code);
  return formatMetricValue(metric, value ?? Number.NaN).value;
}

async function expectTile(page: Page, key: string, provider: string): Promise<void> {
  const metric = getMetric(key);
  const tile = page.getByTestId(`latest-${key}`);
  await tile.waitFor({ timeout: 30_000 });
  const stored = await storedLatest(metric);
  expect(await tile.getByTestId('latest-value').textContent(), key).toBe(expectedText(metric, stored));
  // The tile names the device, which is the provider's, and the stored value came from that provider.
  expect((await tile.getByTestId('latest-device').textContent())?.toLowerCase(), key).toContain(provider);
  expect(
    stored.identifier?.some((i) => i.system?.includes(`/${provider}/`)),
    `${key} comes from ${provider}`
  ).toBe(true);
}

async function seriesCounts(series: Locator): Promise<{ label: string; samples: number; gaps: number }[]> {
  const out: { label: string; samples: number; gaps: number }[] = [];
  for (const one of await series.all()) {
    out.push({
      label: (await one.locator('p').first().textContent()) ?? '',
      samples: Number(await one.getAttribute('data-samples')),
      gaps: Number(await one.getAttribute('data-gaps')),
    });
  }
  return out;
}

/** Withings' minutes with a heart rate on a UTC-aligned local day, straight from the sandbox (not the mappers). */
function withingsHeartRateMinutes(day: string): number {
  const sandbox = env.withings?.sandbox;
  const user = sandbox?.users[0];
  if (!sandbox || !user) {
    throw new Error('no Withings sandbox');
  }
  const range = localDayRange(day);
  const minutes = new Map<string, number>();
  // The sandbox serves minutes per local day of the person; the browser's day spans parts of up to three of them.
  for (const personDay of [shiftDay(day, -1), day, shiftDay(day, 1)]) {
    for (const [second, entry] of Object.entries(sandbox.control.intraday(user.userId, personDay))) {
      const t = Number(second) * 1000;
      if (t >= range.start && t < range.end && (entry.heart_rate ?? 0) > 0) {
        minutes.set(second, entry.heart_rate ?? 0);
      }
    }
  }
  return minutes.size;
}

test('a new owner connects WHOOP, Withings and Oura, watches the imports and sees each one’s data and a day view', async () => {
  const started = Date.now();
  const { page, pageErrors, context } = await openPage(browser, env.appUrl, 'providers', 30_000);
  const consoleErrors = recordConsoleErrors(page);
  // The context is closed only on success: a failing one stays open for its failure screenshot (support.ts).
  await signIn(page, env.logins.owner);
  await page.getByTestId('greeting').waitFor();
  await page.goto(appUrl('/connections'));

  // Three providers offered, none "coming soon", each with an enabled Connect button.
  for (const j of journeys()) {
    const button = page.getByTestId(`device-card-${j.name}`).getByRole('button', { name: `Connect ${j.name}` });
    await button.waitFor();
    expect(await button.isEnabled(), j.name).toBe(true);
  }
  expect(await page.getByText(/coming soon/i).count()).toBe(0);
  expect(await page.getByText(/not offered/i).count()).toBe(0);

  for (const j of journeys()) {
    await connectThroughConsent(page, j);
  }
  await page.screenshot({ path: `${OUTPUT_DIR}providers-importing.png`, fullPage: true });

  // The page polls; every card ends with its history imported and nothing failed.
  for (const j of journeys()) {
    const card = page.getByTestId(`device-card-${j.name}`);
    await card.getByText(/^History imported: all \d+ import/).waitFor({ timeout: 150_000 });
    expect(await card.getByTestId('connection-status').textContent(), j.name).toBe('Connected');
    expect(await card.getByTestId('last-error').count(), j.name).toBe(0);
  }
  expect(await page.getByText(/coming soon/i).count()).toBe(0);
  console.log(`providers: three imports finished ${Math.round((Date.now() - started) / 1000)} s after sign-in`);
  await page.screenshot({ path: `${OUTPUT_DIR}providers-connected.png`, fullPage: true });
  await readmeScreenshot(page, 'providers-connections');

  // Data: each provider's values, as stored.
  await page.goto(appUrl('/data'));
  await expectTile(page, 'whoop-recovery', 'whoop');
  await expectTile(page, 'oura-readiness-score', 'oura');
  await expectTile(page, 'blood-pressure', 'withings');
  await expectTile(page, 'withings-sleep-score', 'withings');
  await page.screenshot({ path: `${OUTPUT_DIR}providers-data.png`, fullPage: true });

  // The day view, on the sandboxes' last day (yesterday: today has no data yet).
  await page.getByRole('button', { name: 'Show during the day' }).click();
  const chart = page.getByTestId('intraday-chart');
  await chart.waitFor();
  const day = shiftDay(localToday(new Date()), -1);
  await page.getByRole('button', { name: 'Previous day' }).click();
  const series = chart.getByTestId('intraday-series');
  await series.first().waitFor({ timeout: 30_000 });
  const whole = await seriesCounts(series);
  // One chart per device series: the Withings watch's minutes and the Oura ring's heart rate.
  expect(whole.length, JSON.stringify(whole)).toBeGreaterThanOrEqual(2);
  const minutes = withingsHeartRateMinutes(day);
  expect(minutes).toBeGreaterThan(0);
  const watch = whole.find((s) => s.samples === minutes);
  expect(watch, `a series with the Withings sandbox's ${minutes} minutes: ${JSON.stringify(whole)}`).toBeDefined();
  // The watch comes off for the shower and for charging: gaps, which the summary line counts.
  expect(watch?.gaps ?? 0).toBeGreaterThan(0);
  expect(watch?.label).toMatch(/^Withings|ScanWatch/);
  const ring = whole.filter((s) => s !== watch);
  expect(ring.length).toBeGreaterThan(0);
  for (const s of ring) {
    expect(s.label).toMatch(/^Oura/);
    expect(s.samples).toBeGreaterThan(0);
  }
  // Each chart has a title of its own (the ring writes an all-day series and its nights' samples).
  expect(new Set(whole.map((s) => s.label)).size, JSON.stringify(whole)).toBe(whole.length);
  for (const summary of await chart.getByTestId('intraday-summary').all()) {
    expect(await summary.textContent()).toMatch(/^[\d,]+ samples?, \d+ gaps? \(all day, every \d+ min\)$/);
  }
  expect(await chart.locator('.recharts-line-curve').count()).toBe(whole.length);
  await page.screenshot({ path: `${OUTPUT_DIR}providers-intraday-24h.png`, fullPage: true });
  await chart.screenshot({ path: `${OUTPUT_DIR}providers-intraday-chart.png` });
  // The README picture: the whole day view (three charts) below the fixed header, so a taller window for it.
  await page.setViewportSize({ width: DESKTOP.width, height: 1_100 });
  await page.evaluate(
    `document.querySelector('[data-testid="intraday-chart"]').scrollIntoView({ block: 'start' }); window.scrollBy(0, -72)`
  );
  await readmeScreenshot(page, 'providers-intraday');
  await page.setViewportSize(DESKTOP);

  // Zoom 24 h → 6 h → 1 h around the middle of the day: fewer samples in view each time, never none at all.
  await chart.getByText('6 h', { exact: true }).click();
  await expect
    .poll(async () => (await chart.getByTestId('intraday-summary').first().textContent()) ?? '')
    .toMatch(/\(\d\d:\d\d( [AP]M)?–\d\d:\d\d( [AP]M)?, every/);
  const six = await seriesCounts(series);
  await chart.getByText('1 h', { exact: true }).click();
  await expect
    .poll(async () => (await seriesCounts(series)).reduce((n, s) => n + s.samples, 0))
    .toBeLessThan(six.reduce((n, s) => n + s.samples, 0));
  const one = await seriesCounts(series);
  expect(six.reduce((n, s) => n + s.samples, 0)).toBeLessThan(whole.reduce((n, s) => n + s.samples, 0));
  expect(
    one.some((s) => s.samples > 0),
    JSON.stringify(one)
  ).toBe(true);
  // A minute series holds at most 60 samples in an hour.
  expect(Math.max(...one.map((s) => s.samples))).toBeLessThanOrEqual(60);
  await page.getByRole('button', { name: 'Earlier' }).click();
  await page.getByRole('button', { name: 'Later' }).click();

  // The metric switch: the watch's steps on the same day, then back to heart rate.
  await chart.getByText('Steps', { exact: true }).click();
  await expect.poll(async () => (await seriesCounts(series)).length, { timeout: 15_000 }).toBeGreaterThan(0);
  expect(await chart.getByRole('img', { name: /^Steps from / }).count()).toBeGreaterThan(0);
  await chart.getByText('Heart rate', { exact: true }).click();
  await chart
    .getByRole('img', { name: /^Heart rate from / })
    .first()
    .waitFor();

  expect(pageErrors).toEqual([]);
  expect(consoleErrors).toEqual([]);
  console.log(`providers: the journey took ${Math.round((Date.now() - started) / 1000)} s`);
  await context.close();
}, 300_000);

test('on a phone (390 px): Connections with three connected cards and the day view fit the screen', async () => {
  const { page, pageErrors, context } = await openPage(browser, env.appUrl, 'providers-phone', 30_000, PHONE);
  const consoleErrors = recordConsoleErrors(page);
  // The context is closed only on success: a failing one stays open for its failure screenshot (support.ts).
  await signIn(page, env.logins.owner);
  await page.getByTestId('greeting').waitFor();
  await page.goto(appUrl('/connections'));
  for (const j of journeys()) {
    await page
      .getByTestId(`device-card-${j.name}`)
      .getByText('Connected', { exact: true })
      .waitFor({ timeout: 30_000 });
  }
  await page.waitForTimeout(500);
  await expectFitsPhone(page, PHONE.width, 'connections with three providers');
  await page.screenshot({ path: `${OUTPUT_DIR}providers-phone-connections.png`, fullPage: true });

  await page.goto(appUrl('/data'));
  await page.getByRole('button', { name: 'Show during the day' }).click();
  await page.getByRole('button', { name: 'Previous day' }).click();
  const chart = page.getByTestId('intraday-chart');
  await chart.getByTestId('intraday-series').first().locator('.recharts-line-curve').waitFor({ timeout: 30_000 });
  expect(await chart.getByTestId('intraday-series').count()).toBeGreaterThanOrEqual(2);
  await chart.getByText('1 h', { exact: true }).click();
  await page.getByRole('button', { name: 'Earlier' }).click();
  await page.waitForTimeout(300);
  await expectFitsPhone(page, PHONE.width, 'the day view with two devices, zoomed to 1 h');
  await chart.screenshot({ path: `${OUTPUT_DIR}providers-phone-intraday.png` });
  expect(pageErrors).toEqual([]);
  expect(consoleErrors).toEqual([]);
  await context.close();
}, 120_000);
