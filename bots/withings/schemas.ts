/**
 * zod schemas for the Withings Public Health Data API (spec: https://developer.withings.com/api-reference, public copy of
 * the vendor OpenAPI 3.0.3 "Withings developer documentation" v2.0 in github.com/api-evangelist/withings
 * `openapi/_original/withings-data-api-openapi.yml` @5f8b17c).
 *
 * Every answer is HTTP 200 with the envelope `{status, body, error?}`; the envelope is parsed first (client.ts) and
 * the body only when `status` is 0. Objects are loose (Withings adds fields without versioning) and permissive where
 * real responses differ from the spec (reference/providers.md §2): `userid` is an int in the spec and a string in
 * some clients, `more` is 0/1 on getmeas and a boolean on the v2 endpoints, device ids and HR fields are null for
 * external trackers, the model id is `modelid` in real answers and `model_id` in the spec.
 */
import { z } from 'zod';

export const EnvelopeSchema = z.looseObject({
  status: z.number().int(),
  body: z.unknown().optional(),
  error: z.string().optional(),
});
export type WithingsEnvelope = z.infer<typeof EnvelopeSchema>;

/** An id Withings sends as a number or as a digit string; Baseline keeps it as a string. */
const IdLike = z.union([z.number().int().nonnegative(), z.string().regex(/^\d{1,20}$/)]).transform(String);
const Nullish = <T extends z.ZodType>(schema: T): z.ZodOptional<z.ZodNullable<T>> => schema.nullable().optional();
/** `more`: 0/1 on getmeas, a boolean on the v2 endpoints. */
const More = z.union([z.boolean(), z.number().int()]).transform((v) => v === true || v === 1);
const Ymd = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

export const TokenBodySchema = z.looseObject({
  userid: IdLike,
  access_token: z.string().min(1),
  refresh_token: z.string().min(1),
  expires_in: z.number().int().positive(),
  scope: z.string().optional(),
  token_type: z.string().optional(),
});
export type WithingsTokenBody = z.infer<typeof TokenBodySchema>;

export const NonceBodySchema = z.looseObject({ nonce: z.string().min(1) });

export const MeasureSchema = z.looseObject({
  value: z.number().int(),
  type: z.number().int(),
  /** Power of ten: the real value is value × 10^unit. */
  unit: z.number().int().min(-20).max(20),
  position: Nullish(z.number().int()),
});
export type WithingsMeasure = z.infer<typeof MeasureSchema>;

export const MeasureGroupSchema = z.looseObject({
  grpid: z.number().int(),
  attrib: z.number().int(),
  /** When measured (unix seconds). */
  date: z.number().int(),
  created: Nullish(z.number().int()),
  modified: Nullish(z.number().int()),
  category: z.number().int(),
  deviceid: Nullish(z.string()),
  hash_deviceid: Nullish(z.string()),
  measures: z.array(MeasureSchema),
  model: Nullish(z.union([z.string(), z.number()])),
  modelid: Nullish(z.number().int()),
  model_id: Nullish(z.number().int()),
  /** Real answers carry it per group on some accounts; the body's own `timezone` otherwise. */
  timezone: Nullish(z.string()),
});
export type WithingsMeasureGroup = z.infer<typeof MeasureGroupSchema>;

export const MeasureBodySchema = z.looseObject({
  updatetime: Nullish(z.number().int()),
  timezone: Nullish(z.string()),
  measuregrps: z.array(MeasureGroupSchema),
  more: More.optional(),
  offset: Nullish(z.number().int()),
});
export type WithingsMeasureBody = z.infer<typeof MeasureBodySchema>;

const Num = Nullish(z.number());

export const ActivitySchema = z.looseObject({
  date: Ymd,
  timezone: Nullish(z.string()),
  deviceid: Nullish(z.string()),
  hash_deviceid: Nullish(z.string()),
  brand: Nullish(z.number().int()),
  is_tracker: Nullish(z.boolean()),
  modified: Nullish(z.number().int()),
  model: Nullish(z.union([z.string(), z.number()])),
  modelid: Nullish(z.number().int()),
  steps: Num,
  distance: Num,
  elevation: Num,
  soft: Num,
  moderate: Num,
  intense: Num,
  active: Num,
  calories: Num,
  totalcalories: Num,
  hr_average: Num,
  hr_min: Num,
  hr_max: Num,
});
export type WithingsActivity = z.infer<typeof ActivitySchema>;

export const ActivityBodySchema = z.looseObject({
  activities: z.array(ActivitySchema),
  more: More.optional(),
  offset: Nullish(z.number().int()),
});

