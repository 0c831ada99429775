/**
 * Builds das-exporter's Grafana dashboards and writes them to
 * dashboards/<uid>.json, the files Grafana provisions (deploy/grafana).
 *
 *   npx tsx dashboards/build.ts
 *
 * The JSON files are committed; test/dashboards rebuilds them in memory and
 * fails when they differ, so edit the TypeScript and run this again.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { activityDashboard } from './activity.ts';
import { auditLogDashboard } from './audit-log.ts';
import { exporterHealthDashboard } from './exporter-health.ts';

export const DASHBOARDS_DIR = fileURLToPath(new URL('.', import.meta.url));

/** Every dashboard, built. */
export function buildDashboards(): dashboard.Dashboard[] {
  return [activityDashboard(), auditLogDashboard(), exporterHealthDashboard()];
}

/** The committed file name of a dashboard. */
export function fileNameOf(built: dashboard.Dashboard): string {
  if (!built.uid) throw new Error(`dashboard "${built.title}" has no uid`);
  return `${built.uid}.json`;
}

/** The committed text of a dashboard: stable key order from the builders, two-space indent, final newline. */
export function render(built: dashboard.Dashboard): string {
  return `${JSON.stringify(built, null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const built of buildDashboards()) {
    const path = `${DASHBOARDS_DIR}${fileNameOf(built)}`;
    writeFileSync(path, render(built));
    console.log(`wrote ${path}`);
  }
}
