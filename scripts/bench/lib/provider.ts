/**
 * The parts `bench:withings` and `bench:oura` share (issue 10 §7): a local stack set up as test/harness/stack.ts
 * does (Medplum 5.0 mode, default FHIR quota, the sandbox wired, deploy, the webhook edge, the demo people), the
 * owner connected through the sandbox's consent page, the wait for the backfill, the re-run of its windows, and the
 * read-back of what was stored, decoded on its own terms (not through bots/shared/sampled-data.ts, which is what is
 * being measured).
 *
 * This file lives in lib/ because test/benches.test.ts treats every top-level `scripts/bench/*.ts` as a bench.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientStorage, MedplumClient, MemoryStorage } from '@medplum/core';
import type { Observation, ProjectMembership, Task } from '@medplum/fhirtypes';
import { TASK_EXTENSION, TASK_OUTPUT_SYSTEM, TASK_TYPE_SYSTEM } from '../../../bots/shared/extensions.ts';
import { DEFAULT_USER_QUOTA } from '../../../bots/shared/quota.ts';
import { INTRADAY_PROFILE } from '../../../bots/shared/sampled-data.ts';
import { WEARABLE_PROFILE } from '../../../bots/shared/systems.ts';
import { deploy } from '../../deploy/index.ts';
import type { DeployReport } from '../../deploy/index.ts';
import { startNodeEdge } from '../../edge/node-edge.ts';
import type { NodeEdge } from '../../edge/node-edge.ts';
import { startLocalStack } from '../../local-stack/server.ts';
import type { LocalStack } from '../../local-stack/server.ts';
import { passwordClient } from '../../medplum-client.ts';
import { finishProviderConnect, startProviderConnect } from '../../sandboxes/connect-flow.ts';
import type { SandboxProvider } from '../../sandboxes/connect-flow.ts';
import { mergeProjectSecrets } from '../../sandboxes/project-secrets.ts';
import { registerEdgeWebhooks } from '../../sandboxes/wire.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../../seed.ts';

export const APP = 'http://127.0.0.1:3000';
/**
 * `BENCH_DAYS` shortens the backfill (the BASELINE_BACKFILL_DAYS secret, 1–365) for a quick check; the figures in the
 * README are from the default year. `BENCH_RESYNC=0` skips the re-sync step.
 */
export const BENCH_DAYS = Number(process.env.BENCH_DAYS ?? 365);
export const BENCH_RESYNC = process.env.BENCH_RESYNC !== '0';
const POLL_MS = 2_000;
const FINAL_STATUSES = new Set(['completed', 'failed', 'cancelled']);

export interface BenchEnv {
  stack: LocalStack;
  /** Project admin; every FHIR request it makes is counted in `benchRequests` (to take them out of the figures). */
  admin: MedplumClient;
  owner: MedplumClient;
  patientId: string;
  report: DeployReport;
  edge: NodeEdge;
  /** FHIR requests the bench itself made through `admin` (polls, read-backs). */
  benchRequests(): number;
  close(): Promise<void>;
}

/** An admin client whose /fhir/R4 requests are counted, so a figure can subtract the bench's own polling. */
async function countingAdmin(stack: LocalStack): Promise<{ client: MedplumClient; count: () => number }> {
  let count = 0;
  const client = new MedplumClient({
    baseUrl: stack.baseUrl,
    fetch: (url: string | URL | Request, init?: RequestInit) => {
      const href = typeof url === 'string' ? url : url instanceof URL ? url.href : url.url;
      if (href.includes('/fhir/R4')) {
        count++;
      }
      return fetch(url, init);
    },
    storage: new ClientStorage(new MemoryStorage()),
    cacheTime: 0,
  });
  await client.startClientLogin(stack.adminClient.clientId, stack.adminClient.clientSecret);
  return { client, count: () => count };
}

/**
 * test/harness/stack.ts's sequence: stack → sandbox wired into the Project secrets → deploy → edge →
 * registerEdgeWebhooks → demo people. Cron runs (as under `npm start`): the sweeper is what retries a window the
 * provider's rate limit refused.
 * @param name - temp directory prefix
 * @param wire - starts the sandbox and writes its secrets; returns the Oura verification token the edge answers
 *   challenges with (Withings has none: the edge still needs a valid one)
 */
