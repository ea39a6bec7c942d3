/**
 * How the insight components (Trends, narratives, alerts) fetch records, so the same components serve the owner and
 * a clinician:
 *
 * - the owner's pages use `directReader`: plain searches, exactly as before;
 * - the clinician view provides `auditedReader` through `RecordReaderContext` (clinician-context.ts): each search
 *   asks for ids only, and the records are then read by id in batch GET Bundles (≤ 100 entries each, all the
 *   searches of one load in one batch), because Medplum writes an AuditEvent for a read but not for a search, and
 *   the owner's access log is built from those AuditEvents (bots/sharing/access-log.ts).
 *
 * Either way the requests go out with the signed-in user's own token: nothing reads on anyone's behalf.
 */
import { getStatus, isOperationOutcome, OperationOutcomeError } from '@medplum/core';
import type { MedplumClient } from '@medplum/core';
import type { Bundle, Consent, Patient, Resource, ResourceType } from '@medplum/fhirtypes';
import { SHARE_CATEGORY_TOKEN } from '../../../bots/sharing/grants.ts';
import {
  AccessEndedError,
  batchReadBundles,
  idOnlyQuery,
  readBatchResponses,
  referencesOf,
  sharedOwners,
} from './clinician.ts';
import type { SharedOwner } from './clinician.ts';

export interface SearchRequest {
  readonly resourceType: ResourceType;
  readonly query: URLSearchParams | Record<string, string> | string;
  /** Follow `next` links up to this many pages; absent: the first page only. */
  readonly maxPages?: number;
}

export interface SearchResult {
  readonly resources: Resource[];
  /** True when the page cap cut the result short. */
  readonly truncated: boolean;
}

export interface RecordReader {
  /**
   * Runs the searches together.
   * @param requests - the searches.
   * @returns One result per request, in order.
   */
  searchAll(requests: readonly SearchRequest[]): Promise<SearchResult[]>;
}

async function pagedSearch(
  medplum: MedplumClient,
  request: SearchRequest,
  query: URLSearchParams | Record<string, string> | string
): Promise<SearchResult> {
  if (request.maxPages === undefined) {
    // MedplumClient caches GETs; a recompute may have replaced a record since the last visit.
    const resources = await medplum.searchResources(request.resourceType, query, { cache: 'no-cache' });
    return { resources: [...resources], truncated: false };
  }
  const resources: Resource[] = [];
  let pages = 0;
  for await (const page of medplum.searchResourcePages(request.resourceType, query, { cache: 'no-cache' })) {
    if (pages === request.maxPages) {
      return { resources, truncated: true };
    }
    resources.push(...page);
    pages++;
  }
  return { resources, truncated: false };
}

/**
 * The owner's reader: the searches themselves.
 * @param medplum - the signed-in client.
 * @returns The reader.
 */
export function directReader(medplum: MedplumClient): RecordReader {
  return {
    searchAll: (requests) => Promise.all(requests.map((r) => pagedSearch(medplum, r, r.query))),
  };
}

function isForbidden(err: unknown): boolean {
  const outcome = err instanceof OperationOutcomeError ? err.outcome : isOperationOutcome(err) ? err : undefined;
  return outcome ? getStatus(outcome) === 403 || getStatus(outcome) === 401 : false;
}

/**
 * The clinician's reader: id-only searches, then one batch read (per 100 records) of everything they found.
 * @param medplum - the clinician's client.
 * @returns The reader.
 */
export function auditedReader(medplum: MedplumClient): RecordReader {
  return {
    async searchAll(requests) {
      const found = await Promise.all(
        requests.map(async (r) => {
          const ids = await pagedSearch(medplum, r, idOnlyQuery(r.query)).catch((err: unknown) => {
            // A type outside the clinician's policy is refused as a whole (403), which for them means no grant.
            throw isForbidden(err) ? new AccessEndedError() : err;
          });
          const bundle: Bundle = {
            resourceType: 'Bundle',
            type: 'searchset',
            entry: ids.resources.map((resource) => ({ resource })),
          };
          return { references: referencesOf(bundle, r.resourceType), truncated: ids.truncated };
        })
      );
      const bundles = batchReadBundles(found.flatMap((f) => f.references));
      const responses = await Promise.all(bundles.map((b) => medplum.executeBatch(b)));
      const records = readBatchResponses(bundles, responses);
      return found.map((f) => ({
        resources: f.references.flatMap((ref) => {
          const record = records.get(ref);
          return record ? [record] : [];
        }),
        truncated: f.truncated,
      }));
    },
  };
}

/**
 * The owners who shared with the signed-in clinician (one of them, with `patientId`), with their grants: two
 * searches (Patients, share Consents), through the reader, with the clinician's own token, so the answer is exactly
 * what their access allows.
 * @param reader - the clinician's reader.
 * @param patientId - one owner, or undefined for all.
 * @param now - the current time (a grant past its end is not shown, even before the reconciler ends it).
 * @returns The owners with a grant in force.
 */
export async function loadSharedOwners(
  reader: RecordReader,
  patientId: string | undefined,
  now: Date = new Date()
): Promise<SharedOwner[]> {
  const category = SHARE_CATEGORY_TOKEN;
  const searches = reader.searchAll([
    { resourceType: 'Patient', query: patientId ? { _id: patientId } : { _count: '100' } },
    {
      resourceType: 'Consent',
      query: patientId
        ? { patient: `Patient/${patientId}`, category, status: 'active' }
        : { category, status: 'active', _count: '100' },
    },
  ]);
  // With no grant at all Patient and Consent are outside the clinician's policy and refused: nobody shared.
  const [patients, consents] = await searches.catch((err: unknown) => {
    if (err instanceof AccessEndedError) {
      return [];
    }
    throw err;
  });
  return sharedOwners(
    (patients?.resources ?? []).filter((r): r is Patient => r.resourceType === 'Patient'),
    (consents?.resources ?? []).filter((r): r is Consent => r.resourceType === 'Consent'),
    now
  );
}
