/**
 * Loads a FHIR NPM package the way a package loader does (package.json, then each folder's `.index.json`, then the
 * files the index names) and validates resources against the package's StructureDefinition snapshots, with no code
 * from Baseline or Medplum: Baseline's bots and Medplum's server both validate with @medplum/core, so agreeing with
 * it proves nothing about what other FHIR tooling sees.
 *
 * The FHIRPath engine is fhirpath.js (npm `fhirpath`, NLM/LHC's implementation, the one HL7's FHIRPath test suite
 * tracks for JavaScript) with its R4 model, so choice types, `ofType()` and `is` resolve as the spec says. Every
 * invariant on every snapshot element is evaluated by it, at every occurrence of the element: the base R4 ones
 * copied into the snapshot (ele-1, ext-1, dom-*, obs-6, obs-7) and the profile's own.
 *
 * Checked against each snapshot element, per occurrence of its parent:
 * - cardinality (min, max) and JSON shape (array exactly where the base element repeats);
 * - the types a choice element allows (`valueQuantity` on a profile that only allows CodeableConcept fails);
 * - `fixed[x]` (exact) and `pattern[x]` (subset) values;
 * - required bindings whose ValueSet is in the package, by the codes of its `compose.include` (listed concepts, or
 *   every concept of an included CodeSystem that is in the package);
 * - no property the snapshot does not define, at the resource root and in backbone elements;
 * - extensions with a url in the package, against their own definition, including where they may be used
 *   (`context` of type element).
 *
 * Not checked (no rule is silently passed: each yields an `information` issue, or is listed here):
 * - anything inside a datatype (Quantity, CodeableConcept, …): checking those needs hl7.fhir.r4.core's
 *   StructureDefinitions, which cannot be downloaded here;
 * - bindings to ValueSets outside the package (R4 core's observation-status, UCUM, …): reported as information;
 * - extensible/preferred bindings; slicing (Baseline's profiles slice nothing); reference targets; primitive
 *   formats beyond what the invariants say.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ElementDefinition, Resource, StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { z } from 'zod';

export type Severity = 'error' | 'warning' | 'information';
export type Rule =
  | 'cardinality'
  | 'shape'
  | 'type'
  | 'fixed'
  | 'pattern'
  | 'binding'
  | 'unknown-element'
  | 'invariant'
  | 'profile'
  | 'context';

export interface Issue {
  readonly severity: Severity;
  readonly rule: Rule;
  /** FHIRPath of the offending node, with indexes, e.g. `Observation.component[2].code`. */
  readonly location: string;
  readonly message: string;
  /** The StructureDefinition url the rule comes from. */
  readonly profile: string;
  /** The invariant key, for rule `invariant`. */
  readonly key?: string;
}

const ManifestSchema = z.looseObject({
  name: z.string(),
  version: z.string(),
  canonical: z.string().optional(),
  fhirVersions: z.array(z.string()).optional(),
  dependencies: z.record(z.string(), z.string()).optional(),
});

const IndexSchema = z.object({
  'index-version': z.literal(2),
  files: z.array(
    z.looseObject({
      filename: z.string(),
      resourceType: z.string(),
      id: z.string(),
      url: z.string().optional(),
      version: z.string().optional(),
    })
  ),
});

const ResourceSchema = z.looseObject({ resourceType: z.string(), id: z.string() });

export interface FhirPackage {
  readonly manifest: z.infer<typeof ManifestSchema>;
  /** Canonical url → conformance resource, found through package/.index.json. */
  readonly canonicals: ReadonlyMap<string, Resource>;
  /** Every resource of package/, by `.index.json` file name. */
  readonly files: ReadonlyMap<string, Resource>;
  /** package/example/, by `.index.json` file name. */
  readonly examples: ReadonlyMap<string, Resource>;
}

