/**
 * The zod schemas against Oura's OpenAPI (the repository's copy, test/fixtures/openapi/oura.json): every field a
 * schema names exists in the spec's model, so a typo cannot silently read `undefined`; enums match; and the
 * recorded-shape samples (providers.md §3.5) parse, also without the `meta` the spec requires but samples lack.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import type { z } from 'zod';
import {
  DailyActivitySchema,
  DailyReadinessSchema,
  DailySleepSchema,
  DailySpo2Schema,
  DailyStressSchema,
  HeartRateRowSchema,
  MAPPED_DATA_TYPES,
  PersonalInfoSchema,
  SampleSchema,
  SLEEP_TYPES,
  SleepSchema,
  SubscriptionSchema,
  TokenResponseSchema,
  WEBHOOK_EVENT_TYPES,
  WebhookBodySchema,
  WorkoutSchema,
} from './schemas.ts';
import {
  DAILY_ACTIVITY,
  DAILY_READINESS,
  DAILY_SLEEP,
  DAILY_SPO2,
  DAILY_STRESS,
  HEART_RATE_ROWS,
  PERSONAL_INFO,
  SLEEP,
  SUBSCRIPTION,
  TOKEN_RESPONSE,
  WORKOUT,
} from './test-fixtures.ts';

interface SpecSchema {
  properties?: Record<string, unknown>;
  enum?: string[];
}
const spec = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../test/fixtures/openapi/oura.json', import.meta.url)), 'utf8')
) as { components: { schemas: Record<string, SpecSchema> } };

function model(name: string): SpecSchema {
  const found = spec.components.schemas[name];
  if (!found) {
    throw new Error(`spec has no ${name}`);
  }
  return found;
}

describe('schemas name only fields of the spec models', () => {
  test.each([
    ['PublicDailySleep', DailySleepSchema],
    ['PublicDailyReadiness', DailyReadinessSchema],
    ['PublicDailyActivity', DailyActivitySchema],
    ['PublicDailySpO2', DailySpo2Schema],
    ['PublicDailyStress', DailyStressSchema],
    ['PublicModifiedSleepModel', SleepSchema],
    ['PublicWorkout', WorkoutSchema],
    ['PublicHeartRateRow', HeartRateRowSchema],
    ['PublicSample', SampleSchema],
    ['PersonalInfoResponse', PersonalInfoSchema],
    ['WebhookSubscriptionModel', SubscriptionSchema],
  ] as const)('%s', (name, schema: z.ZodObject) => {
    const properties = Object.keys(model(name).properties ?? {});
    for (const field of Object.keys(schema.shape)) {
      expect(properties, `${name}.${field}`).toContain(field);
    }
  });

  test('enums: sleep types, webhook operations, mapped data types', () => {
    expect([...SLEEP_TYPES].sort()).toEqual([...(model('PublicSleepType').enum ?? [])].sort());
    expect([...WEBHOOK_EVENT_TYPES].sort()).toEqual([...(model('WebhookOperation').enum ?? [])].sort());
    for (const type of MAPPED_DATA_TYPES) {
      expect(model('ExtApiV2DataType').enum).toContain(type);
    }
  });
});

describe('recorded-shape samples parse', () => {
  test('documents, rows, personal info, token, subscription', () => {
    expect(DailySleepSchema.parse(DAILY_SLEEP).score).toBe(63);
    expect(DailyReadinessSchema.parse(DAILY_READINESS).temperature_deviation).toBe(-0.12);
    expect(DailyActivitySchema.parse(DAILY_ACTIVITY).steps).toBe(9123);
    expect(DailySpo2Schema.parse(DAILY_SPO2).spo2_percentage?.average).toBe(96.4);
    expect(DailyStressSchema.parse(DAILY_STRESS).stress_high).toBe(5400);
    expect(SleepSchema.parse(SLEEP).heart_rate?.items).toEqual([null, 58, 55]);
    expect(WorkoutSchema.parse(WORKOUT).activity).toBe('walking');
    expect(HEART_RATE_ROWS.map((r) => HeartRateRowSchema.parse(r).bpm)).toEqual([78, 80, 82]);
    expect(PersonalInfoSchema.parse(PERSONAL_INFO).id).toBe(PERSONAL_INFO.id);
    expect(TokenResponseSchema.parse(TOKEN_RESPONSE).expires_in).toBe(86400);
    expect(SubscriptionSchema.parse(SUBSCRIPTION).id).toBe(SUBSCRIPTION.id);
  });

  test('unknown fields pass through; a missing required field or a bad timestamp is refused', () => {
    expect(SleepSchema.parse({ ...SLEEP, new_oura_field: 1 })).toHaveProperty('new_oura_field', 1);
    const { bedtime_start: _b, ...noStart } = SLEEP;
    expect(SleepSchema.safeParse(noStart).success).toBe(false);
    expect(DailySleepSchema.safeParse({ ...DAILY_SLEEP, timestamp: '2024-01-15T00:00:00' }).success).toBe(false);
    expect(SleepSchema.safeParse({ ...SLEEP, type: 'siesta' }).success).toBe(false);
  });

  test('webhook body: any data type string, the three operations, string ids', () => {
    const body = {
      event_type: 'update',
      data_type: 'sleep',
      object_id: '12345abc',
      event_time: '2023-01-01T08:00:00+00:00',
      user_id: 'user123',
    };
    expect(WebhookBodySchema.parse(body).data_type).toBe('sleep');
    expect(WebhookBodySchema.parse({ ...body, data_type: 'enhanced_tag' }).data_type).toBe('enhanced_tag');
    expect(WebhookBodySchema.safeParse({ ...body, event_type: 'updated' }).success).toBe(false);
    expect(WebhookBodySchema.safeParse({ ...body, user_id: 42 }).success).toBe(false);
    expect(WebhookBodySchema.safeParse({ ...body, data_type: 'sleep/../x' }).success).toBe(false);
  });
});
