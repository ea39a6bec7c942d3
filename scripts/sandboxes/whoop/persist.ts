/**
 * The sandbox's durable state: what real WHOOP would still know after the sandbox process restarts — registered
 * apps, grants, issued tokens and their rotation state, pending consents and codes, webhook URLs, and the changes
 * made to the synthetic records (re-scores, deletions, days added). It is one small JSON file, written atomically
 * (temp file + rename, so a kill leaves the old or the new file, never half of one) once per state-changing request,
 * never on reads. Records themselves are not stored: they are regenerated from the seed and the change log is
 * replayed on top, which reproduces them exactly (`updated_at` included, from the logged times).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { WHOOP_SCOPES } from './oauth.ts';

export const STATE_FILE_NAME = 'whoop-sandbox-state.json';
const STATE_VERSION = 1;

const Scope = z.enum(WHOOP_SCOPES);
const RecordType = z.enum(['cycle', 'sleep', 'recovery', 'workout']);

export const PersistedClient = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  redirectUris: z.array(z.string()),
  name: z.string().optional(),
  webhookUrl: z.string().optional(),
});

export const OAuthState = z.object({
  challenges: z.array(
    z.object({
      challenge: z.string(),
      clientId: z.string(),
      redirectUri: z.string(),
      scopes: z.array(Scope),
      state: z.string(),
      expiresAt: z.number(),
    })
  ),
  codes: z.array(
    z.object({
      code: z.string(),
      clientId: z.string(),
      userId: z.number().int(),
      redirectUri: z.string(),
      scopes: z.array(Scope),
      expiresAt: z.number(),
      used: z.boolean(),
      grantId: z.string().optional(),
    })
  ),
  grants: z.array(
    z.object({
      id: z.string(),
      clientId: z.string(),
      userId: z.number().int(),
      scopes: z.array(Scope),
      revoked: z.boolean(),
    })
  ),
  accessTokens: z.array(z.object({ token: z.string(), grantId: z.string(), expiresAt: z.number() })),
  refreshTokens: z.array(z.object({ token: z.string(), grantId: z.string() })),
  rotatedRefreshTokens: z.array(z.object({ token: z.string(), grantId: z.string() })),
});
export type OAuthState = z.infer<typeof OAuthState>;

/** One change to the synthetic records, with the sandbox time it happened at (it becomes `updated_at`). */
export const RecordOp = z.discriminatedUnion('op', [
  z.object({ op: z.literal('rescore'), recordType: RecordType, id: z.string(), at: z.number() }),
  z.object({ op: z.literal('score-pending'), at: z.number() }),
  z.object({ op: z.literal('delete'), recordType: RecordType, id: z.string() }),
  z.object({ op: z.literal('add-day'), at: z.number() }),
]);
export type RecordOp = z.infer<typeof RecordOp>;

export const SandboxState = z.object({
  version: z.literal(STATE_VERSION),
  clients: z.array(PersistedClient),
  oauth: OAuthState,
  webhooks: z.object({
    /** `null`: set to none on purpose (distinct from never set). */
    defaultUrl: z.string().nullable().optional(),
    byClient: z.array(z.object({ clientId: z.string(), url: z.string().nullable() })),
  }),
  records: z.object({
    /** The seed the history was generated from; another seed makes the log meaningless. */
    seed: z.number(),
    /** The `endDate` the history was first generated with; the log replays on top of it. */
    baseEndDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    log: z.array(RecordOp),
    /**
     * Demo episodes (server.ts SandboxPersonName.recentEpisode), fixed when the history was first generated. Part of
     * the history like the log: records already served were generated with them.
     */
    episodes: z
      .array(z.object({ userId: z.number().int(), startDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/) }))
      .optional(),
  }),
});
export type SandboxState = z.infer<typeof SandboxState>;

export function stateFile(dataDir: string): string {
  return join(dataDir, STATE_FILE_NAME);
}

/**
 * @param dataDir - The directory the sandbox was given.
 * @returns The saved state, or undefined when there is none yet.
 * @throws When the file exists but is not a state this sandbox wrote (it is never half-written, so this means
 *   another program or version wrote it; the message says which file to remove to start over).
 */
export function loadState(dataDir: string): SandboxState | undefined {
  const file = stateFile(dataDir);
  if (!existsSync(file)) {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file} is not JSON (${String(error)}); delete it to start the WHOOP sandbox afresh`);
  }
  const parsed = SandboxState.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `${file} is not a WHOOP sandbox state: ${z.prettifyError(parsed.error)}\nDelete it to start the WHOOP sandbox afresh`
    );
  }
  return parsed.data;
}

/** Writes the state so that a crash at any moment leaves either the previous or the new file. */
export function saveState(dataDir: string, state: SandboxState): void {
  const file = stateFile(dataDir);
  const temp = `${file}.${process.pid}.tmp`;
  // Tokens are in here: owner-only, like the local stack's own files.
  writeFileSync(temp, JSON.stringify(state), { mode: 0o600 });
  renameSync(temp, file);
}

export const EMPTY_OAUTH_STATE: OAuthState = {
  challenges: [],
  codes: [],
  grants: [],
  accessTokens: [],
  refreshTokens: [],
  rotatedRefreshTokens: [],
};

export { STATE_VERSION };
