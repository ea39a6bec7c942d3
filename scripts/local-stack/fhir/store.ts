/**
 * The local stack's resource store: every version of every resource in memory, indexed the few ways Baseline's
 * hot paths need (type+id, identifier token, patient compartment), persisted as an append-only journal.
 *
 * Durability: one journal line per commit (a whole transaction is one line, so replay is atomic per commit), written
 * with `fs.writeSync` and `fs.fdatasyncSync` before the commit returns, so `kill -9` loses nothing that was
 * acknowledged. A crash mid-write leaves a torn last line; replay drops it (and truncates it away, so the next append
 * does not glue onto garbage). Any other unreadable line is real corruption and stops the open.
 *
 * Concurrency: one FIFO lock serializes every unit of work (reads included: a transaction's uncommitted writes are
 * applied in place, so nobody else may look while it is open). Work inside a unit is synchronous except for the
 * transaction callbacks the repository runs; writes record undo steps so a failed transaction (or savepoint) is rolled
 * back exactly.
 */
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { evalFhirPath, getSearchParameter } from '@medplum/core';
import type { WithId } from '@medplum/core';
import type { Identifier, Resource } from '@medplum/fhirtypes';
import { z } from 'zod';
import './schema.ts';

/** One committed change, as reported to commit listeners. */
export interface Change {
  interaction: 'create' | 'update' | 'delete';
  /** The new version (for a delete: the version that was deleted). */
  resource: WithId<Resource>;
  /** The version before the change (for a delete: the deleted version again, as Medplum passes it). */
  previous?: WithId<Resource>;
}

/** One entry of a resource's history. */
export interface VersionEntry {
  versionId: string;
  lastUpdated: string;
  /** The version's content; undefined for a deletion. */
  resource?: WithId<Resource>;
}

/** Everything the store knows about one resource id. */
export interface StoredRecord {
  readonly resourceType: string;
  readonly id: string;
  /** The current version, or undefined once deleted. */
  readonly current: WithId<Resource> | undefined;
  /** Every version, oldest first. */
  readonly versions: readonly VersionEntry[];
}

/** Opaque position inside an open unit of work, for partial rollback (nested transactions). */
export interface Savepoint {
  readonly undo: number;
  readonly changes: number;
}

export type CommitListener = (changes: Change[]) => void;

interface MutableRecord {
  resourceType: string;
  id: string;
  current: WithId<Resource> | undefined;
  versions: VersionEntry[];
}

const JOURNAL_FILE = 'journal.ndjson';
/** Expunges between two journal compactions (other than the token store's, compacted at once). */
const COMPACT_EVERY = 500;

const ResourceShape = z.looseObject({
  resourceType: z.string().min(1),
  id: z.string().min(1),
  meta: z.looseObject({ versionId: z.string().min(1), lastUpdated: z.string().min(1) }),
});

const JournalLine = z.object({
  changes: z.array(
    z.discriminatedUnion('i', [
      z.object({ i: z.enum(['create', 'update']), r: ResourceShape }),
      z.object({ i: z.literal('delete'), t: z.string(), id: z.string(), v: z.string(), at: z.string() }),
      z.object({ i: z.literal('expunge'), t: z.string(), id: z.string() }),
    ])
  ),
});
type JournalLine = z.infer<typeof JournalLine>;
type JournalChange = JournalLine['changes'][number];

export class ResourceStore {
  private readonly records = new Map<string, Map<string, MutableRecord>>();
  private readonly identifierIndex = new Map<string, Map<string, Set<string>>>();
  private readonly compartmentIndex = new Map<string, Map<string, Set<string>>>();
  private readonly listeners = new Set<CommitListener>();
  private readonly journalPath: string | undefined;
  private fd: number | undefined;
  private journalSize = 0;
  private lockTail: Promise<void> = Promise.resolve();
  private lockHeld = false;
  private undo: (() => void)[] = [];
  /** `change` is absent for an expunge: Medplum notifies no one of it. */
  private pending: { change?: Change; line: JournalChange }[] = [];
  /** Expunged since the last journal compaction (see persistPending). */
  private uncompacted = new Set<string>();
  private inUnit = false;
  private closed = false;

