/**
 * A grant is the owner's FHIR Consent (issue 9 §1): who may see what of their record, from which date, until when.
 * The Consent is the source of truth; the sharing bots turn each active, valid one into `ProjectMembership.access[]`
 * entries of the grantee (reconcile.ts). Everything here is pure.
 *
 * Consent shape (R4): `patient` and `performer` = the owner; `provision.type` permit; `provision.period` = when the
 * grant is in force (end required, ≤ 90 days); `provision.dataPeriod.start` = the first day of data shared;
 * `provision.actor` = the grantee (a Practitioner, or an Organization standing for an EHR client) in role IRCP;
 * `provision.class` = the FHIR types visible; `provision.code` = the metric groups and the kinds of content
 * (wearable values, derived insights, narratives, alerts) in Baseline's share-scope CodeSystem. A revoked or
 * expired grant is `inactive` with a `share-ended` extension saying which and when.
 */
import type { Consent, ConsentProvision, Extension, Organization, Practitioner, Reference } from '@medplum/fhirtypes';
import { z } from 'zod';
import { METRICS } from '../shared/catalogue.ts';
import type { Metric, MetricGroup } from '../shared/catalogue.ts';
import { BASELINE_BASE, IDENTIFIER_BASE, PROFILE_BASE } from '../shared/systems.ts';

export const SHARE_IDENTIFIER_SYSTEM = IDENTIFIER_BASE + '/share';
export const SHARE_SCOPE_SYSTEM = BASELINE_BASE + '/CodeSystem/baseline-share-scope';
export const SHARE_ENDED_EXTENSION = PROFILE_BASE + '/share-ended';
export const SHARE_CONSENT_PROFILE = PROFILE_BASE + '/baseline-share-consent';
/** The category that tells Baseline's share Consents from any other Consent in the project. */
export const SHARE_CATEGORY = { system: SHARE_SCOPE_SYSTEM, code: 'wearable-share', display: 'Wearable data share' };
/** The category as a search token (`Consent?category=`). */
export const SHARE_CATEGORY_TOKEN = `${SHARE_CATEGORY.system}|${SHARE_CATEGORY.code}`;
/** Search criteria that select Baseline's share Consents. */
export const SHARE_CONSENT_CRITERIA = `Consent?category=${SHARE_CATEGORY_TOKEN}`;

export const MAX_GRANT_DAYS = 90;
const DAY_MS = 86_400_000;

export const METRIC_GROUPS = [
  'heart',
  'sleep',
  'activity',
  'body',
  'respiratory',
  'temperature',
  'scores',
] as const satisfies readonly MetricGroup[];

/** What a grant may include besides the metric groups. */
export const SHARE_CONTENT = ['wearable', 'derived', 'narratives', 'alerts'] as const;
export type ShareContent = (typeof SHARE_CONTENT)[number];

export const CONTENT_LABELS: Readonly<Record<ShareContent, string>> = {
  wearable: 'Wearable values',
  derived: 'Derived insights (baselines, trends, projections)',
  narratives: 'Weekly and monthly narratives',
  alerts: 'Alerts',
};

export type GranteeType = 'Practitioner' | 'Organization';

export interface Grant {
  readonly consentId: string;
  readonly key: string;
  readonly patientId: string;
  readonly grantee: { readonly type: GranteeType; readonly id: string; readonly display?: string };
  readonly groups: readonly MetricGroup[];
  readonly content: readonly ShareContent[];
  /** First day of data shared (YYYY-MM-DD). */
  readonly since: string;
  /** When the grant took effect and when it ends (ISO instants). */
  readonly start: string;
  readonly end: string;
  readonly status: 'active' | 'revoked' | 'expired';
  readonly endedAt?: string;
}

const DateSchema = z.iso.date();
const InstantSchema = z.iso.datetime({ offset: true });

/** The grantee the owner chose: a clinician or EHR already in the project, or a clinician to invite by email. */
export const GranteeInputSchema = z.union([
  z.strictObject({ practitioner: z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/) }),
  z.strictObject({ organization: z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/) }),
  z.strictObject({
    invite: z.strictObject({
      email: z.email(),
      firstName: z.string().trim().min(1).max(100),
      lastName: z.string().trim().min(1).max(100),
    }),
  }),
]);
export type GranteeInput = z.infer<typeof GranteeInputSchema>;

export const GrantRequestSchema = z.strictObject({
  /** Minted once by the app per grant form, so a doubled submit creates one Consent. */
  key: z.uuid(),
  grantee: GranteeInputSchema,
  groups: z.array(z.enum(METRIC_GROUPS)).min(1, 'Choose at least one group of metrics'),
  content: z.array(z.enum(SHARE_CONTENT)).min(1, 'Choose at least one kind of data'),
  since: DateSchema,
  /** The last day (YYYY-MM-DD, to its end in UTC) or an exact instant. Required. */
  until: z.union([DateSchema, InstantSchema], { error: 'Choose when the grant ends (at most 90 days from now)' }),
});
export type GrantRequest = z.infer<typeof GrantRequestSchema>;

