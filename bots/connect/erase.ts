/**
 * The `erase` work item (queued by `disconnect` with erase; run by the sync bot's dispatch): deletes every
 * Observation of that connection's Device *and* patient, then every derived Observation and narrative of the patient
 * (computed from that data), then the alert Flags and Communications raised from it, then the Device, within Medplum's
 * FHIR quota.
 *
 * A delete costs 100 points of the sync bot's per-minute budget (50,000 on a default server), shared with every
 * owner's syncs. So the erase deletes in pages sized to what the budget holds above a reserve kept for everyone
 * else's fresh data, and waits for the reset (from `medplum.rateLimitStatus()`, i.e. the `RateLimit` header) when
 * the budget is spent. A run works for at most RUN_MS; if more is left it queues the next Task of the chain
 * (`<provider>:erase:<connection>:<link>:<n+1>`) and completes with what it deleted, so progress is visible per Task
 * and no bot run lasts long. Deleting is idempotent: a crash or a 429 leaves the Task to be run again, and the next
 * run simply searches again. Both search criteria are required, so one owner's erase can never reach another
 * owner's data from the same provider account.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import type { Basic, Bundle, BundleEntry, Device } from '@medplum/fhirtypes';
import { ALERT_COMMUNICATION_IDENTIFIER_SYSTEM, ALERT_FLAG_IDENTIFIER_SYSTEM } from '../analytics/alerts.ts';
import { DERIVED_KINDS, NARRATIVE_KINDS } from '../shared/catalogue.ts';
import { parseConnection } from '../shared/connection.ts';
import { BOT_IDENTIFIER_SYSTEM, CODE_SYSTEM } from '../shared/systems.ts';
import { RECORD_EXPUNGE_BOT, RecordExpungeResult } from './record-expunge.ts';
import { fhirBudget, isThrottled } from '../shared/quota.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../shared/extensions.ts';
import { taskKey } from '../shared/queue.ts';
import { buildTask } from '../shared/tasks.ts';
import type { ParsedTaskInput, TaskCounts } from '../shared/tasks.ts';

/** Codes of every Observation Baseline computes from an owner's data (derived values and narratives). */
const COMPUTED_CODES = [...DERIVED_KINDS, ...NARRATIVE_KINDS].map((k) => `${CODE_SYSTEM}|${k.code}`).join(',');

/** Points per delete on Medplum 5 (fhirquota.ts). */
const DELETE_POINTS = 100;
/** Largest page; a page is also never larger than the budget above the reserve allows. */
export const MAX_PAGE = 100;
/** Points an erase leaves untouched in each minute, for other owners' syncs (~100 writes). */
export const RESERVE_POINTS = 10_000;
/** How long one run deletes before handing over to the next Task of the chain. */
export const RUN_MS = 40_000;
const RESET_MARGIN_MS = 250;
/** The quota window is a minute: no reset is further away than this. */
const MAX_WAIT_MS = 60_000;

export interface EraseOptions {
  /** For tests: a shorter run, smaller pages, another reserve. */
  readonly runMs?: number;
  readonly pageSize?: number;
  readonly reservePoints?: number;
}

/** The erase Task of a connection's link, or the `seq`-th continuation. */
export function eraseTaskKey(provider: string, connectionId: string, linkId: string | undefined, seq = 0): string {
  return taskKey(provider, 'erase', connectionId, linkId ?? 'legacy', String(seq));
}

function entryStatus(entry: BundleEntry | undefined): number {
  return Number.parseInt(entry?.response?.status ?? '', 10);
}

/**
 * @param medplum - the sync bot's client (Observation search + delete, Device read + delete, Task create)
 * @param input - the erase Task's input
 * @param options - run length and page size (tests)
 * @returns `deleted`: Observations (and the Device) this run deleted; `derived`: derived Observations and narratives
 */
