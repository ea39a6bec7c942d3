import { describe, expect, test } from 'vitest';
import { ProviderHttpError } from '../shared/http.ts';
import type { BotSecrets } from '../shared/secrets.ts';
import type { NewSubscription } from './client.ts';
import type { OuraSubscription } from './schemas.ts';
import {
  ouraNotificationHooks,
  planSubscriptionUpkeep,
  RENEW_WITHIN_MS,
  runSubscriptionUpkeep,
  WANTED_KINDS,
} from './subscriptions.ts';

const URL_OURS = 'https://edge.example/webhook/oura';
const DAY = 86_400_000;
const t0 = new Date('2026-01-01T00:00:00Z');

function sub(id: string, expiresInMs: number, extra: Partial<OuraSubscription> = {}): OuraSubscription {
  return {
    id,
    callback_url: URL_OURS,
    event_type: 'update',
    data_type: 'sleep',
    expiration_time: new Date(t0.getTime() + expiresInMs).toISOString().replace('.000Z', '+00:00'),
    ...extra,
  };
}

const one = { callbackUrl: URL_OURS, kinds: [{ eventType: 'update', dataType: 'sleep' }] } as const;

describe('planSubscriptionUpkeep', () => {
  test('wants create, update and delete for every mapped data type (21)', () => {
    expect(WANTED_KINDS).toHaveLength(21);
    expect(WANTED_KINDS).toContainEqual({ eventType: 'delete', dataType: 'daily_stress' });
    expect(RENEW_WITHIN_MS).toBe(7 * DAY);
  });

  test('expiring in 8 days → nothing; in 6 days → renew; past → recreate; missing → create', () => {
    expect(planSubscriptionUpkeep([sub('a', 8 * DAY)], one, t0)).toEqual([]);
    expect(planSubscriptionUpkeep([sub('a', 6 * DAY)], one, t0)).toEqual([
      { kind: 'renew', id: 'a', eventType: 'update', dataType: 'sleep' },
    ]);
    expect(planSubscriptionUpkeep([sub('a', -1000)], one, t0)).toEqual([
      { kind: 'recreate', id: 'a', eventType: 'update', dataType: 'sleep' },
    ]);
    expect(planSubscriptionUpkeep([], one, t0)).toEqual([{ kind: 'create', eventType: 'update', dataType: 'sleep' }]);
  });

  test('advancing the clock moves one subscription through nothing → renew → recreate', () => {
    const existing = [sub('a', 30 * DAY)];
    const at = (days: number) => new Date(t0.getTime() + days * DAY);
    expect(planSubscriptionUpkeep(existing, one, at(22)).map((a) => a.kind)).toEqual([]);
    expect(planSubscriptionUpkeep(existing, one, at(23)).map((a) => a.kind)).toEqual(['renew']);
    expect(planSubscriptionUpkeep(existing, one, at(29.9)).map((a) => a.kind)).toEqual(['renew']);
    expect(planSubscriptionUpkeep(existing, one, at(30)).map((a) => a.kind)).toEqual(['recreate']);
  });

  test('a subscription at another callback URL is never touched (ours is created beside it)', () => {
    const foreign = sub('f', -DAY, { callback_url: 'https://other.example/hook' });
    expect(planSubscriptionUpkeep([foreign], one, t0)).toEqual([
      { kind: 'create', eventType: 'update', dataType: 'sleep' },
    ]);
  });

  test('a trailing slash is the same URL; the longest-lived duplicate decides; an unreadable expiry is renewed', () => {
    expect(planSubscriptionUpkeep([sub('a', 30 * DAY, { callback_url: `${URL_OURS}/` })], one, t0)).toEqual([]);
    expect(planSubscriptionUpkeep([sub('old', -DAY), sub('new', 60 * DAY)], one, t0)).toEqual([]);
    expect(planSubscriptionUpkeep([sub('a', 0, { expiration_time: 'soon' })], one, t0)).toEqual([
      { kind: 'renew', id: 'a', eventType: 'update', dataType: 'sleep' },
    ]);
  });
});

function fakeClient(existing: OuraSubscription[], fail: Partial<Record<'list' | 'create' | 'renew', Error>> = {}) {
  const calls: string[] = [];
  const client = {
    listSubscriptions: async () => {
      calls.push('list');
      if (fail.list) {
        throw fail.list;
      }
      return existing;
    },
    createSubscription: async (s: NewSubscription) => {
      calls.push(`create ${s.eventType}.${s.dataType} ${s.callbackUrl} ${s.verificationToken}`);
      if (fail.create) {
        throw fail.create;
      }
      return 'created' as const;
    },
    renewSubscription: async (id: string) => {
      calls.push(`renew ${id}`);
      if (fail.renew) {
        throw fail.renew;
      }
      return sub(id, 90 * DAY);
    },
    deleteSubscription: async (id: string) => {
      calls.push(`delete ${id}`);
    },
  };
  return { client, calls };
}

