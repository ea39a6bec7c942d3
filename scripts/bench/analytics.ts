/**
 * `npm run bench:analytics` (issue 8 §7): what an owner's analytics recompute costs, in time, FHIR requests and quota
 * points. One local stack (Medplum 5.2 mode, so WHOOP's webhooks are verified, not hints), the WHOOP sandbox with a
 * year of history, the owner connected through the real bots. Takes 3–4 minutes on a 2-core machine.
 *
 * Set-up: the year's backfill runs with the FHIR quota lifted (at the default quota it alone takes ~5 minutes; that
 * is bench:whoop's subject, not this one's); everything measured after it runs at the default quota.
 *
 * 1. Pure recompute of one owner-year: the owner's Observations exactly as stored after the backfill and the first
 *    recompute (wearable and derived), planned in memory BENCH_RUNS times (default 30) with planInsights (bands,
 *    trends, projections, week and month narratives in every locale, alert rules), and with planDerived alone.
 * 2. Sync completed → derived Observations updated: BENCH_EVENTS (default 30) recoveries of the last weeks are
 *    re-scored at WHOOP one after another; each sends `recovery.updated` → webhook bot → sync Task → sync bot (writes
 *    the new values, queues a recompute) → analytics bot. Measured on the server's own clock: from the sync Task's
 *    completion (its meta.lastUpdated) to the analytics Task's completion, which comes after its last write; the
 *    analytics Task's history splits it into queued → claimed → completed.
 * 3. FHIR requests and quota points per recompute: requests counted on the wire (every HTTP request a bot run makes
 *    to /fhir/R4, attributed to the run by its access token; a batch is one request), points from the stack's
 *    per-membership ledger, each next to what the Task reports about itself (the Task cannot count its own
 *    bookkeeping: the claim, the completion, and the search for a recompute queued meanwhile).
 * 4. A recompute with no new data (queued as the sync bot queues one), BENCH_IDLE times (default 5): Observations
 *    written (created + updated + retracted from the Task's counts); the target is 0.
 */
