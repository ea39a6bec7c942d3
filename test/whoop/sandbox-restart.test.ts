/**
 * Restarting `npm start` must not silently break WHOOP: the stack and the WHOOP sandbox are stopped and started
 * again on the same data directory (the sandbox on a new port), exactly the steps `npm start` runs, and the owner's
 * connection keeps working — the stored refresh token still rotates, a signed webhook still lands and is synced,
 * and disconnect reports that WHOOP confirmed the revocation. A sandbox that forgets its state on restart fails this
 * at the first check after the restart (no tokens), and without that check at the webhook, which reaches nobody.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MedplumClient, WithId } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseConnection } from '../../bots/shared/connection.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../../bots/shared/extensions.ts';
import type { WhoopWorkout } from '../../scripts/sandboxes/whoop/data.ts';
import type { WhoopSandbox, WhoopSandboxOptions } from '../../scripts/sandboxes/whoop/server.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { connectionOf, setSecrets, until } from './connection-helpers.ts';
import { bot, finishConnect, settle, startConnect, waitForBackfill } from './helpers.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'baseline-whoop-restart-'));
// An access token that is always inside Baseline's 5-minute refresh margin: every sync run refreshes, so the run
// after the restart must rotate the refresh token the sandbox issued before it.
const WHOOP: Partial<WhoopSandboxOptions> = { days: 8, accessTokenTtlSeconds: 300 };

let env: TestStack | undefined;
let owner: MedplumClient;
let patient: WithId<Patient>;

function sandbox(): WhoopSandbox {
  const current = env?.whoop?.sandbox;
  if (!current) {
    throw new Error('no sandbox');
  }
  return current;
}

async function start(): Promise<TestStack> {
  env = await startTestStack({ dataDir, whoop: WHOOP });
  return env;
}

beforeAll(async () => {
  const first = await start();
  await setSecrets(first, { BASELINE_BACKFILL_DAYS: '4' });
  owner = await first.signIn('owner');
  patient = (await owner.getProfileAsync()) as WithId<Patient>;
}, 180_000);

afterAll(async () => {
  await env?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('restart the stack and the sandbox: the WHOOP link keeps working end to end', async () => {
  const first = env as TestStack;
  await finishConnect(owner, await startConnect(owner));
  await waitForBackfill(owner);
  await settle(first);
  const before = sandbox().control.tokensFor(sandbox().userId);
  expect(before).toHaveLength(1);
  // The backfill already rotated the tokens (the short-lived access token): rotation state is part of what is kept.
  expect(sandbox().control.stats().tokenRefreshes).toBeGreaterThan(0);
  const firstBaseUrl = sandbox().baseUrl;
  const webhookPath = (stack: TestStack): string =>
    new URL(stack.deployReport.bots.find((b) => b.name === 'whoop-webhook')?.webhookUrl ?? 'http://none/').pathname;
  const firstWebhookPath = webhookPath(first);
  await first.stop();

  const second = await start();
  expect(sandbox().baseUrl).not.toBe(firstBaseUrl);
  // The stack kept its data, so the webhook bot kept its membership (`npm start` also keeps the stack's port, so
  // its URL is the same; here the test stack's port is new and the harness registers the URL again, as start.ts
  // does on every start). The sandbox kept its grant and tokens.
  expect(webhookPath(second)).toBe(firstWebhookPath);
  expect(webhookPath(second)).toMatch(/^\/webhook\/[0-9a-f-]{36}$/);
  expect(sandbox().control.tokensFor(sandbox().userId)).toEqual(before);
  owner = await second.signIn('owner');

  // A record changes at WHOOP: the signed webhook reaches the stack, and the sync it queues uses (and rotates) the
  // tokens stored before the restart.
  // A workout: its event comes alone (a sleep's comes with its recovery's, two syncs of one record at once).
  const workout = (sandbox().control.records('workout') as WhoopWorkout[])[0];
  const result = await sandbox().control.rescore('workout', workout?.id ?? '');
  const workoutEvent = result.dispatches.find((d) => d.event.type === 'workout.updated');
  expect(workoutEvent?.outcomes).toEqual([expect.objectContaining({ delivered: true })]);
  const task = await until(second, 'the webhook sync to complete', async () => {
    const [found] = await second.adminClient.searchResources(
      'Task',
      { identifier: `${TASK_IDENTIFIER_SYSTEM}|whoop:trace:${workoutEvent?.traceId ?? ''}` },
      { cache: 'no-cache' }
    );
    return found?.status === 'completed' || found?.status === 'failed' ? found : undefined;
  });
  expect(`${task.status} ${task.statusReason?.text ?? ''} ${task.businessStatus?.text ?? ''}`.trim()).toBe('completed');
  const stats = sandbox().control.stats();
  expect(stats.tokenRefreshes).toBeGreaterThan(0);
  expect(stats.tokenRequests.failed).toBe(0);
  expect(stats.apiStatuses['401']).toBeUndefined();
  const basic = await connectionOf(second, patient);
  if (!basic) {
    throw new Error('the connection is gone');
  }
  const connection = parseConnection(basic);
  expect(connection.status).toBe('active');
  expect(connection.lastError).toBeUndefined();

  // Disconnect revokes at WHOOP with the current tokens, and WHOOP confirms.
  const disconnected = (await owner.executeBot(bot('disconnect'), { provider: 'whoop', erase: false })) as Record<
    string,
    unknown
  >;
  expect(disconnected).toMatchObject({ revoked: true, revocation: 'revoked', tokens: 'deleted' });
  expect(sandbox().control.tokensFor(sandbox().userId)).toEqual([]);
}, 300_000);
