/**
 * Bundles every bot in medplum.config.json into the single CommonJS file Medplum's `vmcontext`
 * runtime executes (reference/medplum.md §1.2, §1.4, §V).
 *
 * Decisions, each forced by how vmcontext runs code:
 * - CommonJS, one file: the server pastes the code into a script, so ESM fails with
 *   "Unexpected token 'export'". The footer copies `module.exports` onto the wrapper's `exports`
 *   (esbuild reassigns `module.exports`), and the file must end with `;` because the server appends
 *   `(async () => ...)()` right after it.
 * - `@medplum/core` stays external (resolved by the server's `require`, so the bot gets the server's
 *   version). Bundling it is not possible: @medplum/core 5 reads `WebSocket` at load time and the
 *   sandbox has no `WebSocket`, so a bundle containing it dies before the handler is defined. An
 *   external core also runs in the host realm, where its own `setTimeout`/`Buffer` use works. Bots
 *   should therefore use only long-stable core helpers and rely on types for the rest.
 * - Everything else (zod, Baseline's own libraries) is bundled: the server's node_modules holds only
 *   the bot layer, and bundled code runs in the sandbox realm, where Node globals do not exist —
 *   hence `FORBIDDEN_BOT_GLOBALS`, wired into eslint for bots/**.
 * - `node:*` built-ins stay external; the sandbox's `require` resolves them.
 *
 * CLI: `node scripts/build-bots.ts [name ...]` first writes medplum.config.json from data/core/bots.ts (the bot list is
 * derived from the provider registry), then builds all (or the named) bots and prints name, dist, sha256.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { z } from 'zod';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_CONFIG_PATH = path.join(REPO_ROOT, 'medplum.config.json');
/** Every dist path must live here; the deploy script and .gitignore rely on it. */
export const DIST_PREFIX = 'bots/dist/';

/** Packages the Medplum server provides to a vmcontext bot's `require` and that we do not bundle. */
export const BOT_EXTERNALS: readonly string[] = ['@medplum/core', 'node:*'];

/**
 * The globals a vmcontext bot may use: what Medplum 5.0 puts in the sandbox plus the ECMAScript
 * built-ins V8 gives every context (Object, Promise, JSON, Intl, ...). Newer Medplum (after PR #7919)
 * adds TextDecoder, the web streams, Headers/Request/Response; older 5.x servers lack them, so bots
 * must not rely on them.
 */
export const VMCONTEXT_GLOBALS: readonly string[] = [
  'console',
  'fetch',
  'require',
  'ContentType',
  'Hl7Message',
  'MedplumClient',
  'TextEncoder',
  'URL',
  'URLSearchParams',
  'event',
];

/**
 * Globals that Node (and @types/node) offer but a vmcontext bot does not have: using one compiles,
 * passes unit tests on Node, then throws "X is not defined" on Medplum. The replacement is always a
 * `require('node:...')` import (see `BOT_GLOBAL_RESTRICTIONS`).
 */
export const FORBIDDEN_BOT_GLOBALS: readonly string[] = [
  'Buffer',
  'process',
  'global',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'structuredClone',
  'atob',
  'btoa',
  'crypto',
  'TextDecoder',
  'TextDecoderStream',
  'TextEncoderStream',
  'ReadableStream',
  'WritableStream',
  'TransformStream',
  'CompressionStream',
  'DecompressionStream',
  'AbortController',
  'AbortSignal',
  'performance',
  'Headers',
  'Request',
  'Response',
  'FormData',
  'Blob',
  'File',
  'WebSocket',
  'EventTarget',
  'Event',
  'CustomEvent',
  'DOMException',
  'MessageChannel',
  'MessagePort',
  'BroadcastChannel',
  'navigator',
  '__dirname',
  '__filename',
];

