/**
 * Writes only what changed: the ingestion write path under Medplum's FHIR quota (see quota.ts).
 *
 * Medplum charges 100 points for every write, also for an update that changes nothing, and 20 for a search. So
 * instead of one conditional PUT per Observation (120 points each: the condition is a search), a sync
 * 1. reads the Observations that already exist for the records it fetched, in bulk: one search per ~40 records by the
 *    identifier every Observation of a record shares (20 points per page of up to 1000 Observations);
 * 2. compares each mapped Observation with the stored one (ignoring id and server meta);
 * 3. writes only the difference, in batch Bundles sized to the budget that is left:
 *    - new → POST. Two runs can only race on the same record while it is recent (a webhook or a reconcile naming
 *      it while its backfill window runs); runs on one connection's older history are sequential (one backfill
 *      window at a time, retries after failure), and step 1 makes a sequential repeat see what the first wrote. So
 *      records whose time ends within RACE_HORIZON_MS use `ifNoneExist` on the identifier (one Observation even if
 *      two runs race), and older ones a plain POST: a conditional create costs 120 points (its condition is a
 *      search), a plain one 100, and older history is most of a backfill;
 *    - changed → PUT by id with If-Match on the version read in step 1;
 *    - stored but no longer produced by its record (a re-scored record that changed shape, a sleep that became a
 *      nap) → marked `entered-in-error`, FHIR's retraction;
 *    - write-once (values the owner typed into the provider's app: written on change only) → POST if none exists.
 * Series groups (RecordGroup.merge, intraday SampledData: see sampled-data.ts) differ in three ways: the stored
 * Observation is merged with the new one before the comparison (an unchanged merge writes nothing, a late minute is
 * one PUT with If-Match); a stored Observation the fetch did not produce is kept, never retracted (a partial
 * re-fetch must not erase minutes); and a lost race (412 on the PUT, or a conditional create that found one another
 * run just wrote) re-reads that Observation and merges again, up to MERGE_ATTEMPTS times, instead of failing or
 * dropping the minutes. The same key twice in one sync (a UTC day fetched in two local-day chunks) is merged too.
 * Throttled entries (`"status": "429"` inside a 200 batch) are re-sent after the quota window resets, and entries that
 * lost a transaction race (409 "could not serialize access", quota.ts) after a short pause, up to CONFLICT_RESENDS
 * times; any other failed entry is reported, so the caller fails the Task with a reason and the sweeper retries it.
 * Re-running a sync of unchanged data therefore costs searches only and writes nothing.
 */
import type { WithId } from '@medplum/core';
import type { Bundle, BundleEntry, Observation } from '@medplum/fhirtypes';
import { identifierQuery } from './fhir-batch.ts';
import type { UpsertFailure, UpsertIdentifier } from './fhir-batch.ts';
import { batchSizeFor, isSerializationConflict, isThrottledEntry, QUOTA_POINTS } from './quota.ts';
import type { QuotaPacer } from './quota.ts';

/** Records whose Observations one search reads; ~3 Observations a record stays far below a 1000-row page. */
export const RECORDS_PER_SEARCH = 40;
/** Largest write batch, in entries. */
export const MAX_BATCH = 200;
/** Times one entry is re-sent after a serialization conflict, each after CONFLICT_PAUSE_MS × the attempt. */
export const CONFLICT_RESENDS = 3;
export const CONFLICT_PAUSE_MS = 250;
/**
 * Largest write batch body, in UTF-8 bytes: below Medplum's default `maxJsonSize` (1 MB), which refuses the whole
 * request ("File too large"). A wearable Observation is ~1 kB, but a narrative with its beats is up to ~100 kB, so
 * entries alone do not bound the body.
 */
