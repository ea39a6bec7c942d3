import type { Observation, ObservationComponent } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { allowedComponents, getMetric, metricCategory, metricCodings, metricQuantity } from './catalogue.ts';
import type { AllowedComponent } from './catalogue.ts';
import { INTRADAY_PROFILE } from './sampled-data.ts';
import { CODE_SYSTEM, UCUM, WEARABLE_PROFILE } from './systems.ts';
import { validateWearableObservation } from './validate-observation.ts';

function observation(key: string, extra: Partial<Observation>): Observation {
  const metric = getMetric(key);
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [metricCategory(metric, extra.valueSampledData !== undefined)],
    code: { coding: metricCodings(metric) },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2026-11-02T06:41:00Z',
    device: { reference: 'Device/d1' },
    ...extra,
  };
}

const PERIOD = { start: '2026-11-02T17:30:00Z', end: '2026-11-02T18:15:00Z' };

describe('validateWearableObservation', () => {
  test('rejects a panel given a single valueQuantity', () => {
    const o = observation('blood-pressure', { valueQuantity: { value: 120, system: UCUM, code: 'mm[Hg]' } });
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: [
        'blood-pressure does not take valueQuantity',
        'blood-pressure needs exactly one 8480-6 component with a valueQuantity',
        'blood-pressure needs exactly one 8462-4 component with a valueQuantity',
      ],
    });
  });

  test('rejects a series for a single-value metric', () => {
    const o = observation('spo2', {
      valueSampledData: { origin: { value: 0, system: UCUM, code: '%' }, period: 60000, dimensions: 1, data: '97' },
    });
    expect(validateWearableObservation(o)).toEqual({ ok: false, errors: ['spo2 does not take valueSampledData'] });
  });

  const WINDOW = { start: '2026-11-02T00:00:00Z', end: '2026-11-03T00:00:00Z' };

  test('rejects a series in the wrong unit', () => {
    const o = observation('heart-rate', {
      effectiveDateTime: undefined,
      effectivePeriod: WINDOW,
      valueSampledData: { origin: { value: 0, system: UCUM, code: 'Hz' }, period: 60000, dimensions: 1, data: '1' },
    });
    expect(validateWearableObservation(o)).toEqual({ ok: false, errors: ['heart-rate series unit Hz is not /min'] });
  });

  test('rejects a Quantity without a value', () => {
    const o = observation('steps', { valueQuantity: { system: UCUM, code: '{steps}' } });
    expect(validateWearableObservation(o)).toEqual({ ok: false, errors: ['steps has no value'] });
  });

  test('rejects an Observation with no value at all', () => {
    expect(validateWearableObservation(observation('steps', {}))).toEqual({
      ok: false,
      errors: ['steps has no value'],
    });
  });

  test('accepts a well-formed Observation built from the catalogue helpers, and names its metric', () => {
    const metric = getMetric('resting-heart-rate');
    const o = observation('resting-heart-rate', { valueQuantity: metricQuantity(metric, 54) });
    const result = validateWearableObservation(o);
    expect(result.ok && result.metric.key).toBe('resting-heart-rate');
  });

  test('rejects a series without its window, or with more samples than the window holds', () => {
    const sampled = (data: string): Partial<Observation> => ({
      valueSampledData: { origin: { value: 0, system: UCUM, code: '/min' }, period: 60000, dimensions: 1, data },
    });
    expect(validateWearableObservation(observation('heart-rate', sampled('61 62')))).toEqual({
      ok: false,
      errors: ['heart-rate series needs an effectivePeriod with a start and an end (its window)'],
    });
    const tenMinutes = { start: '2026-11-02T07:00:00Z', end: '2026-11-02T07:10:00Z' };
    const eleven = observation('heart-rate', {
      ...sampled('61 61 61 61 61 61 61 61 61 61 E'),
      effectivePeriod: tenMinutes,
    });
    expect(validateWearableObservation(eleven)).toEqual({
      ok: false,
      errors: ['heart-rate series has 11 samples but its window holds 10 periods'],
    });
    const ten = observation('heart-rate', { ...sampled('61 62 63 64 65 66 67 68 69 70'), effectivePeriod: tenMinutes });
    expect(validateWearableObservation(ten)).toMatchObject({ ok: true });
    const flat = observation('heart-rate', { ...sampled('61'), effectivePeriod: WINDOW });
    if (flat.valueSampledData) {
      flat.valueSampledData.dimensions = 2;
      flat.valueSampledData.period = 0;
    }
    expect(validateWearableObservation(flat)).toEqual({
      ok: false,
      errors: [
        'heart-rate series must have 1 dimension, not 2',
        'heart-rate series period 0 is not a positive number of ms',
      ],
    });
  });

  test('accepts a series, skipping SampledData error markers', () => {
    const o = observation('heart-rate', {
      effectiveDateTime: undefined,
      effectivePeriod: WINDOW,
      valueSampledData: {
        origin: { value: 0, system: UCUM, code: '/min' },
        period: 60000,
        dimensions: 1,
        data: '61 E 63 L',
      },
    });
    expect(validateWearableObservation(o)).toMatchObject({ ok: true });
  });

  test('rejects a series declaring the wearable profile, which takes single values only', () => {
    const series = (profile: string): Observation =>
      observation('steps', {
        meta: { profile: [profile] },
        effectiveDateTime: undefined,
        effectivePeriod: WINDOW,
        valueSampledData: {
          origin: { value: 0, system: UCUM, code: '{steps}' },
          period: 60000,
          dimensions: 1,
          data: '12 0 E 30',
        },
      });
    expect(validateWearableObservation(series(WEARABLE_PROFILE))).toEqual({
      ok: false,
      errors: ['steps series must declare the intraday profile, not the wearable one'],
    });
    expect(validateWearableObservation(series(INTRADAY_PROFILE))).toMatchObject({ ok: true });
    // A single value of the same metric is the wearable profile's.
    const single = observation('steps', {
      meta: { profile: [WEARABLE_PROFILE] },
      valueQuantity: metricQuantity(getMetric('steps'), 8400),
    });
    expect(validateWearableObservation(single)).toMatchObject({ ok: true });
  });

  test('rejects a coded value on a metric that takes numbers', () => {
    const o = observation('resting-heart-rate', {
      valueQuantity: metricQuantity(getMetric('resting-heart-rate'), 54),
      valueCodeableConcept: { text: 'running' },
    });
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['resting-heart-rate does not take valueCodeableConcept'],
    });
  });

  test('rejects a workout session whose sport has no text', () => {
    const o = observation('workout-activity', { effectivePeriod: PERIOD, valueCodeableConcept: { text: ' ' } });
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['workout-activity valueCodeableConcept has no text'],
    });
  });

  test('rejects a workout session at an instant instead of over its period', () => {
    const o = observation('workout-activity', { valueCodeableConcept: { text: 'running' } });
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['workout-activity needs an effectivePeriod (the session it describes)'],
    });
  });

  test('rejects a workout session with no sport at all', () => {
    expect(validateWearableObservation(observation('workout-activity', { effectivePeriod: PERIOD }))).toEqual({
      ok: false,
      errors: ['workout-activity has no value'],
    });
  });

  test('rejects a workout session carrying a number', () => {
    const o = observation('workout-activity', {
      effectivePeriod: PERIOD,
      valueQuantity: { value: 45, system: UCUM, code: 'min' },
    });
    expect(validateWearableObservation(o)).toEqual({
      ok: false,
      errors: ['workout-activity does not take valueQuantity'],
    });
  });

  test('rejects a heart rate zone panel missing a zone, and a zone over a day long', () => {
    const zones = getMetric('hr-zone-durations');
    const component = (zones.components ?? []).map((c, i) => ({
      code: { coding: [c.code] },
      valueQuantity: metricQuantity({ unit: c.unit, unitLabel: 'min' }, i === 2 ? 2000 : 5),
    }));
    expect(validateWearableObservation(observation('hr-zone-durations', { component: component.slice(1) }))).toEqual({
      ok: false,
      errors: [
        'hr-zone-durations.hr-zone-2 value 2000 min is outside the plausible range 0–1440 min',
        'hr-zone-durations needs exactly one hr-zone-0 component with a valueQuantity',
      ],
    });
  });

  test('accepts a heart rate zone panel and a workout session', () => {
    const zones = getMetric('hr-zone-durations');
    const component = (zones.components ?? []).map((c) => ({
      code: { coding: [c.code] },
      valueQuantity: metricQuantity({ unit: c.unit, unitLabel: 'min' }, 7.5),
    }));
    const panel = validateWearableObservation(observation('hr-zone-durations', { component }));
    expect(panel.ok && panel.metric.key).toBe('hr-zone-durations');
    const session = validateWearableObservation(
      observation('workout-activity', { effectivePeriod: PERIOD, valueCodeableConcept: { text: 'running' } })
    );
    expect(session.ok && session.metric.key).toBe('workout-activity');
  });

  describe('record panels (catalogue members)', () => {
    function members(key: string, value: (c: AllowedComponent) => number): ObservationComponent[] {
      return allowedComponents(getMetric(key)).map((c) => ({
        code: { coding: [c.code] },
        valueQuantity: metricQuantity(c, value(c)),
      }));
    }

    test('accepts a night with every member, each in its own unit and range', () => {
      const o = observation('sleep-duration', {
        effectivePeriod: PERIOD,
        valueQuantity: metricQuantity(getMetric('sleep-duration'), 420),
        component: members('sleep-duration', (c) => c.range.min + 1),
      });
      expect(validateWearableObservation(o)).toMatchObject({ ok: true });
    });

    test('rejects a member of another record panel (a cycle value inside a night)', () => {
      const o = observation('sleep-duration', {
        valueQuantity: metricQuantity(getMetric('sleep-duration'), 420),
        component: members('whoop-day-strain', () => 70).filter(
          (c) => c.code.coding?.[0]?.code === 'heart-rate-average'
        ),
      });
      expect(validateWearableObservation(o)).toEqual({
        ok: false,
        errors: [`sleep-duration does not take a component ${CODE_SYSTEM}|heart-rate-average`],
      });
    });

    test('rejects a member without a valueQuantity', () => {
      const o = observation('hrv-rmssd', {
        valueQuantity: metricQuantity(getMetric('hrv-rmssd'), 48),
        component: [{ code: { coding: [getMetric('whoop-recovery').code] }, valueString: '67%' }],
      });
      expect(validateWearableObservation(o)).toEqual({
        ok: false,
        errors: ['hrv-rmssd.whoop-recovery component has no valueQuantity'],
      });
    });

    test('rejects a member that is implausible, naming the member', () => {
      const o = observation('whoop-day-strain', {
        valueQuantity: metricQuantity(getMetric('whoop-day-strain'), 12),
        component: members('whoop-day-strain', (c) => (c.rangeKey === 'heart-rate-max' ? 260 : c.range.min)),
      });
      expect(validateWearableObservation(o)).toEqual({
        ok: false,
        errors: ['heart-rate-max value 260 /min is outside the plausible range 30–250 /min'],
      });
    });

    test('accepts a workout with all six zones, and rejects one with a zone missing', () => {
      const all = members('workout-activity', (c) => c.range.min);
      const session = (component: ObservationComponent[]): Observation =>
        observation('workout-activity', {
          effectivePeriod: PERIOD,
          valueCodeableConcept: { text: 'running' },
          component,
        });
      expect(validateWearableObservation(session(all))).toMatchObject({ ok: true });
      expect(validateWearableObservation(session(all.filter((c) => c.code.coding?.[0]?.code !== 'hr-zone-0')))).toEqual(
        {
          ok: false,
          errors: ['workout-activity needs all 6 hr-zone-durations components or none, not 5'],
        }
      );
    });
  });
});
