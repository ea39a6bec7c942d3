/**
 * The Withings and Oura part of `npm run e2e:medplum` (issue 10), on whatever server the run targets
 * (`E2E_ONLY=providers` runs just this after deploy and the demo people). What a real deployment does, for real:
 *
 * 1. The two sandboxes run in this process on 127.0.0.1 (the server's bots reach them there), the Node edge
 *    (scripts/edge/node-edge.ts) in front of the server, and `WITHINGS_WEBHOOK_URL` / `OURA_WEBHOOK_URL` point at the
 *    edge — because Medplum routes only `POST /webhook/:id`, while Withings HEAD-checks a callback URL and Oura sends
 *    a GET challenge before they subscribe.
 * 2. That callback problem, shown on the server itself: HEAD and GET on the bots' webhook URLs are 404 there, 2xx
 *    (and the challenge echo) through the edge.
 * 3. Owner A connects Withings, then Oura, through the sandboxes' consent pages; connect reports the subscriptions it
 *    made, and the sandboxes show them at the edge's URL (Withings after a HEAD check, Oura after its challenge).
 * 4. Each backfill completes with 0 failed Tasks; the Observations by profile (wearable vs intraday SampledData)
 *    are exactly what the sandboxes' own records imply (test/withings/expected.ts, test/oura/expected.ts — ground
 *    truth from the sandboxes, not from the mappers), every series decodes to the sandbox's samples; a re-sync of
 *    the whole range writes nothing.
 * 5. A Withings notification (a weight edited in the sandbox, which notifies) goes sandbox → edge → server →
 *    `withings-webhook` → Task → sync, and the new value becomes searchable; an Oura morning (`addDay`: new documents,
 *    `create` webhooks) likewise. On Medplum < 5.2 (no `Bot.rawBody`) Oura deliveries are hints: queued within the
 *    hint budget, the sync fetches the documents.
 * 6. Oura subscription renewal: the sandbox clock moves to 6 days before `expiration_time`, the sweeper is
 *    `$execute`d with the same `asOf`, and the sandbox shows every subscription renewed.
 * 7. Disconnect both with erase: 0 Observations left on either Device, the token records expunged, the Withings
 *    subscriptions removed and the Oura grant revoked at the sandboxes.
 *
 * The history is kept short to bound the run: the sandboxes hold `E2E_PROVIDER_DAYS` days (default 20) and the
 * `BASELINE_BACKFILL_DAYS` Project secret is set to 30 for the step and restored afterwards. The sandboxes keep the
 * providers' real rate limits (Withings 120/min, Oura 5,000 per 5 min): the step fits well inside them.
 * The server's data persists between runs: a link left by a stopped run is erased first, and the step erases what
 * it imported.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient, WithId } from '@medplum/core';
import type { Basic, Observation, Task } from '@medplum/fhirtypes';
import type { ConnectionView } from '../../bots/shared/connection.ts';
import {
  CONNECTION_CODE_TOKEN,
  TOKEN_STORE_CODE_TOKEN,
  TOKEN_STORE_IDENTIFIER_SYSTEM,
} from '../../bots/shared/connection.ts';
import { CONNECTION_EXTENSION, TASK_OUTPUT_SYSTEM, TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { BACKFILL_DAYS_SECRET } from '../../bots/shared/queue.ts';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { WEARABLE_PROFILE } from '../../bots/shared/systems.ts';
import { buildTask } from '../../bots/shared/tasks.ts';
import { decodeStored, expectedFromSandbox } from '../../test/oura/expected.ts';
import {
  decodeSeriesObservation,
  expectedRecordKeys,
  expectedSeries,
  recordKeyOf,
  taskRange,
} from '../../test/withings/expected.ts';
import type { DeployReport } from '../deploy/index.ts';
import { startNodeEdge } from '../edge/node-edge.ts';
import type { NodeEdge } from '../edge/node-edge.ts';
import { bot, finishProviderConnect, startProviderConnect } from '../sandboxes/connect-flow.ts';
import { mergeProjectSecrets } from '../sandboxes/project-secrets.ts';
import { registerEdgeWebhooks, startWiredOuraSandbox, startWiredWithingsSandbox } from '../sandboxes/wire.ts';
import type { WiredOura, WiredWithings } from '../sandboxes/wire.ts';

type Check = (ok: boolean, what: string, saw: unknown) => void;
type Figure = (name: string, value: string) => void;
type Provider = 'withings' | 'oura';

export interface ProvidersContext {
  readonly baseUrl: string;
  readonly projectId: string;
  readonly admin: MedplumClient;
  /** Owner A, signed in. */
  readonly owner: MedplumClient;
  readonly patientId: string;
  /** The app origin deploy registered (the sandboxes' redirect URIs are `<app>/connect/<provider>/callback`). */
  readonly appBaseUrl: string;
  /** The second deploy's report: the bots' webhook URLs. */
  readonly report: DeployReport;
  readonly check: Check;
  readonly figure: Figure;
}

