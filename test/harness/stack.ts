/**
 * Starts a complete local stack for a test file: an empty in-memory (or given) data directory, the real deploy of
 * data/core, the demo people, and optionally the built app — the same steps `npm start` runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
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
import type { LocalStack } from '../../scripts/local-stack/server.ts';
import { clientCredentialsClient, passwordClient } from '../../scripts/medplum-client.ts';
import { DEMO_LOGINS, seedDemoPeople } from '../../scripts/seed.ts';

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
  stop(): Promise<void>;
}

export interface TestStackOptions {
  withApp?: boolean;
  /** Extra bots to deploy (fixtures), each with its own policy. */
  bots?: BotDefinition[];
  botPolicies?: PolicyDefinition[];
  /** Keep data in this directory (otherwise a temporary one, removed on stop). */
  dataDir?: string;
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'baseline-stack-'));
  const stack = await startLocalStack({ dataDir, port: 0 });
  const adminClient = await clientCredentialsClient(
    stack.baseUrl,
    stack.adminClient.clientId,
    stack.adminClient.clientSecret
  );
  const deployReport = await deploy({
    client: adminClient,
    projectId: stack.projectId,
    bots: [...BOT_DEFINITIONS, ...(options.bots ?? [])],
    botPolicies: [...BOT_ACCESS_POLICIES, ...(options.botPolicies ?? [])],
    log: () => undefined,
  });
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
      },
      { port: 0 }
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
    signIn: (who) => passwordClient(stack.baseUrl, DEMO_LOGINS[who].email, DEMO_LOGINS[who].password),
    async stop() {
      await stopApp();
      await stack.close();
      if (!options.dataDir) {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}
