/**
 * How deploy recognises the resources it owns on a server it did not create.
 *
 * Bot has an `identifier` element, so bots are found by `Bot?identifier=<system>|<value>`. AccessPolicy,
 * ClientApplication and (R4) Subscription have no `identifier` element in Medplum's schema (@medplum/fhirtypes 5.2.13),
 * and a strict Medplum server rejects unknown properties. Those three carry the same system|value as a `meta.tag`
 * instead, found with `_tag=<system>|<value>` (a search parameter every resource type has). The systems are the
 * shared identifier systems from bots/shared/systems.ts, so "identifier" means one thing across the repo.
 */
import type { Coding } from '@medplum/fhirtypes';

/**
 * The tag that marks a deployable resource as Baseline's, keyed by its stable name.
 * @param system - One of the *_IDENTIFIER_SYSTEM constants.
 * @param code - The resource's stable key, e.g. `patient-owner`.
 * @returns The Coding to put in `meta.tag`.
 */
export function identityTag(system: string, code: string): Coding {
  return { system, code };
}

/**
 * The token search value (`system|code`) for `identifier=` or `_tag=`.
 * @param system - The identifier or tag system.
 * @param code - The value or code.
 * @returns `system|code`.
 */
export function tokenSearch(system: string, code: string): string {
  return `${system}|${code}`;
}
