/**
 * Oura v2 payloads shared by the Oura tests: the shapes of the vendor OpenAPI (test/fixtures/openapi/oura.json) with
 * the values of reference providers.md §3.5 (recorded-shape samples), ids made concrete.
 */
export const OURA_USER_ID = '8f9a5221-639e-4a85-81cb-4065ef23f979';

export const PERSONAL_INFO = {
  id: OURA_USER_ID,
  age: 31,
  weight: 74.8,
  height: 1.8,
  biological_sex: 'male',
  email: 'a@b.c',
};

export const TOKEN_RESPONSE = {
  access_token: 'oura-access-token-1',
  token_type: 'Bearer',
  expires_in: 86400,
  refresh_token: 'oura-refresh-token-1',
  scope: 'daily heartrate workout spo2Daily',
};

export const DAILY_SLEEP = {
  id: 'a1b2c3d4-daily-sleep',
  contributors: {
    deep_sleep: 57,
    efficiency: 98,
    latency: 81,
    rem_sleep: 20,
    restfulness: 54,
    timing: 84,
    total_sleep: 60,
  },
  day: '2024-01-15',
  score: 63,
  timestamp: '2024-01-15T00:00:00+01:00',
};

export const SLEEP = {
  id: '8f9a-sleep-0115',
  average_breath: 13.875,
  average_heart_rate: 56.625,
  average_hrv: 42,
  awake_time: 720,
  bedtime_end: '2024-01-15T07:12:30+01:00',
  bedtime_start: '2024-01-14T23:01:00+01:00',
  day: '2024-01-15',
  deep_sleep_duration: 4740,
  efficiency: 93,
  heart_rate: { interval: 300.0, items: [null, 58.0, 55.0], timestamp: '2024-01-14T23:01:00.000+01:00' },
  hrv: { interval: 300.0, items: [null, 38.0, 45.0], timestamp: '2024-01-14T23:01:00.000+01:00' },
  latency: 540,
  light_sleep_duration: 14790,
  low_battery_alert: false,
  lowest_heart_rate: 50,
  movement_30_sec: '1143222134',
  period: 0,
  readiness: {
    contributors: {
      activity_balance: 80,
      body_temperature: 98,
      hrv_balance: 75,
      previous_day_activity: 82,
      previous_night: 70,
      recovery_index: 90,
      resting_heart_rate: 88,
      sleep_balance: 77,
      sleep_regularity: 85,
    },
    score: 78,
    temperature_deviation: -0.12,
    temperature_trend_deviation: 0.05,
  },
  readiness_score_delta: 1,
  rem_sleep_duration: 6510,
  restless_periods: 210,
  sleep_algorithm_version: 'v2',
  sleep_analysis_reason: 'foreground_sleep_analysis',
  sleep_phase_5_min: '4422211133224',
  sleep_score_delta: 0,
  time_in_bed: 29490,
  total_sleep_duration: 26040,
  type: 'long_sleep',
  ring_id: 'enc-ring',
};

export const DAILY_READINESS = {
  id: 'readiness-0115',
  contributors: {
    activity_balance: 80,
    body_temperature: 98,
    hrv_balance: 75,
    previous_day_activity: 82,
    previous_night: 70,
    recovery_index: 90,
    resting_heart_rate: 88,
    sleep_balance: 77,
    sleep_regularity: 85,
  },
  day: '2024-01-15',
  score: 78,
  temperature_deviation: -0.12,
  temperature_trend_deviation: 0.05,
  timestamp: '2024-01-15T00:00:00+01:00',
};

export const DAILY_ACTIVITY = {
  id: 'activity-0115',
  active_calories: 412,
  average_met_minutes: 1.6,
  class_5_min: '1112223334',
  contributors: {
    meet_daily_targets: 60,
    move_every_hour: 95,
    recovery_time: 100,
    stay_active: 80,
    training_frequency: 71,
    training_volume: 90,
  },
  day: '2024-01-15',
  equivalent_walking_distance: 7800,
  high_activity_met_minutes: 30,
  high_activity_time: 600,
  inactivity_alerts: 0,
  low_activity_met_minutes: 200,
  low_activity_time: 13000,
  medium_activity_met_minutes: 120,
  medium_activity_time: 2400,
  met: { interval: 60.0, items: [0.9, 1.2], timestamp: '2024-01-15T04:00:00.000+01:00' },
  meters_to_target: 1200,
  non_wear_time: 600,
  resting_time: 30000,
  score: 82,
  sedentary_met_minutes: 10,
  sedentary_time: 25000,
  steps: 9123,
  target_calories: 450,
  target_meters: 9000,
  timestamp: '2024-01-15T04:00:00+01:00',
  total_calories: 2510,
};

export const DAILY_SPO2 = {
  id: 'spo2-0115',
  day: '2024-01-15',
  spo2_percentage: { average: 96.4 },
  breathing_disturbance_index: 12,
};

export const DAILY_STRESS = {
  id: 'stress-0115',
  day: '2024-01-15',
  stress_high: 5400,
  recovery_high: 7200,
  day_summary: 'restored',
};

export const WORKOUT = {
  id: 'workout-0115',
  activity: 'walking',
  calories: 210.5,
  day: '2024-01-15',
  distance: 3200.0,
  end_datetime: '2024-01-15T18:40:00+01:00',
  intensity: 'moderate',
  label: null,
  source: 'autodetected',
  start_datetime: '2024-01-15T18:05:00+01:00',
};

export const HEART_RATE_ROWS = [
  { bpm: 78, source: 'rest', timestamp: '2024-01-12T06:04:46+00:00', timestamp_unix: 1705039486000 },
  { bpm: 80, source: 'awake', timestamp: '2024-01-12T06:10:00+00:00', timestamp_unix: 1705039800000 },
  // Older responses have no timestamp_unix.
  { bpm: 82, source: 'awake', timestamp: '2024-01-12T06:15:00+00:00' },
];

export const SUBSCRIPTION = {
  id: '6a1f0000-0000-4000-8000-000000000001',
  callback_url: 'https://edge.example/oura',
  event_type: 'update',
  data_type: 'sleep',
  expiration_time: '2024-04-15T08:00:00+00:00',
};
