/**
 * The Withings webhook bot over an in-memory stand-in for the two Medplum calls it makes (connection search, Task
 * create-if-none-exist): bad input by its exact message, the same silent answer for unknown users, ignored
 * categories, and the queued Task's shape (a hint: category + named window, nothing trusted).
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Basic, Task } from '@medplum/fhirtypes';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { CONNECTION_CODE_TOKEN, buildConnection, withStatus } from '../shared/connection.ts';
import { HINTS_PER_HOUR } from '../shared/queue.ts';
import { readTaskInput } from '../shared/tasks.ts';
import { handler } from './withings-webhook.ts';

const FORM = 'application/x-www-form-urlencoded';

interface Fake {
  medplum: MedplumClient;
  tasks: Task[];
  searches: Record<string, string>[];
}

function fakeMedplum(connections: Basic[]): Fake {
  const tasks: Task[] = [];
  const searches: Record<string, string>[] = [];
  const medplum = {
    searchResources: vi.fn((type: string, query: Record<string, string>) => {
      searches.push({ type, ...query });
      if (type === 'Basic') {
        const wanted = query.identifier ?? '';
        return Promise.resolve(
          connections.filter((c) => c.identifier?.some((i) => `${i.system}|${i.value}` === wanted))
        );
      }
      const keys = (query.identifier ?? '').split(',');
      return Promise.resolve(tasks.filter((t) => t.identifier?.some((i) => keys.includes(`${i.system}|${i.value}`))));
    }),
    createResourceIfNoneExist: vi.fn((task: Task, query: string) => {
      const existing = tasks.find((t) => t.identifier?.some((i) => query.endsWith(`${i.system}|${i.value}`)));
      if (existing) {
        return Promise.resolve(existing);
      }
      const created = { ...task, id: `task-${tasks.length + 1}` };
      tasks.push(created);
      return Promise.resolve(created);
    }),
  } as unknown as MedplumClient;
  return { medplum, tasks, searches };
}

function connection(userId: string, patient = 'p1'): Basic {
  return {
    ...buildConnection({
      provider: 'withings',
      patient: { reference: `Patient/${patient}` },
      providerUserId: userId,
      linkId: 'link-1',
      tokenExpiresAt: '2026-11-02T15:00:00Z',
      now: new Date('2026-11-01T00:00:00Z'),
    }),
    id: `conn-${patient}`,
  };
}

function event(input: unknown, contentType = FORM): BotEvent<unknown> {
  return { bot: { reference: 'Bot/withings-webhook' }, contentType, input, secrets: {} } as BotEvent<unknown>;
}

const BODY = { userid: '363', appli: '44', startdate: '1618691453', enddate: '1618713173' };

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-11-02T10:15:00Z'), toFake: ['Date'] });
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('withings-webhook', () => {
  test('queues one sync Task for the active connection: category, named window, appli', async () => {
    const fake = fakeMedplum([connection('363')]);
    await expect(handler(fake.medplum, event(BODY))).resolves.toBeUndefined();
    expect(fake.tasks).toHaveLength(1);
    const task = readTaskInput(fake.tasks[0] as Task);
    expect(task).toMatchObject({
      kind: 'sync',
      provider: 'withings',
      patient: { reference: 'Patient/p1' },
      connection: { reference: 'Basic/conn-p1' },
      recordType: 'sleep',
      recordId: '1618691453-1618713173',
      eventType: 'appli-44',
      window: undefined,
    });
    expect(task.dedupeKey).toBe('withings:hint:conn-p1:link-1:2026-11-02T10:0');
    expect(fake.searches[0]).toEqual({
      type: 'Basic',
      code: CONNECTION_CODE_TOKEN,
      identifier: 'https://baseline.health/fhir/identifier/withings/user-id|363',
    });
  });

  test.each([
    ['1', 'measure'],
    ['2', 'measure'],
    ['4', 'measure'],
    ['16', 'activity'],
  ])('appli %s is queued as %s', async (appli, recordType) => {
    const fake = fakeMedplum([connection('363')]);
    await handler(fake.medplum, event({ ...BODY, appli }));
    expect(readTaskInput(fake.tasks[0] as Task).recordType).toBe(recordType);
  });

  test('without dates the window is left to the sync plan', async () => {
    const fake = fakeMedplum([connection('363')]);
    await handler(fake.medplum, event({ userid: '363', appli: '1' }));
    expect(readTaskInput(fake.tasks[0] as Task).recordId).toBe('unspecified');
  });

  test('the same notification twice in an hour holds one slot', async () => {
    const fake = fakeMedplum([connection('363')]);
    await handler(fake.medplum, event(BODY));
    await handler(fake.medplum, event(BODY));
    expect(fake.tasks).toHaveLength(1);
  });

  test('a flood of forged hints collapses into one reconcile window', async () => {
    const fake = fakeMedplum([connection('363')]);
    for (let n = 0; n < 20; n++) {
      await handler(fake.medplum, event({ ...BODY, startdate: String(1000 + n), enddate: String(2000 + n) }));
    }
    expect(fake.tasks).toHaveLength(HINTS_PER_HOUR + 1);
    const reconcile = readTaskInput(fake.tasks[HINTS_PER_HOUR] as Task);
    expect(reconcile.window).toEqual({ start: '2026-10-31T10:15:00.000Z', end: '2026-11-02T10:15:00.000Z' });
  });

  test('an unknown user gets the same empty answer and nothing is queued', async () => {
    const fake = fakeMedplum([connection('363')]);
    await expect(handler(fake.medplum, event({ ...BODY, userid: '999' }))).resolves.toBeUndefined();
    expect(fake.tasks).toEqual([]);
  });

  test('a disconnected connection gets nothing; the active one of a relinked account does', async () => {
    const old = withStatus(connection('363', 'old'), 'disconnected');
    const fake = fakeMedplum([old]);
    await handler(fake.medplum, event(BODY));
    expect(fake.tasks).toEqual([]);
    const both = fakeMedplum([old, connection('363', 'new')]);
    await handler(both.medplum, event(BODY));
    expect(readTaskInput(both.tasks[0] as Task).patient).toEqual({ reference: 'Patient/new' });
  });

  test.each(['46', '50', '51', '54', '58'])(
    'appli %s is acknowledged and ignored (46 delete retracts nothing)',
    async (appli) => {
      const fake = fakeMedplum([connection('363')]);
      await expect(handler(fake.medplum, event({ userid: '363', appli, action: 'delete' }))).resolves.toBeUndefined();
      expect(fake.tasks).toEqual([]);
      expect(fake.searches).toEqual([]);
    }
  );

  test.each([
    [{ appli: '44' }, 'Rejected Withings notification: invalid userid'],
    [{ userid: 'abc', appli: '44' }, 'Rejected Withings notification: invalid userid'],
    [{ userid: '363' }, 'Rejected Withings notification: invalid appli'],
    [{ userid: '363', appli: '44', startdate: 'yesterday' }, 'Rejected Withings notification: invalid startdate'],
    [
      { userid: '363', appli: '44', startdate: '20', enddate: '10' },
      'Rejected Withings notification: startdate is after enddate',
    ],
    [{ userid: ['1', '2'], appli: '44' }, 'Rejected Withings notification: invalid userid'],
  ])('%j → %s', async (body, message) => {
    const fake = fakeMedplum([connection('363')]);
    await expect(handler(fake.medplum, event(body))).rejects.toThrow(message);
    expect(fake.tasks).toEqual([]);
  });

  test('a body that is not a form is rejected', async () => {
    const fake = fakeMedplum([connection('363')]);
    await expect(handler(fake.medplum, event(BODY, 'application/json'))).rejects.toThrow(
      'Rejected Withings notification: not a form-urlencoded body'
    );
    await expect(handler(fake.medplum, event('userid=363&appli=44'))).rejects.toThrow(
      'Rejected Withings notification: body is not a form'
    );
    expect(fake.tasks).toEqual([]);
  });

  test('logs carry no ids', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const fake = fakeMedplum([connection('363')]);
    await handler(fake.medplum, event(BODY));
    await handler(fake.medplum, event({ ...BODY, userid: '999' }));
    const lines = log.mock.calls.map((c) => String(c[0]));
    expect(lines).toEqual([
      '{"bot":"withings-webhook","outcome":"record"}',
      '{"bot":"withings-webhook","outcome":"no active connection"}',
    ]);
  });
});
