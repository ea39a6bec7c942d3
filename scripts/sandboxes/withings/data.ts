/**
 * Deterministic synthetic Withings data for the sandbox: the WHOOP sandbox's people (same seed and index → same
 * person, same illnesses, training blocks and demo `recentEpisode`) wearing four Withings devices.
 *
 * - Body+ scale (model id 5): most mornings; the person's TRUE weight. WHOOP's `weight_kilogram` is what the owner
 *   typed once, so the scale reads a few kilos off it and moves with the slow trend, training and illness.
 * - BPM Core (44): blood pressure + heart pulse a few mornings a week; the seated morning pulse sits above the
 *   overnight resting heart rate.
 * - ScanWatch (93): SpO2 spot checks, daily activity, minute-level intraday heart rate and steps (with gaps: the
 *   watch charges and comes off in the shower), and the same workouts the person records on WHOOP.
 * - Aura Sensor V2 / Sleep Analyzer (63): the nightly sleep summary. Under-mattress timing is close to WHOOP's, its
 *   average heart rate reads a few bpm above the resting heart rate (it averages the whole night).
 * - Thermo (70): an occasional body temperature, mostly when the person feels ill.
 *
 * Every value is a pure function of (seed, person index, day, stream), drawn from the WHOOP generator's PRNG with
 * Withings-only streams, so it never disturbs the WHOOP records. A day's minutes are generated on demand and never
 * stored; only small per-day totals are cached. Shapes follow reference/openapi/withings.yml (copied to
 * test/fixtures/openapi/withings.yml); where real responses differ from the spec (e.g. `modelid`), real responses win.
 */
import {
  dateOfDay,
  DAY_MS,
  dayContext,
  expectedRestingHeartRate,
  hash32,
  offsetMinutesOn,
  PersonGenerator,
  Rng,
} from '../whoop/data.ts';
import type { DayContext, PersonTraits } from '../whoop/data.ts';

const MINUTE_MS = 60_000;

/** Measure types (getmeas `meastype`) the sandbox serves. */
export const MEASTYPE = {
  weight: 1,
  fatFreeMass: 5,
  fatRatio: 6,
  fatMass: 8,
  diastolic: 9,
  systolic: 10,
  heartPulse: 11,
  spo2: 54,
  bodyTemperature: 71,
  muscleMass: 76,
  hydration: 77,
  boneMass: 88,
} as const;

/** Notification categories (`appli`). */
export const APPLI = { weight: 1, temperature: 2, pressure: 4, activity: 16, sleep: 44, user: 46 } as const;
export type Appli = (typeof APPLI)[keyof typeof APPLI];

export interface Device {
  model: string;
  modelId: number;
  deviceType: string;
  /** 40 hex chars, like Withings' device ids. */
  deviceid: string;
  hashDeviceid: string;
}

export interface WithingsMeasure {
  value: number;
  type: number;
  unit: number;
  algo: number;
  fm: number;
}

export interface MeasureGroup {
  grpid: number;
  attrib: number;
  date: number;
  created: number;
  modified: number;
  category: number;
  deviceid: string;
  hash_deviceid: string;
  measures: WithingsMeasure[];
  model: string;
  /** Real responses say `modelid` (the spec says `model_id`). */
  modelid: number;
  comment: null;
}

export interface Activity {
  date: string;
  timezone: string;
  deviceid: string;
  hash_deviceid: string;
  brand: number;
  is_tracker: boolean;
  modified: number;
  model: string;
  modelid: number;
  steps: number;
  distance: number;
  elevation: number;
  soft: number;
  moderate: number;
  intense: number;
  active: number;
  calories: number;
  totalcalories: number;
  hr_average: number;
  hr_min: number;
  hr_max: number;
  hr_zone_0: number;
  hr_zone_1: number;
  hr_zone_2: number;
  hr_zone_3: number;
}

export interface IntradayEntry {
  deviceid: string;
  model: string;
  model_id: number;
  steps?: number;
  elevation?: number;
  calories?: number;
  distance?: number;
  duration?: number;
  heart_rate?: number;
}

export interface Workout {
  id: number;
  category: number;
  timezone: string;
  model: number;
  attrib: number;
  startdate: number;
  enddate: number;
  date: string;
  modified: number;
  deviceid: string;
  data: {
    calories: number;
    intensity: number;
    manual_distance: number;
    manual_calories: number;
    hr_average: number;
    hr_min: number;
    hr_max: number;
    hr_zone_0: number;
    hr_zone_1: number;
    hr_zone_2: number;
    hr_zone_3: number;
    pause_duration: number;
    algo_pause_duration: number;
    steps: number;
    distance: number;
    elevation: number;
  };
}

