/**
 * Shared fixtures for the data layer's tests: an in-memory store with a system repository, and a way to drive
 * requests through @medplum/fhir-router exactly as the HTTP layer does.
 */
import { randomUUID } from 'node:crypto';
import { getStatus } from '@medplum/core';
import { FhirRouter } from '@medplum/fhir-router';
import type { HttpMethod } from '@medplum/fhir-router';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { RepoContext } from './repo.ts';
import { LocalRepository } from './repo.ts';
import { ResourceStore } from './store.ts';

export interface Fixture {
  store: ResourceStore;
  project: string;
  system: LocalRepository;
  repo: (ctx: Partial<RepoContext>) => LocalRepository;
}

/**
 * @param dataDir - Optional journal directory.
 * @returns A fresh store with an extended-mode system repository for one project.
 */
export async function createFixture(dataDir?: string): Promise<Fixture> {
  const store = await ResourceStore.open(dataDir === undefined ? {} : { dataDir });
  const project = randomUUID();
  const system = new LocalRepository(store, { project, author: { reference: 'system' }, extendedMode: true });
  return {
    store,
    project,
    system,
    repo: (ctx) => new LocalRepository(store, { project, author: { reference: 'Practitioner/tester' }, ...ctx }),
  };
}

const router = new FhirRouter();

export interface RouterResult<T extends Resource = Resource> {
  status: number;
  outcome: OperationOutcome;
  resource: T | undefined;
}

/**
 * Sends one request through FhirRouter (transactions enabled, as with the `transaction-bundles` feature).
 * @param repo - The caller's repository.
 * @param method - HTTP method.
 * @param url - Path below /fhir/R4/, with query string.
 * @param body - Request body.
 * @param headers - Request headers (lower-case names).
 * @returns Status, outcome and resource.
 */
export async function request<T extends Resource = Resource>(
  repo: LocalRepository,
  method: HttpMethod,
  url: string,
  body?: unknown,
  headers?: Record<string, string>
): Promise<RouterResult<T>> {
  const [outcome, resource] = await router.handleRequest(
    { method, url, pathname: '', body, params: {}, query: {}, headers, config: { transactions: true } },
    repo
  );
  return { status: getStatus(outcome), outcome, resource: resource as T | undefined };
}

/** @returns The first issue's text, which is what Medplum clients show. */
export function issueText(outcome: OperationOutcome): string | undefined {
  return outcome.issue?.[0]?.details?.text;
}
