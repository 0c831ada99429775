/**
 * Loaded by mocha before any test (see .mocharc.json): the AWS SDK's notice
 * about a future Node 22 requirement would otherwise print in every suite.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * Property tests outside test/fuzz run with one fixed fast-check seed, so a
 * run of the suite is repeatable and CI cannot fail on a counterexample that
 * no commit introduced. `FC_SEED=<int>` picks another seed, `FC_SEED=random`
 * a new one per run (fast-check prints it with any counterexample): run that
 * nightly, and turn what it finds into a fixed test.
 */
import fc from 'fast-check';

const fcSeed = process.env.FC_SEED ?? '20261122';
if (fcSeed !== 'random') {
  if (!Number.isSafeInteger(Number(fcSeed))) throw new Error(`FC_SEED must be an integer or "random" (actual: ${fcSeed})`);
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: Number(fcSeed) });
}
