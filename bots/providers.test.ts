import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { METRICS, PROVIDER_IDS } from './shared/catalogue.ts';
import { PROVIDER_MODULES, providerName, ProviderKeySchema } from './providers.ts';

const BOTS_DIR = fileURLToPath(new URL('.', import.meta.url));
/** Folders that name a provider (the app lists exactly these: app/src/lib/providers.ts globs bots/<key>/about.ts). */
const ABOUT_FOLDERS = readdirSync(BOTS_DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(`${BOTS_DIR}${d.name}/about.ts`))
  .map((d) => d.name)
  .sort();

describe('the provider registry', () => {
  test('every provider folder with an about.ts has a registry line, and every registry line a folder of its key', () => {
    expect(PROVIDER_MODULES.map((m) => m.key).sort()).toEqual(ABOUT_FOLDERS);
  });

  test('each module carries its folder’s about (the app’s name and summary are the bots’)', async () => {
    for (const m of PROVIDER_MODULES) {
      const { PROVIDER_ABOUT } = (await import(`./${m.key}/about.ts`)) as {
        PROVIDER_ABOUT: { key: string; name: string; summary: string };
      };
      expect({ key: m.key, name: m.name, summary: m.summary }).toEqual(PROVIDER_ABOUT);
      expect(m.summary).toMatch(/^[A-Z].*\.$/);
    }
  });

  test('keys, webhook bots and secrets never collide between providers', () => {
    const bots = PROVIDER_MODULES.map((m) => m.webhookBot.name);
    expect(new Set(bots).size).toBe(bots.length);
    for (const m of PROVIDER_MODULES) {
      expect(m.webhookBot.name).toBe(`${m.key}-webhook`);
      expect(m.webhookBot.source).toBe(`bots/${m.key}/${m.key}-webhook.ts`);
      for (const secret of [...m.requiredSecrets, ...m.optionalSecrets]) {
        expect(secret.startsWith(`${m.key.toUpperCase()}_`)).toBe(true);
      }
    }
  });

  test('the catalogue’s providers are the registered ones, and each has metric rows', () => {
    expect([...PROVIDER_IDS].sort()).toEqual(PROVIDER_MODULES.map((m) => m.key).sort());
    const named = new Set(METRICS.flatMap((m) => m.providers));
    expect([...named].sort()).toEqual([...PROVIDER_IDS].sort());
  });

  test('an unknown key is refused with the supported list; an unknown name falls back to the key', () => {
    expect(ProviderKeySchema.safeParse('fitbit').error?.issues[0]?.message).toBe(
      'Unsupported provider (supported: whoop, withings, oura)'
    );
    expect(providerName('withings')).toBe('Withings');
    expect(providerName('fitbit')).toBe('fitbit');
  });
});
