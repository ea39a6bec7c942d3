/**
 * The Trends view in Chromium with two and a half months of real WHOOP data imported and analysed by the bots: the
 * owner sees their daily values against the baseline band the analytics bot wrote, out-of-band days marked, the
 * projection fan where the bot made one (or its labelled absence), and the page fits a phone. Then they annotate a few
 * days through the form, the `annotate` bot stores it and queues a recompute, and the band changes: on the server
 * (the stored band Observation gets a new version with other bounds) and on the page (it re-reads and re-renders).
 *
 * With BASELINE_SCREENSHOTS=1 the run also refreshes the README's picture test/browser/screenshots/trends.png.
 */
import type { MedplumClient } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { dailySeries } from '../../bots/analytics/daily.ts';
import type { DailyValue } from '../../bots/analytics/daily.ts';
import { ANNOTATION_CODE_TOKEN } from '../../bots/analytics/annotations.ts';
import { getMetric } from '../../bots/shared/catalogue.ts';
import type { Metric } from '../../bots/shared/catalogue.ts';
import { CODE_SYSTEM, DERIVED_PROFILE } from '../../bots/shared/systems.ts';
import {
  addDays,
  bandSteps,
  buildDerivedQuery,
  buildTrendRows,
  buildWearableQuery,
  DERIVED_IDENTIFIER_SYSTEM,
  localToday,
  readDerived,
  summarize,
  trendWindow,
} from '../../app/src/lib/trends.ts';
import { finishConnect, startConnect } from '../../scripts/sandboxes/connect-flow.ts';
import { WHOOP_CALLBACK_PATH } from '../../scripts/sandboxes/wire.ts';
import { analyticsSettled } from '../harness/analytics.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { expectFitsPhone } from './layout.ts';
import { launchBrowser, openPage, OUTPUT_DIR, PHONE, signIn, readmeScreenshot } from './support.ts';
import { waitForBackfill } from '../whoop/helpers.ts';

const RANGE = 90;

let env: TestStack;
let browser: Browser;
let owner: MedplumClient;
let patientId: string;

async function settled(): Promise<void> {
  await analyticsSettled(env);
}

beforeAll(async () => {
  env = await startTestStack({ withApp: true, whoop: { days: 60 } });
  owner = await env.signIn('owner');
  patientId = (await owner.getProfileAsync())?.id ?? '';
  const redirect = new URL(WHOOP_CALLBACK_PATH, env.appUrl).toString();
  await finishConnect(owner, redirect, await startConnect(owner, redirect));
  expect((await waitForBackfill(owner, 240_000)).backfill.failed).toBe(0);
  await settled();
  browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await env?.stop();
});

function appUrl(path: string): string {
  return new URL(path, env.appUrl).toString();
}

/** The owner's standing derived Observations of one kind, as the owner's own FHIR search finds them. */
async function derived(kind: 'personal-baseline' | 'projection' | 'trend'): Promise<Observation[]> {
  return owner.searchResources(
    'Observation',
    {
      subject: `Patient/${patientId}`,
      _profile: DERIVED_PROFILE,
      code: `${CODE_SYSTEM}|${kind}`,
      status: 'final',
      _count: '1000',
    },
    { cache: 'no-cache' }
  );
}

function metricKeyOf(o: Observation): string | undefined {
  return o.identifier?.find((i) => i.system === DERIVED_IDENTIFIER_SYSTEM)?.value?.split('/')[1];
}

