/**
 * das-exporter's own version, and the User-Agent its requests carry, so an
 * operator can tell the exporter's traffic apart in a backend's or AWS's
 * logs (the OTLP exporter spec says an exporter SHOULD send one).
 *
 * The version is package.json's, read once when this module loads. The
 * sources run in place (tsx) and may later run compiled (`dist/`), so the
 * file is found by walking up from this module to the nearest package.json
 * named das-exporter, not by a fixed relative path. A bundle (the Lambda
 * artifact) may have no package.json beside it: its build defines
 * `__DAS_EXPORTER_VERSION__` instead (scripts/build-lambda.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

declare const __DAS_EXPORTER_VERSION__: string | undefined;

const PACKAGE_NAME = 'das-exporter';

/** The version of the package the module at `moduleUrl` belongs to; `unknown` when no das-exporter package.json is above it. */
export function packageVersion(moduleUrl: string): string {
  let dir = path.dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const version = versionIn(path.join(dir, 'package.json'));
    if (version !== null) return version;
    const parent = path.dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

function versionIn(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = JSON.parse(text) as { name?: unknown; version?: unknown };
    return parsed.name === PACKAGE_NAME && typeof parsed.version === 'string' ? parsed.version : null;
  } catch {
    return null;
  }
}

export const VERSION: string = typeof __DAS_EXPORTER_VERSION__ === 'string' ? __DAS_EXPORTER_VERSION__ : packageVersion(import.meta.url);

/** `das-exporter/<version>`: the User-Agent of OTLP requests, and the AWS SDK clients' `customUserAgent`. */
export const USER_AGENT = `${PACKAGE_NAME}/${VERSION}`;
