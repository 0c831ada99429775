// Entry of each worker thread (pool.ts). The sources are TypeScript run
// through tsx, as in bin/das-exporter.js: register it in this thread, then
// load the worker itself.
const { register } = await import('tsx/esm/api');
register();
await import('./open-worker.ts');
