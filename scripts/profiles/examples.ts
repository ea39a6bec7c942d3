/**
 * The examples in data/example that Baseline's own code builds: a weekly narrative, an owner annotation, an alert
 * Flag with its Communication, the two owner-setting Basics, a resting-heart-rate trend, and two share Consents (one
 * in force, one revoked). Each comes out of the function the bots write with (narrativeObservation,
 * annotationObservation, flagResource, communicationResource, alertRuleResource, sourcePriorityResource,
 * planDerived, grantConsent/grantEnd/endConsent), fed with the demo person of the WHOOP sandbox (the same generator
 * `npm start` serves), so an example can never show a shape the code no longer writes: `npm run generate:profiles --
 * --check` and test/profiles.test.ts fail when it would. The trend's derivedFrom names the demo person's WHOOP
 * Observations as demoObservations ids them (demo-<n>); those are not examples themselves.
 *
 * The other files in data/example (wearable Observations, Device, Patient, the baseline band) are hand-written and
 * are left alone here.
 */
import { fileURLToPath } from 'node:url';
import type { Consent, Observation, Resource } from '@medplum/fhirtypes';
import {
  DEFAULT_RULES,
  alertRuleResource,
  communicationResource,
  effectiveRules,
  evaluateRules,
  flagResource,
} from '../../bots/analytics/alerts.ts';
import type { Firing } from '../../bots/analytics/alerts.ts';
import { annotationObservation, excludedDaysFrom, parseAnnotation } from '../../bots/analytics/annotations.ts';
import type { Annotation } from '../../bots/analytics/annotations.ts';
import { dailySeries } from '../../bots/analytics/daily.ts';
import type { DailySeries } from '../../bots/analytics/daily.ts';
import { planDerived } from '../../bots/analytics/derive.ts';
import { buildBeats, narrativeObservation } from '../../bots/analytics/narrative.ts';
import { ANALYTICS_PARAMS } from '../../bots/analytics/params.ts';
import { priorPeriod, weekContaining } from '../../bots/analytics/periods.ts';
import { sourcePriorityResource } from '../../bots/analytics/source-priority.ts';
import { dayFromIndex, dayIndex, rollingBands } from '../../bots/analytics/stats.ts';
import type { BandDay } from '../../bots/analytics/stats.ts';
import { endConsent, grantConsent, grantEnd } from '../../bots/sharing/grants.ts';
import type { ConsentInput } from '../../bots/sharing/grants.ts';
import {
  convertWhoopCycleToFhir,
  convertWhoopRecoveryToFhir,
  convertWhoopSleepToFhir,
  convertWhoopWorkoutToFhir,
} from '../../bots/whoop/mappers.ts';
import type { MapResult } from '../../bots/whoop/mappers.ts';
import { CycleSchema, RecoverySchema, SleepSchema, WorkoutSchema } from '../../bots/whoop/schemas.ts';
import { PersonGenerator, createPerson, dayNumberOf } from '../sandboxes/whoop/data.ts';
import { DEFAULT_SEED } from '../sandboxes/whoop/server.ts';
import { ANNOTATION_PROFILE, formatJson } from './meta.ts';

export const EXAMPLE_DIR = fileURLToPath(new URL('../../data/example/', import.meta.url));

/** The demo owner of the hand-written examples (data/example/Patient-baseline-demo-patient.json). */
export const DEMO_PATIENT = { reference: 'Patient/baseline-demo-patient', display: 'Alex Demo' } as const;
const DEMO_DEVICE = { reference: 'Device/baseline-demo-whoop' } as const;
/** The hand-written band example the narrative rests on. */
const DEMO_BASELINE = { reference: 'Observation/baseline-demo-hrv-rmssd-baseline' } as const;

/** The week the narrative tells: Monday 26 October to Sunday 1 November 2026, against the week before. */
export const DEMO_WEEK = weekContaining('2026-10-26');
/** History before the week: enough for 28-day bands and a prior week, as a demo owner after a few months has. */
const HISTORY_DAYS = 120;

/**
 * The demo person's WHOOP records for every day up to the end of DEMO_WEEK, mapped by the sync bot's own mappers
 * (after its own schemas), with the ids and versions a server would give them.
 */
