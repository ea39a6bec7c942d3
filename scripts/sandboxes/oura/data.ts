/**
 * Deterministic synthetic Oura data: the WHOOP sandbox's people (../whoop/data.ts) wearing an Oura ring too.
 *
 * The same `(seed, index)` is the same person in both sandboxes: the same name, email, time zone, training blocks,
 * illness episodes and demo `recentEpisode`. The ring sees the same body through its own sensors: each night starts
 * from what the WHOOP sandbox records for it (the body's night) and adds the ring's bias and its own measurement
 * error, so shared metrics are correlated (r ≈ 0.8–0.95 over a year) but not equal:
 * - sleep timing is WHOOP's night detected a few minutes later and ended a few minutes apart;
 * - `lowest_heart_rate` (the night's lowest 30-s average) sits about 2.5 bpm below WHOOP's resting heart rate;
 * - `average_hrv` is a whole-night RMSSD mean, about 15 % below WHOOP's (WHOOP weights the last slow-wave sleep);
 * - `temperature_deviation` rises by about 0.6 °C at an illness's peak, as WHOOP's skin temperature does;
 * - SpO2 reads about 0.4 % higher and varies less.
 * The ring's own draws come from a PRNG seeded by (seed, person, day, stream) with streams of its own, so adding
 * Oura changes nothing in WHOOP's data. Intraday series (heart rate, MET) are generated on demand from (person, day);
 * nothing here stores a year of samples.
 *
 * Shapes follow Oura's API v2 OpenAPI 3.1 spec (test/fixtures/openapi/oura.json) field for field.
 */
import {
  createPerson,
  dateOfDay,
  dayContext,
  DAY_MS,
  expectedHrv,
  expectedRestingHeartRate,
  hash32,
  offsetMinutesOn,
  PersonGenerator,
  Rng,
} from '../whoop/data.ts';
import type { PersonTraits, WhoopWorkout } from '../whoop/data.ts';

const MINUTE_MS = 60_000;
const SLOT_MS = 5 * MINUTE_MS;

export const OURA_DOCUMENT_TYPES = [
  'daily_sleep',
  'daily_readiness',
  'daily_activity',
  'daily_spo2',
  'daily_stress',
  'sleep',
  'workout',
] as const;
export type OuraDocumentType = (typeof OURA_DOCUMENT_TYPES)[number];

export interface OuraMeta {
  updated_at: string;
  version: number;
}

export interface PublicSample {
  interval: number;
  items: (number | null)[];
  timestamp: string;
}

export interface ReadinessContributors {
  activity_balance: number;
  body_temperature: number;
  hrv_balance: number;
  previous_day_activity: number;
  previous_night: number;
  recovery_index: number;
  resting_heart_rate: number;
  sleep_balance: number;
  sleep_regularity: number;
}

export interface OuraReadiness {
  contributors: ReadinessContributors;
  score: number;
  temperature_deviation: number;
  temperature_trend_deviation: number;
}

export type OuraSleepType = 'deleted' | 'sleep' | 'long_sleep' | 'late_nap' | 'rest';

export interface OuraSleep {
  id: string;
  meta: OuraMeta;
  average_breath: number | null;
  average_heart_rate: number | null;
  average_hrv: number | null;
  awake_time: number | null;
  bedtime_end: string;
  bedtime_start: string;
  day: string;
  deep_sleep_duration: number | null;
  efficiency: number | null;
  heart_rate: PublicSample | null;
  hrv: PublicSample | null;
  latency: number | null;
  light_sleep_duration: number | null;
  low_battery_alert: boolean;
  lowest_heart_rate: number | null;
  movement_30_sec: string | null;
  period: number;
  readiness: OuraReadiness | null;
  readiness_score_delta: number | null;
  rem_sleep_duration: number | null;
  restless_periods: number | null;
  sleep_algorithm_version: 'v1' | 'v2' | null;
  sleep_analysis_reason: 'foreground_sleep_analysis' | 'bedtime_edit' | null;
  sleep_phase_5_min: string | null;
  sleep_score_delta: number | null;
  time_in_bed: number;
  total_sleep_duration: number | null;
  type: OuraSleepType | null;
  ring_id: string | null;
}

export interface OuraDailySleep {
  id: string;
  meta: OuraMeta;
  contributors: {
    deep_sleep: number;
    efficiency: number;
    latency: number;
    rem_sleep: number;
    restfulness: number;
    timing: number;
    total_sleep: number;
  };
  day: string;
  score: number;
  timestamp: string;
}

export interface OuraDailyReadiness {
  id: string;
  meta: OuraMeta;
  contributors: ReadinessContributors;
  day: string;
  score: number;
  temperature_deviation: number;
  temperature_trend_deviation: number;
  timestamp: string;
}

export interface OuraDailyActivity {
  id: string;
  meta: OuraMeta;
  active_calories: number;
  average_met_minutes: number;
  class_5_min: string;
  contributors: {
    meet_daily_targets: number;
    move_every_hour: number;
    recovery_time: number;
    stay_active: number;
    training_frequency: number;
    training_volume: number;
  };
  day: string;
  equivalent_walking_distance: number;
  high_activity_met_minutes: number;
  high_activity_time: number;
  inactivity_alerts: number;
  low_activity_met_minutes: number;
  low_activity_time: number;
  medium_activity_met_minutes: number;
  medium_activity_time: number;
  met: PublicSample;
  meters_to_target: number;
  non_wear_time: number;
  resting_time: number;
  score: number;
  sedentary_met_minutes: number;
  sedentary_time: number;
  steps: number;
  target_calories: number;
  target_meters: number;
  timestamp: string;
  total_calories: number;
}