const DAY_MS = 86_400_000;
const SANDBOX_DAYS = Number(process.env.E2E_PROVIDER_DAYS ?? 20);
const BACKFILL_DAYS = 30;
const BACKFILL_TIMEOUT_MS = Number(process.env.E2E_BACKFILL_TIMEOUT_S ?? 1800) * 1000;
/** Oura renews a subscription for 90 days; the step moves to this long before it lapses. */
const RENEW_LEAD_MS = 6 * DAY_MS;
/** An erase with no visible progress this long gets the sweeper's stale re-queue (and the figure says so). */
const STALL_MS = 90_000;
const OPEN_TASK = new Set(['draft', 'requested', 'received', 'accepted', 'ready', 'in-progress', 'on-hold']);

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  pollMs = 1000,
  explain?: () => Promise<unknown>
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${explain ? ` — saw ${JSON.stringify(await explain())}` : ''}`);
    }
    await sleep(pollMs);
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

function redirectUri(ctx: ProvidersContext, provider: Provider): string {
  return `${ctx.appBaseUrl.replace(/\/+$/, '')}/connect/${provider}/callback`;
}

async function viewOf(ctx: ProvidersContext, provider: Provider): Promise<ConnectionView | undefined> {
  const { connections } = (await ctx.owner.executeBot(bot('connections'), {})) as { connections: ConnectionView[] };
  return connections.find((c) => c.provider === provider);
}

/** The owner's connection record of that provider, as the admin sees it. */
async function connectionOf(ctx: ProvidersContext, provider: Provider): Promise<WithId<Basic> | undefined> {
  const all = await ctx.admin.searchResources(
    'Basic',
    { code: CONNECTION_CODE_TOKEN, subject: `Patient/${ctx.patientId}` },
    { cache: 'no-cache' }
  );
  return all.find((b) => b.extension?.some((e) => e.url === CONNECTION_EXTENSION.provider && e.valueCode === provider));
}

async function tokenRecordId(ctx: ProvidersContext, connectionId: string): Promise<string | undefined> {
  const record = await ctx.admin.searchOne(
    'Basic',
    { code: TOKEN_STORE_CODE_TOKEN, identifier: `${TOKEN_STORE_IDENTIFIER_SYSTEM}|${connectionId}` },
    { cache: 'no-cache' }
  );
  return record?.id;
}

/** Versions of a record left: an expunged record has none, a deleted one keeps its history. */
async function historyLeft(ctx: ProvidersContext, id: string): Promise<number> {
  const bundle = await ctx.admin.readHistory('Basic', id).catch(() => undefined);
  return bundle?.entry?.length ?? 0;
}

async function tasksOf(ctx: ProvidersContext, connectionId: string, kind?: string): Promise<WithId<Task>[]> {
  const query: Record<string, string> = { focus: `Basic/${connectionId}`, _count: '500' };
  if (kind) {
    query.code = `${TASK_TYPE_SYSTEM}|${kind}`;
  }
  const out: WithId<Task>[] = [];
  for await (const page of ctx.admin.searchResourcePages('Task', query, { cache: 'no-cache' })) {
    out.push(...page);
  }
  return out;
}

function output(task: Task, code: string): number {
  return (
    task.output?.find((o) => o.type.coding?.some((c) => c.system === TASK_OUTPUT_SYSTEM && c.code === code))
      ?.valueInteger ?? 0
  );
}

async function count(ctx: ProvidersContext, query: Record<string, string>): Promise<number> {
  const bundle = await ctx.admin.search('Observation', { ...query, _summary: 'count' }, { cache: 'no-cache' });
  return bundle.total ?? 0;
}

async function observations(ctx: ProvidersContext, query: Record<string, string>): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const page of ctx.admin.searchResourcePages(
    'Observation',
    { ...query, _count: '1000' },
    { cache: 'no-cache' }
  )) {
    out.push(...page);
  }
  return out;
}

/** The device's Observations by profile: single values and intraday series. */
async function byProfile(
  ctx: ProvidersContext,
  deviceId: string
): Promise<{ wearable: Observation[]; series: Observation[] }> {
  const base = { subject: `Patient/${ctx.patientId}`, device: `Device/${deviceId}` };
  const [wearable, series] = await Promise.all([
    observations(ctx, { ...base, _profile: WEARABLE_PROFILE }),
    observations(ctx, { ...base, _profile: INTRADAY_PROFILE }),
  ]);
  return { wearable, series };
}

/** Waits until no erase Task of the connection is open; throws when one gave up. */
async function waitForErase(ctx: ProvidersContext, connectionId: string): Promise<void> {
  await waitFor(
    'erase Tasks',
    BACKFILL_TIMEOUT_MS,
    async () => {
      const erase = await tasksOf(ctx, connectionId, 'erase');
      const gaveUp = erase.filter(
        (t) => t.status === 'failed' && !t.extension?.some((e) => e.url.endsWith('/task-next-attempt'))
      );
      if (gaveUp.length > 0) {
        throw new Error(`an erase Task gave up: ${gaveUp.map((t) => t.businessStatus?.text).join('; ')}`);
      }
      return erase.some((t) => OPEN_TASK.has(t.status) || t.status === 'failed') ? undefined : true;
    },
    2000
  );
}

/** Erases a link an earlier, stopped run left (its sandbox is gone, so the revoke itself may fail). */
async function eraseLeftover(ctx: ProvidersContext, provider: Provider): Promise<void> {
  const view = await viewOf(ctx, provider);
  if (!view || (view.status === 'disconnected' && view.erase?.status === 'completed')) {
    return;
  }
  console.log(`  erasing the ${provider} link a previous run left (${view.status})`);
  await ctx.owner.executeBot(bot('disconnect'), { provider, erase: true });
  const basic = await connectionOf(ctx, provider);
  if (basic) {
    await waitForErase(ctx, basic.id);
  }
}

/** Sets a Project secret for the step and returns how to put the old value back (or remove it). */
async function overrideSecret(ctx: ProvidersContext, name: string, value: string): Promise<() => Promise<void>> {
  const project = await ctx.admin.readResource('Project', ctx.projectId, { cache: 'no-cache' });
  const before = project.secret?.find((s) => s.name === name)?.valueString;
  await mergeProjectSecrets(ctx.admin, ctx.projectId, { [name]: value });
  return async () => {
    if (before !== undefined) {
      await mergeProjectSecrets(ctx.admin, ctx.projectId, { [name]: before });
      return;
    }
    const now = await ctx.admin.readResource('Project', ctx.projectId, { cache: 'no-cache' });
    await ctx.admin.post(
      `admin/projects/${ctx.projectId}/secrets`,
      (now.secret ?? []).filter((s) => s.name !== name)
    );
  };
}

async function status(url: string, method: 'GET' | 'HEAD'): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { method });
  return { status: res.status, body: method === 'HEAD' ? '' : await res.text() };
}

/** Connects through the sandbox's consent page and waits for the backfill; returns the connection and its timing. */
async function connectAndBackfill(
  ctx: ProvidersContext,
  provider: Provider
): Promise<{
  view: ConnectionView;
  connection: WithId<Basic>;
  deviceId: string;
  ms: number;
  windows: number;
  subscribed: readonly string[];
}> {
  const label = provider === 'withings' ? 'Withings' : 'Oura';
  const consent = await startProviderConnect(ctx.owner, provider, redirectUri(ctx, provider));
  const started = performance.now();
  const connected = await finishProviderConnect(ctx.owner, provider, redirectUri(ctx, provider), consent);
  ctx.check(
    connected.connection.status === 'active' && connected.queuedWindows > 0,
    `${label}: connect is active and queued ${connected.queuedWindows} backfill windows`,
    { status: connected.connection.status, windows: connected.queuedWindows }
  );
  ctx.check(
    (connected.notifications?.subscribed?.length ?? 0) > 0 && connected.notifications?.warning === undefined,
    `${label}: connect reports ${connected.notifications?.subscribed?.length ?? 0} subscriptions made, no warning`,
    connected.notifications
  );
  let last = '';
  const view = await waitFor(`${label} backfill`, BACKFILL_TIMEOUT_MS, async () => {
    const v = await viewOf(ctx, provider);
    const progress = JSON.stringify(v?.backfill);
    if (progress !== last) {
      last = progress;
      console.log(`    ${((performance.now() - started) / 1000).toFixed(0)} s: ${progress}`);
    }
    return v && v.backfill.total > 0 && v.backfill.inProgress === 0 ? v : undefined;
  });
  const connection = await connectionOf(ctx, provider);
  if (!connection) {
    throw new Error(`${label}: no connection record after connect`);
  }
  // The backfill view counts windows; the last window's Task may still be closing, and the sync Tasks it chains.
  await waitFor(
    `${label} queue to drain`,
    300_000,
    async () => ((await tasksOf(ctx, connection.id)).some((t) => OPEN_TASK.has(t.status)) ? undefined : true),
    1000
  );
  return {
    view,
    connection,
    deviceId: view.deviceId ?? '',
    ms: performance.now() - started,
    windows: connected.queuedWindows,
    subscribed: connected.notifications?.subscribed ?? [],
  };
}

/** Queues a sync of the whole imported range as an operator would, and returns the finished Task. */
async function resync(ctx: ProvidersContext, provider: Provider, connectionId: string): Promise<Task> {
  const created = await ctx.admin.createResource(
    buildTask({
      kind: 'sync',
      patient: { reference: `Patient/${ctx.patientId}` },
      connection: { reference: `Basic/${connectionId}` },
      provider,
      dedupeKey: `${provider}:e2e-resync:${Date.now()}`,
      window: { start: new Date(Date.now() - BACKFILL_DAYS * DAY_MS).toISOString(), end: new Date().toISOString() },
    })
  );
  return waitFor(`${provider} re-sync`, 300_000, async () => {
    const task = await ctx.admin.readResource('Task', created.id, { cache: 'no-cache' });
    return task.status === 'completed' || task.status === 'failed' ? task : undefined;
  });
}

function samplesOf(decoded: readonly number[]): string {
  return decoded.length === 0 ? '' : `${decoded.length} resources, ${decoded.reduce((a, b) => a + b, 0)} samples`;
}

async function withingsPart(
  ctx: ProvidersContext,
  withings: WiredWithings,
  webhookUrl: string
): Promise<{ deviceId: string; connectionId: string }> {
  const { check, figure } = ctx;
  const sandbox = withings.sandbox;
  const userId = sandbox.userId;
  const headsBefore = sandbox.control.stats().headChecks.length;

  console.log('\n  Withings: connect and backfill');
  const got = await connectAndBackfill(ctx, 'withings');
  const subs = sandbox.control.subscriptions(userId);
  check(
    subs.length === got.subscribed.length && subs.every((s) => s.callbackurl === webhookUrl),
    `Withings sandbox holds the ${got.subscribed.length} subscriptions, each at the edge URL`,
    subs.map((s) => [s.appli, s.callbackurl])
  );
  const heads = sandbox.control.stats().headChecks.slice(headsBefore);
  check(
    heads.length === subs.length && heads.every((h) => h.accepted && h.url === webhookUrl),
    'each subscription passed Withings’ HEAD check, answered by the edge',
    heads
  );

  const backfill = await tasksOf(ctx, got.connection.id, 'backfill');
  const failed = backfill.filter((t) => t.status === 'failed');
  check(
    failed.length === 0 && got.view.backfill.failed === 0,
    `Withings backfill: ${backfill.length} windows, 0 failed Tasks`,
    failed.map((t) => t.businessStatus?.text)
  );
  const range = taskRange(backfill);
  const { wearable, series } = await byProfile(ctx, got.deviceId);
  const want = expectedRecordKeys(sandbox, range, userId);
  const have = new Set(wearable.map(recordKeyOf));
  const missing = [...want].filter((k) => !have.has(k));
  const extra = [...have].filter((k) => k === undefined || !want.has(k));
  check(
    missing.length === 0 && extra.length === 0,
    `Withings wearable profile: the records of exactly the ${want.size} sandbox records in range (${wearable.length} Observations)`,
    { missing: missing.slice(0, 5), extra: extra.slice(0, 5) }
  );
  const truth = expectedSeries(sandbox, range, userId, SANDBOX_DAYS);
  const wrong: string[] = [];
  const sizes: number[] = [];
  for (const o of series) {
    const decoded = decodeSeriesObservation(o);
    const expected = truth.get(decoded.key);
    sizes.push(decoded.samples.size);
    if (!expected || JSON.stringify([...expected].sort()) !== JSON.stringify([...decoded.samples].sort())) {
      wrong.push(decoded.key);
    }
  }
  check(
    series.length === truth.size && wrong.length === 0,
    `Withings intraday profile: ${truth.size} SampledData resources (series × UTC day), each decoding to the sandbox's minutes`,
    { stored: series.length, expected: truth.size, wrong: wrong.slice(0, 5) }
  );
  // One full day shown in the figures: the second-newest heart-rate day (the newest is partial).
  const hrDays = series
    .map((o) => decodeSeriesObservation(o))
    .filter((d) => d.key.includes('|heart-rate|'))
    .sort((a, b) => b.key.localeCompare(a.key));
  const day = hrDays[1] ?? hrDays[0];
  const dayTruth = day ? truth.get(day.key) : undefined;
  check(
    day !== undefined && dayTruth !== undefined && dayTruth.size === day.samples.size,
    `Withings: one day's heart rate decodes to the sandbox's ${dayTruth?.size ?? 0} minutes`,
    day?.key
  );
  const samples = sizes.reduce((a, b) => a + b, 0);
  figure(
    'Withings backfill',
    `${seconds(got.ms)} for ${SANDBOX_DAYS} days (${got.windows} windows); ${wearable.length} wearable + ${series.length} intraday Observations`
  );
  figure(
    'Withings SampledData',
    `${samplesOf(sizes)} (${(samples / Math.max(1, series.length)).toFixed(0)} samples/resource); ${day?.key ?? ''}: ${day?.samples.size ?? 0} minutes, first ${JSON.stringify([...(day?.samples ?? new Map<number, number>())].slice(0, 3).map(([t, v]) => [new Date(t).toISOString().slice(11, 16), v]))}`
  );
  figure('Withings API calls (sandbox counters)', JSON.stringify(sandbox.control.stats().calls));

  const again = await resync(ctx, 'withings', got.connection.id);
  const writes = output(again, 'created') + output(again, 'updated') + output(again, 'retracted');
  check(
    again.status === 'completed' && writes === 0,
    `Withings re-sync of the ${BACKFILL_DAYS}-day range writes nothing`,
    {
      status: again.status,
      writes,
      why: again.businessStatus?.text,
    }
  );

  // A notification: a weight edited in Health Mate; the sandbox notifies appli 1 at the edge URL.
  console.log('\n  Withings: notification → searchable');
  const group = sandbox.control
    .measureGroups(userId)
    .filter((g) => g.category === 1 && g.attrib !== 1 && g.measures.some((m) => m.type === 1))
    .sort((a, b) => b.date - a.date)[0];
  const stored = group ? wearable.find((o) => recordKeyOf(o) === `measure:${group.grpid}`) : undefined;
  const recordId = stored?.identifier?.find((i) => i.system?.endsWith('/withings/record'));
  check(Boolean(group && recordId?.value), 'the newest weigh-in is stored', group?.grpid);
  const weight = group?.measures.find((m) => m.type === 1);
  // One decimal: representable at the group's own unit (Withings keeps weight as value × 10^-2 or 10^-3).
  const newKg = Math.round(((weight?.value ?? 0) * 10 ** (weight?.unit ?? 0) + 0.7) * 10) / 10;
  const t0 = performance.now();
  const sent = await sandbox.control.editMeasure(userId, group?.grpid ?? 0, [{ type: 1, value: newKg }]);
  const outcomes = sent.flatMap((r) => r.outcomes);
  check(
    outcomes.length > 0 && outcomes.every((o) => o.delivered),
    `the notification went sandbox → edge → ${new URL(ctx.baseUrl).host} and was accepted`,
    outcomes
  );
  const accepted = performance.now() - t0;
  const groupQuery = { identifier: `${recordId?.system ?? ''}|${recordId?.value ?? ''}` };
  await waitFor(
    'the edited weight to be searchable',
    120_000,
    async () => {
      const found = await ctx.admin.searchResources(
        'Observation',
        { ...groupQuery, 'value-quantity': String(newKg) },
        { cache: 'no-cache' }
      );
      return found.some((o) => Math.abs((o.valueQuantity?.value ?? 0) - newKg) < 1e-9) ? true : undefined;
    },
    250,
    async () => ({
      want: newKg,
      stored: (await ctx.admin.searchResources('Observation', groupQuery, { cache: 'no-cache' })).map((o) => [
        o.code?.coding?.[0]?.code,
        o.valueQuantity?.value,
      ]),
      syncs: (await tasksOf(ctx, got.connection.id, 'sync'))
        .filter((t) => t.identifier?.some((i) => i.value?.includes(':hint')))
        .map((t) => [t.identifier?.[0]?.value, t.status, t.businessStatus?.text]),
    })
  );
  const searchable = performance.now() - t0;
  check(true, `the edited weight (${newKg} kg) is searchable by value`, '');
  figure(
    'Withings notification → searchable',
    `${searchable.toFixed(0)} ms (notification accepted after ${accepted.toFixed(0)} ms; hint → Task → sync)`
  );
  return { deviceId: got.deviceId, connectionId: got.connection.id };
}

