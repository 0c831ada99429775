/**
 * Turns delivered events into Prometheus metrics, and binds the exporter's
 * own health metrics to the pipeline, the data-key cache and the consumer.
 *
 * `MetricsSink` is a Sink like any other: it counts statements, errors,
 * logins and rows, observes event lag, and tracks the newest event and
 * heartbeat per instance. It never holds a batch back, so it always answers
 * delivered. A statement whose SQL carried trace context leaves its trace id
 * as the exemplar of its `das_statements_total` series.
 *
 * Events are counted as tallies (metrics-tally.ts): groups of events with the
 * same label values, made here from the batch's events or, when the records
 * were opened in worker threads, made there and sent along with the batch.
 * Label values are bounded here, once, by the rules of telemetry/cardinality.ts;
 * success and login come from the event (events/outcome.ts decided them).
 *
 * Series are also bounded over time (telemetry/series-expiry.ts): an instance
 * not seen for the expiry (default 24 h; an event or a heartbeat is a sighting)
 * loses its last-event and last-heartbeat gauges and its `das_statements_total`
 * series, and a cluster none of whose instances was seen for as long loses its
 * per-cluster series. `forgetUnseen()` does it; the app calls it every minute.
 */
import type { Counter, LabelValues } from 'prom-client';
import type { DataKeyObserver, KmsRequestOutcome } from '../decrypt/data-keys.ts';
import { dispositionOf, type FailureReason } from '../errors.ts';
import type { Heartbeat } from '../events/model.ts';
import type { PipelineObserver } from '../pipeline.ts';
import type { SourceRecord } from '../source/record.ts';
import { DEFAULT_MAX_LABEL_LENGTH, DEFAULT_TOP_N, TopValues, capLength } from '../telemetry/cardinality.ts';
import type { DasMetrics, StatementLabel } from '../telemetry/metrics.ts';
import { DEFAULT_SERIES_EXPIRY_MS, SeriesExpiry } from '../telemetry/series-expiry.ts';
import { epochSeconds, tallyEvents, type EventTally } from './metrics-tally.ts';
import type { PolicyOutcome } from '../events/model.ts';
import { METRICS_STEP, preparedBy } from './prepared.ts';
import { DELIVERED, eventCount, type Sink, type SinkBatch, type SinkResult } from './sink.ts';
import { SUBSCRIPTION_END_REASONS } from '../source/kinesis/consumer-modes.ts';

export interface MetricsSinkOptions {
  /** Distinct `user`, `database` and `code` values kept per label before folding into `__other__`. Default 50. */
  topN?: number;
  /** Longest label value; longer ones are cut. Default 128. */
  maxLabelLength?: number;
  /** Wall clock in epoch milliseconds, for event lag and series expiry. */
  clock?: () => number;
  /** An instance or cluster not seen for this long has its series removed by `forgetUnseen()`. Default 24 h. */
  seriesExpiryMs?: number;
}

/** What one `forgetUnseen()` removed. */
export interface ForgottenSeries {
  /** Instances (`cluster`, `db_instance`) whose gauges and statement series went. */
  instances: { cluster: string; instance: string }[];
  /** Clusters whose per-cluster series went. */
  clusters: string[];
}

export class MetricsSink implements Sink {
  readonly name = 'metrics';
  readonly prepareStep = METRICS_STEP;
  readonly #metrics: DasMetrics;
  readonly #users: TopValues;
  readonly #databases: TopValues;
  readonly #codes: TopValues;
  readonly #maxLength: number;
  readonly #clock: () => number;
  readonly #lastEvent = new Map<string, number>();
  readonly #lastHeartbeat = new Map<string, number>();
  /** Owners keyed as the two maps above, `cluster\u0000instance`. */
  readonly #instances: SeriesExpiry;
  readonly #clusters: SeriesExpiry;

