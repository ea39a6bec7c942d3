/**
 * SMART on FHIR EHR launch, hand-rolled on MedplumClient.
 *
 * Why not `medplum.signInWithRedirect()`: it sends no `launch` and no `aud`, and `processCode()` keeps only
 * access_token / refresh_token / project / profile, dropping the launch context (`patient`, `encounter`).
 * So this module does the two legs itself and hands the tokens back to MedplumClient.
 *
 * Flow (SMART App Launch 2.x, EHR launch):
 * 1. The EHR (Medplum app, `SmartAppLaunchLink` or `ClientApplication/$smart-launch`) opens
 *    `<launchUri>?iss=<fhir base>&launch=<SmartAppLaunch id>`.
 * 2. `startSmartLaunch` checks `iss` is the Medplum this app is configured for (the code and PKCE verifier must
 *    never go to another server), starts PKCE with `medplum.startPkce()` (verifier kept in MedplumClient storage),
 *    remembers a random `state`, and redirects to `/oauth2/authorize` with `launch` and `aud`.
 * 3. Medplum signs the user in and redirects back with `code` + `state`.
 * 4. `completeSmartLaunch` checks `state`, posts the code with the verifier to `/oauth2/token`, validates the JSON
 *    with zod, and makes the tokens the client's active login (`setActiveLogin` = `setAccessToken` + persisted
 *    login + profile reload). It returns the launch context (`patient`, `encounter`) from the token response.
 *
 * A standalone launch (`startStandaloneLaunch`: a clinician opens the app without an EHR) is the same flow without
 * `launch`: the token then carries no patient, and the clinician picks one of the owners who shared with them.
 *
 * Spec: https://hl7.org/fhir/smart-app-launch/app-launch.html ; Medplum: /oauth2/authorize, /oauth2/token.
 * Everything that touches no network or storage is exported separately for unit tests.
 */
import { getRandomString } from '@medplum/core';
import type { MedplumClient } from '@medplum/core';
import { z } from 'zod';
import { formatZodIssues } from './zod-issues.ts';

/** Scopes the launch asks for. Medplum intersects resource scopes with the user's AccessPolicy (never widens it). */
export const SMART_LAUNCH_SCOPE = 'openid fhirUser launch patient/*.rs';

/** Scopes a standalone launch asks for: no launch context, the clinician's own (policy-bounded) access. */
export const SMART_STANDALONE_SCOPE = 'openid fhirUser user/*.rs';

/** Where the pending launch (state + iss) waits across the authorize redirect. */
export const PENDING_LAUNCH_KEY = 'baseline.smart.pendingLaunch';

/** Minimal key-value store (sessionStorage in the browser). */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Read access to MedplumClient's storage, where `startPkce()` put the code verifier. */
export interface PkceVerifierSource {
  getString(key: string): string | undefined;
}

export interface LaunchParams {
  readonly iss: string;
  readonly launch: string;
}

/**
 * The FHIR base this app talks to, in the form Medplum puts in `iss`.
 * @param medplumBaseUrl - server root ending in `/`.
 * @returns e.g. `http://127.0.0.1:8103/fhir/R4`.
 */
export function fhirBaseForServer(medplumBaseUrl: string): string {
  return new URL('fhir/R4', medplumBaseUrl).toString();
}

function withoutTrailingSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * Reads `iss` and `launch` from the launch URL and checks `iss` is this app's Medplum.
 * @param search - `location.search` of the launch request.
 * @param medplumBaseUrl - the configured Medplum server root.
 * @returns The launch parameters.
 */
export function parseLaunchParams(search: string, medplumBaseUrl: string): LaunchParams {
  const params = new URLSearchParams(search);
  const iss = params.get('iss');
  const launch = params.get('launch');
  if (!iss) {
    throw new Error('SMART launch is missing the iss parameter');
  }
  if (!launch) {
    throw new Error('SMART launch is missing the launch parameter');
  }
  const expected = fhirBaseForServer(medplumBaseUrl);
  if (withoutTrailingSlash(iss) !== withoutTrailingSlash(expected)) {
    throw new Error(`SMART launch iss ${iss} is not this app's FHIR server (${expected})`);
  }
  return { iss, launch };
}

export interface AuthorizeRequest {
  readonly authorizeUrl: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly scope: string;
  /** The EHR's launch id; absent for a standalone launch. */
  readonly launch?: string;
  readonly aud: string;
  readonly state: string;
  readonly codeChallenge: string;
  readonly codeChallengeMethod: string;
}

