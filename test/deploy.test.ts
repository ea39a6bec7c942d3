/**
 * `npm run deploy` against a running server (the local stack, which speaks Medplum's HTTP API): the harness has
 * already deployed once, so deploying again must change nothing, through the library and through the CLI.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deploy } from '../scripts/deploy/deploy.ts';
import { signIn } from '../scripts/deploy/sign-in.ts';
import { startTestStack } from './harness/stack.ts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../scripts/deploy.ts', import.meta.url));
// An empty working directory: no developer .env can supply credentials to these runs.
const CWD = mkdtempSync(path.join(tmpdir(), 'deploy-cli-'));

let stack: Awaited<ReturnType<typeof startTestStack>>;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

/** Runs the CLI with only the given variables (plus PATH), so no shell credentials leak in. */
async function cli(
  env: Record<string, string>,
  args: string[] = []
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [SCRIPT, ...args], {
      cwd: CWD,
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

function credentials(secret = stack.admin.clientSecret): Record<string, string> {
  return { MEDPLUM_BASE_URL: stack.baseUrl, MEDPLUM_CLIENT_ID: stack.admin.clientId, MEDPLUM_CLIENT_SECRET: secret };
}

describe('deploy to a running server', () => {
  test('deploying twice: the second run is a no-op', async () => {
    const client = await signIn({
      baseUrl: stack.baseUrl,
      clientId: stack.admin.clientId,
      clientSecret: stack.admin.clientSecret,
    });
    const first = await deploy({ client });
    const second = await deploy({ client });

    expect(first.counts.created).toBe(0);
    expect(second.counts).toEqual({ created: 0, updated: 0, unchanged: first.changes.length });
    expect(second.clients['patient-app']).toMatch(/\S/);
  });

  test('the CLI reports the no-op run in its summary line', async () => {
    const result = await cli(credentials());

    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n').at(-1)).toMatch(
      /^deploy: \d+ unchanged, 0 created, 0 updated \(\d+\.\d s\)$/
    );
    expect(result.stdout).not.toContain(stack.admin.clientSecret);
  });

  test('the CLI dry run writes nothing and says so', async () => {
    const result = await cli(credentials(), ['--dry-run']);

    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n').at(-1)).toMatch(
      /^deploy --dry-run: \d+ unchanged, 0 to create, 0 to update/
    );
  });

  test('wrong credentials: one line, exit 1, no stack trace', async () => {
    const result = await cli(credentials('not-the-secret'));

    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `deploy: error: Could not sign in to ${stack.baseUrl}: invalid client credentials`
    );
  });

  test('missing credentials: names what to set', async () => {
    const result = await cli({ MEDPLUM_BASE_URL: stack.baseUrl });

    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      'deploy: error: Missing MEDPLUM_CLIENT_ID, MEDPLUM_CLIENT_SECRET: set them in the environment or in .env'
    );
  });
});
