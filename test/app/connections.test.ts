import { describe, expect, test } from 'vitest';
import type { z } from 'zod';
import {
  backfillProgress,
  connectionFor,
  ConnectionsResponseSchema,
  connectionState,
  ConnectStartResponseSchema,
  DisconnectResponseSchema,
  isBusy,
  isErasing,
} from '../../app/src/lib/connections.ts';
import type { ConnectionView } from '../../app/src/lib/connections.ts';
import { formatZodIssues } from '../../app/src/lib/zod-issues.ts';

const ACTIVE: ConnectionView = {
  provider: 'whoop',
  status: 'active',
  connectedAt: '2026-03-01T10:00:00.000Z',
  lastSyncAt: '2026-03-10T09:00:00.000Z',
  lastError: undefined,
  deviceId: 'dev-1',
  backfill: { total: 30, completed: 12, failed: 1, inProgress: 17 },
  erase: undefined,
};

function issues(schema: z.ZodType, value: unknown): string {
  const parsed = schema.safeParse(value);
  if (parsed.success) {
    throw new Error('expected the parse to fail');
  }
  return formatZodIssues(parsed.error);
}

describe('ConnectionsResponseSchema', () => {
  test('rejects an unknown status', () => {
    expect(issues(ConnectionsResponseSchema, { connections: [{ ...ACTIVE, status: 'paused' }] })).toBe(
      'connections.0.status: Invalid option: expected one of "active"|"credentials-expired"|"disconnected"'
    );
  });

  test('rejects a connectedAt that is not a date', () => {
    expect(issues(ConnectionsResponseSchema, { connections: [{ ...ACTIVE, connectedAt: 'yesterday' }] })).toBe(
      'connections.0.connectedAt: Invalid date-time'
    );
  });

  test('reads an empty connectedAt as unknown instead of rejecting the whole list', () => {
    const parsed = ConnectionsResponseSchema.parse({ connections: [{ ...ACTIVE, connectedAt: '' }] });
    expect(parsed.connections[0]?.connectedAt).toBeUndefined();
  });

  test('rejects negative or fractional counts', () => {
    const bad = { ...ACTIVE, backfill: { total: 3, completed: -1, failed: 0.5, inProgress: 0 } };
    expect(issues(ConnectionsResponseSchema, { connections: [bad] })).toBe(
      'connections.0.backfill.completed: Too small: expected number to be >=0; ' +
        'connections.0.backfill.failed: Invalid input: expected int, received number'
    );
  });

  test('rejects a response without the connections array', () => {
    expect(issues(ConnectionsResponseSchema, [ACTIVE])).toBe('(root): Invalid input: expected object, received array');
  });

  test('reads null optional fields as absent and keeps the rest', () => {
    const parsed = ConnectionsResponseSchema.parse({
      connections: [{ ...ACTIVE, lastSyncAt: null, lastError: null, deviceId: null }],
    });
    expect(parsed.connections[0]).toEqual({
      ...ACTIVE,
      lastSyncAt: undefined,
      lastError: undefined,
      deviceId: undefined,
    });
  });
});

describe('ConnectStartResponseSchema', () => {
  test('refuses an authorize URL the window must not navigate to', () => {
    expect(issues(ConnectStartResponseSchema, { authorizeUrl: 'javascript:alert(1)' })).toBe(
      'authorizeUrl: authorizeUrl must be an absolute http(s) URL'
    );
  });

  test('accepts the provider authorize URL', () => {
    const url = 'https://api.prod.whoop.com/oauth/oauth2/auth?client_id=c&state=s';
    expect(ConnectStartResponseSchema.parse({ authorizeUrl: url })).toEqual({ authorizeUrl: url });
  });
});

test('DisconnectResponseSchema requires the erased count', () => {
  expect(issues(DisconnectResponseSchema, { connection: { ...ACTIVE, status: 'disconnected' } })).toBe(
    'erased: Invalid input: expected number, received undefined'
  );
});

