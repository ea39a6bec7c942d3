/**
 * Medplum's per-interaction AuditEvents (server config `saveAuditEvents: true`), as Medplum 5.0.10 builds them
 * (packages/server/src/util/auditevent.ts `createAuditEvent`, fhir/repo.ts `logEvent`): which interactions are
 * persisted, and the AuditEvent's shape. The repository (fhir/repo.ts) decides when to call it and writes the result
 * through the caller's own repository, as Medplum does (so the caller's AccessPolicy must allow creating it).
 *
 * Also the request context those AuditEvents carry (request id, trace id) and the caller's address, kept in an
 * AsyncLocalStorage for the duration of one HTTP request, as Medplum keeps its RequestContext.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createReference, isResource, normalizeErrorString } from '@medplum/core';
import type { AuditEvent, Extension, Reference, Resource } from '@medplum/fhirtypes';

type AgentWho = NonNullable<NonNullable<AuditEvent['agent']>[number]['who']>;

export const RESTFUL_INTERACTION_SYSTEM = 'http://hl7.org/fhir/restful-interaction';

/** The interactions the repository reports (Medplum logs search too, but a search never names one resource). */
export type AuditInteraction = 'create' | 'read' | 'vread' | 'history' | 'update' | 'patch' | 'delete' | 'search';

/** Medplum's AuditEventActionLookup: C/R/U/D by interaction. */
const ACTIONS: Record<AuditInteraction, NonNullable<AuditEvent['action']>> = {
  create: 'C',
  read: 'R',
  vread: 'R',
  history: 'R',
  search: 'R',
  update: 'U',
  patch: 'U',
  delete: 'D',
};

/** Medplum's AuditEventOutcome: only 0 (success) and 4 (minor failure) are used for REST interactions. */
export const AuditOutcome = { Success: '0', MinorFailure: '4' } as const;
export type AuditOutcome = (typeof AuditOutcome)[keyof typeof AuditOutcome];

export const TRACING_EXTENSION_URL = 'https://medplum.com/fhir/StructureDefinition/tracing';
export const DURATION_EXTENSION_URL = 'https://medplum.com/fhir/StructureDefinition/durationMs';

/** What one HTTP request contributes to the AuditEvents written while it runs. */
export interface RequestInfo {
  requestId: string;
  traceId: string;
  /** Express's `req.ip` with `trust proxy 1`: the last X-Forwarded-For hop, else the socket's address. */
  remoteAddress?: string;
}

const requestStorage = new AsyncLocalStorage<RequestInfo>();

/**
 * Runs one request's handling with its request info available to everything it awaits.
 * @param info - The request's ids and address.
 * @param fn - The handler.
 * @returns What the handler returns.
 */
export function runInRequest<T>(info: RequestInfo, fn: () => T): T {
  return requestStorage.run(info, fn);
}

/** @returns The request being handled, if any (undefined for cron runs and subscription deliveries). */
export function currentRequest(): RequestInfo | undefined {
  return requestStorage.getStore();
}

/**
 * Express's `req.ip` under Medplum's `app.set('trust proxy', 1)`: the hop nearest to the server in X-Forwarded-For,
 * or the socket's own address when there is no such header.
 * @param socketAddress - `req.socket.remoteAddress`.
 * @param forwardedFor - The X-Forwarded-For header, if any.
 * @returns The address Medplum would record on a Login.
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | string[] | undefined): string {
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  const hops = (header ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  return hops.at(-1) ?? socketAddress ?? '';
}

export interface RestAuditInput {
  interaction: AuditInteraction;
  outcome: AuditOutcome;
  /** The project the caller acts in (`meta.project`). */
  projectId: string;
  /** `agent[0].who`: the caller's profile (Bot/<id> for a bot run). */
  author: Reference;
  /** The server base URL, recorded as `source.observer.identifier.value`. */
  baseUrl: string;
  /** The resource (a success), or the Reference/placeholder Medplum passes on failure. */
  subject: Resource | Reference | undefined;
  /** The error of a failed interaction; becomes `outcomeDesc`. */
  error?: unknown;
  durationMs?: number;
  /** The Login's address (undefined for bot logins, which Medplum creates without one). */
  remoteAddress?: string;
  request?: Pick<RequestInfo, 'requestId' | 'traceId'>;
  /** Project setting `redactAuditEvents` (or the server's): drop `display` from the references. */
  redact?: boolean;
  recorded?: string;
}

/**
 * Medplum persists an interaction's AuditEvent only when `logEvent` got a resource (not a bare Reference, not a
 * search) and that resource is not itself an AuditEvent (repo.ts: `isResource(resource) && resourceType !==
 * 'AuditEvent'`). Consequences: every success of create/read/readReferences/history/update/patch/delete is
 * persisted; of the failures only update's (it passes the submitted resource); vread never (it passes a Reference to
 * the version); a history of a deleted resource never (no current resource).
 * @param subject - What the repository passed.
 * @returns Whether `saveAuditEvents` would store it.
 */
export function isPersistedSubject(subject: unknown): subject is Resource {
  return isResource(subject) && subject.resourceType !== 'AuditEvent';
}

function redacted(reference: Reference, redact: boolean | undefined): Reference {
  return redact ? { ...reference, display: undefined } : reference;
}

/**
 * Builds the AuditEvent Medplum's `createAuditEvent(RestfulOperationType, ...)` returns (without an id; the caller's
 * repository assigns id, versionId, lastUpdated, author, compartment when it writes it).
 * @param input - The interaction and its context.
 * @returns The AuditEvent to write.
 */
export function buildRestAuditEvent(input: RestAuditInput): AuditEvent {
  let entity: AuditEvent['entity'];
  if (input.subject) {
    const what = isResource(input.subject) ? createReference(input.subject) : input.subject;
    entity = [{ what: redacted(what, input.redact) }];
  }
  let extension: Extension[] | undefined;
  const tracing: Extension[] = [];
  if (input.request?.requestId) {
    tracing.push({ url: 'requestId', valueId: input.request.requestId });
  }
  if (input.request?.traceId) {
    tracing.push({ url: 'traceId', valueId: input.request.traceId });
  }
  if (tracing.length > 0) {
    extension = [{ url: TRACING_EXTENSION_URL, extension: tracing }];
  }
  // Medplum adds the duration only when it is non-zero (a truthiness check on whole milliseconds).
  if (input.durationMs) {
    extension = [...(extension ?? []), { url: DURATION_EXTENSION_URL, valueInteger: Math.round(input.durationMs) }];
  }
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    meta: { project: input.projectId },
    type: {
      system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
      code: 'rest',
      display: 'Restful Operation',
    },
    subtype: [{ system: RESTFUL_INTERACTION_SYSTEM, code: input.interaction, display: input.interaction }],
    action: ACTIONS[input.interaction],
    recorded: input.recorded ?? new Date().toISOString(),
    source: { observer: { identifier: { value: input.baseUrl } } },
    agent: [
      {
        // A profile (Patient, Practitioner, ClientApplication, Bot): the types FHIR allows for agent.who.
        who: redacted(input.author, input.redact) as AgentWho,
        requestor: true,
        ...(input.remoteAddress ? { network: { address: input.remoteAddress, type: '2' as const } } : {}),
      },
    ],
    outcome: input.outcome,
  };
  if (input.error) {
    event.outcomeDesc = normalizeErrorString(input.error);
  }
  if (entity) {
    event.entity = entity;
  }
  if (extension) {
    event.extension = extension;
  }
  return event;
}
