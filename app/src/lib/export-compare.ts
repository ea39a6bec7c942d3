/**
 * "Without loss", checked: two exports hold the same record when they have the same number of resources of each type
 * and a one-to-one matching between them under which every resource is equal once ids and the server's meta
 * bookkeeping are ignored, and every reference between resources points at the matched resource.
 *
 * Ids differ between servers, so resources cannot be matched by id, and many have no identifier (Consents, the
 * Patient, Communications). They are matched by content instead, by colour refinement: a resource's first colour is
 * its content with each internal reference reduced to the target's type; each round recolours a resource by its
 * content with each internal reference replaced by the target's current colour, until the number of colours stops
 * growing. Equal records give equal colour counts; the matching that pairs equal colours is then checked reference
 * by reference, so a comparison can only fail to prove equality, never prove it wrongly.
 *
 * Outside references compare by where they pointed on the first server: a literal one by its absolute URL, an
 * imported one (export-references.ts) by the URL it carries.
 *
 * Pure.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import {
  indexRecord,
  keyOf,
  mapReferences,
  parseExternalReference,
  resolveReference,
  withoutServerFields,
} from './export-references.ts';
import type { JsonObject, JsonValue, RecordIndex } from './export-references.ts';

export interface RecordComparison {
  /** True when nothing differs. */
  equal: boolean;
  /** Per type: [count in a, count in b]. */
  counts: Record<string, [number, number]>;
  /** What differs, readable (at most a few samples per difference). */
  differences: string[];
}

/** Marks an internal reference in a normalised resource; never a FHIR element name. */
const REF = '@ref';
const EXT = '@external';
const MAX_ROUNDS = 20;
const SAMPLES = 3;

