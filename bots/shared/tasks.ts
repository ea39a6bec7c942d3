/**
 * The work queue: one FHIR Task per unit of provider work (a backfill window, a webhook event, a reconcile window).
 *
 * Lifecycle: requested → in-progress → completed | failed. A failed Task that may be retried carries
 * `task-next-attempt`; the sweeper re-requests it when isDue. Backoff is exponential from 1 minute, doubling, capped
 * at 6 hours; after MAX_ATTEMPTS the Task stays failed with no next attempt and its reason says it gave up. Tasks are
 * readable by their owner (progress in the app), so nothing here may carry a secret.
 *
 * Every helper is pure: it returns a new Task and never mutates its argument.
 */
import { createHash } from 'node:crypto';
import type { Basic, Extension, Patient, Reference, Task, TaskInput, TaskOutput } from '@medplum/fhirtypes';
import { z } from 'zod';
import {
  TASK_EXTENSION,
  TASK_IDENTIFIER_SYSTEM,
  TASK_INPUT_SYSTEM,
  TASK_OUTPUT_SYSTEM,
  TASK_TYPE_SYSTEM,
} from './extensions.ts';

/** Provider work items: they name a connection (`focus`) and a provider, and the sync bot runs them. */
export const PROVIDER_TASK_KINDS = ['backfill', 'sync', 'erase'] as const;
export type TaskKind = (typeof PROVIDER_TASK_KINDS)[number];
/**
 * Every kind of Baseline work item. `analytics` is per owner, not per connection: one recompute of the owner's
 * derived Observations (bots/analytics/recompute.ts), built and read by buildAnalyticsTask / readAnalyticsTask.
 */
export const TASK_KINDS = [...PROVIDER_TASK_KINDS, 'analytics'] as const;
export type AnyTaskKind = (typeof TASK_KINDS)[number];
/**
 * A provider's record type (WHOOP `sleep`, Withings `measure`, Oura `daily_sleep`): each provider names its own, and
 * it appears in identifiers, so it is kept to lower-case letters, digits, `_` and `-`.
 */
export const RecordTypeSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, 'not a record type');
export type RecordType = string;
/**
 * What a finished Task reports: Observations created / updated / unchanged / retracted (entered-in-error) /
 * deleted (erase; `derived`: what was computed from the erased data, deleted with it), records skipped (unscored,
 * implausible) or missing at the provider, the FHIR quota points and
 * requests the run spent, and (analytics) alert Flags raised and ended.
 */
export const OUTPUT_CODES = [
  'created',
  'updated',
  'unchanged',
  'retracted',
  'deleted',
  'derived',
  'expunged',
  'skipped',
  'missing',
  'points',
  'requests',
  'raised',
  'ended',
] as const;
export type OutputCode = (typeof OUTPUT_CODES)[number];
export type TaskCounts = Partial<Record<OutputCode, number>>;

export const MAX_ATTEMPTS = 8;
export const FIRST_RETRY_MS = 60_000;
export const MAX_RETRY_MS = 6 * 60 * 60_000;
const MAX_REASON_LENGTH = 1000;

export interface TaskWindow {
  /** ISO instant, inclusive. */
  readonly start: string;
  /** ISO instant, exclusive. */
  readonly end: string;
}

export interface BuildTaskParams {
  readonly kind: TaskKind;
  readonly patient: Reference<Patient>;
  readonly connection: Reference<Basic>;
  readonly provider: string;
  /** Identifier value that makes creation idempotent, e.g. `whoop:trace:<trace_id>`. */
  readonly dedupeKey: string;
  readonly window?: TaskWindow;
  readonly recordType?: RecordType;
  readonly recordId?: string;
  readonly eventType?: string;
}

/**
 * @param params - what the Task is about
 * @returns a `requested` Task (create it with `PUT Task?identifier=<TASK_IDENTIFIER_SYSTEM>|<dedupeKey>` or
 *   `ifNoneExist`, so a retried webhook or a re-run backfill does not queue the same work twice)
 */
export function buildTask(params: BuildTaskParams): Task {
  const input: TaskInput[] = [inputString('provider', params.provider)];
  if (params.window) {
    checkWindow(params.window);
    input.push(
      { type: inputType('window-start'), valueDateTime: params.window.start },
      { type: inputType('window-end'), valueDateTime: params.window.end }
    );
  }
  if (params.recordType) {
    input.push(inputString('record-type', params.recordType));
  }
  if (params.recordId) {
    input.push(inputString('record-id', params.recordId));
  }
  if (params.eventType) {
    input.push(inputString('event-type', params.eventType));
  }
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    code: { coding: [{ system: TASK_TYPE_SYSTEM, code: params.kind }] },
    for: params.patient,
    focus: params.connection,
    identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: params.dedupeKey }],
    input,
    extension: [{ url: TASK_EXTENSION.attempts, valueInteger: 0 }],
  };
}

