/**
 * Ground truth for WHOOP imports, taken from the sandbox's own records — deliberately NOT from the mappers under
 * test. The rule is the documented granularity (bots/whoop/README.md "Mapping"), restated here from WHOOP's fields:
 *
 *   cycle    SCORED and closed (has `end`)                 → 1 (day strain panel)
 *   sleep    SCORED and not a nap                          → 1 (sleep panel) + 1 if respiratory_rate is present
 *   recovery SCORED and its sleep exists                   → 1 if resting_heart_rate, 1 if spo2_percentage,
 *                                                            1 if hrv_rmssd_milli (HRV panel)
 *   workout  SCORED with a sport name                      → 1 (session panel)
 *
 * Body measurements (height, weight) are write-once by value and counted separately by the tests that need them.
 */
import type { Task } from '@medplum/fhirtypes';
import { WINDOW_OVERLAP_MS } from '../../bots/whoop/sync-plan.ts';
import type { WhoopSandbox } from '../../scripts/sandboxes/whoop/server.ts';

type Loose = Record<string, unknown>;

function scored(record: Loose): boolean {
  return record.score_state === 'SCORED' && typeof record.score === 'object' && record.score !== null;
}

function has(score: unknown, field: string): boolean {
  return typeof score === 'object' && score !== null && typeof (score as Loose)[field] === 'number';
}

/** The range a set of backfill Tasks fetches: the earliest window start less the overlap, to the latest end. */
export function backfillRange(tasks: readonly Task[]): { start: string; end: string } {
  const starts: number[] = [];
  const ends: number[] = [];
  for (const task of tasks) {
    for (const input of task.input ?? []) {
      const code = input.type.coding?.[0]?.code;
      if (code === 'window-start' && input.valueDateTime) {
        starts.push(Date.parse(input.valueDateTime));
      }
      if (code === 'window-end' && input.valueDateTime) {
        ends.push(Date.parse(input.valueDateTime));
      }
    }
  }
  if (starts.length === 0 || ends.length === 0) {
    throw new Error('no backfill windows in these Tasks');
  }
  return {
    start: new Date(Math.min(...starts) - WINDOW_OVERLAP_MS).toISOString(),
    end: new Date(Math.max(...ends)).toISOString(),
  };
}

/**
 * @param sandbox - the WHOOP sandbox (or something holding it)
 * @param range - the range the import fetched (see backfillRange)
 * @param userId - the WHOOP user (default: the sandbox's default person)
 * @returns how many WHOOP records that range holds and how many Observations they call for
 */
export function expectedFromSandbox(
  sandbox: WhoopSandbox,
  range: { start: string; end: string },
  userId?: number
): { records: number; observations: number; byType: Record<string, number> } {
  const query = { start: range.start, end: range.end, ...(userId === undefined ? {} : { userId }) };
  const list = (type: 'cycle' | 'sleep' | 'recovery' | 'workout'): Loose[] =>
    sandbox.control.records(type, query) as unknown as Loose[];
  const allSleeps = new Set(
    (sandbox.control.records('sleep', userId === undefined ? {} : { userId }) as unknown as Loose[]).map((s) => s.id)
  );
  const byType: Record<string, number> = { cycle: 0, sleep: 0, recovery: 0, workout: 0 };
  const cycles = list('cycle');
  const sleeps = list('sleep');
  const recoveries = list('recovery');
  const workouts = list('workout');
  for (const c of cycles) {
    byType.cycle = (byType.cycle ?? 0) + (scored(c) && c.end ? 1 : 0);
  }
  for (const s of sleeps) {
    if (scored(s) && s.nap !== true) {
      byType.sleep = (byType.sleep ?? 0) + 1 + (has(s.score, 'respiratory_rate') ? 1 : 0);
    }
  }
  for (const r of recoveries) {
    if (scored(r) && allSleeps.has(r.sleep_id)) {
      byType.recovery =
        (byType.recovery ?? 0) +
        (has(r.score, 'resting_heart_rate') ? 1 : 0) +
        (has(r.score, 'spo2_percentage') ? 1 : 0) +
        (has(r.score, 'hrv_rmssd_milli') ? 1 : 0);
    }
  }
  for (const w of workouts) {
    byType.workout = (byType.workout ?? 0) + (scored(w) && String(w.sport_name ?? '').trim() ? 1 : 0);
  }
  return {
    records: cycles.length + sleeps.length + recoveries.length + workouts.length,
    observations: Object.values(byType).reduce((a, b) => a + b, 0),
    byType,
  };
}

/**
 * @param whoop - the wired sandbox
 * @param tasks - the backfill Tasks of one connection
 * @returns records and Observations the sandbox says that backfill must produce
 */
export async function expectedWhoopObservations(
  whoop: { sandbox: WhoopSandbox },
  tasks: readonly Task[]
): Promise<{ records: number; observations: number; byType: Record<string, number> }> {
  return expectedFromSandbox(whoop.sandbox, backfillRange(tasks));
}
