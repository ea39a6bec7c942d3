/**
 * `npm run bench:withings`: a one-year Withings backfill on the local stack (Medplum 5.0 mode, default FHIR quota of
 * 50,000 points/min per membership), against the Withings sandbox with its real rate limit (120 calls a minute per
 * app, over it status 601), through the real bots: consent page → connect-callback → backfill Tasks → sync bot; the
 * sweeper (cron, once a minute) retries a window Withings refused with 601.
 *
 * 1. Backfill: wall time, windows completed / failed / retried, Observations by profile (wearable vs intraday
 *    SampledData), quota points (the Tasks' `points` outputs and the stack's per-membership ledger), samples stored
 *    (every SampledData decoded here, on its own terms) against the sandbox's minutes (`control.intraday`) → samples
 *    per second, FHIR requests per sample, samples per SampledData resource (target ≥ 60), Withings calls against the
 *    rate-limit minimum (calls ÷ 120 per minute = the shortest possible time).
 * 2. Re-sync: every backfill window runs again; it must write nothing (the calls are made again, so this is paced
 *    by the rate limit too).
 * 3. Late minutes: the sandbox's next day arrives (`control.addDay()`: notifications through the edge → webhook bot
 *    → sync Task); the UTC day that held the last local day's evening gets the new morning's minutes. It must cost
 *    one update per affected day-series and lose no stored sample. (The sandbox cannot alter a minute it already
 *    served; the merge of an altered minute is tested in test/intraday-series.test.ts.)
 *
 * Takes ~26 minutes: the backfill is bound by the default FHIR quota (~52,000 points a 30-day window, 45,000 a minute
 * for a backfill), not by Withings. `BENCH_RESYNC=0` skips step 2 (~5 minutes); `BENCH_DAYS=<1–365>` shortens the
 * backfill for a quick check (the README's figures are from the default year).
 */
import type { Task } from '@medplum/fhirtypes';
import { startWiredWithingsSandbox } from '../sandboxes/wire.ts';
import type { WiredWithings } from '../sandboxes/wire.ts';
import type { WithingsSandbox } from '../sandboxes/withings/server.ts';
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

const RATE_LIMIT_PER_MINUTE = 120;
/** The Withings sync reads every window from `start − 48 h` (bots/withings/sync-plan.ts WINDOW_OVERLAP_MS). */
const OVERLAP_MS = 48 * 3_600_000;
const DAY_MS = 86_400_000;

const TAKES = `~${Math.ceil((BENCH_DAYS / 365) * 20 + (BENCH_RESYNC ? (BENCH_DAYS / 365) * 5 : 0) + 1)} minutes (the year backfill is paced by the FHIR quota, ~20 min; its re-sync by Withings' 120 calls/min, ~5 min)`;
announce('bench:withings', TAKES);

function calls(sandbox: WithingsSandbox, match?: string): number {
  return Object.entries(sandbox.control.stats().calls)
    .filter(([k]) => match === undefined || k.includes(match))
    .reduce((n, [, c]) => n + c, 0);
}

/**
 * The sandbox's minutes in [startMs, endMs), as the series Baseline must hold: per device × UTC day, a heart-rate
 * series (minutes with a non-zero heart_rate) and a steps series (minutes with a steps field) — Withings' intraday
 * fields restated, not the mappers.
 */
function withingsTruth(sandbox: WithingsSandbox, startMs: number, endMs: number): SeriesTruth {
  const truth: SeriesTruth = new Map();
  const last = Date.parse(`${sandbox.control.currentDate()}T00:00:00Z`);
  // Local days, a day either side: a person's local day straddles two UTC days.
  for (let day = Math.floor(startMs / DAY_MS) * DAY_MS - DAY_MS; day <= Math.min(endMs + DAY_MS, last); day += DAY_MS) {
    const date = new Date(day).toISOString().slice(0, 10);
    for (const [at, entry] of Object.entries(sandbox.control.intraday(sandbox.userId, date))) {
      const t = Number(at) * 1000;
      if (t < startMs || t >= endMs) {
        continue;
      }
      const series = `intraday.${entry.deviceid}`;
      if (typeof entry.heart_rate === 'number' && entry.heart_rate !== 0) {
        putTruth(truth, truthKey(series, 'heart-rate', t), t, entry.heart_rate);
      }
      if (typeof entry.steps === 'number') {
        putTruth(truth, truthKey(series, 'steps', t), t, entry.steps);
      }
    }
  }
  return truth;
}

