import type { MedplumClient } from '@medplum/core';
import type { Bundle, BundleEntry, Observation } from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadBaseDefinitions } from '../../scripts/local-stack/fhir/schema.ts';
import { identifierQuery, summarizeFailures, upsertByIdentifier } from './fhir-batch.ts';

const SYSTEM = 'https://baseline.health/fhir/identifier/whoop/sleep';

function observation(value: string, quantity: number, status: Observation['status'] = 'final'): Observation {
  return {
    resourceType: 'Observation',
    status,
    code: { text: 'test' },
    identifier: [{ system: SYSTEM, value }],
    valueQuantity: { value: quantity },
  };
}

function item(value: string, quantity: number, status?: Observation['status']) {
  return { resource: observation(value, quantity, status), identifier: { system: SYSTEM, value } };
}

beforeAll(() => {
  // Conditional PUT needs the identifier search parameter indexed, as the real server has it.
  loadBaseDefinitions();
});

describe('upsertByIdentifier against MockClient', () => {
  test('creates, then updates the same identifiers instead of duplicating them', async () => {
    const medplum = new MockClient();
    const first = await upsertByIdentifier(medplum, [item('u:1:a', 1), item('u:1:b', 2), item('u:1:c', 3)], {
      chunkSize: 2,
    });
    expect(first).toEqual({ created: 3, updated: 0, unchanged: 0, failures: [] });

    const second = await upsertByIdentifier(medplum, [item('u:1:a', 10), item('u:1:b', 2)]);
    expect(second.created).toBe(0);
    expect(second.failures).toEqual([]);
    // MockClient's memory repository versions even identical writes; the real server reports those as unchanged.
    expect(second.updated + second.unchanged).toBe(2);

    const stored = await medplum.searchResources('Observation', identifierQuery({ system: SYSTEM, value: 'u:1:a' }));
    expect(stored).toHaveLength(1);
    expect(stored[0]?.valueQuantity?.value).toBe(10);
    const all = await medplum.searchResources('Observation', { identifier: `${SYSTEM}|` + 'u:1:b' });
    expect(all).toHaveLength(1);
  });

  test('duplicate identifiers in one call are written once, last wins', async () => {
    const medplum = new MockClient();
    const result = await upsertByIdentifier(medplum, [item('u:2:a', 1), item('u:2:a', 5)]);
    expect(result.created).toBe(1);
    const stored = await medplum.searchResources('Observation', identifierQuery({ system: SYSTEM, value: 'u:2:a' }));
    expect(stored.map((o) => o.valueQuantity?.value)).toEqual([5]);
  });

  test('a resource that does not carry its identifier is refused before any write', async () => {
    const medplum = new MockClient();
    await expect(
      upsertByIdentifier(medplum, [
        { resource: observation('u:3:a', 1), identifier: { system: SYSTEM, value: 'other' } },
      ])
    ).rejects.toThrow(`Observation for ${SYSTEM}|other does not carry that identifier`);
  });

  test('chunkSize must be a positive integer', async () => {
    await expect(upsertByIdentifier(new MockClient(), [], { chunkSize: 0 })).rejects.toThrow(
      'chunkSize must be a positive integer, got 0'
    );
  });
});

/** A client that answers with a scripted batch-response, to exercise each status classification. */
function scripted(entries: (BundleEntry | undefined)[], sent: Bundle[] = []): Pick<MedplumClient, 'executeBatch'> {
  return {
    executeBatch: async (bundle: Bundle) => {
      sent.push(bundle);
      return { resourceType: 'Bundle', type: 'batch-response', entry: entries as BundleEntry[] };
    },
  } as Pick<MedplumClient, 'executeBatch'>;
}

describe('upsertByIdentifier classification', () => {
  const sentAt = Date.parse('2026-11-21T12:00:00.000Z');

  test('201 created; 200 older than the batch unchanged; 200 newer updated; non-2xx failures', async () => {
    const sent: Bundle[] = [];
    const client = scripted(
      [
        { response: { status: '201 Created' } },
        { response: { status: '200', lastModified: '2026-11-20T08:00:00.000Z' } },
        {
          response: { status: '200' },
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: {},
            meta: { lastUpdated: '2026-11-21T12:00:00.005Z' },
          },
        },
        {
          response: {
            status: '400',
            outcome: {
              resourceType: 'OperationOutcome',
              issue: [{ severity: 'error', code: 'invalid', details: { text: 'Invalid value' } }],
            },
          },
        },
        undefined,
      ],
      sent
    );
    const result = await upsertByIdentifier(
      client,
      ['a', 'b', 'c', 'd', 'e'].map((v) => item(v, 1)),
      { now: () => sentAt }
    );
    expect(result).toEqual({
      created: 1,
      unchanged: 1,
      updated: 1,
      failures: [
        { identifier: { system: SYSTEM, value: 'd' }, status: '400', message: 'Invalid value' },
        { identifier: { system: SYSTEM, value: 'e' }, status: 'missing', message: 'no outcome' },
      ],
    });
    expect(sent[0]?.type).toBe('batch');
    expect(sent[0]?.entry?.[0]?.request).toEqual({
      method: 'PUT',
      url: `Observation?identifier=${encodeURIComponent(`${SYSTEM}|a`)}`,
    });
    expect(summarizeFailures(result)).toBe('2 of 5 writes failed: 400 d: Invalid value; missing e: no outcome');
  });
});
