import { ClientStorage } from '@medplum/core';

/**
 * The MedplumClient's storage, held here so the SMART launch helper can read the PKCE code verifier that
 * `medplum.startPkce()` wrote before the redirect (MedplumClient keeps its own storage private).
 * Same backing store and key prefix as MedplumClient's default, so existing sessions keep working.
 */
export const medplumStorage = new ClientStorage();
