/**
 * The clinician's view of an owner who shared data (issue 9 §3), the parts that touch no network: what a grant says
 * in words, the batch reads that open each shown record by id, which owners the clinician has seen before (to tell
 * "never shared" from "access ended"), and the latest value of each shared metric.
 *
 * Why reads by id: Medplum persists an AuditEvent for every read of a specific resource but not for searches, and
 * the owner's access log (bots/sharing/access-log.ts) is built from those AuditEvents. So the view searches for ids
 * only and then reads the records themselves in batch GET Bundles.
 */
import type { Bundle, BundleEntry, Consent, Observation, Patient, Resource, ResourceType } from '@medplum/fhirtypes';
import { z } from 'zod';
import { METRICS } from '../../../bots/shared/catalogue.ts';
import type { Metric, MetricGroup } from '../../../bots/shared/catalogue.ts';
import { parseGrant } from '../../../bots/sharing/grants.ts';
import type { Grant, ShareContent } from '../../../bots/sharing/grants.ts';
import {
  CURRENT_STATUSES,
  GROUP_LABELS,
  observationTime,
  observationValue,
  sameMetric,
} from '../pages/data/observations.ts';
import type { LatestValue } from '../pages/data/observations.ts';

/** Medplum answers a batch of up to this many entries in one request (and the view never sends more). */
export const MAX_BATCH_ENTRIES = 100;

/** How far back the latest-values search looks: a metric a device reports at all, it reports within two weeks. */
export const LATEST_WINDOW_DAYS = 14;
/** The latest-values page: ~7 Observations a day from one wearable, so about a week of every shared metric. */
export const LATEST_PAGE_SIZE = 60;

/** A request the server refused because the clinician no longer has access (403), or a record that vanished. */
export class AccessEndedError extends Error {
  constructor(message = "Access to this patient's data has ended or was revoked") {
    super(message);
    this.name = 'AccessEndedError';
  }
}

/**
 * The same search, asking only for ids (the records themselves are then read by id).
 * @param query - the search parameters.
 * @returns A copy with `_elements=id` and no `_include`/`_revinclude` (included resources would arrive unread).
 */
export function idOnlyQuery(query: URLSearchParams | Record<string, string> | string): URLSearchParams {
  const params = new URLSearchParams(query);
  params.set('_elements', 'id');
  params.delete('_include');
  params.delete('_revinclude');
  params.delete('_summary');
  return params;
}

/**
 * Batch Bundles reading the given records by id, at most MAX_BATCH_ENTRIES entries each, in the given order.
 * @param references - `Type/id` references, duplicates allowed (each is read once).
 * @returns The Bundles (none for no references).
 */
export function batchReadBundles(references: readonly string[]): Bundle[] {
  const unique = [...new Set(references)];
  const bundles: Bundle[] = [];
  for (let i = 0; i < unique.length; i += MAX_BATCH_ENTRIES) {
    bundles.push({
      resourceType: 'Bundle',
      type: 'batch',
      entry: unique
        .slice(i, i + MAX_BATCH_ENTRIES)
        .map((reference): BundleEntry => ({ request: { method: 'GET', url: reference } })),
    });
  }
  return bundles;
}

function statusCode(entry: BundleEntry): number {
  return Number.parseInt(entry.response?.status ?? '', 10);
}

/**
 * Reads the responses of `batchReadBundles`. A refused read (401/403) means the grant ended between the search and
 * the read: the caller shows that, not half a record. A record that is gone (404/410) is left out.
 * @param requests - the request Bundles, in order.
 * @param responses - their batch-response Bundles, in the same order.
 * @returns The records by `Type/id`.
 */
export function readBatchResponses(requests: readonly Bundle[], responses: readonly Bundle[]): Map<string, Resource> {
  const found = new Map<string, Resource>();
  requests.forEach((request, b) => {
    const response = responses[b];
    (request.entry ?? []).forEach((entry, i) => {
      const answer = response?.entry?.[i];
      const url = entry.request?.url ?? '';
      const status = answer ? statusCode(answer) : NaN;
      if (status === 401 || status === 403) {
        throw new AccessEndedError();
      }
      const resource = answer?.resource;
      if (status >= 200 && status < 300 && resource && `${resource.resourceType}/${resource.id ?? ''}` === url) {
        found.set(url, resource);
      } else if (!(status === 404 || status === 410)) {
        throw new Error(`Reading ${url} failed: HTTP ${Number.isNaN(status) ? 'status unknown' : status}`);
      }
    });
  });
  return found;
}

