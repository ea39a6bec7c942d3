/**
 * A heart-rate slot that straddles UTC midnight (issue 10 §5: late or partial reads merge "without loss").
 *
 * A stored slot is the average of the samples within ±150 s of its grid point, and a sample just before midnight
 * belongs to the next day's first slot (bots/shared/sampled-data.ts groupByWindow). During a workout Oura lists one
 * row a minute, so the 00:00 slot can hold rows from both days. Reads over plain UTC days split that slot: a read that
 * ended at midnight D carried the rows of 23:57:30–23:59:59 alone, encoded their partial average into day D's slot
 * 0, and the merge ("an incoming value wins") overwrote the full average stored by an earlier read of day D
 * (crash.test.ts met this after a restart reordered the backfill windows: 2026-11-03 slot 0, 174 stored, 172 true).
 * Fixed: bots/oura/sync-plan.ts wholeUtcDays reads whole slots (each day from 150 s before its midnight).
 *
 * Here the two reads are made in the failing order on purpose, as two window syncs: first one that covers day D
 * whole (the full average is stored), then one that ends at D's midnight (the partial read).
 */
import { randomUUID } from 'node:crypto';
import type { MedplumClient, WithId } from '@medplum/core';
import { getReferenceString } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { INTRADAY_PROFILE } from '../../bots/shared/sampled-data.ts';
import { buildTask } from '../../bots/shared/tasks.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { connect, waitForBackfill } from '../providers/helpers.ts';
import { decodeStored, expectedFromSandbox, HR_PERIOD_MS } from './expected.ts';
import { ouraObservations, ouraSandbox, quiet, requireConnection, setSecrets } from './helpers.ts';

const DAY_MS = 86_400_000;

let env: TestStack;
let owner: MedplumClient;
let ownerPatient: WithId<Patient>;
let connectionId: string;

beforeAll(async () => {
  // A long history to find a workout across UTC midnight in; a one-day backfill, since the test syncs its own windows.
  env = await startTestStack({ oura: { days: 150, rateLimit: { limit: 100_000, windowSeconds: 300 } } });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '1' });
  owner = await env.signIn('owner');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  await connect(owner, 'oura');
  await waitForBackfill(owner, 'oura');
  connectionId = (await requireConnection(env, ownerPatient)).id;
  await quiet(env, connectionId);
}, 180_000);

afterAll(async () => {
  await env?.stop();
});

async function syncWindow(start: number, end: number): Promise<void> {
  await env.adminClient.createResource(
    buildTask({
      kind: 'sync',
      patient: { reference: getReferenceString(ownerPatient) },
      connection: { reference: `Basic/${connectionId}` },
      provider: 'oura',
      dedupeKey: `oura:boundary:${randomUUID()}`,
      window: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
    })
  );
  await quiet(env, connectionId);
}

describe('the 00:00 slot of a day, read from both sides of midnight', () => {
  let midnight = 0;
  let truthValue: number | undefined;
  let fullValue: number | undefined;
  let afterPartial: number | undefined;

  async function storedSlot0(): Promise<number | undefined> {
    const key = `heartrate|heart-rate|${new Date(midnight).toISOString().replace('.000Z', 'Z')}`;
    const found = (await ouraObservations(env, ownerPatient)).find(
      (o) => o.meta?.profile?.[0] === INTRADAY_PROFILE && decodeStored(o).key === key
    );
    return found ? decodeStored(found).values.get(0) : undefined;
  }

  test('setup: a day whose first slot holds workout rows from both days; read whole, then up to its midnight', async () => {
    const sandbox = ouraSandbox(env);
    const rows = sandbox.control.heartRate('2000-01-01T00:00:00Z', '2100-01-01T00:00:00Z');
    const half = HR_PERIOD_MS / 2;
    const mean = (list: typeof rows): number => Math.round(list.reduce((a, r) => a + r.bpm, 0) / list.length);
    const midnights = [...new Set(rows.map((r) => Math.round(r.timestamp_unix / DAY_MS) * DAY_MS))];
    const found = midnights.find((m) => {
      const slot = rows.filter((r) => r.timestamp_unix >= m - half && r.timestamp_unix < m + half);
      const before = slot.filter((r) => r.timestamp_unix < m);
      return before.length > 0 && before.length < slot.length && mean(before) !== mean(slot);
    });
    if (found === undefined) {
      throw new Error('no workout across UTC midnight in this sandbox history: lengthen `days`');
    }
    midnight = found;
    truthValue = expectedFromSandbox(sandbox)
      .series.windows.get(`heartrate|heart-rate|${new Date(midnight).toISOString().replace('.000Z', 'Z')}`)
      ?.get(0);
    expect(truthValue).toBeDefined();
    // Day D read whole (the window's read starts a day earlier): the full average is stored.
    await syncWindow(midnight + 3600_000, midnight + 2 * 3600_000);
    fullValue = await storedSlot0();
    // Then a window that ends at D's midnight.
    await syncWindow(midnight - 2 * 3600_000, midnight);
    afterPartial = await storedSlot0();
    expect(afterPartial).toBeDefined();
  }, 120_000);

  test('the whole-day read stores the slot’s full average', () => {
    expect(fullValue).toBe(truthValue);
  });

  // Day D's first slot begins at 23:57:30 the day before: a window that ends at D's midnight still reads whole slots
  // (through 23:57:30 of D, or not D's slot 0 at all), so the stored full average stays.
  test('a read that ends at midnight leaves the stored slot alone', () => {
    expect(afterPartial).toBe(truthValue);
  });
});
