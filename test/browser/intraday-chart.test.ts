/**
 * The intraday day view in Chromium on the Data page: a Withings minute heart rate series written through the
 * sync bot's write path (series library + write-changed) is charted for today with its gap left as a break in the
 * line, says "n samples, m gaps" (also as the chart's accessible name), and zooms to 6 h and 1 h with fewer samples
 * in view; the previous day, without series, says so. Opening the Data page alone makes no intraday search. On a
 * phone the day view fits the screen, zoom controls included.
 */
import type { MedplumClient } from '@medplum/core';
import type { Device, Observation } from '@medplum/fhirtypes';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { getMetric, metricCategory, metricCodings, metricQuantity } from '../../bots/shared/catalogue.ts';
import { QuotaPacer } from '../../bots/shared/quota.ts';
import { buildSeriesObservations, seriesRecordGroups } from '../../bots/shared/sampled-data.ts';
import { IDENTIFIER_BASE, WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { writeChanged } from '../../bots/shared/write-changed.ts';
import { localDayRange, localToday } from '../../app/src/lib/intraday.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { expectFitsPhone } from './layout.ts';
import { launchBrowser, openPage, OUTPUT_DIR, PHONE, signIn } from './support.ts';

const MIN = 60_000;
let env: TestStack;
let browser: Browser;
let admin: MedplumClient;
let patientId: string;

beforeAll(async () => {
  env = await startTestStack({ withApp: true });
  admin = env.adminClient;
  const owner = await env.signIn('owner');
  patientId = (await owner.getProfileAsync())?.id ?? '';
  const patient = { reference: `Patient/${patientId}` } as const;
  const device = await admin.createResource<Device>({
    resourceType: 'Device',
    manufacturer: 'Withings',
    deviceName: [{ name: 'ScanWatch 2', type: 'user-friendly-name' }],
    patient,
  });
  const deviceRef = { reference: `Device/${device.id}` };
  // One ordinary value, so the Data page has tiles (an owner with none sees the "connect a device" page instead).
  const rhr = getMetric('resting-heart-rate');
  await admin.createResource<Observation>({
    resourceType: 'Observation',
    meta: { profile: [WEARABLE_PROFILE] },
    status: 'final',
    identifier: [{ system: `${IDENTIFIER_BASE}/withings/test`, value: `${patientId}:rhr` }],
    category: [metricCategory(rhr)],
    code: { coding: metricCodings(rhr) },
    subject: patient,
    device: deviceRef,
    effectiveDateTime: new Date().toISOString(),
    valueQuantity: metricQuantity(rhr, 54),
  });
  // Today 06:00–08:59 local time, minute by minute, off the wrist 07:00–07:14: 165 samples, one gap.
  const day = localDayRange(localToday(new Date()));
  const samples = Array.from({ length: 180 }, (_, i) => i)
    .filter((i) => i < 60 || i >= 75)
    .map((i) => ({ t: day.start + 6 * 3_600_000 + i * MIN, v: 60 + (i % 20) }));
  const built = buildSeriesObservations(
    { provider: 'withings', patient, device: deviceRef, providerUserId: '37452718', series: 'intraday.scanwatch' },
    'heart-rate',
    samples,
    MIN
  );
  const result = await writeChanged(admin, new QuotaPacer(admin), { records: seriesRecordGroups(built.observations) });
  expect(result.failures).toEqual([]);
  browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await env?.stop();
});

test("Data: the day view charts today's series with its gap, and zooms", async () => {
  const { page, pageErrors } = await openPage(browser, env.appUrl, 'intraday-chart');
  const intradaySearches: string[] = [];
  page.on('request', (req) => {
    if (req.url().includes('baseline-intraday-observation')) {
      intradaySearches.push(req.url());
    }
  });
  await signIn(page, env.logins.owner);
  await page.getByTestId('greeting').waitFor();
  await page.goto(new URL('/data', env.appUrl).toString());
  await page.getByTestId('intraday-section').waitFor();
  await page.waitForLoadState('networkidle');
  // Behind its button: a page visit alone costs no intraday search.
  expect(intradaySearches).toEqual([]);

  await page.getByRole('button', { name: 'Show during the day' }).click();
  const series = page.getByTestId('intraday-series');
  await series.waitFor();
  expect(intradaySearches.length).toBeGreaterThan(0);
  expect(await series.getAttribute('data-samples')).toBe('165');
  expect(await series.getAttribute('data-gaps')).toBe('1');
  expect(await series.getByTestId('intraday-summary').textContent()).toMatch(
    /^165 samples, 1 gap \(all day, every 1 min\)$/
  );
  const figure = series.getByRole('img', { name: /^Heart rate from / });
  expect(await figure.getAttribute('aria-label')).toMatch(
    /^Heart rate from ScanWatch 2, all day: 165 samples, 1 gap, 60 .*to 79/
  );
  // The gap is a break in the line: recharts starts a new subpath (M) after the missing minutes instead of a
  // straight segment across them.
  const path = (await series.locator('.recharts-line-curve').getAttribute('d')) ?? '';
  expect(path.match(/M/g)?.length).toBe(2);
  await page.screenshot({ path: `${OUTPUT_DIR}intraday-chart.png`, fullPage: true });

  // Zoom to 6 h around the middle of the day (09:00–15:00 local): the morning's samples are out of view.
  await page.getByTestId('intraday-chart').getByText('6 h', { exact: true }).click();
  await expect.poll(() => series.getAttribute('data-samples')).toBe('0');
  // Back to the start of the day in half-view steps (09:00 → 06:00 → 03:00 → 00:00), then forward to 06:00–12:00.
  for (let i = 0; i < 3; i++) {
    await page.getByRole('button', { name: 'Earlier' }).click();
  }
  await page.getByRole('button', { name: 'Later' }).click();
  await page.getByRole('button', { name: 'Later' }).click();
  await expect.poll(() => series.getAttribute('data-samples')).toBe('165');
  // 1 h around the middle (08:30–09:30): minutes 150–179 of the series.
  await page.getByTestId('intraday-chart').getByText('1 h', { exact: true }).click();
  await expect.poll(() => series.getAttribute('data-samples')).toBe('30');
  expect(await series.getAttribute('data-gaps')).toBe('0');

  // No step series was written: the other metric says so, and switching back finds the heart rate again.
  await page.getByTestId('intraday-chart').getByText('Steps', { exact: true }).click();
  expect(await page.getByTestId('intraday-empty').textContent()).toBe('No intraday steps on this day.');
  await page.getByTestId('intraday-chart').getByText('Heart rate', { exact: true }).click();
  await series.waitFor();
  await page.getByRole('button', { name: 'Previous day' }).click();
  await page.getByTestId('intraday-empty').waitFor();
  expect(pageErrors).toEqual([]);
}, 120_000);

test('Data on a phone: the day view and its controls fit the screen', async () => {
  const { page, context, pageErrors } = await openPage(browser, env.appUrl, 'phone-intraday', 15_000, PHONE);
  try {
    await signIn(page, env.logins.owner);
    await page.getByTestId('greeting').waitFor();
    await page.goto(new URL('/data', env.appUrl).toString());
    await page.getByRole('button', { name: 'Show during the day' }).click();
    await page.getByTestId('intraday-series').locator('.recharts-line-curve').waitFor();
    await page.getByTestId('intraday-chart').getByText('6 h', { exact: true }).click();
    await page.getByRole('button', { name: 'Earlier' }).waitFor();
    await expectFitsPhone(page, PHONE.width, 'the intraday day view');
    await page.getByTestId('intraday-chart').screenshot({ path: `${OUTPUT_DIR}phone-intraday.png` });
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
}, 60_000);
