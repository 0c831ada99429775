import assert from 'node:assert/strict';
import { gunzipCappedSync } from '../../src/decrypt/gunzip.ts';
import { parseMessageHeader } from '../../src/decrypt/message-header.ts';
import { EsdkPayloadDecryptor } from '../../src/decrypt/payload.ts';
import {
  DEMO_CLUSTERS,
  encryptBatch,
  SIMULATED_CLASSES,
  SIMULATED_COMMANDS,
  TrafficEncryptor,
  TrafficSimulator,
} from '../../src/demo/traffic.ts';
import type { SimulatedEngine, TrafficBatch } from '../../src/demo/traffic.ts';
import { DasRecordFactory } from '../../src/demo/record-factory.ts';
import { InMemoryDataKeys } from '../support/record-mutations.ts';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent, DecodedRecord, Engine } from '../../src/events/model.ts';
import { parseEnvelope } from '../../src/source/envelope.ts';
import { encryptionContextFor } from '../../src/source/resource.ts';

const START = Date.UTC(2024, 4, 1, 12, 0, 0);
const clock = () => START;

const ENGINE_OF: Readonly<Record<SimulatedEngine, Engine>> = {
  'aurora-postgresql': 'postgresql',
  'aurora-mysql': 'mysql',
  sqlserver: 'sqlserver',
};
const ENGINES = Object.keys(ENGINE_OF) as SimulatedEngine[];

interface Decoded {
  batch: TrafficBatch;
  record: DecodedRecord;
}

function decode(batch: TrafficBatch): DecodedRecord {
  const inner = JSON.stringify({
    type: 'DatabaseActivityMonitoringRecord',
    clusterId: batch.clusterId,
    instanceId: batch.instanceId,
    databaseActivityEventList: batch.events,
  });
  return decodeRecord(inner, { version: batch.profile.version });
}

/** Ten simulated minutes of default traffic from one seed, decoded once for all the mix tests. */
let cachedMix: Decoded[] | undefined;
function mix(): Decoded[] {
  if (cachedMix === undefined) {
    const simulator = new TrafficSimulator({ seed: 20240501, clock });
    const batches: TrafficBatch[] = [];
    for (let second = 0; second < 600; second++) batches.push(...simulator.tick(1000));
    cachedMix = batches.map((batch) => ({ batch, record: decode(batch) }));
  }
  return cachedMix;
}

function eventsOf(engine: SimulatedEngine, decoded: Decoded[] = mix()): ActivityEvent[] {
  return decoded.filter((d) => d.batch.engine === engine).flatMap((d) => d.record.events);
}

function rawEventsOf(engine: SimulatedEngine, decoded: Decoded[] = mix()): Record<string, unknown>[] {
  return decoded.filter((d) => d.batch.engine === engine).flatMap((d) => d.batch.events.filter((e) => e['type'] === 'record'));
}

function activityCount(batches: TrafficBatch[]): number {
  return batches.reduce((n, b) => n + b.events.filter((e) => e['type'] === 'record').length, 0);
}

