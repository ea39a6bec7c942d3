/**
 * Wires the WHOOP sandbox to a Baseline project, exactly as an admin wires real WHOOP: the app's client id and
 * secret and the API/auth base URLs go into the Project secrets, and the webhook URL deploy printed for
 * `whoop-webhook` goes into the (sandbox's) developer dashboard.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MedplumClient } from '@medplum/core';
import type { DeployReport } from '../deploy/index.ts';
import { mergeProjectSecrets } from './project-secrets.ts';
import { startWhoopSandbox } from './whoop/server.ts';
import type { WhoopSandbox, WhoopSandboxOptions } from './whoop/server.ts';

export const WHOOP_CALLBACK_PATH = '/connect/whoop/callback';

export interface WiredWhoop {
  sandbox: WhoopSandbox;
  clientId: string;
  clientSecret: string;
}

/**
 * @param params - admin client and project, the app's base URLs (for the registered redirect URIs), and where to
 *   keep the sandbox app's credentials and the sandbox's state across restarts (a dev stack's stored tokens must
 *   keep working and its signatures verifying); `options.people` gives the synthetic people (default one)
 * @returns the running sandbox and its app credentials
 */
export async function startWiredWhoopSandbox(params: {
  admin: MedplumClient;
  projectId: string;
  appBaseUrls: readonly string[];
  dataDir?: string;
  port?: number;
  overwriteSecrets?: boolean;
  options?: Partial<WhoopSandboxOptions>;
}): Promise<WiredWhoop> {
  const file = params.dataDir ? join(params.dataDir, 'whoop-sandbox-client.json') : undefined;
  const saved =
    file && existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as { clientId: string; clientSecret: string })
      : { clientId: 'baseline-local', clientSecret: randomBytes(24).toString('hex') };
  if (file) {
    writeFileSync(file, JSON.stringify(saved), { mode: 0o600 });
  }
  const sandbox = await startWhoopSandbox({
    port: params.port ?? 0,
    // The synthetic history ends yesterday (UTC): ending today would put part of "today" after the real clock,
    // where the API's default `end=now` hides it, so what exists would depend on the time of day.
    endDate: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10),
    // Grants, tokens and webhook URL live beside the app's credentials: a restart must not forget the links the
    // stack's connections point to.
    ...(params.dataDir === undefined ? {} : { dataDir: params.dataDir }),
    ...params.options,
    clients: [
      {
        clientId: saved.clientId,
        clientSecret: saved.clientSecret,
        redirectUris: params.appBaseUrls.map((base) => base.replace(/\/+$/, '') + WHOOP_CALLBACK_PATH),
      },
    ],
  });
  await mergeProjectSecrets(
    params.admin,
    params.projectId,
    {
      WHOOP_CLIENT_ID: saved.clientId,
      WHOOP_CLIENT_SECRET: saved.clientSecret,
      WHOOP_API_BASE_URL: sandbox.apiBaseUrl,
      WHOOP_AUTH_BASE_URL: sandbox.authBaseUrl,
    },
    { onlyMissing: !params.overwriteSecrets }
  );
  return { sandbox, ...saved };
}

/** Points the sandbox's webhooks at the deployed `whoop-webhook` bot. */
export function registerWhoopWebhook(whoop: WiredWhoop, report: DeployReport): string {
  const url = report.bots.find((b) => b.name === 'whoop-webhook')?.webhookUrl;
  if (!url) {
    throw new Error('deploy did not report a webhook URL for whoop-webhook');
  }
  whoop.sandbox.control.setWebhookUrl(url);
  return url;
}
