/**
 * App configuration, resolved from two layers so one built bundle can target any Medplum:
 *
 * 1. build time: Vite `import.meta.env` (`MEDPLUM_BASE_URL`, `MEDPLUM_CLIENT_ID`, `MEDPLUM_PROJECT_ID`,
 *    `MEDPLUM_CLINICIAN_CLIENT_ID`);
 * 2. run time: `window.__BASELINE_CONFIG__`, set by `/config.js`, which index.html loads before the bundle.
 *    Whoever serves `app/dist` (the start script, the test harness) serves that file; `renderRuntimeConfigScript`
 *    produces it. Run-time values win.
 *
 * This file has no DOM or Vite dependencies so Node scripts can import it to write `/config.js`.
 */
import { z } from 'zod';
import { formatZodIssues } from './lib/zod-issues.ts';

export const DEFAULT_MEDPLUM_BASE_URL = 'http://127.0.0.1:8103/';

/** The global that `/config.js` assigns. */
export const RUNTIME_CONFIG_GLOBAL = '__BASELINE_CONFIG__';

const optionalText = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

const baseUrlSchema = z
  .url({ protocol: /^https?$/, error: 'Medplum base URL must be an absolute http(s) URL' })
  // MedplumClient joins paths onto the base; without the trailing slash `fhir/R4` would replace the last segment.
  .transform((u) => (u.endsWith('/') ? u : u + '/'));

// Key names match scripts/app-server.ts, which writes /config.js for the start script and the browser tests.
export const RuntimeConfigSchema = z.strictObject({
  medplumBaseUrl: baseUrlSchema.optional(),
  clientId: optionalText,
  projectId: optionalText,
  clinicianClientId: optionalText,
});
export type RuntimeConfig = z.infer<typeof RuntimeConfigSchema>;

// Vite puts MODE, DEV, BASE_URL, ... beside these; they are ignored (not strict).
const BuildEnvSchema = z.object({
  MEDPLUM_BASE_URL: z.preprocess((v) => (v === '' ? undefined : v), baseUrlSchema.optional()),
  MEDPLUM_CLIENT_ID: optionalText,
  MEDPLUM_PROJECT_ID: optionalText,
  MEDPLUM_CLINICIAN_CLIENT_ID: optionalText,
});

export interface AppConfig {
  /** Medplum server root, always ending in `/` (e.g. `http://127.0.0.1:8103/`). */
  readonly baseUrl: string;
  /** ClientApplication id of the patient app; omitted means Medplum's default client for the project. */
  readonly clientId: string | undefined;
  /** Restricts sign-in to one project; omitted lets the server choose from the user's memberships. */
  readonly projectId: string | undefined;
  /**
   * ClientApplication id of the SMART launch client (deploy's `clinician-launch`): the EHR launch and the clinician's
   * standalone launch authorize with it, because its launchUri and redirect URIs are the ones Medplum checks.
   */
  readonly clinicianClientId: string | undefined;
}

/**
 * Merges build-time env with the optional run-time override.
 * @param env - `import.meta.env` (or any record of strings).
 * @param runtime - the value of `window.__BASELINE_CONFIG__`; `undefined` when `/config.js` set nothing.
 * @returns The resolved configuration.
 */
export function resolveConfig(env: Record<string, unknown>, runtime: unknown): AppConfig {
  const built = BuildEnvSchema.safeParse(env);
  if (!built.success) {
    throw new Error(`Invalid build-time env: ${formatZodIssues(built.error)}`, { cause: built.error });
  }
  let override: RuntimeConfig = {};
  if (runtime !== undefined) {
    const parsed = RuntimeConfigSchema.safeParse(runtime);
    if (!parsed.success) {
      throw new Error(`Invalid ${RUNTIME_CONFIG_GLOBAL} in /config.js: ${formatZodIssues(parsed.error)}`, {
        cause: parsed.error,
      });
    }
    override = parsed.data;
  }
  return {
    baseUrl: override.medplumBaseUrl ?? built.data.MEDPLUM_BASE_URL ?? DEFAULT_MEDPLUM_BASE_URL,
    clientId: override.clientId ?? built.data.MEDPLUM_CLIENT_ID,
    projectId: override.projectId ?? built.data.MEDPLUM_PROJECT_ID,
    clinicianClientId: override.clinicianClientId ?? built.data.MEDPLUM_CLINICIAN_CLIENT_ID,
  };
}

/**
 * Produces the body of `/config.js` for a server that hosts the built app.
 * @param config - the values to inject; validated with the same schema the app uses to read them.
 * @returns JavaScript source assigning `window.__BASELINE_CONFIG__`.
 */
export function renderRuntimeConfigScript(config: RuntimeConfig): string {
  const parsed = RuntimeConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new Error(`Cannot render /config.js: ${formatZodIssues(parsed.error)}`, { cause: parsed.error });
  }
  return `window.${RUNTIME_CONFIG_GLOBAL} = ${JSON.stringify(parsed.data)};\n`;
}
