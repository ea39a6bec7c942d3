/**
 * What every part of the local stack shares: the store, the signing keys, the FHIR router and a system repository
 * for the single Baseline project. Medplum has many projects; the stand-in hosts one, which is all Baseline needs.
 */
import type { FhirRouter } from '@medplum/fhir-router';
import type { AccessPolicy, Login, Project, ProjectMembership, Reference, Resource } from '@medplum/fhirtypes';
import type { WithId } from '@medplum/core';
import type { JwtKeys } from './jwt.ts';
import type { LocalRepository, ResourceStore } from './fhir/index.ts';
import type { FhirRateLimiter, QuotaLedger, RequestRateLimiter } from './quota.ts';
import type { SerializationConflicts } from './conflicts.ts';

/** Which Medplum release the stand-in imitates where their behaviour differs (see README "Server versions"). */
export type MedplumVersion = '5.0' | '5.2';

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
  medplumVersion: MedplumVersion;
  /** The server's `defaultFhirQuota` (per membership per minute unless the project overrides it). */
  defaultFhirQuota: number;
  /** FHIR quota windows per membership and per project. */
  quota: QuotaLedger;
  /** Per-IP request limiter (Medplum's `"requests"` RateLimit). */
  requestLimiter: RequestRateLimiter;
  /** The server's `saveAuditEvents`: persist an AuditEvent per interaction of a non-system author (see audit.ts). */
  saveAuditEvents: boolean;
  /** Armed serialization failures (conflicts.ts): off unless a test arms them. */
  conflicts: SerializationConflicts;
}

export interface StackStats {
  /** Every request under /fhir/R4 (a batch Bundle counts once). */
  fhirRequests: number;
  botRuns: number;
  webhookRequests: number;
  /** FHIR quota points spent per membership id (refused attempts included, as Medplum counts them). */
  quotaPoints: Record<string, number>;
  /**
   * Per-interaction AuditEvents (saveAuditEvents): stored, and refused because the caller's policy does not let it
   * create them (Medplum then only logs the error).
   */
  auditEvents: { stored: number; refused: number };
}

/** The caller of one authenticated request, resolved from its bearer token on every request (as Medplum does). */
export interface Caller {
  login: WithId<Login>;
  membership: WithId<ProjectMembership>;
  project: WithId<Project>;
  profile: Reference;
  accessPolicy: AccessPolicy;
  repo: LocalRepository;
  /** This request's FHIR quota limiter (undefined for super admins, whom Medplum exempts). */
  rateLimiter?: FhirRateLimiter;
}

export type AnyResource = WithId<Resource>;
