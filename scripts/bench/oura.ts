/**
 * `npm run bench:oura`: a one-year Oura backfill on the local stack (Medplum 5.0 mode, default FHIR quota of 50,000
 * points/min per membership), against the Oura sandbox with its real rate limit (5,000 calls per 5 minutes per app,
 * over it 429), through the real bots: consent page → connect-callback (which also creates the webhook
 * subscriptions through the edge's GET challenge) → backfill Tasks → sync bot; the sweeper (cron, once a minute)
 * retries a window Oura refused.
 *
 * 1. Backfill: wall time, windows completed / failed / retried, Observations by profile (wearable vs intraday
 *    SampledData), quota points (the Tasks' `points` outputs and the stack's per-membership ledger), samples stored
 *    (every SampledData decoded here, on its own terms) against the sandbox's ground truth — the heart-rate rows
 *    (`control.heartRate`, laid on the 5-minute grid: nearest boundary, a slot's rows averaged) and the long sleeps'
 *    `heart_rate` / `hrv` arrays (`control.documents('sleep')`) → samples per second, FHIR requests per sample,
 *    samples per SampledData resource (target ≥ 60), Oura calls against the rate-limit minimum.
 * 2. Re-sync: every backfill window runs again; it must write nothing.
 * 3. Late samples: the sandbox's next morning arrives (`control.addDay()`: webhooks through the edge → webhook bot →
 *    sync Tasks, which read the heart rate over the new sleep and the closed day); the UTC day already stored gets
 *    the night's later samples. It must cost one update per affected day-series and lose no stored sample. (The
 *    sandbox cannot alter a heart-rate row it already served; the merge of an altered sample is tested in
 *    test/intraday-series.test.ts.)
 *
 * Takes ~25 minutes: the backfill is bound by the default FHIR quota (~55,000 points a 30-day window, 45,000 a minute
 * for a backfill), not by Oura. `BENCH_RESYNC=0` skips step 2; `BENCH_DAYS=<1–365>` shortens the backfill for a
 * quick check (the README's figures are from the default year).
 */
import type { Task } from '@medplum/fhirtypes';
import type { OuraSandbox } from '../sandboxes/oura/server.ts';
import type { OuraSleep } from '../sandboxes/oura/data.ts';
import { startWiredOuraSandbox } from '../sandboxes/wire.ts';
import type { WiredOura } from '../sandboxes/wire.ts';
import { announce, machineLine } from './about.ts';
import {
  agreement,
  APP,
  attempts,
  BENCH_DAYS,
  BENCH_RESYNC,
  changedSeries,
  compareSeries,
  connectAndBackfill,
  countObservations,
  decodeSeries,
  Figures,
  fmt,
  missingDetail,
  namedLedger,
  putTruth,
  quotaMinimumMinutes,
  rerun,
  seriesObservations,
  setUpBench,
  sum,
  syncsQuiet,
  tasksOfKind,
  truthKey,
  WEARABLE_PROFILE,
  windowsOf,
} from './lib/provider.ts';
import type { SeriesTruth } from './lib/provider.ts';

const RATE_LIMIT = { calls: 5_000, minutes: 5 };
/** The Oura sync reads every window from `start − 24 h` (bots/oura/sync-plan.ts WINDOW_OVERLAP_MS). */
const OVERLAP_MS = 24 * 3_600_000;
const DAY_MS = 86_400_000;
/** Oura's heart-rate series is stored on a 5-minute grid (bots/oura/mappers.ts HEART_RATE_PERIOD_MS). */
const PERIOD_MS = 300_000;

const TAKES = `~${Math.ceil((BENCH_DAYS / 365) * 21 + (BENCH_RESYNC ? (BENCH_DAYS / 365) * 3 : 0) + 1)} minutes (the year backfill is paced by the FHIR quota, ~21 min; Oura's 5,000 calls per 5 min never binds)`;
announce('bench:oura', TAKES);

function apiCalls(sandbox: OuraSandbox, match?: string): number {
  return Object.entries(sandbox.control.stats().api)
    .filter(([k]) => match === undefined || k.includes(match))
    .reduce((n, [, c]) => n + c, 0);
}

