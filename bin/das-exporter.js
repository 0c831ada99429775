#!/usr/bin/env node
// Entry point of the `das-exporter` command: the compiled build in dist/
// (`npm run build`; `npm test`, `npm run demo` and `npm pack` build first).
// The AWS SDK warns on every start that it will need Node 22 from 2027: that
// is not actionable for an operator, so it is off unless they turn it on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/cli/main.js')) throw error;
  process.stderr.write('das-exporter: the compiled build is missing (dist/cli/main.js): run `npm run build` in this checkout\n');
  process.exit(1);
}
process.exitCode = await cli.main(process.argv);
