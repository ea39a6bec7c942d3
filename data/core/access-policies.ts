/**
 * Baseline's AccessPolicies, one typed definition per role, upserted by deploy by their `meta.tag` key.
 *
 * Rules these follow (reference/medplum.md §3):
 * - Medplum ORs the criteria of every entry for a type across all of a membership's policies, and one entry without
 *   criteria lifts the filter for that type entirely. So every patient-data entry here carries `%patient` criteria,
 *   and the only criteria-free entries are terminology (StructureDefinition, ValueSet, CodeSystem) and, for the EHR
 *   client whose job is to read every patient, its three clinical types.
 * - No policy sets the top-level `compartment`: a clinician holding several share entries would have every write
 *   tagged with whichever patient's policy came last, and owners' writes are placed in their compartment by Medplum
 *   anyway (it computes `meta.compartment` from references).
 * - Nothing a person holds names `Basic` (the token store, see connection.ts), `Subscription` (a rest-hook
 *   Subscription would deliver data without re-checking its author's policy), `Bot` writes, `ClientApplication`
 *   secrets, or another patient.
 * Parameters are substituted by Medplum as strings: `%patient` → `Patient/<id>`, `%patient.id` → `<id>`,
 * `%profile` → the membership's own profile. Owners get `patient` implicitly (their profile); clinician shares pass
 * it in `ProjectMembership.access[].parameter`.
 */
import type { AccessPolicy, AccessPolicyResource } from '@medplum/fhirtypes';
import {
  BOT_IDENTIFIER_SYSTEM,
  CLIENT_IDENTIFIER_SYSTEM,
  POLICY_IDENTIFIER_SYSTEM,
} from '../../bots/shared/systems.ts';
import { DERIVED_KINDS, NARRATIVE_KINDS } from '../../bots/shared/catalogue.ts';
import { CODE_SYSTEM } from '../../bots/shared/systems.ts';
import { SHARE_POLICY_KEYS } from '../../bots/sharing/reconcile.ts';
import type { BotDefinition } from './bots.ts';
import { identityTag, tokenSearch } from './identity.ts';

export interface PolicyDefinition {
  /** Stable key: the `meta.tag` code, and what BotDefinition.accessPolicy and ClientDefinition.accessPolicy name. */
  readonly key: string;
  /** AccessPolicy.name, shown in the Medplum console. */
  readonly name: string;
  readonly resource: readonly AccessPolicyResource[];
}

type Interaction = NonNullable<AccessPolicyResource['interaction']>[number];

const READ_ONLY: Interaction[] = ['read', 'vread', 'history', 'search'];
const READ_SEARCH: Interaction[] = ['read', 'search'];

/** Keys of the role policies (bot policies live beside the bots, in bots.ts). */
export const POLICY_KEYS = {
  owner: 'patient-owner',
  clinicianBase: 'clinician-base',
  ehrClient: 'ehr-client',
  publicClient: 'public-client',
} as const;

/** The SMART launch app's key; the clinician base policy lets clinicians see this client and no other. */
export const CLINICIAN_LAUNCH_CLIENT_KEY = 'clinician-launch';

/** Types whose instances belong to the patient compartment and which the owner may read. */
const OWNER_READABLE_TYPES = [
  'Patient',
  'Observation',
  'Device',
  'Task',
  'AuditEvent',
  'DocumentReference',
  // Alerts about the owner's own data (issue 8 §6): the Flag, and the message sent to them.
  'Flag',
  'Communication',
] as const;

const TERMINOLOGY: AccessPolicyResource[] = ['StructureDefinition', 'ValueSet', 'CodeSystem'].map((resourceType) => ({
  resourceType,
  interaction: READ_SEARCH,
}));

/**
 * An entry limited to one patient. Device is not in FHIR R4's Patient compartment (its CompartmentDefinition lists
 * no parameter for it), so `_compartment` would match no Device at all: it is scoped by `Device.patient` instead.
 */
function compartmentEntry(resourceType: string, interaction: Interaction[]): AccessPolicyResource {
  const criteria = resourceType === 'Device' ? 'Device?patient=%patient' : `${resourceType}?_compartment=%patient`;
  return { resourceType, criteria, interaction };
}