/**
 * Ids from an id-only search page.
 * @param bundle - a searchset Bundle.
 * @param resourceType - the type searched (included or OperationOutcome entries are skipped).
 * @returns `Type/id` references in the server's order.
 */
export function referencesOf(bundle: Bundle, resourceType: ResourceType): string[] {
  return (bundle.entry ?? []).flatMap((e) =>
    e.resource?.resourceType === resourceType && e.resource.id ? [`${resourceType}/${e.resource.id}`] : []
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Grants, in words

/** One owner who shared, with the grants the clinician can see (active ones: an ended grant is not readable). */
export interface SharedOwner {
  readonly patient: Patient & { id: string };
  readonly grants: readonly Grant[];
}

/**
 * Pairs the Patients and share Consents the clinician can read. A Consent that is not a well-formed Baseline share,
 * or not active, or past its end, grants nothing and is not shown.
 * @param patients - Patients the clinician's token returned.
 * @param consents - Consents the clinician's token returned.
 * @param now - the current time.
 * @returns Owners with at least one grant in force, by name.
 */
export function sharedOwners(patients: readonly Patient[], consents: readonly Consent[], now: Date): SharedOwner[] {
  const grants = consents.flatMap((c) => {
    const parsed = parseGrant(c);
    return parsed.ok && grantInForce(parsed.grant, now) ? [parsed.grant] : [];
  });
  return patients
    .flatMap((p): SharedOwner[] => {
      const id = p.id;
      if (!id) {
        return [];
      }
      const own = grants.filter((g) => g.patientId === id).sort((a, b) => a.end.localeCompare(b.end));
      return own.length > 0 ? [{ patient: { ...p, id }, grants: own }] : [];
    })
    .sort((a, b) => patientName(a.patient).localeCompare(patientName(b.patient)));
}

function grantInForce(grant: Grant, now: Date): boolean {
  return grant.status === 'active' && Date.parse(grant.start) <= now.getTime() && now.getTime() < Date.parse(grant.end);
}

/**
 * @param patient - a Patient.
 * @returns "Given Family", or a placeholder when the record has no name.
 */
export function patientName(patient: Patient): string {
  const name = patient.name?.[0];
  const text = name?.text ?? [...(name?.given ?? []), name?.family ?? ''].join(' ').trim();
  return text || 'Unnamed patient';
}

function formatDay(iso: string, locale?: string): string {
  // A date-only value is a calendar day, not midnight UTC: format it as that day wherever the reader is.
  const day = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? new Date(`${iso}T12:00:00Z`) : new Date(iso);
  return day.toLocaleDateString(locale ?? 'en-GB', {
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    ...(/^\d{4}-\d{2}-\d{2}$/.test(iso) ? { timeZone: 'UTC' } : {}),
  });
}

const CONTENT_WORDS: Readonly<Record<ShareContent, string>> = {
  wearable: 'wearable values',
  derived: 'baselines, trends and projections',
  narratives: 'weekly and monthly narratives',
  alerts: 'alerts',
};

/** What a grant shows, in words, for the clinician. */
export interface GrantText {
  /** e.g. "Heart, Sleep: wearable values, weekly and monthly narratives". */
  readonly scope: string;
  /** e.g. "Data from 3 November 2026". */
  readonly since: string;
  /** e.g. "Access ends on 5 January 2027". */
  readonly ends: string;
}

/**
 * @param grant - a grant in force.
 * @param locale - date locale (default en-GB: "5 January 2027").
 * @returns Its scope, first day of data and end, in words.
 */
export function describeGrant(grant: Grant, locale?: string): GrantText {
  const groups = grant.groups.map((g) => GROUP_LABELS[g]).join(', ');
  const content = grant.content.map((c) => CONTENT_WORDS[c]).join(', ');
  return {
    scope: `${groups}: ${content}`,
    since: `Data from ${formatDay(grant.since, locale)}`,
    ends: `Access ends on ${formatDay(grant.end, locale)}`,
  };
}

/** Union of what the grants of one owner cover. */
export interface SharedScope {
  readonly groups: readonly MetricGroup[];
  readonly content: readonly ShareContent[];
  /** Catalogue metrics in the shared groups, in catalogue order. */
  readonly metrics: readonly Metric[];
}

/**
 * @param grants - an owner's grants in force.
 * @returns The union of their groups and kinds of content, and the metrics that makes visible.
 */
export function sharedScope(grants: readonly Grant[]): SharedScope {
  const groups = [...new Set(grants.flatMap((g) => g.groups))];
  const content = [...new Set(grants.flatMap((g) => g.content))];
  return { groups, content, metrics: METRICS.filter((m) => groups.includes(m.group)) };
}

// ---------------------------------------------------------------------------------------------------------------
// Latest values

/**
 * The newest wearable Observations of the shared metrics, ids only (the records are then read by id).
 * @param patientId - the owner.
 * @param metrics - the shared metrics.
 * @param now - the current time.
 * @returns Search parameters.
 */
export function latestIdsQuery(patientId: string, metrics: readonly Metric[], now: Date): URLSearchParams {
  const since = new Date(now.getTime() - LATEST_WINDOW_DAYS * 86_400_000).toISOString();
  return idOnlyQuery({
    subject: `Patient/${patientId}`,
    code: [...new Set(metrics.map((m) => `${m.code.system}|${m.code.code}`))].join(','),
    status: CURRENT_STATUSES.join(','),
    date: `ge${since}`,
    _sort: '-date',
    _count: String(LATEST_PAGE_SIZE),
  });
}

/**
 * The latest value of each metric among Observations read newest first.
 * @param observations - the records, newest first.
 * @param metrics - the shared metrics.
 * @returns One entry per metric that has a value, in catalogue order.
 */
export function latestValues(observations: readonly Observation[], metrics: readonly Metric[]): LatestValue[] {
  return metrics.flatMap((metric): LatestValue[] => {
    for (const obs of observations) {
      if (!sameMetric(obs, metric)) {
        continue;
      }
      const value = observationValue(obs, metric);
      if (value) {
        return [{ metric, observationId: obs.id, value, time: observationTime(obs), device: undefined }];
      }
    }
    return [];
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Owners seen before

/** Minimal key-value store (localStorage in the browser). */
export interface SeenStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

const SEEN_PREFIX = 'baseline.clinician.seen.';
const SeenSchema = z.record(z.string(), z.string());

/**
 * A clinician's token cannot tell an owner who never shared from one whose grant ended (both answer 403 or
 * nothing), so this browser remembers which owners it showed to this clinician, and until when. Only ids and dates
 * are kept, never names or data.
 * @param store - localStorage.
 * @param clinician - the clinician's profile reference.
 * @returns Patient id → end of the grant last seen.
 */
export function readSeen(store: SeenStore, clinician: string): Record<string, string> {
  const raw = store.getItem(SEEN_PREFIX + clinician);
  if (raw === null) {
    return {};
  }
  try {
    const parsed = SeenSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : {};
  } catch {
    // Unreadable memory is treated as none: the page then says "not shared" instead of "ended".
    return {};
  }
}

/**
 * @param store - localStorage.
 * @param clinician - the clinician's profile reference.
 * @param owners - owners just shown, with their grants.
 */
export function rememberSeen(store: SeenStore, clinician: string, owners: readonly SharedOwner[]): void {
  const seen = readSeen(store, clinician);
  for (const owner of owners) {
    const end = owner.grants.map((g) => g.end).sort((a, b) => b.localeCompare(a))[0];
    if (end) {
      seen[owner.patient.id] = end;
    }
  }
  store.setItem(SEEN_PREFIX + clinician, JSON.stringify(seen));
}

/** Why an owner's data is not shown. */
export type NoAccess = { readonly kind: 'never' } | { readonly kind: 'ended'; readonly lastEnd: string };

/**
 * @param seen - what readSeen returned.
 * @param patientId - the owner asked for.
 * @returns 'ended' when this clinician saw the owner's data here before, else 'never'.
 */
export function noAccessReason(seen: Readonly<Record<string, string>>, patientId: string): NoAccess {
  const lastEnd = seen[patientId];
  return lastEnd ? { kind: 'ended', lastEnd } : { kind: 'never' };
}

/** The sentences the page shows when there is nothing to show. */
export const NO_ACCESS_TEXT = {
  nobody: 'No one has shared data with you yet',
  never: 'This patient has not shared data with you',
  ended: "Access to this patient's data has ended or was revoked",
} as const;

/** The fence's title and note: what the clinician is looking at, and what it is not. */
export const FENCE_TEXT = {
  title: 'Wearable data (shared by the patient) — not clinical data',
  note: 'Consumer wearable measurements and computed summaries. Not a diagnosis; not validated for clinical decisions.',
} as const;
