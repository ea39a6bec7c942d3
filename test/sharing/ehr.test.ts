/**
 * An EHR on the native FHIR API (issue 9 §4): the README's `curl` example, run as written with the real `curl` against
 * the local stack, for an EHR client that one owner granted (through the EHR's Organization) and another did not.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { WithId } from '@medplum/core';
import type { Bundle, ClientApplication, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { EHR_CLIENT_IDENTIFIER_SYSTEM } from '../../bots/sharing/membership.ts';
import { CLIENT_KEYS } from '../../data/core/client-applications.ts';
import { grant } from '../../scripts/e2e/sharing-client.ts';
import { seedRecord } from '../../scripts/e2e/sharing-record.ts';
import type { OwnerRecord } from '../../scripts/e2e/sharing-record.ts';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import { readmeCodeBlocks } from '../operator-docs.ts';

let env: TestStack;
let a: OwnerRecord;
let b: OwnerRecord;
let patientA: string;
let client: WithId<ClientApplication>;

beforeAll(async () => {
  env = await startTestStack();
  const owner = await env.signIn('owner');
  const other = await env.signIn('other');
  patientA = ((await owner.getProfileAsync()) as WithId<Patient>).id;
  a = await seedRecord(env.adminClient, `Patient/${patientA}`);
  b = await seedRecord(env.adminClient, `Patient/${((await other.getProfileAsync()) as WithId<Patient>).id}`);
  client = await env.adminClient.readResource(
    'ClientApplication',
    env.deployReport.clients[CLIENT_KEYS.ehrClient] ?? ''
  );
  const org = await env.adminClient.searchOne('Organization', { identifier: `${EHR_CLIENT_IDENTIFIER_SYSTEM}|` });
  await grant(owner, {
    grantee: { organization: org?.id ?? '' },
    groups: ['heart', 'sleep'],
    content: ['wearable', 'derived'],
  });
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

test('the README curl example returns exactly what the owner granted, and nothing of the owner who did not', async () => {
  const block = readmeCodeBlocks('sh').find((text) => text.includes('EHR_CLIENT_SECRET'));
  expect(block, 'README has the EHR curl example').toBeDefined();
  // Asynchronously: the stack answers curl from this very process.
  const { stdout: out } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', block ?? ''], {
    encoding: 'utf8',
    env: {
      ...process.env,
      MEDPLUM: env.baseUrl,
      EHR_CLIENT_ID: client.id,
      EHR_CLIENT_SECRET: client.secret ?? '',
      PATIENT_ID: patientA,
    },
  });
  const [sleep, baselines, everything] = out
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Bundle);
  const ids = (bundle: Bundle | undefined): string[] =>
    (bundle?.entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
  expect(ids(sleep)).toEqual([`Observation/${a.sleepRecent.id}`]);
  expect(ids(baselines)).toEqual([`Observation/${a.band.id}`]);
  const all = ids(everything);
  expect(all).toContain(`Patient/${patientA}`);
  expect(all).toContain(`Observation/${a.hrvRecent.id}`);
  expect(all).toContain(`Observation/${a.sleepRecent.id}`);
  for (const hidden of [a.hrvOld, a.narrative, a.flag, a.communication, a.task, a.connection, ...b.all]) {
    expect(all).not.toContain(`${hidden.resourceType}/${hidden.id}`);
  }
});
