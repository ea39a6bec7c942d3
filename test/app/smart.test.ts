import { createHash } from 'node:crypto';
import { ClientStorage, MedplumClient, MemoryStorage } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, test, vi } from 'vitest';
import {
  buildAuthorizeUrl,
  completeSmartLaunch,
  fhirBaseForServer,
  launchContextFromToken,
  parseCallbackParams,
  parseLaunchParams,
  parseTokenResponse,
  PENDING_LAUNCH_KEY,
  SMART_LAUNCH_SCOPE,
  startSmartLaunch,
} from '../../app/src/lib/smart.ts';

const BASE_URL = 'http://127.0.0.1:8103/';
const ISS = 'http://127.0.0.1:8103/fhir/R4';
const CLIENT_ID = 'patient-app-client';
const REDIRECT_URI = 'http://127.0.0.1:3000/launch';
const PATIENT: Patient = { resourceType: 'Patient', id: 'pat-1', name: [{ given: ['Ada'], family: 'Lovelace' }] };

/** An unsigned JWT shaped like Medplum's: `login_id` is what makes MedplumClient load the profile from auth/me. */
function fakeAccessToken(): string {
  const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none' })}.${b64({ login_id: 'login-1', exp: Math.floor(Date.now() / 1000) + 3600 })}.sig`;
}

function validTokenBody(accessToken = 'access-token-value'): Record<string, unknown> {
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: 3600,
    scope: SMART_LAUNCH_SCOPE,
    refresh_token: 'refresh-token-value',
    id_token: 'id-token-value',
    project: { reference: 'Project/proj-1' },
    profile: { reference: 'Practitioner/pr-1' },
    patient: 'pat-1',
    encounter: 'enc-1',
    need_patient_banner: true,
  };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

describe('parseLaunchParams', () => {
  test('rejects a launch without iss', () => {
    expect(() => parseLaunchParams('?launch=abc', BASE_URL)).toThrow('SMART launch is missing the iss parameter');
  });

  test('rejects a launch without launch', () => {
    expect(() => parseLaunchParams(`?iss=${encodeURIComponent(ISS)}`, BASE_URL)).toThrow(
      'SMART launch is missing the launch parameter'
    );
  });

  test('rejects an iss that is not the configured server (the code must not go elsewhere)', () => {
    const search = `?iss=${encodeURIComponent('https://evil.example.com/fhir/R4')}&launch=abc`;
    expect(() => parseLaunchParams(search, BASE_URL)).toThrow(
      `SMART launch iss https://evil.example.com/fhir/R4 is not this app's FHIR server (${ISS})`
    );
  });

  test('accepts the configured FHIR base with or without a trailing slash', () => {
    expect(fhirBaseForServer(BASE_URL)).toBe(ISS);
    expect(parseLaunchParams(`?iss=${encodeURIComponent(ISS)}&launch=abc`, BASE_URL)).toEqual({
      iss: ISS,
      launch: 'abc',
    });
    expect(parseLaunchParams(`?iss=${encodeURIComponent(ISS + '/')}&launch=xyz`, BASE_URL)).toEqual({
      iss: ISS + '/',
      launch: 'xyz',
    });
  });
});

describe('buildAuthorizeUrl', () => {
  test('sends every EHR-launch parameter, encoded, to the authorize endpoint', () => {
    const url = new URL(
      buildAuthorizeUrl({
        authorizeUrl: 'http://127.0.0.1:8103/oauth2/authorize',
        clientId: CLIENT_ID,
        redirectUri: REDIRECT_URI,
        scope: SMART_LAUNCH_SCOPE,
        launch: 'launch-1',
        aud: ISS,
        state: 'state-1',
        codeChallenge: 'challenge-1',
        codeChallengeMethod: 'S256',
      })
    );
    expect(url.origin + url.pathname).toBe('http://127.0.0.1:8103/oauth2/authorize');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: 'openid fhirUser launch patient/*.rs',
      state: 'state-1',
      launch: 'launch-1',
      aud: ISS,
      code_challenge: 'challenge-1',
      code_challenge_method: 'S256',
    });
    expect(url.search).not.toContain(' ');
  });
});

describe('parseCallbackParams', () => {
  const pending = { state: 'state-1', iss: ISS };

  test('reports an OAuth error with its description', () => {
    expect(() =>
      parseCallbackParams('?error=access_denied&error_description=User%20declined&state=state-1', pending)
    ).toThrow('Authorization was refused: access_denied (User declined)');
  });

  test('reports an OAuth error without a description', () => {
    expect(() => parseCallbackParams('?error=server_error', pending)).toThrow(
      'Authorization was refused: server_error'
    );
  });

  test('rejects a callback without a code', () => {
    expect(() => parseCallbackParams('?state=state-1', pending)).toThrow(
      'Authorization callback is missing the code parameter'
    );
  });

  test('rejects a callback when this tab started no launch', () => {
    expect(() => parseCallbackParams('?code=c&state=state-1', undefined)).toThrow(
      'No SMART launch is pending in this browser tab; start the launch again from your EHR'
    );
  });

  test('rejects a callback whose state does not match (CSRF / mixed-up tabs)', () => {
    expect(() => parseCallbackParams('?code=c&state=other', pending)).toThrow(
      'Authorization callback state does not match the pending launch'
    );
    expect(() => parseCallbackParams('?code=c', pending)).toThrow(
      'Authorization callback state does not match the pending launch'
    );
  });

  test('returns the code when state matches', () => {
    expect(parseCallbackParams('?code=the-code&state=state-1', pending)).toEqual({ code: 'the-code' });
  });
});

