/**
 * What an Oura sync Task does, decided without I/O (planOuraSync), carried out over an injected client
 * (fetchOuraPlan), and grouped into RecordGroups for write-changed.ts (groupOuraRecords).
 *
 * - A window (backfill, reconcile, hint overflow) lists the seven mapped collections and the heart rate series.
 *   Oura re-analyses sleep after the fact and a day's documents appear only when the ring syncs, so the window is
 *   read from `start - 24 h`. Oura's date parameters need padding (providers.md §3.2): daily collections filter on
 *   the document's `timestamp` with a date-only `end_date` meaning that day's midnight (so the end day would be
 *   dropped), and `sleep` treats `start_date` as exclusive; dates are read as the owner's local days, which may be a
 *   day off UTC. So every collection is asked for `[UTC date(start - 24 h) - 1 day, UTC date(end) + 1 day]`, and
 *   documents are deduplicated by id. Reading a day too many costs nothing: unchanged Observations are not written.
 *   Heart rate is read over the instants `[start - 24 h, end)`, 30 days per call (client.ts).
 * - A webhook Task (recordType = data_type, recordId = object_id, eventType = `<event_type>.<data_type>`):
 *   `create` / `update` → GET that one document (404 → `missing`: the Task completes, nothing retries it), and for a
 *   daily activity or a sleep period also the heart rate over its time (heartRateRangeOf: Oura has no heart rate
 *   webhook);
 *   `delete` → a RetractPlan, carried out only for what Oura confirms gone (404 on the document, or a sleep period
 *   Oura now lists as `type: "deleted"`): a notification is never proof.
 * - 403 on a collection (a scope the owner unticked at consent, or an expired Oura membership) skips that collection
 *   with a reason instead of failing the whole sync: the other collections are still worth writing, and a retry
 *   would meet the same 403. Every other error (401, 429, 5xx, timeouts) fails the Task, which retries.
 */
import type { Observation } from '@medplum/fhirtypes';
import { ProviderHttpError } from '../shared/http.ts';
import type { PlanContext, RecordRef, RetractPlan, SyncBatch } from '../shared/provider.ts';
import { mergeSeriesObservation } from '../shared/sampled-data.ts';
import type { ParsedTaskInput } from '../shared/tasks.ts';
import type { RecordGroup } from '../shared/write-changed.ts';
import type { DateRange, OuraClient, OuraDocuments, TimeRange } from './client.ts';
import {
  convertOuraDailyActivityToFhir,
  convertOuraDailyReadinessToFhir,
  convertOuraDailySleepToFhir,
  convertOuraDailySpo2ToFhir,
  convertOuraDailyStressToFhir,
  convertOuraHeartRateToFhir,
  convertOuraSleepSeriesToFhir,
  convertOuraSleepToFhir,
  convertOuraWorkoutToFhir,
  HEART_RATE_PERIOD_MS,
  ouraRecordIdentifier,
  patientIdOf,
} from './mappers.ts';
import type { MapContext, MapResult, SeriesResult } from './mappers.ts';
import { isMappedDataType, MAPPED_DATA_TYPES, WEBHOOK_EVENT_TYPES } from './schemas.ts';
import type { OuraDataType, OuraEventType, OuraHeartRateRow } from './schemas.ts';

export const WINDOW_OVERLAP_MS = 24 * 60 * 60_000;
const DAY_MS = 86_400_000;

export type OuraFetchPlan =
  | {
      readonly kind: 'window';
      /** start_date / end_date sent to every collection (padded; see the module comment). */
      readonly dates: DateRange;
      readonly collections: readonly OuraDataType[];
      /** Instants for /heartrate. */
      readonly heartRate: TimeRange;
    }
  | { readonly kind: 'document'; readonly dataType: OuraDataType; readonly documentId: string };

export type OuraSyncPlan = OuraFetchPlan | RetractPlan;

function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * @param eventType - `<event_type>.<data_type>` as the webhook bot wrote it
 * @returns its parts, or undefined when it is not an Oura event Baseline handles
 */