export async function setUpBench(
  name: string,
  wire: (admin: MedplumClient, projectId: string) => Promise<{ verificationToken?: string }>
): Promise<BenchEnv> {
  const dataDir = mkdtempSync(join(tmpdir(), `baseline-bench-${name}-`));
  const stack = await startLocalStack({ dataDir, port: 0, medplumVersion: '5.0', cron: true });
  const { client: admin, count } = await countingAdmin(stack);
  const { verificationToken } = await wire(admin, stack.projectId);
  const report = await deploy({ client: admin, projectId: stack.projectId, appBaseUrls: [APP], log: () => undefined });
  const edge = await startNodeEdge({
    port: 0,
    upstream: stack.baseUrl.replace(/\/+$/, ''),
    verificationToken: verificationToken ?? randomBytes(16).toString('hex'),
  });
  await registerEdgeWebhooks({ admin, projectId: stack.projectId, report, edgeUrl: edge.url });
  await seedDemoPeople(admin, stack.projectId);
  if (BENCH_DAYS !== 365) {
    await mergeProjectSecrets(admin, stack.projectId, { BASELINE_BACKFILL_DAYS: String(BENCH_DAYS) });
  }
  const owner = await passwordClient(stack.baseUrl, DEMO_LOGINS.owner.email, DEMO_LOGINS.owner.password);
  const patientId = (await owner.getProfileAsync())?.id ?? '';
  return {
    stack,
    admin,
    owner,
    patientId,
    report,
    edge,
    benchRequests: count,
    async close() {
      stack.cron.stop();
      await edge.close();
      await stack.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function output(task: Task, code: string): number {
  return (
    task.output?.find((o) => o.type.coding?.some((c) => c.system === TASK_OUTPUT_SYSTEM && c.code === code))
      ?.valueInteger ?? 0
  );
}

export const sum = (tasks: readonly Task[], ...codes: string[]): number =>
  tasks.reduce((n, t) => n + codes.reduce((m, c) => m + output(t, c), 0), 0);

/** How many times a Task failed before its current state (the sweeper's retries), from its attempts extension. */
export function attempts(task: Task): number {
  return task.extension?.find((e) => e.url === TASK_EXTENSION.attempts)?.valueInteger ?? 0;
}

/** A failed Task the sweeper will still retry (it has a next attempt) is not finished. */
function finished(task: Task): boolean {
  if (task.status === 'failed') {
    return !task.extension?.some((e) => e.url === TASK_EXTENSION.nextAttempt);
  }
  return FINAL_STATUSES.has(task.status);
}

export async function tasksOfKind(admin: MedplumClient, kind: 'backfill' | 'sync'): Promise<Task[]> {
  return admin.searchResources('Task', { code: `${TASK_TYPE_SYSTEM}|${kind}`, _count: '1000' }, { cache: 'no-cache' });
}

/** @returns the earliest window start and the latest window end of these Tasks, epoch ms */
export function windowsOf(tasks: readonly Task[]): { start: number; end: number } {
  const at = (code: string): number[] =>
    tasks.flatMap((t) =>
      (t.input ?? [])
        .filter((i) => i.type.coding?.some((c) => c.code === code) && i.valueDateTime)
        .map((i) => Date.parse(i.valueDateTime ?? ''))
    );
  const starts = at('window-start');
  const ends = at('window-end');
  if (starts.length === 0 || ends.length === 0) {
    throw new Error('no windows in these Tasks');
  }
  return { start: Math.min(...starts), end: Math.max(...ends) };
}

/** Samples per `<series>|<metric>|<UTC day ISO>`: epoch ms → value. */
export type SeriesTruth = Map<string, Map<number, number>>;

export function truthKey(series: string, metric: string, t: number): string {
  const day = Math.floor(t / 86_400_000) * 86_400_000;
  return `${series}|${metric}|${new Date(day).toISOString().replace('.000Z', 'Z')}`;
}

export function putTruth(truth: SeriesTruth, key: string, t: number, v: number): void {
  const samples = truth.get(key) ?? new Map<number, number>();
  samples.set(t, v);
  truth.set(key, samples);
}

export interface Agreement {
  stored: number;
  expected: number;
  /** Expected samples stored with the same value. */
  equal: number;
  /** Expected samples missing or stored with another value. */
  missing: number;
  /** Stored samples the sandbox does not have at that instant. */
  extra: number;
  /** Missing or different samples by `<series>|<metric>`, with the first few (key @ instant: stored vs expected). */
  missingBy: Map<string, number>;
  examples: string[];
}

/** Stored series against the sandbox's ground truth, sample by sample. */
export function agreement(stored: readonly DecodedSeries[], truth: SeriesTruth): Agreement {
  const result: Agreement = {
    stored: 0,
    expected: 0,
    equal: 0,
    missing: 0,
    extra: 0,
    missingBy: new Map(),
    examples: [],
  };
  const seen = new Map<string, Map<number, number>>();
  for (const s of stored) {
    seen.set(`${s.series}|${s.metric}|${s.windowStart}`, s.samples);
    result.stored += s.samples.size;
  }
  for (const [key, samples] of truth) {
    const got = seen.get(key);
    result.expected += samples.size;
    for (const [t, v] of samples) {
      if (got?.get(t) === v) {
        result.equal++;
      } else {
        result.missing++;
        const kind = key.split('|').slice(0, 2).join('|');
        result.missingBy.set(kind, (result.missingBy.get(kind) ?? 0) + 1);
        if (result.examples.length < 5) {
          result.examples.push(`${kind} @ ${new Date(t).toISOString()}: ${got?.get(t) ?? 'none'} vs ${v}`);
        }
      }
    }
  }
  for (const [key, samples] of seen) {
    const want = truth.get(key);
    for (const t of samples.keys()) {
      if (!want?.has(t)) {
        result.extra++;
      }
    }
  }
  return result;
}

export interface Backfill {
  /** From the consent's code exchange until the last window finished (the poll's resolution: 2 s). */
  ms: number;
  /** Until the stack's queue was idle too (the analytics recompute the last window queues, and its writes). */
  idleMs: number;
  tasks: Task[];
  queuedWindows: number;
  /** Stack FHIR requests until the last window finished, the bench's own polls taken out. */
  fhirRequests: number;
}

/**
 * Connects the owner through the sandbox's consent page and waits until every backfill window has finished (a
 * failed window with a next attempt is waiting for the sweeper, not finished).
 */
export async function connectAndBackfill(
  env: BenchEnv,
  provider: SandboxProvider,
  progress: (line: string) => void
): Promise<Backfill> {
  const redirect = `${APP}/connect/${provider}/callback`;
  const consent = await startProviderConnect(env.owner, provider, redirect);
  const requests0 = env.stack.ctx.stats.fhirRequests;
  const bench0 = env.benchRequests();
  const started = performance.now();
  const { queuedWindows } = await finishProviderConnect(env.owner, provider, redirect, consent);
  let lastLine = '';
  for (;;) {
    await sleep(POLL_MS);
    const tasks = await tasksOfKind(env.admin, 'backfill');
    const done = tasks.filter(finished).length;
    const line = `${done}/${queuedWindows} windows finished, ${tasks.filter((t) => t.status === 'failed').length} failed (waiting for a retry or final)`;
    if (line !== lastLine) {
      progress(`    ${((performance.now() - started) / 1000).toFixed(0)} s: ${line}`);
      lastLine = line;
    }
    if (tasks.length >= queuedWindows && done >= queuedWindows) {
      const ms = performance.now() - started;
      const fhirRequests = env.stack.ctx.stats.fhirRequests - requests0 - (env.benchRequests() - bench0);
      await env.stack.subscriptions.idle();
      return {
        ms,
        idleMs: performance.now() - started,
        tasks: await tasksOfKind(env.admin, 'backfill'),
        queuedWindows,
        fhirRequests,
      };
    }
  }
}

/** Puts each Task back to requested (via on-hold, as the sweeper does) and waits for it to finish again. */
export async function rerun(env: BenchEnv, tasks: readonly Task[]): Promise<Task[]> {
  for (const task of tasks) {
    const held = await env.admin.updateResource({ ...task, status: 'on-hold' });
    await env.admin.updateResource({ ...held, status: 'requested' });
    // One window at a time, as the queue runs them.
    for (;;) {
      await sleep(500);
      const current = await env.admin.readResource('Task', task.id ?? '', { cache: 'no-cache' });
      if (finished(current)) {
        break;
      }
    }
  }
  await env.stack.subscriptions.idle();
  return Promise.all(tasks.map((t) => env.admin.readResource('Task', t.id ?? '', { cache: 'no-cache' })));
}

/** Waits until no sync Task is open or waiting for a retry; returns them all. */
export async function syncsQuiet(env: BenchEnv, timeoutMs: number): Promise<Task[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    await env.stack.subscriptions.idle();
    const tasks = await tasksOfKind(env.admin, 'sync');
    if (tasks.every(finished)) {
      return tasks;
    }
    if (performance.now() > deadline) {
      throw new Error(`sync Tasks still open: ${tasks.filter((t) => !finished(t)).map((t) => t.status)}`);
    }
    await sleep(POLL_MS);
  }
}

export async function countObservations(env: BenchEnv, profile: string): Promise<number> {
  const bundle = await env.admin.search(
    'Observation',
    { subject: `Patient/${env.patientId}`, _profile: profile, _summary: 'count' },
    { cache: 'no-cache' }
  );
  return bundle.total ?? 0;
}

export async function seriesObservations(env: BenchEnv): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const page of env.admin.searchResourcePages(
    'Observation',
    { subject: `Patient/${env.patientId}`, _profile: INTRADAY_PROFILE, _count: '1000' },
    { cache: 'no-cache' }
  )) {
    out.push(...page);
  }
  return out;
}

