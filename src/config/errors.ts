/**
 * The error a bad configuration raises: every problem at once, each naming
 * its flag or variable. Apart from config.ts so that the command line can
 * tell it without loading the schema.
 */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Whether `error` is a ConfigError, by its name and shape rather than its
 * class: a command's module is imported lazily, and a loader may give it its
 * own copy of this module (tsx under mocha does), whose class differs.
 */
export function isConfigError(error: unknown): error is ConfigError {
  return error instanceof Error && error.name === 'ConfigError' && Array.isArray((error as Partial<ConfigError>).problems);
}
