/**
 * `npm run local-stack [-- --data-dir DIR --port N --medplum-version 5.0|5.2 --fhir-quota POINTS
 * --[no-]save-audit-events]`: the bare local stack (no deploy, no app). `npm start` is the usual entry; this one exists
 * for the restart test (which kills it with SIGKILL), the conformance suite and debugging. The version, quota and audit setting also come from
 * `LOCAL_STACK_MEDPLUM_VERSION`, `LOCAL_STACK_FHIR_QUOTA` and `LOCAL_STACK_SAVE_AUDIT_EVENTS` (read by
 * startLocalStack itself, so `npm start` honours them too).
 * Prints one `LOCAL_STACK_READY {json}` line when it accepts requests.
 */
import { parseArgs } from 'node:util';
import { envStackOptions, startLocalStack } from './server.ts';

const { values } = parseArgs({
  allowNegative: true,
  options: {
    'data-dir': { type: 'string', default: process.env.LOCAL_STACK_DATA_DIR ?? '.local-stack/data' },
    port: { type: 'string', default: process.env.LOCAL_STACK_PORT ?? '8103' },
    cron: { type: 'boolean', default: true },
    'medplum-version': { type: 'string' },
    'fhir-quota': { type: 'string' },
    'save-audit-events': { type: 'boolean' },
  },
});
const fromFlags = envStackOptions({
  LOCAL_STACK_MEDPLUM_VERSION: values['medplum-version'],
  LOCAL_STACK_FHIR_QUOTA: values['fhir-quota'],
  LOCAL_STACK_SAVE_AUDIT_EVENTS:
    values['save-audit-events'] === undefined ? undefined : String(values['save-audit-events']),
});

const stack = await startLocalStack({
  dataDir: values['data-dir'],
  port: Number(values.port),
  cron: values.cron,
  ...(fromFlags.medplumVersion ? { medplumVersion: fromFlags.medplumVersion } : {}),
  ...(fromFlags.fhirQuota ? { fhirQuota: fromFlags.fhirQuota } : {}),
  ...(fromFlags.saveAuditEvents === undefined ? {} : { saveAuditEvents: fromFlags.saveAuditEvents }),
  log: (message, data) => console.error(`[local-stack] ${message}${data ? ' ' + JSON.stringify(data) : ''}`),
});
console.log(
  `LOCAL_STACK_READY ${JSON.stringify({
    baseUrl: stack.baseUrl,
    projectId: stack.projectId,
    seeded: stack.seeded,
    medplumVersion: stack.ctx.medplumVersion,
    fhirQuota: stack.ctx.defaultFhirQuota,
    saveAuditEvents: stack.ctx.saveAuditEvents,
  })}`
);

const shutdown = (): void => {
  void stack.close().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
