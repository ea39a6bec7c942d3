/**
 * The parts of a FHIR NPM package (hl7.org/fhir/packages.html, and the FHIR Infrastructure NPM Package
 * Specification it points to) that Baseline writes: the manifest `package/package.json`, the `.index.json` of each
 * folder, and the ImplementationGuide resource that lists what the package holds.
 *
 * `.index.json` is index-version 2: one entry per resource file in that folder (not package.json, not the index
 * itself) with `filename`, `resourceType`, `id`, and, where the resource has them, `url`, `version`, `kind`, `type`,
 * `supplements`, `content`, `valueSet` and `derivation`. Loaders (the HL7 Java core, fhir-package-loader, Firely)
 * read it to find a canonical without opening every file, so a resource missing from it is invisible to them.
 *
 * Pure: build.ts does the file reads and writes.
 */
import type { ImplementationGuide, ImplementationGuideDefinitionResource, Resource } from '@medplum/fhirtypes';
import { z } from 'zod';

export const FHIR_VERSION = '4.0.1';
export const CORE_PACKAGE = 'hl7.fhir.r4.core';
export const PACKAGE_NAME = 'baseline.health.fhir';
/** ImplementationGuide.id and the tail of its url; ids may hold dots, so it is the package name itself. */
export const IG_ID = PACKAGE_NAME;

/** The repo's package.json fields the FHIR package takes over. */
export const RepoPackageSchema = z.object({
  version: z.string().regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'a semver version'),
  description: z.string().min(1),
  license: z.string().min(1),
});
export type RepoPackage = z.infer<typeof RepoPackageSchema>;

export interface PackageManifest {
  readonly name: string;
  readonly version: string;
  readonly title: string;
  readonly description: string;
  readonly canonical: string;
  readonly url: string;
  readonly fhirVersions: readonly string[];
  readonly type: 'fhir.ig';
  readonly dependencies: Readonly<Record<string, string>>;
  readonly license: string;
  readonly author: string;
  readonly date: string;
}

/**
 * @param repo - The repo's package.json (version, description, license).
 * @param canonical - BASELINE_BASE: every Baseline canonical url starts with it.
 * @param date - The build date; written as the package spec's `YYYYMMDDHHmmss`.
 * @returns the FHIR package manifest
 */
export function packageManifest(repo: RepoPackage, canonical: string, date: Date): PackageManifest {
  return {
    name: PACKAGE_NAME,
    version: repo.version,
    title: 'Baseline wearable data',
    description:
      `${repo.description} Profiles, terminology, extensions, a CapabilityStatement of what a Baseline server ` +
      'offers, and examples.',
    canonical,
    url: canonical,
    fhirVersions: [FHIR_VERSION],
    type: 'fhir.ig',
    dependencies: { [CORE_PACKAGE]: FHIR_VERSION },
    license: repo.license,
    author: 'Baseline',
    date: date.toISOString().replace(/[-:T]/g, '').slice(0, 14),
  };
}

export interface IndexEntry {
  readonly filename: string;
  readonly resourceType: string;
  readonly id: string;
  readonly url?: string;
  readonly version?: string;
  readonly kind?: string;
  readonly type?: string;
  readonly supplements?: string;
  readonly content?: string;
  readonly valueSet?: string;
  readonly derivation?: string;
}

export interface PackageIndex {
  readonly 'index-version': 2;
  readonly files: readonly IndexEntry[];
}

const INDEXED_FIELDS = ['url', 'version', 'kind', 'type', 'supplements', 'content', 'valueSet', 'derivation'] as const;

/** @returns the file name a package gives a resource: `<resourceType>-<id>.json` */
export function resourceFileName(resource: Resource): string {
  if (!resource.id) {
    throw new Error(`a ${resource.resourceType} without an id cannot go into the package`);
  }
  return `${resource.resourceType}-${resource.id}.json`;
}

/** @returns the index-version 2 entry of one resource file */
export function indexEntry(filename: string, resource: Resource): IndexEntry {
  if (!resource.id) {
    throw new Error(`${filename}: a resource in a package needs an id`);
  }
  const entry: Record<string, string> = { filename, resourceType: resource.resourceType, id: resource.id };
  const fields = resource as unknown as Record<string, unknown>;
  for (const field of INDEXED_FIELDS) {
    const value = fields[field];
    // Only string-valued fields: ConceptMap R4's `source[x]` etc. are not index fields, and a CodeSystem's
    // `valueSet` is a canonical string.
    if (typeof value === 'string') {
      entry[field] = value;
    }
  }
  return entry as unknown as IndexEntry;
}

/** @returns the `.index.json` of one folder, entries sorted by file name so the bytes are stable */
export function packageIndex(files: ReadonlyMap<string, Resource>): PackageIndex {
  return {
    'index-version': 2,
    files: [...files]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([filename, resource]) => indexEntry(filename, resource)),
  };
}

function reference(resource: Resource): string {
  return `${resource.resourceType}/${resource.id ?? ''}`;
}

function describe(resource: Resource): { name?: string; description?: string } {
  const r = resource as { title?: unknown; name?: unknown; description?: unknown };
  const name = typeof r.title === 'string' ? r.title : typeof r.name === 'string' ? r.name : undefined;
  const description = typeof r.description === 'string' ? r.description : undefined;
  return { ...(name ? { name } : {}), ...(description ? { description } : {}) };
}

/**
 * The ImplementationGuide: one definition.resource per conformance resource and per example. An example names the
 * profile it claims (`exampleCanonical`), so a publisher or validator knows what to check it against.
 * @param manifest - The package manifest (name, version, canonical, license).
 * @param conformance - The package's conformance resources (profiles, terminology, the CapabilityStatement).
 * @param examples - The package's examples.
 * @returns the ImplementationGuide resource
 */
export function implementationGuide(
  manifest: PackageManifest,
  conformance: readonly Resource[],
  examples: readonly Resource[]
): ImplementationGuide {
  const resources: ImplementationGuideDefinitionResource[] = [
    ...conformance.map((r): ImplementationGuideDefinitionResource => ({
      reference: { reference: reference(r) },
      ...describe(r),
      exampleBoolean: false,
    })),
    ...examples.map((r): ImplementationGuideDefinitionResource => {
      const profile = r.meta?.profile?.[0];
      return {
        reference: { reference: reference(r) },
        name: `Example ${r.resourceType} ${r.id ?? ''}`,
        ...(profile ? { exampleCanonical: profile } : { exampleBoolean: true }),
      };
    }),
  ];
  return {
    resourceType: 'ImplementationGuide',
    id: IG_ID,
    url: `${manifest.canonical}/ImplementationGuide/${IG_ID}`,
    version: manifest.version,
    name: 'BaselineWearableData',
    title: manifest.title,
    status: 'active',
    publisher: manifest.author,
    description: manifest.description,
    packageId: manifest.name,
    license: manifest.license as ImplementationGuide['license'],
    fhirVersion: [FHIR_VERSION],
    definition: { resource: resources },
  };
}
