/**
 * `npm start`: the local stack with Baseline deployed into it, demo people, and the patient app — one process.
 * Data persists in .local-stack/data (delete it to start over). Everything it does to the stack goes through the
 * same HTTP APIs a real Medplum has: deploy and seed are the scripts you would run against production.
 *
 * The terminal gets one line per step and then the URLs and sign-ins; the details (every deploy item, Vite's output,
 * the local stack's log) go to `<data dir>/logs/start.log`, rewritten on every start.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildApp, REPO_ROOT, serveApp } from './app-server.ts';
import { CLIENT_KEYS } from '../data/core/client-applications.ts';
import { deploy } from './deploy/index.ts';
import { startLocalStack } from './local-stack/server.ts';
import { clientCredentialsClient } from './medplum-client.ts';
import { startNodeEdge } from './edge/node-edge.ts';
import {
  registerEdgeWebhooks,
  registerWhoopWebhook,
  startWiredOuraSandbox,
  startWiredWhoopSandbox,
  startWiredWithingsSandbox,
} from './sandboxes/wire.ts';
import { DEMO_LOGINS, DEMO_START_WHOOP_PEOPLE, DEMO_WHOOP_PEOPLE, seedDemoPeople } from './seed.ts';

const t0 = Date.now();
const dataDir = process.env.LOCAL_STACK_DATA_DIR ?? join(REPO_ROOT, '.local-stack', 'data');
const stackPort = Number(process.env.LOCAL_STACK_PORT ?? 8103);
const appPort = Number(process.env.APP_PORT ?? 3000);

const logDir = join(dataDir, 'logs');
mkdirSync(logDir, { recursive: true });
const logPath = join(logDir, 'start.log');
const logFile = createWriteStream(logPath, { flags: 'w' });
/** Shown relative to where npm start runs when that is shorter (the default: .local-stack/data/logs/start.log). */
const shownLogPath = ((): string => {
  const rel = relative(process.cwd(), logPath);
  return rel.length < logPath.length && !rel.startsWith('..') ? rel : logPath;
})();

function toLog(text: string): void {
  logFile.write(`${new Date().toISOString()} ${text.endsWith('\n') ? text : `${text}\n`}`);
}

/** One summary line per step, aligned, also kept in the log. */
function step(label: string, text: string): void {
  const line = `${label.padEnd(13)} ${text}`;
  console.log(line);
  toLog(line);
}

// Until the stack is up, its log lines are start-up detail; afterwards they report problems while it runs (failed
// requests, bots that could not be found), which belong on the terminal too.
let running = false;
const stackLog = (message: string, data?: Record<string, unknown>): void => {
  const line = `[local-stack] ${message}${data ? ' ' + JSON.stringify(data) : ''}`;
  toLog(line);
  if (running) {
    console.error(line);
  }
};

