/**
 * A process that wants one stream's checkpoint lock, for the lock takeover
 * tests: a FileCheckpointStore on a directory shared with other such
 * processes, under a host name the test chooses (so two children on this
 * machine are "two hosts" to each other). It tries to take the stream until
 * it gets it, then checkpoints shard s0 `step` further every `everyMs`.
 * Each thing that happens is one JSON line on stdout:
 *
 *   {"event":"refused"}                      the lock is another live process's
 *   {"event":"held","checkpoint":"…"}         it took the stream; s0's checkpoint then
 *   {"event":"checkpointed","checkpoint":"…"} a checkpoint written
 *   {"event":"paused"} {"event":"resumed"}    around a pause (SIGUSR2)
 *   {"event":"lost","error":"…"}              a checkpoint refused: the lock is gone
 *
 *   node --import tsx test/support/lock-child.ts '{"dir":…,"stream":…,"hostname":…,"lockTimeoutMs":…,"everyMs":…,"step":…,"pauseMs":…}'
 *
 * SIGUSR2 blocks its event loop for `pauseMs`, as a long GC pause or a frozen
 * VM would: no heartbeat, no write, and then it carries on where it was.
 * SIGTERM shuts the store down cleanly and exits.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { FileCheckpointStore } from '../../src/source/checkpoints/file-store.ts';
import { LeaseLostError, StreamOwnedError } from '../../src/source/checkpoints/store.ts';
import { jsonLogger } from '../../src/source/kinesis/observer.ts';

export interface LockChildOptions {
  dir: string;
  stream: string;
  hostname: string;
  lockTimeoutMs: number;
  everyMs: number;
  step: number;
  pauseMs: number;
}

export type LockChildEvent =
  | { event: 'refused' | 'paused' | 'resumed' }
  | { event: 'held' | 'checkpointed'; checkpoint: string }
  | { event: 'lost'; error: string };

const options = JSON.parse(process.argv[2] ?? '{}') as LockChildOptions;
const emit = (event: LockChildEvent) => void process.stdout.write(JSON.stringify(event) + '\n');

const store = new FileCheckpointStore({ dir: options.dir, hostname: options.hostname, lockTimeoutMs: options.lockTimeoutMs, log: jsonLogger() });

process.on('SIGUSR2', () => {
  emit({ event: 'paused' });
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, options.pauseMs);
  emit({ event: 'resumed' });
});
process.once('SIGTERM', () => {
  void store.shutdown().finally(() => process.exit(0));
});

for (;;) {
  try {
    await store.initialize([options.stream]);
    break;
  } catch (error) {
    if (!(error instanceof StreamOwnedError)) throw error;
    emit({ event: 'refused' });
    await delay(100);
  }
}
await store.syncShards(options.stream, [{ shardId: 's0', parentShardIds: [] }]);
const [lease] = await store.acquire(options.stream);
let position = BigInt(lease?.checkpoint ?? '0');
emit({ event: 'held', checkpoint: String(position) });

for (;;) {
  await delay(options.everyMs);
  position += BigInt(options.step);
  try {
    await store.checkpoint(options.stream, 's0', String(position));
    emit({ event: 'checkpointed', checkpoint: String(position) });
  } catch (error) {
    if (!(error instanceof LeaseLostError)) throw error;
    emit({ event: 'lost', error: error.name });
    break;
  }
}
// Lost: the process stays, as a consumer would, and writes nothing more.
setInterval(() => {}, 1_000);