const figures = new Figures();
let withings: WiredWithings | undefined;
const env = await setUpBench('withings', async (admin, projectId) => {
  withings = await startWiredWithingsSandbox({ admin, projectId, appBaseUrls: [APP] });
  return {};
});
try {
  const sandbox = (withings as WiredWithings).sandbox;

  // ---- 1. backfill
  console.log('\n1. One-year Withings backfill (Medplum 5.0 mode, default FHIR quota, Withings 120 calls/min)');
  const ledger0 = { ...env.stack.ctx.stats.quotaPoints };
  const calls0 = calls(sandbox);
  const limited0 = sandbox.control.stats().rateLimited;
  const backfill = await connectAndBackfill(env, 'withings', (line) => console.log(line));
  const providerCalls = calls(sandbox) - calls0;
  const intradayCalls = calls(sandbox, 'getintradayactivity');
  const rateLimited = sandbox.control.stats().rateLimited - limited0;
  const { tasks } = backfill;
  const failed = tasks.filter((t) => t.status !== 'completed');
  const retried = tasks.filter((t) => attempts(t) > 0);

  const wearable = await countObservations(env, WEARABLE_PROFILE);
  const stored = (await seriesObservations(env)).map(decodeSeries);
  const windows = windowsOf(tasks);
  const range = { start: windows.start - OVERLAP_MS, end: windows.end };
  const truth = withingsTruth(sandbox, range.start, range.end);
  const agree = agreement(stored, truth);
  const samples = agree.stored;
  const seconds = backfill.ms / 1000;
  const minimumMinutes = providerCalls / RATE_LIMIT_PER_MINUTE;

  figures.add(
    'backfill wall time',
    `${(backfill.ms / 60_000).toFixed(2)} min until the last of ${tasks.length} windows finished ` +
      `(${(backfill.idleMs / 60_000).toFixed(2)} min until the queue was idle: the analytics recompute the last window ` +
      `queues); the windows are aligned to 30-day boundaries and cover ${new Date(range.start).toISOString().slice(0, 10)} → ` +
      `${new Date(range.end).toISOString().slice(0, 10)} (${Math.round((range.end - range.start) / DAY_MS)} days with the 48 h overlap)`
  );
  figures.add(
    'backfill Tasks',
    `${tasks.length - failed.length} completed, ${failed.length} failed; ${retried.length} retried by the sweeper ` +
      `after a refusal (${tasks.map(attempts).reduce((a, b) => a + b, 0)} failed attempts in all); ` +
      `Withings answered 601 (rate limit) ${rateLimited} times` +
      (failed.length > 0 ? ` — failed: ${failed.map((t) => t.businessStatus?.text ?? t.status).join('; ')}` : '')
  );
  figures.add(
    'Observations written',
    `${fmt(wearable)} wearable (single values) + ${fmt(stored.length)} intraday SampledData ` +
      `(${fmt(stored.filter((s) => s.metric === 'heart-rate').length)} heart rate, ` +
      `${fmt(stored.filter((s) => s.metric === 'steps').length)} steps day-series); Task outputs: ` +
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
    `${fmt(samples)} stored, ${fmt(agree.expected)} minutes at the sandbox (control.intraday): ${fmt(agree.equal)} equal, ` +
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
    'Withings calls vs the rate-limit minimum',
    `${fmt(providerCalls)} calls (${fmt(intradayCalls)} getintradayactivity; OAuth, nonce and notify subscribe included) ÷ ` +
      `${RATE_LIMIT_PER_MINUTE}/min = ${minimumMinutes.toFixed(2)} min at the least; wall time ${(backfill.ms / 60_000).toFixed(2)} min ` +
      `= ${(backfill.ms / 60_000 / minimumMinutes).toFixed(2)}× the minimum`
  );

  // ---- 2. re-sync
  if (BENCH_RESYNC) {
    console.log('\n2. Re-sync of the same year (every window again, one at a time)');

    const callsBefore = calls(sandbox);
    const t0 = performance.now();
    const again = await rerun(env, tasks);
    const ms = performance.now() - t0;
    const after = (await seriesObservations(env)).map(decodeSeries);
    const changed = changedSeries(stored, after);
    figures.add(
      're-sync of the same year',
      `${sum(again, 'created', 'updated', 'retracted')} writes (${changed.length} SampledData resources changed` +
        `${changed.length > 0 ? `: ${changed.join('; ')}` : ''}), ` +
        `${fmt(sum(again, 'points'))} quota points (reads), ${fmt(calls(sandbox) - callsBefore)} Withings calls, ` +
        `${(ms / 60_000).toFixed(2)} min, ${again.filter((t) => t.status !== 'completed').length} failed`
    );
  } else {
    console.log('\n2. Re-sync skipped (BENCH_RESYNC=0)');
  }

  // ---- 3. late minutes
  console.log('\n3. Late minutes: the next day arrives at Withings (notifications → edge → webhook bot → sync)');
  const before = (await seriesObservations(env)).map(decodeSeries);
  const syncsBefore = new Set((await tasksOfKind(env.admin, 'sync')).map((t) => t.id));
  const results = await sandbox.control.addDay();
  await sandbox.control.notificationsIdle();
  const delivered = results.flatMap((r) => r.outcomes).filter((o) => o.delivered).length;
  const syncedAt = Date.now();
  const syncs = (await syncsQuiet(env, 10 * 60_000)).filter((t: Task) => !syncsBefore.has(t.id));
  const after = (await seriesObservations(env)).map(decodeSeries);
  const late = await compareSeries(env, before, after);
  // The grown day-series against the sandbox's minutes up to the sync (later minutes were not asked for).
  const grownKeys = new Set(
    after
      .filter((s) => {
        const was = before.find((b) => b.key === s.key);
        return was !== undefined && s.samples.size > was.samples.size;
      })
      .map((s) => `${s.series}|${s.metric}|${s.windowStart}`)
  );
  const lateTruth = withingsTruth(sandbox, range.start, syncedAt - 120_000);
  const grownTruth: SeriesTruth = new Map([...lateTruth].filter(([k]) => grownKeys.has(k)));
  const grownAgree = agreement(
    after.filter((s) => grownKeys.has(`${s.series}|${s.metric}|${s.windowStart}`)),
    grownTruth
  );
  figures.add(
    'late minutes (next day arrives)',
    `${results.length} notifications (${delivered} delivered) → ${syncs.length} sync Tasks ` +
      `(${syncs.filter((t) => t.status === 'completed').length} completed); ${late.grown} existing day-series grew by ` +
      `${fmt(late.addedToExisting)} samples in ${late.updated} update(s) (${late.newVersions} new versions), ` +
      `${late.created} day-series created, ${late.lost} stored samples lost, ${late.duplicates} duplicate day-series; ` +
      `grown days vs the sandbox up to the sync: ${fmt(grownAgree.equal)}/${fmt(grownAgree.expected)} equal ` +
      `(${fmt(grownAgree.missing)} missing); sync Task writes ${sum(syncs, 'created')} created, ${sum(syncs, 'updated')} updated`
  );
} finally {
  await withings?.sandbox.close();
  await env.close();
}

figures.print('npm run bench:withings');
console.log(`reproduce: npm run bench:withings   (${machineLine()})`);
