/**
 * The audit policy a process runs, and its reloads (SIGHUP, or a file watch
 * when asked for). A reload reads and compiles the whole new file before it
 * replaces anything: a bad file keeps the old policy running and reports why
 * (`/readyz` details, `das_policy_reloads_total{result="failure"}`), and a
 * good one reaches every place records are opened at once, each record
 * evaluated under one policy or the other, never half of each.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { describeError } from '../errors.ts';
import { CompiledPolicy, type CompileOptions } from './compile.ts';
import { parsePolicy, readPolicyText, type PolicyDocument } from './document.ts';
import { isPolicyError } from './errors.ts';

export interface LoadedPolicy {
  /** 1 for the policy read at start, one more for each good reload. */
  generation: number;
  file: string;
  document: PolicyDocument;
  compiled: CompiledPolicy;
  /** Epoch ms of the load. */
  loadedAt: number;
}

export interface PolicyStatus {
  file: string;
  generation: number;
  rules: number;
  mode: PolicyDocument['mode'];
  loadedAt: string;
  /** Why the last reload was refused, while the previous policy keeps running; null after a good one. */
  lastReloadError: string | null;
}

export type ReloadResult = { ok: true; policy: LoadedPolicy } | { ok: false; error: string };

export class PolicyHolder {
  readonly #file: string;
  readonly #compile: CompileOptions;
  readonly #clock: () => number;
  readonly #listeners: ((policy: LoadedPolicy) => void)[] = [];
  readonly #reloaded: ((result: ReloadResult) => void)[] = [];
  #current: LoadedPolicy;
  #generation = 0;
  #lastReloadError: string | null = null;
  /** The text last read from the file, good or not. */
  #text = '';
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;

  /** Reads the file: throws PolicyError (or the read error) when the process should refuse to start. */
  constructor(file: string, options: CompileOptions & { clock?: () => number } = {}) {
    this.#file = file;
    this.#compile = options.names ? { names: options.names } : {};
    this.#clock = options.clock ?? Date.now;
    this.#current = this.#load();
  }

  get current(): LoadedPolicy {
    return this.#current;
  }

  /** Runs with every policy that replaces the current one. */
  onChange(listener: (policy: LoadedPolicy) => void): void {
    this.#listeners.push(listener);
  }

  /** Runs after every reload, good or refused (for its metric and log line). */
  onReload(listener: (result: ReloadResult) => void): void {
    this.#reloaded.push(listener);
  }

  /** Reads the file again; on any problem the current policy stays. */
  reload(): ReloadResult {
    let result: ReloadResult;
    try {
      const policy = this.#load();
      this.#current = policy;
      this.#lastReloadError = null;
      for (const listener of this.#listeners) listener(policy);
      result = { ok: true, policy };
    } catch (error) {
      this.#lastReloadError = isPolicyError(error) ? error.problems.join('; ') : describeError(error);
      result = { ok: false, error: this.#lastReloadError };
    }
    for (const listener of this.#reloaded) listener(result);
    return result;
  }

  /**
   * Reloads when the file changes. The directory is watched, not the file:
   * editors replace a file, and Kubernetes swaps a ConfigMap's files by a
   * symlink (`..data`) that a watch on the file itself never sees. Changes
   * are debounced, and a reload happens only when the file's text changed.
   */
  watch(debounceMs = 250): void {
    if (this.#watcher) return;
    this.#watcher = watch(path.dirname(this.#file), { persistent: false }, () => {
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => {
        let text: string | undefined;
        try {
          text = readFileSync(this.#file, 'utf8');
        } catch {
          // Mid-replace, or removed: the next event, or the next good file, reloads.
        }
        if (text !== undefined && text !== this.#text) this.reload();
      }, debounceMs);
    });
    this.#watcher.on('error', () => {});
  }

  close(): void {
    clearTimeout(this.#debounce);
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  status(): PolicyStatus {
    const p = this.#current;
    return { file: p.file, generation: p.generation, rules: p.document.rules.length, mode: p.document.mode, loadedAt: new Date(p.loadedAt).toISOString(), lastReloadError: this.#lastReloadError };
  }

  #load(): LoadedPolicy {
    const text = readPolicyText(this.#file);
    // Kept whether or not it parses: the watch reloads on a change from the last text read, so reverting a bad edit reloads.
    this.#text = text;
    const document = parsePolicy(text, this.#file);
    const loaded = { generation: this.#generation + 1, file: this.#file, document, compiled: new CompiledPolicy(document, this.#compile), loadedAt: this.#clock() };
    this.#generation = loaded.generation;
    return loaded;
  }
}

