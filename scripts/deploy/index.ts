/**
 * The deploy library: `deploy()` for scripts/deploy.ts, the local stack's start script and integration tests.
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
export { signIn } from './sign-in.ts';