export function parseOuraEventType(eventType: string): { event: OuraEventType; dataType: OuraDataType } | undefined {
  const [event, dataType, ...rest] = eventType.split('.');
  if (
    rest.length > 0 ||
    event === undefined ||
    dataType === undefined ||
    !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(event) ||
    !isMappedDataType(dataType)
  ) {
    return undefined;
  }
  return { event: event as OuraEventType, dataType };
}

/**
 * @param input - the Task's parsed input
 * @param ctx - the connection's Oura user id and the clock
 * @returns the plan; throws for a Task that is neither a window nor a known Oura event with a record id
 */
export function planOuraSync(input: ParsedTaskInput, ctx: Pick<PlanContext, 'providerUserId' | 'now'>): OuraSyncPlan {
  if (input.eventType !== undefined) {
    const parsed = parseOuraEventType(input.eventType);
    if (!parsed) {
      throw new Error(`Unknown Oura event type ${input.eventType}`);
    }
    const id = input.recordId;
    if (!id) {
      throw new Error(`Task for ${input.eventType} has no record id`);
    }
    if (parsed.event === 'delete') {
      const record: RecordRef = {
        recordType: parsed.dataType,
        ...ouraRecordIdentifier(parsed.dataType, patientIdOf(input.patient), ctx.providerUserId, id),
      };
      return { kind: 'retract', records: [record] };
    }
    return { kind: 'document', dataType: parsed.dataType, documentId: id };
  }
  if (!input.window) {
    throw new Error('Oura sync Task has neither a window nor an event');
  }
  const start = Date.parse(input.window.start) - WINDOW_OVERLAP_MS;
  const end = Date.parse(input.window.end);
  return {
    kind: 'window',
    dates: { startDate: utcDate(start - DAY_MS), endDate: utcDate(end + DAY_MS) },
    collections: MAPPED_DATA_TYPES,
    heartRate: wholeUtcDays(start, end),
  };
}

/**
 * The UTC days around [start, end), each shifted half a 5-minute slot earlier. Heart rate is stored per UTC day and
 * merged slot by slot (an incoming value replaces the stored one), and a slot holds the samples within half a period
 * of its time — a day's first slot starts 150 s before midnight. So a read must cover whole slots: one that began or
 * ended inside a slot (at midnight, say, during a workout's minute-by-minute rows) would carry only part of it and
 * overwrite the complete value stored before.
 */
export function wholeUtcDays(startMs: number, endMs: number): TimeRange {
  const half = HEART_RATE_PERIOD_MS / 2;
  const start = Math.floor((startMs + half) / DAY_MS) * DAY_MS - half;
  const end = Math.ceil((endMs + half) / DAY_MS) * DAY_MS - half;
  return { start: new Date(start).toISOString(), end: new Date(Math.max(end, start + DAY_MS)).toISOString() };
}

/** Documents of each collection, as fetched. */
export type OuraDocumentLists = { [K in OuraDataType]: OuraDocuments[K][] };

export interface OuraRecords {
  documents: OuraDocumentLists;
  heartRate: OuraHeartRateRow[];
  /** Records a notification named that Oura does not know (404). */
  missing: string[];
  /** Collections Oura refused (403), each with why. */
  refused: { key: string; reason: string }[];
}

type PlanClient = Pick<OuraClient, 'listDocuments' | 'getDocument' | 'listHeartRate'>;

function emptyLists(): OuraDocumentLists {
  return {
    daily_sleep: [],
    daily_readiness: [],
    daily_activity: [],
    daily_spo2: [],
    daily_stress: [],
    sleep: [],
    workout: [],
  };
}

function isForbidden(err: unknown): boolean {
  return err instanceof ProviderHttpError && err.kind === 'forbidden';
}

function refusedReason(what: string): { key: string; reason: string } {
  return {
    key: what,
    reason: `Oura refused ${what} (403: the owner did not grant its scope, or their Oura membership has expired)`,
  };
}

function dedupeById<T extends { readonly id: string }>(documents: readonly T[]): T[] {
  const byId = new Map<string, T>();
  for (const document of documents) {
    // A later page's copy is the fresher one.
    byId.set(document.id, document);
  }
  return [...byId.values()];
}

