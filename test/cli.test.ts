/**
 * Medplum's own CLI works on this repository as a Medplum developer expects: after `npm run deploy` against a server,
 * `npx medplum bot deploy <name>` (run where deploy wrote that server's bot ids) updates exactly that bot there —
 * its source as `Bot.sourceCode`, its bundle through `$deploy` — and the bot still runs. The real CLI binary and the
 * real deploy script run as child processes against a local stack over HTTP.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MedplumClient } from '@medplum/core';
import type { Bot } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { z } from 'zod';
import { readBotConfig } from '../scripts/build-bots.ts';
import { CLI_CONFIG_DIR, serverKey } from '../scripts/deploy/cli-config.ts';
import { evalConfigJs } from './operator-docs.ts';
import { startLocalStack } from '../scripts/local-stack/server.ts';
import type { LocalStack } from '../scripts/local-stack/server.ts';
import { clientCredentialsClient } from '../scripts/medplum-client.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
/** What `npx medplum` runs: the bin @medplum/cli installs (a link to its dist/cjs/index.cjs). */
const CLI = path.join(ROOT, 'node_modules', '.bin', 'medplum');
const BOT = 'sweeper';

const CliConfigSchema = z.object({
  bots: z.array(z.object({ name: z.string(), id: z.string(), source: z.string(), dist: z.string() })),
});

