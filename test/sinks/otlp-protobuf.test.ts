/**
 * das-exporter's one-pass protobuf encoder writes exactly the bytes
 * otlp-transformer's ProtobufLogsSerializer writes for the same records:
 * a few minutes of simulated traffic of every engine, grouped under several
 * resources, and events made to leave the direct path (over Loki's entry or
 * byte budget, SQL cut at 256 KiB, capped values, text that is not ASCII),
 * both from mapped records (`encodeLogsRequest`) and straight from events
 * (`LogRecordMapper.encode`).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { TrafficSimulator } from '../../src/demo/traffic.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import { decodeRecord } from '../../src/events/decode.ts';
import { enrichRecord } from '../../src/enrich/stage.ts';
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { encodeLogsRequest, ProtoWriter } from '../../src/sinks/otlp/protobuf.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';

describe('OTLP protobuf encoding', () => {
  const mapper = new LogRecordMapper({
    resources: new ResourceCatalog({ region: 'eu-west-1', accountId: '111122223333', serviceNames: {} }),
    clock: () => new Date('2026-11-22T04:00:00.123Z'),
  });

  it('is byte for byte the library serializer on simulated traffic of every engine', () => {
    const simulator = new TrafficSimulator({ seed: 7, clock: () => Date.parse('2026-11-22T04:00:00Z'), rate: 200 });
    const batches = simulator.tick(180_000);
    const events = batches.flatMap((batch, i) =>
      enrichRecord(
        decodeRecord(JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', clusterId: batch.clusterId, instanceId: batch.instanceId, databaseActivityEventList: batch.events }), {
          version: batch.profile.version,
          position: { stream: batch.stream, shardId: 'shardId-000000000000', sequenceNumber: String(1000 + i) },
        }),
        'passwords',
      ).events,
    );
    assert.ok(events.length > 10_000, `enough events to cover the mix (got ${events.length})`);
    assert.ok(new Set(events.map((e) => e.engine)).size >= 3);
    for (let i = 0; i < events.length; i += 2_000) {
      const slice = events.slice(i, i + 2_000);
      const library = Buffer.from(ProtobufLogsSerializer.serializeRequest(slice.map((e) => mapper.map(e)))!);
      const mapped = Buffer.from(encodeLogsRequest(slice.map((e) => mapper.mapFields(e))));
      assert.ok(mapped.equals(library), `mapped, events ${i}…${i + slice.length}: ${mapped.length} bytes vs ${library.length}`);
      const direct = Buffer.from(mapper.encode(slice));
      assert.ok(direct.equals(library), `direct, events ${i}…${i + slice.length}: ${direct.length} bytes vs ${library.length}`);
    }
  });

  it('writes straight from events what the library writes, for records that leave the direct path and text that is not ASCII', () => {
    const base = {
      type: 'record', clusterId: '', class: 'READ', command: 'QUERY', commandText: 'select 1', databaseName: 'postgres', dbUserName: 'app',
      remoteHost: '10.0.0.1', remotePort: '5432', sessionId: '1', statementId: 1, logTime: '2026-11-22 04:00:00.123456+00',
      serverType: 'PostgreSQL', serviceName: 'Amazon Aurora PostgreSQL-Compatible edition', dbProtocol: 'Postgres 3.0',
    };
    const variants: Record<string, unknown>[] = [
      // Over the entry budget: 200 unknown fields, most of them dropped.
      { ...base, ...Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`field_${i}`, `value ${i}`])) },
      // Over the byte budget: 40 values at the 4 KiB cap.
      { ...base, ...Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`big_${i}`, 'x'.repeat(5000)])) },
      // SQL beyond 256 KiB: the body is cut and query_text_length appears.
      { ...base, commandText: `select '${'é'.repeat(150_000)}'` },
      // Non-ASCII around the one-byte length: 42 and 43 three-byte characters, an astral one, non-ASCII keys.
      { ...base, dbUserName: 'ü'.repeat(42), databaseName: '数'.repeat(43), objectName: `a😀${'b'.repeat(125)}`, 'clé_é': 'välue', [`k${'é'.repeat(70)}`]: 'v' },
      // ASCII at the one-byte length boundary, and a long bind list.
      { ...base, dbUserName: 'u'.repeat(127), databaseName: 'd'.repeat(128), paramList: Array.from({ length: 50 }, (_, i) => (i % 7 === 0 ? null : `p${i}`.repeat(i))) },
      // A trace and a failure.
      { ...base, commandText: "select 1 /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/", exitCode: 1, errorMessage: 'boom' },
    ];
    const events: ActivityEvent[] = variants.map(
      (raw, i) =>
        enrichRecord(decodeRecord(JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', clusterId: 'cluster-X', instanceId: 'db-Y', databaseActivityEventList: [raw] }), {
          version: '1.1',
          position: { stream: 'aws-rds-das-cluster-X', shardId: 'shardId-000000000000', sequenceNumber: String(i) },
        }), 'passwords').events[0]!,
    );
    const records = events.map((e) => mapper.mapFields(e));
    assert.ok(records[0]!.droppedAttributesCount > 50 && records[1]!.droppedAttributesCount > 0, 'both budgets are exceeded');
    assert.ok(records[2]!.attributeKeys.includes('aws.rds.das.query_text_length'), 'the body was cut');
    assert.ok(records[5]!.spanContext?.traceId, 'the trace was read');
    const library = Buffer.from(ProtobufLogsSerializer.serializeRequest(events.map((e) => mapper.map(e)))!);
    for (const [i, event] of events.entries()) {
      const one = Buffer.from(mapper.encode([event]));
      assert.ok(one.equals(Buffer.from(ProtobufLogsSerializer.serializeRequest([mapper.map(event)])!)), `variant ${i}`);
    }
    assert.ok(Buffer.from(mapper.encode(events)).equals(library), 'all variants in one request');
    assert.ok(Buffer.from(mapper.encode([])).equals(Buffer.from(ProtobufLogsSerializer.serializeRequest([])!)));
  });

  it('encodes an empty request as the library does', () => {
    assert.ok(Buffer.from(encodeLogsRequest([])).equals(Buffer.from(ProtobufLogsSerializer.serializeRequest([])!)));
  });

  it('writes a string attribute in one pass exactly as tag + keyValue write it, for any key and text', () => {
    const keys = fc.oneof(fc.constantFrom('db.query.text', 'user.name', 'aws.rds.das.server_version'), fc.string({ unit: 'binary', maxLength: 80 }));
    fc.assert(
      fc.property(keys, fc.string({ unit: 'binary', maxLength: 200 }), fc.boolean(), (key, text, keySeenBefore) => {
        // The one-pass path needs the key's encoded name, which the writer's first write of a key leaves behind.
        const general = new ProtoWriter(8);
        general.tag(6, 2);
        general.keyValue(key, text);
        const onePass = new ProtoWriter(8);
        if (keySeenBefore) {
          onePass.keyValue(key, '');
          onePass.reset();
        }
        onePass.stringAttribute(6, key, text);
        assert.ok(Buffer.from(onePass.finish()).equals(Buffer.from(general.finish())));
      }),
    );
  });
});
