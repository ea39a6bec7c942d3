/**
 * Intraday series through the real write path on the local stack (Medplum's FHIR engine, the deployed profiles,
 * optimistic locking): bots/shared/sampled-data.ts builds the Observations, write-changed.ts writes them as the sync
 * bot will (seriesRecordGroups: merge, never retract), and the app's lib/intraday.ts reads them back as the owner.
 *
 * Shown here: the server validates a series against baseline-intraday-observation on write (a vital-signs series
 * is refused with the profile's own invariant); a re-import writes nothing; a late minute is one update that keeps
 * every stored minute; two runs racing on the same new day (both create, one finds the other's) end with one
 * Observation holding both runs' minutes; a day of minute samples is one resource per UTC day.
 */
import type { MedplumClient } from '@medplum/core';
import type { Bundle, Device, Observation, Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getMetric } from '../bots/shared/catalogue.ts';
import { QuotaPacer } from '../bots/shared/quota.ts';
import {
  buildSeriesObservations,
  decodeSeries,
  seriesIdentifiers,
  seriesRecordGroups,
  seriesWindow,
} from '../bots/shared/sampled-data.ts';
import type { Sample, SeriesScope } from '../bots/shared/sampled-data.ts';
import { writeChanged } from '../bots/shared/write-changed.ts';
import { buildIntradayQuery, readIntradayDay } from '../app/src/lib/intraday.ts';
import { startTestStack } from './harness/stack.ts';
import type { TestStack } from './harness/stack.ts';

const MIN = 60_000;
let env: TestStack;
let admin: MedplumClient;
let owner: MedplumClient;
let scope: SeriesScope;

