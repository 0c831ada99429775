// Entry of each worker thread (pool.ts) when das-exporter runs from its
// TypeScript sources (tests, benches): register tsx in this thread, then load
// the worker itself. The compiled build starts dist/workers/open-worker.js
// directly and does not ship this file.
const { register } = await import('tsx/esm/api');
register();
await import('./open-worker.ts');
