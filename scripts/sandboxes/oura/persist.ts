/**
 * The Oura sandbox's durable state: what real Oura would still know after the sandbox process restarts —
 * registered apps, grants, issued tokens (with the used refresh tokens, so a late duplicate is still refused),
 * pending consents and codes, webhook subscriptions, and the edits made to the synthetic documents (re-analysed
 * sleeps, deletions, days added). One small JSON file, written atomically (temp file + rename) once per
 * state-changing request, never on reads. Documents are not stored: they are regenerated from the seed and the
 * edit log is replayed on top, with its original times.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { OURA_DOCUMENT_TYPES } from './data.ts';
import { OURA_SCOPES } from './oauth.ts';

export const STATE_FILE_NAME = 'oura-sandbox-state.json';
export const STATE_VERSION = 1;

const Scope = z.enum(OURA_SCOPES);
const IsoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

export const PersistedClient = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  redirectUris: z.array(z.string()),
  name: z.string().optional(),
});

export const OAuthState = z.object({
  challenges: z.array(
    z.object({
      challenge: z.string(),
      clientId: z.string(),
      redirectUri: z.string(),
      scopes: z.array(Scope),
      state: z.string().optional(),
      expiresAt: z.number(),
    })
  ),
  codes: z.array(
    z.object({
      code: z.string(),
      clientId: z.string(),
      userId: z.string(),
      redirectUri: z.string(),
      scopes: z.array(Scope),
      expiresAt: z.number(),
      used: z.boolean(),
    })
  ),
  grants: z.array(
    z.object({ id: z.string(), clientId: z.string(), userId: z.string(), scopes: z.array(Scope), revoked: z.boolean() })
  ),
  accessTokens: z.array(z.object({ token: z.string(), grantId: z.string(), expiresAt: z.number() })),
  refreshTokens: z.array(z.object({ token: z.string(), grantId: z.string() })),
  usedRefreshTokens: z.array(z.object({ token: z.string(), grantId: z.string() })),
});
export type OAuthState = z.infer<typeof OAuthState>;

export const PersistedSubscription = z.object({
  id: z.string(),
  clientId: z.string(),
  callbackUrl: z.string(),
  verificationToken: z.string(),
  eventType: z.enum(['create', 'update', 'delete']),
  dataType: z.string(),
  expiresAt: z.number(),
});
export type PersistedSubscription = z.infer<typeof PersistedSubscription>;

/** One edit to the synthetic documents, with the sandbox time it happened at (it becomes `meta.updated_at`). */
export const RecordOp = z.discriminatedUnion('op', [
  z.object({ op: z.literal('reanalyse'), userId: z.string(), id: z.string(), at: z.number() }),
  z.object({
    op: z.literal('delete'),
    userId: z.string(),
    dataType: z.enum(OURA_DOCUMENT_TYPES),
    id: z.string(),
    at: z.number(),
  }),
  z.object({ op: z.literal('add-day'), at: z.number() }),
]);
export type RecordOp = z.infer<typeof RecordOp>;

export const SandboxState = z.object({
  version: z.literal(STATE_VERSION),
  clients: z.array(PersistedClient),
  oauth: OAuthState,
  subscriptions: z.array(PersistedSubscription),
  /** The sandbox clock's offset from `now()` set by `advanceClock` (subscriptions expire against it). */
  clockOffsetMs: z.number(),
  records: z.object({
    seed: z.number(),
    baseEndDate: IsoDate,
    log: z.array(RecordOp),
    episodes: z.array(z.object({ index: z.number().int(), startDate: IsoDate })).optional(),
  }),
});
export type SandboxState = z.infer<typeof SandboxState>;

export function stateFile(dataDir: string): string {
  return join(dataDir, STATE_FILE_NAME);
}

/**
 * @param dataDir - The directory the sandbox was given.
 * @returns The saved state, or undefined when there is none yet.
 * @throws When the file exists but is not a state this sandbox wrote (the message names the file to delete).
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
    throw new Error(`${file} is not JSON (${String(error)}); delete it to start the Oura sandbox afresh`, {
      cause: error,
    });
  }
  const parsed = SandboxState.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `${file} is not an Oura sandbox state: ${z.prettifyError(parsed.error)}\nDelete it to start the Oura sandbox afresh`
    );
  }
  return parsed.data;
}

/** Writes the state so that a crash at any moment leaves either the previous or the new file. */
export function saveState(dataDir: string, state: SandboxState): void {
  const file = stateFile(dataDir);
  const temp = `${file}.${process.pid}.tmp`;
  // Live tokens and the apps' secrets are in here: owner-only.
  writeFileSync(temp, JSON.stringify(state), { mode: 0o600 });
  renameSync(temp, file);
}