  constructor(metrics: DasMetrics, options: MetricsSinkOptions = {}) {
    const topN = options.topN ?? DEFAULT_TOP_N;
    this.#maxLength = options.maxLabelLength ?? DEFAULT_MAX_LABEL_LENGTH;
    this.#metrics = metrics;
    this.#users = new TopValues(topN, this.#maxLength);
    this.#databases = new TopValues(topN, this.#maxLength);
    this.#codes = new TopValues(topN, this.#maxLength);
    this.#clock = options.clock ?? Date.now;
    const expiryMs = options.seriesExpiryMs ?? DEFAULT_SERIES_EXPIRY_MS;
    this.#instances = new SeriesExpiry(expiryMs, this.#clock);
    this.#clusters = new SeriesExpiry(expiryMs, this.#clock);
  }

  async write(batch: SinkBatch): Promise<SinkResult> {
    const nowSeconds = this.#clock() / 1000;
    for (const tally of preparedBy<EventTally>(batch.prepared, METRICS_STEP) ?? [tallyEvents(batch.events, batch.policy)]) this.#apply(tally, nowSeconds);
    for (const heartbeat of batch.heartbeats) this.#countHeartbeat(heartbeat);
    return DELIVERED;
  }

  async close(): Promise<void> {}

  /** Removes the series of every instance and cluster not seen for the expiry; the gauges start afresh if one comes back. */
  forgetUnseen(): ForgottenSeries {
    const instances = this.#instances.forgetUnseen().map((key) => {
      this.#lastEvent.delete(key);
      this.#lastHeartbeat.delete(key);
      const [cluster = '', instance = ''] = key.split('\u0000');
      return { cluster, instance };
    });
    return { instances, clusters: this.#clusters.forgetUnseen() };
  }

  /** Rule names come from the policy file, which bounds them (at most 200 rules). */
  #applyPolicy(policy: PolicyOutcome, nowSeconds: number): void {
    const m = this.#metrics;
    for (const { rule, count } of policy.dropped) {
      m.policyEventsDropped.inc({ rule }, count);
      m.policyRuleLastMatch.set({ rule }, nowSeconds);
    }
    for (const { rule, action, severity, count, traceId } of policy.matched) {
      const labels = { rule, action, severity };
      if (traceId !== null) m.policyMatches.inc({ labels, value: count, exemplarLabels: traceExemplar<'rule' | 'action' | 'severity'>(traceId) });
      else m.policyMatches.inc({ labels, value: count });
      m.policyRuleLastMatch.set({ rule }, nowSeconds);
    }
    for (const { rule, count } of policy.keptProtected) m.policyDropsRefused.inc({ rule }, count);
  }

  #apply(tally: EventTally, nowSeconds: number): void {
    const m = this.#metrics;
    for (const group of tally.statements) {
      const cluster = capLength(group.cluster, this.#maxLength);
      const instance = capLength(group.instance, this.#maxLength);
      const owner = this.#sighted(cluster, instance);
      const user = this.#users.label(group.user, group.admit);
      const eventClass = group.eventClass;
      const command = group.command;
      const labels = {
        cluster,
        db_instance: instance,
        engine: group.engine,
        database: this.#databases.label(group.database, group.admit),
        class: eventClass,
        command,
        outcome: group.outcome,
      };
      const n = group.count;
      if (group.traceId !== null) m.statements.inc({ labels, value: n, exemplarLabels: traceExemplar(group.traceId) });
      else m.statements.inc({ labels, value: n });
      this.#instances.track(owner, m.statements, labels);
      this.#count(m.userStatements, { cluster, user, class: eventClass }, n);
      if (group.code !== null) this.#count(m.statementErrors, { cluster, engine: group.engine, command, code: this.#codes.label(group.code) }, n);
      if (group.isLogin) this.#count(m.loginAttempts, { cluster, user, outcome: group.outcome }, n);
      if (group.rows > 0) this.#count(m.statementRows, { cluster, class: eventClass }, group.rows);
    }
    for (const { engine, count } of tally.redactionsFailedClosed) m.redactionFailClosed.inc({ engine }, count);
    if (tally.policy) this.#applyPolicy(tally.policy, nowSeconds);
    for (const times of tally.logTimes) {
      const cluster = capLength(times.cluster, this.#maxLength);
      const instance = capLength(times.instance, this.#maxLength);
      const owner = this.#sighted(cluster, instance);
      const lag = m.eventLag.labels({ cluster });
      this.#clusters.track(cluster, m.eventLag, { cluster });
      let newest = -Infinity;
      // A database clock ahead of ours is not negative lag.
      for (const seconds of times.seconds) {
        lag.observe(Math.max(0, nowSeconds - seconds));
        if (seconds > newest) newest = seconds;
      }
      this.#advance(this.#lastEvent, m.lastEventTimestamp, owner, cluster, instance, newest);
    }
  }

  #countHeartbeat(heartbeat: Heartbeat): void {
    const logTime = epochSeconds(heartbeat.logTimeUnixNano);
    if (logTime === null) return;
    const { cluster, instance } = this.#where(heartbeat);
    const owner = this.#sighted(cluster, instance);
    this.#advance(this.#lastHeartbeat, this.#metrics.lastHeartbeatTimestamp, owner, cluster, instance, logTime);
  }

  /** An event or heartbeat of this instance was delivered: it and its cluster are alive. Returns the instance's key. */
  #sighted(cluster: string, instance: string): string {
    const key = `${cluster}\u0000${instance}`;
    this.#instances.seen(key);
    this.#clusters.seen(cluster);
    return key;
  }

  /** Counts on a per-cluster counter, its series kept while the cluster is seen. */
  #count<T extends string>(counter: Counter<T>, labels: LabelValues<T> & { cluster: string }, n: number): void {
    counter.inc(labels, n);
    this.#clusters.track(labels.cluster, counter, labels);
  }

  #where(from: { clusterId: string | null; instanceId: string | null }): { cluster: string; instance: string } {
    return {
      cluster: capLength(from.clusterId ?? from.instanceId ?? '', this.#maxLength),
      instance: capLength(from.instanceId ?? '', this.#maxLength),
    };
  }

  // Shards deliver out of order with each other; the gauge only moves forward (until forgotten).
  #advance(seen: Map<string, number>, gauge: DasMetrics['lastEventTimestamp'], key: string, cluster: string, instance: string, seconds: number): void {
    if ((seen.get(key) ?? -Infinity) >= seconds) return;
    seen.set(key, seconds);
    const labels = { cluster, db_instance: instance };
    gauge.set(labels, seconds);
    this.#instances.track(key, gauge, labels);
  }
}

