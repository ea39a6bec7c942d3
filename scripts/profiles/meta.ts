/**
 * What every generated conformance resource shares. Its own module so the generator's parts (generate.ts for the
 * Observation profiles, insights.ts for the issue-8 terminology and extensions) agree without importing each other.
 */

import * as prettier from 'prettier';

/** Bump when a profile changes meaning; Medplum resolves a profile url to its highest version. */
export const CONTENT_VERSION = '0.4.0';
export const PUBLISHER = 'Baseline';

/** annotationObservation declares it in meta.profile, so Medplum validates every annotation on write. */
export { ANNOTATION_PROFILE } from '../../bots/shared/systems.ts';

/** @returns the file text of a generated resource: JSON as the repo's prettier config prints it */
export async function formatJson(value: unknown): Promise<string> {
  return prettier.format(JSON.stringify(value, null, 2), {
    parser: 'json',
    printWidth: 120,
    singleQuote: true,
    trailingComma: 'es5',
  });
}