function inputType(code: string): TaskInput['type'] {
  return { coding: [{ system: TASK_INPUT_SYSTEM, code }] };
}

function inputString(code: string, value: string): TaskInput {
  return { type: inputType(code), valueString: value };
}

function checkWindow(window: TaskWindow): void {
  const start = Date.parse(window.start);
  const end = Date.parse(window.end);
  if (Number.isNaN(start) || Number.isNaN(end) || start >= end) {
    throw new Error(`Invalid task window ${window.start} to ${window.end}`);
  }
}

const IsoInstant = z.iso.datetime({ offset: true });

const TaskInputSchema = z
  .object({
    kind: z.enum(PROVIDER_TASK_KINDS),
    dedupeKey: z.string().min(1),
    patient: z.string().regex(/^Patient\/[^/]+$/),
    connection: z.string().regex(/^Basic\/[^/]+$/),
    provider: z.string().min(1),
    windowStart: IsoInstant.optional(),
    windowEnd: IsoInstant.optional(),
    recordType: RecordTypeSchema.optional(),
    // Provider record ids (UUIDs, integers, a Withings `<start>-<end>` window): never search syntax.
    recordId: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'not a record id')
      .optional(),
    eventType: z.string().min(1).optional(),
    attempts: z.number().int().min(0),
    nextAttemptAt: IsoInstant.optional(),
  })
  .refine((v) => (v.windowStart === undefined) === (v.windowEnd === undefined), {
    message: 'window-start and window-end come together',
  });

export interface ParsedTaskInput {
  readonly id: string | undefined;
  readonly kind: TaskKind;
  readonly dedupeKey: string;
  readonly patient: Reference<Patient>;
  readonly connection: Reference<Basic>;
  readonly provider: string;
  readonly window: TaskWindow | undefined;
  readonly recordType: RecordType | undefined;
  readonly recordId: string | undefined;
  readonly eventType: string | undefined;
  readonly attempts: number;
  readonly nextAttemptAt: string | undefined;
}

function inputValue(task: Task, code: string): string | undefined {
  const entry = task.input?.find((i) => i.type.coding?.some((c) => c.system === TASK_INPUT_SYSTEM && c.code === code));
  return entry?.valueString ?? entry?.valueDateTime;
}

function extension(task: { extension?: Extension[] }, url: string): Extension | undefined {
  return task.extension?.find((e) => e.url === url);
}

/**
 * @param task - a Task read from Medplum (the sync bot's input)
 * @returns its typed input; throws `Task <id> is not a Baseline work item: <problems>` when malformed
 */
export function readTaskInput(task: Task): ParsedTaskInput {
  const raw = {
    kind: task.code?.coding?.find((c) => c.system === TASK_TYPE_SYSTEM)?.code,
    dedupeKey: task.identifier?.find((i) => i.system === TASK_IDENTIFIER_SYSTEM)?.value,
    patient: task.for?.reference,
    connection: task.focus?.reference,
    provider: inputValue(task, 'provider'),
    windowStart: inputValue(task, 'window-start'),
    windowEnd: inputValue(task, 'window-end'),
    recordType: inputValue(task, 'record-type'),
    recordId: inputValue(task, 'record-id'),
    eventType: inputValue(task, 'event-type'),
    attempts: extension(task, TASK_EXTENSION.attempts)?.valueInteger ?? 0,
    nextAttemptAt: extension(task, TASK_EXTENSION.nextAttempt)?.valueDateTime,
  };
  const parsed = TaskInputSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.') || '(task)'}: ${issue.message}`)
      .join('; ');
    throw new Error(`Task ${task.id ?? '(new)'} is not a Baseline work item: ${problems}`);
  }
  const v = parsed.data;
  return {
    id: task.id,
    kind: v.kind,
    dedupeKey: v.dedupeKey,
    patient: { reference: v.patient as `Patient/${string}` },
    connection: { reference: v.connection as `Basic/${string}` },
    provider: v.provider,
    window: v.windowStart && v.windowEnd ? { start: v.windowStart, end: v.windowEnd } : undefined,
    recordType: v.recordType,
    recordId: v.recordId,
    eventType: v.eventType,
    attempts: v.attempts,
    nextAttemptAt: v.nextAttemptAt,
  };
}

/**
 * Splits [from, to) into consecutive windows of `days` days, oldest first; the last one ends exactly at `to`.
 * @param from - start instant
 * @param to - end instant (exclusive)
 * @param days - window length in days
 * @returns the windows as ISO instants
 */
