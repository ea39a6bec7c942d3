/**
 * `node scripts/conformance/real-project.ts <harness.json> <out.json>`: on a real Medplum (e.g. one built with
 * ../shared/real-medplum/), creates a fresh project for one conformance run — Baseline's features, an admin client —
 * with the super admin client named in harness.json, and writes `{clientId, clientSecret, projectId}` (mode 600).
 * The suite compares quota numbers exactly, so every recording gets a project of its own.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

const Harness = z.object({
  baseUrl: z.string(),
  superAdmin: z.object({ clientId: z.string(), clientSecret: z.string() }),
});
const WithId = z.object({ id: z.string() }).passthrough();

const [harnessFile, outFile] = process.argv.slice(2);
if (!harnessFile || !outFile) {
  console.error('usage: node scripts/conformance/real-project.ts <harness.json> <out.json>');
  process.exit(2);
}
const harness = Harness.parse(JSON.parse(readFileSync(harnessFile, 'utf8')));
const base = harness.baseUrl;

async function call(method: string, path: string, token: string | undefined, body?: unknown): Promise<unknown> {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      'Content-Type': path.startsWith('fhir/') ? 'application/fhir+json' : 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  }
  return JSON.parse(text) as unknown;
}

const tokenRes = await fetch(base + 'oauth2/token', {
  method: 'POST',
  body: new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: harness.superAdmin.clientId,
    client_secret: harness.superAdmin.clientSecret,
  }),
});
const superToken = z.object({ access_token: z.string() }).parse(await tokenRes.json()).access_token;
const project = WithId.parse(
  await call('POST', 'fhir/R4/Project', superToken, {
    resourceType: 'Project',
    name: `Baseline conformance ${new Date().toISOString()}`,
    strictMode: true,
    features: ['bots', 'cron', 'transaction-bundles', 'websocket-subscriptions'],
  })
);
const client = z
  .object({ id: z.string(), secret: z.string() })
  .parse(await call('POST', `admin/projects/${project.id}/client`, superToken, { name: 'Conformance admin' }));
const memberships = z
  .object({ entry: z.array(z.object({ resource: WithId })) })
  .parse(await call('GET', `fhir/R4/ProjectMembership?profile=ClientApplication/${client.id}`, superToken));
const membership = memberships.entry[0]?.resource;
if (!membership) {
  throw new Error('the new client has no membership');
}
await call('PUT', `fhir/R4/ProjectMembership/${membership.id}`, superToken, { ...membership, admin: true });
writeFileSync(
  outFile,
  JSON.stringify({ clientId: client.id, clientSecret: client.secret, projectId: project.id }, null, 2),
  {
    mode: 0o600,
  }
);
console.log(`project ${project.id}: admin client written to ${outFile}`);
