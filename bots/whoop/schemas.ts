/**
 * zod schemas for the WHOOP Developer API v2 (spec: developer.whoop.com, copy in shared/reference/openapi/whoop.yml).
 * Objects are loose (unknown fields pass through) because WHOOP adds fields without versioning; required fields
 * follow the spec's `required` lists, so a response missing one is a `bad-response`, not a silent hole.
 */
import { z } from 'zod';

const DateTime = z.iso.datetime({ offset: true });
/** WHOOP ids are int64; JSON numbers above 2^53 would lose precision, but WHOOP's are far below it. */
const Int64 = z.number().int();
export const ScoreStateSchema = z.enum(['SCORED', 'PENDING_SCORE', 'UNSCORABLE']);
export type ScoreState = z.infer<typeof ScoreStateSchema>;

export const CycleScoreSchema = z.looseObject({
  strain: z.number(),
  kilojoule: z.number(),
  average_heart_rate: z.number(),
  max_heart_rate: z.number(),
});

export const CycleSchema = z.looseObject({
  id: Int64,
  user_id: Int64,
  created_at: DateTime,
  updated_at: DateTime,
  start: DateTime,
  end: DateTime.optional(),
  timezone_offset: z.string(),
  score_state: ScoreStateSchema,
  score: CycleScoreSchema.optional(),
});
export type WhoopCycle = z.infer<typeof CycleSchema>;

export const SleepStageSummarySchema = z.looseObject({
  total_in_bed_time_milli: z.number(),
  total_awake_time_milli: z.number(),
  total_no_data_time_milli: z.number(),
  total_light_sleep_time_milli: z.number(),
  total_slow_wave_sleep_time_milli: z.number(),
  total_rem_sleep_time_milli: z.number(),
  sleep_cycle_count: z.number(),
  disturbance_count: z.number(),
});

export const SleepNeededSchema = z.looseObject({
  baseline_milli: z.number(),
  need_from_sleep_debt_milli: z.number(),
  need_from_recent_strain_milli: z.number(),
  need_from_recent_nap_milli: z.number(),
});

export const SleepScoreSchema = z.looseObject({
  stage_summary: SleepStageSummarySchema,
  sleep_needed: SleepNeededSchema,
  respiratory_rate: z.number().optional(),
  sleep_performance_percentage: z.number().optional(),
  sleep_consistency_percentage: z.number().optional(),
  sleep_efficiency_percentage: z.number().optional(),
});

export const SleepSchema = z.looseObject({
  id: z.string().min(1),
  cycle_id: Int64,
  v1_id: Int64.optional(),
  user_id: Int64,
  created_at: DateTime,
  updated_at: DateTime,
  start: DateTime,
  end: DateTime,
  timezone_offset: z.string(),
  nap: z.boolean(),
  score_state: ScoreStateSchema,
  score: SleepScoreSchema.optional(),
});
export type WhoopSleep = z.infer<typeof SleepSchema>;

export const RecoveryScoreSchema = z.looseObject({
  user_calibrating: z.boolean(),
  recovery_score: z.number(),
  resting_heart_rate: z.number(),
  hrv_rmssd_milli: z.number(),
  spo2_percentage: z.number().optional(),
  skin_temp_celsius: z.number().optional(),
});

export const RecoverySchema = z.looseObject({
  cycle_id: Int64,
  sleep_id: z.string().min(1),
  user_id: Int64,
  created_at: DateTime,
  updated_at: DateTime,
  score_state: ScoreStateSchema,
  score: RecoveryScoreSchema.optional(),
});
export type WhoopRecovery = z.infer<typeof RecoverySchema>;

export const ZoneDurationsSchema = z.looseObject({
  zone_zero_milli: z.number(),
  zone_one_milli: z.number(),
  zone_two_milli: z.number(),
  zone_three_milli: z.number(),
  zone_four_milli: z.number(),
  zone_five_milli: z.number(),
});

export const WorkoutScoreSchema = z.looseObject({
  strain: z.number(),
  average_heart_rate: z.number(),
  max_heart_rate: z.number(),
  kilojoule: z.number(),
  percent_recorded: z.number(),
  distance_meter: z.number().optional(),
  altitude_gain_meter: z.number().optional(),
  altitude_change_meter: z.number().optional(),
  zone_durations: ZoneDurationsSchema,
});

export const WorkoutSchema = z.looseObject({
  id: z.string().min(1),
  v1_id: Int64.optional(),
  user_id: Int64,
  created_at: DateTime,
  updated_at: DateTime,
  start: DateTime,
  end: DateTime,
  timezone_offset: z.string(),
  sport_name: z.string(),
  sport_id: z.number().int().optional(),
  score_state: ScoreStateSchema,
  score: WorkoutScoreSchema.optional(),
});
export type WhoopWorkout = z.infer<typeof WorkoutSchema>;

export const UserBasicProfileSchema = z.looseObject({
  user_id: Int64,
  email: z.string(),
  first_name: z.string(),
  last_name: z.string(),
});
export type WhoopProfile = z.infer<typeof UserBasicProfileSchema>;

export const UserBodyMeasurementSchema = z.looseObject({
  height_meter: z.number(),
  weight_kilogram: z.number(),
  max_heart_rate: z.number(),
});
export type WhoopBody = z.infer<typeof UserBodyMeasurementSchema>;

/**
 * @param record - schema of one record
 * @returns the schema of a page: `{ records, next_token? }` (no next_token ⇒ last page)
 */
export function paginated<T extends z.ZodType>(record: T) {
  return z.looseObject({
    records: z.array(record),
    next_token: z.string().nullish(),
  });
}
export const CyclePageSchema = paginated(CycleSchema);
export const SleepPageSchema = paginated(SleepSchema);
export const RecoveryPageSchema = paginated(RecoverySchema);
export const WorkoutPageSchema = paginated(WorkoutSchema);

/** Token endpoint answer (code exchange and refresh). `expires_in` is required: a token of unknown life is useless. */
export const TokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.number().positive(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
  token_type: z.string().optional(),
});
export type WhoopTokenResponse = z.infer<typeof TokenResponseSchema>;

export const WEBHOOK_EVENT_TYPES = [
  'workout.updated',
  'workout.deleted',
  'sleep.updated',
  'sleep.deleted',
  'recovery.updated',
  'recovery.deleted',
] as const;
export type WhoopWebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** v2 webhook body. `id` is a UUID (for recovery.* the UUID of the recovery's sleep); v1 integer ids are rejected. */
export const WebhookBodySchema = z.looseObject({
  user_id: Int64,
  // Sleep and workout UUIDs (a cycle id is an integer): nothing else, so no search syntax reaches a lookup.
  id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/),
  type: z.enum(WEBHOOK_EVENT_TYPES),
  trace_id: z.string().min(1),
});
export type WhoopWebhookBody = z.infer<typeof WebhookBodySchema>;
