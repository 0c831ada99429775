/**
 * das-exporter's version, read once from its package.json: the same file
 * one directory above this module whether it runs from src/ (tests) or from
 * the compiled dist/ (an installed package). It names the exporter's
 * traffic (User-Agent) and answers `--version`.
 */
import { readFileSync } from 'node:fs';

export const PACKAGE_NAME = 'das-exporter';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** `das-exporter/<version>`, as a User-Agent product token. */
export const USER_AGENT = `${PACKAGE_NAME}/${VERSION}`;
