/// <reference types="vite/client" />
/**
 * The wearable providers the app can show. Each provider's folder names itself in `bots/<key>/about.ts`; the app
 * collects those files at build time, so adding a provider (one folder, one line in bots/providers.ts) needs no edit
 * here. Whether this server offers one (its client credentials are set) comes from the `connections` bot at run time;
 * the clinician view, which cannot ask that bot, still names sources from these files. The app lists them by name, so
 * the order never jumps when the server answers.
 */
import type { ProviderAbout } from '../../../bots/shared/provider.ts';

export type ProviderInfo = ProviderAbout;

const ABOUT_FILES = import.meta.glob<ProviderAbout>('../../../bots/*/about.ts', {
  eager: true,
  import: 'PROVIDER_ABOUT',
});

/** Every provider this build of the app knows, by name. */
export const KNOWN_PROVIDERS: readonly ProviderInfo[] = Object.values(ABOUT_FILES).sort((a, b) =>
  a.name.localeCompare(b.name)
);

/**
 * @param key - a provider key from a route or a bot response.
 * @returns The provider, or undefined when this build has no such provider.
 */
export function providerByKey(key: string | undefined): ProviderInfo | undefined {
  return KNOWN_PROVIDERS.find((p) => p.key === key);
}
