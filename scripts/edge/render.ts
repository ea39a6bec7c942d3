/**
 * Renders the shipped nginx files with an operator's values: the snippet with the Oura verification token and the
 * Medplum address, the example site with its listen addresses, certificate, snippet path and Medplum address. Every
 * substitution must match exactly once, so a test that runs the rendered file runs the shipped one with only those
 * values changed, and an edit that moves them fails here rather than silently shipping an untested file.
 *
 * CLI (prints the snippet): `node scripts/edge/render.ts --token <OURA_WEBHOOK_VERIFICATION_TOKEN> --upstream
 * http://127.0.0.1:8103 > /etc/nginx/snippets/baseline-webhooks.conf`; without `--token` the token is read from the
 * environment variable OURA_WEBHOOK_VERIFICATION_TOKEN (keeps it out of shell history and `ps`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  ALLOWED_WEBHOOK_METHODS,
  CHALLENGE_PATTERN,
  MAX_WEBHOOK_BODY_BYTES,
  parseUpstream,
  TOKEN_PATTERN,
  WEBHOOK_PATH,
} from './rule.ts';

export const SNIPPET_FILE = fileURLToPath(new URL('nginx-webhooks.conf', import.meta.url));
export const EXAMPLE_FILE = fileURLToPath(new URL('nginx.example.conf', import.meta.url));

/** What the shipped snippet says where an operator must put their values. */
export const TOKEN_PLACEHOLDER = '<OURA_WEBHOOK_VERIFICATION_TOKEN>';
export const DEFAULT_UPSTREAM = 'http://127.0.0.1:8103';
export const EXAMPLE_SNIPPET_PATH = '/etc/nginx/snippets/baseline-webhooks.conf';
const EXAMPLE_CERTIFICATE = '/etc/letsencrypt/live/medplum.example.org/fullchain.pem';
const EXAMPLE_CERTIFICATE_KEY = '/etc/letsencrypt/live/medplum.example.org/privkey.pem';

export interface SnippetValues {
  /** OURA_WEBHOOK_VERIFICATION_TOKEN; undefined leaves the placeholder (GET verification then fails closed, 500). */
  token: string | undefined;
  /** Medplum's address, an http(s) origin. */
  upstream: string;
}

export interface ExampleValues {
  /** Medplum's address, an http(s) origin. */
  upstream: string;
  /** Replaces `listen 80;` (e.g. `127.0.0.1:8080`). */
  httpListen: string;
  /** Replaces the `443` of `listen 443 ssl;`. */
  httpsListen: string;
  certificate: string;
  certificateKey: string;
  /** Where the rendered snippet is. */
  snippetPath: string;
}

/**
 * Replaces `search` where it is a directive (a line that starts with it, after indentation); comments that quote it
 * are left alone. Throws unless there is exactly one such line.
 */
function replaceOnce(text: string, search: string, replacement: string, file: string): string {
  const lines = text.split('\n');
  const at = lines.flatMap((line, index) => (line.trimStart().startsWith(search) ? [index] : []));
  const index = at[0];
  if (at.length !== 1 || index === undefined) {
    throw new Error(`${path.basename(file)}: expected exactly one line starting "${search}", found ${at.length}`);
  }
  lines[index] = (lines[index] ?? '').replace(search, () => replacement);
  return lines.join('\n');
}

/** A value placed in the nginx file as is: nothing that could end a directive, quote or open a variable. */
function checkNginxWord(name: string, value: string): string {
  if (!/^[A-Za-z0-9._~:/[\]-]+$/.test(value)) {
    throw new Error(`${name} has characters nginx would interpret: ${value}`);
  }
  return value;
}

/**
 * @param values - The token and Medplum's address.
 * @param source - The snippet text (default: the shipped file).
 * @returns The snippet to include in the server block.
 */
export function renderSnippet(values: SnippetValues, source = readFileSync(SNIPPET_FILE, 'utf8')): string {
  // The shipped patterns are the ones the Node edge enforces: a change to one must be a change to both.
  const shared = [
    `location ~ ${WEBHOOK_PATH.source.replaceAll('\\/', '/')} {`,
    `"${TOKEN_PATTERN.source}"`,
    `"${CHALLENGE_PATTERN.source}"`,
    `client_max_body_size ${MAX_WEBHOOK_BODY_BYTES / (1024 * 1024)}m;`,
    `add_header Allow "${ALLOWED_WEBHOOK_METHODS}" always;`,
  ];
  for (const expected of shared) {
    if (!source.includes(expected)) {
      throw new Error(`nginx-webhooks.conf no longer has ${expected} (rule.ts): change both together`);
    }
  }
  let text = source;
  if (values.token !== undefined) {
    if (!TOKEN_PATTERN.test(values.token)) {
      throw new Error(`the token must match ${TOKEN_PATTERN.source} (e.g. openssl rand -hex 32)`);
    }
    text = replaceOnce(
      text,
      `set $baseline_oura_token "${TOKEN_PLACEHOLDER}";`,
      `set $baseline_oura_token "${values.token}";`,
      SNIPPET_FILE
    );
  }
  return replaceOnce(
    text,
    `proxy_pass ${DEFAULT_UPSTREAM};`,
    `proxy_pass ${checkNginxWord('upstream', parseUpstream(values.upstream).origin)};`,
    SNIPPET_FILE
  );
}

/**
 * @param values - Listen addresses, certificate, snippet path and Medplum's address.
 * @param source - The example text (default: the shipped file).
 * @returns The example site with those values.
 */
export function renderExample(values: ExampleValues, source = readFileSync(EXAMPLE_FILE, 'utf8')): string {
  let text = source;
  text = replaceOnce(text, 'listen 80;', `listen ${checkNginxWord('httpListen', values.httpListen)};`, EXAMPLE_FILE);
  text = replaceOnce(
    text,
    'listen 443 ssl;',
    `listen ${checkNginxWord('httpsListen', values.httpsListen)} ssl;`,
    EXAMPLE_FILE
  );
  text = replaceOnce(
    text,
    `ssl_certificate ${EXAMPLE_CERTIFICATE};`,
    `ssl_certificate ${checkNginxWord('certificate', values.certificate)};`,
    EXAMPLE_FILE
  );
  text = replaceOnce(
    text,
    `ssl_certificate_key ${EXAMPLE_CERTIFICATE_KEY};`,
    `ssl_certificate_key ${checkNginxWord('certificateKey', values.certificateKey)};`,
    EXAMPLE_FILE
  );
  text = replaceOnce(
    text,
    `include ${EXAMPLE_SNIPPET_PATH};`,
    `include ${checkNginxWord('snippetPath', values.snippetPath)};`,
    EXAMPLE_FILE
  );
  return replaceOnce(
    text,
    `proxy_pass ${DEFAULT_UPSTREAM};`,
    `proxy_pass ${checkNginxWord('upstream', parseUpstream(values.upstream).origin)};`,
    EXAMPLE_FILE
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      token: { type: 'string' },
      upstream: { type: 'string', default: DEFAULT_UPSTREAM },
    },
  });
  const token = values.token ?? process.env.OURA_WEBHOOK_VERIFICATION_TOKEN;
  if (!token) {
    console.error(
      'usage: node scripts/edge/render.ts [--token <OURA_WEBHOOK_VERIFICATION_TOKEN>] [--upstream <url>]\n' +
        '(without --token, the environment variable OURA_WEBHOOK_VERIFICATION_TOKEN)'
    );
    process.exit(2);
  }
  process.stdout.write(renderSnippet({ token, upstream: values.upstream }));
}
