/**
 * `npm run conformance -- <base url> [--credentials file.json] [--record file.json] [--expect file.json] [--json]`
 *
 * Sends the conformance sequence (suite.ts) to the server at <base url> as a project-admin client — from
 * `--credentials` (a JSON file `{clientId, clientSecret, projectId?}`) or `MEDPLUM_CLIENT_ID` / `MEDPLUM_CLIENT_SECRET` —
 * and either records the normalised answers (`--record`) or compares them with a recording (`--expect`, default
 * test/conformance/medplum-5.0.10.json), printing "N of M identical" and each differing request.
 * Exit code 1 when anything differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { format, resolveConfig } from 'prettier';
import { z } from 'zod';
import { compare, formatDifferences } from './compare.ts';
import { Recording, runSuite } from './suite.ts';

const DEFAULT_EXPECT = new URL('../../test/conformance/medplum-5.0.10.json', import.meta.url);

const Credentials = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  projectId: z.string().optional(),
});

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    credentials: { type: 'string' },
    record: { type: 'string' },
    expect: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});
const baseUrl = positionals[0];
if (!baseUrl) {
  console.error('usage: npm run conformance -- <base url> [--credentials file.json] [--record file | --expect file]');
  process.exit(2);
}
const credentials = Credentials.parse(
  values.credentials
    ? JSON.parse(readFileSync(values.credentials, 'utf8'))
    : { clientId: process.env.MEDPLUM_CLIENT_ID, clientSecret: process.env.MEDPLUM_CLIENT_SECRET }
);
const exchanges = await runSuite({
  baseUrl,
  credentials,
  log: values.quiet ? undefined : (line) => console.error(line),
});
const health = exchanges.find((e) => e.name === 'healthcheck');
if (values.record) {
  const recording: Recording = {
    recordedAt: new Date().toISOString(),
    server: JSON.stringify(health?.body ?? null),
    exchanges,
  };
  // Formatted as the repository's prettier settings want it, so `npm test`'s format check accepts a fresh recording.
  const options = (await resolveConfig(values.record)) ?? {};
  writeFileSync(values.record, await format(JSON.stringify(recording), { ...options, parser: 'json' }));
  console.log(`recorded ${exchanges.length} answers to ${values.record}`);
} else {
  const expected = Recording.parse(JSON.parse(readFileSync(values.expect ?? DEFAULT_EXPECT, 'utf8')));
  const result = compare(expected.exchanges, exchanges);
  for (const line of formatDifferences(result.differences)) {
    console.log(line);
  }
  console.log(`${result.identical} of ${result.total} identical`);
  process.exitCode = result.differences.length > 0 ? 1 : 0;
}
