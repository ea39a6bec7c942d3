/**
 * The app talks to Baseline's owner-invocable bots through Medplum's `Bot/$execute?identifier=...`, never by Bot id:
 * ids differ per server, identifiers are fixed by deploy (data/core/bots.ts). Every response is parsed with zod
 * before the UI touches it, so a bot that changes shape fails here with a message naming the bot and the field,
 * not later as `undefined` on screen. Errors a bot throws arrive as an OperationOutcome, which MedplumClient turns
 * into an exception whose normalized text is the bot's own message (e.g. `Expired state`).
 */
import { ContentType } from '@medplum/core';
import type { MedplumClient } from '@medplum/core';
import type { z } from 'zod';
import { BOT_IDENTIFIER_SYSTEM } from '../../../bots/shared/systems.ts';
import { formatZodIssues } from './zod-issues.ts';

/** Identifier values (in BOT_IDENTIFIER_SYSTEM) of the bots the patient app calls. */
export type OwnerBot =
  'connect-start' | 'connect-callback' | 'connections' | 'disconnect' | 'annotate' | 'preferences' | 'share';

/**
 * Runs an owner-invocable bot and validates what it returns.
 * @param medplum - the signed-in client (its AccessPolicy decides whether the owner may run the bot).
 * @param bot - the bot's identifier value.
 * @param input - the JSON input.
 * @param schema - the expected response shape.
 * @returns The parsed response.
 */
export async function executeOwnerBot<S extends z.ZodType>(
  medplum: Pick<MedplumClient, 'executeBot'>,
  bot: OwnerBot,
  input: Record<string, unknown>,
  schema: S
): Promise<z.output<S>> {
  const raw: unknown = await medplum.executeBot({ system: BOT_IDENTIFIER_SYSTEM, value: bot }, input, ContentType.JSON);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`The ${bot} bot returned an unexpected response: ${formatZodIssues(parsed.error)}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}