/**
 * The instant a grant ends, checked against the 90-day limit.
 * @param until - a date (its end, UTC) or an instant.
 * @param now - the current time.
 * @returns The end instant (ISO).
 */
export function grantEnd(until: string, now: Date): string {
  const end = DateSchema.safeParse(until).success ? new Date(`${until}T23:59:59.999Z`) : new Date(until);
  if (Number.isNaN(end.getTime())) {
    throw new Error('Choose when the grant ends (at most 90 days from now)');
  }
  if (end.getTime() <= now.getTime()) {
    throw new Error('The grant must end in the future');
  }
  // A date counts to its end, so "90 days from today" is allowed to reach the end of that day.
  const latest = new Date(now.toISOString().slice(0, 10) + 'T23:59:59.999Z').getTime() + MAX_GRANT_DAYS * DAY_MS;
  if (end.getTime() > latest) {
    throw new Error(`A grant may last at most ${MAX_GRANT_DAYS} days`);
  }
  return end.toISOString();
}

/** Metrics a grant covers, in catalogue order. */
export function grantMetrics(groups: readonly MetricGroup[]): Metric[] {
  return METRICS.filter((m) => groups.includes(m.group));
}

/**
 * The token list a policy criteria matches the grant's metrics with (`system|code,…`), primary codes only: every
 * Baseline Observation carries its metric's primary coding, and a derived one names it in a component.
 */
export function metricTokens(groups: readonly MetricGroup[]): string {
  const tokens = new Set(grantMetrics(groups).map((m) => `${m.code.system}|${m.code.code}`));
  return [...tokens].join(',');
}

/** FHIR types a grant makes visible. */
export function grantClasses(content: readonly ShareContent[]): string[] {
  const classes = ['Patient', 'Device', 'Consent'];
  if (content.some((c) => c !== 'alerts')) {
    classes.push('Observation');
  }
  if (content.includes('alerts')) {
    classes.push('Flag', 'Communication');
  }
  return classes;
}

function scopeCode(code: string, display: string): { coding: { system: string; code: string; display: string }[] } {
  return { coding: [{ system: SHARE_SCOPE_SYSTEM, code, display }] };
}

export interface ConsentInput {
  readonly key: string;
  readonly patientId: string;
  readonly grantee: Reference<Practitioner | Organization> & { reference: string; display?: string };
  readonly groups: readonly MetricGroup[];
  readonly content: readonly ShareContent[];
  readonly since: string;
  readonly start: string;
  readonly end: string;
}

/**
 * The Consent for a new grant.
 * @param input - validated grant fields.
 * @returns The Consent to create (conditional on its identifier).
 */
export function grantConsent(input: ConsentInput): Consent {
  const patient = { reference: `Patient/${input.patientId}` };
  const provision: ConsentProvision = {
    type: 'permit',
    period: { start: input.start, end: input.end },
    dataPeriod: { start: input.since },
    actor: [
      {
        role: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
              code: 'IRCP',
              display: 'information recipient',
            },
          ],
        },
        reference: input.grantee,
      },
    ],
    action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' }] }],
    class: grantClasses(input.content).map((code) => ({ system: 'http://hl7.org/fhir/resource-types', code })),
    code: [
      ...METRIC_GROUPS.filter((g) => input.groups.includes(g)).map((g) => scopeCode(`group-${g}`, `Metric group ${g}`)),
      ...SHARE_CONTENT.filter((c) => input.content.includes(c)).map((c) => scopeCode(c, CONTENT_LABELS[c])),
    ],
  };
  return {
    resourceType: 'Consent',
    meta: { profile: [SHARE_CONSENT_PROFILE] },
    identifier: [{ system: SHARE_IDENTIFIER_SYSTEM, value: `${input.patientId}:${input.key}` }],
    status: 'active',
    scope: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }],
    },
    category: [
      { coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] },
      { coding: [SHARE_CATEGORY] },
    ],
    patient,
    dateTime: input.start,
    performer: [patient],
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision,
  };
}

const GranteeRef = /^(Practitioner|Organization)\/([A-Za-z0-9\-.]{1,64})$/;

/**
 * Reads a share Consent back into a Grant. A Consent that is not a well-formed Baseline share (anyone with Consent
 * write could have made it) yields the reasons instead, and is never turned into access.
 * @param consent - a stored Consent.
 * @param now - the current time (a grant past its end is expired even before the reconciler marks it).
 * @returns The grant or the problems.
 */