/** What the page should show for a metric, computed here from the owner's own FHIR reads with the pure helpers. */
async function expectedView(
  metric: Metric
): Promise<ReturnType<typeof summarize> & { bandEnd: string | undefined; values: readonly DailyValue[] }> {
  const window = trendWindow(localToday(new Date()), RANGE);
  const wearable = await owner.searchResources(
    'Observation',
    { ...Object.fromEntries(buildWearableQuery(patientId, metric, window.dataFrom, new Date())), _count: '1000' },
    { cache: 'no-cache' }
  );
  const records = (
    await owner.searchResources('Observation', buildDerivedQuery(patientId, metric, window.derivedFrom), {
      cache: 'no-cache',
    })
  ).flatMap((o) => readDerived(o, metric) ?? []);
  const values = (dailySeries(wearable)[metric.key] ?? []).filter((v) => v.day >= window.start);
  const steps = bandSteps(records);
  const last = values[values.length - 1]?.day ?? window.end;
  const rows = buildTrendRows({
    start: window.start,
    end: last > window.end ? last : window.end,
    values,
    steps,
    annotations: [],
  });
  return { ...summarize(rows), bandEnd: steps[steps.length - 1]?.windowEnd, values };
}

/** The 3-day span in [windowStart, windowEnd] with the most values above `median` (then the largest excess). */
function spanAboveMedian(
  values: readonly DailyValue[],
  windowStart: string,
  windowEnd: string,
  median: number
): { from: string; to: string; withValues: number } {
  const byDay = new Map(values.map((v) => [v.day, v.value]));
  let best = { from: windowStart, to: addDays(windowStart, 2), score: -Infinity, withValues: 0 };
  for (let from = windowStart; addDays(from, 2) <= windowEnd; from = addDays(from, 1)) {
    const days = [0, 1, 2].map((i) => byDay.get(addDays(from, i)));
    const above = days.filter((v) => v !== undefined && v > median).length;
    const excess = days.reduce<number>((sum, v) => sum + (v === undefined ? 0 : v - median), 0);
    const score = above * 1e6 + excess;
    if (score > best.score) {
      best = { from, to: addDays(from, 2), score, withValues: days.filter((v) => v !== undefined).length };
    }
  }
  return best;
}

async function chooseMetric(page: Page, metric: Metric): Promise<void> {
  await page.getByRole('textbox', { name: 'Metric' }).click();
  await page.getByRole('option', { name: metric.label, exact: true }).click();
  await page.getByRole('radio', { name: `${RANGE} days` }).check({ force: true });
  await page.locator('[data-testid="trends-chart"] .recharts-line-curve').first().waitFor();
}