beforeAll(async () => {
  env = await startTestStack();
  admin = env.adminClient;
  owner = await env.signIn('owner');
  const patientId = (await owner.getProfileAsync())?.id ?? '';
  const device = await admin.createResource<Device>({
    resourceType: 'Device',
    manufacturer: 'Withings',
    deviceName: [{ name: 'ScanWatch 2', type: 'user-friendly-name' }],
    patient: { reference: `Patient/${patientId}` },
  });
  scope = {
    provider: 'withings',
    patient: { reference: `Patient/${patientId}` },
    device: { reference: `Device/${device.id}` },
    providerUserId: '37452718',
    series: 'intraday.scanwatch',
  };
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

function minutes(start: number, count: number, value: (i: number) => number, skip: (i: number) => boolean): Sample[] {
  return Array.from({ length: count }, (_, i) => i)
    .filter((i) => !skip(i))
    .map((i) => ({ t: start + i * MIN, v: value(i) }));
}

async function write(observations: Observation[]): ReturnType<typeof writeChanged> {
  return writeChanged(admin, new QuotaPacer(admin), { records: seriesRecordGroups(observations) });
}

async function stored(day: number): Promise<Observation[]> {
  const [key] = seriesIdentifiers(scope, 'heart-rate', seriesWindow(day, 'heart-rate'));
  return admin.searchResources('Observation', { identifier: `${key?.system}|${key?.value}` }, { cache: 'no-cache' });
}

describe('intraday series on the local stack', () => {
  // Old enough that creates are plain POSTs, as a backfill's are.
  const old = Math.floor(Date.now() / 86_400_000) * 86_400_000 - 40 * 86_400_000;

  test('the server enforces the series profile on write', async () => {
    const [series] = buildSeriesObservations(scope, 'heart-rate', [{ t: old, v: 60 }], MIN).observations;
    const vital = {
      ...(series as Observation),
      category: [
        { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] },
      ],
    };
    await expect(admin.createResource(vital)).rejects.toThrow(/bio-category/);
  });

  test('two days of a worn watch are two resources; re-import writes nothing; a late minute keeps the rest', async () => {
    // Two UTC days, minute samples, off the wrist 30 minutes every 8 hours.
    const samples = minutes(
      old,
      2 * 1440,
      (i) => 55 + (i % 40),
      (i) => i % 480 < 30
    );
    const built = buildSeriesObservations(scope, 'heart-rate', samples, MIN);
    expect(built.observations).toHaveLength(2);
    expect(built.count).toBe(samples.length);
    // ≥ 60× fewer resources than one Observation per sample (here 1,260 samples per resource).
    expect(samples.length / built.observations.length).toBeGreaterThanOrEqual(60);

    const first = await write(built.observations);
    expect(first).toMatchObject({ created: 2, updated: 0, retracted: 0, failures: [] });
    const again = await write(built.observations);
    expect(again).toMatchObject({ created: 0, updated: 0, unchanged: 2, failures: [] });

    // A re-fetch of one hour of the first day, with one minute that was missing (i = 0 was off the wrist).
    const late = buildSeriesObservations(scope, 'heart-rate', [{ t: old, v: 99 }, ...samples.slice(0, 30)], MIN);
    const merged = await write(late.observations);
    expect(merged).toMatchObject({ created: 0, updated: 1, unchanged: 0, retracted: 0, failures: [] });
    const [day] = await stored(old);
    const decoded = decodeSeries(
      day?.valueSampledData ?? { origin: {}, period: 1, dimensions: 1 },
      day?.effectivePeriod?.start ?? ''
    );
    expect(decoded).toHaveLength(1 + samples.filter((s) => s.t < old + 86_400_000).length);
    expect(decoded[0]).toEqual({ t: old, v: 99 });
    expect(day?.meta?.versionId).not.toBe(undefined);
  });

  test('two runs racing on a new day both keep their minutes in one Observation', async () => {
    const today = Math.floor(Date.now() / 86_400_000) * 86_400_000;
    const a = buildSeriesObservations(
      scope,
      'heart-rate',
      minutes(
        today,
        30,
        () => 61,
        () => false
      ),
      MIN
    );
    const b = buildSeriesObservations(
      scope,
      'heart-rate',
      minutes(
        today + 30 * MIN,
        30,
        () => 72,
        () => false
      ),
      MIN
    );
    const results = await Promise.all([write(a.observations), write(b.observations)]);
    expect(results.flatMap((r) => r.failures)).toEqual([]);
    // One run created the day; the other found it (conditional create), re-read it and merged into it.
    expect(results.map((r) => [r.created, r.updated]).sort()).toEqual([
      [0, 1],
      [1, 0],
    ]);
    const rows = await stored(today);
    expect(rows).toHaveLength(1);
    const decoded = decodeSeries(
      rows[0]?.valueSampledData ?? { origin: {}, period: 1, dimensions: 1 },
      rows[0]?.effectivePeriod?.start ?? ''
    );
    expect(decoded.map((s) => s.v)).toEqual([
      ...Array.from({ length: 30 }, () => 61),
      ...Array.from({ length: 30 }, () => 72),
    ]);
  });

  test('the owner reads a local day back through the app library, device named, gaps counted', async () => {
    const range = { start: old + 6 * 3_600_000, end: old + 30 * 3_600_000 };
    const bundle = await owner.search(
      'Observation',
      buildIntradayQuery(scope.patient.reference?.slice(8) ?? '', getMetric('heart-rate'), range),
      {
        cache: 'no-cache',
      }
    );
    const resources: Resource[] = (bundle as Bundle).entry?.flatMap((e) => (e.resource ? [e.resource] : [])) ?? [];
    const observations = resources.filter((r): r is Observation => r.resourceType === 'Observation');
    const devices = new Map(
      resources.filter((r): r is Device => r.resourceType === 'Device').map((d) => [`Device/${d.id ?? ''}`, d])
    );
    expect(observations).toHaveLength(2);
    const day = readIntradayDay(observations, devices, getMetric('heart-rate'), range);
    expect(day.problems).toEqual([]);
    expect(day.series).toHaveLength(1);
    const series = day.series[0];
    expect(series?.label).toBe('ScanWatch 2');
    // 24 hours from 06:00Z: off the wrist at 08:00, 16:00, 00:00 (next day) and 08:00 ... 06:00 is cut at the end.
    expect(series?.gaps).toBe(3);
    expect(series?.samples).toBe(24 * 60 - 3 * 30);
  });
});