export const MAX_BATCH_BYTES = 800_000;
/** How recent a record must be for two runs to race on it (webhooks, re-scores, 48-hour reconciles). */
export const RACE_HORIZON_MS = 7 * 24 * 60 * 60_000;
/** Read-merge-write rounds for one series Observation before its failure is reported (each round lost a race). */
export const MERGE_ATTEMPTS = 4;

/** How a series group folds what is stored into what was fetched (sampled-data.ts mergeSeriesObservation). */
export type MergeObservation = (stored: Observation, next: Observation) => Observation;

export interface RecordGroup {
  /** The identifier every Observation of the record carries. */
  readonly record: UpsertIdentifier;
  /** What the record maps to now (may be empty: then everything stored for it is retracted, unless `merge`). */
  readonly observations: readonly Observation[];
  /**
   * Set for series: each Observation is merged over the stored one with the same key before comparing, nothing
   * stored is retracted, and a lost race is re-read and re-merged (see the module comment). Throws to refuse a merge
   * (the Observation is then reported as a failure, the stored one left alone).
   */
  readonly merge?: MergeObservation;
}

export interface WriteChangedInput {
  readonly records: readonly RecordGroup[];
  /** Written only when no Observation with the same key identifier exists; never updated. */
  readonly writeOnce?: readonly Observation[];
  /**
   * Every create conditional on its identifier, not only recent ones: for writers whose runs may overlap on old
   * keys too (two recomputes of one owner, one presumed dead), where a plain POST would store a duplicate.
   */
  readonly alwaysConditional?: boolean;
}

export interface WriteChangedResult {
  created: number;
  updated: number;
  unchanged: number;
  retracted: number;
  failures: UpsertFailure[];
  /** FHIR requests made (searches + batches). */
  requests: number;
}

/** For a series op: what the fetch produced (before merging with the stored one) and how to merge again. */
export interface MergeRetry {
  readonly desired: Observation;
  readonly merge: MergeObservation;
}

export type Op =
  | { kind: 'create'; key: UpsertIdentifier; resource: Observation; conditional: boolean; retry?: MergeRetry }
  | { kind: 'update'; key: UpsertIdentifier; resource: Observation; id: string; version: string; retry?: MergeRetry }
  | { kind: 'retract'; key: UpsertIdentifier; resource: Observation; id: string; version: string };

/** The two calls the writer makes; a MedplumClient is one, and unit tests pass a small fake server. */
export interface WriteClient {
  executeBatch(bundle: Bundle): Promise<Bundle>;
  searchResources(
    resourceType: 'Observation',
    query: Record<string, string>,
    options?: { cache?: 'no-cache' }
  ): Promise<WithId<Observation>[]>;
}
type Client = WriteClient;

/**
 * @param observation - a mapped or stored Observation
 * @returns its key: the first identifier (the per-Observation one)
 */
export function keyOf(observation: Observation): UpsertIdentifier {
  const id = observation.identifier?.[0];
  if (!id?.system || !id.value) {
    throw new Error('Observation has no identifier to key it by');
  }
  return { system: id.system, value: id.value };
}

function keyString(key: UpsertIdentifier): string {
  return `${key.system}|${key.value}`;
}

/**
 * Structural equality of two JSON values, key order ignored and undefined-valued keys treated as absent (JSON drops
 * them), stopping at the first difference. Sorted-key JSON of both sides said the same but cost most of a year's
 * recompute (a thousand derived Observations compared every run).
 */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) {
    return true;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) {
      return false;
    }
    for (let i = 0; i < a.length; i++) {
      if (!jsonEqual(a[i], b[i])) {
        return false;
      }
    }
    return true;
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(b)) {
    return false;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const keys = Object.keys(x);
  let defined = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const value = x[key];
    if (value === undefined) {
      continue;
    }
    defined++;
    if (!jsonEqual(value, y[key])) {
      return false;
    }
  }
  const other = Object.keys(y);
  for (let i = 0; i < other.length; i++) {
    if (y[other[i]!] !== undefined) {
      defined--;
    }
  }
  return defined === 0;
}

