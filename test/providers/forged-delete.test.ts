/**
 * A forged, unsigned Oura deletion (Medplum 5.0: parsed bodies are hints) must not retract anything — in particular
 * not another owner's records by smuggling FHIR search syntax (`,` and `|`) into the object id, which once widened the
 * sync bot's retract search to any identifier (found by review: the victim's workout went entered-in-error).
 * The id is refused at the webhook; and a retract only ever touches exact identifiers of its own Task's owner.
 */
import type { MedplumClient, WithId } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestStack } from '../harness/stack.ts';
import type { TestStack } from '../harness/stack.ts';
import {
  ouraObservations,
  ouraSandbox,
  postJson,
  quiet,
  requireConnection,
  setSecrets,
  webhookUrl,
} from '../oura/helpers.ts';
import { connect, waitForBackfill } from './helpers.ts';

let env: TestStack;
let ownerPatient: WithId<Patient>;
let otherPatient: WithId<Patient>;

beforeAll(async () => {
  env = await startTestStack({ oura: { days: 5, people: 2 }, medplumVersion: '5.0' });
  await setSecrets(env, { BASELINE_BACKFILL_DAYS: '5' });
  const owner: MedplumClient = await env.signIn('owner');
  const other: MedplumClient = await env.signIn('other');
  ownerPatient = (await owner.getProfileAsync()) as WithId<Patient>;
  otherPatient = (await other.getProfileAsync()) as WithId<Patient>;
  await connect(owner, 'oura', 0);
  await connect(other, 'oura', 1);
  await waitForBackfill(owner, 'oura');
  await waitForBackfill(other, 'oura');
  await quiet(env, (await requireConnection(env, ownerPatient)).id);
  await quiet(env, (await requireConnection(env, otherPatient)).id);
}, 300_000);

afterAll(async () => {
  await env?.stop();
});

test("a delete naming owner A's account with search syntax in its id changes none of owner B's records", async () => {
  const before = await ouraObservations(env, otherPatient);
  const victim = before.find(
    (o) =>
      o.status === 'final' &&
      o.identifier?.some((i) => i.system?.endsWith('/oura/record') && i.value?.startsWith('workout:'))
  );
  const record = victim?.identifier?.find((i) => i.system?.endsWith('/oura/record'));
  expect(record?.value).toBeDefined();
  const body = JSON.stringify({
    event_type: 'delete',
    data_type: 'workout',
    object_id: `nonexistent,${record?.system}|${record?.value}`,
    event_time: new Date().toISOString(),
    user_id: ouraSandbox(env).users[0]?.userId,
  });
  const answer = await postJson(webhookUrl(env), body);
  // The bot refuses the body (Medplum turns a thrown error into a 400 OperationOutcome) and queues nothing.
  expect(answer.status).toBe(400);
  expect(answer.text).toContain('Rejected Oura webhook');
  await quiet(env, (await requireConnection(env, ownerPatient)).id);
  const after = await ouraObservations(env, otherPatient);
  expect(after.filter((o) => o.status === 'entered-in-error').length).toBe(
    before.filter((o) => o.status === 'entered-in-error').length
  );
  expect(after.find((o) => o.id === victim?.id)?.status).toBe('final');
});
