/**
 * The sandbox keeps its state in the data directory it is given: a restart on the same directory (on another port,
 * as a dev stack's would be after a crash) still knows the grants, the tokens and their rotation, the webhook URL
 * and the changes made to the records. Over real HTTP, against the sandbox alone.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import type { WhoopSleep, WhoopWorkout } from './data.ts';
import { stateFile, STATE_FILE_NAME } from './persist.ts';
import { approveConsent, startWhoopSandbox } from './server.ts';
import type { SandboxClient, WhoopSandbox, WhoopSandboxOptions } from './server.ts';

const REDIRECT = 'https://app.baseline.local/connect/whoop/callback';
const APP: SandboxClient = { clientId: 'app', clientSecret: 'app-secret', redirectUris: [REDIRECT], name: 'Baseline' };
const SCOPES = 'offline read:recovery read:cycles read:workout read:sleep read:profile read:body_measurement';

interface Tokens {
  access_token: string;
  refresh_token: string;
}

const dirs: string[] = [];
const running: WhoopSandbox[] = [];
let receiver: { server: Server; url: string; bodies: { type: string; id: string; user_id: number }[] } | undefined;

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'whoop-sandbox-state-'));
  dirs.push(dir);
  return dir;
}

async function start(dataDir: string | undefined, options: Partial<WhoopSandboxOptions> = {}): Promise<WhoopSandbox> {
  const sandbox = await startWhoopSandbox({
    seed: 5,
    endDate: '2026-10-31',
    days: 20,
    clients: [APP],
    webhookRetryDelaysMs: [],
    ...(dataDir === undefined ? {} : { dataDir }),
    ...options,
  });
  running.push(sandbox);
  return sandbox;
}

async function stop(sandbox: WhoopSandbox): Promise<void> {
  running.splice(running.indexOf(sandbox), 1);
  await sandbox.close();
}

async function startReceiver(): Promise<NonNullable<typeof receiver>> {
  const bodies: NonNullable<typeof receiver>['bodies'] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text) as (typeof bodies)[number]);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
  return receiver;
}

function token(sandbox: WhoopSandbox, form: Record<string, string>): Promise<Response> {
  return fetch(`${sandbox.authBaseUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: APP.clientId, client_secret: APP.clientSecret, ...form }).toString(),
  });
}

async function connect(sandbox: WhoopSandbox, userId?: number): Promise<Tokens> {
  const authorize = new URL(`${sandbox.authBaseUrl}/oauth2/auth`);
  authorize.search = new URLSearchParams({
    client_id: APP.clientId,
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: SCOPES,
    state: 'state-0123456789',
  }).toString();
  const location = new URL(await approveConsent(authorize.toString(), userId === undefined ? {} : { userId: userId }));
  const response = await token(sandbox, {
    grant_type: 'authorization_code',
    code: location.searchParams.get('code') ?? '',
    redirect_uri: REDIRECT,
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Tokens;
}

/** Sleep (or workout) ids, newest first; optional `start` (inclusive) and a far `end` to see every record. */
function ids(sandbox: WhoopSandbox, type: 'sleep' | 'workout', start?: string): string[] {
  const records = sandbox.control.records(type, {
    end: '2100-01-01T00:00:00Z',
    ...(start === undefined ? {} : { start }),
  }) as (WhoopSleep | WhoopWorkout)[];
  return records.map((record) => record.id);
}

function refresh(sandbox: WhoopSandbox, refreshToken: string): Promise<Response> {
  return token(sandbox, { grant_type: 'refresh_token', refresh_token: refreshToken, scope: 'offline' });
}

function profile(sandbox: WhoopSandbox, accessToken: string): Promise<Response> {
  return fetch(`${sandbox.apiBaseUrl}/v2/user/profile/basic`, { headers: { authorization: `Bearer ${accessToken}` } });
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((sandbox) => sandbox.close()));
  if (receiver) {
    receiver.server.closeAllConnections();
    await new Promise<void>((resolve) => receiver?.server.close(() => resolve()));
    receiver = undefined;
  }
});