/**
 * Builds the `/oauth2/authorize` URL for an EHR launch (authorization code + PKCE, with `launch` and `aud`).
 * @param req - the request parameters.
 * @returns The URL to send the browser to.
 */
export function buildAuthorizeUrl(req: AuthorizeRequest): string {
  const url = new URL(req.authorizeUrl);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: req.clientId,
    redirect_uri: req.redirectUri,
    scope: req.scope,
    state: req.state,
    ...(req.launch === undefined ? {} : { launch: req.launch }),
    aud: req.aud,
    code_challenge: req.codeChallenge,
    code_challenge_method: req.codeChallengeMethod,
  };
  for (const [key, value] of Object.entries(params)) {
    url.searchParams.set(key, value);
  }
  return url.toString();
}

const PendingLaunchSchema = z.object({ state: z.string().min(1), iss: z.string().min(1) });
export type PendingLaunch = z.infer<typeof PendingLaunchSchema>;

/**
 * Reads the authorize callback (`code` + `state`, or an OAuth `error`) and checks `state` against the pending launch.
 * @param search - `location.search` of the redirect back to the app.
 * @param pending - the launch started by this browser tab, if any.
 * @returns The authorization code.
 */
export function parseCallbackParams(search: string, pending: PendingLaunch | undefined): { code: string } {
  const params = new URLSearchParams(search);
  const error = params.get('error');
  if (error) {
    const description = params.get('error_description');
    throw new Error(`Authorization was refused: ${error}${description ? ` (${description})` : ''}`);
  }
  const code = params.get('code');
  if (!code) {
    throw new Error('Authorization callback is missing the code parameter');
  }
  if (!pending) {
    throw new Error('No SMART launch is pending in this browser tab; start the launch again from your EHR');
  }
  if (params.get('state') !== pending.state) {
    throw new Error('Authorization callback state does not match the pending launch');
  }
  return { code };
}

const ReferenceSchema = z.object({ reference: z.string().min(1) });

/** Medplum's token response (server/src/oauth/token.ts): OAuth fields plus Medplum and SMART context fields. */
export const SmartTokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().refine((t) => t.toLowerCase() === 'bearer', { error: 'token_type must be Bearer' }),
  expires_in: z.number().int().positive(),
  scope: z.string(),
  refresh_token: z.string().min(1).optional(),
  id_token: z.string().optional(),
  project: ReferenceSchema,
  profile: ReferenceSchema,
  patient: z.string().min(1).optional(),
  encounter: z.string().min(1).optional(),
  need_patient_banner: z.boolean().optional(),
  smart_style_url: z.string().optional(),
});
export type SmartTokenResponse = z.infer<typeof SmartTokenResponseSchema>;

/**
 * Validates a token endpoint response body.
 * @param body - parsed JSON from `/oauth2/token`.
 * @returns The typed response.
 */
