/**
 * Starts a complete local stack for a test file: an empty in-memory (or given) data directory, the real deploy of
 * data/core, the demo people, and optionally the built app — the same steps `npm start` runs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MedplumClient } from '@medplum/core';
import { buildApp, serveApp } from '../../scripts/app-server.ts';
import type { PolicyDefinition } from '../../data/core/access-policies.ts';
import { CLIENT_KEYS } from '../../data/core/client-applications.ts';
import { BOT_ACCESS_POLICIES, BOT_DEFINITIONS } from '../../data/core/bots.ts';
import type { BotDefinition } from '../../data/core/bots.ts';
import { deploy } from '../../scripts/deploy/index.ts';
import type { DeployReport } from '../../scripts/deploy/index.ts';
import { startLocalStack } from '../../scripts/local-stack/server.ts';
import type { LocalStack, LocalStackOptions } from '../../scripts/local-stack/server.ts';
import { clientCredentialsClient, passwordClient } from '../../scripts/medplum-client.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../../scripts/seed.ts';
import { startNodeEdge } from '../../scripts/edge/node-edge.ts';
import type { NodeEdge } from '../../scripts/edge/node-edge.ts';
import {
  registerEdgeWebhooks,
  registerWhoopWebhook,
  startWiredOuraSandbox,
  startWiredWhoopSandbox,
  startWiredWithingsSandbox,
} from '../../scripts/sandboxes/wire.ts';
import type { WiredOura, WiredWhoop, WiredWithings } from '../../scripts/sandboxes/wire.ts';
import type { OuraSandboxOptions } from '../../scripts/sandboxes/oura/server.ts';
import type { WhoopSandboxOptions } from '../../scripts/sandboxes/whoop/server.ts';
import type { WithingsSandboxOptions } from '../../scripts/sandboxes/withings/server.ts';

export interface TestStack {
  baseUrl: string;
  appUrl: string;
  projectId: string;
  admin: { clientId: string; clientSecret: string };
  logins: typeof DEMO_LOGINS;
  stack: LocalStack;
  /** Signed in as the project admin client. */
  adminClient: MedplumClient;
  deployReport: DeployReport;
  signIn(who: keyof typeof DEMO_LOGINS): Promise<MedplumClient>;
  whoop?: WiredWhoop;
  withings?: WiredWithings;
  oura?: WiredOura;
  /** The webhook edge in front of the stack (scripts/edge/node-edge.ts), started with Withings or Oura. */
  edge?: NodeEdge;
  stop(): Promise<void>;
}

export interface TestStackOptions {
  withApp?: boolean;
  /** Extra bots to deploy (fixtures), each with its own policy. */
  bots?: BotDefinition[];
  botPolicies?: PolicyDefinition[];
  /**
   * Keep data in this directory (otherwise a temporary one, removed on stop). The WHOOP sandbox then keeps its state
   * there too, as under `npm start`, so a second stack on the same directory is a restart.
   */
  dataDir?: string;
  /** Start the WHOOP sandbox and wire it to the project (secrets, redirect URI, webhook URL). */
  whoop?: boolean | Partial<WhoopSandboxOptions>;
  /** Start the Withings sandbox and wire it (secrets, redirect URI, the edge URL its notifications use). */
  withings?: boolean | Partial<WithingsSandboxOptions>;
  /** Start the Oura sandbox and wire it (secrets, redirect URI, the edge URL and verification token). */
  oura?: boolean | Partial<OuraSandboxOptions>;
  /** Which Medplum release the local stack imitates (default: the stack's default, 5.2). */
  medplumVersion?: LocalStackOptions['medplumVersion'];
  /** The stack's `defaultFhirQuota` (default 50,000 points per membership per minute, as Medplum). */
  fhirQuota?: number;
}

