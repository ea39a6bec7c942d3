/**
 * The Data page in Chromium with two months of real WHOOP data imported through the bots: it shows every metric's
 * latest value (exactly what one search per metric finds) and a chart, with a handful of searches rather than one
 * per metric; the rarer metrics arrive after the first tiles without blanking them; a repeat visit renders from the
 * cache while the server is still answering; and a new value written meanwhile replaces the cached one. The owner's
 * annotations in the charted range are shaded on the chart with their kind's label (one more search, cached too),
 * also on a phone.
 */
import type { MedplumClient } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import type { Browser, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ANNOTATION_CODE_TOKEN } from '../../bots/analytics/annotations.ts';
import { AnnotateResultSchema } from '../../bots/analytics/owner-api.ts';
import type { AnnotationView } from '../../bots/analytics/owner-api.ts';
import { getMetric } from '../../bots/shared/catalogue.ts';
import { BOT_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { chartDateFormats } from '../../app/src/lib/data-dates.ts';
import { localToday } from '../../app/src/lib/trends.ts';
import { loadLatest } from '../../app/src/pages/data/latest.ts';
import { buildLatestBatch, readLatestBatch } from '../../app/src/pages/data/observations.ts';
import { finishConnect, startConnect } from '../../scripts/sandboxes/connect-flow.ts';
import { WHOOP_CALLBACK_PATH } from '../../scripts/sandboxes/wire.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { expectFitsPhone } from './layout.ts';
import { launchBrowser, openPage, OUTPUT_DIR, PHONE, signIn } from './support.ts';
import { waitForBackfill } from '../whoop/helpers.ts';

let env: TestStack;
let browser: Browser;
let owner: MedplumClient;
let patientId: string;
/** A few days inside the default 30-day chart, annotated by the owner through the `annotate` bot. */
let annotation: AnnotationView;

beforeAll(async () => {
  env = await startTestStack({ withApp: true, whoop: { days: 60 } });
  owner = await env.signIn('owner');
  patientId = (await owner.getProfileAsync())?.id ?? '';
  const redirect = new URL(WHOOP_CALLBACK_PATH, env.appUrl).toString();
  await finishConnect(owner, redirect, await startConnect(owner, redirect));
  expect((await waitForBackfill(owner, 240_000)).backfill.failed).toBe(0);
  await env.stack.subscriptions.idle();
  // The browser runs in this machine's zone too, so these are the days the page takes them for.
  const day = (daysAgo: number): string => localToday(new Date(Date.now() - daysAgo * 86_400_000));
  const created = AnnotateResultSchema.parse(
    await owner.executeBot(
      { system: BOT_IDENTIFIER_SYSTEM, value: 'annotate' },
      { action: 'create', key: crypto.randomUUID(), kind: 'travelling', start: day(12), end: day(9) },
      'application/json'
    )
  );
  annotation = created.annotation;
  browser = await launchBrowser();
}, 240_000);

/** The chart's annotation spans, as the page draws them. */
async function spans(page: Page): Promise<{ kind: string | null; start: string | null; end: string | null }[]> {
  const found = page.locator('[data-testid="metric-chart"] [data-testid="annotation-span"]');
  const out = [];
  for (const span of await found.all()) {
    out.push({
      kind: await span.getAttribute('data-kind'),
      start: await span.getAttribute('data-start'),
      end: await span.getAttribute('data-end'),
    });
  }
  return out;
}

async function expectAnnotationShown(page: Page, timeout: number): Promise<void> {
  const expected = [{ kind: 'travelling', start: annotation.start, end: annotation.end }];
  await expect.poll(() => spans(page), { timeout }).toEqual(expected);
  const span = page.locator('[data-testid="metric-chart"] [data-testid="annotation-span"]');
  expect(await span.getByTestId('annotation-span-label').textContent()).toBe('Travelling');
  expect(await span.getAttribute('aria-label')).toMatch(/^Travelling: .+ – .+$/);
  // A shaded box, not an empty group: recharts sized it from the x axis.
  const box = await span.locator('rect').boundingBox();
  expect(box?.width ?? 0).toBeGreaterThan(2);
  expect(box?.height ?? 0).toBeGreaterThan(100);
  expect(await page.getByTestId('annotation-legend').textContent()).toBe('Annotated days');
}

afterAll(async () => {
  await browser?.close();
  await env?.stop();
});

/** The FHIR base without its trailing slash: a batch is POSTed to exactly this URL. */
function isFhir(url: string): boolean {
  const base = new URL('fhir/R4', env.baseUrl).toString();
  return url === base || url.startsWith(base + '/') || url.startsWith(base + '?');
}

/**
 * Records the distinct FHIR searches a page makes; a batch counts as the searches inside it. Distinct, because a
 * development build of React (StrictMode) runs every effect twice, so each search may be sent twice; a chart's
 * window start (`date=ge<now - days>`) is normalised for the same reason.
 */
function recordSearches(page: Page): { searches: Set<string> } {
  const record = { searches: new Set<string>() };
  const add = (url: string): void => {
    record.searches.add(url.replace(/date=ge[^&]*/, 'date=ge<start>'));
  };
  page.on('request', (req) => {
    if (!isFhir(req.url())) {
      return;
    }
    if (req.method() === 'POST' && !req.url().includes('$')) {
      const body = JSON.parse(req.postData() ?? '{}') as { entry?: { request?: { url?: string } }[] };
      (body.entry ?? []).forEach((e, i) => add(`batch entry ${i}: ${e.request?.url ?? ''}`));
    } else if (req.method() === 'GET') {
      add(req.url());
    }
  });
  return record;
}

async function tileCount(page: Page): Promise<number> {
  return page.getByTestId('latest-device').count();
}

test('the latest values the page finds are exactly those of one search per metric', async () => {
  const exact = readLatestBatch(await owner.executeBatch(buildLatestBatch(patientId)));
  const steps: number[] = [];
  const fast = await loadLatest(
    {
      search: (params) => owner.search('Observation', params, { cache: 'no-cache' }),
      batch: (bundle) => {
        steps.push(bundle.entry?.length ?? 0);
        return owner.executeBatch(bundle);
      },
    },
    patientId
  );
  expect(exact.failures).toEqual([]);
  expect(fast.failures).toEqual([]);
  expect(exact.latest.length).toBeGreaterThan(15);
  const view = (r: typeof exact): unknown[] => r.latest.map((l) => [l.metric.key, l.observationId, l.value, l.device]);
  expect(view(fast)).toEqual(view(exact));
}, 60_000);

test('Data: tiles and a chart from real data, a few searches, progressive, cached, revalidated', async () => {
  const { page, context, pageErrors } = await openPage(browser, env.appUrl, 'data-page');
  const membership = owner.getProjectMembership()?.id ?? '';
  const points = (): number => env.stack.ctx.stats.quotaPoints[membership] ?? 0;
  try {
    await signIn(page, env.logins.owner);
    await page.getByTestId('greeting').waitFor();
    const expected = readLatestBatch(await owner.executeBatch(buildLatestBatch(patientId))).latest.length;

    // A first visit: a handful of searches, not one per metric (which would be ~50, and ~1,000 quota points on a
    // real Medplum).
    await page.waitForLoadState('networkidle');
    const cold = recordSearches(page);
    const before = points();
    await page.goto(new URL('/data', env.appUrl).toString());
    await expect.poll(() => tileCount(page), { timeout: 20_000 }).toBe(expected);
    await page.locator('[data-testid="metric-chart"] .recharts-line-curve').waitFor();
    await page.getByTestId('data-refreshing').waitFor({ state: 'detached' });
    await expectAnnotationShown(page, 20_000);
    await page.waitForLoadState('networkidle');
    expect(await page.getByTestId('latest-hrv-rmssd').getByTestId('latest-device').textContent()).toContain('WHOOP');
    await page.screenshot({ path: `${OUTPUT_DIR}data-page.png`, fullPage: true });
    // The annotations are one search of their own (for the range, whatever the metric).
    const annotationSearches = [...cold.searches].filter((s) => s.includes(encodeURIComponent(ANNOTATION_CODE_TOKEN)));
    expect(annotationSearches, [...cold.searches].join('\n')).toHaveLength(1);
    expect(cold.searches.size, [...cold.searches].join('\n')).toBeLessThanOrEqual(5);
    // ~130 points (4 searches at 20, and a read per included Device reference); twice that if effects ran twice
    // (see recordSearches). One search per metric would be over 1,000.
    const spent = points() - before;
    console.info(`Data page, first visit: ${cold.searches.size} searches, ${spent} quota points`);
    expect(spent).toBeLessThanOrEqual(340);

    // Progressive: in a fresh tab (nothing cached) with the search for the rarer metrics held back for 2 s, the
    // first tiles and the chart do not wait for it.
    const second = await context.newPage();
    await second.route(
      (url) =>
        isFhir(url.toString()) && url.searchParams.has('combo-code') && url.searchParams.get('_sort') === '-date',
      async (route: Route) => {
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        await route.continue();
      }
    );
    await second.goto(new URL('/data', env.appUrl).toString());
    await second.getByTestId('latest-hrv-rmssd').waitFor();
    await second.locator('[data-testid="metric-chart"] .recharts-line-curve').waitFor();
    expect(await second.getByTestId('data-refreshing').textContent()).toContain('Loading more metrics');
    await expect.poll(() => tileCount(second), { timeout: 20_000 }).toBe(expected);
    await second.close();

    // The axis: locale dates (en-US here), with the year only if the 30-day window crosses New Year.
    const ticks = await page.locator('.recharts-xAxis .recharts-cartesian-axis-tick-value').allTextContents();
    expect(ticks.length).toBeGreaterThan(2);
    const now = Date.now();
    const { withYear } = chartDateFormats({ start: now - 30 * 86_400_000, end: now }, new Date(now), {
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    });
    for (const tick of ticks) {
      expect(tick).toMatch(withYear ? /^[A-Z][a-z]{2} \d{1,2}, \d{4}$/ : /^[A-Z][a-z]{2} \d{1,2}$/);
    }

    // A new HRV value arrives (as the sync bot would write it).
    const hrv = getMetric('hrv-rmssd');
    const current = await owner.searchOne(
      'Observation',
      { subject: `Patient/${patientId}`, code: `${hrv.code.system}|${hrv.code.code}`, _sort: '-date' },
      { cache: 'no-cache' }
    );
    expect(current).toBeDefined();
    const { id: _id, meta, ...rest } = current as Observation;
    const fresh = await env.adminClient.createResource<Observation>({
      ...rest,
      meta: { profile: meta?.profile },
      identifier: rest.identifier?.map((i) => ({ ...i, value: `${i.value}-newer` })),
      ...(rest.effectivePeriod
        ? { effectivePeriod: { start: new Date(now - 3_600_000).toISOString(), end: new Date(now).toISOString() } }
        : { effectiveDateTime: new Date(now).toISOString() }),
      valueQuantity: { ...rest.valueQuantity, value: 123 },
    });

    // A repeat visit (in the app, as from the menu) while the server is slow: the cached page shows at once, with
    // the old value, and the new one replaces it when the server answers.
    await page.locator('header').getByRole('link', { name: 'Home', exact: true }).click();
    await page.getByTestId('greeting').waitFor();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route(
      (url) => isFhir(url.toString()),
      async (route: Route) => {
        await held;
        await route.continue();
      }
    );
    await page.locator('header').getByRole('link', { name: 'Data', exact: true }).click();
    await page.getByTestId('latest-hrv-rmssd').waitFor({ timeout: 2_000 });
    expect(await tileCount(page)).toBe(expected);
    await page.locator('[data-testid="metric-chart"] .recharts-line-curve').waitFor({ timeout: 2_000 });
    // The annotations come from the cache as well, without waiting for the held search.
    await expectAnnotationShown(page, 2_000);
    const hrvValue = page.getByTestId('latest-hrv-rmssd').getByTestId('latest-value');
    expect(await hrvValue.textContent()).not.toBe('123');
    await page.getByTestId('data-refreshing').waitFor();
    release();
    await expect.poll(() => hrvValue.textContent(), { timeout: 20_000 }).toBe('123');

    // And when that value is retracted, the next check shows the one before it again.
    await env.adminClient.updateResource<Observation>({ ...fresh, status: 'entered-in-error' });
    await page.reload();
    await expect.poll(() => hrvValue.textContent(), { timeout: 20_000 }).not.toBe('123');
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
}, 120_000);

test('Data on a phone: the chart with its annotated span fits the screen', async () => {
  const { page, context, pageErrors } = await openPage(browser, env.appUrl, 'phone-data', 15_000, PHONE);
  try {
    await signIn(page, env.logins.owner);
    await page.getByTestId('greeting').waitFor();
    await page.goto(new URL('/data', env.appUrl).toString());
    await page.locator('[data-testid="metric-chart"] .recharts-line-curve').waitFor();
    await expectAnnotationShown(page, 20_000);
    await expectFitsPhone(page, PHONE.width, 'data with an annotated span');
    // The label stays inside the chart, not cut off at its edge.
    const chart = await page.locator('[data-testid="metric-chart"] .recharts-surface').boundingBox();
    const label = await page.getByTestId('annotation-span-label').boundingBox();
    expect(chart && label).toBeTruthy();
    if (chart && label) {
      expect(label.x).toBeGreaterThanOrEqual(chart.x);
      expect(label.x + label.width).toBeLessThanOrEqual(chart.x + chart.width);
    }
    await page.screenshot({ path: `${OUTPUT_DIR}phone-data.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
}, 60_000);
