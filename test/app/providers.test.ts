import { describe, expect, test } from 'vitest';
import { PROVIDER_MODULES } from '../../bots/providers.ts';
import { KNOWN_PROVIDERS, providerByKey } from '../../app/src/lib/providers.ts';

describe('the app’s provider list', () => {
  test('is every registered provider, from its folder’s about.ts, by name', () => {
    expect(KNOWN_PROVIDERS.map((p) => p.key).sort()).toEqual(PROVIDER_MODULES.map((m) => m.key).sort());
    expect(KNOWN_PROVIDERS.map((p) => p.name)).toEqual(['Oura', 'WHOOP', 'Withings']);
    for (const m of PROVIDER_MODULES) {
      expect(providerByKey(m.key)).toEqual({ key: m.key, name: m.name, summary: m.summary });
    }
  });

  test('an unknown or missing key is no provider', () => {
    expect(providerByKey('fitbit')).toBeUndefined();
    expect(providerByKey(undefined)).toBeUndefined();
  });
});
