/**
 * The Withings provider module: its declared secrets and webhook bot, the OAuth handle, the sync adapter, and the
 * notification hooks (subscribe per category on connect, revoke on disconnect, warnings instead of errors) over a
 * stubbed global fetch answering Withings' envelope.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import type { BotSecrets } from '../shared/secrets.ts';
import { WITHINGS_PROVIDER_MODULE } from './provider.ts';
import { CTX, MEASURE_BODY, TOKEN_BODY, fail, fakeFetch, ok } from './test-fixtures.ts';

function secrets(values: Record<string, string>): BotSecrets {
  return Object.fromEntries(Object.entries(values).map(([name, valueString]) => [name, { name, valueString }]));
}

const BASE = {
  WITHINGS_CLIENT_ID: 'cid',
  WITHINGS_CLIENT_SECRET: 'csecret',
  WITHINGS_API_BASE_URL: 'https://wbs.example',
};
const WITH_URL = secrets({ ...BASE, WITHINGS_WEBHOOK_URL: 'https://edge.example/withings/notify' });

function stubFetch(answers: readonly unknown[]): ReturnType<typeof fakeFetch> {
  const fake = fakeFetch(answers);
  vi.stubGlobal('fetch', fake.fetch);
  return fake;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('WITHINGS_PROVIDER_MODULE', () => {
  test('declares its secrets, real default URLs and an unsigned webhook bot', () => {
    expect(WITHINGS_PROVIDER_MODULE.key).toBe('withings');
    expect(WITHINGS_PROVIDER_MODULE.requiredSecrets).toEqual(['WITHINGS_CLIENT_ID', 'WITHINGS_CLIENT_SECRET']);
    expect(WITHINGS_PROVIDER_MODULE.optionalSecrets).toEqual([
      'WITHINGS_API_BASE_URL',
      'WITHINGS_AUTH_BASE_URL',
      'WITHINGS_TIMEOUT_MS',
      'WITHINGS_RATE_LIMIT_WAIT_MS',
      'WITHINGS_WEBHOOK_URL',
    ]);
    expect(WITHINGS_PROVIDER_MODULE.urlSecrets).toEqual([
      { name: 'WITHINGS_API_BASE_URL', defaultUrl: 'https://wbsapi.withings.net' },
      { name: 'WITHINGS_AUTH_BASE_URL', defaultUrl: 'https://account.withings.com' },
    ]);
    expect(WITHINGS_PROVIDER_MODULE.webhookBot).toMatchObject({
      name: 'withings-webhook',
      source: 'bots/withings/withings-webhook.ts',
      rawBody: false,
    });
  });

  test('oauth(): detached closures work (no `this`), the token answer names the user', async () => {
    stubFetch([ok(TOKEN_BODY)]);
    const { exchangeCode, clientId, authorizeUrl } = WITHINGS_PROVIDER_MODULE.oauth(secrets(BASE));
    expect(clientId).toBe('cid');
    expect(authorizeUrl({ clientId, redirectUri: 'https://a/cb', state: 'x'.repeat(43) })).toContain(
      'https://account.withings.com/oauth2_user/authorize2?'
    );
    expect((await exchangeCode('code', 'https://a/cb')).providerUserId).toBe('363');
  });

  test('oauth() without the client secret fails by name', () => {
    expect(() => WITHINGS_PROVIDER_MODULE.oauth(secrets({ WITHINGS_CLIENT_ID: 'cid' }))).toThrow(
      'WITHINGS_CLIENT_SECRET'
    );
  });

  test('sync(): plan + fetch produce record groups; deletions are never confirmed', async () => {
    stubFetch([ok(MEASURE_BODY)]);
    const sync = WITHINGS_PROVIDER_MODULE.sync(secrets(BASE));
    const now = new Date('2026-11-02T12:00:00Z');
    const input = {
      id: 't',
      kind: 'sync' as const,
      dedupeKey: 'k',
      patient: CTX.patient,
      connection: { reference: 'Basic/c' as const },
      provider: 'withings',
      window: undefined,
      recordType: 'measure',
      recordId: 'unspecified',
      eventType: 'appli-1',
      attempts: 0,
      nextAttemptAt: undefined,
    };
    const plan = sync.plan(input, { providerUserId: '363', now, lastSync: undefined });
    const batch = await sync.fetch('tok', plan, { ...CTX, now });
    expect(batch.records.map((r) => r.record.value)).toEqual([
      'measure:p1:363:4716596696',
      'measure:p1:363:4815757309',
    ]);
    expect(batch.missing).toEqual([]);
    await expect(sync.confirmDeletion('tok', { kind: 'retract', records: [] }, input)).resolves.toEqual([]);
  });
});

describe('notifications', () => {
  const ctx = { providerUserId: '363', now: new Date('2026-11-02T12:00:00Z') };

  test('onConnect subscribes each category to WITHINGS_WEBHOOK_URL', async () => {
    const fake = stubFetch([ok({})]);
    const outcome = await WITHINGS_PROVIDER_MODULE.notifications?.(WITH_URL).onConnect?.('tok', ctx);
    expect(outcome).toEqual({ subscribed: ['appli-1', 'appli-2', 'appli-4', 'appli-16', 'appli-44'] });
    expect(fake.calls.map((c) => [c.params.get('action'), c.params.get('appli'), c.params.get('callbackurl')])).toEqual(
      [1, 2, 4, 16, 44].map((a) => ['subscribe', String(a), 'https://edge.example/withings/notify'])
    );
    expect(fake.calls[0]?.params.get('comment')).toBe('Baseline');
  });

  test('onConnect without WITHINGS_WEBHOOK_URL calls nothing and warns', async () => {
    const fake = stubFetch([]);
    const outcome = await WITHINGS_PROVIDER_MODULE.notifications?.(secrets(BASE)).onConnect?.('tok', ctx);
    expect(outcome).toEqual({
      warning:
        'WITHINGS_WEBHOOK_URL is not set: Withings notifications are off; data arrives by the periodic reconcile',
    });
    expect(fake.calls).toEqual([]);
  });

  test('a refused subscription is a warning naming the category and kind, never an error', async () => {
    stubFetch([ok({}), fail(293, 'callback URL did not answer HEAD'), ok({}), fail(214, 'scope'), ok({})]);
    const outcome = await WITHINGS_PROVIDER_MODULE.notifications?.(WITH_URL).onConnect?.('tok', ctx);
    expect(outcome).toEqual({
      subscribed: ['appli-1', 'appli-4', 'appli-44'],
      warning:
        'Withings refused notifications for appli 2 (bad-request), appli 16 (forbidden): that data arrives by the periodic reconcile',
    });
  });

  test('onDisconnect revokes each category; failures are warnings', async () => {
    const fake = stubFetch([ok({}), ok({}), ok({}), ok({}), fail(343, 'no such subscription')]);
    const outcome = await WITHINGS_PROVIDER_MODULE.notifications?.(WITH_URL).onDisconnect?.('tok', {
      providerUserId: '363',
    });
    expect(outcome).toEqual({
      unsubscribed: ['appli-1', 'appli-2', 'appli-4', 'appli-16'],
      warning: 'Withings did not revoke notifications for appli 44 (bad-request) (revoking the grant removes them)',
    });
    expect(fake.calls.every((c) => c.params.get('action') === 'revoke')).toBe(true);
  });

  describe('onReconcile (the daily reconcile of a quiet connection)', () => {
    const listed = (profiles: { appli: number; callbackurl: string }[]): unknown => ok({ profiles });
    const URL_AS_LISTED = 'https://EDGE.example:443/withings/notify/';

    test('all five categories still subscribed (however Withings writes the URL back): one list call, nothing else', async () => {
      const fake = stubFetch([listed([1, 2, 4, 16, 44].map((appli) => ({ appli, callbackurl: URL_AS_LISTED })))]);
      const outcome = await WITHINGS_PROVIDER_MODULE.notifications?.(WITH_URL).onReconcile?.('tok', ctx);
      expect(outcome).toEqual({});
      expect(fake.calls.map((c) => c.params.get('action'))).toEqual(['list']);
    });

    test('re-subscribes exactly the categories Withings dropped (one at another URL is not ours)', async () => {
      const fake = stubFetch([
        listed([
          { appli: 1, callbackurl: URL_AS_LISTED },
          { appli: 2, callbackurl: URL_AS_LISTED },
          { appli: 4, callbackurl: 'https://elsewhere.example/notify' },
          { appli: 16, callbackurl: URL_AS_LISTED },
        ]),
        ok({}),
      ]);
      const outcome = await WITHINGS_PROVIDER_MODULE.notifications?.(WITH_URL).onReconcile?.('tok', ctx);
      expect(outcome).toEqual({ subscribed: ['appli-4', 'appli-44'] });
      expect(
        fake.calls.map((c) => [c.params.get('action'), c.params.get('appli'), c.params.get('callbackurl')])
      ).toEqual([
        ['list', null, null],
        ['subscribe', '4', 'https://edge.example/withings/notify'],
        ['subscribe', '44', 'https://edge.example/withings/notify'],
      ]);
    });

    test('a refused re-subscription is a warning; a failed listing throws for the sync to log', async () => {
      stubFetch([listed([]), fail(293, 'callback URL did not answer HEAD'), ok({})]);
      const outcome = await WITHINGS_PROVIDER_MODULE.notifications?.(WITH_URL).onReconcile?.('tok', ctx);
      expect(outcome).toEqual({
        subscribed: ['appli-2', 'appli-4', 'appli-16', 'appli-44'],
        warning:
          'Withings refused notifications for appli 1 (bad-request): that data arrives by the periodic reconcile',
      });
      stubFetch([fail(401, 'invalid_token')]);
      await expect(WITHINGS_PROVIDER_MODULE.notifications?.(WITH_URL).onReconcile?.('tok', ctx)).rejects.toThrow(
        'POST /notify list'
      );
    });

    test('without WITHINGS_WEBHOOK_URL there is nothing to keep: no call', async () => {
      const fake = stubFetch([]);
      expect(await WITHINGS_PROVIDER_MODULE.notifications?.(secrets(BASE)).onReconcile?.('tok', ctx)).toEqual({});
      expect(fake.calls).toEqual([]);
    });
  });

  test('no cron upkeep: Withings subscriptions do not expire', () => {
    expect(WITHINGS_PROVIDER_MODULE.notifications?.(WITH_URL).maintain).toBeUndefined();
  });
});
