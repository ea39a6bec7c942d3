/**
 * Signs deploy in with client credentials and turns the ways that fails into one line someone can act on.
 * MedplumClient reports every token failure alike ("Failed to fetch tokens: ..."), so the fetch it uses records the
 * token endpoint's HTTP status: 400/401/403 means the credentials, anything else means MEDPLUM_BASE_URL points at
 * something that is not a Medplum API server. Nothing here ever includes the secret in a message.
 */
import { ClientStorage, MedplumClient, MemoryStorage } from '@medplum/core';
import type { DeployEnv } from './env.ts';
import { DeployError } from './errors.ts';

export type FetchFn = (url: string, init?: RequestInit) => Promise<Response>;

function networkCode(err: unknown): string {
  // undici puts the useful part (ECONNREFUSED, ENOTFOUND, "bad port") on a nested cause of "fetch failed".
  let current: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as Error & { code?: unknown }).code;
    if (typeof code === 'string') {
      return code;
    }
    message = current.message || message;
    current = current.cause;
  }
  return message;
}

function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError || (err instanceof Error && err.name === 'AbortError');
}

/**
 * A MedplumClient for Node signed in as the deploy client.
 * @param env - Base URL and client credentials.
 * @param fetchImpl - The fetch to use (tests pass a fake server).
 * @returns The signed-in client.
 */
export async function signIn(
  env: Pick<DeployEnv, 'baseUrl' | 'clientId' | 'clientSecret'>,
  fetchImpl: FetchFn = fetch
): Promise<MedplumClient> {
  let tokenStatus: number | undefined;
  const recordingFetch = async (url: string, init?: RequestInit): Promise<Response> => {
    const response = await fetchImpl(url, init);
    if (url.includes('oauth2/token')) {
      tokenStatus = response.status;
    }
    return response;
  };
  const medplum = new MedplumClient({
    baseUrl: env.baseUrl,
    fetch: recordingFetch,
    // Node has no localStorage/sessionStorage; deploy keeps its login in memory only.
    storage: new ClientStorage(new MemoryStorage()),
    cacheTime: 0,
  });
  const base = env.baseUrl;
  try {
    await medplum.startClientLogin(env.clientId, env.clientSecret);
  } catch (err) {
    if (isNetworkError(err)) {
      throw new DeployError(`Could not reach ${base}: ${networkCode(err)}`, { cause: err });
    }
    if (tokenStatus === 400 || tokenStatus === 401 || tokenStatus === 403) {
      throw new DeployError(`Could not sign in to ${base}: invalid client credentials`, { cause: err });
    }
    if (tokenStatus !== undefined && tokenStatus >= 300) {
      throw new DeployError(
        `Could not sign in to ${base}: the token endpoint answered HTTP ${tokenStatus} (is MEDPLUM_BASE_URL the Medplum API server?)`,
        { cause: err }
      );
    }
    throw new DeployError(`Could not sign in to ${base}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  return medplum;
}
