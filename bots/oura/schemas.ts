/**
 * zod schemas for the Oura API v2 (spec "Oura API" 2.0, https://cloud.ouraring.com/v2/docs; copy in
 * test/fixtures/openapi/oura.json). Objects are loose (unknown fields pass through) because Oura adds fields without
 * versioning. Where real responses differ from the spec the schemas follow the responses (reference providers.md
 * §3.2/§3.5): `meta` is required by the spec but absent from documented sample payloads, so it is optional;
 * `timestamp_unix` on heart rate rows is missing from older responses; nullable numbers are nullable everywhere the
 * spec says `anyOf [number, null]`. Fields Baseline maps keep the spec's `required`, so a response missing one is a
 * `bad-response` naming the path, not a silent hole.
 */
import { z } from 'zod';

/** Oura's localized timestamps carry their own offset (`2024-01-15T04:00:00+01:00`, sometimes fractional seconds). */
const LocalDateTime = z.iso.datetime({ offset: true });
const IsoDate = z.iso.date();
const NullableNumber = z.number().nullable().optional();
const NullableInt = z.number().int().nullable().optional();

export const MetadataSchema = z.looseObject({ updated_at: z.string().optional(), version: z.number().optional() });

/** PublicSample: evenly spaced items from `timestamp`, `interval` seconds apart; null = no reading. */
export const SampleSchema = z.looseObject({
  interval: z.number().positive(),
  items: z.array(z.number().nullable()),
  timestamp: LocalDateTime,
});
export type OuraSample = z.infer<typeof SampleSchema>;

/** PublicDailySleep (`daily_sleep`). */
export const DailySleepSchema = z.looseObject({
  id: z.string().min(1),
  meta: MetadataSchema.optional(),
  day: IsoDate,
  score: NullableInt,
  timestamp: LocalDateTime,
  contributors: z.looseObject({}).optional(),
});
export type OuraDailySleep = z.infer<typeof DailySleepSchema>;

/** PublicDailyReadiness (`daily_readiness`); temperature deviations in °C differences. */
export const DailyReadinessSchema = z.looseObject({
  id: z.string().min(1),
  meta: MetadataSchema.optional(),
  day: IsoDate,
  score: NullableInt,
  timestamp: LocalDateTime,
  temperature_deviation: NullableNumber,
  temperature_trend_deviation: NullableNumber,
  contributors: z.looseObject({}).optional(),
});
export type OuraDailyReadiness = z.infer<typeof DailyReadinessSchema>;

/** PublicDailyActivity (`daily_activity`): a 24-hour period starting at 4 a.m. local time. */
export const DailyActivitySchema = z.looseObject({
  id: z.string().min(1),
  meta: MetadataSchema.optional(),
  day: IsoDate,
  timestamp: LocalDateTime,
  score: NullableInt,
  steps: z.number().int(),
  active_calories: z.number(),
  total_calories: z.number(),
  equivalent_walking_distance: z.number(),
  high_activity_time: z.number(),
  medium_activity_time: z.number(),
  low_activity_time: z.number().optional(),
});
export type OuraDailyActivity = z.infer<typeof DailyActivitySchema>;

/** PublicDailySpO2 (`daily_spo2`): `spo2_percentage` is null on nights without enough readings. */
export const DailySpo2Schema = z.looseObject({
  id: z.string().min(1),
  meta: MetadataSchema.optional(),
  day: IsoDate,
  spo2_percentage: z.looseObject({ average: z.number() }).nullable().optional(),
  breathing_disturbance_index: NullableInt,
});
export type OuraDailySpo2 = z.infer<typeof DailySpo2Schema>;

/** PublicDailyStress (`daily_stress`); durations in seconds. */
export const DailyStressSchema = z.looseObject({
  id: z.string().min(1),
  meta: MetadataSchema.optional(),
  day: IsoDate,
  stress_high: NullableInt,
  recovery_high: NullableInt,
  day_summary: z.string().nullable().optional(),
});
export type OuraDailyStress = z.infer<typeof DailyStressSchema>;

export const SLEEP_TYPES = ['deleted', 'sleep', 'long_sleep', 'late_nap', 'rest'] as const;

