/**
 * SIGHUP with --policy (cli/run.ts reloadPolicyOnHangup): handled from
 * before the app starts, so one sent as soon as the process says it started
 * neither kills it (Node's default for SIGHUP) nor is lost.
 */
import assert from 'node:assert/strict';
import { reloadPolicyOnHangup } from '../../src/cli/run.ts';

describe('SIGHUP reloads the policy', () => {
  it('a SIGHUP before the app is attached reloads once it is; after stop, SIGHUP is not handled', () => {
    const listeners = process.listenerCount('SIGHUP');
    const hangups = reloadPolicyOnHangup('policy.yaml');
    assert.equal(process.listenerCount('SIGHUP'), listeners + 1, 'handled before the app exists');
    process.emit('SIGHUP');
    let reloads = 0;
    hangups.attach({ reloadPolicy: () => (reloads++, null) });
    assert.equal(reloads, 1, 'the early SIGHUP is not lost');
    process.emit('SIGHUP');
    assert.equal(reloads, 2);
    hangups.stop();
    assert.equal(process.listenerCount('SIGHUP'), listeners);
  });

  it('without --policy SIGHUP is left alone', () => {
    const listeners = process.listenerCount('SIGHUP');
    const hangups = reloadPolicyOnHangup(undefined);
    assert.equal(process.listenerCount('SIGHUP'), listeners);
    hangups.attach({ reloadPolicy: () => assert.fail('no reload without a policy') });
    hangups.stop();
  });
});
