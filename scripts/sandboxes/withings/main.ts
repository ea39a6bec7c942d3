/**
 * Runs the Withings sandbox on its own for development and demos:
 *   node scripts/sandboxes/withings/main.ts
 * Configuration comes from the environment (the same names Baseline's bots read for the app credentials):
 * WITHINGS_CLIENT_ID, WITHINGS_CLIENT_SECRET, WITHINGS_SANDBOX_REDIRECT_URIS (comma-separated), and optionally
 * WITHINGS_SANDBOX_PORT (default 8112), WITHINGS_SANDBOX_SEED, WITHINGS_SANDBOX_END_DATE, WITHINGS_SANDBOX_PEOPLE
 * (how many synthetic people, default 1) and WITHINGS_SANDBOX_DATA_DIR (keep state there across restarts; default:
 * in memory). Notifications are retried on Withings' real schedule (seconds to hours), not the tests' fast one.
 */
import { z } from 'zod';
import { WITHINGS_RETRY_DELAYS_MS } from './notify.ts';
import { startWithingsSandbox } from './server.ts';

const Env = z.object({
  WITHINGS_CLIENT_ID: z.string().min(1, 'Set WITHINGS_CLIENT_ID'),
  WITHINGS_CLIENT_SECRET: z.string().min(1, 'Set WITHINGS_CLIENT_SECRET'),
  WITHINGS_SANDBOX_REDIRECT_URIS: z
    .string()
    .min(1, 'Set WITHINGS_SANDBOX_REDIRECT_URIS')
    .transform((value) => value.split(',').map((uri) => uri.trim())),
  WITHINGS_SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).default(8112),
  WITHINGS_SANDBOX_SEED: z.coerce.number().int().optional(),
  WITHINGS_SANDBOX_END_DATE: z.string().optional(),
  WITHINGS_SANDBOX_PEOPLE: z.coerce.number().int().min(1).max(100).optional(),
  WITHINGS_SANDBOX_DATA_DIR: z.string().min(1).optional(),
});

const parsed = Env.safeParse(process.env);
if (!parsed.success) {
  console.error(z.prettifyError(parsed.error));
  process.exit(1);
}
const env = parsed.data;
const sandbox = await startWithingsSandbox({
  port: env.WITHINGS_SANDBOX_PORT,
  ...(env.WITHINGS_SANDBOX_SEED === undefined ? {} : { seed: env.WITHINGS_SANDBOX_SEED }),
  ...(env.WITHINGS_SANDBOX_END_DATE === undefined ? {} : { endDate: env.WITHINGS_SANDBOX_END_DATE }),
  ...(env.WITHINGS_SANDBOX_PEOPLE === undefined ? {} : { people: env.WITHINGS_SANDBOX_PEOPLE }),
  ...(env.WITHINGS_SANDBOX_DATA_DIR === undefined ? {} : { dataDir: env.WITHINGS_SANDBOX_DATA_DIR }),
  clients: [
    {
      clientId: env.WITHINGS_CLIENT_ID,
      clientSecret: env.WITHINGS_CLIENT_SECRET,
      redirectUris: env.WITHINGS_SANDBOX_REDIRECT_URIS,
      name: 'Baseline',
    },
  ],
  notifyRetryDelaysMs: WITHINGS_RETRY_DELAYS_MS,
});
console.log(
  JSON.stringify({
    sandbox: 'withings',
    WITHINGS_AUTH_BASE_URL: sandbox.authBaseUrl,
    WITHINGS_API_BASE_URL: sandbox.apiBaseUrl,
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
