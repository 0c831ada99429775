#!/usr/bin/env node
// Entry point of the `das-exporter` command. The sources are TypeScript run
// through tsx, so there is no build step between a checkout and a run.
// The AWS SDK warns on every start that it will need Node 22 from 2027: that
// is not actionable for an operator, so it is off unless they turn it on.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