/**
 * Carries out a fetching plan (not a retraction, which the sync bot writes after confirmDeletion).
 * @param client - Oura client
 * @param accessToken - the connection's access token
 * @param plan - from planOuraSync
 * @returns the Oura documents and heart rate rows to map
 */
export async function fetchOuraPlan(
  client: PlanClient,
  accessToken: string,
  plan: OuraFetchPlan
): Promise<OuraRecords> {
  const records: OuraRecords = { documents: emptyLists(), heartRate: [], missing: [], refused: [] };
  if (plan.kind === 'document') {
    try {
      const document = await client.getDocument(accessToken, plan.dataType, plan.documentId);
      if (document === undefined) {
        records.missing.push(`${plan.dataType} ${plan.documentId}`);
        return records;
      }
      pushDocument(records.documents, plan.dataType, document);
      const range = heartRateRangeOf(document);
      if (range) {
        await readHeartRate(client, accessToken, range, records);
      }
    } catch (err) {
      if (!isForbidden(err)) {
        throw err;
      }
      records.refused.push(refusedReason(plan.dataType));
    }
    return records;
  }
  // Sequential on purpose: Oura's limit is per token and per app, shared by every owner.
  for (const type of plan.collections) {
    try {
      await listInto(client, accessToken, records.documents, type, plan.dates);
    } catch (err) {
      if (!isForbidden(err)) {
        throw err;
      }
      records.refused.push(refusedReason(type));
    }
  }
  await readHeartRate(client, accessToken, plan.heartRate, records);
  return records;
}

async function readHeartRate(
  client: PlanClient,
  accessToken: string,
  range: TimeRange,
  records: OuraRecords
): Promise<void> {
  try {
    records.heartRate = await client.listHeartRate(accessToken, range);
  } catch (err) {
    if (!isForbidden(err)) {
      throw err;
    }
    records.refused.push(refusedReason('heartrate'));
  }
}

/**
 * Oura sends no webhook for the heart rate series, so a notified document that spans time the ring measured brings
 * that time's heart rate with it: a daily activity (updated each time the ring syncs during the day) its 24 hours,
 * a sleep period its bedtime. Without this, a connection whose webhooks arrive would never be reconciled and its
 * intraday heart rate would stop at the backfill.
 * @returns the instants to read heart rate for, or undefined for other documents
 */
export function heartRateRangeOf(document: OuraDocuments[OuraDataType]): TimeRange | undefined {
  const text = (key: string): string | undefined => {
    const value: unknown = key in document ? (document as Readonly<Record<string, unknown>>)[key] : undefined;
    return typeof value === 'string' ? value : undefined;
  };
  let start = Number.NaN;
  let end = Number.NaN;
  const bedtimeStart = text('bedtime_start');
  const bedtimeEnd = text('bedtime_end');
  const timestamp = text('timestamp');
  if (bedtimeStart !== undefined && bedtimeEnd !== undefined) {
    start = Date.parse(bedtimeStart);
    end = Date.parse(bedtimeEnd);
  } else if ('steps' in document && timestamp !== undefined) {
    start = Date.parse(timestamp);
    end = start + DAY_MS;
  }
  return end > start ? wholeUtcDays(start, end) : undefined;
}

function pushDocument<K extends OuraDataType>(lists: OuraDocumentLists, type: K, document: OuraDocuments[K]): void {
  lists[type].push(document);
}

async function listInto<K extends OuraDataType>(
  client: PlanClient,
  accessToken: string,
  lists: OuraDocumentLists,
  type: K,
  dates: DateRange
): Promise<void> {
  for (const document of dedupeById(await client.listDocuments(accessToken, type, dates))) {
    pushDocument(lists, type, document);
  }
}

/**
 * Asks Oura which of a deletion's records are really gone.
 * @param client - Oura client
 * @param accessToken - the connection's access token
 * @param plan - a retract plan from planOuraSync
 * @param input - the Task's input (its record type and id)
 * @returns the plan's records Oura confirms deleted (empty when the document still exists)
 */
