/**
 * The conformance resources in profiles/ that deploy uploads, upserted by canonical `url`. The directory holds one
 * file per resource and a bundle of the same resources; both are read, identical copies collapse, and two different
 * resources under one url stop the deploy (uploading both would flip the server between them on every run).
 * Order matters to a validating server: code systems, then value sets, then the profiles that bind to them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { CodeSystem, StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import { z } from 'zod';
import { sameValue } from './diff.ts';
import { DeployError } from './errors.ts';

export type ConformanceResource = CodeSystem | ValueSet | StructureDefinition;

const UPLOAD_ORDER = ['CodeSystem', 'ValueSet', 'StructureDefinition'] as const;

const ConformanceSchema = z
  .object({ resourceType: z.enum(UPLOAD_ORDER), url: z.string().min(1) })
  .passthrough()
  .transform((value) => value as unknown as ConformanceResource);

const FhirJsonSchema = z.object({ resourceType: z.string() }).passthrough();
const BundleSchema = z.object({
  resourceType: z.literal('Bundle'),
  entry: z.array(z.object({ resource: z.unknown().optional() }).passthrough()).optional(),
});

function parseConformance(value: unknown, where: string): ConformanceResource {
  const parsed = ConformanceSchema.safeParse(value);
  if (!parsed.success) {
    const type = FhirJsonSchema.safeParse(value).data?.resourceType ?? 'unknown';
    throw new DeployError(`${where}: expected a CodeSystem, ValueSet or StructureDefinition with a url, got ${type}`);
  }
  const { id: _id, meta: _meta, ...rest } = parsed.data;
  return rest as ConformanceResource;
}

/**
 * Conformance resources from already-parsed JSON documents, in upload order, one per url.
 * @param documents - `[where, json]` pairs; JSON without a `resourceType` (tool config) is skipped.
 * @returns The resources, without `id`/`meta` (those are the server's).
 */
export function collectConformance(documents: readonly (readonly [string, unknown])[]): ConformanceResource[] {
  const byUrl = new Map<string, { resource: ConformanceResource; where: string }>();
  const add = (resource: ConformanceResource, where: string): void => {
    const url = resource.url ?? '';
    const seen = byUrl.get(url);
    if (!seen) {
      byUrl.set(url, { resource, where });
    } else if (!sameValue(seen.resource, resource)) {
      throw new DeployError(`${where} and ${seen.where} define different resources with url ${url}`);
    }
  };
  for (const [where, json] of documents) {
    const fhir = FhirJsonSchema.safeParse(json);
    if (!fhir.success) {
      continue;
    }
    if (fhir.data.resourceType === 'Bundle') {
      const bundle = BundleSchema.parse(json);
      (bundle.entry ?? []).forEach((entry, index) => {
        const at = `${where} entry ${index}`;
        add(parseConformance(entry.resource, at), at);
      });
    } else {
      add(parseConformance(json, where), where);
    }
  }
  const resources = [...byUrl.values()].map((item) => item.resource);
  return resources.sort(
    (a, b) =>
      UPLOAD_ORDER.indexOf(a.resourceType) - UPLOAD_ORDER.indexOf(b.resourceType) ||
      (a.url ?? '').localeCompare(b.url ?? '')
  );
}

/**
 * Reads every `*.json` file in a directory (not recursive).
 * @param dir - The profiles directory.
 * @returns The conformance resources in upload order.
 */
export function loadProfiles(dir: string): ConformanceResource[] {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort();
  const documents = files.map((name): [string, unknown] => {
    const file = path.join(dir, name);
    try {
      return [`profiles/${name}`, JSON.parse(readFileSync(file, 'utf8'))];
    } catch (err) {
      throw new DeployError(`profiles/${name} is not valid JSON`, { cause: err });
    }
  });
  return collectConformance(documents);
}
