/** The `share` bot's input and output, shared by the bot and the app (zod at both ends). */
import { z } from 'zod';
import { GrantRequestSchema, METRIC_GROUPS, SHARE_CONTENT } from './grants.ts';

const Id = z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/);

export const ShareInputSchema = z.discriminatedUnion('action', [
  GrantRequestSchema.extend({ action: z.literal('create') }),
  z.strictObject({ action: z.literal('revoke'), id: Id }),
  /** Before an erasure: every grant in force ends at once. */
  z.strictObject({ action: z.literal('revoke-all') }),
  z.strictObject({ action: z.literal('list') }),
  z.strictObject({ action: z.literal('grantees') }),
  z.strictObject({ action: z.literal('access-log'), id: Id }),
]);
export type ShareInput = z.input<typeof ShareInputSchema>;

export const GrantViewSchema = z.strictObject({
  id: z.string(),
  grantee: z.strictObject({
    reference: z.string(),
    display: z.string(),
    kind: z.enum(['clinician', 'ehr']),
  }),
  groups: z.array(z.enum(METRIC_GROUPS)),
  content: z.array(z.enum(SHARE_CONTENT)),
  since: z.string(),
  start: z.string(),
  end: z.string(),
  status: z.enum(['active', 'revoked', 'expired']),
  endedAt: z.string().optional(),
});
export type GrantView = z.infer<typeof GrantViewSchema>;

export const GranteeViewSchema = z.strictObject({
  reference: z.string(),
  display: z.string(),
  kind: z.enum(['clinician', 'ehr']),
});
export type GranteeView = z.infer<typeof GranteeViewSchema>;

export const AccessLogEntrySchema = z.strictObject({
  /** First and last access in this visit (accesses less than 30 minutes apart are one visit). */
  from: z.string(),
  to: z.string(),
  /** Records opened, by kind ("Observation: Heart rate variability" → 12). */
  kinds: z.record(z.string(), z.number().int().nonnegative()),
  count: z.number().int().nonnegative(),
});
export type AccessLogEntry = z.infer<typeof AccessLogEntrySchema>;

export const ShareResultSchema = z.union([
  z.strictObject({ grant: GrantViewSchema, reconciled: z.number().int() }),
  z.strictObject({ grants: z.array(GrantViewSchema) }),
  z.strictObject({ revoked: z.number().int().nonnegative() }),
  z.strictObject({ grantees: z.array(GranteeViewSchema) }),
  z.strictObject({ accessLog: z.array(AccessLogEntrySchema), total: z.number().int() }),
]);
export type ShareResult = z.infer<typeof ShareResultSchema>;
