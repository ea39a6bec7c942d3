/**
 * The local stack's `vmcontext` bot runtime: runs a deployed bundle the way Medplum 5's
 * `packages/server/src/bots/vmcontext.ts` does, so a bot that works here works on Medplum.
 *
 * What is reproduced on purpose, because bots break on each of these on a real server:
 * - A fresh `node:vm` context whose only globals are Medplum's (see `VMCONTEXT_GLOBALS` in
 *   scripts/build-bots.ts). `Buffer`, `process`, `setTimeout`, web `crypto`, `atob`,
 *   `structuredClone`, ... are ReferenceErrors; `require` is the host's, so `require('node:crypto')`
 *   and the externalized `@medplum/core` resolve from this repo's node_modules (the server's, on Medplum).
 * - The bundle is pasted into a *script* between `const exports = {}; const module = {exports};` and an
 *   async IIFE, so ESM fails ("Unexpected token 'export'") and code not ending in `;` turns the IIFE
 *   into a call.
 * - The IIFE builds a host-realm `MedplumClient` on `baseUrl` with the bot's access token, adds
 *   `X-Trace-Id`/`traceparent` to every request, parses HL7 input, and calls
 *   `exports.handler(medplum, { bot, requester, input, contentType, secrets, traceId, headers })`
 *   (Medplum 5 forwards `requester`; 4.5.2 did not).
 * - `Bot.timeout` (seconds, default 10) is the vm `timeout`. Like Medplum, it bounds only the
 *   synchronous part of the run: loading the bundle and the handler up to its first `await`. After that,
 *   the returned Promise is awaited without a deadline, so a bot that awaits forever hangs its caller
 *   here exactly as it would on Medplum; bots must put their own deadlines on network calls.
 * - On throw: `success: false`, `returnValue = normalizeOperationOutcome(err)`, and the log carries the
 *   wrapper's `Unhandled error: ...` line followed by `Error <message>`.
 *
 * Like Medplum's, this is not a security boundary (`node:vm` never is): only run trusted bundles.
 */
import {
  ContentType,
  createReference,
  Hl7Message,
  MedplumClient,
  normalizeErrorString,
  normalizeOperationOutcome,
} from '@medplum/core';
import type { WithId } from '@medplum/core';
import type { Bot, ProjectSetting, Reference } from '@medplum/fhirtypes';
import { createRequire } from 'node:module';
import vm from 'node:vm';

/** Medplum's default when `Bot.timeout` is unset (milliseconds). */
export const DEFAULT_VM_CONTEXT_TIMEOUT_MS = 10_000;

export interface VmBotRequest {
  code: string;
  bot: WithId<Bot>;
  baseUrl: string;
  accessToken: string;
  requester?: Reference;
  input: unknown;
  /** The request's Content-Type header as sent; undefined for GET `$execute` (as on Medplum). */
  contentType: string | undefined;
  secrets: Record<string, ProjectSetting>;
  traceId?: string;
  headers?: Record<string, string | string[] | undefined>;
  /** Medplum passes these to the bot's MedplumClient (e.g. cookies of the original request). */
  defaultHeaders?: Record<string, string>;
}

export interface BotExecutionResult {
  success: boolean;
  logResult: string;
  returnValue?: unknown;
}

/** Shape of the object the bundle's script sees as `event` (also readable as `globalThis.event`). */
interface SandboxEvent {
  bot: Reference<Bot>;
  baseUrl: string;
  accessToken: string;
  requester: Reference | undefined;
  input: unknown;
  contentType: string | undefined;
  secrets: Record<string, ProjectSetting>;
  traceId: string | undefined;
  headers: Record<string, string | string[] | undefined> | undefined;
  defaultHeaders: Record<string, string> | undefined;
}

/**
 * Captures a bot's console into its log, one line per call, arguments joined by spaces (Medplum's
 * MockConsole). Objects therefore log as `[object Object]` here as they do on Medplum.
 */
export class BotConsole {
  readonly messages: string[] = [];
  private readonly counts = new Map<string, number>();
  private readonly timers = new Map<string, number>();

  log(...params: unknown[]): void {
    this.messages.push(params.join(' '));
  }
  info(...params: unknown[]): void {
    this.log(...params);
  }
  warn(...params: unknown[]): void {
    this.log(...params);
  }
  error(...params: unknown[]): void {
    this.log(...params);
  }
  debug(...params: unknown[]): void {
    this.log(...params);
  }
  trace(...params: unknown[]): void {
    this.log(...params);
  }
  dir(...params: unknown[]): void {
    this.log(...params);
  }
  table(...params: unknown[]): void {
    this.log(...params);
  }
  assert(condition: unknown, ...params: unknown[]): void {
    if (!condition) {
      this.log('Assertion failed:', ...params);
    }
  }
  count(label = 'default'): void {
    const count = (this.counts.get(label) ?? 0) + 1;
    this.counts.set(label, count);
    this.log(`${label}: ${count}`);
  }
  time(label = 'default'): void {
    this.timers.set(label, Date.now());
  }
  timeEnd(label = 'default'): void {
    const start = this.timers.get(label);
    if (start !== undefined) {
      this.log(`${label}: ${Date.now() - start}ms`);
      this.timers.delete(label);
    }
  }
  toString(): string {
    return this.messages.join('\n');
  }
}

