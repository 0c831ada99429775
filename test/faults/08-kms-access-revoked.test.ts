/**
 * Fault 8: KMS access revoked (a key policy edit, a role losing kms:Decrypt).
 * Nothing is wrong with the records, so nothing may be dead-lettered: the
 * stream stops, /readyz answers 503 naming `kms_access_denied`,
 * `das_stream_up` is 0, no checkpoint moves past what was delivered, and once
 * access is granted again the stream resumes on its own (a re-probe with
 * backoff) and delivers the held-back events.
 *
 * The producer's data keys are made before access is revoked, as the
 * database made them before the policy changed; the records written during
 * the denial need keys the exporter has not cached, so they really reach KMS.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { encryptionContextFor } from '../../src/source/resource.ts';
import { FaultLab } from './harness/lab.ts';
import { checkpointAheadOfLedger, readCheckpoints } from './harness/ledger-check.ts';
import { PrefetchedDataKeys } from './harness/producer.ts';
import { FAULT_SEED } from './harness/random.ts';
import { recordRow, verdictColumns } from './harness/results.ts';

const CLUSTER = 'cluster-FAULTKMSDENIED00000000000';
const BEFORE = 400;
const DURING = 400;
const DENIAL_HOLD_MS = 3_000;

describe('fault 8: KMS access revoked', function () {
  let lab: FaultLab;
  before(async () => {
    lab = await FaultLab.start('kms-denied');
  });
  after(async () => lab?.close());

  it('stops the stream without dead-lettering, reports why, and resumes by itself when access returns', async () => {
    const stream = await lab.stream(CLUSTER, 2);
    const dataKeys = await PrefetchedDataKeys.fetch(lab.kmsClient, lab.keyId, encryptionContextFor(CLUSTER), 80);
    const producer = lab.producer({ stream, clusterId: CLUSTER, tag: 'kms', seed: FAULT_SEED + 8, dataKeys, recordsPerDataKey: 4 });
    await producer.write(BEFORE);
    const exporter = lab.exporter(stream);
    await lab.until('the events written before the denial', () => (lab.delivered().size >= BEFORE ? true : undefined), 60_000);

    lab.kms.denyAccess(true);
    const deniedAt = Date.now();
    const decryptsBefore = lab.kmsProxy.stats().byOperation.Decrypt ?? 0;
    await producer.write(DURING);
    const readyz = await lab.until(
      '/readyz to say the stream stopped for kms_access_denied',
      async () => {
        const r = await exporter.readyz();
        return r.status === 503 && r.body.streams.some((s) => s.stream === stream && s.reason === 'kms_access_denied') ? r : undefined;
      },
      30_000,
      100,
    );
    const stoppedAfterMs = Date.now() - deniedAt;
    assert.equal(await exporter.metric('das_stream_up', { stream }), 0, 'das_stream_up is 0');
    await new Promise((r) => setTimeout(r, DENIAL_HOLD_MS));
    const checkpointFile = path.join(lab.stateDir, `${stream}.checkpoints.json`);
    const duringDenial = lab.verdict(producer);
    const deadLetteredUids = new Set(duringDenial.deadLetters.map((d) => d.eventId ?? ''));
    assert.deepEqual(checkpointAheadOfLedger(readCheckpoints(checkpointFile), producer.produced, lab.delivered(), deadLetteredUids), [], 'no checkpoint past an undelivered event');
    assert.equal(duringDenial.deadLetters.length, 0, 'nothing dead-lettered while KMS refuses');
    assert.ok(duringDenial.delivered < BEFORE + DURING, 'the stream really stopped');
    const decryptsDuringDenial = (lab.kmsProxy.stats().byOperation.Decrypt ?? 0) - decryptsBefore;

    lab.kms.denyAccess(false);
    const restoredAt = Date.now();
    await lab.until('every event after access returns', () => (lab.delivered().size >= BEFORE + DURING ? true : undefined), 60_000, 100);
    const recoveryMs = Date.now() - restoredAt;
    await lab.until('/readyz 200 again', async () => ((await exporter.readyz()).status === 200 ? true : undefined), 10_000, 100);
    assert.equal(await exporter.metric('das_stream_up', { stream }), 1, 'das_stream_up is 1 again');
    assert.equal(await exporter.stop(), 0, 'clean stop');

    const v = lab.verdict(producer);
    assert.deepEqual(v.lost, []);
    assert.equal(v.deadLetters.length, 0, 'nothing dead-lettered');
    assert.deepEqual(v.orderViolations, []);
    recordRow({
      scenario: '8 KMS access revoked',
      ...verdictColumns(v),
      recoveryMs,
      recoveredWhen: 'access granted → every held-back event delivered',
      notes: `stopped ${(stoppedAfterMs / 1000).toFixed(1)} s after the denial: /readyz 503 ${JSON.stringify(readyz.body.streams.map((s) => s.reason))}, das_stream_up 0; ${decryptsDuringDenial} Decrypt calls during ${((restoredAt - deniedAt) / 1000).toFixed(1)} s of denial; resumed by the consumer's re-probe (10 s base backoff), no restart`,
    });
  });
});