export async function runErase(
  medplum: MedplumClient,
  input: ParsedTaskInput,
  options: EraseOptions = {}
): Promise<TaskCounts> {
  const deadline = Date.now() + (options.runMs ?? RUN_MS);
  const maxPage = options.pageSize ?? MAX_PAGE;
  const reserve = options.reservePoints ?? RESERVE_POINTS;
  const connectionId = input.connection.reference?.split('/')[1] ?? '';
  // A run may start with its bot's budget already spent (a backfill's last window, another owner's erase): it waits
  // for the reset once rather than failing the Task.
  const readConnection = (): Promise<Basic> => medplum.readResource('Basic', connectionId, { cache: 'no-cache' });
  const stored = await readConnection().catch(async (err: unknown) => {
    if (!isThrottled(err)) {
      throw err;
    }
    await sleep(Math.min(fhirBudget(medplum)?.resetMs ?? MAX_WAIT_MS, MAX_WAIT_MS) + RESET_MARGIN_MS);
    return readConnection();
  });
  const connection = parseConnection(stored);
  const device = connection.device?.reference;
  const patient = input.patient.reference;
  if (!device || !patient || connection.patient.reference !== patient) {
    return { deleted: 0, derived: 0 };
  }

  let deleted = 0;
  /** Derived Observations and narratives deleted: counted apart, so `deleted` stays the provider's own data. */
  let derived = 0;
  /** Of those, how many went with their whole history (`$expunge`). */
  let expunged = 0;
  let expungeAvailable = true;
  /**
   * Waits for the quota reset. A run that has already deleted something hands over instead when the reset would
   * come after its deadline; a run that has not waits (the reset is at most a minute away), so a chain never spins
   * through Tasks — each costing writes — without progress.
   */
  const waitForReset = async (resetMs: number): Promise<boolean> => {
    if (deleted + derived > 0 && Date.now() + resetMs + RESET_MARGIN_MS > deadline) {
      return false;
    }
    await sleep(Math.min(resetMs, MAX_WAIT_MS) + RESET_MARGIN_MS);
    return true;
  };

  // First the connection's own Observations, then what was computed from the owner's data: derived values and
  // narratives quote the erased numbers, so they go too (the recompute the erase queues rebuilds them from what is
  // left, if anything).
  // Then the alerts raised from it: a Flag's and its Communication's texts quote the erased numbers too.
  const phases: { type: 'Observation' | 'Flag' | 'Communication'; query: Record<string, string> }[] = [
    { type: 'Observation', query: { device, subject: patient } },
    { type: 'Observation', query: { subject: patient, code: COMPUTED_CODES } },
    { type: 'Flag', query: { subject: patient, identifier: `${ALERT_FLAG_IDENTIFIER_SYSTEM}|` } },
    { type: 'Communication', query: { subject: patient, identifier: `${ALERT_COMMUNICATION_IDENTIFIER_SYSTEM}|` } },
  ];
  for (;;) {
    if (deleted + derived > 0 && Date.now() > deadline) {
      return handOver(medplum, input, { deleted, derived, expunged });
    }
    const phase = phases[0];
    if (!phase) {
      break;
    }
    let page;
    try {
      // Always the first page: each round deletes what it found. The search's answer also carries a fresh
      // RateLimit header, so the budget below is never a stale one from before a wait.
      page = await medplum.searchResources(
        phase.type,
        { ...phase.query, _count: String(maxPage), _elements: 'id' },
        { cache: 'no-cache' }
      );
    } catch (err) {
      if (isThrottled(err) && (await waitForReset(fhirBudget(medplum)?.resetMs ?? MAX_WAIT_MS))) {
        continue;
      }
      throw err;
    }
    if (page.length === 0) {
      phases.shift();
      continue;
    }
    const now = fhirBudget(medplum);
    if (now) {
      const affordable = Math.floor((now.remaining - reserve) / DELETE_POINTS);
      if (affordable < 1) {
        if (!(await waitForReset(now.resetMs))) {
          return handOver(medplum, input, { deleted, derived, expunged });
        }
        continue;
      }
      page = page.slice(0, affordable);
    }
    // With their history where the server allows it: the project-admin `record-expunge` bot expunges what is the
    // owner's; whatever it did not (not deployed, not an admin, throttled) is deleted plainly below.
    if (expungeAvailable) {
      try {
        const reply = RecordExpungeResult.parse(
          await medplum.executeBot(
            { system: BOT_IDENTIFIER_SYSTEM, value: RECORD_EXPUNGE_BOT },
            { patient, type: phase.type, ids: page.map((o) => o.id) },
            'application/json'
          )
        );
        const gone = new Set(reply.expunged);
        expunged += gone.size;
        if (phase.query.device !== undefined) {
          deleted += gone.size;
        } else {
          derived += gone.size;
        }
        page = page.filter((o) => !gone.has(o.id));
        if (page.length === 0) {
          continue;
        }
      } catch {
        expungeAvailable = false;
      }
    }
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: page.map((o) => ({ request: { method: 'DELETE', url: `${phase.type}/${o.id}` } })),
    };
    let result: Bundle;
    try {
      result = await medplum.executeBatch(bundle);
    } catch (err) {
      if (isThrottled(err) && (await waitForReset(fhirBudget(medplum)?.resetMs ?? MAX_WAIT_MS))) {
        continue;
      }
      throw err;
    }
    const statuses = (result.entry ?? []).map(entryStatus);
    const done = statuses.filter((s) => s >= 200 && s < 300).length;
    if (phase.query.device !== undefined) {
      deleted += done;
    } else {
      derived += done;
    }
    if (statuses.some((s) => s === 429)) {
      // Throttled entries stay; the next round finds them again.
      if (!(await waitForReset(fhirBudget(medplum)?.resetMs ?? MAX_WAIT_MS))) {
        return handOver(medplum, input, { deleted, derived, expunged });
      }
      continue;
    }
    const failed = statuses.filter((s) => !(s >= 200 && s < 300) && s !== 404 && s !== 410);
    if (failed.length > 0) {
      throw new Error(
        `Erasing stopped after ${deleted + derived} deletion(s): ${failed.length} ${phase.type}(s) could not be deleted`
      );
    }
  }

  const deviceId = device.split('/')[1] ?? '';
  const current: Device | undefined = await medplum
    .readResource('Device', deviceId, { cache: 'no-cache' })
    .catch(() => undefined);
  if (current?.patient?.reference === patient) {
    const reply = expungeAvailable
      ? await medplum
          .executeBot(
            { system: BOT_IDENTIFIER_SYSTEM, value: RECORD_EXPUNGE_BOT },
            { patient, type: 'Device', ids: [deviceId] },
            'application/json'
          )
          .then((r) => RecordExpungeResult.parse(r))
          .catch(() => undefined)
      : undefined;
    if (reply?.expunged.includes(deviceId)) {
      expunged++;
    } else {
      await medplum.deleteResource('Device', deviceId);
    }
    deleted++;
  }
  return { deleted, derived, expunged };
}

/** Queues the next Task of the chain (idempotent on its identifier) and reports this run's deletions. */
async function handOver(medplum: MedplumClient, input: ParsedTaskInput, counts: TaskCounts): Promise<TaskCounts> {
  const parts = input.dedupeKey.split(':');
  const seq = Number(parts.pop());
  const key = [...parts, String((Number.isInteger(seq) ? seq : 0) + 1)].join(':');
  await medplum.createResourceIfNoneExist(
    buildTask({
      kind: 'erase',
      patient: input.patient,
      connection: input.connection,
      provider: input.provider,
      dedupeKey: key,
    }),
    `identifier=${TASK_IDENTIFIER_SYSTEM}|${key}`
  );
  return counts;
}
