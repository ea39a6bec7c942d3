/**
 * Issue 9's demo path in Chromium, as a new user does it on `npm start`: the owner opens Sharing and grants the demo
 * clinician heart and sleep for 30 days; the clinician signs in to the app, sees the owner in their list and
 * launches Baseline from it the way the Medplum app's patient page does (a SmartAppLaunch, then the app's launch URL
 * with `iss` and `launch`, then the server's authorize page); the owner sees the visit under "Who looked"; the owner
 * revokes and the clinician's next load says access ended. The WHOOP sandbox is not needed: the owner's record is
 * written by the admin (scripts/e2e/sharing-record.ts).
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { seedRecord } from '../../scripts/e2e/sharing-record.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { launchBrowser, openPage, readmeScreenshot, signIn } from './support.ts';

let env: TestStack;
let browser: Browser;
let owner: MedplumClient;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  env = await startTestStack({ withApp: true });
  owner = await env.signIn('owner');
  const patient = (await owner.getProfileAsync()) as WithId<Patient>;
  await seedRecord(env.adminClient, `Patient/${patient.id}`);
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  for (const context of contexts) {
    await context.close();
  }
  await browser?.close();
  await env?.stop();
});

test('owner grants in the app, clinician launches and sees it, owner sees who looked, revokes, access ends', async () => {
  // The owner grants the demo clinician (the form's defaults: heart and sleep, data from 30 days ago, for 30 days).
  const ownerSide = await openPage(browser, env.appUrl, 'sharing-owner', 20_000);
  contexts.push(ownerSide.context);
  const o = ownerSide.page;
  await signIn(o, env.logins.owner);
  await o.getByTestId('greeting').waitFor();
  await o.locator('header').getByRole('link', { name: 'Sharing', exact: true }).click();
  await o.getByTestId('new-grant').waitFor();
  await o.getByTestId('grantee').click();
  await o.getByRole('option', { name: 'Jordan Lee' }).click();
  expect(await o.getByTestId('grant-problems').count()).toBe(0);
  await o.getByTestId('grant-submit').click();
  await o.getByTestId('grant-done').waitFor();
  const card = o.getByTestId('grant').first();
  await card.waitFor();
  expect(await card.getByTestId('grant-status').textContent()).toBe('Active');
  expect(await card.textContent()).toContain('heart and sleep: measurements, baselines and trends');
  await readmeScreenshot(o, 'sharing');

  // The clinician signs in to the app, finds the owner and launches from the "EHR".
  const drSide = await openPage(browser, env.appUrl, 'sharing-clinician', 20_000);
  contexts.push(drSide.context);
  const d = drSide.page;
  await signIn(d, env.logins.clinician);
  await d.getByTestId('shared-patients').waitFor();
  await d.getByTestId('ehr-launch').first().click();
  await d.waitForURL((u) => u.pathname === '/oauth2/authorize');
  await d.locator('input[name="email"]').fill(env.logins.clinician.email);
  await d.locator('input[name="password"]').fill(env.logins.clinician.password);
  await d.getByRole('button', { name: 'Sign in' }).click();
  await d.getByTestId('shared-patient-view').waitFor();
  expect(await d.getByTestId('shared-patient-name').textContent()).toBe('Alex Rivera');
  await d.getByTestId('clinician-fence').waitFor();
  await d.waitForLoadState('networkidle');

  // The owner sees the visit.
  await card.getByTestId('show-log').click();
  const log = card.getByTestId('access-log');
  await log.waitFor();
  expect(await log.textContent()).toMatch(/\d+ records?: .*Observation/);

  // Revoke: the clinician's next load says access ended.
  await card.getByTestId('revoke').click();
  await o.getByText('Revoked', { exact: true }).first().waitFor();
  await d.reload();
  const ended = d.getByTestId('clinician-no-access');
  await ended.waitFor();
  expect(await ended.textContent()).toContain("Access to this patient's data has ended or was revoked");
}, 180_000);
