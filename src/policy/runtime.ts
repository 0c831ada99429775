/**
 * The audit policy as a running process has it: read at start (an invalid
 * file refuses the start), reloaded on SIGHUP or, with `--policy-watch`, when
 * the file changes, with what each reload did on /metrics and in the log.
 * `run`, `demo` and `replay` all take their policy from here.
 */
import type { Logger } from '../source/kinesis/observer.ts';
import type { DasMetrics } from '../telemetry/metrics.ts';
import { PolicyHolder, type LoadedPolicy, type PolicyStatus, type ReloadResult } from './holder.ts';

export interface PolicyRuntimeOptions {
  file: string;
  /** Friendly names per resource id, which `cluster`/`instance` match too. */
  names?: Readonly<Record<string, string>>;
  /** Reload when the file changes (off by default: SIGHUP reloads). */
  watch?: boolean;
  metrics?: DasMetrics;
  log?: Logger;
}

export class PolicyRuntime {
  readonly #holder: PolicyHolder;
  readonly #metrics: DasMetrics | undefined;

  /** Throws PolicyError when the file is invalid: the process must not start. */
  constructor(options: PolicyRuntimeOptions) {
    this.#holder = new PolicyHolder(options.file, options.names ? { names: options.names } : {});
    this.#metrics = options.metrics;
    const log = options.log;
    this.#publish(this.#holder.current, null);
    this.#holder.onReload((result: ReloadResult) => {
      this.#metrics?.policyReloads.inc({ result: result.ok ? 'success' : 'failure' });
      if (result.ok) {
        this.#publish(result.policy, this.#previousRules);
        log?.info('audit policy reloaded', { file: result.policy.file, rules: result.policy.document.rules.length, mode: result.policy.document.mode, generation: result.policy.generation });
      } else {
        log?.error('audit policy reload refused; the previous policy keeps running', { file: options.file, error: result.error });
      }
    });
    if (options.watch) this.#holder.watch();
  }

  get current(): LoadedPolicy {
    return this.#holder.current;
  }

  /** Runs with every policy that replaces the current one. */
  onChange(listener: (policy: LoadedPolicy) => void): void {
    this.#holder.onChange(listener);
  }

  reload(): ReloadResult {
    return this.#holder.reload();
  }

  status(): PolicyStatus {
    return this.#holder.status();
  }

  close(): void {
    this.#holder.close();
  }

  #previousRules: readonly string[] = [];

  /** The gauges of a policy now running: its rules (0 until they match, kept for rules it keeps) and when it was loaded. */
  #publish(policy: LoadedPolicy, before: readonly string[] | null): void {
    const rules = policy.document.rules.map((r) => r.name);
    const m = this.#metrics;
    if (m) {
      m.policyRules.reset();
      m.policyRules.set({ mode: policy.document.mode }, rules.length);
      m.policyLoadedTimestamp.set(policy.loadedAt / 1000);
      for (const gone of before ?? []) if (!rules.includes(gone)) m.policyRuleLastMatch.remove({ rule: gone });
      for (const rule of rules) if (!(before ?? []).includes(rule)) m.policyRuleLastMatch.set({ rule }, 0);
    }
    this.#previousRules = rules;
  }
}