/**
 * The owner's policy. `Bot` read is what `$execute` checks, so it is granted per bot, only for the bots meant for
 * owners, by identifier; with no such bot there is no Bot entry at all.
 * @param bots - The bot registry.
 * @returns The owner policy definition.
 */
export function ownerPolicy(bots: readonly BotDefinition[]): PolicyDefinition {
  return {
    key: POLICY_KEYS.owner,
    name: 'Baseline owner (own record only)',
    resource: [
      ...OWNER_READABLE_TYPES.map((type) => compartmentEntry(type, READ_ONLY)),
      // Grants are Consents the `share` bot writes for the owner after checking them (scope, ≤ 90 days); the owner
      // reads them. Were owners to write Consents themselves, the reconciler would still refuse malformed ones.
      compartmentEntry('Consent', READ_ONLY),
      ...bots
        .filter((bot) => bot.ownerInvocable)
        .map((bot): AccessPolicyResource => ({
          resourceType: 'Bot',
          criteria: `Bot?identifier=${tokenSearch(BOT_IDENTIFIER_SYSTEM, bot.identifier)}`,
          interaction: READ_SEARCH,
          // Not executableCode: $execute runs the code of the Bot as the caller read it, so hiding it breaks the run.
          hiddenFields: ['sourceCode', 'cronString', 'cronTiming'],
        })),
      ...TERMINOLOGY,
    ],
  };
}

const SHARE_READ: Interaction[] = ['read', 'vread', 'history', 'search'];
const tokens = (concepts: readonly { code: string }[]): string =>
  concepts.map((c) => `${CODE_SYSTEM}|${c.code}`).join(',');

/**
 * The share templates: a grant (bots/sharing) binds one access entry per part of its scope, each with the parameters
 * `patient` (the owner), `consent` (the grant), `codes` (the chosen metrics as `system|code,…`) and `since` (first
 * day of data). Medplum substitutes them as text; every criteria keeps `_compartment=%patient`, so entries from
 * several owners stay bound to their own owner when OR-ed. Read-only; nothing here names Basic, Task or a
 * connection record.
 */
export const SHARE_POLICIES: readonly PolicyDefinition[] = [
  {
    key: SHARE_POLICY_KEYS.base,
    name: 'Baseline share: the owner, their devices and the grant itself',
    resource: [
      { resourceType: 'Patient', criteria: 'Patient?_id=%patient.id', interaction: SHARE_READ },
      { resourceType: 'Device', criteria: 'Device?patient=%patient', interaction: SHARE_READ },
      { resourceType: 'Consent', criteria: 'Consent?_id=%consent.id', interaction: SHARE_READ },
    ],
  },
  {
    key: SHARE_POLICY_KEYS.wearable,
    name: 'Baseline share: wearable values of the chosen metrics since the start date',
    resource: [
      {
        resourceType: 'Observation',
        criteria: 'Observation?_compartment=%patient&code=%codes&date=ge%since',
        interaction: SHARE_READ,
      },
    ],
  },
  {
    key: SHARE_POLICY_KEYS.derived,
    name: 'Baseline share: baselines, trends and projections of the chosen metrics',
    resource: [
      {
        resourceType: 'Observation',
        criteria: `Observation?_compartment=%patient&code=${tokens(DERIVED_KINDS)}&component-code=%codes&date=ge%since`,
        interaction: SHARE_READ,
      },
    ],
  },
  {
    key: SHARE_POLICY_KEYS.narratives,
    name: 'Baseline share: weekly and monthly narratives',
    resource: [
      {
        resourceType: 'Observation',
        criteria: `Observation?_compartment=%patient&code=${tokens(NARRATIVE_KINDS)}&date=ge%since`,
        interaction: SHARE_READ,
      },
    ],
  },
  {
    key: SHARE_POLICY_KEYS.alerts,
    name: 'Baseline share: alerts (Flags and their messages)',
    resource: [
      { resourceType: 'Flag', criteria: 'Flag?_compartment=%patient&date=ge%since', interaction: SHARE_READ },
      {
        resourceType: 'Communication',
        criteria: 'Communication?_compartment=%patient&sent=ge%since',
        interaction: SHARE_READ,
      },
    ],
  },
];

