import { describe, expect, test } from 'vitest';
import type { PolicyDefinition } from './access-policies.ts';
import type { BotDefinition } from './bots.ts';
import { BOT_ACCESS_POLICIES, BOT_DEFINITIONS } from './bots.ts';
import type { SubscriptionDefinition } from './subscriptions.ts';
import { SUBSCRIPTION_DEFINITIONS } from './subscriptions.ts';
import { validateDefinitions } from './validate.ts';

const policy = (key: string): PolicyDefinition => ({
  key,
  name: key,
  resource: [{ resourceType: 'Task', interaction: ['read'] }],
});
const BOT: BotDefinition = {
  name: 'sync',
  identifier: 'sync',
  description: 'Sync',
  runtimeVersion: 'vmcontext',
  accessPolicy: 'bot-sync',
  source: 'bots/sync.ts',
  dist: 'bots/dist/sync.js',
};
const SUB: SubscriptionDefinition = {
  key: 'on-task',
  reason: 'r',
  criteria: 'Task?code=x|sync',
  bot: 'sync',
  interaction: 'create',
};

describe('validateDefinitions', () => {
  test('the shipped definitions are consistent', () => {
    expect(
      validateDefinitions({
        bots: BOT_DEFINITIONS,
        botPolicies: BOT_ACCESS_POLICIES,
        subscriptions: SUBSCRIPTION_DEFINITIONS,
      })
    ).toEqual([]);
  });

  test('a well-formed set passes', () => {
    expect(validateDefinitions({ bots: [BOT], botPolicies: [policy('bot-sync')], subscriptions: [SUB] })).toEqual([]);
  });

  test('each failure is named', () => {
    const second: BotDefinition = { ...BOT, name: 'sync2', identifier: 'Sync 2', cronString: '* *', timeoutSeconds: 0 };
    const hook: BotDefinition = {
      ...BOT,
      name: 'hook',
      identifier: 'hook',
      accessPolicy: 'bot-missing',
      rawBody: true,
    };
    const problems = validateDefinitions({
      bots: [BOT, second, hook],
      botPolicies: [
        policy('bot-sync'),
        policy('bot-sync'),
        { ...policy('ehr-client') },
        { key: 'bot-all', name: 'x', resource: [{ resourceType: '*' }] },
      ],
      subscriptions: [{ ...SUB, bot: 'nope', criteria: 'task', maxAttempts: 20 }, SUB],
    });
    expect(problems).toEqual([
      'AccessPolicy key bot-sync is used more than once',
      'Subscription key on-task is used more than once',
      'Bot AccessPolicy bot-sync is shared by sync, sync2; give each bot its own',
      'Bot AccessPolicy ehr-client reuses a role policy key',
      'Bot AccessPolicy ehr-client is not used by any bot',
      "Bot AccessPolicy bot-all grants resourceType '*'; list the types the bot needs",
      'Bot AccessPolicy bot-all is not used by any bot',
      'Bot sync2: identifier Sync 2 is not kebab-case',
      'Bot sync2: cronString "* *" does not have 5 or 6 fields',
      'Bot sync2: timeoutSeconds must be an integer from 1 to 900',
      'Bot hook: AccessPolicy bot-missing is not among the bot policies',
      'Bot hook: rawBody only matters for a publicWebhook bot',
      'Subscription on-task: bot nope is not in the bot registry',
      'Subscription on-task: criteria "task" is not <ResourceType>?<search>',
      'Subscription on-task: maxAttempts must be an integer from 1 to 18',
    ]);
  });
});
