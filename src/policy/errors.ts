/**
 * The error an invalid audit policy raises: every problem at once, each with
 * its file, line and column. Apart from document.ts so that the command line
 * can tell it without loading the YAML parser and the schema.
 */

/** An invalid policy: every problem, each as `file:line:column: message`. */
export class PolicyError extends Error {
  readonly problems: readonly string[];

  constructor(file: string, problems: readonly string[]) {
    super(`invalid policy ${file}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'PolicyError';
    this.problems = problems;
  }
}

/** Whether `error` is a PolicyError, by name and shape (a lazily imported module may bring its own copy of the class). */
export function isPolicyError(error: unknown): error is PolicyError {
  return error instanceof Error && error.name === 'PolicyError' && Array.isArray((error as Partial<PolicyError>).problems);
}
