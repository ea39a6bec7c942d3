import type { CapabilityStatementRestResource, StructureDefinition } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import type { PolicyDefinition } from '../../data/core/access-policies.ts';
import { OBSERVATION_SEARCH_PARAMS, capabilityStatement, offeredTypes, r4SearchParam } from './capability.ts';

const POLICIES: PolicyDefinition[] = [
  {
    key: 'owner',
    name: 'Owner',
    resource: [
      { resourceType: 'Observation', criteria: 'Observation?_compartment=%patient', interaction: ['read', 'search'] },
      { resourceType: 'Consent', interaction: ['read', 'create', 'update'] },
      { resourceType: 'Bot', interaction: ['read'] },
    ],
  },
  {
    key: 'ehr',
    name: 'EHR',
    resource: [
      { resourceType: 'Observation', interaction: ['read', 'vread', 'history', 'search'] },
      { resourceType: 'Patient', interaction: ['read', 'search'] },
      { resourceType: 'SmartAppLaunch', interaction: ['create'] },
    ],
  },
];

const profile = (id: string, type: string): StructureDefinition => ({
  resourceType: 'StructureDefinition',
  id,
  url: `https://example.org/fhir/StructureDefinition/${id}`,
  name: id,
  status: 'active',
  kind: 'resource',
  abstract: false,
  type,
  derivation: 'constraint',
});

describe('offeredTypes', () => {
  test('unions the interactions and names the roles, leaving out what only drives Medplum', () => {
    const types = offeredTypes(POLICIES);
    expect([...types.keys()]).toEqual(['Observation', 'Consent', 'Patient']);
    expect([...(types.get('Observation')?.interactions ?? [])].sort()).toEqual(
      ['history-instance', 'read', 'search-type', 'vread'].sort()
    );
    expect([...(types.get('Observation')?.roles ?? [])]).toEqual(['Owner', 'EHR']);
    expect([...(types.get('Consent')?.interactions ?? [])].sort()).toEqual(['create', 'read', 'update']);
  });

  test('an entry naming no interaction is offered as Medplum grants it: everything, or reads when readonly', () => {
    const types = offeredTypes([
      { key: 'k', name: 'K', resource: [{ resourceType: 'Flag' }, { resourceType: 'Device', readonly: true }] },
    ]);
    expect(types.get('Flag')?.interactions.size).toBe(7);
    expect([...(types.get('Device')?.interactions ?? [])]).toEqual([
      'read',
      'vread',
      'history-instance',
      'search-type',
    ]);
  });
});

describe('r4SearchParam', () => {
  test('takes the definition and type from R4', () => {
    expect(r4SearchParam('Observation', 'component-code')).toEqual({
      name: 'component-code',
      definition: 'http://hl7.org/fhir/SearchParameter/Observation-component-code',
      type: 'token',
    });
    expect(r4SearchParam('Patient', '_id').type).toBe('token');
  });

  test('refuses a name R4 does not define for the type', () => {
    expect(() => r4SearchParam('Observation', 'metric')).toThrow(/no search parameter 'metric' on Observation/);
    expect(() => r4SearchParam('Device', 'component-code')).toThrow(/on Device/);
  });
});

describe('capabilityStatement', () => {
  const cs = capabilityStatement({
    version: '1.2.3',
    date: '2026-12-01T00:00:00.000Z',
    canonical: 'https://example.org/fhir',
    policies: POLICIES,
    profiles: [profile('b-obs', 'Observation'), profile('a-obs', 'Observation'), profile('pat', 'Patient')],
    serverBase: 'https://medplum.test/',
  });
  const byType = new Map<string, CapabilityStatementRestResource>(
    (cs.rest?.[0]?.resource ?? []).map((r) => [r.type, r])
  );

  test('is a software statement (cpb-15) pointing at the guide', () => {
    expect(cs).toMatchObject({
      kind: 'capability',
      software: { name: 'Baseline', version: '1.2.3' },
      url: 'https://example.org/fhir/CapabilityStatement/baseline-server',
      implementationGuide: ['https://example.org/fhir/ImplementationGuide/baseline.health.fhir'],
    });
    expect(cs.implementation).toBeUndefined();
  });

  test('offers the Observation profiles and every search Baseline makes', () => {
    const observation = byType.get('Observation');
    expect(observation?.supportedProfile).toEqual([
      'https://example.org/fhir/StructureDefinition/a-obs',
      'https://example.org/fhir/StructureDefinition/b-obs',
    ]);
    expect(observation?.searchParam?.map((p) => p.name)).toEqual([...OBSERVATION_SEARCH_PARAMS]);
    expect(observation?.interaction?.map((i) => i.code)).toEqual(['read', 'vread', 'history-instance', 'search-type']);
  });

  test('a type without search gets no search parameters; Patient gets $everything', () => {
    expect(byType.get('Consent')?.searchParam).toBeUndefined();
    expect(byType.get('Patient')?.searchParam?.map((p) => p.name)).toEqual(['_id', 'identifier']);
    expect(byType.get('Patient')?.operation?.[0]?.name).toBe('everything');
    expect(byType.has('Bot')).toBe(false);
    expect(byType.has('SmartAppLaunch')).toBe(false);
  });

  test('declares SMART with the oauth endpoints under the given server base', () => {
    const security = cs.rest?.[0]?.security;
    expect(security?.service?.[0]?.coding?.[0]?.code).toBe('SMART-on-FHIR');
    expect(security?.extension?.[0]?.extension).toEqual([
      { url: 'authorize', valueUri: 'https://medplum.test/oauth2/authorize' },
      { url: 'token', valueUri: 'https://medplum.test/oauth2/token' },
    ]);
  });
});
