/**
 * Benchmarks say how long they take before they start, and stamp their figures with the date and the machine
 * (issue 7): the figures in the README must be traceable to a run.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { machineLine } from '../scripts/bench/about.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const benches = readdirSync(join(root, 'scripts/bench')).filter(
  (f) => f.endsWith('.ts') && !f.includes('.test.') && f !== 'about.ts'
);
const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
  .scripts;

describe('benchmarks', () => {
  test('every bench file is an npm script and announces its duration before its first await', () => {
    expect(benches.length).toBeGreaterThanOrEqual(3);
    for (const file of benches) {
      const name = `bench:${file.replace(/\.ts$/, '')}`;
      expect(scripts[name], name).toBe(`node scripts/bench/${file}`);
      const source = readFileSync(join(root, 'scripts/bench', file), 'utf8');
      const announced = source.search(new RegExp(`\\nannounce\\('${name}', `));
      const firstAwait = source.search(/\nawait |\n[^\n/*]*= await /);
      expect(announced, `${file} calls announce('${name}', …) at top level`).toBeGreaterThan(0);
      expect(announced, `${file} announces before it starts working`).toBeLessThan(
        firstAwait < 0 ? Infinity : firstAwait
      );
    }
  });

  test('the machine line names the date, the cores, the memory and Node', () => {
    const line = machineLine(new Date('2026-12-06T02:10:00Z'));
    expect(line).toMatch(/^2026-12-06 02:10 UTC · \d+ × .+ · \d+ GiB · Node v\d+\.\d+\.\d+$/);
  });

  test('bench:stack prints the announcement first and the reproduce line with the machine last', () => {
    const run = spawnSync(process.execPath, [join(root, 'scripts/bench/stack.ts')], {
      cwd: root,
      env: { ...process.env, BENCH_RUNS: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toBe('bench:stack — takes ~5 seconds (1 runs) on a 2-core machine');
    expect(lines.at(-1)).toMatch(/^reproduce: npm run bench:stack {3}\(\d{4}-\d\d-\d\d \d\d:\d\d UTC · /);
  }, 150_000);
});