export interface SleepSummary {
  id: number;
  timezone: string;
  model: number;
  model_id: number;
  hash_deviceid: string;
  startdate: number;
  enddate: number;
  date: string;
  created: number;
  modified: number;
  completed: boolean;
  data: {
    total_timeinbed: number;
    total_sleep_time: number;
    lightsleepduration: number;
    deepsleepduration: number;
    remsleepduration: number;
    sleep_efficiency: number;
    sleep_latency: number;
    wakeup_latency: number;
    wakeupduration: number;
    wakeupcount: number;
    waso: number;
    nb_rem_episodes: number;
    durationtosleep: number;
    durationtowakeup: number;
    out_of_bed_count: number;
    hr_average: number;
    hr_min: number;
    hr_max: number;
    rr_average: number;
    rr_min: number;
    rr_max: number;
    breathing_disturbances_intensity: number;
    snoring: number;
    snoringepisodecount: number;
    sleep_score: number;
    apnea_hypopnea_index: number;
  };
}

/** One `/v2/sleep action=get` segment: a stretch in one state, with per-minute series keyed by epoch seconds. */
export interface SleepSegment {
  startdate: number;
  enddate: number;
  state: number;
  model: string;
  model_id: number;
  hash_deviceid: string;
  hr: Record<string, number>;
  rr: Record<string, number>;
  snoring: Record<string, number>;
}

/** A group before edits: which notification category it belongs to and the day it was measured on. */
export interface GeneratedGroup {
  appli: Appli;
  day: number;
  group: MeasureGroup;
}

// Withings-only PRNG streams (the WHOOP generator uses 1–9), so adding these never changes a WHOOP record.
const STREAM = {
  traits: 101,
  weight: 102,
  pressure: 103,
  spo2: 104,
  thermo: 105,
  minutes: 106,
  wear: 107,
  sleep: 108,
  workout: 109,
  activity: 110,
  hypnogram: 111,
} as const;

function rngFor(person: PersonTraits, day: number, stream: number, extra = 0): Rng {
  return new Rng(hash32(person.seed, person.index, day, stream, extra));
}

function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** `value × 10^unit` as Withings sends it: an integer mantissa and a power-of-ten exponent. */
export function encodeMeasure(type: number, realValue: number, unit: number): WithingsMeasure {
  return { value: Math.round(realValue / 10 ** unit), type, unit, algo: 0, fm: type === MEASTYPE.weight ? 3 : 131 };
}

/** The real value of a measure: value × 10^unit, rounded to the exponent's precision. */
export function decodeMeasure(measure: { value: number; unit: number }): number {
  return measure.unit < 0
    ? round(measure.value * 10 ** measure.unit, -measure.unit)
    : measure.value * 10 ** measure.unit;
}

function hex40(rng: Rng): string {
  return Array.from({ length: 5 }, () => rng.uint32().toString(16).padStart(8, '0')).join('');
}

/** The person's Withings traits: devices, true body, blood pressure, step habit. */
export interface WithingsTraits {
  scale: Device;
  bpm: Device;
  watch: Device;
  sleepAnalyzer: Device;
  thermo: Device;
  /** True weight minus the weight typed into WHOOP. */
  weightOffsetKg: number;
  bodyFatRatio: number;
  systolic: number;
  diastolic: number;
  dailySteps: number;
  strideMeter: number;
  bmrKcal: number;
  bodyTempCelsius: number;
  weightPhaseDays: number;
}

