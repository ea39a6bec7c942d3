/**
 * Bot `oura-webhook` (public webhook): Oura's delivery endpoint. It can cause nothing Oura does not confirm.
 *
 * Protocol (https://cloud.ouraring.com/v2/docs#tag/Webhook-Subscription-Routes): POST JSON
 * `{event_type, data_type, object_id, event_time, user_id}` with `x-oura-signature` = hex HMAC-SHA256(client secret,
 * x-oura-timestamp + raw body) and `x-oura-timestamp` (signature.ts). Oura retries a non-2xx or slow (> 10 s)
 * answer about ten times over an hour, and `410` would cancel the subscription, so the bot answers fast and never
 * 410. The GET verification challenge Oura sends when a subscription is created never reaches this bot: Medplum
 * routes only POST /webhook/:id, and the edge in front of it answers the challenge (README "Notifications").
 *
 * With the raw body (Medplum ≥ 5.2 with `Bot.rawBody`, or a `text/plain` delivery) the signature and a ±5-minute
 * timestamp window are verified in constant time, failing closed when the secret is missing; a bad signature is
 * refused (HTTP 400 from Medplum) and queues nothing; a verified event queues one sync Task, deduplicated by the
 * event (event type, data type, object id, event time), so Oura's retries of one delivery queue it once.
 * Without the raw body (Medplum 5.0 hands the bot parsed JSON) nothing can be verified: the body is a hint, bounded
 * per connection (queue.ts queueHint), and `OURA_WEBHOOK_SIGNED_ONLY=true` refuses parsed bodies altogether.
 * Either way the bot only queues work; the sync bot re-fetches the document with the stored tokens, retracts only
 * what Oura confirms deleted, and completes (does not retry) a Task whose document Oura does not know.
 *
 * The answer is the same empty 2xx for every accepted delivery — known user or not, mapped data type or not — so
 * the endpoint reveals nothing about who is connected; the one log line carries no ids. The bot resolves an Oura user
 * only to an ACTIVE connection and never reads tokens.
 */
import { createHash } from 'node:crypto';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Task } from '@medplum/fhirtypes';
import { CONNECTION_CODE_TOKEN, parseConnection } from '../shared/connection.ts';
import { providerUserIdSystem, TASK_IDENTIFIER_SYSTEM } from '../shared/extensions.ts';
import { queueHint, taskKey } from '../shared/queue.ts';
import { readOptionalSecret } from '../shared/secrets.ts';
import { buildTask } from '../shared/tasks.ts';
import { isMappedDataType, WebhookBodySchema } from './schemas.ts';
import { SIGNED_ONLY_SECRET, verifyOuraSignature } from './signature.ts';

export { SIGNED_ONLY_SECRET };

/** Nothing: Medplum answers 200 with the same "All OK" outcome for every accepted delivery. */
export type WebhookResult = undefined;

function log(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ bot: 'oura-webhook', ...fields }));
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<WebhookResult> {
  const raw = typeof event.input === 'string' ? event.input : undefined;
  const secret = readOptionalSecret(event.secrets, 'OURA_CLIENT_SECRET');
  let verified = false;
  let payload: unknown;
  if (raw !== undefined) {
    const check = verifyOuraSignature({ rawBody: raw, headers: event.headers ?? {}, secret, now: Date.now() });
    if (!check.ok) {
      throw new Error(`Rejected Oura webhook: ${check.reason}`);
    }
    verified = true;
    try {
      payload = JSON.parse(raw);
    } catch {
      throw new Error('Rejected Oura webhook: body is not JSON');
    }
  } else {
    if (!secret) {
      // Fail closed like the verified path: an unconfigured deployment accepts nothing.
      throw new Error('Rejected Oura webhook: Missing webhook secret');
    }
    if (readOptionalSecret(event.secrets, SIGNED_ONLY_SECRET) === 'true') {
      throw new Error('Rejected Oura webhook: Missing raw body');
    }
    if (!/^application\/json\b/i.test(event.contentType ?? '')) {
      // Oura posts JSON; a form or other body parsed into an object is nobody's delivery.
      throw new Error('Rejected Oura webhook: body is not JSON');
    }
    payload = event.input;
  }
  const parsed = WebhookBodySchema.safeParse(payload);
  if (!parsed.success) {
    const dataType = (payload as { data_type?: unknown } | null | undefined)?.data_type;
    if (typeof dataType === 'string' && !isMappedDataType(dataType)) {
      // A data type Baseline does not map (tags, sessions, ...): acknowledged, so Oura does not retry it.
      log({ outcome: 'ignored data type', verified });
      return undefined;
    }
    throw new Error('Rejected Oura webhook: body is not an Oura notification');
  }
  const body = parsed.data;
  if (!isMappedDataType(body.data_type)) {
    log({ outcome: 'ignored data type', verified });
    return undefined;
  }

  // Only an active link: after a disconnect or a relink to another owner, the old connection gets nothing.
  const candidates = await medplum.searchResources(
    'Basic',
    { code: CONNECTION_CODE_TOKEN, identifier: `${providerUserIdSystem('oura')}|${body.user_id}` },
    { cache: 'no-cache' }
  );
  const connection = candidates
    .map((basic) => ({ basic, parsed: safeParse(basic) }))
    .find((c) => c.parsed?.status === 'active' && c.parsed.provider === 'oura');
  if (!connection?.parsed) {
    log({ outcome: 'no active connection' });
    return undefined;
  }

  const eventType = `${body.event_type}.${body.data_type}`;
  if (verified) {
    // Oura's retries of one delivery name the same event; a later change of the same document has a new event_time.
    // Hashed, because ids and times may hold characters (`+`, `:`) that do not survive an identifier search query.
    const event = [body.event_type, body.data_type, body.object_id, body.event_time ?? raw ?? ''].join('\n');
    const dedupeKey = taskKey('oura', 'event', createHash('sha256').update(event, 'utf8').digest('hex').slice(0, 40));
    const task: Task = buildTask({
      kind: 'sync',
      patient: connection.parsed.patient,
      connection: { reference: `Basic/${connection.basic.id}` },
      provider: 'oura',
      dedupeKey,
      recordType: body.data_type,
      recordId: body.object_id,
      eventType,
    });
    await medplum.createResourceIfNoneExist(task, `identifier=${TASK_IDENTIFIER_SYSTEM}|${dedupeKey}`);
    log({ outcome: 'queued', verified: true });
    return undefined;
  }
  const outcome = await queueHint(medplum, {
    patient: connection.parsed.patient,
    connection: connection.basic,
    provider: 'oura',
    linkId: connection.parsed.linkId ?? 'legacy',
    recordType: body.data_type,
    recordId: body.object_id,
    eventType,
    now: new Date(),
  });
  log({ outcome, verified: false });
  return undefined;
}

function safeParse(basic: Parameters<typeof parseConnection>[0]): ReturnType<typeof parseConnection> | undefined {
  try {
    return parseConnection(basic);
  } catch {
    return undefined;
  }
}
