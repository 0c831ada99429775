/**
 * `npm run bench:replay [-- --rounds=N]`: whole processes, start-up
 * included, on a Firehose-style archive: `das-exporter replay` (the compiled
 * package, as `npx das-exporter replay` runs it, writing JSON lines) against
 * the published approach run the same way (bench/published-replay.mjs: a KMS
 * call per record, @aws-crypto/client-node, one JSON line per event).
 *
 * The archive is two Firehose objects (envelopes back to back) of about 1,000
 * records each, 1 or 22 events a record: an Aurora PostgreSQL cluster's
 * (suite 0x0178, unsigned) and an Aurora MySQL cluster's (0x0378, signed),
 * about 2,000 records and 23,000 events in all, half of them signed. KMS is
 * a LocalKms in this process; both commands get it through
 * AWS_ENDPOINT_URL_KMS, so the published approach's 2,000 Decrypt calls cost
 * it a local round trip each (on AWS each is a few milliseconds more).
 * Rounds alternate the two; each prints wall time and lines written, and the
 * ratio is the published approach's time over das-exporter's, per round.
 * `--keep=DIR` keeps the archive in DIR and prints both command lines;
 * `BENCH_REPLAY_PROFILE=DIR` writes a CPU profile of each das-exporter run there.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { LocalKms } from '../src/demo/local-kms.ts';
import { buildCorpus } from './corpus.ts';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const ROUNDS = roundsArg ? Number(roundsArg.slice('--rounds='.length)) : 5;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a whole number of at least 1 (actual: ${roundsArg})`);
const root = path.resolve(import.meta.dirname, '..');

const kms = new LocalKms();
const key = kms.createKey({ alias: 'das-replay-bench' });
const { endpoint } = await kms.listen();
const client = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
const corpus = await buildCorpus({ kms: client, keyId: key.keyId, recordsPerCell: 500, eventsPerRecord: [1, 22] });
client.destroy();

/** `--keep=DIR`: write the archive there and keep it (to profile one side: see the commands printed). */
const keepArg = process.argv.find((a) => a.startsWith('--keep='));
const dir = keepArg ? path.resolve(keepArg.slice('--keep='.length)) : mkdtempSync(path.join(os.tmpdir(), 'das-replay-bench-'));
mkdirSync(dir, { recursive: true });
const archives: { file: string; resourceId: string; records: number; events: number }[] = [];
for (const [suite, engine] of [[0x0178, 'postgresql'], [0x0378, 'mysql']] as const) {
  const records = corpus.get(suite)!.filter((r) => r.engine === engine);
  const file = path.join(dir, `${engine}-0x0${suite.toString(16)}.firehose`);
  // What Firehose writes to S3: each Kinesis record's data (the DAS envelope) back to back.
  writeFileSync(file, Buffer.concat(records.map((r) => Buffer.from(r.data, 'base64'))));
  archives.push({ file, resourceId: records[0]!.stream.slice('aws-rds-das-'.length), records: records.length, events: records.reduce((n, r) => n + r.events, 0) });
}
const records = archives.reduce((n, a) => n + a.records, 0);
const events = archives.reduce((n, a) => n + a.events, 0);

const env = {
  ...process.env,
  AWS_ENDPOINT_URL_KMS: endpoint,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};
const commands = {
  'das-exporter replay': [...(process.env['BENCH_REPLAY_PROFILE'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_REPLAY_PROFILE']}`] : []), path.join(root, 'bin', 'das-exporter.js'), 'replay', ...archives.flatMap((a) => [a.file, '--resource-id', `${a.file}=${a.resourceId}`])],
  'published approach': [path.join(root, 'bench', 'published-replay.mjs'), ...archives.map((a) => `${a.file}=${a.resourceId}`)],
} as const;
type Name = keyof typeof commands;

/** Runs one command to its end; its wall time and the lines it wrote (stdout counted, not kept). */
function run(name: Name): Promise<{ ms: number; lines: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, commands[name], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    });
    child.stderr.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) reject(new Error(`${name} exited ${code}: ${stderr.slice(-2000)}`));
      else resolve({ ms, lines });
    });
  });
}

try {
  if (keepArg) for (const name of Object.keys(commands) as Name[]) console.log(`${name}: node ${commands[name].join(' ')}`);
  console.log(`archive: ${records} records, ${events} events (${archives.map((a) => `${path.basename(a.file)}: ${a.records} records, ${a.events} events`).join('; ')})`);
  // One run each first: the files in the page cache, nothing else measured.
  for (const name of Object.keys(commands) as Name[]) await run(name);
  const ratios: number[] = [];
  const times: Record<Name, number[]> = { 'das-exporter replay': [], 'published approach': [] };
  for (let round = 1; round <= ROUNDS; round++) {
    const order: Name[] = round % 2 === 1 ? ['das-exporter replay', 'published approach'] : ['published approach', 'das-exporter replay'];
    const got = {} as Record<Name, { ms: number; lines: number }>;
    for (const name of order) got[name] = await run(name);
    for (const name of order) times[name].push(got[name].ms);
    ratios.push(got['published approach'].ms / got['das-exporter replay'].ms);
    if (got['published approach'].lines !== got['das-exporter replay'].lines) console.log(`round ${round}: the two wrote different numbers of lines: not the same work`);
    console.log(`round ${round}: ${order.map((n) => `${n} ${(got[n].ms / 1000).toFixed(2)} s (${got[n].lines} lines)`).join(', ')}; ratio ${ratios.at(-1)!.toFixed(2)}×`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
  const range = (xs: number[], digits: number, scale = 1) => `${(Math.min(...xs) / scale).toFixed(digits)}–${(Math.max(...xs) / scale).toFixed(digits)}`;
  console.log(
    `\nreplay, whole process: das-exporter ${(median(times['das-exporter replay']) / 1000).toFixed(2)} s (${range(times['das-exporter replay'], 2, 1000)}), ` +
      `published approach ${(median(times['published approach']) / 1000).toFixed(2)} s (${range(times['published approach'], 2, 1000)}); ` +
      `das-exporter ${median(ratios).toFixed(2)}× the published approach (${range(ratios, 2)}, ${ROUNDS} rounds); KMS Decrypt calls in all: ${kms.calls['Decrypt'] ?? 0}`,
  );
} finally {
  if (!keepArg) rmSync(dir, { recursive: true, force: true });
  await kms.close();
}
