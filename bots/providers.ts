/**
 * The provider registry: which module serves a provider key. The connect, disconnect, sync and sweeper bots see only
 * the ProviderModule interface (bots/shared/provider.ts); deploy derives each provider's webhook bot, its policy and
 * its secrets from this list. Adding a provider is one folder (bots/<key>/ with about.ts, provider.ts and its webhook
 * bot) and one line here, plus its key and metric rows in the catalogue (README, "Adding a provider").
 */
import { z } from 'zod';
import type { ProviderId } from './shared/catalogue.ts';
import type { ProviderHandle, ProviderModule } from './shared/provider.ts';
import type { BotSecrets } from './shared/secrets.ts';
import { OURA_PROVIDER_MODULE } from './oura/provider.ts';
import { WHOOP_PROVIDER_MODULE } from './whoop/provider.ts';
import { WITHINGS_PROVIDER_MODULE } from './withings/provider.ts';

export const PROVIDER_MODULES: readonly ProviderModule[] = [
  WHOOP_PROVIDER_MODULE,
  WITHINGS_PROVIDER_MODULE,
  OURA_PROVIDER_MODULE,
];

const KEYS = PROVIDER_MODULES.map((m) => m.key) as [ProviderId, ...ProviderId[]];

export const ProviderKeySchema = z.enum(KEYS, { error: `Unsupported provider (supported: ${KEYS.join(', ')})` });
export type LiveProvider = z.infer<typeof ProviderKeySchema>;
export type { ProviderHandle };

export function providerModule(key: LiveProvider): ProviderModule {
  const found = PROVIDER_MODULES.find((m) => m.key === key);
  if (!found) {
    throw new Error(`Unsupported provider ${key}`);
  }
  return found;
}

/** @returns the provider's display name, or the key for one Baseline does not know */
export function providerName(key: string): string {
  return PROVIDER_MODULES.find((m) => m.key === key)?.name ?? key;
}

export function oauthProviderFor(key: LiveProvider, secrets: BotSecrets | undefined): ProviderHandle {
  return providerModule(key).oauth(secrets);
}
