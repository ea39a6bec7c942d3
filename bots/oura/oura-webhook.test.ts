/**
 * The oura-webhook bot over a fake Medplum (connection search, Task create/search): what each delivery queues, and
 * that a refused one queues nothing. The signature matrix itself is in signature.test.ts.
 */
import { createHmac } from 'node:crypto';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Basic, Task } from '@medplum/fhirtypes';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { buildConnection, withStatus } from '../shared/connection.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../shared/extensions.ts';
import { HINTS_PER_HOUR } from '../shared/queue.ts';
import { readTaskInput } from '../shared/tasks.ts';
import { handler } from './oura-webhook.ts';
import { OURA_USER_ID } from './test-fixtures.ts';

const SECRET = 'oura-client-secret';
const NOW = Date.parse('2026-11-21T12:00:00Z');
const DELIVERY = {
  event_type: 'update',
  data_type: 'sleep',
  object_id: 'sleep-doc-1',
  event_time: '2026-11-21T11:59:30+00:00',
  user_id: OURA_USER_ID,
};

function connection(status: 'active' | 'disconnected' = 'active'): Basic {
  const basic: Basic = {
    ...buildConnection({
      provider: 'oura',
      patient: { reference: 'Patient/p1' },
      providerUserId: OURA_USER_ID,
      linkId: 'link-one',
      tokenExpiresAt: '2026-11-22T12:00:00.000Z',
      now: new Date(NOW),
    }),
    id: 'c1',
  };
  return status === 'active' ? basic : withStatus(basic, status);
}

/** Just enough of MedplumClient: connection search by identifier, Task conditional create and search. */
function fakeMedplum(connections: Basic[]) {
  const tasks: Task[] = [];
  const searches: Record<string, string>[] = [];
  const medplum = {
    searchResources: async (type: string, query: Record<string, string>) => {
      searches.push({ type, ...query });
      if (type === 'Basic') {
        return connections.filter((c) => c.identifier?.some((i) => query.identifier === `${i.system}|${i.value}`));
      }
      const wanted = (query.identifier ?? '').split(',');
      return tasks.filter((t) => t.identifier?.some((i) => wanted.includes(`${i.system}|${i.value}`)));
    },
    createResourceIfNoneExist: async (task: Task, query: string) => {
      const existing = tasks.find((t) => t.identifier?.some((i) => query === `identifier=${i.system}|${i.value}`));
      if (existing) {
        return existing;
      }
      const created = { ...task, id: `t${tasks.length + 1}` };
      tasks.push(created);
      return created;
    },
  };
  return { medplum: medplum as unknown as MedplumClient, tasks, searches };
}

function signed(body: string, timestamp = String(Math.floor(NOW / 1000)), secret = SECRET): Record<string, string> {
  const signature = createHmac('sha256', secret)
    .update(timestamp + body)
    .digest('hex')
    .toUpperCase();
  return { 'x-oura-signature': signature, 'x-oura-timestamp': timestamp, 'content-type': 'application/json' };
}

function event(
  input: unknown,
  extra: Partial<BotEvent<unknown>> = {},
  secrets: Record<string, string> = {}
): BotEvent<unknown> {
  const all = { OURA_CLIENT_SECRET: SECRET, ...secrets };
  return {
    bot: { reference: 'Bot/oura-webhook' },
    contentType: typeof input === 'string' ? 'text/plain' : 'application/json',
    input,
    secrets: Object.fromEntries(Object.entries(all).map(([name, valueString]) => [name, { name, valueString }])),
    ...extra,
  } as BotEvent<unknown>;
}

