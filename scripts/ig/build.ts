/**
 * `npm run build:ig`: Baseline's FHIR content as a FHIR NPM package (an implementation-guide package other FHIR
 * tooling can load), in dist/ig/:
 *
 *   package/package.json            the manifest (name, version, fhirVersions, canonical, dependencies)
 *   package/.index.json             index-version 2 of the files beside it
 *   package/<Type>-<id>.json        every conformance resource in profiles/ (not bundle.json, a deploy batch), the
 *                                   ImplementationGuide and the CapabilityStatement (capability.ts)
 *   package/example/                the examples, with their own .index.json
 *   package.tgz                     tar + gzip of package/ (what a registry or `fhir install` takes)
 *
 *   node scripts/ig/build.ts [--out DIR] [--server https://medplum.example.org/] [--date 2026-12-01T00:00:00Z]
 *
 * The examples are those of data/example, with the ones Baseline's own code builds (scripts/profiles/examples.ts)
 * taken fresh from that code, so the package never shows a shape the bots no longer write.
 *
 * The date (package.json `date`, CapabilityStatement.date) is --date, else SOURCE_DATE_EPOCH, else the commit date of
 * HEAD: the same commit builds the same package.tgz bytes.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Resource, StructureDefinition } from '@medplum/fhirtypes';
import { z } from 'zod';
import { BASELINE_BASE } from '../../bots/shared/systems.ts';
import { buildPolicyDefinitions } from '../../data/core/access-policies.ts';
import { EXAMPLE_DIR, buildExamples } from '../profiles/examples.ts';
import { PROFILES_DIR } from '../profiles/generate.ts';
import { capabilityStatement } from './capability.ts';
import { RepoPackageSchema, implementationGuide, packageIndex, packageManifest, resourceFileName } from './package.ts';
import type { RepoPackage } from './package.ts';
import { tgz } from './tar.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEFAULT_OUT_DIR = path.join(ROOT, 'dist', 'ig');

/** Enough of a resource to file and index it; the rest is passed through untouched. */
const ResourceFileSchema = z.looseObject({ resourceType: z.string().min(1), id: z.string().min(1) });

export interface IgSources {
  readonly repo: RepoPackage;
  /** Conformance resources (profiles/ without bundle.json). */
  readonly conformance: readonly Resource[];
  readonly examples: readonly Resource[];
  readonly date: Date;
  readonly serverBase?: string;
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8');
}

function byFileName(resources: readonly Resource[]): Map<string, Resource> {
  const files = new Map<string, Resource>();
  for (const resource of resources) {
    const name = resourceFileName(resource);
    if (files.has(name)) {
      throw new Error(`two resources would be written to ${name}`);
    }
    files.set(name, resource);
  }
  return files;
}

/**
 * @param sources - What goes into the package.
 * @returns archive path (`package/...`) → file content, package.json first as npm writes it
 */
export function buildIgFiles(sources: IgSources): Map<string, Buffer> {
  const manifest = packageManifest(sources.repo, BASELINE_BASE, sources.date);
  const profiles = sources.conformance.filter(
    (r): r is StructureDefinition => r.resourceType === 'StructureDefinition'
  );
  const capability = capabilityStatement({
    version: manifest.version,
    date: sources.date.toISOString(),
    canonical: BASELINE_BASE,
    // The role policies only: no bots (their Bot entries serve $execute), no bot policies (no client holds them).
    policies: buildPolicyDefinitions([], []),
    profiles,
    ...(sources.serverBase ? { serverBase: sources.serverBase } : {}),
  });
  const conformance = [...sources.conformance, capability];
  const ig = implementationGuide(manifest, conformance, sources.examples);
  const root = byFileName([...conformance, ig]);
  const examples = byFileName(sources.examples);

  const files = new Map<string, Buffer>([
    ['package/package.json', json(manifest)],
    ['package/.index.json', json(packageIndex(root))],
  ]);
  for (const [name, resource] of [...root].sort(([a], [b]) => a.localeCompare(b))) {
    files.set(`package/${name}`, json(resource));
  }
  files.set('package/example/.index.json', json(packageIndex(examples)));
  for (const [name, resource] of [...examples].sort(([a], [b]) => a.localeCompare(b))) {
    files.set(`package/example/${name}`, json(resource));
  }
  return files;
}

