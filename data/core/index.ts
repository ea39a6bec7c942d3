/**
 * Everything deployable, in one import for scripts/deploy and the local stack.
 */
export * from './access-policies.ts';
export * from './bots.ts';
export * from './client-applications.ts';
export * from './connection.ts';
export * from './identity.ts';
export * from './project.ts';
export * from './subscriptions.ts';
export * from './validate.ts';
