/**
 * A FhirRepository over the ResourceStore that behaves like the Medplum 5 server's Repository for everything
 * Baseline relies on (packages/server/src/fhir/repo.ts): project scoping, `meta` bookkeeping (versionId, lastUpdated,
 * author, project, accounts, compartment), no-op update detection, If-Match, AccessPolicy enforcement (type-level
 * interaction check → 403; unreadable resource → 404; write checks on both the existing version and the candidate →
 * 403; search filtered by the OR of the matching entries' criteria; hidden fields removed on output; readonly fields
 * restored on write; writeConstraint), strict validation, non-extended mode stripping, and — with `saveAuditEvents`
 * — Medplum's per-interaction AuditEvents, written as the caller (see ../audit.ts and `audit` below).
 *
 * `new FhirRouter().handleRequest(req, repo)` drives it; the router's conditional create/update/delete/patch and
 * transaction bundles come through `withTransaction`, which holds the store lock for the whole callback and rolls
 * every write back if it throws (nested calls use savepoints).
 *
 * A repository with `accessPolicy` undefined is the system repository: no policy checks, protected types
 * (Login, JsonWebKey, ...) allowed, and it may set ids, `meta.author`, `meta.lastUpdated`, `meta.project` and
 * accounts itself — what Medplum's SystemRepository (a super admin) may do.
 */
import { randomUUID } from 'node:crypto';
import {
  AccessPolicyInteraction,
  accessPolicySupportsInteraction,
  allOk,
  applyPatch,
  badRequest,
  deepClone,
  deepEquals,
  DEFAULT_MAX_SEARCH_COUNT,
  DEFAULT_SEARCH_COUNT,
  evalFhirPathTyped,
  extractAccountReferences,
  fhirpathPatchTypedValue,
  forbidden,
  formatSearchQuery,
  getSearchParameter,
  getStatus,
  gone,
  isObject,
  isResourceType,
  isUUID,
  matchesSearchRequest,
  normalizeOperationOutcome,
  notFound,
  OperationOutcomeError,
  Operator,
  parseFhirPathPatchParameters,
  parseSearchRequest,
  PropertyType,
  preconditionFailed,
  protectedResourceTypes,
  resolveId,
  satisfiedAccessPolicy,
  splitSearchOnComma,
  stringify,
  subsetResource,
  getDataType,
  toTypedValue,
  validateResource,
  validateResourceType,
} from '@medplum/core';
import type { Filter, Operation, SearchRequest, WithId } from '@medplum/core';
import { FhirRepository, getExtraEntries } from '@medplum/fhir-router';
import type {
  CreateResourceOptions,
  DeleteResourceOptions,
  ReadHistoryOptions,
  RepositoryMode,
  SearchOptions,
  TransactionOptions,
  UpdateResourceOptions,
} from '@medplum/fhir-router';
import type {
  AccessPolicy,
  AccessPolicyResource,
  AuditEvent,
  Bundle,
  BundleEntry,
  BundleLink,
  Meta,
  OperationOutcome,
  Parameters,
  Reference,
  Resource,
  ResourceType,
  StructureDefinition,
} from '@medplum/fhirtypes';
import { referenceAttachments } from '../attachments.ts';
import { AuditOutcome, buildRestAuditEvent, isPersistedSubject } from '../audit.ts';
import type { AuditInteraction, RequestInfo } from '../audit.ts';
import { computeCompartments, getPatientReferences, isCoveredByPatientCompartment } from './compartment.ts';
import { assertSupportedFilters, matchesFilters, sortResources } from './match.ts';
import type { ResourceStore } from './store.ts';

/** Medplum's default `maxSearchOffset`. */
export const MAX_SEARCH_OFFSET = 10_000;

/** Who is asking, and how: one per HTTP request. */
export interface RepoContext {
  /** Project id; every stored resource carries meta.project and a repository sees only its project. */
  project: string;
  /** Written to meta.author on every version. */
  author: Reference;
  /** Undefined => system repository (no checks). */
  accessPolicy?: AccessPolicy;
  projectAdmin?: boolean;
  superAdmin?: boolean;
  /** Header `X-Medplum: extended`: keep meta.author/project/account/compartment in outputs. */
  extendedMode?: boolean;
  /** Validate writes against the base spec and the meta.profile StructureDefinitions stored in the project. */
  strictValidation?: boolean;
  /** Server base URL for `fullUrl` and search links; defaults to the local stack's `http://127.0.0.1:8103/`. */
  baseUrl?: string;
  /**
   * System repositories only: read and search every project (Medplum's global system repository), e.g. to find the
   * project on restart. Writes still stamp `project`. Ignored when an accessPolicy is set.
   */
  crossProject?: boolean;
  /**
   * Medplum's FHIR quota for this request (see ../quota.ts); undefined for the system repository and super admins,
   * which Medplum exempts. Charged before the interaction runs, so refused or invalid interactions still cost.
   */
  rateLimiter?: QuotaRecorder;
  /** Armed serialization failures (../conflicts.ts): a create or update of an armed type fails with Medplum's 409. */
  conflicts?: { check(resourceType: string): void };
  /**
   * Properties the imitated server version does not know, per resource type (e.g. `Bot.rawBody` before Medplum 5.2):
   * a write carrying one is refused as that server's validator refuses it.
   */
  unknownProperties?: Readonly<Record<string, readonly string[]>>;
  /**
   * Medplum's server config `saveAuditEvents`: persist an AuditEvent for every create, read, history, update, patch
   * and delete of one resource by a non-system author, written through this repository (see ../audit.ts). Off unless
   * set; the stack sets it for every caller (default on).
   */
  saveAuditEvents?: boolean;
  /** The Login's address (`agent.network`), as Medplum records it at sign-in; bot logins have none. */
  remoteAddress?: string;
  /** The HTTP request this repository serves (the AuditEvents' tracing extension). */
  request?: Pick<RequestInfo, 'requestId' | 'traceId'>;
  /** Project setting `redactAuditEvents`: AuditEvent references without `display`. */
  redactAuditEvents?: boolean;
  /** Told whether each AuditEvent the repository tried to persist was stored (false: the caller may not create it). */
  onAuditEvent?: (stored: boolean) => void;
}

/** The interaction costs a repository reports (Medplum's FhirRateLimiter record* methods). */
export interface QuotaRecorder {
  recordRead(num?: number): void;
  recordHistory(): void;
  recordSearch(num?: number): void;
  recordWrite(): void;
}

