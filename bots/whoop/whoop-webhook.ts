/**
 * Bot `whoop-webhook` (public webhook): WHOOP's notification endpoint. It can cause nothing WHOOP does not confirm.
 *
 * Protocol (https://developer.whoop.com/docs/developing/webhooks): POST JSON `{user_id, id, type, trace_id}`, signed
 * with `X-WHOOP-Signature` = base64(HMAC-SHA256(client secret, X-WHOOP-Signature-Timestamp + raw body)). WHOOP
 * retries non-2xx deliveries 5 times over about an hour and may deliver one event several times (same trace_id).
 *
 * With the raw body (Medplum ≥ 5.2 with `Bot.rawBody`, or a `text/plain` delivery) the signature and a ±5-minute
 * timestamp window are verified in constant time, failing closed when the secret is missing; a bad signature is
 * refused (HTTP 400 from Medplum) and queues nothing; a verified event queues one sync Task per trace id.
 * Without the raw body (Medplum < 5.2 hands the bot parsed JSON) nothing can be verified, so the body is a hint:
 * its ids name a record to look at, nothing more, and hints are bounded per connection (queue.ts queueHint: a few
 * record Tasks per hour, then one reconcile window per hour), so a flood of forged hints costs a handful of WHOOP
 * calls. Either way the bot only queues work; it never changes data. The sync bot fetches the record from WHOOP
 * with the stored tokens, applies a deletion only when WHOOP confirms the record is gone, and completes (does not
 * retry) a Task whose record WHOOP does not know.
 *
 * The answer is the same empty 2xx for every accepted notification — known user or not, queued or collapsed — so
 * the endpoint reveals nothing about who is connected; the one log line carries no ids. The bot resolves a WHOOP
 * user only to an ACTIVE connection (a disconnected or relinked one gets nothing) and never reads tokens: its
 * policy is connection search (no token store) and Task create/search.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Task } from '@medplum/fhirtypes';
import { CONNECTION_CODE_TOKEN, parseConnection } from '../shared/connection.ts';
import { providerUserIdSystem, TASK_IDENTIFIER_SYSTEM } from '../shared/extensions.ts';
import { queueHint, taskKey } from '../shared/queue.ts';
import { readOptionalSecret } from '../shared/secrets.ts';
import { buildTask } from '../shared/tasks.ts';
import type { RecordType } from '../shared/tasks.ts';
import { WebhookBodySchema } from './schemas.ts';
import { verifyWhoopSignature } from './signature.ts';

/**
 * Project secret the deployment sets to `true` when the server hands this bot raw bodies (Medplum ≥ 5.2 with
 * `Bot.rawBody`): then a parsed body is refused instead of being taken as a hint.
 */
export const SIGNED_ONLY_SECRET = 'WHOOP_WEBHOOK_SIGNED_ONLY';

/** Nothing: Medplum answers 200 with the same "All OK" outcome for every accepted notification. */
export type WebhookResult = undefined;

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<WebhookResult> {
  const raw = typeof event.input === 'string' ? event.input : undefined;
  const secret = readOptionalSecret(event.secrets, 'WHOOP_CLIENT_SECRET');
  let verified = false;
  let payload: unknown;
  if (raw !== undefined) {
    const check = verifyWhoopSignature({ rawBody: raw, headers: event.headers ?? {}, secret, now: Date.now() });
    if (!check.ok) {
      throw new Error(`Rejected WHOOP webhook: ${check.reason}`);
    }
    verified = true;
    try {
      payload = JSON.parse(raw);
    } catch {
      throw new Error('Rejected WHOOP webhook: body is not JSON');
    }
  } else {
    if (!secret) {
      // Fail closed like the verified path: an unconfigured deployment accepts nothing.
      throw new Error('Rejected WHOOP webhook: Missing webhook secret');
    }
    if (readOptionalSecret(event.secrets, SIGNED_ONLY_SECRET) === 'true') {
      // The server hands this bot raw bodies (Medplum ≥ 5.2 with rawBody): a parsed body came in some other way.
      throw new Error('Rejected WHOOP webhook: Missing raw body');
    }
    if (!/^application\/json\b/i.test(event.contentType ?? '')) {
      // WHOOP posts JSON; a form or other body parsed into an object is nobody's notification.
      throw new Error('Rejected WHOOP webhook: body is not JSON');
    }
    payload = event.input;
  }
  const parsed = WebhookBodySchema.safeParse(payload);
  if (!parsed.success) {
    const type = (payload as { type?: unknown } | undefined)?.type;
    if (typeof type === 'string') {
      // An event type Baseline does not use: acknowledged like any other, so WHOOP does not retry it.
      return undefined;
    }
    throw new Error('Rejected WHOOP webhook: body is not a WHOOP notification');
  }
  const body = parsed.data;
  const userId = String(body.user_id);

  // Only an active link: after a disconnect or a relink to another owner, the old connection gets nothing.
  const candidates = await medplum.searchResources(
    'Basic',
    { code: CONNECTION_CODE_TOKEN, identifier: `${providerUserIdSystem('whoop')}|${userId}` },
    { cache: 'no-cache' }
  );
  const connection = candidates
    .map((basic) => ({ basic, parsed: safeParse(basic) }))
    .find((c) => c.parsed?.status === 'active');
  if (!connection?.parsed) {
    console.log(JSON.stringify({ bot: 'whoop-webhook', outcome: 'no active connection' }));
    return undefined;
  }

  const recordType = body.type.split('.')[0] as RecordType;
  const linkId = connection.parsed.linkId ?? 'legacy';
  if (verified) {
    const dedupeKey = taskKey('whoop', 'trace', body.trace_id);
    const task: Task = buildTask({
      kind: 'sync',
      patient: connection.parsed.patient,
      connection: { reference: `Basic/${connection.basic.id}` },
      provider: 'whoop',
      dedupeKey,
      recordType,
      recordId: String(body.id),
      eventType: body.type,
    });
    await medplum.createResourceIfNoneExist(task, `identifier=${TASK_IDENTIFIER_SYSTEM}|${dedupeKey}`);
    console.log(JSON.stringify({ bot: 'whoop-webhook', outcome: 'queued', verified: true }));
    return undefined;
  }
  const outcome = await queueHint(medplum, {
    patient: connection.parsed.patient,
    connection: connection.basic,
    provider: 'whoop',
    linkId,
    recordType,
    recordId: String(body.id),
    eventType: body.type,
    now: new Date(),
  });
  console.log(JSON.stringify({ bot: 'whoop-webhook', outcome, verified: false }));
  return undefined;
}

function safeParse(basic: Parameters<typeof parseConnection>[0]): ReturnType<typeof parseConnection> | undefined {
  try {
    return parseConnection(basic);
  } catch {
    return undefined;
  }
}
