/**
 * Oura's real rate limit (issue 10 §7 item 6), not an injected fault: the sandbox's own limiter (per app, a window
 * anchored at its first call) set to 25 calls per 5 minutes, so a 90-day backfill (three or four windows of about ten calls) runs into `429` with a
 * `Retry-After` of minutes — longer than a sync run waits (bots/oura/provider.ts SYNC_RATE_LIMIT_WAIT_MS) — and its
 * window Tasks fail with the exact reason and a next attempt no earlier than the Retry-After. Advancing the sandbox
 * clock past the window and `$execute`-ing the sweeper with `asOf` retries them until the backfill completes with
 * exactly the sandbox's data: nothing lost, nothing doubled, and one failed attempt per 429 the sandbox answered.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Patient, Task } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { TASK_EXTENSION } from '../../bots/shared/extensions.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { connect, settle } from '../providers/helpers.ts';
import { expectedFromSandbox } from './expected.ts';
import {
  identifierKeys,
  OPEN_STATUSES,
  ouraObservations,
  ouraSandbox,
  requireConnection,
  setSecrets,
  sweep,
  tasksOf,
  countByType,
} from './helpers.ts';

const WINDOW_SECONDS = 300;

let env: TestStack;
let owner: MedplumClient;
let ownerPatient: WithId<Patient>;

beforeAll(async () => {
  env = await startTestStack({ oura: { days: 20, rateLimit: { limit: 25, windowSeconds: WINDOW_SECONDS } } });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '90' });
  owner = await env.signIn('owner');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

function attempts(task: Task): number {
  return task.extension?.find((e) => e.url === TASK_EXTENSION.attempts)?.valueInteger ?? 0;
}

test('429 with a Retry-After of minutes: windows fail with the reason, the sweeper retries, final counts exact', async () => {
  const sandbox = ouraSandbox(env);
  await connect(owner, 'oura');
  const connectionId = (await requireConnection(env, ownerPatient)).id;
  const reasons = new Set<string>();
  let advancedMs = 0;
  let sawRetryAfter = 0;
  for (let round = 0; round < 15; round++) {
    await settle(env);
    const tasks = await tasksOf(env, connectionId);
    for (const t of tasks.filter((t) => t.status === 'failed')) {
      reasons.add(t.businessStatus?.text ?? '');
      const next = Date.parse(t.extension?.find((e) => e.url === TASK_EXTENSION.nextAttempt)?.valueDateTime ?? '');
      const failedAt = Date.parse(t.meta?.lastUpdated ?? t.lastModified ?? '');
      sawRetryAfter = Math.max(sawRetryAfter, next - failedAt);
    }
    if (tasks.length > 0 && tasks.every((t) => t.status === 'completed')) {
      break;
    }
    if (tasks.some((t) => OPEN_STATUSES.has(t.status) && t.status !== 'draft')) {
      continue;
    }
    // The limiter's window is over: advance the sandbox clock past it, and the sweeper's clock past the retry time.
    sandbox.control.advanceClock((WINDOW_SECONDS + 1) * 1000);
    advancedMs += (WINDOW_SECONDS + 1) * 1000;
    await sweep(env.adminClient, { asOf: new Date(Date.now() + advancedMs + 7 * 3600_000).toISOString() });
  }
  const tasks = await tasksOf(env, connectionId);
  expect(
    tasks
      .filter((t) => t.status !== 'completed')
      .map((t) => [t.identifier?.[0]?.value, t.status, attempts(t), t.businessStatus?.text])
  ).toEqual([]);
  const limited = sandbox.control.stats().apiStatuses['429'] ?? 0;
  expect(limited).toBeGreaterThan(0);
  expect(reasons.size).toBeGreaterThan(0);
  for (const reason of reasons) {
    expect(reason).toMatch(/^oura GET \/v2\/usercollection\/\w+ failed: HTTP 429 \(rate-limited\) retry after \d+s$/);
  }
  // The next attempt honours Retry-After (minutes), not the 1-minute first backoff.
  expect(sawRetryAfter).toBeGreaterThan(120_000);
  // One failed attempt per 429 the sandbox answered: none was waited out, swallowed or retried in a loop.
  expect(tasks.reduce((sum, t) => sum + attempts(t), 0)).toBe(limited);

  const expected = expectedFromSandbox(sandbox);
  const observations = await ouraObservations(env, ownerPatient);
  const keys = identifierKeys(observations);
  expect(new Set(keys).size).toBe(keys.length);
  expect(countByType(observations)).toEqual(expected.byType);
  expect(observations.filter((o) => o.meta?.profile?.[0] !== INTRADAY_PROFILE)).toHaveLength(expected.observations);
  expect(observations.filter((o) => o.meta?.profile?.[0] === INTRADAY_PROFILE)).toHaveLength(
    expected.series.windows.size
  );
}, 300_000);
