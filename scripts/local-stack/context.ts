/**
 * What every part of the local stack shares: the store, the signing keys, the FHIR router and a system repository
 * for the single Baseline project. Medplum has many projects; the stand-in hosts one, which is all Baseline needs.
 */
import type { FhirRouter } from '@medplum/fhir-router';
import type { AccessPolicy, Login, Project, ProjectMembership, Reference, Resource } from '@medplum/fhirtypes';
import type { WithId } from '@medplum/core';
import type { JwtKeys } from './jwt.ts';
import type { LocalRepository, ResourceStore } from './fhir/index.ts';

export interface StackContext {
  baseUrl: string;
  store: ResourceStore;
  keys: JwtKeys;
  router: FhirRouter;
  projectId: string;
  /** Unchecked repository for the stack's own bookkeeping (logins, memberships, bot runs). */
  system: LocalRepository;
  log: (message: string, data?: Record<string, unknown>) => void;
  /** Request counters, for benchmarks (e.g. FHIR requests per Observation written). */
  stats: StackStats;
}

export interface StackStats {
  /** Every request under /fhir/R4 (a batch Bundle counts once). */
  fhirRequests: number;
  botRuns: number;
  webhookRequests: number;
}

/** The caller of one authenticated request, resolved from its bearer token on every request (as Medplum does). */
export interface Caller {
  login: WithId<Login>;
  membership: WithId<ProjectMembership>;
  project: WithId<Project>;
  profile: Reference;
  accessPolicy: AccessPolicy;
  repo: LocalRepository;
}

export type AnyResource = WithId<Resource>;
