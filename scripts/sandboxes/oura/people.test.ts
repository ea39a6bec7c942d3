/**
 * One person, three devices: started with the same seed and people, the Oura sandbox serves the WHOOP sandbox's
 * people (names, emails, time zones, the demo episode's start), and the consent page keeps the shared contract.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { startWhoopSandbox } from '../whoop/server.ts';
import type { SandboxPersonName, WhoopSandbox } from '../whoop/server.ts';
import { approveConsent, startOuraSandbox } from './server.ts';
import type { OuraSandbox } from './server.ts';

const PEOPLE: readonly SandboxPersonName[] = [
  {
    firstName: 'Alex',
    lastName: 'Rivera',
    email: 'owner@baseline.local',
    recentEpisode: { startDaysBeforeCurrent: 7 },
  },
  { firstName: 'Sam', lastName: 'Okafor', email: 'other@baseline.local' },
];
const CLIENT = { clientId: 'app', clientSecret: 'secret', redirectUris: ['https://app.example/cb'] };
const running: (OuraSandbox | WhoopSandbox)[] = [];

afterAll(async () => {
  await Promise.all(running.map((sandbox) => sandbox.close()));
});

describe('the same people as the WHOOP sandbox', () => {
  test('names, emails, zones and the demo episode match; every other person is exactly the seed’s', async () => {
    const options = { seed: 3, endDate: '2026-10-31', days: 30, people: PEOPLE, clients: [CLIENT] };
    const whoop = await startWhoopSandbox(options);
    const oura = await startOuraSandbox(options);
    running.push(whoop, oura);
    const strip = (user: {
      email: string;
      firstName: string;
      lastName: string;
      timeZone: string;
      recentEpisodeStart?: string;
    }) => ({
      email: user.email,
      firstName: user.firstName,
      lastName: user.lastName,
      timeZone: user.timeZone,
      recentEpisodeStart: user.recentEpisodeStart,
    });
    expect(oura.users.map(strip)).toEqual(whoop.users.map(strip));
    expect(oura.users[0]?.recentEpisodeStart).toBe('2026-10-24');
    expect(oura.users[1]?.recentEpisodeStart).toBeUndefined();
    const counted = await startOuraSandbox({ ...options, people: 2 });
    running.push(counted);
    expect(counted.users[1]?.email).toMatch(/@example\.com$/);
    // A name changes what is shown, not who it is: the ids come from (seed, position).
    expect(counted.users.map((user) => user.userId)).toEqual(oura.users.map((user) => user.userId));
    expect(new Set(counted.users.map((user) => user.userId)).size).toBe(2);
  });

  test('approveConsent picks a person by id or by position and returns the redirect', async () => {
    const oura = await startOuraSandbox({ seed: 3, endDate: '2026-10-31', days: 5, people: PEOPLE, clients: [CLIENT] });
    running.push(oura);
    const url = `${oura.authBaseUrl}/oauth/authorize?response_type=code&client_id=app&state=xyz`;
    for (const userId of [1, oura.users[1]?.userId ?? '']) {
      const location = new URL(await approveConsent(url, { userId }));
      const response = await fetch(`${oura.apiBaseUrl}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: location.searchParams.get('code') ?? '',
          client_id: 'app',
          client_secret: 'secret',
        }).toString(),
      });
      const tokens = (await response.json()) as { access_token: string };
      const info = (await (
        await fetch(`${oura.apiBaseUrl}/v2/usercollection/personal_info`, {
          headers: { authorization: `Bearer ${tokens.access_token}` },
        })
      ).json()) as { id: string; email: string };
      expect(info).toMatchObject({ id: oura.users[1]?.userId, email: 'other@baseline.local' });
    }
    await expect(approveConsent(url, { userId: 5 })).rejects.toThrow('No person at position 5');
  });
});
