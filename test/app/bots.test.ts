import type { Identifier } from '@medplum/fhirtypes';
import { expect, test, vi } from 'vitest';
import { z } from 'zod';
import { executeOwnerBot } from '../../app/src/lib/bots.ts';
import { BOT_IDENTIFIER_SYSTEM } from '../../bots/shared/systems.ts';

const Schema = z.object({ authorizeUrl: z.string() });

function fakeClient(answer: () => Promise<unknown>): {
  executeBot: (id: string | Identifier, body: unknown, contentType?: string) => Promise<unknown>;
  calls: unknown[][];
} {
  const calls: unknown[][] = [];
  return {
    calls,
    executeBot: vi.fn((...args: unknown[]) => {
      calls.push(args);
      return answer();
    }),
  };
}

test('names the bot and the field when the response has the wrong shape', async () => {
  const client = fakeClient(() => Promise.resolve({ url: 'https://x' }));
  await expect(executeOwnerBot(client, 'connect-start', {}, Schema)).rejects.toThrow(
    'The connect-start bot returned an unexpected response: authorizeUrl: Invalid input: expected string, received undefined'
  );
});

test('passes the bot error through unchanged (its message is what the user sees)', async () => {
  const client = fakeClient(() => Promise.reject(new Error('Expired state')));
  await expect(executeOwnerBot(client, 'connect-callback', {}, Schema)).rejects.toThrow('Expired state');
});

test('calls the bot by identifier with a JSON body and returns the parsed response', async () => {
  const client = fakeClient(() => Promise.resolve({ authorizeUrl: 'https://x', extra: 1 }));
  const input = { provider: 'whoop', redirectUri: 'http://127.0.0.1:3000/connect/whoop/callback' };
  await expect(executeOwnerBot(client, 'connect-start', input, Schema)).resolves.toEqual({
    authorizeUrl: 'https://x',
  });
  expect(client.calls).toEqual([
    [{ system: BOT_IDENTIFIER_SYSTEM, value: 'connect-start' }, input, 'application/json'],
  ]);
});