export { INTRADAY_PROFILE, WEARABLE_PROFILE };

export interface DecodedSeries {
  /** The per-Observation identifier (system|value): one per metric × device series × UTC day. */
  key: string;
  id: string;
  versionId: string;
  /** `<metric>` as the identifier value names it, e.g. heart-rate. */
  metric: string;
  /** `<series>` as the identifier value names it, e.g. heartrate, sleep, intraday.<deviceid>. */
  series: string;
  /** The UTC day's start, ISO without milliseconds. */
  windowStart: string;
  /** Epoch ms → value of every non-`E` token. */
  samples: Map<number, number>;
}

/**
 * FHIR R4 SampledData read on its own terms: token i is at effectivePeriod.start + i × period, value = origin +
 * token × factor; `E`, `L`, `U` carry no value.
 */
export function decodeSeries(o: Observation): DecodedSeries {
  const sd = o.valueSampledData;
  const start = o.effectivePeriod?.start;
  const id = o.identifier?.[0];
  if (!sd || !start || !id?.value) {
    throw new Error(`not a series Observation: Observation/${o.id ?? ''}`);
  }
  // <patient>:<provider user>:<series>:<metric>:<window start ISO>
  const parts = id.value.split(':');
  const t0 = Date.parse(start);
  const samples = new Map<number, number>();
  const origin = sd.origin.value ?? 0;
  const factor = sd.factor ?? 1;
  (sd.data ?? '')
    .split(/\s+/)
    .filter((token) => token !== '')
    .forEach((token, i) => {
      if (token !== 'E' && token !== 'L' && token !== 'U') {
        samples.set(t0 + i * sd.period, origin + Number(token) * factor);
      }
    });
  return {
    key: `${id.system ?? ''}|${id.value}`,
    id: o.id ?? '',
    versionId: o.meta?.versionId ?? '',
    series: parts[2] ?? '',
    metric: parts[3] ?? '',
    windowStart: new Date(t0).toISOString().replace('.000Z', 'Z'),
    samples,
  };
}