export function parseGrant(consent: Consent): { ok: true; grant: Grant } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const key = consent.identifier?.find((i) => i.system === SHARE_IDENTIFIER_SYSTEM)?.value;
  const patientId = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(consent.patient?.reference ?? '')?.[1];
  const actors = consent.provision?.actor ?? [];
  const granteeMatch = actors.length === 1 ? GranteeRef.exec(actors[0]?.reference.reference ?? '') : null;
  const codes = (consent.provision?.code ?? []).flatMap((c) =>
    (c.coding ?? []).filter((x) => x.system === SHARE_SCOPE_SYSTEM).map((x) => x.code ?? '')
  );
  const groups = METRIC_GROUPS.filter((g) => codes.includes(`group-${g}`));
  const content = SHARE_CONTENT.filter((c) => codes.includes(c));
  const since = consent.provision?.dataPeriod?.start;
  const start = consent.provision?.period?.start;
  const end = consent.provision?.period?.end;
  if (!consent.id) {
    errors.push('no id');
  }
  if (!key) {
    errors.push('no share identifier');
  }
  if (!patientId) {
    errors.push('patient is not a Patient reference');
  }
  if (
    !consent.category?.some((c) =>
      c.coding?.some((x) => x.system === SHARE_CATEGORY.system && x.code === SHARE_CATEGORY.code)
    )
  ) {
    errors.push('not a Baseline share');
  }
  if (consent.provision?.type !== 'permit') {
    errors.push('provision is not a permit');
  }
  if (!granteeMatch) {
    errors.push('provision must name exactly one Practitioner or Organization');
  }
  if (groups.length === 0) {
    errors.push('no metric group');
  }
  if (content.length === 0) {
    errors.push('no kind of data');
  }
  if (!since || !DateSchema.safeParse(since).success) {
    errors.push('dataPeriod.start must be a date');
  }
  if (!start || !end || Number.isNaN(Date.parse(start)) || Number.isNaN(Date.parse(end))) {
    errors.push('period must have a start and an end');
  } else if (Date.parse(end) - Date.parse(start) > (MAX_GRANT_DAYS + 1) * DAY_MS) {
    errors.push(`period is longer than ${MAX_GRANT_DAYS} days`);
  }
  if (errors.length > 0 || !granteeMatch || !patientId || !key || !consent.id || !since || !start || !end) {
    return { ok: false, errors };
  }
  const ended = endedOf(consent);
  const status: Grant['status'] =
    consent.status === 'active' ? 'active' : ended?.reason === 'expired' ? 'expired' : 'revoked';
  const display = actors[0]?.reference.display;
  return {
    ok: true,
    grant: {
      consentId: consent.id,
      key,
      patientId,
      grantee: {
        type: granteeMatch[1] as GranteeType,
        id: granteeMatch[2] as string,
        ...(display ? { display } : {}),
      },
      groups,
      content,
      since,
      start,
      end,
      status,
      ...(ended ? { endedAt: ended.at } : {}),
    },
  };
}

/** Whether a grant gives access at `now`: active, started, not past its end. */
export function isInForce(grant: Grant, now: Date): boolean {
  return grant.status === 'active' && Date.parse(grant.start) <= now.getTime() && now.getTime() < Date.parse(grant.end);
}

/**
 * Whom an alert about this owner also goes to: the grantees of the owner's grants in force that include alerts.
 * @param consents - the owner's share Consents (any status).
 * @param now - the current time.
 * @returns Grantee references, each once.
 */
export function alertRecipients(
  consents: readonly Consent[],
  now: Date
): (Reference<Practitioner | Organization> & { reference: string })[] {
  const refs = new Set<string>();
  for (const consent of consents) {
    const parsed = parseGrant(consent);
    if (parsed.ok && isInForce(parsed.grant, now) && parsed.grant.content.includes('alerts')) {
      refs.add(`${parsed.grant.grantee.type}/${parsed.grant.grantee.id}`);
    }
  }
  return [...refs].sort().map((reference) => ({ reference }));
}

export type EndReason = 'revoked' | 'expired';

function endedOf(consent: Consent): { reason: EndReason; at: string } | undefined {
  const ext = consent.extension?.find((e) => e.url === SHARE_ENDED_EXTENSION);
  const reason = ext?.extension?.find((e) => e.url === 'reason')?.valueCode;
  const at = ext?.extension?.find((e) => e.url === 'at')?.valueDateTime;
  return (reason === 'revoked' || reason === 'expired') && at ? { reason, at } : undefined;
}

/**
 * The Consent after a revoke or expiry: inactive, saying why and when.
 * @param consent - the stored Consent.
 * @param reason - revoked or expired.
 * @param at - when.
 * @returns The Consent to write.
 */
export function endConsent(consent: Consent, reason: EndReason, at: Date): Consent {
  const ended: Extension = {
    url: SHARE_ENDED_EXTENSION,
    extension: [
      { url: 'reason', valueCode: reason },
      { url: 'at', valueDateTime: at.toISOString() },
    ],
  };
  return {
    ...consent,
    status: 'inactive',
    extension: [...(consent.extension ?? []).filter((e) => e.url !== SHARE_ENDED_EXTENSION), ended],
  };
}
