/**
 * What people see of WHOOP: its name and what it brings. Free of runtime imports, because the app collects every
 * provider folder's about.ts at build time (app/src/lib/providers.ts), and the clinician view, which cannot ask the
 * bots, names sources with it too.
 */
import type { ProviderAbout } from '../shared/provider.ts';

export const PROVIDER_ABOUT = {
  key: 'whoop',
  name: 'WHOOP',
  summary: 'Recovery, strain, sleep, heart rate variability and resting heart rate.',
} as const satisfies ProviderAbout;
