/**
 * The demo owner of `npm start` (scripts/seed.ts DEMO_START_WHOOP_PEOPLE: the owner's WHOOP year ends in a
 * synthetic illness-like episode) connects WHOOP on the local stack; once the backfill and the analytics bot have
 * run, the owner's record holds an active alert Flag for the HRV rule, raised by the bots from the imported data
 * alone (no rule changed, nothing seeded), and Home's alert texts exist in both languages. The pure version of
 * this, over many start days, is scripts/sandboxes/whoop/demo-episode.test.ts (where the resting heart rate rule
 * fires on nearly every day, not every one, so it is not required here).
 */
import { getReferenceString } from '@medplum/core';
import type { MedplumClient, WithId } from '@medplum/core';
import type { Communication, Flag, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ALERT_RULE_SYSTEM } from '../../bots/analytics/alerts.ts';
import { finishConnect, startConnect } from '../../scripts/sandboxes/connect-flow.ts';
import { DEMO_LOGINS, DEMO_START_WHOOP_PEOPLE } from '../../scripts/seed.ts';
import { analyticsSettled } from '../harness/analytics.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { REDIRECT_URI, waitForBackfill } from './helpers.ts';

let env: TestStack;
let owner: MedplumClient;
let patient: WithId<Patient>;

async function analyticsIdle(): Promise<void> {
  await analyticsSettled(env, getReferenceString(patient));
}

beforeAll(async () => {
  env = await startTestStack({
    whoop: { days: 90, people: DEMO_START_WHOOP_PEOPLE, rateLimit: { perMinute: 1000, perDay: 10_000 } },
  });
  owner = await env.signIn('owner');
  patient = (await owner.getProfileAsync()) as WithId<Patient>;
  const person = env.whoop?.sandbox.users.find((u) => u.email === DEMO_LOGINS.owner.email);
  await finishConnect(owner, REDIRECT_URI, await startConnect(owner, REDIRECT_URI, person?.userId));
  await waitForBackfill(owner, 300_000);
  await analyticsIdle();
}, 420_000);

afterAll(async () => {
  await env?.stop();
});

test("the owner's record holds an active HRV alert, raised by the bots from the demo year", async () => {
  const episodeStart = env.whoop?.sandbox.users.find((u) => u.email === DEMO_LOGINS.owner.email)?.recentEpisodeStart;
  expect(episodeStart).toBeDefined();
  const flags: Flag[] = await owner.searchResources('Flag', { _count: '100' }, { cache: 'no-cache' });
  const active = flags
    .filter((f) => f.status === 'active')
    .flatMap((f) => f.code.coding?.filter((c) => c.system === ALERT_RULE_SYSTEM).map((c) => c.code) ?? []);
  expect(active).toContain('hrv-below-baseline');
  const hrv = flags.find((f) => f.code.coding?.some((c) => c.code === 'hrv-below-baseline'));
  expect(hrv?.subject.reference).toBe(getReferenceString(patient));
  expect(hrv?.period?.start).toBeDefined();
  const messages: Communication[] = await owner.searchResources(
    'Communication',
    { _count: '100' },
    { cache: 'no-cache' }
  );
  const message = messages.find((m) => m.about?.some((a) => a.reference === `Flag/${hrv?.id}`));
  expect(message?.payload?.map((p) => p.extension?.[0]?.valueCode)).toEqual(['en', 'de']);
});
