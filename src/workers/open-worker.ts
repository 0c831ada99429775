/**
 * A worker thread of the prepare pool (pool.ts): prepares each record it is
 * sent (record/processor.ts) and answers with the result, or with the failure as
 * plain data (reason and message of a DasError) for the main thread to throw.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { describeError, isDasError } from '../errors.ts';
import { IN_WORKER, RecordProcessor, type PrepareSetup } from '../record/processor.ts';
import { transferListOf, type JobMessage, type PolicyMessage, type ResultMessage } from './messages.ts';

const port = parentPort;
if (port === null) throw new Error('open-worker.ts runs as a worker thread of the prepare pool');
const preparer = new RecordProcessor(workerData as PrepareSetup);

port.on('message', (message: JobMessage | PolicyMessage) => {
  if ('policy' in message) preparer.addPolicy(message.policy);
  else void answer(message);
});

async function answer({ id, job }: JobMessage): Promise<void> {
  let reply: ResultMessage;
  try {
    reply = { id, prepared: await preparer.prepare(job, IN_WORKER) };
  } catch (error) {
    reply = isDasError(error) ? { id, failure: { reason: error.reason, message: error.message } } : { id, failure: { message: describeError(error) } };
  } finally {
    // The key was copied for this job alone.
    job.dataKey.fill(0);
  }
  port!.postMessage(reply, 'prepared' in reply ? transferListOf(reply.prepared) : []);
}
