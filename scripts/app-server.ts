/**
 * Serves the built patient app (app/dist) with an SPA fallback and a runtime `/config.js`, so one build can point at
 * any Medplum server: the start script and the browser tests use it; a real deployment can use any static host
 * that serves the same `/config.js` and the same fallback (app/deploy/nginx.conf is one, tested).
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

/** Whether the build in `dist` is missing or older than any app source (so tests never drive a stale build). */
export function appBuildIsStale(dist: string = APP_DIST): boolean {
  const built = join(dist, 'index.html');
  if (!existsSync(built)) {
    return true;
  }
  const sources = ['src', 'public', 'index.html', 'vite.config.ts'].map((p) => join(REPO_ROOT, 'app', p));
  const shared = ['catalogue.ts', 'systems.ts'].map((p) => join(REPO_ROOT, 'bots', 'shared', p));
  const newest = Math.max(...[...sources, ...shared].filter((p) => existsSync(p)).map(newestMtime));
  return newest > statSync(built).mtimeMs;
}

export interface AppBuild {
  /** False when the existing build was current and nothing ran. */
  built: boolean;
  durationMs: number;
  /** Everything Vite printed (chunk list, warnings): for a log file, not for the terminal. */
  output: string;
}

/**
 * Builds the app with Vite when the build is missing or stale (or always, with `force`). Vite's output is returned,
 * not printed: `npm start` puts it in its log file; a failed build throws with it.
 * @param options - `force` rebuilds even when current; `outDir` builds somewhere other than app/dist.
 * @returns Whether it built, how long it took and what Vite printed.
 */
export function buildApp(options: { force?: boolean; outDir?: string } = {}): AppBuild {
  const outDir = options.outDir ?? APP_DIST;
  if (!options.force && !appBuildIsStale(outDir)) {
    return { built: false, durationMs: 0, output: '' };
  }
  const t0 = Date.now();
  const result = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules/vite/bin/vite.js'),
      'build',
      '--config',
      'app/vite.config.ts',
      '--outDir',
      outDir,
      '--emptyOutDir',
    ],
    {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      // Under Vitest NODE_ENV is "test", which would make Vite emit React's development build (effects run twice,
      // every request sent twice): what the tests measure must be what users get.
      env: { ...process.env, NO_COLOR: '1', NODE_ENV: 'production' },
      maxBuffer: 64 * 1024 * 1024,
    }
  );
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0) {
    throw new Error(`vite build failed with exit code ${result.status ?? 'unknown'}:\n${output.slice(-4000)}`);
  }
  return { built: true, durationMs: Date.now() - t0, output };
}

export async function serveApp(
  config: AppRuntimeConfig,
  options: { host?: string; port?: number; dir?: string } = {}
): Promise<{ url: string; server: Server }> {
  const configJs = renderRuntimeConfigScript(config);
  const dir = resolve(options.dir ?? APP_DIST);
  const index = join(dir, 'index.html');
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/config.js') {
      res.writeHead(200, { 'Content-Type': TYPES['.js'] as string, 'Cache-Control': 'no-store' });
      res.end(configJs);
      return;
    }
    const file = resolve(dir, normalize('.' + path));
    const inside = file.startsWith(dir);
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