test('DisconnectResponseSchema reads the revoke outcome when the bot reports it', () => {
  const connection = { ...ACTIVE, status: 'disconnected' };
  expect(DisconnectResponseSchema.parse({ connection, erased: 3, revoked: false })).toMatchObject({
    erased: 3,
    revoked: false,
  });
  expect(DisconnectResponseSchema.parse({ connection, erased: 0 }).revoked).toBeUndefined();
});

describe('connection state', () => {
  test('a disconnected connection looks like none at all', () => {
    expect(connectionState(undefined)).toBe('not-connected');
    expect(connectionState({ ...ACTIVE, status: 'disconnected' })).toBe('not-connected');
    expect(connectionState({ ...ACTIVE, status: 'credentials-expired' })).toBe('credentials-expired');
    expect(connectionState(ACTIVE)).toBe('active');
  });

  test('connectionFor prefers the live connection over a stale disconnected one', () => {
    const old = { ...ACTIVE, status: 'disconnected' as const, connectedAt: '2025-01-01T00:00:00Z' };
    expect(connectionFor([old, ACTIVE], 'whoop')).toBe(ACTIVE);
    expect(connectionFor([old], 'whoop')).toBe(old);
    expect(connectionFor([ACTIVE], 'oura')).toBeUndefined();
  });

  test('busy while Tasks are unfinished, never once disconnected', () => {
    expect(isBusy(ACTIVE)).toBe(true);
    expect(isBusy({ ...ACTIVE, backfill: { ...ACTIVE.backfill, inProgress: 0 } })).toBe(false);
    expect(isBusy({ ...ACTIVE, status: 'disconnected' })).toBe(false);
    // A disconnected connection whose erase still runs keeps the page polling, so the card shows its progress.
    const erasing: ConnectionView = {
      ...ACTIVE,
      status: 'disconnected',
      erase: { status: 'in-progress', deleted: 300 },
    };
    expect(isErasing(erasing)).toBe(true);
    expect(isBusy(erasing)).toBe(true);
    const erased: ConnectionView = { ...erasing, erase: { status: 'completed', deleted: 2489 } };
    expect(isErasing(erased)).toBe(false);
    expect(isBusy(erased)).toBe(false);
  });
});

describe('backfillProgress', () => {
  test('part done, part failed', () => {
    expect(backfillProgress(ACTIVE.backfill)).toEqual({
      total: 30,
      completed: 12,
      failed: 1,
      completedPercent: 40,
      failedPercent: 3.3,
      finished: false,
      summary: '12 of 30 import batches done, 1 failed',
    });
  });

  test('all done', () => {
    const p = backfillProgress({ total: 5, completed: 5, failed: 0, inProgress: 0 });
    expect([p.completedPercent, p.failedPercent, p.finished, p.summary]).toEqual([
      100,
      0,
      true,
      'History imported: all 5 import batches done',
    ]);
  });

  test('finished with failures says so', () => {
    const p = backfillProgress({ total: 4, completed: 3, failed: 1, inProgress: 0 });
    expect([p.finished, p.summary]).toEqual([true, '3 of 4 import batches done, 1 failed']);
  });

  test('counts above the total are clamped so the bar never passes 100%', () => {
    const p = backfillProgress({ total: 10, completed: 8, failed: 5, inProgress: 0 });
    expect([p.completed, p.failed, p.completedPercent + p.failedPercent]).toEqual([8, 2, 100]);
  });

  test('cancelled Tasks (in total, in no bucket) do not keep the import unfinished forever', () => {
    const p = backfillProgress({ total: 10, completed: 6, failed: 0, inProgress: 0 });
    expect([p.total, p.finished, p.completedPercent, p.summary]).toEqual([
      6,
      true,
      100,
      'History imported: all 6 import batches done',
    ]);
  });

  test('nothing queued', () => {
    const p = backfillProgress({ total: 0, completed: 0, failed: 0, inProgress: 0 });
    expect([p.finished, p.completedPercent, p.summary]).toEqual([true, 0, 'No history import has been queued']);
  });
});
