import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { WithId } from '@medplum/core';
import type { Observation, Resource } from '@medplum/fhirtypes';
import { afterEach, describe, expect, test } from 'vitest';
import type { Change } from './store.ts';
import { ResourceStore } from './store.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'baseline-store-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
  }
});

function observation(id: string, value: number, identifier = 'obs-' + id): WithId<Observation> {
  return {
    resourceType: 'Observation',
    id,
    meta: {
      versionId: randomUUID(),
      lastUpdated: new Date().toISOString(),
      project: 'p1',
      compartment: [{ reference: 'Patient/a' }],
    },
    identifier: [{ system: 'https://example.org/id', value: identifier }],
    status: 'final',
    code: { text: 'steps' },
    valueQuantity: { value },
  };
}

async function put(store: ResourceStore, resource: WithId<Resource>, interaction: 'create' | 'update'): Promise<void> {
  await store.exclusive(() => store.put(resource, interaction));
}

describe('ResourceStore', () => {
  test('a second store on the same directory replays current versions and history', async () => {
    const dir = tempDir();
    const id = randomUUID();
    const deletedId = randomUUID();
    const first = await ResourceStore.open({ dataDir: dir });
    await put(first, observation(id, 1), 'create');
    await put(first, observation(id, 2), 'update');
    await put(first, observation(deletedId, 3), 'create');
    await first.exclusive(() =>
      first.remove('Observation', deletedId, { versionId: randomUUID(), lastUpdated: new Date().toISOString() })
    );
    // No close(): a crash right after the commit returned must lose nothing.

    const second = await ResourceStore.open({ dataDir: dir });
    const record = second.getRecord('Observation', id);
    expect((record?.current as Observation | undefined)?.valueQuantity?.value).toBe(2);
    expect(record?.versions.map((v) => (v.resource as Observation | undefined)?.valueQuantity?.value)).toEqual([1, 2]);
    const deleted = second.getRecord('Observation', deletedId);
    expect(deleted?.current).toBeUndefined();
    expect(deleted?.versions).toHaveLength(2);
    expect(deleted?.versions[1]?.resource).toBeUndefined();
    expect([...(second.findByIdentifier('Observation', 'https://example.org/id|obs-' + id) ?? [])]).toEqual([id]);
    expect(second.findByIdentifier('Observation', 'https://example.org/id|obs-' + deletedId)?.size).toBe(0);
    expect([...second.findByCompartment('Observation', 'Patient/a')]).toEqual([id]);
    await first.close();
    await second.close();
  });

  test('a torn last line (crash mid-append) is dropped and truncated, never fatal', async () => {
    const dir = tempDir();
    const id = randomUUID();
    const store = await ResourceStore.open({ dataDir: dir });
    await put(store, observation(id, 1), 'create');
    await store.close();
    const journal = join(dir, 'journal.ndjson');
    const goodSize = statSync(journal).size;
    appendFileSync(journal, '{"changes":[{"i":"create","r":{"resourceType":"Observ');

    const reopened = await ResourceStore.open({ dataDir: dir });
    expect(reopened.getRecord('Observation', id)?.current?.id).toBe(id);
    expect(statSync(journal).size).toBe(goodSize);
    const later = randomUUID();
    await put(reopened, observation(later, 5), 'create');
    await reopened.close();

    const third = await ResourceStore.open({ dataDir: dir });
    expect(third.getRecord('Observation', later)?.current?.id).toBe(later);
    await third.close();
  });

  test('an unreadable line in the middle of the journal is corruption', async () => {
    const dir = tempDir();
    const store = await ResourceStore.open({ dataDir: dir });
    await put(store, observation(randomUUID(), 1), 'create');
    await store.close();
    const journal = join(dir, 'journal.ndjson');
    const text = readFileSync(journal, 'utf8');
    writeFileSync(journal, 'not json\n' + text);
    await expect(ResourceStore.open({ dataDir: dir })).rejects.toThrow(`Journal ${journal} is corrupt at line 1`);
  });

  test('a unit of work that throws is rolled back entirely and never journaled or announced', async () => {
    const dir = tempDir();
    const store = await ResourceStore.open({ dataDir: dir });
    const kept = randomUUID();
    await put(store, observation(kept, 1), 'create');
    const events: Change[][] = [];
    store.onCommit((changes) => events.push(changes));
    const size = statSync(join(dir, 'journal.ndjson')).size;

    const fresh = randomUUID();
    await expect(
      store.exclusive(() => {
        store.put(observation(kept, 2), 'update');
        store.put(observation(fresh, 3), 'create');
        throw new Error('boom');
      })
    ).rejects.toThrow('boom');

    expect((store.getRecord('Observation', kept)?.current as Observation | undefined)?.valueQuantity?.value).toBe(1);
    expect(store.getRecord('Observation', kept)?.versions).toHaveLength(1);
    expect(store.getRecord('Observation', fresh)).toBeUndefined();
    expect(store.findByIdentifier('Observation', 'obs-' + fresh)?.size).toBe(0);
    expect(statSync(join(dir, 'journal.ndjson')).size).toBe(size);
    expect(events).toEqual([]);
    await store.close();
  });

  test('savepoints undo only the inner part', async () => {
    const store = await ResourceStore.open({});
    const outer = randomUUID();
    const inner = randomUUID();
    await store.exclusive(() => {
      store.put(observation(outer, 1), 'create');
      const savepoint = store.savepoint();
      store.put(observation(inner, 2), 'create');
      store.rollbackTo(savepoint);
    });
    expect(store.getRecord('Observation', outer)?.current).toBeDefined();
    expect(store.getRecord('Observation', inner)).toBeUndefined();
  });

  test('listeners get each commit once, after it is durable, with the previous version', async () => {
    const dir = tempDir();
    const store = await ResourceStore.open({ dataDir: dir });
    const id = randomUUID();
    const seen: { interactions: string[]; journalBytes: number; previous?: number }[] = [];
    store.onCommit((changes) =>
      seen.push({
        interactions: changes.map((c) => c.interaction),
        journalBytes: statSync(join(dir, 'journal.ndjson')).size,
        previous: (changes[0]?.previous as Observation | undefined)?.valueQuantity?.value,
      })
    );
    await put(store, observation(id, 1), 'create');
    await store.exclusive(() => {
      store.put(observation(id, 2), 'update');
      store.remove('Observation', id, { versionId: randomUUID(), lastUpdated: new Date().toISOString() });
    });
    await store.exclusive(() => undefined);

    expect(seen).toHaveLength(2);
    expect(seen[0]?.interactions).toEqual(['create']);
    expect(seen[0]?.journalBytes).toBeGreaterThan(0);
    expect(seen[1]?.interactions).toEqual(['update', 'delete']);
    expect(seen[1]?.previous).toBe(1);
    await store.close();
  });

  test('writes outside exclusive() are refused', async () => {
    const store = await ResourceStore.open({});
    expect(() => store.put(observation(randomUUID(), 1), 'create')).toThrow(
      'ResourceStore writes must run inside exclusive()'
    );
  });

  test('a closed store refuses work', async () => {
    const store = await ResourceStore.open({});
    await store.close();
    await expect(store.exclusive(() => undefined)).rejects.toThrow('ResourceStore is closed');
  });

  test('units of work run one at a time, in arrival order', async () => {
    const store = await ResourceStore.open({});
    const order: string[] = [];
    const slow = store.exclusive(async () => {
      order.push('slow start');
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('slow end');
    });
    const fast = store.exclusive(() => {
      order.push('fast');
    });
    await Promise.all([slow, fast]);
    expect(order).toEqual(['slow start', 'slow end', 'fast']);
  });

  test('expunge removes a resource and its whole history, from memory and from the journal on disk', async () => {
    const dir = tempDir();
    const doomed = randomUUID();
    const kept = randomUUID();
    const store = await ResourceStore.open({ dataDir: dir });
    await put(store, observation(doomed, 1, 'secret-token-material'), 'create');
    await put(store, observation(doomed, 2, 'secret-token-material'), 'update');
    await put(store, observation(kept, 3), 'create');
    await store.exclusive(() =>
      store.remove('Observation', doomed, { versionId: randomUUID(), lastUpdated: new Date().toISOString() })
    );
    await store.exclusive(() => store.expunge('Observation', doomed));

    expect(store.getRecord('Observation', doomed)).toBeUndefined();
    expect(store.findByIdentifier('Observation', 'https://example.org/id|secret-token-material')?.size ?? 0).toBe(0);
    // Observations are compacted out of the journal in rounds (an erase expunges thousands), at the latest on close;
    // the journal still works meanwhile: appends, and a replay sees exactly what is left.
    await put(store, observation(kept, 4), 'update');
    await store.close();
    const journal = readFileSync(join(dir, 'journal.ndjson'), 'utf8');
    expect(journal).not.toContain(doomed);
    expect(journal).not.toContain('secret-token-material');
    const reopened = await ResourceStore.open({ dataDir: dir });
    expect(reopened.getRecord('Observation', doomed)).toBeUndefined();
    expect((reopened.getRecord('Observation', kept)?.current as Observation | undefined)?.valueQuantity?.value).toBe(4);
    expect(reopened.getRecord('Observation', kept)?.versions).toHaveLength(2);
  });

  test('an expunge inside a failed unit is undone', async () => {
    const store = await ResourceStore.open({});
    const id = randomUUID();
    await put(store, observation(id, 1), 'create');
    await expect(
      store.exclusive(() => {
        store.expunge('Observation', id);
        throw new Error('rolled back');
      })
    ).rejects.toThrow('rolled back');
    expect(store.getRecord('Observation', id)?.current).toBeDefined();
    expect(store.findByIdentifier('Observation', `https://example.org/id|obs-${id}`)?.has(id)).toBe(true);
  });

  test('a journal whose expunge marker survived a crash before the rewrite replays the expunge', async () => {
    const dir = tempDir();
    const id = randomUUID();
    const store = await ResourceStore.open({ dataDir: dir });
    await put(store, observation(id, 1), 'create');
    appendFileSync(
      join(dir, 'journal.ndjson'),
      JSON.stringify({ changes: [{ i: 'expunge', t: 'Observation', id }] }) + '\n'
    );
    const reopened = await ResourceStore.open({ dataDir: dir });
    expect(reopened.getRecord('Observation', id)).toBeUndefined();
  });
});
