/**
 * The deploy library: `deploy()` for scripts/deploy.ts, the local stack's start script and integration tests, and
 * the FHIR quota sizing the README's table comes from.
 */
export { bundleFilename, DEFAULT_PROFILES_DIR, deploy, formatChange, formatSummary } from './deploy.ts';
export type {
  BuildBotsFn,
  BuiltBotCode,
  DeployAction,
  DeployChange,
  DeployedBot,
  DeployKind,
  DeployOptions,
  DeployReport,
} from './deploy.ts';
export { DeployError } from './errors.ts';
export { DEFAULT_EXPECTED_OWNERS, projectQuota, quotaReport, sizeQuota } from './quota.ts';
export type { ProjectQuota, QuotaSizing } from './quota.ts';
export { planForServer } from './server.ts';
export type { ServerPlan } from './server.ts';
export { signIn } from './sign-in.ts';
