/**
 * Wearable providers Baseline knows, in the order the app shows them. `live` is true only for a provider whose
 * connect flow and bots exist; the others are listed honestly as coming soon, with nothing to click.
 */
import type { ProviderId } from '../../../bots/shared/catalogue.ts';

export interface ProviderInfo {
  /** Stable key, the same one the bots use for the provider's folder, identifiers and `ConnectionView.provider`. */
  readonly key: ProviderId;
  readonly name: string;
  readonly summary: string;
  readonly live: boolean;
}

export const PROVIDERS: readonly ProviderInfo[] = [
  {
    key: 'whoop',
    name: 'WHOOP',
    summary: 'Recovery, strain, sleep, heart rate variability and resting heart rate.',
    live: true,
  },
  { key: 'withings', name: 'Withings', summary: 'Weight, body composition, blood pressure and sleep.', live: false },
  {
    key: 'oura',
    name: 'Oura',
    summary: 'Sleep, readiness, activity, heart rate and temperature deviation.',
    live: false,
  },
];

/**
 * @param key - a provider key from a route or a bot response.
 * @returns The provider, or undefined when Baseline has no such provider.
 */
export function providerByKey(key: string | undefined): ProviderInfo | undefined {
  return PROVIDERS.find((p) => p.key === key);
}