export interface OuraDailySpo2 {
  id: string;
  meta: OuraMeta;
  breathing_disturbance_index: number | null;
  day: string;
  spo2_percentage: { average: number } | null;
}

export interface OuraDailyStress {
  id: string;
  meta: OuraMeta;
  day: string;
  day_summary: 'restored' | 'normal' | 'stressful' | null;
  recovery_high: number;
  stress_high: number;
}

export interface OuraWorkout {
  id: string;
  meta: OuraMeta;
  activity: string;
  calories: number | null;
  day: string;
  distance: number | null;
  end_datetime: string;
  intensity: 'easy' | 'moderate' | 'hard';
  label: string | null;
  source: 'manual' | 'autodetected' | 'confirmed' | 'workout_heart_rate';
  start_datetime: string;
}

export type OuraDocument =
  OuraDailySleep | OuraDailyReadiness | OuraDailyActivity | OuraDailySpo2 | OuraDailyStress | OuraSleep | OuraWorkout;

export interface OuraPersonalInfo {
  id: string;
  age: number | null;
  weight: number | null;
  height: number | null;
  biological_sex: string | null;
  email: string | null;
}

export type HeartRateSource = 'awake' | 'workout' | 'rest' | 'sleep';

export interface HeartRateRow {
  bpm: number;
  source: HeartRateSource;
  timestamp: string;
  timestamp_unix: number;
}

/** Everything the ring produces for one calendar day (the day a night ends on, or an activity day starts on). */
export interface OuraDay {
  day: number;
  date: string;
  sleeps: OuraSleep[];
  dailySleep: OuraDailySleep;
  dailyReadiness: OuraDailyReadiness;
  dailyActivity: OuraDailyActivity;
  dailySpo2: OuraDailySpo2;
  dailyStress: OuraDailyStress;
  workouts: OuraWorkout[];
}

// Streams of their own (the WHOOP generator uses 1…9): the ring's draws never shift WHOOP's.
const STREAM = {
  identity: 0x0a01,
  timing: 0x0a02,
  night: 0x0a03,
  samples: 0x0a04,
  readiness: 0x0a05,
  activity: 0x0a06,
  spo2: 0x0a07,
  stress: 0x0a08,
  workout: 0x0a09,
  gaps: 0x0a0a,
  heart: 0x0a0b,
  ids: 0x0a0c,
} as const;

function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  // `|| 0` turns −0 into 0: the value must read the same before and after a JSON round trip.
  return Math.round(value * factor) / factor || 0;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function score(value: number): number {
  return Math.round(clamp(value, 1, 100));
}

/** `+hh:mm` always: Oura writes `+00:00`, never `Z`, in its localized date-times. */
export function ouraOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/**
 * A LocalizedDateTime as Oura writes it: the wall-clock time at the offset, e.g. `2024-01-14T23:01:00+01:00`
 * (documents) or `2024-01-14T23:01:00.000+01:00` (sample timestamps, `withMillis`).
 */
export function localIso(ms: number, offsetMinutes: number, withMillis = false): string {
  const wall = new Date(ms + offsetMinutes * MINUTE_MS).toISOString();
  return `${withMillis ? wall.slice(0, 23) : wall.slice(0, 19)}${ouraOffset(offsetMinutes)}`;
}

