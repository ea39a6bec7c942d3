/**
 * Wires the provider sandboxes to a Baseline project, exactly as an admin wires the real providers: each app's client
 * id and secret and the API/auth base URLs go into the Project secrets; WHOOP's webhook URL (deploy prints it for
 * `whoop-webhook`) goes into the sandbox's "developer dashboard"; Withings and Oura get the public URL of the edge in
 * front of Medplum (scripts/edge/: Medplum answers only POST on /webhook/:id, and those two check a callback URL with
 * HEAD and GET first), as `WITHINGS_WEBHOOK_URL` / `OURA_WEBHOOK_URL` secrets the bots subscribe with.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MedplumClient } from '@medplum/core';
import type { DeployReport } from '../deploy/index.ts';
import { mergeProjectSecrets } from './project-secrets.ts';
import { startOuraSandbox } from './oura/server.ts';
import type { OuraSandbox, OuraSandboxOptions } from './oura/server.ts';
import { startWhoopSandbox } from './whoop/server.ts';
import type { WhoopSandbox, WhoopSandboxOptions } from './whoop/server.ts';
import { startWithingsSandbox } from './withings/server.ts';
import type { WithingsSandbox, WithingsSandboxOptions } from './withings/server.ts';

export const WHOOP_CALLBACK_PATH = '/connect/whoop/callback';

export interface WiredSandbox<S> {
  sandbox: S;
  clientId: string;
  clientSecret: string;
}
export type WiredWhoop = WiredSandbox<WhoopSandbox>;
export type WiredWithings = WiredSandbox<WithingsSandbox>;
export type WiredOura = WiredSandbox<OuraSandbox> & { verificationToken: string };

interface WireParams {
  admin: MedplumClient;
  projectId: string;
  /** The app's base URLs (the registered redirect URIs are `<base>/connect/<provider>/callback`). */
  appBaseUrls: readonly string[];
  /** Keep the sandbox app's credentials and the sandbox's state here across restarts (stored tokens keep working). */
  dataDir?: string;
  port?: number;
  overwriteSecrets?: boolean;
}

/** The synthetic history ends yesterday (UTC): ending today would put part of "today" after the real clock. */
function yesterday(): string {
  return new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
}

/** The sandbox app's credentials, kept in the data directory so a restarted stack's tokens stay valid. */
function savedCredentials(
  dataDir: string | undefined,
  provider: string,
  extra: Record<string, string> = {}
): { clientId: string; clientSecret: string } & Record<string, string> {
  const file = dataDir ? join(dataDir, `${provider}-sandbox-client.json`) : undefined;
  const saved =
    file && existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as { clientId: string; clientSecret: string } & Record<string, string>)
      : { clientId: 'baseline-local', clientSecret: randomBytes(24).toString('hex') };
  const merged = { ...extra, ...saved };
  if (file) {
    writeFileSync(file, JSON.stringify(merged), { mode: 0o600 });
  }
  return merged;
}

function redirectUris(appBaseUrls: readonly string[], provider: string): string[] {
  return appBaseUrls.map((base) => `${base.replace(/\/+$/, '')}/connect/${provider}/callback`);
}

/**
 * @param params - admin client and project, the app's base URLs, data directory, port; `options.people` gives the
 *   synthetic people (default one)
 * @returns the running WHOOP sandbox and its app credentials
 */