export function backfillWindows(from: Date | string, to: Date | string, days = 30): TaskWindow[] {
  const start = new Date(from).getTime();
  const end = new Date(to).getTime();
  if (Number.isNaN(start) || Number.isNaN(end)) {
    throw new Error('backfillWindows needs valid instants');
  }
  if (!(days > 0)) {
    throw new Error(`backfillWindows needs a positive window length, got ${days}`);
  }
  const step = days * 24 * 60 * 60_000;
  const windows: TaskWindow[] = [];
  for (let s = start; s < end; s += step) {
    windows.push({ start: new Date(s).toISOString(), end: new Date(Math.min(s + step, end)).toISOString() });
  }
  return windows;
}

/**
 * @param attempts - failed attempts so far (≥ 1)
 * @param jitterKey - optional stable key (e.g. the Task id): adds 0–10 % derived from its hash, so retries of many
 *   Tasks that failed together (a provider outage) spread out, yet a given Task's schedule is reproducible
 * @returns delay before the next attempt in ms
 */
export function retryDelayMs(attempts: number, jitterKey?: string): number {
  const exponent = Math.max(0, Math.floor(attempts) - 1);
  const base = Math.min(FIRST_RETRY_MS * 2 ** exponent, MAX_RETRY_MS);
  if (jitterKey === undefined) {
    return base;
  }
  const digest = createHash('sha256').update(`${jitterKey}:${attempts}`).digest();
  const fraction = digest.readUInt32BE(0) / 0xffffffff;
  return Math.min(Math.round(base * (1 + 0.1 * fraction)), MAX_RETRY_MS);
}

function setExtension(extensions: Extension[] | undefined, ext: Extension): Extension[] {
  return [...(extensions ?? []).filter((e) => e.url !== ext.url), ext];
}

function removeExtension(extensions: Extension[] | undefined, url: string): Extension[] | undefined {
  const rest = (extensions ?? []).filter((e) => e.url !== url);
  return rest.length > 0 ? rest : undefined;
}

function attemptsOf(task: Task): number {
  return extension(task, TASK_EXTENSION.attempts)?.valueInteger ?? 0;
}

/**
 * @param task - a requested Task
 * @param now - when work started (kept in `lastModified`)
 * @returns the Task in progress
 */
export function markInProgress(task: Task, now?: Date): Task {
  const next: Task = { ...task, status: 'in-progress' };
  delete next.businessStatus;
  if (now) {
    next.lastModified = now.toISOString();
  }
  return next;
}

/**
 * @param task - an in-progress Task
 * @param counts - what the work did
 * @param now - completion time (kept in `lastModified`)
 * @returns the completed Task with its counts in `output` and no scheduled retry
 */
export function markCompleted(task: Task, counts: TaskCounts, now?: Date): Task {
  const output: TaskOutput[] = OUTPUT_CODES.filter((code) => counts[code] !== undefined).map((code) => ({
    type: { coding: [{ system: TASK_OUTPUT_SYSTEM, code }] },
    valueInteger: counts[code],
  }));
  const next: Task = { ...task, status: 'completed', output };
  delete next.businessStatus;
  const extensions = removeExtension(task.extension, TASK_EXTENSION.nextAttempt);
  if (extensions) {
    next.extension = extensions;
  } else {
    delete next.extension;
  }
  if (now) {
    next.lastModified = now.toISOString();
  }
  return next;
}

export interface MarkFailedOptions {
  /** A provider's rate-limit reset: the next attempt is never earlier than this. */
  readonly retryAfterMs?: number;
  /** False for failures a retry cannot fix (e.g. revoked credentials): no next attempt. */
  readonly retryable?: boolean;
}

/**
 * @param task - the Task that failed
 * @param reason - why (no secrets: the owner can read it)
 * @param now - failure time
 * @param options - rate-limit floor, retryability
 * @returns the failed Task with attempts incremented and, unless it gave up, a next attempt
 */