function readIndexedFolder(dir: string): Map<string, Resource> {
  const index = IndexSchema.parse(JSON.parse(readFileSync(path.join(dir, '.index.json'), 'utf8')));
  const out = new Map<string, Resource>();
  for (const entry of index.files) {
    const resource = ResourceSchema.parse(JSON.parse(readFileSync(path.join(dir, entry.filename), 'utf8')));
    const url = (resource as { url?: unknown }).url;
    if (resource.resourceType !== entry.resourceType || resource.id !== entry.id || (entry.url && url !== entry.url)) {
      throw new Error(`${entry.filename}: .index.json says ${entry.resourceType}/${entry.id}, the file disagrees`);
    }
    out.set(entry.filename, resource as Resource);
  }
  return out;
}

/**
 * @param root - The folder that holds `package/` (an unpacked package.tgz).
 * @returns the package, its conformance resources by canonical url, and its examples
 */
export function loadFhirPackage(root: string): FhirPackage {
  const dir = path.join(root, 'package');
  const manifest = ManifestSchema.parse(JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')));
  const files = readIndexedFolder(dir);
  const canonicals = new Map<string, Resource>();
  for (const resource of files.values()) {
    const url = (resource as { url?: unknown }).url;
    if (typeof url === 'string') {
      canonicals.set(url, resource);
    }
  }
  return { manifest, canonicals, files, examples: readIndexedFolder(path.join(dir, 'example')) };
}

// ---------------------------------------------------------------------------------------------------------------
// Walking instances along snapshot paths

interface Node {
  readonly value: unknown;
  /** FHIRPath with indexes. */
  readonly loc: string;
  /** The JSON property it was found under (differs from the path's segment for a choice: `valueQuantity`). */
  readonly key?: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** @returns the JSON properties of `node` that element segment `seg` covers (`value[x]` → valueQuantity, …) */
function keysFor(node: Record<string, unknown>, seg: string): string[] {
  if (!seg.endsWith('[x]')) {
    return seg in node ? [seg] : [];
  }
  const prefix = seg.slice(0, -3);
  return Object.keys(node).filter((k) => k.startsWith(prefix) && /^[A-Z]/.test(k.slice(prefix.length)));
}

function children(parent: Node, seg: string): Node[] {
  if (!isObject(parent.value)) {
    return [];
  }
  const name = seg.endsWith('[x]') ? seg.slice(0, -3) : seg;
  return keysFor(parent.value, seg).flatMap((key) => {
    const value = parent.value as Record<string, unknown>;
    const v = value[key];
    return Array.isArray(v)
      ? v.map((item, i) => ({ value: item, loc: `${parent.loc}.${name}[${i}]`, key }))
      : [{ value: v, loc: `${parent.loc}.${name}`, key }];
  });
}

function nodesAt(root: Node, segments: readonly string[]): Node[] {
  let nodes = [root];
  for (const seg of segments) {
    nodes = nodes.flatMap((n) => children(n, seg));
  }
  return nodes;
}

/** Element path relative to the StructureDefinition's root, as segments: `Observation.component.code` → [component, code]. */
function segmentsOf(element: ElementDefinition): string[] {
  return (element.path ?? '').split('.').slice(1);
}

// ---------------------------------------------------------------------------------------------------------------
// Values

function deepEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return a === b;
}

/** pattern[x]: every property of the pattern is present with a matching value; a pattern array item matches some item. */
function matchesPattern(value: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) {
    return Array.isArray(value) && pattern.every((p) => value.some((v) => matchesPattern(v, p)));
  }
  if (isObject(pattern)) {
    return isObject(value) && Object.entries(pattern).every(([k, p]) => matchesPattern(value[k], p));
  }
  return value === pattern;
}

function prefixed(element: ElementDefinition, prefix: 'fixed' | 'pattern'): [string, unknown] | undefined {
  return Object.entries(element).find(([k]) => k.startsWith(prefix) && k.length > prefix.length);
}

// ---------------------------------------------------------------------------------------------------------------
// Terminology

