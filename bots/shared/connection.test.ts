import type { Basic, Task } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import {
  CONNECTION_EXTENSION,
  CONNECTION_IDENTIFIER_SYSTEM,
  TASK_EXTENSION,
  providerUserIdSystem,
} from './extensions.ts';
import {
  BASIC_TYPE_SYSTEM,
  CONNECTION_CODE,
  CONNECTION_CRITERIA,
  buildConnection,
  connectionIdentifier,
  parseConnection,
  refreshLeaseHeld,
  toConnectionView,
  tokenNeedsRefresh,
  withDevice,
  withLastSync,
  withRefreshLease,
  withStatus,
  withTokens,
} from './connection.ts';
import { buildTask } from './tasks.ts';

const now = new Date('2026-11-21T12:00:00.000Z');
const BLOB = 'v1.k1.aaaa.bbbb.cccc';

function connection(): Basic {
  return {
    ...buildConnection({
      provider: 'whoop',
      patient: { reference: 'Patient/p1' },
      providerUserId: '10129',
      tokens: BLOB,
      tokenExpiresAt: '2026-11-21T13:00:00.000Z',
      now,
    }),
    id: 'c1',
  };
}

describe('constants', () => {
  test('match the values data/core/connection.ts has always exported', () => {
    expect(BASIC_TYPE_SYSTEM).toBe('https://baseline.health/fhir/CodeSystem/basic-resource-type');
    expect(CONNECTION_CODE).toBe('wearable-connection');
    expect(CONNECTION_CRITERIA).toBe(`Basic?code=${BASIC_TYPE_SYSTEM}|wearable-connection`);
  });
});

describe('buildConnection / parseConnection', () => {
  test('round trip', () => {
    const basic = connection();
    expect(basic.identifier).toEqual([
      { system: CONNECTION_IDENTIFIER_SYSTEM, value: 'whoop:p1' },
      { system: providerUserIdSystem('whoop'), value: '10129' },
    ]);
    expect(connectionIdentifier('whoop', 'p1')).toEqual(basic.identifier?.[0]);
    const parsed = parseConnection(basic);
    expect(parsed).toMatchObject({
      id: 'c1',
      provider: 'whoop',
      patient: { reference: 'Patient/p1' },
      patientId: 'p1',
      providerUserId: '10129',
      status: 'active',
      connectedAt: '2026-11-21',
      tokens: BLOB,
      tokenExpiresAt: '2026-11-21T13:00:00.000Z',
      device: undefined,
    });
  });

  test('a non-Patient subject is refused when building', () => {
    expect(() =>
      buildConnection({
        provider: 'whoop',
        patient: { reference: 'Practitioner/x' } as never,
        providerUserId: '1',
        tokens: BLOB,
        tokenExpiresAt: now.toISOString(),
        now,
      })
    ).toThrow('Connection subject must be a Patient reference, got Practitioner/x');
  });

  test('malformed records throw a clear error that never echoes the token blob', () => {
    expect(() => parseConnection({ ...connection(), code: { text: 'x' } })).toThrow(
      'Basic/c1 is not a valid connection: code is not wearable-connection'
    );
    const badStatus = withExtension(connection(), CONNECTION_EXTENSION.status, { valueCode: 'bogus' });
    expect(() => parseConnection(badStatus)).toThrow(/^Basic\/c1 is not a valid connection: status /);
    const noUser = { ...connection(), identifier: connection().identifier?.slice(0, 1) };
    expect(() => parseConnection(noUser)).toThrow(/providerUserId/);
    const badExpiry = withExtension(connection(), CONNECTION_EXTENSION.tokenExpiresAt, { valueDateTime: 'soon' });
    let message = '';
    try {
      parseConnection(badExpiry);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/tokenExpiresAt/);
    expect(message).not.toContain(BLOB);
  });
});

function withExtension(basic: Basic, url: string, value: object): Basic {
  return { ...basic, extension: [...(basic.extension ?? []).filter((e) => e.url !== url), { url, ...value }] };
}

