import { describe, expect, test } from 'vitest';
import { decideEdge, rawQueryArg } from './rule.ts';

const TOKEN = 'a'.repeat(16) + '._~-';
const HOOK = '/webhook/6f1c2a80-8d1e-4a51-9a57-4c1f3f0f9a11';
const status = (method: string, target: string, token = TOKEN): number | 'proxy' => {
  const decision = decideEdge(method, target, token);
  return decision.action === 'proxy' ? 'proxy' : decision.status;
};

describe('decideEdge', () => {
  test('HEAD is answered, POST proxied with the 1 MiB limit, other methods 405', () => {
    expect(status('HEAD', HOOK)).toBe(200);
    expect(decideEdge('POST', HOOK, TOKEN)).toEqual({ action: 'proxy', maxBodyBytes: 1024 * 1024 });
    const put = decideEdge('PUT', HOOK, TOKEN);
    expect(put).toMatchObject({ action: 'answer', status: 405, headers: { allow: 'GET, HEAD, POST' } });
  });

  test('GET: 200 echo, 401 before 400, 500 with an unusable configured token', () => {
    expect(decideEdge('GET', `${HOOK}?verification_token=${TOKEN}&challenge=c-1`, TOKEN)).toEqual({
      action: 'answer',
      status: 200,
      body: '{"challenge":"c-1"}',
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    });
    expect(status('GET', `${HOOK}?verification_token=wrong&challenge=%22`)).toBe(401);
    expect(status('GET', `${HOOK}?verification_token=${TOKEN}&challenge=%22`)).toBe(400);
    expect(status('GET', `${HOOK}?verification_token=${TOKEN}`)).toBe(400);
    expect(status('GET', `${HOOK}?verification_token=&challenge=c`, '')).toBe(500);
    expect(status('GET', `${HOOK}?verification_token=short&challenge=c`, 'short')).toBe(500);
  });

  test('only /webhook/<one segment>[/] is the rule; everything else is proxied without a limit', () => {
    for (const target of ['/webhook', '/webhook/', '/webhook/a/b', '/fhir/R4/Patient', '/webhooks/a', '/x/webhook/a']) {
      expect(decideEdge('HEAD', target, TOKEN), target).toEqual({ action: 'proxy', maxBodyBytes: undefined });
    }
    expect(status('HEAD', `${HOOK}/`)).toBe(200);
    expect(status('HEAD', `//webhook//x`)).toBe(200);
    expect(status('HEAD', `/webhook/%zz`)).toBe('proxy');
    expect(status('HEAD', `/webhook/a%2Fb`)).toBe('proxy');
  });
});

test('rawQueryArg: first occurrence, name case-insensitive, value still encoded', () => {
  expect(rawQueryArg('a=1&A=2', 'a')).toBe('1');
  expect(rawQueryArg('X=%22&x=2', 'x')).toBe('%22');
  expect(rawQueryArg('ab=1', 'a')).toBeUndefined();
  expect(rawQueryArg('a', 'a')).toBeUndefined();
  expect(rawQueryArg('a=', 'a')).toBe('');
});