/**
 * @param stored - the Observation on the server
 * @param desired - what the mapper produced
 * @returns true when writing `desired` would change nothing Baseline cares about (everything but the id and the
 *   server's bookkeeping in meta; meta.profile counts)
 */
export function sameObservation(stored: Observation, desired: Observation): boolean {
  const { id: _a, meta: storedMeta, ...storedRest } = stored;
  const { id: _b, meta: desiredMeta, ...desiredRest } = desired;
  return jsonEqual(storedMeta?.profile ?? [], desiredMeta?.profile ?? []) && jsonEqual(storedRest, desiredRest);
}

/**
 * @param observation - a new Observation
 * @param now - current time (ms)
 * @returns true when its record is recent enough for two runs to race on it
 */
export function mayRace(observation: Observation, now: number): boolean {
  const end = observation.effectivePeriod?.end ?? observation.effectivePeriod?.start ?? observation.effectiveDateTime;
  const at = end ? Date.parse(end) : Number.NaN;
  return Number.isNaN(at) || now - at < RACE_HORIZON_MS;
}

/**
 * Plans the writes (pure).
 * @param input - records (series ones with their merge) and write-once Observations
 * @param stored - what exists now, by key
 * @param storedByRecord - what exists now, by record identifier (for retractions)
 * @param now - current time (ms), for which creates may race
 * @returns the operations, how many Observations need nothing, and the merges that were refused
 */
export function planWrites(
  input: WriteChangedInput,
  stored: ReadonlyMap<string, WithId<Observation>>,
  storedByRecord: ReadonlyMap<string, readonly WithId<Observation>[]>,
  now = Date.now()
): { ops: Op[]; unchanged: number; failures: UpsertFailure[] } {
  const ops: Op[] = [];
  const failures: UpsertFailure[] = [];
  const unchangedKeys = new Set<string>();
  const planned = new Set<string>();
  // What each key's Observation is so far in this sync; a series folds a repeated key into it.
  const desiredByKey = new Map<string, Observation>();
  for (const group of input.records) {
    const produced = new Set<string>();
    for (const observation of group.observations) {
      const key = keyOf(observation);
      const k = keyString(key);
      let desired = observation;
      if (planned.has(k)) {
        // The same Observation twice in one sync (a record listed by two overlapping pages): the last one wins, or,
        // for a series, the two are merged (one UTC day fetched in two chunks).
        const index = ops.findIndex((op) => keyString(op.key) === k);
        if (index >= 0) {
          ops.splice(index, 1);
        }
        unchangedKeys.delete(k);
        const earlier = desiredByKey.get(k);
        if (group.merge && earlier) {
          const merged = tryMerge(group.merge, earlier, observation, key, failures);
          if (!merged) {
            continue;
          }
          desired = merged;
        }
      }
      planned.add(k);
      produced.add(k);
      desiredByKey.set(k, desired);
      const op = planOne(key, desired, stored.get(k), group.merge, input.alwaysConditional === true, now, failures);
      if (op === 'unchanged') {
        unchangedKeys.add(k);
      } else if (op) {
        ops.push(op);
      }
    }
    if (group.merge) {
      // A series fetch may be partial (one page, one chunk of a day): what it did not produce stays as stored.
      continue;
    }
    for (const existing of storedByRecord.get(keyString(group.record)) ?? []) {
      const key = keyOf(existing);
      if (!produced.has(keyString(key)) && existing.status !== 'entered-in-error') {
        ops.push({
          kind: 'retract',
          key,
          resource: { ...existing, status: 'entered-in-error' },
          id: existing.id,
          version: existing.meta?.versionId ?? '',
        });
      }
    }
  }
  let unchanged = unchangedKeys.size;
  for (const observation of input.writeOnce ?? []) {
    const key = keyOf(observation);
    if (stored.has(keyString(key)) || planned.has(keyString(key))) {
      unchanged++;
      continue;
    }
    planned.add(keyString(key));
    // Write-once values are read again on every sync that reaches the present: always conditional.
    ops.push({ kind: 'create', key, resource: observation, conditional: true });
  }
  return { ops, unchanged, failures };
}

