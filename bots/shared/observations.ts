/**
 * Building blocks every provider's mappers share: the two identifiers an Observation carries, a record's common
 * fields, plausibility-checked values in the catalogue unit, record panels with member components, and instants
 * written in the record's own offset. A provider mapper only says which of its fields feed which catalogue metric
 * and over which period; codes, units, categories, ranges and identifiers all come from here and the catalogue.
 *
 * Identifiers (the Baseline patient id is part of both, so two owners of one provider account — one disconnected
 * keeping data, one connected after — can never write to, read back or retract each other's Observations):
 *   IDENTIFIER_BASE/<provider>/<record-type> | <patientId>:<providerUserId>:<recordId>:<metricKey>   (per Observation)
 *   IDENTIFIER_BASE/<provider>/record        | <record-type>:<patientId>:<providerUserId>:<recordId> (per record)
 */
import type { Device, Observation, ObservationComponent, Patient, Reference } from '@medplum/fhirtypes';
import {
  checkPlausible,
  getMetric,
  metricCategory,
  metricCodings,
  metricQuantity,
  toCatalogueUnit,
} from './catalogue.ts';
import type { Metric, ProviderId } from './catalogue.ts';
import { providerRecordSystem, providerRecordTypeSystem } from './extensions.ts';
import { patientIdOf } from './requester.ts';
import { WEARABLE_PROFILE } from './systems.ts';

export { patientIdOf };

/** Who and what a provider record's Observations belong to. */
export interface MapContext {
  readonly patient: Reference<Patient>;
  readonly device: Reference<Device>;
  /** The provider's id of the account (string even where the provider uses numbers). */
  readonly providerUserId: string;
}

export interface SkipReason {
  readonly key: string;
  readonly reason: string;
}

export interface MapResult {
  /** Observations to create or update by identifier. */
  observations: Observation[];
  /**
   * Observations to create only when none with the same identifier exists, and never update (values the owner typed
   * into a provider's app, whose identifier is keyed by their value). May be empty.
   */
  writeOnce: Observation[];
  skipped: SkipReason[];
}

export interface MetricValue {
  /** Catalogue key. */
  readonly key: string;
  /** Provider value, or undefined when the provider did not report it. */
  readonly value: number | undefined;
  /** Provider unit as a UCUM code. */
  readonly unit: string;
}

export type Effective = { effectivePeriod: { start: string; end: string } } | { effectiveDateTime: string };

/** Where and when one provider record's Observations belong; shared by every Observation the record yields. */
export interface RecordScope {
  readonly provider: ProviderId;
  readonly recordType: string;
  readonly recordId: string;
  readonly ctx: MapContext;
  readonly effective: Effective;
  /** When the provider last changed the record (Observation.issued), if it says. */
  readonly issued: string | undefined;
}

export function emptyResult(): MapResult {
  return { observations: [], writeOnce: [], skipped: [] };
}

/**
 * @returns the identifier every Observation of one provider record shares (search it to read or retract the record)
 */
export function recordIdentifier(
  provider: ProviderId,
  recordType: string,
  patientId: string,
  providerUserId: string,
  recordId: string
): { system: string; value: string } {
  return { system: providerRecordSystem(provider), value: `${recordType}:${patientId}:${providerUserId}:${recordId}` };
}

/** @returns both identifiers of one Observation: its own (per metric) and the one its whole record shares */
export function observationIdentifiers(
  provider: ProviderId,
  recordType: string,
  patientId: string,
  providerUserId: string,
  recordId: string,
  metricKey: string
): { system: string; value: string }[] {
  return [
    {
      system: providerRecordTypeSystem(provider, recordType),
      value: `${patientId}:${providerUserId}:${recordId}:${metricKey}`,
    },
    recordIdentifier(provider, recordType, patientId, providerUserId, recordId),
  ];
}

