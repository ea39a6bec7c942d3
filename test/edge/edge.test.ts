/**
 * The webhook edge rule in front of Medplum (issue 10 §4), tested for real: the shipped nginx files
 * (scripts/edge/nginx.example.conf including nginx-webhooks.conf, over TLS, only the values an operator changes
 * substituted by scripts/edge/render.ts) run by Debian's nginx, and the Node edge (scripts/edge/node-edge.ts), each
 * through one matrix:
 * - against a recording upstream, which proves what is answered at the edge (the upstream sees nothing) and what is
 *   passed through byte for byte;
 * - against the local stack, whose `/webhook/:id` is POST-only like Medplum's: alone it answers HEAD and GET with a
 *   404, behind the edge Withings' HEAD check and Oura's challenge succeed and a POST runs the bot.
 *
 * nginx is a Debian package (`apt-get install nginx`, plus openssl for the test certificate and curl for the README's
 * checks); CI installs it. Without them the tests needing them fail when `CI` is set and are skipped, saying so, on a
 * developer machine.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startNodeEdge } from '../../scripts/edge/node-edge.ts';
import { renderExample, renderSnippet } from '../../scripts/edge/render.ts';
import { TOKEN_PATTERN } from '../../scripts/edge/rule.ts';
import { startLocalStack } from '../../scripts/local-stack/server.ts';
import type { LocalStack } from '../../scripts/local-stack/server.ts';
import { readmeCurlChecks, readmeTokenCommand } from './readme.ts';

const execFileAsync = promisify(execFile);
const MiB = 1024 * 1024;
const TOKEN = randomBytes(32).toString('hex');

function findTool(name: string): string | undefined {
  const which = spawnSync('sh', ['-c', `command -v ${name} || ls /usr/sbin/${name}`], { encoding: 'utf8' });
  const found = which.stdout.trim().split('\n')[0];
  return which.status === 0 && found ? found : undefined;
}

const nginx = findTool('nginx');
const curl = findTool('curl');
if (!curl && !process.env.CI) {
  console.warn("test/edge/edge.test.ts: curl is not installed, skipping the README's curl checks");
}
const openssl = findTool('openssl');
const haveNginx = Boolean(nginx && openssl);
if (!haveNginx && !process.env.CI) {
  console.warn(
    'test/edge/edge.test.ts: nginx or openssl is not installed, skipping the nginx edge (apt-get install nginx)'
  );
}

const work = mkdtempSync(path.join(tmpdir(), 'baseline-edge-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

// ------------------------------------------------------------------------------------------------------------------
// HTTP(S) client: raw enough to send HEAD, chunked bodies and exact targets, and to trust the test certificate.

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface Target {
  /** `http(s)://127.0.0.1:port/` */
  base: string;
  /** The certificate to trust for an https base. */
  ca?: Buffer;
}

