import { describe, expect, test } from 'vitest';
import {
  CyclePageSchema,
  RecoveryPageSchema,
  RecoverySchema,
  SleepSchema,
  TokenResponseSchema,
  UserBasicProfileSchema,
  UserBodyMeasurementSchema,
  WebhookBodySchema,
  WorkoutSchema,
} from './schemas.ts';
import { CYCLE_PAGE, PENDING_RECOVERY, RECOVERY_PAGE, SLEEP, WORKOUT } from './test-fixtures.ts';

describe('WHOOP schemas accept the spec examples (providers.md §1.5)', () => {
  test('cycle page, sleep, recovery page, workout, profile, body', () => {
    expect(CyclePageSchema.parse(CYCLE_PAGE).next_token).toBe('MTIzOjEyMzEyMw');
    expect(SleepSchema.parse(SLEEP).score?.stage_summary.total_rem_sleep_time_milli).toBe(5879573);
    expect(RecoveryPageSchema.parse(RECOVERY_PAGE).records[0]?.score?.hrv_rmssd_milli).toBe(31.813562);
    expect(WorkoutSchema.parse(WORKOUT).score?.zone_durations.zone_five_milli).toBe(300000);
    expect(
      UserBasicProfileSchema.parse({
        user_id: 10129,
        email: 'jsmith123@whoop.com',
        first_name: 'John',
        last_name: 'Smith',
      }).user_id
    ).toBe(10129);
    expect(
      UserBodyMeasurementSchema.parse({ height_meter: 1.8288, weight_kilogram: 90.7185, max_heart_rate: 200 })
        .max_heart_rate
    ).toBe(200);
  });

  test('unscored records have no score; unknown fields pass through', () => {
    expect(RecoverySchema.parse(PENDING_RECOVERY).score).toBeUndefined();
    const extended = SleepSchema.parse({ ...SLEEP, new_whoop_field: 1 });
    expect(extended).toHaveProperty('new_whoop_field', 1);
  });

  test('a missing required field or unknown score state is refused', () => {
    const { start: _start, ...noStart } = SLEEP;
    expect(SleepSchema.safeParse(noStart).success).toBe(false);
    expect(SleepSchema.safeParse({ ...SLEEP, score_state: 'DONE' }).success).toBe(false);
    const { strain: _strain, ...noStrain } = WORKOUT.score;
    expect(WorkoutSchema.safeParse({ ...WORKOUT, score: noStrain }).success).toBe(false);
  });

  test('token response requires expires_in', () => {
    const token = {
      access_token: 'a',
      expires_in: 3600,
      refresh_token: 'r',
      scope: 'offline read:sleep',
      token_type: 'bearer',
    };
    expect(TokenResponseSchema.parse(token).expires_in).toBe(3600);
    const { expires_in: _e, ...noExpiry } = token;
    expect(TokenResponseSchema.safeParse(noExpiry).success).toBe(false);
  });

  test('webhook body: the six v2 event types, UUID ids', () => {
    const body = {
      user_id: 456,
      id: '550e8400-e29b-41d4-a716-446655440000',
      type: 'sleep.updated',
      trace_id: 'e369c784',
    };
    expect(WebhookBodySchema.parse(body).type).toBe('sleep.updated');
    expect(WebhookBodySchema.safeParse({ ...body, type: 'cycle.updated' }).success).toBe(false);
    expect(WebhookBodySchema.safeParse({ ...body, id: 93845 }).success).toBe(false);
    expect(WebhookBodySchema.safeParse({ ...body, trace_id: undefined }).success).toBe(false);
  });
});
