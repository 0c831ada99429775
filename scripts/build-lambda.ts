/**
 * Bundles the Lambda handler (src/source/lambda.ts) and its dependencies into
 * one ES module that the Lambda Node.js 20 runtime loads as it is:
 * `dist/lambda.mjs`, handler `lambda.handler`. The AWS SDK's CommonJS parts
 * need `require`, which the banner provides. A deployed bundle has no
 * package.json beside it, so the version (src/version.ts) is written in.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { VERSION } from '../src/version.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function buildLambda(outfile = path.join(root, 'dist', 'lambda.mjs')): Promise<string> {
  await build({
    entryPoints: [path.join(root, 'src', 'source', 'lambda.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile,
    banner: { js: "import { createRequire as __dasCreateRequire } from 'node:module'; const require = __dasCreateRequire(import.meta.url);" },
    define: { __DAS_EXPORTER_VERSION__: JSON.stringify(VERSION) },
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildLambda(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
}