export function demoObservations(lastDay: string = DEMO_WEEK.end, days: number = HISTORY_DAYS): Observation[] {
  const ctx = { patient: { reference: DEMO_PATIENT.reference }, device: DEMO_DEVICE, whoopUserId: '' };
  const generator = new PersonGenerator(createPerson(DEFAULT_SEED, 0));
  const out: Observation[] = [];
  const add = (result: MapResult): void => {
    for (const o of result.observations) {
      out.push({
        ...o,
        id: `demo-${out.length}`,
        meta: { ...o.meta, versionId: '1', lastUpdated: '2026-11-02T06:00:00Z' },
      });
    }
  };
  const whoopUserId = String(generator.person.userId);
  const last = dayNumberOf(lastDay);
  for (let d = last - days + 1; d <= last; d++) {
    const g = generator.day(d);
    const sleep = SleepSchema.parse(g.sleep);
    const c = { ...ctx, whoopUserId };
    add(convertWhoopCycleToFhir(CycleSchema.parse(g.cycle), c));
    add(convertWhoopSleepToFhir(sleep, c));
    add(convertWhoopRecoveryToFhir(RecoverySchema.parse(g.recovery), { ...c, sleep }));
    for (const w of g.workouts) {
      add(convertWhoopWorkoutToFhir(WorkoutSchema.parse(w), c));
    }
  }
  return out;
}

/** The owner's note in the demo week: two days travelling (they leave the baselines and are named in the narrative). */
export function demoAnnotation(): Observation {
  const o = annotationObservation(
    { key: 'demo-travel-2026-10-28', kind: 'travelling', start: '2026-10-28', end: '2026-10-29', note: 'Work trip' },
    DEMO_PATIENT
  );
  return { ...o, meta: { profile: [ANNOTATION_PROFILE] } };
}

function parsedAnnotation(o: Observation): Annotation {
  const parsed = parseAnnotation(o);
  if (!parsed.ok) {
    throw new Error(`the demo annotation does not parse: ${parsed.errors.join('; ')}`);
  }
  return parsed.annotation;
}

interface DemoSeries {
  readonly series: DailySeries;
  readonly bands: Record<string, BandDay[]>;
  readonly annotations: Annotation[];
}

/** The daily series and bands as the analytics bot computes them, annotated days left out. */
export function demoSeries(): DemoSeries {
  const annotations = [parsedAnnotation(demoAnnotation())];
  const series = dailySeries(demoObservations(), { excludedDays: excludedDaysFrom(annotations) });
  const bands = Object.fromEntries(
    Object.entries(series).map(([key, values]) => [key, rollingBands(values, ANALYTICS_PARAMS.band)])
  );
  return { series, bands, annotations };
}

export function demoNarrative(data: DemoSeries = demoSeries()): Observation {
  const outcome = buildBeats({
    series: data.series,
    bands: data.bands,
    period: DEMO_WEEK,
    prior: priorPeriod(DEMO_WEEK),
    annotations: data.annotations.map((a) => ({
      start: a.start,
      end: a.end,
      kind: a.kind,
      ...(a.note ? { note: a.note } : {}),
    })),
  });
  if (!outcome.ok) {
    throw new Error(`the demo week has no narrative: ${outcome.gated}`);
  }
  return narrativeObservation({
    subject: DEMO_PATIENT,
    beats: outcome.beats,
    locale: 'en',
    derivedFrom: [DEMO_BASELINE],
  });
}

/**
 * The latest firing of a default rule on or before the demo week's last day, judged day by day as the nightly
 * recompute would (no earlier Flag, so no cooldown). Throws when the demo data never fires one: the example must
 * show a real firing, not a made-up one.
 */
export function demoFiring(data: DemoSeries = demoSeries()): Firing {
  const rules = effectiveRules([]);
  const last = dayIndex(DEMO_WEEK.end);
  for (let d = last; d > last - HISTORY_DAYS; d--) {
    const day = dayFromIndex(d);
    const decisions = evaluateRules(rules, data.series, data.bands, day, [], `${day}T07:30:00Z`);
    const firing = decisions.fire[0];
    if (firing) {
      return firing;
    }
  }
  throw new Error(`no default rule fires on the demo data in the ${HISTORY_DAYS} days to ${DEMO_WEEK.end}`);
}

/** The demo week's evening, when the nightly recompute and the owner's sharing below happen. */
const DEMO_NOW = new Date(`${DEMO_WEEK.end}T20:00:00Z`);

/**
 * The demo owner's resting-heart-rate trend as the analytics bot plans it at the end of the demo week: a derived
 * Observation carrying the derived-source extension (the hand-written band example predates it).
 */
