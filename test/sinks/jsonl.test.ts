/**
 * replay's JSON lines: each event and heartbeat as one line, its
 * epoch-nanosecond times as decimal strings (JSON numbers cannot hold them),
 * every other field as decoded, in the model's key order.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { enrichRecord } from '../../src/enrich/stage.ts';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import { Writable } from 'node:stream';
import { JsonlSink, toJsonLine } from '../../src/sinks/jsonl.ts';
import { DECRYPTED_EXAMPLES, readJsonFixture } from '../support/fixtures.ts';

/** What a line must say: the value with every bigint, wherever it is, written as its decimal string. */
const reference = (value: unknown): string => JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v));

describe('JSON lines (replay)', () => {
  const files = ['aurora-postgresql-select.json', 'aurora-postgresql-connect.json', 'aurora-mysql-select-main.json', 'aurora-mysql-select-aux.json', 'aurora-mysql-connect.json', 'rds-sqlserver-select.json'];

  it('writes every documented event and a heartbeat with their times as decimal strings, the rest as decoded', () => {
    let checked = 0;
    for (const file of files) {
      const json = readJsonFixture(path.join(DECRYPTED_EXAMPLES, file)) as Record<string, any>;
      const inner = json.type === 'DatabaseActivityMonitoringRecords' ? json.databaseActivityEvents : json;
      inner.databaseActivityEventList.push({ type: 'heartbeat', logTime: '2024-05-01 12:00:00.123456+00' });
      const decoded = enrichRecord(decodeRecord(JSON.stringify(inner), { version: '1.2', position: { stream: 's', shardId: 'shardId-0', sequenceNumber: '7' } }), 'passwords');
      for (const value of [...decoded.events, ...decoded.heartbeats]) {
        const line = toJsonLine(value);
        assert.equal(line, reference(value), file);
        const parsed = JSON.parse(line) as Record<string, unknown>;
        assert.equal(parsed['logTimeUnixNano'], value.logTimeUnixNano === null ? null : String(value.logTimeUnixNano));
        checked++;
      }
    }
    assert.ok(checked >= 12, `events and heartbeats of every engine (${checked})`);
  });

  it('writes a bigint found elsewhere as a string too, rather than throwing', () => {
    const event = decodeRecord(JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', databaseActivityEventList: [{ type: 'record', logTime: '2024-05-01 12:00:00+00' }] }), { version: '1.2' }).events[0]! as ActivityEvent & { extra: Record<string, unknown> };
    event.extra = { odd: 12345678901234567890n };
    assert.equal(toJsonLine(event), reference(event));
    assert.match(toJsonLine(event), /"odd":"12345678901234567890"/);
  });

  it('writes a large batch as its lines in order, in chunks, and waits for a slow reader', async () => {
    const list = Array.from({ length: 400 }, (_, i) => ({ type: 'record', logTime: '2024-05-01 12:00:00+00', commandText: `SELECT ${i}, '${'x'.repeat(500)}'` }));
    list.push({ type: 'heartbeat', logTime: '2024-05-01 12:00:01+00' } as (typeof list)[number]);
    const decoded = decodeRecord(JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', databaseActivityEventList: list }), { version: '1.2' });
    const chunks: string[] = [];
    let drained = 0;
    // A reader that takes each chunk later: writes past its small buffer return false until it drains.
    const out = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        setImmediate(done);
      },
    });
    out.on('drain', () => drained++);
    for (const heartbeats of [false, true]) {
      chunks.length = 0;
      const result = await new JsonlSink(out, { heartbeats }).write({ events: decoded.events, heartbeats: decoded.heartbeats });
      assert.deepEqual(result, { status: 'delivered', rejected: [] });
      const expected = [...decoded.events, ...(heartbeats ? decoded.heartbeats : [])].map((v) => `${toJsonLine(v)}\n`).join('');
      // Every write asked to wait (32 KiB chunks, a 1 KiB buffer), so write resolved on drain: the reader has every chunk.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(chunks.join(''), expected);
      assert.ok(chunks.length > 5, `several chunks (${chunks.length})`);
      assert.ok(chunks.every((c) => c.length < 64 * 1024), 'no chunk near the large-object size');
    }
    assert.ok(drained > 0, 'the sink waited for drain');
  });

  it('writes nothing of a batch when a line cannot be made (the retry then repeats no line)', async () => {
    const list = Array.from({ length: 200 }, (_, i) => ({ type: 'record', logTime: '2024-05-01 12:00:00+00', commandText: `SELECT ${i}, '${'x'.repeat(500)}'` }));
    const decoded = decodeRecord(JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', databaseActivityEventList: list }), { version: '1.2' });
    // The 150th event holds a value no JSON line can hold (a cycle).
    const broken = decoded.events[150] as ActivityEvent & { extra: Record<string, unknown> };
    broken.extra = {};
    broken.extra['self'] = broken.extra;
    let written = 0;
    const out = new Writable({ write: (chunk: Buffer, _encoding, done) => ((written += chunk.length), done()) });
    await assert.rejects(new JsonlSink(out).write({ events: decoded.events, heartbeats: [] }), TypeError);
    assert.equal(written, 0, 'no line of the batch was written');
  });
});
