/**
 * What people see of Oura: its name and what it brings. Free of runtime imports, because the app collects every
 * provider folder's about.ts at build time (app/src/lib/providers.ts), and the clinician view, which cannot ask the
 * bots, names sources with it too.
 */
import type { ProviderAbout } from '../shared/provider.ts';

export const PROVIDER_ABOUT = {
  key: 'oura',
  name: 'Oura',
  summary: 'Sleep, readiness, activity, heart rate through the day and temperature deviation.',
} as const satisfies ProviderAbout;