test('Trends: the band, out-of-band days and the projection the bots wrote; an annotation changes the band', async () => {
  // A metric with a projection if the sandbox data gives one (R² ≥ the floor), else HRV and its labelled absence.
  const projections = await derived('projection');
  const projected = projections.map(metricKeyOf).filter((k): k is string => k !== undefined);
  const bands = await derived('personal-baseline');
  const banded = new Set(bands.map(metricKeyOf));
  const key = projected.find((k) => banded.has(k)) ?? 'hrv-rmssd';
  const metric = getMetric(key);
  expect(banded.has(metric.key), `no band for ${metric.key}`).toBe(true);

  const { page, context, pageErrors } = await openPage(browser, env.appUrl, 'trends');
  try {
    await signIn(page, env.logins.owner);
    await page.getByTestId('greeting').waitFor();
    await page.waitForLoadState('networkidle');
    const membership = owner.getProjectMembership()?.id ?? '';
    const points = (): number => env.stack.ctx.stats.quotaPoints[membership] ?? 0;
    const before = points();
    await page.locator('header').getByRole('link', { name: 'Trends', exact: true }).click();
    await page.waitForURL(/\/trends$/);
    await page.locator('[data-testid="trends-chart"] .recharts-line-curve').first().waitFor();
    await page.waitForLoadState('networkidle');
    // A first visit: the metric list (the Data page's few searches) and three for the chart (values, derived,
    // annotations) — not a search per metric or per week (a search is 20 points). Measured 150 on 2026-12-06.
    expect(points() - before).toBeLessThanOrEqual(250);
    await chooseMetric(page, metric);

    // The band: shaded, and summarised from the newest stored band.
    const expected = await expectedView(metric);
    expect(expected.bandEnd).toBeDefined();
    await page.getByTestId('band-summary').waitFor();
    expect(await page.getByTestId('no-baseline').count()).toBe(0);
    expect(await page.locator('[data-testid="trends-chart"] .recharts-area-area').count()).toBeGreaterThan(0);
    // Out-of-band days: one marker per day the stored bands put outside, as computed here from the same reads.
    expect(await page.getByTestId('out-of-band-dot').count()).toBe(expected.above + expected.below);
    expect(await page.getByTestId('band-summary').textContent()).toContain(
      `${expected.above} ${expected.above === 1 ? 'day was' : 'days were'} above it and ${expected.below} below`
    );
    // A marked day's tooltip: its value, the source the daily series chose, and which side of the band it is on.
    if (expected.above + expected.below > 0) {
      await page.getByTestId('out-of-band-dot').first().hover();
      const tooltip = page.getByTestId('trend-tooltip');
      await tooltip.waitFor();
      expect(await tooltip.textContent()).toMatch(/from WHOOP.*(above|below) your usual range.*Usual range /);
      await page.mouse.move(0, 0);
    }

    // The projection, labelled as one with its interval, and drawn exactly (recomputed = stored); or its absence.
    if (projected.includes(metric.key)) {
      const label = page.getByTestId('projection-label');
      await label.waitFor();
      expect(await label.textContent()).toMatch(/^Projection \(not a measurement\): .* 95 % interval /);
      expect(await label.getAttribute('data-kind')).toBe('exact');
      expect(await page.getByTestId('trends-legend').textContent()).toContain(
        'Projection (not a measurement), 95 % interval'
      );
    } else {
      expect(await page.getByTestId('projection-absent').textContent()).toMatch(/^No projection for /);
    }
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: `${OUTPUT_DIR}trends.png`, fullPage: true });
    await readmeScreenshot(page, 'trends');

    // Annotate three days inside the newest HRV band's window, chosen above its median: leaving them out moves the
    // median. HRV, because its values spread: a whole-number metric such as resting heart rate has so many ties at
    // its median that its band may rightly not move at all (its sample count still drops, checked below).
    const annotated = banded.has('hrv-rmssd') ? getMetric('hrv-rmssd') : metric;
    if (annotated !== metric) {
      await chooseMetric(page, annotated);
    }
    const annotatedView = await expectedView(annotated);
    const latestKey = `${patientId}/${annotated.key}/personal-baseline/latest`;
    const latestBefore = bands.find((b) => b.identifier?.some((i) => i.value === latestKey));
    expect(latestBefore, 'a latest band').toBeDefined();
    const windowStart = latestBefore?.effectivePeriod?.start ?? '';
    const windowEnd = latestBefore?.effectivePeriod?.end ?? '';
    const median = readDerived(latestBefore!, annotated)?.value ?? Number.NaN;
    const { from, to, withValues } = spanAboveMedian(annotatedView.values, windowStart, windowEnd, median);
    expect(withValues).toBeGreaterThan(0);
    await page.getByTestId('band-summary').waitFor();
    const summaryBefore = await page.getByTestId('band-summary').textContent();

    await page.getByRole('button', { name: 'Add annotation' }).click();
    const form = page.getByTestId('annotation-form');
    // Nothing chosen yet: the form says so instead of sending.
    await form.getByRole('button', { name: 'Save annotation' }).click();
    await form.getByText('Choose what the day was like').waitFor();
    await form.getByRole('textbox', { name: 'What was it?' }).click();
    await form.getByRole('option', { name: 'Felt ill' }).click();
    await form.getByLabel('First day').fill(from);
    await form.getByLabel('Last day (optional)').fill(to);
    await form.getByLabel('Note').fill('Flu, stayed in bed');
    await form.getByRole('button', { name: 'Save annotation' }).click();

    // The bot's answer is what the list shows; then the page waits for the recompute and re-reads.
    const item = page.locator('[data-testid="annotation-item"][data-kind="ill"]');
    await item.waitFor({ timeout: 20_000 });
    expect(await item.textContent()).toContain('Flu, stayed in bed');
    expect(await page.getByTestId('annotation-form').count()).toBe(0);
    await page.locator('[data-testid="recompute-status"][data-state="changed"]').waitFor({ timeout: 60_000 });

    // On the server: the stored annotation, and the latest band superseded in place by a new version.
    const annotations = await owner.searchResources(
      'Observation',
      { subject: `Patient/${patientId}`, code: ANNOTATION_CODE_TOKEN },
      { cache: 'no-cache' }
    );
    expect(annotations.map((a) => [a.status, a.effectivePeriod?.start, a.effectivePeriod?.end])).toEqual([
      ['final', from, to],
    ]);
    await expect
      .poll(async () => (await derived('personal-baseline')).find((b) => b.id === latestBefore?.id)?.meta?.versionId, {
        timeout: 30_000,
      })
      .not.toBe(latestBefore?.meta?.versionId);
    const latestAfter = (await derived('personal-baseline')).find((b) => b.id === latestBefore?.id);
    const bounds = (o: Observation | undefined): unknown[] =>
      (o?.component ?? [])
        .filter((c) => c.code.coding?.some((k) => k.code?.startsWith('band-')))
        .map((c) => c.valueQuantity?.value);
    expect(bounds(latestAfter)).not.toEqual(bounds(latestBefore));
    const sampleCount = (o: Observation | undefined): number | undefined =>
      o?.component?.find((c) => c.code.coding?.some((k) => k.code === 'sample-count'))?.valueInteger;
    expect(sampleCount(latestAfter)).toBe((sampleCount(latestBefore) ?? 0) - withValues);

    // On the page: the annotated days are marked (not judged), the span is shaded, the band text follows.
    await expect.poll(() => page.getByTestId('annotated-dot').count(), { timeout: 20_000 }).toBe(withValues);
    expect(Number(await page.getByTestId('trends-chart').getAttribute('data-annotation-spans'))).toBe(1);
    await expect.poll(() => page.getByTestId('band-summary').textContent()).not.toBe(summaryBefore);
    expect(await page.getByTestId('band-summary').textContent()).toContain(
      `${withValues} annotated ${withValues === 1 ? 'day is' : 'days are'} left out`
    );
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: `${OUTPUT_DIR}trends-annotated.png`, fullPage: true });

    // A reload reads the same from the record.
    await page.reload();
    await page.locator('[data-testid="annotation-item"][data-kind="ill"]').waitFor();
    await expect.poll(() => page.getByTestId('annotated-dot').count(), { timeout: 20_000 }).toBe(withValues);

    // Edit: the kind changes, as the bot stored it.
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByTestId('annotation-form').getByRole('textbox', { name: 'What was it?' }).click();
    await page.getByRole('option', { name: 'Travelling' }).click();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('[data-testid="annotation-item"][data-kind="travelling"]').waitFor({ timeout: 20_000 });

    // Delete: the annotation goes, its days count again.
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Confirm delete' }).click();
    await page.getByTestId('annotations-empty').waitFor({ timeout: 20_000 });
    await expect.poll(() => page.getByTestId('annotated-dot').count(), { timeout: 20_000 }).toBe(0);
    await settled();
    const restored = (await derived('personal-baseline')).find((b) => b.id === latestBefore?.id);
    expect(bounds(restored)).toEqual(bounds(latestBefore));
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
}, 240_000);

test('Trends on a phone: the chart, the band and the annotation form fit 390 px', async () => {
  const { page, context, pageErrors } = await openPage(browser, env.appUrl, 'phone-trends', 15_000, PHONE);
  try {
    await signIn(page, env.logins.owner);
    await page.getByTestId('greeting').waitFor();
    await page.goto(appUrl('/trends'));
    await page.locator('[data-testid="trends-chart"] .recharts-line-curve').first().waitFor();
    await page.getByTestId('band-summary').waitFor();
    await expectFitsPhone(page, PHONE.width, 'trends');
    await page.getByRole('button', { name: 'Add annotation' }).click();
    await page.getByTestId('annotation-form').waitFor();
    await expectFitsPhone(page, PHONE.width, 'trends with the annotation form');
    await page.screenshot({ path: `${OUTPUT_DIR}phone-trends.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  } finally {
    await context.close();
  }
}, 60_000);
