/**
 * `npm run bench:app`: how fast the patient app's Home and Data pages become interactive with a year of data, in real
 * Chromium, and which FHIR requests (count, bytes, quota points) each visit makes.
 *
 * Setup: a fresh local stack (Medplum 5.2 mode) on random ports, Baseline deployed, the demo people, the app built
 * into a directory of its own (`BENCH_APP_DIST=<dir>` serves a build made earlier instead, e.g. to compare two
 * versions), and the demo owner connected to the WHOOP sandbox with 365 days of history, imported through the real
 * bots (the quota is lifted for the import only, then set to Medplum's default 50,000 points/min for the visits). Only
 * WHOOP exists yet, so "a year of data from every provider" is a year of WHOOP (~2,500 Observations);
 * `BENCH_APP_COPIES=N` adds N more copies of that year under other identifiers (each copy stands in for one more
 * provider writing the same kinds of metric), to see how the pages scale with volume.
 *
 * Visits, each `BENCH_APP_RUNS` times (default 3, median printed):
 * - cold: a new browser context (empty HTTP cache, empty sessionStorage) that holds only the signed-in session,
 *   then `page.goto(<page>)`; timed from navigation start;
 * - warm reload: `page.goto(<page>)` again in the same tab (HTTP cache and sessionStorage kept);
 * - in-app: from the other page, a click on the header's nav link (the app's in-memory state kept).
 *
 * "Interactive" means (polled every animation frame in the page):
 * - Home: the greeting and the WHOOP connection's summary with its count of observations are rendered;
 * - Data: a tile for every metric that has a current value (the count is worked out beforehand with one exact
 *   `_count=1` search per catalogue metric) and the chart's line drawn (`.recharts-line-curve` inside
 *   `[data-testid=metric-chart]`).
 * Requests and bytes count every request to the FHIR base URL (`<server>/fhir/R4`, so batches too) from navigation
 * start until no FHIR request has been in flight for 1 s after the page became interactive (so background
 * revalidation is counted too); bytes are response bodies as sent. Quota points are the owner membership's FHIR
 * quota ledger on the stack over the same span. `BENCH_APP_VERBOSE=1` lists each visit's requests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import type { Observation, Task } from '@medplum/fhirtypes';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { loadLatest } from '../../app/src/pages/data/latest.ts';
import { buildLatestBatch, readLatestBatch } from '../../app/src/pages/data/observations.ts';
import { CLIENT_KEYS } from '../../data/core/client-applications.ts';
import { startTestStack } from '../../test/harness/stack.ts';
import type { TestStack } from '../../test/harness/stack.ts';
import { TEST_APP_BASE_URL } from '../../test/harness/stack.ts';
import { buildApp, serveApp } from '../app-server.ts';
import { finishConnect, startConnect } from '../sandboxes/connect-flow.ts';
import { WHOOP_CALLBACK_PATH } from '../sandboxes/wire.ts';
import { announce, machineLine } from './about.ts';

const RUNS = Number(process.env.BENCH_APP_RUNS ?? 3);
const COPIES = Number(process.env.BENCH_APP_COPIES ?? 0);
const VERBOSE = process.env.BENCH_APP_VERBOSE === '1';
const PREBUILT = process.env.BENCH_APP_DIST;
const DAYS = 365;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

announce('bench:app', `~3 minutes (a ${DAYS}-day WHOOP import, an app build, ${RUNS * 6} Chromium visits)`);

interface Visit {
  ms: number;
  requests: number;
  bytes: number;
  points: number;
}

interface PageSpec {
  name: 'Home' | 'Data';
  path: string;
  other: { path: string; navLabel: string };
  navLabel: string;
  /** A JavaScript expression evaluated in the page (with `expected`, the tile count): true once interactive. */
  ready: string;
}