describe('parseTokenResponse', () => {
  test('rejects a response without an access token', () => {
    const { access_token: _omitted, ...body } = validTokenBody();
    expect(() => parseTokenResponse(body)).toThrow(
      'Invalid token response: access_token: Invalid input: expected string, received undefined'
    );
  });

  test('rejects a non-Bearer token type without echoing any token', () => {
    const body = { ...validTokenBody('secret-access-token'), token_type: 'mac' };
    let message = '';
    try {
      parseTokenResponse(body);
    } catch (err) {
      message = err instanceof Error ? err.message : String(err);
    }
    expect(message).toBe('Invalid token response: token_type: token_type must be Bearer');
    expect(message).not.toContain('secret-access-token');
  });

  test('rejects a response without project and profile references', () => {
    const { project: _p, profile: _f, ...body } = validTokenBody();
    expect(() => parseTokenResponse(body)).toThrow(
      'Invalid token response: project: Invalid input: expected object, received undefined; ' +
        'profile: Invalid input: expected object, received undefined'
    );
  });

  test('keeps the SMART launch context that processCode() would drop', () => {
    const token = parseTokenResponse({ ...validTokenBody(), token_type: 'bearer' });
    expect(launchContextFromToken(token)).toEqual({ patient: 'pat-1', encounter: 'enc-1', needPatientBanner: true });

    const { patient: _p, encounter: _e, need_patient_banner: _n, ...plain } = validTokenBody();
    expect(launchContextFromToken(parseTokenResponse(plain))).toEqual({
      patient: undefined,
      encounter: undefined,
      needPatientBanner: false,
    });
  });
});