afterAll(() => {
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('without a data directory', () => {
  test('a new sandbox knows nothing of the previous one', async () => {
    const first = await start(undefined);
    const tokens = await connect(first);
    await stop(first);
    const second = await start(undefined);
    expect((await profile(second, tokens.access_token)).status).toBe(401);
    expect(second.control.tokensFor(second.userId)).toEqual([]);
  });
});

describe('with a data directory', () => {
  test('tokens, their rotation and the grant survive a restart on another port', async () => {
    const dir = tempDir();
    const first = await start(dir);
    const original = await connect(first);
    const rotated = (await (await refresh(first, original.refresh_token)).json()) as Tokens;
    expect(rotated.refresh_token).toBeTruthy();
    const before = first.control.tokensFor(first.userId);
    await stop(first);

    const second = await start(dir);
    expect(second.baseUrl).not.toBe(first.baseUrl);
    expect(second.control.tokensFor(second.userId)).toEqual(before);
    // The live access token still works; the one the refresh killed stays dead; so does the rotated refresh token.
    expect((await profile(second, rotated.access_token)).status).toBe(200);
    expect((await profile(second, original.access_token)).status).toBe(401);
    expect((await refresh(second, original.refresh_token)).status).toBe(400);
    // The current refresh token rotates as before, and the new tokens survive the next restart too.
    const next = await refresh(second, rotated.refresh_token);
    expect(next.status).toBe(200);
    const latest = (await next.json()) as Tokens;
    await stop(second);

    const third = await start(dir);
    expect((await profile(third, latest.access_token)).status).toBe(200);
    expect((await profile(third, rotated.access_token)).status).toBe(401);
  });

  test('revoking access is remembered: after a restart the tokens stay dead and webhooks stop', async () => {
    const dir = tempDir();
    const hooks = await startReceiver();
    const first = await start(dir, { webhookUrl: hooks.url });
    const tokens = await connect(first);
    await stop(first);

    const second = await start(dir);
    const revoke = await fetch(`${second.apiBaseUrl}/v2/user/access`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    expect(revoke.status).toBe(204);
    await stop(second);

    const third = await start(dir);
    expect((await profile(third, tokens.access_token)).status).toBe(401);
    expect((await refresh(third, tokens.refresh_token)).status).toBe(400);
    const result = await third.control.sendWebhook({ type: 'sleep.updated', id: ids(third, 'sleep')[0] ?? '' });
    expect(result.outcomes).toEqual([]);
    expect(hooks.bodies).toEqual([]);
  });

  test('the webhook URL set through the control survives, and a signed webhook reaches it after a restart', async () => {
    const dir = tempDir();
    const hooks = await startReceiver();
    const first = await start(dir);
    await connect(first);
    first.control.setWebhookUrl(hooks.url);
    await stop(first);

    const second = await start(dir);
    const result = await second.control.sendWebhook({ type: 'sleep.updated', id: ids(second, 'sleep')[0] ?? '' });
    expect(result.outcomes).toEqual([{ clientId: APP.clientId, delivered: true, attempts: 1 }]);
    expect(hooks.bodies).toEqual([expect.objectContaining({ type: 'sleep.updated', user_id: second.userId })]);
  });

  test('deletions, re-scores and added days are replayed exactly, updated_at included', async () => {
    const dir = tempDir();
    const first = await start(dir);
    const [newest, , third] = ids(first, 'sleep');
    await first.control.deleteRecord('sleep', newest ?? '');
    await first.control.rescore('sleep', third ?? '');
    await first.control.addDay();
    await first.control.rescore('workout', ids(first, 'workout')[0] ?? '');
    const snapshot = (['cycle', 'sleep', 'recovery', 'workout'] as const).map((type) =>
      first.control.records(type, { end: '2100-01-01T00:00:00Z' })
    );
    const day = first.control.currentDate();
    await stop(first);

    const second = await start(dir);
    expect(second.control.currentDate()).toBe(day);
    expect(
      (['cycle', 'sleep', 'recovery', 'workout'] as const).map((type) =>
        second.control.records(type, { end: '2100-01-01T00:00:00Z' })
      )
    ).toEqual(snapshot);
    expect(ids(second, 'sleep')).not.toContain(newest);
  });

  test('days that passed while it was stopped are added, and their webhooks are sent', async () => {
    const dir = tempDir();
    const hooks = await startReceiver();
    const first = await start(dir, { webhookUrl: hooks.url });
    await connect(first);
    await stop(first);

    const second = await start(dir, { endDate: '2026-11-02' });
    expect(second.control.currentDate()).toBe('2026-11-02');
    await second.control.webhooksIdle();
    const newSleeps = ids(second, 'sleep', '2026-11-01T00:00:00Z');
    expect(newSleeps.length).toBeGreaterThanOrEqual(2);
    const notified = new Set(hooks.bodies.filter((b) => b.type === 'sleep.updated').map((b) => b.id));
    expect(newSleeps.every((id) => notified.has(id))).toBe(true);
  });

  test('reading does not rewrite the file; a change rewrites it atomically (no temp file left)', async () => {
    const dir = tempDir();
    const first = await start(dir);
    const tokens = await connect(first);
    const file = stateFile(dir);
    const written = statSync(file);
    for (let i = 0; i < 5; i++) {
      expect((await profile(first, tokens.access_token)).status).toBe(200);
    }
    await fetch(`${first.apiBaseUrl}/v2/cycle?limit=25`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    first.control.records('cycle');
    expect(statSync(file).ino).toBe(written.ino);
    expect(statSync(file).mtimeMs).toBe(written.mtimeMs);
    expect((await refresh(first, tokens.refresh_token)).status).toBe(200);
    expect(statSync(file).ino).not.toBe(written.ino);
    expect(readdirSync(dir)).toEqual([STATE_FILE_NAME]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test('another seed starts the records afresh but keeps the grants of people who still exist', async () => {
    const dir = tempDir();
    const first = await start(dir);
    const tokens = await connect(first);
    await first.control.deleteRecord('sleep', ids(first, 'sleep')[0] ?? '');
    await stop(first);

    const second = await start(dir, { seed: 6 });
    const state = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as { records: { seed: number; log: unknown[] } };
    expect(state.records).toMatchObject({ seed: 6, log: [] });
    // The access token is the app's grant, not a record: it still authenticates (for a user of the old seed,
    // who is not a person of this sandbox any more, so the API answers 404).
    expect((await profile(second, tokens.access_token)).status).toBe(404);
  });

  test('a state file it did not write stops the start with a message naming the file', async () => {
    const dir = tempDir();
    writeFileSync(stateFile(dir), '{"version": 99}');
    await expect(start(dir)).rejects.toThrow(`${stateFile(dir)} is not a WHOOP sandbox state`);
    writeFileSync(stateFile(dir), '{ half');
    await expect(start(dir)).rejects.toThrow('delete it to start the WHOOP sandbox afresh');
  });
});
