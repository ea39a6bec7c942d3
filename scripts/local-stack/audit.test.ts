import { OperationOutcomeError, preconditionFailed } from '@medplum/core';
import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  buildRestAuditEvent,
  clientAddress,
  currentRequest,
  DURATION_EXTENSION_URL,
  isPersistedSubject,
  runInRequest,
  TRACING_EXTENSION_URL,
} from './audit.ts';

const observation: Observation = {
  resourceType: 'Observation',
  id: '6f1c3f0e-94f5-4c2a-9a52-6e7b5f6a1d01',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
};

describe('isPersistedSubject (repo.ts logEvent: isResource && not an AuditEvent)', () => {
  test('a resource is stored; a Reference, a { type } placeholder, nothing, or an AuditEvent is not', () => {
    expect(isPersistedSubject(observation)).toBe(true);
    expect(isPersistedSubject({ reference: 'Observation/1' })).toBe(false);
    expect(isPersistedSubject({ reference: 'Observation/1/_history/2' })).toBe(false);
    expect(isPersistedSubject({ type: 'Observation' })).toBe(false);
    expect(isPersistedSubject(undefined)).toBe(false);
    expect(isPersistedSubject({ resourceType: 'AuditEvent', id: 'x' })).toBe(false);
  });
});

describe('buildRestAuditEvent (auditevent.ts createAuditEvent)', () => {
  const base = {
    projectId: 'p1',
    author: { reference: 'Practitioner/pr1', display: 'Jordan Lee' },
    baseUrl: 'http://127.0.0.1:8103/',
  };

  test('a successful read: rest/read, action R, outcome 0, the resource as createReference, no outcomeDesc', () => {
    const event = buildRestAuditEvent({
      ...base,
      interaction: 'read',
      outcome: '0',
      subject: observation,
      remoteAddress: '127.0.0.1',
      request: { requestId: 'r1', traceId: 't1' },
      durationMs: 3,
      recorded: '2026-01-01T00:00:00.000Z',
    });
    expect(event).toEqual({
      resourceType: 'AuditEvent',
      meta: { project: 'p1' },
      type: {
        system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
        code: 'rest',
        display: 'Restful Operation',
      },
      subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: 'read', display: 'read' }],
      action: 'R',
      recorded: '2026-01-01T00:00:00.000Z',
      source: { observer: { identifier: { value: 'http://127.0.0.1:8103/' } } },
      agent: [
        {
          who: { reference: 'Practitioner/pr1', display: 'Jordan Lee' },
          requestor: true,
          network: { address: '127.0.0.1', type: '2' },
        },
      ],
      outcome: '0',
      entity: [{ what: { reference: `Observation/${observation.id}`, display: 'Heart rate' } }],
      extension: [
        {
          url: TRACING_EXTENSION_URL,
          extension: [
            { url: 'requestId', valueId: 'r1' },
            { url: 'traceId', valueId: 't1' },
          ],
        },
        { url: DURATION_EXTENSION_URL, valueInteger: 3 },
      ],
    });
  });

  test('actions per interaction, the failure text, and no network/duration/tracing when absent', () => {
    const actions = (['create', 'read', 'vread', 'history', 'update', 'patch', 'delete', 'search'] as const).map(
      (interaction) => buildRestAuditEvent({ ...base, interaction, outcome: '0', subject: undefined }).action
    );
    expect(actions).toEqual(['C', 'R', 'R', 'R', 'U', 'U', 'D', 'R']);
    const failed = buildRestAuditEvent({
      ...base,
      interaction: 'update',
      outcome: '4',
      subject: observation,
      error: new OperationOutcomeError(preconditionFailed),
      durationMs: 0,
    });
    expect(failed.outcome).toBe('4');
    expect(failed.outcomeDesc).toBe('Precondition Failed');
    expect(failed.agent?.[0]?.network).toBeUndefined();
    expect(failed.extension).toBeUndefined();
  });

  test('redactAuditEvents drops display from who and what', () => {
    const event = buildRestAuditEvent({
      ...base,
      interaction: 'read',
      outcome: '0',
      subject: observation,
      redact: true,
    });
    expect(event.agent?.[0]?.who?.display).toBeUndefined();
    expect(event.entity?.[0]?.what).toEqual({ reference: `Observation/${observation.id}`, display: undefined });
  });
});

describe('request context', () => {
  test('clientAddress follows Express req.ip with trust proxy 1 (the nearest X-Forwarded-For hop)', () => {
    expect(clientAddress('127.0.0.1', undefined)).toBe('127.0.0.1');
    expect(clientAddress('127.0.0.1', '203.0.113.9, 10.0.0.2')).toBe('10.0.0.2');
    expect(clientAddress(undefined, undefined)).toBe('');
  });

  test('runInRequest makes the request visible across awaits, and only inside', async () => {
    expect(currentRequest()).toBeUndefined();
    const seen = await runInRequest({ requestId: 'a', traceId: 'b' }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return currentRequest();
    });
    expect(seen).toEqual({ requestId: 'a', traceId: 'b' });
    expect(currentRequest()).toBeUndefined();
  });
});
