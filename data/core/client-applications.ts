/**
 * Baseline's ClientApplications. Deploy creates missing ones through `POST admin/projects/:projectId/client`, which is
 * what gives a client its ProjectMembership and a server-generated secret; no secret is ever in this repo. The
 * membership's AccessPolicy is named here and kept in step on every deploy.
 */
import type { ClientApplication } from '@medplum/fhirtypes';
import { CLIENT_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';
import { CLINICIAN_LAUNCH_CLIENT_KEY, POLICY_KEYS } from './access-policies.ts';
import { identityTag } from './identity.ts';

export interface ClientDefinition {
  /** Stable key (the `meta.tag` code). */
  readonly key: string;
  readonly name: string;
  readonly description: string;
  /** Policy key for the client's own membership (used only when the client signs in as itself). */
  readonly accessPolicy: string;
  readonly redirectUris?: readonly string[];
  readonly launchUri?: string;
}

/** The dev server's address; deploy uses it when BASELINE_APP_URL is not set. */
export const DEFAULT_APP_BASE_URLS: readonly string[] = ['http://127.0.0.1:3000'];

/** Routes of the app that Medplum redirects to. */
export const APP_ROUTES = {
  /** The patient app's sign-in callback. */
  signInCallback: '/',
  /** SMART EHR launch entry point (receives `iss` and `launch`). */
  launch: '/launch',
  /** Where the SMART authorize step returns the code. */
  launchCallback: '/launch/callback',
} as const;

export const CLIENT_KEYS = {
  patientApp: 'patient-app',
  clinicianLaunch: CLINICIAN_LAUNCH_CLIENT_KEY,
  ehrClient: 'ehr-client',
} as const;

function appUrl(base: string, route: string): string {
  return base.replace(/\/+$/, '') + route;
}

/**
 * The three clients, for the app deployed at the given base URLs (the first one is the SMART launch URL's host:
 * a ClientApplication has one launchUri).
 * @param appBaseUrls - Base URLs of the deployed app, e.g. `https://baseline.example.org`; at least one.
 * @returns The client definitions.
 */
export function buildClientDefinitions(appBaseUrls: readonly string[]): ClientDefinition[] {
  const primary = appBaseUrls[0];
  if (primary === undefined) {
    throw new Error('At least one app base URL is required');
  }
  return [
    {
      key: CLIENT_KEYS.patientApp,
      name: 'Baseline patient app',
      description: 'The owner-facing Baseline app (authorization code + PKCE).',
      accessPolicy: POLICY_KEYS.publicClient,
      redirectUris: appBaseUrls.map((base) => appUrl(base, APP_ROUTES.signInCallback)),
    },
    {
      key: CLIENT_KEYS.clinicianLaunch,
      name: 'Baseline for clinicians (SMART launch)',
      description:
        'SMART on FHIR EHR launch of the Baseline clinician view; data scope comes from the clinician policy.',
      accessPolicy: POLICY_KEYS.publicClient,
      launchUri: appUrl(primary, APP_ROUTES.launch),
      redirectUris: appBaseUrls.map((base) => appUrl(base, APP_ROUTES.launchCallback)),
    },
    {
      key: CLIENT_KEYS.ehrClient,
      name: 'Baseline EHR backend client',
      description: 'Client credentials for EHRs reading Baseline Observations through the FHIR API.',
      accessPolicy: POLICY_KEYS.ehrClient,
    },
  ];
}

/** Fields Medplum generates and deploy must carry over untouched on every update. */
export const CLIENT_SERVER_FIELDS = [
  'secret',
  'retiringSecret',
] as const satisfies readonly (keyof ClientApplication)[];

/**
 * The ClientApplication resource for a definition (without the server-generated secret).
 * @param def - The client definition.
 * @returns The resource fields deploy owns.
 */
export function toClientApplication(def: ClientDefinition): ClientApplication {
  return {
    resourceType: 'ClientApplication',
    meta: { tag: [identityTag(CLIENT_IDENTIFIER_SYSTEM, def.key)] },
    name: def.name,
    description: def.description,
    ...(def.redirectUris && def.redirectUris.length > 0 ? { redirectUris: [...def.redirectUris] } : {}),
    ...(def.launchUri ? { launchUri: def.launchUri } : {}),
  };
}
