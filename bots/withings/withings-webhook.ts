/**
 * Bot `withings-webhook` (public webhook): Withings' notification endpoint. It can cause nothing but a bounded
 * re-fetch of the owner's own data with the stored tokens.
 *
 * Protocol (https://developer.withings.com/developer-guide/v3/integration-guide/public-health-data-api/data-api/notifications/notification-overview):
 * Withings POSTs `application/x-www-form-urlencoded` `userid, appli, startdate, enddate` (plus `date`, `deviceid`,
 * `action` for some categories) to the callback URL each user's subscription names, expects a 2xx within 2 s, and
 * retries failures (10 s, 1 min, 1 h, 4 h). There is NO signature: anyone who knows the URL can post anything.
 * Medplum parses the form into an object of strings (`event.input`, contentType
 * 'application/x-www-form-urlencoded'). The callback URL's HEAD check at subscribe time is answered by the edge in
 * front of Medplum, which only routes POST /webhook/:id (README "Notifications").
 *
 * So every notification is a hint: the body is zod-checked, its `userid` is looked up among ACTIVE connections
 * (a disconnected or relinked one gets nothing), and a sync Task is queued within the per-connection hint budget
 * (queue.ts queueHint: a few Tasks per hour, then one reconcile window per hour). The Task names the category and
 * the window the notification claimed, but the sync plan never trusts it (sync-plan.ts: lastupdate-based re-read,
 * intraday clamped to 7 days). Categories Baseline does not subscribe to are acknowledged and ignored — including
 * appli 46 `action=delete|unlink`, which is about the account, not a deletion of data: nothing is retracted for it.
 *
 * The answer is the same empty 2xx for every accepted notification — known user or not — so the endpoint reveals
 * nothing about who is connected; the log line carries no ids. Its policy is connection search (no token store) and
 * Task create/search.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Basic } from '@medplum/fhirtypes';
import { CONNECTION_CODE_TOKEN, parseConnection } from '../shared/connection.ts';
import { providerUserIdSystem } from '../shared/extensions.ts';
import { queueHint } from '../shared/queue.ts';
import { APPLI_RECORD_TYPES, NotificationSchema } from './schemas.ts';

/** Nothing: Medplum answers 200 with the same "All OK" outcome for every accepted notification. */
export type WebhookResult = undefined;

const FORM = /^application\/x-www-form-urlencoded\b/i;

function log(outcome: string): void {
  console.log(JSON.stringify({ bot: 'withings-webhook', outcome }));
}

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<WebhookResult> {
  if (!FORM.test(event.contentType ?? '')) {
    throw new Error('Rejected Withings notification: not a form-urlencoded body');
  }
  const input = event.input;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new Error('Rejected Withings notification: body is not a form');
  }
  const parsed = NotificationSchema.safeParse(input);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(body)'))].join(', ');
    throw new Error(`Rejected Withings notification: invalid ${fields}`);
  }
  const note = parsed.data;
  const recordType = APPLI_RECORD_TYPES[note.appli];
  if (recordType === undefined) {
    // A category Baseline does not subscribe to (46 account events, 50/51 bed presence, ECG...): acknowledged so
    // Withings does not retry it, and nothing is done — in particular appli 46 `delete` retracts nothing.
    log('ignored category');
    return undefined;
  }
  if (note.startdate !== undefined && note.enddate !== undefined && note.startdate > note.enddate) {
    throw new Error('Rejected Withings notification: startdate is after enddate');
  }

  const candidates = await medplum.searchResources(
    'Basic',
    { code: CONNECTION_CODE_TOKEN, identifier: `${providerUserIdSystem('withings')}|${note.userid}` },
    { cache: 'no-cache' }
  );
  const connection = candidates
    .map((basic) => ({ basic, parsed: safeParse(basic) }))
    .find((c) => c.parsed?.status === 'active');
  if (!connection?.parsed) {
    log('no active connection');
    return undefined;
  }
  const outcome = await queueHint(medplum, {
    patient: connection.parsed.patient,
    connection: connection.basic,
    provider: 'withings',
    linkId: connection.parsed.linkId ?? 'legacy',
    recordType,
    // The window the notification named: a hint only (sync-plan.ts clamps it); absent → the plan's own window.
    recordId:
      note.startdate !== undefined && note.enddate !== undefined ? `${note.startdate}-${note.enddate}` : 'unspecified',
    eventType: `appli-${note.appli}`,
    now: new Date(),
  });
  log(outcome);
  return undefined;
}

function safeParse(basic: Basic): ReturnType<typeof parseConnection> | undefined {
  try {
    return parseConnection(basic);
  } catch {
    return undefined;
  }
}