/** @returns the merge, or undefined after recording why it was refused */
function tryMerge(
  merge: MergeObservation,
  stored: Observation,
  next: Observation,
  key: UpsertIdentifier,
  failures: UpsertFailure[]
): Observation | undefined {
  try {
    return merge(stored, next);
  } catch (err) {
    failures.push({ identifier: key, status: 'merge', message: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}

/**
 * @returns the write one desired Observation needs against what is stored, 'unchanged', or undefined when its merge
 *   was refused (recorded in failures)
 */
function planOne(
  key: UpsertIdentifier,
  desired: Observation,
  existing: WithId<Observation> | undefined,
  merge: MergeObservation | undefined,
  alwaysConditional: boolean,
  now: number,
  failures: UpsertFailure[]
): Op | 'unchanged' | undefined {
  const retry = merge ? { retry: { desired, merge } } : {};
  if (!existing) {
    return {
      kind: 'create',
      key,
      resource: desired,
      conditional: alwaysConditional || mayRace(desired, now),
      ...retry,
    };
  }
  // A retracted series (its records deleted at the provider) is replaced, never merged back to life.
  let next = desired;
  if (merge && existing.status !== 'entered-in-error') {
    const merged = tryMerge(merge, existing, desired, key, failures);
    if (!merged) {
      return undefined;
    }
    next = merged;
  }
  if (sameObservation(existing, next)) {
    return 'unchanged';
  }
  return {
    kind: 'update',
    key,
    resource: { ...next, id: existing.id },
    id: existing.id,
    version: existing.meta?.versionId ?? '',
    ...retry,
  };
}

function entryFor(op: Op): BundleEntry {
  if (op.kind === 'create') {
    return {
      resource: op.resource,
      request: op.conditional
        ? { method: 'POST', url: 'Observation', ifNoneExist: identifierQuery(op.key) }
        : { method: 'POST', url: 'Observation' },
    };
  }
  return {
    resource: op.resource,
    request: { method: 'PUT', url: `Observation/${op.id}`, ifMatch: `W/"${op.version}"` },
  };
}

function entryMessage(entry: BundleEntry | undefined): string {
  const text = (entry?.response?.outcome?.issue ?? [])
    .map((issue) => issue.details?.text ?? issue.diagnostics ?? issue.code)
    .filter((t) => t)
    .join('; ');
  return text || 'no outcome';
}

async function readStored(
  medplum: Client,
  pacer: QuotaPacer,
  identifiers: readonly UpsertIdentifier[],
  result: WriteChangedResult
): Promise<WithId<Observation>[]> {
  const out: WithId<Observation>[] = [];
  for (let i = 0; i < identifiers.length; i += RECORDS_PER_SEARCH) {
    const chunk = identifiers.slice(i, i + RECORDS_PER_SEARCH);
    const query = { identifier: chunk.map(keyString).join(','), _count: '1000' };
    let offset = 0;
    for (;;) {
      const page = await pacer.run(QUOTA_POINTS.search, () =>
        medplum.searchResources('Observation', { ...query, _offset: String(offset) }, { cache: 'no-cache' })
      );
      result.requests++;
      out.push(...page);
      if (page.length < 1000) {
        break;
      }
      offset += page.length;
    }
  }
  return out;
}

/** UTF-8 length of a string, without TextEncoder (not every bot runtime has it). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      bytes += 1;
    } else if (c < 0x800) {
      bytes += 2;
    } else if (c >= 0xd800 && c <= 0xdbff) {
      // A surrogate pair: one 4-byte code point.
      bytes += 4;
      i++;
    } else {
      bytes += 3;
    }
  }
  return bytes;
}

/**
 * @param ops - the writes waiting, in order
 * @param max - the most entries the quota allows now
 * @param maxBytes - the body limit
 * @returns how many of the first ops fit in one batch body (at least one: an entry too large alone fails alone)
 */
export function bytesBound(ops: readonly Op[], max: number, maxBytes: number): number {
  // The Bundle's own wrapper and the commas between entries: a few hundred bytes at most.
  let total = 200;
  let n = 0;
  for (const op of ops.slice(0, max)) {
    total += utf8Length(JSON.stringify(entryFor(op))) + 1;
    if (n > 0 && total > maxBytes) {
      break;
    }
    n++;
  }
  return Math.max(n, Math.min(1, ops.length));
}

/**
 * Reads, compares and writes the difference (see the module comment).
 * @param medplum - the bot's client
 * @param pacer - the run's quota pacer
 * @param input - the records fetched from the provider, mapped
 * @returns counts; failures are returned, not thrown, so the caller can fail its Task with all of them
 */
export async function writeChanged(
  medplum: Client,
  pacer: QuotaPacer,
  input: WriteChangedInput
): Promise<WriteChangedResult> {
  const result: WriteChangedResult = { created: 0, updated: 0, unchanged: 0, retracted: 0, failures: [], requests: 0 };
  const recordKeys = uniqueKeys(input.records.map((g) => g.record));
  const writeOnceKeys = uniqueKeys((input.writeOnce ?? []).map(keyOf));
  const storedList = [
    ...(await readStored(medplum, pacer, recordKeys, result)),
    ...(await readStored(medplum, pacer, writeOnceKeys, result)),
  ];
  const stored = new Map<string, WithId<Observation>>();
  const storedByRecord = new Map<string, WithId<Observation>[]>();
  const recordKeySet = new Set(recordKeys.map(keyString));
  for (const observation of storedList) {
    const identifiers = observation.identifier ?? [];
    const key = identifiers[0];
    if (key?.system && key.value) {
      stored.set(`${key.system}|${key.value}`, observation);
    }
    for (const id of identifiers) {
      const k = `${id.system ?? ''}|${id.value ?? ''}`;
      if (recordKeySet.has(k)) {
        const list = storedByRecord.get(k) ?? [];
        list.push(observation);
        storedByRecord.set(k, list);
      }
    }
  }
  const plan = planWrites(input, stored, storedByRecord);
  result.unchanged += plan.unchanged;
  result.failures.push(...plan.failures);

  let lost = await send(medplum, pacer, plan.ops, result);
  for (let attempt = 1; lost.length > 0; attempt++) {
    if (attempt >= MERGE_ATTEMPTS) {
      for (const op of lost) {
        result.failures.push({
          identifier: op.key,
          status: '412',
          message: `the series kept changing under concurrent writers; gave up after ${MERGE_ATTEMPTS} merges`,
        });
      }
      break;
    }
    lost = await send(medplum, pacer, await remerge(medplum, pacer, lost, result), result);
  }
  return result;
}

/** A series op whose write lost a race: another run wrote the same Observation since we read it. */
type LostOp = Op & { retry: MergeRetry };

/**
 * Re-reads the Observations of lost series writes and merges each fetch over what is stored now.
 * @returns the writes still needed (an Observation that now holds everything needs none)
 */
async function remerge(
  medplum: Client,
  pacer: QuotaPacer,
  lost: readonly LostOp[],
  result: WriteChangedResult
): Promise<Op[]> {
  const fresh = new Map<string, WithId<Observation>>();
  for (const observation of await readStored(medplum, pacer, uniqueKeys(lost.map((op) => op.key)), result)) {
    const key = observation.identifier?.[0];
    if (key?.system && key.value) {
      fresh.set(`${key.system}|${key.value}`, observation);
    }
  }
  const ops: Op[] = [];
  for (const op of lost) {
    // Conditional, since the loser of a create race is by definition racing.
    const next = planOne(
      op.key,
      op.retry.desired,
      fresh.get(keyString(op.key)),
      op.retry.merge,
      true,
      0,
      result.failures
    );
    if (next === 'unchanged') {
      result.unchanged++;
    } else if (next) {
      ops.push(next);
    }
  }
  return ops;
}

/**
 * Sends the ops in quota-sized batches, re-sending throttled entries after the reset.
 * @returns the series ops that lost a race (412, or a conditional create that found another run's Observation)
 */
async function send(medplum: Client, pacer: QuotaPacer, ops: Op[], result: WriteChangedResult): Promise<LostOp[]> {
  const lost: LostOp[] = [];
  const resends = new Map<Op, number>();
  let pending = ops;
  let throttledRounds = 0;
  while (pending.length > 0) {
    const available = pacer.available();
    if (available < QUOTA_POINTS.write) {
      await pacer.waitForReset();
    }
    const size = bytesBound(
      pending,
      batchSizeFor(pacer.available(), QUOTA_POINTS.write + QUOTA_POINTS.search, MAX_BATCH),
      MAX_BATCH_BYTES
    );
    const batch = pending.slice(0, size);
    const rest = pending.slice(size);
    const bundle: Bundle = { resourceType: 'Bundle', type: 'batch', entry: batch.map(entryFor) };
    const cost = batch.reduce(
      (sum, op) => sum + QUOTA_POINTS.write + (op.kind === 'create' && op.conditional ? QUOTA_POINTS.search : 0),
      0
    );
    const response = await pacer.run(cost, () => medplum.executeBatch(bundle));
    result.requests++;
    const retry: Op[] = [];
    const conflicted: Op[] = [];
    batch.forEach((op, index) => {
      const entry = response.entry?.[index];
      const status = Number.parseInt(entry?.response?.status ?? '', 10);
      const resent = resends.get(op) ?? 0;
      if (isThrottledEntry(entry)) {
        retry.push(op);
      } else if (isSerializationConflict(entry) && resent < CONFLICT_RESENDS) {
        resends.set(op, resent + 1);
        conflicted.push(op);
      } else if (op.kind !== 'retract' && op.retry && (status === 412 || (op.kind === 'create' && status === 200))) {
        // A series must not lose its minutes to the other run's: read what it wrote and merge again.
        lost.push({ ...op, retry: op.retry });
      } else if (op.kind === 'create' && status === 201) {
        result.created++;
      } else if (op.kind === 'create' && status === 200) {
        // ifNoneExist found one: another run wrote it between our read and this write.
        result.unchanged++;
      } else if (status >= 200 && status < 300) {
        result[op.kind === 'retract' ? 'retracted' : 'updated']++;
      } else {
        result.failures.push({
          identifier: op.key,
          status: entry?.response?.status ?? 'missing',
          message: entryMessage(entry),
        });
      }
    });
    if (retry.length > 0) {
      pacer.spend.throttled += retry.length;
      throttledRounds = retry.length === batch.length ? throttledRounds + 1 : 0;
      if (throttledRounds > 5) {
        for (const op of [...retry, ...conflicted, ...rest]) {
          result.failures.push({ identifier: op.key, status: '429', message: 'Too Many Requests (quota)' });
        }
        break;
      }
      await pacer.waitForReset();
    } else if (conflicted.length > 0) {
      await pacer.pause(CONFLICT_PAUSE_MS * Math.max(...conflicted.map((op) => resends.get(op) ?? 1)));
    }
    pending = [...retry, ...conflicted, ...rest];
  }
  return lost;
}

function uniqueKeys(keys: readonly UpsertIdentifier[]): UpsertIdentifier[] {
  const seen = new Map<string, UpsertIdentifier>();
  for (const key of keys) {
    seen.set(keyString(key), key);
  }
  return [...seen.values()];
}