const work = mkdtempSync(path.join(tmpdir(), 'baseline-cli-'));
/** The CLI keeps its session in ~/.medplum; a throwaway HOME keeps the developer's own profiles out of it. */
const home = path.join(work, 'home');
let stack: LocalStack;
let admin: MedplumClient;
let env: NodeJS.ProcessEnv;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], cwd: string): Promise<Run> {
  // process.execPath is the project's Node 24 (vitest runs under it); the CLI needs Node >= 22.18.
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The bytes behind an attachment URL (a presigned storage URL, as Medplum answers). */
async function attachmentText(url: string | undefined): Promise<string> {
  expect(url).toMatch(/\/storage\//);
  const response = await fetch(url ?? '');
  expect(response.status).toBe(200);
  return response.text();
}

async function readBots(): Promise<Map<string, Bot>> {
  const bots = await admin.searchResources('Bot', { _count: '100' });
  return new Map(bots.map((bot) => [bot.name ?? '', bot]));
}

beforeAll(async () => {
  mkdirSync(home);
  stack = await startLocalStack({ dataDir: path.join(work, 'data'), port: 0 });
  admin = await clientCredentialsClient(stack.baseUrl, stack.adminClient.clientId, stack.adminClient.clientSecret);
  env = {
    PATH: process.env.PATH,
    HOME: home,
    MEDPLUM_BASE_URL: stack.baseUrl,
    MEDPLUM_CLIENT_ID: stack.adminClient.clientId,
    MEDPLUM_CLIENT_SECRET: stack.adminClient.clientSecret,
  };
});

afterAll(async () => {
  await stack.close();
  rmSync(work, { recursive: true, force: true });
});

test(
  'after npm run deploy, npx medplum bot deploy <name> updates that bot on that server',
  { timeout: 120_000 },
  async () => {
    // 1. The real deploy script, from a scratch working directory (it writes .medplum/<server>/ where it runs).
    const deployed = await run([path.join(ROOT, 'scripts', 'deploy.ts')], work);
    expect(deployed.code, deployed.stderr).toBe(0);
    // The app's /config.js for this server, ready to copy: the app accepts it, and its ids are this server's.
    const configJs = /^The app's \/config\.js for this server: (.+)$/m.exec(deployed.stdout)?.[1] ?? '';
    const appConfig = evalConfigJs(configJs);
    expect(appConfig.medplumBaseUrl).toBe(stack.baseUrl);
    expect(appConfig.projectId).toBe(stack.projectId);
    const appClient = await admin.readResource('ClientApplication', appConfig.clientId ?? '?');
    expect(appClient.name).toBe('Baseline patient app');
    const relativeDir = path.join(CLI_CONFIG_DIR, serverKey(stack.baseUrl));
    expect(deployed.stdout).toContain(`cd ${relativeDir} && npx medplum bot deploy <name>`);

    // 2. Every configured bot, with this server's id and paths that reach the repository's files from there.
    const configDir = path.join(work, relativeDir);
    const config = CliConfigSchema.parse(JSON.parse(readFileSync(path.join(configDir, 'medplum.config.json'), 'utf8')));
    const before = await readBots();
    const committed = readBotConfig();
    expect(config.bots.map((bot) => bot.name)).toEqual(committed.map((entry) => entry.name));
    for (const bot of config.bots) {
      expect(bot.id).toBe(before.get(bot.name)?.id);
      const entry = committed.find((e) => e.name === bot.name);
      expect(path.resolve(configDir, bot.source)).toBe(path.join(ROOT, entry?.source ?? '?'));
      expect(path.resolve(configDir, bot.dist)).toBe(path.join(ROOT, entry?.dist ?? '?'));
    }
    const target = config.bots.find((bot) => bot.name === BOT);
    const old = before.get(BOT);
    expect(old?.executableCode?.title).toMatch(new RegExp(`^${BOT}-[0-9a-f]{12}\\.js$`));

    // 3. The real CLI, where deploy said to run it. To show that what runs afterwards is what the CLI uploaded, the
    //    bundle it uploads is the built one plus a wrapper that tags the handler's result.
    const marker = randomUUID();
    const cliDir = path.join(work, 'cli-run');
    cpSync(configDir, cliDir, { recursive: true });
    const bundle = readFileSync(path.resolve(configDir, target?.dist ?? '?'), 'utf8');
    const tagged =
      bundle +
      `\n(() => { const inner = exports.handler; exports.handler = async (m, e) => ({ ...(await inner(m, e)), cliMarker: '${marker}' }); })();\n`;
    const taggedDist = path.join(work, `${BOT}.js`);
    writeFileSync(taggedDist, tagged);
    writeFileSync(
      path.join(cliDir, 'medplum.config.json'),
      JSON.stringify({
        bots: config.bots.map((bot) =>
          bot.name === BOT ? { ...bot, source: path.resolve(configDir, bot.source), dist: taggedDist } : bot
        ),
      })
    );
    const cli = await run([CLI, 'bot', 'deploy', BOT], cliDir);
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toContain('Number of bots deployed: 1');
    expect(cli.stdout).toContain('Number of errors: 0');
    expect(cli.code).toBe(0);

    // 4. That bot, and only that bot, changed: a new version with the CLI's source and bundle.
    const after = await readBots();
    const updated = await admin.readResource('Bot', target?.id ?? '?');
    expect(updated.meta?.versionId).not.toBe(old?.meta?.versionId);
    expect(updated.executableCode?.title).toBe(`${BOT}.js`);
    expect(await attachmentText(updated.executableCode?.url)).toBe(tagged);
    expect(updated.sourceCode?.title).toBe(path.basename(target?.source ?? '?'));
    expect(updated.sourceCode?.contentType).toBe('text/typescript');
    expect(await attachmentText(updated.sourceCode?.url)).toBe(
      readFileSync(path.resolve(configDir, target?.source ?? '?'), 'utf8')
    );
    for (const [name, bot] of after) {
      if (name !== BOT) {
        expect(bot.meta?.versionId, name).toBe(before.get(name)?.meta?.versionId);
      }
    }

    // 5. It still runs — the uploaded code: the tag is there, and so is the sweeper's own result.
    const result: unknown = await admin.executeBot(target?.id ?? '?', {}, 'application/json');
    expect(result).toMatchObject({ cliMarker: marker, retried: 0, requeued: 0 });

    // 6. The CLI as deploy left it (the repository's own bundle) works too, and deploy then owns the bot again.
    const plain = await run([CLI, 'bot', 'deploy', BOT], configDir);
    expect(plain.code).toBe(0);
    const replaced = await admin.readResource('Bot', target?.id ?? '?');
    expect(await attachmentText(replaced.executableCode?.url)).toBe(bundle);
    const redeployed = await run([path.join(ROOT, 'scripts', 'deploy.ts')], work);
    expect(redeployed.code).toBe(0);
    expect(redeployed.stdout).toMatch(new RegExp(`updated\\s+BotCode ${BOT} `));
  }
);

test(".medplum/ (per-server bot ids) is ignored by git, so no server's ids are ever committed", () => {
  const lines = readFileSync(path.join(ROOT, '.gitignore'), 'utf8').split('\n');
  expect(lines).toContain(`${CLI_CONFIG_DIR}/`);
});
