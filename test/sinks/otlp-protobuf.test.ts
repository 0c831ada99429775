/**
 * das-exporter's one-pass protobuf encoder writes exactly the bytes
 * otlp-transformer's ProtobufLogsSerializer writes for the same records:
 * the documented examples and a few minutes of simulated traffic of every
 * engine, grouped under several resources.
 */
import assert from 'node:assert/strict';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { TrafficSimulator } from '../../src/demo/traffic.ts';
import { decodeRecord } from '../../src/events/decode.ts';
import { enrichRecord } from '../../src/enrich/stage.ts';
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { encodeLogsRequest } from '../../src/sinks/otlp/protobuf.ts';
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
      const ours = Buffer.from(encodeLogsRequest(slice.map((e) => mapper.mapFields(e))));
      const library = Buffer.from(ProtobufLogsSerializer.serializeRequest(slice.map((e) => mapper.map(e)))!);
      assert.ok(ours.equals(library), `events ${i}…${i + slice.length}: ${ours.length} bytes vs ${library.length}`);
    }
  });

  it('encodes an empty request as the library does', () => {
    assert.ok(Buffer.from(encodeLogsRequest([])).equals(Buffer.from(ProtobufLogsSerializer.serializeRequest([])!)));
  });
});