export function withingsTraits(person: PersonTraits): WithingsTraits {
  const rng = rngFor(person, 0, STREAM.traits);
  const device = (model: string, modelId: number, deviceType: string): Device => {
    const deviceid = hex40(rng);
    return { model, modelId, deviceType, deviceid, hashDeviceid: deviceid };
  };
  return {
    scale: device('Body+', 5, 'Scale'),
    bpm: device('BPM Core', 44, 'Blood Pressure Monitor'),
    watch: device('ScanWatch', 93, 'Activity Tracker'),
    sleepAnalyzer: device('Aura Sensor V2', 63, 'Sleep Monitor'),
    thermo: device('Thermo', 70, 'Smart Connected Thermometer'),
    weightOffsetKg: rng.range(-2.5, 3.5),
    bodyFatRatio: rng.range(0.14, 0.26),
    systolic: rng.range(110, 128),
    diastolic: rng.range(68, 82),
    dailySteps: rng.range(6500, 10_500),
    strideMeter: person.heightMeter * rng.range(0.4, 0.44),
    bmrKcal: 10 * person.weightKilogram + 625 * person.heightMeter - 5 * 38 + 5,
    bodyTempCelsius: rng.range(36.4, 36.9),
    weightPhaseDays: hash32(person.seed, person.index, 0x3e1) % 365,
  };
}

/** Local midnight of `day` in the person's zone, as epoch ms. */
function localMidnightMs(person: PersonTraits, day: number): number {
  return day * DAY_MS - offsetMinutesOn(person.zone, day) * MINUTE_MS;
}

const seconds = (ms: number): number => Math.floor(ms / 1000);

/** The local calendar day (days since 1970-01-01) an instant falls on for this person. */
export function localDayOf(person: PersonTraits, epochMs: number): number {
  const guess = Math.floor(epochMs / DAY_MS);
  for (const day of [guess - 1, guess, guess + 1]) {
    if (epochMs >= localMidnightMs(person, day) && epochMs < localMidnightMs(person, day + 1)) {
      return day;
    }
  }
  return guess;
}

/** The per-minute state of one day: what the watch saw. Pure function of (person, day). */
interface MinuteModel {
  /** Minutes in the local day: 1440, or 1380/1500 on a daylight-saving switch. */
  length: number;
  steps: Uint16Array;
  heartRate: Uint8Array;
  worn: Uint8Array;
  workout: Uint8Array;
}

/** Withings workout categories (spec: getworkouts `category`) for the WHOOP sports. */
const WORKOUT_CATEGORY: Readonly<Record<string, number>> = {
  walking: 1,
  running: 2,
  cycling: 6,
  weightlifting: 16,
  'functional-fitness': 17,
  yoga: 28,
};

const STEPS_PER_MINUTE: Readonly<Record<string, number>> = {
  walking: 112,
  running: 162,
  cycling: 0,
  weightlifting: 8,
  'functional-fitness': 35,
  yoga: 2,
};

/**
 * One person's Withings data. Results are pure functions of (person, day); the small caches only avoid
 * regenerating a day's minutes when a request asks for its totals again.
 */
export class WithingsGenerator {
  readonly person: PersonTraits;
  readonly traits: WithingsTraits;
  readonly whoop: PersonGenerator;
  private readonly activityCache = new Map<number, Activity>();

  constructor(person: PersonTraits) {
    this.person = person;
    this.traits = withingsTraits(person);
    this.whoop = new PersonGenerator(person);
  }

  get timezone(): string {
    return this.person.zone.name;
  }

  context(day: number): DayContext {
    return dayContext(this.person, day);
  }

  /** The physiological resting heart rate of the night before `day` (the shared truth every device samples). */
  restingHeartRate(day: number): number {
    const rng = rngFor(this.person, day, STREAM.sleep, 1);
    return expectedRestingHeartRate(this.person, this.context(day)) + rng.normal(0, 0.7);
  }

  /** The person's true weight on the morning of `day`. */
  trueWeight(day: number): number {
    const context = this.context(day);
    const seasonal = 1.4 * Math.sin((2 * Math.PI * (day + this.traits.weightPhaseDays)) / 365);
    return (
      this.person.weightKilogram +
      this.traits.weightOffsetKg +
      seasonal -
      0.9 * context.fitness -
      0.8 * context.illness +
      rngFor(this.person, day, STREAM.weight, 1).normal(0, 0.3)
    );
  }

  private groupId(day: number, kind: number): number {
    // Unique within a sandbox: people of one sandbox differ in index.
    return day * 1_000_000 + this.person.index * 100 + kind;
  }

  private group(
    day: number,
    kind: number,
    device: Device,
    takenMs: number,
    measures: WithingsMeasure[],
    rng: Rng,
    attrib = 0
  ): MeasureGroup {
    const date = seconds(takenMs);
    const created = date + rng.int(20, 400);
    return {
      grpid: this.groupId(day, kind),
      attrib,
      date,
      created,
      modified: created,
      category: 1,
      deviceid: device.deviceid,
      hash_deviceid: device.hashDeviceid,
      measures,
      model: device.model,
      modelid: device.modelId,
      comment: null,
    };
  }

