/**
 * Serving the built app on a real host: app/deploy/nginx.conf, unchanged but for its port and root, run by a real
 * nginx over a fresh production build — client-side routes answer index.html, `/config.js` is served and never
 * cached, hashed assets are cacheable for a year. The build itself must split into chunks under Vite's 500 kB
 * limit, without the warning.
 *
 * nginx is a Debian package (`apt-get install nginx`); CI installs it. Without it this file fails when `CI` is set
 * and is skipped, saying so, on a developer machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../scripts/app-server.ts';
import type { AppBuild } from '../scripts/app-server.ts';
import { readmeConfigJs } from './operator-docs.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const NGINX_CONF = path.join(ROOT, 'app', 'deploy', 'nginx.conf');
/** Vite's default `build.chunkSizeWarningLimit`, in kB (1000 bytes, as Vite counts). */
const CHUNK_LIMIT_BYTES = 500 * 1000;

function findNginx(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' });
  const found = which.stdout.trim().split('\n')[0];
  return which.status === 0 && found ? found : undefined;
}

const nginx = findNginx();
if (!nginx && !process.env.CI) {
  console.warn('test/static-host.test.ts: nginx is not installed, skipping the nginx tests (apt-get install nginx)');
}

const work = mkdtempSync(path.join(tmpdir(), 'baseline-static-'));
const dist = path.join(work, 'dist');
let build: AppBuild;

beforeAll(() => {
  build = buildApp({ force: true, outDir: dist });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the production build', () => {
  test('every JS chunk is under 500 kB and Vite does not warn about chunk sizes', () => {
    expect(build.built).toBe(true);
    const assets = readdirSync(path.join(dist, 'assets'));
    const chunks = assets.filter((name) => name.endsWith('.js'));
    // Vendor code is split (not one chunk holding everything) — more than the app's own entry.
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    for (const chunk of chunks) {
      expect(statSync(path.join(dist, 'assets', chunk)).size, chunk).toBeLessThan(CHUNK_LIMIT_BYTES);
    }
    expect(build.output).toContain('built in');
    expect(build.output).not.toMatch(/larger than 500 kB/);
    expect(build.output).not.toMatch(/Circular chunk/);
  });
});

describe.skipIf(!nginx && !process.env.CI)('app/deploy/nginx.conf on a real nginx', () => {
  let proc: ChildProcess | undefined;
  let base = '';
  let index = '';
  let nginxLog = '';
  const configJs = readmeConfigJs();

  beforeAll(async () => {
    if (!nginx) {
      throw new Error('nginx is not installed (Debian: apt-get install nginx); CI must install it');
    }
    // Worker processes may run as another user (nginx's default when started as root): let them read the files.
    chmodSync(work, 0o755);
    writeFileSync(path.join(dist, 'config.js'), configJs);
    index = readFileSync(path.join(dist, 'index.html'), 'utf8');

    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    // The shipped file, with only what an operator changes: the address it listens on and where the files are.
    const shipped = readFileSync(NGINX_CONF, 'utf8');
    expect(shipped.match(/^\s*listen 80;$/gm)).toHaveLength(1);
    expect(shipped.match(/^\s*root \/var\/www\/baseline;$/gm)).toHaveLength(1);
    const site = shipped
      .replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${port};`)
      .replace(/^(\s*)root \/var\/www\/baseline;$/m, `$1root ${dist};`);
    const temp = path.join(work, 'nginx-temp');
    mkdirSync(temp);
    writeFileSync(path.join(work, 'baseline.conf'), site);
    // What a distribution's nginx.conf provides around a site (mime types), kept inside the scratch directory.
    const mimeTypes = '/etc/nginx/mime.types';
    expect(existsSync(mimeTypes), `${mimeTypes} (from the nginx package)`).toBe(true);
    writeFileSync(
      path.join(work, 'nginx.conf'),
      [
        'worker_processes 1;',
        `pid ${path.join(work, 'nginx.pid')};`,
        `error_log ${path.join(work, 'error.log')} warn;`,
        'events { worker_connections 64; }',
        'http {',
        `  include ${mimeTypes};`,
        '  default_type application/octet-stream;',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
          (kind) => `  ${kind}_temp_path ${path.join(temp, kind)};`
        ),
        `  include ${path.join(work, 'baseline.conf')};`,
        '}',
      ].join('\n')
    );
    const args = ['-e', path.join(work, 'error.log'), '-p', work, '-c', path.join(work, 'nginx.conf')];
    const check = spawnSync(nginx, ['-t', ...args], { encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
    proc = spawn(nginx, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stderr?.on('data', (d: Buffer) => (nginxLog += d.toString()));
    base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      try {
        await fetch(`${base}/`);
        break;
      } catch (err) {
        if (i > 100 || proc.exitCode !== null) {
          throw new Error(`nginx did not start: ${nginxLog}`, { cause: err });
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });

  afterAll(async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((resolve) => proc?.once('exit', resolve));
      proc.kill('SIGTERM');
      await exited;
    }
  });

  test.each([
    '/connect/whoop/callback?code=x&state=y',
    '/launch?iss=https%3A%2F%2Fmedplum.example.org%2Ffhir%2FR4&launch=xyz',
    '/',
    '/settings/sharing',
  ])('%s answers index.html, revalidated on every visit', async (route) => {
    const response = await fetch(`${base}${route}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(await response.text()).toBe(index);
  });

  test('/config.js is served as JavaScript and never cached', async () => {
    const response = await fetch(`${base}/config.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/javascript/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toBe(configJs);
  });

  test('every asset index.html loads is cacheable for a year, with its type', async () => {
    const assets = [...index.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] ?? '');
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const asset of assets) {
      const response = await fetch(`${base}${asset}`);
      expect(response.status, asset).toBe(200);
      expect(response.headers.get('cache-control'), asset).toBe('public, max-age=31536000, immutable');
      expect(response.headers.get('content-type'), asset).toMatch(asset.endsWith('.css') ? /^text\/css/ : /javascript/);
      expect((await response.arrayBuffer()).byteLength).toBe(statSync(path.join(dist, asset)).size);
    }
  });

  test('a missing asset or config.js is a 404, never index.html', async () => {
    const asset = await fetch(`${base}/assets/missing-0000.js`);
    expect(asset.status).toBe(404);
    rmSync(path.join(dist, 'config.js'));
    const config = await fetch(`${base}/config.js`);
    expect(config.status).toBe(404);
    expect(await config.text()).not.toBe(index);
  });
});