const PAGES: PageSpec[] = [
  {
    name: 'Home',
    path: '/',
    navLabel: 'Home',
    other: { path: '/data', navLabel: 'Data' },
    // The home page shows the WHOOP connection with its count of observations (the earlier layout: WHOOP's card
    // with its "Connected since" line).
    ready:
      `document.querySelector('[data-testid="greeting"]') !== null && (` +
      `document.querySelector('[data-testid="home-connection-WHOOP"] [data-testid="home-observation-count"]') !== null || ` +
      `document.querySelector('[data-testid="device-card-WHOOP"] [data-testid="connected-since"]') !== null)`,
  },
  {
    name: 'Data',
    path: '/data',
    navLabel: 'Data',
    other: { path: '/', navLabel: 'Home' },
    ready:
      `document.querySelectorAll('[data-testid="latest-device"]').length >= expected && ` +
      `document.querySelector('[data-testid="metric-chart"] .recharts-line-curve') !== null`,
  },
];

async function importYear(env: TestStack, owner: MedplumClient): Promise<{ ms: number; windows: number }> {
  const redirect = TEST_APP_BASE_URL + WHOOP_CALLBACK_PATH;
  const started = performance.now();
  const { queuedWindows } = await finishConnect(owner, redirect, await startConnect(owner, redirect));
  for (;;) {
    const tasks: Task[] = await env.adminClient.searchResources(
      'Task',
      { code: `${TASK_TYPE_SYSTEM}|backfill`, _count: '100' },
      { cache: 'no-cache' }
    );
    const done = tasks.filter((t) => t.status === 'completed' || t.status === 'failed');
    if (done.length >= queuedWindows) {
      await env.stack.subscriptions.idle();
      const failed = done.filter((t) => t.status === 'failed').length;
      if (failed > 0) {
        throw new Error(`${failed} backfill windows failed`);
      }
      return { ms: performance.now() - started, windows: queuedWindows };
    }
    await sleep(500);
  }
}

/** Copies every Observation of the patient `copies` times with new identifiers: more volume of the same kinds. */
async function addCopies(env: TestStack, patientId: string, copies: number): Promise<void> {
  const stored: Observation[] = [];
  for await (const page of env.adminClient.searchResourcePages(
    'Observation',
    { subject: `Patient/${patientId}`, _count: '1000' },
    { cache: 'no-cache' }
  )) {
    stored.push(...page);
  }
  for (let copy = 1; copy <= copies; copy++) {
    // Written in-process as the system (this is setup, not what is measured): over HTTP the admin client's own FHIR
    // quota would pace a few thousand writes over minutes.
    for (const o of stored) {
      const { id: _id, meta, ...rest } = o;
      await env.stack.ctx.system.createResource<Observation>({
        ...rest,
        meta: { profile: meta?.profile },
        identifier: o.identifier?.map((i) => ({ ...i, value: `copy${copy}-${i.value}` })),
      });
    }
  }
}

/** The FHIR base without its trailing slash: a batch is POSTed to exactly this URL. */
function isFhir(url: string, fhirBase: string): boolean {
  return url === fhirBase || url.startsWith(fhirBase + '/') || url.startsWith(fhirBase + '?');
}

class Meter {
  requests = 0;
  bytes = 0;
  readonly urls: string[] = [];
  private pending: Promise<void>[] = [];
  private inFlight = 0;
  private lastActivity = performance.now();

  constructor(page: Page, fhirBase: string) {
    page.on('request', (req) => {
      if (isFhir(req.url(), fhirBase)) {
        this.requests++;
        this.inFlight++;
        this.urls.push(`${req.method()} ${req.url().slice(fhirBase.length)}`);
        this.lastActivity = performance.now();
      }
    });
    page.on('requestfinished', (req) => {
      if (isFhir(req.url(), fhirBase)) {
        this.inFlight--;
        this.lastActivity = performance.now();
        this.pending.push(
          req.sizes().then((s) => {
            this.bytes += s.responseBodySize;
          })
        );
      }
    });
    page.on('requestfailed', (req) => {
      if (isFhir(req.url(), fhirBase)) {
        this.inFlight--;
        this.lastActivity = performance.now();
      }
    });
  }

