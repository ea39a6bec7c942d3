/**
 * Desired vs existing, for idempotent deploys. A second deploy must report zero changes, so the comparison ignores
 * what the server manages (id, meta except tags, generated secrets, deployed code) and treats absent, undefined and
 * empty values alike (the server drops empty arrays and objects). Pure; no I/O.
 */
import type { Coding, Resource } from '@medplum/fhirtypes';

export type FieldPolicy =
  /** Deploy owns every field except these (and id/meta); others on the server are removed on update. */
  | { readonly preserve: readonly string[] }
  /** Deploy owns only these fields; everything else on the server is kept. */
  | { readonly own: readonly string[] };

export type Reconciled<T extends Resource> =
  | { readonly action: 'create'; readonly next: T }
  | { readonly action: 'update'; readonly next: T; readonly changes: string[] }
  | { readonly action: 'unchanged'; readonly next: T };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * A canonical form for comparison: undefined and null dropped, empty arrays/objects/strings dropped.
 * @param value - Any JSON-like value.
 * @returns The normalized value, or undefined when nothing is left.
 */
export function normalize(value: unknown): Json | undefined {
  if (value === undefined || value === null || value === '') {
    return undefined;
  }
  if (Array.isArray(value)) {
    const items = value.map(normalize).filter((item): item is Json => item !== undefined);
    return items.length > 0 ? items : undefined;
  }
  if (typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(value).sort()) {
      const item = normalize((value as Record<string, unknown>)[key]);
      if (item !== undefined) {
        out[key] = item;
      }
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
  if (typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') {
    return value;
  }
  return undefined;
}

/**
 * Structural equality after normalization (key order irrelevant, array order significant).
 * @param a - First value.
 * @param b - Second value.
 * @returns True when equal.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function sameTag(a: Coding, b: Coding): boolean {
  return a.system === b.system && a.code === b.code;
}

/**
 * Compares a desired resource to what the server has and returns what to write.
 * `meta.tag` entries of the desired resource must be present (others on the server are kept); the rest of `meta`
 * is the server's.
 * @param existing - The server's resource, or undefined when it does not exist yet.
 * @param desired - What the definitions ask for (no id).
 * @param fields - Which fields deploy owns.
 * @returns create / update (with the changed field names) / unchanged, and the resource to write.
 */
export function reconcile<T extends Resource>(existing: T | undefined, desired: T, fields: FieldPolicy): Reconciled<T> {
  if (!existing) {
    return { action: 'create', next: desired };
  }
  const current = existing as unknown as Record<string, unknown>;
  const wanted = desired as unknown as Record<string, unknown>;
  const next: Record<string, unknown> = {};
  const changes: string[] = [];

  let owned: string[];
  if ('own' in fields) {
    owned = [...fields.own];
    for (const [key, value] of Object.entries(current)) {
      if (!owned.includes(key)) {
        next[key] = value;
      }
    }
  } else {
    const keep = new Set(['id', 'meta', 'resourceType', ...fields.preserve]);
    for (const key of fields.preserve) {
      if (current[key] !== undefined) {
        next[key] = current[key];
      }
    }
    owned = [...new Set([...Object.keys(current), ...Object.keys(wanted)])].filter((key) => !keep.has(key));
  }
  next.resourceType = existing.resourceType;
  next.id = existing.id;

  for (const key of owned.sort()) {
    if (wanted[key] !== undefined) {
      next[key] = wanted[key];
    }
    if (!sameValue(current[key], wanted[key])) {
      changes.push(key);
    }
  }

  const existingTags = existing.meta?.tag ?? [];
  const wantedTags = desired.meta?.tag ?? [];
  const missingTags = wantedTags.filter((tag) => !existingTags.some((have) => sameTag(have, tag)));
  const meta = { ...existing.meta };
  if (missingTags.length > 0) {
    changes.push('meta.tag');
    meta.tag = [...existingTags, ...missingTags];
  }
  if (existing.meta || missingTags.length > 0) {
    next.meta = meta;
  }

  const resource = next as unknown as T;
  return changes.length > 0 ? { action: 'update', next: resource, changes } : { action: 'unchanged', next: resource };
}