  /** The measure groups taken on `day` (local), in time order. */
  measureGroups(day: number): GeneratedGroup[] {
    const context = this.context(day);
    const wakeMs = this.whoop.sleepTiming(day).endMs;
    const result: GeneratedGroup[] = [];
    const rhr = this.restingHeartRate(day);

    const weighRng = rngFor(this.person, day, STREAM.weight);
    const weighChance = (context.weekend ? 0.62 : 0.86) * (1 - 0.5 * context.illness);
    if (weighRng.chance(weighChance)) {
      const weight = this.trueWeight(day);
      const fatRatio = clamp(
        this.traits.bodyFatRatio - 0.015 * context.fitness + weighRng.normal(0, 0.006),
        0.05,
        0.45
      );
      const fatMass = weight * fatRatio;
      const fatFree = weight - fatMass;
      const bone = fatFree * 0.052;
      const muscle = fatFree - bone;
      const hydration = fatFree * 0.73 * weighRng.range(0.98, 1.02);
      const taken = wakeMs + weighRng.int(4, 25) * MINUTE_MS + weighRng.int(0, 59) * 1000;
      result.push({
        appli: APPLI.weight,
        day,
        group: this.group(
          day,
          1,
          this.traits.scale,
          taken,
          [
            encodeMeasure(MEASTYPE.weight, weight, -3),
            encodeMeasure(MEASTYPE.fatFreeMass, fatFree, -3),
            encodeMeasure(MEASTYPE.fatRatio, fatRatio * 100, -2),
            encodeMeasure(MEASTYPE.fatMass, fatMass, -3),
            encodeMeasure(MEASTYPE.muscleMass, muscle, -2),
            encodeMeasure(MEASTYPE.hydration, hydration, -2),
            encodeMeasure(MEASTYPE.boneMass, bone, -2),
          ],
          weighRng
        ),
      });
    }

    const bpRng = rngFor(this.person, day, STREAM.pressure);
    if (bpRng.chance(0.42 + 0.4 * Math.min(1, context.illness))) {
      const systolic = this.traits.systolic + 4 * context.illness - 2 * context.fitness + bpRng.normal(0, 5);
      const diastolic = this.traits.diastolic + 3 * context.illness - 1 * context.fitness + bpRng.normal(0, 3.5);
      const pulse = rhr + 7 + bpRng.normal(0, 3);
      const taken = wakeMs + bpRng.int(30, 70) * MINUTE_MS + bpRng.int(0, 59) * 1000;
      result.push({
        appli: APPLI.pressure,
        day,
        group: this.group(
          day,
          2,
          this.traits.bpm,
          taken,
          [
            encodeMeasure(MEASTYPE.diastolic, diastolic, 0),
            encodeMeasure(MEASTYPE.systolic, Math.max(systolic, diastolic + 25), 0),
            encodeMeasure(MEASTYPE.heartPulse, pulse, 0),
          ],
          bpRng,
          // The BPM Core takes three readings and keeps the best ("measure auto") about a third of the time.
          bpRng.chance(0.3) ? 5 : 0
        ),
      });
    }

    const spo2Rng = rngFor(this.person, day, STREAM.spo2);
    if (spo2Rng.chance(0.3 + 0.5 * Math.min(1, context.illness))) {
      const spo2 = clamp(this.person.spo2Percentage + 0.6 + spo2Rng.normal(0, 0.8) - 1.5 * context.illness, 88, 100);
      const taken = localMidnightMs(this.person, day) + spo2Rng.int(9 * 60, 21 * 60) * MINUTE_MS;
      result.push({
        appli: APPLI.pressure,
        day,
        group: this.group(day, 3, this.traits.watch, taken, [encodeMeasure(MEASTYPE.spo2, spo2, 0)], spo2Rng),
      });
    }

    const thermoRng = rngFor(this.person, day, STREAM.thermo);
    if (thermoRng.chance(context.illness > 0.3 ? 0.85 : 0.05)) {
      const temperature = this.traits.bodyTempCelsius + 1.3 * context.illness + thermoRng.normal(0, 0.15);
      const taken = localMidnightMs(this.person, day) + thermoRng.int(7 * 60, 22 * 60) * MINUTE_MS;
      result.push({
        appli: APPLI.temperature,
        day,
        group: this.group(
          day,
          4,
          this.traits.thermo,
          taken,
          [encodeMeasure(MEASTYPE.bodyTemperature, temperature, -2)],
          thermoRng
        ),
      });
    }
    return result.sort((a, b) => a.group.date - b.group.date);
  }

