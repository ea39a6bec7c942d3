/**
 * Deploy's configuration: credentials from the environment or `.env` only (argv ends up in shell history and process
 * lists), and the few flags it takes. Pure parsing, so every message is unit-tested.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { DEFAULT_APP_BASE_URLS } from '../../data/core/client-applications.ts';
import { DeployError } from './errors.ts';

export interface DeployEnv {
  /** Always ends with `/`, as MedplumClient expects. */
  readonly baseUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Base URLs of the deployed app, for redirect and launch URIs. */
  readonly appBaseUrls: readonly string[];
}

export interface DeployArgs {
  readonly dryRun: boolean;
  readonly help: boolean;
}

export const USAGE = `Usage: npm run deploy [-- --dry-run]

Deploys Baseline (profiles, AccessPolicies, ClientApplications, Bots, Subscriptions) to a Medplum 5 project.
Reads from the environment or ./.env (the environment wins):
  MEDPLUM_BASE_URL       server base URL, e.g. https://api.example.org/
  MEDPLUM_CLIENT_ID      a ClientApplication whose membership is a project admin
  MEDPLUM_CLIENT_SECRET  its secret
  BASELINE_APP_URL       optional, comma-separated base URLs of the Baseline app (default ${DEFAULT_APP_BASE_URLS.join(',')})
Options:
  --dry-run              print what would be created or updated, write nothing
  --help                 this text`;

/**
 * @param argv - Arguments after the script name.
 * @returns The parsed flags.
 */
export function parseArgs(argv: readonly string[]): DeployArgs {
  let dryRun = false;
  let help = false;
  for (const arg of argv) {
    if (arg === '--dry-run') {
      dryRun = true;
    } else if (arg === '--help' || arg === '-h') {
      help = true;
    } else {
      throw new DeployError(
        `Unknown argument: ${arg.split('=')[0]} (credentials come from the environment or .env, never from arguments)`
      );
    }
  }
  return { dryRun, help };
}

function httpUrl(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * @param env - Variables (process.env merged over .env).
 * @returns The validated configuration.
 */
export function parseDeployEnv(env: Readonly<Record<string, string | undefined>>): DeployEnv {
  const required = ['MEDPLUM_BASE_URL', 'MEDPLUM_CLIENT_ID', 'MEDPLUM_CLIENT_SECRET'] as const;
  const missing = required.filter((name) => !env[name]?.trim());
  if (missing.length > 0) {
    throw new DeployError(`Missing ${missing.join(', ')}: set them in the environment or in .env`);
  }
  const rawBase = (env.MEDPLUM_BASE_URL ?? '').trim();
  const base = httpUrl(rawBase);
  if (!base) {
    throw new DeployError(`MEDPLUM_BASE_URL is not an http(s) URL: ${rawBase}`);
  }
  if (base.username || base.password) {
    throw new DeployError('MEDPLUM_BASE_URL must not contain credentials');
  }
  base.search = '';
  base.hash = '';
  const baseUrl = base.toString().replace(/\/*$/, '/');

  const rawApp = env.BASELINE_APP_URL?.trim();
  let appBaseUrls: readonly string[] = DEFAULT_APP_BASE_URLS;
  if (rawApp) {
    const parts = rawApp.split(',').map((part) => part.trim());
    if (parts.some((part) => !httpUrl(part))) {
      throw new DeployError(`BASELINE_APP_URL is not a comma-separated list of http(s) URLs: ${rawApp}`);
    }
    appBaseUrls = parts.map((part) => part.replace(/\/+$/, ''));
  }

  return {
    baseUrl,
    clientId: (env.MEDPLUM_CLIENT_ID ?? '').trim(),
    clientSecret: (env.MEDPLUM_CLIENT_SECRET ?? '').trim(),
    appBaseUrls,
  };
}

/**
 * The variables deploy sees: `.env` (if present) overridden by the real environment, as dotenv and Node's
 * `--env-file` do. Does not modify process.env.
 * @param envFile - Path to the .env file.
 * @param processEnv - The process environment.
 * @returns The merged variables.
 */
export function loadEnv(
  envFile: string,
  processEnv: Readonly<Record<string, string | undefined>>
): Record<string, string | undefined> {
  const fromFile = existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  return { ...fromFile, ...processEnv };
}