/**
 * Builds the context object: exactly the globals Medplum gives a vmcontext bot, nothing else.
 * @param botConsole - Receives the bot's console output.
 * @param event - The sandbox `event` global.
 * @returns The object to contextify.
 */
function createSandbox(botConsole: BotConsole, event: SandboxEvent | undefined): vm.Context {
  return {
    console: botConsole,
    fetch: globalThis.fetch,
    // Resolves from this file, i.e. the local stack's node_modules, as the server's require does.
    require: createRequire(import.meta.url),
    ContentType,
    Hl7Message,
    MedplumClient,
    TextEncoder,
    URL,
    URLSearchParams,
    event,
  };
}

/**
 * Wraps bundle code the way Medplum does: CommonJS shims, the code verbatim, then the invoking IIFE.
 * The IIFE is evaluated as the script's completion value, so `runInNewContext` returns its Promise.
 * @param code - The deployed bundle.
 * @returns The script source.
 */
function wrapBotCode(code: string): string {
  return `
  const exports = {};
  const module = {exports};

  // Start user code
  ${code}
  // End user code

  (async () => {
    const { bot, baseUrl, accessToken, requester, contentType, secrets, traceId, headers, defaultHeaders } = event;
    const medplum = new MedplumClient({
      baseUrl,
      defaultHeaders,
      fetch: function (url, options = {}) {
        options.headers ||= {};
        options.headers['X-Trace-Id'] = traceId;
        options.headers['traceparent'] = traceId;
        return fetch(url, options);
      },
    });
    medplum.setAccessToken(accessToken);
    try {
      let input = event.input;
      if (contentType === ContentType.HL7_V2 && input) {
        input = Hl7Message.parse(input);
      }
      let result = await exports.handler(medplum, { bot, requester, input, contentType, secrets, traceId, headers });
      if (contentType === ContentType.HL7_V2 && result) {
        result = result.toString();
      }
      return result;
    } catch (err) {
      if (err instanceof Error) {
        console.log("Unhandled error: " + err.message + "\\n" + err.stack);
      } else if (typeof err === "object") {
        console.log("Unhandled error: " + JSON.stringify(err, undefined, 2));
      } else {
        console.log("Unhandled error: " + err);
      }
      throw err;
    }
  })();
  `;
}

/**
 * Runs a bot bundle once, as Medplum's vmcontext runtime would.
 * @param request - The bundle, the Bot, and what Medplum's executeBot would hand the runtime.
 * @returns `{ success, logResult, returnValue }`; never rejects for errors raised by the bot.
 */
export async function runVmContextBot(request: VmBotRequest): Promise<BotExecutionResult> {
  const { bot, input, contentType, traceId, headers } = request;
  const botConsole = new BotConsole();
  const sandbox = createSandbox(botConsole, {
    bot: createReference(bot),
    baseUrl: request.baseUrl,
    accessToken: request.accessToken,
    requester: request.requester,
    input: input instanceof Hl7Message ? input.toString() : input,
    contentType,
    secrets: request.secrets,
    traceId,
    headers,
    defaultHeaders: request.defaultHeaders,
  });
  const timeout = bot.timeout ? bot.timeout * 1000 : DEFAULT_VM_CONTEXT_TIMEOUT_MS;
  try {
    const returnValue: unknown = await vm.runInNewContext(wrapBotCode(request.code), sandbox, { timeout });
    return { success: true, logResult: botConsole.toString(), returnValue };
  } catch (err) {
    botConsole.log('Error', normalizeErrorString(err));
    return { success: false, logResult: botConsole.toString(), returnValue: normalizeOperationOutcome(err) };
  }
}

export interface BundleProbe {
  /** `typeof exports.handler` after loading the bundle. */
  handlerType: string;
  /** Every name the bundle exports. */
  exportNames: string[];
}

/**
 * Loads a bundle in the same sandbox and wrapping, without calling its handler: the deploy-time check
 * that it parses as a script, survives its top-level code without forbidden globals, and exports
 * `handler`. Throws whatever loading throws (e.g. "Unexpected token 'export'").
 * @param code - The bundle.
 * @param timeoutMs - Bound on the synchronous load.
 * @returns What the bundle exports.
 */
export function probeBotBundle(code: string, timeoutMs = DEFAULT_VM_CONTEXT_TIMEOUT_MS): BundleProbe {
  const sandbox = createSandbox(new BotConsole(), undefined);
  const script = `
  const exports = {};
  const module = {exports};

  ${code}

  ({ handlerType: typeof exports.handler, exportNames: Object.keys(exports) });
  `;
  const probe: unknown = vm.runInNewContext(script, sandbox, { timeout: timeoutMs });
  if (typeof probe !== 'object' || probe === null || !('handlerType' in probe) || !('exportNames' in probe)) {
    throw new Error('Bundle probe returned no result');
  }
  const { handlerType, exportNames } = probe;
  if (typeof handlerType !== 'string' || !Array.isArray(exportNames)) {
    throw new Error('Bundle probe returned a malformed result');
  }
  return { handlerType, exportNames: exportNames.map(String) };
}
