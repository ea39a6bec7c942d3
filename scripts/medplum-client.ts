/**
 * A MedplumClient for Node scripts and tests. Node has no sessionStorage/localStorage, which the client's PKCE and
 * login state need, so it gets an in-memory storage; and it signs in as a person with the same `/auth/login` +
 * `/oauth2/token` PKCE exchange the browser's SignInForm uses.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ClientStorage, MedplumClient, MemoryStorage } from '@medplum/core';

export function nodeClient(baseUrl: string, storage = new ClientStorage(new MemoryStorage())): MedplumClient {
  return new MedplumClient({
    baseUrl,
    fetch: (url: string | URL | Request, init?: RequestInit) => fetch(url, init),
    storage,
    // Tests read their own writes immediately; a response cache would hide them.
    cacheTime: 0,
  });
}

export async function clientCredentialsClient(
  baseUrl: string,
  clientId: string,
  clientSecret: string
): Promise<MedplumClient> {
  const medplum = nodeClient(baseUrl);
  await medplum.startClientLogin(clientId, clientSecret);
  return medplum;
}

/**
 * @param baseUrl - the server
 * @param email - the person's email
 * @param password - their password
 * @param projectId - the project, for project-scoped users (Medplum makes invited Patients project-scoped; its
 *   `/auth/login` finds them only with the project id)
 * @returns a client signed in as that person
 */
export async function passwordClient(
  baseUrl: string,
  email: string,
  password: string,
  projectId?: string
): Promise<MedplumClient> {
  // The client hashes the PKCE verifier with `window.crypto`, which Node lacks (it then falls back to `plain`):
  // do the S256 step here and leave the verifier where processCode() looks for it.
  const storage = new ClientStorage(new MemoryStorage());
  const medplum = nodeClient(baseUrl, storage);
  const verifier = randomBytes(32).toString('base64url');
  storage.setString('codeVerifier', verifier);
  const codeChallenge = createHash('sha256').update(verifier).digest('base64url');
  const response = await medplum.startLogin({
    email,
    password,
    codeChallenge,
    codeChallengeMethod: 'S256',
    ...(projectId ? { projectId } : {}),
  });
  if (!response.code) {
    throw new Error(`Sign-in for ${email} did not return a code`);
  }
  await medplum.processCode(response.code);
  return medplum;
}