async function main(): Promise<void> {
  const stack = await startLocalStack({ dataDir, port: stackPort, cron: true, log: stackLog });
  step('local stack', `${stack.baseUrl}  (${stack.seeded ? 'new project' : 'existing data'} in ${dataDir})`);

  const admin = await clientCredentialsClient(
    stack.baseUrl,
    stack.adminClient.clientId,
    stack.adminClient.clientSecret
  );
  const appBaseUrl = `http://127.0.0.1:${appPort}`;
  // The WHOOP sandbox stands in for api.prod.whoop.com: the project's WHOOP secrets point at it.
  const whoop = await startWiredWhoopSandbox({
    admin,
    projectId: stack.projectId,
    appBaseUrls: [appBaseUrl],
    dataDir,
    port: Number(process.env.WHOOP_SANDBOX_PORT ?? 8111),
    overwriteSecrets: true,
    // One synthetic WHOOP person per demo patient: on the consent page each signs in to WHOOP as themselves. The
    // owner's year ends in a synthetic illness-like episode, so the demo has an active alert to show.
    options: { people: DEMO_START_WHOOP_PEOPLE },
  });
  // Withings and Oura: the same synthetic people wear a scale, a watch, a blood pressure cuff and a sleep pad, and a
  // ring (same seed, same physiology, each device with its own biases).
  const withings = await startWiredWithingsSandbox({
    admin,
    projectId: stack.projectId,
    appBaseUrls: [appBaseUrl],
    dataDir,
    port: Number(process.env.WITHINGS_SANDBOX_PORT ?? 8112),
    overwriteSecrets: true,
    options: { people: DEMO_START_WHOOP_PEOPLE },
  });
  const oura = await startWiredOuraSandbox({
    admin,
    projectId: stack.projectId,
    appBaseUrls: [appBaseUrl],
    dataDir,
    port: Number(process.env.OURA_SANDBOX_PORT ?? 8113),
    overwriteSecrets: true,
    options: { people: DEMO_START_WHOOP_PEOPLE },
  });
  // What an operator puts in front of Medplum (scripts/edge/README.md): it answers Withings' HEAD check and Oura's
  // GET challenge, which Medplum does not route, and passes every POST through.
  const edge = await startNodeEdge({
    port: Number(process.env.EDGE_PORT ?? 8100),
    upstream: stack.baseUrl.replace(/\/+$/, ''),
    verificationToken: oura.verificationToken,
  });
  const episode = whoop.sandbox.users.find((u) => u.email === DEMO_LOGINS.owner.email)?.recentEpisodeStart;
  // The episode is placed once, when the sandbox's history is first generated; a history from before it has none.
  step(
    'whoop',
    episode === undefined
      ? `the owner's saved WHOOP history has no demo episode (delete ${dataDir} for one)`
      : `the owner's WHOOP year ends in a synthetic illness-like episode from ${episode}`
  );
  const report = await deploy({
    client: admin,
    projectId: stack.projectId,
    appBaseUrls: [appBaseUrl],
    log: (line) => toLog(`deploy ${line}`),
  });
  const warnings = report.warnings.length === 0 ? '' : `; ${report.warnings.length} warning(s) in the log`;
  step('deploy', `${report.summary.replace(/^deploy: /, '')}${warnings}`);
  registerWhoopWebhook(whoop, report);
  await registerEdgeWebhooks({ admin, projectId: stack.projectId, report, edgeUrl: edge.url });
  await seedDemoPeople(admin, stack.projectId);
  toLog('demo people seeded');

  const build = buildApp({ force: process.env.BASELINE_REBUILD_APP === '1' });
  if (build.output) {
    toLog(`vite build\n${build.output}`);
  }
  step('app', build.built ? `built (${(build.durationMs / 1000).toFixed(1)} s)` : 'build is current');
  const app = await serveApp(
    {
      medplumBaseUrl: stack.baseUrl,
      projectId: stack.projectId,
      clientId: report.clients[CLIENT_KEYS.patientApp],
      clinicianClientId: report.clients[CLIENT_KEYS.clinicianLaunch],
    },
    { port: appPort }
  );
  step('details', shownLogPath);

  // The part people need: bold on a terminal, framed either way so it stands apart from the step lines above.
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const whoopName = (email: string): string => {
    const person = DEMO_WHOOP_PEOPLE.find((p) => p.email === email);
    return person ? `   (at the providers: ${person.firstName} ${person.lastName})` : '';
  };
  const bold = (text: string): string => (color ? `\x1b[1m${text}\x1b[22m` : text);
  const rule = '─'.repeat(78);
  console.log(`
${rule}
  ${bold(`Baseline is running (${((Date.now() - t0) / 1000).toFixed(1)} s)`)}

  Patient app    ${bold(app.url)}
  FHIR API       ${stack.baseUrl}fhir/R4/
  SMART config   ${stack.baseUrl}.well-known/smart-configuration
  Sandboxes      WHOOP ${whoop.sandbox.baseUrl}  Withings ${withings.sandbox.baseUrl}  Oura ${oura.sandbox.baseUrl}
                 (stand-ins for the providers; on their consent pages, sign in as yourself)
  Webhook edge   ${edge.url}  (answers Withings' HEAD and Oura's challenge; scripts/edge/README.md)

  Sign in as
    owner        ${bold(`${DEMO_LOGINS.owner.email} / ${DEMO_LOGINS.owner.password}`)}${whoopName(DEMO_LOGINS.owner.email)}
    2nd patient  ${bold(`${DEMO_LOGINS.other.email} / ${DEMO_LOGINS.other.password}`)}${whoopName(DEMO_LOGINS.other.email)}
    clinician    ${bold(`${DEMO_LOGINS.clinician.email} / ${DEMO_LOGINS.clinician.password}`)}
    admin        ${bold(`${DEMO_LOGINS.admin.email} / ${DEMO_LOGINS.admin.password}`)}
  Admin API client (for npm run deploy): ${join(dataDir, 'admin-client.json')}
${rule}
A development stand-in for a Medplum 5 server, not a production store. Ctrl-C to stop.`);
  running = true;

  const shutdown = (): void => {
    app.server.close();
    void whoop.sandbox.close();
    void withings.sandbox.close();
    void oura.sandbox.close();
    void edge.close();
    void stack.close().then(() => logFile.end(() => process.exit(0)));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

try {
  await main();
} catch (err) {
  // The cause is often in the detail (a deploy item, Vite's output): say where it is.
  toLog(`start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  const message = err instanceof Error ? err.message : String(err);
  console.error(`npm start failed: ${message.split('\n')[0] ?? ''}`);
  console.error(`details: ${shownLogPath}`);
  logFile.end(() => process.exit(1));
}
