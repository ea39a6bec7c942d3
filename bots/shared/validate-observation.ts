/**
 * Catalogue check for wearable Observations, run by mappers before a write.
 *
 * Why this exists beside the profile: @medplum/core's validateResource does not enforce required bindings (it only
 * collects the codes so the server can check them when the project has the `validate-terminology` feature), and it
 * ignores constraints inside type slices. The generated profiles (baseline-wearable-observation for single values,
 * baseline-intraday-observation for series) therefore carry table-driven FHIRPath invariants (enforced by Medplum on
 * write; one per rule, each naming the whole catalogue table), and this module gives the same verdict without a
 * server, with a message about the one metric at hand. It is also the only layer that checks
 * the samples inside valueSampledData.data against the plausible range, and that they fit the series' window
 * (effectivePeriod): FHIRPath cannot split that string.
 *
 * Components follow the catalogue's `components` (a panel such as blood pressure) and `members` (the values a
 * record panel such as a night's sleep or a workout may carry, each in its own code, unit and range).
 */
import type { Observation, Quantity } from '@medplum/fhirtypes';
import { allowedComponents, categoryCode, checkPlausible, getMetric, metricByCode } from './catalogue.ts';
import type { Metric } from './catalogue.ts';
import { OBSERVATION_CATEGORY_SYSTEM, UCUM, WEARABLE_PROFILE } from './systems.ts';

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

function codingKey(system: string | undefined, code: string | undefined): string {
  return `${system ?? ''}|${code ?? ''}`;
}

/**
 * Components: each must be a panel member or a member metric of this metric (allowedComponents), at most once, with
 * a valueQuantity in its own unit and plausible range; a standalone panel needs every member, and a panel that is a
 * member (a workout's heart rate zones) all of its components or none.
 */
function checkComponents(observation: Observation, metric: Metric, errors: string[]): void {
  const allowed = allowedComponents(metric);
  const byCoding = new Map(allowed.map((a) => [codingKey(a.code.system, a.code.code), a]));
  const seen = new Map<string, number>();
  for (const component of observation.component ?? []) {
    const match = (component.code.coding ?? [])
      .map((c) => byCoding.get(codingKey(c.system, c.code)))
      .find((a) => a !== undefined);
    if (!match) {
      const codes = (component.code.coding ?? []).map((c) => codingKey(c.system, c.code)).join(', ');
      errors.push(`${metric.key} does not take a component ${codes || '(no code)'}`);
      continue;
    }
    const code = match.code.code;
    seen.set(code, (seen.get(code) ?? 0) + 1);
    if (seen.get(code) === 2) {
      errors.push(`${metric.key} has more than one ${code} component`);
    }
    const label = match.metric === metric ? match.rangeKey : `${metric.key}.${match.rangeKey}`;
    if (!component.valueQuantity) {
      errors.push(`${label} component has no valueQuantity`);
      continue;
    }
    checkQuantity(label, component.valueQuantity, match.unit, match.rangeKey, errors);
  }
  for (const panel of [metric, ...(metric.members ?? []).map(getMetric)]) {
    const members = panel.components ?? [];
    if (members.length === 0) {
      continue;
    }
    const present = members.filter((c) => seen.has(c.code.code)).length;
    if (panel === metric) {
      for (const expected of members.filter((c) => !seen.has(c.code.code))) {
        errors.push(`${metric.key} needs exactly one ${expected.code.code} component with a valueQuantity`);
      }
    } else if (present !== 0 && present !== members.length) {
      errors.push(`${metric.key} needs all ${members.length} ${panel.key} components or none, not ${present}`);
    }
  }
}

/**
 * A series is a window of samples: it needs the window (effectivePeriod with start and end, the first token at the
 * start), one dimension and a positive period, and no more tokens than periods fit in the window, since a token past
 * the end would claim a time the Observation says it does not cover.
 */
function checkSeriesShape(observation: Observation, metric: Metric, errors: string[]): void {
  const sampled = observation.valueSampledData;
  if (!sampled) {
    return;
  }
  if ((sampled.dimensions ?? 1) !== 1) {
    errors.push(`${metric.key} series must have 1 dimension, not ${sampled.dimensions}`);
  }
  if (!Number.isFinite(sampled.period) || sampled.period <= 0) {
    errors.push(`${metric.key} series period ${sampled.period} is not a positive number of ms`);
    return;
  }
  const start = Date.parse(observation.effectivePeriod?.start ?? '');
  const end = Date.parse(observation.effectivePeriod?.end ?? '');
  if (Number.isNaN(start) || Number.isNaN(end)) {
    errors.push(`${metric.key} series needs an effectivePeriod with a start and an end (its window)`);
    return;
  }
  const tokens = (sampled.data ?? '').trim() === '' ? 0 : (sampled.data ?? '').trim().split(/\s+/).length;
  const slots = Math.floor((end - start) / sampled.period);
  if (tokens > slots) {
    errors.push(`${metric.key} series has ${tokens} samples but its window holds ${slots} periods`);
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
  // A series of a metric that takes none is reported below as such, not as a category problem.
  const series = observation.valueSampledData !== undefined && metric.valueTypes.includes('SampledData');
  const category = categoryCode(metric, series);
  const categories = (observation.category ?? []).flatMap((c) => c.coding ?? []);
  if (!categories.some((c) => c.system === OBSERVATION_CATEGORY_SYSTEM && c.code === category)) {
    errors.push(`${metric.key} ${series ? 'series ' : ''}must have category ${category}`);
  }
  // The R4 vital-signs profile takes one valueQuantity: a series claiming vital-signs would break it.
  if (series && categories.some((c) => c.system === OBSERVATION_CATEGORY_SYSTEM && c.code === 'vital-signs')) {
    errors.push(`${metric.key} series must not claim the vital-signs category`);
  }
  // The wearable profile takes single values only (its bwo-types rejects valueSampledData): a series has exactly one
  // home, the intraday profile, so a reader searching by profile finds every series there.
  if (series && observation.meta?.profile?.includes(WEARABLE_PROFILE)) {
    errors.push(`${metric.key} series must declare the intraday profile, not the wearable one`);
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
      checkSeriesShape(observation, metric, errors);
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
  checkComponents(observation, metric, errors);
  // A record panel (a metric with members) still carries its own value: the members only add to it.
  if (
    !metric.components &&
    !observation.valueQuantity &&
    !observation.valueSampledData &&
    !observation.valueCodeableConcept
  ) {
    errors.push(`${metric.key} has no value`);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, metric };
}