  /** When the watch was off the wrist: a charge every few days and the morning shower. */
  private offWrist(day: number): [number, number][] {
    const rng = rngFor(this.person, day, STREAM.wear);
    const wake = Math.round((this.whoop.sleepTiming(day).endMs - localMidnightMs(this.person, day)) / MINUTE_MS);
    const gaps: [number, number][] = [];
    const shower = wake + rng.int(10, 40);
    gaps.push([shower, shower + rng.int(12, 22)]);
    if (rng.chance(0.35)) {
      const charge = rng.int(18 * 60, 21 * 60);
      gaps.push([charge, charge + rng.int(45, 100)]);
    }
    return gaps;
  }

  /** The minute model of a local day, from local midnight to the next. */
  private minutes(day: number): MinuteModel {
    const context = this.context(day);
    const rng = rngFor(this.person, day, STREAM.minutes);
    const midnight = localMidnightMs(this.person, day);
    const length = Math.round((localMidnightMs(this.person, day + 1) - midnight) / MINUTE_MS);
    const steps = new Uint16Array(length);
    const heartRate = new Uint8Array(length);
    const worn = new Uint8Array(length).fill(1);
    const workoutMinutes = new Uint8Array(length);
    for (const [from, to] of this.offWrist(day)) {
      worn.fill(0, clamp(from, 0, length), clamp(to, 0, length));
    }
    const minuteOf = (ms: number): number => Math.round((ms - midnight) / MINUTE_MS);
    const wake = minuteOf(this.whoop.sleepTiming(day).endMs);
    const bed = minuteOf(this.whoop.sleepTiming(day + 1).startMs);
    const rhr = this.restingHeartRate(day);
    const nextRhr = this.restingHeartRate(day + 1);
    const workoutHr = new Map<number, { hr: number; cadence: number }>();
    for (const workout of this.whoop.workouts(day)) {
      const start = minuteOf(Date.parse(workout.start));
      const end = minuteOf(Date.parse(workout.end));
      const average = workout.score?.average_heart_rate ?? 120;
      for (let minute = Math.max(0, start); minute < Math.min(length, end); minute++) {
        workoutMinutes[minute] = 1;
        workoutHr.set(minute, { hr: average, cadence: STEPS_PER_MINUTE[workout.sport_name] ?? 0 });
      }
    }
    const dailyTarget = this.traits.dailySteps * (context.weekend ? 0.85 : 1) * (1 - 0.65 * context.illness);
    const awakeMinutes = Math.max(1, bed - wake);
    // Walking comes in bouts; the chance of a bout minute is tuned so the day lands near the person's habit.
    const boutChance = clamp(dailyTarget / 95 / awakeMinutes, 0.01, 0.6);
    let bout = 0;
    for (let minute = 0; minute < length; minute++) {
      const asleep = minute < wake || minute >= bed;
      const base = asleep ? (minute < wake ? rhr : nextRhr) : rhr;
      const active = workoutHr.get(minute);
      let hr: number;
      let stepCount = 0;
      if (active) {
        hr = active.hr + rng.normal(0, 6);
        stepCount = active.cadence > 0 ? Math.round(active.cadence + rng.normal(0, 6)) : 0;
      } else if (asleep) {
        hr = base + 3 + rng.normal(0, 2);
      } else {
        if (bout > 0) {
          bout -= 1;
        } else if (rng.chance(boutChance / 6)) {
          bout = rng.int(3, 9);
        }
        if (bout > 0) {
          stepCount = Math.round(rng.range(70, 118));
          hr = base + 28 + rng.normal(0, 5);
        } else {
          stepCount = rng.chance(0.15) ? rng.int(1, 15) : 0;
          hr = base + 16 + 6 * context.illness + rng.normal(0, 4);
        }
      }
      heartRate[minute] = Math.round(clamp(hr, 35, 215));
      steps[minute] = Math.max(0, stepCount);
    }
    return { length, steps, heartRate, worn, workout: workoutMinutes };
  }

