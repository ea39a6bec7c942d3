/**
 * What the target Medplum server is and what it supports, learnt before deploy writes anything. The version comes
 * from `GET /healthcheck` (unauthenticated; Medplum answers `{"ok":true,"version":"5.0.10-6a4145c",...}`, the local
 * stack `5.0.10-local` / `5.2.13-local`). Deploy plans against it: a Bot field the server does not know is refused
 * by a strict server mid-deploy, which is how a half-deployed project happened on 5.0.10 with `Bot.rawBody`.
 */
import { z } from 'zod';
import type { BotDefinition } from '../../data/core/bots.ts';
import { DeployError } from './errors.ts';

export interface MedplumVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** What the server reported, e.g. `5.0.10-6a4145c`. */
  readonly raw: string;
}

/** The oldest Medplum Baseline runs on (vmcontext bots with `requester`, the 5.x admin and FHIR APIs). */
export const MIN_VERSION = { major: 5, minor: 0 } as const;
/** `Bot.rawBody` (the exact request text for webhook signatures) exists from 5.2 on. */
export const RAW_BODY_VERSION = { major: 5, minor: 2 } as const;

export interface ServerPlan {
  readonly version: MedplumVersion;
  /** The local development stand-in (scripts/local-stack), which marks its versions `-local`. */
  readonly localStack: boolean;
  /** Whether Bot.rawBody may be written. */
  readonly rawBody: boolean;
  /** Bots whose definition asks for rawBody but that are deployed without it on this server. */
  readonly rawBodyDropped: readonly string[];
  /** One line each, printed before the plan: what this server's version means for Baseline. */
  readonly notes: readonly string[];
}

const HealthcheckSchema = z.object({ version: z.string().min(1) }).passthrough();

/**
 * @param version - A Medplum version string, e.g. `5.0.10-6a4145c` or `5.2.13-local`.
 * @returns The parsed version, or undefined when it is not `major.minor.patch[-suffix]`.
 */
export function parseMedplumVersion(version: string): MedplumVersion | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(version.trim());
  if (!match?.[1] || !match[2] || !match[3]) {
    return undefined;
  }
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), raw: version.trim() };
}

function atLeast(version: MedplumVersion, wanted: { major: number; minor: number }): boolean {
  return version.major > wanted.major || (version.major === wanted.major && version.minor >= wanted.minor);
}

/**
 * What deploy does on a server of this version, or why it must not deploy there at all.
 * @param versionText - `version` from the healthcheck.
 * @param bots - The bot definitions to deploy.
 * @returns The plan.
 * @throws DeployError when the version is unreadable or older than MIN_VERSION.
 */
export function planForServer(versionText: string, bots: readonly BotDefinition[]): ServerPlan {
  const version = parseMedplumVersion(versionText);
  if (!version) {
    throw new DeployError(`The server reports version "${versionText}", which is not a Medplum version`);
  }
  if (!atLeast(version, MIN_VERSION)) {
    throw new DeployError(
      `Medplum ${version.raw} is too old: Baseline needs Medplum ${MIN_VERSION.major}.${MIN_VERSION.minor} or newer`
    );
  }
  const rawBody = atLeast(version, RAW_BODY_VERSION);
  const rawBodyDropped = rawBody ? [] : bots.filter((bot) => bot.rawBody).map((bot) => bot.name);
  const notes: string[] = [];
  if (rawBodyDropped.length > 0) {
    notes.push(
      `Medplum ${version.raw} has no Bot.rawBody (${rawBodyDropped.join(', ')} deployed without it): webhook signatures cannot be checked byte-exactly, so signed notifications (WHOOP, Oura) are only hints that trigger a re-fetch from the provider; Medplum ${RAW_BODY_VERSION.major}.${RAW_BODY_VERSION.minor} or newer fixes this.`
    );
  }
  return { version, localStack: /-local$/.test(version.raw), rawBody, rawBodyDropped, notes };
}

/**
 * `GET /healthcheck` → the server's version string.
 * @param get - Fetches a path relative to the server's base URL and returns the parsed JSON.
 * @param baseUrl - For messages.
 * @returns The version string.
 * @throws DeployError when the server does not answer with one.
 */
export async function readServerVersion(get: (path: string) => Promise<unknown>, baseUrl: string): Promise<string> {
  let body: unknown;
  try {
    body = await get('healthcheck');
  } catch (err) {
    throw new DeployError(`Could not read ${baseUrl}healthcheck: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  const parsed = HealthcheckSchema.safeParse(body);
  if (!parsed.success) {
    throw new DeployError(`${baseUrl}healthcheck reports no version; is this a Medplum 5 server?`);
  }
  return parsed.data.version;
}
