/**
 * Catalogue check for wearable Observations, run by mappers before a write.
 *
 * Why this exists beside the profile: @medplum/core's validateResource does not enforce required bindings (it only
 * collects the codes so the server can check them when the project has the `validate-terminology` feature), and it
 * ignores constraints inside type slices. The generated profile therefore carries table-driven FHIRPath invariants
 * (enforced by Medplum on write; one per rule, each naming the whole catalogue table), and this module gives the
 * same verdict without a server, with a message about the one metric at hand. It is also the only layer that checks
 * the samples inside valueSampledData.data against the plausible range: FHIRPath cannot split that string.
 */
import type { Observation, Quantity } from '@medplum/fhirtypes';
import { checkPlausible, metricByCode } from './catalogue.ts';
import type { Metric } from './catalogue.ts';
import { OBSERVATION_CATEGORY_SYSTEM, UCUM } from './systems.ts';

export type ObservationCheck = { ok: true; metric: Metric } | { ok: false; errors: string[] };

function findMetric(observation: Observation): Metric | undefined {
  for (const coding of observation.code?.coding ?? []) {
    const metric = metricByCode(coding.system, coding.code);
    if (metric) {
      return metric;
    }
  }
  return undefined;
}

function checkQuantity(label: string, quantity: Quantity, unit: string, rangeKey: string, errors: string[]): void {
  if (quantity.system !== UCUM || quantity.code !== unit) {
    errors.push(
      `${label} unit ${quantity.system ?? '(no system)'}|${quantity.code ?? '(no code)'} is not ${UCUM}|${unit}`
    );
    return;
  }
  if (quantity.value === undefined) {
    errors.push(`${label} has no value`);
    return;
  }
  const plausible = checkPlausible(rangeKey, quantity.value);
  if (!plausible.ok) {
    errors.push(plausible.message);
  }
}

/**
 * @param observation - a wearable Observation about to be written
 * @returns the matched metric, or every problem found
 */
export function validateWearableObservation(observation: Observation): ObservationCheck {
  const metric = findMetric(observation);
  if (!metric) {
    const codes = (observation.code?.coding ?? []).map((c) => `${c.system ?? ''}|${c.code ?? ''}`).join(', ');
    return { ok: false, errors: [`code ${codes || '(none)'} is not a Baseline catalogue metric`] };
  }
  const errors: string[] = [];
  const categories = (observation.category ?? []).flatMap((c) => c.coding ?? []);
  if (!categories.some((c) => c.system === OBSERVATION_CATEGORY_SYSTEM && c.code === metric.category)) {
    errors.push(`${metric.key} must have category ${metric.category}`);
  }

  if (observation.valueQuantity) {
    if (!metric.valueTypes.includes('Quantity')) {
      errors.push(`${metric.key} does not take valueQuantity`);
    } else {
      checkQuantity(metric.key, observation.valueQuantity, metric.unit, metric.key, errors);
    }
  }
  if (observation.valueSampledData) {
    const sampled = observation.valueSampledData;
    if (!metric.valueTypes.includes('SampledData')) {
      errors.push(`${metric.key} does not take valueSampledData`);
    } else if (sampled.origin.system !== UCUM || sampled.origin.code !== metric.unit) {
      errors.push(`${metric.key} series unit ${sampled.origin.code ?? '(no code)'} is not ${metric.unit}`);
    } else {
      const factor = sampled.factor ?? 1;
      for (const token of (sampled.data ?? '').split(' ')) {
        // E, L and U are SampledData's "error", "below limit" and "above limit" markers, not values.
        if (token === '' || token === 'E' || token === 'L' || token === 'U') {
          continue;
        }
        const plausible = checkPlausible(metric.key, (sampled.origin.value ?? 0) + Number(token) * factor);
        if (!plausible.ok) {
          errors.push(plausible.message);
          break;
        }
      }
    }
  }
  if (observation.valueCodeableConcept) {
    if (!metric.valueTypes.includes('CodeableConcept')) {
      errors.push(`${metric.key} does not take valueCodeableConcept`);
    } else if (!observation.valueCodeableConcept.text?.trim()) {
      errors.push(`${metric.key} valueCodeableConcept has no text`);
    }
  }
  if (metric.valueTypes.includes('CodeableConcept') && !observation.effectivePeriod) {
    errors.push(`${metric.key} needs an effectivePeriod (the session it describes)`);
  }
  if (metric.components) {
    for (const expected of metric.components) {
      const found = observation.component?.filter((c) =>
        c.code.coding?.some((x) => x.system === expected.code.system && x.code === expected.code.code)
      );
      if (found?.length !== 1 || !found[0]?.valueQuantity) {
        errors.push(`${metric.key} needs exactly one ${expected.code.code} component with a valueQuantity`);
        continue;
      }
      checkQuantity(
        `${metric.key}.${expected.code.code}`,
        found[0].valueQuantity,
        expected.unit,
        `${metric.key}.${expected.code.code}`,
        errors
      );
    }
  } else if (!observation.valueQuantity && !observation.valueSampledData && !observation.valueCodeableConcept) {
    errors.push(`${metric.key} has no value`);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, metric };
}
