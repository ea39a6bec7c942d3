/**
 * The sandbox keeps its state in the data directory it is given: a restart on the same directory (on another port)
 * still knows the grants, the tokens and their rotation, the notification subscriptions, the demo episode and the
 * changes made to the records. Over real HTTP, against the sandbox alone.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { startWhoopSandbox } from '../whoop/server.ts';
import { stateFile } from './persist.ts';
import { approveConsent, startWithingsSandbox } from './server.ts';
import type { SandboxClient, WithingsSandbox, WithingsSandboxOptions } from './server.ts';

const REDIRECT = 'https://app.baseline.local/connect/withings/callback';
const APP: SandboxClient = { clientId: 'app', clientSecret: 'app-secret', redirectUris: [REDIRECT], name: 'Baseline' };
const SCOPES = 'user.info,user.metrics,user.activity,user.sleepevents';

const dirs: string[] = [];
const running: WithingsSandbox[] = [];
const servers: Server[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'withings-sandbox-state-'));
  dirs.push(dir);
  return dir;
}

async function start(dataDir: string, options: Partial<WithingsSandboxOptions> = {}): Promise<WithingsSandbox> {
  const sandbox = await startWithingsSandbox({
    seed: 5,
    endDate: '2026-10-31',
    days: 20,
    clients: [APP],
    notifyRetryDelaysMs: [],
    dataDir,
    ...options,
  });
  running.push(sandbox);
  return sandbox;
}

async function stop(sandbox: WithingsSandbox): Promise<void> {
  running.splice(running.indexOf(sandbox), 1);
  await sandbox.close();
}

async function call(
  sandbox: WithingsSandbox,
  path: string,
  params: Record<string, string | number>,
  token?: string
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${sandbox.apiBaseUrl}${path}`, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    body: new URLSearchParams(Object.entries(params).map(([key, value]): [string, string] => [key, String(value)])),
  });
  return (await response.json()) as { status: number; body: Record<string, unknown> };
}

async function connect(sandbox: WithingsSandbox): Promise<{ access_token: string; refresh_token: string }> {
  const url = `${sandbox.authBaseUrl}/oauth2_user/authorize2?${new URLSearchParams({
    response_type: 'code',
    client_id: APP.clientId,
    redirect_uri: REDIRECT,
    scope: SCOPES,
    state: 'state-123456',
  }).toString()}`;
  const code = new URL(await approveConsent(url)).searchParams.get('code') ?? '';
  const answer = await call(sandbox, '/v2/oauth2', {
    action: 'requesttoken',
    grant_type: 'authorization_code',
    client_id: APP.clientId,
    client_secret: APP.clientSecret,
    code,
    redirect_uri: REDIRECT,
  });
  return answer.body as { access_token: string; refresh_token: string };
}

async function receiver(): Promise<{ url: string; posts: string[] }> {
  const posts: string[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      if (req.method === 'POST') {
        posts.push(text);
      }
      res.writeHead(200).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`, posts };
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
  test('tokens, rotation, subscriptions and record changes survive; the file is owner-only', async () => {
    const dir = tempDir();
    const first = await start(dir);
    const tokens = await connect(first);
    const target = await receiver();
    expect(
      (await call(first, '/notify', { action: 'subscribe', callbackurl: target.url, appli: 1 }, tokens.access_token))
        .status
    ).toBe(0);
    const rotated = (
      await call(first, '/v2/oauth2', {
        action: 'requesttoken',
        grant_type: 'refresh_token',
        client_id: APP.clientId,
        client_secret: APP.clientSecret,
        refresh_token: tokens.refresh_token,
      })
    ).body as { access_token: string; refresh_token: string };
    const weight = first.control.measureGroups().find((group) => group.measures.some((measure) => measure.type === 1));
    await first.control.editMeasure(first.userId, weight?.grpid ?? 0, [{ type: 1, value: 77.7 }]);
    // The edit notified the weight subscription once.
    expect(target.posts).toHaveLength(1);
    const before = first.control.measureGroups();
    const results = await first.control.addDay();
    const weighIns = results.filter((result) => result.change.userId === first.userId && result.change.appli === 1);
    expect(target.posts).toHaveLength(1 + weighIns.length);
    const afterDay = first.control.measureGroups();
    await stop(first);
    expect(statSync(stateFile(dir)).mode & 0o777).toBe(0o600);

    const second = await start(dir);
    expect(second.baseUrl).not.toBe('');
    expect(second.control.currentDate()).toBe('2026-11-01');
    expect(second.control.measureGroups()).toEqual(afterDay);
    expect(afterDay.length).toBeGreaterThanOrEqual(before.length);
    expect(second.control.subscriptions()).toEqual([
      { clientId: APP.clientId, userId: second.userId, appli: 1, callbackurl: target.url, comment: '' },
    ]);
    const refreshOld = async (): Promise<number> =>
      (
        await call(second, '/v2/oauth2', {
          action: 'requesttoken',
          grant_type: 'refresh_token',
          client_id: APP.clientId,
          client_secret: APP.clientSecret,
          refresh_token: tokens.refresh_token,
        })
      ).status;
    // The old refresh token is still inside its grace after the restart (no newer access token was used)…
    expect(await refreshOld()).toBe(0);
    // …and the rotated pair's access token still works; using it ends the grace, restart or not.
    expect((await call(second, '/v2/user', { action: 'getdevice' }, rotated.access_token)).status).toBe(0);
    expect(await refreshOld()).toBe(503);
    const edited = second.control.measureGroups().find((group) => group.grpid === weight?.grpid);
    expect(edited?.measures.find((measure) => measure.type === 1)?.value).toBe(77_700);
  });

  test('a state file the sandbox did not write stops the start with a message naming it', async () => {
    const dir = tempDir();
    writeFileSync(stateFile(dir), '{"version": 99}');
    await expect(start(dir)).rejects.toThrow(/withings-sandbox-state\.json is not a Withings sandbox state/);
  });
});

describe('the same synthetic people as the WHOOP sandbox', () => {
  test('same seed and people → same user ids, names, emails and demo episode start', async () => {
    const people = [
      {
        firstName: 'Alex',
        lastName: 'Rivera',
        email: 'owner@baseline.local',
        recentEpisode: { startDaysBeforeCurrent: 7 },
      },
      { firstName: 'Sam', lastName: 'Okafor', email: 'other@baseline.local' },
    ];
    const whoop = await startWhoopSandbox({
      seed: 3,
      endDate: '2026-10-31',
      days: 10,
      people,
      clients: [{ ...APP, redirectUris: ['https://x/cb'] }],
    });
    const withings = await startWithingsSandbox({ seed: 3, endDate: '2026-10-31', days: 10, people, clients: [APP] });
    running.push(withings);
    try {
      expect(withings.users).toEqual(whoop.users);
      expect(withings.users[0]?.recentEpisodeStart).toBe('2026-10-24');
    } finally {
      await whoop.close();
    }
  });
});
