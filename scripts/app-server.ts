/**
 * Serves the built patient app (app/dist) with an SPA fallback and a runtime `/config.js`, so one build can point at
 * any Medplum server: the start script and the browser tests use it; a real deployment can use any static host
 * that serves the same `/config.js`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { renderRuntimeConfigScript } from '../app/src/runtime-config.ts';
import type { RuntimeConfig } from '../app/src/runtime-config.ts';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const APP_DIST = join(REPO_ROOT, 'app', 'dist');

export type AppRuntimeConfig = RuntimeConfig;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) {
    return stat.mtimeMs;
  }
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/** Whether app/dist is missing or older than any app source (so tests never drive a stale build). */
export function appBuildIsStale(): boolean {
  const built = join(APP_DIST, 'index.html');
  if (!existsSync(built)) {
    return true;
  }
  const sources = ['src', 'public', 'index.html', 'vite.config.ts'].map((p) => join(REPO_ROOT, 'app', p));
  const shared = ['catalogue.ts', 'systems.ts'].map((p) => join(REPO_ROOT, 'bots', 'shared', p));
  const newest = Math.max(...[...sources, ...shared].filter((p) => existsSync(p)).map(newestMtime));
  return newest > statSync(built).mtimeMs;
}

/** Builds the app with Vite when the build is missing or stale (or always, with `force`). */
export function buildApp(options: { force?: boolean } = {}): void {
  if (!options.force && !appBuildIsStale()) {
    return;
  }
  const result = spawnSync(
    process.execPath,
    [join(REPO_ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'app/vite.config.ts', '--logLevel', 'warn'],
    {
      cwd: REPO_ROOT,
      stdio: 'inherit',
    }
  );
  if (result.status !== 0) {
    throw new Error(`vite build failed with exit code ${result.status ?? 'unknown'}`);
  }
}

export async function serveApp(
  config: AppRuntimeConfig,
  options: { host?: string; port?: number } = {}
): Promise<{ url: string; server: Server }> {
  const configJs = renderRuntimeConfigScript(config);
  const index = join(APP_DIST, 'index.html');
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/config.js') {
      res.writeHead(200, { 'Content-Type': TYPES['.js'] as string, 'Cache-Control': 'no-store' });
      res.end(configJs);
      return;
    }
    const file = resolve(APP_DIST, normalize('.' + path));
    const inside = file.startsWith(APP_DIST);
    const target = inside && existsSync(file) && statSync(file).isFile() ? file : index;
    res.writeHead(200, { 'Content-Type': TYPES[extname(target)] ?? 'application/octet-stream' });
    res.end(readFileSync(target));
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3000, options.host ?? '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://${options.host ?? '127.0.0.1'}:${port}/`, server };
}
