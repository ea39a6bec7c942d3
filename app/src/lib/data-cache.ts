/**
 * The Data page's stale-while-revalidate store: what the page last showed, kept in memory (survives route changes)
 * and in sessionStorage (survives a reload of the tab, dies with it), so a repeat visit renders at once and then
 * refreshes from the server. Values are validated with zod when read back from sessionStorage (another version of
 * the app may have written them), and anything unreadable is dropped, never shown.
 *
 * Entries are keyed by patient, so another person signing in on the same tab never sees them, and `clearDataCache`
 * removes them all (the page calls it when the session ends). sessionStorage rather than localStorage: health data
 * should not outlive the tab.
 */
import type { z } from 'zod';

const PREFIX = 'baseline.data.v1.';
/** Chart series kept in sessionStorage, newest first; older ones are dropped to stay far below the 5 MB quota. */
const MAX_STORED = 12;

export interface Cached<T> {
  readonly value: T;
  /** When the value was fetched (ms since epoch). */
  readonly savedAt: number;
}

const memory = new Map<string, Cached<unknown>>();

function storage(): Storage | undefined {
  try {
    return typeof sessionStorage === 'undefined' ? undefined : sessionStorage;
  } catch {
    // Access can throw (privacy settings, sandboxed frames): run without the persistent half.
    return undefined;
  }
}

/**
 * @param key - the entry's key (include the patient id).
 * @param schema - the value's shape, checked on values read back from sessionStorage.
 * @returns The cached value and when it was saved, or undefined.
 */
export function readCached<T>(key: string, schema: z.ZodType<T>): Cached<T> | undefined {
  const inMemory = memory.get(key);
  if (inMemory) {
    return inMemory as Cached<T>;
  }
  const raw = storage()?.getItem(PREFIX + key);
  if (!raw) {
    return undefined;
  }
  try {
    const parsed = JSON.parse(raw) as { savedAt?: unknown; value?: unknown };
    const value = schema.safeParse(parsed.value);
    if (!value.success || typeof parsed.savedAt !== 'number') {
      storage()?.removeItem(PREFIX + key);
      return undefined;
    }
    const entry = { value: value.data, savedAt: parsed.savedAt };
    memory.set(key, entry);
    return entry;
  } catch {
    storage()?.removeItem(PREFIX + key);
    return undefined;
  }
}

/**
 * @param key - the entry's key.
 * @param value - a JSON-serialisable value.
 * @param savedAt - when it was fetched (default now).
 */
export function writeCached<T>(key: string, value: T, savedAt = Date.now()): void {
  memory.set(key, { value, savedAt });
  const store = storage();
  if (!store) {
    return;
  }
  const stored = ownKeys(store)
    .filter((k) => k !== PREFIX + key)
    .map((k) => ({ k, savedAt: savedAtOf(store.getItem(k)) }))
    .sort((a, b) => b.savedAt - a.savedAt);
  for (const old of stored.slice(MAX_STORED - 1)) {
    store.removeItem(old.k);
  }
  try {
    store.setItem(PREFIX + key, JSON.stringify({ savedAt, value }));
  } catch {
    // Quota exceeded: the in-memory copy still serves this session.
  }
}

/** This module's keys in the store (other parts of the app keep their own entries there). */
function ownKeys(store: Storage): string[] {
  const keys: string[] = [];
  for (let i = 0; i < store.length; i++) {
    const key = store.key(i);
    if (key?.startsWith(PREFIX)) {
      keys.push(key);
    }
  }
  return keys;
}

function savedAtOf(raw: string | null): number {
  try {
    const parsed = JSON.parse(raw ?? '') as { savedAt?: unknown };
    return typeof parsed.savedAt === 'number' ? parsed.savedAt : 0;
  } catch {
    return 0;
  }
}

/** Forgets every Data page entry, in memory and in sessionStorage. */
export function clearDataCache(): void {
  memory.clear();
  const store = storage();
  if (!store) {
    return;
  }
  for (const key of ownKeys(store)) {
    store.removeItem(key);
  }
}
