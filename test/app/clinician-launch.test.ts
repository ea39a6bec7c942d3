/**
 * The clinician's launch configuration and the standalone launch (app/src/lib/smart.ts, app/src/runtime-config.ts):
 * the launch authorizes with the clinician-launch client id from /config.js, and a standalone launch asks for no
 * launch context.
 */
import { ClientStorage, MedplumClient, MemoryStorage } from '@medplum/core';
import { describe, expect, test, vi } from 'vitest';
import { renderRuntimeConfigScript, resolveConfig, RUNTIME_CONFIG_GLOBAL } from '../../app/src/runtime-config.ts';
import {
  buildAuthorizeUrl,
  PENDING_LAUNCH_KEY,
  SMART_STANDALONE_SCOPE,
  startStandaloneLaunch,
} from '../../app/src/lib/smart.ts';

const BASE_URL = 'http://127.0.0.1:8103/';
const ISS = 'http://127.0.0.1:8103/fhir/R4';
const REDIRECT_URI = 'http://127.0.0.1:3000/launch/callback';

describe('clinicianClientId in the configuration', () => {
  test('run time wins over build time, and /config.js carries it', () => {
    expect(resolveConfig({ MEDPLUM_CLINICIAN_CLIENT_ID: 'built' }, undefined).clinicianClientId).toBe('built');
    expect(
      resolveConfig({ MEDPLUM_CLINICIAN_CLIENT_ID: 'built' }, { clinicianClientId: 'served' }).clinicianClientId
    ).toBe('served');
    expect(resolveConfig({}, { clinicianClientId: '  ' }).clinicianClientId).toBeUndefined();
    const script = renderRuntimeConfigScript({ clientId: 'patient-app', clinicianClientId: 'clinician-launch' });
    expect(script).toBe(
      `window.${RUNTIME_CONFIG_GLOBAL} = {"clientId":"patient-app","clinicianClientId":"clinician-launch"};\n`
    );
  });
});

describe('standalone launch', () => {
  test('the authorize URL has no launch parameter', () => {
    const url = new URL(
      buildAuthorizeUrl({
        authorizeUrl: `${BASE_URL}oauth2/authorize`,
        clientId: 'clinician-launch',
        redirectUri: REDIRECT_URI,
        scope: SMART_STANDALONE_SCOPE,
        aud: ISS,
        state: 'state-1',
        codeChallenge: 'challenge-1',
        codeChallengeMethod: 'S256',
      })
    );
    expect(url.searchParams.has('launch')).toBe(false);
    expect(url.searchParams.get('aud')).toBe(ISS);
    expect(url.searchParams.get('scope')).toBe('openid fhirUser user/*.rs');
  });

  test('starts PKCE, remembers state for the callback, and sends aud = this app’s FHIR server', async () => {
    const storage = new ClientStorage(new MemoryStorage());
    const medplum = new MedplumClient({ baseUrl: BASE_URL, storage, fetch: vi.fn<typeof fetch>() });
    const pendingStore = new MemoryStorage();
    // MedplumClient.startPkce() uses window.btoa for S256 (and falls back to 'plain' without a window).
    vi.stubGlobal('window', { btoa: globalThis.btoa });
    let url: URL;
    try {
      url = new URL(
        await startStandaloneLaunch({
          medplum,
          medplumBaseUrl: BASE_URL,
          clientId: 'clinician-launch',
          redirectUri: REDIRECT_URI,
          pendingStore,
        })
      );
    } finally {
      vi.unstubAllGlobals();
    }
    expect(url.origin + url.pathname).toBe(`${BASE_URL}oauth2/authorize`);
    expect(url.searchParams.get('client_id')).toBe('clinician-launch');
    expect(url.searchParams.get('redirect_uri')).toBe(REDIRECT_URI);
    expect(url.searchParams.has('launch')).toBe(false);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(storage.getString('codeVerifier')).toBeTruthy();
    const pending = JSON.parse(pendingStore.getItem(PENDING_LAUNCH_KEY) ?? '{}') as { state?: string; iss?: string };
    expect(pending).toEqual({ state: url.searchParams.get('state'), iss: ISS });
  });
});
