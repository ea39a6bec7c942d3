/**
 * The Oura sandbox keeps its state in the data directory it is given: a restart on the same directory (on another
 * port) still knows the grants, the tokens (a used refresh token stays used), the webhook subscriptions with their
 * expiry, the sandbox clock and the edits made to the documents. Over real HTTP, against the sandbox alone.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { OuraSleep } from './data.ts';
import { stateFile } from './persist.ts';
import { approveConsent, startOuraSandbox } from './server.ts';
import type { OuraSandbox, OuraSandboxOptions, SandboxClient } from './server.ts';

const REDIRECT = 'https://app.baseline.local/connect/oura/callback';
const APP: SandboxClient = { clientId: 'app', clientSecret: 'app-secret', redirectUris: [REDIRECT], name: 'Baseline' };

interface Tokens {
  access_token: string;
  refresh_token: string;
}

const dirs: string[] = [];
const running: OuraSandbox[] = [];
const servers: Server[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'oura-sandbox-state-'));
  dirs.push(dir);
  return dir;
}

async function start(dataDir: string, options: Partial<OuraSandboxOptions> = {}): Promise<OuraSandbox> {
  const sandbox = await startOuraSandbox({
    seed: 5,
    endDate: '2026-10-31',
    days: 20,
    clients: [APP],
    webhookRetryDelaysMs: [],
    dataDir,
    ...options,
  });
  running.push(sandbox);
  return sandbox;
}

async function stop(sandbox: OuraSandbox): Promise<void> {
  running.splice(running.indexOf(sandbox), 1);
  await sandbox.close();
}

/** Answers Oura's verification GET and accepts deliveries. */
async function startReceiver(): Promise<{ url: string; bodies: Record<string, unknown>[] }> {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'GET') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ challenge: url.searchParams.get('challenge') }));
      return;
    }
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text) as Record<string, unknown>);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

async function connect(sandbox: OuraSandbox): Promise<Tokens> {
  const location = await approveConsent(
    `${sandbox.authBaseUrl}/oauth/authorize?response_type=code&client_id=app&redirect_uri=${encodeURIComponent(REDIRECT)}&state=s`
  );
  const response = await fetch(`${sandbox.apiBaseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: new URL(location).searchParams.get('code') ?? '',
      redirect_uri: REDIRECT,
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
    }).toString(),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Tokens;
}

async function refresh(sandbox: OuraSandbox, refreshToken: string): Promise<Response> {
  return fetch(`${sandbox.apiBaseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: APP.clientId,
      client_secret: APP.clientSecret,
    }).toString(),
  });
}

afterAll(async () => {
  await Promise.all(running.map((sandbox) => sandbox.close()));
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  for (const dir of dirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('state across restarts', () => {
  test('tokens, used refresh tokens, subscriptions, the clock and document edits survive; the file is 0600', async () => {
    const dir = tempDir();
    const receiver = await startReceiver();
    const first = await start(dir);
    const original = await connect(first);
    const rotated = (await (await refresh(first, original.refresh_token)).json()) as Tokens;
    const created = await fetch(`${first.apiBaseUrl}/v2/webhook/subscription`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-client-id': APP.clientId, 'x-client-secret': APP.clientSecret },
      body: JSON.stringify({
        callback_url: receiver.url,
        verification_token: 'vt',
        event_type: 'update',
        data_type: 'sleep',
      }),
    });
    expect(created.status).toBe(201);
    const sleep = first.control.documents('sleep').at(-2) as OuraSleep;
    await first.control.reanalyseSleep(first.userId, sleep.id);
    first.control.advanceClock(60_000);
    const subscriptions = first.control.subscriptions();
    await stop(first);
    expect(statSync(stateFile(dir)).mode & 0o777).toBe(0o600);

    const second = await start(dir);
    expect(second.control.subscriptions()).toEqual(subscriptions);
    const info = await fetch(`${second.apiBaseUrl}/v2/usercollection/personal_info`, {
      headers: { authorization: `Bearer ${rotated.access_token}` },
    });
    expect(info.status).toBe(200);
    expect((await refresh(second, original.refresh_token)).status).toBe(400);
    expect(second.control.stats().refreshTokenReuseRefusals).toBe(1);
    const after = second.control.documents('sleep').find((candidate) => candidate.id === sleep.id) as OuraSleep;
    expect(after.meta.version).toBe(2);
    expect(after.sleep_analysis_reason).toBe('bedtime_edit');
    const delivered = await second.control.sendWebhook({ dataType: 'sleep', eventType: 'update', objectId: sleep.id });
    expect(delivered.outcomes[0]?.delivered).toBe(true);
    expect((await refresh(second, rotated.refresh_token)).status).toBe(200);
    // The clock kept its minute: a renewal now expires 90 days and one minute from the real now.
    const renewed = await fetch(`${second.apiBaseUrl}/v2/webhook/subscription/renew/${subscriptions[0]?.id ?? ''}`, {
      method: 'PUT',
      headers: { 'x-client-id': APP.clientId, 'x-client-secret': APP.clientSecret },
    });
    const { expiration_time } = (await renewed.json()) as { expiration_time: string };
    const ahead = Date.parse(expiration_time) - (Date.now() + 90 * 86_400_000);
    expect(ahead).toBeGreaterThan(50_000);
    expect(ahead).toBeLessThan(61_000);
  });

  test('a later endDate adds the days in between and announces them once the server listens', async () => {
    const dir = tempDir();
    const first = await start(dir);
    await connect(first);
    await stop(first);
    const second = await start(dir, { endDate: '2026-11-02' });
    expect(second.control.currentDate()).toBe('2026-11-02');
    expect(second.control.documents('daily_sleep').at(-1)).toMatchObject({ day: '2026-11-02' });
    await second.control.webhooksIdle();
  });

  test('a file the sandbox did not write stops the start, naming it', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'oura-sandbox-state.json'), '{"version": 99}');
    await expect(start(dir)).rejects.toThrow('is not an Oura sandbox state');
  });
});
