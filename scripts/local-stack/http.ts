/**
 * Minimal HTTP plumbing for the local stack: body reading with Medplum's size limit, JSON/OperationOutcome
 * responses and CORS. Kept dependency-free (node:http) so the stand-in starts fast and has nothing to configure.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getStatus, isOperationOutcome, normalizeOperationOutcome, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';

/** Medplum's default `maxJsonSize` (1 MB): larger JSON bodies are refused, as they would be there. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface RawBody {
  text: string;
  /** The media type alone, lower case (for choosing a parser). */
  contentType: string;
  /** The Content-Type header exactly as sent (what Medplum hands a bot as `event.contentType`). */
  contentTypeHeader?: string;
}

export class HttpError extends Error {
  readonly status: number;
  readonly outcome: OperationOutcome;
  constructor(status: number, message: string, code = 'invalid') {
    super(message);
    this.status = status;
    this.outcome = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: code as 'invalid', details: { text: message } }],
    };
  }
}

/** How much of an oversized body is read and discarded before the connection is cut. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

/** Express's default body-parser limit, which Medplum keeps for its text and urlencoded parsers. */
export const MAX_TEXT_BODY_BYTES = 100 * 1024;

function bodyLimit(req: IncomingMessage): number {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const textual =
    type === 'text/plain' || type === 'x-application/hl7-v2+er7' || type === 'application/x-www-form-urlencoded';
  return textual ? MAX_TEXT_BODY_BYTES : MAX_BODY_BYTES;
}

export async function readBody(req: IncomingMessage): Promise<RawBody> {
  const bytes = await readBodyBytes(req, bodyLimit(req));
  return {
    text: bytes.toString('utf8'),
    contentType: (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '',
    contentTypeHeader: req.headers['content-type'],
  };
}

/** The body's bytes as sent (Binary uploads must not go through a text decoding); over `limit` is a 400. */
export async function readBodyBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    // Past the limit, keep draining (bounded) so the client can read the 400 instead of a reset connection.
    if (size > DRAIN_LIMIT_BYTES) {
      req.destroy();
      break;
    }
    if (size <= limit) {
      chunks.push(buf);
    }
  }
  if (size > limit) {
    // Medplum's body parsers fail with `entity.too.large`, which its error handler answers like this.
    throw new HttpError(400, 'File too large', 'invalid');
  }
  return Buffer.concat(chunks);
}

export function isJsonContentType(contentType: string): boolean {
  return (
    contentType === 'application/json' || (contentType.startsWith('application/') && contentType.endsWith('+json'))
  );
}

/**
 * Parses a body the way Medplum's Express parsers do: JSON types → object, text/plain → string,
 * form-urlencoded → object, anything else → `{}`.
 */
export function parseBody(body: RawBody): unknown {
  if (body.text === '') {
    return isJsonContentType(body.contentType) ? undefined : {};
  }
  if (isJsonContentType(body.contentType)) {
    try {
      return JSON.parse(body.text) as unknown;
    } catch {
      throw new HttpError(400, 'Content could not be parsed', 'invalid');
    }
  }
  if (body.contentType === 'text/plain' || body.contentType === 'x-application/hl7-v2+er7') {
    return body.text;
  }
  if (body.contentType === 'application/x-www-form-urlencoded') {
    return formObject(new URLSearchParams(body.text));
  }
  return {};
}

/**
 * Form fields or query parameters as a bot receives them from Medplum: one value as a string, a repeated key as an
 * object with index keys (`a=1&a=2` → `{"a": {"0": "1", "1": "2"}}`, as observed on Medplum 5.0.10).
 */
export function formObject(params: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    out[key] = values.length === 1 ? values[0] : Object.fromEntries(values.map((v, i) => [String(i), v]));
  }
  return out;
}

export interface RequestTrace {
  requestId: string;
  traceId: string;
}

const traces = new WeakMap<ServerResponse, RequestTrace>();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/i;

