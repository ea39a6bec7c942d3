import { describe, expect, test } from 'vitest';
import { projectQuota, quotaReport, sizeQuota } from './quota.ts';

const DEFAULTS = projectQuota(undefined);

describe('projectQuota', () => {
  test("nothing readable: Medplum's defaults, said to be assumed", () => {
    expect(DEFAULTS).toEqual({
      userFhirQuota: 50_000,
      totalFhirQuota: 500_000,
      source: { user: 'default', total: 'default' },
      enforced: true,
    });
  });

  test('Project.systemSetting values win; the total follows the user quota when unset', () => {
    expect(projectQuota([{ name: 'userFhirQuota', valueInteger: 200_000 }])).toEqual({
      userFhirQuota: 200_000,
      totalFhirQuota: 2_000_000,
      source: { user: 'project', total: 'default' },
      enforced: true,
    });
    expect(
      projectQuota([
        { name: 'userFhirQuota', valueInteger: 100_000 },
        { name: 'totalFhirQuota', valueInteger: 80_000 },
        { name: 'enableFhirQuota', valueInteger: 1 },
      ])
    ).toMatchObject({ userFhirQuota: 100_000, totalFhirQuota: 80_000 });
  });
});

describe('sizeQuota', () => {
  test('one owner at the default quota: a year of WHOOP in 5 minutes', () => {
    const sizing = sizeQuota(1, DEFAULTS);
    expect(sizing).toMatchObject({
      backfillPointsPerOwner: 250_000,
      backfillMinutesPerOwner: 5,
      onboardingMinutes: 5,
      recommendedUserFhirQuota: 50_000,
      recommendedTotalFhirQuota: 500_000,
      warnings: [],
    });
    expect(sizing.syncPointsPerMinuteNeeded).toBeCloseTo(2.083, 3);
  });

  test('10 owners fit the default quota (50 min to onboard all at once)', () => {
    expect(sizeQuota(10, DEFAULTS)).toMatchObject({ onboardingMinutes: 50, warnings: [] });
  });

  test('100 owners do not: onboarding takes 500 min; 420,000/min brings it under an hour', () => {
    const sizing = sizeQuota(100, DEFAULTS);
    expect(sizing.onboardingMinutes).toBe(500);
    expect(sizing.recommendedUserFhirQuota).toBe(420_000);
    expect(sizing.warnings).toEqual([
      'importing a year of history for all 100 owners at once takes 500 min at 50,000 points/min (target 60 min)',
    ]);
    expect(sizeQuota(100, projectQuota([{ name: 'userFhirQuota', valueInteger: 420_000 }])).warnings).toEqual([]);
  });

  test('day-to-day sync outgrows its share only at very large cohorts', () => {
    const huge = projectQuota([{ name: 'userFhirQuota', valueInteger: 10_000_000 }]);
    expect(sizeQuota(2_000, huge).warnings).toEqual([]);
    const small = projectQuota([{ name: 'userFhirQuota', valueInteger: 1_000 }]);
    expect(sizeQuota(100, small).warnings).toContain(
      'day-to-day sync for 100 owners needs 208 points/min, 21 % of 1,000 (keep it under 10 %)'
    );
  });

  test('a project total below the user quota caps the sync bot', () => {
    const capped = projectQuota([
      { name: 'userFhirQuota', valueInteger: 100_000 },
      { name: 'totalFhirQuota', valueInteger: 25_000 },
    ]);
    const sizing = sizeQuota(1, capped);
    expect(sizing.syncPointsPerMinute).toBe(25_000);
    expect(sizing.backfillMinutesPerOwner).toBe(10);
    expect(sizing.warnings).toEqual([
      'totalFhirQuota 25,000 is below userFhirQuota 100,000, so the project total caps the sync bot',
    ]);
  });

  test('the sizing table the README quotes', () => {
    const rows = [1, 10, 25, 50, 100, 500, 1000].map((owners) => {
      const s = sizeQuota(owners, DEFAULTS);
      return [owners, Math.ceil(s.onboardingMinutes), s.recommendedUserFhirQuota, s.recommendedTotalFhirQuota];
    });
    expect(rows).toEqual([
      [1, 5, 50_000, 500_000],
      [10, 50, 50_000, 500_000],
      [25, 125, 110_000, 1_100_000],
      [50, 250, 210_000, 2_100_000],
      [100, 500, 420_000, 4_200_000],
      [500, 2500, 2_090_000, 20_900_000],
      [1000, 5000, 4_170_000, 41_700_000],
    ]);
  });
});

describe('quotaReport', () => {
  test('a project whose quota a super admin switched off: nothing to size', () => {
    expect(quotaReport(1000, projectQuota([{ name: 'enableFhirQuota', valueBoolean: false }]))).toEqual([
      'FHIR quota: not enforced in this project (Project.systemSetting enableFhirQuota is false).',
    ]);
  });

  test('defaults: states the assumption, no warning for 10 owners', () => {
    expect(quotaReport(10, DEFAULTS)).toEqual([
      "FHIR quota: 50,000 points/min per membership, 500,000 per project (userFhirQuota not readable or not set: assuming Medplum's default 50,000; totalFhirQuota assumed 10 × userFhirQuota); one owner's year of WHOOP history takes ~5 min, 10 owners at once ~50 min.",
    ]);
  });

  test('too low: a warning naming the settings to make', () => {
    const lines = quotaReport(100, DEFAULTS);
    expect(lines[1]).toBe(
      'Warning: the FHIR quota is low for 100 owners: importing a year of history for all 100 owners at once takes 500 min at 50,000 points/min (target 60 min). A super admin should set Project.systemSetting userFhirQuota = 420000 and totalFhirQuota = 4200000 (see README, "FHIR quota").'
    );
  });
});
