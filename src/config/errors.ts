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
