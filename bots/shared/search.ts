/** Searches over every page: the bots' small result sets, and an owner's whole record by cursor. */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Bundle, ExtractResource, ResourceType } from '@medplum/fhirtypes';
import { QUOTA_POINTS } from './quota.ts';
import type { QuotaPacer } from './quota.ts';

/** Every page of a small search (a connection's Tasks, one record's Observations). */
export async function searchAll<K extends ResourceType>(
  medplum: MedplumClient,
  resourceType: K,
  query: Record<string, string>
): Promise<WithId<ExtractResource<K>>[]> {
  const out: WithId<ExtractResource<K>>[] = [];
  for await (const page of medplum.searchResourcePages(resourceType, query, { cache: 'no-cache' })) {
    out.push(...page);
  }
  return out;
}

/**
 * Every page of a large search, under the FHIR quota: sorted by `_lastUpdated` so Medplum pages by cursor (`_cursor`
 * in the `next` link). Paging by `_offset` stops at Medplum's `maxSearchOffset` (10,000 by default: "Search offset
 * exceeds maximum"), which an owner's Observations pass within a few years.
 * @param medplum - client
 * @param pacer - each page is paid for as one search
 * @param resourceType - type
 * @param query - search parameters (without _sort)
 * @param count - page size
 */
export async function searchByCursor<K extends ResourceType>(
  medplum: MedplumClient,
  pacer: QuotaPacer,
  resourceType: K,
  query: Record<string, string>,
  count = 1000
): Promise<{ resources: WithId<ExtractResource<K>>[]; requests: number }> {
  const resources: WithId<ExtractResource<K>>[] = [];
  let requests = 1;
  let bundle: Bundle<WithId<ExtractResource<K>>> = await pacer.run(QUOTA_POINTS.search, () =>
    medplum.search(resourceType, { ...query, _sort: '_lastUpdated', _count: String(count) }, { cache: 'no-cache' })
  );
  for (;;) {
    for (const entry of bundle.entry ?? []) {
      if (entry.resource) {
        resources.push(entry.resource);
      }
    }
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    if (!next) {
      return { resources, requests };
    }
    requests++;
    bundle = await pacer.run(QUOTA_POINTS.search, () =>
      medplum.get<Bundle<WithId<ExtractResource<K>>>>(next, { cache: 'no-cache' })
    );
  }
}
