import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ActivityEvent } from '../../src/events/model.ts';
import { epochSeconds, errorCode, tallyEvents, type EventTally, type LogTimes, type StatementGroup } from '../../src/sinks/metrics-tally.ts';
import { classLabel, commandLabel } from '../../src/telemetry/cardinality.ts';
import { activityEvent } from '../support/events.ts';

/** The tally by its definition: one group per distinct key of label values (null and "" alike), in first-seen order. */
function referenceTally(events: readonly ActivityEvent[]): EventTally {
  const groups = new Map<string, StatementGroup>();
  const times = new Map<string, LogTimes>();
  const failedClosed = new Map<ActivityEvent['engine'], number>();
  for (const e of events) {
    if (e.enrichment?.redactionFailedClosed) failedClosed.set(e.engine, (failedClosed.get(e.engine) ?? 0) + 1);
    const cluster = e.clusterId ?? e.instanceId ?? '';
    const instance = e.instanceId ?? '';
    const admit = !(e.isLogin && e.outcome === 'failure');
    const code = e.outcome === 'failure' ? errorCode(e) : null;
    const labels = [cluster, instance, e.engine, e.databaseName ?? '', e.dbUserName ?? '', admit, classLabel(e.class), commandLabel(e.command), e.outcome, e.isLogin, code ?? ''];
    const key = JSON.stringify(labels);
    let g = groups.get(key);
    if (!g) {
      g = { cluster, instance, engine: e.engine, database: e.databaseName, user: e.dbUserName, admit, eventClass: classLabel(e.class), command: commandLabel(e.command), outcome: e.outcome, isLogin: e.isLogin, code, count: 0, rows: 0, traceId: null };
      groups.set(key, g);
    }
    g.count++;
    if (e.rowCount !== null && e.rowCount > 0) g.rows += e.rowCount;
    if (e.enrichment?.trace) g.traceId = e.enrichment.trace.traceId;
    const seconds = epochSeconds(e.logTimeUnixNano);
    if (seconds === null) continue;
    const where = `${cluster}/${instance}`;
    if (!times.has(where)) times.set(where, { cluster, instance, seconds: [] });
    times.get(where)!.seconds.push(seconds);
  }
  return { statements: [...groups.values()], logTimes: [...times.values()], redactionsFailedClosed: [...failedClosed].map(([engine, count]) => ({ engine, count })) };
}

describe('tallyEvents', () => {
  const event = fc
    .record({
      // Few values per field, so that events differing in one label only are common.
      engine: fc.constantFrom('postgresql' as const, 'mysql' as const),
      clusterId: fc.constantFrom(null, 'cluster-A'),
      instanceId: fc.constantFrom('db-1', 'db-2'),
      databaseName: fc.constantFrom(null, '', 'orders'),
      dbUserName: fc.constantFrom(null, '', 'app', 'APP'),
      class: fc.constantFrom('READ', ' read ', 'MAIN'),
      command: fc.constantFrom('SELECT', 'select  ', 'CONNECT', 'AUTH FAILURE', 'BOGUS'),
      exitCode: fc.constantFrom(null, 1045),
      errorMessage: fc.constantFrom(null, null, 'boom'),
      rowCount: fc.constantFrom(null, 0, 3),
      logTimeUnixNano: fc.constantFrom(null, 1572395989940668000n, 1572395990000000000n),
      trace: fc.constantFrom(null, '4bf92f3577b34da6a3ce929d0e0e4736'),
      failedClosed: fc.constantFrom(false, false, false, true),
    })
    .map(({ trace, failedClosed, ...fields }) => {
      const e = activityEvent(fields);
      if (trace || failedClosed) {
        e.enrichment = {
          queryText: null, querySummary: null, operationName: null, collectionName: null,
          trace: trace ? { traceId: trace, spanId: '00f067aa0ba902b7', traceFlags: 1 } : null,
          ...(failedClosed ? { redactionFailedClosed: true as const } : {}),
        };
      }
      return e;
    });

  it('groups events as one key per distinct label values would, in first-seen order, however they interleave', () => {
    fc.assert(fc.property(fc.array(event, { minLength: 40, maxLength: 150 }), (events) => assert.deepEqual(tallyEvents(events), referenceTally(events))));
  });

  it('counts a run of identical events as one group', () => {
    const events = Array.from({ length: 50 }, () => activityEvent({ engine: 'postgresql', clusterId: 'cluster-A', instanceId: 'db-1', class: 'READ', command: 'SELECT', rowCount: 2 }));
    const tally = tallyEvents(events);
    assert.equal(tally.statements.length, 1);
    assert.equal(tally.statements[0]!.count, 50);
    assert.equal(tally.statements[0]!.rows, 100);
  });
});
