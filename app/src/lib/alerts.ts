/**
 * The owner's active alerts for Home. The analytics bot raises a `Flag` per firing (its code.text in English only)
 * and sends a `Communication` about it with the message in English and German (bots/analytics/alerts.ts
 * flagResource / communicationResource). The Flag says whether the alert still stands; the Communication says it
 * in the owner's language. They belong together through Communication.about → the Flag, or, when the Communication
 * was written before the Flag had an id, through the shared identifier value `<patient>:<rule>:<day>` in the two
 * alert identifier systems.
 *
 * Pure: search parameters and matching only.
 */
import type { Communication, Flag } from '@medplum/fhirtypes';
import {
  ALERT_COMMUNICATION_IDENTIFIER_SYSTEM,
  ALERT_FLAG_IDENTIFIER_SYSTEM,
  alertFlagSearch,
  parseAlertFlag,
} from '../../../bots/analytics/alerts.ts';
import { describeFailedLoad } from './human-errors.ts';
import type { HumanError } from './human-errors.ts';
import type { Language } from './language.ts';

const LANGUAGE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/language';
const FLAG_PRIORITY_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/flag-priority';

export interface AlertView {
  readonly flagId: string;
  readonly ruleId: string;
  /** When the alert was raised (Flag.period.start, an instant). */
  readonly since: string;
  /** 'warning' for a medium-priority Flag, else 'info' (the rule's severity, as flagResource maps it). */
  readonly severity: 'warning' | 'info';
  readonly text: string;
  /** The language `text` is in: the owner's, unless only another one was found. */
  readonly language: Language;
}

/**
 * @param patientId - the owner's Patient id
 * @returns search parameters for the owner's Flags, newest first (Flag has no status search parameter in R4, so the
 *   active ones are picked after the search)
 */
export function flagSearch(patientId: string): string {
  return alertFlagSearch({ reference: `Patient/${patientId}` });
}

/** The identifier value both resources of one firing carry. */
function flagKey(flag: Flag): string | undefined {
  return flag.identifier?.find((i) => i.system === ALERT_FLAG_IDENTIFIER_SYSTEM)?.value;
}

/**
 * @param flags - the active alert Flags
 * @returns search parameters for their Communications, by identifier (one request, exact, bounded by the Flags)
 */
export function communicationSearch(flags: readonly Flag[]): Record<string, string> | undefined {
  const keys = flags.flatMap((f) => {
    const key = flagKey(f);
    return key ? [`${ALERT_COMMUNICATION_IDENTIFIER_SYSTEM}|${key}`] : [];
  });
  if (keys.length === 0) {
    return undefined;
  }
  return { identifier: keys.join(','), _count: String(Math.max(keys.length * 2, 10)) };
}

/**
 * @param flag - an alert Flag
 * @param communications - candidate Communications
 * @returns the Communication about that Flag: one whose `about` names it, else one with the Flag's identifier value
 */
export function communicationFor(flag: Flag, communications: readonly Communication[]): Communication | undefined {
  const reference = flag.id ? `Flag/${flag.id}` : undefined;
  const byAbout = reference
    ? communications.find((c) => (c.about ?? []).some((a) => a.reference === reference))
    : undefined;
  if (byAbout) {
    return byAbout;
  }
  const key = flagKey(flag);
  return key === undefined
    ? undefined
    : communications.find((c) =>
        (c.identifier ?? []).some((i) => i.system === ALERT_COMMUNICATION_IDENTIFIER_SYSTEM && i.value === key)
      );
}

/**
 * @param communication - an alert Communication
 * @param language - the wanted language
 * @returns the payload text in that language, if the Communication has one
 */
export function payloadIn(communication: Communication, language: Language): string | undefined {
  const payload = (communication.payload ?? []).find((p) =>
    (p.extension ?? []).some((e) => e.url === LANGUAGE_EXTENSION && e.valueCode?.toLowerCase().startsWith(language))
  );
  return payload?.contentString;
}

function severityOf(flag: Flag): 'warning' | 'info' {
  const priority = flag.extension?.find((e) => e.url === FLAG_PRIORITY_EXTENSION)?.valueCodeableConcept?.coding?.[0]
    ?.code;
  return priority === 'PM' || priority === 'PH' ? 'warning' : 'info';
}

/**
 * The active alerts, newest first, each in the owner's language where its Communication has it; else in English
 * (the Communication's English text, or the Flag's own code.text) rather than not at all.
 * @param flags - the owner's Flags (any, any status)
 * @param communications - Communications found for them
 * @param language - the owner's language
 * @returns the alerts to show
 */
export function activeAlerts(
  flags: readonly Flag[],
  communications: readonly Communication[],
  language: Language
): AlertView[] {
  const out: AlertView[] = [];
  for (const flag of flags) {
    const state = parseAlertFlag(flag);
    if (state?.status !== 'active' || !flag.id) {
      continue;
    }
    const communication = communicationFor(flag, communications);
    const own = communication ? payloadIn(communication, language) : undefined;
    const english = (communication ? payloadIn(communication, 'en') : undefined) ?? flag.code.text;
    const text = own ?? english;
    if (!text) {
      continue;
    }
    out.push({
      flagId: flag.id,
      ruleId: state.ruleId,
      since: state.firedAt,
      severity: severityOf(flag),
      text,
      language: own !== undefined ? language : 'en',
    });
  }
  return out.sort((a, b) => (a.since < b.since ? 1 : a.since > b.since ? -1 : a.flagId < b.flagId ? -1 : 1));
}

/**
 * Why the alerts could not be loaded, as a person reads it (the human-errors.ts shape).
 * @param message - the error's normalized text
 * @returns the human error
 */
export function describeAlertsLoadFailure(message: string): HumanError {
  return describeFailedLoad(message, {
    title: 'Your alerts could not be loaded',
    what: 'Baseline could not check your alerts just now, so this list may be missing some.',
    next: 'Reload the page in a moment. If it keeps failing, tell whoever runs your Baseline and mention the detail below.',
  });
}
