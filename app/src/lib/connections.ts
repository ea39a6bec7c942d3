/**
 * What the connection bots return (`ConnectionView`, see the WHOOP design contract) and the little arithmetic the
 * Connections page does on it. The bots read the connection `Basic` and its backfill `Task`s server-side, because the
 * owner may not read `Basic` (it holds the encrypted tokens); the app only ever sees this summary.
 */
import { z } from 'zod';

/** A timestamp the app will render; anything `Date` cannot read is rejected rather than shown as "Invalid Date". */
const DateTimeSchema = z.string().refine((s) => !Number.isNaN(Date.parse(s)), { error: 'Invalid date-time' });

/** Optional fields may come back as `null` from a bot that spells "absent" that way; both mean absent here. */
function optional<T extends z.ZodType>(schema: T) {
  return schema.nullish().transform((v): z.output<T> | undefined => v ?? undefined);
}

const CountSchema = z.number().int().nonnegative();

export const ConnectionStatusSchema = z.enum(['active', 'credentials-expired', 'disconnected']);
export type ConnectionStatus = z.infer<typeof ConnectionStatusSchema>;

export const BackfillCountsSchema = z.object({
  /** Backfill Tasks created for this connection. */
  total: CountSchema,
  completed: CountSchema,
  failed: CountSchema,
  /** Tasks not finished yet (requested or in-progress); while above 0 the page keeps polling. */
  inProgress: CountSchema,
});
export type BackfillCounts = z.infer<typeof BackfillCountsSchema>;

export const ConnectionViewSchema = z.object({
  provider: z.string().min(1),
  status: ConnectionStatusSchema,
  // Required by the contract; a bot that has lost it sends '' today, which must not hide the whole page.
  connectedAt: z.preprocess((v) => (v === '' ? undefined : v), optional(DateTimeSchema)),
  lastSyncAt: optional(DateTimeSchema),
  lastError: optional(z.string()),
  deviceId: optional(z.string()),
  backfill: BackfillCountsSchema,
  /** The erase the owner asked for at disconnect: it runs in the background, paced by the server's FHIR quota. */
  erase: optional(z.object({ status: z.string().min(1), deleted: CountSchema })),
});

export type ConnectionView = z.output<typeof ConnectionViewSchema>;

export const ProviderAvailabilitySchema = z.object({ key: z.string(), available: z.boolean() });
export type ProviderAvailability = z.infer<typeof ProviderAvailabilitySchema>;

export const ConnectionsResponseSchema = z.object({
  connections: z.array(ConnectionViewSchema),
  // Absent from a server whose bots predate it: then every provider is offered.
  providers: z.array(ProviderAvailabilitySchema).optional(),
});

// The app navigates the whole window to this URL, so it must be a web URL: never `javascript:` or `data:`.
export const ConnectStartResponseSchema = z.object({
  authorizeUrl: z.url({ protocol: /^https?$/, error: 'authorizeUrl must be an absolute http(s) URL' }),
});

export const ConnectCallbackResponseSchema = z.object({ connection: ConnectionViewSchema });

export const DisconnectResponseSchema = z.object({
  connection: ConnectionViewSchema,
  /** Observations deleted (0 unless the owner chose to erase). */
  erased: CountSchema,
  /** Whether the provider confirmed it revoked Baseline's access; absent means the bot did not say. */
  revoked: optional(z.boolean()),
});

/** How a provider card presents itself; a disconnected connection looks exactly like one never made. */
export type ConnectionState = 'not-connected' | 'active' | 'credentials-expired';

/**
 * @param view - the provider's connection, if the bot returned one.
 * @returns The state the card shows.
 */
export function connectionState(view: ConnectionView | undefined): ConnectionState {
  if (!view || view.status === 'disconnected') {
    return 'not-connected';
  }
  return view.status;
}

/**
 * The connection for one provider. The bots keep one per provider and patient; if a stale disconnected one is
 * returned beside a live one, the live one wins.
 * @param connections - everything the connections bot returned.
 * @param provider - provider key, e.g. `whoop`.
 * @returns The connection, or undefined when there is none.
 */
export function connectionFor(connections: readonly ConnectionView[], provider: string): ConnectionView | undefined {
  const mine = connections.filter((c) => c.provider === provider);
  return mine.find((c) => c.status !== 'disconnected') ?? mine[0];
}

/**
 * @param view - a connection.
 * @returns Whether work is queued or running, i.e. whether the page should keep polling.
 */
export function isBusy(view: ConnectionView): boolean {
  return (view.status !== 'disconnected' && view.backfill.inProgress > 0) || isErasing(view);
}

/**
 * @param view - a connection.
 * @returns Whether an erase the owner asked for is still deleting.
 */
export function isErasing(view: ConnectionView | undefined): boolean {
  return view?.erase !== undefined && view.erase.status !== 'completed' && view.erase.status !== 'cancelled';
}

export interface BackfillProgress {
  readonly total: number;
  readonly completed: number;
  readonly failed: number;
  /** Share of the bar for completed Tasks, 0–100. */
  readonly completedPercent: number;
  /** Share of the bar for failed Tasks, 0–100; completed + failed never exceeds 100. */
  readonly failedPercent: number;
  /** Every Task has finished one way or the other (also true when there were none). */
  readonly finished: boolean;
  /** One line for people, e.g. `12 of 30 import batches done, 1 failed`. */
  readonly summary: string;
}

function percent(part: number, total: number): number {
  return Math.round((part / total) * 1000) / 10;
}

/**
 * Progress of the history import. The bar's whole is the Tasks still meant to run: `total` counts cancelled Tasks
 * too (a disconnect cancels queued ones) but no bucket does, so when completed + failed + inProgress falls short of
 * `total` the difference is left out rather than drawn as work that never finishes. Counts are clamped to the whole
 * so a bot that counts a Task twice cannot draw a bar past 100%.
 * @param counts - the connection's backfill counts.
 * @returns Percentages for a two-section progress bar and a summary line.
 */
export function backfillProgress(counts: BackfillCounts): BackfillProgress {
  const total = Math.min(counts.total, counts.completed + counts.failed + counts.inProgress);
  if (total === 0) {
    return {
      total,
      completed: 0,
      failed: 0,
      completedPercent: 0,
      failedPercent: 0,
      finished: true,
      summary: 'No history import has been queued',
    };
  }
  const completed = Math.min(counts.completed, total);
  const failed = Math.min(counts.failed, total - completed);
  const done = completed + failed;
  const failedText = failed > 0 ? `, ${failed} failed` : '';
  const summary =
    done === total && failed === 0
      ? `History imported: all ${total} import ${plural(total, 'batch', 'batches')} done`
      : `${completed} of ${total} import ${plural(total, 'batch', 'batches')} done${failedText}`;
  return {
    total,
    completed,
    failed,
    completedPercent: percent(completed, total),
    failedPercent: percent(failed, total),
    finished: done === total,
    summary,
  };
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}