function send(
  target: Target,
  method: string,
  pathAndQuery: string,
  options: { headers?: Record<string, string>; body?: Buffer | string; chunked?: boolean } = {}
): Promise<Reply> {
  const url = new URL(target.base);
  const secure = url.protocol === 'https:';
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (body && !options.chunked) {
    headers['content-length'] = String(body.length);
  }
  return new Promise<Reply>((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)({
      hostname: url.hostname,
      port: url.port,
      method,
      path: pathAndQuery,
      headers,
      ca: target.ca,
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    if (body && options.chunked) {
      // Two writes without a length: a chunked request, as a streaming client sends it.
      req.write(body.subarray(0, Math.floor(body.length / 2)));
      req.end(body.subarray(Math.floor(body.length / 2)));
    } else {
      req.end(body);
    }
  });
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

// ------------------------------------------------------------------------------------------------------------------
// A recording upstream: remembers every request that reaches it, answers with a recognisable response.

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bodySha256: string;
  bodyLength: number;
}

interface Recorder {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

async function startRecorder(): Promise<Recorder> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    // A request the edge cuts off (over the body limit) just never counts as seen.
    req.on('error', () => res.destroy());
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        bodySha256: sha256(body),
        bodyLength: body.length,
      });
      // `/big/<n>` answers n bytes, so responses larger than any buffer are passed through too.
      const big = /^\/big\/(\d+)$/.exec(req.url ?? '');
      const answer = big ? Buffer.alloc(Number(big[1]), 'r') : Buffer.from(JSON.stringify({ echo: sha256(body) }));
      res.writeHead(201, 'Created Here', {
        'content-type': big ? 'application/octet-stream' : 'application/fhir+json',
        'x-upstream': 'recorder',
        'set-cookie': ['a=1', 'b=2'],
        'content-length': answer.length,
      });
      res.end(req.method === 'HEAD' ? undefined : answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ------------------------------------------------------------------------------------------------------------------
// The two edges.

interface RunningEdge extends Target {
  close(): Promise<void>;
}

let certificate: { cert: string; key: string; pem: Buffer } | undefined;

/** A self-signed certificate for 127.0.0.1, made once. */
function testCertificate(): { cert: string; key: string; pem: Buffer } {
  if (!certificate) {
    const cert = path.join(work, 'edge.crt');
    const key = path.join(work, 'edge.key');
    const made = spawnSync(
      openssl ?? 'openssl',
      [
        ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1'],
        ...['-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
      ],
      { encoding: 'utf8' }
    );
    expect(made.status, made.stderr).toBe(0);
    certificate = { cert, key, pem: readFileSync(cert) };
  }
  return certificate;
}

let nginxCount = 0;

/**
 * Runs scripts/edge/nginx.example.conf (with the snippet) on two free loopback ports, in front of `upstream`.
 * @param upstream - Where Medplum would be.
 * @param token - The verification token; undefined leaves the shipped placeholder.
 */
async function startNginx(upstream: string, token: string | undefined): Promise<RunningEdge & { httpBase: string }> {
  if (!nginx) {
    throw new Error('nginx is not installed (Debian: apt-get install nginx); CI must install it');
  }
  const dir = path.join(work, `nginx-${++nginxCount}`);
  mkdirSync(path.join(dir, 'temp'), { recursive: true });
  // Worker processes may run as another user (nginx's default when started as root): let them read the files.
  chmodSync(work, 0o755);
  chmodSync(dir, 0o755);
  const { cert, key, pem } = testCertificate();
  chmodSync(key, 0o644);
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const snippetPath = path.join(dir, 'baseline-webhooks.conf');
  writeFileSync(snippetPath, renderSnippet({ token, upstream }));
  const site = renderExample({
    upstream,
    httpListen: `127.0.0.1:${httpPort}`,
    httpsListen: `127.0.0.1:${httpsPort}`,
    certificate: cert,
    certificateKey: key,
    snippetPath,
  });
  writeFileSync(path.join(dir, 'site.conf'), site);
  const errorLog = path.join(dir, 'error.log');
  // What a distribution's nginx.conf provides around a site, kept inside the scratch directory.
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      `error_log ${errorLog} warn;`,
      'events { worker_connections 64; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
        (kind) => `  ${kind}_temp_path ${path.join(dir, 'temp', kind)};`
      ),
      `  include ${path.join(dir, 'site.conf')};`,
      '}',
    ].join('\n')
  );
  const args = ['-e', errorLog, '-p', dir, '-c', path.join(dir, 'nginx.conf')];
  const globals = `daemon off; pid ${path.join(dir, 'nginx.pid')};`;
  const check = spawnSync(nginx, ['-t', ...args, '-g', globals], { encoding: 'utf8' });
  expect(check.status, check.stderr).toBe(0);
  const proc: ChildProcess = spawn(nginx, [...args, '-g', globals], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const edge = { base: `https://127.0.0.1:${httpsPort}/`, httpBase: `http://127.0.0.1:${httpPort}/`, ca: pem };
  for (let i = 0; ; i++) {
    try {
      await send(edge, 'GET', '/.edge-started');
      break;
    } catch (err) {
      if (i > 100 || proc.exitCode !== null) {
        throw new Error(`nginx did not start: ${output}`, { cause: err });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    ...edge,
    async close() {
      if (proc.exitCode === null) {
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}

async function startEdge(kind: EdgeKind, upstream: string): Promise<RunningEdge> {
  if (kind === 'nginx') {
    return startNginx(upstream, TOKEN);
  }
  const edge = await startNodeEdge({ port: 0, host: '127.0.0.1', upstream, verificationToken: TOKEN });
  return { base: edge.url, close: () => edge.close() };
}

type EdgeKind = 'nginx' | 'node';
const EDGES: EdgeKind[] = ['nginx', 'node'];
const skipped = (kind: EdgeKind): boolean => kind === 'nginx' && !haveNginx && !process.env.CI;

// ------------------------------------------------------------------------------------------------------------------
// The local stack with a bot behind a public webhook.

/** Echoes what Medplum handed it, so the test sees the POST arrive at the bot unchanged. */
const ECHO_BOT = `exports.handler = async function (medplum, event) {
  const h = event.headers || {};
  return {
    input: event.input,
    contentType: event.contentType,
    signature: h['x-oura-signature'] || null,
    timestamp: h['x-oura-timestamp'] || null,
    forwardedFor: h['x-forwarded-for'] || null,
  };
};`;

async function adminFetch(
  stack: LocalStack,
  token: string,
  method: string,
  url: string,
  body?: unknown
): Promise<unknown> {
  const res = await fetch(stack.baseUrl + url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status, `${method} ${url}`).toBeLessThan(300);
  return res.json();
}

/** A public-webhook bot running ECHO_BOT; returns its membership id (the `<id>` of `/webhook/<id>`). */
async function deployEchoBot(stack: LocalStack): Promise<string> {
  const tokenRes = await fetch(stack.baseUrl + 'oauth2/token', {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: stack.adminClient.clientId,
      client_secret: stack.adminClient.clientSecret,
    }),
  });
  const token = ((await tokenRes.json()) as { access_token: string }).access_token;
  const policy = (await adminFetch(stack, token, 'POST', 'fhir/R4/AccessPolicy', {
    resourceType: 'AccessPolicy',
    name: 'edge-echo',
    resource: [{ resourceType: 'Patient' }],
  })) as { id: string };
  const bot = (await adminFetch(stack, token, 'POST', `admin/projects/${stack.projectId}/bot`, {
    name: 'edge-echo',
    runtimeVersion: 'vmcontext',
    accessPolicy: { reference: `AccessPolicy/${policy.id}` },
  })) as { id: string };
  const current = (await adminFetch(stack, token, 'GET', `fhir/R4/Bot/${bot.id}`)) as object;
  await adminFetch(stack, token, 'PUT', `fhir/R4/Bot/${bot.id}`, { ...current, publicWebhook: true });
  await adminFetch(stack, token, 'POST', `fhir/R4/Bot/${bot.id}/$deploy`, { code: ECHO_BOT });
  const memberships = (await adminFetch(
    stack,
    token,
    'GET',
    `fhir/R4/ProjectMembership?profile=Bot/${bot.id}`
  )) as Bundle;
  const id = memberships.entry?.[0]?.resource?.id;
  expect(id).toBeTruthy();
  return id ?? '';
}

// ------------------------------------------------------------------------------------------------------------------

const challengeQuery = (token: string | undefined, challenge: string | undefined): string =>
  '?' +
  [token === undefined ? '' : `verification_token=${token}`, challenge === undefined ? '' : `challenge=${challenge}`]
    .filter(Boolean)
    .join('&');

describe.each(EDGES)('the %s edge', (kind) => {
  describe.skipIf(skipped(kind))('in front of a recording upstream', () => {
    let recorder: Recorder;
    let edge: RunningEdge;
    const hook = `/webhook/${randomUUID()}`;

    beforeAll(async () => {
      recorder = await startRecorder();
      edge = await startEdge(kind, recorder.url);
    });
    afterAll(async () => {
      await edge.close();
      await recorder.close();
    });

    /** Runs `act` and returns what reached the upstream meanwhile. */
    async function reaching<T>(act: () => Promise<T>): Promise<{ result: T; seen: Seen[] }> {
      const before = recorder.seen.length;
      const result = await act();
      return { result, seen: recorder.seen.slice(before) };
    }

    test("HEAD /webhook/<id> is 200 with no body, answered at the edge (Withings' check)", async () => {
      const { result, seen } = await reaching(() => send(edge, 'HEAD', hook));
      expect(result.status).toBe(200);
      expect(result.body.length).toBe(0);
      expect(seen).toEqual([]);
      // With a query (a Withings callback URL may carry one) and a trailing slash, as Medplum's route allows.
      const other = await reaching(() => send(edge, 'HEAD', `${hook}/?k=v`));
      expect(other.result.status).toBe(200);
      expect(other.seen).toEqual([]);
    });

    test("GET with the token echoes the challenge as JSON, answered at the edge (Oura's check)", async () => {
      const challenge = 'Az09._~-' + 'x'.repeat(248);
      const { result, seen } = await reaching(() => send(edge, 'GET', hook + challengeQuery(TOKEN, challenge)));
      expect(result.status).toBe(200);
      expect(result.headers['content-type']).toBe('application/json');
      expect(result.body.toString()).toBe(`{"challenge":"${challenge}"}`);
      expect(JSON.parse(result.body.toString())).toEqual({ challenge });
      expect(seen).toEqual([]);
      // Argument order does not matter.
      const swapped = await send(edge, 'GET', `${hook}?challenge=c1&verification_token=${TOKEN}`);
      expect(swapped.body.toString()).toBe('{"challenge":"c1"}');
    });

    test.each([
      ['a wrong token', challengeQuery('0'.repeat(64), 'c1')],
      ['the token with one more character', challengeQuery(`${TOKEN}0`, 'c1')],
      ['the token cut short', challengeQuery(TOKEN.slice(0, -1), 'c1')],
      ['an empty token', '?verification_token=&challenge=c1'],
      ['no token', challengeQuery(undefined, 'c1')],
      ['no query at all', ''],
    ])('GET with %s is 401, not proxied', async (_label, query) => {
      const { result, seen } = await reaching(() => send(edge, 'GET', hook + query));
      expect(result.status).toBe(401);
      expect(seen).toEqual([]);
    });

    test.each([
      ['a quote', 'a%22b'],
      ['a raw quote', 'a"b'],
      ['markup', '%3Cscript%3E'],
      ['a space', 'a+b'],
      ['257 characters', 'x'.repeat(257)],
      ['an empty challenge', ''],
      ['no challenge', undefined],
    ])('GET with the token and %s as challenge is 400, not proxied', async (_label, challenge) => {
      const { result, seen } = await reaching(() => send(edge, 'GET', hook + challengeQuery(TOKEN, challenge)));
      expect(result.status).toBe(400);
      expect(seen).toEqual([]);
    });

    test('odd spellings are decided as nginx decides them: on the normalised path, argument names in any case', async () => {
      const id = hook.replace('/webhook/', '');
      for (const spelling of [
        `//webhook//${id}`,
        `/fhir/../webhook/${id}`,
        `/webhook/%${id.charCodeAt(0).toString(16)}${id.slice(1)}`,
      ]) {
        const { result, seen } = await reaching(() => send(edge, 'HEAD', spelling));
        expect([spelling, result.status, seen.length]).toEqual([spelling, 200, 0]);
      }
      const upper = await send(edge, 'GET', `${hook}?VERIFICATION_TOKEN=${TOKEN}&Challenge=c1`);
      expect(upper.body.toString()).toBe('{"challenge":"c1"}');
      // The first of repeated arguments counts.
      const repeated = await send(
        edge,
        'GET',
        `${hook}?verification_token=${TOKEN}&verification_token=x&challenge=c1&challenge=c2`
      );
      expect(repeated.body.toString()).toBe('{"challenge":"c1"}');
      // An encoded slash makes it a deeper path, which is not Medplum's webhook route: passed through as received.
      const deeper = await reaching(() => send(edge, 'HEAD', `/webhook/a%2Fb`));
      expect(deeper.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['HEAD /webhook/a%2Fb']);
    });

    test.each(['PUT', 'DELETE', 'PATCH', 'OPTIONS'])('%s /webhook/<id> is 405, not proxied', async (method) => {
      const { result, seen } = await reaching(() => send(edge, method, hook, { body: '{}' }));
      expect(result.status).toBe(405);
      expect(result.headers.allow).toBe('GET, HEAD, POST');
      expect(seen).toEqual([]);
    });

    test('POST /webhook/<id> reaches the upstream unchanged: target, body, content type, signature headers', async () => {
      const body = JSON.stringify({ event_type: 'update', data_type: 'sleep', object_id: 'x', user_id: 'u' });
      const headers = {
        'content-type': 'application/json',
        'x-oura-signature': 'A1B2C3D4E5F6',
        'x-oura-timestamp': '1748241241',
        'x-whoop-signature': 'c2lnbmF0dXJl',
        'x-whoop-signature-timestamp': '1748241241000',
        'user-agent': 'Oura-Webhook/1.0',
      };
      const target = `${hook}?source=oura&x=%20y`;
      const { result, seen } = await reaching(() => send(edge, 'POST', target, { headers, body }));
      expect(seen).toHaveLength(1);
      const [arrived] = seen;
      expect(arrived?.method).toBe('POST');
      expect(arrived?.url).toBe(target);
      expect(arrived?.bodySha256).toBe(sha256(body));
      expect(arrived?.headers).toMatchObject({ ...headers, 'content-length': String(body.length) });
      expect(arrived?.headers['x-forwarded-for']).toBe('127.0.0.1');
      // The upstream's answer comes back as it was sent.
      expect(result.status).toBe(201);
      expect(result.headers['x-upstream']).toBe('recorder');
      expect(result.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(result.headers['content-type']).toBe('application/fhir+json');
      expect(JSON.parse(result.body.toString())).toEqual({ echo: sha256(body) });
    });

    test('a form-encoded POST (Withings) and a chunked POST arrive whole', async () => {
      const form = 'userid=123&appli=1&startdate=1700000000&enddate=1700003600';
      const formType = 'application/x-www-form-urlencoded';
      const { seen } = await reaching(() =>
        send(edge, 'POST', hook, { headers: { 'content-type': formType }, body: form })
      );
      expect(seen.map((s) => [s.bodySha256, s.headers['content-type']])).toEqual([[sha256(form), formType]]);
      const big = randomBytes(200 * 1024);
      const chunked = await reaching(() =>
        send(edge, 'POST', hook, { headers: { 'content-type': 'application/json' }, body: big, chunked: true })
      );
      expect(chunked.result.status).toBe(201);
      expect(chunked.seen.map((s) => [s.bodyLength, s.bodySha256])).toEqual([[big.length, sha256(big)]]);
    });

    test("a webhook body of Medplum's 1 MiB limit passes; one byte more is 413 at the edge", async () => {
      const limit = randomBytes(MiB);
      const ok = await reaching(() => send(edge, 'POST', hook, { body: limit }));
      expect(ok.result.status).toBe(201);
      expect(ok.seen.map((s) => s.bodySha256)).toEqual([sha256(limit)]);
      const over = await reaching(() => send(edge, 'POST', hook, { body: randomBytes(MiB + 1) }));
      expect(over.result.status).toBe(413);
      expect(over.seen).toEqual([]);
      // Without a Content-Length the limit is found while streaming: the upstream still never gets a (cut) body.
      const before = recorder.seen.length;
      const chunked = await send(edge, 'POST', hook, { body: randomBytes(MiB + 1), chunked: true });
      expect(chunked.status).toBe(413);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(recorder.seen.slice(before)).toEqual([]);
    });

    test('paths outside /webhook/<id> are proxied unchanged, any method, bodies and answers of several MB', async () => {
      const upload = randomBytes(3 * MiB);
      const binary = await reaching(() =>
        send(edge, 'PUT', '/fhir/R4/Binary/abc?_pretty=true', {
          headers: { 'content-type': 'application/octet-stream', authorization: 'Bearer t' },
          body: upload,
        })
      );
      expect(binary.result.status).toBe(201);
      expect(binary.seen).toMatchObject([
        { method: 'PUT', url: '/fhir/R4/Binary/abc?_pretty=true', bodyLength: upload.length },
      ]);
      expect(binary.seen[0]?.bodySha256).toBe(sha256(upload));
      expect(binary.seen[0]?.headers.authorization).toBe('Bearer t');

      const download = await send(edge, 'GET', `/big/${4 * MiB}`);
      expect(download.status).toBe(201);
      expect(download.body.length).toBe(4 * MiB);

      for (const [method, target] of [
        ['GET', '/fhir/R4/Patient?name=a%20b&_count=2'],
        ['HEAD', '/healthcheck'],
        ['GET', '/webhook'],
        ['GET', `/webhook/${randomUUID()}/extra?verification_token=${TOKEN}&challenge=c1`],
        ['DELETE', '/fhir/R4/Observation/1'],
      ] as const) {
        const { result, seen } = await reaching(() => send(edge, method, target));
        expect(result.status, `${method} ${target}`).toBe(201);
        expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([`${method} ${target}`]);
      }
    });
  });

  describe.skipIf(skipped(kind))('in front of the local stack (Medplum: POST-only /webhook/:id)', () => {
    let stack: LocalStack;
    let edge: RunningEdge;
    let hook: string;

    beforeAll(async () => {
      stack = await startLocalStack({ port: 0, medplumVersion: '5.0' });
      hook = `/webhook/${await deployEchoBot(stack)}`;
      edge = await startEdge(kind, stack.baseUrl.replace(/\/$/, ''));
    });
    afterAll(async () => {
      await edge.close();
      await stack.close();
    });

    test('without the edge, Medplum answers HEAD and the Oura GET with 404: the edge is what makes them work', async () => {
      const direct: Target = { base: stack.baseUrl };
      expect((await send(direct, 'HEAD', hook)).status).toBe(404);
      const get = await send(direct, 'GET', hook + challengeQuery(TOKEN, 'c1'));
      expect(get.status).toBe(404);
      expect(get.body.toString()).toContain(`Cannot GET ${hook}`);

      expect((await send(edge, 'HEAD', hook)).status).toBe(200);
      const verified = await send(edge, 'GET', hook + challengeQuery(TOKEN, 'c1'));
      expect(verified.status).toBe(200);
      expect(verified.body.toString()).toBe('{"challenge":"c1"}');
    });

    test('a POST through the edge runs the bot with the body and the signature headers', async () => {
      const runsBefore = stack.ctx.stats.webhookRequests;
      const body = { event_type: 'update', data_type: 'daily_sleep', object_id: 'abc', user_id: 'u1' };
      const res = await send(edge, 'POST', hook, {
        headers: { 'content-type': 'application/json', 'x-oura-signature': 'ABCDEF', 'x-oura-timestamp': '1700000000' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString())).toEqual({
        input: body,
        contentType: 'application/json',
        signature: 'ABCDEF',
        timestamp: '1700000000',
        forwardedFor: '127.0.0.1',
      });
      expect(stack.ctx.stats.webhookRequests).toBe(runsBefore + 1);
    });

    test('a Withings form POST reaches the bot parsed, as Medplum hands it over', async () => {
      const res = await send(edge, 'POST', hook, {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'userid=123&appli=1&startdate=1700000000&enddate=1700003600',
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString())).toMatchObject({
        input: { userid: '123', appli: '1', startdate: '1700000000', enddate: '1700003600' },
        contentType: 'application/x-www-form-urlencoded',
      });
    });

    test.skipIf(!curl && !process.env.CI)(
      "scripts/edge/README.md's curl checks print what it says they print",
      async () => {
        const checks = readmeCurlChecks();
        expect(checks.length).toBeGreaterThanOrEqual(6);
        const env = {
          ...process.env,
          BASE: edge.base.replace(/\/$/, ''),
          ID: hook.replace('/webhook/', ''),
          TOKEN,
          ...(edge.ca ? { CURL_CA_BUNDLE: testCertificate().cert } : {}),
        };
        for (const check of checks) {
          // Asynchronously: the stack and the Node edge answer from this process's event loop.
          const run = await execFileAsync('sh', ['-c', check.command], { encoding: 'utf8', env, timeout: 20_000 });
          expect(run.stdout.trim(), check.command).toBe(check.expected);
        }
      }
    );

    test("Medplum's own refusals pass through: an unknown id is its 404 OperationOutcome", async () => {
      const res = await send(edge, 'POST', `/webhook/${randomUUID()}`, {
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status).toBe(404);
      expect(JSON.parse(res.body.toString())).toMatchObject({ resourceType: 'OperationOutcome' });
      const health = await send(edge, 'GET', '/healthcheck');
      expect(JSON.parse(health.body.toString())).toMatchObject({ ok: true });
    });
  });

  describe.skipIf(skipped(kind))('with Medplum down', () => {
    let edge: RunningEdge;

    beforeAll(async () => {
      edge = await startEdge(kind, `http://127.0.0.1:${await freePort()}`);
    });
    afterAll(async () => {
      await edge.close();
    });

    test('webhook POSTs and API calls are 502; the checks answered at the edge still work', async () => {
      expect((await send(edge, 'POST', `/webhook/${randomUUID()}`, { body: '{}' })).status).toBe(502);
      expect((await send(edge, 'GET', '/fhir/R4/Patient')).status).toBe(502);
      expect((await send(edge, 'HEAD', `/webhook/${randomUUID()}`)).status).toBe(200);
    });
  });
});

describe.skipIf(skipped('nginx'))('the shipped nginx files as an operator installs them', () => {
  let recorder: Recorder;
  let placeholder: RunningEdge & { httpBase: string };
  let configured: RunningEdge & { httpBase: string };

  beforeAll(async () => {
    recorder = await startRecorder();
    placeholder = await startNginx(recorder.url, undefined);
    configured = await startNginx(recorder.url, TOKEN);
  });
  afterAll(async () => {
    await placeholder.close();
    await configured.close();
    await recorder.close();
  });

  test('until the token is set, the Oura check fails closed (500) while HEAD and POST already work', async () => {
    const hook = `/webhook/${randomUUID()}`;
    expect((await send(placeholder, 'GET', hook + challengeQuery(TOKEN, 'c1'))).status).toBe(500);
    // Not even the placeholder text itself is accepted as a token.
    const literal = encodeURIComponent('<OURA_WEBHOOK_VERIFICATION_TOKEN>');
    expect((await send(placeholder, 'GET', hook + challengeQuery(literal, 'c1'))).status).toBe(500);
    expect((await send(placeholder, 'HEAD', hook)).status).toBe(200);
    expect((await send(placeholder, 'POST', hook, { body: '{}' })).status).toBe(201);
  });

  test('plain HTTP redirects to HTTPS: providers call back over TLS only', async () => {
    const res = await send({ base: configured.httpBase }, 'GET', `/webhook/x?challenge=c1`);
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe(`https://127.0.0.1/webhook/x?challenge=c1`);
  });

  test('the internal verification location is not reachable from outside', async () => {
    const res = await send(configured, 'GET', `/webhook/.baseline-oura-verification${challengeQuery(TOKEN, 'c1')}`);
    expect(res.status).toBe(404);
  });
});

test("scripts/edge/README.md's token command makes a fresh token both edges accept", () => {
  const command = readmeTokenCommand();
  const run = (): string => {
    const result = spawnSync('sh', ['-c', command], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    return result.stdout.trim();
  };
  const token = run();
  expect(token).toMatch(TOKEN_PATTERN);
  expect(() => renderSnippet({ token, upstream: 'http://127.0.0.1:8103' })).not.toThrow();
  expect(run()).not.toBe(token);
});

test('the Node edge refuses to start without a usable token', async () => {
  for (const verificationToken of ['', 'short', '<OURA_WEBHOOK_VERIFICATION_TOKEN>', `${'a'.repeat(20)}"`]) {
    await expect(
      startNodeEdge({ port: 0, upstream: 'http://127.0.0.1:8103', verificationToken }),
      verificationToken
    ).rejects.toThrow('verificationToken must match');
  }
});
