import { describe, expect, test } from 'vitest';
import {
  ActivityBodySchema,
  IntradayBodySchema,
  MeasureBodySchema,
  NotificationSchema,
  SleepSummaryBodySchema,
  TokenBodySchema,
  WorkoutBodySchema,
} from './schemas.ts';
import { ACTIVITY_BODY, MEASURE_BODY, SLEEP_BODY, TOKEN_BODY, WORKOUT_BODY } from './test-fixtures.ts';

describe('Withings schemas accept the recorded shapes', () => {
  test('token: userid as int or digit string, kept as a string', () => {
    expect(TokenBodySchema.parse(TOKEN_BODY).userid).toBe('363');
    expect(TokenBodySchema.parse({ ...TOKEN_BODY, userid: '363' }).userid).toBe('363');
    expect(TokenBodySchema.safeParse({ ...TOKEN_BODY, userid: 'abc' }).success).toBe(false);
  });

  test('more: 0/1 on getmeas, boolean on v2, both become booleans', () => {
    expect(MeasureBodySchema.parse(MEASURE_BODY).more).toBe(false);
    expect(MeasureBodySchema.parse({ ...MEASURE_BODY, more: 1 }).more).toBe(true);
    expect(ActivityBodySchema.parse(ACTIVITY_BODY).more).toBe(false);
    expect(ActivityBodySchema.parse({ ...ACTIVITY_BODY, more: true }).more).toBe(true);
  });

  test('workouts, sleep summaries and the intraday object or empty array parse', () => {
    expect(WorkoutBodySchema.parse(WORKOUT_BODY).series).toHaveLength(1);
    expect(SleepSummaryBodySchema.parse(SLEEP_BODY).series[0]?.data.sleep_efficiency).toBe(0.86);
    expect(IntradayBodySchema.parse({ series: [] }).series).toEqual([]);
    expect(IntradayBodySchema.safeParse({ series: { notanepoch: {} } }).success).toBe(false);
  });

  test('a measure without its integer value is refused', () => {
    const bad = {
      ...MEASURE_BODY,
      measuregrps: [{ ...MEASURE_BODY.measuregrps[0], measures: [{ value: 1.5, type: 1, unit: 0 }] }],
    };
    expect(MeasureBodySchema.safeParse(bad).success).toBe(false);
  });
});

describe('NotificationSchema', () => {
  test('the documented form, as strings, becomes numbers where Baseline reads them', () => {
    expect(
      NotificationSchema.parse({ userid: '12345', appli: '44', startdate: '1618691453', enddate: '1618713173' })
    ).toEqual({ userid: '12345', appli: 44, startdate: 1618691453, enddate: 1618713173 });
  });

  test.each([
    [{ userid: '1', appli: '1', startdate: '-5' }, 'startdate'],
    [{ userid: '1'.repeat(21), appli: '1' }, 'userid'],
    [{ userid: '1', appli: '12345' }, 'appli'],
    [{ userid: 1, appli: '1' }, 'userid'],
  ])('%j is refused at %s', (body, field) => {
    const result = NotificationSchema.safeParse(body);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual([field]);
  });
});
