/** Every page of a search (the bots' small result sets: a connection's Tasks, one record's Observations). */
import type { MedplumClient, WithId } from '@medplum/core';
import type { ExtractResource, ResourceType } from '@medplum/fhirtypes';

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
