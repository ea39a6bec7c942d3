/**
 * Deterministic synthetic WHOOP people for the sandbox.
 *
 * Every value for a calendar day is drawn from a PRNG seeded by (seed, person, day number, stream), and every
 * long-running pattern (training blocks, illness episodes, the slow fitness trend, daylight saving) is a function of
 * the absolute calendar. So the same seed yields the same records for a date whatever day the generator runs and
 * whatever `endDate` is chosen; only which records exist (and which are still PENDING_SCORE) depends on `endDate`.
 *
 * The physiology is a simple additive model, not WHOOP's algorithms: it exists so that Baseline's analytics have
 * real signal to find (weekly rhythm, an 8-week training block followed by a fitness gain, a ~6-day illness with the
 * classic HRV drop / RHR rise / skin-temperature rise, a slow trend over the year) next to day-to-day noise.
 * Record shapes follow the WHOOP v2 OpenAPI spec (reference/openapi/whoop.yml) field for field.
 */

export const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

export type ScoreState = 'SCORED' | 'PENDING_SCORE' | 'UNSCORABLE';
export type RecordType = 'cycle' | 'sleep' | 'recovery' | 'workout';
export const RECORD_TYPES: readonly RecordType[] = ['cycle', 'sleep', 'recovery', 'workout'];

export interface CycleScore {
  strain: number;
  kilojoule: number;
  average_heart_rate: number;
  max_heart_rate: number;
}

export interface WhoopCycle {
  id: number;
  user_id: number;
  created_at: string;
  updated_at: string;
  start: string;
  end?: string;
  timezone_offset: string;
  score_state: ScoreState;
  score?: CycleScore;
}

export interface SleepStageSummary {
  total_in_bed_time_milli: number;
  total_awake_time_milli: number;
  total_no_data_time_milli: number;
  total_light_sleep_time_milli: number;
  total_slow_wave_sleep_time_milli: number;
  total_rem_sleep_time_milli: number;
  sleep_cycle_count: number;
  disturbance_count: number;
}

export interface SleepNeeded {
  baseline_milli: number;
  need_from_sleep_debt_milli: number;
  need_from_recent_strain_milli: number;
  need_from_recent_nap_milli: number;
}

export interface SleepScore {
  stage_summary: SleepStageSummary;
  sleep_needed: SleepNeeded;
  respiratory_rate: number;
  sleep_performance_percentage: number;
  sleep_consistency_percentage: number;
  sleep_efficiency_percentage: number;
}

export interface WhoopSleep {
  id: string;
  cycle_id: number;
  user_id: number;
  created_at: string;
  updated_at: string;
  start: string;
  end: string;
  timezone_offset: string;
  nap: boolean;
  score_state: ScoreState;
  score?: SleepScore;
}

export interface RecoveryScore {
  user_calibrating: boolean;
  recovery_score: number;
  resting_heart_rate: number;
  hrv_rmssd_milli: number;
  spo2_percentage: number;
  skin_temp_celsius: number;
}

export interface WhoopRecovery {
  cycle_id: number;
  sleep_id: string;
  user_id: number;
  created_at: string;
  updated_at: string;
  score_state: ScoreState;
  score?: RecoveryScore;
}

export interface ZoneDurations {
  zone_zero_milli: number;
  zone_one_milli: number;
  zone_two_milli: number;
  zone_three_milli: number;
  zone_four_milli: number;
  zone_five_milli: number;
}

export interface WorkoutScore {
  strain: number;
  average_heart_rate: number;
  max_heart_rate: number;
  kilojoule: number;
  percent_recorded: number;
  distance_meter?: number;
  altitude_gain_meter?: number;
  altitude_change_meter?: number;
  zone_durations: ZoneDurations;
}

export interface WhoopWorkout {
  id: string;
  user_id: number;
  created_at: string;
  updated_at: string;
  start: string;
  end: string;
  timezone_offset: string;
  sport_name: string;
  score_state: ScoreState;
  score?: WorkoutScore;
}

export interface WhoopProfile {
  user_id: number;
  email: string;
  first_name: string;
  last_name: string;
}

export interface WhoopBodyMeasurement {
  height_meter: number;
  weight_kilogram: number;
  max_heart_rate: number;
}

export type WhoopRecord = WhoopCycle | WhoopSleep | WhoopRecovery | WhoopWorkout;

// ---------------------------------------------------------------------------------------------------------------
// PRNG

