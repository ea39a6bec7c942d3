import { resolveConfig, RUNTIME_CONFIG_GLOBAL } from './runtime-config.ts';
import type { AppConfig } from './runtime-config.ts';

let cached: AppConfig | undefined;

/**
 * The app's configuration: build-time `MEDPLUM_*` env overridden by `window.__BASELINE_CONFIG__` from `/config.js`.
 * @returns The resolved configuration (computed once).
 */
export function getConfig(): AppConfig {
  cached ??= resolveConfig(import.meta.env, Reflect.get(window, RUNTIME_CONFIG_GLOBAL));
  return cached;
}