export async function confirmOuraDeletion(
  client: Pick<OuraClient, 'getDocument'>,
  accessToken: string,
  plan: RetractPlan,
  input: Pick<ParsedTaskInput, 'recordType' | 'recordId'>
): Promise<readonly RecordRef[]> {
  const type = input.recordType;
  const id = input.recordId;
  if (!type || !id || !isMappedDataType(type)) {
    return [];
  }
  let document: OuraDocuments[OuraDataType] | undefined;
  try {
    document = await client.getDocument(accessToken, type, id);
  } catch (err) {
    // A 400/422 says the request was malformed, not that a document is gone: never proof of a deletion.
    if (err instanceof ProviderHttpError && err.kind === 'bad-request') {
      return [];
    }
    throw err;
  }
  if (document === undefined) {
    return plan.records;
  }
  // A deleted sleep period stays listed with type "deleted".
  if (type === 'sleep' && 'type' in document && document.type === 'deleted') {
    return plan.records;
  }
  return [];
}

function mapDocument(
  type: OuraDataType,
  records: OuraDocumentLists,
  ctx: MapContext
): { id: string; result: MapResult }[] {
  switch (type) {
    case 'daily_sleep':
      return records.daily_sleep.map((r) => ({ id: r.id, result: convertOuraDailySleepToFhir(r, ctx) }));
    case 'daily_readiness':
      return records.daily_readiness.map((r) => ({ id: r.id, result: convertOuraDailyReadinessToFhir(r, ctx) }));
    case 'daily_activity':
      return records.daily_activity.map((r) => ({ id: r.id, result: convertOuraDailyActivityToFhir(r, ctx) }));
    case 'daily_spo2':
      return records.daily_spo2.map((r) => ({ id: r.id, result: convertOuraDailySpo2ToFhir(r, ctx) }));
    case 'daily_stress':
      return records.daily_stress.map((r) => ({ id: r.id, result: convertOuraDailyStressToFhir(r, ctx) }));
    case 'sleep':
      return records.sleep.map((r) => ({ id: r.id, result: convertOuraSleepToFhir(r, ctx) }));
    case 'workout':
      return records.workout.map((r) => ({ id: r.id, result: convertOuraWorkoutToFhir(r, ctx) }));
    default: {
      const never: never = type;
      throw new Error(`Unhandled Oura collection ${String(never)}`);
    }
  }
}

function seriesGroups(result: SeriesResult): RecordGroup[] {
  return result.series.map((entry) => ({
    record: entry.record,
    observations: [entry.observation],
    merge: mergeSeriesObservation,
  }));
}

/**
 * Maps each fetched document on its own (so the writer retracts what a document no longer produces: a sleep
 * re-classified as a nap, a period deleted) and each series window as a merging group.
 * @param records - from fetchOuraPlan
 * @param ctx - patient, device, Oura user id
 * @returns the SyncBatch for write-changed.ts
 */
export function groupOuraRecords(records: OuraRecords, ctx: MapContext): SyncBatch {
  const patientId = patientIdOf(ctx.patient);
  const groups: RecordGroup[] = [];
  const skipped: { key: string; reason: string }[] = [...records.refused];
  const writeOnce: Observation[] = [];
  for (const type of MAPPED_DATA_TYPES) {
    for (const { id, result } of mapDocument(type, records.documents, ctx)) {
      groups.push({
        record: ouraRecordIdentifier(type, patientId, ctx.providerUserId, id),
        observations: result.observations,
      });
      writeOnce.push(...result.writeOnce);
      skipped.push(...result.skipped);
    }
  }
  for (const sleep of records.documents.sleep) {
    const series = convertOuraSleepSeriesToFhir(sleep, ctx);
    groups.push(...seriesGroups(series));
    skipped.push(...series.skipped);
  }
  if (records.heartRate.length > 0) {
    const series = convertOuraHeartRateToFhir(records.heartRate, ctx);
    groups.push(...seriesGroups(series));
    skipped.push(...series.skipped);
  }
  return { records: groups, writeOnce, skipped, missing: records.missing };
}
