import assert from 'node:assert/strict';
import { parsePolicy, PolicyError } from '../../src/policy/document.ts';

function problems(text: string): readonly string[] {
  try {
    parsePolicy(text, 'p.yaml');
  } catch (error) {
    assert.ok(error instanceof PolicyError, `a PolicyError, not ${String(error)}`);
    return error.problems;
  }
  assert.fail('the policy was accepted');
}

describe('policy file', () => {
  it('reads the shape the issue fixes: version, mode, rules of name, match, action (and severity)', () => {
    const policy = parsePolicy(
      ['version: 1', 'mode: all-match', 'rules:', '  - name: ignore-app-reads', '    match: { user: app_user, class: READ }', '    action: drop',
        '  - name: card-data', '    match: { objects: ["payments.card*"], outcome: success }', '    action: alert', '    severity: critical'].join('\n'),
    );
    assert.equal(policy.mode, 'all-match');
    assert.deepEqual(policy.rules.map((r) => [r.name, r.action, r.severity]), [['ignore-app-reads', 'drop', undefined], ['card-data', 'alert', 'critical']]);
    // A single value reads as a list of one.
    assert.deepEqual(policy.rules[0]!.match.user, ['app_user']);
    assert.deepEqual(policy.rules[1]!.match.outcome, ['success']);
  });

  it('names the line and column of an unknown match key', () => {
    assert.deepEqual(problems(['version: 1', 'mode: first-match', 'rules:', '  - name: r', '    match:', '      usr: app', '    action: tag'].join('\n')), [
      'p.yaml:6:7: rules.0.match: unknown key "usr"',
    ]);
  });

  it('names the line and column of a bad value, and reports every problem at once', () => {
    const found = problems(
      ['version: 1', 'mode: any-match', 'rules:', '  - name: r', '    match: { time: { hours: "9-17", tz: Mars/Base } }', '    action: alert', '    severity: loud'].join('\n'),
    );
    assert.equal(found.length, 4, found.join('\n'));
    assert.match(found[0]!, /^p\.yaml:2:7: mode: /);
    assert.match(found.find((p) => p.includes('hours'))!, /^p\.yaml:5:29: rules\.0\.match\.time\.hours: expected a range "HH:MM-HH:MM"/);
    assert.match(found.find((p) => p.includes('tz'))!, /^p\.yaml:5:41: rules\.0\.match\.time\.tz: expected an IANA time zone/);
    assert.match(found.find((p) => p.includes('severity'))!, /^p\.yaml:7:15: rules\.0\.severity: /);
  });

  it('refuses a regex that does not compile, a rule name used twice, and a drop rule with a severity', () => {
    const found = problems(
      ['version: 1', 'mode: all-match', 'rules:', '  - name: a', '    match: { user: "/[unclosed/" }', '    action: tag',
        '  - name: a', '    match: {}', '    action: drop', '    severity: critical'].join('\n'),
    );
    assert.ok(found.some((p) => /^p\.yaml:5:20: rules\.0\.match\.user: not a valid regex/.test(p)), found.join('\n'));
    assert.ok(found.some((p) => /^p\.yaml:7:11: rules\.1\.name: rule name "a" is used twice/.test(p)), found.join('\n'));
    assert.ok(found.some((p) => /^p\.yaml:10:15: rules\.1\.severity: a drop rule has no severity/.test(p)), found.join('\n'));
  });

  it('a YAML syntax error is reported with its position; a missing key points at its map', () => {
    assert.match(problems('version: 1\nmode: [all-match\n')[0]!, /^p\.yaml:\d+:\d+: /);
    assert.deepEqual(problems('version: 1\nrules: []\n'), ['p.yaml:1:1: mode: Invalid option: expected one of "first-match"|"all-match"']);
    assert.match(problems('version: 2\nmode: all-match\nrules: []\n')[0]!, /^p\.yaml:1:10: version: expected version: 1/);
  });

  it('refuses what would silently match nothing or everything: a CIDR out of range, an empty hour range, an unknown weekday, a path read as a regex', () => {
    const found = problems(
      ['version: 1', 'mode: all-match', 'rules:', '  - name: r', '    match:', '      remote_host: [10.0.0.0/33, "fd00::/8", 10.0.0/8]',
        '      time: { days: [monkey, Tuesday], hours: ["08:00-08:00", "22:00-24:59"] }', '      client_application: /usr/bin/psql', '    action: tag'].join('\n'),
    );
    assert.ok(found.some((p) => /remote_host: not a CIDR: 10\.0\.0\.0\/33/.test(p)), found.join('\n'));
    assert.ok(found.some((p) => /remote_host: not a CIDR: 10\.0\.0\/8/.test(p)), found.join('\n'));
    assert.ok(!found.some((p) => p.includes('fd00')), 'an IPv6 CIDR is fine');
    assert.ok(found.some((p) => /time\.days\.0: expected a weekday .*"monkey"/.test(p)), found.join('\n'));
    assert.ok(!found.some((p) => p.includes('days.1')), 'full day names are fine');
    assert.equal(found.filter((p) => /time\.hours\.[01]: expected a range/.test(p)).length, 2, found.join('\n'));
    assert.ok(found.some((p) => /client_application: not a valid regex: .*write a path as a glob/.test(p)), found.join('\n'));
  });
});