describe('runSubscriptionUpkeep', () => {
  const wanted = {
    callbackUrl: URL_OURS,
    kinds: [
      { eventType: 'update', dataType: 'sleep' },
      { eventType: 'create', dataType: 'sleep' },
      { eventType: 'delete', dataType: 'sleep' },
      { eventType: 'update', dataType: 'workout' },
    ],
  } as const;

  test('renews, recreates (delete then create) and creates, and counts', async () => {
    const { client, calls } = fakeClient([
      sub('renew-me', 2 * DAY),
      sub('expired', -DAY, { event_type: 'create' }),
      sub('fine', 60 * DAY, { event_type: 'delete' }),
    ]);
    const result = await runSubscriptionUpkeep(client, wanted, 'vt', t0);
    expect(calls).toEqual([
      'list',
      'renew renew-me',
      'delete expired',
      `create create.sleep ${URL_OURS} vt`,
      `create update.workout ${URL_OURS} vt`,
    ]);
    expect(result).toEqual({ renewed: 1, created: 2, failed: 0, createdKinds: ['create.sleep', 'update.workout'] });
  });

  test('a failing action is counted with its reason and the others still run', async () => {
    const refused = new ProviderHttpError({
      provider: 'oura',
      endpoint: 'POST /v2/webhook/subscription',
      kind: 'bad-request',
      status: 422,
    });
    const { client, calls } = fakeClient([sub('renew-me', DAY)], { create: refused });
    const result = await runSubscriptionUpkeep(client, wanted, 'vt', t0);
    expect(calls.filter((c) => c.startsWith('create'))).toHaveLength(3);
    expect(result.renewed).toBe(1);
    expect(result.created).toBe(0);
    expect(result.failed).toBe(3);
    expect(result.detail).toBe(
      'create create.sleep: oura POST /v2/webhook/subscription failed: HTTP 422 (bad-request); ' +
        'create delete.sleep: oura POST /v2/webhook/subscription failed: HTTP 422 (bad-request); ' +
        'create update.workout: oura POST /v2/webhook/subscription failed: HTTP 422 (bad-request)'
    );
  });
});

function secrets(values: Record<string, string>): BotSecrets {
  return Object.fromEntries(Object.entries(values).map(([name, valueString]) => [name, { name, valueString }]));
}

describe('ouraNotificationHooks', () => {
  test('without OURA_WEBHOOK_URL / verification token: a warning, no Oura call, no throw', async () => {
    const { client, calls } = fakeClient([]);
    const hooks = ouraNotificationHooks(secrets({ OURA_WEBHOOK_URL: URL_OURS }), () => client);
    const warning =
      'Oura webhooks are not set up: the Project secret(s) OURA_WEBHOOK_VERIFICATION_TOKEN are not set, so data ' +
      'arrives only through backfill and reconcile windows';
    expect(await hooks.onConnect?.('at', { providerUserId: 'u', now: t0 })).toEqual({ warning });
    expect(await hooks.maintain?.({ now: t0 })).toEqual({ renewed: 0, created: 0, failed: 0, detail: warning });
    expect(calls).toEqual([]);
    expect(hooks.onDisconnect).toBeUndefined();
  });

  test('onConnect creates the 21 subscriptions on a fresh app; maintain then renews nothing until 7 days before expiry', async () => {
    const existing: OuraSubscription[] = [];
    const { client } = fakeClient(existing);
    const created: NewSubscription[] = [];
    const recording = {
      ...client,
      createSubscription: async (s: NewSubscription) => {
        created.push(s);
        existing.push(sub(`id-${created.length}`, 90 * DAY, { event_type: s.eventType, data_type: s.dataType }));
        return 'created' as const;
      },
    };
    const hooks = ouraNotificationHooks(
      secrets({ OURA_WEBHOOK_URL: URL_OURS, OURA_WEBHOOK_VERIFICATION_TOKEN: 'vt' }),
      () => recording
    );
    const connected = await hooks.onConnect?.('at', { providerUserId: 'u', now: t0 });
    expect(connected?.subscribed).toHaveLength(21);
    expect(connected?.warning).toBeUndefined();
    expect(new Set(created.map((s) => s.verificationToken))).toEqual(new Set(['vt']));
    expect(await hooks.maintain?.({ now: new Date(t0.getTime() + 82 * DAY) })).toEqual({
      renewed: 0,
      created: 0,
      failed: 0,
    });
    expect(await hooks.maintain?.({ now: new Date(t0.getTime() + 84 * DAY) })).toEqual({
      renewed: 21,
      created: 0,
      failed: 0,
    });
  });

  test('a listing failure is a warning on connect and a failed count on maintain, never a throw', async () => {
    const down = new ProviderHttpError({
      provider: 'oura',
      endpoint: 'GET /v2/webhook/subscription',
      kind: 'unauthorized',
      status: 401,
    });
    const { client } = fakeClient([], { list: down });
    const hooks = ouraNotificationHooks(
      secrets({ OURA_WEBHOOK_URL: URL_OURS, OURA_WEBHOOK_VERIFICATION_TOKEN: 'vt' }),
      () => client
    );
    // The owner gets a plain warning; the operator's detail (which app credential failed) goes to the log only.
    expect(await hooks.onConnect?.('at', { providerUserId: 'u', now: t0 })).toEqual({
      warning: 'Oura notifications could not be set up; your data still arrives, a little later',
    });
    expect(await hooks.maintain?.({ now: t0 })).toEqual({
      renewed: 0,
      created: 0,
      failed: 1,
      detail: 'listing failed: oura GET /v2/webhook/subscription failed: HTTP 401 (unauthorized)',
    });
  });
});
