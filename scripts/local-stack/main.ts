/**
 * `npm run local-stack [-- --data-dir DIR --port N]`: the bare local stack (no deploy, no app). `npm start` is the
 * usual entry; this one exists for the restart test (which kills it with SIGKILL) and for debugging.
 * Prints one `LOCAL_STACK_READY {json}` line when it accepts requests.
 */
import { parseArgs } from 'node:util';
import { startLocalStack } from './server.ts';

const { values } = parseArgs({
  allowNegative: true,
  options: {
    'data-dir': { type: 'string', default: process.env.LOCAL_STACK_DATA_DIR ?? '.local-stack/data' },
    port: { type: 'string', default: process.env.LOCAL_STACK_PORT ?? '8103' },
    cron: { type: 'boolean', default: true },
  },
});

const stack = await startLocalStack({
  dataDir: values['data-dir'],
  port: Number(values.port),
  cron: values.cron,
  log: (message, data) => console.error(`[local-stack] ${message}${data ? ' ' + JSON.stringify(data) : ''}`),
});
console.log(
  `LOCAL_STACK_READY ${JSON.stringify({ baseUrl: stack.baseUrl, projectId: stack.projectId, seeded: stack.seeded })}`
);

const shutdown = (): void => {
  void stack.close().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
