/**
 * Withings payloads in the recorded shapes of reference/providers.md §2.5 (token, getmeas, getactivity and sleep
 * getsummary from the vendor OpenAPI examples and the aiowithings fixtures; the type-6 measure and `total_timeinbed`
 * are illustrative, as there), shared by the Withings tests. Plus a fake `fetch` that answers Withings' envelope.
 */
import { vi } from 'vitest';
import type { Mock } from 'vitest';

export const TOKEN_BODY = {
  userid: 363,
  access_token: 'a075f8c14fb8df40b08ebc8508533dc332a6910a',
  refresh_token: 'f631236f02b991810feb774765b6ae8e6c6839ca',
  expires_in: 10800,
  scope: 'user.info,user.metrics,user.activity,user.sleepevents',
  csrf_token: 'PACnnxwHTaBQOzF7bQqwFUUotIuvtzSM',
  token_type: 'Bearer',
};

export const BP_GROUP = {
  grpid: 4716596696,
  attrib: 0,
  date: 1690491576,
  created: 1690491663,
  modified: 1690491663,
  category: 1,
  deviceid: 'c405eb8e',
  hash_deviceid: 'c405eb8e',
  measures: [
    { value: 89, type: 9, unit: 0, algo: 0, fm: 3 },
    { value: 109, type: 10, unit: 0, algo: 0, fm: 3 },
    { value: 88, type: 11, unit: 0, algo: 0, fm: 3 },
  ],
  modelid: 44,
  model: 'BPM Core',
  comment: null,
};

export const WEIGHT_GROUP = {
  grpid: 4815757309,
  attrib: 0,
  date: 1693651151,
  created: 1693651185,
  modified: 1693651185,
  category: 1,
  deviceid: 'f998be4b',
  hash_deviceid: 'f998be4b',
  measures: [
    { value: 118003, type: 1, unit: -3, algo: 3, fm: 3 },
    { value: 2150, type: 6, unit: -2 },
  ],
  modelid: 5,
  model: 'Body+',
  comment: null,
};

export const MEASURE_BODY = {
  updatetime: 1690491663,
  timezone: 'Europe/Berlin',
  measuregrps: [BP_GROUP, WEIGHT_GROUP],
  more: 0,
  offset: 0,
};

export const ACTIVITY = {
  steps: 1209,
  distance: 1028.559,
  elevation: 0,
  soft: 1864,
  moderate: 292,
  intense: 0,
  active: 292,
  calories: 85.497,
  totalcalories: 2303.788,
  hr_average: 80,
  hr_min: 70,
  hr_max: 80,
  hr_zone_0: 100,
  hr_zone_1: 200,
  hr_zone_2: 300,
  hr_zone_3: 400,
  deviceid: null,
  hash_deviceid: null,
  timezone: 'Europe/Amsterdam',
  date: '2023-10-20',
  modified: 1697884856,
  brand: 18,
  modelid: 1055,
  model: 'GoogleFit tracker',
  is_tracker: false,
};

export const ACTIVITY_BODY = { activities: [ACTIVITY], more: false, offset: 200 };

export const SLEEP_SUMMARY = {
  id: 2081804182,
  timezone: 'Europe/Paris',
  model: 32,
  model_id: 63,
  hash_deviceid: '201d0b9a',
  startdate: 1618691453,
  enddate: 1618713173,
  date: '2021-04-18',
  created: 1620237476,
  modified: 1620237476,
  data: {
    wakeupduration: 3060,
    wakeupcount: 1,
    durationtosleep: 540,
    remsleepduration: 2400,
    durationtowakeup: 1140,
    total_sleep_time: 18660,
    total_timeinbed: 21720,
    sleep_efficiency: 0.86,
    sleep_latency: 540,
    wakeup_latency: 1140,
    waso: 1380,
    nb_rem_episodes: 1,
    out_of_bed_count: 0,
    lightsleepduration: 10440,
    deepsleepduration: 5820,
    hr_average: 103,
    hr_min: 70,
    hr_max: 120,
    rr_average: 14,
    rr_min: 10,
    rr_max: 20,
    breathing_disturbances_intensity: 9,
    snoring: 1080,
    snoringepisodecount: 18,
    sleep_score: 37,
    apnea_hypopnea_index: 9,
  },
};

export const SLEEP_BODY = { series: [SLEEP_SUMMARY], more: false, offset: 0 };

/** A workout in the spec's workout_object shape (values illustrative). */
export const WORKOUT = {
  id: 3094586,
  category: 2,
  timezone: 'Europe/Paris',
  model: 1055,
  attrib: 7,
  startdate: 1697788800,
  enddate: 1697792400,
  date: '2023-10-20',
  deviceid: null,
  modified: 1697800000,
  data: {
    calories: 512.4,
    intensity: 50,
    manual_distance: 0,
    manual_calories: 0,
    hr_average: 148,
    hr_min: 95,
    hr_max: 176,
    steps: 9000,
    distance: 10050.5,
    elevation: 40,
  },
};

export const WORKOUT_BODY = { series: [WORKOUT], more: false, offset: 0 };

/** getintradayactivity: series keyed by epoch second (2023-10-20T00:00:00Z = 1697760000). */
export const INTRADAY_BODY = {
  series: {
    '1697760000': { deviceid: 'tracker01', model: 'ScanWatch', model_id: 93, heart_rate: 61, steps: 0, duration: 60 },
    '1697760060': { deviceid: 'tracker01', model: 'ScanWatch', model_id: 93, heart_rate: 63, steps: 12, duration: 60 },
    '1697760180': { deviceid: 'tracker01', model: 'ScanWatch', model_id: 93, heart_rate: 0, steps: 30, duration: 60 },
  },
};

export const CTX = {
  patient: { reference: 'Patient/p1' as const },
  device: { reference: 'Device/d1' as const },
  providerUserId: '363',
};

export interface RecordedCall {
  readonly url: string;
  readonly params: URLSearchParams;
  readonly authorization: string | undefined;
}

/**
 * A fake fetch that answers each call from `answers` in order (each a Withings envelope, HTTP 200) and records the
 * calls' URL, form parameters and Authorization header.
 */
export function fakeFetch(answers: readonly unknown[]): { fetch: Mock<typeof fetch>; calls: RecordedCall[] } {
  const calls: RecordedCall[] = [];
  let next = 0;
  const fn = vi.fn<typeof fetch>((input, init) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    calls.push({
      url: String(input),
      params: new URLSearchParams(typeof init?.body === 'string' ? init.body : ''),
      authorization: headers.authorization,
    });
    const answer = answers[next] ?? answers[answers.length - 1];
    next += 1;
    // A minimal Response (what fetchJson reads); the global Response is not a bot global, even in a helper.
    const text = JSON.stringify(answer);
    return Promise.resolve({
      ok: true,
      status: 200,
      headers: { get: (): string | null => null },
      text: () => Promise.resolve(text),
    } as unknown as Response);
  });
  return { fetch: fn, calls };
}

export function ok(body: unknown): { status: 0; body: unknown } {
  return { status: 0, body };
}

export function fail(status: number, error: string): { status: number; body: object; error: string } {
  return { status, body: {}, error };
}
