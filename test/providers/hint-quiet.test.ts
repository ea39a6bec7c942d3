/**
 * An unverifiable notification (a hint: Withings always, WHOOP and Oura on Medplum 5.0) must not count as "webhooks
 * reach us": anyone can post one, and a forged hint a day would otherwise keep the sweeper from ever running the daily
 * reconcile that makes up lost notifications (found by review: one forged POST moved `lastWebhook`). It still syncs.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseConnection } from '../../bots/shared/connection.ts';
import type { TestStack } from '../harness/stack.ts';
import {
  projectSecret,
  quiet,
  sandboxOf,
  setSecrets,
  startWithingsStack,
  withingsConnection,
} from '../withings/helpers.ts';
import { finishConnect, settle, startConnect, waitForBackfill } from './helpers.ts';

let env: TestStack;
let owner: MedplumClient;
let patient: WithId<Patient>;

beforeAll(async () => {
  env = await startWithingsStack({ withings: { days: 4, rateLimitPerMinute: 100_000 }, medplumVersion: '5.0' });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '3' });
  owner = await env.signIn('owner');
  patient = (await owner.getProfileAsync()) as WithId<Patient>;
  await finishConnect(owner, 'withings', await startConnect(owner, 'withings'));
  await waitForBackfill(owner, 'withings');
  await settle(env);
}, 300_000);

afterAll(async () => {
  await env?.stop();
});

test('a hint syncs but does not mark the connection as hearing webhooks', async () => {
  const before = parseConnection(await withingsConnection(env, patient));
  const url = (await projectSecret(env, 'WITHINGS_WEBHOOK_URL')) ?? '';
  const answer = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ userid: String(sandboxOf(env).userId), appli: '44' }).toString(),
  });
  expect(answer.status).toBe(200);
  await quiet(env, before.id ?? '');
  const after = parseConnection(await withingsConnection(env, patient));
  expect(after.lastWebhook).toBe(before.lastWebhook);
  // The hint's sync ran (it re-read the sleep category), so the last sync moved.
  expect(Date.parse(after.lastSync ?? '')).toBeGreaterThan(Date.parse(before.lastSync ?? '0'));
});
