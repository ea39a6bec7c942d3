/**
 * Minimal HTTP plumbing for the local stack: body reading with Medplum's size limit, JSON/OperationOutcome
 * responses and CORS. Kept dependency-free (node:http) so the stand-in starts fast and has nothing to configure.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getStatus, isOperationOutcome, normalizeOperationOutcome, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';

/** Medplum's default `maxJsonSize` (1 MB): larger webhook or FHIR bodies are refused, as they would be there. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface RawBody {
  text: string;
  contentType: string;
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

export async function readBody(req: IncomingMessage): Promise<RawBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpError(413, 'Request entity too large', 'too-costly');
    }
    chunks.push(buf);
  }
  return {
    text: Buffer.concat(chunks).toString('utf8'),
    contentType: (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '',
  };
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
      throw new HttpError(400, 'Invalid JSON body', 'invalid');
    }
  }
  if (body.contentType === 'text/plain' || body.contentType === 'x-application/hl7-v2+er7') {
    return body.text;
  }
  if (body.contentType === 'application/x-www-form-urlencoded') {
    return Object.fromEntries(new URLSearchParams(body.text));
  }
  return {};
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

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType = 'application/fhir+json'
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': `${contentType}; charset=utf-8`, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain'): void {
  res.writeHead(status, { 'Content-Type': `${contentType}; charset=utf-8`, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendOutcome(res: ServerResponse, outcome: OperationOutcome, status = getStatus(outcome)): void {
  sendJson(res, status, outcome);
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
