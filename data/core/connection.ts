/**
 * The provider connection record (one per patient and provider: provider user id, encrypted tokens, key id, status).
 *
 * It is a `Basic` resource with `code` = BASIC_TYPE_SYSTEM|wearable-connection. No FHIR type models an OAuth account
 * link, and Basic keeps it an ordinary FHIR resource (Medplum stays the store of record) while letting access be
 * granted by type: the owner, clinician-share, clinician-base and EHR policies have no `Basic` entry at all, so those
 * roles cannot read, search or `$everything` their way to tokens even though `Basic.subject` puts the record in the
 * patient's compartment. Only the bots whose own policies name `Basic?code=...` can touch it; owners see a sanitized
 * status through a bot.
 */
import { BASELINE_BASE } from '../../bots/shared/systems.ts';

export const CONNECTION_RESOURCE_TYPE = 'Basic';
export const BASIC_TYPE_SYSTEM = BASELINE_BASE + '/CodeSystem/basic-resource-type';
export const CONNECTION_CODE = 'wearable-connection';

/** Search criteria a bot policy uses to reach connection records and nothing else of type Basic. */
export const CONNECTION_CRITERIA = `Basic?code=${BASIC_TYPE_SYSTEM}|${CONNECTION_CODE}`;