async function ouraPart(
  ctx: ProvidersContext,
  oura: WiredOura,
  webhookUrl: string,
  rawBody: boolean
): Promise<{ deviceId: string; connectionId: string }> {
  const { check, figure } = ctx;
  const sandbox = oura.sandbox;
  const challengesBefore = sandbox.control.stats().challenges.length;

  console.log('\n  Oura: connect and backfill');
  const got = await connectAndBackfill(ctx, 'oura');
  const subs = sandbox.control.subscriptions();
  check(
    subs.length === got.subscribed.length && subs.every((s) => s.callback_url === webhookUrl),
    `Oura sandbox holds the ${got.subscribed.length} app subscriptions, each at the edge URL`,
    subs.map((s) => [s.event_type, s.data_type, s.callback_url])
  );
  const challenges = sandbox.control.stats().challenges.slice(challengesBefore);
  check(
    challenges.length === subs.length && challenges.every((c) => c.passed && c.status === 200),
    'each subscription passed Oura’s GET challenge, answered by the edge',
    challenges
  );

  const backfill = await tasksOf(ctx, got.connection.id, 'backfill');
  const failed = backfill.filter((t) => t.status === 'failed');
  check(
    failed.length === 0 && got.view.backfill.failed === 0,
    `Oura backfill: ${backfill.length} windows, 0 failed Tasks`,
    failed.map((t) => t.businessStatus?.text)
  );
  const expected = expectedFromSandbox(sandbox);
  const { wearable, series } = await byProfile(ctx, got.deviceId);
  check(
    wearable.length === expected.observations,
    `Oura wearable profile: exactly the ${expected.observations} Observations the sandbox's documents imply`,
    { stored: wearable.length, byType: expected.byType }
  );
  const wrong: string[] = [];
  const sizes: number[] = [];
  for (const o of series) {
    const { key, values } = decodeStored(o);
    sizes.push(values.size);
    const truth = expected.series.windows.get(key);
    if (!truth || JSON.stringify([...truth].sort()) !== JSON.stringify([...values].sort())) {
      wrong.push(key);
    }
  }
  check(
    series.length === expected.series.windows.size && wrong.length === 0,
    `Oura intraday profile: ${expected.series.windows.size} SampledData resources, each decoding to the sandbox's samples`,
    { stored: series.length, expected: expected.series.windows.size, wrong: wrong.slice(0, 5) }
  );
  const hrDays = series
    .map((o) => decodeStored(o))
    .filter((d) => d.key.startsWith('heartrate|'))
    .sort((a, b) => b.key.localeCompare(a.key));
  const day = hrDays[1] ?? hrDays[0];
  const dayTruth = day ? expected.series.windows.get(day.key) : undefined;
  check(
    day !== undefined && dayTruth !== undefined && dayTruth.size === day.values.size,
    `Oura: one day's heart rate decodes to the sandbox's ${dayTruth?.size ?? 0} five-minute slots`,
    day?.key
  );
  const raw = [...expected.series.rawSamples.values()].reduce((a, b) => a + b, 0);
  figure(
    'Oura backfill',
    `${seconds(got.ms)} for ${SANDBOX_DAYS} days (${got.windows} windows); ${wearable.length} wearable + ${series.length} intraday Observations`
  );
  figure(
    'Oura SampledData',
    `${samplesOf(sizes)} from ${raw} raw samples (${(raw / Math.max(1, series.length)).toFixed(0)} per resource); ${day?.key ?? ''}: ${day?.values.size ?? 0} slots`
  );

  const again = await resync(ctx, 'oura', got.connection.id);
  const writes = output(again, 'created') + output(again, 'updated') + output(again, 'retracted');
  check(again.status === 'completed' && writes === 0, `Oura re-sync of the ${BACKFILL_DAYS}-day range writes nothing`, {
    status: again.status,
    writes,
    why: again.businessStatus?.text,
  });

  // A new morning: new documents, `create` webhooks signed by the sandbox, through the edge.
  console.log(
    `\n  Oura: webhook → searchable (${rawBody ? 'signed, raw body' : 'hints: no Bot.rawBody on this server'})`
  );
  const t0 = performance.now();
  const morning = await sandbox.control.addDay();
  const outcomes = morning.dispatches.flatMap((d) => d.outcomes);
  check(
    outcomes.length > 0 && outcomes.every((o) => o.delivered),
    `${outcomes.length} Oura deliveries went sandbox → edge → ${new URL(ctx.baseUrl).host} and were accepted`,
    outcomes
  );
  const after = expectedFromSandbox(sandbox);
  let seen = 0;
  await waitFor(
    'the new morning’s documents to be searchable',
    180_000,
    async () => {
      seen = await count(ctx, {
        subject: `Patient/${ctx.patientId}`,
        device: `Device/${got.deviceId}`,
        _profile: WEARABLE_PROFILE,
      });
      return seen === after.observations ? true : undefined;
    },
    250,
    async () => ({ stored: seen, expected: after.observations })
  );
  const searchable = performance.now() - t0;
  check(true, `the new morning's ${after.observations - expected.observations} Observations are searchable`, '');
  const hints = (await tasksOf(ctx, got.connection.id, 'sync')).filter((t) =>
    t.identifier?.some((i) => i.value?.includes(':hint'))
  );
  figure(
    'Oura webhook → searchable',
    `${searchable.toFixed(0)} ms for ${morning.events.length} events (${hints.length} hint Tasks: ${hints.map((t) => t.status).join(', ')})`
  );

  // Renewal: 6 days before expiration_time on the sandbox clock, the sweeper as of the same instant.
  console.log('\n  Oura: subscription renewal');
  const expirations = (): number[] => sandbox.control.subscriptions().map((s) => Date.parse(s.expiration_time));
  const first = expirations();
  const advanceMs = Math.min(...first) - RENEW_LEAD_MS - Date.now();
  sandbox.control.advanceClock(advanceMs);
  const asOf = new Date(Date.now() + advanceMs).toISOString();
  const swept = (await ctx.admin.executeBot(bot('sweeper'), { asOf })) as {
    subscriptions?: Record<string, { renewed: number; created: number; failed: number }>;
  };
  const renewed = expirations();
  check(
    swept.subscriptions?.oura?.renewed === first.length &&
      swept.subscriptions.oura.failed === 0 &&
      renewed.length === first.length &&
      renewed.every((t) => t > Math.max(...first)),
    `the sweeper (asOf ${asOf.slice(0, 10)}, 6 days before expiry) renewed all ${first.length} subscriptions`,
    {
      sweeper: swept.subscriptions,
      before: new Date(Math.max(...first)).toISOString(),
      after: renewed.map((t) => new Date(t).toISOString()).slice(0, 3),
    }
  );
  // Back to the real clock: the sandbox's tokens and rate windows must agree with the server's again for the rest.
  sandbox.control.advanceClock(-advanceMs);
  figure(
    'Oura subscription renewal',
    `${first.length} renewed: expiration ${new Date(Math.min(...first)).toISOString().slice(0, 10)} → ${new Date(Math.min(...renewed)).toISOString().slice(0, 10)}`
  );
  return { deviceId: got.deviceId, connectionId: got.connection.id };
}

