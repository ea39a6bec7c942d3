import type { CodeSystem, Observation, Resource, StructureDefinition } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  RepoPackageSchema,
  implementationGuide,
  indexEntry,
  packageIndex,
  packageManifest,
  resourceFileName,
} from './package.ts';

const REPO = RepoPackageSchema.parse({ version: '1.2.3', description: 'Test.', license: 'Apache-2.0', name: 'x' });
const CANONICAL = 'https://example.org/fhir';
const PROFILE: StructureDefinition = {
  resourceType: 'StructureDefinition',
  id: 'p',
  url: `${CANONICAL}/StructureDefinition/p`,
  version: '0.4.0',
  name: 'P',
  title: 'A profile',
  status: 'active',
  kind: 'resource',
  abstract: false,
  type: 'Observation',
  baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Observation',
  derivation: 'constraint',
};
const CODES: CodeSystem = {
  resourceType: 'CodeSystem',
  id: 'c',
  url: `${CANONICAL}/CodeSystem/c`,
  status: 'active',
  content: 'complete',
  valueSet: `${CANONICAL}/ValueSet/c`,
};
const EXAMPLE: Observation = {
  resourceType: 'Observation',
  id: 'e',
  meta: { profile: [PROFILE.url] },
  status: 'final',
  code: { text: 'x' },
};

describe('packageManifest', () => {
  test('takes name, version and license, declares R4 and its core package, dates as YYYYMMDDHHmmss', () => {
    const m = packageManifest(REPO, CANONICAL, new Date('2026-12-01T08:09:10.500Z'));
    expect(m).toMatchObject({
      name: 'baseline.health.fhir',
      version: '1.2.3',
      canonical: CANONICAL,
      fhirVersions: ['4.0.1'],
      type: 'fhir.ig',
      dependencies: { 'hl7.fhir.r4.core': '4.0.1' },
      license: 'Apache-2.0',
      date: '20261201080910',
    });
  });

  test('refuses a repo version a FHIR package cannot carry', () => {
    expect(() => RepoPackageSchema.parse({ ...REPO, version: 'latest' })).toThrow();
  });
});

describe('.index.json', () => {
  test('an entry carries the index-version 2 fields the resource has, and only those', () => {
    expect(indexEntry('StructureDefinition-p.json', PROFILE)).toEqual({
      filename: 'StructureDefinition-p.json',
      resourceType: 'StructureDefinition',
      id: 'p',
      url: PROFILE.url,
      version: '0.4.0',
      kind: 'resource',
      type: 'Observation',
      derivation: 'constraint',
    });
    expect(indexEntry('CodeSystem-c.json', CODES)).toEqual({
      filename: 'CodeSystem-c.json',
      resourceType: 'CodeSystem',
      id: 'c',
      url: CODES.url,
      content: 'complete',
      valueSet: CODES.valueSet,
    });
    expect(indexEntry('Observation-e.json', EXAMPLE)).toEqual({
      filename: 'Observation-e.json',
      resourceType: 'Observation',
      id: 'e',
    });
  });

  test('is index-version 2, sorted by file name', () => {
    const index = packageIndex(
      new Map<string, Resource>([
        ['StructureDefinition-p.json', PROFILE],
        ['CodeSystem-c.json', CODES],
      ])
    );
    expect(index['index-version']).toBe(2);
    expect(index.files.map((f) => f.filename)).toEqual(['CodeSystem-c.json', 'StructureDefinition-p.json']);
  });

  test('a resource without an id cannot be filed', () => {
    expect(resourceFileName(PROFILE)).toBe('StructureDefinition-p.json');
    expect(() => resourceFileName({ ...EXAMPLE, id: undefined })).toThrow(/without an id/);
    expect(() => indexEntry('x.json', { ...EXAMPLE, id: undefined })).toThrow(/needs an id/);
  });
});

describe('implementationGuide', () => {
  test('lists conformance resources and examples; an example names the profile it claims', () => {
    const manifest = packageManifest(REPO, CANONICAL, new Date('2026-12-01T00:00:00Z'));
    const unprofiled: Observation = { ...EXAMPLE, id: 'f', meta: undefined };
    const ig = implementationGuide(manifest, [PROFILE, CODES], [EXAMPLE, unprofiled]);
    expect(ig).toMatchObject({
      id: 'baseline.health.fhir',
      url: `${CANONICAL}/ImplementationGuide/baseline.health.fhir`,
      packageId: 'baseline.health.fhir',
      version: '1.2.3',
      fhirVersion: ['4.0.1'],
      license: 'Apache-2.0',
    });
    expect(ig.definition?.resource).toEqual([
      { reference: { reference: 'StructureDefinition/p' }, name: 'A profile', exampleBoolean: false },
      { reference: { reference: 'CodeSystem/c' }, exampleBoolean: false },
      { reference: { reference: 'Observation/e' }, name: 'Example Observation e', exampleCanonical: PROFILE.url },
      { reference: { reference: 'Observation/f' }, name: 'Example Observation f', exampleBoolean: true },
    ]);
  });
});