export interface LateMinutes {
  /** Day-series that existed before and hold more samples now, each written as one update. */
  grown: number;
  /** Existing day-series with a new version (should equal grown: nothing else changed). */
  updated: number;
  /** History entries added to the existing day-series (one per update; > updated means a series was rewritten). */
  newVersions: number;
  created: number;
  /** Samples stored before the sync that are gone or changed after it (must be 0). */
  lost: number;
  /** Samples added to day-series that existed before. */
  addedToExisting: number;
  /** A day-series key held by two resources (must be 0). */
  duplicates: number;
}

/**
 * Compares the series before and after a sync: what grew, what was created, what was lost, and how many versions each
 * changed day-series got (from its history: one late sync should be one update per affected day-series).
 */
export async function compareSeries(
  env: BenchEnv,
  before: readonly DecodedSeries[],
  after: readonly DecodedSeries[]
): Promise<LateMinutes> {
  const old = new Map(before.map((s) => [s.key, s]));
  const keys = new Map<string, number>();
  const result: LateMinutes = {
    grown: 0,
    updated: 0,
    newVersions: 0,
    created: 0,
    lost: 0,
    addedToExisting: 0,
    duplicates: 0,
  };
  for (const now of after) {
    keys.set(now.key, (keys.get(now.key) ?? 0) + 1);
    const was = old.get(now.key);
    if (!was) {
      result.created++;
      continue;
    }
    for (const [t, v] of was.samples) {
      if (now.samples.get(t) !== v) {
        result.lost++;
      }
    }
    if (now.samples.size > was.samples.size) {
      result.grown++;
      result.addedToExisting += now.samples.size - was.samples.size;
    }
    if (now.versionId !== was.versionId) {
      result.updated++;
      const history = await env.admin.readHistory('Observation', now.id);
      const entries = history.entry ?? [];
      const index = entries.findIndex((e) => e.resource?.meta?.versionId === was.versionId);
      // History is newest first: the versions above the old one are the ones this sync wrote.
      result.newVersions += index < 0 ? entries.length : index;
    }
  }
  result.duplicates = [...keys.values()].filter((n) => n > 1).length;
  // A day-series that vanished lost all its samples.
  const present = new Set(after.map((s) => s.key));
  for (const was of before) {
    if (!present.has(was.key)) {
      result.lost += was.samples.size;
    }
  }
  return result;
}