/** @returns `system|code` of every code the ValueSet holds, or undefined when the package cannot expand it */
function expandValueSet(pkg: FhirPackage, url: string): Set<string> | undefined {
  const vs = pkg.canonicals.get(url.split('|')[0] ?? url);
  if (vs?.resourceType !== 'ValueSet') {
    return undefined;
  }
  const compose = (vs as ValueSet).compose;
  if (!compose || (compose.exclude?.length ?? 0) > 0) {
    return undefined;
  }
  const codes = new Set<string>();
  for (const include of compose.include) {
    if (!include.system || (include.valueSet?.length ?? 0) > 0 || (include.filter?.length ?? 0) > 0) {
      return undefined;
    }
    if (include.concept) {
      include.concept.forEach((c) => codes.add(`${include.system}|${c.code}`));
      continue;
    }
    const cs = pkg.canonicals.get(include.system) as
      { resourceType: string; content?: string; concept?: { code: string }[] } | undefined;
    if (cs?.resourceType !== 'CodeSystem' || cs.content !== 'complete') {
      return undefined;
    }
    const add = (concepts: readonly { code: string; concept?: { code: string }[] }[]): void => {
      for (const c of concepts) {
        codes.add(`${include.system}|${c.code}`);
        add(c.concept ?? []);
      }
    };
    add(cs.concept ?? []);
  }
  return codes;
}

function codingsOf(value: unknown): { system?: unknown; code?: unknown }[] | undefined {
  if (typeof value === 'string') {
    return [{ code: value }];
  }
  if (isObject(value) && Array.isArray(value['coding'])) {
    return value['coding'].filter(isObject);
  }
  if (isObject(value) && 'code' in value) {
    return [value];
  }
  return undefined;
}

