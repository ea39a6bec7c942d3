import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { serverKey, writeCliConfig } from './cli-config.ts';

const root = mkdtempSync(path.join(tmpdir(), 'baseline-cli-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test('serverKey names a server by host, port and path, in characters every filesystem takes', () => {
  expect(serverKey('https://medplum.example.org/')).toBe('medplum.example.org');
  expect(serverKey('http://127.0.0.1:8103/')).toBe('127.0.0.1_8103');
  expect(serverKey('https://example.org:8443/medplum/')).toBe('example.org_8443_medplum');
  expect(serverKey('http://[::1]:8103/')).toBe('---1-_8103');
  expect(serverKey('https://a.example/')).not.toBe(serverKey('https://b.example/'));
});

/** From cwd/.medplum/<server>/ up three levels and into the repository beside cwd. */
const up = (file: string): string => ['..', '..', '..', 'repo', file].join('/');

test('writes the CLI format with this server ids and paths that lead back to the repository', () => {
  const repoRoot = path.join(root, 'repo');
  const written = writeCliConfig({
    baseUrl: 'https://medplum.example.org/',
    // Deploy run from a directory beside the repository (the usual case, the repo root itself, is the CLI test's).
    root: path.join(root, 'cwd'),
    repoRoot,
    entries: [
      { name: 'sync', source: 'bots/sync/sync.ts', dist: 'bots/dist/sync.js' },
      { name: 'sweeper', source: 'bots/sync/sweeper.ts', dist: 'bots/dist/sweeper.js' },
      { name: 'not-deployed', source: 'bots/x.ts', dist: 'bots/dist/x.js' },
    ],
    bots: [{ name: 'sweeper', id: 'b2' }, { name: 'sync', id: 'b1' }, { name: 'not-deployed' }],
  });
  expect(written.relativeDir).toBe(path.join('.medplum', 'medplum.example.org'));
  expect(written.path).toBe(path.join(root, 'cwd', '.medplum', 'medplum.example.org', 'medplum.config.json'));
  const config = JSON.parse(readFileSync(written.path, 'utf8')) as { bots: { source: string; dist: string }[] };
  expect(config).toEqual({
    bots: [
      { name: 'sync', id: 'b1', source: up('bots/sync/sync.ts'), dist: up('bots/dist/sync.js') },
      { name: 'sweeper', id: 'b2', source: up('bots/sync/sweeper.ts'), dist: up('bots/dist/sweeper.js') },
    ],
  });
  for (const bot of config.bots) {
    expect(path.resolve(path.dirname(written.path), bot.dist).startsWith(repoRoot)).toBe(true);
  }
});
