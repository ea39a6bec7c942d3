import type { Observation } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { getMetric, metricCategory, metricCodings, metricQuantity } from './catalogue.ts';
import { UCUM } from './systems.ts';
import { validateWearableObservation } from './validate-observation.ts';

function observation(key: string, extra: Partial<Observation>): Observation {
  const metric = getMetric(key);
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [metricCategory(metric)],
    code: { coding: metricCodings(metric) },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2026-11-02T06:41:00Z',
    device: { reference: 'Device/d1' },
    ...extra,
  };
}

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

  test('rejects a series in the wrong unit', () => {
    const o = observation('heart-rate', {
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

  test('accepts a series, skipping SampledData error markers', () => {
    const o = observation('heart-rate', {
      valueSampledData: {
        origin: { value: 0, system: UCUM, code: '/min' },
        period: 60000,
        dimensions: 1,
        data: '61 E 63 L',
      },
    });
    expect(validateWearableObservation(o)).toMatchObject({ ok: true });
  });
});
