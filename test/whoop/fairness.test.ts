/**
 * Fresh data does not wait behind a backfill. Every sync runs as the sync bot's one membership, so all owners share
 * one FHIR quota budget; backfill windows stop at a reserve (BACKFILL_RESERVE) and wait for the next quota window,
 * while webhook-driven syncs may use the reserve. Here the server's quota is set so low that the backfill is
 * throttled for minutes; a webhook for a re-scored workout must still be written within seconds, while the backfill
 * is still waiting.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { MedplumClient } from '@medplum/core';
import { TASK_IDENTIFIER_SYSTEM, TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { BACKFILL_RESERVE } from '../../bots/sync/sync.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { bot, finishConnect, startConnect } from './helpers.ts';

let env: TestStack;
let owner: MedplumClient;

beforeAll(async () => {
  env = await startTestStack({ whoop: { days: 200, webhookRetryDelaysMs: [50, 100, 200, 400, 800] } });
  owner = await env.signIn('owner');
}, 120_000);

afterAll(async () => {
  // Stopping waits for the bot run that is still waiting out its quota window.
  await env?.stop();
}, 200_000);

async function poll<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    // Not faster: every poll is an admin search, charged to the same (lowered) per-membership quota as the bots'.
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

test('a webhook sync is written within seconds while a throttled backfill waits for the quota', async () => {
  // ~2 windows' worth of points would fit a default budget; this one fits a single window in ~2 minutes.
  await env.stack.setFhirQuota({ user: BACKFILL_RESERVE + 8_000 });
  const sandbox = env.whoop?.sandbox;
  if (!sandbox) {
    throw new Error('no sandbox');
  }
  await finishConnect(owner, await startConnect(owner));
  // The admin's own budget is lowered too, and deploying this stack a moment ago spent most of this minute's:
  // a throttled poll is simply a poll that saw nothing yet.
  const backfill = (): Promise<{ status: string }[]> =>
    env.adminClient
      .searchResources('Task', { code: `${TASK_TYPE_SYSTEM}|backfill`, _count: '50' }, { cache: 'no-cache' })
      .catch((err: unknown) => {
        if (String(err).includes('Too Many Requests')) {
          return [];
        }
        throw err;
      });
  // Wait until the backfill has spent its share of this minute (all but the reserve) and a window is in progress.
  const syncMembership = env.deployReport.bots.find((b) => b.name === 'sync')?.membershipId ?? '';
  await poll('the backfill to reach its reserve', 90_000, async () => {
    const running = (await backfill()).some((t) => t.status === 'in-progress');
    const spent = env.stack.ctx.stats.quotaPoints[syncMembership] ?? 0;
    return running && spent >= 8_000 - 1_000 ? true : undefined;
  });

  const workout = sandbox.control.records('workout').find((w) => w.score_state === 'SCORED');
  const workoutId = workout && 'id' in workout ? String(workout.id) : '';
  const traceId = `fairness-${Date.now()}`;
  const started = Date.now();
  await sandbox.control.sendWebhook({ type: 'workout.updated', id: workoutId }, { traceId });
  const task = await poll('the webhook Task', 30_000, async () => {
    const [found] = await env.adminClient.searchResources(
      'Task',
      { identifier: `${TASK_IDENTIFIER_SYSTEM}|whoop:trace:${traceId}` },
      { cache: 'no-cache' }
    );
    return found?.status === 'completed' || found?.status === 'failed' ? found : undefined;
  });
  const tookMs = Date.now() - started;
  expect(task.status).toBe('completed');
  // Well inside one quota window: it did not wait for the reset the backfill is waiting for.
  expect(tookMs).toBeLessThan(15_000);
  const windows = await backfill();
  expect(windows.filter((t) => t.status === 'completed').length).toBeLessThan(windows.length);

  // Let the stack drain: no more throttling, and no more windows to run.
  await env.stack.setFhirQuota({ user: 10_000_000 });
  await owner.executeBot(bot('disconnect'), { provider: 'whoop', erase: false });
}, 180_000);