export function markFailed(task: Task, reason: string, now: Date, options: MarkFailedOptions = {}): Task {
  const attempts = attemptsOf(task) + 1;
  const retryable = options.retryable ?? true;
  const givesUp = attempts >= MAX_ATTEMPTS;
  let text = reason;
  let extensions = setExtension(task.extension, { url: TASK_EXTENSION.attempts, valueInteger: attempts });
  if (retryable && !givesUp) {
    const delay = Math.max(retryDelayMs(attempts, task.id), options.retryAfterMs ?? 0);
    extensions = setExtension(extensions, {
      url: TASK_EXTENSION.nextAttempt,
      valueDateTime: new Date(now.getTime() + delay).toISOString(),
    });
  } else {
    extensions = extensions.filter((e) => e.url !== TASK_EXTENSION.nextAttempt);
    text = givesUp ? `${reason} (gave up after ${attempts} attempts)` : `${reason} (not retried)`;
  }
  if (text.length > MAX_REASON_LENGTH) {
    text = text.slice(0, MAX_REASON_LENGTH - 1) + '…';
  }
  return {
    ...task,
    status: 'failed',
    businessStatus: { text },
    extension: extensions,
    lastModified: now.toISOString(),
  };
}

function nextAttemptMs(task: Task): number | undefined {
  const at = extension(task, TASK_EXTENSION.nextAttempt)?.valueDateTime;
  const ms = at ? Date.parse(at) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * @param task - a Task
 * @param now - current time
 * @returns true for a failed Task whose scheduled retry time has come (the sweeper sets it back to requested), and
 *   for a requested Task whose (optional) next attempt is not in the future
 */
export function isDue(task: Task, now: Date): boolean {
  const at = nextAttemptMs(task);
  if (task.status === 'failed') {
    return at !== undefined && at <= now.getTime();
  }
  if (task.status === 'requested') {
    return at === undefined || at <= now.getTime();
  }
  return false;
}

/**
 * @param task - a Task
 * @param now - current time
 * @param staleMs - how long a Task may sit requested or in progress (a crashed bot run is not retried by Medplum)
 * @returns true when the Task has been requested or in progress, unchanged, for longer than staleMs
 */
export function isStuck(task: Task, now: Date, staleMs: number): boolean {
  if (task.status !== 'in-progress' && task.status !== 'requested') {
    return false;
  }
  const stamp = task.meta?.lastUpdated ?? task.lastModified;
  const at = stamp ? Date.parse(stamp) : Number.NaN;
  return !Number.isNaN(at) && now.getTime() - at > staleMs;
}

/**
 * The identifier value an owner's analytics Task holds while it is only requested. Creating one is conditional on
 * it, and the run that claims the Task renames it (analyticsRunKey), so at most one recompute per owner is waiting
 * at any time: every completed sync in between collapses into it.
 * @param patientId - the owner's Patient id
 * @returns the dedupe key
 */
export function analyticsPendingKey(patientId: string): string {
  return `analytics:${patientId}:pending`;
}

/** @returns the identifier value of a claimed (running or finished) analytics Task */
export function analyticsRunKey(patientId: string, taskId: string): string {
  return `analytics:${patientId}:run:${taskId}`;
}

/**
 * @param patient - the owner
 * @param reason - what asked for it (a sync Task, the nightly run), kept for the admin reading the queue
 * @returns a requested analytics Task; create it with `ifNoneExist` on its identifier
 */
export function buildAnalyticsTask(patient: Reference<Patient> & { reference: string }, reason: string): Task {
  const patientId = patient.reference.split('/')[1] ?? '';
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    code: { coding: [{ system: TASK_TYPE_SYSTEM, code: 'analytics' }] },
    for: { reference: patient.reference },
    identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: analyticsPendingKey(patientId) }],
    input: [inputString('reason', reason)],
    extension: [{ url: TASK_EXTENSION.attempts, valueInteger: 0 }],
  };
}

const AnalyticsTaskSchema = z.object({
  kind: z.literal('analytics'),
  patient: z.string().regex(/^Patient\/[^/]+$/),
});

/**
 * @param task - a Task read from Medplum (the analytics bot's input)
 * @returns the owner it is for; throws `Task <id> is not an analytics work item: <problems>` when malformed
 */
export function readAnalyticsTask(task: Task): {
  patient: Reference<Patient> & { reference: string };
  patientId: string;
} {
  const parsed = AnalyticsTaskSchema.safeParse({
    kind: task.code?.coding?.find((c) => c.system === TASK_TYPE_SYSTEM)?.code,
    patient: task.for?.reference,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(task)'}: ${i.message}`).join('; ');
    throw new Error(`Task ${task.id ?? '(new)'} is not an analytics work item: ${problems}`);
  }
  const reference = parsed.data.patient as `Patient/${string}`;
  return { patient: { reference }, patientId: reference.split('/')[1] ?? '' };
}

/**
 * What a Task-triggered bot receives from its Subscription: enough to claim the Task with a versioned update (the
 * rest is re-read and parsed by readTaskInput).
 */
export const TaskEventSchema = z.looseObject({
  resourceType: z.literal('Task'),
  id: z.string(),
  status: z.string(),
  meta: z.looseObject({ versionId: z.string() }),
});
