/**
 * The operator documentation, tested where text can be: the README's `/config.js` example is one the app accepts and
 * sets every key the app reads, and its one-line token key command makes a key the bots accept.
 */
import { spawnSync } from 'node:child_process';
import { expect, test } from 'vitest';
import { RuntimeConfigSchema } from '../app/src/runtime-config.ts';
import { buildKeyring } from '../bots/shared/token-crypto.ts';
import { evalConfigJs, readmeConfigJs, readmeTokenKeyCommand } from './operator-docs.ts';

test("the README's config.js example is valid for the app and sets every key it reads", () => {
  const config = evalConfigJs(readmeConfigJs());
  expect(Object.keys(config).sort()).toEqual(Object.keys(RuntimeConfigSchema.shape).sort());
  for (const value of Object.values(config)) {
    expect(value).toBeTruthy();
  }
});

test("the README's BASELINE_TOKEN_KEY command makes a fresh 32-byte key the bots accept", () => {
  const command = readmeTokenKeyCommand();
  const run = (): string => {
    const result = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    return result.stdout.trim();
  };
  const key = run();
  expect(Buffer.from(key, 'base64')).toHaveLength(32);
  expect(() => buildKeyring('2026-12', key)).not.toThrow();
  expect(run()).not.toBe(key);
});
