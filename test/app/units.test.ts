import { describe, expect, test } from 'vitest';
import { getMetric, KNOWN_UCUM_UNITS, METRICS } from '../../bots/shared/catalogue.ts';
import {
  formatDuration,
  formatMetricValue,
  formatPanelValue,
  joinValue,
  panelAsList,
  UNIT_DISPLAY,
  unitSymbol,
} from '../../app/src/lib/units.ts';

const EN = 'en-US';

function shown(key: string, value: number): string {
  return joinValue(formatMetricValue(getMetric(key), value, EN));
}

describe('unit display rules', () => {
  test('every UCUM unit the catalogue may use has a display rule (a new unit must not reach the screen raw)', () => {
    expect(Object.keys(UNIT_DISPLAY).sort()).toEqual([...KNOWN_UCUM_UNITS].sort());
    for (const metric of METRICS) {
      expect(() => unitSymbol(metric)).not.toThrow();
    }
  });

  test('refuses a unit it has no rule for, naming it', () => {
    expect(() => formatMetricValue({ key: 'x', unit: 'mg/dL', group: 'body' }, 1, EN)).toThrow(
      'No display rule for UCUM unit mg/dL'
    );
  });
});

describe('formatDuration', () => {
  test.each([
    [432, '7 h 12 min'],
    [480, '8 h'],
    [45, '45 min'],
    [0, '0 min'],
    [59.6, '1 h'],
    [-90, '−1 h 30 min'],
  ])('%d minutes → %s', (minutes, text) => {
    expect(formatDuration(minutes)).toBe(text);
  });
});

describe('formatMetricValue', () => {
  test('heart rates read bpm, breathing rates breaths/min', () => {
    expect(shown('resting-heart-rate', 52.4)).toBe('52 bpm');
    expect(shown('respiratory-rate', 15.6)).toBe('16 breaths/min');
  });

  test('temperatures read °C; a deviation is signed', () => {
    expect(shown('skin-temperature', 33.74)).toBe('33.7 °C');
    expect(shown('skin-temperature-deviation', 0.3)).toBe('+0.3 °C');
    expect(shown('skin-temperature-deviation', -0.25)).toBe('-0.25 °C');
    expect(shown('skin-temperature-deviation', 0)).toBe('0 °C');
  });

  test('sleep durations stored in minutes read as hours and minutes, with no trailing unit', () => {
    expect(formatMetricValue(getMetric('sleep-duration'), 432, EN)).toEqual({ value: '7 h 12 min', unit: '' });
  });

  test('other units: ms, %, kcal, steps, scores, distances', () => {
    expect(shown('hrv-rmssd', 61.8)).toBe('62 ms');
    expect(shown('whoop-recovery', 67)).toBe('67 %');
    expect(shown('spo2', 95.55)).toBe('95.6 %');
    expect(shown('active-energy', 1234.4)).toBe('1,234 kcal');
    expect(shown('steps', 10250)).toBe('10,250 steps');
    expect(shown('whoop-day-strain', 14.23)).toBe('14.2');
    expect(shown('distance', 5234)).toBe('5.23 km');
    expect(shown('distance', 850)).toBe('850 m');
    expect(shown('bmi', 22.46)).toBe('22.5 kg/m²');
    expect(shown('vo2max', 48.2)).toBe('48.2 mL/kg/min');
  });

  test('panels join their members', () => {
    expect(joinValue(formatPanelValue(getMetric('blood-pressure'), [121, 79], EN))).toBe('121/79 mmHg');
  });
});

test('panels in minutes or with more than two members read as a list, blood pressure as one value', () => {
  expect(panelAsList(getMetric('hr-zone-durations'))).toBe(true);
  expect(panelAsList(getMetric('blood-pressure'))).toBe(false);
});
