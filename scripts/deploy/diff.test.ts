import type { AccessPolicy, Bot, ClientApplication } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { normalize, reconcile, sameValue } from './diff.ts';

const TAG = { system: 'https://baseline.health/fhir/identifier/access-policy', code: 'ehr-client' };

describe('normalize / sameValue', () => {
  test('absent, undefined, null and empty values are the same', () => {
    expect(sameValue({ a: 1, b: undefined, c: [], d: {}, e: '' }, { a: 1 })).toBe(true);
    expect(normalize({ a: [{}, null] })).toBeUndefined();
  });

  test('key order does not matter, array order does', () => {
    expect(sameValue({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(sameValue(['x', 'y'], ['y', 'x'])).toBe(false);
    expect(sameValue(false, undefined)).toBe(false);
  });
});

describe('reconcile', () => {
  const desired: AccessPolicy = {
    resourceType: 'AccessPolicy',
    meta: { tag: [TAG] },
    name: 'EHR',
    resource: [{ resourceType: 'Patient', interaction: ['read'] }],
  };

  test('nothing on the server: create the desired resource as is', () => {
    expect(reconcile(undefined, desired, { preserve: [] })).toEqual({ action: 'create', next: desired });
  });

  test('server copy with only server-managed differences is unchanged', () => {
    const existing: AccessPolicy = {
      ...desired,
      id: 'p1',
      meta: { versionId: '7', lastUpdated: '2026-01-01T00:00:00Z', author: { reference: 'x' }, tag: [TAG] },
    };
    const result = reconcile(existing, desired, { preserve: [] });
    expect(result.action).toBe('unchanged');
    expect(result.next).toEqual(existing);
  });

  test('changed and extra fields are reported by name and the server-only field is dropped', () => {
    const existing: AccessPolicy = {
      id: 'p1',
      resourceType: 'AccessPolicy',
      meta: { versionId: '1', tag: [TAG] },
      name: 'Old',
      resource: desired.resource,
      compartment: { reference: 'Patient/x' },
    };
    const result = reconcile(existing, desired, { preserve: [] });
    expect(result).toEqual({
      action: 'update',
      changes: ['compartment', 'name'],
      next: { ...desired, id: 'p1', meta: { versionId: '1', tag: [TAG] } },
    });
  });

  test('a missing identity tag is added next to foreign tags', () => {
    const foreign = { system: 'https://example.org/tags', code: 'keep' };
    const existing: AccessPolicy = { ...desired, id: 'p1', meta: { tag: [foreign] } };
    const result = reconcile(existing, desired, { preserve: [] });
    expect(result.action).toBe('update');
    expect(result.action === 'update' && result.changes).toEqual(['meta.tag']);
    expect(result.next.meta?.tag).toEqual([foreign, TAG]);
  });

  test('preserved fields (the generated secret) are carried over and never compared', () => {
    const wanted: ClientApplication = { resourceType: 'ClientApplication', name: 'EHR' };
    const existing: ClientApplication = { resourceType: 'ClientApplication', id: 'c1', name: 'EHR', secret: 's3cret' };
    const result = reconcile(existing, wanted, { preserve: ['secret', 'retiringSecret'] });
    expect(result).toEqual({ action: 'unchanged', next: existing });
  });

  test('with owned fields, only those are compared and everything else is kept', () => {
    const wanted: Bot = { resourceType: 'Bot', name: 'hello', description: 'new', runtimeVersion: 'vmcontext' };
    const existing: Bot = {
      resourceType: 'Bot',
      id: 'b1',
      name: 'hello',
      description: 'old',
      runtimeVersion: 'vmcontext',
      cronString: '* * * * *',
      executableCode: { title: 'hello-abc.js' },
      auditEventTrigger: 'on-error',
    };
    const result = reconcile(existing, wanted, { own: ['name', 'description', 'runtimeVersion', 'cronString'] });
    expect(result.action === 'update' && result.changes).toEqual(['cronString', 'description']);
    expect(result.next).toEqual({
      resourceType: 'Bot',
      id: 'b1',
      name: 'hello',
      description: 'new',
      runtimeVersion: 'vmcontext',
      executableCode: { title: 'hello-abc.js' },
      auditEventTrigger: 'on-error',
    });
  });
});
