/**
 * Environments for tests that start das-exporter as a child process.
 */

/** The environment without any AWS region or credentials source, and none that could reach beyond this machine (no instance metadata). */
export function withoutAwsConfig(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('AWS_')));
  return { ...out, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' };
}
