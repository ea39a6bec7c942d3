/**
 * The conformance suite against a fresh local stack imitating Medplum 5.0, compared with the answers recorded from a
 * real Medplum 5.0.10 (medplum-5.0.10.json, recorded with `npm run conformance -- <url> --record`). Any difference
 * not in the allow-list below fails, with the differing requests in the message. The real server is not needed.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { compare, formatDifferences } from '../../scripts/conformance/compare.ts';
import type { Difference } from '../../scripts/conformance/compare.ts';
import { Recording, runSuite } from '../../scripts/conformance/suite.ts';
import type { Exchange } from '../../scripts/conformance/suite.ts';
import { startLocalStack } from '../../scripts/local-stack/server.ts';
import type { LocalStack } from '../../scripts/local-stack/server.ts';

/**
 * Differences the local stack keeps on purpose, each with why Baseline cannot trip over it (also listed in
 * scripts/conformance/README.md). Matched by request name and the path of the first difference.
 */
const ALLOWED: { name: string; path: string; why: string }[] = [
  // Empty: the local stack in 5.0 mode answers all recorded requests identically. Add an entry (name, path of the
  // first difference, why Baseline cannot trip over it) only together with a line in scripts/conformance/README.md.
];

const recording = Recording.parse(
  JSON.parse(readFileSync(new URL('./medplum-5.0.10.json', import.meta.url), 'utf8')) as unknown
);

let stacks: LocalStack[] = [];
let exchanges: Exchange[];
let exchanges52: Exchange[];

async function runAgainst(medplumVersion: '5.0' | '5.2'): Promise<Exchange[]> {
  // The recording (test/conformance/medplum-5.0.10.json) is of a server with Medplum's default, saveAuditEvents off.
  const stack = await startLocalStack({ port: 0, medplumVersion, saveAuditEvents: false });
  stacks.push(stack);
  return runSuite({ baseUrl: stack.baseUrl, credentials: stack.adminClient, subscriptionDeadlineMs: 10_000 });
}

beforeAll(async () => {
  exchanges = await runAgainst('5.0');
  exchanges52 = await runAgainst('5.2');
}, 120_000);

afterAll(async () => {
  await Promise.all(stacks.map((s) => s.close()));
  stacks = [];
});

function allowed(d: Difference): boolean {
  return ALLOWED.some((a) => a.name === d.name && a.path === d.path);
}

test('the local stack (5.0 mode) answers every conformance request as the recorded Medplum 5.0.10 did', () => {
  const result = compare(recording.exchanges, exchanges);
  const unexpected = result.differences.filter((d) => !allowed(d));
  expect(unexpected, formatDifferences(unexpected).join('\n')).toEqual([]);
  expect(result.total).toBe(recording.exchanges.length);
});

test('in 5.2 mode only the release differs: healthcheck version and Bot.rawBody accepted', () => {
  const result = compare(recording.exchanges, exchanges52);
  expect(result.differences.map((d) => `${d.name} @ ${d.path}: ${JSON.stringify(d.actual)}`)).toEqual([
    'healthcheck @ body.version: "5.2.13-<build>"',
    'Bot.rawBody @ status: 200',
  ]);
});

test('every allow-listed difference still occurs (stale entries are removed)', () => {
  const result = compare(recording.exchanges, exchanges);
  for (const entry of ALLOWED) {
    expect(
      result.differences.some((d) => d.name === entry.name && d.path === entry.path),
      entry.name
    ).toBe(true);
  }
});
