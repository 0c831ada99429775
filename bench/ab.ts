/**
 * `npm run bench:ab -- <other checkout> [0x0178|0x0378] [passes]`: the CPU
 * per event of preparing records (decrypt → gunzip → decode → enrich → OTLP
 * encoding → tally: record/processor.ts, on one thread) in this checkout and
 * in another one, in one process, passes alternating, with medians. On a
 * shared machine whose speed moves by a third from one minute to the next,
 * two runs minutes apart cannot tell a 5 % change; passes interleaved in one
 * process see the same machine. It also checks that both write the same
 * bytes and tallies.
 *
 * The other checkout must resolve its own packages: `git worktree add
 * ../base <commit>` beside this one, then link `../base/node_modules` to
 * this checkout's (a checkout older than its own test/fixtures also needs
 * `../shared` beside it).
 * `npm run bench` is the measurement that counts; this is for deciding
 * whether a change to the per-event path is worth keeping.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { KMSClient } from '@aws-sdk/client-kms';
import { contextResolver } from '../src/cli/wiring.ts';
import { DataKeyCache } from '../src/decrypt/data-keys.ts';
import { LocalKms } from '../src/demo/local-kms.ts';
import { parseEnvelope } from '../src/source/envelope.ts';
import { IN_WORKER, RecordProcessor, type BlockingWork, type PrepareJob, type PrepareSetup } from '../src/record/processor.ts';
import { buildCorpus } from './corpus.ts';
import { LOGS_STEP, METRICS_STEP } from '../src/sinks/prepared.ts';
import { assembleLogsRequest, refsOf, type EncodedLogRecords } from '../src/sinks/otlp/protobuf.ts';

// The AWS SDK's notice about a future Node 22 requirement is not this tool's output.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const [other, suiteArg = '0x0178', passesArg = '40'] = process.argv.slice(2);
if (other === undefined) throw new Error('usage: npm run bench:ab -- <other checkout> [0x0178|0x0378] [passes]');
const suiteId = Number(suiteArg);
const passes = Number(passesArg);
if (suiteId !== 0x0178 && suiteId !== 0x0378) throw new Error(`the suite is 0x0178 or 0x0378 (actual: ${suiteArg})`);
if (!Number.isInteger(passes) || passes < 4) throw new Error(`passes must be a whole number of at least 4 (actual: ${passesArg})`);

// The processor moved from src/workers/prepare.ts (RecordPreparer) to src/record/processor.ts on 2026-12-07.
const otherFile = ['src/record/processor.ts', 'src/workers/prepare.ts'].map((f) => path.resolve(other, f)).find((f) => existsSync(f));
if (otherFile === undefined) throw new Error(`${other} has neither src/record/processor.ts nor src/workers/prepare.ts`);
const otherModule = (await import(pathToFileURL(otherFile).href)) as { RecordProcessor?: typeof RecordProcessor; RecordPreparer?: typeof RecordProcessor; IN_WORKER?: BlockingWork };
const OtherPreparer = (otherModule.RecordProcessor ?? otherModule.RecordPreparer)!;
// As a worker thread prepares records. Checkouts before BlockingWork took the gunzip mode alone ('sync' there is what IN_WORKER says).
const otherWhere = (otherModule.IN_WORKER ?? 'sync') as BlockingWork;

const kms = new LocalKms();
const key = kms.createKey({ alias: 'das-ab' });
const { endpoint } = await kms.listen();
const client = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'ab', secretAccessKey: 'ab' } });
const corpus = (await buildCorpus({ kms: client, keyId: key.keyId, recordsPerCell: 34 })).get(suiteId)!;
const cache = new DataKeyCache({ kms: client });
const contextFor = contextResolver({});
const jobs: PrepareJob[] = [];
for (const [i, r] of corpus.entries()) {
  const data = Buffer.from(r.data, 'base64');
  const envelope = parseEnvelope(data);
  const position = { stream: r.stream, shardId: 'shardId-000000000000', sequenceNumber: String(i) };
  const dataKey = await cache.get(envelope.key, contextFor({ ...position, data }));
  jobs.push({ payload: envelope.payload, dataKey, decode: { version: envelope.version, position }, observedMs: Date.parse('2026-12-01T00:00:00Z') });
}
await kms.close();
const events = corpus.reduce((n, r) => n + r.events, 0);

const setup: PrepareSetup = { redact: 'passwords', maxRecordBytes: 64 * 1024 * 1024, resources: {}, steps: [LOGS_STEP, METRICS_STEP] };
const preparers = { other: new OtherPreparer(setup), this: new RecordProcessor(setup) };
const prepareAll = async (p: RecordProcessor) => {
  const where = p === preparers.other ? otherWhere : IN_WORKER;
  const out = [];
  for (const job of jobs) out.push(await p.prepare(job, where));
  return out;
};

const [a, b] = [await prepareAll(preparers.other), await prepareAll(preparers.this)];
const logsOf = (r: (typeof a)[number]) => r.results[LOGS_STEP] as EncodedLogRecords;
const sameBytes = a.every((r, i) => Buffer.from(logsOf(r).bytes).equals(Buffer.from(logsOf(b[i]!).bytes)));
const sameTallies = JSON.stringify(a.map((r) => r.results[METRICS_STEP])) === JSON.stringify(b.map((r) => r.results[METRICS_STEP]));
// Bytes per event as requests carry them: every record's bytes, plus each request's resources and scope once per record set.
const bytesPerEvent = (side: typeof a) => side.reduce((n, r) => n + Buffer.from(assembleLogsRequest(refsOf(logsOf(r)))).length, 0) / events;
console.log(`${jobs.length} records, ${events} events of suite ${suiteArg}; same bytes: ${sameBytes}, same tallies: ${sameTallies}; OTLP bytes per event (one request per record): other ${bytesPerEvent(a).toFixed(0)}, this ${bytesPerEvent(b).toFixed(0)}`);

const samples: Record<keyof typeof preparers, number[]> = { other: [], this: [] };
for (let pass = 0; pass < passes; pass++) {
  for (const name of ['other', 'this'] as const) {
    const started = process.cpuUsage();
    await prepareAll(preparers[name]);
    const used = process.cpuUsage(started);
    // The first passes compile the hot paths.
    if (pass >= 3) samples[name].push((used.user + used.system) / events);
  }
}
for (const [name, list] of Object.entries(samples)) {
  list.sort((x, y) => x - y);
  const at = (q: number) => list[Math.floor(q * (list.length - 1))]!.toFixed(2);
  console.log(`${name.padEnd(5)} ${at(0.5)} µs per event (median; quartiles ${at(0.25)}–${at(0.75)}) ${name === 'other' ? path.resolve(other) : ''}`);
}
process.exit(sameBytes && sameTallies ? 0 : 1);
