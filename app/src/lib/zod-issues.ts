import type { z } from 'zod';

/**
 * One-line summary of validation issues: `path: message; ...`. Paths and messages only, never the input values,
 * because inputs here can hold tokens.
 * @param error - a failed zod parse.
 * @returns e.g. `access_token: Invalid input: expected string, received undefined`.
 */
export function formatZodIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
