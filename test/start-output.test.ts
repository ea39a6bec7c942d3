/**
 * `npm start` output: a short terminal (one line per step, then the URLs and sign-ins, which work), and the detail —
 * every deploy item, the local stack's log — in `<data dir>/logs/start.log`. Runs the real start script as a child
 * process on a scratch data directory and free ports, and stops it with SIGTERM as Ctrl-C would.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildApp } from '../scripts/app-server.ts';
import { passwordClient } from '../scripts/medplum-client.ts';
import { DEMO_LOGINS } from '../scripts/seed.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const dataDir = mkdtempSync(path.join(tmpdir(), 'baseline-start-'));
let child: ChildProcess | undefined;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(() => {
  // A current build, as after any earlier start; building is the app tests' business, not this one's.
  buildApp();
});

afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

test('npm start prints the URLs and sign-ins in a few lines and logs the details', { timeout: 120_000 }, async () => {
  const appPort = await freePort();
  const proc = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      LOCAL_STACK_DATA_DIR: dataDir,
      LOCAL_STACK_PORT: '0',
      APP_PORT: String(appPort),
      WHOOP_SANDBOX_PORT: '0',
      WITHINGS_SANDBOX_PORT: '0',
      OURA_SANDBOX_PORT: '0',
      EDGE_PORT: '0',
      BASELINE_REBUILD_APP: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let stdout = '';
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('Ctrl-C to stop.')) {
        resolve();
      }
    });
    proc.once('exit', (code) =>
      reject(new Error(`npm start exited (${code}) before it was ready:\n${stdout}${stderr}`))
    );
  });

  // Short, and nothing on stderr while starting.
  const lines = stdout.trimEnd().split('\n');
  expect(lines.length, stdout).toBeLessThan(25);
  expect(stderr).toBe('');
  expect(stdout).not.toMatch(/created\s+Bot /);

  // The URLs are there and answer.
  const appUrl = /Patient app\s+(\S+)/.exec(stdout)?.[1];
  const fhirUrl = /FHIR API\s+(\S+)/.exec(stdout)?.[1];
  expect(appUrl).toBe(`http://127.0.0.1:${appPort}/`);
  expect(stdout).toMatch(/SMART config\s+http:\/\/127\.0\.0\.1:\d+\/\.well-known\/smart-configuration/);
  const page = await fetch(appUrl ?? '');
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<div id="root">');
  const baseUrl = (fhirUrl ?? '').replace(/fhir\/R4\/$/, '');
  expect((await fetch(`${fhirUrl ?? ''}metadata`)).status).toBe(200);

  // Every sign-in is printed, and works.
  for (const login of Object.values(DEMO_LOGINS)) {
    expect(stdout).toContain(`${login.email} / ${login.password}`);
  }
  const owner = await passwordClient(baseUrl, DEMO_LOGINS.owner.email, DEMO_LOGINS.owner.password);
  expect(owner.getProfile()?.resourceType).toBe('Patient');

  // The demo owner's WHOOP year ends in the synthetic episode that makes the demo's alerts fire, fixed in the
  // sandbox's state (scripts/sandboxes/whoop/demo-episode.test.ts checks that the alerts do fire).
  const episode =
    /^whoop\s+the owner's WHOOP year ends in a synthetic illness-like episode from (\d{4}-\d{2}-\d{2})$/m.exec(
      stdout
    )?.[1];
  expect(episode, stdout).toBe(new Date(Date.now() - 8 * 86_400_000).toISOString().slice(0, 10));
  const whoopState = JSON.parse(readFileSync(path.join(dataDir, 'whoop-sandbox-state.json'), 'utf8')) as {
    records: { episodes?: { startDate: string }[] };
  };
  expect(whoopState.records.episodes?.map((e) => e.startDate)).toEqual([episode]);

  // One summary line for deploy; the items are in the log, as many as the summary counts.
  const summary = /^deploy\s+(\d+) unchanged, (\d+) created, (\d+) updated/m.exec(stdout);
  expect(summary).not.toBeNull();
  const counted = Number(summary?.[1]) + Number(summary?.[2]) + Number(summary?.[3]);
  const logPath = path.join(dataDir, 'logs', 'start.log');
  expect(stdout).toContain(`details       ${logPath}`);

  proc.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  expect(code).toBe(0);

  expect(existsSync(logPath)).toBe(true);
  const log = readFileSync(logPath, 'utf8');
  const items = log.split('\n').filter((line) => / deploy {3}(created|updated|unchanged) {3,}\S/.test(line));
  expect(items.length).toBe(counted);
  expect(counted).toBeGreaterThan(40);
  expect(log).toContain('[local-stack] seeded project');
  expect(log).toMatch(/ deploy Deploying Baseline on /);
});
