import { beforeEach, describe, expect, test, vi } from 'vitest';
import { z } from 'zod';
import type * as DataCache from '../../app/src/lib/data-cache.ts';

/** A Storage as the browser's sessionStorage behaves (Node has none). */
class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  clear(): void {
    this.items.clear();
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

const storage = new MemoryStorage();
vi.stubGlobal('sessionStorage', storage);

/** A fresh copy of the module: its in-memory half starts empty, as after a reload of the tab. */
async function reloaded(): Promise<typeof DataCache> {
  vi.resetModules();
  return import('../../app/src/lib/data-cache.ts');
}

const schema = z.object({ values: z.array(z.number()) });

describe('data cache', () => {
  beforeEach(() => {
    storage.clear();
  });

  test('a value survives a reload through sessionStorage, with when it was saved', async () => {
    const first = await reloaded();
    first.writeCached('p1.latest', { values: [1, 2] }, 1_000);
    const second = await reloaded();
    expect(second.readCached('p1.latest', schema)).toEqual({ value: { values: [1, 2] }, savedAt: 1_000 });
  });

  test('a stored value of the wrong shape (another app version) is dropped, not shown', async () => {
    storage.setItem('baseline.data.v1.p1.latest', JSON.stringify({ savedAt: 1, value: { values: ['x'] } }));
    storage.setItem('baseline.data.v1.p1.other', '{not json');
    const cache = await reloaded();
    expect(cache.readCached('p1.latest', schema)).toBeUndefined();
    expect(cache.readCached('p1.other', schema)).toBeUndefined();
    expect(storage.length).toBe(0);
  });

  test('only the newest entries are kept in sessionStorage', async () => {
    const cache = await reloaded();
    for (let i = 0; i < 20; i++) {
      cache.writeCached(`p1.series.${i}`, { values: [i] }, i);
    }
    expect(storage.length).toBe(12);
    expect(storage.getItem('baseline.data.v1.p1.series.19')).not.toBeNull();
    expect(storage.getItem('baseline.data.v1.p1.series.7')).toBeNull();
  });

  test('clearing forgets every entry, in memory and stored, and leaves other keys alone', async () => {
    storage.setItem('medplum.activeLogin', '{}');
    const cache = await reloaded();
    cache.writeCached('p1.latest', { values: [1] });
    cache.clearDataCache();
    expect(cache.readCached('p1.latest', schema)).toBeUndefined();
    expect(storage.length).toBe(1);
    expect(storage.getItem('medplum.activeLogin')).toBe('{}');
  });
});