export async function startWiredWhoopSandbox(
  params: WireParams & { options?: Partial<WhoopSandboxOptions> }
): Promise<WiredWhoop> {
  const saved = savedCredentials(params.dataDir, 'whoop');
  const sandbox = await startWhoopSandbox({
    port: params.port ?? 0,
    endDate: yesterday(),
    // Grants, tokens and webhook URL live beside the app's credentials: a restart must not forget the links the
    // stack's connections point to.
    ...(params.dataDir === undefined ? {} : { dataDir: params.dataDir }),
    ...params.options,
    clients: [
      {
        clientId: saved.clientId,
        clientSecret: saved.clientSecret,
        redirectUris: redirectUris(params.appBaseUrls, 'whoop'),
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
  return { sandbox, clientId: saved.clientId, clientSecret: saved.clientSecret };
}

/** Points the sandbox's webhooks at the deployed `whoop-webhook` bot (WHOOP posts, which Medplum routes). */
export function registerWhoopWebhook(whoop: WiredWhoop, report: DeployReport): string {
  const url = webhookUrlOf(report, 'whoop-webhook');
  whoop.sandbox.control.setWebhookUrl(url);
  return url;
}

export async function startWiredWithingsSandbox(
  params: WireParams & { options?: Partial<WithingsSandboxOptions> }
): Promise<WiredWithings> {
  const saved = savedCredentials(params.dataDir, 'withings');
  const sandbox = await startWithingsSandbox({
    port: params.port ?? 0,
    endDate: yesterday(),
    ...(params.dataDir === undefined ? {} : { dataDir: params.dataDir }),
    ...params.options,
    clients: [
      {
        clientId: saved.clientId,
        clientSecret: saved.clientSecret,
        redirectUris: redirectUris(params.appBaseUrls, 'withings'),
      },
    ],
  });
  await mergeProjectSecrets(
    params.admin,
    params.projectId,
    {
      WITHINGS_CLIENT_ID: saved.clientId,
      WITHINGS_CLIENT_SECRET: saved.clientSecret,
      WITHINGS_API_BASE_URL: sandbox.apiBaseUrl,
      WITHINGS_AUTH_BASE_URL: sandbox.authBaseUrl,
    },
    { onlyMissing: !params.overwriteSecrets }
  );
  return { sandbox, clientId: saved.clientId, clientSecret: saved.clientSecret };
}

export async function startWiredOuraSandbox(
  params: WireParams & { options?: Partial<OuraSandboxOptions> }
): Promise<WiredOura> {
  const saved = savedCredentials(params.dataDir, 'oura', { verificationToken: randomBytes(18).toString('hex') });
  const sandbox = await startOuraSandbox({
    port: params.port ?? 0,
    endDate: yesterday(),
    ...(params.dataDir === undefined ? {} : { dataDir: params.dataDir }),
    ...params.options,
    clients: [
      {
        clientId: saved.clientId,
        clientSecret: saved.clientSecret,
        redirectUris: redirectUris(params.appBaseUrls, 'oura'),
      },
    ],
  });
  await mergeProjectSecrets(
    params.admin,
    params.projectId,
    {
      OURA_CLIENT_ID: saved.clientId,
      OURA_CLIENT_SECRET: saved.clientSecret,
      OURA_API_BASE_URL: sandbox.apiBaseUrl,
      OURA_AUTH_BASE_URL: sandbox.authBaseUrl,
      OURA_WEBHOOK_VERIFICATION_TOKEN: saved.verificationToken ?? '',
    },
    { onlyMissing: !params.overwriteSecrets }
  );
  return {
    sandbox,
    clientId: saved.clientId,
    clientSecret: saved.clientSecret,
    verificationToken: saved.verificationToken ?? '',
  };
}

function webhookUrlOf(report: DeployReport, bot: string): string {
  const url = report.bots.find((b) => b.name === bot)?.webhookUrl;
  if (!url) {
    throw new Error(`deploy did not report a webhook URL for ${bot}`);
  }
  return url;
}

/**
 * Tells the Withings and Oura bots where their providers must call: the deployed bots' webhook paths on the edge's
 * origin, as the `WITHINGS_WEBHOOK_URL` / `OURA_WEBHOOK_URL` secrets (an operator sets the same two to their public
 * edge URLs).
 * @returns the two URLs
 */
export async function registerEdgeWebhooks(params: {
  admin: MedplumClient;
  projectId: string;
  report: DeployReport;
  edgeUrl: string;
}): Promise<{ withings: string; oura: string }> {
  const onEdge = (bot: string): string => {
    const direct = new URL(webhookUrlOf(params.report, bot));
    return new URL(direct.pathname, params.edgeUrl).toString();
  };
  const urls = { withings: onEdge('withings-webhook'), oura: onEdge('oura-webhook') };
  await mergeProjectSecrets(params.admin, params.projectId, {
    WITHINGS_WEBHOOK_URL: urls.withings,
    OURA_WEBHOOK_URL: urls.oura,
  });
  return urls;
}