function tokenCalls(sandbox: OuraSandbox): number {
  const t = sandbox.control.stats().tokenRequests;
  return t.authorization_code + t.refresh_token + t.failed;
}

/** The nearest grid boundary, ties to the later one (FHIR SampledData: a token's position is its time). */
function slot(t: number, period: number): number {
  return Math.floor((t + period / 2) / period) * period;
}

/**
 * Oura's own numbers for [startMs, endMs), restated from its API fields, not the mappers: the heart-rate rows on
 * the 5-minute grid (series `heartrate`, a slot's rows averaged and rounded to whole bpm), and each long sleep's
 * heart_rate (whole bpm) and hrv (0.1 ms) items at timestamp + i × interval (series `sleep`).
 */
function ouraTruth(sandbox: OuraSandbox, startMs: number, endMs: number, sleepDays: { from: string; to: string }) {
  const truth: SeriesTruth = new Map();
  const rows = sandbox.control.heartRate(new Date(startMs).toISOString(), new Date(endMs).toISOString());
  const slots = new Map<number, number[]>();
  for (const row of rows) {
    const t = slot(row.timestamp_unix, PERIOD_MS);
    slots.set(t, [...(slots.get(t) ?? []), row.bpm]);
  }
  for (const [t, values] of slots) {
    putTruth(
      truth,
      truthKey('heartrate', 'heart-rate', t),
      t,
      Math.round(values.reduce((a, b) => a + b) / values.length)
    );
  }
  const sleeps = (sandbox.control.documents('sleep') as OuraSleep[]).filter(
    (s) => s.type === 'long_sleep' && s.day >= sleepDays.from && s.day <= sleepDays.to
  );
  for (const sleep of sleeps) {
    for (const [metric, sample, decimals] of [
      ['heart-rate', sleep.heart_rate, 0],
      ['hrv-rmssd', sleep.hrv, 1],
    ] as const) {
      if (!sample) {
        continue;
      }
      const t0 = Date.parse(sample.timestamp);
      sample.items.forEach((value, i) => {
        if (value !== null) {
          const t = slot(t0 + i * sample.interval * 1000, sample.interval * 1000);
          putTruth(truth, truthKey('sleep', metric, t), t, Math.round(value * 10 ** decimals) / 10 ** decimals);
        }
      });
    }
  }
  return { truth, rows: rows.length, sleeps: sleeps.length };
}

