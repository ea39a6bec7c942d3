import { describe, expect, it } from 'vitest';
import { ANALYTICS_PARAMS, checkParams } from './params.ts';

describe('ANALYTICS_PARAMS', () => {
  it('holds the values issue 8 fixes', () => {
    expect(ANALYTICS_PARAMS.band).toEqual({ windowDays: 28, minValidDays: 14, k: 2, madScale: 1.4826 });
    expect(ANALYTICS_PARAMS.trend).toMatchObject({
      minWindowDays: 28,
      maxWindowDays: 90,
      horizonDays: 14,
      alpha: 0.05,
    });
    expect(ANALYTICS_PARAMS.drivers.q).toBe(0.1);
  });

  it('1.4826 is 1/Φ⁻¹(3/4) to the four decimals the issue uses', () => {
    // Φ⁻¹(0.75) = 0.6744897501960817 (standard normal upper quartile).
    expect(1 / 0.6744897501960817).toBeCloseTo(ANALYTICS_PARAMS.band.madScale, 4);
  });

  it('is internally consistent', () => {
    expect(() => checkParams(ANALYTICS_PARAMS)).not.toThrow();
  });

  it('cannot be changed at run time, at any depth', () => {
    expect(Object.isFrozen(ANALYTICS_PARAMS)).toBe(true);
    expect(Object.isFrozen(ANALYTICS_PARAMS.band)).toBe(true);
    expect(Object.isFrozen(ANALYTICS_PARAMS.trend)).toBe(true);
    expect(Object.isFrozen(ANALYTICS_PARAMS.drivers)).toBe(true);
    expect(() => {
      (ANALYTICS_PARAMS.band as { k: number }).k = 3;
    }).toThrow(TypeError);
  });

  it('rejects inconsistent overrides, naming the parameter', () => {
    const p = ANALYTICS_PARAMS;
    const bad = [
      ['band.minValidDays', { ...p, band: { ...p.band, minValidDays: 29 } }],
      ['band.k', { ...p, band: { ...p.band, k: 0 } }],
      ['trend.windowDays', { ...p, trend: { ...p.trend, windowDays: 120 } }],
      ['trend.windowDays', { ...p, trend: { ...p.trend, windowDays: 14 } }],
      ['trend.minDays', { ...p, trend: { ...p.trend, minDays: 2 } }],
      ['trend.rSquaredFloor', { ...p, trend: { ...p.trend, rSquaredFloor: 1 } }],
      ['trend.alpha', { ...p, trend: { ...p.trend, alpha: 0 } }],
      ['drivers.minPairedDays', { ...p, drivers: { ...p.drivers, minPairedDays: 2 } }],
      ['drivers.q', { ...p, drivers: { ...p.drivers, q: 1.5 } }],
    ] as const;
    for (const [name, params] of bad) {
      expect(() => checkParams(params), name).toThrow(name);
    }
  });
});
