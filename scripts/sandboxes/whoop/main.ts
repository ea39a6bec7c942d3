/**
 * Runs the WHOOP sandbox on its own for development and demos:
 *   node scripts/sandboxes/whoop/main.ts
 * Configuration comes from the environment (the same names Baseline's bots read for the app credentials):
 * WHOOP_CLIENT_ID, WHOOP_CLIENT_SECRET, WHOOP_SANDBOX_REDIRECT_URIS (comma-separated), and optionally
 * WHOOP_SANDBOX_PORT (default 8111), WHOOP_SANDBOX_SEED, WHOOP_SANDBOX_END_DATE, WHOOP_SANDBOX_WEBHOOK_URL,
 * WHOOP_SANDBOX_PEOPLE (how many synthetic people, default 1) and WHOOP_SANDBOX_DATA_DIR (keep state there across
 * restarts; default: in memory).
 */
import { z } from 'zod';
import { startWhoopSandbox } from './server.ts';

const Env = z.object({
  WHOOP_CLIENT_ID: z.string().min(1, 'Set WHOOP_CLIENT_ID'),
  WHOOP_CLIENT_SECRET: z.string().min(1, 'Set WHOOP_CLIENT_SECRET'),
  WHOOP_SANDBOX_REDIRECT_URIS: z
    .string()
    .min(1, 'Set WHOOP_SANDBOX_REDIRECT_URIS')
    .transform((value) => value.split(',').map((uri) => uri.trim())),
  WHOOP_SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).default(8111),
  WHOOP_SANDBOX_SEED: z.coerce.number().int().optional(),
  WHOOP_SANDBOX_END_DATE: z.string().optional(),
  WHOOP_SANDBOX_WEBHOOK_URL: z.url().optional(),
  WHOOP_SANDBOX_PEOPLE: z.coerce.number().int().min(1).max(100).optional(),
  WHOOP_SANDBOX_DATA_DIR: z.string().min(1).optional(),
});

const parsed = Env.safeParse(process.env);
if (!parsed.success) {
  console.error(z.prettifyError(parsed.error));
  process.exit(1);
}
const env = parsed.data;
const sandbox = await startWhoopSandbox({
  port: env.WHOOP_SANDBOX_PORT,
  ...(env.WHOOP_SANDBOX_SEED === undefined ? {} : { seed: env.WHOOP_SANDBOX_SEED }),
  ...(env.WHOOP_SANDBOX_END_DATE === undefined ? {} : { endDate: env.WHOOP_SANDBOX_END_DATE }),
  ...(env.WHOOP_SANDBOX_WEBHOOK_URL === undefined ? {} : { webhookUrl: env.WHOOP_SANDBOX_WEBHOOK_URL }),
  ...(env.WHOOP_SANDBOX_PEOPLE === undefined ? {} : { people: env.WHOOP_SANDBOX_PEOPLE }),
  ...(env.WHOOP_SANDBOX_DATA_DIR === undefined ? {} : { dataDir: env.WHOOP_SANDBOX_DATA_DIR }),
  clients: [
    {
      clientId: env.WHOOP_CLIENT_ID,
      clientSecret: env.WHOOP_CLIENT_SECRET,
      redirectUris: env.WHOOP_SANDBOX_REDIRECT_URIS,
      name: 'Baseline',
    },
  ],
  // A demo is a person clicking through the app, so retry over minutes rather than test-speed milliseconds.
  webhookRetryDelaysMs: [5_000, 30_000, 120_000, 600_000, 1_800_000],
});
console.log(
  JSON.stringify({
    sandbox: 'whoop',
    WHOOP_AUTH_BASE_URL: sandbox.authBaseUrl,
    WHOOP_API_BASE_URL: sandbox.apiBaseUrl,
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
