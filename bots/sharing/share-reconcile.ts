/**
 * Bot `share-reconcile` (cron, every minute; project admin for membership writes): makes every grantee's
 * membership match the Consents. This is what ends an expired grant — AccessPolicy criteria can filter resources
 * but cannot compare the request time with a date — so access ends at most one cron period (plus one run) after
 * `provision.period.end`; bench:sharing measures it. It also repairs a `share` run that failed between writing a
 * Consent and the membership.
 */
import type { BotEvent, MedplumClient } from '@medplum/core';
import { reconcileAll } from './membership.ts';
import type { ReconcileReport } from './membership.ts';
import { parseSharePolicyIds, SHARE_POLICIES_SECRET } from './reconcile.ts';

export async function handler(medplum: MedplumClient, event: BotEvent<unknown>): Promise<ReconcileReport> {
  const ids = parseSharePolicyIds(event.secrets[SHARE_POLICIES_SECRET]?.valueString);
  const report = await reconcileAll(medplum, ids, new Date());
  console.log(JSON.stringify({ bot: 'share-reconcile', ...report }));
  return report;
}
