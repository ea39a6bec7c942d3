/**
 * `npm test`: type-check (scripts/tests, bots without DOM, app with DOM), lint, formatting, then every Vitest suite
 * (unit, integration against the local stack, browser). Ends with one `N passed, N failed` line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name: string): string => join(root, 'node_modules', '.bin', name);
const started = Date.now();

function step(title: string, command: string, args: string[]): void {
  const t0 = Date.now();
  console.log(`\n▶ ${title}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (result.status !== 0) {
    console.log(`✖ ${title} failed (exit ${result.status ?? 'signal'})`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  console.log(`✔ ${title} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

step('type-check scripts and tests', bin('tsc'), ['-p', 'tsconfig.json']);
step('type-check bots (no DOM)', bin('tsc'), ['-p', 'bots/tsconfig.json']);
step('type-check app (DOM + JSX)', bin('tsc'), ['-p', 'app/tsconfig.json']);
step('lint', bin('eslint'), ['--max-warnings', '0', '.']);
step('formatting', bin('prettier'), ['--check', '--log-level', 'warn', '.']);

mkdirSync(join(root, 'test', 'output'), { recursive: true });
const report = join(root, 'test', 'output', 'vitest.json');
const vitest = spawnSync(
  bin('vitest'),
  ['run', '--config', 'test/vitest.config.ts', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
  { cwd: root, stdio: 'inherit', env: process.env }
);
let passed = 0;
let failed = vitest.status === 0 ? 0 : 1;
if (existsSync(report)) {
  const json = JSON.parse(readFileSync(report, 'utf8')) as { numPassedTests: number; numFailedTests: number };
  passed = json.numPassedTests;
  failed = Math.max(json.numFailedTests, vitest.status === 0 ? 0 : 1);
}
console.log(`\nnpm test wall time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(vitest.status === 0 ? 0 : 1);