  /**
   * The watch's minute entries of a local day, keyed by epoch second. Heart rate is sampled every minute while worn
   * (ScanWatch's continuous mode) and steps are reported on minutes with movement.
   */
  intraday(day: number): Map<number, IntradayEntry> {
    const model = this.minutes(day);
    const midnight = localMidnightMs(this.person, day);
    const watch = this.traits.watch;
    const result = new Map<number, IntradayEntry>();
    for (let minute = 0; minute < model.length; minute++) {
      if (model.worn[minute] !== 1) {
        continue;
      }
      const stepCount = model.steps[minute] ?? 0;
      const entry: IntradayEntry = { deviceid: watch.deviceid, model: watch.model, model_id: watch.modelId };
      if (stepCount > 0) {
        entry.steps = stepCount;
        entry.distance = round(stepCount * this.traits.strideMeter, 2);
        entry.calories = round(stepCount * 0.045 * (this.person.weightKilogram / 70), 2);
        entry.elevation = 0;
        entry.duration = 60;
      }
      entry.heart_rate = model.heartRate[minute] ?? 60;
      result.set(seconds(midnight + minute * MINUTE_MS), entry);
    }
    return result;
  }

  /** The daily activity summary: totals of the day's minutes (steps and distance add up exactly). */
  activity(day: number): Activity {
    const cached = this.activityCache.get(day);
    if (cached) {
      return cached;
    }
    const rng = rngFor(this.person, day, STREAM.activity);
    const model = this.minutes(day);
    let stepTotal = 0;
    let soft = 0;
    let moderate = 0;
    let intense = 0;
    let hrSum = 0;
    let hrCount = 0;
    let hrMin = 255;
    let hrMax = 0;
    const zones = [0, 0, 0, 0];
    const maxHr = this.person.maxHeartRate;
    for (let minute = 0; minute < model.length; minute++) {
      if (model.worn[minute] !== 1) {
        continue;
      }
      const stepCount = model.steps[minute] ?? 0;
      stepTotal += stepCount;
      const hr = model.heartRate[minute] ?? 0;
      hrSum += hr;
      hrCount += 1;
      hrMin = Math.min(hrMin, hr);
      hrMax = Math.max(hrMax, hr);
      if (model.workout[minute] === 1 && hr > 0.7 * maxHr) {
        intense += 60;
      } else if (stepCount >= 100 || model.workout[minute] === 1) {
        moderate += 60;
      } else if (stepCount >= 40) {
        soft += 60;
      }
      const share = hr / maxHr;
      const zone = share < 0.6 ? 0 : share < 0.7 ? 1 : share < 0.85 ? 2 : 3;
      zones[zone] = (zones[zone] ?? 0) + 60;
    }
    // Distance: the minute distances exactly as intraday reports them, summed.
    let distance = 0;
    for (let minute = 0; minute < model.length; minute++) {
      const stepCount = model.steps[minute] ?? 0;
      if (model.worn[minute] === 1 && stepCount > 0) {
        distance += round(stepCount * this.traits.strideMeter, 2);
      }
    }
    const activeKcal =
      stepTotal * 0.045 * (this.person.weightKilogram / 70) +
      this.whoop.workouts(day).reduce((sum, workout) => sum + (workout.score?.kilojoule ?? 0) / 4.184, 0) * 0.6;
    const watch = this.traits.watch;
    const modified = seconds(localMidnightMs(this.person, day + 1)) + rng.int(6 * 3600, 10 * 3600);
    const activity: Activity = {
      date: dateOfDay(day),
      timezone: this.timezone,
      deviceid: watch.deviceid,
      hash_deviceid: watch.hashDeviceid,
      brand: 1,
      is_tracker: true,
      modified,
      model: watch.model,
      modelid: watch.modelId,
      steps: stepTotal,
      distance: round(distance, 2),
      elevation: rng.int(0, 14) + (this.whoop.workouts(day).some((w) => w.score?.altitude_gain_meter) ? 8 : 0),
      soft,
      moderate,
      intense,
      active: moderate + intense,
      calories: round(activeKcal, 3),
      totalcalories: round(this.traits.bmrKcal + activeKcal, 3),
      hr_average: hrCount > 0 ? Math.round(hrSum / hrCount) : 0,
      hr_min: hrCount > 0 ? hrMin : 0,
      hr_max: hrMax,
      hr_zone_0: zones[0] ?? 0,
      hr_zone_1: zones[1] ?? 0,
      hr_zone_2: zones[2] ?? 0,
      hr_zone_3: zones[3] ?? 0,
    };
    this.activityCache.set(day, activity);
    return activity;
  }