const DEFAULT_BASE_URL = 'http://127.0.0.1:8103/';
const DEFAULT_HISTORY_COUNT = 100;
const UNIVERSAL: AccessPolicyResource = { resourceType: '*' };

interface SearchPolicy {
  unrestricted: boolean;
  criteria: SearchRequest[];
  compartments: string[];
}

export class LocalRepository extends FhirRepository {
  private readonly store: ResourceStore;
  private readonly ctx: RepoContext;
  private readonly baseUrl: string;
  private readonly searchPolicies = new Map<string, SearchPolicy>();
  private txDepth = 0;
  /** AuditEvents of interactions inside a transaction: Medplum writes them after the commit, and not on rollback. */
  private pendingAudits: AuditEvent[] = [];
  /** AuditEvents of failed interactions: written after the store has rolled the failed unit back. */
  private failedAudits: AuditEvent[] = [];
  /** Set while _include/_revinclude run: Medplum charges the included reads, but not its internal SQL searches. */
  private resolvingExtras = false;

  /**
   * @param store - The shared store.
   * @param ctx - The caller's context.
   */
  constructor(store: ResourceStore, ctx: RepoContext) {
    super();
    if (!ctx.author?.reference) {
      throw new Error('Invalid author reference');
    }
    this.store = store;
    this.ctx = ctx;
    this.baseUrl = ctx.baseUrl ?? DEFAULT_BASE_URL;
  }

  /** @returns The context this repository was built with. */
  get context(): Readonly<RepoContext> {
    return this.ctx;
  }

  setMode(_mode: RepositoryMode): void {
    // One in-memory store serves reads and writes; there is no reader replica to switch to.
  }

