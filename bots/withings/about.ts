/**
 * What people see of Withings: its name and what it brings. Free of runtime imports, because the app collects every
 * provider folder's about.ts at build time (app/src/lib/providers.ts), and the clinician view, which cannot ask the
 * bots, names sources with it too.
 */
import type { ProviderAbout } from '../shared/provider.ts';

export const PROVIDER_ABOUT = {
  key: 'withings',
  name: 'Withings',
  summary: 'Weight, body composition, blood pressure, sleep, activity and minute-by-minute heart rate.',
} as const satisfies ProviderAbout;
