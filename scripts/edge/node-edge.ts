/**
 * The webhook edge rule (rule.ts) as a small Node reverse proxy, for `npm start` and tests on machines without nginx.
 * A production deployment uses nginx-webhooks.conf instead; both are run through the same matrix in
 * test/edge/edge.test.ts.
 *
 * Everything not answered by the rule is streamed through unchanged: method, path and query as received, headers
 * minus hop-by-hop ones (plus the usual X-Forwarded-* / X-Real-IP, as the nginx snippet sets them), status and body.
 * Bodies are piped, never held, so a multi-megabyte FHIR upload costs no memory here. Only Node's standard library.
 */
import { Agent as HttpAgent, createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decideEdge, parseUpstream, TOKEN_PATTERN } from './rule.ts';

export interface NodeEdgeOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Medplum's base address, e.g. `http://127.0.0.1:8103` (no path). */
  upstream: string;
  /** The Project secret OURA_WEBHOOK_VERIFICATION_TOKEN. */
  verificationToken: string;
  /** How long to wait for Medplum's answer (a webhook runs a bot) before 504; default 120 s, as the nginx snippet. */
  upstreamTimeoutMs?: number;
  log?: (message: string, data?: Record<string, unknown>) => void;
}

export interface NodeEdge {
  /** `http://host:port/`, with a trailing slash like LocalStack.baseUrl. */
  url: string;
  close(): Promise<void>;
}

/** Connection-specific fields (RFC 9110 §7.6.1) and RFC 2616 §13.5.1's hop-by-hop list, which proxies still see. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers to forward: raw pairs (duplicates and case kept) minus hop-by-hop ones and any the Connection header names. */
function forwardable(rawHeaders: string[], headers: IncomingHttpHeaders, drop: string[] = []): string[] {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  const skip = new Set([...HOP_BY_HOP, ...named, ...drop]);
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? '';
    if (!skip.has(name.toLowerCase())) {
      out.push(name, rawHeaders[i + 1] ?? '');
    }
  }
  return out;
}

function plain(res: ServerResponse, status: number, text: string, close = false): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    // A body declared too large is not worth reading: the client must reconnect.
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(text);
}

/**
 * Starts the edge.
 * @param options - Where to listen, where Medplum is, and the Oura verification token.
 * @returns Its URL and a close function (which also drops kept-alive upstream connections).
 */
export async function startNodeEdge(options: NodeEdgeOptions): Promise<NodeEdge> {
  if (!TOKEN_PATTERN.test(options.verificationToken)) {
    throw new Error(`verificationToken must match ${TOKEN_PATTERN.source} (e.g. openssl rand -hex 32)`);
  }
  const upstream = parseUpstream(options.upstream);
  const secure = upstream.protocol === 'https:';
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const send = secure ? httpsRequest : httpRequest;
  const timeoutMs = options.upstreamTimeoutMs ?? 120_000;
  const log = options.log ?? ((): void => undefined);

  function proxy(req: IncomingMessage, res: ServerResponse, maxBodyBytes: number | undefined): void {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (maxBodyBytes !== undefined && declared > maxBodyBytes) {
      plain(res, 413, 'Request Entity Too Large\n', true);
      req.resume();
      return;
    }
    const clientIp = req.socket.remoteAddress ?? '';
    const priorFor = req.headers['x-forwarded-for'];
    const headers: string[] = [
      // `expect: 100-continue` was already answered to the client by Node's server (nginx does the same).
      ...forwardable(req.rawHeaders, req.headers, ['expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-real-ip']),
      'X-Real-IP',
      clientIp,
      'X-Forwarded-For',
      priorFor ? `${String(priorFor)}, ${clientIp}` : clientIp,
      'X-Forwarded-Proto',
      'http',
    ];
    const upstreamReq = send({
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      // Raw header pairs as a flat array keep duplicates and case as the client sent them.
      headers,
      agent,
      timeout: timeoutMs,
    });
    const fail = (status: 502 | 504, err?: unknown): void => {
      log('edge upstream failure', { method: req.method, status, error: err === undefined ? undefined : String(err) });
      if (!res.headersSent) {
        plain(res, status, status === 504 ? 'Gateway Timeout\n' : 'Bad Gateway\n');
      } else {
        // Mid-answer: cutting the connection is the only honest signal left.
        res.destroy();
      }
    };
    upstreamReq.on('timeout', () => {
      fail(504);
      upstreamReq.destroy();
    });
    upstreamReq.on('error', (err) => {
      if (!res.writableEnded) {
        fail(502, err);
      }
    });
    upstreamReq.on('response', (upstreamRes) => {
      if (res.headersSent) {
        // Already refused (413) while the body streamed.
        upstreamRes.resume();
        return;
      }
      res.writeHead(
        upstreamRes.statusCode ?? 502,
        upstreamRes.statusMessage,
        forwardable(upstreamRes.rawHeaders, upstreamRes.headers)
      );
      upstreamRes.pipe(res);
      upstreamRes.on('error', () => res.destroy());
    });

    let received = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (maxBodyBytes !== undefined && received > maxBodyBytes && !refused) {
        refused = true;
        // A chunked body that grew past the limit: Medplum must not get a truncated one.
        req.unpipe(upstreamReq);
        upstreamReq.destroy();
        if (!res.headersSent) {
          // The rest of the body is read and dropped (not cut off), so the client reliably gets this answer.
          plain(res, 413, 'Request Entity Too Large\n');
        }
        req.resume();
      }
    });
    req.pipe(upstreamReq);
    req.on('error', () => upstreamReq.destroy());
    // A client that goes away mid-request or mid-answer must not leave Medplum's side open.
    res.on('close', () => {
      if (!res.writableFinished) {
        upstreamReq.destroy();
      }
    });
  }

  const server = createServer((req, res) => {
    const decision = decideEdge(req.method ?? 'GET', req.url ?? '/', options.verificationToken);
    if (decision.action === 'proxy') {
      proxy(req, res, decision.maxBodyBytes);
      return;
    }
    req.resume();
    res.writeHead(decision.status, { ...decision.headers, 'content-length': Buffer.byteLength(decision.body) });
    res.end(req.method === 'HEAD' ? undefined : decision.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}

// `node scripts/edge/node-edge.ts --upstream http://127.0.0.1:8103 --port 8104` (token from the environment, so it
// stays out of shell history and `ps`).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      upstream: { type: 'string', default: 'http://127.0.0.1:8103' },
      port: { type: 'string', default: '8104' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  const verificationToken = process.env.OURA_WEBHOOK_VERIFICATION_TOKEN ?? '';
  const edge = await startNodeEdge({
    port: Number(values.port),
    host: values.host,
    upstream: values.upstream,
    verificationToken,
    log: (message, data) => console.error(message, JSON.stringify(data ?? {})),
  });
  console.log(`webhook edge on ${edge.url} -> ${values.upstream}`);
}
