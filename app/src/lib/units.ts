/**
 * Catalogue values (always in the catalogue's UCUM unit, see bots/shared/catalogue.ts) written for people: `/min` is
 * "bpm", `Cel` is "°C", durations stored in minutes read "7 h 12 min", distances switch to km. Every UCUM code in
 * KNOWN_UCUM_UNITS has an entry below, and the unit test keeps it that way, so a new catalogue unit cannot reach the
 * screen as raw UCUM.
 */
import type { Metric } from '../../../bots/shared/catalogue.ts';

interface UnitDisplay {
  /** What follows the number; empty for unitless scores and for durations (which carry their own units). */
  readonly symbol: string;
  /** Most decimals shown; trailing zeros are dropped. */
  readonly maxFractionDigits: number;
}

export const UNIT_DISPLAY: Readonly<Record<string, UnitDisplay>> = {
  '/min': { symbol: 'bpm', maxFractionDigits: 0 },
  ms: { symbol: 'ms', maxFractionDigits: 0 },
  '%': { symbol: '%', maxFractionDigits: 1 },
  Cel: { symbol: '°C', maxFractionDigits: 1 },
  // A deviation in kelvin is the same size as one in °C; people know °C.
  K: { symbol: '°C', maxFractionDigits: 2 },
  kg: { symbol: 'kg', maxFractionDigits: 1 },
  cm: { symbol: 'cm', maxFractionDigits: 0 },
  'kg/m2': { symbol: 'kg/m²', maxFractionDigits: 1 },
  'mm[Hg]': { symbol: 'mmHg', maxFractionDigits: 0 },
  'm/s': { symbol: 'm/s', maxFractionDigits: 1 },
  'mL/min/kg': { symbol: 'mL/kg/min', maxFractionDigits: 1 },
  '{steps}': { symbol: 'steps', maxFractionDigits: 0 },
  kcal: { symbol: 'kcal', maxFractionDigits: 0 },
  m: { symbol: 'm', maxFractionDigits: 0 },
  min: { symbol: '', maxFractionDigits: 0 },
  '{score}': { symbol: '', maxFractionDigits: 1 },
};

export interface FormattedValue {
  /** The number as text, e.g. `7 h 12 min`, `58`, `+0.3`. */
  readonly value: string;
  /** The unit to show after it, possibly empty. */
  readonly unit: string;
}

/** The parts of a catalogue metric the formatting depends on. */
export type FormattableMetric = Pick<Metric, 'key' | 'unit' | 'group'>;

function displayFor(unit: string): UnitDisplay {
  const display = UNIT_DISPLAY[unit];
  if (!display) {
    throw new Error(`No display rule for UCUM unit ${unit}`);
  }
  return display;
}

/**
 * @param metric - a catalogue metric.
 * @returns The unit people see for it, e.g. `bpm`, `breaths/min`, `°C`; empty for durations and scores.
 */
export function unitSymbol(metric: FormattableMetric): string {
  // "bpm" is heart beats; a breathing rate in the same UCUM unit says what it counts.
  if (metric.unit === '/min' && metric.group === 'respiratory') {
    return 'breaths/min';
  }
  return displayFor(metric.unit).symbol;
}

/**
 * @param minutes - a duration in minutes (rounded to whole minutes).
 * @returns e.g. `7 h 12 min`, `8 h`, `45 min`, `0 min`.
 */
export function formatDuration(minutes: number): string {
  const total = Math.round(Math.abs(minutes));
  const sign = minutes < 0 && total > 0 ? '−' : '';
  const hours = Math.floor(total / 60);
  const rest = total % 60;
  if (hours === 0) {
    return `${sign}${rest} min`;
  }
  return rest === 0 ? `${sign}${hours} h` : `${sign}${hours} h ${rest} min`;
}

function formatNumber(value: number, maxFractionDigits: number, locale: string | undefined, signed = false): string {
  return new Intl.NumberFormat(locale, {
    maximumFractionDigits: maxFractionDigits,
    ...(signed ? { signDisplay: 'exceptZero' as const } : {}),
  }).format(value);
}

/**
 * A value in the metric's catalogue unit, for display.
 * @param metric - a catalogue metric.
 * @param value - the value, in the catalogue unit.
 * @param locale - BCP 47 locale; undefined means the browser's.
 * @returns The number and unit to show.
 */
export function formatMetricValue(metric: FormattableMetric, value: number, locale?: string): FormattedValue {
  switch (metric.unit) {
    case 'min':
      return { value: formatDuration(value), unit: '' };
    case 'K':
      // A deviation reads as a change: "+0.3 °C", not "0.3 °C".
      return { value: formatNumber(value, displayFor('K').maxFractionDigits, locale, true), unit: '°C' };
    case 'm':
      if (Math.abs(value) >= 1000) {
        return { value: formatNumber(value / 1000, 2, locale), unit: 'km' };
      }
      return { value: formatNumber(value, 0, locale), unit: 'm' };
    default:
      return {
        value: formatNumber(value, displayFor(metric.unit).maxFractionDigits, locale),
        unit: unitSymbol(metric),
      };
  }
}

/**
 * Blood pressure and other panels: the members' values joined by `/`, in the panel's unit.
 * @param metric - a panel metric (valueTypes ['component']).
 * @param values - member values in catalogue order (e.g. systolic, diastolic).
 * @param locale - BCP 47 locale; undefined means the browser's.
 * @returns e.g. `{ value: '120/80', unit: 'mmHg' }`.
 */
export function formatPanelValue(
  metric: FormattableMetric,
  values: readonly number[],
  locale?: string
): FormattedValue {
  const digits = displayFor(metric.unit).maxFractionDigits;
  return { value: values.map((v) => formatNumber(v, digits, locale)).join('/'), unit: unitSymbol(metric) };
}

/**
 * Whether a panel reads as one compact value (`120/80 mmHg`) or as a labelled list (time in each heart rate zone).
 * @param metric - a panel metric.
 * @returns True for a list.
 */
export function panelAsList(metric: Pick<Metric, 'unit' | 'components'>): boolean {
  return metric.unit === 'min' || (metric.components?.length ?? 0) > 2;
}

/**
 * @param formatted - a formatted value.
 * @returns Number and unit as one string, e.g. `58 bpm`, `7 h 12 min`.
 */
export function joinValue(formatted: FormattedValue): string {
  return formatted.unit ? `${formatted.value} ${formatted.unit}` : formatted.value;
}