export function parseTokenResponse(body: unknown): SmartTokenResponse {
  const parsed = SmartTokenResponseSchema.safeParse(body);
  if (!parsed.success) {
    throw new Error(`Invalid token response: ${formatZodIssues(parsed.error)}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** What the EHR launched us with. */
export interface LaunchContext {
  readonly patient: string | undefined;
  readonly encounter: string | undefined;
  readonly needPatientBanner: boolean;
}

/**
 * The launch context carried by a token response.
 * @param token - a validated token response.
 * @returns patient / encounter ids and the banner hint.
 */
export function launchContextFromToken(token: SmartTokenResponse): LaunchContext {
  return {
    patient: token.patient,
    encounter: token.encounter,
    needPatientBanner: token.need_patient_banner ?? false,
  };
}

export interface StartLaunchOptions {
  readonly medplum: MedplumClient;
  readonly medplumBaseUrl: string;
  readonly clientId: string;
  readonly redirectUri: string;
  /** `location.search` of the launch request. */
  readonly search: string;
  readonly pendingStore: KeyValueStore;
  readonly scope?: string;
}

/**
 * Leg 1: validate the launch, start PKCE, remember state, and return the authorize URL to navigate to.
 * @param options - client, configuration and the launch request.
 * @returns The authorize URL.
 */
export async function startSmartLaunch(options: StartLaunchOptions): Promise<string> {
  const { iss, launch } = parseLaunchParams(options.search, options.medplumBaseUrl);
  return beginAuthorize(options, iss, options.scope ?? SMART_LAUNCH_SCOPE, launch);
}

/** Both launches' first leg: PKCE, a remembered state, and the authorize URL (with `launch` for an EHR launch). */
async function beginAuthorize(
  options: Pick<StartStandaloneOptions, 'medplum' | 'clientId' | 'redirectUri' | 'pendingStore'>,
  iss: string,
  scope: string,
  launch?: string
): Promise<string> {
  const { codeChallenge, codeChallengeMethod } = await options.medplum.startPkce();
  const state = getRandomString();
  const pending: PendingLaunch = { state, iss };
  options.pendingStore.setItem(PENDING_LAUNCH_KEY, JSON.stringify(pending));
  return buildAuthorizeUrl({
    authorizeUrl: options.medplum.getAuthorizeUrl(),
    clientId: options.clientId,
    redirectUri: options.redirectUri,
    scope,
    ...(launch ? { launch } : {}),
    aud: iss,
    state,
    codeChallenge,
    codeChallengeMethod,
  });
}

export interface StartStandaloneOptions {
  readonly medplum: MedplumClient;
  readonly medplumBaseUrl: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly pendingStore: KeyValueStore;
  readonly scope?: string;
}

/**
 * Leg 1 of a standalone launch: start PKCE, remember state, and return the authorize URL (no `launch`; `aud` is this
 * app's own FHIR server).
 * @param options - client and configuration.
 * @returns The authorize URL.
 */
export async function startStandaloneLaunch(options: StartStandaloneOptions): Promise<string> {
  return beginAuthorize(options, fhirBaseForServer(options.medplumBaseUrl), options.scope ?? SMART_STANDALONE_SCOPE);
}

function readPending(store: KeyValueStore): PendingLaunch | undefined {
  const raw = store.getItem(PENDING_LAUNCH_KEY);
  if (raw === null) {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new Error('Stored SMART launch state is corrupt; start the launch again from your EHR', { cause: err });
  }
  const parsed = PendingLaunchSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error('Stored SMART launch state is corrupt; start the launch again from your EHR', {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

export interface CompleteLaunchOptions {
  readonly medplum: MedplumClient;
  readonly clientId: string;
  readonly redirectUri: string;
  /** `location.search` of the redirect back from `/oauth2/authorize`. */
  readonly search: string;
  readonly pendingStore: KeyValueStore;
  /** MedplumClient's storage, holding the verifier `startPkce()` wrote. */
  readonly pkceSource: PkceVerifierSource;
  readonly fetchImpl?: typeof fetch;
}

/**
 * Leg 2: exchange the code for tokens, make them the client's active login, and return the launch context.
 * @param options - client, configuration and the callback request.
 * @returns The launch context from the token response.
 */
export async function completeSmartLaunch(options: CompleteLaunchOptions): Promise<LaunchContext> {
  const pending = readPending(options.pendingStore);
  const { code } = parseCallbackParams(options.search, pending);
  // Single use: a reloaded callback page must not replay the exchange.
  options.pendingStore.removeItem(PENDING_LAUNCH_KEY);

  const codeVerifier = options.pkceSource.getString('codeVerifier');
  if (!codeVerifier) {
    throw new Error('PKCE code verifier is missing; start the launch again from your EHR');
  }

  const fetchImpl = options.fetchImpl ?? fetch;
  const response = await fetchImpl(options.medplum.getTokenUrl(), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      client_id: options.clientId,
      redirect_uri: options.redirectUri,
      code_verifier: codeVerifier,
    }).toString(),
  });
  const body: unknown = await response.json().catch((err: unknown) => {
    throw new Error(`Token endpoint returned ${response.status} with a non-JSON body`, { cause: err });
  });
  if (!response.ok) {
    const described = z.object({ error: z.string(), error_description: z.string().optional() }).safeParse(body);
    const reason = described.success
      ? `${described.data.error}${described.data.error_description ? ` (${described.data.error_description})` : ''}`
      : `HTTP ${response.status}`;
    throw new Error(`Token exchange failed: ${reason}`);
  }
  const token = parseTokenResponse(body);

  await options.medplum.setActiveLogin({
    accessToken: token.access_token,
    // Without offline_access there is no refresh token; the session then ends when the access token expires.
    refreshToken: token.refresh_token ?? '',
    project: token.project,
    profile: token.profile,
  });
  return launchContextFromToken(token);
}
