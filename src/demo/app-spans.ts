/**
 * The application side of the demo's traced statements, so that the demo's
 * Tempo shows whole waterfalls without a real application: for each
 * statement a simulated service sent with a sqlcommenter traceparent, the
 * request that made it (a SERVER span of the service, `controller#action`
 * from the comment's tags) and the database call (a CLIENT span whose span
 * id is the traceparent's, so das-exporter's SERVER span of the same
 * statement is its child). The client span has `db.system.name`,
 * `server.address` and `peer.service` (the database's service name), which
 * Tempo's service graph pairs with the server span into an edge from the
 * service to the database.
 *
 * Spans are sent straight to the OTLP traces endpoint, a request per traffic
 * tick; a failed request is dropped (and said once): these are the demo's
 * stand-in for an application, not audit data.
 */
import { SpanKind, SpanStatusCode, type Attributes, type SpanContext } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { decodeRecord } from '../events/decode.ts';
import type { ActivityEvent } from '../events/model.ts';
import { enrichRecord } from '../enrich/stage.ts';
import type { Logger } from '../source/kinesis/observer.ts';
import type { OtlpExporterConfig } from '../sinks/otlp/config.ts';
import { DB_SYSTEM, hrTimeFromNanos } from '../sinks/otlp/mapping.ts';
import { spanIdOf, timesOf } from '../sinks/otlp/spans.ts';
import type { TrafficBatch } from './traffic/simulator.ts';

/** The simulated services that append sqlcommenter comments, by database user. */
export const TRACED_SERVICES: Readonly<Record<string, string>> = { orders_app: 'orders-api', payments_app: 'payments-api', crm_app: 'crm-web' };

const SCOPE = { name: 'das-exporter-demo-app' };
const MS = 1_000_000n;

export class DemoAppSpans {
  readonly #config: OtlpExporterConfig;
  readonly #databases: Readonly<Record<string, string>>;
  readonly #log: Logger;
  readonly #resources = new Map<string, Resource>();
  #pending: ReadableSpan[] = [];
  #warned = false;

  /** `databases`: the friendly service name of each cluster or instance resource id, the server spans' service.name. */
  constructor(options: { config: OtlpExporterConfig; databases: Readonly<Record<string, string>>; log: Logger }) {
    this.#config = options.config;
    this.#databases = options.databases;
    this.#log = options.log;
  }

  /** Notes the application spans of a tick's traced statements. */
  record(batches: readonly TrafficBatch[]): void {
    for (const batch of batches) {
      if (!batch.events.some((e) => typeof e['commandText'] === 'string' && (e['commandText'] as string).includes('traceparent'))) continue;
      const raw = { type: 'DatabaseActivityMonitoringRecord', clusterId: batch.clusterId, instanceId: batch.instanceId, databaseActivityEventList: batch.events };
      const { events } = enrichRecord(decodeRecord(JSON.stringify(raw), { version: batch.profile.version }), 'passwords');
      for (const event of events) this.#spansOf(event, batch.resourceId);
    }
  }

  /** Sends what was noted. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const spans = this.#pending;
    this.#pending = [];
    const json = this.#config.protocol === 'http/json';
    const body = json ? JsonTraceSerializer.serializeRequest(spans) : ProtobufTraceSerializer.serializeRequest(spans);
    try {
      const response = await fetch(this.#config.endpoint, {
        method: 'POST',
        headers: { ...this.#config.headers, 'content-type': json ? 'application/json' : 'application/x-protobuf' },
        body,
        signal: AbortSignal.timeout(this.#config.timeoutMs),
      });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
    } catch (error) {
      if (!this.#warned) this.#log.warn('demo: the simulated applications\' spans could not be sent; dropping them', { error: error instanceof Error ? error.message : String(error) });
      this.#warned = true;
    }
  }

  #spansOf(event: ActivityEvent, resourceId: string): void {
    const trace = event.enrichment?.trace;
    const service = event.dbUserName === null ? undefined : TRACED_SERVICES[event.dbUserName];
    if (!trace || service === undefined) return;
    const { start, end } = timesOf(event);
    if (start === null) return;
    // The display text: MySQL's DAS escaping (\') undone.
    const tags = tagsOf(event.enrichment?.queryText ?? event.commandText ?? '');
    const rootId = spanIdOf(`${trace.traceId}/${trace.spanId}/request`);
    const resource = this.#resourceOf(service);
    const context = (spanId: string): SpanContext => ({ traceId: trace.traceId, spanId, traceFlags: trace.traceFlags });
    const failed = event.outcome === 'failure';
    const common = { resource, links: [], events: [], ended: true, instrumentationScope: SCOPE, droppedAttributesCount: 0, droppedEventsCount: 0, droppedLinksCount: 0 };
    // The database call: a millisecond of network on each side of the database's own span.
    const clientStart = start - MS;
    const clientEnd = end + MS;
    const database = this.#databases[resourceId] ?? resourceId;
    const clientAttributes: Attributes = {
      'db.system.name': DB_SYSTEM[event.engine],
      'server.address': event.serverHost ?? database,
      'peer.service': database,
      ...(event.databaseName ? { 'db.namespace': event.databaseName } : {}),
      ...(event.enrichment?.querySummary ? { 'db.query.summary': event.enrichment.querySummary } : {}),
    };
    const client: ReadableSpan = {
      ...common,
      name: event.enrichment?.querySummary ?? event.enrichment?.operationName ?? DB_SYSTEM[event.engine],
      kind: SpanKind.CLIENT,
      spanContext: () => context(trace.spanId),
      parentSpanContext: context(rootId),
      startTime: hrTimeFromNanos(clientStart),
      endTime: hrTimeFromNanos(clientEnd),
      duration: hrTimeFromNanos(clientEnd - clientStart),
      status: failed ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.UNSET },
      attributes: clientAttributes,
    };
    // The request that made it: a few milliseconds of application work around the call.
    const rootStart = clientStart - 3n * MS;
    const rootEnd = clientEnd + 2n * MS;
    const root: ReadableSpan = {
      ...common,
      name: tags.controller && tags.action ? `${tags.controller}#${tags.action}` : `${service} request`,
      kind: SpanKind.SERVER,
      spanContext: () => context(rootId),
      startTime: hrTimeFromNanos(rootStart),
      endTime: hrTimeFromNanos(rootEnd),
      duration: hrTimeFromNanos(rootEnd - rootStart),
      status: { code: SpanStatusCode.UNSET },
      attributes: { ...(tags.framework ? { 'demo.framework': tags.framework } : {}), ...(tags.controller ? { 'demo.controller': tags.controller } : {}) },
    };
    this.#pending.push(root, client);
  }

  #resourceOf(service: string): Resource {
    let resource = this.#resources.get(service);
    if (resource === undefined) this.#resources.set(service, (resource = resourceFromAttributes({ 'service.name': service, 'service.namespace': 'das-exporter-demo' })));
    return resource;
  }
}

/** The sqlcommenter tags of a statement (`key='url-encoded value'`). */
function tagsOf(sql: string): Record<string, string> {
  const comment = /\/\*([^*]*)\*\/\s*;?\s*$/.exec(sql)?.[1] ?? '';
  const tags: Record<string, string> = {};
  for (const [, key, value] of comment.matchAll(/(\w+)='([^']*)'/g)) {
    try {
      tags[key!] = decodeURIComponent(value!);
    } catch {
      // A malformed tag is left out.
    }
  }
  return tags;
}
