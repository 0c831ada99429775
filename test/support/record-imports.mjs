// A module-loader hook for tests that need to know what a process loads:
// `node --import ./test/support/record-imports.mjs …` appends the URL of
// every module the process resolves to the file named by DAS_TEST_IMPORTS_FILE.
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(file, resolved.url + '\\n');
  return resolved;
}`),
  { data: { file: process.env.DAS_TEST_IMPORTS_FILE } },
);
