/**
 * das-exporter's own name and version, and the User-Agent its requests carry,
 * so an operator can tell the exporter's traffic apart in a backend's or
 * AWS's logs (the OTLP exporter spec says an exporter SHOULD send one). The
 * version also answers `--version`.
 *
 * The version is package.json's, read once when this module loads from
 * `../package.json` next to `src/` (or a compiled `dist/`). A bundle (the
 * Lambda artifact) has no package.json beside it: its build defines
 * `__DAS_EXPORTER_VERSION__` instead (scripts/build-lambda.ts), and the file
 * is then never read.
 */
import { readFileSync } from 'node:fs';

declare const __DAS_EXPORTER_VERSION__: string | undefined;

export const PACKAGE_NAME = 'das-exporter';

export const VERSION: string =
  typeof __DAS_EXPORTER_VERSION__ === 'string'
    ? __DAS_EXPORTER_VERSION__
    : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** `das-exporter/<version>`: the User-Agent of OTLP requests, and the AWS SDK clients' `customUserAgent`. */
export const USER_AGENT = `${PACKAGE_NAME}/${VERSION}`;