  generateId(): string {
    return randomUUID();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Writes

  override async createResource<T extends Resource>(resource: T, options?: CreateResourceOptions): Promise<WithId<T>> {
    this.quota?.recordWrite();
    this.ctx.conflicts?.check(resource.resourceType);
    const started = Date.now();
    return this.run(() => {
      const assigned = options?.assignedId && resource.id ? resource.id : undefined;
      if (assigned && this.store.getRecord(resource.resourceType, assigned)) {
        throw new OperationOutcomeError(badRequest('Assigned ID is already in use'));
      }
      try {
        const result = this.writeImpl({ ...resource, id: assigned ?? this.generateId() }, true);
        this.audit('create', started, result);
        return result;
      } catch (err) {
        // Medplum names only the type of a failed create ({ type }), so that AuditEvent is never stored.
        this.audit('create', started, { type: resource.resourceType }, err);
        throw err;
      }
    });
  }

  override async updateResource<T extends Resource>(resource: T, options?: UpdateResourceOptions): Promise<WithId<T>> {
    this.quota?.recordWrite();
    this.ctx.conflicts?.check(resource.resourceType);
    const started = Date.now();
    return this.run(() => {
      try {
        const result = this.writeImpl(resource, false, options);
        this.audit('update', started, result);
        return result;
      } catch (err) {
        // The one failure Medplum stores: it passes the submitted resource itself.
        this.audit('update', started, resource, err);
        throw err;
      }
    });
  }

  override async patchResource<T extends Resource>(
    resourceType: T['resourceType'],
    id: string,
    patch: Operation[] | Parameters,
    options?: UpdateResourceOptions
  ): Promise<WithId<T>> {
    this.quota?.recordWrite();
    const started = Date.now();
    return this.run(() => {
      try {
        const result = this.patchImpl<T>(resourceType, id, patch, options);
        this.audit('patch', started, result);
        return result;
      } catch (err) {
        this.audit('patch', started, { reference: `${resourceType}/${id}` }, err);
        throw err;
      }
    });
  }

  private patchImpl<T extends Resource>(
    resourceType: T['resourceType'],
    id: string,
    patch: Operation[] | Parameters,
    options?: UpdateResourceOptions
  ): WithId<T> {
    const resource = deepClone(this.readImpl(resourceType, id)) as WithId<T>;
    try {
      if (Array.isArray(patch)) {
        const errors = applyPatch(resource, patch).filter(Boolean);
        if (errors.length > 0) {
          throw new OperationOutcomeError(badRequest(errors.map((e) => (e as Error).message).join('\n')));
        }
      } else if (patch.parameter) {
        fhirpathPatchTypedValue(toTypedValue(resource), parseFhirPathPatchParameters(patch));
      }
    } catch (err) {
      throw new OperationOutcomeError(normalizeOperationOutcome(err), { cause: err });
    }
    if (resource.resourceType !== resourceType) {
      throw new OperationOutcomeError(badRequest('Incorrect resource type'));
    }
    if (resource.id !== id) {
      throw new OperationOutcomeError(badRequest('Incorrect ID'));
    }
    // Medplum 5.0 applies a PATCH whatever its If-Match says (a stale version is not refused): never rely on it.
    return this.writeImpl(resource, false, { ...options, ifMatch: undefined });
  }

  override async deleteResource(resourceType: string, id: string, options?: DeleteResourceOptions): Promise<void> {
    this.quota?.recordWrite();
    const started = Date.now();
    return this.run(() => {
      let current: WithId<Resource>;
      try {
        current = this.readImpl(resourceType, id);
      } catch (err) {
        if (err instanceof OperationOutcomeError && err.outcome.id === gone.id) {
          return; // Already deleted: Medplum answers success.
        }
        throw err; // Not audited by Medplum either: its read happens before the audited part.
      }
      try {
        if (!this.canPerformInteraction(AccessPolicyInteraction.DELETE, current)) {
          throw new OperationOutcomeError(forbidden);
        }
        if (options?.ifMatch && current.meta?.versionId !== options.ifMatch) {
          throw new OperationOutcomeError(preconditionFailed);
        }
        this.store.remove(resourceType, id, { versionId: this.generateId(), lastUpdated: new Date().toISOString() });
      } catch (err) {
        this.audit('delete', started, { reference: `${resourceType}/${id}` }, err);
        throw err;
      }
      this.audit('delete', started, current);
    });
  }

  /**
   * Medplum's `$expunge` of one resource: a project admin (or the system) removes it and its whole history for good.
   * No quota is charged, an unknown id is not an error (both as Medplum 5.0.10).
   */
  async expungeResource(resourceType: string, id: string): Promise<void> {
    if (!this.isSystem && !this.ctx.projectAdmin && !this.ctx.superAdmin) {
      throw new OperationOutcomeError(forbidden);
    }
    validateResourceType(resourceType);
    await this.run(() => {
      const record = this.store.getRecord(resourceType, id);
      const latest = record?.current ?? lastContent(record?.versions ?? []);
      if (latest && !this.inProject(latest)) {
        return; // Another project's resource: nothing this project may remove.
      }
      this.store.expunge(resourceType, id);
    });
  }

  override async withTransaction<TResult>(
    callback: (txRepo: this) => Promise<TResult>,
    _options?: TransactionOptions
  ): Promise<TResult> {
    if (this.txDepth > 0) {
      const savepoint = this.store.savepoint();
      const audits = this.pendingAudits.length;
      this.txDepth++;
      try {
        return await callback(this);
      } catch (err) {
        this.store.rollbackTo(savepoint);
        this.pendingAudits.length = audits;
        throw err;
      } finally {
        this.txDepth--;
      }
    }
    return this.store.exclusive(async () => {
      this.txDepth = 1;
      this.pendingAudits = [];
      let result: TResult;
      try {
        result = await callback(this);
      } catch (err) {
        this.pendingAudits = [];
        throw err;
      } finally {
        this.txDepth = 0;
      }
      // Committed: Medplum's postCommit hooks now write the transaction's AuditEvents.
      const pending = this.pendingAudits;
      this.pendingAudits = [];
      for (const event of pending) {
        this.storeAudit(event);
      }
      return result;
    });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reads

  override async readResource<T extends Resource>(resourceType: string, id: string): Promise<WithId<T>> {
    this.quota?.recordRead();
    const started = Date.now();
    return this.run(() => {
      try {
        const result = this.output(this.readImpl(resourceType, id)) as WithId<T>;
        this.audit('read', started, result);
        return result;
      } catch (err) {
        this.audit('read', started, { reference: `${resourceType}/${id}` }, err);
        throw err;
      }
    });
  }

  override async readReference<T extends Resource>(reference: Reference<T>): Promise<WithId<T>> {
    const [resourceType, id] = splitReference(reference);
    if (!resourceType || !id) {
      throw new OperationOutcomeError(badRequest('Invalid reference'));
    }
    return this.readResource<T>(resourceType, id);
  }

  override async readReferences<T extends Resource>(references: readonly Reference<T>[]): Promise<(T | Error)[]> {
    this.quota?.recordRead(references.length);
    return this.run(() =>
      references.map((reference): T | Error => {
        const started = Date.now();
        const result = this.readReferenceEntry<T>(reference);
        // Medplum audits every entry as a read: the resource on success, the Reference on failure.
        this.audit(
          'read',
          started,
          result instanceof Error ? reference : result,
          result instanceof Error ? result : undefined
        );
        return result;
      })
    );
  }

  private readReferenceEntry<T extends Resource>(reference: Reference<T>): T | Error {
    const [resourceType, id] = splitReference(reference);
    if (!resourceType || !id) {
      return new OperationOutcomeError(notFound);
    }
    try {
      return this.output(this.readImpl(resourceType, id)) as T;
    } catch (err) {
      if (err instanceof OperationOutcomeError) {
        return err;
      }
      throw err;
    }
  }

  override async readHistory<T extends Resource>(
    resourceType: string,
    id: string,
    options?: ReadHistoryOptions
  ): Promise<Bundle<WithId<T>>> {
    this.quota?.recordHistory();
    const started = Date.now();
    return this.run(() => {
      let visible: NonNullable<ReturnType<ResourceStore['getRecord']>>;
      try {
        visible = this.readVisibleForHistory(resourceType, id, AccessPolicyInteraction.HISTORY);
      } catch (err) {
        this.audit('history', started, { reference: `${resourceType}/${id}` }, err);
        throw err;
      }
      // Medplum audits the current version (none once deleted, so a deleted resource's history is not stored).
      this.audit('history', started, visible.current);
      const versions = [...visible.versions].reverse();
      const offset = Math.max(0, options?.offset ?? 0);
      const limit = Math.min(Math.max(0, options?.limit ?? DEFAULT_HISTORY_COUNT), DEFAULT_MAX_SEARCH_COUNT);
      const entry: BundleEntry<WithId<T>>[] = versions.slice(offset, offset + limit).map((version) => {
        const outcome: OperationOutcome = version.resource
          ? allOk
          : {
              resourceType: 'OperationOutcome',
              id: 'gone',
              issue: [{ severity: 'error', code: 'deleted', details: { text: 'Deleted on ' + version.lastUpdated } }],
            };
        return {
          fullUrl: this.fullUrl(resourceType, id),
          request: { method: 'GET', url: `${resourceType}/${id}/_history/${version.versionId}` },
          response: { status: String(getStatus(outcome)), outcome },
          ...(version.resource ? { resource: this.output(version.resource) as WithId<T> } : undefined),
        };
      });
      return { resourceType: 'Bundle', type: 'history', entry, total: versions.length };
    });
  }

  override async readVersion<T extends Resource>(resourceType: string, id: string, vid: string): Promise<WithId<T>> {
    this.quota?.recordRead();
    // Medplum's vread audits a Reference to the version, never a resource: it is logged, never stored.
    return this.run(() => {
      if (!isUUID(vid)) {
        throw new OperationOutcomeError(notFound);
      }
      const visible = this.readVisibleForHistory(resourceType, id, AccessPolicyInteraction.VREAD);
      const version = visible.versions.find((v) => v.versionId === vid);
      if (!version) {
        throw new OperationOutcomeError(notFound);
      }
      if (!version.resource) {
        throw new OperationOutcomeError(gone);
      }
      return this.output(version.resource) as WithId<T>;
    });
  }

  override async search<T extends Resource>(
    searchRequest: SearchRequest<T>,
    options?: SearchOptions
  ): Promise<Bundle<WithId<T>>> {
    if (!this.resolvingExtras) {
      this.quota?.recordSearch();
    }
    return this.searchImpl(searchRequest, options);
  }

  private async searchImpl<T extends Resource>(
    searchRequest: SearchRequest<T>,
    options?: SearchOptions
  ): Promise<Bundle<WithId<T>>> {
    // Medplum combines the types' queries with UNION, so a type listed twice (as $everything lists Patient) matches once.
    const types: string[] = searchRequest.types?.length
      ? [...new Set(searchRequest.types)]
      : [searchRequest.resourceType];
    for (const resourceType of types) {
      validateResourceType(resourceType);
      if (resourceType === 'Binary') {
        throw new OperationOutcomeError(badRequest('Cannot search on Binary resource type'));
      }
      if (!this.supportsInteraction(AccessPolicyInteraction.SEARCH, resourceType)) {
        throw new OperationOutcomeError(forbidden);
      }
      assertSupportedFilters(resourceType, searchRequest.filters);
    }
    const count = Math.min(Math.max(0, searchRequest.count ?? DEFAULT_SEARCH_COUNT), DEFAULT_MAX_SEARCH_COUNT);
    const offset = Math.max(0, searchRequest.offset ?? 0);
    if (offset > MAX_SEARCH_OFFSET) {
      // Medplum's `maxSearchOffset` (default 10000): deep pages must use the cursor (`_sort=_lastUpdated`).
      throw new OperationOutcomeError(
        badRequest(`Search offset exceeds maximum (got ${offset}, max ${MAX_SEARCH_OFFSET})`)
      );
    }
    const cursor = searchRequest.cursor ? parseCursor(searchRequest.cursor) : undefined;
    if (searchRequest.cursor && offset > 0) {
      throw new OperationOutcomeError(badRequest('Cannot use both offset and cursor'));
    }

    const { page, total, next } = await this.run(() => {
      const matches: WithId<Resource>[] = [];
      for (const resourceType of types) {
        for (const resource of this.candidates(resourceType, searchRequest.filters)) {
          if (
            this.inProject(resource) &&
            matchesFilters(resource, searchRequest.filters) &&
            afterCursor(resource, cursor)
          ) {
            if (this.searchAllows(resource)) {
              matches.push(resource);
            }
          }
        }
      }
      sortResources(matches, searchRequest.sortRules);
      const selected = count > 0 ? matches.slice(offset, offset + count) : [];
      return { page: selected.map((r) => this.output(r)), total: matches.length, next: matches[offset + count] };
    });

    const entry: BundleEntry[] = page.map((resource) => ({
      fullUrl: this.fullUrl(resource.resourceType, resource.id),
      search: { mode: 'match' },
      resource,
    }));
    if ((searchRequest.include || searchRequest.revInclude) && page.length > 0) {
      // Runs outside the lock: it re-enters this repository (readReferences/searchResources), which checks the
      // policy for every included resource exactly as for a direct read or search.
      this.resolvingExtras = true;
      try {
        await getExtraEntries(this, searchRequest as SearchRequest, page, entry, {
          fullUrl: (type, id) => this.fullUrl(type, id),
        });
      } finally {
        this.resolvingExtras = false;
      }
    }
    for (const e of entry) {
      if (e.resource) {
        subsetOutput(e.resource, searchRequest);
      }
    }

    const bundle: Bundle<WithId<T>> = {
      resourceType: 'Bundle',
      type: 'searchset',
      // Medplum leaves `entry` out when nothing matched (and for `_count=0`).
      ...(entry.length > 0 ? { entry: entry as BundleEntry<WithId<T>>[] } : undefined),
    };
    if (searchRequest.total === 'accurate' || searchRequest.total === 'estimate') {
      bundle.total = total;
    }
    if (!options?.resourceOnly) {
      bundle.link = this.searchLinks(searchRequest, offset, count, total, page, next);
    }
    return bundle;
  }

  override async searchByReference<T extends Resource>(
    searchRequest: SearchRequest<T>,
    referenceField: string,
    references: string[]
  ): Promise<Record<string, WithId<T>[]>> {
    if (!this.resolvingExtras) {
      this.quota?.recordSearch(references.length);
    }
    const results: Record<string, WithId<T>[]> = {};
    for (const reference of references) {
      const filter: Filter = { code: referenceField, operator: Operator.EQUALS, value: reference };
      const bundle = await this.searchImpl<T>({
        ...searchRequest,
        filters: [...(searchRequest.filters ?? []), filter],
      });
      results[reference] = (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
    }
    return results;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Internals

  /**
   * Medplum's `logEvent` with `saveAuditEvents`: a non-system author's interaction on one resource is stored as an
   * AuditEvent (see ../audit.ts for which ones). Must run under the store lock (via `run`). Inside a transaction it
   * waits for the commit; after a failure, for the rollback.
   * @param interaction - The REST interaction.
   * @param started - When the interaction started (ms), for the duration extension.
   * @param subject - What Medplum passes: the resource, or a Reference / `{ type }` on failure.
   * @param error - The failure, if any.
   */
  private audit(
    interaction: AuditInteraction,
    started: number,
    subject: Resource | Reference | { type: string } | undefined,
    error?: unknown
  ): void {
    if (!this.ctx.saveAuditEvents || this.ctx.author.reference === 'system' || !isPersistedSubject(subject)) {
      return;
    }
    if (!this.supportsInteraction(AccessPolicyInteraction.CREATE, 'AuditEvent')) {
      // What writing it would answer (403) for a policy without AuditEvent create, without building it first:
      // the common case for policy-limited callers, on every one of their interactions.
      this.ctx.onAuditEvent?.(false);
      return;
    }
    const event = buildRestAuditEvent({
      interaction,
      outcome: error === undefined ? AuditOutcome.Success : AuditOutcome.MinorFailure,
      projectId: this.ctx.project,
      author: this.ctx.author,
      baseUrl: this.baseUrl,
      subject,
      error,
      durationMs: Date.now() - started,
      remoteAddress: this.ctx.remoteAddress,
      request: this.ctx.request,
      redact: this.ctx.redactAuditEvents,
    });
    event.id = this.generateId();
    if (this.txDepth > 0) {
      this.pendingAudits.push(event);
    } else if (error !== undefined) {
      // The failed interaction's unit is about to be rolled back, and this write with it: it follows on its own.
      this.failedAudits.push(event);
    } else {
      this.storeAudit(event);
    }
  }

  /** Writes one AuditEvent as this caller (Medplum: `updateResourceImpl(auditEvent, true)`, errors only logged). */
  private storeAudit(event: AuditEvent): void {
    let stored = true;
    try {
      this.writeImpl(event, true, undefined, true);
    } catch {
      // Typically 403: the caller's policy does not let it create this AuditEvent, and Medplum then stores nothing.
      stored = false;
    }
    this.ctx.onAuditEvent?.(stored);
  }

  private get quota(): QuotaRecorder | undefined {
    return this.ctx.superAdmin ? undefined : this.ctx.rateLimiter;
  }

  /** Runs synchronous work under the store lock, or directly when this repository already holds it. */
  private run<T>(fn: () => T): Promise<T> {
    if (this.txDepth > 0) {
      return new Promise<T>((resolve) => resolve(fn()));
    }
    return this.store.exclusive(fn).then(
      async (result) => {
        await this.flushFailedAudits();
        return result;
      },
      async (err: unknown) => {
        await this.flushFailedAudits();
        throw err;
      }
    );
  }

  private async flushFailedAudits(): Promise<void> {
    if (this.failedAudits.length === 0) {
      return;
    }
    const events = this.failedAudits;
    this.failedAudits = [];
    await this.store.exclusive(() => events.forEach((event) => this.storeAudit(event)));
  }

  private get isSystem(): boolean {
    return this.ctx.accessPolicy === undefined;
  }

  /** Medplum's "can write protected meta / set ids" privilege: super admins and the system repository. */
  private get isPrivileged(): boolean {
    return this.isSystem || this.ctx.superAdmin === true;
  }

  private inProject(resource: Resource): boolean {
    return resource.meta?.project === this.ctx.project || (this.isSystem && this.ctx.crossProject === true);
  }

  private supportsInteraction(interaction: AccessPolicyInteraction, resourceType: string): boolean {
    if (this.isSystem) {
      return true;
    }
    if (!this.ctx.superAdmin && protectedResourceTypes.includes(resourceType)) {
      return false;
    }
    return accessPolicySupportsInteraction(
      this.ctx.accessPolicy as AccessPolicy,
      interaction,
      resourceType as ResourceType
    );
  }

  private canPerformInteraction(
    interaction: AccessPolicyInteraction,
    resource: Resource
  ): AccessPolicyResource | undefined {
    if (!this.inProject(resource)) {
      return undefined;
    }
    if (this.isSystem) {
      return UNIVERSAL;
    }
    if (!this.ctx.superAdmin && protectedResourceTypes.includes(resource.resourceType)) {
      return undefined;
    }
    return satisfiedAccessPolicy(resource, interaction, this.ctx.accessPolicy);
  }

  /** The current version, if this caller may read it; 404 otherwise (403 if the type is not readable at all). */
  private readImpl(resourceType: string, id: string): WithId<Resource> {
    // Medplum answers a read of an unknown type (`GET FooBar/1`) as any missing resource: 404.
    if (!isResourceType(resourceType)) {
      throw new OperationOutcomeError(notFound);
    }
    if (!this.supportsInteraction(AccessPolicyInteraction.READ, resourceType)) {
      throw new OperationOutcomeError(forbidden);
    }
    if (!isUUID(id)) {
      throw new OperationOutcomeError(notFound);
    }
    const record = this.store.getRecord(resourceType, id);
    if (!record) {
      throw new OperationOutcomeError(notFound);
    }
    if (!record.current) {
      const last = lastContent(record.versions);
      if (last && this.canPerformInteraction(AccessPolicyInteraction.READ, last)) {
        throw new OperationOutcomeError(gone);
      }
      throw new OperationOutcomeError(notFound);
    }
    if (!this.canPerformInteraction(AccessPolicyInteraction.READ, record.current)) {
      throw new OperationOutcomeError(notFound);
    }
    return record.current;
  }

  /** History and vread: like a read (deleted resources included), then the interaction itself must be allowed. */
  private readVisibleForHistory(
    resourceType: string,
    id: string,
    interaction: AccessPolicyInteraction
  ): NonNullable<ReturnType<ResourceStore['getRecord']>> {
    let resource: WithId<Resource> | undefined;
    try {
      resource = this.readImpl(resourceType, id);
    } catch (err) {
      if (!(err instanceof OperationOutcomeError) || err.outcome.id !== gone.id) {
        throw err;
      }
    }
    const record = this.store.getRecord(resourceType, id);
    const subject = resource ?? (record ? lastContent(record.versions) : undefined);
    if (!record || !subject || !this.canPerformInteraction(interaction, subject)) {
      throw new OperationOutcomeError(forbidden);
    }
    return record;
  }

  /**
   * @param input - The resource to write.
   * @param create - Create (true) or update.
   * @param options - If-Match.
   * @param serverBuilt - An AuditEvent the repository built itself: valid by construction, so strict validation (the
   *   most expensive step of a write) is skipped; every access check still runs.
   * @returns The stored version, as the caller sees it.
   */
  private writeImpl<T extends Resource>(
    input: T,
    create: boolean,
    options?: UpdateResourceOptions,
    serverBuilt = false
  ): WithId<T> {
    // Medplum stores presigned or FHIR URLs of Binaries as `Binary/<id>` (rewriteAttachments, REFERENCE mode).
    input = input.resourceType === 'Binary' ? input : referenceAttachments(this.baseUrl, input);
    const interaction = create ? AccessPolicyInteraction.CREATE : AccessPolicyInteraction.UPDATE;
    if (!isObject(input) || typeof input.resourceType !== 'string') {
      throw new OperationOutcomeError(badRequest('Missing resourceType'));
    }
    const { resourceType, id } = input;
    if (!id) {
      throw new OperationOutcomeError(badRequest('Missing id'));
    }
    if (!isUUID(id)) {
      throw new OperationOutcomeError(badRequest('Invalid id'));
    }
    validateResourceType(resourceType);
    if (!this.supportsInteraction(interaction, resourceType)) {
      throw new OperationOutcomeError(forbidden);
    }

    const existing = create ? undefined : this.existingForUpdate(resourceType, id);
    if (existing) {
      if (!this.canPerformInteraction(interaction, existing)) {
        throw new OperationOutcomeError(forbidden);
      }
      if (options?.ifMatch && existing.meta?.versionId !== options.ifMatch) {
        throw new OperationOutcomeError(preconditionFailed);
      }
    } else if (options?.ifMatch) {
      throw new OperationOutcomeError(preconditionFailed);
    }

    const candidate = this.restoreReadonlyFields(deepClone(input), existing);
    const meta: Meta = {
      ...candidate.meta,
      versionId: this.generateId(),
      lastUpdated: this.getLastUpdated(existing, input),
      author: this.getAuthor(input),
      project: this.getProjectId(existing, candidate),
    };
    delete meta.account;
    delete meta.accounts;
    delete meta.compartment;
    const accounts = this.getAccounts(existing, candidate, input.meta);
    if (accounts) {
      meta.account = accounts[0];
      meta.accounts = accounts;
    }
    const draft = { ...candidate, id, meta } as WithId<T>;
    meta.compartment = computeCompartments(draft);
    if (this.ctx.strictValidation) {
      assertNoNulls(input, input.resourceType);
    }
    // Normalize exactly as Medplum stores content, so the no-op comparison and later reads see the same JSON.
    const result = JSON.parse(stringify(draft)) as WithId<T>;

    if (this.ctx.strictValidation && !serverBuilt) {
      this.validate(result);
    }
    if (existing && isNotModified(existing, result)) {
      return this.output(existing) as WithId<T>;
    }
    if (!this.isResourceWriteable(existing, result, interaction)) {
      throw new OperationOutcomeError(forbidden);
    }
    this.store.put(result, create ? 'create' : 'update');
    return this.output(result) as WithId<T>;
  }

  /**
   * The version an update replaces: undefined when the id is free or deleted (updating a deleted resource restores
   * it). Updating an id this caller cannot read is "Not found" unless it may assign ids (Medplum: super admin).
   */
  private existingForUpdate(resourceType: string, id: string): WithId<Resource> | undefined {
    const record = this.store.getRecord(resourceType, id);
    const current = record?.current;
    if (current && this.canPerformInteraction(AccessPolicyInteraction.READ, current)) {
      return current;
    }
    if (!current && record) {
      const last = lastContent(record.versions);
      if (last && this.canPerformInteraction(AccessPolicyInteraction.READ, last)) {
        return undefined;
      }
    }
    if (this.isPrivileged && !record) {
      return undefined;
    }
    throw new OperationOutcomeError(notFound);
  }

  private getLastUpdated(existing: Resource | undefined, input: Resource): string {
    const requested = input.meta?.lastUpdated;
    if (!existing && requested && this.isPrivileged) {
      return requested;
    }
    return monotonicNow();
  }

  private getAuthor(input: Resource): Reference {
    const requested = input.meta?.author;
    if (requested && this.isPrivileged) {
      return requested;
    }
    return this.ctx.author;
  }

  private getProjectId(existing: Resource | undefined, candidate: Resource): string {
    if (candidate.resourceType === 'Project' && candidate.id) {
      return candidate.id;
    }
    if (candidate.resourceType === 'ProjectMembership') {
      return resolveId(candidate.project) ?? this.ctx.project;
    }
    const requested = candidate.meta?.project;
    if (requested && this.isPrivileged) {
      return requested;
    }
    return existing?.meta?.project ?? this.ctx.project;
  }

  /**
   * Medplum's account inheritance: admins in extended mode (and the system) set accounts explicitly; otherwise a
   * new resource gets the creator's policy compartment, a Patient keeps its accounts, and anything else inherits
   * the accounts of the patients whose compartment it is in.
   */
  private getAccounts(
    existing: Resource | undefined,
    candidate: Resource,
    requestedMeta: Meta | undefined
  ): Reference[] | undefined {
    if (requestedMeta && (this.isSystem || (this.ctx.extendedMode && (this.ctx.superAdmin || this.ctx.projectAdmin)))) {
      return extractAccountReferences(requestedMeta);
    }
    const accounts = new Set<string>();
    const policyCompartment = this.ctx.accessPolicy?.compartment?.reference;
    if (!existing && policyCompartment) {
      accounts.add(policyCompartment);
    }
    if (candidate.resourceType === 'Patient') {
      for (const account of extractAccountReferences(existing?.meta) ?? []) {
        if (account.reference) {
          accounts.add(account.reference);
        }
      }
    } else {
      for (const reference of getPatientReferences(candidate)) {
        const patient = this.store.getRecord('Patient', reference.slice('Patient/'.length))?.current;
        if (patient?.meta?.project !== this.ctx.project) {
          continue;
        }
        for (const account of extractAccountReferences(patient.meta) ?? []) {
          if (account.reference) {
            accounts.add(account.reference);
          }
        }
      }
    }
    return accounts.size > 0 ? [...accounts].map((reference) => ({ reference })) : undefined;
  }

  private restoreReadonlyFields<T extends Resource>(input: T, original: Resource | undefined): T {
    if (this.isSystem) {
      return input;
    }
    const policy = satisfiedAccessPolicy(
      original ?? input,
      original ? AccessPolicyInteraction.UPDATE : AccessPolicyInteraction.CREATE,
      this.ctx.accessPolicy
    );
    const fields = [...(policy?.readonlyFields ?? []), ...(policy?.hiddenFields ?? [])];
    const target = input as object as Record<string, unknown>;
    for (const field of fields) {
      removeField(target, field);
      // Only top-level fields can be put back (Medplum's rule); nested/choice fields are simply dropped.
      if (original && !field.includes('.') && !field.endsWith('[x]')) {
        const value = (original as object as Record<string, unknown>)[field];
        if (value !== undefined) {
          target[field] = deepClone(value);
        }
      }
    }
    return input;
  }

  private isResourceWriteable(
    previous: Resource | undefined,
    current: Resource,
    interaction: AccessPolicyInteraction
  ): boolean {
    const policy = this.canPerformInteraction(interaction, current);
    if (!policy) {
      return false;
    }
    return (policy.writeConstraint ?? []).every((constraint) => {
      const result = evalFhirPathTyped(constraint.expression as string, [toTypedValue(current)], {
        '%before': { type: previous?.resourceType ?? 'undefined', value: previous },
        '%after': { type: current.resourceType, value: current },
      });
      return result.length === 1 && result[0]?.value === true;
    });
  }

  private validate(resource: Resource): void {
    for (const name of this.ctx.unknownProperties?.[resource.resourceType] ?? []) {
      if (name in resource) {
        throw new OperationOutcomeError({
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'structure',
              details: { text: `Invalid additional property "${name}"` },
              expression: [`${resource.resourceType}.${name}`],
            },
          ],
        });
      }
    }
    validateResource(resource);
    for (const url of resource.meta?.profile ?? []) {
      const profile = this.findProfile(url);
      // Unknown profile URLs are accepted, as Medplum does (it only logs "Unknown profile referenced").
      if (profile) {
        validateResource(resource, { profile });
      }
    }
  }

  private findProfile(url: string): StructureDefinition | undefined {
    let best: StructureDefinition | undefined;
    for (const resource of this.store.scan('StructureDefinition')) {
      const sd = resource as StructureDefinition;
      if (sd.url !== url || sd.meta?.project !== this.ctx.project) {
        continue;
      }
      if (!best || (sd.version ?? '') > (best.version ?? '')) {
        best = sd;
      }
    }
    return best;
  }

  /** Removes hidden fields and, outside extended mode, Medplum's internal meta fields, from a copy. */
  private output<T extends Resource>(resource: T): T {
    const copy = deepClone(resource);
    if (!this.isSystem) {
      const policy = satisfiedAccessPolicy(copy, AccessPolicyInteraction.READ, this.ctx.accessPolicy);
      for (const field of policy?.hiddenFields ?? []) {
        removeField(copy, field);
      }
    }
    if (!this.ctx.extendedMode && copy.meta) {
      delete copy.meta.author;
      delete copy.meta.project;
      delete copy.meta.account;
      delete copy.meta.compartment;
    }
    return copy;
  }

  private searchAllows(resource: Resource): boolean {
    if (this.isSystem || resource.resourceType === 'Binary') {
      return true;
    }
    let policy = this.searchPolicies.get(resource.resourceType);
    if (!policy) {
      policy = this.buildSearchPolicy(resource.resourceType);
      this.searchPolicies.set(resource.resourceType, policy);
    }
    if (policy.unrestricted) {
      return true;
    }
    return (
      policy.criteria.some((request) => matchesSearchRequest(resource, request)) ||
      policy.compartments.some((reference) => resource.meta?.compartment?.some((c) => c.reference === reference))
    );
  }

  /** The OR of every policy entry that grants `search` on the type; one entry without criteria lifts the filter. */
  private buildSearchPolicy(resourceType: string): SearchPolicy {
    const result: SearchPolicy = { unrestricted: false, criteria: [], compartments: [] };
    for (const entry of this.ctx.accessPolicy?.resource ?? []) {
      const single: AccessPolicy = { resourceType: 'AccessPolicy', resource: [entry] };
      if (!accessPolicySupportsInteraction(single, AccessPolicyInteraction.SEARCH, resourceType as ResourceType)) {
        continue;
      }
      if (entry.compartment?.reference) {
        result.compartments.push(entry.compartment.reference);
      } else if (entry.criteria) {
        const query = entry.criteria.slice(entry.criteria.indexOf('?') + 1);
        result.criteria.push(parseSearchRequest(`${resourceType}?${query}`));
      } else {
        result.unrestricted = true;
        break;
      }
    }
    return result;
  }

  /** Narrows a search to an index hit when one of its filters allows it; otherwise every resource of the type. */
  private candidates(resourceType: string, filters: readonly Filter[] | undefined): Iterable<WithId<Resource>> {
    let best: ReadonlySet<string> | undefined;
    for (const filter of filters ?? []) {
      const ids = this.indexLookup(resourceType, filter);
      if (ids && (!best || ids.size < best.size)) {
        best = ids;
      }
    }
    if (!best) {
      return this.store.scan(resourceType);
    }
    const result: WithId<Resource>[] = [];
    for (const id of best) {
      const current = this.store.getRecord(resourceType, id)?.current;
      if (current) {
        result.push(current);
      }
    }
    return result;
  }

  private indexLookup(resourceType: string, filter: Filter): ReadonlySet<string> | undefined {
    if (filter.operator !== Operator.EQUALS) {
      return undefined;
    }
    const values = splitSearchOnComma(filter.value);
    if (filter.code === '_id') {
      return new Set(values);
    }
    const lookups: (ReadonlySet<string> | undefined)[] = [];
    if (filter.code === 'identifier' && getSearchParameter(resourceType, 'identifier')?.type === 'token') {
      for (const value of values) {
        lookups.push(this.store.findByIdentifier(resourceType, value));
      }
    } else if (filter.code === '_compartment' || isCoveredByPatientCompartment(resourceType, filter.code)) {
      const targets = getSearchParameter(resourceType, filter.code)?.target;
      for (const value of values) {
        let reference: string | undefined;
        if (value.includes('/')) {
          reference = filter.code === '_compartment' || value.startsWith('Patient/') ? value : undefined;
        } else if (filter.code !== '_compartment' && targets?.length === 1 && targets[0] === 'Patient') {
          reference = 'Patient/' + value;
        }
        // meta.compartment only records UUID patients (as Medplum does), so other ids must be matched by scanning.
        if (reference && (filter.code === '_compartment' || isUUID(reference.slice(reference.indexOf('/') + 1)))) {
          lookups.push(this.store.findByCompartment(resourceType, reference));
        } else {
          lookups.push(undefined);
        }
      }
    } else {
      return undefined;
    }
    if (lookups.length === 1) {
      return lookups[0];
    }
    const union = new Set<string>();
    for (const ids of lookups) {
      if (!ids) {
        return undefined;
      }
      for (const id of ids) {
        union.add(id);
      }
    }
    return union;
  }

  private fullUrl(resourceType: string, id: string): string {
    return `${this.baseUrl}fhir/R4/${resourceType}/${id}`;
  }

  /**
   * Medplum's search links: self always; for a non-empty page first, next and previous — as a `_cursor` when the
   * search is sorted by `_lastUpdated` ascending with pages of at least 20 from the start, else by `_offset`.
   */
  private searchLinks(
    searchRequest: SearchRequest,
    offset: number,
    count: number,
    total: number,
    page: readonly Resource[],
    next: Resource | undefined
  ): BundleLink[] {
    // Medplum's links name the request's resourceType (Patient for $everything); a system search (`?_type=`) shows none.
    const system = Boolean(searchRequest.types?.length) && !isResourceType(searchRequest.resourceType);
    const base = `${this.baseUrl}fhir/R4/${system ? '' : searchRequest.resourceType}`;
    const links: BundleLink[] = [
      { relation: 'self', url: base + formatSearchQuery({ ...searchRequest, count, offset }) },
    ];
    if (count === 0 || page.length === 0) {
      return links;
    }
    const rule = searchRequest.sortRules?.length === 1 ? searchRequest.sortRules[0] : undefined;
    const nextInstant = next?.meta?.lastUpdated;
    // Medplum fails such a page with "Cursor fails to make progress" (a whole page in one millisecond, which the
    // in-memory store makes likely and Postgres does not): the stand-in pages by offset instead.
    const stuck = nextInstant !== undefined && page[0]?.meta?.lastUpdated === nextInstant;
    if (offset === 0 && count >= 20 && rule?.code === '_lastUpdated' && !rule.descending && !stuck) {
      links.push({
        relation: 'first',
        url: base + formatSearchQuery({ ...searchRequest, count, cursor: undefined, offset: undefined }),
      });
      if (next && nextInstant) {
        const excluded = page.filter((r) => r.meta?.lastUpdated === nextInstant).map((r) => r.id ?? '');
        const cursorValue = `2-${Date.parse(nextInstant)}${excluded.length ? '-' + excluded.join(',') : ''}`;
        links.push({
          relation: 'next',
          url: base + formatSearchQuery({ ...searchRequest, count, cursor: cursorValue, offset: undefined }),
        });
      }
      return links;
    }
    links.push({ relation: 'first', url: base + formatSearchQuery({ ...searchRequest, count, offset: 0 }) });
    if (offset + count < total) {
      links.push({
        relation: 'next',
        url: base + formatSearchQuery({ ...searchRequest, count, offset: offset + count }),
      });
    }
    if (offset > 0) {
      const previous = Math.max(0, offset - count);
      links.push({
        relation: 'previous',
        url: base + formatSearchQuery({ ...searchRequest, count, offset: previous }),
      });
    }
    return links;
  }
}

function isNotModified(existing: Resource, updated: Resource): boolean {
  return deepEquals(JSON.parse(stringify(existing)), JSON.parse(stringify(updated)));
}

function lastContent(versions: readonly { resource?: WithId<Resource> }[]): WithId<Resource> | undefined {
  for (let i = versions.length - 1; i >= 0; i--) {
    const resource = versions[i]?.resource;
    if (resource) {
      return resource;
    }
  }
  return undefined;
}

function splitReference(reference: Reference): [string | undefined, string | undefined] {
  const value = reference.reference;
  if (!value || !/^[A-Z][a-zA-Z]+\/[^/]+$/.test(value)) {
    return [undefined, undefined];
  }
  const [resourceType, id] = value.split('/');
  return [resourceType, id];
}

/** `_elements` / `_summary` subsetting, as Medplum applies it after hidden-field removal. */
function subsetOutput(resource: Resource, searchRequest: SearchRequest): void {
  if (searchRequest.fields) {
    const schema = getDataType(resource.resourceType);
    subsetResource(resource, [...(schema.mandatoryProperties ?? []), ...searchRequest.fields]);
  } else if (searchRequest.summary === 'data') {
    subsetResource(
      resource,
      Object.keys(resource).filter((k) => k !== 'text')
    );
  } else if (searchRequest.summary === 'text') {
    const schema = getDataType(resource.resourceType);
    subsetResource(resource, ['text', ...(schema.mandatoryProperties ?? [])]);
  } else if (searchRequest.summary === 'true') {
    const schema = getDataType(resource.resourceType);
    subsetResource(resource, [...(schema.summaryProperties ?? [])]);
  }
}

let lastIssuedMs = 0;

/**
 * Now, but never the same millisecond twice: Postgres-backed Medplum rarely stamps two writes alike, the in-memory
 * store easily would, and `_lastUpdated` sorting and cursor paging depend on distinct instants.
 */
function monotonicNow(): string {
  lastIssuedMs = Math.max(Date.now(), lastIssuedMs + 1);
  return new Date(lastIssuedMs).toISOString();
}

interface Cursor {
  nextInstant: number;
  excludedIds: string[];
}

/** Medplum's `_cursor` (v1 `1-<ms>-<id>`, v2 `2-<ms>[-<excluded ids>]`); an unreadable cursor is ignored, as there. */
function parseCursor(value: string): Cursor | undefined {
  const [version, instant, rest] = [
    value.slice(0, value.indexOf('-')),
    ...value.slice(value.indexOf('-') + 1).split(/-(.*)/s),
  ];
  const nextInstant = Number.parseInt(instant ?? '', 10);
  if (!Number.isFinite(nextInstant) || (version !== '1' && version !== '2') || (version === '1' && !rest)) {
    return undefined;
  }
  return { nextInstant, excludedIds: version === '2' && rest ? rest.split(',') : [] };
}

function afterCursor(resource: Resource, cursor: Cursor | undefined): boolean {
  if (!cursor) {
    return true;
  }
  const lastUpdated = Date.parse(resource.meta?.lastUpdated ?? '');
  return lastUpdated >= cursor.nextInstant && !cursor.excludedIds.includes(resource.id ?? '');
}

/** Medplum's validator refuses JSON nulls ("Invalid null value") instead of dropping them. */
function assertNoNulls(value: unknown, path: string): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertNoNulls(item, `${path}[${i}]`));
    return;
  }
  if (value === null) {
    throw new OperationOutcomeError({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'structure', details: { text: 'Invalid null value' }, expression: [path] }],
    });
  }
  if (typeof value === 'object') {
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      assertNoNulls(child, `${path}.${key}`);
    }
  }
}

/** Removes a (possibly dotted, possibly `[x]`) field from an object, as Medplum's hidden/readonly field handling. */
function removeField(input: object, path: string): void {
  let level: Record<string, unknown>[] = [input as Record<string, unknown>];
  const parts = path.split('.');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const next: Record<string, unknown>[] = [];
    for (const item of level) {
      for (const key of resolveFieldNames(item, part)) {
        if (i === parts.length - 1) {
          delete item[key];
          continue;
        }
        const value = item[key];
        if (Array.isArray(value)) {
          next.push(...value.filter(isRecord));
        } else if (isRecord(value)) {
          next.push(value);
        }
      }
    }
    level = next;
  }
}

function resolveFieldNames(input: Record<string, unknown>, name: string): string[] {
  if (!name.endsWith('[x]')) {
    return [name];
  }
  const base = name.slice(0, -3);
  return Object.keys(input).filter((key) => {
    if (!key.startsWith(base)) {
      return false;
    }
    const suffix = key.slice(base.length);
    return suffix in PropertyType || suffix.charAt(0).toLowerCase() + suffix.slice(1) in PropertyType;
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
