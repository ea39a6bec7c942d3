/**
 * `node scripts/import-record.ts <export.json | export.ndjson>`: recreates an owner's exported record (the app's
 * export, app/src/lib/export.ts) in the Medplum project of the admin client named in the environment or .env
 * (MEDPLUM_BASE_URL, MEDPLUM_CLIENT_ID, MEDPLUM_CLIENT_SECRET, as deploy). Prints the new Patient reference.
 *
 * The transaction (toImportTransaction) is sent in chunks: Medplum refuses request bodies over 1 MB (`maxJsonSize`)
 * and charges 100 points of the admin's FHIR quota per created resource (50,000 a minute by default: ~500 resources a
 * minute; one owner-year from the WHOOP sandbox, 3,785 resources, took 8.1 minutes in 17 requests on the local stack
 * at the default quota, almost all of it waiting for quota resets). Each chunk is one atomic transaction sized
 * to the quota; a throttled chunk is rolled back by the server and sent again after the reset. A chunk that fails
 * otherwise stops the import with what was created so far named; the record is then partially present, and the
 * import must not simply be re-run (it is meant for an empty project: a record whose identifiers the target already
 * holds is refused up front).
 *
 * Tasks are imported as they were exported; a Task still `requested` would run the target's bots if Baseline is
 * deployed there, so export a settled record (every Task completed or failed).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MedplumClient } from '@medplum/core';
import type { Bundle, BundleEntry, Identifier, ResourceType } from '@medplum/fhirtypes';
import { chunkTransaction, importChunks, toImportTransaction } from '../app/src/lib/export-import.ts';
import { fromNdjson, parseExportBundle } from '../app/src/lib/export.ts';
import { QUOTA_POINTS, QuotaPacer } from '../bots/shared/quota.ts';
import { loadEnv, parseDeployEnv } from './deploy/env.ts';
import { signIn } from './deploy/sign-in.ts';

/** Below Medplum's 1 MB `maxJsonSize`, with room for the Bundle wrapper and the urns replaced by longer ids. */
const MAX_CHUNK_BYTES = 800_000;
/** A chunk never spends more than half of a default minute's budget, so one chunk always fits after a reset. */
const MAX_CHUNK_ENTRIES = 250;

export interface ImportReport {
  /** `Patient/<id>` of the imported owner on the target. */
  patient: string;
  /** Resources created, per type. */
  created: Record<string, number>;
  requests: number;
  /** FHIR quota points spent (Medplum's table), and time spent waiting for quota resets. */
  points: number;
  waitedMs: number;
  ms: number;
}

export interface ImportRecordOptions {
  /** Import even when the target already holds one of the record's identifiers. */
  force?: boolean;
  /** For tests: smaller chunks. */
  maxChunkEntries?: number;
  log?: (line: string) => void;
}

function firstIdentified(bundle: Bundle): { type: ResourceType; identifier: Identifier } | undefined {
  for (const entry of bundle.entry ?? []) {
    const resource = entry.resource;
    const held: unknown = resource && 'identifier' in resource ? resource.identifier : undefined;
    const identifier = (Array.isArray(held) ? held[0] : held) as Identifier | undefined;
    if (resource && identifier?.system && identifier.value) {
      return { type: resource.resourceType, identifier };
    }
  }
  return undefined;
}

function createdKey(entry: BundleEntry | undefined): string | undefined {
  const resource = entry?.resource;
  if (resource?.id) {
    return `${resource.resourceType}/${resource.id}`;
  }
  const location = entry?.response?.location;
  const match = location ? /^(?:.*\/)?([A-Z][A-Za-z]+\/[^/]+)(?:\/_history\/[^/]+)?$/.exec(location) : null;
  return match?.[1];
}

/**
 * Recreates an exported record in the client's project.
 * @param medplum - signed in as a project admin of the target
 * @param bundle - the export (collection)
 * @param options - force, chunk size, log
 * @returns what was created
 */