/** Decimal places kept per catalogue unit: enough for the device's precision, few enough to avoid float noise. */
const DECIMALS: Readonly<Record<string, number>> = { min: 2, kcal: 1, cm: 1, m: 1, kg: 2 };

export function roundToUnit(value: number, unit: string): number {
  const decimals = DECIMALS[unit];
  if (decimals === undefined) {
    return value;
  }
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

/** The fields every Observation of a record has; the caller adds the value. */
export function observationFor(scope: RecordScope, metric: Metric): Observation {
  const observation: Observation = {
    resourceType: 'Observation',
    meta: { profile: [WEARABLE_PROFILE] },
    status: 'final',
    identifier: observationIdentifiers(
      scope.provider,
      scope.recordType,
      patientIdOf(scope.ctx.patient),
      scope.ctx.providerUserId,
      scope.recordId,
      metric.key
    ),
    category: [metricCategory(metric)],
    code: { coding: metricCodings(metric).map((c) => ({ ...c })), text: metric.label },
    subject: scope.ctx.patient,
    device: scope.ctx.device,
    ...scope.effective,
  };
  if (scope.issued) {
    observation.issued = scope.issued;
  }
  return observation;
}

/** @returns the value in the catalogue unit, or undefined after recording why it was skipped */
export function plausibleValue({ key, value, unit }: MetricValue, result: MapResult): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  const metric = getMetric(key);
  const plausible = checkPlausible(key, roundToUnit(toCatalogueUnit(key, value, unit), metric.unit));
  if (!plausible.ok) {
    result.skipped.push({ key, reason: plausible.message });
    return undefined;
  }
  return plausible.value;
}

export function quantityComponent(metric: Metric, value: number): ObservationComponent {
  return {
    code: { coding: metricCodings(metric).map((c) => ({ ...c })), text: metric.label },
    valueQuantity: metricQuantity(metric, value),
  };
}

/** One Observation per value, each alone (vital signs an EHR searches by their own code). */
export function buildSingles(scope: RecordScope, values: readonly MetricValue[], result: MapResult): void {
  for (const entry of values) {
    const value = plausibleValue(entry, result);
    if (value !== undefined) {
      const metric = getMetric(entry.key);
      result.observations.push({ ...observationFor(scope, metric), valueQuantity: metricQuantity(metric, value) });
    }
  }
}

/**
 * The members of a record panel as components, in the order given; each must be a catalogue member of the panel.
 * An implausible member is skipped with its reason and the others kept.
 */
export function memberComponents(
  panel: Metric,
  members: readonly MetricValue[],
  result: MapResult
): ObservationComponent[] {
  const component: ObservationComponent[] = [];
  for (const entry of members) {
    if (!panel.members?.includes(entry.key)) {
      throw new Error(`${entry.key} is not a catalogue member of ${panel.key}`);
    }
    const value = plausibleValue(entry, result);
    if (value !== undefined) {
      component.push(quantityComponent(getMetric(entry.key), value));
    }
  }
  return component;
}

/**
 * A record panel whose own value is a Quantity (sleep duration, HRV, a day's steps). An implausible (or absent)
 * panel value drops the panel, since its components would then describe a measurement that is not stored.
 */
export function buildQuantityPanel(
  scope: RecordScope,
  primary: MetricValue,
  members: readonly MetricValue[],
  result: MapResult
): void {
  const metric = getMetric(primary.key);
  const value = plausibleValue(primary, result);
  if (value === undefined) {
    if (primary.value === undefined) {
      result.skipped.push({ key: metric.key, reason: `${scope.recordType} ${scope.recordId} has no ${metric.key}` });
    }
    return;
  }
  const component = memberComponents(metric, members, result);
  result.observations.push({
    ...observationFor(scope, metric),
    valueQuantity: metricQuantity(metric, value),
    ...(component.length > 0 ? { component } : {}),
  });
}

/**
 * A panel whose value is its components only (blood pressure): every component must be plausible, or none is
 * stored — half a blood pressure is not a measurement.
 */
