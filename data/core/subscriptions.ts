/**
 * Rest-hook Subscriptions that run a bot (`endpoint: Bot/<id>`). Deploy resolves the bot's id on the target server
 * and upserts each Subscription by its `meta.tag` key. Always name the interaction: without the extension Medplum
 * also fires on delete (reference/medplum.md §0.9). A bot run that fails is not retried by Medplum; max-attempts only
 * covers errors before the bot runs, which is why work is queued as Tasks and swept by cron.
 */
import type { Subscription } from '@medplum/fhirtypes';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { SUBSCRIPTION_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { identityTag } from './identity.ts';

export const INTERACTION_EXTENSION = 'https://medplum.com/fhir/StructureDefinition/subscription-supported-interaction';
export const MAX_ATTEMPTS_EXTENSION = 'https://medplum.com/fhir/StructureDefinition/subscription-max-attempts';
export const FHIRPATH_CRITERIA_EXTENSION = 'https://medplum.com/fhir/StructureDefinition/fhir-path-criteria-expression';

export interface SubscriptionDefinition {
  /** Stable key (the `meta.tag` code). */
  readonly key: string;
  readonly reason: string;
  /** FHIR search string, e.g. `Task?code=<system>|sync&status=requested`. */
  readonly criteria: string;
  /** BotDefinition.identifier of the bot to run. */
  readonly bot: string;
  readonly interaction: 'create' | 'update' | 'delete';
  /** 1–18; Medplum's default is 3. */
  readonly maxAttempts?: number;
  /** FHIRPath over `%current` / `%previous` that must be true. */
  readonly fhirPathCriteria?: string;
}

const QUEUED_TASKS = `Task?code=${TASK_TYPE_SYSTEM}|backfill,${TASK_TYPE_SYSTEM}|sync,${TASK_TYPE_SYSTEM}|erase&status=requested`;
/** Recomputes run on their own bot (bots/analytics/recompute.ts), never on the sync bot. */
const QUEUED_ANALYTICS = `Task?code=${TASK_TYPE_SYSTEM}|analytics&status=requested`;

/**
 * The work queue: a Task that becomes `requested` runs the sync bot once. Created Tasks fire the first; Tasks put
 * back to `requested` (retries by the sweeper, the next backfill window) fire the second, whose FHIRPath keeps
 * unrelated updates of an already-requested Task from running it twice.
 */
export const SUBSCRIPTION_DEFINITIONS: readonly SubscriptionDefinition[] = [
  {
    key: 'sync-task-created',
    reason: 'Run the sync bot for each new requested sync or backfill Task',
    criteria: QUEUED_TASKS,
    bot: 'sync',
    interaction: 'create',
  },
  {
    key: 'sync-task-requeued',
    reason: 'Run the sync bot when a Task is put back to requested',
    criteria: QUEUED_TASKS,
    bot: 'sync',
    interaction: 'update',
    fhirPathCriteria: "%previous.status != 'requested'",
  },
  {
    key: 'analytics-task-created',
    reason: "Run the analytics bot for each new requested recompute of an owner's derived Observations",
    criteria: QUEUED_ANALYTICS,
    bot: 'analytics',
    interaction: 'create',
  },
  {
    key: 'analytics-task-requeued',
    reason: 'Run the analytics bot when a recompute that lost its run is put back to requested',
    criteria: QUEUED_ANALYTICS,
    bot: 'analytics',
    interaction: 'update',
    fhirPathCriteria: "%previous.status != 'requested'",
  },
];

/**
 * The Subscription resource for a definition, pointed at the bot's id on the target server.
 * @param def - The subscription definition.
 * @param botId - The resolved Bot id.
 * @returns The resource deploy writes (no id).
 */
export function toSubscription(def: SubscriptionDefinition, botId: string): Subscription {
  return {
    resourceType: 'Subscription',
    meta: { tag: [identityTag(SUBSCRIPTION_IDENTIFIER_SYSTEM, def.key)] },
    status: 'active',
    reason: def.reason,
    criteria: def.criteria,
    channel: { type: 'rest-hook', endpoint: `Bot/${botId}`, payload: 'application/fhir+json' },
    extension: [
      { url: INTERACTION_EXTENSION, valueCode: def.interaction },
      ...(def.maxAttempts === undefined ? [] : [{ url: MAX_ATTEMPTS_EXTENSION, valueInteger: def.maxAttempts }]),
      ...(def.fhirPathCriteria ? [{ url: FHIRPATH_CRITERIA_EXTENSION, valueString: def.fhirPathCriteria }] : []),
    ],
  };
}
