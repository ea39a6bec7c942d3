/**
 * Where Medplum's own CLI (`npx medplum bot deploy <name>`) finds the bot ids of the server deploy just wrote to.
 *
 * @medplum/cli 5.0.10 reads bot ids from exactly one file: `medplum.config.json` in its working directory (its bot
 * commands take no `--file`; `bots[].id` is what it reads, `source` is uploaded as `Bot.sourceCode`, `dist` goes to
 * `$deploy`; both are resolved against that directory). Ids differ per server and must never be committed, while
 * the committed medplum.config.json lists names, sources and dists only. So deploy writes one directory per server,
 * `.medplum/<server>/medplum.config.json` (gitignored), whose paths point back at the repository's sources and
 * bundles; running the CLI there updates that server's bots:
 *
 *   cd .medplum/medplum.example.org && npx medplum bot deploy sync
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BotEntry } from '../build-bots.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The directory (under the working directory) that holds one sub-directory per server. */
export const CLI_CONFIG_DIR = '.medplum';

/**
 * A directory name for a server: host, then port and path when present (`127.0.0.1_8103`, `medplum.example.org`,
 * `example.org_medplum`), using only characters every filesystem accepts.
 * @param baseUrl - The server's base URL.
 * @returns The directory name.
 */
export function serverKey(baseUrl: string): string {
  const url = new URL(baseUrl);
  const parts = [url.hostname, url.port, ...url.pathname.split('/')].filter((part) => part !== '');
  return parts.join('_').replace(/[^A-Za-z0-9._-]/g, '-');
}

export interface CliConfigOptions {
  /** The server deploy wrote to. */
  readonly baseUrl: string;
  /** The committed medplum.config.json entries (names, sources, dists relative to `repoRoot`). */
  readonly entries: readonly BotEntry[];
  /** The ids deploy found or created on that server, by bot name. */
  readonly bots: readonly { readonly name: string; readonly id?: string }[];
  /** Where `.medplum/` goes (default: the working directory, where `npm run deploy` runs). */
  readonly root?: string;
  /** What `source` and `dist` are relative to (default: this repository). */
  readonly repoRoot?: string;
}

export interface CliConfig {
  /** Absolute path of the written medplum.config.json. */
  readonly path: string;
  /** Its directory, relative to `root`, for the message telling the operator where to run the CLI. */
  readonly relativeDir: string;
  readonly bots: readonly BotEntry[];
}

/**
 * Writes `<root>/.medplum/<server>/medplum.config.json` with every configured bot that has an id on that server.
 * @param options - See CliConfigOptions.
 * @returns What was written where.
 */
export function writeCliConfig(options: CliConfigOptions): CliConfig {
  const root = path.resolve(options.root ?? process.cwd());
  const repoRoot = options.repoRoot ?? REPO_ROOT;
  const relativeDir = path.join(CLI_CONFIG_DIR, serverKey(options.baseUrl));
  const dir = path.join(root, relativeDir);
  // The CLI resolves paths against its working directory; forward slashes keep the file the same on every OS.
  const fromDir = (file: string): string =>
    path.relative(dir, path.resolve(repoRoot, file)).split(path.sep).join(path.posix.sep);
  const bots: BotEntry[] = [];
  for (const entry of options.entries) {
    const id = options.bots.find((bot) => bot.name === entry.name)?.id;
    if (id) {
      bots.push({ name: entry.name, id, source: fromDir(entry.source), dist: fromDir(entry.dist) });
    }
  }
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'medplum.config.json');
  writeFileSync(file, JSON.stringify({ bots }, null, 2) + '\n');
  return { path: file, relativeDir, bots };
}
