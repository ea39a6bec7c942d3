/**
 * `npm run bench:stack`: local stack cold start to ready (a fresh process and an empty data directory, until
 * `/healthcheck` answers), full deploy into it (first run, which creates everything) and the repeat deploy (which
 * must change nothing). Runs each 3 times and prints the median. Figures go in the README.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deploy } from '../deploy/index.ts';
import { clientCredentialsClient } from '../medplum-client.ts';
import { announce, machineLine } from './about.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
announce('bench:stack', `~${RUNS * 5} seconds (${RUNS} runs)`);

interface Sample {
  coldStartMs: number;
  deployMs: number;
  redeployMs: number;
  redeployChanges: number;
}

async function once(): Promise<Sample> {
  const dataDir = mkdtempSync(join(tmpdir(), 'baseline-bench-'));
  const t0 = performance.now();
  const proc = spawn(
    process.execPath,
    [join(root, 'scripts/local-stack/main.ts'), '--data-dir', dataDir, '--port', '0', '--no-cron'],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    }
  );
  try {
    const baseUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('LOCAL_STACK_READY '));
        if (line) {
          resolve((JSON.parse(line.slice(18)) as { baseUrl: string }).baseUrl);
        }
      });
      proc.on('exit', (code) => reject(new Error(`local stack exited (${code})`)));
    });
    const health = await fetch(new URL('healthcheck', baseUrl));
    if (!health.ok) {
      throw new Error(`healthcheck answered ${health.status}`);
    }
    const coldStartMs = performance.now() - t0;
    const creds = JSON.parse(readFileSync(join(dataDir, 'admin-client.json'), 'utf8')) as {
      clientId: string;
      clientSecret: string;
      projectId: string;
    };
    const client = await clientCredentialsClient(baseUrl, creds.clientId, creds.clientSecret);
    const t1 = performance.now();
    await deploy({ client, projectId: creds.projectId, log: () => undefined });
    const deployMs = performance.now() - t1;
    const t2 = performance.now();
    const again = await deploy({ client, projectId: creds.projectId, log: () => undefined });
    const redeployMs = performance.now() - t2;
    return { coldStartMs, deployMs, redeployMs, redeployChanges: again.counts.created + again.counts.updated };
  } finally {
    proc.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const samples: Sample[] = [];
for (let i = 0; i < RUNS; i++) {
  samples.push(await once());
}
const fmt = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
console.log(`local stack cold start to ready: ${fmt(median(samples.map((s) => s.coldStartMs)))} (median of ${RUNS})`);
console.log(`full deploy (first run):         ${fmt(median(samples.map((s) => s.deployMs)))}`);
console.log(
  `repeat deploy (no-op):           ${fmt(median(samples.map((s) => s.redeployMs)))}, changes: ${samples.map((s) => s.redeployChanges).join(', ')}`
);
console.log(`reproduce: npm run bench:stack   (${machineLine()})`);