export function buildComponentPanel(
  scope: RecordScope,
  panelKey: string,
  values: Readonly<Record<string, number | undefined>>,
  result: MapResult
): void {
  const metric = getMetric(panelKey);
  const component: ObservationComponent[] = [];
  for (const member of metric.components ?? []) {
    const raw = values[member.code.code];
    if (raw === undefined) {
      result.skipped.push({ key: metric.key, reason: `${scope.recordType} ${scope.recordId} has no ${member.label}` });
      return;
    }
    const plausible = checkPlausible(`${metric.key}.${member.code.code}`, roundToUnit(raw, member.unit));
    if (!plausible.ok) {
      result.skipped.push({ key: metric.key, reason: plausible.message });
      return;
    }
    component.push({
      code: { coding: [{ ...member.code }], text: member.label },
      valueQuantity: metricQuantity({ unit: member.unit, unitLabel: metric.unitLabel }, plausible.value),
    });
  }
  result.observations.push({ ...observationFor(scope, metric), component });
}

const OFFSET = /^(?:Z|([+-])(\d{2}):(\d{2}))$/;
const INSTANT = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** @returns the offset in minutes east of UTC, or undefined when it is not a W3C time zone designator */
export function offsetMinutes(offset: string): number | undefined {
  const match = OFFSET.exec(offset);
  if (!match) {
    return undefined;
  }
  if (!match[1]) {
    return 0;
  }
  const hours = Number(match[2]);
  const minutes = Number(match[3]);
  if (hours > 18 || minutes > 59) {
    return undefined;
  }
  return (match[1] === '-' ? -1 : 1) * (hours * 60 + minutes);
}

/** @returns '+hh:mm' / '-hh:mm' / 'Z' for an offset in minutes east of UTC */
export function formatOffset(minutes: number): string {
  if (minutes === 0) {
    return 'Z';
  }
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * The same instant written in the record's own offset. The fractional seconds are copied as the provider sent them
 * (a Date round trip would cut them to milliseconds), so nothing about the time is invented, only its notation.
 * @param instant - an ISO date-time with offset
 * @param offset - 'Z', '+hh:mm' or '-hh:mm'
 * @returns the local date-time with that offset, or undefined when either is malformed
 */
export function inRecordOffset(instant: string, offset: string): string | undefined {
  const target = offsetMinutes(offset);
  const match = INSTANT.exec(instant);
  const whole = match?.[1];
  const source = offsetMinutes((match?.[3] ?? '').toUpperCase());
  if (target === undefined || !whole || source === undefined) {
    return undefined;
  }
  const utc = Date.parse(whole + 'Z') - source * 60_000;
  if (Number.isNaN(utc)) {
    return undefined;
  }
  const local = new Date(utc + target * 60_000).toISOString().slice(0, 19);
  return local + (match[2] ?? '') + offset;
}

/**
 * An epoch-seconds instant (Withings) written in a given offset.
 * @param epochSeconds - seconds since 1970 (UTC)
 * @param offsetMin - minutes east of UTC
 */
export function epochInOffset(epochSeconds: number, offsetMin: number): string {
  const local = new Date(epochSeconds * 1000 + offsetMin * 60_000).toISOString().slice(0, 19);
  return local + formatOffset(offsetMin);
}

/**
 * The UTC offset of an IANA time zone at an instant (Withings sends a zone name, not an offset), using Intl, which
 * vmcontext has. Undefined for an unknown zone: the record's local day is then unknown and the caller skips it.
 */
export function zoneOffsetMinutes(timeZone: string, epochMs: number): number | undefined {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    }).formatToParts(new Date(epochMs));
  } catch {
    return undefined;
  }
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  if (Number.isNaN(asUtc)) {
    return undefined;
  }
  return Math.round((asUtc - Math.floor(epochMs / 1000) * 1000) / 60_000);
}
