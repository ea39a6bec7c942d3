/**
 * Persistence: every committed write survives `kill -9` of the local stack, and a restart serves it back.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, expect, test } from 'vitest';
import { clientCredentialsClient } from '../scripts/medplum-client.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'baseline-restart-'));
let child: ChildProcess | undefined;

function startStackProcess(): Promise<{ baseUrl: string; process: ChildProcess }> {
  const proc = spawn(
    process.execPath,
    [join(root, 'scripts/local-stack/main.ts'), '--data-dir', dataDir, '--port', '0', '--no-cron'],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    }
  );
  child = proc;
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('LOCAL_STACK_READY '));
      if (line) {
        resolve({
          baseUrl: (JSON.parse(line.slice('LOCAL_STACK_READY '.length)) as { baseUrl: string }).baseUrl,
          process: proc,
        });
      }
    });
    proc.on('exit', (code) => reject(new Error(`local stack exited early (${code}): ${err}`)));
  });
}

afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

test('kill -9 then restart loses no committed write', async () => {
  const first = await startStackProcess();
  const creds = JSON.parse(readFileSync(join(dataDir, 'admin-client.json'), 'utf8')) as {
    clientId: string;
    clientSecret: string;
  };
  const admin = await clientCredentialsClient(first.baseUrl, creds.clientId, creds.clientSecret);
  const patient = await admin.createResource<Patient>({ resourceType: 'Patient', name: [{ family: 'Durable' }] });
  const writes: Observation[] = [];
  for (let i = 0; i < 25; i++) {
    writes.push(
      await admin.createResource<Observation>({
        resourceType: 'Observation',
        status: 'final',
        code: { text: 'restart probe' },
        subject: { reference: `Patient/${patient.id}` },
        valueQuantity: { value: i, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
      })
    );
  }
  const updated = await admin.updateResource({ ...patient, name: [{ family: 'Durable', given: ['Still'] }] });
  first.process.kill('SIGKILL');
  await new Promise((resolve) => first.process.once('exit', resolve));

  const second = await startStackProcess();
  const admin2 = await clientCredentialsClient(second.baseUrl, creds.clientId, creds.clientSecret);
  const back = await admin2.readResource('Patient', patient.id);
  expect(back.name?.[0]?.given).toEqual(['Still']);
  expect(back.meta?.versionId).toBe(updated.meta?.versionId);
  const history = await admin2.readHistory('Patient', patient.id);
  expect(history.entry).toHaveLength(2);
  const observations = await admin2.searchResources('Observation', { subject: `Patient/${patient.id}`, _count: '100' });
  expect(observations).toHaveLength(25);
  second.process.kill('SIGKILL');
});
