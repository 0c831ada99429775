/**
 * Keeps metric series bounded over time, as cardinality.ts keeps them bounded
 * at any one moment: the series of something that stopped showing up (a
 * database instance deleted, a cluster gone) are removed once it has not been
 * seen for the expiry (default 24 h), so they neither alert forever nor pile
 * up over the life of the process.
 *
 * Series belong to an owner (an instance, a cluster). `seen(owner)` marks the
 * owner alive now; `track(owner, metric, labels)` remembers a series it owns;
 * `forgetUnseen()` removes every series of every owner not seen for the
 * expiry, and forgets the owner. Removal runs synchronously, start to end, so
 * it cannot interleave with an update on this thread: an event counted before
 * it renewed its owner and keeps its series; one counted after it creates the
 * series afresh. Nothing counted is lost.
 */
import type { LabelValues } from 'prom-client';

export const DEFAULT_SERIES_EXPIRY_MS = 24 * 60 * 60 * 1000;

/**
 * The shortest expiry the configuration accepts, 1 hour. A heartbeat gauge
 * must outlive the DASAuditGap alert by far (deploy/prometheus/rules.yaml:
 * 2 minutes without a heartbeat, for 1 minute): the alert fires for as long
 * as the gauge stays, then resolves when it is removed. An hour leaves the
 * alert time to fire, notify and repeat; test/deploy checks the rule's window
 * against this floor.
 */
export const MIN_SERIES_EXPIRY_SECONDS = 3600;

/** What a prom-client Counter, Gauge or Histogram offers for removing one series. */
export interface RemovableMetric {
  remove(labels: LabelValues<string>): void;
}

interface Owned {
  seenAt: number;
  series: Map<RemovableMetric, Map<string, LabelValues<string>>>;
}

export class SeriesExpiry {
  readonly #expiryMs: number;
  readonly #clock: () => number;
  readonly #owners = new Map<string, Owned>();

  /** `clock`: wall clock in epoch milliseconds. */
  constructor(expiryMs: number = DEFAULT_SERIES_EXPIRY_MS, clock: () => number = Date.now) {
    if (!(expiryMs > 0) || !Number.isFinite(expiryMs)) throw new RangeError(`series expiry must be a number of milliseconds greater than 0 (actual: ${expiryMs})`);
    this.#expiryMs = expiryMs;
    this.#clock = clock;
  }

  /** Marks `owner` alive now. */
  seen(owner: string): void {
    const now = this.#clock();
    const owned = this.#owners.get(owner);
    if (owned) owned.seenAt = now;
    else this.#owners.set(owner, { seenAt: now, series: new Map() });
  }

  /** Remembers that the series `labels` of `metric` belongs to `owner` (marked seen, if it was not). */
  track(owner: string, metric: RemovableMetric, labels: LabelValues<string>): void {
    let owned = this.#owners.get(owner);
    if (!owned) {
      this.seen(owner);
      owned = this.#owners.get(owner)!;
    }
    let series = owned.series.get(metric);
    if (!series) owned.series.set(metric, (series = new Map()));
    const key = Object.values(labels).join('\u0000');
    if (!series.has(key)) series.set(key, labels);
  }

  /** Removes the series of every owner not seen for the expiry; returns the owners forgotten. */
  forgetUnseen(): string[] {
    const now = this.#clock();
    const forgotten: string[] = [];
    for (const [owner, owned] of this.#owners) {
      if (now - owned.seenAt < this.#expiryMs) continue;
      for (const [metric, series] of owned.series) for (const labels of series.values()) metric.remove(labels);
      this.#owners.delete(owner);
      forgotten.push(owner);
    }
    return forgotten;
  }

  /** Owners being tracked. */
  get size(): number {
    return this.#owners.size;
  }
}
