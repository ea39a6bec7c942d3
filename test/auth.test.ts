/**
 * The local stack's auth surface over real HTTP: error statuses (401/400/412), refresh-token rotation, client
 * credentials, and the SMART EHR launch (authorize with `launch` + `aud`, a token response carrying `patient`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { getReferenceString } from '@medplum/core';
import type { WithId } from '@medplum/core';
import type { ClientApplication, Patient, SmartAppLaunch } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLIENT_KEYS } from '../data/core/client-applications.ts';
import { startTestStack } from './harness/stack.ts';
import type { TestStack } from './harness/stack.ts';

let env: TestStack;

beforeAll(async () => {
  env = await startTestStack();
});

afterAll(async () => {
  await env?.stop();
});

function fhir(path: string): string {
  return `${env.baseUrl}fhir/R4/${path}`;
}

async function form(url: string, body: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body).toString(),
    redirect: 'manual',
  });
}

describe('FHIR error statuses', () => {
  test('no token: 401', async () => {
    const res = await fetch(fhir('Patient'));
    expect(res.status).toBe(401);
  });

  test('a forged token: 401', async () => {
    const res = await fetch(fhir('Patient'), { headers: { Authorization: 'Bearer eyJhbGciOiJub25lIn0.e30.' } });
    expect(res.status).toBe(401);
  });

  test('malformed JSON body: 400 with an OperationOutcome', async () => {
    const res = await fetch(fhir('Patient'), {
      method: 'POST',
      headers: { Authorization: `Bearer ${env.adminClient.getAccessToken()}`, 'Content-Type': 'application/fhir+json' },
      body: '{"resourceType": "Patient",',
    });
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { resourceType: string; issue: { details?: { text?: string } }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    // Medplum's error handler for a body its JSON parser rejects (`entity.parse.failed`).
    expect(outcome.issue[0]?.details?.text).toBe('Content could not be parsed');
  });

  test('If-Match on a stale version: 412, and the resource is unchanged', async () => {
    const patient = await env.adminClient.createResource<Patient>({
      resourceType: 'Patient',
      name: [{ family: 'V1' }],
    });
    await env.adminClient.updateResource({ ...patient, name: [{ family: 'V2' }] });
    const res = await fetch(fhir(`Patient/${patient.id}`), {
      method: 'PUT',
      headers: {
        Authorization: `Bearer ${env.adminClient.getAccessToken()}`,
        'Content-Type': 'application/fhir+json',
        'If-Match': `W/"${patient.meta?.versionId}"`,
      },
      body: JSON.stringify({ ...patient, name: [{ family: 'Stale' }] }),
    });
    expect(res.status).toBe(412);
    expect((await env.adminClient.readResource('Patient', patient.id)).name?.[0]?.family).toBe('V2');
  });

  test('unknown resource id: 404', async () => {
    await expect(env.adminClient.readResource('Patient', crypto.randomUUID())).rejects.toThrow('Not found');
  });
});

describe('OAuth', () => {
  test('wrong password is refused with Medplum’s message', async () => {
    const res = await fetch(`${env.baseUrl}auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: env.logins.owner.email, password: 'wrong-password' }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('Email or password is invalid');
  });

  test('client credentials with a wrong secret are refused', async () => {
    const res = await form(`${env.baseUrl}oauth2/token`, {
      grant_type: 'client_credentials',
      client_id: env.admin.clientId,
      client_secret: 'not-the-secret',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
  });

  test('a refresh token rotates: the new one works, the old one is refused', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const login = (await (
      await fetch(`${env.baseUrl}auth/login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          ...env.logins.owner,
          codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
          codeChallengeMethod: 'S256',
        }),
      })
    ).json()) as { code: string };
    const wrongVerifier = await form(`${env.baseUrl}oauth2/token`, {
      grant_type: 'authorization_code',
      code: login.code,
      code_verifier: 'x'.repeat(43),
    });
    expect(wrongVerifier.status).toBe(400);
    const first = (await (
      await form(`${env.baseUrl}oauth2/token`, {
        grant_type: 'authorization_code',
        code: login.code,
        code_verifier: verifier,
      })
    ).json()) as { refresh_token: string; access_token: string; patient?: string };
    expect(first.patient).toBeTruthy();
    const reused = await form(`${env.baseUrl}oauth2/token`, {
      grant_type: 'authorization_code',
      code: login.code,
      code_verifier: verifier,
    });
    expect(reused.status).toBe(400);
    const second = await form(`${env.baseUrl}oauth2/token`, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
    });
    expect(second.status).toBe(200);
    const old = await form(`${env.baseUrl}oauth2/token`, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
    });
    expect(old.status).toBe(400);
  });

  test('sign-out revokes the access token', async () => {
    const owner = await env.signIn('owner');
    const token = owner.getAccessToken();
    await owner.signOut();
    const res = await fetch(fhir('Patient'), { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
  });
});

describe('SMART on FHIR EHR launch', () => {
  const redirectUri = 'http://127.0.0.1:3000/launch/callback';
  let client: WithId<ClientApplication>;
  let launch: WithId<SmartAppLaunch>;
  let ownerPatient: WithId<Patient>;

  beforeAll(async () => {
    const owner = await env.signIn('owner');
    ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
    const smartId = env.deployReport.clients[CLIENT_KEYS.clinicianLaunch];
    const smart = smartId ? await env.adminClient.readResource('ClientApplication', smartId) : undefined;
    if (!smart) {
      throw new Error('deploy did not create the SMART launch client');
    }
    client = smart;
    launch = await env.adminClient.createResource<SmartAppLaunch>({
      resourceType: 'SmartAppLaunch',
      patient: { reference: getReferenceString(ownerPatient) },
    });
  });

  function authorizeUrl(params: Record<string, string>): string {
    const url = new URL('oauth2/authorize', env.baseUrl);
    for (const [k, v] of Object.entries(params)) {
      url.searchParams.set(k, v);
    }
    return url.toString();
  }

  test('discovery documents the endpoints and capabilities', async () => {
    const config = (await (await fetch(`${env.baseUrl}.well-known/smart-configuration`)).json()) as {
      authorization_endpoint: string;
      token_endpoint: string;
      capabilities: string[];
    };
    expect(config.authorization_endpoint).toBe(`${env.baseUrl}oauth2/authorize`);
    expect(config.token_endpoint).toBe(`${env.baseUrl}oauth2/token`);
    expect(config.capabilities).toContain('launch-ehr');
  });

  test('authorize refuses a foreign aud, an unknown launch and an unregistered redirect', async () => {
    const base = { response_type: 'code', client_id: client.id, redirect_uri: redirectUri, scope: 'openid launch' };
    const foreign = await fetch(authorizeUrl({ ...base, launch: launch.id, aud: 'https://evil.example/fhir/R4' }));
    expect(foreign.status).toBe(400);
    expect(await foreign.text()).toContain('Invalid aud');
    const unknown = await fetch(authorizeUrl({ ...base, launch: crypto.randomUUID(), aud: fhir('') }));
    expect(await unknown.text()).toContain('Invalid launch');
    const redirect = await fetch(authorizeUrl({ ...base, redirect_uri: 'http://127.0.0.1:9/x', aud: fhir('') }));
    expect(await redirect.text()).toContain('Incorrect redirect_uri');
  });

  test('a launch signs the clinician in and the token response carries the launch patient', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const params = {
      response_type: 'code',
      client_id: client.id,
      redirect_uri: redirectUri,
      scope: 'openid fhirUser launch patient/*.rs',
      state: 'state-1234567890',
      launch: launch.id,
      aud: fhir(''),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    };
    const page = await fetch(authorizeUrl(params));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<form method="post">');
    const submitted = await form(authorizeUrl(params), { ...params, ...env.logins.clinician });
    expect(submitted.status).toBe(302);
    const location = new URL(submitted.headers.get('location') ?? '');
    expect(location.origin + location.pathname).toBe(redirectUri);
    expect(location.searchParams.get('state')).toBe('state-1234567890');
    const token = (await (
      await form(`${env.baseUrl}oauth2/token`, {
        grant_type: 'authorization_code',
        code: location.searchParams.get('code') ?? '',
        client_id: client.id,
        redirect_uri: redirectUri,
        code_verifier: verifier,
      })
    ).json()) as { patient?: string; profile: { reference: string } };
    expect(token.patient).toBe(ownerPatient.id);
    expect(token.profile.reference).toMatch(/^Practitioner\//);
  });
});
