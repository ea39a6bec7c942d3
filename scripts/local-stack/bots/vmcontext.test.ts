import { ContentType } from '@medplum/core';
import type { WithId } from '@medplum/core';
import type { Bot, OperationOutcome } from '@medplum/fhirtypes';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { probeBotBundle, runVmContextBot } from './vmcontext.ts';
import type { BotExecutionResult, VmBotRequest } from './vmcontext.ts';

const BOT: WithId<Bot> = { resourceType: 'Bot', id: 'bot-1', name: 'test-bot', timeout: 1 };

function request(code: string, overrides: Partial<VmBotRequest> = {}): VmBotRequest {
  return {
    code,
    bot: BOT,
    baseUrl: 'http://127.0.0.1:9/',
    accessToken: 'test-access-token',
    input: {},
    contentType: ContentType.JSON,
    secrets: {},
    traceId: 'trace-1',
    ...overrides,
  };
}

function diagnostics(result: BotExecutionResult): string | undefined {
  const outcome = result.returnValue as OperationOutcome;
  return outcome.issue[0]?.details?.text;
}

describe('globals Medplum does not provide', () => {
  test.each([
    ['Buffer', 'Buffer.from("x")'],
    ['process', 'process.env.HOME'],
    ['setTimeout', 'setTimeout(() => undefined, 1)'],
    ['crypto', 'crypto.randomUUID()'],
    ['structuredClone', 'structuredClone({ a: 1 })'],
    ['atob', 'atob("YQ==")'],
  ])('%s is a ReferenceError at call time', async (name, expression) => {
    const result = await runVmContextBot(request(`exports.handler = async () => ${expression};`));
    expect(result.success).toBe(false);
    expect(diagnostics(result)).toBe(`${name} is not defined`);
    expect(result.logResult).toContain(
      `Unhandled error: ${name} is not defined\nReferenceError: ${name} is not defined`
    );
  });
});

describe('script wrapping', () => {
  test("require('node:crypto') resolves through the host require", async () => {
    const code = `exports.handler = async () => require('node:crypto').createHash('sha256').update('abc').digest('hex');`;
    const result = await runVmContextBot(request(code));
    expect(result).toEqual({
      success: true,
      logResult: '',
      returnValue: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    });
  });

  test('ESM output fails to parse', async () => {
    const result = await runVmContextBot(request('export const handler = async () => 1;'));
    expect(result.success).toBe(false);
    expect(diagnostics(result)).toBe("Unexpected token 'export'");
    expect(() => probeBotBundle('export const handler = async () => 1;')).toThrow("Unexpected token 'export'");
  });

  test('code not ending in ; turns the wrapper into a call', async () => {
    const result = await runVmContextBot(request('exports.handler = async function () { return 1 }'));
    expect(result.success).toBe(false);
    expect(diagnostics(result)).toBe('(intermediate value)(...) is not a function');
  });

  test('module.exports reassignment without the footer exports no handler', async () => {
    const code = 'module.exports = { handler: async () => 1 };';
    expect(probeBotBundle(code).handlerType).toBe('undefined');
    const result = await runVmContextBot(request(code));
    expect(result.success).toBe(false);
    expect(result.logResult).toContain('Unhandled error: exports.handler is not a function');
    expect(probeBotBundle(`${code}\nObject.assign(exports, module.exports);`)).toEqual({
      handlerType: 'function',
      exportNames: ['handler'],
    });
  });
});

describe('results', () => {
  test('console output is captured into the log, arguments joined by spaces', async () => {
    const code = `exports.handler = async () => { console.log('sync', 3); console.warn('careful'); console.error({}); return 'ok'; };`;
    const result = await runVmContextBot(request(code));
    expect(result).toEqual({ success: true, logResult: 'sync 3\ncareful\n[object Object]', returnValue: 'ok' });
  });

  test('a throwing handler gives success false with its message', async () => {
    const code = `exports.handler = async () => { console.log('before'); throw new Error('probe failed'); };`;
    const result = await runVmContextBot(request(code));
    expect(result.success).toBe(false);
    expect(result.returnValue).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'invalid', details: { text: 'probe failed' } }],
    });
    expect(result.logResult.startsWith('before\nUnhandled error: probe failed\nError: probe failed')).toBe(true);
    expect(result.logResult.endsWith('\nError probe failed')).toBe(true);
  });

  test('a synchronous infinite loop is stopped by Bot.timeout', async () => {
    const result = await runVmContextBot(request('exports.handler = async () => { while (true) {} };'));
    expect(result.success).toBe(false);
    expect(diagnostics(result)).toBe('Script execution timed out after 1000ms');
  });

  test('the timeout does not bound work after the first await (as on Medplum)', async () => {
    const code = `exports.handler = async () => { await require('node:timers/promises').setTimeout(1300); return 'late'; };`;
    const result = await runVmContextBot(request(code));
    expect(result).toEqual({ success: true, logResult: '', returnValue: 'late' });
  });

  test('HL7 input is parsed to an Hl7Message and the result stringified', async () => {
    const message = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||123';
    const code = `exports.handler = async (medplum, event) => { console.log(event.input.getSegment('PID').getField(3).toString()); return event.input; };`;
    const result = await runVmContextBot(request(code, { input: message, contentType: ContentType.HL7_V2 }));
    expect(result).toEqual({ success: true, logResult: '123', returnValue: message });
  });
});

describe('the handler call', () => {
  let server: Server;
  let baseUrl: string;
  const seen: { url: string | undefined; headers: IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url, headers: req.headers });
      res.writeHead(200, { 'content-type': ContentType.FHIR_JSON });
      res.end(JSON.stringify({ resourceType: 'Patient', id: 'p1', name: [{ family: 'Read' }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  });

  test('gets a MedplumClient on baseUrl with the access token, and the event fields', async () => {
    const code = `exports.handler = async (medplum, event) => {
      const patient = await medplum.readResource('Patient', 'p1');
      return { family: patient.name[0].family, keys: Object.keys(event).sort(), bot: event.bot, requester: event.requester,
        secret: event.secrets.S.valueString, headers: event.headers, traceId: event.traceId, input: event.input };
    };`;
    const result = await runVmContextBot(
      request(code, {
        baseUrl,
        requester: { reference: 'Patient/p1' },
        secrets: { S: { name: 'S', valueString: 'shh' } },
        headers: { 'x-probe': 'yes' },
        input: { n: 1 },
      })
    );
    expect(result).toEqual({
      success: true,
      logResult: '',
      returnValue: {
        family: 'Read',
        keys: ['bot', 'contentType', 'headers', 'input', 'requester', 'secrets', 'traceId'],
        bot: { reference: 'Bot/bot-1', display: 'test-bot' },
        requester: { reference: 'Patient/p1' },
        secret: 'shh',
        headers: { 'x-probe': 'yes' },
        traceId: 'trace-1',
        input: { n: 1 },
      },
    });
    const call = seen.at(-1);
    expect(call?.url).toBe('/fhir/R4/Patient/p1');
    expect(call?.headers.authorization).toBe('Bearer test-access-token');
    expect(call?.headers['x-trace-id']).toBe('trace-1');
    expect(call?.headers.traceparent).toBe('trace-1');
  });
});