async function readResources(dir: string, skip: ReadonlySet<string>): Promise<Map<string, Resource>> {
  const out = new Map<string, Resource>();
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.json') && !skip.has(n)).sort()) {
    const text = await readFile(path.join(dir, name), 'utf8');
    const parsed = ResourceFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new Error(`${path.join(dir, name)} is not a FHIR resource with an id: ${parsed.error.message}`);
    }
    out.set(name, parsed.data as Resource);
  }
  return out;
}

/**
 * @param date - The build date.
 * @param serverBase - The Medplum base url for the SMART endpoints, if the deployer names one.
 * @returns the repo's package sources: profiles/, data/example (generated examples rebuilt), package.json
 */
export async function readIgSources(date: Date, serverBase?: string): Promise<IgSources> {
  const repo = RepoPackageSchema.parse(JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')));
  const conformance = await readResources(PROFILES_DIR, new Set(['bundle.json']));
  const examples = await readResources(EXAMPLE_DIR, new Set());
  for (const generated of buildExamples()) {
    examples.set(resourceFileName(generated), generated);
  }
  return {
    repo,
    conformance: [...conformance.values()],
    examples: [...examples.values()],
    date,
    ...(serverBase ? { serverBase } : {}),
  };
}

/**
 * Writes `<outDir>/package/**` (replacing what was there) and `<outDir>/package.tgz`.
 * @returns the paths written, relative to outDir
 */
export async function writeIg(outDir: string, files: ReadonlyMap<string, Buffer>): Promise<string[]> {
  await rm(path.join(outDir, 'package'), { recursive: true, force: true });
  for (const [name, content] of files) {
    const target = path.join(outDir, name);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, content);
  }
  const entries = [...files].map(([p, content]) => ({ path: p, content }));
  await writeFile(path.join(outDir, 'package.tgz'), tgz(entries));
  return [...files.keys(), 'package.tgz'];
}

/** --date, else SOURCE_DATE_EPOCH, else HEAD's commit date, else now. */
export function buildDate(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): Date {
  if (flag) {
    return checkedDate(flag, '--date');
  }
  const epoch = env['SOURCE_DATE_EPOCH'];
  if (epoch) {
    return checkedDate(Number(epoch) * 1000, 'SOURCE_DATE_EPOCH');
  }
  try {
    const committed = execFileSync('git', ['log', '-1', '--format=%cI'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return checkedDate(committed, 'the HEAD commit date');
  } catch (err) {
    // Building from a tarball of the source (no .git) is fine; the package then carries the build time.
    console.warn(`no commit date (${err instanceof Error ? err.message : String(err)}); using now`);
    return new Date();
  }
}

function checkedDate(value: string | number, source: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new Error(`${source} is not a date: ${String(value)}`);
  }
  return date;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, server: { type: 'string' }, date: { type: 'string' } },
  });
  if (values.server && !/^https?:\/\/.+\/$/.test(values.server)) {
    throw new Error(`--server must be an http(s) base url ending in '/': ${values.server}`);
  }
  const outDir = path.resolve(values.out ?? DEFAULT_OUT_DIR);
  const sources = await readIgSources(buildDate(values.date), values.server);
  const written = await writeIg(outDir, buildIgFiles(sources));
  const examples = written.filter((p) => p.startsWith('package/example/') && !p.endsWith('.index.json')).length;
  const resources = written.filter((p) => /^package\/[^/]+\.json$/.test(p) && !/\/(package|\.index)\.json$/.test(p));
  console.log(
    `wrote ${path.relative(process.cwd(), outDir) || '.'}/package.tgz: ${resources.length} conformance ` +
      `resources, ${examples} examples`
  );
}

if (import.meta.main) {
  await main();
}
