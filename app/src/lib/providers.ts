/**
 * Wearable providers Baseline supports, in the order the app shows them. Whether this server offers one (its client
 * credentials are set) comes from the `connections` bot at run time.
 */
import type { ProviderId } from '../../../bots/shared/catalogue.ts';

export interface ProviderInfo {
  /** Stable key, the same one the bots use for the provider's folder, identifiers and `ConnectionView.provider`. */
  readonly key: ProviderId;
  readonly name: string;
  readonly summary: string;
}

export const PROVIDERS: readonly ProviderInfo[] = [
  {
    key: 'whoop',
    name: 'WHOOP',
    summary: 'Recovery, strain, sleep, heart rate variability and resting heart rate.',
  },
  {
    key: 'withings',
    name: 'Withings',
    summary: 'Weight, body composition, blood pressure, sleep, activity and minute-by-minute heart rate.',
  },
  {
    key: 'oura',
    name: 'Oura',
    summary: 'Sleep, readiness, activity, heart rate through the day and temperature deviation.',
  },
];

/**
 * @param key - a provider key from a route or a bot response.
 * @returns The provider, or undefined when Baseline has no such provider.
 */
export function providerByKey(key: string | undefined): ProviderInfo | undefined {
  return PROVIDERS.find((p) => p.key === key);
}
