/**
 * The Sharing page's words and defaults (pure). Grants themselves live in the `share` bot (bots/sharing); this turns
 * them into what an owner reads: whom, what, from when, until when, and whether it still holds.
 */
import type { MetricGroup } from '../../../bots/shared/catalogue.ts';
import { CONTENT_LABELS, MAX_GRANT_DAYS, METRIC_GROUPS } from '../../../bots/sharing/grants.ts';
import type { ShareContent } from '../../../bots/sharing/grants.ts';
import type { AuditEvent } from '@medplum/fhirtypes';
import { BASELINE_BASE } from '../../../bots/shared/systems.ts';
import type { AccessLogEntry, GrantView } from '../../../bots/sharing/owner-api.ts';

export const GROUP_LABELS: Readonly<Record<MetricGroup, string>> = {
  heart: 'Heart (resting heart rate, HRV)',
  sleep: 'Sleep',
  activity: 'Activity',
  body: 'Body (weight, composition)',
  respiratory: 'Breathing and SpO2',
  temperature: 'Temperature',
  scores: 'Scores (recovery, strain, readiness)',
};

const SHORT_GROUP: Readonly<Record<MetricGroup, string>> = {
  heart: 'heart',
  sleep: 'sleep',
  activity: 'activity',
  body: 'body',
  respiratory: 'breathing',
  temperature: 'temperature',
  scores: 'scores',
};

const SHORT_CONTENT: Readonly<Record<ShareContent, string>> = {
  wearable: 'measurements',
  derived: 'baselines and trends',
  narratives: 'narratives',
  alerts: 'alerts',
};

export { CONTENT_LABELS, METRIC_GROUPS };

const DAY_MS = 86_400_000;

function isoDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

export interface GrantForm {
  grantee: string;
  invite: { email: string; firstName: string; lastName: string };
  groups: MetricGroup[];
  content: ShareContent[];
  since: string;
  until: string;
}

/**
 * A new form: heart and sleep, measurements and derived insights, the last 30 days of data, for 30 days.
 * @param now - the current time.
 * @returns The form's starting values.
 */
export function defaultGrantForm(now: Date): GrantForm {
  return {
    grantee: '',
    invite: { email: '', firstName: '', lastName: '' },
    groups: ['heart', 'sleep'],
    content: ['wearable', 'derived'],
    since: isoDay(now.getTime() - 30 * DAY_MS),
    until: isoDay(now.getTime() + 30 * DAY_MS),
  };
}

/** The last day a grant made today may run to. */
export function latestUntil(now: Date): string {
  return isoDay(now.getTime() + MAX_GRANT_DAYS * DAY_MS);
}

/** What the form still lacks, in the owner's words (empty when it can be sent). */
export function formProblems(form: GrantForm, now: Date, inviting: boolean): string[] {
  const problems: string[] = [];
  if (inviting) {
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(form.invite.email)) {
      problems.push('Enter the clinician’s email address');
    }
    if (!form.invite.firstName.trim() || !form.invite.lastName.trim()) {
      problems.push('Enter the clinician’s name');
    }
  } else if (!form.grantee) {
    problems.push('Choose whom to share with');
  }
  if (form.groups.length === 0) {
    problems.push('Choose at least one group of metrics');
  }
  if (form.content.length === 0) {
    problems.push('Choose at least one kind of data');
  }
  if (!form.until) {
    problems.push('Choose when the sharing ends');
  } else if (form.until > latestUntil(now)) {
    problems.push(`Sharing can last at most ${MAX_GRANT_DAYS} days`);
  } else if (form.until < isoDay(now.getTime())) {
    problems.push('The end date has passed');
  }
  if (!form.since || form.since > isoDay(now.getTime())) {
    problems.push('The first day of data must be today or earlier');
  }
  return problems;
}

function day(iso: string): string {
  return new Date(iso.length === 10 ? `${iso}T12:00:00Z` : iso).toLocaleDateString('en-GB', {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    timeZone: 'UTC',
  });
}

/** "heart and sleep: measurements, baselines and trends; data from 6 Nov 2026". */
export function describeScope(grant: Pick<GrantView, 'groups' | 'content' | 'since'>): string {
  const list = (items: string[]): string =>
    items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1] ?? ''}`;
  const groups = list(grant.groups.map((g) => SHORT_GROUP[g]));
  const content = grant.content.map((c) => SHORT_CONTENT[c]).join(', ');
  return `${groups}: ${content}; data from ${day(grant.since)}`;
}

/** The grant's state in a few words, for its badge and its line. */
export function grantStatus(grant: GrantView, now: Date): { label: string; color: string; line: string } {
  if (grant.status === 'revoked') {
    return { label: 'Revoked', color: 'gray', line: `Revoked on ${day(grant.endedAt ?? grant.end)}` };
  }
  if (grant.status === 'expired' || Date.parse(grant.end) <= now.getTime()) {
    return { label: 'Ended', color: 'gray', line: `Ended on ${day(grant.end)}` };
  }
  return { label: 'Active', color: 'green', line: `Since ${day(grant.start)}, until ${day(grant.end)}` };
}

/** One visit of the access log in words: "12 records: Observation: HRV (RMSSD) ×10, Patient ×1, Consent ×1". */
export function describeVisit(entry: AccessLogEntry): string {
  const kinds = Object.entries(entry.kinds)
    .sort((x, y) => y[1] - x[1])
    .map(([kind, n]) => `${kind} ×${n}`)
    .join(', ');
  return `${entry.count} record${entry.count === 1 ? '' : 's'}: ${kinds}`;
}

/** The type of the access-log summaries an export carries (one per visit; not stored on the server). */
export const ACCESS_SUMMARY_TYPE = {
  system: BASELINE_BASE + '/CodeSystem/access-summary',
  code: 'shared-record-access',
  display: 'Access to shared records (summary)',
} as const;

/**
 * The owner's access log as FHIR, for the export: one AuditEvent per visit of a grantee, naming the grant.
 * @param grant - the grant.
 * @param entries - its visits (from the share bot's access-log).
 * @returns AuditEvents (with ids unique within the export).
 */
export function accessLogResources(grant: GrantView, entries: readonly AccessLogEntry[]): AuditEvent[] {
  return entries.map((entry, i) => ({
    resourceType: 'AuditEvent',
    id: `access-${grant.id}-${i + 1}`,
    type: { ...ACCESS_SUMMARY_TYPE },
    action: 'R',
    period: { start: entry.from, end: entry.to },
    recorded: entry.to,
    outcome: '0',
    agent: [{ who: { reference: grant.grantee.reference, display: grant.grantee.display }, requestor: true }],
    source: { observer: { display: 'Baseline, from the server’s AuditEvents' } },
    entity: [{ what: { reference: `Consent/${grant.id}` }, description: describeVisit(entry) }],
  }));
}