/** PublicModifiedSleepModel (`sleep`): one sleep period; several per day. Durations in seconds. */
export const SleepSchema = z.looseObject({
  id: z.string().min(1),
  meta: MetadataSchema.optional(),
  day: IsoDate,
  bedtime_start: LocalDateTime,
  bedtime_end: LocalDateTime,
  type: z.enum(SLEEP_TYPES).nullable().optional(),
  time_in_bed: z.number(),
  total_sleep_duration: NullableInt,
  deep_sleep_duration: NullableInt,
  light_sleep_duration: NullableInt,
  rem_sleep_duration: NullableInt,
  awake_time: NullableInt,
  latency: NullableInt,
  efficiency: NullableInt,
  average_heart_rate: NullableNumber,
  lowest_heart_rate: NullableInt,
  average_hrv: NullableNumber,
  average_breath: NullableNumber,
  heart_rate: SampleSchema.nullable().optional(),
  hrv: SampleSchema.nullable().optional(),
});
export type OuraSleep = z.infer<typeof SleepSchema>;

/** PublicWorkout (`workout`). */
export const WorkoutSchema = z.looseObject({
  id: z.string().min(1),
  meta: MetadataSchema.optional(),
  activity: z.string(),
  calories: NullableNumber,
  distance: NullableNumber,
  day: IsoDate,
  start_datetime: LocalDateTime,
  end_datetime: LocalDateTime,
  intensity: z.string(),
  label: z.string().nullable().optional(),
  source: z.string(),
});
export type OuraWorkout = z.infer<typeof WorkoutSchema>;

/** PublicHeartRateRow (`heartrate`): 5-minute (awake) or finer samples, UTC timestamps. */
export const HeartRateRowSchema = z.looseObject({
  timestamp: LocalDateTime,
  timestamp_unix: z.number().int().optional(),
  bpm: z.number(),
  source: z.string(),
});
export type OuraHeartRateRow = z.infer<typeof HeartRateRowSchema>;

/** Multi-document and time-series responses: `next_token` is null (or absent) on the last page. */
function pageOf<T extends z.ZodType>(item: T) {
  return z.looseObject({ data: z.array(item), next_token: z.string().nullable().optional() });
}

export const DailySleepPageSchema = pageOf(DailySleepSchema);
export const DailyReadinessPageSchema = pageOf(DailyReadinessSchema);
export const DailyActivityPageSchema = pageOf(DailyActivitySchema);
export const DailySpo2PageSchema = pageOf(DailySpo2Schema);
export const DailyStressPageSchema = pageOf(DailyStressSchema);
export const SleepPageSchema = pageOf(SleepSchema);
export const WorkoutPageSchema = pageOf(WorkoutSchema);
export const HeartRatePageSchema = pageOf(HeartRateRowSchema);

/** PersonalInfoResponse: `id` comes with any token (no scope needed); the rest needs `personal` / `email`. */
export const PersonalInfoSchema = z.looseObject({ id: z.string().min(1) });

/** OAuth token response (RFC 6749 §5.1); Oura always returns a refresh token, but a refresh may omit it. */
export const TokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().positive(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});

export const WEBHOOK_EVENT_TYPES = ['create', 'update', 'delete'] as const;
export type OuraEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The webhook data types Baseline maps, each with its REST collection (identical names for these). */
export const MAPPED_DATA_TYPES = [
  'daily_sleep',
  'daily_readiness',
  'daily_activity',
  'daily_spo2',
  'daily_stress',
  'sleep',
  'workout',
] as const;
export type OuraDataType = (typeof MAPPED_DATA_TYPES)[number];

export function isMappedDataType(value: string): value is OuraDataType {
  return (MAPPED_DATA_TYPES as readonly string[]).includes(value);
}

/**
 * Webhook delivery body. Any data_type string passes here: one Baseline does not map is acknowledged by the bot
 * (Oura would otherwise retry it for an hour), not refused.
 */
export const WebhookBodySchema = z.looseObject({
  event_type: z.enum(WEBHOOK_EVENT_TYPES),
  data_type: z.string().regex(/^[A-Za-z0-9_]{1,40}$/),
  // Oura's document ids are UUID-like tokens; anything else (commas, `|`, `$`) is not an id but an attempt to smuggle
  // search syntax into the identifiers a deletion looks up.
  object_id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
  event_time: z.string().optional(),
  user_id: z.string().min(1).max(200),
});
export type OuraWebhookBody = z.infer<typeof WebhookBodySchema>;

/** WebhookSubscriptionModel. */
export const SubscriptionSchema = z.looseObject({
  id: z.string().min(1),
  callback_url: z.string(),
  event_type: z.string(),
  data_type: z.string(),
  expiration_time: z.string(),
});
export type OuraSubscription = z.infer<typeof SubscriptionSchema>;
export const SubscriptionListSchema = z.array(SubscriptionSchema);
