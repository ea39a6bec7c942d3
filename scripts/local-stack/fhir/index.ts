/**
 * The local stack's FHIR data layer: an indexed, journaled in-memory store and a Medplum-compatible repository
 * (AccessPolicy enforcement, meta bookkeeping, validation) for @medplum/fhir-router to drive.
 */
export { buildAccessPolicy } from './access.ts';
export type { BuildAccessPolicyOptions } from './access.ts';
export { computeCompartments, getPatientCompartmentParams, getPatientReferences } from './compartment.ts';
export { LocalRepository } from './repo.ts';
export type { RepoContext } from './repo.ts';
export { loadBaseDefinitions } from './schema.ts';
export { ResourceStore } from './store.ts';
export type { Change, CommitListener, Savepoint, StoredRecord, VersionEntry } from './store.ts';
