import { describe, expect, test } from 'vitest';
import { collectConformance } from './profiles.ts';

const CS = { resourceType: 'CodeSystem', id: 'cs', url: 'https://x/cs', status: 'active', content: 'complete' };
const VS = { resourceType: 'ValueSet', url: 'https://x/vs', status: 'active' };
const SD = { resourceType: 'StructureDefinition', url: 'https://x/sd', name: 'Sd' };

describe('collectConformance', () => {
  test('a resource of another type', () => {
    expect(() => collectConformance([['profiles/p.json', { resourceType: 'Patient' }]])).toThrow(
      'profiles/p.json: expected a CodeSystem, ValueSet or StructureDefinition with a url, got Patient'
    );
  });

  test('two different resources under one url', () => {
    expect(() =>
      collectConformance([
        ['profiles/a.json', VS],
        ['profiles/b.json', { ...VS, status: 'draft' }],
      ])
    ).toThrow('profiles/b.json and profiles/a.json define different resources with url https://x/vs');
  });

  test('files and a bundle of the same resources collapse, in upload order, without id', () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ resource: SD }, { resource: CS }, { resource: VS }],
    };
    const result = collectConformance([
      ['profiles/bundle.json', bundle],
      ['profiles/sd.json', SD],
      ['profiles/package.json', { name: 'not fhir' }],
    ]);
    const { id: _id, ...csWithoutId } = CS;
    expect(result).toEqual([csWithoutId, VS, SD]);
  });
});