  private constructor(dataDir: string | undefined) {
    this.journalPath = dataDir === undefined ? undefined : join(dataDir, JOURNAL_FILE);
  }

  /**
   * Opens a store.
   * @param options - `dataDir` undefined keeps everything in memory; otherwise the directory is created if needed and
   *   its journal replayed (current versions and full history).
   * @returns The open store.
   */
  static async open(options: { dataDir?: string }): Promise<ResourceStore> {
    const store = new ResourceStore(options.dataDir);
    if (options.dataDir !== undefined) {
      mkdirSync(options.dataDir, { recursive: true });
      store.replay();
    }
    return store;
  }

  /**
   * Registers a listener called after every committed unit of work that changed something (never for no-op updates),
   * after the journal is on disk and the lock is released.
   * @param listener - Receives the unit's changes in commit order.
   * @returns A function that unregisters the listener.
   */
  onCommit(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for the running unit of work, then closes the journal. */
  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    const release = await this.acquire();
    try {
      if (this.uncompacted.size > 0 && this.journalPath !== undefined) {
        this.compactJournal(this.uncompacted);
        this.uncompacted = new Set();
      }
      this.closed = true;
      if (this.fd !== undefined) {
        closeSync(this.fd);
        this.fd = undefined;
      }
    } finally {
      release();
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Reads. Callers hold the lock (via `exclusive`) so they never see another unit's uncommitted writes.

  /** @returns The record for this id (current version and history), if the id was ever written. */
  getRecord(resourceType: string, id: string): StoredRecord | undefined {
    return this.records.get(resourceType)?.get(id);
  }

  /** @returns Every current (not deleted) resource of the type, in creation order. Do not mutate them. */
  *scan(resourceType: string): IterableIterator<WithId<Resource>> {
    for (const record of this.records.get(resourceType)?.values() ?? []) {
      if (record.current) {
        yield record.current;
      }
    }
  }

  /** @returns The resource types that have at least one record. */
  resourceTypes(): string[] {
    return [...this.records.keys()];
  }

  /**
   * Looks up current resources by identifier token.
   * @param resourceType - The resource type.
   * @param token - A token search value: `system|value`, `|value` (no system) or `value` (any system).
   * @returns Matching ids (case-insensitive, like token search), or undefined when the token form is not indexed
   *   (`system|` alone).
   */
  findByIdentifier(resourceType: string, token: string): ReadonlySet<string> | undefined {
    const key = identifierLookupKey(token);
    if (key === undefined) {
      return undefined;
    }
    return this.identifierIndex.get(resourceType)?.get(key) ?? EMPTY_SET;
  }

  /**
   * @param resourceType - The resource type.
   * @param reference - A compartment reference such as `Patient/<id>`.
   * @returns Ids of current resources whose `meta.compartment` contains the reference.
   */
  findByCompartment(resourceType: string, reference: string): ReadonlySet<string> {
    return this.compartmentIndex.get(resourceType)?.get(reference) ?? EMPTY_SET;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Units of work.

  /**
   * Runs `fn` as one unit of work under the store lock: its writes are journaled as one commit when it resolves and
   * rolled back when it throws. Listeners run after the lock is released.
   * @param fn - The work; it may call the write methods below.
   * @returns What `fn` returns.
   */
  async exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    const release = await this.acquire();
    let changes: Change[] = [];
    let result: T;
    try {
      this.assertOpen();
      this.inUnit = true;
      try {
        result = await fn();
        changes = this.persistPending();
      } catch (err) {
        this.rollbackTo({ undo: 0, changes: 0 });
        throw err;
      } finally {
        this.undo = [];
        this.pending = [];
        this.inUnit = false;
      }
    } finally {
      release();
    }
    this.notify(changes);
    return result;
  }

  /** @returns A savepoint inside the open unit of work. */
  savepoint(): Savepoint {
    this.assertInUnit();
    return { undo: this.undo.length, changes: this.pending.length };
  }

  /**
   * Undoes every write made after the savepoint (the unit stays open).
   * @param savepoint - From `savepoint()`.
   */
  rollbackTo(savepoint: Savepoint): void {
    while (this.undo.length > savepoint.undo) {
      const step = this.undo.pop();
      step?.();
    }
    this.pending.length = Math.min(this.pending.length, savepoint.changes);
  }

  /**
   * Writes a new version. The caller has decided everything: id, meta (versionId, lastUpdated, compartment...).
   * @param resource - The complete new version; the store keeps this object, so the caller must not mutate it later.
   * @param interaction - Reported to listeners.
   */
  put(resource: WithId<Resource>, interaction: 'create' | 'update'): void {
    this.assertInUnit();
    const previous = this.getRecord(resource.resourceType, resource.id)?.current;
    this.applyPut(resource);
    this.pending.push({
      change: { interaction, resource, ...(previous ? { previous } : undefined) },
      line: { i: interaction, r: resource as JournalResource },
    });
  }

  /**
   * Marks the current version deleted (history keeps it, plus a deletion entry).
   * @param resourceType - The resource type.
   * @param id - The resource id; it must have a current version.
   * @param deletion - The deletion entry's version id and timestamp.
   */
  remove(resourceType: string, id: string, deletion: { versionId: string; lastUpdated: string }): void {
    this.assertInUnit();
    const current = this.getRecord(resourceType, id)?.current;
    if (!current) {
      throw new Error(`Cannot delete ${resourceType}/${id}: no current version`);
    }
    this.applyDelete(resourceType, id, deletion.versionId, deletion.lastUpdated);
    this.pending.push({
      change: { interaction: 'delete', resource: current, previous: current },
      line: { i: 'delete', t: resourceType, id, v: deletion.versionId, at: deletion.lastUpdated },
    });
  }

  /**
   * Removes a resource and its whole history, as Medplum's `$expunge` does: from memory now, and from the journal on
   * disk when the unit commits (the journal is rewritten without any line of it). Unknown ids are fine.
   * @param resourceType - The resource type.
   * @param id - The resource id.
   */
  expunge(resourceType: string, id: string): void {
    this.assertInUnit();
    const byId = this.records.get(resourceType);
    const record = byId?.get(id);
    if (byId && record) {
      this.unindex(record.current);
      byId.delete(id);
      this.undo.push(() => {
        byId.set(id, record);
        this.index(record.current);
      });
    }
    this.pending.push({ line: { i: 'expunge', t: resourceType, id } });
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Internals.

  /**
   * Rewrites the journal without the expunged resources (every version, and the expunge marker itself), through a
   * temporary file renamed over the journal, so a crash leaves either the old journal (whose marker replays the
   * expunge) or the new one.
   */
  private compactJournal(expunged: ReadonlySet<string>): void {
    const path = this.journalPath as string;
    const keep: string[] = [];
    for (const raw of readFileSync(path, 'utf8').split('\n')) {
      const line = raw.trim() === '' ? undefined : parseJournalLine(raw);
      if (!line) {
        continue;
      }
      const changes = line.changes.filter((c) => {
        const key = 'r' in c ? `${c.r.resourceType}/${c.r.id}` : `${c.t}/${c.id}`;
        return !expunged.has(key);
      });
      if (changes.length > 0) {
        keep.push(JSON.stringify({ changes }) + '\n');
      }
    }
    const temp = `${path}.compact`;
    const fd = openSync(temp, 'w');
    try {
      writeSync(fd, keep.join(''));
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    renameSync(temp, path);
    this.openJournal();
  }

  private acquire(): Promise<() => void> {
    let releaseNext!: () => void;
    const next = new Promise<void>((resolve) => {
      releaseNext = resolve;
    });
    const previous = this.lockTail;
    this.lockTail = previous.then(() => next);
    return previous.then(() => {
      this.lockHeld = true;
      return () => {
        this.lockHeld = false;
        releaseNext();
      };
    });
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new Error('ResourceStore is closed');
    }
  }

  private assertInUnit(): void {
    if (!this.inUnit || !this.lockHeld) {
      throw new Error('ResourceStore writes must run inside exclusive()');
    }
  }

  private persistPending(): Change[] {
    if (this.pending.length === 0) {
      return [];
    }
    if (this.journalPath !== undefined) {
      const line: JournalLine = { changes: this.pending.map((p) => p.line) };
      this.appendJournal(JSON.stringify(line) + '\n');
      const expunged = this.pending.flatMap((p) => (p.line.i === 'expunge' ? [`${p.line.t}/${p.line.id}`] : []));
      for (const key of expunged) {
        this.uncompacted.add(key);
      }
      // Rewriting the journal costs its whole size, so an erase that expunges thousands of records one by one
      // compacts in rounds; the expunge markers already written make a replay drop them meanwhile. A Basic (the
      // token store) is compacted at once: no byte of a token may outlive its disconnect on disk.
      if (
        this.uncompacted.size >= COMPACT_EVERY ||
        (expunged.length > 0 && expunged.some((key) => key.startsWith('Basic/')))
      ) {
        this.compactJournal(this.uncompacted);
        this.uncompacted = new Set();
      }
    }
    return this.pending.flatMap((p) => (p.change ? [p.change] : []));
  }

  private appendJournal(text: string): void {
    const fd = this.openJournal();
    const bytes = Buffer.from(text, 'utf8');
    const sizeBefore = this.journalSize;
    try {
      let offset = 0;
      while (offset < bytes.length) {
        offset += writeSync(fd, bytes, offset, bytes.length - offset);
      }
      fdatasyncSync(fd);
    } catch (err) {
      // Leave no partial line behind: a torn line followed by later good lines would read as corruption on replay.
      ftruncateSync(fd, sizeBefore);
      throw new Error(`Failed to write the journal ${this.journalPath}`, { cause: err });
    }
    this.journalSize = sizeBefore + bytes.length;
  }

  private openJournal(): number {
    if (this.fd === undefined) {
      if (this.journalPath === undefined) {
        throw new Error('In-memory store has no journal');
      }
      this.fd = openSync(this.journalPath, 'a');
      this.journalSize = fstatSync(this.fd).size;
    }
    return this.fd;
  }

  private notify(changes: Change[]): void {
    if (changes.length === 0) {
      return;
    }
    for (const listener of this.listeners) {
      try {
        listener(changes);
      } catch (err) {
        // The write is already committed; a failing observer must not turn it into an error for the writer.
        console.error('ResourceStore commit listener failed', err);
      }
    }
  }

  private replay(): void {
    const path = this.journalPath as string;
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return;
      }
      throw new Error(`Cannot read the journal ${path}`, { cause: err });
    }
    // Split on the newline byte: it never occurs inside a multi-byte UTF-8 sequence, and byte offsets are what
    // truncation needs.
    let goodBytes = 0;
    let lineStart = 0;
    let lineNumber = 0;
    while (lineStart < bytes.length) {
      const newline = bytes.indexOf(0x0a, lineStart);
      const end = newline === -1 ? bytes.length : newline;
      const raw = bytes.toString('utf8', lineStart, end);
      lineNumber++;
      const isLast = newline === -1 || newline === bytes.length - 1;
      if (raw.trim() !== '') {
        const parsed = parseJournalLine(raw);
        if (!parsed) {
          if (isLast) {
            // A crash mid-append: that commit never returned, so dropping it loses nothing acknowledged.
            break;
          }
          throw new Error(`Journal ${path} is corrupt at line ${lineNumber}`);
        }
        this.replayLine(parsed);
      }
      if (newline === -1) {
        break;
      }
      lineStart = newline + 1;
      goodBytes = lineStart;
    }
    this.undo = [];
    if (goodBytes < bytes.length) {
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, goodBytes);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
  }

  private replayLine(line: JournalLine): void {
    for (const change of line.changes) {
      if (change.i === 'delete') {
        this.applyDelete(change.t, change.id, change.v, change.at);
      } else if (change.i === 'expunge') {
        const record = this.records.get(change.t)?.get(change.id);
        this.unindex(record?.current);
        this.records.get(change.t)?.delete(change.id);
      } else {
        // The journal only holds resources this store wrote; the zod shape above checked what indexing relies on.
        this.applyPut(change.r as unknown as WithId<Resource>);
      }
    }
  }

  private applyPut(resource: WithId<Resource>): void {
    const { resourceType, id } = resource;
    let byId = this.records.get(resourceType);
    if (!byId) {
      byId = new Map();
      this.records.set(resourceType, byId);
    }
    let record = byId.get(id);
    const existed = record !== undefined;
    if (!record) {
      record = { resourceType, id, current: undefined, versions: [] };
      byId.set(id, record);
    }
    const before = record.current;
    const versionCount = record.versions.length;
    this.unindex(before);
    record.current = resource;
    record.versions.push({
      versionId: resource.meta?.versionId as string,
      lastUpdated: resource.meta?.lastUpdated as string,
      resource,
    });
    this.index(resource);
    const target = record;
    this.undo.push(() => {
      this.unindex(target.current);
      target.current = before;
      target.versions.length = versionCount;
      this.index(before);
      if (!existed) {
        this.records.get(resourceType)?.delete(id);
      }
    });
  }

  private applyDelete(resourceType: string, id: string, versionId: string, lastUpdated: string): void {
    const record = this.records.get(resourceType)?.get(id);
    if (!record?.current) {
      return;
    }
    const before = record.current;
    const versionCount = record.versions.length;
    this.unindex(before);
    record.current = undefined;
    record.versions.push({ versionId, lastUpdated });
    this.undo.push(() => {
      record.current = before;
      record.versions.length = versionCount;
      this.index(before);
    });
  }

  private index(resource: WithId<Resource> | undefined): void {
    if (!resource) {
      return;
    }
    for (const key of identifierKeys(resource)) {
      addToIndex(this.identifierIndex, resource.resourceType, key, resource.id);
    }
    for (const reference of compartmentKeys(resource)) {
      addToIndex(this.compartmentIndex, resource.resourceType, reference, resource.id);
    }
  }

  private unindex(resource: WithId<Resource> | undefined): void {
    if (!resource) {
      return;
    }
    for (const key of identifierKeys(resource)) {
      removeFromIndex(this.identifierIndex, resource.resourceType, key, resource.id);
    }
    for (const reference of compartmentKeys(resource)) {
      removeFromIndex(this.compartmentIndex, resource.resourceType, reference, resource.id);
    }
  }
}

type JournalResource = z.infer<typeof ResourceShape>;

const EMPTY_SET: ReadonlySet<string> = new Set<string>();

function parseJournalLine(raw: string): JournalLine | undefined {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const result = JournalLine.safeParse(json);
  return result.success ? result.data : undefined;
}

function identifierKeys(resource: Resource): string[] {
  const param = getSearchParameter(resource.resourceType, 'identifier');
  if (param?.type !== 'token' || !param.expression) {
    return [];
  }
  const keys = new Set<string>();
  for (const value of evalFhirPath(param.expression, resource)) {
    const identifier = value as Identifier | undefined;
    if (typeof identifier?.value !== 'string') {
      continue;
    }
    const v = identifier.value.toLowerCase();
    keys.add((identifier.system ?? '').toLowerCase() + '|' + v);
    keys.add('\u0000' + v);
  }
  return [...keys];
}

function identifierLookupKey(token: string): string | undefined {
  const bar = token.indexOf('|');
  if (bar === -1) {
    return '\u0000' + token.toLowerCase();
  }
  const value = token.slice(bar + 1);
  if (value === '') {
    return undefined;
  }
  return token.toLowerCase();
}

function compartmentKeys(resource: Resource): string[] {
  const keys: string[] = [];
  for (const compartment of resource.meta?.compartment ?? []) {
    // Every resource is in its project's compartment; indexing that would only duplicate the type scan.
    if (compartment.reference && !compartment.reference.startsWith('Project/')) {
      keys.push(compartment.reference);
    }
  }
  return keys;
}

function addToIndex(index: Map<string, Map<string, Set<string>>>, type: string, key: string, id: string): void {
  let byKey = index.get(type);
  if (!byKey) {
    byKey = new Map();
    index.set(type, byKey);
  }
  let ids = byKey.get(key);
  if (!ids) {
    ids = new Set();
    byKey.set(key, ids);
  }
  ids.add(id);
}

function removeFromIndex(index: Map<string, Map<string, Set<string>>>, type: string, key: string, id: string): void {
  const byKey = index.get(type);
  const ids = byKey?.get(key);
  if (!ids) {
    return;
  }
  ids.delete(id);
  if (ids.size === 0) {
    byKey?.delete(key);
  }
}