// prom-client's typings give exemplars the metric's own label names; an exemplar has its own (`trace_id`).
function traceExemplar<L extends string = StatementLabel>(traceId: string): LabelValues<L> {
  return { trace_id: traceId } as LabelValues<L>;
}

/** Counts KMS requests and cache lookups of the data-key cache (decrypt/data-keys.ts). */
export function metricsDataKeyObserver(metrics: DasMetrics): DataKeyObserver {
  return {
    kmsRequest: (outcome: KmsRequestOutcome) => metrics.kmsRequests.inc({ outcome }),
    cacheLookup: (result: 'hit' | 'miss') => metrics.dataKeyCacheLookups.inc({ result }),
  };
}

/**
 * Counts records, events, dead letters and sink retries as the pipeline
 * reports them. Records and events are counted when their batch is done, so
 * a batch read again after a shutdown is not counted twice in one process.
 * Retries while opening records are not export retries (KMS throttling shows
 * in `das_kms_requests_total`).
 */
export function metricsPipelineObserver(metrics: DasMetrics, options: { maxLabelLength?: number } = {}): PipelineObserver {
  const maxLength = options.maxLabelLength ?? DEFAULT_MAX_LABEL_LENGTH;
  const setAside = new WeakSet<SourceRecord>();
  return {
    recordFailed(record: SourceRecord, reason: FailureReason) {
      if (dispositionOf(reason) === 'permanent') setAside.add(record);
    },
    deadLettered(reason: string) {
      metrics.deadLetters.inc({ reason: capLength(reason, maxLength) });
    },
    retrying(stage: string) {
      if (stage !== 'open') metrics.exportRetries.inc({ sink: capLength(stage, maxLength) });
    },
    batchDelivered(records: readonly SourceRecord[], batch: SinkBatch) {
      const first = records[0];
      if (first === undefined) return;
      const stream = capLength(first.stream, maxLength);
      const deadLettered = records.filter((record) => setAside.has(record)).length;
      if (records.length > deadLettered) metrics.records.inc({ stream, outcome: 'delivered' }, records.length - deadLettered);
      if (deadLettered > 0) metrics.records.inc({ stream, outcome: 'dead_lettered' }, deadLettered);
      const events = eventCount(batch);
      if (events > 0) metrics.events.inc({ stream, type: 'record' }, events);
      if (batch.heartbeats.length > 0) metrics.events.inc({ stream, type: 'heartbeat' }, batch.heartbeats.length);
    },
  };
}