export async function importRecord(
  medplum: MedplumClient,
  bundle: Bundle,
  options: ImportRecordOptions = {}
): Promise<ImportReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const sample = firstIdentified(bundle);
  if (sample && !options.force) {
    const { system, value } = sample.identifier;
    const existing = await medplum.search(
      sample.type,
      { identifier: `${system}|${value}`, _count: '1' },
      { cache: 'no-cache' }
    );
    if ((existing.entry ?? []).length > 0) {
      throw new Error(
        `The target already holds ${sample.type} ${system}|${value} from this record: import into an empty project`
      );
    }
  }
  const transaction = toImportTransaction(bundle);
  const chunks = importChunks(transaction, {
    maxEntries: options.maxChunkEntries ?? MAX_CHUNK_ENTRIES,
    maxBytes: MAX_CHUNK_BYTES,
  });
  const pacer = new QuotaPacer(medplum);
  const created = new Map<string, string>();
  const counts: Record<string, number> = {};
  let requests = 0;
  for (const chunk of chunks) {
    const body = chunkTransaction(chunk, created);
    // The pacer waits for a reset rather than send a chunk the budget cannot hold (a throttled transaction is all
    // rolled back), and sends it again if the server throttles it anyway.
    const cost = chunk.entries.length * QUOTA_POINTS.write;
    requests++;
    const response = await pacer.run(cost, () => medplum.executeBatch(body));
    const failed = (response.entry ?? []).filter((e) => !e.response?.status?.startsWith('201'));
    if (failed.length > 0 || (response.entry ?? []).length !== chunk.entries.length) {
      throw new Error(
        `Import stopped at entry ${chunk.start} of ${transaction.entry?.length ?? 0} (${created.size} created): ` +
          (failed[0]?.response?.outcome?.issue?.[0]?.details?.text ?? failed[0]?.response?.status ?? 'short response')
      );
    }
    chunk.entries.forEach((entry, i) => {
      const key = createdKey(response.entry?.[i]);
      if (!entry.fullUrl || !key) {
        throw new Error(`Import: no id for entry ${chunk.start + i}`);
      }
      created.set(entry.fullUrl, key);
      const type = key.slice(0, key.indexOf('/'));
      counts[type] = (counts[type] ?? 0) + 1;
    });
    log(`import: ${created.size} of ${transaction.entry?.length ?? 0} created`);
  }
  const patientUrn = transaction.entry?.find((e) => e.resource?.resourceType === 'Patient')?.fullUrl;
  const patient = patientUrn ? created.get(patientUrn) : undefined;
  if (!patient) {
    throw new Error('The export holds no Patient');
  }
  return {
    patient,
    created: counts,
    requests,
    points: pacer.spend.points,
    waitedMs: pacer.spend.waitedMs,
    ms: Date.now() - started,
  };
}

/**
 * @param file - path of a `.json` (Bundle) or `.ndjson` export
 * @returns the export Bundle
 */
export function readExportFile(file: string): Bundle {
  const text = readFileSync(file, 'utf8');
  return file.endsWith('.ndjson') ? fromNdjson(text) : parseExportBundle(JSON.parse(text));
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file || file === '--help') {
    console.log('Usage: node scripts/import-record.ts <export.json | export.ndjson> [--force]');
    return;
  }
  // The file first: a wrong file is reported without touching the server.
  const bundle = readExportFile(file);
  const env = parseDeployEnv(loadEnv(path.resolve('.env'), process.env));
  const client = await signIn(env);
  const report = await importRecord(client, bundle, {
    force: process.argv.includes('--force'),
    log: (line) => console.log(line),
  });
  console.log(
    `imported ${report.patient}: ${Object.entries(report.created)
      .map(([type, n]) => `${n} ${type}`)
      .join(', ')} in ${report.requests} requests, ${Math.round(report.ms / 1000)} s`
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(`import-record: error: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