/** A UtcDateTime as the heart-rate rows carry it: `2024-01-12T06:04:46+00:00`. */
export function utcIso(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}+00:00`;
}

/** Start of the local calendar day `day` in epoch ms (the person's offset on that day). */
export function localMidnight(person: PersonTraits, day: number): number {
  return day * DAY_MS - offsetMinutesOn(person.zone, day) * MINUTE_MS;
}

/** Oura's `personal_info.id` for a person: a UUID derived from the seed and index, stable across runs. */
export function ouraUserIdOf(person: PersonTraits): string {
  return new Rng(hash32(person.seed, person.index, 0, STREAM.identity)).uuid();
}

interface Interval {
  startMs: number;
  endMs: number;
}

interface NightPlan {
  id: string;
  day: number;
  type: OuraSleepType;
  period: number;
  startMs: number;
  endMs: number;
  offsetMinutes: number;
  /** Sleep onset in 5-min slots after bedtime_start. */
  latencySlots: number;
  lowest: number;
  hrvTarget: number;
  breath: number;
}

const SPORT_ACTIVITY: Readonly<Record<string, string>> = {
  running: 'running',
  cycling: 'cycling',
  weightlifting: 'strengthTraining',
  yoga: 'yoga',
  walking: 'walking',
  'functional-fitness': 'hiit',
};

/** MET while doing each WHOOP sport (Compendium of Physical Activities, rounded). */
const SPORT_MET: Readonly<Record<string, number>> = {
  running: 9.5,
  cycling: 7.5,
  weightlifting: 5,
  yoga: 2.8,
  walking: 3.8,
  'functional-fitness': 8,
};

/** Steps per minute of each sport (0 for cycling: the ring counts no pedal strokes). */
const SPORT_STEPS: Readonly<Record<string, number>> = {
  running: 165,
  cycling: 0,
  weightlifting: 15,
  yoga: 5,
  walking: 112,
  'functional-fitness': 40,
};

/**
 * One person's ring. Results are pure functions of (person, day); the caches avoid regenerating the neighbours a
 * day depends on (the previous night, the WHOOP generator's own caches).
 */
export class OuraGenerator {
  readonly person: PersonTraits;
  readonly userId: string;
  readonly whoop: PersonGenerator;
  private readonly dayCache = new Map<number, OuraDay>();
  private readonly heartCache = new Map<number, HeartRateRow[]>();
  private readonly nightCache = new Map<number, NightPlan>();
  private readonly whoopCache = new Map<
    number,
    { restingHeartRate: number; hrv: number; spo2: number; skinDelta: number }
  >();

  constructor(person: PersonTraits) {
    this.person = person;
    this.userId = ouraUserIdOf(person);
    this.whoop = new PersonGenerator(person);
  }

  private rng(day: number, stream: number, extra = 0): Rng {
    return new Rng(hash32(this.person.seed, this.person.index, day, stream, extra));
  }

  private id(day: number, kind: number, extra = 0): string {
    return this.rng(day, STREAM.ids, kind * 100 + extra).uuid();
  }

  /** Age in whole years, fixed per person (the WHOOP profile carries none). */
  age(): number {
    return 26 + (hash32(this.person.seed, this.person.index, STREAM.identity, 1) % 28);
  }

  personalInfo(): OuraPersonalInfo {
    const rng = this.rng(0, STREAM.identity, 2);
    return {
      id: this.userId,
      age: this.age(),
      // Typed into the Oura app once: near the scale's value, not equal to it.
      weight: round(this.person.weightKilogram + rng.range(-1.5, 1.5), 1),
      height: round(this.person.heightMeter, 2),
      biological_sex: rng.pick(['male', 'female'] as const),
      email: this.person.email,
    };
  }

  /** The main night that ends on the morning of `day`, as the ring detects it. */
  mainNight(day: number): NightPlan {
    const cached = this.nightCache.get(day);
    if (cached) {
      return cached;
    }
    const whoop = this.whoop.sleepTiming(day);
    const rng = this.rng(day, STREAM.timing);
    const context = dayContext(this.person, day);
    const night = this.whoopNight(day);
    // The ring notices lying down a little later than WHOOP and the end of the night within a few minutes of it.
    // Whole seconds, as Oura's bedtimes are.
    const startMs = Math.floor(whoop.startMs / 1000) * 1000 + Math.round(rng.range(2, 12) * 60) * 1000;
    const endMs = Math.floor(whoop.endMs / 1000) * 1000 + Math.round(rng.range(-6, 4) * 60) * 1000;
    const plan: NightPlan = {
      id: this.id(day, 1),
      day,
      type: 'long_sleep',
      period: 0,
      startMs,
      endMs,
      offsetMinutes: whoop.offsetMinutes,
      latencySlots: Math.max(1, Math.round((rng.range(5, 18) + 15 * context.illness) / 5)),
      // Same night, other sensor: the ring's lowest 30-s average sits below WHOOP's resting heart rate, with its
      // own measurement error on top of the body's.
      lowest: Math.round(clamp(night.restingHeartRate - 2.5 + rng.normal(0, 0.8), 35, 95)),
      hrvTarget: night.hrv * 0.85 * Math.exp(rng.normal(0, 0.06)),
      breath: round(this.person.respiratoryRate - 0.4 + rng.normal(0, 0.25) + 1.6 * context.illness, 3),
    };
    this.nightCache.set(day, plan);
    return plan;
  }

  /**
   * The body's night as the WHOOP sandbox records it (resting HR, RMSSD, SpO2, skin temperature): what both devices
   * measure. When WHOOP could not score the night, the model's expected values stand in.
   */
  private whoopNight(day: number): { restingHeartRate: number; hrv: number; spo2: number; skinDelta: number } {
    const cached = this.whoopCache.get(day);
    if (cached) {
      return cached;
    }
    const score = this.whoop.day(day).recovery.score;
    const context = dayContext(this.person, day);
    const night = score
      ? {
          restingHeartRate: score.resting_heart_rate,
          hrv: score.hrv_rmssd_milli,
          spo2: score.spo2_percentage,
          skinDelta: score.skin_temp_celsius - this.person.skinTempCelsius,
        }
      : {
          restingHeartRate: expectedRestingHeartRate(this.person, context),
          hrv: expectedHrv(this.person, context),
          spo2: this.person.spo2Percentage - 1.2 * context.illness,
          skinDelta: 0.6 * context.illness,
        };
    this.whoopCache.set(day, night);
    return night;
  }

  /** Daytime naps the ring picks up (WHOOP's, when at least 20 minutes long). */
  private naps(day: number, main: NightPlan): NightPlan[] {
    return this.whoop.naps(day).flatMap((nap, index) => {
      const startMs = Math.floor(Date.parse(nap.start) / 1000) * 1000;
      const endMs = Math.floor(Date.parse(nap.end) / 1000) * 1000;
      if (endMs - startMs < 20 * MINUTE_MS) {
        return [];
      }
      const rng = this.rng(day, STREAM.timing, index + 1);
      return [
        {
          ...main,
          id: this.id(day, 2, index),
          // A quarter of naps are dismissed in the app's confirm prompt ("rest").
          type: rng.chance(0.25) ? ('rest' as const) : ('sleep' as const),
          period: index + 1,
          startMs: startMs + Math.round(rng.range(1, 5) * 60) * 1000,
          endMs: endMs + Math.round(rng.range(-3, 2) * 60) * 1000,
          latencySlots: 1,
          lowest: main.lowest + 4,
          hrvTarget: main.hrvTarget * 0.8,
        },
      ];
    });
  }

  /** Heart rate (bpm) of one 5-min slot of a night, or null when the ring had no clean reading. */
  private nightSlots(plan: NightPlan): { hr: (number | null)[]; hrv: (number | null)[]; phases: string } {
    const slots = Math.max(1, Math.floor((plan.endMs - plan.startMs) / SLOT_MS));
    const rng = this.rng(plan.day, STREAM.samples, plan.period);
    const hr: (number | null)[] = [];
    const hrv: (number | null)[] = [];
    let phases = '';
    // The night's low comes a little after the middle; onset and waking run higher.
    const lowSlot = Math.min(slots - 1, Math.floor(slots * rng.range(0.45, 0.65)));
    for (let slot = 0; slot < slots; slot++) {
      const u = slots === 1 ? 0.5 : slot / (slots - 1);
      const shape = 4 * (u - lowSlot / Math.max(1, slots - 1)) ** 2;
      const missing = slot === 0 || rng.chance(0.04);
      const beat =
        slot === lowSlot
          ? plan.lowest
          : Math.max(plan.lowest, Math.round(plan.lowest + 1 + 7 * shape + rng.normal(0, 1.2)));
      hr.push(missing && slot !== lowSlot ? null : beat);
      const variability = plan.hrvTarget * (1.2 - 0.5 * shape) * Math.exp(rng.normal(0, 0.15));
      hrv.push(missing && slot !== lowSlot ? null : Math.max(5, Math.round(variability)));
      if (slot < plan.latencySlots || slot === slots - 1) {
        phases += '4';
        continue;
      }
      // Sleep cycles of about 90 minutes: deep early in the night, REM later.
      const cycle = Math.floor((slot - plan.latencySlots) / 18);
      const position = ((slot - plan.latencySlots) % 18) / 18;
      const deepShare = Math.max(0.03, 0.4 - 0.12 * cycle);
      const remShare = Math.min(0.4, 0.1 + 0.07 * cycle);
      if (rng.chance(0.035)) {
        phases += '4';
      } else if (position > 0.25 && position < 0.25 + deepShare) {
        phases += '1';
      } else if (position > 1 - remShare) {
        phases += '3';
      } else {
        phases += '2';
      }
    }
    return { hr, hrv, phases };
  }

  private sleepDocument(plan: NightPlan, readiness: OuraReadiness | null): OuraSleep {
    const rng = this.rng(plan.day, STREAM.night, plan.period);
    const { hr, hrv, phases } = this.nightSlots(plan);
    const count = (phase: string): number => phases.split('').filter((char) => char === phase).length * 300;
    const timeInBed = Math.round((plan.endMs - plan.startMs) / 1000);
    const deep = count('1');
    const light = count('2');
    const rem = count('3');
    const total = deep + light + rem;
    const beats = hr.filter((value): value is number => value !== null);
    const variabilities = hrv.filter((value): value is number => value !== null);
    const mean = (values: number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;
    const movement = phases
      .split('')
      .map((phase) => {
        const calm = phase === '1' ? '1111111111' : phase === '4' ? '2334432222' : '1112111211';
        return rng.chance(0.08) ? calm.replace(/1/g, '2') : calm;
      })
      .join('');
    const sampleStart = localIso(plan.startMs, plan.offsetMinutes, true);
    const nap = plan.type !== 'long_sleep';
    return {
      id: plan.id,
      meta: { updated_at: utcIso(plan.endMs + rng.int(300, 2400) * 1000), version: 1 },
      average_breath: round(plan.breath + rng.normal(0, 0.1), 3),
      average_heart_rate: round(mean(beats), 3),
      average_hrv: Math.round(mean(variabilities)),
      awake_time: timeInBed - total,
      bedtime_end: localIso(plan.endMs, plan.offsetMinutes),
      bedtime_start: localIso(plan.startMs, plan.offsetMinutes),
      day: dateOfDay(plan.day),
      deep_sleep_duration: deep,
      efficiency: score((total / timeInBed) * 100),
      heart_rate: { interval: 300, items: hr, timestamp: sampleStart },
      hrv: { interval: 300, items: hrv, timestamp: sampleStart },
      latency: plan.latencySlots * 300 - rng.int(0, 120),
      light_sleep_duration: light,
      low_battery_alert: rng.chance(0.02),
      lowest_heart_rate: plan.lowest,
      movement_30_sec: movement,
      period: plan.period,
      readiness,
      readiness_score_delta: nap ? rng.int(0, 3) : null,
      rem_sleep_duration: rem,
      restless_periods: Math.round(clamp(rng.normal(nap ? 20 : 190, nap ? 8 : 45), 0, 600)),
      sleep_algorithm_version: 'v2',
      sleep_analysis_reason: 'foreground_sleep_analysis',
      sleep_phase_5_min: phases,
      sleep_score_delta: nap ? rng.int(0, 4) : null,
      time_in_bed: timeInBed,
      total_sleep_duration: total,
      type: plan.type,
      ring_id: `enc_${ouraUserIdOf(this.person).slice(0, 8)}`,
    };
  }

  /** Temperature deviation from the person's long-term baseline (°C): illness shows as a rise. */
  private temperature(day: number): number {
    return round(this.whoopNight(day).skinDelta + this.rng(day, STREAM.readiness).normal(0, 0.06), 2);
  }

  private readinessOf(day: number, night: NightPlan, total: number): OuraReadiness {
    const context = dayContext(this.person, day);
    const rng = this.rng(day, STREAM.readiness, 1);
    const temperature = this.temperature(day);
    let trend = 0;
    for (let back = 1; back <= 3; back++) {
      trend += this.temperature(day - back);
    }
    const baselineHrv = this.person.hrvRmssdMilli * 0.85 * (1 + 0.15 * context.fitness + 0.06 * context.trend);
    const baselineLow = this.person.restingHeartRate - 2.5 - 3.75 * context.fitness - 1.5 * context.trend;
    const hrvBalance = score(80 + 120 * Math.log(night.hrvTarget / baselineHrv) + rng.normal(0, 4));
    const restingHr = score(90 - 6 * (night.lowest - baselineLow) + rng.normal(0, 3));
    const bodyTemperature = score(100 - 110 * Math.max(0, Math.abs(temperature) - 0.1));
    const previousNight = score((total / (this.person.sleepNeedMilli / 1000)) * 100 - 5 + rng.normal(0, 4));
    const strain = this.whoop.cycleStrain(day - 1);
    const contributors: ReadinessContributors = {
      activity_balance: score(85 - 2 * Math.max(0, strain - 14) + rng.normal(0, 5)),
      body_temperature: bodyTemperature,
      hrv_balance: hrvBalance,
      previous_day_activity: score(95 - 3 * Math.max(0, strain - 13) + rng.normal(0, 5)),
      previous_night: previousNight,
      recovery_index: score(80 + rng.normal(0, 10) - 30 * context.illness),
      resting_heart_rate: restingHr,
      sleep_balance: score(82 + rng.normal(0, 6) - 10 * context.illness),
      sleep_regularity: score((context.weekend ? 70 : 85) + rng.normal(0, 6)),
    };
    const weighted =
      0.25 * contributors.hrv_balance +
      0.2 * contributors.resting_heart_rate +
      0.15 * contributors.body_temperature +
      0.15 * contributors.previous_night +
      0.1 * contributors.recovery_index +
      0.05 * contributors.activity_balance +
      0.05 * contributors.sleep_balance +
      0.05 * contributors.sleep_regularity;
    return {
      contributors,
      score: score(weighted - 20 * context.illness),
      temperature_deviation: temperature,
      // The trend is the deviation smoothed over the last four nights: it lags an illness's onset.
      temperature_trend_deviation: round((temperature + trend) / 4, 2),
    };
  }

  /** The intervals of one local day [midnight, next midnight) and what the wearer was doing in them. */
  private timeline(day: number): {
    nights: NightPlan[];
    workouts: WhoopWorkout[];
    gaps: Interval[];
  } {
    const nights = [this.mainNight(day), ...this.naps(day, this.mainNight(day)), this.mainNight(day + 1)];
    const rng = this.rng(day, STREAM.gaps);
    const midnight = localMidnight(this.person, day);
    const gaps: Interval[] = [];
    // Charging, a shower: the ring is off the finger for a while most days.
    const chargeStart = midnight + Math.round(rng.range(8 * 60, 20 * 60)) * MINUTE_MS;
    gaps.push({ startMs: chargeStart, endMs: chargeStart + Math.round(rng.range(30, 80)) * MINUTE_MS });
    if (rng.chance(0.3)) {
      const start = midnight + Math.round(rng.range(7 * 60, 21 * 60)) * MINUTE_MS;
      gaps.push({ startMs: start, endMs: start + Math.round(rng.range(10, 40)) * MINUTE_MS });
    }
    return { nights, workouts: this.whoop.workouts(day), gaps };
  }

  /**
   * The heart-rate rows of the local calendar day `day`: one every 5 minutes while the ring is worn (the night's
   * sample values during sleep, so the two agree), one a minute during workouts, none while it is off.
   */
  heartRateDay(day: number): HeartRateRow[] {
    const cached = this.heartCache.get(day);
    if (cached) {
      return cached;
    }
    const { nights, workouts, gaps } = this.timeline(day);
    const context = dayContext(this.person, day);
    const rng = this.rng(day, STREAM.heart);
    const midnight = localMidnight(this.person, day);
    const next = localMidnight(this.person, day + 1);
    const rows: HeartRateRow[] = [];
    const resting = expectedRestingHeartRate(this.person, context);
    const push = (ms: number, bpm: number, source: HeartRateSource): void => {
      // Whole seconds: the row's two timestamps must say the same instant.
      const at = Math.floor(ms / 1000) * 1000;
      rows.push({ bpm: Math.round(bpm), source, timestamp: utcIso(at), timestamp_unix: at });
    };
    const within = (ms: number, interval: Interval): boolean => ms >= interval.startMs && ms < interval.endMs;
    const nightSamples = new Map<string, (number | null)[]>();
    for (const night of nights) {
      nightSamples.set(night.id, this.nightSlots(night).hr);
    }
    // Rows sit a few seconds into each slot, as a ring's readings do.
    const jitter = rng.int(5, 55) * 1000;
    for (let slot = Math.ceil(midnight / SLOT_MS) * SLOT_MS; slot < next; slot += SLOT_MS) {
      const ms = slot + jitter;
      if (gaps.some((gap) => within(ms, gap))) {
        continue;
      }
      const workout = workouts.find((candidate) =>
        within(ms, { startMs: Date.parse(candidate.start), endMs: Date.parse(candidate.end) })
      );
      if (workout) {
        continue;
      }
      const night = nights.find((candidate) => within(ms, candidate));
      if (night) {
        const items = nightSamples.get(night.id) ?? [];
        const value = items[Math.floor((ms - night.startMs) / SLOT_MS)];
        if (value !== null && value !== undefined) {
          push(ms, value, night.type === 'long_sleep' ? 'sleep' : 'rest');
        }
        continue;
      }
      if (rng.chance(0.03)) {
        continue;
      }
      const hour = (ms - midnight) / 3_600_000;
      const circadian = 6 * Math.sin(((hour - 9) / 24) * 2 * Math.PI);
      const afterWorkout = workouts.some((candidate) => {
        const end = Date.parse(candidate.end);
        return ms >= end && ms < end + 60 * MINUTE_MS;
      })
        ? 12
        : 0;
      const sitting = rng.chance(0.15);
      push(
        ms,
        clamp(
          resting + (sitting ? 8 : 20) + circadian + afterWorkout + 5 * context.illness + rng.normal(0, 5),
          40,
          180
        ),
        sitting ? 'rest' : 'awake'
      );
    }
    for (const workout of workouts) {
      const start = Date.parse(workout.start);
      const end = Date.parse(workout.end);
      const average = workout.score?.average_heart_rate ?? resting + 60;
      const peak = workout.score?.max_heart_rate ?? average + 20;
      for (let ms = start + 30_000; ms < end; ms += MINUTE_MS) {
        if (ms < midnight || ms >= next) {
          continue;
        }
        const progress = (ms - start) / (end - start);
        const warm = Math.min(1, progress * 6);
        const bpm = resting + (average - resting) * warm + (peak - average) * 0.5 * Math.sin(progress * 9) ** 2;
        push(ms, clamp(bpm + rng.normal(0, 3), 50, peak), 'workout');
      }
    }
    rows.sort((a, b) => a.timestamp_unix - b.timestamp_unix);
    this.heartCache.set(day, rows);
    if (this.heartCache.size > 64) {
      const oldest = this.heartCache.keys().next().value;
      if (oldest !== undefined) {
        this.heartCache.delete(oldest);
      }
    }
    return rows;
  }

  /** MET per minute of the activity day (04:00 local → 04:00 next day), Oura's `met` sample. */
  private metMinutes(day: number): (number | null)[] {
    const start = localMidnight(this.person, day) + 4 * 60 * MINUTE_MS;
    const today = this.timeline(day);
    const tomorrow = this.timeline(day + 1);
    const nights = [...today.nights, ...tomorrow.nights];
    const gaps = [...today.gaps, ...tomorrow.gaps];
    const workouts = [...today.workouts, ...tomorrow.workouts];
    const rng = this.rng(day, STREAM.activity, 1);
    const context = dayContext(this.person, day);
    const items: (number | null)[] = [];
    let walking = 0;
    for (let minute = 0; minute < 1440; minute++) {
      const ms = start + minute * MINUTE_MS;
      const inside = (a: number, b: number): boolean => ms >= a && ms < b;
      if (gaps.some((gap) => inside(gap.startMs, gap.endMs))) {
        items.push(0);
        continue;
      }
      const workout = workouts.find((candidate) => inside(Date.parse(candidate.start), Date.parse(candidate.end)));
      if (workout) {
        items.push(round((SPORT_MET[workout.sport_name] ?? 6) * rng.range(0.85, 1.15), 1));
        continue;
      }
      if (nights.some((night) => inside(night.startMs, night.endMs))) {
        items.push(0.9);
        continue;
      }
      if (walking > 0) {
        walking -= 1;
        items.push(round(rng.range(3, 4.2), 1));
        continue;
      }
      if (rng.chance(0.02 * (1 - 0.7 * context.illness))) {
        walking = rng.int(3, 15);
      }
      items.push(round(rng.range(1.05, 1.9), 1));
    }
    return items;
  }

  private activity(day: number): OuraDailyActivity {
    const context = dayContext(this.person, day);
    const rng = this.rng(day, STREAM.activity);
    const met = this.metMinutes(day);
    const offsetMinutes = offsetMinutesOn(this.person.zone, day);
    const start = localMidnight(this.person, day) + 4 * 60 * MINUTE_MS;
    let high = 0;
    let medium = 0;
    let low = 0;
    let sedentary = 0;
    let resting = 0;
    let nonWear = 0;
    let highMet = 0;
    let mediumMet = 0;
    let lowMet = 0;
    let sedentaryMet = 0;
    let metSum = 0;
    for (const value of met) {
      const v = value ?? 0;
      metSum += v;
      if (v === 0) {
        nonWear += 60;
      } else if (v < 1.05) {
        resting += 60;
      } else if (v < 1.5) {
        sedentary += 60;
        sedentaryMet += v;
      } else if (v < 3) {
        low += 60;
        lowMet += v;
      } else if (v < 6) {
        medium += 60;
        mediumMet += v;
      } else {
        high += 60;
        highMet += v;
      }
    }
    const classes = Array.from({ length: 288 }, (_, slot) => {
      const window = met.slice(slot * 5, slot * 5 + 5).map((value) => value ?? 0);
      const peak = Math.max(...window);
      return peak === 0 ? '0' : peak < 1.05 ? '1' : peak < 1.5 ? '2' : peak < 3 ? '3' : peak < 6 ? '4' : '5';
    }).join('');
    const workouts = this.whoop.workouts(day);
    const workoutSteps = workouts.reduce((sum, workout) => {
      const minutes = (Date.parse(workout.end) - Date.parse(workout.start)) / MINUTE_MS;
      return sum + minutes * (SPORT_STEPS[workout.sport_name] ?? 30);
    }, 0);
    const habitual = 5500 + (hash32(this.person.seed, this.person.index, STREAM.activity) % 3500);
    const steps = Math.round(
      (habitual * (context.weekend ? 1.1 : 1) * rng.range(0.75, 1.25) + workoutSteps) * (1 - 0.6 * context.illness)
    );
    const workoutKcal = workouts.reduce((sum, workout) => sum + (workout.score?.kilojoule ?? 0) / 4.184, 0);
    const activeCalories = Math.round(steps * 0.035 + workoutKcal * 0.9 + rng.range(60, 160));
    const heightCm = this.person.heightMeter * 100;
    const bmr = 10 * this.person.weightKilogram + 6.25 * heightCm - 5 * this.age() + 5;
    const targetCalories = 450 + (hash32(this.person.seed, this.person.index, STREAM.activity, 2) % 5) * 50;
    const walkingDistance = Math.round(steps * 0.78 + workoutKcal * 4);
    const targetMeters = targetCalories * 20;
    const inactivityAlerts = rng.chance(0.3) ? rng.int(1, 3) : 0;
    const contributors = {
      meet_daily_targets: score(70 + (activeCalories - targetCalories) / 10 + rng.normal(0, 6)),
      move_every_hour: score(100 - 15 * inactivityAlerts),
      recovery_time: score(95 + rng.normal(0, 4) - 10 * context.illness),
      stay_active: score(90 - (sedentary / 3600 - 8) * 5 + rng.normal(0, 4)),
      training_frequency: score(60 + 10 * workouts.length + rng.normal(0, 10)),
      training_volume: score(70 + (context.inTrainingBlock ? 20 : 0) + rng.normal(0, 8)),
    };
    const values = Object.values(contributors);
    return {
      id: this.id(day, 3),
      meta: { updated_at: utcIso(start + DAY_MS + rng.int(600, 7200) * 1000), version: 1 },
      active_calories: activeCalories,
      average_met_minutes: round(metSum / 1440, 3),
      class_5_min: classes,
      contributors,
      day: dateOfDay(day),
      equivalent_walking_distance: walkingDistance,
      high_activity_met_minutes: Math.round(highMet),
      high_activity_time: high,
      inactivity_alerts: inactivityAlerts,
      low_activity_met_minutes: Math.round(lowMet),
      low_activity_time: low,
      medium_activity_met_minutes: Math.round(mediumMet),
      medium_activity_time: medium,
      met: { interval: 60, items: met, timestamp: localIso(start, offsetMinutes, true) },
      meters_to_target: Math.max(0, targetMeters - walkingDistance),
      non_wear_time: nonWear,
      resting_time: resting,
      score: score(values.reduce((sum, value) => sum + value, 0) / values.length),
      sedentary_met_minutes: Math.round(sedentaryMet),
      sedentary_time: sedentary,
      steps,
      target_calories: targetCalories,
      target_meters: targetMeters,
      timestamp: localIso(start, offsetMinutes),
      total_calories: Math.round(bmr + activeCalories),
    };
  }

  private workouts(day: number): OuraWorkout[] {
    return this.whoop.workouts(day).flatMap((workout, index) => {
      const rng = this.rng(day, STREAM.workout, index);
      const autodetectable = workout.sport_name === 'running' || workout.sport_name === 'walking';
      // The ring misses a share of gym sessions nobody logs by hand.
      if (!autodetectable && rng.chance(0.25)) {
        return [];
      }
      const offsetMinutes = offsetMinutesOn(this.person.zone, day);
      const startMs = Date.parse(workout.start) + Math.round(rng.range(-1, 3) * 60) * 1000;
      const endMs = Date.parse(workout.end) + Math.round(rng.range(-3, 1) * 60) * 1000;
      const strain = workout.score?.strain ?? 8;
      const distance = workout.score?.distance_meter;
      return [
        {
          id: this.id(day, 4, index),
          meta: { updated_at: utcIso(endMs + rng.int(120, 3600) * 1000), version: 1 },
          activity: SPORT_ACTIVITY[workout.sport_name] ?? 'other',
          calories: workout.score ? round((workout.score.kilojoule / 4.184) * rng.range(0.85, 1.05), 3) : null,
          day: dateOfDay(day),
          distance: distance === undefined ? null : round(distance * rng.range(0.95, 1.05), 1),
          end_datetime: localIso(endMs, offsetMinutes),
          intensity: strain < 8 ? 'easy' : strain < 12 ? 'moderate' : 'hard',
          label: null,
          source: autodetectable ? (rng.chance(0.6) ? 'autodetected' : 'confirmed') : 'manual',
          start_datetime: localIso(startMs, offsetMinutes),
        },
      ];
    });
  }

  /** Every document the ring has for `day` once it is over. */
  day(day: number): OuraDay {
    const cached = this.dayCache.get(day);
    if (cached) {
      return cached;
    }
    const context = dayContext(this.person, day);
    const main = this.mainNight(day);
    const mainDocument = this.sleepDocument(main, null);
    const readiness = this.readinessOf(day, main, mainDocument.total_sleep_duration ?? 0);
    mainDocument.readiness = readiness;
    const sleeps = [mainDocument, ...this.naps(day, main).map((nap) => this.sleepDocument(nap, null))];
    const offsetMinutes = offsetMinutesOn(this.person.zone, day);
    const midnight = localMidnight(this.person, day);
    const date = dateOfDay(day);
    const rng = this.rng(day, STREAM.night, 99);
    const total = mainDocument.total_sleep_duration ?? 0;
    const need = this.person.sleepNeedMilli / 1000;
    const contributors = {
      deep_sleep: score(((mainDocument.deep_sleep_duration ?? 0) / total) * 500),
      efficiency: score(((mainDocument.efficiency ?? 85) - 60) * 2.6),
      latency: score(100 - Math.max(0, (mainDocument.latency ?? 600) - 900) / 30),
      rem_sleep: score(((mainDocument.rem_sleep_duration ?? 0) / total) * 420),
      restfulness: score(100 - (mainDocument.restless_periods ?? 200) / 4 - 20 * context.illness),
      timing: score((context.weekend ? 70 : 88) + rng.normal(0, 5)),
      total_sleep: score((total / need) * 100 + 5),
    };
    const sleepScore = score(
      0.35 * contributors.total_sleep +
        0.15 * contributors.efficiency +
        0.1 * contributors.restfulness +
        0.1 * contributors.rem_sleep +
        0.1 * contributors.deep_sleep +
        0.1 * contributors.latency +
        0.1 * contributors.timing
    );
    const dailyUpdated = mainDocument.meta.updated_at;
    const spo2Rng = this.rng(day, STREAM.spo2);
    const stressRng = this.rng(day, STREAM.stress);
    const stressHigh = Math.round(clamp(stressRng.normal(5400, 2400) + 5400 * context.illness, 0, 8 * 3600) / 60) * 60;
    const recoveryHigh =
      Math.round(clamp(stressRng.normal(7200, 2400) - 4000 * context.illness, 0, 8 * 3600) / 60) * 60;
    const result: OuraDay = {
      day,
      date,
      sleeps,
      dailySleep: {
        id: this.id(day, 5),
        meta: { updated_at: dailyUpdated, version: 1 },
        contributors,
        day: date,
        score: sleepScore,
        timestamp: localIso(midnight, offsetMinutes),
      },
      dailyReadiness: {
        id: this.id(day, 6),
        meta: { updated_at: dailyUpdated, version: 1 },
        contributors: readiness.contributors,
        day: date,
        score: readiness.score,
        temperature_deviation: readiness.temperature_deviation,
        temperature_trend_deviation: readiness.temperature_trend_deviation,
        timestamp: localIso(midnight, offsetMinutes),
      },
      dailyActivity: this.activity(day),
      dailySpo2: {
        id: this.id(day, 7),
        meta: { updated_at: dailyUpdated, version: 1 },
        breathing_disturbance_index: Math.round(clamp(8 + spo2Rng.normal(0, 4) + 10 * context.illness, 0, 100)),
        day: date,
        spo2_percentage: {
          average: round(clamp(this.whoopNight(day).spo2 + 0.4 + spo2Rng.normal(0, 0.2), 90, 100), 3),
        },
      },
      dailyStress: {
        id: this.id(day, 8),
        meta: { updated_at: utcIso(midnight + DAY_MS + stressRng.int(600, 3600) * 1000), version: 1 },
        day: date,
        day_summary:
          stressHigh > 2 * recoveryHigh ? 'stressful' : recoveryHigh > 2 * stressHigh ? 'restored' : 'normal',
        recovery_high: recoveryHigh,
        stress_high: stressHigh,
      },
      workouts: this.workouts(day),
    };
    this.dayCache.set(day, result);
    return result;
  }
}

/**
 * The Oura generator for the WHOOP sandbox's person `(seed, index)`.
 * @param seed - The sandbox seed (the same as the WHOOP sandbox's for the same person).
 * @param index - The person's position.
 */
export function createOuraPerson(seed: number, index = 0): OuraGenerator {
  return new OuraGenerator(createPerson(seed, index));
}