import { Buffer } from 'node:buffer';
import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { getReferenceString } from '@medplum/core';
import type { MedplumClient, WithId } from '@medplum/core';
import type { Observation, Patient, Task } from '@medplum/fhirtypes';
import { z } from 'zod';
import { planDerived } from '../../bots/analytics/derive.ts';
import { planInsights } from '../../bots/analytics/insights.ts';
import { queueAnalytics } from '../../bots/analytics/queue.ts';
import { TASK_OUTPUT_SYSTEM, TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { startTestStack } from '../../test/harness/stack.ts';
import type { TestStack } from '../../test/harness/stack.ts';
import { allObservations, finishConnect, settle, startConnect, waitForBackfill } from '../../test/whoop/helpers.ts';
import { announce, machineLine } from './about.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 30);
const IDLE = Number(process.env.BENCH_IDLE ?? 5);
const ANALYTICS = `${TASK_TYPE_SYSTEM}|analytics`;
const SYNC = `${TASK_TYPE_SYSTEM}|sync`;
/** Recoveries re-scored are taken from this many recent days: inside the bands' and the trend's windows. */
const RECENT_DAYS = 40;

announce('bench:analytics', `3–4 minutes (${RUNS} pure runs, ${EVENTS} re-scores, ${IDLE} idle runs)`);
const started = performance.now();

// ---- Counting FHIR requests on the wire

/** One HTTP request to the stack's FHIR API, with the bot run (login) and identity (profile) that made it. */
interface WireRequest {
  readonly login: string;
  readonly profile: string;
  readonly method: string;
  readonly path: string;
}

const TokenClaims = z.looseObject({ login_id: z.string(), profile: z.string().optional() });

/** The run a bearer token belongs to: the stack signs one token per bot run, naming its Login and profile. */
function claimsOf(authorization: string | null): { login: string; profile: string } | undefined {
  const payload = /^Bearer [^.]+\.([^.]+)\./i.exec(authorization ?? '')?.[1];
  if (!payload) {
    return undefined;
  }
  const claims = TokenClaims.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
  return claims.success ? { login: claims.data.login_id, profile: claims.data.profile ?? '' } : undefined;
}

const wire: WireRequest[] = [];
const realFetch = globalThis.fetch;
// The stack runs bots in node:vm with this process's `fetch` (read when each run starts), so a wrapper installed
// before the stack starts sees every request a bot makes, and nothing a bot does is changed by it.
globalThis.fetch = (input, init) => {
  const request = input instanceof Request ? input : undefined;
  const url = new URL(request ? request.url : String(input));
  if (url.pathname.startsWith('/fhir/R4')) {
    const claims = claimsOf(new Headers(init?.headers ?? request?.headers).get('authorization'));
    if (claims) {
      wire.push({ ...claims, method: init?.method ?? request?.method ?? 'GET', path: url.pathname });
    }
  }
  return realFetch(input, init);
};

// ---- Helpers

const figures: [string, string][] = [];
function figure(name: string, value: string): void {
  figures.push([name, value]);
  console.log(`  ${name}: ${value}`);
}

/** Nearest-rank percentile of an ascending list. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

function spread(values: readonly number[], unit: string, digits = 0): string {
  const sorted = [...values].sort((a, b) => a - b);
  const f = (v: number): string => v.toFixed(digits) + (unit ? ` ${unit}` : '');
  return `median ${f(percentile(sorted, 50))}, p95 ${f(percentile(sorted, 95))}, max ${f(sorted.at(-1) ?? Number.NaN)} (n = ${sorted.length})`;
}

function output(task: Task, code: string): number | undefined {
  return task.output?.find((o) => o.type.coding?.some((c) => c.system === TASK_OUTPUT_SYSTEM && c.code === code))
    ?.valueInteger;
}

const written = (task: Task): number =>
  (output(task, 'created') ?? 0) + (output(task, 'updated') ?? 0) + (output(task, 'retracted') ?? 0);

async function tasks(env: TestStack, code: string, patient: string): Promise<WithId<Task>[]> {
  return env.adminClient.searchResources('Task', { code, subject: patient, _count: '1000' }, { cache: 'no-cache' });
}

/** Waits until the stack is quiet and none of the owner's analytics Tasks is requested or in progress. */
async function analyticsIdle(env: TestStack, patient: string, timeoutMs = 300_000): Promise<WithId<Task>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await settle(env);
    const list = await tasks(env, ANALYTICS, patient);
    if (list.length > 0 && list.every((t) => t.status !== 'requested' && t.status !== 'in-progress')) {
      return list;
    }
    if (Date.now() > deadline) {
      throw new Error(`analytics did not finish: ${list.map((t) => t.status).join(', ')}`);
    }
    await sleep(100);
  }
}

const lastUpdated = (r: { meta?: { lastUpdated?: string } }): number => Date.parse(r.meta?.lastUpdated ?? '');

interface RunCost {
  /** FHIR requests analytics bot runs made (counted on the wire). */
  requests: number;
  /** Quota points the analytics bot's membership spent (the stack's ledger). */
  points: number;
  /** Each request as `<method> <resource type>` (`POST batch` for a Bundle to the base). */
  calls: string[];
}

/** e.g. "GET Observation ×4, PUT Task ×2, POST batch ×1". */
function breakdown(calls: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const call of calls) {
    counts.set(call, (counts.get(call) ?? 0) + 1);
  }
  return [...counts].map(([call, n]) => `${call} ×${n}`).join(', ');
}

/** What the analytics bot spent while `work` ran (the stack must be otherwise quiet for the ledger to be exact). */
async function costOf<T>(
  env: TestStack,
  analyticsBot: string,
  membership: string,
  work: () => Promise<T>
): Promise<{ result: T; cost: RunCost }> {
  const from = wire.length;
  const pointsBefore = env.stack.ctx.stats.quotaPoints[membership] ?? 0;
  const result = await work();
  const calls = wire
    .slice(from)
    .filter((r) => r.profile === analyticsBot)
    .map((r) => `${r.method} ${r.path.split('/')[3] || 'batch'}`);
  const cost: RunCost = {
    requests: calls.length,
    calls,
    points: (env.stack.ctx.stats.quotaPoints[membership] ?? 0) - pointsBefore,
  };
  return { result, cost };
}

