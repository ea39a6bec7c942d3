/**
 * The insights part of `npm run e2e:medplum` (issue 8), on whatever server the run targets: after the year's backfill
 * the analytics bot must have written bands and both narratives (en, de) that the server accepted against their
 * profiles; an annotation through the `annotate` bot moves a band and deleting it moves it back; a rule changed
 * through the `preferences` bot raises a Flag and a Communication the owner reads and owner B does not, and
 * disabling it ends the Flag; a recompute with no new data writes nothing. Every step is a real `$execute` under
 * the server's AccessPolicies.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import type { Observation, Task } from '@medplum/fhirtypes';
import { ALERT_FLAG_IDENTIFIER_SYSTEM } from '../../bots/analytics/alerts.ts';
import { DERIVED_IDENTIFIER_SYSTEM, PLANNED_KINDS } from '../../bots/analytics/derive.ts';
import { AnnotateResultSchema, PreferencesResultSchema } from '../../bots/analytics/owner-api.ts';
import { TASK_OUTPUT_SYSTEM, TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { BOT_IDENTIFIER_SYSTEM, CODE_SYSTEM } from '../../bots/shared/systems.ts';

type Check = (ok: boolean, what: string, saw: unknown) => void;
type Figure = (name: string, value: string) => void;

const DERIVED_CODES = PLANNED_KINDS.map((k) => `${CODE_SYSTEM}|${k}`).join(',');
const NARRATIVE_CODES = `${CODE_SYSTEM}|narrative-weekly,${CODE_SYSTEM}|narrative-monthly`;

function output(task: Pick<Task, 'output'>, code: string): number {
  return (
    task.output?.find((o) => o.type.coding?.some((c) => c.system === TASK_OUTPUT_SYSTEM && c.code === code))
      ?.valueInteger ?? 0
  );
}

async function all(client: MedplumClient, query: Record<string, string>): Promise<Observation[]> {
  const out: Observation[] = [];
  for await (const page of client.searchResourcePages(
    'Observation',
    { ...query, _count: '1000' },
    { cache: 'no-cache' }
  )) {
    out.push(...page);
  }
  return out;
}

/** When this e2e run began: the server keeps earlier runs' Tasks of the same owners, and they are not this run's. */
const RUN_STARTED = new Date().toISOString();

async function analyticsTasks(admin: MedplumClient, patientId: string): Promise<Task[]> {
  return admin.searchResources(
    'Task',
    {
      code: `${TASK_TYPE_SYSTEM}|analytics`,
      subject: `Patient/${patientId}`,
      _lastUpdated: `ge${RUN_STARTED}`,
      _count: '200',
      _sort: '-_lastUpdated',
    },
    { cache: 'no-cache' }
  );
}

/** Until the owner has analytics Tasks of this run, none waiting or running; throws on a failed one. */
async function analyticsIdle(admin: MedplumClient, patientId: string, timeoutMs: number): Promise<Task[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tasks = await analyticsTasks(admin, patientId);
    const failed = tasks.filter((t) => t.status === 'failed');
    if (failed.length > 0) {
      throw new Error(`an analytics recompute failed: ${failed.map((t) => t.businessStatus?.text).join('; ')}`);
    }
    if (tasks.length > 0 && tasks.every((t) => t.status === 'completed' || t.status === 'cancelled')) {
      return tasks;
    }
    if (Date.now() > deadline) {
      throw new Error(`analytics did not finish: ${tasks.map((t) => t.status).join(', ')}`);
    }
    await sleep(2000);
  }
}

function identifierOf(o: Observation, system = DERIVED_IDENTIFIER_SYSTEM): string {
  return o.identifier?.find((i) => i.system === system)?.value ?? '';
}

function sampleCount(o: Observation | undefined): number | undefined {
  return o?.component?.find((c) => c.code.coding?.some((k) => k.code === 'sample-count'))?.valueInteger;
}

function day(from: string, offset: number): string {
  return new Date(Date.parse(from + 'T00:00:00Z') + offset * 86_400_000).toISOString().slice(0, 10);
}

