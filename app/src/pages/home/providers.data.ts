/** Wearable providers Baseline can connect, in the order the home page shows them. */
export interface ProviderInfo {
  /** Stable key, the same one the bots use for the provider's folder and identifiers. */
  readonly key: 'whoop' | 'withings' | 'oura';
  readonly name: string;
  readonly summary: string;
}

export const PROVIDERS: readonly ProviderInfo[] = [
  { key: 'whoop', name: 'WHOOP', summary: 'Recovery, strain, sleep, heart rate variability and resting heart rate.' },
  { key: 'withings', name: 'Withings', summary: 'Weight, body composition, blood pressure and sleep.' },
  { key: 'oura', name: 'Oura', summary: 'Sleep, readiness, activity, heart rate and temperature deviation.' },
];
