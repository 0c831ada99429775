/**
 * Aurora MySQL's two halves of one statement.
 *
 * Aurora MySQL reports a statement as a MAIN event (the SQL text) and one or
 * more AUX events (each object it touched, `command` READ/WRITE/CREATE…), in
 * either order. Both carry the same `statementKey` so they can be joined
 * downstream; statementId restarts with the instance, hence the instance id in
 * the key. When both halves sit in the same record, the MAIN event also gets
 * the AUX objects directly. Neither half is removed.
 */
import type { ActivityEvent } from './model.ts';

type AuxObject = NonNullable<ActivityEvent['auxObjects']>[number];

/** `instanceId/sessionId/statementId`, or null when one of them is missing. */
export function mysqlStatementKey(instanceId: string | null, sessionId: string | null, statementId: string | null): string | null {
  if (instanceId === null || sessionId === null || statementId === null) return null;
  return `${instanceId}/${sessionId}/${statementId}`;
}

/** Sets `auxObjects` on each MySQL MAIN event whose AUX events are in `events`. */
export function linkAuxEvents(events: ActivityEvent[]): void {
  const auxByKey = new Map<string, AuxObject[]>();
  for (const event of events) {
    if (event.engine !== 'mysql' || event.class !== 'AUX' || event.statementKey === null) continue;
    const objects = auxByKey.get(event.statementKey) ?? [];
    objects.push({ command: event.command, objectType: event.objectType, objectName: event.objectName });
    auxByKey.set(event.statementKey, objects);
  }
  if (auxByKey.size === 0) return;
  for (const event of events) {
    if (event.engine !== 'mysql' || event.class !== 'MAIN' || event.statementKey === null) continue;
    const objects = auxByKey.get(event.statementKey);
    if (objects !== undefined) event.auxObjects = objects.map((o) => ({ ...o }));
  }
}