/**
 * Lets Medplum record a grantee's reads. With `saveAuditEvents`, Medplum 5 writes the AuditEvent of every read,
 * vread, history and write *through the caller's own repository* (repo.ts logEvent → updateResourceImpl), so a caller
 * whose policy cannot create AuditEvents is not audited at all (the server only logs "Forbidden"). Create only, and
 * only AuditEvents naming the caller as agent: a grantee can neither read the log nor write one about someone else.
 */
const OWN_AUDIT_EVENTS: AccessPolicyResource = {
  resourceType: 'AuditEvent',
  criteria: 'AuditEvent?agent=%profile',
  interaction: ['create'],
};

/** Every clinician's standing policy: no patient data, just enough to sign in and launch the SMART app. */
export const CLINICIAN_BASE_POLICY: PolicyDefinition = {
  key: POLICY_KEYS.clinicianBase,
  name: 'Baseline clinician base (no patient data)',
  resource: [
    { resourceType: 'Practitioner', criteria: 'Practitioner?_id=%profile.id', interaction: READ_SEARCH },
    {
      resourceType: 'ClientApplication',
      criteria: `ClientApplication?_tag=${tokenSearch(CLIENT_IDENTIFIER_SYSTEM, CLINICIAN_LAUNCH_CLIENT_KEY)}`,
      interaction: READ_SEARCH,
      hiddenFields: ['secret', 'retiringSecret'],
    },
    // The Medplum app creates a SmartAppLaunch as the clinician before opening the launch URL.
    { resourceType: 'SmartAppLaunch', interaction: ['create'] },
    OWN_AUDIT_EVENTS,
    ...TERMINOLOGY,
  ],
};

/**
 * The EHR backend client's standing policy (client credentials): no patient data. Owners grant it, like a clinician,
 * through a Consent naming the EHR's Organization; the grant's share entries land on this client's membership.
 */
export const EHR_CLIENT_POLICY: PolicyDefinition = {
  key: POLICY_KEYS.ehrClient,
  name: 'Baseline EHR client base (no patient data until an owner grants it)',
  resource: [OWN_AUDIT_EVENTS, ...TERMINOLOGY],
};

/**
 * For the patient app and SMART app clients. Their users act through their own memberships; the client's own
 * membership is only used by a client-credentials login, which these public apps never need. Medplum gives a
 * membership with no policy full access, so this empty policy is what stops a leaked client secret.
 */
export const PUBLIC_CLIENT_POLICY: PolicyDefinition = {
  key: POLICY_KEYS.publicClient,
  name: 'Baseline public app clients (no direct access)',
  resource: [],
};

/**
 * Every AccessPolicy deploy manages: the role policies plus one per bot.
 * @param bots - The bot registry (decides the owner's Bot entries).
 * @param botPolicies - The bots' own policies.
 * @returns Role policies first, then bot policies.
 */
export function buildPolicyDefinitions(
  bots: readonly BotDefinition[],
  botPolicies: readonly PolicyDefinition[]
): PolicyDefinition[] {
  return [
    ownerPolicy(bots),
    ...SHARE_POLICIES,
    CLINICIAN_BASE_POLICY,
    EHR_CLIENT_POLICY,
    PUBLIC_CLIENT_POLICY,
    ...botPolicies,
  ];
}

/**
 * The AccessPolicy resource for a definition.
 * @param def - The policy definition.
 * @returns The resource deploy writes (no id).
 */
export function toAccessPolicy(def: PolicyDefinition): AccessPolicy {
  return {
    resourceType: 'AccessPolicy',
    meta: { tag: [identityTag(POLICY_IDENTIFIER_SYSTEM, def.key)] },
    name: def.name,
    ...(def.resource.length > 0 ? { resource: def.resource.map((entry) => ({ ...entry })) } : {}),
  };
}