describe('updates', () => {
  test('withTokens replaces tokens, releases the lease, clears the error, reactivates', () => {
    const expired = withRefreshLease(withStatus(connection(), 'credentials-expired', 'refresh rejected'), now);
    const renewed = parseConnection(withTokens(expired, 'v1.k1.x.y.z', '2026-11-21T14:00:00.000Z'));
    expect(renewed).toMatchObject({
      status: 'active',
      tokens: 'v1.k1.x.y.z',
      lastError: undefined,
      refreshLeaseUntil: undefined,
    });
    expect(renewed.tokenExpiresAt).toBe('2026-11-21T14:00:00.000Z');
  });

  test('withStatus disconnected drops the tokens', () => {
    const parsed = parseConnection(withStatus(connection(), 'disconnected'));
    expect(parsed.status).toBe('disconnected');
    expect(parsed.tokens).toBeUndefined();
    expect(parsed.tokenExpiresAt).toBeUndefined();
  });

  test('refresh lease, last sync, device', () => {
    const leased = parseConnection(withRefreshLease(connection(), new Date(now.getTime() + 30_000)));
    expect(refreshLeaseHeld(leased, now)).toBe(true);
    expect(refreshLeaseHeld(leased, new Date(now.getTime() + 31_000))).toBe(false);
    expect(refreshLeaseHeld(parseConnection(withRefreshLease(connection(), undefined)), now)).toBe(false);
    const synced = parseConnection(withDevice(withLastSync(connection(), now), { reference: 'Device/d1' }));
    expect(synced.lastSync).toBe(now.toISOString());
    expect(synced.device).toEqual({ reference: 'Device/d1' });
  });
});

describe('tokenNeedsRefresh', () => {
  test('refreshes within the skew before expiry and when the expiry is unknown', () => {
    const parsed = parseConnection(connection());
    expect(tokenNeedsRefresh(parsed, now)).toBe(false);
    expect(tokenNeedsRefresh(parsed, new Date('2026-11-21T12:55:00.000Z'))).toBe(true);
    expect(tokenNeedsRefresh(parsed, new Date('2026-11-21T12:54:59.000Z'))).toBe(false);
    expect(tokenNeedsRefresh(parsed, now, 61 * 60_000)).toBe(true);
    expect(tokenNeedsRefresh(parseConnection(withStatus(connection(), 'disconnected')), now)).toBe(true);
  });
});

describe('toConnectionView', () => {
  test('counts backfill progress for this connection and exposes no secrets', () => {
    const basic = withDevice(withLastSync(withStatus(connection(), 'active', 'last run: WHOOP 500'), now), {
      reference: 'Device/d1',
    });
    const make = (status: Task['status'], extra: Partial<Task> = {}): Task => ({
      ...buildTask({
        kind: 'backfill',
        patient: { reference: 'Patient/p1' },
        connection: { reference: 'Basic/c1' },
        provider: 'whoop',
        dedupeKey: `k-${status}`,
      }),
      status,
      ...extra,
    });
    const tasks: Task[] = [
      make('completed'),
      make('completed'),
      make('failed'),
      make('failed', { extension: [{ url: TASK_EXTENSION.nextAttempt, valueDateTime: now.toISOString() }] }),
      make('in-progress'),
      make('requested'),
      make('completed', { focus: { reference: 'Basic/other' } }),
      {
        ...make('completed'),
        code: { coding: [{ system: 'https://baseline.health/fhir/CodeSystem/task-type', code: 'sync' }] },
      },
    ];
    const view = toConnectionView(parseConnection(basic), tasks);
    expect(view).toEqual({
      provider: 'whoop',
      status: 'active',
      connectedAt: '2026-11-21',
      lastSyncAt: now.toISOString(),
      lastError: 'last run: WHOOP 500',
      deviceId: 'd1',
      backfill: { total: 6, completed: 2, failed: 1, inProgress: 3 },
    });
    const text = JSON.stringify(view);
    expect(text).not.toContain(BLOB);
    expect(text).not.toContain('10129');
  });
});