async function disconnectAndErase(
  ctx: ProvidersContext,
  provider: Provider,
  link: { deviceId: string; connectionId: string }
): Promise<void> {
  const { check } = ctx;
  const label = provider === 'withings' ? 'Withings' : 'Oura';
  const tokens = await tokenRecordId(ctx, link.connectionId);
  check(tokens !== undefined, `${label}: a token record exists before the disconnect`, tokens);
  const t0 = performance.now();
  const result = (await ctx.owner.executeBot(bot('disconnect'), { provider, erase: true })) as {
    revoked?: boolean;
    tokens?: string;
    expunged?: boolean;
    notifications?: { unsubscribed?: string[]; warning?: string };
  };
  console.log(`  ${label} disconnect: ${JSON.stringify(result)}`);
  const versions = await historyLeft(ctx, tokens ?? '');
  check(
    result.revoked === true && result.tokens === 'deleted' && result.expunged === true && versions === 0,
    `${label}: disconnect revokes access and expunges the token record with its history`,
    { ...result, versions }
  );
  let last = '';
  let changedAt = performance.now();
  let nudges = 0;
  await waitFor(
    `${label} erase`,
    BACKFILL_TIMEOUT_MS,
    async () => {
      const left = await count(ctx, { subject: `Patient/${ctx.patientId}`, device: `Device/${link.deviceId}` });
      const erase = (await tasksOf(ctx, link.connectionId, 'erase')).map((t) => `${t.status} ${output(t, 'deleted')}`);
      const open = (
        await ctx.admin.searchResources(
          'Task',
          { patient: `Patient/${ctx.patientId}`, status: 'requested,in-progress,failed', _count: '50' },
          { cache: 'no-cache' }
        )
      ).map((t) => `${t.identifier?.[0]?.value ?? ''} ${t.status} ${t.businessStatus?.text ?? ''}`);
      const progress = `${left} left; erase Tasks: ${erase.join(', ')}; open: ${open.join(' | ')}`;
      if (progress !== last) {
        last = progress;
        changedAt = performance.now();
        console.log(`    ${((performance.now() - t0) / 1000).toFixed(0)} s: ${progress}`);
      } else if (performance.now() - changedAt > STALL_MS) {
        // Requested Tasks nobody runs: what the cron sweeper does after its stale limit, done now and reported.
        nudges++;
        changedAt = performance.now();
        console.log(`    no progress for ${STALL_MS / 1000} s: $execute sweeper { staleAfterSeconds: 60 }`);
        await ctx.admin.executeBot(bot('sweeper'), { staleAfterSeconds: 60 });
      }
      return left === 0 ? true : undefined;
    },
    2000
  );
  await waitForErase(ctx, link.connectionId);
  const left = await count(ctx, { device: `Device/${link.deviceId}` });
  check(left === 0, `${label}: 0 Observations left for its Device`, left);
  ctx.figure(
    `${label} erase`,
    `${seconds(performance.now() - t0)}${nudges > 0 ? ` (stalled: ${nudges} sweeper re-queue(s) needed)` : ''}`
  );
}