/** Where tests that drive the OAuth flow without a browser say the app's callback is. */
export const TEST_APP_BASE_URL = 'http://127.0.0.1:3000';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'baseline-stack-'));
  const stack = await startLocalStack({
    dataDir,
    port: 0,
    medplumVersion: options.medplumVersion,
    fhirQuota: options.fhirQuota,
  });
  const adminClient = await clientCredentialsClient(
    stack.baseUrl,
    stack.adminClient.clientId,
    stack.adminClient.clientSecret
  );
  const appPort = options.withApp ? await freePort() : undefined;
  const appBaseUrl = appPort ? `http://127.0.0.1:${appPort}` : TEST_APP_BASE_URL;
  const whoop = options.whoop
    ? await startWiredWhoopSandbox({
        admin: adminClient,
        projectId: stack.projectId,
        appBaseUrls: [appBaseUrl],
        options: typeof options.whoop === 'object' ? options.whoop : {},
        // A restarted sandbox listens on a new port: the project's WHOOP base URLs must follow it.
        ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir, overwriteSecrets: true }),
      })
    : undefined;
  const restart = options.dataDir === undefined ? {} : { dataDir: options.dataDir, overwriteSecrets: true };
  const withings = options.withings
    ? await startWiredWithingsSandbox({
        admin: adminClient,
        projectId: stack.projectId,
        appBaseUrls: [appBaseUrl],
        options: typeof options.withings === 'object' ? options.withings : {},
        ...restart,
      })
    : undefined;
  const oura = options.oura
    ? await startWiredOuraSandbox({
        admin: adminClient,
        projectId: stack.projectId,
        appBaseUrls: [appBaseUrl],
        options: typeof options.oura === 'object' ? options.oura : {},
        ...restart,
      })
    : undefined;
  const deployReport = await deploy({
    client: adminClient,
    projectId: stack.projectId,
    appBaseUrls: [appBaseUrl],
    bots: [...BOT_DEFINITIONS, ...(options.bots ?? [])],
    botPolicies: [...BOT_ACCESS_POLICIES, ...(options.botPolicies ?? [])],
    log: () => undefined,
  });
  if (whoop) {
    registerWhoopWebhook(whoop, deployReport);
  }
  // Withings and Oura check a callback URL with HEAD / a GET challenge, which Medplum does not route: they call the
  // edge, as in a real deployment.
  const edge =
    withings || oura
      ? await startNodeEdge({
          port: 0,
          upstream: stack.baseUrl.replace(/\/+$/, ''),
          // Without Oura no challenge is answered, but the edge still wants a well-formed token.
          verificationToken: oura?.verificationToken ?? randomBytes(16).toString('hex'),
        })
      : undefined;
  if (edge) {
    await registerEdgeWebhooks({
      admin: adminClient,
      projectId: stack.projectId,
      report: deployReport,
      edgeUrl: edge.url,
    });
  }
  await seedDemoPeople(adminClient, stack.projectId);
  let appUrl = '';
  let stopApp = async (): Promise<void> => undefined;
  if (options.withApp) {
    buildApp();
    const app = await serveApp(
      {
        medplumBaseUrl: stack.baseUrl,
        projectId: stack.projectId,
        clientId: deployReport.clients[CLIENT_KEYS.patientApp],
        clinicianClientId: deployReport.clients[CLIENT_KEYS.clinicianLaunch],
      },
      { port: appPort }
    );
    appUrl = app.url;
    stopApp = () => new Promise((resolve) => app.server.close(() => resolve()));
  }
  return {
    baseUrl: stack.baseUrl,
    appUrl,
    projectId: stack.projectId,
    admin: stack.adminClient,
    logins: DEMO_LOGINS,
    stack,
    adminClient,
    deployReport,
    whoop,
    withings,
    oura,
    edge,
    signIn: (who) => passwordClient(stack.baseUrl, DEMO_LOGINS[who].email, DEMO_LOGINS[who].password),
    async stop() {
      await stopApp();
      await whoop?.sandbox.close();
      await withings?.sandbox.close();
      await oura?.sandbox.close();
      await edge?.close();
      await stack.close();
      if (!options.dataDir) {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}