  /** The ScanWatch's workouts of `day`: the sessions the person also records on WHOOP, auto-detected a bit late. */
  workouts(day: number): Workout[] {
    return this.whoop.workouts(day).map((whoopWorkout, index) => {
      const rng = rngFor(this.person, day, STREAM.workout, index);
      const startMs = Date.parse(whoopWorkout.start) + rng.int(40, 180) * 1000;
      const endMs = Date.parse(whoopWorkout.end) - rng.int(0, 90) * 1000;
      const minutes = (endMs - startMs) / MINUTE_MS;
      const average = Math.round((whoopWorkout.score?.average_heart_rate ?? 120) + rng.normal(0, 2));
      const max = Math.round((whoopWorkout.score?.max_heart_rate ?? 150) + rng.normal(-2, 2));
      const duration = Math.round((endMs - startMs) / 1000);
      const shares = [0.1, 0.3, 0.45, 0.15].map((share) => share * rng.range(0.8, 1.2));
      const total = shares.reduce((sum, share) => sum + share, 0);
      const zones = shares.map((share) => Math.round((duration * share) / total));
      const cadence = STEPS_PER_MINUTE[whoopWorkout.sport_name] ?? 0;
      const steps = Math.round(cadence * minutes);
      const distance = Math.round(whoopWorkout.score?.distance_meter ?? steps * this.traits.strideMeter);
      return {
        id: 3_000_000_000 + (hash32(this.person.seed, this.person.index, day, index, 0x0a7) % 1_000_000_000),
        category: WORKOUT_CATEGORY[whoopWorkout.sport_name] ?? 17,
        timezone: this.timezone,
        model: this.traits.watch.modelId,
        attrib: 7,
        startdate: seconds(startMs),
        enddate: seconds(endMs),
        date: dateOfDay(day),
        modified: seconds(endMs) + rng.int(300, 7200),
        deviceid: this.traits.watch.deviceid,
        data: {
          calories: Math.round(((whoopWorkout.score?.kilojoule ?? 1000) / 4.184) * rng.range(0.85, 0.97)),
          intensity: 50,
          manual_distance: 0,
          manual_calories: 0,
          hr_average: average,
          hr_min: Math.round(clamp(average - rng.range(25, 40), 50, average)),
          hr_max: Math.max(max, average + 5),
          hr_zone_0: zones[0] ?? 0,
          hr_zone_1: zones[1] ?? 0,
          hr_zone_2: zones[2] ?? 0,
          hr_zone_3: zones[3] ?? 0,
          pause_duration: 0,
          algo_pause_duration: rng.chance(0.3) ? rng.int(30, 240) : 0,
          steps,
          distance,
          elevation: Math.round(whoopWorkout.score?.altitude_gain_meter ?? 0),
        },
      };
    });
  }

