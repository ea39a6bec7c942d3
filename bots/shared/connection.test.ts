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
  ofLink,
  withNewLink,
  withStatus,
  withTokenExpiry,
  withoutLegacyTokens,
} from './connection.ts';
import { buildTask } from './tasks.ts';

const now = new Date('2026-11-21T12:00:00.000Z');
const BLOB = 'v1.k1.aaaa.bbbb.cccc';
const LINK = 'link-one';

function connection(): Basic {
  return {
    ...buildConnection({
      provider: 'whoop',
      patient: { reference: 'Patient/p1' },
      providerUserId: '10129',
      linkId: LINK,
      tokenExpiresAt: '2026-11-21T13:00:00.000Z',
      now,
    }),
    id: 'c1',
  };
}

/** A record as written before the token store: the v1 blob on the connection itself. */
function legacyConnection(): Basic {
  return withExtension(connection(), CONNECTION_EXTENSION.tokens, { valueString: BLOB });
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
      linkId: LINK,
      legacyTokens: undefined,
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
        linkId: LINK,
        tokenExpiresAt: now.toISOString(),
        now,
      })
    ).toThrow('Connection subject must be a Patient/<id> reference, got Practitioner/x');
  });

  test('malformed records throw a clear error that never echoes the token blob', () => {
    expect(() => parseConnection({ ...legacyConnection(), code: { text: 'x' } })).toThrow(
      'Basic/c1 is not a valid connection: code is not wearable-connection'
    );
    const badStatus = withExtension(connection(), CONNECTION_EXTENSION.status, { valueCode: 'bogus' });
    expect(() => parseConnection(badStatus)).toThrow(/^Basic\/c1 is not a valid connection: status /);
    const noUser = { ...connection(), identifier: connection().identifier?.slice(0, 1) };
    expect(() => parseConnection(noUser)).toThrow(/providerUserId/);
    const badExpiry = withExtension(legacyConnection(), CONNECTION_EXTENSION.tokenExpiresAt, { valueDateTime: 'soon' });
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
  test('a connection built now holds no token material; a legacy record is read and can be cleared', () => {
    expect(JSON.stringify(connection())).not.toContain('v1.');
    expect(parseConnection(legacyConnection()).legacyTokens).toBe(BLOB);
    expect(parseConnection(withoutLegacyTokens(legacyConnection())).legacyTokens).toBeUndefined();
  });

  test('withTokenExpiry sets the expiry, releases the lease, clears the error and a legacy blob, reactivates', () => {
    const expired = withRefreshLease(withStatus(legacyConnection(), 'credentials-expired', 'refresh rejected'), now);
    const renewed = parseConnection(withTokenExpiry(expired, '2026-11-21T14:00:00.000Z'));
    expect(renewed).toMatchObject({
      status: 'active',
      legacyTokens: undefined,
      lastError: undefined,
      refreshLeaseUntil: undefined,
    });
    expect(renewed.tokenExpiresAt).toBe('2026-11-21T14:00:00.000Z');
  });

  test('withStatus disconnected drops a legacy blob and the expiry', () => {
    const parsed = parseConnection(withStatus(legacyConnection(), 'disconnected'));
    expect(parsed.status).toBe('disconnected');
    expect(parsed.legacyTokens).toBeUndefined();
    expect(parsed.tokenExpiresAt).toBeUndefined();
  });

  test('withNewLink: a reconnect takes the new account, link, device and day, and forgets the old bookkeeping', () => {
    const old = withLastSync(withStatus(legacyConnection(), 'disconnected', 'gone'), now);
    const later = new Date('2026-12-01T00:00:00.000Z');
    const relinked = parseConnection(
      withNewLink(old, {
        providerUserId: '20000',
        linkId: 'link-two',
        tokenExpiresAt: '2026-12-01T01:00:00.000Z',
        device: { reference: 'Device/d2' },
        now: later,
      })
    );
    expect(relinked).toMatchObject({
      status: 'active',
      providerUserId: '20000',
      linkId: 'link-two',
      connectedAt: '2026-12-01',
      device: { reference: 'Device/d2' },
      legacyTokens: undefined,
      lastSync: undefined,
      lastError: undefined,
    });
    expect(relinked.resource.identifier?.filter((i) => i.system === providerUserIdSystem('whoop'))).toHaveLength(1);
  });

  test('ofLink: a Task belongs to the link its identifier names', () => {
    const task = buildTask({
      kind: 'backfill',
      patient: { reference: 'Patient/p1' },
      connection: { reference: 'Basic/c1' },
      provider: 'whoop',
      dedupeKey: `whoop:backfill:c1:${LINK}:2026-01-01T00:00:00.000Z`,
    });
    expect(ofLink(task, LINK)).toBe(true);
    expect(ofLink(task, 'other-link')).toBe(false);
    expect(ofLink(task, undefined)).toBe(true);
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
        dedupeKey: `whoop:backfill:c1:${LINK}:${status}`,
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
      make('completed', { identifier: [{ value: 'whoop:backfill:c1:previous-link:x' }] }),
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

describe('erase progress', () => {
  test("the view shows the current link's erase chain: open until every Task of it is done, with the total deleted", () => {
    const basic = withStatus(connection(), 'disconnected');
    const erase = (seq: number, status: Task['status'], deleted?: number, link = LINK): Task => ({
      ...buildTask({
        kind: 'erase',
        patient: { reference: 'Patient/p1' },
        connection: { reference: 'Basic/c1' },
        provider: 'whoop',
        dedupeKey: `whoop:erase:c1:${link}:${seq}`,
      }),
      status,
      ...(deleted === undefined
        ? {}
        : {
            output: [
              {
                type: { coding: [{ system: 'https://baseline.health/fhir/CodeSystem/task-output', code: 'deleted' }] },
                valueInteger: deleted,
              },
            ],
          }),
    });
    const running = toConnectionView(parseConnection(basic), [erase(0, 'completed', 500), erase(1, 'requested')]);
    expect(running.erase).toEqual({ status: 'requested', deleted: 500 });
    const done = toConnectionView(parseConnection(basic), [
      erase(0, 'completed', 500),
      erase(1, 'completed', 73),
      erase(0, 'completed', 9000, 'previous-link'),
    ]);
    expect(done.erase).toEqual({ status: 'completed', deleted: 573 });
    expect(toConnectionView(parseConnection(basic), []).erase).toBeUndefined();
  });
});
