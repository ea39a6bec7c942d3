/**
 * `npm run deploy [-- --dry-run] [--owners N]`: deploys Baseline to the Medplum project of the admin client named in
 * the environment or .env. Expected failures (bad credentials, unreachable server, a Medplum older than 5.0, missing
 * features, inconsistent definitions, duplicates on the server) print what to do and one `deploy: error: ...` line,
 * exit 1, and no stack trace — and happen before deploy writes anything.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { OperationOutcomeError } from '@medplum/core';
import { renderRuntimeConfigScript } from '../app/src/runtime-config.ts';
import { CLIENT_KEYS } from '../data/core/client-applications.ts';
import { BOT_DEFINITIONS, checkBotConfig } from '../data/core/bots.ts';
import { readBotConfig, DEFAULT_CONFIG_PATH } from './build-bots.ts';
import { writeCliConfig } from './deploy/cli-config.ts';
import { deploy } from './deploy/deploy.ts';
import { loadEnv, parseArgs, parseDeployEnv, USAGE } from './deploy/env.ts';
import { DeployError } from './deploy/errors.ts';
import { quotaRefusal } from './deploy/ratelimit.ts';
import { signIn } from './deploy/sign-in.ts';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  // `.env` in the working directory, as dotenv does (npm run starts scripts in the package root).
  const env = parseDeployEnv(loadEnv(path.resolve('.env'), process.env));

  if (existsSync(DEFAULT_CONFIG_PATH)) {
    const problems = checkBotConfig(BOT_DEFINITIONS, readBotConfig(DEFAULT_CONFIG_PATH));
    if (problems.length > 0) {
      throw new DeployError('medplum.config.json and data/core/bots.ts disagree', { details: problems });
    }
  }

  const client = await signIn(env);
  const expectedOwners = args.owners ?? env.expectedOwners;
  const report = await deploy({
    client,
    dryRun: args.dryRun,
    appBaseUrls: env.appBaseUrls,
    ...(expectedOwners === undefined ? {} : { expectedOwners }),
    log: (line) => console.log(line),
  });

  for (const [key, id] of Object.entries(report.clients)) {
    if (id) {
      console.log(`ClientApplication ${key}: client_id ${id}`);
    }
  }
  for (const bot of report.bots) {
    if (bot.webhookUrl) {
      console.log(`Bot ${bot.name}: public webhook ${bot.webhookUrl}`);
    }
  }
  if (!report.dryRun) {
    // Everything the app's /config.js needs comes from this deploy; printing it saves copying ids by hand.
    const configJs = renderRuntimeConfigScript({
      medplumBaseUrl: client.getBaseUrl(),
      clientId: report.clients[CLIENT_KEYS.patientApp],
      clinicianClientId: report.clients[CLIENT_KEYS.clinicianLaunch],
      projectId: report.projectId,
    });
    console.log(`The app's /config.js for this server: ${configJs.trimEnd()}`);
  }
  if (!report.dryRun && existsSync(DEFAULT_CONFIG_PATH)) {
    const cli = writeCliConfig({
      baseUrl: client.getBaseUrl(),
      entries: readBotConfig(DEFAULT_CONFIG_PATH),
      bots: report.bots,
    });
    console.log(
      `medplum CLI: this server's bot ids are in ${cli.relativeDir}/medplum.config.json; to update one bot: cd ${cli.relativeDir} && npx medplum bot deploy <name>`
    );
  }
  const providers = report.providers.map((p) =>
    p.missing.length === 0 ? `${p.name} ready` : `${p.name} not set up (set ${p.missing.join(', ')})`
  );
  console.log(`Providers: ${providers.join('; ')}`);
  if (report.missingSecrets.length > 0) {
    console.log(
      `Project secrets still to set by a project admin (Medplum app → Project → Secrets): ${report.missingSecrets.join(', ')}`
    );
  }
  if (report.quotaPointsSpent !== undefined) {
    const left =
      report.quotaPointsLeft === undefined
        ? ''
        : `; ${report.quotaPointsLeft.toLocaleString('en-US')} left in this minute's window`;
    console.log(
      `FHIR quota: this ${report.dryRun ? 'dry run' : 'deploy'} spent ${report.quotaPointsSpent.toLocaleString('en-US')} points (RateLimit header)${left}`
    );
  }
  console.log(report.summary);
}

try {
  await main();
} catch (err) {
  if (err instanceof DeployError) {
    for (const line of err.details) {
      console.error(line);
    }
    console.error(`deploy: error: ${err.message}`);
    process.exitCode = 1;
  } else if (quotaRefusal(err) !== undefined) {
    console.error(
      "deploy: error: the FHIR quota stayed used up through 3 waits for its reset (something else is spending this client's quota); run deploy again later, it completes what this run started"
    );
    process.exitCode = 1;
  } else if (err instanceof OperationOutcomeError) {
    // The server refused a write (validation, permissions); the lines above show which item was being deployed.
    console.error(`deploy: error: Medplum refused a request: ${err.message}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
