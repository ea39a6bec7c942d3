/**
 * The Withings sandbox's durable state: what real Withings would still know after the sandbox restarts — apps,
 * grants, tokens with their rotation state, open consents and codes, notification subscriptions, and the changes
 * made to the synthetic records (days added, measure groups edited or deleted). One small JSON file, written
 * atomically (temp file + rename) once per state-changing request, never on reads. Records are not stored: they
 * are regenerated from the seed and the change log is replayed on top (times included), which reproduces them.
 * Not kept: nonces (they live minutes), rate-limit windows, injected faults, stats, notification retries in flight.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { WITHINGS_SCOPES } from './oauth.ts';

export const STATE_FILE_NAME = 'withings-sandbox-state.json';
export const STATE_VERSION = 1;

const Scope = z.enum(WITHINGS_SCOPES);
const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);

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
    })
  ),
  grants: z.array(z.object({ id: z.string(), clientId: z.string(), userId: z.number().int(), scopes: z.array(Scope) })),
  accessTokens: z.array(z.object({ token: z.string(), grantId: z.string(), expiresAt: z.number(), used: z.boolean() })),
  refreshTokens: z.array(
    z.object({
      token: z.string(),
      grantId: z.string(),
      supersededAt: z.number().optional(),
      successors: z.array(z.string()),
    })
  ),
});
export type OAuthState = z.infer<typeof OAuthState>;

export const SubscriptionState = z.object({
  clientId: z.string(),
  userId: z.number().int(),
  appli: z.number().int(),
  callbackurl: z.string(),
  comment: z.string(),
});
export type SubscriptionState = z.infer<typeof SubscriptionState>;

export const RecordOp = z.discriminatedUnion('op', [
  z.object({ op: z.literal('add-day'), at: z.number() }),
  z.object({
    op: z.literal('edit-measure'),
    userId: z.number().int(),
    grpid: z.number().int(),
    changes: z.array(z.object({ type: z.number().int(), value: z.number() })),
    at: z.number(),
  }),
  z.object({ op: z.literal('delete-measure'), userId: z.number().int(), grpid: z.number().int(), at: z.number() }),
]);

export const SandboxState = z.object({
  version: z.literal(STATE_VERSION),
  clients: z.array(PersistedClient),
  oauth: OAuthState,
  subscriptions: z.array(SubscriptionState),
  records: z.object({
    seed: z.number(),
    /** The `endDate` the history was first generated with; the log replays on top of it. */
    baseEndDate: Day,
    log: z.array(RecordOp),
    /** Demo episodes, fixed when the history was first generated (as in the WHOOP sandbox). */
    episodes: z.array(z.object({ userId: z.number().int(), startDate: Day })).optional(),
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
    throw new Error(`${file} is not JSON (${String(error)}); delete it to start the Withings sandbox afresh`);
  }
  const parsed = SandboxState.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `${file} is not a Withings sandbox state: ${z.prettifyError(parsed.error)}\nDelete it to start the Withings sandbox afresh`
    );
  }
  return parsed.data;
}

/** Writes the state so that a crash at any moment leaves either the previous or the new file. */
export function saveState(dataDir: string, state: SandboxState): void {
  const file = stateFile(dataDir);
  const temp = `${file}.${process.pid}.tmp`;
  // Live tokens are in here: owner-only.
  writeFileSync(temp, JSON.stringify(state), { mode: 0o600 });
  renameSync(temp, file);
}