const REPLACEMENTS: Readonly<Record<string, string>> = {
  Buffer: "require('node:buffer').Buffer",
  setTimeout: "require('node:timers') or require('node:timers/promises')",
  setInterval: "require('node:timers')",
  setImmediate: "require('node:timers')",
  clearTimeout: "require('node:timers')",
  clearInterval: "require('node:timers')",
  clearImmediate: "require('node:timers')",
  crypto: "require('node:crypto') (randomUUID, randomBytes, createHmac, webcrypto)",
  TextDecoder: "require('node:util').TextDecoder",
  atob: "require('node:buffer').atob",
  btoa: "require('node:buffer').btoa",
  structuredClone: 'JSON.parse(JSON.stringify(x)) or an explicit copy',
  performance: "require('node:perf_hooks').performance",
  ReadableStream: "require('node:stream/web')",
  WritableStream: "require('node:stream/web')",
  TransformStream: "require('node:stream/web')",
};

/** `no-restricted-globals` entries for bots/** (`{ name, message }`, the form eslint accepts). */
export const BOT_GLOBAL_RESTRICTIONS: readonly { name: string; message: string }[] = FORBIDDEN_BOT_GLOBALS.map(
  (name) => ({
    name,
    message:
      `${name} does not exist in Medplum's vmcontext bot sandbox.` +
      (REPLACEMENTS[name] ? ` Use ${REPLACEMENTS[name]}.` : ''),
  })
);

/** `no-restricted-properties` entries catching `globalThis.Buffer` and friends, which `no-restricted-globals` misses. */
export const BOT_GLOBAL_PROPERTY_RESTRICTIONS: readonly { object: string; property: string; message: string }[] =
  BOT_GLOBAL_RESTRICTIONS.map(({ name, message }) => ({ object: 'globalThis', property: name, message }));

const BotEntrySchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'Bot names are kebab-case'),
  source: z.string().min(1),
  dist: z.string().min(1),
  // The medplum CLI writes per-environment ids here; we keep them but do not use them.
  id: z.string().optional(),
});
const BotConfigSchema = z.object({ bots: z.array(BotEntrySchema) });

export type BotEntry = z.infer<typeof BotEntrySchema>;

export interface BuiltBot {
  name: string;
  /** Absolute path of the written bundle. */
  dist: string;
  code: string;
  /** Hex sha256 of `code`: what the deploy script compares to skip unchanged bots. */
  sha256: string;
}

export interface BuildBotsOptions {
  /** medplum.config.json to read; ignored when `entries` is given. Defaults to the repo's. */
  configPath?: string;
  /** Build only these bot names; an unknown name is an error. */
  only?: string[];
  /** Directory `dist` paths resolve against (default: the config file's directory). */
  outRoot?: string;
  /** Explicit bots instead of a config file; `source`/`dist` resolve against `root`. */
  entries?: BotEntry[];
  /** Directory relative `source` paths resolve against (default: the config file's directory, or the repo root). */
  root?: string;
}

/**
 * Reads and validates medplum.config.json: names unique, every dist a `.js` file under bots/dist/.
 * @param configPath - Path of the config file.
 * @returns The bot entries.
 */
