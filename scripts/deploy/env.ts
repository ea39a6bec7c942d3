/**
 * Deploy's configuration: credentials from the environment or `.env` only (argv ends up in shell history and process
 * lists), and the few flags it takes. Pure parsing, so every message is unit-tested.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { DEFAULT_APP_BASE_URLS } from '../../data/core/client-applications.ts';
import { DeployError } from './errors.ts';
import { DEFAULT_EXPECTED_OWNERS } from './quota.ts';

export interface DeployEnv {
  /** Always ends with `/`, as MedplumClient expects. */
  readonly baseUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Base URLs of the deployed app, for redirect and launch URIs. */
  readonly appBaseUrls: readonly string[];
  /** BASELINE_EXPECTED_OWNERS: how many owners the FHIR quota check sizes for (undefined: not set). */
  readonly expectedOwners?: number;
}

export interface DeployArgs {
  readonly dryRun: boolean;
  readonly help: boolean;
  /** `--owners N` (undefined: not given). */
  readonly owners?: number;
}

export const USAGE = `Usage: npm run deploy [-- --dry-run] [--owners N]

Deploys Baseline (profiles, AccessPolicies, ClientApplications, Bots, Subscriptions) to a Medplum 5 project.
Reads from the environment or ./.env (the environment wins):
  MEDPLUM_BASE_URL       server base URL, e.g. https://api.example.org/
  MEDPLUM_CLIENT_ID      a ClientApplication whose membership is a project admin
  MEDPLUM_CLIENT_SECRET  its secret
  BASELINE_APP_URL       optional, comma-separated base URLs of the Baseline app (default ${DEFAULT_APP_BASE_URLS.join(',')});
                         deploy puts them in the clients' redirect URIs and the BASELINE_APP_URLS Project secret
  BASELINE_EXPECTED_OWNERS  optional, owners to size the FHIR quota check for (default ${DEFAULT_EXPECTED_OWNERS})
Options:
  --dry-run              print the plan for this server (what would be created, updated or removed), write nothing
  --owners N             owners to size the FHIR quota check for (overrides BASELINE_EXPECTED_OWNERS)
  --help                 this text`;

function ownerCount(value: string | undefined, where: string): number {
  const text = (value ?? '').trim();
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 10_000_000) {
    throw new DeployError(`${where} must be a whole number of owners from 1 up, got "${text}"`);
  }
  return Number(text);
}

/**
 * @param argv - Arguments after the script name.
 * @returns The parsed flags.
 */
export function parseArgs(argv: readonly string[]): DeployArgs {
  let dryRun = false;
  let help = false;
  let owners: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--dry-run') {
      dryRun = true;
    } else if (arg === '--help' || arg === '-h') {
      help = true;
    } else if (arg === '--owners') {
      owners = ownerCount(argv[++i], '--owners');
    } else if (arg.startsWith('--owners=')) {
      owners = ownerCount(arg.slice('--owners='.length), '--owners');
    } else {
      throw new DeployError(
        `Unknown argument: ${arg.split('=')[0]} (credentials come from the environment or .env, never from arguments)`
      );
    }
  }
  return { dryRun, help, ...(owners === undefined ? {} : { owners }) };
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

  const rawOwners = env.BASELINE_EXPECTED_OWNERS?.trim();
  return {
    baseUrl,
    clientId: (env.MEDPLUM_CLIENT_ID ?? '').trim(),
    clientSecret: (env.MEDPLUM_CLIENT_SECRET ?? '').trim(),
    appBaseUrls,
    ...(rawOwners ? { expectedOwners: ownerCount(rawOwners, 'BASELINE_EXPECTED_OWNERS') } : {}),
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
