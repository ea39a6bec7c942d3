import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { EXAMPLE_FILE, renderExample, renderSnippet, SNIPPET_FILE, TOKEN_PLACEHOLDER } from './render.ts';

const TOKEN = '0123456789abcdef0123';
const shipped = readFileSync(SNIPPET_FILE, 'utf8');

describe('renderSnippet', () => {
  test('changes exactly the token and the proxy_pass lines', () => {
    const rendered = renderSnippet({ token: TOKEN, upstream: 'http://10.1.2.3:8103/' });
    const before = shipped.split('\n');
    const after = rendered.split('\n');
    const changed = after.filter((line, i) => line !== before[i]).map((line) => line.trim());
    expect(changed).toEqual([
      'proxy_pass http://10.1.2.3:8103; # SET ME: your Medplum server',
      `set $baseline_oura_token "${TOKEN}"; # SET ME: the Project secret's value`,
    ]);
    expect(rendered).not.toContain(TOKEN_PLACEHOLDER);
  });

  test('without a token the placeholder stays (the snippet then fails closed)', () => {
    expect(renderSnippet({ token: undefined, upstream: 'http://127.0.0.1:8103' })).toContain(TOKEN_PLACEHOLDER);
  });

  test('refuses values nginx would interpret, and a snippet that drifted from rule.ts', () => {
    for (const token of ['short', `${TOKEN}"; return 200 "x`, `${TOKEN}$host`, `${TOKEN} x`]) {
      expect(() => renderSnippet({ token, upstream: 'http://127.0.0.1:8103' }), token).toThrow('the token must match');
    }
    for (const upstream of ['http://127.0.0.1:8103/fhir', 'ftp://x', 'http://x?y=1']) {
      expect(() => renderSnippet({ token: TOKEN, upstream }), upstream).toThrow('upstream must be');
    }
    const drifted = shipped.replace('{1,256}$"', '{1,512}$"');
    expect(() => renderSnippet({ token: TOKEN, upstream: 'http://127.0.0.1:8103' }, drifted)).toThrow('no longer has');
    const twice = `${shipped}\n    proxy_pass http://127.0.0.1:8103;\n`;
    expect(() => renderSnippet({ token: TOKEN, upstream: 'http://127.0.0.1:8103' }, twice)).toThrow(
      'expected exactly one line starting "proxy_pass http://127.0.0.1:8103;", found 2'
    );
  });
});

test('renderExample changes only the operator values', () => {
  const rendered = renderExample({
    upstream: 'http://127.0.0.1:9000',
    httpListen: '127.0.0.1:8080',
    httpsListen: '127.0.0.1:8443',
    certificate: '/tmp/c.pem',
    certificateKey: '/tmp/k.pem',
    snippetPath: '/tmp/s.conf',
  });
  const before = readFileSync(EXAMPLE_FILE, 'utf8').split('\n');
  const changed = rendered
    .split('\n')
    .filter((line, i) => line !== before[i])
    .map((line) => line.trim());
  expect(changed).toEqual([
    'listen 127.0.0.1:8080;',
    'listen 127.0.0.1:8443 ssl;',
    'ssl_certificate /tmp/c.pem;',
    'ssl_certificate_key /tmp/k.pem;',
    'include /tmp/s.conf;',
    'proxy_pass http://127.0.0.1:9000;',
  ]);
});

test('the CLI prints the snippet, the token from --token or the environment', () => {
  const script = path.join(import.meta.dirname, 'render.ts');
  const run = (args: string[], env: Record<string, string> = {}): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
  const viaArg = run(['--token', TOKEN, '--upstream', 'http://10.0.0.5:8103']);
  expect(viaArg.status, String(viaArg.stderr)).toBe(0);
  expect(viaArg.stdout).toBe(renderSnippet({ token: TOKEN, upstream: 'http://10.0.0.5:8103' }));
  const viaEnv = run([], { OURA_WEBHOOK_VERIFICATION_TOKEN: TOKEN });
  expect(viaEnv.stdout).toBe(renderSnippet({ token: TOKEN, upstream: 'http://127.0.0.1:8103' }));
  const missing = run([]);
  expect(missing.status).toBe(2);
  expect(String(missing.stderr)).toContain('usage:');
});