export function readBotConfig(configPath: string = DEFAULT_CONFIG_PATH): BotEntry[] {
  const raw: unknown = JSON.parse(readFileSync(configPath, 'utf8'));
  const parsed = BotConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`Invalid ${configPath}: ${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  }
  const entries = parsed.data.bots;
  checkEntries(entries);
  return entries;
}

/**
 * Rejects duplicate names and dist paths outside bots/dist/ (or not ending in .js).
 * @param entries - Bot entries to check.
 */
export function checkEntries(entries: readonly BotEntry[]): void {
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) {
      throw new Error(`Duplicate bot name: ${entry.name}`);
    }
    seen.add(entry.name);
    const dist = path.posix.normalize(entry.dist.replaceAll('\\', '/'));
    if (!dist.startsWith(DIST_PREFIX) || !dist.endsWith('.js')) {
      throw new Error(`Bot ${entry.name}: dist must be a .js file under ${DIST_PREFIX} (got ${entry.dist})`);
    }
  }
}

/**
 * Bundles one bot into vmcontext-ready CommonJS and writes it.
 * @param entry - The bot's name, source and dist.
 * @param root - Directory relative `source` paths resolve against.
 * @param outRoot - Directory relative `dist` paths resolve against.
 * @returns The written bundle.
 */
export async function buildBot(entry: BotEntry, root: string, outRoot: string): Promise<BuiltBot> {
  const source = path.resolve(root, entry.source);
  if (!existsSync(source)) {
    throw new Error(`Bot ${entry.name}: source not found: ${entry.source}`);
  }
  const result = await esbuild.build({
    entryPoints: [source],
    absWorkingDir: REPO_ROOT,
    bundle: true,
    write: false,
    platform: 'node',
    format: 'cjs',
    target: ['node22', 'es2022'],
    external: [...BOT_EXTERNALS],
    // Keep license comments where they are: at the end they would land after the footer.
    legalComments: 'inline',
    charset: 'utf8',
    footer: { js: 'Object.assign(exports, module.exports);' },
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (!output) {
    throw new Error(`Bot ${entry.name}: esbuild produced no output`);
  }
  const code = output.text;
  if (!code.trimEnd().endsWith(';')) {
    throw new Error(`Bot ${entry.name}: bundle does not end with ';' (Medplum appends its wrapper right after it)`);
  }
  const dist = path.resolve(outRoot, entry.dist);
  mkdirSync(path.dirname(dist), { recursive: true });
  writeFileSync(dist, code);
  return { name: entry.name, dist, code, sha256: createHash('sha256').update(code).digest('hex') };
}

/**
 * Builds the bots of medplum.config.json (or `options.entries`), sequentially so errors name one bot.
 * @param options - Which config/bots and where to write.
 * @returns One BuiltBot per built bot, in config order.
 */
export async function buildBots(options: BuildBotsOptions = {}): Promise<BuiltBot[]> {
  const configPath = options.configPath ?? DEFAULT_CONFIG_PATH;
  let entries: BotEntry[];
  let root: string;
  if (options.entries) {
    entries = options.entries.map((entry) => BotEntrySchema.parse(entry));
    checkEntries(entries);
    root = options.root ?? REPO_ROOT;
  } else {
    entries = readBotConfig(configPath);
    root = options.root ?? path.dirname(path.resolve(configPath));
  }
  if (options.only) {
    const known = new Set(entries.map((entry) => entry.name));
    const unknown = options.only.filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw new Error(`Unknown bot: ${unknown.join(', ')}`);
    }
    const wanted = new Set(options.only);
    entries = entries.filter((entry) => wanted.has(entry.name));
  }
  const outRoot = options.outRoot ?? root;
  const built: BuiltBot[] = [];
  for (const entry of entries) {
    built.push(await buildBot(entry, root, outRoot));
  }
  return built;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2);
  try {
    // Loaded here, not at the top: eslint's config imports this module for the bot globals and must not load every bot.
    const { BOT_DEFINITIONS, botConfigText } = await import('../data/core/bots.ts');
    const wanted = botConfigText(BOT_DEFINITIONS);
    if (!existsSync(DEFAULT_CONFIG_PATH) || readFileSync(DEFAULT_CONFIG_PATH, 'utf8') !== wanted) {
      writeFileSync(DEFAULT_CONFIG_PATH, wanted);
      console.log('medplum.config.json: rewritten from data/core/bots.ts');
    }
    const built = await buildBots(names.length > 0 ? { only: names } : {});
    for (const bot of built) {
      console.log(`${bot.name}\t${path.relative(REPO_ROOT, bot.dist)}\t${bot.sha256}`);
    }
    console.log(`Built ${built.length} bot(s).`);
  } catch (err) {
    // A CLI user needs the message (it names the bot and the cause), not this script's stack.
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  }
}
