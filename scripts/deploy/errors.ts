/**
 * An error deploy expects and explains: the CLI prints `details` (what someone must do) and then the one-line
 * message, with no stack trace. Anything else is a bug and keeps its stack.
 */
export class DeployError extends Error {
  readonly details: readonly string[];

  constructor(message: string, options?: { details?: readonly string[]; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeployError';
    this.details = options?.details ?? [];
  }
}
