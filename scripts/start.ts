/**
 * `npm start`: the local stack with Baseline deployed into it, demo people, and the patient app — one process.
 * Data persists in .local-stack/data (delete it to start over). Everything it does to the stack goes through the
 * same HTTP APIs a real Medplum has: deploy and seed are the scripts you would run against production.
 */
import { join } from 'node:path';
import { buildApp, REPO_ROOT, serveApp } from './app-server.ts';
import { CLIENT_KEYS } from '../data/core/client-applications.ts';
import { deploy } from './deploy/index.ts';
import { startLocalStack } from './local-stack/server.ts';
import { clientCredentialsClient } from './medplum-client.ts';
import { registerWhoopWebhook, startWiredWhoopSandbox } from './sandboxes/wire.ts';
import { DEMO_LOGINS, seedDemoPeople } from './seed.ts';

const t0 = Date.now();
const dataDir = process.env.LOCAL_STACK_DATA_DIR ?? join(REPO_ROOT, '.local-stack', 'data');
const stackPort = Number(process.env.LOCAL_STACK_PORT ?? 8103);
const appPort = Number(process.env.APP_PORT ?? 3000);

const stack = await startLocalStack({
  dataDir,
  port: stackPort,
  cron: true,
  log: (message, data) => console.error(`[local-stack] ${message}${data ? ' ' + JSON.stringify(data) : ''}`),
});
console.log(`local stack   ${stack.baseUrl}  (${stack.seeded ? 'new project' : 'existing data'} in ${dataDir})`);

const admin = await clientCredentialsClient(stack.baseUrl, stack.adminClient.clientId, stack.adminClient.clientSecret);
const appBaseUrl = `http://127.0.0.1:${appPort}`;
// The WHOOP sandbox stands in for api.prod.whoop.com: the project's WHOOP secrets point at it.
const whoop = await startWiredWhoopSandbox({
  admin,
  projectId: stack.projectId,
  appBaseUrls: [appBaseUrl],
  dataDir,
  port: Number(process.env.WHOOP_SANDBOX_PORT ?? 8111),
  overwriteSecrets: true,
});
const report = await deploy({
  client: admin,
  projectId: stack.projectId,
  appBaseUrls: [appBaseUrl],
  log: (line) => console.log(`  ${line}`),
});
console.log(`deploy        ${report.summary}`);
registerWhoopWebhook(whoop, report);
await seedDemoPeople(admin, stack.projectId);

buildApp({ force: process.env.BASELINE_REBUILD_APP === '1' });
const app = await serveApp(
  { medplumBaseUrl: stack.baseUrl, projectId: stack.projectId, clientId: report.clients[CLIENT_KEYS.patientApp] },
  { port: appPort }
);

console.log(`
Baseline is running (${((Date.now() - t0) / 1000).toFixed(1)} s)

  Patient app    ${app.url}
  FHIR API       ${stack.baseUrl}fhir/R4/
  SMART config   ${stack.baseUrl}.well-known/smart-configuration
  WHOOP sandbox  ${whoop.sandbox.baseUrl}  (stand-in for WHOOP: consent page, API, signed webhooks)

  Sign in as
    owner        ${DEMO_LOGINS.owner.email} / ${DEMO_LOGINS.owner.password}
    2nd patient  ${DEMO_LOGINS.other.email} / ${DEMO_LOGINS.other.password}
    clinician    ${DEMO_LOGINS.clinician.email} / ${DEMO_LOGINS.clinician.password}
    admin        ${DEMO_LOGINS.admin.email} / ${DEMO_LOGINS.admin.password}
  Admin API client (for npm run deploy): see ${join(dataDir, 'admin-client.json')}

The local stack is a development stand-in for a Medplum 5 server, not a production store. Ctrl-C to stop.
`);

const shutdown = (): void => {
  app.server.close();
  void whoop.sandbox.close();
  void stack.close().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