/** Quota points per membership, named by the membership's profile (bot or user) where the admin can read it. */
export async function namedLedger(env: BenchEnv, since: Readonly<Record<string, number>>): Promise<string> {
  const parts: string[] = [];
  for (const [id, points] of Object.entries(env.stack.ctx.stats.quotaPoints)) {
    const spent = points - (since[id] ?? 0);
    if (spent <= 0) {
      continue;
    }
    let name = id;
    try {
      const membership = await env.admin.readResource('ProjectMembership', id, { cache: 'no-cache' });
      name = (membership as ProjectMembership).profile?.display ?? id;
    } catch {
      // Not readable (the stack's own admin client): keep the id.
    }
    parts.push(`${name} ${spent.toLocaleString('en-US')}`);
  }
  return parts.join(', ');
}

/**
 * The shortest time the sync bot's membership can spend these quota points in: a backfill window leaves
 * BACKFILL_RESERVE (bots/sync/sync.ts: 10 % of the default 50,000 points/min) for webhook syncs.
 */
export function quotaMinimumMinutes(points: number): number {
  return points / (DEFAULT_USER_QUOTA * 0.9);
}

/** @returns e.g. ` (heartrate|heart-rate 3, sleep|hrv-rmssd 1; e.g. …)`, or '' when nothing is missing */
export function missingDetail(a: Agreement): string {
  if (a.missing === 0) {
    return '';
  }
  const by = [...a.missingBy].map(([k, n]) => `${k} ${n}`).join(', ');
  return ` (${by}; e.g. ${a.examples.join('; ')})`;
}

/** @returns the day-series whose version changed, each as `<series>|<metric>|<day>: <samples before> → <after>, <n> differ` */
export function changedSeries(before: readonly DecodedSeries[], after: readonly DecodedSeries[]): string[] {
  const old = new Map(before.map((s) => [s.key, s]));
  return after
    .filter((s) => old.get(s.key)?.versionId !== s.versionId)
    .map((s) => {
      const was = old.get(s.key);
      const differ = [...(was?.samples ?? new Map<number, number>())].filter(([t, v]) => s.samples.get(t) !== v).length;
      return `${s.series}|${s.metric}|${s.windowStart}: ${was?.samples.size ?? 0} → ${s.samples.size} samples, ${differ} stored ones differ`;
    });
}

export class Figures {
  private readonly rows: [string, string][] = [];

  add(name: string, value: string): void {
    this.rows.push([name, value]);
    console.log(`  ${name}: ${value}`);
  }

  print(title: string): void {
    console.log(`\nFigures (${title})`);
    for (const [name, value] of this.rows) {
      console.log(`| ${name} | ${value} |`);
    }
  }
}

export const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
