/**
 * Bot `whoop-webhook` (public webhook, `Bot.rawBody`): WHOOP's notification endpoint.
 *
 * Protocol (https://developer.whoop.com/docs/developing/webhooks): POST JSON `{user_id, id, type, trace_id}`, signed
 * with `X-WHOOP-Signature` = base64(HMAC-SHA256(client secret, X-WHOOP-Signature-Timestamp + raw body)). WHOOP
 * retries non-2xx deliveries 5 times over about an hour and may deliver one event several times (same trace_id).
 *
 * With the raw body (Medplum ≥ 5.2, `rawBody: true`) the signature and a ±5-minute timestamp window are verified in
 * constant time, failing closed when the secret is missing; a bad signature is refused (HTTP 400 from Medplum) and
 * queues nothing. Without the raw body (older servers hand the bot parsed JSON) the byte-exact check is impossible,
 * so the notification is only a hint: nothing in it is trusted beyond the ids, and hints collapse to at most one
 * Task per record per hour. Either way the bot only queues a sync Task (idempotent on the trace id) and answers at
 * once; the sync bot fetches the real record from WHOOP with the stored tokens, so a forged hint can at most cause a
 * re-fetch of real data. Unknown users get a 2xx with no work, so WHOOP does not retry into a storm.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Basic, Task } from '@medplum/fhirtypes';
import { withLastWebhook } from '../shared/connection.ts';
import { providerUserIdSystem, TASK_IDENTIFIER_SYSTEM } from '../shared/extensions.ts';
import { updateIfUnchanged } from '../shared/fhir-write.ts';
import { taskKey } from '../shared/queue.ts';
import { readOptionalSecret } from '../shared/secrets.ts';
import { buildTask } from '../shared/tasks.ts';
import type { RecordType } from '../shared/tasks.ts';
import { WebhookBodySchema } from './schemas.ts';
import { verifyWhoopSignature } from './signature.ts';

export type WebhookResult =
  { accepted: true; task: string; verified: boolean } | { ignored: 'unknown user' | 'unsupported event' };

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
      throw new Error('Rejected WHOOP webhook: Missing webhook secret');
    }
    payload = event.input;
  }
  const parsed = WebhookBodySchema.safeParse(payload);
  if (!parsed.success) {
    const type = (payload as { type?: unknown } | undefined)?.type;
    if (typeof type === 'string') {
      return { ignored: 'unsupported event' };
    }
    throw new Error('Rejected WHOOP webhook: body is not a WHOOP notification');
  }
  const body = parsed.data;
  const userId = String(body.user_id);

  const connection = await medplum.searchOne(
    'Basic',
    { identifier: `${providerUserIdSystem('whoop')}|${userId}` },
    { cache: 'no-cache' }
  );
  if (!connection?.subject?.reference) {
    console.log(JSON.stringify({ bot: 'whoop-webhook', ignored: 'unknown user', type: body.type }));
    return { ignored: 'unknown user' };
  }

  const recordType = body.type.split('.')[0] as RecordType;
  const hour = new Date().toISOString().slice(0, 13);
  const dedupeKey = verified
    ? taskKey('whoop', 'trace', body.trace_id)
    : taskKey('whoop', 'hint', userId, body.type, String(body.id), hour);
  const task: Task = buildTask({
    kind: 'sync',
    patient: { reference: connection.subject.reference as `Patient/${string}` },
    connection: { reference: `Basic/${connection.id}` },
    provider: 'whoop',
    dedupeKey,
    recordType,
    recordId: String(body.id),
    eventType: body.type,
  });
  const created = await medplum.createResourceIfNoneExist(task, `identifier=${TASK_IDENTIFIER_SYSTEM}|${dedupeKey}`);
  // Bookkeeping for the sweeper's "quiet connection" check; losing this race to a sync run is harmless.
  await updateIfUnchanged(medplum, withLastWebhook(connection as Basic, new Date()), connection).catch(() => undefined);
  return { accepted: true, task: created.id, verified };
}
