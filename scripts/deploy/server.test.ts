import { describe, expect, test } from 'vitest';
import type { BotDefinition } from '../../data/core/bots.ts';
import { BOT_DEFINITIONS } from '../../data/core/bots.ts';
import { DeployError } from './errors.ts';
import { parseMedplumVersion, planForServer, readServerVersion } from './server.ts';

const HOOK: BotDefinition = {
  name: 'hook',
  identifier: 'hook',
  description: 'Receives webhooks',
  runtimeVersion: 'vmcontext',
  accessPolicy: 'bot-hook',
  publicWebhook: true,
  rawBody: true,
  source: 'test/fixtures/bots/hook.ts',
  dist: 'bots/dist/hook.js',
};

describe('parseMedplumVersion', () => {
  test('a real server, the local stack and a bare version', () => {
    expect(parseMedplumVersion('5.0.10-6a4145c')).toMatchObject({ major: 5, minor: 0, patch: 10 });
    expect(parseMedplumVersion('5.2.13-local')).toMatchObject({ major: 5, minor: 2, patch: 13 });
    expect(parseMedplumVersion('4.5.2')).toMatchObject({ major: 4, minor: 5, patch: 2 });
  });

  test('anything else is not a version', () => {
    expect(parseMedplumVersion('baseline-local-stack')).toBeUndefined();
    expect(parseMedplumVersion('5.2')).toBeUndefined();
  });
});

describe('planForServer', () => {
  test('5.0: no rawBody, and one line saying what that means and that 5.2 fixes it', () => {
    const plan = planForServer('5.0.10-6a4145c', [HOOK]);
    expect(plan).toMatchObject({ rawBody: false, rawBodyDropped: ['hook'], localStack: false });
    expect(plan.notes).toEqual([
      'Medplum 5.0.10-6a4145c has no Bot.rawBody (hook deployed without it): webhook signatures cannot be checked byte-exactly, so signed notifications (WHOOP, Oura) are only hints that trigger a re-fetch from the provider; Medplum 5.2 or newer fixes this.',
    ]);
  });

  test('5.2: rawBody, nothing to say', () => {
    const plan = planForServer('5.2.13-local', BOT_DEFINITIONS);
    expect(plan).toMatchObject({ rawBody: true, rawBodyDropped: [], localStack: true, notes: [] });
  });

  test('6.x counts as newer than 5.2', () => {
    expect(planForServer('6.0.0', [HOOK]).rawBody).toBe(true);
  });

  test('the signed webhooks (WHOOP, Oura) are the rawBody bots; Withings signs nothing', () => {
    expect(planForServer('5.0.10-local', BOT_DEFINITIONS).rawBodyDropped).toEqual(['whoop-webhook', 'oura-webhook']);
  });

  test('older than 5.0', () => {
    expect(() => planForServer('4.5.2-abc', [HOOK])).toThrow(
      new DeployError('Medplum 4.5.2-abc is too old: Baseline needs Medplum 5.0 or newer')
    );
  });

  test('not a version', () => {
    expect(() => planForServer('baseline-local-stack', [HOOK])).toThrow(
      'The server reports version "baseline-local-stack", which is not a Medplum version'
    );
  });
});

describe('readServerVersion', () => {
  test('reads version from the healthcheck', async () => {
    const paths: string[] = [];
    const version = await readServerVersion(async (path) => {
      paths.push(path);
      return { ok: true, version: '5.0.10-6a4145c', postgres: true };
    }, 'https://m.example/');
    expect(version).toBe('5.0.10-6a4145c');
    expect(paths).toEqual(['healthcheck']);
  });

  test('an answer without a version', async () => {
    await expect(readServerVersion(async () => ({ ok: true }), 'https://m.example/')).rejects.toThrow(
      'https://m.example/healthcheck reports no version; is this a Medplum 5 server?'
    );
  });

  test('no answer', async () => {
    await expect(
      readServerVersion(async () => {
        throw new Error('Not found');
      }, 'https://m.example/')
    ).rejects.toThrow('Could not read https://m.example/healthcheck: Not found');
  });
});