/** One instant of getintradayactivity; the body's `series` is keyed by the epoch second as a string. */
export const IntradayPointSchema = z.looseObject({
  deviceid: Nullish(z.string()),
  model: Nullish(z.union([z.string(), z.number()])),
  model_id: Nullish(z.number().int()),
  heart_rate: Num,
  steps: Num,
  duration: Num,
});
export type WithingsIntradayPoint = z.infer<typeof IntradayPointSchema>;

export const IntradayBodySchema = z.looseObject({
  // An empty day is `[]` in real answers (a PHP empty array), an object otherwise.
  series: z.union([z.record(z.string().regex(/^\d{1,12}$/), IntradayPointSchema), z.array(z.never()).length(0)]),
});

export const WorkoutSchema = z.looseObject({
  id: z.number().int(),
  category: z.number().int(),
  timezone: Nullish(z.string()),
  model: Nullish(z.union([z.string(), z.number()])),
  attrib: Nullish(z.number().int()),
  startdate: z.number().int(),
  enddate: z.number().int(),
  date: Nullish(Ymd),
  deviceid: Nullish(z.string()),
  modified: Nullish(z.number().int()),
  data: z
    .looseObject({
      calories: Num,
      manual_calories: Num,
      distance: Num,
      manual_distance: Num,
      steps: Num,
      hr_average: Num,
      hr_min: Num,
      hr_max: Num,
      intensity: Num,
    })
    .nullable()
    .optional(),
});
export type WithingsWorkout = z.infer<typeof WorkoutSchema>;

export const WorkoutBodySchema = z.looseObject({
  series: z.array(WorkoutSchema),
  more: More.optional(),
  offset: Nullish(z.number().int()),
});

export const SleepSummarySchema = z.looseObject({
  id: z.number().int(),
  timezone: Nullish(z.string()),
  model: Nullish(z.union([z.string(), z.number()])),
  model_id: Nullish(z.number().int()),
  startdate: z.number().int(),
  enddate: z.number().int(),
  date: Nullish(Ymd),
  created: Nullish(z.number().int()),
  modified: Nullish(z.number().int()),
  hash_deviceid: Nullish(z.string()),
  completed: Nullish(z.boolean()),
  data: z.looseObject({
    total_timeinbed: Num,
    total_sleep_time: Num,
    asleepduration: Num,
    lightsleepduration: Num,
    remsleepduration: Num,
    deepsleepduration: Num,
    sleep_efficiency: Num,
    sleep_latency: Num,
    durationtosleep: Num,
    wakeupduration: Num,
    waso: Num,
    hr_average: Num,
    rr_average: Num,
    sleep_score: Num,
  }),
});
export type WithingsSleepSummary = z.infer<typeof SleepSummarySchema>;

export const SleepSummaryBodySchema = z.looseObject({
  series: z.array(SleepSummarySchema),
  more: More.optional(),
  offset: Nullish(z.number().int()),
});

export const NotifyListBodySchema = z.looseObject({
  profiles: z.array(
    z.looseObject({
      appli: z.number().int(),
      callbackurl: z.string(),
      comment: Nullish(z.string()),
      expires: Nullish(z.number()),
    })
  ),
});

/** The notification categories (appli) Baseline subscribes to, and what each re-fetches (providers.md §2.3). */
export const SUBSCRIBED_APPLIS = [1, 2, 4, 16, 44] as const;
export type SubscribedAppli = (typeof SUBSCRIBED_APPLIS)[number];

/**
 * The Task record type each subscribed category is queued under by the webhook (sync-plan.ts APPLI_CATEGORIES says
 * what it re-fetches). Kept here, not in sync-plan.ts, so the webhook bundle does not pull in the mappers.
 */
export const APPLI_RECORD_TYPES: Readonly<Record<number, string>> = {
  1: 'measure',
  2: 'measure',
  4: 'measure',
  16: 'activity',
  44: 'sleep',
};

const Digits = (max: number): z.ZodString => z.string().regex(new RegExp(`^\\d{1,${max}}$`));

/**
 * A notification as Medplum hands it to the bot (form-urlencoded, parsed into strings). Unknown fields pass; every
 * field Baseline reads is checked, and none of their values is trusted beyond naming what to re-fetch.
 */
export const NotificationSchema = z.looseObject({
  userid: Digits(20),
  appli: Digits(4).transform(Number),
  startdate: Digits(12).transform(Number).optional(),
  enddate: Digits(12).transform(Number).optional(),
  date: z.string().max(32).optional(),
  deviceid: z.string().max(128).optional(),
  action: z.string().max(32).optional(),
});
export type WithingsNotification = z.infer<typeof NotificationSchema>;
