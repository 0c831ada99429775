/**
 * A stand-in for Tempo's service-graph processor, the part of the metrics
 * generator that decides the graph's nodes and edges: there is no Tempo
 * binary on this machine. Read from grafana/tempo
 * modules/generator/processor/servicegraphs/servicegraphs.go and store/ at
 * v2.7.2 (the compose stack's Tempo) and at the 2026 main branch, which also
 * recognises the newer database attributes:
 *
 * - a CLIENT span opens (or completes) the edge keyed by its trace id and span
 *   id: the client is its resource's `service.name`; a peer attribute
 *   (`peer.service`, `db.name`, `db.system`, and on main `db.system.name`)
 *   names a virtual server if no server span comes;
 * - if the CLIENT span is a database call (v2.7.2: `db.name` or `db.system`;
 *   main: `db.namespace`, `db.name`, `db.system` or `db.system.name`), the
 *   edge is of connection type `database` and its server is `peer.service`,
 *   else `server.address`, else `network.peer.address[:port]`, else the
 *   database name: then the client span completes the edge by itself;
 * - a SERVER span fills the edge keyed by its trace id and *parent* span id:
 *   the server is its resource's `service.name`;
 * - an edge is emitted (`traces_service_graph_request_total{client, server,
 *   connection_type}`) once it has both a client and a server, and removed;
 *   an edge left with only a server span and a parent expires unseen.
 * On expiry an edge with a client and a peer attribute but no server becomes
 * an edge to a virtual node, and a root SERVER span's edge one from the
 * virtual client `user` (`connection_type="virtual_node"` both).
 */
import type { ReceivedSpan } from './trace-receiver.ts';

export type TempoVersion = '2.7.2' | 'main';

export interface GraphEdge {
  client: string;
  server: string;
  connectionType: '' | 'database' | 'virtual_node';
  requests: number;
  failed: number;
}

interface Pending {
  client: string;
  server: string;
  connectionType: '' | 'database' | 'virtual_node';
  peerNode: string;
  failed: boolean;
}

const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;
const STATUS_ERROR = 2;

/** The edges Tempo's service graph would count for these spans, processed in the given order; key `client → server (type)`. */
export function serviceGraph(spans: readonly ReceivedSpan[], version: TempoVersion = '2.7.2'): Map<string, GraphEdge> {
  const peerAttributes = version === '2.7.2' ? ['peer.service', 'db.name', 'db.system'] : ['peer.service', 'db.name', 'db.system', 'db.system.name'];
  const databaseAttributes = version === '2.7.2' ? ['db.name', 'db.system'] : ['db.namespace', 'db.name', 'db.system', 'db.system.name'];
  const pending = new Map<string, Pending>();
  const edges = new Map<string, GraphEdge>();
  const emit = (e: Pending) => {
    const key = `${e.client} → ${e.server} (${e.connectionType || 'unknown'})`;
    const edge = edges.get(key) ?? { client: e.client, server: e.server, connectionType: e.connectionType, requests: 0, failed: 0 };
    edge.requests++;
    if (e.failed) edge.failed++;
    edges.set(key, edge);
  };
  const find = (span: ReceivedSpan, name: string): string | undefined => {
    const value = span.resource[name] ?? span.attributes[name];
    return value === undefined ? undefined : String(value);
  };
  for (const span of spans) {
    const service = span.resource['service.name'];
    if (typeof service !== 'string' || (span.kind !== SPAN_KIND_CLIENT && span.kind !== SPAN_KIND_SERVER)) continue;
    const key = span.kind === SPAN_KIND_CLIENT ? `${span.traceId}/${span.spanId}` : `${span.traceId}/${span.parentSpanId}`;
    const edge = pending.get(key) ?? { client: '', server: '', connectionType: '', peerNode: '', failed: false };
    edge.failed ||= span.status.code === STATUS_ERROR;
    const peer = peerAttributes.map((name) => span.attributes[name]).find((v) => v !== undefined);
    if (peer !== undefined) edge.peerNode = String(peer);
    if (span.kind === SPAN_KIND_CLIENT) {
      edge.client = service;
      const dbName = databaseAttributes.map((name) => find(span, name)).find((v) => v !== undefined);
      if (dbName !== undefined) {
        edge.connectionType = 'database';
        const address = find(span, 'network.peer.address');
        const port = find(span, 'network.peer.port');
        // v2.7.2 keeps db.name only as the fallback name; db.system alone names nothing.
        const fallback = version === '2.7.2' ? find(span, 'db.name') : dbName;
        edge.server = find(span, 'peer.service') ?? find(span, 'server.address') ?? (address !== undefined ? (port !== undefined ? `${address}:${port}` : address) : undefined) ?? fallback ?? edge.server;
      }
    } else {
      edge.server = service;
    }
    if (edge.client !== '' && edge.server !== '') {
      emit(edge);
      pending.delete(key);
    } else {
      pending.set(key, edge);
    }
  }
  // Expiry (onExpire): a client with a peer attribute and no server → a virtual server; a root server span → the virtual client `user`.
  for (const [key, edge] of pending) {
    if (edge.client === '' && key.endsWith('/')) emit({ ...edge, client: 'user', connectionType: 'virtual_node' });
    else if (edge.client !== '' && edge.server === '' && edge.peerNode !== '') emit({ ...edge, server: edge.peerNode, connectionType: 'virtual_node' });
  }
  return edges;
}