describe('startSmartLaunch + completeSmartLaunch', () => {
  function setup(tokenResponse: () => Response): {
    medplum: MedplumClient;
    storage: ClientStorage;
    pendingStore: MemoryStorage;
    fetchImpl: ReturnType<typeof vi.fn<typeof fetch>>;
  } {
    const fetchImpl = vi.fn<typeof fetch>(async (input) => {
      const url = input instanceof Request ? input.url : input.toString();
      if (url === `${BASE_URL}oauth2/token`) {
        return tokenResponse();
      }
      if (url === `${BASE_URL}auth/me`) {
        return json(200, { profile: PATIENT, project: { resourceType: 'Project', id: 'proj-1', name: 'Demo' } });
      }
      return json(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    });
    const storage = new ClientStorage(new MemoryStorage());
    const medplum = new MedplumClient({ baseUrl: BASE_URL, clientId: CLIENT_ID, storage, fetch: fetchImpl });
    return { medplum, storage, pendingStore: new MemoryStorage(), fetchImpl };
  }

  async function start(ctx: ReturnType<typeof setup>): Promise<URL> {
    // MedplumClient.startPkce() base64-encodes with window.btoa and silently falls back to the 'plain' method when
    // there is no window (Node). Lend it the browser's btoa so the S256 path the app uses is what gets tested.
    vi.stubGlobal('window', { btoa: globalThis.btoa });
    try {
      return await startLaunchUrl(ctx);
    } finally {
      vi.unstubAllGlobals();
    }
  }

  async function startLaunchUrl(ctx: ReturnType<typeof setup>): Promise<URL> {
    return new URL(
      await startSmartLaunch({
        medplum: ctx.medplum,
        medplumBaseUrl: BASE_URL,
        clientId: CLIENT_ID,
        redirectUri: REDIRECT_URI,
        search: `?iss=${encodeURIComponent(ISS)}&launch=launch-1`,
        pendingStore: ctx.pendingStore,
      })
    );
  }

  function complete(ctx: ReturnType<typeof setup>, search: string): ReturnType<typeof completeSmartLaunch> {
    return completeSmartLaunch({
      medplum: ctx.medplum,
      clientId: CLIENT_ID,
      redirectUri: REDIRECT_URI,
      search,
      pendingStore: ctx.pendingStore,
      pkceSource: ctx.storage,
      fetchImpl: ctx.fetchImpl,
    });
  }

  test('a foreign iss is refused before any PKCE state is written', async () => {
    const ctx = setup(() => json(500, {}));
    await expect(
      startSmartLaunch({
        medplum: ctx.medplum,
        medplumBaseUrl: BASE_URL,
        clientId: CLIENT_ID,
        redirectUri: REDIRECT_URI,
        search: '?iss=https%3A%2F%2Fevil.example.com%2Ffhir%2FR4&launch=x',
        pendingStore: ctx.pendingStore,
      })
    ).rejects.toThrow("SMART launch iss https://evil.example.com/fhir/R4 is not this app's FHIR server");
    expect(ctx.pendingStore.getItem(PENDING_LAUNCH_KEY)).toBeNull();
    expect(ctx.storage.getString('codeVerifier')).toBeUndefined();
  });

  test('token endpoint errors are reported with the OAuth error and description', async () => {
    const ctx = setup(() => json(400, { error: 'invalid_grant', error_description: 'Invalid code' }));
    const state = (await start(ctx)).searchParams.get('state');
    await expect(complete(ctx, `?code=c&state=${state}`)).rejects.toThrow(
      'Token exchange failed: invalid_grant (Invalid code)'
    );
  });

  test('token endpoint errors without an OAuth body are reported by status', async () => {
    const ctx = setup(() => json(503, { message: 'down' }));
    const state = (await start(ctx)).searchParams.get('state');
    await expect(complete(ctx, `?code=c&state=${state}`)).rejects.toThrow('Token exchange failed: HTTP 503');
  });

  test('a non-JSON token response is reported', async () => {
    const ctx = setup(() => new Response('<html>Bad gateway</html>', { status: 502 }));
    const state = (await start(ctx)).searchParams.get('state');
    await expect(complete(ctx, `?code=c&state=${state}`)).rejects.toThrow(
      'Token endpoint returned 502 with a non-JSON body'
    );
  });

  test('a missing PKCE verifier stops the exchange before the token endpoint is called', async () => {
    const ctx = setup(() => json(200, validTokenBody()));
    const state = (await start(ctx)).searchParams.get('state');
    ctx.storage.setString('codeVerifier', undefined);
    await expect(complete(ctx, `?code=c&state=${state}`)).rejects.toThrow(
      'PKCE code verifier is missing; start the launch again from your EHR'
    );
    expect(ctx.fetchImpl).not.toHaveBeenCalled();
  });

  test('corrupt pending state is reported', async () => {
    const ctx = setup(() => json(200, validTokenBody()));
    ctx.pendingStore.setItem(PENDING_LAUNCH_KEY, '{"state":');
    await expect(complete(ctx, '?code=c&state=s')).rejects.toThrow(
      'Stored SMART launch state is corrupt; start the launch again from your EHR'
    );
    ctx.pendingStore.setItem(PENDING_LAUNCH_KEY, '{"state":""}');
    await expect(complete(ctx, '?code=c&state=s')).rejects.toThrow(
      'Stored SMART launch state is corrupt; start the launch again from your EHR'
    );
  });

  test('happy path: PKCE pair matches, tokens become the active login, context is kept, replay is refused', async () => {
    const accessToken = fakeAccessToken();
    const ctx = setup(() => json(200, validTokenBody(accessToken)));

    const authorize = await start(ctx);
    expect(authorize.origin + authorize.pathname).toBe(`${BASE_URL}oauth2/authorize`);
    expect(authorize.searchParams.get('launch')).toBe('launch-1');
    expect(authorize.searchParams.get('aud')).toBe(ISS);
    const verifier = ctx.storage.getString('codeVerifier');
    expect(verifier).toBeTruthy();
    const expectedChallenge = createHash('sha256')
      .update(verifier ?? '')
      .digest('base64url');
    expect(authorize.searchParams.get('code_challenge')).toBe(expectedChallenge);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    const state = authorize.searchParams.get('state');
    expect(state).toBeTruthy();

    const context = await complete(ctx, `?code=the-code&state=${state}`);
    expect(context).toEqual({ patient: 'pat-1', encounter: 'enc-1', needPatientBanner: true });

    const tokenCall = ctx.fetchImpl.mock.calls.find(([input]) => String(input) === `${BASE_URL}oauth2/token`);
    const form = new URLSearchParams(String(tokenCall?.[1]?.body));
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'authorization_code',
      code: 'the-code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });

    expect(ctx.medplum.getAccessToken()).toBe(accessToken);
    expect(ctx.medplum.getActiveLogin()).toMatchObject({
      accessToken,
      refreshToken: 'refresh-token-value',
      project: { reference: 'Project/proj-1' },
      profile: { reference: 'Practitioner/pr-1' },
    });
    expect(ctx.medplum.getProfile()).toMatchObject({ resourceType: 'Patient', id: 'pat-1' });

    expect(ctx.pendingStore.getItem(PENDING_LAUNCH_KEY)).toBeNull();
    await expect(complete(ctx, `?code=the-code&state=${state}`)).rejects.toThrow(
      'No SMART launch is pending in this browser tab; start the launch again from your EHR'
    );
  });
});
