import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import * as esbuild from 'esbuild';
import { afterAll, describe, expect, test } from 'vitest';
import {
  BOT_GLOBAL_PROPERTY_RESTRICTIONS,
  BOT_GLOBAL_RESTRICTIONS,
  buildBots,
  FORBIDDEN_BOT_GLOBALS,
  readBotConfig,
  VMCONTEXT_GLOBALS,
} from './build-bots.ts';
import type { BotEntry } from './build-bots.ts';
import { probeBotBundle, runVmContextBot } from './local-stack/bots/vmcontext.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'baseline-build-bots-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ECHO: BotEntry = { name: 'echo', source: 'test/fixtures/bots/echo.ts', dist: 'bots/dist/echo.js' };
const WRITE_PROBE: BotEntry = {
  name: 'write-probe',
  source: 'test/fixtures/bots/write-probe.ts',
  dist: 'bots/dist/write-probe.js',
};

function writeConfig(name: string, config: unknown): string {
  const file = path.join(tmp, name);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

describe('buildBots', () => {
  test('writes one CommonJS bundle that ends with the exports footer, with its sha256', async () => {
    const [built, ...rest] = await buildBots({ entries: [WRITE_PROBE], outRoot: tmp });
    expect(rest).toEqual([]);
    expect(built?.name).toBe('write-probe');
    expect(built?.dist).toBe(path.join(tmp, 'bots/dist/write-probe.js'));
    const code = readFileSync(path.join(tmp, 'bots/dist/write-probe.js'), 'utf8');
    expect(built?.code).toBe(code);
    expect(built?.sha256).toBe(createHash('sha256').update(code).digest('hex'));
    expect(code.trimEnd().endsWith('Object.assign(exports, module.exports);')).toBe(true);
    // @medplum/core comes from the server; zod is inlined.
    expect(code).toContain('require("@medplum/core")');
    expect(code).not.toContain('require("zod")');
    expect(code).not.toMatch(/^export /m);
  });

  test('is deterministic', async () => {
    const [first] = await buildBots({ entries: [ECHO], outRoot: tmp });
    const [second] = await buildBots({ entries: [ECHO], outRoot: tmp });
    expect(second?.sha256).toBe(first?.sha256);
  });

  test('builds only the named bots from a config, resolving sources against the config directory', async () => {
    const fixtures = path.relative(tmp, path.resolve(import.meta.dirname, '../test/fixtures/bots'));
    const configPath = writeConfig('two.config.json', {
      bots: [
        { name: 'echo', source: `${fixtures}/echo.ts`, dist: 'bots/dist/echo.js' },
        { name: 'write-probe', source: `${fixtures}/write-probe.ts`, dist: 'bots/dist/write-probe.js', id: 'abc' },
      ],
    });
    const built = await buildBots({ configPath, only: ['write-probe'] });
    expect(built.map((bot) => [bot.name, bot.dist])).toEqual([
      ['write-probe', path.join(tmp, 'bots/dist/write-probe.js')],
    ]);
  });

  test('rejects an unknown name in only', async () => {
    await expect(buildBots({ entries: [ECHO], only: ['nope'], outRoot: tmp })).rejects.toThrow('Unknown bot: nope');
  });

  test('rejects a missing source', async () => {
    const entry = { name: 'ghost', source: 'bots/ghost.ts', dist: 'bots/dist/ghost.js' };
    await expect(buildBots({ entries: [entry], outRoot: tmp })).rejects.toThrow(
      'Bot ghost: source not found: bots/ghost.ts'
    );
  });

  test('rejects a dist outside bots/dist/', async () => {
    const entry = { ...ECHO, dist: 'bots/dist/../echo.js' };
    await expect(buildBots({ entries: [entry], outRoot: tmp })).rejects.toThrow(
      'Bot echo: dist must be a .js file under bots/dist/ (got bots/dist/../echo.js)'
    );
  });

  test('rejects duplicate names', async () => {
    await expect(buildBots({ entries: [ECHO, ECHO], outRoot: tmp })).rejects.toThrow('Duplicate bot name: echo');
  });

  test('rejects a config without a bots array', () => {
    const configPath = writeConfig('bad.config.json', { bot: [] });
    expect(() => readBotConfig(configPath)).toThrow(`Invalid ${configPath}`);
  });

  test('reports a compile error naming the bot', async () => {
    const source = path.join(tmp, 'broken.ts');
    writeFileSync(source, 'export const handler = (;\n');
    await expect(
      buildBots({ entries: [{ name: 'broken', source, dist: 'bots/dist/broken.js' }], outRoot: tmp })
    ).rejects.toThrow('Unexpected ";"');
  });

  test('the repo config is valid', () => {
    expect(Array.isArray(readBotConfig())).toBe(true);
  });
});

describe('why @medplum/core is external', () => {
  test('a bundle that inlines @medplum/core 5 cannot load in the vmcontext sandbox', async () => {
    const result = await esbuild.build({
      stdin: { contents: "export { createReference } from '@medplum/core';", resolveDir: import.meta.dirname },
      bundle: true,
      write: false,
      platform: 'node',
      format: 'cjs',
      target: ['node22', 'es2022'],
      footer: { js: 'Object.assign(exports, module.exports);' },
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]?.text ?? '';
    expect(() => probeBotBundle(code)).toThrow('WebSocket is not defined');
  });
});

describe('global lists', () => {
  test('match the sandbox: every allowed global exists and every forbidden one does not', async () => {
    const names = [...VMCONTEXT_GLOBALS, ...FORBIDDEN_BOT_GLOBALS];
    const code = `exports.handler = async () => { const types = {}; ${names
      .map((name) => `types[${JSON.stringify(name)}] = typeof ${name};`)
      .join(' ')} return types; };`;
    const result = await runVmContextBot({
      code,
      bot: { resourceType: 'Bot', id: 'globals' },
      baseUrl: 'http://127.0.0.1:9/',
      accessToken: 't',
      input: {},
      contentType: 'application/json',
      secrets: {},
    });
    expect(result.success).toBe(true);
    const types = result.returnValue as Record<string, string>;
    expect(VMCONTEXT_GLOBALS.filter((name) => types[name] === 'undefined')).toEqual([]);
    expect(FORBIDDEN_BOT_GLOBALS.filter((name) => types[name] !== 'undefined')).toEqual([]);
  });

  test('every forbidden global is something Node itself has, so the ban is not vacuous', () => {
    const hostOnly = FORBIDDEN_BOT_GLOBALS.filter((name) => !['__dirname', '__filename'].includes(name));
    const context = vm.createContext({});
    const inFreshContext = hostOnly.filter((name) => vm.runInContext(`typeof ${name}`, context) !== 'undefined');
    const missingOnHost = hostOnly.filter((name) => !(name in globalThis));
    expect(inFreshContext).toEqual([]);
    expect(missingOnHost).toEqual([]);
  });

  test('eslint restriction entries cover every forbidden global with a message', () => {
    expect(BOT_GLOBAL_RESTRICTIONS.map((entry) => entry.name)).toEqual([...FORBIDDEN_BOT_GLOBALS]);
    expect(BOT_GLOBAL_RESTRICTIONS.find((entry) => entry.name === 'Buffer')?.message).toBe(
      "Buffer does not exist in Medplum's vmcontext bot sandbox. Use require('node:buffer').Buffer."
    );
    expect(BOT_GLOBAL_PROPERTY_RESTRICTIONS.filter((entry) => entry.object !== 'globalThis')).toEqual([]);
  });
});