/** Medplum's request ids: a fresh requestId, the traceId from `X-Trace-Id` (a UUID) or `traceparent`, else fresh. */
export function startTrace(req: IncomingMessage, res: ServerResponse): RequestTrace {
  const header = (name: string): string | undefined => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const xTraceId = header('x-trace-id');
  const traceparent = header('traceparent');
  const traceId =
    xTraceId && UUID.test(xTraceId)
      ? xTraceId
      : traceparent && TRACEPARENT.test(traceparent)
        ? traceparent
        : crypto.randomUUID();
  const trace = { requestId: crypto.randomUUID(), traceId };
  traces.set(res, trace);
  return trace;
}

export function traceOf(res: ServerResponse): RequestTrace | undefined {
  return traces.get(res);
}

export function setCors(req: IncomingMessage, res: ServerResponse): void {
  const origin = req.headers.origin;
  // Loopback-only stand-in: reflect the caller's origin (Medplum's `allowedOrigins: *` equivalent).
  if (origin) {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS');
    res.setHeader(
      'Access-Control-Allow-Headers',
      'Authorization, Content-Type, If-Match, If-None-Exist, Prefer, X-Medplum, X-Trace-Id, traceparent, Cache-Control'
    );
    res.setHeader('Access-Control-Expose-Headers', 'Content-Location, ETag, Location, Last-Modified');
    res.setHeader('Access-Control-Max-Age', '86400');
  }
}

const headerHooks = new WeakMap<ServerResponse, () => void>();

/**
 * Runs `hook` right before the response's head is written, whichever path sends it (Medplum attaches the FHIR quota
 * header in its `res.send` override, so it reflects everything the request spent, errors included).
 */
export function beforeHead(res: ServerResponse, hook: () => void): void {
  headerHooks.set(res, hook);
}

function runHeadHook(res: ServerResponse): void {
  const hook = headerHooks.get(res);
  headerHooks.delete(res);
  hook?.();
}

/** Writes a head without a body (204, 201 with `Prefer: return=minimal`, redirects). */
export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  runHeadHook(res);
  res.writeHead(status, headers);
  res.end();
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/fhir+json'
): void {
  const text = JSON.stringify(body);
  runHeadHook(res);
  res.writeHead(status, { 'Content-Type': `${contentType}; charset=utf-8`, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain'): void {
  runHeadHook(res);
  res.writeHead(status, { 'Content-Type': `${contentType}; charset=utf-8`, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Medplum's sendOutcome: the outcome plus a tracing extension naming this request. */
export function sendOutcome(res: ServerResponse, outcome: OperationOutcome, status = getStatus(outcome)): void {
  const trace = traces.get(res);
  const extension = trace
    ? [
        {
          url: 'https://medplum.com/fhir/StructureDefinition/tracing',
          extension: [
            { url: 'requestId', valueId: trace.requestId },
            { url: 'traceId', valueId: trace.traceId },
          ],
        },
      ]
    : undefined;
  sendJson(res, status, { ...outcome, extension });
}

/** Express's final 404 for a route nobody handles (e.g. GET on a POST-only path): an HTML page, as Medplum sends. */
export function sendExpressNotFound(res: ServerResponse, method: string, path: string): void {
  // `path` is a URL pathname, already percent-encoded (finalhandler's encodeurl leaves it as it is).
  const escaped = path.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const html = `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot ${method} ${escaped}</pre>\n</body>\n</html>\n`;
  res.setHeader('Content-Security-Policy', "default-src 'none'");
  res.setHeader('X-Content-Type-Options', 'nosniff');
  sendText(res, 404, html, 'text/html');
}

/** Maps anything thrown inside a handler to the status + OperationOutcome Medplum would answer with. */
export function errorToResponse(err: unknown): { status: number; outcome: OperationOutcome } {
  if (err instanceof HttpError) {
    return { status: err.status, outcome: err.outcome };
  }
  if (err instanceof OperationOutcomeError) {
    return { status: getStatus(err.outcome), outcome: err.outcome };
  }
  if (isOperationOutcome(err)) {
    return { status: getStatus(err), outcome: err };
  }
  const outcome = normalizeOperationOutcome(err);
  const status = getStatus(outcome);
  return { status: status >= 400 ? status : 500, outcome };
}
