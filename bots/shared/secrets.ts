/**
 * Project secrets reach a bot as `event.secrets` (name → ProjectSetting). One reader for all bots so a missing
 * secret always fails with the same message, which names the secret and never echoes any value.
 */
import type { ProjectSetting } from '@medplum/fhirtypes';

export type BotSecrets = Readonly<Record<string, ProjectSetting | undefined>>;

/**
 * @param secrets - `event.secrets`
 * @param name - SCREAMING_SNAKE secret name
 * @returns the non-empty string value
 */
export function readSecret(secrets: BotSecrets | undefined, name: string): string {
  const value = readOptionalSecret(secrets, name);
  if (value === undefined) {
    throw new Error(`Missing project secret ${name}`);
  }
  return value;
}

/**
 * @param secrets - `event.secrets`
 * @param name - secret name
 * @returns the value, or undefined when the secret is absent or blank (blank is treated as unset so a cleared
 *   secret falls back to the default instead of becoming an empty URL or key)
 */
export function readOptionalSecret(secrets: BotSecrets | undefined, name: string): string | undefined {
  const value = secrets?.[name]?.valueString?.trim();
  return value ? value : undefined;
}