export function demoTrend(): Observation {
  const plan = planDerived({ patient: DEMO_PATIENT.reference, observations: demoObservations(), now: DEMO_NOW });
  const trend = plan.desired.find(
    (o) => o.identifier?.[0]?.value === 'baseline-demo-patient/resting-heart-rate/trend/current'
  );
  if (!trend) {
    throw new Error('the demo data yields no resting-heart-rate trend; the example must show a real one');
  }
  return trend;
}

/** The clinician and the EHR the demo owner shares with. */
export const DEMO_CLINICIAN = { reference: 'Practitioner/baseline-demo-clinician', display: 'Dr Jordan Lee' } as const;
export const DEMO_EHR = { reference: 'Organization/baseline-demo-ehr', display: 'Riverside Clinic EHR' } as const;

/** A grant as the share bot makes it: its end through grantEnd, as of the instant it starts. */
function demoGrant(input: Omit<ConsentInput, 'patientId' | 'end'> & { until: string }): Consent {
  const { until, ...rest } = input;
  return grantConsent({
    ...rest,
    patientId: DEMO_PATIENT.reference.slice('Patient/'.length),
    end: grantEnd(until, new Date(input.start)),
  });
}

/**
 * The demo owner's two shares: heart and sleep with their clinician for the longest a grant may run (90 days from
 * the day after the demo week), and an earlier share with an EHR that they revoked before its end.
 */
export function demoShares(): { active: Consent; revoked: Consent } {
  const active = demoGrant({
    key: '5f1d3a2b-8c4e-4f6a-9b7d-0e2c4a6b8d1f',
    grantee: DEMO_CLINICIAN,
    groups: ['heart', 'sleep'],
    content: ['wearable', 'derived', 'narratives'],
    since: '2026-08-01',
    start: '2026-11-02T09:00:00.000Z',
    until: '2027-01-31',
  });
  const revoked = demoGrant({
    key: '9a7c5e3b-1d2f-4a6b-8c0e-3f5a7b9c1d2e',
    grantee: DEMO_EHR,
    groups: ['heart', 'activity', 'scores'],
    content: ['wearable', 'alerts'],
    since: '2026-10-01',
    start: '2026-10-05T18:30:00.000Z',
    until: '2026-12-31',
  });
  return { active, revoked: endConsent(revoked, 'revoked', new Date('2026-10-30T12:00:00.000Z')) };
}

/** The resource with its id, keys in the usual FHIR order (resourceType, id, meta first). */
function withId<T extends Resource>(resource: T, id: string): T {
  const { resourceType, meta, ...rest } = resource;
  return { resourceType, id, ...(meta ? { meta } : {}), ...rest } as T;
}

/** @returns every generated example, each with its id */
export function buildExamples(): Resource[] {
  const data = demoSeries();
  const firing = demoFiring(data);
  const shares = demoShares();
  const flag = withId(flagResource(firing, DEMO_PATIENT), 'baseline-demo-alert-flag');
  const communication = communicationResource(firing, DEMO_PATIENT, {
    flag: { reference: `Flag/${flag.id ?? ''}` },
  });
  const ratio = DEFAULT_RULES.find((r) => r.kind === 'ratio-to-baseline');
  if (ratio?.kind !== 'ratio-to-baseline') {
    throw new Error('the default rules have no ratio-to-baseline rule to adjust');
  }
  return [
    withId(demoNarrative(data), 'baseline-demo-weekly-narrative'),
    withId(demoAnnotation(), 'baseline-demo-annotation'),
    flag,
    withId(communication, 'baseline-demo-alert-communication'),
    // An owner who finds the default too eager: below 75 % instead of 80 %.
    withId(alertRuleResource({ ...ratio, below: 0.75 }, DEMO_PATIENT), 'baseline-demo-alert-rule'),
    withId(
      sourcePriorityResource({ 'resting-heart-rate': ['oura', 'whoop'] }, DEMO_PATIENT),
      'baseline-demo-source-priority'
    ),
    withId(demoTrend(), 'baseline-demo-resting-heart-rate-trend'),
    withId(shares.active, 'baseline-demo-share-active'),
    withId(shares.revoked, 'baseline-demo-share-revoked'),
  ];
}

/** @returns file name (relative to data/example/) → exact file content */
export async function renderExampleFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const resource of buildExamples()) {
    files.set(`${resource.resourceType}-${resource.id ?? ''}.json`, await formatJson(resource));
  }
  return files;
}