const figures = new Figures();
let oura: WiredOura | undefined;
const env = await setUpBench('oura', async (admin, projectId) => {
  oura = await startWiredOuraSandbox({ admin, projectId, appBaseUrls: [APP] });
  return { verificationToken: oura.verificationToken };
});
try {
  const sandbox = (oura as WiredOura).sandbox;

  // ---- 1. backfill
  console.log('\n1. One-year Oura backfill (Medplum 5.0 mode, default FHIR quota, Oura 5,000 calls per 5 minutes)');
  const ledger0 = { ...env.stack.ctx.stats.quotaPoints };
  const calls0 = apiCalls(sandbox) + tokenCalls(sandbox);
  const limited0 = sandbox.control.stats().apiStatuses['429'] ?? 0;
  const backfill = await connectAndBackfill(env, 'oura', (line) => console.log(line));
  const providerCalls = apiCalls(sandbox) + tokenCalls(sandbox) - calls0;
  const heartRateCalls = apiCalls(sandbox, '/heartrate');
  const rateLimited = (sandbox.control.stats().apiStatuses['429'] ?? 0) - limited0;
  const { tasks } = backfill;
  const failed = tasks.filter((t) => t.status !== 'completed');
  const retried = tasks.filter((t) => attempts(t) > 0);

  const wearable = await countObservations(env, WEARABLE_PROFILE);
  const stored = (await seriesObservations(env)).map(decodeSeries);
  const windows = windowsOf(tasks);
  const range = { start: windows.start - OVERLAP_MS, end: windows.end };
  // Sleep periods are listed from the range start's date (`start_date` is exclusive for sleep, and sync-plan.ts pads
  // it by one day) to a day after its end.
  const sleepDays = {
    from: new Date(range.start).toISOString().slice(0, 10),
    to: new Date(range.end + DAY_MS).toISOString().slice(0, 10),
  };
  const ground = ouraTruth(sandbox, range.start, range.end, sleepDays);
  const agree = agreement(stored, ground.truth);
  const heartrate = agreement(
    stored.filter((s) => s.series === 'heartrate'),
    new Map([...ground.truth].filter(([k]) => k.startsWith('heartrate|')))
  );
  const samples = agree.stored;
  const seconds = backfill.ms / 1000;
  const minimumMinutes = (providerCalls / RATE_LIMIT.calls) * RATE_LIMIT.minutes;
  const bySeries = (series: string, metric: string): number =>
    stored.filter((s) => s.series === series && s.metric === metric).length;

  figures.add(
    'backfill wall time',
    `${(backfill.ms / 60_000).toFixed(2)} min until the last of ${tasks.length} windows finished ` +
      `(${(backfill.idleMs / 60_000).toFixed(2)} min until the queue was idle: the analytics recompute the last window ` +
      `queues); the windows are aligned to 30-day boundaries and cover ${new Date(range.start).toISOString().slice(0, 10)} → ` +
      `${new Date(range.end).toISOString().slice(0, 10)} (${Math.round((range.end - range.start) / DAY_MS)} days with the 24 h overlap)`
  );
  figures.add(
    'backfill Tasks',
    `${tasks.length - failed.length} completed, ${failed.length} failed; ${retried.length} retried by the sweeper ` +
      `after a refusal (${tasks.map(attempts).reduce((a, b) => a + b, 0)} failed attempts in all); ` +
      `Oura answered 429 ${rateLimited} times` +
      (failed.length > 0 ? ` — failed: ${failed.map((t) => t.businessStatus?.text ?? t.status).join('; ')}` : '')
  );
  figures.add(
    'Observations written',
    `${fmt(wearable)} wearable (single values) + ${fmt(stored.length)} intraday SampledData ` +
      `(${fmt(bySeries('heartrate', 'heart-rate'))} heart-rate series, ${fmt(bySeries('sleep', 'heart-rate'))} sleep ` +
      `heart-rate, ${fmt(bySeries('sleep', 'hrv-rmssd'))} sleep HRV day-series); Task outputs: ` +
      `${fmt(sum(tasks, 'created'))} created, ${fmt(sum(tasks, 'updated'))} updated, ${fmt(sum(tasks, 'skipped'))} skipped`
  );
  const quotaMinutes = quotaMinimumMinutes(sum(tasks, 'points'));
  figures.add(
    'FHIR quota points',
    `${fmt(sum(tasks, 'points'))} by the Tasks' own outputs (${fmt(sum(tasks, 'points') / tasks.length)} per window) = ` +
      `${quotaMinutes.toFixed(2)} min at least at 45,000 points/min (the default quota less the 10 % a backfill ` +
      `leaves for webhooks); stack ledger: ${await namedLedger(env, ledger0)}`
  );
  figures.add(
    'samples stored vs the sandbox',
    `${fmt(samples)} stored, ${fmt(agree.expected)} expected (${fmt(ground.rows)} heart-rate rows → ` +
      `${fmt(heartrate.expected)} 5-minute slots; ${ground.sleeps} long sleeps' HR and HRV items): ${fmt(agree.equal)} equal, ` +
      `${fmt(agree.missing)} missing or different${missingDetail(agree)}, ${fmt(agree.extra)} not at the sandbox; ` +
      `${fmt(sum(tasks, 'skipped'))} values skipped by the mappers (Task outputs)`
  );
  figures.add('samples per second of wall time', fmt(samples / seconds, 0));
  figures.add(
    'FHIR requests per sample',
    `${(backfill.fhirRequests / samples).toFixed(5)} (${fmt(backfill.fhirRequests)} requests to the stack until the last ` +
      `window finished, the bench's own polls taken out; a batch counts once)`
  );
  figures.add(
    'samples per SampledData resource',
    `${fmt(samples / stored.length, 0)} (${fmt(samples)} : ${fmt(stored.length)}; target ≥ 60)`
  );
  figures.add(
    'Oura calls vs the rate-limit minimum',
    `${fmt(providerCalls)} calls (${fmt(heartRateCalls)} /heartrate; OAuth included) ÷ ${fmt(RATE_LIMIT.calls)} per ` +
      `${RATE_LIMIT.minutes} min = ${minimumMinutes.toFixed(2)} min at the least; wall time ${(backfill.ms / 60_000).toFixed(2)} min ` +
      `= ${(backfill.ms / 60_000 / minimumMinutes).toFixed(1)}× the minimum (the limit does not bind: FHIR writes do)`
  );

  // ---- 2. re-sync
  if (BENCH_RESYNC) {
    console.log('\n2. Re-sync of the same year (every window again, one at a time)');

    const callsBefore = apiCalls(sandbox) + tokenCalls(sandbox);
    const t0 = performance.now();
    const again = await rerun(env, tasks);
    const ms = performance.now() - t0;
    const after = (await seriesObservations(env)).map(decodeSeries);
    const changed = changedSeries(stored, after);
    figures.add(
      're-sync of the same year',
      `${sum(again, 'created', 'updated', 'retracted')} writes (${changed.length} SampledData resources changed` +
        `${changed.length > 0 ? `: ${changed.join('; ')}` : ''}), ` +
        `${fmt(sum(again, 'points'))} quota points (reads), ${fmt(apiCalls(sandbox) + tokenCalls(sandbox) - callsBefore)} Oura calls, ` +
        `${(ms / 60_000).toFixed(2)} min, ${again.filter((t) => t.status !== 'completed').length} failed`
    );
  } else {
    console.log('\n2. Re-sync skipped (BENCH_RESYNC=0)');
  }

  // ---- 3. late samples
  console.log('\n3. Late samples: the next morning arrives at Oura (webhooks → edge → webhook bot → sync)');
  const before = (await seriesObservations(env)).map(decodeSeries);
  const syncsBefore = new Set((await tasksOfKind(env.admin, 'sync')).map((t) => t.id));
  const result = await sandbox.control.addDay();
  await sandbox.control.webhooksIdle();
  const outcomes = result.dispatches.flatMap((d) => d.outcomes);
  const syncedAt = Date.now();
  const syncs = (await syncsQuiet(env, 10 * 60_000)).filter((t: Task) => !syncsBefore.has(t.id));
  const after = (await seriesObservations(env)).map(decodeSeries);
  const late = await compareSeries(env, before, after);
  const grownKeys = new Set(
    after
      .filter((s) => {
        const was = before.find((b) => b.key === s.key);
        return was !== undefined && s.samples.size > was.samples.size;
      })
      .map((s) => `${s.series}|${s.metric}|${s.windowStart}`)
  );
  const lateTruth = ouraTruth(sandbox, range.start, syncedAt - 120_000, {
    from: sleepDays.from,
    to: sandbox.control.currentDate(),
  }).truth;
  const grownAgree = agreement(
    after.filter((s) => grownKeys.has(`${s.series}|${s.metric}|${s.windowStart}`)),
    new Map([...lateTruth].filter(([k]) => grownKeys.has(k)))
  );
  figures.add(
    'late samples (next morning arrives)',
    `${result.events.length} webhook events (${outcomes.filter((o) => o.delivered).length}/${outcomes.length} deliveries ` +
      `accepted) → ${syncs.length} sync Tasks (${syncs.filter((t) => t.status === 'completed').length} completed); ` +
      `${late.grown} existing day-series grew by ${fmt(late.addedToExisting)} samples in ${late.updated} update(s) ` +
      `(${late.newVersions} new versions), ${late.created} day-series created, ${late.lost} stored samples lost, ` +
      `${late.duplicates} duplicate day-series; grown days vs the sandbox up to the sync: ` +
      `${fmt(grownAgree.equal)}/${fmt(grownAgree.expected)} equal (${fmt(grownAgree.missing)} missing); ` +
      `sync Task writes ${sum(syncs, 'created')} created, ${sum(syncs, 'updated')} updated`
  );
} finally {
  await oura?.sandbox.close();
  await env.close();
}

figures.print('npm run bench:oura');
console.log(`reproduce: npm run bench:oura   (${machineLine()})`);
