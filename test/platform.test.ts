/**
 * The platform, end to end over real HTTP against the local stack: patient isolation (direct, search, _include,
 * batch), bots via $execute under their own policy, a Subscription firing a bot once per matching create, a public
 * webhook reaching its bot (raw body honoured), and a bundle touching a global vmcontext lacks failing as on Medplum.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Bot, Bundle, Consent, Observation, Patient, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BOT_IDENTIFIER_SYSTEM } from '../bots/shared/systems.ts';
import { FIXTURE_BOTS, FIXTURE_BOT_POLICIES } from './fixtures/bots/registry.ts';
import { startTestStack } from './harness/stack.ts';
import type { TestStack } from './harness/stack.ts';

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let ownerPatient: WithId<Patient>;
let otherPatient: WithId<Patient>;
let otherObservation: WithId<Observation>;

function observationFor(patient: Patient, value: number): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: getReferenceString(patient as WithId<Patient>) },
    effectiveDateTime: '2026-11-01T07:00:00Z',
    valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  };
}

function consentFor(patient: Patient): Consent {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    patient: { reference: getReferenceString(patient as WithId<Patient>) },
  };
}

async function botByName(name: string): Promise<WithId<Bot>> {
  const identifier = FIXTURE_BOTS.find((b) => b.name === name)?.identifier ?? '';
  const bot = await env.adminClient.searchOne('Bot', { identifier: `${BOT_IDENTIFIER_SYSTEM}|${identifier}` });
  if (!bot) {
    throw new Error(`fixture bot ${name} was not deployed`);
  }
  return bot;
}

beforeAll(async () => {
  env = await startTestStack({ bots: FIXTURE_BOTS, botPolicies: FIXTURE_BOT_POLICIES });
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  otherPatient = (await other.getProfileAsync()) as WithId<Patient>;
  // Observations are written by bots in Baseline; owners only read them. The admin stands in for a bot here.
  await env.adminClient.createResource(observationFor(ownerPatient, 57));
  otherObservation = await env.adminClient.createResource(observationFor(otherPatient, 61));
});

afterAll(async () => {
  await env?.stop();
});

describe('patient isolation', () => {
  test('owner reads their own Observations; grants (Consents) are written by the share bot, never by the owner', async () => {
    const mine = await owner.searchResources('Observation', { subject: getReferenceString(ownerPatient) });
    expect(mine.map((o) => o.valueQuantity?.value)).toContain(57);
    await expect(owner.createResource(consentFor(ownerPatient))).rejects.toThrow('Forbidden');
  });

  test('owner may not write Observations at all (bots do)', async () => {
    await expect(owner.createResource(observationFor(ownerPatient, 58))).rejects.toThrow('Forbidden');
  });

  test("owner cannot read the other patient's Patient or Observation directly", async () => {
    await expect(owner.readResource('Patient', otherPatient.id)).rejects.toThrow('Not found');
    await expect(owner.readResource('Observation', otherObservation.id)).rejects.toThrow('Not found');
  });

  test("owner's searches never return the other patient's data", async () => {
    const byId = await owner.searchResources('Observation', { _id: otherObservation.id });
    expect(byId).toHaveLength(0);
    const bySubject = await owner.searchResources('Observation', { subject: getReferenceString(otherPatient) });
    expect(bySubject).toHaveLength(0);
    const all = await owner.searchResources('Observation', { _count: '1000' });
    expect(all.every((o) => o.subject?.reference === getReferenceString(ownerPatient))).toBe(true);
  });

  test('_include and _revinclude do not leak the other patient', async () => {
    const mine = await owner.search('Observation', { _include: 'Observation:subject', _count: '100' });
    const refs = (mine.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
    expect(refs).not.toContain(getReferenceString(otherPatient));
    const rev = await owner.search('Patient', { _revinclude: 'Observation:subject', _count: '100' });
    const ids = (rev.entry ?? []).map((e) => e.resource?.id);
    expect(ids).not.toContain(otherObservation.id);
    expect(ids).not.toContain(otherPatient.id);
  });

  test("owner cannot write into the other patient's compartment", async () => {
    await expect(owner.createResource(consentFor(otherPatient))).rejects.toThrow('Forbidden');
    await expect(owner.updateResource({ ...otherObservation, status: 'amended' })).rejects.toThrow();
    const still = await other.readResource('Observation', otherObservation.id);
    expect(still.status).toBe('final');
  });

  test("a batch mixing own and other's entries fails per entry for the other's", async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Patient/${ownerPatient.id}` } },
        { request: { method: 'POST', url: 'Consent' }, resource: consentFor(otherPatient) },
        { request: { method: 'GET', url: `Observation/${otherObservation.id}` } },
      ],
    };
    const result = await owner.executeBatch(bundle);
    const statuses = (result.entry ?? []).map((e) => e.response?.status);
    expect(statuses[0]).toMatch(/^200/);
    expect(statuses[1]).toMatch(/^403/);
    expect(statuses[2]).toMatch(/^404/);
  });

  test('owner cannot see bots, subscriptions or memberships', async () => {
    // Types outside the policy are refused outright (Medplum answers 403 for a search of an unlisted type).
    await expect(owner.searchResources('Subscription', {})).rejects.toThrow('Forbidden');
    // Bots: only the owner-facing ones, and without their code.
    const bots = await owner.searchResources('Bot', {});
    expect(bots.map((b) => b.name).sort()).toEqual([
      'annotate',
      'connect-callback',
      'connect-start',
      'connections',
      'disconnect',
      'preferences',
      'share',
    ]);
    expect(bots.every((b) => !b.sourceCode)).toBe(true);
    await expect(owner.searchResources('ProjectMembership', {})).rejects.toThrow('Forbidden');
    await expect(owner.searchResources('Basic', {})).rejects.toThrow('Forbidden');
  });
});

describe('bots', () => {
  test('$execute runs as the bot: its policy allows the Communication, refuses the Patient', async () => {
    const bot = await botByName('fixture-write-probe');
    const result = (await env.adminClient.executeBot(bot.id, {
      allowed: { resourceType: 'Communication', status: 'completed', payload: [{ contentString: 'probe' }] },
      forbidden: { resourceType: 'Patient', name: [{ family: 'Forbidden' }] },
    })) as { allowedId: string; forbiddenError: string | null };
    expect(result.allowedId).toBeTruthy();
    expect(result.forbiddenError).toBe('Forbidden');
    const written = await env.adminClient.readResource('Communication', result.allowedId);
    expect(written.meta?.author?.reference).toBe(getReferenceString(bot));
    expect(await env.adminClient.searchResources('Patient', { name: 'Forbidden' })).toHaveLength(0);
  });

  test('$execute by identifier works, and an owner may not run a bot outside their policy', async () => {
    const def = FIXTURE_BOTS.find((b) => b.name === 'fixture-echo');
    const result = (await env.adminClient.executeBot(
      { system: BOT_IDENTIFIER_SYSTEM, value: def?.identifier ?? '' },
      { hello: 'world' }
    )) as { input: unknown };
    expect(result.input).toEqual({ hello: 'world' });
    // Medplum 5.0.10: a bot the caller cannot see by identifier is simply "Not found" (404).
    await expect(owner.executeBot({ system: BOT_IDENTIFIER_SYSTEM, value: def?.identifier ?? '' }, {})).rejects.toThrow(
      'Not found'
    );
  });

  test('every run is recorded as an AuditEvent on the bot', async () => {
    const bot = await botByName('fixture-echo');
    // With saveAuditEvents (the local stack's default, as Baseline's deployments set it) the caller's read of the Bot
    // is an AuditEvent too (type rest); the run itself is type execute.
    const events = await env.adminClient.searchResources('AuditEvent', {
      entity: getReferenceString(bot),
      type: 'https://medplum.com/CodeSystem/audit-event|execute',
    });
    expect(events.length).toBeGreaterThan(0);
    expect(events[0]?.type?.code).toBe('execute');
  });

  test('a bundle touching Buffer fails in the local stack as on Medplum', async () => {
    const bot = await botByName('fixture-touch-forbidden-global');
    await expect(env.adminClient.executeBot(bot.id, {})).rejects.toThrow('Buffer is not defined');
  });

  test('a Subscription triggers its bot exactly once per matching create', async () => {
    const bot = await botByName('fixture-count-trigger');
    const subscription = await env.adminClient.createResource<Subscription>({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'platform test',
      criteria: 'Observation?code=http://loinc.org|8867-4',
      channel: { type: 'rest-hook', endpoint: getReferenceString(bot) },
      extension: [
        { url: 'https://medplum.com/fhir/StructureDefinition/subscription-supported-interaction', valueCode: 'create' },
      ],
    });
    const created = await env.adminClient.createResource(observationFor(ownerPatient, 64));
    // An update must not fire a create-only subscription, and a non-matching code must not fire at all.
    await env.adminClient.updateResource({ ...created, status: 'amended' });
    await env.adminClient.createResource({
      ...observationFor(ownerPatient, 15),
      code: { coding: [{ system: 'http://loinc.org', code: '9279-1' }] },
    });
    await env.stack.subscriptions.idle();
    const comms = await env.adminClient.searchResources('Communication', {
      'based-on': getReferenceString(created),
    });
    expect(comms).toHaveLength(1);
    expect(comms[0]?.payload?.[0]?.contentString).toBe(`triggered by ${getReferenceString(created)}`);
    await env.adminClient.deleteResource('Subscription', subscription.id);
  });
});

describe('cron', () => {
  test('a bot runs on the minutes its cron string names, with itself as input', async () => {
    const bot = await botByName('fixture-cron');
    expect(await env.stack.cron.tick(new Date('2026-11-21T10:06:00Z'))).not.toContain(bot.id);
    expect(await env.stack.cron.tick(new Date('2026-11-21T10:05:00Z'))).toContain(bot.id);
    const comms = await env.adminClient.searchResources('Communication', { 'based-on': getReferenceString(bot) });
    expect(comms).toHaveLength(1);
  });
});

describe('public webhooks', () => {
  async function webhookUrl(name: string): Promise<string> {
    const bot = await botByName(name);
    const membership = await env.adminClient.searchOne('ProjectMembership', {
      profile: getReferenceString(bot),
    });
    return `${env.baseUrl}webhook/${membership?.id}`;
  }

  test('an unauthenticated POST reaches the bot with the exact raw body and headers', async () => {
    const raw = '{"b": 2,  "a": 1}';
    const res = await fetch(await webhookUrl('fixture-echo-raw'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Test-Signature': 'abc' },
      body: raw,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { input: unknown; headers: Record<string, string> };
    expect(body.input).toBe(raw);
    expect(body.headers['x-test-signature']).toBe('abc');
  });

  test('a bot without publicWebhook is refused with 403, and GET is not routed', async () => {
    const url = await webhookUrl('fixture-echo');
    expect(
      (await fetch(url, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } })).status
    ).toBe(403);
    expect((await fetch(await webhookUrl('fixture-echo-raw'))).status).toBe(404);
  });
});
