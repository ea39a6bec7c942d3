/**
 * The clinician view in Chromium (issue 9 §3). The owner's WHOOP history is imported and analysed by the bots; the
 * clinician is launched from the EHR the way the Medplum app does it (a SmartAppLaunch created with their own token,
 * then the app's launchUri with `iss` and `launch`), signs in on the server's authorize page, and lands in the app:
 *
 * - without a grant: "This patient has not shared data with you";
 * - with a grant: the owner's name, the grant in words with its end, and inside the fence ("not clinical data") the
 *   latest values, Trends and narratives of what was shared — every record read by id (search with `_elements=id`,
 *   then batch GETs), so each one is in the owner's access log; and the standalone list of who shared;
 * - after the owner revokes: the next load says "Access to this patient's data has ended or was revoked".
 *
 * With BASELINE_SCREENSHOTS=1 the run also refreshes the README's picture test/browser/screenshots/clinician.png.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Patient, SmartAppLaunch } from '@medplum/fhirtypes';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { grant, revoke, share } from '../../scripts/e2e/sharing-client.ts';
import { finishConnect, startConnect } from '../../scripts/sandboxes/connect-flow.ts';
import { WHOOP_CALLBACK_PATH } from '../../scripts/sandboxes/wire.ts';
import { analyticsSettled } from '../harness/analytics.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { waitForBackfill } from '../whoop/helpers.ts';
import { launchBrowser, openPage, readmeScreenshot } from './support.ts';

let env: TestStack;
let browser: Browser;
let owner: MedplumClient;
let clinician: MedplumClient;
let ownerId: string;
let drId: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  env = await startTestStack({ withApp: true, whoop: { days: 45, rateLimit: { perMinute: 1000, perDay: 10_000 } } });
  owner = await env.signIn('owner');
  clinician = await env.signIn('clinician');
  ownerId = ((await owner.getProfileAsync()) as WithId<Patient>).id;
  drId = (await clinician.getProfileAsync())?.id ?? '';
  const redirect = new URL(WHOOP_CALLBACK_PATH, env.appUrl).toString();
  await finishConnect(owner, redirect, await startConnect(owner, redirect));
  expect((await waitForBackfill(owner, 240_000)).backfill.failed).toBe(0);
  await analyticsSettled(env);
  browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
  for (const context of contexts) {
    await context.close();
  }
  await browser?.close();
  await env?.stop();
});

/** The EHR launch URL the Medplum app would open for the owner (after creating the SmartAppLaunch as the clinician). */
async function ehrLaunchUrl(): Promise<string> {
  const launch = await clinician.createResource<SmartAppLaunch>({
    resourceType: 'SmartAppLaunch',
    patient: { reference: `Patient/${ownerId}` },
  });
  const url = new URL('launch', env.appUrl);
  url.searchParams.set('iss', `${env.baseUrl}fhir/R4`);
  url.searchParams.set('launch', launch.id);
  return url.toString();
}

/** Opens the launch URL in a fresh profile and signs in on the server's authorize page as the clinician. */
async function launch(name: string, reuse?: Page): Promise<Page> {
  const url = await ehrLaunchUrl();
  let page = reuse;
  if (page) {
    await page.goto(url);
  } else {
    const opened = await openPage(browser, url, name, 20_000);
    contexts.push(opened.context);
    page = opened.page;
  }
  await page.waitForURL((u) => u.pathname === '/oauth2/authorize');
  await page.locator('input[name="email"]').fill(env.logins.clinician.email);
  await page.locator('input[name="password"]').fill(env.logins.clinician.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.origin === new URL(env.appUrl).origin && u.searchParams.get('patient') === ownerId);
  return page;
}