/** What the Kinesis consumer reports about its streams and shards. */
export interface StreamHealth {
  /** After each GetRecords: Kinesis's MillisBehindLatest for the shard. */
  setMillisBehindLatest(stream: string, shard: string, ms: number): void;
  /** When a shard ends or its lease is lost: drop its series so it does not linger. */
  forgetShard(stream: string, shard: string): void;
  /** Enhanced fan-out: a subscription started, ended (by reason), or pushed an event. */
  subscriptionStarted(stream: string, shard: string): void;
  subscriptionEnded(stream: string, shard: string, reason: string): void;
  subscriptionReceived(stream: string, shard: string, records: number, bytes: number): void;
  /** When a stream starts consuming (true) or stops (false, e.g. KMS access denied). */
  setStreamUp(stream: string, up: boolean): void;
  /** After each lease renewal round. */
  setLeasesHeld(stream: string, leases: number): void;
}

export function metricsStreamHealth(metrics: DasMetrics, options: { maxLabelLength?: number } = {}): StreamHealth {
  const maxLength = options.maxLabelLength ?? DEFAULT_MAX_LABEL_LENGTH;
  const cap = (value: string) => capLength(value, maxLength);
  return {
    setMillisBehindLatest: (stream, shard, ms) => {
      if (Number.isFinite(ms)) metrics.millisBehindLatest.set({ stream: cap(stream), shard: cap(shard) }, ms);
    },
    forgetShard: (stream, shard) => {
      const labels = { stream: cap(stream), shard: cap(shard) };
      metrics.millisBehindLatest.remove(labels);
      metrics.efoSubscriptions.remove(labels);
      metrics.efoReceivedRecords.remove(labels);
      metrics.efoReceivedBytes.remove(labels);
      for (const reason of SUBSCRIPTION_END_REASONS) metrics.efoSubscriptionsEnded.remove({ ...labels, reason });
    },
    subscriptionStarted: (stream, shard) => metrics.efoSubscriptions.inc({ stream: cap(stream), shard: cap(shard) }),
    subscriptionEnded: (stream, shard, reason) => {
      const known = (SUBSCRIPTION_END_REASONS as readonly string[]).includes(reason) ? reason : 'unexpected';
      metrics.efoSubscriptionsEnded.inc({ stream: cap(stream), shard: cap(shard), reason: known });
    },
    subscriptionReceived: (stream, shard, records, bytes) => {
      const labels = { stream: cap(stream), shard: cap(shard) };
      metrics.efoReceivedRecords.inc(labels, records);
      metrics.efoReceivedBytes.inc(labels, bytes);
    },
    setStreamUp: (stream, up) => metrics.streamUp.set({ stream: cap(stream) }, up ? 1 : 0),
    setLeasesHeld: (stream, leases) => {
      if (Number.isFinite(leases)) metrics.leasesHeld.set({ stream: cap(stream) }, leases);
    },
  };
}
