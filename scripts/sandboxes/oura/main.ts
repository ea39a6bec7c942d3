/**
 * Runs the Oura sandbox on its own for development and demos:
 *   node scripts/sandboxes/oura/main.ts
 * Configuration comes from the environment (the same names Baseline's bots read for the app credentials):
 * OURA_CLIENT_ID, OURA_CLIENT_SECRET, OURA_SANDBOX_REDIRECT_URIS (comma-separated), and optionally
 * OURA_SANDBOX_PORT (default 8113), OURA_SANDBOX_SEED, OURA_SANDBOX_END_DATE, OURA_SANDBOX_PEOPLE (how many
 * synthetic people, default 1) and OURA_SANDBOX_DATA_DIR (keep state there across restarts; default: in memory).
 * Webhook subscriptions are made through the API, as with real Oura (`POST /v2/webhook/subscription`).
 */
import { z } from 'zod';
import { startOuraSandbox } from './server.ts';

const Env = z.object({
  OURA_CLIENT_ID: z.string().min(1, 'Set OURA_CLIENT_ID'),
  OURA_CLIENT_SECRET: z.string().min(1, 'Set OURA_CLIENT_SECRET'),
  OURA_SANDBOX_REDIRECT_URIS: z
    .string()
    .min(1, 'Set OURA_SANDBOX_REDIRECT_URIS')
    .transform((value) => value.split(',').map((uri) => uri.trim())),
  OURA_SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).default(8113),
  OURA_SANDBOX_SEED: z.coerce.number().int().optional(),
  OURA_SANDBOX_END_DATE: z.string().optional(),
  OURA_SANDBOX_PEOPLE: z.coerce.number().int().min(1).max(100).optional(),
  OURA_SANDBOX_DATA_DIR: z.string().min(1).optional(),
});

const parsed = Env.safeParse(process.env);
if (!parsed.success) {
  console.error(z.prettifyError(parsed.error));
  process.exit(1);
}
const env = parsed.data;
const sandbox = await startOuraSandbox({
  port: env.OURA_SANDBOX_PORT,
  ...(env.OURA_SANDBOX_SEED === undefined ? {} : { seed: env.OURA_SANDBOX_SEED }),
  ...(env.OURA_SANDBOX_END_DATE === undefined ? {} : { endDate: env.OURA_SANDBOX_END_DATE }),
  ...(env.OURA_SANDBOX_PEOPLE === undefined ? {} : { people: env.OURA_SANDBOX_PEOPLE }),
  ...(env.OURA_SANDBOX_DATA_DIR === undefined ? {} : { dataDir: env.OURA_SANDBOX_DATA_DIR }),
  clients: [
    {
      clientId: env.OURA_CLIENT_ID,
      clientSecret: env.OURA_CLIENT_SECRET,
      redirectUris: env.OURA_SANDBOX_REDIRECT_URIS,
      name: 'Baseline',
    },
  ],
  // A demo is a person clicking through the app: Oura's own pace, ten retries over about an hour, 10-s timeout.
  webhookRetryDelaysMs: [30_000, 60_000, 120_000, 180_000, 300_000, 420_000, 540_000, 600_000, 600_000, 780_000],
  webhookTimeoutMs: 10_000,
});
console.log(
  JSON.stringify({
    sandbox: 'oura',
    OURA_AUTH_BASE_URL: sandbox.authBaseUrl,
    OURA_API_BASE_URL: sandbox.apiBaseUrl,
    control: `${sandbox.baseUrl}/_sandbox/`,
    users: sandbox.users.map((user) => ({ userId: user.userId, email: user.email })),
    currentDate: sandbox.control.currentDate(),
  })
);
const stop = (): void => {
  void sandbox.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