/** Murmur3-style mix of integers; values beyond 32 bits contribute both halves so large seeds stay distinct. */
export function hash32(...values: number[]): number {
  let h = 0x9e3779b9;
  const mix = (word: number): void => {
    let k = Math.imul(word | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  };
  for (const value of values) {
    const int = Math.trunc(value);
    mix(int >>> 0);
    mix(Math.floor(int / 0x1_0000_0000));
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** mulberry32 with a few distribution helpers. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uint32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }

  range(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  int(min: number, max: number): number {
    return Math.floor(this.range(min, max + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  normal(mean: number, sd: number): number {
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) {
      throw new Error('Cannot pick from an empty list');
    }
    return item;
  }

  /** A random (version 4) UUID drawn from this stream, so ids are as deterministic as the values. */
  uuid(): string {
    const hex = [this.uint32(), this.uint32(), this.uint32(), this.uint32()]
      .map((word) => word.toString(16).padStart(8, '0'))
      .join('');
    const variant = ((parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
}

const STREAM = { traits: 1, timing: 2, sleep: 3, recovery: 4, week: 5, workout: 6, nap: 7, cycle: 8, ids: 9 } as const;

function rngFor(person: PersonTraits, day: number, stream: number, extra = 0): Rng {
  return new Rng(hash32(person.seed, person.index, day, stream, extra));
}

// ---------------------------------------------------------------------------------------------------------------
// Calendar

const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Days since 1970-01-01 for a `YYYY-MM-DD` date (UTC calendar). */
export function dayNumberOf(date: string): number {
  const match = DATE_PATTERN.exec(date);
  if (!match) {
    throw new Error(`Invalid date (expected YYYY-MM-DD): ${date}`);
  }
  const ms = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  if (new Date(ms).toISOString().slice(0, 10) !== date) {
    throw new Error(`Invalid date (expected YYYY-MM-DD): ${date}`);
  }
  return ms / DAY_MS;
}

export function dateOfDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** 0 = Sunday … 6 = Saturday. */
export function weekdayOf(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}

export function todayUtc(nowMs: number = Date.now()): string {
  return new Date(nowMs).toISOString().slice(0, 10);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export interface TimeZoneRule {
  name: string;
  standardOffsetMinutes: number;
  dst: 'us' | 'eu';
}

const ZONES: readonly TimeZoneRule[] = [
  { name: 'America/New_York', standardOffsetMinutes: -300, dst: 'us' },
  { name: 'America/Los_Angeles', standardOffsetMinutes: -480, dst: 'us' },
  { name: 'Europe/London', standardOffsetMinutes: 0, dst: 'eu' },
  { name: 'Europe/Berlin', standardOffsetMinutes: 60, dst: 'eu' },
];

function nthSunday(year: number, month: number, n: number): number {
  const first = Date.UTC(year, month, 1) / DAY_MS;
  return first + ((7 - weekdayOf(first)) % 7) + 7 * (n - 1);
}

function lastSunday(year: number, month: number): number {
  const last = Date.UTC(year, month + 1, 0) / DAY_MS;
  return last - weekdayOf(last);
}

/** UTC offset in minutes on a calendar day; the switch is applied per day, which is all a daily record needs. */
export function offsetMinutesOn(zone: TimeZoneRule, day: number): number {
  const year = new Date(day * DAY_MS).getUTCFullYear();
  const [dstStart, dstEnd] =
    zone.dst === 'us' ? [nthSunday(year, 2, 2), nthSunday(year, 10, 1)] : [lastSunday(year, 2), lastSunday(year, 9)];
  return zone.standardOffsetMinutes + (day >= dstStart && day < dstEnd ? 60 : 0);
}

/** W3C time zone designator, as WHOOP sends it: `Z`, `+hh:mm` or `-hh:mm`. */
export function formatOffset(minutes: number): string {
  if (minutes === 0) {
    return 'Z';
  }
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// People

export interface PersonTraits {
  seed: number;
  index: number;
  userId: number;
  firstName: string;
  lastName: string;
  email: string;
  zone: TimeZoneRule;
  heightMeter: number;
  weightKilogram: number;
  maxHeartRate: number;
  restingHeartRate: number;
  hrvRmssdMilli: number;
  respiratoryRate: number;
  skinTempCelsius: number;
  spo2Percentage: number;
  sleepNeedMilli: number;
  /** Weekday bedtime in minutes from the local midnight of the wake-up day (negative: the evening before). */
  bedtimeMinutes: number;
  wakeMinutes: number;
  cycleIdSlot: number;
  trainingPhaseDays: number;
  trendPhaseDays: number;
  /**
   * Demo only: one more illness-like episode, at a chosen day, on top of the hashed ones (see RecentEpisode).
   * Absent for every person unless a caller sets it, so their data is exactly what the seed gives.
   */
  recentEpisode?: RecentEpisode;
}

/**
 * A synthetic illness-like episode placed on purpose, so that a demo owner's newest days show what the alert rules
 * look for. It is demo data, not a model of anything: the same physiology as the hashed episodes (HRV down, RHR,
 * skin temperature and breathing up, training cancelled), but longer and harder (RECENT_EPISODE_SEVERITY): a hashed
 * 6-day cold never keeps a whole 7-day HRV mean 20 % down, and a +7 bpm RHR rise is about as wide as the personal
 * band grows once the first sick days are inside its window.
 */
export interface RecentEpisode {
  /** Day number (days since 1970-01-01) of its first day. */
  startDay: number;
}

const FIRST_NAMES = ['Alex', 'Jordan', 'Sam', 'Taylor', 'Morgan', 'Casey', 'Riley', 'Jamie'] as const;
const LAST_NAMES = ['Rivera', 'Chen', 'Okafor', 'Novak', 'Larsen', 'Haddad', 'Moreau', 'Silva'] as const;

function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * One synthetic person. `index` distinguishes several people of the same seed; their user ids never collide.
 * @param seed - The sandbox seed.
 * @param index - 0 for the default person.
 */
export function createPerson(seed: number, index = 0): PersonTraits {
  const rng = new Rng(hash32(seed, index, 0, STREAM.traits));
  const firstName = rng.pick(FIRST_NAMES);
  const lastName = rng.pick(LAST_NAMES);
  // Index in the low digits keeps the people of one seed apart.
  const userId = 10_000 + (hash32(seed, 0x5eed) % 89_000) * 10 + (index % 10) + Math.floor(index / 10) * 1_000_000;
  const heightMeter = round(rng.range(1.62, 1.92), 4);
  return {
    seed,
    index,
    userId,
    firstName,
    lastName,
    email: `${firstName}.${lastName}.${userId}@example.com`.toLowerCase(),
    zone: rng.pick(ZONES),
    heightMeter,
    weightKilogram: round(22.5 * heightMeter * heightMeter * rng.range(0.92, 1.12), 4),
    maxHeartRate: rng.int(182, 198),
    restingHeartRate: rng.range(52, 60),
    hrvRmssdMilli: rng.range(45, 75),
    respiratoryRate: rng.range(14, 16.5),
    skinTempCelsius: rng.range(33.4, 34.2),
    spo2Percentage: rng.range(95.5, 97.5),
    sleepNeedMilli: Math.round(rng.range(7.6, 8.3) * 3_600_000),
    bedtimeMinutes: Math.round(rng.range(-90, -60)),
    wakeMinutes: Math.round(rng.range(390, 420)),
    cycleIdSlot: (hash32(seed, 0xc1c1e) % 900) + index,
    trainingPhaseDays: hash32(seed, index, 0x7a1) % TRAINING_PERIOD_DAYS,
    trendPhaseDays: hash32(seed, index, 0x7e4d) % TREND_PERIOD_DAYS,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Physiology over the calendar

/** A training block of 8 weeks starts every 26 weeks. */
export const TRAINING_PERIOD_DAYS = 182;
export const TRAINING_BLOCK_DAYS = 56;
/** One illness in every 180-day epoch of the calendar, so any 400-day window holds at least two. */
export const ILLNESS_EPOCH_DAYS = 180;
export const ILLNESS_DAYS = 6;
const ILLNESS_SEVERITY = [0.5, 1, 1, 0.8, 0.5, 0.25] as const;
/**
 * The demo episode's course (RecentEpisode): a day's onset, a week at its worst, three days easing off. Its peak is
 * 1.4 on the hashed episodes' scale (HRV −42 %, RHR +10 bpm, skin temperature +0.8 °C): a flu rather than a cold.
 */
export const RECENT_EPISODE_SEVERITY: readonly number[] = [0.8, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4, 1, 0.6, 0.3];
const TREND_PERIOD_DAYS = 730;
const SLEEP_UNSCORABLE_BLOCK_DAYS = 50;
const WORKOUT_UNSCORABLE_BLOCK_DAYS = 45;

export interface DayContext {
  day: number;
  weekday: number;
  /** Wake-up on Saturday or Sunday: later nights, later mornings. */
  weekend: boolean;
  inTrainingBlock: boolean;
  /** 0 → 1 through the training block. */
  trainingProgress: number;
  /** Fitness gained from the last training block, 0 … 1. */
  fitness: number;
  /** Slow trend, −1 … 1 (positive = fitter). */
  trend: number;
  /** Illness severity, 0 (healthy) … 1 (the hashed episodes' worst day); up to 1.4 in a demo RecentEpisode. */
  illness: number;
}

function positiveModulo(value: number, modulus: number): number {
  return ((value % modulus) + modulus) % modulus;
}

export function illnessStartDay(person: PersonTraits, epoch: number): number {
  return epoch * ILLNESS_EPOCH_DAYS + 10 + (hash32(person.seed, person.index, epoch, 0x111) % 150);
}

export function dayContext(person: PersonTraits, day: number): DayContext {
  const weekday = weekdayOf(day);
  const position = positiveModulo(day - person.trainingPhaseDays, TRAINING_PERIOD_DAYS);
  const inTrainingBlock = position < TRAINING_BLOCK_DAYS;
  const trainingProgress = inTrainingBlock ? position / TRAINING_BLOCK_DAYS : 0;
  // Gains accrue slowly under load (fatigue masks them), show in the two weeks after the block, then fade until
  // the next block: continuous over the whole period.
  let fitness: number;
  if (inTrainingBlock) {
    fitness = 0.2 + 0.3 * trainingProgress;
  } else if (position < TRAINING_BLOCK_DAYS + 14) {
    fitness = 0.5 + 0.5 * ((position - TRAINING_BLOCK_DAYS) / 14);
  } else {
    fitness = 1 - 0.8 * ((position - TRAINING_BLOCK_DAYS - 14) / (TRAINING_PERIOD_DAYS - TRAINING_BLOCK_DAYS - 14));
  }
  const start = illnessStartDay(person, Math.floor(day / ILLNESS_EPOCH_DAYS));
  const hashed = day >= start && day < start + ILLNESS_DAYS ? (ILLNESS_SEVERITY[day - start] ?? 0) : 0;
  const recentStart = person.recentEpisode?.startDay;
  // Where the two overlap the worse one counts: one body, one illness, not two added up.
  const illness =
    recentStart === undefined || day < recentStart
      ? hashed
      : Math.max(hashed, RECENT_EPISODE_SEVERITY[day - recentStart] ?? 0);
  return {
    day,
    weekday,
    weekend: weekday === 0 || weekday === 6,
    inTrainingBlock,
    trainingProgress,
    fitness,
    trend: Math.sin((2 * Math.PI * (day + person.trendPhaseDays)) / TREND_PERIOD_DAYS),
    illness,
  };
}

/** The noise-free resting heart rate the model aims at on a day (tests and README figures use it). */
export function expectedRestingHeartRate(person: PersonTraits, context: DayContext): number {
  return (
    person.restingHeartRate -
    3.75 * context.fitness -
    1.5 * context.trend +
    7 * context.illness +
    (context.inTrainingBlock ? 1.5 * context.trainingProgress : 0) +
    (context.weekend ? 1 : 0)
  );
}

/** The noise-free HRV (RMSSD, ms) the model aims at on a day. */
export function expectedHrv(person: PersonTraits, context: DayContext): number {
  return (
    personalHrvBaseline(person, context) *
    (1 - 0.3 * context.illness) *
    (context.inTrainingBlock ? 1 - 0.08 * context.trainingProgress : 1) *
    (context.weekend ? 0.95 : 1)
  );
}

/** WHOOP scores recovery against the member's own rolling baseline: fitness moves the baseline, illness does not. */
function personalHrvBaseline(person: PersonTraits, context: DayContext): number {
  return person.hrvRmssdMilli * (1 + 0.15 * context.fitness + 0.06 * context.trend);
}

export interface Episode {
  start: string;
  /** Exclusive. */
  end: string;
}

/** The training blocks and illness episodes intersecting [startDate, endDate], for tests and demos. */
export function episodesBetween(
  person: PersonTraits,
  startDate: string,
  endDate: string
): { trainingBlocks: Episode[]; illnesses: Episode[] } {
  const from = dayNumberOf(startDate);
  const to = dayNumberOf(endDate);
  const trainingBlocks: Episode[] = [];
  const firstBlock = from - positiveModulo(from - person.trainingPhaseDays, TRAINING_PERIOD_DAYS);
  for (let start = firstBlock; start <= to; start += TRAINING_PERIOD_DAYS) {
    if (start + TRAINING_BLOCK_DAYS > from) {
      trainingBlocks.push({ start: dateOfDay(start), end: dateOfDay(start + TRAINING_BLOCK_DAYS) });
    }
  }
  const illnesses: Episode[] = [];
  for (let epoch = Math.floor(from / ILLNESS_EPOCH_DAYS); epoch <= Math.floor(to / ILLNESS_EPOCH_DAYS); epoch++) {
    const start = illnessStartDay(person, epoch);
    if (start + ILLNESS_DAYS > from && start <= to) {
      illnesses.push({ start: dateOfDay(start), end: dateOfDay(start + ILLNESS_DAYS) });
    }
  }
  const recent = person.recentEpisode?.startDay;
  if (recent !== undefined && recent + RECENT_EPISODE_SEVERITY.length > from && recent <= to) {
    illnesses.push({ start: dateOfDay(recent), end: dateOfDay(recent + RECENT_EPISODE_SEVERITY.length) });
    illnesses.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }
  return { trainingBlocks, illnesses };
}

// ---------------------------------------------------------------------------------------------------------------
// Records

interface SportSpec {
  minutes: readonly [number, number];
  strain: readonly [number, number];
  kilojoulePerMinute: number;
  zones: readonly [number, number, number, number, number, number];
  distance?: 'run' | 'ride';
}

const SPORTS: Readonly<Record<string, SportSpec>> = {
  running: {
    minutes: [30, 65],
    strain: [10.5, 14],
    kilojoulePerMinute: 48,
    zones: [0.03, 0.1, 0.3, 0.37, 0.17, 0.03],
    distance: 'run',
  },
  cycling: {
    minutes: [50, 100],
    strain: [10, 14.5],
    kilojoulePerMinute: 38,
    zones: [0.05, 0.17, 0.35, 0.3, 0.11, 0.02],
    distance: 'ride',
  },
  weightlifting: {
    minutes: [40, 70],
    strain: [6.5, 10],
    kilojoulePerMinute: 22,
    zones: [0.25, 0.35, 0.25, 0.12, 0.03, 0],
  },
  yoga: { minutes: [40, 65], strain: [3.5, 6.5], kilojoulePerMinute: 13, zones: [0.55, 0.35, 0.1, 0, 0, 0] },
  walking: { minutes: [30, 60], strain: [4, 7.5], kilojoulePerMinute: 17, zones: [0.4, 0.45, 0.15, 0, 0, 0] },
  'functional-fitness': {
    minutes: [35, 55],
    strain: [9, 13],
    kilojoulePerMinute: 36,
    zones: [0.08, 0.15, 0.27, 0.3, 0.16, 0.04],
  },
};

/** Which sports a weekday tends to get (Monday first). */
const WEEKDAY_SPORTS: readonly (readonly string[])[] = [
  ['walking', 'yoga', 'cycling'],
  ['running', 'running', 'functional-fitness'],
  ['weightlifting', 'weightlifting', 'yoga'],
  ['cycling', 'running'],
  ['yoga', 'weightlifting'],
  ['running', 'functional-fitness'],
  ['running', 'cycling'],
];
/** Sunday … Saturday preference for a training day. */
const WEEKDAY_WEIGHTS = [0.8, 1, 0.9, 0.8, 0.5, 0.4, 1.2] as const;

export interface GeneratedDay {
  day: number;
  date: string;
  /** Final form (SCORED, or UNSCORABLE), `end` = next cycle's start. */
  cycle: WhoopCycle;
  sleep: WhoopSleep;
  recovery: WhoopRecovery;
  naps: WhoopSleep[];
  workouts: WhoopWorkout[];
}

interface SleepTiming {
  startMs: number;
  endMs: number;
  offsetMinutes: number;
}

/**
 * Generates one person's records day by day. Results are pure functions of (person, day); the caches only avoid
 * recomputing the neighbours a day depends on (the previous day's strain, the next night's bedtime).
 */
export class PersonGenerator {
  readonly person: PersonTraits;
  private readonly weekPlans = new Map<number, Map<number, string>>();
  private readonly workoutCache = new Map<number, WhoopWorkout[]>();
  private readonly strainCache = new Map<number, number>();

  constructor(person: PersonTraits) {
    this.person = person;
  }

  cycleId(day: number): number {
    return day * 1000 + this.person.cycleIdSlot;
  }

  offset(day: number): string {
    return formatOffset(offsetMinutesOn(this.person.zone, day));
  }

  /** The main sleep that ends on the morning of `day` (it starts the evening before, or just after midnight). */
  sleepTiming(day: number): SleepTiming {
    const context = dayContext(this.person, day);
    const rng = rngFor(this.person, day, STREAM.timing);
    const lateNight = context.weekend ? rng.range(60, 95) : 0;
    const bedtime = this.person.bedtimeMinutes + lateNight + rng.normal(0, 18) - 30 * context.illness;
    const sleepIn = context.weekend ? rng.range(70, 100) : 0;
    const wake = this.person.wakeMinutes + sleepIn + rng.normal(0, 12) + 45 * context.illness;
    const offsetMinutes = offsetMinutesOn(this.person.zone, day);
    const local = (minutes: number): number =>
      Math.round((day * DAY_MS + (minutes - offsetMinutes) * MINUTE_MS) / 1000) * 1000 + rng.int(0, 999);
    return { startMs: local(bedtime), endMs: local(wake), offsetMinutes };
  }

  private weekPlan(monday: number): Map<number, string> {
    const cached = this.weekPlans.get(monday);
    if (cached) {
      return cached;
    }
    const rng = rngFor(this.person, monday, STREAM.week);
    const context = dayContext(this.person, monday + 3);
    const count = context.inTrainingBlock ? rng.pick([4, 5, 5] as const) : rng.pick([3, 4, 4, 5] as const);
    const candidates = [0, 1, 2, 3, 4, 5, 6].map((offset) => monday + offset);
    const plan = new Map<number, string>();
    while (plan.size < count) {
      const open = candidates.filter((day) => !plan.has(day));
      const weights = open.map((day) => WEEKDAY_WEIGHTS[weekdayOf(day)] ?? 1);
      let target = rng.next() * weights.reduce((sum, weight) => sum + weight, 0);
      let chosen = open[open.length - 1] ?? monday;
      for (const [i, day] of open.entries()) {
        target -= weights[i] ?? 0;
        if (target <= 0) {
          chosen = day;
          break;
        }
      }
      const weekdaySports = WEEKDAY_SPORTS[(weekdayOf(chosen) + 6) % 7] ?? ['running'];
      plan.set(chosen, rng.pick(weekdaySports));
    }
    this.weekPlans.set(monday, plan);
    return plan;
  }

  /** Workouts done on `day` (after waking), final form. Illness cancels training. */
  workouts(day: number): WhoopWorkout[] {
    const cached = this.workoutCache.get(day);
    if (cached) {
      return cached;
    }
    const context = dayContext(this.person, day);
    const monday = day - ((weekdayOf(day) + 6) % 7);
    const sport = this.weekPlan(monday).get(day);
    const result: WhoopWorkout[] = [];
    if (sport !== undefined && context.illness < 0.5) {
      result.push(this.workout(day, sport, context));
    }
    this.workoutCache.set(day, result);
    return result;
  }

  private workout(day: number, sportName: string, context: DayContext): WhoopWorkout {
    const spec = SPORTS[sportName] ?? SPORTS['running'];
    if (!spec) {
      throw new Error(`Unknown sport ${sportName}`);
    }
    const rng = rngFor(this.person, day, STREAM.workout);
    const ids = rngFor(this.person, day, STREAM.ids, 2);
    const id = ids.uuid();
    const offsetMinutes = offsetMinutesOn(this.person.zone, day);
    const wake = this.sleepTiming(day).endMs;
    const localStart = context.weekend ? rng.range(570, 630) : rng.range(1050, 1130);
    const startMs = Math.max(
      wake + 30 * MINUTE_MS,
      Math.round((day * DAY_MS + (localStart - offsetMinutes) * MINUTE_MS) / 1000) * 1000 + rng.int(0, 999)
    );
    const longSession = context.weekday === 6 && (sportName === 'running' || sportName === 'cycling');
    const minutes = rng.range(spec.minutes[0], spec.minutes[1]) * (longSession ? 1.5 : 1);
    const durationMs = Math.round(minutes * MINUTE_MS);
    const endMs = startMs + durationMs;
    const load = context.inTrainingBlock ? 1 + 0.25 * context.trainingProgress : 1;
    const strain = clamp(rng.range(spec.strain[0], spec.strain[1]) * load * (longSession ? 1.12 : 1), 0.5, 20.5);
    const averageHeartRate = Math.round(clamp(92 + strain * 4.3 + rng.normal(0, 3), 80, this.person.maxHeartRate - 15));
    const maxHeartRate = Math.round(
      clamp(averageHeartRate + 18 + strain * 1.3 + rng.normal(0, 4), averageHeartRate + 5, this.person.maxHeartRate)
    );
    const createdMs = endMs + rng.int(60, 900) * 1000;
    const unscorableBlock = Math.floor(day / WORKOUT_UNSCORABLE_BLOCK_DAYS);
    const unscorable =
      day ===
      unscorableBlock * WORKOUT_UNSCORABLE_BLOCK_DAYS +
        (hash32(this.person.seed, this.person.index, unscorableBlock, 0xbad) % WORKOUT_UNSCORABLE_BLOCK_DAYS);
    const base: WhoopWorkout = {
      id,
      user_id: this.person.userId,
      created_at: iso(createdMs),
      updated_at: iso(createdMs + rng.int(30, 1200) * 1000),
      start: iso(startMs),
      end: iso(endMs),
      timezone_offset: formatOffset(offsetMinutes),
      sport_name: sportName,
      score_state: unscorable ? 'UNSCORABLE' : 'SCORED',
    };
    if (unscorable) {
      return base;
    }
    const score: WorkoutScore = {
      strain: round(strain, 4),
      average_heart_rate: averageHeartRate,
      max_heart_rate: maxHeartRate,
      kilojoule: round(minutes * spec.kilojoulePerMinute * (this.person.weightKilogram / 70) * rng.range(0.9, 1.1), 3),
      percent_recorded: rng.chance(0.85) ? 100 : round(rng.range(85, 99.9), 2),
      zone_durations: splitZones(durationMs, spec.zones, rng),
    };
    if (spec.distance === 'run') {
      const secondsPerKm = 345 - 18 * context.fitness - 8 * context.trend + rng.normal(0, 10);
      score.distance_meter = round((durationMs / 1000 / secondsPerKm) * 1000, 3);
      score.altitude_gain_meter = round(rng.range(15, 140), 3);
      score.altitude_change_meter = round(rng.normal(0, 4), 3);
    } else if (spec.distance === 'ride') {
      const kmPerHour = 26 + 2.5 * context.fitness + rng.normal(0, 1.2);
      score.distance_meter = round((durationMs / 3_600_000) * kmPerHour * 1000, 3);
      score.altitude_gain_meter = round(rng.range(80, 650), 3);
      score.altitude_change_meter = round(rng.normal(0, 8), 3);
    }
    return { ...base, score };
  }

  /** Day strain of the cycle that starts with the night before `day`. */
  cycleStrain(day: number): number {
    const cached = this.strainCache.get(day);
    if (cached !== undefined) {
      return cached;
    }
    const context = dayContext(this.person, day);
    const rng = rngFor(this.person, day, STREAM.cycle);
    let rest = 1 - (rng.range(4, 8) * (1 - 0.5 * context.illness)) / 21;
    for (const workout of this.workouts(day)) {
      rest *= 1 - (0.8 * (workout.score?.strain ?? 6)) / 21;
    }
    const strain = clamp(21 * (1 - rest), 0.1, 20.9);
    this.strainCache.set(day, strain);
    return strain;
  }

  naps(day: number): WhoopSleep[] {
    const context = dayContext(this.person, day);
    const rng = rngFor(this.person, day, STREAM.nap);
    if (!rng.chance(0.05 + 0.45 * context.illness)) {
      return [];
    }
    const offsetMinutes = offsetMinutesOn(this.person.zone, day);
    const startMs =
      Math.round((day * DAY_MS + (rng.range(825, 900) - offsetMinutes) * MINUTE_MS) / 1000) * 1000 + rng.int(0, 999);
    const inBed = Math.round(rng.range(20, 55) * MINUTE_MS);
    const id = rngFor(this.person, day, STREAM.ids, 3).uuid();
    return [this.sleepRecord(day, id, startMs, startMs + inBed, true, rng, context, false)];
  }

  private sleepRecord(
    day: number,
    id: string,
    startMs: number,
    endMs: number,
    nap: boolean,
    rng: Rng,
    context: DayContext,
    unscorable: boolean
  ): WhoopSleep {
    const inBed = endMs - startMs;
    const awake = Math.round(inBed * rng.range(nap ? 0.1 : 0.05, nap ? 0.25 : 0.11));
    const noData = !nap && rng.chance(0.05) ? Math.round(rng.range(1, 10) * MINUTE_MS) : 0;
    const asleep = inBed - awake - noData;
    const highStrain = this.cycleStrain(day - 1) > 14 ? 0.02 : 0;
    const rem = Math.round(asleep * rng.range(nap ? 0.05 : 0.2, nap ? 0.15 : 0.25));
    const deep = Math.round(asleep * (rng.range(nap ? 0.1 : 0.16, nap ? 0.25 : 0.21) + highStrain));
    const light = asleep - rem - deep;
    const createdMs = endMs + rng.int(180, 1500) * 1000;
    const record: WhoopSleep = {
      id,
      cycle_id: this.cycleId(day),
      user_id: this.person.userId,
      created_at: iso(createdMs),
      updated_at: iso(createdMs + rng.int(30, 1800) * 1000),
      start: iso(startMs),
      end: iso(endMs),
      timezone_offset: formatOffset(offsetMinutesOn(this.person.zone, day)),
      nap,
      score_state: unscorable ? 'UNSCORABLE' : 'SCORED',
    };
    if (unscorable) {
      return record;
    }
    const previousStrain = this.cycleStrain(day - 1);
    const sleepNeeded: SleepNeeded = {
      baseline_milli: this.person.sleepNeedMilli,
      need_from_sleep_debt_milli: nap ? 0 : Math.round(rng.range(0, 50) * MINUTE_MS),
      need_from_recent_strain_milli: Math.round(Math.max(0, previousStrain - 10) * 3.5 * MINUTE_MS),
      need_from_recent_nap_milli:
        !nap && this.naps(day - 1).length > 0 ? -Math.round(rng.range(10, 30) * MINUTE_MS) : 0,
    };
    const needed =
      sleepNeeded.baseline_milli +
      sleepNeeded.need_from_sleep_debt_milli +
      sleepNeeded.need_from_recent_strain_milli +
      sleepNeeded.need_from_recent_nap_milli;
    record.score = {
      stage_summary: {
        total_in_bed_time_milli: inBed,
        total_awake_time_milli: awake,
        total_no_data_time_milli: noData,
        total_light_sleep_time_milli: light,
        total_slow_wave_sleep_time_milli: deep,
        total_rem_sleep_time_milli: rem,
        sleep_cycle_count: Math.max(nap ? 0 : 1, Math.round(asleep / (95 * MINUTE_MS)) + rng.int(-1, 1)),
        disturbance_count: nap ? rng.int(0, 3) : rng.int(4, 16) + Math.round(6 * context.illness),
      },
      sleep_needed: sleepNeeded,
      respiratory_rate: round(this.person.respiratoryRate + rng.normal(0, 0.3) + 1.8 * context.illness, 8),
      sleep_performance_percentage: round(Math.min(100, (asleep / needed) * 100), 0),
      sleep_consistency_percentage: round(clamp(rng.range(72, 94) - (context.weekend ? 12 : 0), 0, 100), 0),
      sleep_efficiency_percentage: round((asleep / inBed) * 100, 8),
    };
    return record;
  }

  /** Everything WHOOP would hold for `day` once it is over (final scores). */
  day(day: number): GeneratedDay {
    const context = dayContext(this.person, day);
    const timing = this.sleepTiming(day);
    const next = this.sleepTiming(day + 1);
    const ids = rngFor(this.person, day, STREAM.ids, 1);
    const sleepId = ids.uuid();
    const sleepBlock = Math.floor(day / SLEEP_UNSCORABLE_BLOCK_DAYS);
    const sleepUnscorable =
      day ===
      sleepBlock * SLEEP_UNSCORABLE_BLOCK_DAYS +
        (hash32(this.person.seed, this.person.index, sleepBlock, 0x51ee) % SLEEP_UNSCORABLE_BLOCK_DAYS);
    const sleep = this.sleepRecord(
      day,
      sleepId,
      timing.startMs,
      timing.endMs,
      false,
      rngFor(this.person, day, STREAM.sleep),
      context,
      sleepUnscorable
    );
    const workouts = this.workouts(day);
    const cycleRng = rngFor(this.person, day, STREAM.cycle, 1);
    const strain = this.cycleStrain(day);
    const restingHeartRate = clampedRhr(
      expectedRestingHeartRate(this.person, context) + 0.15 * Math.max(0, this.cycleStrain(day - 1) - 12),
      rngFor(this.person, day, STREAM.recovery)
    );
    const cycleCreated = timing.startMs + cycleRng.int(60, 1200) * 1000;
    const workoutKj = workouts.reduce((sum, workout) => sum + (workout.score?.kilojoule ?? 0), 0);
    const workoutMax = workouts.reduce((max, workout) => Math.max(max, workout.score?.max_heart_rate ?? 0), 0);
    const averageHeartRate = Math.round(restingHeartRate.value + 14 + strain * 0.7 + cycleRng.normal(0, 2));
    const cycle: WhoopCycle = {
      id: this.cycleId(day),
      user_id: this.person.userId,
      created_at: iso(cycleCreated),
      updated_at: iso(next.startMs + cycleRng.int(300, 5400) * 1000),
      start: iso(timing.startMs),
      end: iso(next.startMs),
      timezone_offset: formatOffset(timing.offsetMinutes),
      score_state: 'SCORED',
      score: {
        strain: round(strain, 7),
        kilojoule: round(this.person.weightKilogram * 105 * cycleRng.range(0.95, 1.1) + workoutKj, 3),
        average_heart_rate: averageHeartRate,
        max_heart_rate: Math.round(Math.max(workoutMax, averageHeartRate + 45 + cycleRng.normal(0, 8))),
      },
    };
    const recoveryRng = restingHeartRate.rng;
    const recoveryCreated = Date.parse(sleep.created_at) + recoveryRng.int(20, 180) * 1000;
    const recovery: WhoopRecovery = {
      cycle_id: cycle.id,
      sleep_id: sleepId,
      user_id: this.person.userId,
      created_at: iso(recoveryCreated),
      updated_at: iso(recoveryCreated + recoveryRng.int(30, 600) * 1000),
      score_state: sleepUnscorable ? 'UNSCORABLE' : 'SCORED',
    };
    if (!sleepUnscorable) {
      // Only a hard previous day costs HRV; an easy one does not lift it (that would mask illness).
      const loadEffect = 1 - 0.012 * Math.max(0, this.cycleStrain(day - 1) - 12);
      const hrv = expectedHrv(this.person, context) * loadEffect * Math.exp(recoveryRng.normal(0, 0.07));
      const baseline = personalHrvBaseline(this.person, context);
      const baselineRhr = this.person.restingHeartRate - 3.75 * context.fitness - 1.5 * context.trend;
      const performance = sleep.score?.sleep_performance_percentage ?? 85;
      const recoveryScore = clamp(
        58 +
          110 * Math.log(hrv / baseline) -
          3.5 * (restingHeartRate.value - baselineRhr) +
          0.35 * (performance - 85) +
          recoveryRng.normal(0, 4),
        1,
        99
      );
      recovery.score = {
        user_calibrating: false,
        recovery_score: Math.round(recoveryScore),
        resting_heart_rate: Math.round(restingHeartRate.value),
        hrv_rmssd_milli: round(hrv, 6),
        spo2_percentage: round(
          clamp(this.person.spo2Percentage + recoveryRng.normal(0, 0.5) - 1.2 * context.illness, 90, 100),
          4
        ),
        skin_temp_celsius: round(this.person.skinTempCelsius + recoveryRng.normal(0, 0.12) + 0.6 * context.illness, 3),
      };
    }
    return { day, date: dateOfDay(day), cycle, sleep, recovery, naps: this.naps(day), workouts };
  }
}

function clampedRhr(expected: number, rng: Rng): { value: number; rng: Rng } {
  return { value: clamp(expected + rng.normal(0, 1.2), 38, 95), rng };
}

export function profileOf(person: PersonTraits): WhoopProfile {
  return { user_id: person.userId, email: person.email, first_name: person.firstName, last_name: person.lastName };
}

export function bodyOf(person: PersonTraits): WhoopBodyMeasurement {
  return {
    height_meter: person.heightMeter,
    weight_kilogram: person.weightKilogram,
    max_heart_rate: person.maxHeartRate,
  };
}

/** Zone durations that add up to the workout duration exactly. */
function splitZones(durationMs: number, shares: readonly number[], rng: Rng): ZoneDurations {
  const jittered = shares.map((share) => (share > 0 ? share * rng.range(0.8, 1.2) : 0));
  const total = jittered.reduce((sum, share) => sum + share, 0);
  const parts = jittered.map((share) => Math.floor((durationMs * share) / total / 1000) * 1000);
  const assigned = parts.reduce((sum, part) => sum + part, 0);
  const largest = parts.indexOf(Math.max(...parts));
  parts[largest] = (parts[largest] ?? 0) + durationMs - assigned;
  const [zero = 0, one = 0, two = 0, three = 0, four = 0, five = 0] = parts;
  return {
    zone_zero_milli: zero,
    zone_one_milli: one,
    zone_two_milli: two,
    zone_three_milli: three,
    zone_four_milli: four,
    zone_five_milli: five,
  };
}