export async function insightsStep(
  admin: MedplumClient,
  ownerA: MedplumClient,
  ownerB: MedplumClient,
  patientA: string,
  connectedAt: string,
  check: Check,
  figure: Figure
): Promise<void> {
  const run = async (client: MedplumClient, name: string, input: Record<string, unknown>): Promise<unknown> =>
    client.executeBot({ system: BOT_IDENTIFIER_SYSTEM, value: name }, input, 'application/json');
  const started = Date.now();
  const settled = await analyticsIdle(admin, patientA, 20 * 60_000);
  figure('analytics idle after the backfill and webhooks', `${((Date.now() - started) / 1000).toFixed(0)} s more`);
  const derived = (await all(ownerA, { subject: `Patient/${patientA}`, code: DERIVED_CODES })).filter(
    (o) => o.status === 'final'
  );
  const kinds = (kind: string): number => derived.filter((o) => o.code.coding?.[0]?.code === kind).length;
  check(
    kinds('personal-baseline') > 100,
    'the analytics bot wrote personal baseline bands',
    kinds('personal-baseline')
  );
  // This run's recomputes: since owner A connected (the server may hold earlier runs' Tasks).
  const mine = settled
    .filter((t) => (t.meta?.lastUpdated ?? '') >= connectedAt)
    .sort((a, b) => (a.meta?.lastUpdated ?? '').localeCompare(b.meta?.lastUpdated ?? ''));
  const first = mine[0] ?? {};
  figure(
    'derived Observations',
    `${kinds('personal-baseline')} bands, ${kinds('trend')} trends, ${kinds('projection')} projections; ` +
      `${mine.length} recomputes since connecting (backfill and re-scores); the first created ` +
      `${output(first, 'created')} for ${output(first, 'points')} quota points in ${output(first, 'requests')} requests`
  );
  const narratives = (await all(ownerA, { subject: `Patient/${patientA}`, code: NARRATIVE_CODES })).filter(
    (o) => o.status === 'final'
  );
  const languages = narratives.map((o) => `${o.code.coding?.[0]?.code}/${o.language}`).sort();
  check(
    ['narrative-monthly/de', 'narrative-monthly/en', 'narrative-weekly/de', 'narrative-weekly/en'].every((k) =>
      languages.includes(k)
    ),
    'weekly and monthly narratives in English and German, accepted by the server against their profile',
    languages
  );
  check(
    (await ownerB.searchResources('Observation', { subject: `Patient/${patientA}`, code: NARRATIVE_CODES })).length ===
      0,
    "owner B reads none of owner A's narratives",
    'found some'
  );

  // ---- annotation moves the band that held its days, and back
  const bands = derived
    .filter((o) => /\/resting-heart-rate\/personal-baseline\/week-ending-/.test(identifierOf(o)))
    .sort((a, b) => identifierOf(b).localeCompare(identifierOf(a)));
  const target = bands[0];
  const windowEnd = target?.effectivePeriod?.end ?? '';
  const count = sampleCount(target) ?? 0;
  const created = AnnotateResultSchema.parse(
    await run(ownerA, 'annotate', {
      action: 'create',
      key: `e2e-${Date.now()}`,
      kind: 'travelling',
      start: day(windowEnd, -9),
      end: day(windowEnd, -7),
    })
  );
  const annotatedAt = Date.now();
  await analyticsIdle(admin, patientA, 10 * 60_000);
  const moved = (await all(ownerA, { subject: `Patient/${patientA}`, code: DERIVED_CODES })).find(
    (o) => identifierOf(o) === (target ? identifierOf(target) : '')
  );
  check(
    sampleCount(moved) === count - 3,
    'an annotation (annotate bot) takes its 3 days out of the band that held them',
    { before: count, after: sampleCount(moved) }
  );
  figure('annotation → band recomputed', `${((Date.now() - annotatedAt) / 1000).toFixed(1)} s`);
  const refused = await run(ownerB, 'annotate', { action: 'delete', id: created.annotation.id }).then(
    () => 'accepted',
    (err: unknown) => (err instanceof Error ? err.message : String(err))
  );
  check(refused === 'No such annotation', "owner B cannot delete owner A's annotation", refused);
  const directWrite = await ownerA
    .createResource<Observation>({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'not through the bot' },
      subject: { reference: `Patient/${patientA}` },
    })
    .then(
      () => 'accepted',
      (err: unknown) => (err instanceof Error ? err.message : String(err))
    );
  check(directWrite !== 'accepted', 'owner A cannot write an Observation directly', directWrite);
  AnnotateResultSchema.parse(await run(ownerA, 'annotate', { action: 'delete', id: created.annotation.id }));
  await analyticsIdle(admin, patientA, 10 * 60_000);
  const back = (await all(ownerA, { subject: `Patient/${patientA}`, code: DERIVED_CODES })).find(
    (o) => identifierOf(o) === (target ? identifierOf(target) : '')
  );
  check(sampleCount(back) === count, 'deleting the annotation puts the days back', sampleCount(back));

  // ---- a rule raises a Flag and a Communication; disabling it ends the Flag
  // A rule of this run's own: a rule fires at most once per judged day, and an earlier run on the same server and
  // day may already have raised (and ended) the default's.
  const prefs = PreferencesResultSchema.parse(await run(ownerA, 'preferences', { action: 'get' }));
  const hrv = prefs.rules.find((r) => r.rule.id === 'hrv-below-baseline')?.rule;
  if (hrv?.kind !== 'ratio-to-baseline') {
    throw new Error('the default HRV rule is missing');
  }
  const rule = { ...hrv, id: `e2e-${Date.now()}`, below: 0.999, above: 1.001 };
  PreferencesResultSchema.parse(await run(ownerA, 'preferences', { action: 'set-rule', rule }));
  await analyticsIdle(admin, patientA, 10 * 60_000);
  const flags = (await ownerA.searchResources('Flag', { _count: '100' }, { cache: 'no-cache' })).filter(
    (f) =>
      f.status === 'active' &&
      f.identifier?.some((i) => i.system === ALERT_FLAG_IDENTIFIER_SYSTEM && i.value?.includes(`:${rule.id}:`))
  );
  check(
    flags.length === 1,
    'a rule added through the preferences bot raises one Flag, read by the owner',
    flags.length
  );
  const flag = flags[0];
  const messages = await ownerA.searchResources('Communication', { _count: '100' }, { cache: 'no-cache' });
  const message = messages.find((m) => m.about?.some((a) => a.reference === `Flag/${flag?.id}`));
  check(
    message?.payload?.length === 2,
    'its Communication reaches the owner in English and German',
    message?.payload?.length
  );
  const seenByB = [
    ...(await ownerB.searchResources('Flag', {}, { cache: 'no-cache' })),
    ...(await ownerB.searchResources('Communication', {}, { cache: 'no-cache' })),
  ];
  // Owner B may have alerts of their own (the sharing step writes some); none may be owner A's.
  const ofA = seenByB.filter((r) => r.subject?.reference === `Patient/${patientA}`);
  check(ofA.length === 0, "owner B reads none of owner A's Flags or Communications", ofA.length);
  const basics = await ownerA.searchResources('Basic', {}, { cache: 'no-cache' }).then(
    (found) => found.length,
    () => 0
  );
  check(basics === 0, 'owner A reads no Basic (rules and ladders only through the bot)', basics);
  PreferencesResultSchema.parse(
    await run(ownerA, 'preferences', { action: 'set-rule', rule: { ...rule, enabled: false } })
  );
  await analyticsIdle(admin, patientA, 10 * 60_000);
  const ended = await ownerA.readResource('Flag', flag?.id ?? '', { cache: 'no-cache' });
  check(
    ended.status === 'inactive' && ended.period?.end !== undefined,
    'disabling the rule ends the Flag',
    ended.status
  );
  PreferencesResultSchema.parse(await run(ownerA, 'preferences', { action: 'reset-rule', id: rule.id }));
  await analyticsIdle(admin, patientA, 10 * 60_000);

  // ---- no new data, nothing written
  await run(admin, 'analytics', {});
  await sleep(3000);
  const idle = await analyticsIdle(admin, patientA, 10 * 60_000);
  const latest = idle[0] ?? {};
  const writes = output(latest, 'created') + output(latest, 'updated') + output(latest, 'retracted');
  check(writes === 0, 'a recompute with no new data writes nothing', writes);
  figure(
    'recompute with no new data',
    `${writes} writes, ${output(latest, 'requests')} requests, ${output(latest, 'points')} quota points`
  );
}
