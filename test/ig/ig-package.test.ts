/**
 * Builds the implementation-guide package into a temp dir, unpacks package.tgz with the system's GNU tar, loads it
 * through its .index.json files (fhir-package-validator.ts, no Baseline or Medplum code) and validates every example
 * against the profiles it claims with fhirpath.js. Broken copies of the examples prove the validator is not vacuous.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type {
  CapabilityStatement,
  CapabilityStatementRestResource,
  ImplementationGuide,
  Resource,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ANNOTATION_PROFILE,
  BASELINE_BASE,
  DERIVED_PROFILE,
  NARRATIVE_PROFILE,
  WEARABLE_PROFILE,
} from '../../bots/shared/systems.ts';
import { buildIgFiles, readIgSources, writeIg } from '../../scripts/ig/build.ts';
import { PROFILES_DIR } from '../../scripts/profiles/generate.ts';
import { INTRADAY_PROFILE } from '../../scripts/profiles/intraday.ts';
import { loadFhirPackage, validateResource } from './fhir-package-validator.ts';
import type { FhirPackage, Issue } from './fhir-package-validator.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'baseline-ig-'));
const unpacked = path.join(tmp, 'unpacked');
let pkg: FhirPackage;

beforeAll(async () => {
  const sources = await readIgSources(new Date('2026-12-01T00:00:00Z'));
  await writeIg(tmp, buildIgFiles(sources));
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', path.join(tmp, 'package.tgz'), '-C', unpacked]);
  pkg = loadFhirPackage(unpacked);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir)
    .flatMap((name) =>
      statSync(path.join(dir, name)).isDirectory()
        ? listFiles(path.join(dir, name), `${prefix}${name}/`)
        : [`${prefix}${name}`]
    )
    .sort();
}

function example(name: string): Resource {
  const found = pkg.examples.get(name);
  if (!found) {
    throw new Error(`no example ${name} in the package`);
  }
  return structuredClone(found);
}

const errors = (issues: readonly Issue[]): Issue[] => issues.filter((i) => i.severity === 'error');

describe('the package archive', () => {
  test('GNU tar unpacks package.tgz to exactly the package/ folder the build wrote', () => {
    const written = listFiles(path.join(tmp, 'package'));
    expect(listFiles(path.join(unpacked, 'package'))).toEqual(written);
    for (const file of written) {
      expect(readFileSync(path.join(unpacked, 'package', file))).toEqual(readFileSync(path.join(tmp, 'package', file)));
    }
  });

  test('package.json is a FHIR package manifest for R4 with the repo version', () => {
    const repo = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(pkg.manifest).toMatchObject({
      name: 'baseline.health.fhir',
      version: repo.version,
      type: 'fhir.ig',
      canonical: BASELINE_BASE,
      fhirVersions: ['4.0.1'],
      dependencies: { 'hl7.fhir.r4.core': '4.0.1' },
      license: 'Apache-2.0',
      date: '20261201000000',
    });
  });

  test('each .index.json names every resource file of its folder, and nothing else', () => {
    const files = listFiles(path.join(unpacked, 'package'));
    const root = files.filter((f) => !f.includes('/') && f !== 'package.json' && f !== '.index.json');
    const examples = files.filter((f) => f.startsWith('example/') && f !== 'example/.index.json');
    expect([...pkg.files.keys()].sort()).toEqual(root);
    expect([...pkg.examples.keys()].map((f) => `example/${f}`).sort()).toEqual(examples);
    expect(examples.length).toBeGreaterThan(10);
  });

  test('holds every conformance resource of profiles/ unchanged, but not the deploy bundle', () => {
    const profileFiles = readdirSync(PROFILES_DIR).filter((f) => f.endsWith('.json') && f !== 'bundle.json');
    expect(profileFiles.length).toBeGreaterThan(10);
    for (const file of profileFiles) {
      expect(pkg.files.get(file), file).toEqual(JSON.parse(readFileSync(path.join(PROFILES_DIR, file), 'utf8')));
    }
    expect(pkg.files.has('bundle.json')).toBe(false);
    expect([...pkg.files.values()].some((r) => r.resourceType === 'Bundle')).toBe(false);
  });

  test('is byte-for-byte reproducible from the same sources and date', async () => {
    const again = mkdtempSync(path.join(tmpdir(), 'baseline-ig-again-'));
    try {
      await writeIg(again, buildIgFiles(await readIgSources(new Date('2026-12-01T00:00:00Z'))));
      expect(readFileSync(path.join(again, 'package.tgz'))).toEqual(readFileSync(path.join(tmp, 'package.tgz')));
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });
});

describe('the ImplementationGuide and CapabilityStatement', () => {
  test('the ImplementationGuide lists every resource and example, each example with a profile in the package', () => {
    const ig = pkg.canonicals.get(`${BASELINE_BASE}/ImplementationGuide/baseline.health.fhir`) as ImplementationGuide;
    expect(ig).toMatchObject({ packageId: 'baseline.health.fhir', version: pkg.manifest.version });
    const listed = (ig.definition?.resource ?? []).map((r) => r.reference.reference);
    const expected = [...pkg.files.values(), ...pkg.examples.values()]
      .filter((r) => r.resourceType !== 'ImplementationGuide')
      .map((r) => `${r.resourceType}/${r.id ?? ''}`);
    expect([...listed].sort()).toEqual([...expected].sort());
    for (const r of ig.definition?.resource ?? []) {
      if (r.exampleCanonical) {
        expect(pkg.canonicals.get(r.exampleCanonical)?.resourceType, r.exampleCanonical).toBe('StructureDefinition');
      }
    }
  });

  test('the CapabilityStatement offers what Baseline relies on', () => {
    const cs = pkg.canonicals.get(`${BASELINE_BASE}/CapabilityStatement/baseline-server`) as CapabilityStatement;
    expect(cs).toMatchObject({ kind: 'capability', fhirVersion: '4.0.1', software: { name: 'Baseline' } });
    expect(cs.implementation).toBeUndefined(); // cpb-15
    const rest = cs.rest?.[0];
    const byType = new Map<string, CapabilityStatementRestResource>((rest?.resource ?? []).map((r) => [r.type, r]));
    const observation = byType.get('Observation');
    expect([...(observation?.supportedProfile ?? [])].sort()).toEqual(
      [ANNOTATION_PROFILE, DERIVED_PROFILE, INTRADAY_PROFILE, NARRATIVE_PROFILE, WEARABLE_PROFILE].sort()
    );
    expect(observation?.searchParam?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['code', 'date', 'patient', 'component-code', 'identifier', 'category'])
    );
    for (const p of observation?.searchParam ?? []) {
      expect(p.definition, p.name).toMatch(/^http:\/\/hl7\.org\/fhir\/SearchParameter\//);
    }
    for (const type of ['Patient', 'Observation', 'Consent', 'Flag', 'Communication', 'Device']) {
      expect(
        byType.get(type)?.interaction?.map((i) => i.code),
        type
      ).toEqual(expect.arrayContaining(['read', 'search-type']));
    }
    expect(byType.get('Patient')?.operation).toEqual([
      { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' },
    ]);
    expect(rest?.security?.service?.[0]?.coding?.[0]?.code).toBe('SMART-on-FHIR');
    const oauth = rest?.security?.extension?.find(
      (e) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris'
    );
    expect(oauth?.extension?.map((e) => e.url)).toEqual(['authorize', 'token']);
  });
});

describe('the examples, validated with fhirpath.js against the package', () => {
  test('every Observation example claims a Baseline profile, and every Observation profile has an example', () => {
    const claimed = new Set<string>();
    for (const r of pkg.examples.values()) {
      if (r.resourceType === 'Observation') {
        const profile = r.meta?.profile?.[0];
        expect(profile, r.id).toMatch(new RegExp(`^${BASELINE_BASE}/StructureDefinition/`));
        claimed.add(profile ?? '');
      }
    }
    expect([...claimed].sort()).toEqual(
      [ANNOTATION_PROFILE, DERIVED_PROFILE, INTRADAY_PROFILE, NARRATIVE_PROFILE, WEARABLE_PROFILE].sort()
    );
  });

  test('every example is valid: no error from any profile or Baseline extension it uses', () => {
    let checked = 0;
    for (const [name, resource] of pkg.examples) {
      const issues = validateResource(pkg, resource);
      expect(errors(issues), name).toEqual([]);
      checked += resource.meta?.profile?.length ?? 0;
    }
    expect(checked).toBeGreaterThanOrEqual(11);
  });

  test('the narrative example is checked against each of its three extensions', () => {
    const narrative = example('Observation-baseline-demo-weekly-narrative.json');
    const component = narrative.resourceType === 'Observation' ? narrative.component?.[0] : undefined;
    const beat = component?.extension?.find((e) => e.url.endsWith('/narrative-beat'));
    expect(beat).toBeDefined();
    if (beat) {
      // A beat's text is a string; a number breaks the extension definition, not the Observation profile.
      delete beat.valueString;
      beat.valueInteger = 3;
    }
    const issues = errors(validateResource(pkg, narrative));
    expect(issues).toContainEqual(
      expect.objectContaining({ rule: 'type', profile: `${BASELINE_BASE}/StructureDefinition/narrative-beat` })
    );
  });

  const broken: readonly {
    readonly name: string;
    readonly file: string;
    readonly breakIt: (r: Record<string, unknown>) => void;
    readonly expected: Partial<Issue>;
  }[] = [
    {
      name: 'an HRV in minutes breaks the catalogue unit rule (bwo-unit)',
      file: 'Observation-baseline-demo-hrv-rmssd.json',
      breakIt: (r) => {
        r['valueQuantity'] = { value: 52.4, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' };
      },
      expected: { rule: 'invariant', key: 'bwo-unit', profile: WEARABLE_PROFILE },
    },
    {
      name: 'a wearable Observation without a category breaks the cardinality 1..*',
      file: 'Observation-baseline-demo-resting-heart-rate.json',
      breakIt: (r) => {
        delete r['category'];
      },
      expected: { rule: 'cardinality', location: 'Observation.category' },
    },
    {
      name: 'a single category object where the base element repeats breaks the JSON shape',
      file: 'Observation-baseline-demo-resting-heart-rate.json',
      breakIt: (r) => {
        r['category'] = (r['category'] as unknown[])[0];
      },
      expected: { rule: 'shape', location: 'Observation.category' },
    },
    {
      name: 'an annotation with a string value breaks the allowed types of value[x]',
      file: 'Observation-baseline-demo-annotation.json',
      breakIt: (r) => {
        delete r['valueCodeableConcept'];
        r['valueString'] = 'travelling';
      },
      expected: { rule: 'type', location: 'Observation.valueString', profile: ANNOTATION_PROFILE },
    },
    {
      name: 'a derived Observation with an unknown kind breaks the required binding',
      file: 'Observation-baseline-demo-hrv-rmssd-baseline.json',
      breakIt: (r) => {
        r['code'] = { coding: [{ system: `${BASELINE_BASE}/CodeSystem/baseline-metrics`, code: 'made-up-kind' }] };
      },
      expected: { rule: 'binding', location: 'Observation.code', profile: DERIVED_PROFILE },
    },
    {
      name: 'a property FHIR does not define is refused',
      file: 'Observation-baseline-demo-sleep-duration.json',
      breakIt: (r) => {
        r['sleepScore'] = 88;
      },
      expected: { rule: 'unknown-element', location: 'Observation.sleepScore' },
    },
    {
      name: 'a source-priority extension holding a number breaks its definition',
      file: 'Basic-baseline-demo-source-priority.json',
      breakIt: (r) => {
        r['extension'] = [{ url: `${BASELINE_BASE}/StructureDefinition/source-priority`, valueInteger: 1 }];
      },
      expected: { rule: 'type', location: 'Basic.extension[0].valueInteger' },
    },
    {
      name: 'a narrative extension on a Basic breaks the extension context',
      file: 'Basic-baseline-demo-source-priority.json',
      breakIt: (r) => {
        r['extension'] = [{ url: `${BASELINE_BASE}/StructureDefinition/narrative-beat`, valueString: 'x' }];
      },
      expected: { rule: 'context', location: 'Basic.extension[0]' },
    },
    {
      name: 'a Baseline profile the package does not hold is an error',
      file: 'Observation-baseline-demo-hrv-rmssd.json',
      breakIt: (r) => {
        r['meta'] = { profile: [`${BASELINE_BASE}/StructureDefinition/no-such-profile`] };
      },
      expected: { rule: 'profile' },
    },
  ];

  test.each(broken)('$name', ({ file, breakIt, expected }) => {
    const resource = example(file);
    expect(errors(validateResource(pkg, resource)), 'the unbroken example').toEqual([]);
    breakIt(resource as unknown as Record<string, unknown>);
    expect(errors(validateResource(pkg, resource))).toContainEqual(expect.objectContaining(expected));
  });
});
