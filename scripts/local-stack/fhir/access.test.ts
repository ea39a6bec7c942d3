import type { AccessPolicy, ProjectMembership, Reference } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { buildAccessPolicy } from './access.ts';

const PROJECT = '11111111-1111-4111-8111-111111111111';
const PATIENT_A = 'Patient/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const CLINICIAN = 'Practitioner/cccccccc-cccc-4ccc-8ccc-cccccccccccc';

const policies: Record<string, AccessPolicy> = {
  'AccessPolicy/shared': {
    resourceType: 'AccessPolicy',
    resource: [
      { resourceType: 'Patient', criteria: 'Patient?_id=%patient.id', interaction: ['read', 'search'] },
      { resourceType: 'Observation', criteria: 'Observation?_compartment=%patient' },
    ],
  },
  'AccessPolicy/base': {
    resourceType: 'AccessPolicy',
    compartment: { reference: '%profile' },
    resource: [
      { resourceType: 'Practitioner', criteria: 'Practitioner?_id=%profile.id', readonly: true },
      { resourceType: 'ProjectMembership' },
      { resourceType: 'Task', criteria: 'Task?code=%code' },
    ],
  },
};

function read(ref: Reference<AccessPolicy>): AccessPolicy | undefined {
  const policy = policies[ref.reference ?? ''];
  return policy ? structuredClone(policy) : undefined;
}

function membership(extra: Partial<ProjectMembership>): ProjectMembership {
  return {
    resourceType: 'ProjectMembership',
    project: { reference: `Project/${PROJECT}` },
    user: { reference: 'User/u1' },
    profile: { reference: CLINICIAN },
    ...extra,
  };
}

describe('buildAccessPolicy', () => {
  test('substitutes %name.id before %name, from valueReference, in every access entry (union)', () => {
    const policy = buildAccessPolicy(
      membership({
        access: [
          {
            policy: { reference: 'AccessPolicy/shared' },
            parameter: [{ name: 'patient', valueReference: { reference: PATIENT_A } }],
          },
          {
            policy: { reference: 'AccessPolicy/shared' },
            parameter: [
              { name: 'patient', valueReference: { reference: 'Patient/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' } },
            ],
          },
        ],
      }),
      read
    );
    expect(policy.resource.filter((r) => r.resourceType === 'Patient').map((r) => r.criteria)).toEqual([
      'Patient?_id=aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
      'Patient?_id=bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
    ]);
    expect(policy.resource.filter((r) => r.resourceType === 'Observation').map((r) => r.criteria)).toEqual([
      `Observation?_compartment=${PATIENT_A}`,
      'Observation?_compartment=Patient/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
    ]);
  });

  test('%patient defaults to the profile; %profile and valueString parameters are substituted', () => {
    const policy = buildAccessPolicy(
      membership({
        accessPolicy: { reference: 'AccessPolicy/base' },
        access: [{ policy: { reference: 'AccessPolicy/shared' } }],
      }),
      read
    );
    expect(policy.resource.find((r) => r.resourceType === 'Observation')?.criteria).toBe(
      `Observation?_compartment=${CLINICIAN}`
    );
    expect(policy.resource.find((r) => r.resourceType === 'Practitioner')?.criteria).toBe(
      'Practitioner?_id=cccccccc-cccc-4ccc-8ccc-cccccccccccc'
    );
    expect(policy.compartment).toEqual({ reference: CLINICIAN });

    const withCode = buildAccessPolicy(
      membership({
        access: [{ policy: { reference: 'AccessPolicy/base' }, parameter: [{ name: 'code', valueString: 'sync' }] }],
      }),
      read
    );
    expect(withCode.resource.find((r) => r.resourceType === 'Task')?.criteria).toBe('Task?code=sync');
  });

  test('deprecated readonly entries become read/vread/history/search', () => {
    const policy = buildAccessPolicy(membership({ accessPolicy: { reference: 'AccessPolicy/base' } }), read);
    expect(policy.resource.find((r) => r.resourceType === 'Practitioner')?.interaction).toEqual([
      'search',
      'read',
      'history',
      'vread',
    ]);
  });

  test('a membership without any policy gets the legacy wildcard', () => {
    const policy = buildAccessPolicy(membership({}), read);
    expect(policy.resource.map((r) => r.resourceType)).toEqual(['*', 'SearchParameter', 'StructureDefinition']);
  });

  test('SearchParameter and StructureDefinition are always readable', () => {
    const policy = buildAccessPolicy(membership({ access: [{ policy: { reference: 'AccessPolicy/shared' } }] }), read);
    expect(policy.resource.filter((r) => r.resourceType === 'StructureDefinition')).toEqual([
      { resourceType: 'StructureDefinition', readonly: true },
    ]);
    expect(policy.resource.some((r) => r.resourceType === 'SearchParameter')).toBe(true);
  });

  test('non-admins lose every project-admin entry', () => {
    const policy = buildAccessPolicy(membership({ accessPolicy: { reference: 'AccessPolicy/base' } }), read);
    expect(policy.resource.some((r) => r.resourceType === 'ProjectMembership')).toBe(false);
    expect(policy.resource.some((r) => r.resourceType === 'Project')).toBe(false);
  });

  test('admins get Medplum fixed admin entries instead of their own', () => {
    const policy = buildAccessPolicy(
      membership({ admin: true, accessPolicy: { reference: 'AccessPolicy/base' } }),
      read
    );
    const memberships = policy.resource.filter((r) => r.resourceType === 'ProjectMembership');
    expect(memberships).toEqual([
      {
        resourceType: 'ProjectMembership',
        criteria: `ProjectMembership?_project=${PROJECT}`,
        readonlyFields: ['project', 'user'],
      },
    ]);
    const ownProject = policy.resource.find((r) => r.resourceType === 'Project' && r.criteria);
    expect(ownProject?.criteria).toBe(`Project?_id=${PROJECT}`);
    expect(ownProject?.readonlyFields).toEqual(['features', 'link', 'systemSetting']);
    expect(ownProject?.interaction).not.toContain('delete');
    expect(policy.resource.find((r) => r.resourceType === 'User')?.hiddenFields).toEqual(['passwordHash', 'mfaSecret']);
  });

  test('a missing policy fails with Medplum message', () => {
    expect(() => buildAccessPolicy(membership({ accessPolicy: { reference: 'AccessPolicy/missing' } }), read)).toThrow(
      'Cannot authenticate: Invalid access policy configuration. Please contact your administrator to update your project membership.'
    );
  });

  test('an access entry without a policy reference fails', () => {
    expect(() => buildAccessPolicy(membership({ access: [{ policy: {} }] }), read)).toThrow(
      'Access policy reference is required'
    );
  });

  test('the membership itself is not modified', () => {
    const input = membership({
      access: [
        {
          policy: { reference: 'AccessPolicy/shared' },
          parameter: [{ name: 'patient', valueReference: { reference: PATIENT_A } }],
        },
      ],
    });
    const before = structuredClone(input);
    buildAccessPolicy(input, read);
    expect(input).toEqual(before);
  });
});
