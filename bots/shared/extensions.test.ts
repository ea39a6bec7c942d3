import { describe, expect, test } from 'vitest';
import * as extensions from './extensions.ts';
import { BASELINE_BASE } from './systems.ts';

function urls(value: unknown): string[] {
  if (typeof value === 'string') {
    return value.startsWith('http') ? [value] : [];
  }
  if (typeof value === 'object' && value !== null) {
    return Object.values(value).flatMap(urls);
  }
  return [];
}

describe('extensions', () => {
  test('every system and extension URL derives from BASELINE_BASE and none repeats', () => {
    const all = urls(extensions);
    expect(all.length).toBeGreaterThan(15);
    for (const url of all) {
      expect(url.startsWith(BASELINE_BASE + '/')).toBe(true);
    }
    expect(new Set(all).size).toBe(all.length);
  });

  test('the names of the design doc', () => {
    expect(extensions.CONNECTION_EXTENSION.tokenExpiresAt).toBe(
      `${BASELINE_BASE}/StructureDefinition/connection-token-expires-at`
    );
    expect(extensions.OAUTH_STATE_EXTENSION.expires).toBe(`${BASELINE_BASE}/StructureDefinition/oauth-state-expires`);
    expect(extensions.TASK_EXTENSION.nextAttempt).toBe(`${BASELINE_BASE}/StructureDefinition/task-next-attempt`);
    expect(extensions.providerUserIdSystem('whoop')).toBe(`${BASELINE_BASE}/identifier/whoop/user-id`);
    expect(extensions.providerRecordTypeSystem('whoop', 'sleep')).toBe(`${BASELINE_BASE}/identifier/whoop/sleep`);
    expect(extensions.providerRecordSystem('whoop')).toBe(`${BASELINE_BASE}/identifier/whoop/record`);
    expect(extensions.TASK_IDENTIFIER_SYSTEM).toBe(`${BASELINE_BASE}/identifier/task`);
  });
});
