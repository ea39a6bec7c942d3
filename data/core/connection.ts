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
import { BASIC_TYPE_SYSTEM, CONNECTION_CODE, OAUTH_STATE_CODE } from '../../bots/shared/extensions.ts';

export { BASIC_TYPE_SYSTEM, CONNECTION_CODE, OAUTH_STATE_CODE };
/** Search criteria a bot policy uses to reach connection records (and OAuth state records) and nothing else of type Basic. */
export { CONNECTION_CRITERIA, CONNECTION_RESOURCE_TYPE } from '../../bots/shared/connection.ts';
export { OAUTH_STATE_CRITERIA } from '../../bots/shared/oauth-state.ts';
