/**
 * Demo people for a fresh project: the owner (a patient with wearables), a second patient, a clinician and the
 * admin. Uses only Medplum's admin invite API with the policies `deploy` put in place, so it runs unchanged against
 * a real Medplum (`npm run seed` with the same credentials as deploy). Re-running changes nothing.
 */
import type { MedplumClient } from '@medplum/core';
import type { AccessPolicy, Organization, ProjectMembership, Reference } from '@medplum/fhirtypes';
import { CLIENT_IDENTIFIER_SYSTEM, POLICY_IDENTIFIER_SYSTEM } from '../bots/shared/systems.ts';
import { EHR_CLIENT_IDENTIFIER_SYSTEM } from '../bots/sharing/membership.ts';
import { POLICY_KEYS } from '../data/core/access-policies.ts';
import { CLIENT_KEYS } from '../data/core/client-applications.ts';
import { tokenSearch } from '../data/core/identity.ts';
import type { SandboxPersonName } from './sandboxes/whoop/server.ts';

export interface DemoLogin {
  email: string;
  password: string;
}

export const DEMO_LOGINS = {
  owner: { email: 'owner@baseline.local', password: 'baseline-owner' },
  other: { email: 'other@baseline.local', password: 'baseline-other' },
  clinician: { email: 'clinician@baseline.local', password: 'baseline-clinician' },
  admin: { email: 'admin@baseline.local', password: 'baseline-admin' },
} as const satisfies Record<string, DemoLogin>;

interface DemoPerson {
  key: keyof typeof DEMO_LOGINS;
  resourceType: 'Patient' | 'Practitioner';
  firstName: string;
  lastName: string;
  policy: string;
}

const PEOPLE: DemoPerson[] = [
  { key: 'owner', resourceType: 'Patient', firstName: 'Alex', lastName: 'Rivera', policy: POLICY_KEYS.owner },
  { key: 'other', resourceType: 'Patient', firstName: 'Sam', lastName: 'Okafor', policy: POLICY_KEYS.owner },
  {
    key: 'clinician',
    resourceType: 'Practitioner',
    firstName: 'Jordan',
    lastName: 'Lee',
    policy: POLICY_KEYS.clinicianBase,
  },
];

/**
 * The WHOOP sandbox's people for the demo, in order: one per demo patient, named like them and with their email, so
 * on the sandbox's consent page each patient finds themselves. Their data differs (each has its own position in the
 * sandbox's seed); the owner's is the sandbox's default person.
 */
export const DEMO_WHOOP_PEOPLE: readonly { firstName: string; lastName: string; email: string }[] = PEOPLE.filter(
  (person) => person.resourceType === 'Patient'
).map((person) => ({ firstName: person.firstName, lastName: person.lastName, email: DEMO_LOGINS[person.key].email }));

/**
 * When the demo owner's synthetic illness-like episode starts, in days before the WHOOP sandbox's current day (the
 * day whose cycle is in progress). The newest wearable day is the one before it: the current day's sleep and
 * recovery are still PENDING_SCORE, as WHOOP scores a day the morning after. 7 puts that day on the episode's 7th
 * day, so the 7-day HRV mean lies wholly inside the episode (the HRV rule fires, also when today is the day judged)
 * and RHR has been above its band for days (the RHR rule fires when that day is the one judged).
 * scripts/sandboxes/whoop/demo-episode.test.ts checks both with the bots' own code.
 */
export const DEMO_OWNER_EPISODE_START_DAYS_BEFORE_CURRENT = 7;

/**
 * What `npm start` serves: DEMO_WHOOP_PEOPLE, with the owner (only) given a recent synthetic episode so the demo
 * shows an active alert. Synthetic demo data, placed on purpose; the second patient's data is the seed's alone.
 */
export const DEMO_START_WHOOP_PEOPLE: readonly SandboxPersonName[] = DEMO_WHOOP_PEOPLE.map((person) =>
  person.email === DEMO_LOGINS.owner.email
    ? { ...person, recentEpisode: { startDaysBeforeCurrent: DEMO_OWNER_EPISODE_START_DAYS_BEFORE_CURRENT } }
    : person
);

async function policyRef(medplum: MedplumClient, key: string): Promise<Reference<AccessPolicy>> {
  const policy = await medplum.searchOne('AccessPolicy', { _tag: tokenSearch(POLICY_IDENTIFIER_SYSTEM, key) });
  if (!policy) {
    throw new Error(`AccessPolicy "${key}" not found: run the deploy first`);
  }
  return { reference: `AccessPolicy/${policy.id}` };
}

/**
 * Invites the demo people (idempotent: `upsert` rewrites an existing membership to the same content).
 * @param medplum - A client signed in as a project admin.
 * @param projectId - The project to invite into.
 * @returns The memberships, keyed like DEMO_LOGINS.
 */
export async function seedDemoPeople(
  medplum: MedplumClient,
  projectId: string
): Promise<Record<DemoPerson['key'], ProjectMembership>> {
  const result: Partial<Record<DemoPerson['key'], ProjectMembership>> = {};
  for (const person of PEOPLE) {
    const login = DEMO_LOGINS[person.key];
    const membership = await medplum.invite(projectId, {
      resourceType: person.resourceType,
      firstName: person.firstName,
      lastName: person.lastName,
      email: login.email,
      password: login.password,
      sendEmail: false,
      upsert: true,
      membership: { accessPolicy: await policyRef(medplum, person.policy) },
    });
    if (membership.resourceType !== 'ProjectMembership') {
      throw new Error(`Inviting ${login.email} failed: ${JSON.stringify(membership.issue)}`);
    }
    result[person.key] = membership;
  }
  await seedDemoEhr(medplum);
  return result as Record<DemoPerson['key'], ProjectMembership>;
}

/** The demo EHR's name, as owners see it in the list of whom they can share with. */
export const DEMO_EHR_NAME = 'Riverside Clinic EHR';

/**
 * The Organization owners grant when they share with the demo EHR: it names the EHR backend client deploy created
 * (EHR_CLIENT_IDENTIFIER_SYSTEM), so the grant lands on that client's membership. Idempotent.
 * @param medplum - A client signed in as a project admin.
 * @returns The Organization.
 */
export async function seedDemoEhr(medplum: MedplumClient): Promise<Organization> {
  const client = await medplum.searchOne('ClientApplication', {
    _tag: tokenSearch(CLIENT_IDENTIFIER_SYSTEM, CLIENT_KEYS.ehrClient),
  });
  if (!client) {
    throw new Error('The EHR ClientApplication was not found: run the deploy first');
  }
  return medplum.createResourceIfNoneExist<Organization>(
    {
      resourceType: 'Organization',
      name: DEMO_EHR_NAME,
      identifier: [{ system: EHR_CLIENT_IDENTIFIER_SYSTEM, value: client.id }],
    },
    `identifier=${encodeURIComponent(`${EHR_CLIENT_IDENTIFIER_SYSTEM}|${client.id}`)}`
  );
}
