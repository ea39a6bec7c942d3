/** The share bot as an owner uses it, and "can this client see that", over real HTTP (tests and e2e:medplum). */
import { randomUUID } from 'node:crypto';
import { getStatus, isOperationOutcome, normalizeOperationOutcome } from '@medplum/core';
import type { MedplumClient } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { MetricGroup } from '../../bots/shared/catalogue.ts';
import type { ShareContent } from '../../bots/sharing/grants.ts';
import { ShareResultSchema } from '../../bots/sharing/owner-api.ts';
import type { GrantView, ShareInput } from '../../bots/sharing/owner-api.ts';
import { bot } from '../sandboxes/connect-flow.ts';
import { daysAgo } from './sharing-record.ts';

export async function share(
  owner: MedplumClient,
  input: ShareInput
): Promise<ReturnType<typeof ShareResultSchema.parse>> {
  return ShareResultSchema.parse(await owner.executeBot(bot('share'), input));
}

/** The bot's error message, or 'ok'. */
export async function shareError(owner: MedplumClient, input: unknown): Promise<string> {
  try {
    await owner.executeBot(bot('share'), input);
    return 'ok';
  } catch (err) {
    const outcome = isOperationOutcome(err) ? err : normalizeOperationOutcome(err);
    return outcome.issue?.[0]?.details?.text ?? String(err);
  }
}

export interface GrantOptions {
  grantee:
    | { practitioner: string }
    | { organization: string }
    | { invite: { email: string; firstName: string; lastName: string } };
  groups?: MetricGroup[];
  content?: ShareContent[];
  sinceDaysAgo?: number;
  until?: string;
}

export async function grant(owner: MedplumClient, options: GrantOptions): Promise<GrantView> {
  const result = await share(owner, {
    action: 'create',
    key: randomUUID(),
    grantee: options.grantee,
    groups: options.groups ?? ['heart'],
    content: options.content ?? ['wearable'],
    since: daysAgo(options.sinceDaysAgo ?? 30),
    until: options.until ?? new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10),
  });
  if (!('grant' in result)) {
    throw new Error('share create returned no grant');
  }
  return result.grant;
}

export async function revoke(owner: MedplumClient, id: string): Promise<GrantView> {
  const result = await share(owner, { action: 'revoke', id });
  if (!('grant' in result)) {
    throw new Error('share revoke returned no grant');
  }
  return result.grant;
}

/** HTTP status of a read (200, 403, 404...). */
export async function readStatus(client: MedplumClient, resource: Resource): Promise<number> {
  try {
    await client.readResource(resource.resourceType, resource.id ?? '', { cache: 'no-cache' });
    return 200;
  } catch (err) {
    return getStatus(isOperationOutcome(err) ? err : normalizeOperationOutcome(err));
  }
}

export async function canRead(client: MedplumClient, resource: Resource): Promise<boolean> {
  return (await readStatus(client, resource)) === 200;
}

/** Ids a search returns (an error counts as nothing found, with its status). */
export async function searchIds(
  client: MedplumClient,
  resourceType: string,
  query: Record<string, string> = {}
): Promise<string[]> {
  try {
    const bundle = await client.search(
      resourceType as 'Observation',
      { _count: '1000', ...query },
      { cache: 'no-cache' }
    );
    return (bundle.entry ?? []).flatMap((e) => (e.resource?.id ? [e.resource.id] : []));
  } catch {
    return [];
  }
}