  /** Call only after `settle`, so no request of the previous visit is still counted. */
  reset(): void {
    this.requests = 0;
    this.bytes = 0;
    this.urls.length = 0;
    this.pending = [];
    this.lastActivity = performance.now();
  }

  /** Waits until no FHIR request is in flight and none has started or finished for `quietMs`. */
  async settle(quietMs = 1000): Promise<void> {
    while (this.inFlight > 0 || performance.now() - this.lastActivity < quietMs) {
      await sleep(100);
    }
    await Promise.all(this.pending);
  }
}

const nav = (page: Page, label: string): Locator =>
  page.locator('header').getByRole('link', { name: label, exact: true });

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  const t0 = performance.now();
  // The import runs with the quota lifted (the server default, for every membership); the visits at Medplum's default.
  const env = await startTestStack({ whoop: { days: DAYS }, fhirQuota: 10_000_000 });
  const dist = PREBUILT ?? mkdtempSync(join(tmpdir(), 'baseline-bench-app-'));
  let browser: Browser | undefined;
  let app: { url: string; close: () => Promise<void> } | undefined;
  try {
    if (!PREBUILT) {
      // Its own directory: app/dist is shared with `npm start` and the browser tests, and a rebuild there in the
      // middle of a run would change what is being measured (or delete it).
      buildApp({ force: true, outDir: dist });
    }
    const served = await serveApp(
      {
        medplumBaseUrl: env.baseUrl,
        projectId: env.projectId,
        clientId: env.deployReport.clients[CLIENT_KEYS.patientApp],
      },
      { port: 0, dir: dist }
    );
    app = {
      url: served.url,
      close: () =>
        new Promise((resolveClose) => {
          served.server.close(() => resolveClose());
          served.server.closeAllConnections();
        }),
    };
    const appBase = app.url;
    const owner = await env.signIn('owner');
    const patientId = (await owner.getProfileAsync())?.id ?? '';
    const imported = await importYear(env, owner);
    if (COPIES > 0) {
      await addCopies(env, patientId, COPIES);
    }
    // The visits run at Medplum's default quota, as a real server would serve them.
    await env.stack.setFhirQuota({ user: 50_000, total: 500_000 });
    const observations =
      (
        await env.adminClient.search(
          'Observation',
          { subject: `Patient/${patientId}`, _summary: 'count' },
          { cache: 'no-cache' }
        )
      ).total ?? 0;
    const tExact = performance.now();
    const exact = readLatestBatch(await owner.executeBatch(buildLatestBatch(patientId)));
    const exactMs = performance.now() - tExact;
    if (exact.failures.length > 0) {
      throw new Error(`reference query failed: ${exact.failures.map((f) => f.reason).join('; ')}`);
    }
    const expectedTiles = exact.latest.length;
    const tPage = performance.now();
    const fast = await loadLatest(
      {
        search: (params) => owner.search('Observation', params, { cache: 'no-cache' }),
        batch: (bundle) => owner.executeBatch(bundle),
      },
      patientId
    );
    const pageMs = performance.now() - tPage;
    if (fast.latest.length !== expectedTiles || fast.failures.length > 0) {
      throw new Error(`the page's latest values (${fast.latest.length}) differ from the reference (${expectedTiles})`);
    }
    console.log(
      `setup: ${(imported.ms / 1000).toFixed(0)} s import (${imported.windows} windows), ${observations} Observations` +
        `${COPIES > 0 ? ` (${COPIES + 1} copies of a year)` : ''}, ${expectedTiles} metrics with a current value ` +
        `(from Node: one _count=1 search per metric, batched, ${(exactMs / 1000).toFixed(2)} s; ` +
        `the Data page's latest-value searches ${(pageMs / 1000).toFixed(2)} s)`
    );

    const membershipId = owner.getProjectMembership()?.id ?? '';
    const points = (): number => env.stack.ctx.stats.quotaPoints[membershipId] ?? 0;
    const fhirBase = new URL('fhir/R4', env.baseUrl).toString();
    const appUrl = (path: string): string => new URL(path, appBase).toString();

    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    const signInContext = await browser.newContext();
    const signInPage = await signInContext.newPage();
    await signInPage.goto(appBase);
    await signInPage.waitForURL(/\/signin$/);
    await signInPage.locator('input[name="email"]').fill(env.logins.owner.email);
    await signInPage.getByRole('button', { name: 'Continue' }).click();
    await signInPage.locator('input[name="password"]').fill(env.logins.owner.password);
    await signInPage.getByRole('button', { name: 'Sign In' }).click();
    await signInPage.getByTestId('greeting').waitFor({ timeout: 30_000 });
    const session = await signInContext.storageState();
    await signInContext.close();

    const measure = async (page: Page, meter: Meter, spec: PageSpec, go: () => Promise<number>): Promise<Visit> => {
      meter.reset();
      const before = points();
      const start = await go();
      const readyAt = await page.waitForFunction(
        `(() => { const expected = ${expectedTiles}; return (${spec.ready}) ? performance.now() : false; })()`,
        undefined,
        { polling: 'raf', timeout: 60_000 }
      );
      const ms = ((await readyAt.jsonValue()) as number) - start;
      await meter.settle();
      if (VERBOSE) {
        console.log(`  ${spec.name}: ${(ms / 1000).toFixed(2)} s\n    ${meter.urls.join('\n    ')}`);
      }
      return { ms, requests: meter.requests, bytes: meter.bytes, points: points() - before };
    };

    const results = new Map<string, Visit[]>();
    const record = (key: string, visit: Visit): void => {
      results.set(key, [...(results.get(key) ?? []), visit]);
    };
    for (let run = 0; run < RUNS; run++) {
      for (const spec of PAGES) {
        const context: BrowserContext = await browser.newContext({
          storageState: session,
          viewport: { width: 1280, height: 900 },
        });
        try {
          const page = await context.newPage();
          const meter = new Meter(page, fhirBase);
          // performance.now() counts from navigation start, so a full load is timed from 0.
          record(
            `${spec.name} cold`,
            await measure(page, meter, spec, async () => {
              await page.goto(appUrl(spec.path), { waitUntil: 'commit' });
              return 0;
            })
          );
          record(
            `${spec.name} warm reload`,
            await measure(page, meter, spec, async () => {
              await page.goto(appUrl(spec.path), { waitUntil: 'commit' });
              return 0;
            })
          );
          await nav(page, spec.other.navLabel).click();
          const other = PAGES.find((p) => p.path === spec.other.path);
          await page.waitForFunction(
            `(() => { const expected = ${expectedTiles}; return ${other?.ready ?? 'true'}; })()`
          );
          await meter.settle();
          record(
            `${spec.name} in-app`,
            await measure(page, meter, spec, async () => {
              const start = await page.evaluate(() => performance.now());
              await nav(page, spec.navLabel).click();
              return start;
            })
          );
        } finally {
          await context.close();
        }
      }
    }

    console.log(
      `\n| Page visit (${observations.toLocaleString('en')} Observations, median of ${RUNS}) | time to interactive | FHIR requests | FHIR bytes | quota points |`
    );
    console.log('| --- | --- | --- | --- | --- |');
    for (const [key, visits] of results) {
      console.log(
        `| ${key} | ${(median(visits.map((v) => v.ms)) / 1000).toFixed(2)} s (${visits.map((v) => (v.ms / 1000).toFixed(2)).join(', ')}) ` +
          `| ${median(visits.map((v) => v.requests))} | ${(median(visits.map((v) => v.bytes)) / 1024).toFixed(1)} KiB ` +
          `| ${median(visits.map((v) => v.points))} |`
      );
    }
    console.log(
      `\nreproduce: npm run bench:app   (${machineLine()}; BENCH_APP_RUNS=${RUNS} BENCH_APP_COPIES=${COPIES}; ` +
        `took ${((performance.now() - t0) / 60_000).toFixed(1)} min)`
    );
  } finally {
    await browser?.close();
    await app?.close();
    await env.stop();
    if (!PREBUILT) {
      rmSync(dist, { recursive: true, force: true });
    }
  }
}

await main();
