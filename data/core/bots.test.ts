import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { BotDefinition } from './bots.ts';
import { BOT_DEFINITIONS, botConfigText, checkBotConfig, toBotResource } from './bots.ts';

const BOT: BotDefinition = {
  name: 'whoop-webhook',
  identifier: 'whoop-webhook',
  description: 'WHOOP webhooks',
  runtimeVersion: 'vmcontext',
  accessPolicy: 'bot-whoop-webhook',
  publicWebhook: true,
  rawBody: true,
  timeoutSeconds: 15,
  source: 'bots/whoop/webhook.ts',
  dist: 'bots/dist/whoop-webhook.js',
};

describe('checkBotConfig', () => {
  test('every mismatch with medplum.config.json is named', () => {
    expect(
      checkBotConfig(
        [BOT, { ...BOT, name: 'missing' }],
        [
          { name: 'whoop-webhook', source: 'bots/whoop/other.ts', dist: 'bots/dist/x.js' },
          { name: 'stray', source: 's', dist: 'd' },
        ]
      )
    ).toEqual([
      'Bot whoop-webhook: medplum.config.json source bots/whoop/other.ts differs from bots/whoop/webhook.ts',
      'Bot whoop-webhook: medplum.config.json dist bots/dist/x.js differs from bots/dist/whoop-webhook.js',
      'Bot missing is missing from medplum.config.json (npm run build:bots writes it)',
      'medplum.config.json lists stray, which is not in data/core/bots.ts (npm run build:bots writes it)',
    ]);
  });

  test('the registry and the repo’s medplum.config.json agree', () => {
    const config = JSON.parse(readFileSync(new URL('../../medplum.config.json', import.meta.url), 'utf8')) as {
      bots: { name: string; source: string; dist: string }[];
    };
    expect(checkBotConfig(BOT_DEFINITIONS, config.bots)).toEqual([]);
  });

  test('the committed file is exactly what npm run build:bots writes (webhook bots come from the provider registry)', () => {
    const text = readFileSync(new URL('../../medplum.config.json', import.meta.url), 'utf8');
    expect(text).toBe(botConfigText(BOT_DEFINITIONS));
    for (const name of ['whoop-webhook', 'withings-webhook', 'oura-webhook']) {
      expect(text).toContain(`"name": "${name}"`);
    }
  });
});

describe('toBotResource', () => {
  test('sets exactly the owned fields, with the identifier in the Baseline system', () => {
    expect(toBotResource(BOT)).toEqual({
      resourceType: 'Bot',
      name: 'whoop-webhook',
      description: 'WHOOP webhooks',
      identifier: [{ system: 'https://baseline.health/fhir/identifier/bot', value: 'whoop-webhook' }],
      runtimeVersion: 'vmcontext',
      publicWebhook: true,
      rawBody: true,
      timeout: 15,
    });
  });
});

describe('toBotResource on servers without Bot.rawBody', () => {
  test('Medplum 5.0 gets no rawBody (it refuses the whole Bot with it); everything else is kept', () => {
    const onFiveZero = toBotResource(BOT, { rawBody: false });
    expect(onFiveZero).not.toHaveProperty('rawBody');
    expect(onFiveZero).toMatchObject({ publicWebhook: true, timeout: 15 });
    expect(toBotResource(BOT, { rawBody: true }).rawBody).toBe(true);
    expect(toBotResource(BOT).rawBody).toBe(true);
  });
});