interface Normalised {
  key: string;
  type: string;
  body: JsonValue;
  /** Targets of the internal references, in the order the canonical text meets them. */
  refs: string[];
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function normaliseReferences(value: JsonValue, index: RecordIndex): JsonValue {
  if (Array.isArray(value)) {
    return value.map((v) => normaliseReferences(v, index));
  }
  if (!isObject(value)) {
    return value;
  }
  if (value['reference'] === undefined) {
    const imported = parseExternalReference(value);
    if (imported) {
      return { ...mapChildren(imported.rest, index), [EXT]: imported.url };
    }
  }
  return mapChildren(value, index);
}

function mapChildren(value: JsonObject, index: RecordIndex): JsonObject {
  const copy: JsonObject = {};
  for (const [k, v] of Object.entries(value)) {
    copy[k] = normaliseReferences(v, index);
  }
  return copy;
}

function normalise(resource: Resource, index: RecordIndex): Normalised {
  const withExternal = normaliseReferences(withoutServerFields(resource), index);
  const body = mapReferences(withExternal, (reference): JsonValue => {
    const { reference: literal, ...rest } = reference;
    const target = resolveReference(literal, index);
    switch (target.kind) {
      case 'internal':
        return { ...rest, [REF]: target.key };
      case 'external':
        return { ...rest, [EXT]: target.url };
      case 'local':
        return reference;
    }
  });
  const refs: string[] = [];
  canonical(body, (key) => {
    refs.push(key);
    return '';
  });
  return { key: keyOf(resource), type: resource.resourceType, body, refs };
}

/**
 * JSON with object keys sorted (key order carries no meaning in FHIR JSON; array order does), internal references
 * written by `ref`.
 * @param value - a normalised value
 * @param ref - renders an internal reference's target key
 * @returns the text
 */
function canonical(value: JsonValue, ref: (key: string) => string): string {
  if (Array.isArray(value)) {
    return '[' + value.map((v) => canonical(v, ref)).join(',') + ']';
  }
  if (!isObject(value)) {
    return JSON.stringify(value);
  }
  const keys = Object.keys(value).sort();
  return (
    '{' +
    keys
      .map((k) => {
        const v = value[k] as JsonValue;
        return (
          JSON.stringify(k) + ':' + (k === REF && typeof v === 'string' ? JSON.stringify(ref(v)) : canonical(v, ref))
        );
      })
      .join(',') +
    '}'
  );
}

function resourcesOf(bundle: Bundle): Resource[] {
  const byKey = new Map<string, Resource>();
  for (const entry of bundle.entry ?? []) {
    if (entry.resource?.id) {
      byKey.set(keyOf(entry.resource), entry.resource);
    }
  }
  return [...byKey.values()];
}

function typeOfKey(key: string): string {
  return key.slice(0, key.indexOf('/'));
}

/**
 * @param a - one export (the original)
 * @param b - another (e.g. re-exported after an import elsewhere)
 * @returns whether they hold the same record, and what differs
 */
export function compareRecords(a: Bundle, b: Bundle): RecordComparison {
  const left = normaliseAll(a);
  const right = normaliseAll(b);

  const counts: Record<string, [number, number]> = {};
  for (const r of left) {
    const pair = (counts[r.type] ??= [0, 0]);
    pair[0]++;
  }
  for (const r of right) {
    const pair = (counts[r.type] ??= [0, 0]);
    pair[1]++;
  }
  const differences: string[] = [];
  for (const [type, [inA, inB]] of Object.entries(counts)) {
    if (inA !== inB) {
      differences.push(`${type}: ${inA} in a, ${inB} in b`);
    }
  }

  const { leftColours, rightColours } = refine(left, right);

  // Pair equal colours; whatever is left over on either side is a difference.
  const byColour = new Map<number, { inA: Normalised[]; inB: Normalised[] }>();
  const group = (colour: number): { inA: Normalised[]; inB: Normalised[] } => {
    let found = byColour.get(colour);
    if (!found) {
      found = { inA: [], inB: [] };
      byColour.set(colour, found);
    }
    return found;
  };
  for (const r of left) {
    group(leftColours.get(r.key) ?? -1).inA.push(r);
  }
  for (const r of right) {
    group(rightColours.get(r.key) ?? -1).inB.push(r);
  }
  const matched = new Map<string, string>();
  const onlyA: Normalised[] = [];
  const onlyB: Normalised[] = [];
  for (const { inA, inB } of byColour.values()) {
    inA.forEach((r, i) => {
      const partner = inB[i];
      if (partner) {
        matched.set(r.key, partner.key);
      }
    });
    onlyA.push(...inA.slice(inB.length));
    onlyB.push(...inB.slice(inA.length));
  }
  differences.push(...describeUnmatched(onlyA, 'a'), ...describeUnmatched(onlyB, 'b'));

  // The matching must carry every internal reference onto the matched target.
  const rightByKey = new Map(right.map((r) => [r.key, r]));
  let wrongReferences = 0;
  for (const r of left) {
    const partner = rightByKey.get(matched.get(r.key) ?? '');
    if (!partner) {
      continue;
    }
    const agrees =
      r.refs.length === partner.refs.length && r.refs.every((target, i) => matched.get(target) === partner.refs[i]);
    if (!agrees) {
      wrongReferences++;
      if (wrongReferences <= SAMPLES) {
        differences.push(`${r.key}: its references do not point at the matching resources in b (${partner.key})`);
      }
    }
  }
  if (wrongReferences > SAMPLES) {
    differences.push(`… ${wrongReferences - SAMPLES} more resources with mismatched references`);
  }
  return { equal: differences.length === 0, counts, differences };
}

function normaliseAll(bundle: Bundle): Normalised[] {
  const index = indexRecord(bundle);
  return resourcesOf(bundle).map((r) => normalise(r, index));
}

/**
 * Colour refinement over both records at once (one palette, so equal colours mean the same on both sides).
 * @param left - record a
 * @param right - record b
 * @returns each resource's final colour, per side
 */
function refine(
  left: readonly Normalised[],
  right: readonly Normalised[]
): { leftColours: Map<string, number>; rightColours: Map<string, number> } {
  const palette = new Map<string, number>();
  const intern = (text: string): number => {
    let colour = palette.get(text);
    if (colour === undefined) {
      colour = palette.size;
      palette.set(text, colour);
    }
    return colour;
  };
  const initial = (side: readonly Normalised[]): Map<string, number> =>
    new Map(side.map((r) => [r.key, intern(canonical(r.body, typeOfKey))]));
  const next = (side: readonly Normalised[], previous: ReadonlyMap<string, number>): Map<string, number> =>
    new Map(
      side.map((r) => [
        r.key,
        intern(`${previous.get(r.key)}|` + canonical(r.body, (k) => `${typeOfKey(k)}#${previous.get(k) ?? '?'}`)),
      ])
    );
  const classCount = (x: Map<string, number>, y: Map<string, number>): number =>
    new Set([...x.values(), ...y.values()]).size;
  let leftColours = initial(left);
  let rightColours = initial(right);
  let classes = classCount(leftColours, rightColours);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const nextLeft = next(left, leftColours);
    const nextRight = next(right, rightColours);
    const now = classCount(nextLeft, nextRight);
    leftColours = nextLeft;
    rightColours = nextRight;
    if (now === classes) {
      break;
    }
    classes = now;
  }
  return { leftColours, rightColours };
}

function describeUnmatched(unmatched: readonly Normalised[], side: 'a' | 'b'): string[] {
  const show = (r: Normalised): string => {
    const text = canonical(r.body, typeOfKey);
    return `${r.key} ${text.length > 600 ? text.slice(0, 600) + '…' : text}`;
  };
  return [...new Set(unmatched.map((r) => r.type))].map((type) => {
    const ofType = unmatched.filter((r) => r.type === type);
    return `${type}: ${ofType.length} only in ${side}, e.g. ${ofType.slice(0, SAMPLES).map(show).join(' | ')}`;
  });
}