function inValueSet(codes: ReadonlySet<string>, coding: { system?: unknown; code?: unknown }): boolean {
  if (typeof coding.code !== 'string') {
    return false;
  }
  if (typeof coding.system === 'string') {
    return codes.has(`${coding.system}|${coding.code}`);
  }
  // A bare `code` carries its system in the element definition: any system of the ValueSet.
  return [...codes].some((c) => c.endsWith(`|${coding.code as string}`));
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

interface Target {
  readonly pkg: FhirPackage;
  readonly sd: StructureDefinition;
  /** The whole resource (fhirpath's %resource), cloned: fhirpath.js may annotate what it evaluates. */
  readonly resource: Resource;
  readonly root: Node;
  readonly issues: Issue[];
}

function add(t: Target, severity: Severity, rule: Rule, location: string, message: string, key?: string): void {
  t.issues.push({ severity, rule, location, message, profile: t.sd.url, ...(key ? { key } : {}) });
}

function checkElement(t: Target, element: ElementDefinition): void {
  const segments = segmentsOf(element);
  const seg = segments[segments.length - 1];
  if (!seg) {
    return;
  }
  const name = seg.endsWith('[x]') ? seg.slice(0, -3) : seg;
  const fixed = prefixed(element, 'fixed');
  const pattern = prefixed(element, 'pattern');
  const repeats = element.base?.max !== undefined ? element.base.max !== '0' && element.base.max !== '1' : false;
  const binding = element.binding;
  const codes =
    binding?.strength === 'required' && binding.valueSet ? expandValueSet(t.pkg, binding.valueSet) : undefined;

  for (const parent of nodesAt(t.root, segments.slice(0, -1))) {
    if (!isObject(parent.value)) {
      continue;
    }
    const keys = keysFor(parent.value, seg);
    const values = children(parent, seg);
    const where = `${parent.loc}.${name}`;
    if (values.length < (element.min ?? 0)) {
      add(t, 'error', 'cardinality', where, `minimum cardinality ${element.min ?? 0}, found ${values.length}`);
    }
    if (element.max !== undefined && element.max !== '*' && values.length > Number(element.max)) {
      add(t, 'error', 'cardinality', where, `maximum cardinality ${element.max}, found ${values.length}`);
    }
    for (const key of keys) {
      if (Array.isArray(parent.value[key]) !== repeats) {
        add(t, 'error', 'shape', `${parent.loc}.${key}`, repeats ? 'must be a JSON array' : 'must not be an array');
      }
    }
    if (seg.endsWith('[x]')) {
      if (keys.length > 1) {
        add(t, 'error', 'type', where, `only one type of a choice may be present, found ${keys.join(', ')}`);
      }
      const allowed = (element.type ?? []).map((ty) => ty.code.charAt(0).toUpperCase() + ty.code.slice(1));
      for (const key of keys) {
        const type = key.slice(name.length);
        if (!allowed.includes(type)) {
          add(t, 'error', 'type', `${parent.loc}.${key}`, `type ${type} is not allowed here (${allowed.join(', ')})`);
        }
      }
    }
    for (const v of values) {
      if (fixed && !deepEqual(v.value, fixed[1])) {
        add(t, 'error', 'fixed', v.loc, `must be exactly ${JSON.stringify(fixed[1])} (${fixed[0]})`);
      }
      if (pattern && !matchesPattern(v.value, pattern[1])) {
        add(t, 'error', 'pattern', v.loc, `must match ${JSON.stringify(pattern[1])} (${pattern[0]})`);
      }
      if (binding?.strength === 'required' && binding.valueSet) {
        const codings = codingsOf(v.value);
        if (!codes) {
          add(t, 'information', 'binding', v.loc, `not checked: ValueSet ${binding.valueSet} is not in the package`);
        } else if (!codings?.some((c) => inValueSet(codes, c))) {
          add(t, 'error', 'binding', v.loc, `no code from the required ValueSet ${binding.valueSet}`);
        }
      }
    }
  }
}

/** Unknown properties, where the snapshot lists the element's children (the root and backbone elements). */
function checkUnknown(t: Target, element: ElementDefinition, all: readonly ElementDefinition[]): void {
  const segments = segmentsOf(element);
  const childSegs = all
    .filter((e) => (e.path ?? '').startsWith(`${element.path ?? ''}.`) && segmentsOf(e).length === segments.length + 1)
    .map((e) => segmentsOf(e)[segments.length] ?? '');
  if (childSegs.length === 0) {
    return;
  }
  const nodes = nodesAt(t.root, segments);
  for (const node of nodes) {
    if (!isObject(node.value)) {
      continue;
    }
    for (const key of Object.keys(node.value)) {
      const bare = key.startsWith('_') ? key.slice(1) : key;
      const known =
        key === 'resourceType' ||
        childSegs.some((s) =>
          s.endsWith('[x]') ? bare.startsWith(s.slice(0, -3)) && /^[A-Z]/.test(bare.slice(s.length - 3)) : bare === s
        );
      if (!known) {
        add(t, 'error', 'unknown-element', `${node.loc}.${key}`, `${key} is not an element of ${t.sd.type}`);
      }
    }
  }
}

type Compiled = (resource: unknown, env: Record<string, unknown>) => unknown[];
const compiled = new Map<string, Compiled>();

function evaluate(t: Target, expression: string): unknown[] {
  let fn = compiled.get(expression);
  if (!fn) {
    // trace() in an expression would otherwise print to the test output.
    const compiledFn = fhirpath.compile(expression, r4, { traceFn: () => undefined });
    fn = (resource, env): unknown[] => compiledFn(resource, env) as unknown[];
    compiled.set(expression, fn);
  }
  return fn(t.resource, { resource: t.resource, rootResource: t.resource });
}

function checkInvariants(t: Target, element: ElementDefinition): void {
  for (const c of element.constraint ?? []) {
    if (!c.expression) {
      continue;
    }
    const severity: Severity = c.severity === 'error' ? 'error' : 'warning';
    // Each occurrence is the invariant's focus: `<node>.all(<expression>)` evaluates it with $this = that node,
    // from the resource root, so %resource and type information are what they are for a real validator.
    for (const node of nodesAt(t.root, segmentsOf(element))) {
      let result: unknown[];
      try {
        result = evaluate(t, `${node.loc}.all(${c.expression})`);
      } catch (err) {
        add(t, 'error', 'invariant', node.loc, `${c.key} could not be evaluated: ${String(err)}`, c.key);
        continue;
      }
      if (!(result.length === 1 && result[0] === true)) {
        add(t, severity, 'invariant', node.loc, `${c.key}: ${c.human}`, c.key);
      }
    }
  }
}

function validateAgainst(pkg: FhirPackage, sd: StructureDefinition, resource: Resource, root: Node): Issue[] {
  const elements = (sd.snapshot?.element ?? []).filter((e) => !e.sliceName && !(e.id ?? '').includes(':'));
  const t: Target = { pkg, sd, resource, root, issues: [] };
  for (const element of elements) {
    checkElement(t, element);
    checkUnknown(t, element, elements);
    checkInvariants(t, element);
  }
  return t.issues;
}

/** Every `extension` / `modifierExtension` item in the resource, with its location. */
function extensionNodes(node: Node): Node[] {
  const out: Node[] = [];
  const visit = (n: Node): void => {
    if (Array.isArray(n.value)) {
      return;
    }
    if (!isObject(n.value)) {
      return;
    }
    for (const [key, v] of Object.entries(n.value)) {
      const items = Array.isArray(v)
        ? v.map((item, i) => ({ value: item, loc: `${n.loc}.${key}[${i}]` }))
        : [{ value: v, loc: `${n.loc}.${key}` }];
      for (const item of items) {
        if (key === 'extension' || key === 'modifierExtension') {
          out.push(item);
        }
        visit(item);
      }
    }
  };
  visit(node);
  return out;
}

/** `Observation.component[2].extension[0]` → `Observation.component` (where the extension is used). */
function contextPath(loc: string): string {
  return loc
    .replace(/\[\d+\]/g, '')
    .split('.')
    .slice(0, -1)
    .join('.');
}

/**
 * Validates a resource against every package profile it claims in meta.profile, and every extension in it whose
 * url the package defines.
 * @param pkg - The loaded package.
 * @param resource - The instance.
 * @returns the issues; none of severity error means valid
 */
export function validateResource(pkg: FhirPackage, resource: Resource): Issue[] {
  const copy = structuredClone(resource);
  const root: Node = { value: resource, loc: resource.resourceType };
  const canonical = pkg.manifest.canonical ?? '';
  const issues: Issue[] = [];
  for (const claimed of resource.meta?.profile ?? []) {
    const url = claimed.split('|')[0] ?? claimed;
    const sd = pkg.canonicals.get(url);
    if (sd?.resourceType !== 'StructureDefinition') {
      issues.push({
        severity: canonical && url.startsWith(canonical) ? 'error' : 'information',
        rule: 'profile',
        location: resource.resourceType,
        message: `profile ${url} is not in the package`,
        profile: url,
      });
      continue;
    }
    const profile = sd as StructureDefinition;
    if (profile.type !== resource.resourceType) {
      issues.push({
        severity: 'error',
        rule: 'profile',
        location: resource.resourceType,
        message: `profile ${url} constrains ${profile.type}, not ${resource.resourceType}`,
        profile: url,
      });
      continue;
    }
    issues.push(...validateAgainst(pkg, profile, copy, root));
  }
  for (const ext of extensionNodes(root)) {
    const url = isObject(ext.value) ? ext.value['url'] : undefined;
    if (typeof url !== 'string' || !/^[a-z]+:/.test(url)) {
      continue; // a complex extension's parts are named by a relative url, checked by their parent's definition
    }
    const sd = pkg.canonicals.get(url);
    if (sd?.resourceType !== 'StructureDefinition') {
      if (canonical && url.startsWith(canonical)) {
        issues.push({
          severity: 'error',
          rule: 'profile',
          location: ext.loc,
          message: `extension ${url} is not defined in the package`,
          profile: url,
        });
      }
      continue;
    }
    const definition = sd as StructureDefinition;
    const where = contextPath(ext.loc);
    const contexts = (definition.context ?? []).filter((c) => c.type === 'element').map((c) => c.expression);
    if (contexts.length > 0 && !contexts.includes(where)) {
      issues.push({
        severity: 'error',
        rule: 'context',
        location: ext.loc,
        message: `extension ${url} may be used on ${contexts.join(', ')}, not on ${where}`,
        profile: url,
      });
    }
    issues.push(...validateAgainst(pkg, definition, copy, ext));
  }
  return issues;
}