describe('the clinician view', () => {
  test('without a grant: a clear message, and no patient data', async () => {
    const page = await launch('clinician-no-grant');
    const message = page.getByTestId('clinician-no-access');
    await message.waitFor();
    expect(await message.getAttribute('data-reason')).toBe('never');
    expect(await message.textContent()).toContain('This patient has not shared data with you');
    expect(await page.getByTestId('clinician-fence').count()).toBe(0);

    await page.goto(new URL('/', env.appUrl).toString());
    await page.getByTestId('clinician-no-access').waitFor();
    expect(await page.getByTestId('clinician-no-access').textContent()).toContain(
      'No one has shared data with you yet'
    );
  }, 90_000);

  let page: Page;
  let grantId = '';

  test('with a grant: who, what and until when, and the shared data inside the fence, read by id', async () => {
    const view = await grant(owner, {
      grantee: { practitioner: drId },
      groups: ['heart', 'sleep'],
      content: ['wearable', 'derived', 'narratives', 'alerts'],
      sinceDaysAgo: 40,
    });
    grantId = view.id;
    const opened = await openPage(browser, 'about:blank', 'clinician-grant', 20_000);
    contexts.push(opened.context);
    page = opened.page;
    const fhirRequests: Request[] = [];
    page.on('request', (r) => {
      if (r.url().startsWith(`${env.baseUrl}fhir/R4`)) {
        fhirRequests.push(r);
      }
    });
    await launch('clinician-grant', page);

    await page.getByTestId('shared-patient-view').waitFor();
    expect(await page.getByTestId('shared-patient-name').textContent()).toBe('Alex Rivera');
    const summary = await page.getByTestId('grant-summary').textContent();
    expect(summary).toContain('Heart, Sleep: wearable values, baselines, trends and projections');
    expect(summary).toContain(`Data from`);
    const end = new Date(view.end).toLocaleDateString('en-GB', { day: 'numeric', month: 'long', year: 'numeric' });
    expect(await page.getByTestId('access-ends').textContent()).toBe(`Access ends on ${end}`);

    const fence = page.getByTestId('clinician-fence');
    expect(await fence.getByRole('heading', { level: 3 }).first().textContent()).toBe(
      'Wearable data (shared by the patient) — not clinical data'
    );
    expect(await fence.getByTestId('fence-note').textContent()).toBe(
      'Consumer wearable measurements and computed summaries. Not a diagnosis; not validated for clinical decisions.'
    );
    // Inside the fence: latest values, the chart with the bot's band, a narrative, the alert list.
    await fence.getByTestId('latest-values').waitFor();
    expect(await fence.locator('[data-testid="latest-values"] tbody tr').count()).toBeGreaterThan(2);
    expect(await fence.locator('[data-testid="latest-values"] tr[data-metric="hrv-rmssd"]').count()).toBe(1);
    await fence.getByTestId('trends-view').waitFor();
    await fence.locator('[data-testid="trends-view"] svg').first().waitFor();
    await fence.getByTestId('band-summary').waitFor();
    expect(await fence.getByTestId('band-summary').textContent()).toMatch(/^The patient's usual range: /);
    expect(await fence.getByText("Usual range (the patient's baseline)").count()).toBe(1);
    await fence.getByTestId('narrative-card').waitFor();
    await fence.getByTestId('alert-list').waitFor();
    // The owner annotates their days; the clinician does not.
    expect(await page.getByRole('button', { name: 'Add annotation' }).count()).toBe(0);
    await page.waitForLoadState('networkidle');
    await readmeScreenshot(page, 'clinician');

    // Audit-friendly: every search asked for ids only, and the records came from batch reads.
    const searches = fhirRequests.filter((r) => r.method() === 'GET' && new URL(r.url()).search !== '');
    expect(searches.length).toBeGreaterThan(0);
    const notIdOnly = searches.filter((r) => {
      const params = new URL(r.url()).searchParams;
      // The narrative's provenance lookup resolves identifiers to ids: it reads nothing but ids either.
      return params.get('_elements') !== 'id' && params.get('_elements') !== 'id,identifier';
    });
    expect(notIdOnly.map((r) => r.url())).toEqual([]);
    const batches = fhirRequests.filter((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/fhir/R4');
    expect(batches.length).toBeGreaterThan(0);
    for (const batch of batches) {
      const body = JSON.parse(batch.postData() ?? '{}') as {
        type?: string;
        entry?: { request?: { method?: string; url?: string } }[];
      };
      expect(body.type).toBe('batch');
      expect(body.entry?.length ?? 0).toBeLessThanOrEqual(100);
      expect(
        body.entry?.every(
          (e) => e.request?.method === 'GET' && /^[A-Za-z]+\/[A-Za-z0-9\-.]+$/.test(e.request.url ?? '')
        )
      ).toBe(true);
    }

    // And so the owner sees in their access log what was opened, read from Medplum's AuditEvents.
    const log = await share(owner, { action: 'access-log', id: grantId });
    const kinds = 'accessLog' in log ? log.accessLog.flatMap((visit) => Object.keys(visit.kinds)) : [];
    expect(kinds.some((kind) => kind.startsWith('Observation'))).toBe(true);

    // Standalone: the list of owners who shared, with the grant's scope and end.
    await page.getByTestId('all-patients').click();
    await page.getByTestId('shared-patients').waitFor();
    const cards = page.getByTestId('shared-patient');
    expect(await cards.count()).toBe(1);
    expect(await cards.first().getAttribute('data-patient')).toBe(ownerId);
    expect(await cards.first().textContent()).toContain(`Access ends on ${end}`);
    await cards.first().getByRole('button', { name: 'Open' }).click();
    await page.getByTestId('shared-patient-view').waitFor();
  }, 120_000);

  test('after the owner revokes, the next load says access ended', async () => {
    expect((await revoke(owner, grantId)).status).toBe('revoked');
    await page.reload();
    const message = page.getByTestId('clinician-no-access');
    await message.waitFor();
    expect(await message.getAttribute('data-reason')).toBe('ended');
    expect(await message.textContent()).toContain("Access to this patient's data has ended or was revoked");
    expect(await page.getByTestId('clinician-fence').count()).toBe(0);
  }, 60_000);
});