  /** The Sleep Analyzer's summary of the night that ends on the morning of `day`. */
  sleepSummary(day: number): SleepSummary {
    const context = this.context(day);
    const rng = rngFor(this.person, day, STREAM.sleep);
    const timing = this.whoop.sleepTiming(day);
    // Under the mattress: it sees the person get into bed a little before WHOOP's sleep onset and out a bit after.
    const startMs = timing.startMs - rng.int(2, 12) * MINUTE_MS + rng.int(-90, 90) * 1000;
    const endMs = timing.endMs + rng.int(1, 9) * MINUTE_MS + rng.int(-60, 60) * 1000;
    const inBed = seconds(endMs) - seconds(startMs);
    const latency = Math.round((rng.range(6, 18) + 10 * context.illness) * 60);
    const wakeupLatency = Math.round(rng.range(2, 9) * 60);
    const waso = Math.round((rng.range(8, 30) + 35 * context.illness) * 60);
    const asleep = Math.max(3600, inBed - latency - wakeupLatency - waso);
    const deep = Math.round(asleep * rng.range(0.15, 0.21) * (1 - 0.2 * context.illness));
    const rem = Math.round(asleep * rng.range(0.19, 0.25) * (1 - 0.15 * context.illness));
    const light = asleep - deep - rem;
    const rhr = this.restingHeartRate(day);
    const hrAverage = rhr + 4 + rng.normal(0, 1.2);
    const efficiency = asleep / inBed;
    const score = clamp(
      Math.round(
        40 +
          45 * clamp((asleep / 3600 - 5) / 3.5, 0, 1) +
          15 * (efficiency - 0.8) * 5 -
          25 * context.illness +
          rng.normal(0, 4)
      ),
      5,
      100
    );
    const rr = this.person.respiratoryRate + 1.8 * context.illness + rng.normal(0, 0.4);
    const created = seconds(endMs) + rng.int(300, 2400);
    return {
      id: 2_000_000_000 + ((day * 100 + this.person.index) % 1_000_000_000),
      timezone: this.timezone,
      model: 32,
      model_id: this.traits.sleepAnalyzer.modelId,
      hash_deviceid: this.traits.sleepAnalyzer.hashDeviceid,
      startdate: seconds(startMs),
      enddate: seconds(endMs),
      date: dateOfDay(day),
      created,
      modified: created,
      completed: true,
      data: {
        total_timeinbed: inBed,
        total_sleep_time: asleep,
        lightsleepduration: light,
        deepsleepduration: deep,
        remsleepduration: rem,
        sleep_efficiency: round(efficiency, 2),
        sleep_latency: latency,
        wakeup_latency: wakeupLatency,
        wakeupduration: waso + wakeupLatency,
        wakeupcount: rng.int(1, 4) + Math.round(3 * context.illness),
        waso,
        nb_rem_episodes: Math.max(1, Math.round(asleep / 5400) + rng.int(-1, 0)),
        durationtosleep: latency,
        durationtowakeup: wakeupLatency,
        out_of_bed_count: rng.chance(0.35) ? 1 : 0,
        hr_average: Math.round(hrAverage),
        hr_min: Math.round(rhr - 1 + rng.normal(0, 0.5)),
        hr_max: Math.round(hrAverage + rng.range(14, 28)),
        rr_average: Math.round(rr),
        rr_min: Math.round(rr - rng.range(2, 4)),
        rr_max: Math.round(rr + rng.range(3, 6)),
        breathing_disturbances_intensity: rng.int(2, 14),
        snoring: rng.int(0, 1800),
        snoringepisodecount: rng.int(0, 20),
        sleep_score: score,
        apnea_hypopnea_index: rng.int(0, 6),
      },
    };
  }

  /**
   * The night's hypnogram (`/v2/sleep action=get`): segments of 10–40 minutes cycling light → deep → light → REM,
   * awake at the edges, with per-minute heart rate, breathing rate and snoring.
   */
  sleepSegments(day: number): SleepSegment[] {
    const summary = this.sleepSummary(day);
    const rng = rngFor(this.person, day, STREAM.hypnogram);
    const rhr = this.restingHeartRate(day);
    const segments: SleepSegment[] = [];
    const cycle = [1, 2, 1, 3] as const;
    let at = summary.startdate;
    let index = 0;
    while (at < summary.enddate) {
      const first = at === summary.startdate;
      const state = first ? 0 : summary.enddate - at < 900 ? 0 : (cycle[index % cycle.length] ?? 1);
      const length = first ? summary.data.sleep_latency : rng.int(10, 40) * 60;
      const end = Math.min(summary.enddate, at + Math.max(60, length));
      const hr: Record<string, number> = {};
      const rr: Record<string, number> = {};
      const snoring: Record<string, number> = {};
      for (let t = at; t < end; t += 60) {
        const drop = state === 2 ? -3 : state === 3 ? 2 : state === 0 ? 6 : 0;
        hr[String(t)] = Math.round(rhr + 3 + drop + rng.normal(0, 1.5));
        rr[String(t)] = Math.round(this.person.respiratoryRate + rng.normal(0, 1));
        snoring[String(t)] = state === 2 && rng.chance(0.2) ? rng.int(5, 60) : 0;
      }
      segments.push({
        startdate: at,
        enddate: end,
        state,
        model: this.traits.sleepAnalyzer.model,
        model_id: this.traits.sleepAnalyzer.modelId,
        hash_deviceid: this.traits.sleepAnalyzer.hashDeviceid,
        hr,
        rr,
        snoring,
      });
      at = end;
      if (!first) {
        index += 1;
      }
    }
    return segments;
  }

  devices(): Device[] {
    return [this.traits.scale, this.traits.bpm, this.traits.watch, this.traits.sleepAnalyzer, this.traits.thermo];
  }
}

export { localMidnightMs };