describe('TrafficSimulator', () => {
  describe('the simulated databases', () => {
    it('DEMO_CLUSTERS name an Aurora PostgreSQL cluster, an Aurora MySQL cluster and an RDS for SQL Server instance as AWS identifies them', () => {
      const byName = Object.fromEntries(DEMO_CLUSTERS.map((c) => [c.name, c]));
      const pg = byName['orders-postgres']!;
      const my = byName['payments-mysql']!;
      const ss = byName['crm-sqlserver']!;
      assert.deepEqual([pg.engine, my.engine, ss.engine], ['aurora-postgresql', 'aurora-mysql', 'sqlserver']);
      for (const cluster of [pg, my]) {
        assert.match(cluster.resourceId, /^cluster-[A-Z0-9]+$/);
        assert.equal(cluster.clusterId, cluster.resourceId);
        assert.ok(cluster.instances.length >= 2);
      }
      assert.match(ss.resourceId, /^db-[A-Z0-9]+$/);
      assert.equal(ss.clusterId, '');
      assert.deepEqual(ss.instances.map((i) => i.instanceId), [ss.resourceId]);
      for (const cluster of DEMO_CLUSTERS) {
        assert.equal(cluster.stream, `aws-rds-das-${cluster.resourceId}`);
        for (const instance of cluster.instances) assert.match(instance.instanceId, /^db-[A-Z0-9]+$/);
      }
      assert.deepEqual([pg.profile.version, my.profile.version, ss.profile.version], ['1.1', '1.2', '1.4']);
      assert.deepEqual([pg.profile.suiteId, my.profile.suiteId], [0x0178, 0x0378]);
    });
  });

  describe('determinism', () => {
    it('the same seed and clock give the same batches, byte for byte', () => {
      const run = (seed: number) => {
        const simulator = new TrafficSimulator({ seed, clock });
        return JSON.stringify([simulator.tick(1500), simulator.next(400), simulator.tick(3000)]);
      };
      assert.equal(run(7), run(7));
      assert.notEqual(run(7), run(8));
    });

    it('timestamps start at the injected clock and stay within the simulated time covered', () => {
      const simulator = new TrafficSimulator({ seed: 3, clock });
      const decoded = simulator.tick(10_000).map(decode);
      const startNs = BigInt(START) * 1_000_000n;
      const endNs = startNs + 10_000_000_000n;
      for (const record of decoded) {
        for (const item of [...record.events, ...record.heartbeats]) {
          assert.ok(item.logTimeUnixNano !== null && item.logTimeUnixNano >= startNs, item.logTimeRaw ?? 'no logTime');
          // A statement that starts near the end of the window may log a little after it.
          assert.ok(item.logTimeUnixNano < endNs + 2_000_000_000n, item.logTimeRaw ?? 'no logTime');
        }
      }
      assert.equal(simulator.now, START + 10_000);
    });
  });

  describe('every event as the decoder sees it', () => {
    it('decodes with its cluster’s engine, every field known (nothing in extra) and every time parsed', () => {
      for (const { batch, record } of mix()) {
        assert.equal(record.instanceId, batch.instanceId);
        assert.equal(record.clusterId, batch.clusterId === '' ? null : batch.clusterId);
        for (const event of record.events) {
          assert.equal(event.engine, ENGINE_OF[batch.engine]);
          assert.deepEqual(event.extra, {}, `unexpected fields in ${batch.engine} ${event.command}`);
          assert.notEqual(event.logTimeUnixNano, null);
        }
        for (const heartbeat of record.heartbeats) {
          assert.deepEqual(heartbeat.extra, {});
          assert.notEqual(heartbeat.logTimeUnixNano, null);
          // A heartbeat names no engine: it takes the record's, or what the envelope version implies when alone.
          const expected = record.events.length > 0 || batch.engine === 'sqlserver' ? ENGINE_OF[batch.engine] : 'unknown';
          assert.equal(heartbeat.engine, expected);
        }
      }
    });

    it('keeps each engine’s field types and time formats as in the documented examples', () => {
      for (const e of rawEventsOf('aurora-postgresql')) {
        assert.match(String(e['logTime']), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00$/);
        assert.equal(typeof e['sessionId'], 'string');
        assert.match(String(e['sessionId']), /^[0-9a-f]+\.[0-9a-f]+$/);
        assert.equal(e['exitCode'], null);
        assert.equal(typeof e['remotePort'], 'string');
        assert.ok(Array.isArray(e['paramList']));
      }
      for (const e of rawEventsOf('aurora-mysql')) {
        assert.match(String(e['logTime']), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00$/);
        assert.match(String(e['endTime']), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00$/);
        assert.equal(typeof e['sessionId'], 'string');
        assert.equal(typeof e['exitCode'], 'string');
        assert.equal(typeof e['transactionId'], 'string');
        assert.equal(e['paramList'], null);
        assert.equal(e['clientApplication'], null);
        assert.equal(e['errorMessage'], '');
        if (e['class'] === 'AUX') assert.equal(e['exitCode'], '');
        // Aurora MySQL sends every quotation mark escaped.
        assert.doesNotMatch(String(e['commandText']), /(^|[^\\])'/);
      }
      for (const e of rawEventsOf('sqlserver')) {
        assert.match(String(e['logTime']), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{7}\+00$/);
        assert.equal(typeof e['sessionId'], 'number');
        assert.match(String(e['statementId']), /^0x[0-9a-f]{32}$/);
        assert.ok(e['exitCode'] === 0 || e['exitCode'] === 1);
        assert.equal(e['startTime'], null);
        assert.equal(typeof e['engineNativeAuditFields'], 'object');
      }
    });
  });

  describe('the mix', () => {
    for (const engine of ENGINES) {
      it(`${engine}: carries every class and command the simulator claims, and no other`, () => {
        const events = eventsOf(engine);
        assert.deepEqual(new Set(events.map((e) => e.class)), new Set(SIMULATED_CLASSES[engine]));
        assert.deepEqual(new Set(events.map((e) => e.command)), new Set(SIMULATED_COMMANDS[engine]));
      });

      it(`${engine}: several users and databases, including an app user, a reporting user, a DBA and an unexpected user`, () => {
        const events = eventsOf(engine);
        const users = new Set(events.map((e) => e.dbUserName));
        const byEngine: Record<SimulatedEngine, string[]> = {
          'aurora-postgresql': ['orders_app', 'inventory_svc', 'reporting', 'dba_alice', 'jdoe'],
          'aurora-mysql': ['payments_app', 'ledger_batch', 'reporting', 'dba_bob', 'tmp_contractor'],
          sqlserver: ['crm_app', 'etl_loader', 'reporting', 'dba_carol', 'svc_legacy'],
        };
        for (const user of byEngine[engine]) assert.ok(users.has(user), `no events from ${user}`);
        if (engine === 'aurora-postgresql') assert.deepEqual(new Set(events.map((e) => e.databaseName)), new Set(['orders', 'inventory', 'postgres']));
      });

      it(`${engine}: failed logins are judged failures and logins by the decoder`, () => {
        const failedLogins = eventsOf(engine).filter((e) => e.isLogin && e.outcome === 'failure');
        assert.ok(failedLogins.length >= 3, `only ${failedLogins.length} failed logins`);
        const expected: Record<SimulatedEngine, (e: ActivityEvent) => boolean> = {
          'aurora-postgresql': (e) => e.command === 'AUTH FAILURE' && e.class === 'MISC' && /password authentication failed/.test(e.errorMessage ?? ''),
          'aurora-mysql': (e) => e.command === 'CONNECT' && e.exitCode === 1045,
          sqlserver: (e) => e.command === 'LOGIN FAILED' && e.class === 'LOGIN' && e.exitCode === 0,
        };
        for (const event of failedLogins) assert.ok(expected[engine](event), `${event.command} exitCode ${event.exitCode}`);
        const successful = eventsOf(engine).filter((e) => e.isLogin && e.outcome === 'success');
        assert.ok(successful.length > 0, 'no successful logins');
      });

      it(`${engine}: statements with real password syntax, for the redaction to show`, () => {
        const patterns: Record<SimulatedEngine, RegExp[]> = {
          'aurora-postgresql': [/^ALTER USER \w+ WITH PASSWORD '[^']+';$/, /^ALTER ROLE \w+ PASSWORD '[^']+';$/, /^CREATE ROLE \w+ WITH LOGIN PASSWORD '[^']+'/],
          'aurora-mysql': [/^CREATE USER \\'\w+\\'@\\'[^']+\\' IDENTIFIED BY \\'[^']+\\'$/, /^ALTER USER \\'\w+\\'@\\'%\\' IDENTIFIED BY \\'[^']+\\'$/],
          sqlserver: [/^CREATE LOGIN \[\w+\] WITH PASSWORD = '[^']+'/, /^ALTER LOGIN \[\w+\] WITH PASSWORD = '[^']+' OLD_PASSWORD = '[^']+'$/],
        };
        const texts = eventsOf(engine).map((e) => e.commandText ?? '');
        for (const pattern of patterns[engine]) assert.ok(texts.some((t) => pattern.test(t)), `no statement matching ${pattern}`);
      });

      it(`${engine}: sqlcommenter comments carry valid W3C traceparents, from some apps only`, () => {
        const events = eventsOf(engine);
        const traceparents = events.flatMap((e) => [...(e.commandText ?? '').matchAll(/traceparent=\\?'([^'\\]*)\\?'/g)].map((m) => m[1]!));
        assert.ok(traceparents.length > 100, `only ${traceparents.length} traceparents`);
        for (const traceparent of traceparents) {
          const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/.exec(traceparent);
          assert.ok(match, `not a W3C version 00 traceparent: ${traceparent}`);
          assert.notEqual(match[1], '0'.repeat(32));
          assert.notEqual(match[2], '0'.repeat(16));
        }
        assert.equal(new Set(traceparents).size, traceparents.length, 'every statement has its own span');
        const appStatementsWithout = events.filter(
          (e) => e.dbUserName !== null && ['inventory_svc', 'ledger_batch', 'etl_loader'].includes(e.dbUserName) && e.commandText,
        );
        assert.ok(appStatementsWithout.length > 0);
        for (const event of appStatementsWithout) assert.doesNotMatch(event.commandText!, /traceparent/);
      });

      it(`${engine}: statement errors are there and judged failures`, () => {
        const failures = eventsOf(engine).filter((e) => !e.isLogin && e.outcome === 'failure');
        assert.ok(failures.length > 0);
        if (engine === 'aurora-postgresql') {
          assert.ok(failures.some((e) => e.errorMessage === 'relation "public.order_archive" does not exist'));
        }
        if (engine === 'aurora-mysql') {
          const codes = new Set(failures.map((e) => e.exitCode));
          for (const code of [1064, 1146]) assert.ok(codes.has(code), `no exitCode ${code}`);
        }
        if (engine === 'sqlserver') assert.ok(failures.every((e) => e.exitCode === 0 && e.errorMessage === null));
      });
    }

    it('Aurora MySQL MAIN and AUX halves link: same statementKey, auxObjects on MAIN when in the same record, AUX logged first', () => {
      let linked = 0;
      let auxFirst = 0;
      const mains = new Map<string, ActivityEvent>();
      const auxes: ActivityEvent[] = [];
      for (const { batch, record } of mix().filter((d) => d.batch.engine === 'aurora-mysql')) {
        const keysInRecord = new Set(record.events.filter((e) => e.class === 'AUX').map((e) => e.statementKey));
        for (const [index, event] of record.events.entries()) {
          assert.notEqual(event.statementKey, null);
          assert.ok(event.statementKey!.startsWith(`${batch.instanceId}/`));
          if (event.class === 'MAIN' && event.command === 'QUERY') {
            mains.set(event.statementKey!, event);
            if (keysInRecord.has(event.statementKey)) {
              assert.ok(event.auxObjects !== null && event.auxObjects.length > 0);
              linked += 1;
            }
          }
          if (event.class === 'AUX') {
            auxes.push(event);
            const next = record.events[index + 1];
            if (next?.class === 'MAIN' && next.statementKey === event.statementKey) auxFirst += 1;
          }
        }
      }
      for (const aux of auxes) {
        const main = mains.get(aux.statementKey!);
        assert.ok(main, `AUX ${aux.statementKey} has no MAIN`);
        assert.equal(aux.sessionId, main.sessionId);
        assert.equal(aux.statementId, main.statementId);
        assert.equal(aux.exitCode, null, 'AUX exitCode "" reads as absent');
        assert.ok(aux.logTimeUnixNano! < main.logTimeUnixNano!, 'AUX logTime is earlier than MAIN’s');
      }
      assert.ok(linked > 1000, `only ${linked} MAIN events linked in their record`);
      assert.ok(auxFirst > 100, 'AUX also comes before MAIN');
    });

    it('SQL Server exitCode 1 is a passed permission check, not an error', () => {
      const selects = eventsOf('sqlserver').filter((e) => e.command === 'SELECT' && e.exitCode === 1);
      assert.ok(selects.length > 0);
      for (const event of selects) assert.equal(event.outcome, 'success');
    });

    it('password spraying: bursts of failed logins against one user from one address, taking turns across the engines', () => {
      const simulator = new TrafficSimulator({ seed: 11, clock, sprayEveryMs: 20_000 });
      const batches: TrafficBatch[] = [];
      for (let second = 0; second < 120; second++) batches.push(...simulator.tick(1000));
      const decoded = batches.map((batch) => ({ batch, record: decode(batch) }));
      const targets: Record<SimulatedEngine, string> = { 'aurora-postgresql': 'postgres', 'aurora-mysql': 'admin', sqlserver: 'sa' };
      for (const engine of ENGINES) {
        const sprayed = eventsOf(engine, decoded).filter((e) => e.isLogin && e.outcome === 'failure' && e.remoteHost?.startsWith('203.0.113.'));
        assert.ok(sprayed.length >= 15, `${engine}: only ${sprayed.length} spraying attempts`);
        assert.ok(sprayed.every((e) => e.dbUserName === targets[engine]));
        const first = sprayed[0]!;
        const burst = sprayed.filter((e) => e.remoteHost === first.remoteHost && e.logTimeUnixNano! - first.logTimeUnixNano! < 10_000_000_000n);
        assert.ok(burst.length >= 15, `${engine}: only ${burst.length} attempts from ${first.remoteHost} within 10 s`);
      }
    });

    it('heartbeats: one per instance every five simulated seconds', () => {
      const simulator = new TrafficSimulator({ seed: 5, clock });
      const batches: TrafficBatch[] = [];
      for (let i = 0; i < 40; i++) batches.push(...simulator.tick(500));
      for (const cluster of DEMO_CLUSTERS) {
        for (const instance of cluster.instances) {
          const beats = batches.filter((b) => b.instanceId === instance.instanceId).flatMap((b) => b.events.filter((e) => e['type'] === 'heartbeat'));
          assert.equal(beats.length, 4, `${instance.instanceId}`);
          const times = beats.map((e) => Date.parse(String(e['logTime']).replace(' ', 'T').replace('+00', 'Z')));
          for (let i = 1; i < times.length; i++) assert.equal(times[i]! - times[i - 1]!, 5000);
        }
      }
    });

    it('packs records per instance with 1 to maxEventsPerRecord entries', () => {
      const simulator = new TrafficSimulator({ seed: 9, clock, rate: 400, maxEventsPerRecord: 12 });
      const batches = simulator.tick(5000);
      assert.ok(batches.length > 100);
      const sizes = new Set<number>();
      for (const batch of batches) {
        assert.ok(batch.events.length >= 1 && batch.events.length <= 12);
        sizes.add(batch.events.length);
        const cluster = DEMO_CLUSTERS.find((c) => c.name === batch.cluster)!;
        assert.ok(cluster.instances.some((i) => i.instanceId === batch.instanceId));
        assert.equal(batch.stream, cluster.stream);
        assert.equal(batch.profile, cluster.profile);
      }
      assert.ok(sizes.size > 6, 'record sizes vary');
      assert.ok(batches.some((b) => b.events.length > 1 && b.events.every((e) => e['type'] === 'record')));
    });
  });

  describe('rate control', () => {
    it('tick(1000) holds exactly the rate’s events each simulated second, heartbeats aside', () => {
      for (const rate of [1, 50, 333]) {
        const simulator = new TrafficSimulator({ seed: 1, clock, rate });
        for (let second = 0; second < 5; second++) assert.equal(activityCount(simulator.tick(1000)), rate, `rate ${rate}, second ${second}`);
      }
    });

    it('fractions carry across ticks: 7.5 events/s in 250 ms ticks is 15 events in 2 s', () => {
      const simulator = new TrafficSimulator({ seed: 1, clock, rate: 7.5 });
      const counts = Array.from({ length: 8 }, () => activityCount(simulator.tick(250)));
      assert.equal(counts.reduce((a, b) => a + b, 0), 15);
      assert.ok(counts.every((n) => n === 1 || n === 2), `${counts}`);
    });

    it('next(n) gives exactly n events and advances simulated time by n / rate', () => {
      const simulator = new TrafficSimulator({ seed: 1, clock, rate: 50 });
      assert.equal(activityCount(simulator.next(125)), 125);
      assert.equal(simulator.now, START + 2500);
    });

    it('the default rate is 50 events per second', () => {
      const simulator = new TrafficSimulator({ seed: 1, clock });
      assert.equal(simulator.rate, 50);
      assert.equal(activityCount(simulator.tick(3000)), 150);
    });

    it('refuses bad options, naming each', () => {
      assert.throws(
        () => new TrafficSimulator({ seed: 1, clock, rate: 0, maxEventsPerRecord: 0 }),
        (error: Error) => /rate is invalid/.test(error.message) && /maxEventsPerRecord is invalid/.test(error.message),
      );
      assert.throws(() => new TrafficSimulator({ seed: 1, clock: () => Number.NaN }), /clock is invalid/);
      assert.throws(() => new TrafficSimulator({ seed: 1, clock }).tick(-1), /simulatedMs is invalid/);
    });
  });

  describe('round trip through encryption', () => {
    it('one batch of each database: DasRecordFactory → EsdkPayloadDecryptor → gunzipCappedSync → decodeRecord gives its events back', async () => {
      const keys = new InMemoryDataKeys();
      const encryptor = new TrafficEncryptor({ dataKeys: keys, clusters: DEMO_CLUSTERS });
      const simulator = new TrafficSimulator({ seed: 2, clock });
      const batches = simulator.tick(3000);
      for (const cluster of DEMO_CLUSTERS) {
        const batch = batches.find((b) => b.cluster === cluster.name && b.events.some((e) => e['type'] === 'record'));
        assert.ok(batch, `no batch for ${cluster.name}`);
        const record = await encryptor.encrypt(batch);
        assert.equal(record.stream, cluster.stream);
        assert.equal(record.partitionKey, batch.instanceId);

        const envelope = parseEnvelope(record.data);
        assert.equal(envelope.version, cluster.profile.version);
        assert.equal(parseMessageHeader(envelope.payload).suiteId, cluster.profile.suiteId);
        const dataKey = keys.plaintextOf(envelope.key, encryptionContextFor(cluster.resourceId));
        assert.ok(dataKey, 'the data key opens with the database’s encryption context');
        const gzip = await new EsdkPayloadDecryptor().decrypt(envelope.payload, dataKey);
        const decoded = decodeRecord(gunzipCappedSync(gzip), { version: envelope.version });

        assert.deepEqual(decoded, decode(batch));
        assert.equal(decoded.events.length + decoded.heartbeats.length, batch.events.length);
        assert.ok(decoded.events.every((e) => e.engine === ENGINE_OF[cluster.engine]));
      }
    });

    it('encryptBatch makes the same record content with a factory of the caller’s', async () => {
      const keys = new InMemoryDataKeys();
      const [batch] = new TrafficSimulator({ seed: 4, clock, clusters: [DEMO_CLUSTERS[1]!] }).next(10);
      assert.ok(batch);
      const factory = new DasRecordFactory({ resourceId: batch.resourceId, dataKeys: keys, profile: batch.profile });
      const envelope = parseEnvelope(await encryptBatch(factory, batch));
      const dataKey = keys.plaintextOf(envelope.key, encryptionContextFor(batch.resourceId))!;
      const inner = JSON.parse((gunzipCappedSync(await new EsdkPayloadDecryptor().decrypt(envelope.payload, dataKey))).toString('utf8'));
      assert.deepEqual(inner, {
        type: 'DatabaseActivityMonitoringRecord',
        clusterId: batch.clusterId,
        instanceId: batch.instanceId,
        databaseActivityEventList: batch.events,
      });
    });

    it('TrafficEncryptor refuses a batch of a database it was not given', async () => {
      const encryptor = new TrafficEncryptor({ dataKeys: new InMemoryDataKeys(), clusters: [DEMO_CLUSTERS[0]!] });
      const batch = new TrafficSimulator({ seed: 1, clock, clusters: [DEMO_CLUSTERS[2]!] }).next(5)[0]!;
      await assert.rejects(encryptor.encrypt(batch), /no record factory for db-/);
    });
  });
});