/**
 * @param ctx - the server, owner A and the deploy report
 * @param rawBody - whether the server hands bots raw webhook bodies (Medplum ≥ 5.2)
 */
export async function providersStep(ctx: ProvidersContext, rawBody: boolean): Promise<void> {
  const { check, figure } = ctx;
  let withings: WiredWithings | undefined;
  let oura: WiredOura | undefined;
  let edge: NodeEdge | undefined;
  const restore = await overrideSecret(ctx, BACKFILL_DAYS_SECRET, String(BACKFILL_DAYS));
  try {
    await eraseLeftover(ctx, 'withings');
    await eraseLeftover(ctx, 'oura');
    const wire = { admin: ctx.admin, projectId: ctx.projectId, appBaseUrls: [ctx.appBaseUrl], overwriteSecrets: true };
    withings = await startWiredWithingsSandbox({ ...wire, options: { days: SANDBOX_DAYS } });
    oura = await startWiredOuraSandbox({ ...wire, options: { days: SANDBOX_DAYS } });
    edge = await startNodeEdge({
      port: 0,
      upstream: new URL(ctx.baseUrl).origin,
      verificationToken: oura.verificationToken,
    });
    const urls = await registerEdgeWebhooks({
      admin: ctx.admin,
      projectId: ctx.projectId,
      report: ctx.report,
      edgeUrl: edge.url,
    });
    console.log(`  sandboxes: Withings ${withings.sandbox.baseUrl}, Oura ${oura.sandbox.baseUrl}; edge ${edge.url}`);

    // ---- the callback problem, on the server itself
    console.log('\n  Callback URLs: the server vs the edge');
    const direct = (bot: string): string => ctx.report.bots.find((b) => b.name === bot)?.webhookUrl ?? '';
    for (const [name, url] of [
      ['withings-webhook', direct('withings-webhook')],
      ['oura-webhook', direct('oura-webhook')],
    ] as const) {
      const head = await status(url, 'HEAD');
      const get = await status(url, 'GET');
      check(
        head.status === 404 && get.status === 404,
        `${name}: HEAD and GET on the server's /webhook/:id are 404 (it routes POST only)`,
        { head: head.status, get: get.status }
      );
    }
    const head = await status(urls.withings, 'HEAD');
    check(head.status === 200, 'through the edge: HEAD on the Withings callback is 200', head.status);
    const challenge = `e2e-${Date.now()}`;
    const echo = await status(
      `${urls.oura}?verification_token=${oura.verificationToken}&challenge=${challenge}`,
      'GET'
    );
    check(
      echo.status === 200 && JSON.stringify(JSON.parse(echo.body)) === JSON.stringify({ challenge }),
      'through the edge: the Oura GET challenge is echoed',
      echo
    );
    const wrong = await status(`${urls.oura}?verification_token=not-the-token-0000&challenge=${challenge}`, 'GET');
    check(wrong.status === 401, 'through the edge: a wrong verification token is 401', wrong.status);

    const w = await withingsPart(ctx, withings, urls.withings);
    const o = await ouraPart(ctx, oura, urls.oura, rawBody);

    console.log('\n  Disconnect both with erase');
    await disconnectAndErase(ctx, 'withings', w);
    const withingsSubs = withings.sandbox.control.subscriptions(withings.sandbox.userId);
    check(withingsSubs.length === 0, 'Withings: the user’s subscriptions are gone at the sandbox', withingsSubs);
    await disconnectAndErase(ctx, 'oura', o);
    const ouraTokens = oura.sandbox.control.tokensFor(oura.sandbox.userId);
    check(ouraTokens.length === 0, 'Oura: the grant is revoked at the sandbox (no live token)', ouraTokens.length);
    // Oura's subscriptions belong to the app, not the user: a delivery about this user now reaches nobody's data.
    const workout = (oura.sandbox.control.documents('workout') as { id: string }[]).at(-1);
    const late = await oura.sandbox.control.sendWebhook({
      dataType: 'workout',
      eventType: 'update',
      objectId: workout?.id ?? '',
    });
    check(late.outcomes.length === 0, 'Oura: no delivery about the revoked user is made', late.outcomes);
    figure('provider resources left after erase', '0 Observations, 0 token records (expunged)');
  } finally {
    await restore().catch((err: unknown) => console.error(`could not restore ${BACKFILL_DAYS_SECRET}: ${String(err)}`));
    await withings?.sandbox.close();
    await oura?.sandbox.close();
    await edge?.close();
  }
}