// ---- Set-up: a year of WHOOP history, backfilled and recomputed once

const env = await startTestStack({ whoop: { days: 365, rateLimit: { perMinute: 1000, perDay: 100_000 } } });
try {
  const analyticsBot = env.deployReport.bots.find((b) => b.name === 'analytics');
  if (!analyticsBot?.id || !analyticsBot.membershipId) {
    throw new Error('deploy did not report the analytics bot and its membership');
  }
  const botProfile = `Bot/${analyticsBot.id}`;
  const membership = analyticsBot.membershipId;
  const owner: MedplumClient = await env.signIn('owner');
  const ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  const patient = getReferenceString(ownerPatient);

  console.log('\nSet-up: 365-day WHOOP backfill (FHIR quota lifted for it) and the first recompute');
  await env.stack.setFhirQuota({ user: 10_000_000, total: 100_000_000 });
  const tSetup = performance.now();
  const first = await costOf(env, botProfile, membership, async () => {
    await finishConnect(owner, await startConnect(owner));
    await waitForBackfill(owner, 600_000);
    return analyticsIdle(env, patient);
  });
  // Back to Medplum's default per-membership quota for everything measured below.
  await env.stack.setFhirQuota({});
  const quotaRestoredAt = Date.now();
  const firstTasks = first.result.filter((t) => t.status === 'completed');
  console.log(
    `  backfill + first recompute: ${((performance.now() - tSetup) / 1000).toFixed(1)} s; ` +
      `${first.result.length} analytics Task(s) (${first.result.map((t) => t.status).join(', ')})`
  );
  figure(
    'first recompute after the year backfill',
    `${firstTasks.map((t) => `${output(t, 'created') ?? 0} created`).join(' + ')} derived, ` +
      `${first.cost.requests} FHIR requests, ${first.cost.points} quota points (ledger); ` +
      `Task says ${firstTasks.map((t) => `${output(t, 'points') ?? '?'} points, ${output(t, 'requests') ?? '?'} requests`).join(' + ')}`
  );

  // ---- 1. Pure recompute of one owner-year
  {
    console.log(`\n1. Pure recompute of one owner-year (${RUNS} runs each, taken in turn, after 3 warm-up runs)`);
    const observations = await allObservations(env.adminClient, { subject: patient });
    // The read half of a recompute, as the bot pages it (1000 per page by _offset), for comparison with figure 2.
    const reads: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      for (let offset = 0; ; offset += 1000) {
        const page = await env.adminClient.searchResources(
          'Observation',
          { subject: patient, _count: '1000', _offset: String(offset) },
          { cache: 'no-cache' }
        );
        if (page.length < 1000) {
          break;
        }
      }
      reads.push(performance.now() - t);
    }
    const settings = await env.adminClient.searchResources('Basic', { subject: patient, _count: '1000' });
    const flags = await env.adminClient.searchResources('Flag', { subject: patient, _count: '1000' });
    const input = {
      patient,
      observations,
      settings,
      flags,
      now: new Date(),
    };
    /** Runs the plans in turn, so a change in the machine's load falls on all of them alike. */
    const time = (plans: readonly (() => void)[]): number[][] => {
      const ms = plans.map((): number[] => []);
      for (let i = -3; i < RUNS; i++) {
        plans.forEach((plan, j) => {
          const t = performance.now();
          plan();
          if (i >= 0) {
            ms[j]?.push(performance.now() - t);
          }
        });
      }
      return ms;
    };
    // The bot runs its bundle in a new vm context on every run (as Medplum's vmcontext runtime does), without the
    // warm-up the timed runs below get: this first call is closer to what a bot run pays.
    const tCold = performance.now();
    const insights = planInsights(input);
    const coldMs = performance.now() - tCold;
    const series = insights.derived.series;
    const days = Object.values(series).flatMap((values) => values.map((v) => v.day));
    const wearable = observations.filter((o: Observation) =>
      o.identifier?.some((i) => i.system?.includes('/whoop/'))
    ).length;
    console.log(
      `  input: ${observations.length} Observations (${wearable} from WHOOP), ${Object.keys(series).length} daily series, ` +
        `${days.length} metric-days, ${[...days].sort()[0]} … ${[...days].sort().at(-1)}`
    );
    console.log(
      `  plan: ${insights.derived.desired.length} derived (${insights.derived.writes.length} to write), ` +
        `${insights.narratives.desired.length} narratives (${insights.narratives.writes.length} to write, ` +
        `${insights.narratives.gated.length} periods gated), alerts ${insights.alerts.fire.length} fire / ` +
        `${insights.alerts.keep.length} keep / ${insights.alerts.skip.length} skip`
    );
    console.log(`  reading them from the local stack as the bot does: ${spread(reads, 'ms')}`);
    console.log(`  first (cold) planInsights call in this process: ${coldMs.toFixed(0)} ms`);
    // Other work on the machine stretches these timings; the load says how busy it was when they were taken.
    console.log(`  load average (1 min) ${loadavg()[0]?.toFixed(1)} on ${cpus().length} cores`);
    const [all = [], derivedOnly = []] = time([
      () => planInsights(input),
      () => planDerived({ patient, observations, now: input.now }),
    ]);
    figure('pure recompute of one owner-year, everything (planInsights)', `${spread(all, 'ms', 1)}; target < 100 ms`);
    figure('pure recompute, bands + trends + projections only (planDerived)', spread(derivedOnly, 'ms', 1));
  }

  // Points spent before the quota was restored still count in the current window: start measuring in a fresh one.
  await sleep(Math.max(0, quotaRestoredAt + 61_000 - Date.now()));

  // ---- 4 (+3). No new data
  {
    console.log(`\n4. Recompute with no new data (${IDLE} runs, queued as the sync bot queues one)`);
    const writes: number[] = [];
    const costs: RunCost[] = [];
    const reported: string[] = [];
    for (let i = 0; i < IDLE; i++) {
      const before = new Set((await tasks(env, ANALYTICS, patient)).map((t) => t.id));
      const { cost } = await costOf(env, botProfile, membership, async () => {
        await queueAnalytics(env.adminClient, { reference: patient }, `bench no-new-data ${i}`);
        return analyticsIdle(env, patient);
      });
      const fresh = (await tasks(env, ANALYTICS, patient)).filter((t) => !before.has(t.id));
      if (fresh.length !== 1 || fresh[0]?.status !== 'completed') {
        throw new Error(`expected one completed recompute, got ${fresh.map((t) => t.status).join(', ') || 'none'}`);
      }
      writes.push(written(fresh[0]));
      costs.push(cost);
      reported.push(`${output(fresh[0], 'points') ?? '?'}/${output(fresh[0], 'requests') ?? '?'}`);
    }
    figure(
      'Observations written by a recompute with no new data',
      `${writes.join(', ')} (created + updated + retracted per run; target 0)`
    );
    figure(
      'FHIR requests / quota points, recompute with no new data',
      `${costs.map((c) => `${c.requests} / ${c.points}`).join('; ')} (wire / ledger); Task says points/requests ${reported.join('; ')}`
    );
    console.log(`  requests of the last run: ${breakdown(costs.at(-1)?.calls ?? [])}`);
  }

  // ---- 2 (+3). Sync completed → derived updated
  {
    console.log(`\n2. Sync completed → derived Observations updated (${EVENTS} WHOOP re-scores, one after another)`);
    const whoop = env.whoop?.sandbox;
    if (!whoop) {
      throw new Error('no WHOOP sandbox');
    }
    const since = new Date(Date.now() - RECENT_DAYS * 86_400_000).toISOString();
    const recoveries = whoop.control
      .records('recovery', { start: since })
      .filter((r) => r.score_state === 'SCORED' && 'sleep_id' in r)
      .map((r) => ('sleep_id' in r ? String(r.sleep_id) : ''));
    if (recoveries.length === 0) {
      throw new Error('no scored recent recoveries to re-score');
    }
    const syncToDerived: number[] = [];
    const rescoreToDerived: number[] = [];
    /** Where the time goes: sync completed → recompute queued → claimed by the bot → completed. */
    const stages = { queued: [] as number[], claimed: [] as number[], ran: [] as number[] };
    const costs: RunCost[] = [];
    const writes: number[] = [];
    const reported: number[] = [];
    const odd: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      const beforeSync = new Set((await tasks(env, SYNC, patient)).map((t) => t.id));
      const beforeAnalytics = new Set((await tasks(env, ANALYTICS, patient)).map((t) => t.id));
      const sleepId = recoveries[i % recoveries.length] ?? '';
      const t = Date.now();
      const { cost } = await costOf(env, botProfile, membership, async () => {
        await whoop.control.rescore('recovery', sleepId);
        return analyticsIdle(env, patient);
      });
      const syncs = (await tasks(env, SYNC, patient)).filter((s) => !beforeSync.has(s.id));
      const recomputes = (await tasks(env, ANALYTICS, patient)).filter((a) => !beforeAnalytics.has(a.id));
      const sync = syncs[0];
      const recompute = recomputes[0];
      if (syncs.length !== 1 || recomputes.length !== 1 || !sync || !recompute) {
        odd.push(`event ${i}: ${syncs.length} sync Task(s), ${recomputes.length} recompute(s)`);
        continue;
      }
      if (sync.status !== 'completed' || recompute.status !== 'completed') {
        odd.push(`event ${i}: sync ${sync.status}, recompute ${recompute.status}`);
        continue;
      }
      syncToDerived.push(lastUpdated(recompute) - lastUpdated(sync));
      rescoreToDerived.push(lastUpdated(recompute) - t);
      const versions = ((await env.adminClient.readHistory('Task', recompute.id)).entry ?? []).flatMap((e) =>
        e.resource ? [e.resource] : []
      );
      const createdAt = Math.min(...versions.map(lastUpdated));
      const claimedAt = Math.min(...versions.filter((v) => v.status === 'in-progress').map(lastUpdated));
      stages.queued.push(createdAt - lastUpdated(sync));
      stages.claimed.push(claimedAt - createdAt);
      stages.ran.push(lastUpdated(recompute) - claimedAt);
      costs.push(cost);
      writes.push(written(recompute));
      reported.push(output(recompute, 'points') ?? Number.NaN);
    }
    console.log(`  requests of the last recompute: ${breakdown(costs.at(-1)?.calls ?? [])}`);
    if (odd.length > 0) {
      console.log(`  not measured: ${odd.join('; ')}`);
    }
    figure('sync Task completed → analytics Task completed', `${spread(syncToDerived, 'ms')}; target p95 < 5 s`);
    console.log(`    of which sync completed → recompute Task created: ${spread(stages.queued, 'ms')}`);
    console.log(`    of which created → claimed by the analytics bot: ${spread(stages.claimed, 'ms')}`);
    console.log(`    of which claimed → completed (read, plan, write): ${spread(stages.ran, 'ms')}`);
    figure('re-score at WHOOP → derived updated (webhook, sync, recompute)', spread(rescoreToDerived, 'ms'));
    figure('derived Observations written per re-score', spread(writes, ''));
    figure(
      'FHIR requests per recompute after a sync (counted on the wire)',
      spread(
        costs.map((c) => c.requests),
        ''
      )
    );
    figure(
      'quota points per recompute after a sync (ledger)',
      `${spread(
        costs.map((c) => c.points),
        ''
      )}; Task says ${spread(reported, '')}`
    );
  }
} finally {
  await env.stop();
  globalThis.fetch = realFetch;
}

console.log(`\nFigures (npm run bench:analytics; ${machineLine()})`);
for (const [name, value] of figures) {
  console.log(`| ${name} | ${value} |`);
}
console.log(`total ${((performance.now() - started) / 60_000).toFixed(1)} min`);
console.log(`reproduce: npm run bench:analytics   (${machineLine()})`);