let logs: string[];
beforeEach(() => {
  vi.useFakeTimers({ now: NOW, toFake: ['Date'] });
  logs = [];
  vi.spyOn(console, 'log').mockImplementation((line: string) => {
    logs.push(line);
  });
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('signed deliveries (raw body)', () => {
  test('a verified delivery queues one sync Task naming the document; Oura retries of it queue nothing more', async () => {
    const { medplum, tasks } = fakeMedplum([connection()]);
    const raw = JSON.stringify(DELIVERY);
    expect(await handler(medplum, event(raw, { headers: signed(raw) }))).toBeUndefined();
    expect(
      await handler(medplum, event(raw, { headers: signed(raw, String(Math.floor(NOW / 1000) + 60)) }))
    ).toBeUndefined();
    expect(tasks).toHaveLength(1);
    const input = readTaskInput(tasks[0] ?? ({} as Task));
    expect(input).toMatchObject({
      kind: 'sync',
      provider: 'oura',
      patient: { reference: 'Patient/p1' },
      connection: { reference: 'Basic/c1' },
      recordType: 'sleep',
      recordId: 'sleep-doc-1',
      eventType: 'update.sleep',
    });
    expect(input.dedupeKey).toMatch(/^oura:event:[0-9a-f]{40}$/);
    expect(logs).toEqual([
      JSON.stringify({ bot: 'oura-webhook', outcome: 'queued', verified: true }),
      JSON.stringify({ bot: 'oura-webhook', outcome: 'queued', verified: true }),
    ]);
  });

  test('a later event for the same document is a new Task', async () => {
    const { medplum, tasks } = fakeMedplum([connection()]);
    for (const eventTime of ['2026-11-21T11:59:30+00:00', '2026-11-21T11:59:50+00:00']) {
      const raw = JSON.stringify({ ...DELIVERY, event_time: eventTime });
      await handler(medplum, event(raw, { headers: signed(raw) }));
    }
    expect(tasks).toHaveLength(2);
  });

  test.each([
    ['Rejected Oura webhook: Invalid signature', (raw: string) => ({ headers: signed(raw, undefined, 'wrong') })],
    [
      'Rejected Oura webhook: Invalid signature',
      (raw: string) => ({ input: raw.replace('sleep-doc-1', 'other'), headers: signed(raw) }),
    ],
    ['Rejected Oura webhook: Missing x-oura-signature header', () => ({ headers: {} })],
    [
      'Rejected Oura webhook: Signature timestamp outside the allowed window',
      (raw: string) => ({ headers: signed(raw, String(Math.floor(NOW / 1000) - 301)) }),
    ],
  ] as const)('%s — nothing queued', async (message, override) => {
    const { medplum, tasks, searches } = fakeMedplum([connection()]);
    const raw = JSON.stringify(DELIVERY);
    const { input, headers } = { input: raw, ...override(raw) };
    await expect(handler(medplum, event(input, { headers }))).rejects.toThrow(message);
    expect(tasks).toEqual([]);
    expect(searches).toEqual([]);
  });

  test('fails closed without OURA_CLIENT_SECRET', async () => {
    const { medplum, tasks } = fakeMedplum([connection()]);
    const raw = JSON.stringify(DELIVERY);
    const e = event(raw, { headers: signed(raw) });
    await expect(handler(medplum, { ...e, secrets: {} })).rejects.toThrow(
      'Rejected Oura webhook: Missing webhook secret'
    );
    expect(tasks).toEqual([]);
  });

  test('a verified body that is not JSON, or not an Oura delivery, is refused', async () => {
    const { medplum } = fakeMedplum([connection()]);
    await expect(handler(medplum, event('not json', { headers: signed('not json') }))).rejects.toThrow(
      'Rejected Oura webhook: body is not JSON'
    );
    const raw = JSON.stringify({ hello: 'world' });
    await expect(handler(medplum, event(raw, { headers: signed(raw) }))).rejects.toThrow(
      'Rejected Oura webhook: body is not an Oura notification'
    );
  });
});

describe('the same answer for everyone', () => {
  test('an unmapped data type is acknowledged without a lookup', async () => {
    const { medplum, tasks, searches } = fakeMedplum([connection()]);
    const raw = JSON.stringify({ ...DELIVERY, data_type: 'enhanced_tag' });
    expect(await handler(medplum, event(raw, { headers: signed(raw) }))).toBeUndefined();
    expect([tasks, searches]).toEqual([[], []]);
  });

  test('an unknown user and a disconnected one get the same empty answer; no ids are logged', async () => {
    for (const connections of [[], [connection('disconnected')]]) {
      const { medplum, tasks } = fakeMedplum(connections);
      const raw = JSON.stringify(DELIVERY);
      expect(await handler(medplum, event(raw, { headers: signed(raw) }))).toBeUndefined();
      expect(tasks).toEqual([]);
    }
    expect(logs.every((line) => !line.includes(OURA_USER_ID) && !line.includes('sleep-doc-1'))).toBe(true);
  });
});

describe('unsigned deliveries (parsed JSON, Medplum 5.0): hints', () => {
  test('a parsed body is a bounded hint: record Tasks up to the hourly budget, then one reconcile window', async () => {
    const { medplum, tasks } = fakeMedplum([connection()]);
    for (let i = 0; i < HINTS_PER_HOUR + 3; i++) {
      await handler(medplum, event({ ...DELIVERY, object_id: `doc-${i}` }));
    }
    const inputs = tasks.map((t) => readTaskInput(t));
    expect(inputs.filter((i) => i.recordId !== undefined)).toHaveLength(HINTS_PER_HOUR);
    expect(inputs.filter((i) => i.window !== undefined)).toHaveLength(1);
    expect(inputs[0]).toMatchObject({ recordType: 'sleep', recordId: 'doc-0', eventType: 'update.sleep' });
    expect(tasks.every((t) => t.identifier?.[0]?.system === TASK_IDENTIFIER_SYSTEM)).toBe(true);
  });

  test('OURA_WEBHOOK_SIGNED_ONLY=true refuses a parsed body', async () => {
    const { medplum, tasks } = fakeMedplum([connection()]);
    await expect(handler(medplum, event(DELIVERY, {}, { OURA_WEBHOOK_SIGNED_ONLY: 'true' }))).rejects.toThrow(
      'Rejected Oura webhook: Missing raw body'
    );
    expect(tasks).toEqual([]);
  });

  test('a parsed body without the secret, or not JSON, is refused', async () => {
    const { medplum } = fakeMedplum([connection()]);
    await expect(handler(medplum, { ...event(DELIVERY), secrets: {} })).rejects.toThrow(
      'Rejected Oura webhook: Missing webhook secret'
    );
    await expect(
      handler(medplum, event(DELIVERY, { contentType: 'application/x-www-form-urlencoded' }))
    ).rejects.toThrow('Rejected Oura webhook: body is not JSON');
  });
});
