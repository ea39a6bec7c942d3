/**
 * A small record per owner, written as the project admin (the system side), so sharing tests need no provider:
 * wearable values of two groups on both sides of the grant's start date, a derived band, a narrative, an alert Flag
 * with its Communication, a Device, and the things a grantee must never see (a Task, a connection record).
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Basic, Communication, Device, Flag, Observation, Resource, Task } from '@medplum/fhirtypes';
import { ALERT_COMMUNICATION_IDENTIFIER_SYSTEM, ALERT_FLAG_IDENTIFIER_SYSTEM } from '../../bots/analytics/alerts.ts';
import { METRICS } from '../../bots/shared/catalogue.ts';
import { CODE_SYSTEM } from '../../bots/shared/systems.ts';
import { BASIC_TYPE_SYSTEM, CONNECTION_CODE } from '../../data/core/connection.ts';

export function metric(key: string): { system: string; code: string; display: string } {
  const found = METRICS.find((m) => m.key === key);
  if (!found) {
    throw new Error(`no metric ${key}`);
  }
  return { system: found.code.system, code: found.code.code, display: found.code.display };
}

export const HRV = metric('hrv-rmssd');
export const RHR = metric('resting-heart-rate');
export const SLEEP = metric('sleep-duration');

/** A day `n` days before today (UTC), as YYYY-MM-DD. */
export function daysAgo(n: number): string {
  return new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
}

export interface OwnerRecord {
  patient: string;
  /** Heart-group values 5 and 40 days ago. */
  hrvRecent: WithId<Observation>;
  hrvOld: WithId<Observation>;
  rhrRecent: WithId<Observation>;
  sleepRecent: WithId<Observation>;
  band: WithId<Observation>;
  narrative: WithId<Observation>;
  flag: WithId<Flag>;
  communication: WithId<Communication>;
  device: WithId<Device>;
  task: WithId<Task>;
  /** The stand-in connection record (the Task when there is none, on a real server). */
  connection: WithId<Basic> | WithId<Task>;
  all: WithId<Resource>[];
}

function value(
  patient: string,
  code: { system: string; code: string; display: string },
  day: string,
  v: number
): Observation {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [code] },
    subject: { reference: patient },
    effectiveDateTime: `${day}T07:00:00Z`,
    valueQuantity: { value: v, unit: '1', system: 'http://unitsofmeasure.org', code: '1' },
  };
}

/**
 * Writes one owner's record.
 * @param admin - the project admin client.
 * @param patient - `Patient/<id>`.
 * @returns What was written.
 */
export async function seedRecord(
  admin: MedplumClient,
  patient: string,
  options: { connectionRecord?: boolean } = {}
): Promise<OwnerRecord> {
  const hrvRecent = await admin.createResource(value(patient, HRV, daysAgo(5), 55));
  const hrvOld = await admin.createResource(value(patient, HRV, daysAgo(40), 61));
  const rhrRecent = await admin.createResource(value(patient, RHR, daysAgo(5), 52));
  const sleepRecent = await admin.createResource(value(patient, SLEEP, daysAgo(5), 430));
  const band = await admin.createResource<Observation>({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: CODE_SYSTEM, code: 'personal-baseline' }] },
    subject: { reference: patient },
    effectiveDateTime: `${daysAgo(4)}T00:00:00Z`,
    component: [{ code: { coding: [HRV] }, valueQuantity: { value: 57, unit: 'ms' } }],
  });
  const narrative = await admin.createResource<Observation>({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: CODE_SYSTEM, code: 'narrative-weekly' }] },
    subject: { reference: patient },
    effectivePeriod: { start: `${daysAgo(10)}T00:00:00Z`, end: `${daysAgo(3)}T00:00:00Z` },
    valueString: 'A quiet week.',
  });
  const flag = await admin.createResource<Flag>({
    resourceType: 'Flag',
    identifier: [{ system: ALERT_FLAG_IDENTIFIER_SYSTEM, value: `${patient}:t` }],
    status: 'active',
    code: { text: 'HRV below baseline' },
    subject: { reference: patient },
    period: { start: `${daysAgo(2)}T08:00:00Z` },
  });
  const communication = await admin.createResource<Communication>({
    resourceType: 'Communication',
    identifier: [{ system: ALERT_COMMUNICATION_IDENTIFIER_SYSTEM, value: `${patient}:t` }],
    status: 'completed',
    subject: { reference: patient },
    recipient: [{ reference: patient }],
    sent: `${daysAgo(2)}T08:00:01Z`,
    about: [{ reference: `Flag/${flag.id}` }],
    payload: [{ contentString: 'Your HRV is below your baseline.' }],
  });
  const device = await admin.createResource<Device>({
    resourceType: 'Device',
    patient: { reference: patient },
    deviceName: [{ name: 'WHOOP 4.0', type: 'model-name' }],
  });
  const task = await admin.createResource<Task>({
    resourceType: 'Task',
    status: 'completed',
    intent: 'order',
    for: { reference: patient },
  });
  // A stand-in connection record (not a valid connection: the bots would refuse it), to prove grantees never see
  // one. Not on a real server (e2e), where the owner's real connection is there to try instead.
  const connection =
    options.connectionRecord === false
      ? undefined
      : await admin.createResource<Basic>({
          resourceType: 'Basic',
          code: { coding: [{ system: BASIC_TYPE_SYSTEM, code: CONNECTION_CODE }] },
          subject: { reference: patient },
        });
  const written = {
    hrvRecent,
    hrvOld,
    rhrRecent,
    sleepRecent,
    band,
    narrative,
    flag,
    communication,
    device,
    task,
  };
  return {
    patient,
    ...written,
    connection: connection ?? task,
    all: [...Object.values(written), ...(connection ? [connection] : [])],
  };
}
