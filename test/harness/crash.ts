/**
 * The kill -9 rig the crash tests share: the local stack runs as a child process on a data directory that outlives
 * it, is killed with SIGKILL at the moment a backfill is mid-window (one window done, the next claimed and running),
 * and is started again on the same directory — as a real server dies and comes back on the same database. The
 * provider sandbox stays in the test's process, as the provider outlives a Medplum crash.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MedplumClient } from '@medplum/core';
import { TASK_TYPE_SYSTEM } from '../../bots/shared/extensions.ts';
import { clientCredentialsClient } from '../../scripts/medplum-client.ts';
import { bot } from '../../scripts/sandboxes/connect-flow.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface AdminCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly projectId: string;
}

export interface RunningStack {
  readonly baseUrl: string;
  readonly admin: MedplumClient;
  readonly creds: AdminCredentials;
}

export interface CrashRig {
  /** Starts the stack (again) on the rig's data directory, without cron: only the test decides when the sweeper runs. */
  start(): Promise<RunningStack>;
  /** Waits until a backfill window has finished and another is in progress, then SIGKILLs the stack. */
  killMidBackfill(admin: MedplumClient): Promise<void>;
  /** Kills whatever still runs and removes the data directory. */
  close(): void;
}

/**
 * @param name - the data directory's prefix (shows whose leftovers a failed run left in the temp dir).
 * @returns The rig; call close() in afterAll.
 */
export function crashRig(name: string): CrashRig {
  const dataDir = mkdtempSync(join(tmpdir(), `${name}-`));
  let child: ChildProcess | undefined;

  const spawnStack = (): Promise<string> => {
    const proc = spawn(
      process.execPath,
      [join(ROOT, 'scripts/local-stack/main.ts'), '--data-dir', dataDir, '--port', '0', '--no-cron'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }
    );
    child = proc;
    return new Promise((resolve, reject) => {
      let out = '';
      proc.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('LOCAL_STACK_READY '));
        if (line) {
          resolve((JSON.parse(line.slice('LOCAL_STACK_READY '.length)) as { baseUrl: string }).baseUrl);
        }
      });
      proc.on('exit', (code) => reject(new Error(`local stack exited early (${code})`)));
    });
  };

  return {
    async start() {
      const baseUrl = await spawnStack();
      const creds = JSON.parse(readFileSync(join(dataDir, 'admin-client.json'), 'utf8')) as AdminCredentials;
      return { baseUrl, creds, admin: await clientCredentialsClient(baseUrl, creds.clientId, creds.clientSecret) };
    },
    async killMidBackfill(admin) {
      const proc = child;
      if (!proc) {
        throw new Error('The stack is not running');
      }
      for (let i = 0; i < 2400; i++) {
        const counts = await backfillCounts(admin);
        if ((counts.completed ?? 0) >= 1 && (counts['in-progress'] ?? 0) >= 1) {
          break;
        }
        await sleep(25);
      }
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    },
    close() {
      child?.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * @param admin - a project admin.
 * @returns How many backfill Tasks are in each status.
 */
export async function backfillCounts(admin: MedplumClient): Promise<Record<string, number>> {
  const tasks = await admin.searchResources(
    'Task',
    { code: `${TASK_TYPE_SYSTEM}|backfill`, _count: '100' },
    { cache: 'no-cache' }
  );
  const counts: Record<string, number> = {};
  for (const t of tasks) {
    counts[t.status] = (counts[t.status] ?? 0) + 1;
  }
  return counts;
}

/**
 * After a restart nothing runs yet, so everything in flight is stale: one sweeper run re-queues it. Waits (up to
 * three minutes) until every window has completed.
 * @param admin - a project admin of the restarted stack.
 * @param windows - how many backfill windows the connect queued.
 * @returns The backfill Task counts at the end.
 */
export async function sweepUntilBackfilled(admin: MedplumClient, windows: number): Promise<Record<string, number>> {
  await admin.executeBot(bot('sweeper'), { staleAfterSeconds: 0 });
  for (let i = 0; i < 900 && ((await backfillCounts(admin)).completed ?? 0) < windows; i++) {
    await sleep(200);
  }
  return backfillCounts(admin);
}
