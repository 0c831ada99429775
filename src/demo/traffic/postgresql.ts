/**
 * Aurora PostgreSQL traffic for the `orders-postgres` cluster, as DAS 1.1
 * reports it: pgaudit-style classes (READ, WRITE, FUNCTION, ROLE, DDL, MISC),
 * strings and nulls where the documented examples have them (`exitCode`
 * null, `remotePort` a string, `paramList` a list), session ids
 * `<backend start hex>.<pid hex>`, statement ids counting per session from
 * the CONNECT, and errors only in `errorMessage`.
 */
import type { Rng } from './rng.ts';
import type { SimulatedCluster, SimulatedInstance } from './clusters.ts';
import { cycle, ephemeralPort, instanceFor, SessionPools, sqlcommenter } from './model.ts';
import type { ActivityKind, Actor, EngineSimulation, InstanceEvents, RawDasEvent, Session } from './model.ts';
import { formatMicros } from './time.ts';

const ORDERS_API: Actor = {
  role: 'app', label: 'orders-api', user: 'orders_app', database: 'orders', clientApplication: 'PostgreSQL JDBC Driver',
  hosts: ['10.0.12.31', '10.0.12.47', '10.0.13.8'], controllers: ['orders', 'checkout', 'customers'], framework: 'spring', poolSize: 4,
};
const INVENTORY_WORKER: Actor = {
  role: 'app', label: 'inventory-worker', user: 'inventory_svc', database: 'inventory', clientApplication: 'inventory-worker',
  hosts: ['10.0.14.22'], poolSize: 2,
};
const REPORTING: Actor = {
  role: 'reporting', label: 'metabase', user: 'reporting', database: 'orders', clientApplication: 'Metabase v0.48.6',
  hosts: ['10.0.20.5'], poolSize: 2,
};
const DBA: Actor = { role: 'dba', label: 'dba', user: 'dba_alice', database: 'orders', clientApplication: 'psql', hosts: ['10.8.0.14'], poolSize: 1 };
const UNEXPECTED: Actor = {
  role: 'unexpected', label: 'unexpected', user: 'jdoe', database: 'orders', clientApplication: 'DBeaver 23.2.0 - SQLEditor <Script-3.sql>',
  hosts: ['10.8.0.77'], poolSize: 1,
};
const APPS = [ORDERS_API, INVENTORY_WORKER] as const;

interface PgStatement {
  class: 'READ' | 'WRITE' | 'FUNCTION' | 'ROLE' | 'DDL' | 'MISC';
  command: string;
  text: string;
  objectType: string | null;
  objectName: string | null;
  rowCount: number | null;
  params?: string[];
  errorMessage?: string;
}

export class PostgresSimulation implements EngineSimulation {
  readonly cluster: SimulatedCluster;
  readonly sprayTarget = 'postgres';
  readonly #rng: Rng;
  readonly #sessions: SessionPools;
  #tableSeq = 0;
  #accessSeq = 0;

  constructor(cluster: SimulatedCluster, rng: Rng) {
    this.cluster = cluster;
    this.#rng = rng;
    this.#sessions = new SessionPools(rng, (actor, instance, at) => this.#newSession(actor, instance, at));
  }

  activity(kind: ActivityKind, at: number): InstanceEvents {
    const rng = this.#rng;
    switch (kind) {
      case 'app_read': {
        const app = rng.pick(APPS);
        return this.#run(app, instanceFor(rng, this.cluster, 'read'), at, app === ORDERS_API ? this.#ordersRead(app) : this.#inventoryRead());
      }
      case 'app_write': {
        const app = rng.pick(APPS);
        return this.#run(app, this.#writer, at, app === ORDERS_API ? this.#ordersWrite(app) : this.#inventoryWrite());
      }
      case 'report':
        return this.#run(REPORTING, instanceFor(rng, this.cluster, 'report'), at, this.#report());
      case 'routine': {
        const orderId = String(rng.int(100_000, 999_999));
        return this.#run(ORDERS_API, this.#writer, at, {
          class: 'FUNCTION', command: 'EXECUTE', text: `select public.refresh_order_totals($1)${sqlcommenter(rng, ORDERS_API, 'refresh')}`,
          objectType: 'FUNCTION', objectName: 'public.refresh_order_totals', rowCount: 1, params: [orderId],
        });
      }
      case 'session_churn':
        return this.#churn(rng.pick(APPS), at);
      case 'statement_error':
        return this.#run(ORDERS_API, instanceFor(rng, this.cluster, 'read'), at, this.#error());
      case 'failed_login': {
        // An app or report job with a stale password.
        const actor = rng.pick([ORDERS_API, REPORTING]);
        return this.#authFailure(actor.user, actor.database, rng.pick(actor.hosts), actor.clientApplication, this.#writer, at);
      }
      case 'ddl':
        return this.#run(DBA, this.#writer, at, this.#ddl());
      case 'access_change':
        return this.#run(DBA, this.#writer, at, this.#accessChange());
      case 'unexpected_user':
        return this.#run(UNEXPECTED, instanceFor(rng, this.cluster, 'read'), at, this.#snooping());
    }
  }

  sprayAttempt(user: string, remoteHost: string, at: number): InstanceEvents {
    return this.#authFailure(user, 'postgres', remoteHost, 'psql', this.#writer, at);
  }

  heartbeat(at: number): RawDasEvent {
    return { type: 'heartbeat', logTime: formatMicros(at) };
  }

  get #writer(): SimulatedInstance {
    return this.cluster.instances[0]!;
  }

  #newSession(actor: Actor, instance: SimulatedInstance, at: number): Session {
    const pid = this.#rng.int(1000, 32767);
    return {
      actor, instance, pid,
      sessionId: `${Math.floor(at / 1_000_000).toString(16)}.${pid.toString(16)}`,
      remoteHost: this.#rng.pick(actor.hosts),
      remotePort: ephemeralPort(this.#rng),
      statementSeq: 0,
      connectionId: '',
    };
  }

  /** `statement` in a session of `actor`, preceded by the CONNECT when the session is new. */
  #run(actor: Actor, instance: SimulatedInstance, at: number, statement: PgStatement): InstanceEvents {
    const { session, opened } = this.#sessions.session(actor, instance, at);
    const events: RawDasEvent[] = [];
    let t = at;
    if (opened) {
      const connecting = this.#rng.int(20_000, 60_000);
      events.push(this.#event(session, t, connecting, misc('CONNECT')));
      t += connecting + this.#rng.int(1_000, 20_000);
    }
    events.push(this.#event(session, t, this.#duration(statement), statement));
    return { instanceId: instance.instanceId, events };
  }

  #churn(actor: Actor, at: number): InstanceEvents {
    const instance = instanceFor(this.#rng, this.cluster, 'read');
    const events: RawDasEvent[] = [];
    const closing = this.#sessions.close(actor, instance);
    if (closing !== undefined) events.push(this.#event(closing, at, 200, misc('DISCONNECT')));
    const { session } = this.#sessions.session(actor, instance, at + 500);
    events.push(this.#event(session, at + 500, this.#rng.int(20_000, 60_000), misc('CONNECT')));
    return { instanceId: instance.instanceId, events };
  }

  #authFailure(user: string, database: string, remoteHost: string, clientApplication: string | null, instance: SimulatedInstance, at: number): InstanceEvents {
    const actor: Actor = { role: 'unexpected', label: 'login', user, database, clientApplication, hosts: [remoteHost], poolSize: 0 };
    const session = this.#newSession(actor, instance, at);
    return {
      instanceId: instance.instanceId,
      events: [this.#event(session, at, this.#rng.int(2_000, 9_000), { ...misc('AUTH FAILURE'), errorMessage: `password authentication failed for user "${user}"` })],
    };
  }

  #duration(statement: PgStatement): number {
    if (statement.class === 'DDL') return this.#rng.int(5_000, 400_000);
    if (statement.class === 'READ' && statement.rowCount !== null && statement.rowCount > 100) return this.#rng.int(20_000, 900_000);
    return this.#rng.int(80, 6_000);
  }

  /** The event in the field order and types of the documented Aurora PostgreSQL examples. */
  #event(session: Session, start: number, duration: number, s: PgStatement): RawDasEvent {
    session.statementSeq += 1;
    return {
      startTime: formatMicros(start),
      logTime: formatMicros(start + duration),
      statementId: session.statementSeq,
      substatementId: 1,
      objectType: s.objectType,
      command: s.command,
      objectName: s.objectName,
      databaseName: session.actor.database,
      dbUserName: session.actor.user,
      remoteHost: session.remoteHost,
      remotePort: String(session.remotePort),
      sessionId: session.sessionId,
      rowCount: s.rowCount,
      commandText: s.text === '' ? null : s.text,
      paramList: s.params ?? [],
      pid: session.pid,
      clientApplication: session.actor.clientApplication,
      exitCode: null,
      class: s.class,
      serverVersion: '15.4.1',
      serverType: 'PostgreSQL',
      serviceName: 'Amazon Aurora PostgreSQL-Compatible edition',
      serverHost: session.instance.serverHost,
      netProtocol: 'TCP',
      dbProtocol: 'Postgres 3.0',
      type: 'record',
      errorMessage: s.errorMessage ?? null,
    };
  }

  #ordersRead(app: Actor): PgStatement {
    const rng = this.#rng;
    const c = (action: string) => sqlcommenter(rng, app, action);
    return rng.pick<() => PgStatement>([
      () => read('public.orders', `select id, status, total_cents, created_at from public.orders where customer_id = $1 order by created_at desc limit 20${c('list')}`, rng.int(0, 20), [String(rng.int(1, 250_000))]),
      () => read('public.orders', `select o.id, i.sku, i.quantity, i.unit_price_cents from public.orders o join public.order_items i on i.order_id = o.id where o.id = $1${c('show')}`, rng.int(1, 8), [String(rng.int(100_000, 999_999))]),
      () => read('public.customers', `select id, email, display_name from public.customers where id = $1${c('show')}`, 1, [String(rng.int(1, 250_000))]),
      () => read('public.shipments', `select carrier, tracking_number, status from public.shipments where order_id = $1${c('track')}`, rng.int(0, 2), [String(rng.int(100_000, 999_999))]),
    ])();
  }

  #ordersWrite(app: Actor): PgStatement {
    const rng = this.#rng;
    const c = (action: string) => sqlcommenter(rng, app, action);
    return rng.pick<() => PgStatement>([
      () => write('INSERT', 'public.orders', `insert into public.orders (customer_id, status, total_cents, currency) values ($1, $2, $3, $4) returning id${c('create')}`, 1, [String(rng.int(1, 250_000)), 'pending', String(rng.int(500, 90_000)), 'EUR']),
      () => write('INSERT', 'public.order_items', `insert into public.order_items (order_id, sku, quantity, unit_price_cents) values ($1, $2, $3, $4)${c('create')}`, 1, [String(rng.int(100_000, 999_999)), `SKU-${rng.int(10_000, 19_999)}`, String(rng.int(1, 5)), String(rng.int(200, 20_000))]),
      () => write('UPDATE', 'public.orders', `update public.orders set status = $1, updated_at = now() where id = $2${c('update')}`, 1, [rng.pick(['paid', 'shipped', 'cancelled']), String(rng.int(100_000, 999_999))]),
      () => write('DELETE', 'public.cart_items', `delete from public.cart_items where customer_id = $1${c('checkout')}`, rng.int(0, 6), [String(rng.int(1, 250_000))]),
    ])();
  }

  #inventoryRead(): PgStatement {
    const rng = this.#rng;
    return rng.pick<() => PgStatement>([
      () => read('public.stock_levels', `SELECT sku, warehouse, quantity FROM public.stock_levels WHERE sku = 'SKU-${rng.int(10_000, 19_999)}'`, rng.int(1, 3)),
      () => read('public.products', `SELECT id, sku, name, price_cents FROM public.products WHERE updated_at > now() - interval '5 minutes'`, rng.int(0, 40)),
    ])();
  }

  #inventoryWrite(): PgStatement {
    const rng = this.#rng;
    return rng.pick<() => PgStatement>([
      () => write('UPDATE', 'public.stock_levels', `UPDATE public.stock_levels SET quantity = quantity - ${rng.int(1, 4)} WHERE sku = 'SKU-${rng.int(10_000, 19_999)}' AND warehouse = '${rng.pick(['AMS1', 'FRA2', 'DUB1'])}'`, 1),
      () => write('INSERT', 'public.stock_movements', `INSERT INTO public.stock_movements (sku, delta, reason) VALUES ('SKU-${rng.int(10_000, 19_999)}', ${rng.int(-5, 50)}, 'restock')`, 1),
    ])();
  }

  #report(): PgStatement {
    const rng = this.#rng;
    return rng.pick<() => PgStatement>([
      () => read('public.orders', `SELECT date_trunc('day', created_at) AS day, count(*), sum(total_cents) FROM public.orders WHERE created_at >= now() - interval '30 days' GROUP BY 1 ORDER BY 1`, 30),
      () => read('public.customers', `SELECT c.country, count(DISTINCT o.customer_id) FROM public.orders o JOIN public.customers c ON c.id = o.customer_id GROUP BY c.country`, rng.int(20, 60)),
      () => read('public.order_items', `SELECT sku, sum(quantity) AS units FROM public.order_items GROUP BY sku ORDER BY units DESC LIMIT 100`, 100),
    ])();
  }

  #error(): PgStatement {
    const rng = this.#rng;
    return rng.pick<() => PgStatement>([
      () => ({ class: 'READ', command: 'SELECT', text: `select * from public.order_archive where id = $1${sqlcommenter(rng, ORDERS_API, 'archive')}`, objectType: null, objectName: null, rowCount: null, params: [String(rng.int(1, 99_999))], errorMessage: 'relation "public.order_archive" does not exist' }),
      () => ({ class: 'READ', command: 'SELECT', text: 'select id, totl_cents from public.orders where id = $1', objectType: null, objectName: null, rowCount: null, params: [String(rng.int(100_000, 999_999))], errorMessage: 'column "totl_cents" does not exist' }),
      () => ({ class: 'WRITE', command: 'INSERT', text: `insert into public.customers (email, display_name) values ($1, $2)${sqlcommenter(rng, ORDERS_API, 'signup')}`, objectType: 'TABLE', objectName: 'public.customers', rowCount: 0, params: [`user${rng.int(1, 9999)}@example.com`, 'Demo User'], errorMessage: 'duplicate key value violates unique constraint "customers_email_key"' }),
    ])();
  }

  #ddl(): PgStatement {
    const rng = this.#rng;
    const n = ++this.#tableSeq;
    return cycle<() => PgStatement>(n, [
      () => ({ class: 'DDL', command: 'CREATE TABLE', text: `create table public.order_notes_${n} (id bigserial primary key, order_id bigint not null references public.orders(id), note text);`, objectType: 'TABLE', objectName: `public.order_notes_${n}`, rowCount: null }),
      () => ({ class: 'DDL', command: 'ALTER TABLE', text: `alter table public.orders add column if not exists gift_message_${n} text;`, objectType: 'TABLE', objectName: 'public.orders', rowCount: null }),
      () => ({ class: 'DDL', command: 'CREATE INDEX', text: `create index concurrently if not exists idx_orders_customer_created_${n} on public.orders (customer_id, created_at);`, objectType: 'INDEX', objectName: `public.idx_orders_customer_created_${n}`, rowCount: null }),
      () => ({ class: 'DDL', command: 'DROP TABLE', text: `drop table if exists public.tmp_order_export_${n};`, objectType: 'TABLE', objectName: `public.tmp_order_export_${n}`, rowCount: null }),
    ])();
  }

  #accessChange(): PgStatement {
    const rng = this.#rng;
    const role = (command: string, text: string): PgStatement => ({ class: 'ROLE', command, text, objectType: null, objectName: null, rowCount: null });
    return cycle<() => PgStatement>(++this.#accessSeq, [
      () => role('GRANT', 'GRANT SELECT ON public.orders, public.order_items TO reporting;'),
      () => role('REVOKE', 'REVOKE INSERT, UPDATE ON public.customers FROM inventory_svc;'),
      () => role('CREATE ROLE', `CREATE ROLE analytics_ro_${rng.int(1, 99)} NOLOGIN;`),
      () => role('CREATE ROLE', `CREATE ROLE etl_loader WITH LOGIN PASSWORD '${rng.password()}' VALID UNTIL '2026-01-01';`),
      // PostgreSQL's command tag for ALTER USER is ALTER ROLE.
      () => role('ALTER ROLE', `ALTER USER reporting WITH PASSWORD '${rng.password()}';`),
      () => role('ALTER ROLE', `ALTER ROLE orders_app PASSWORD '${rng.password()}';`),
    ])();
  }

  #snooping(): PgStatement {
    const rng = this.#rng;
    if (rng.chance(0.4)) {
      return { class: 'READ', command: 'SELECT', text: 'SELECT * FROM public.payment_methods LIMIT 200', objectType: null, objectName: null, rowCount: null, errorMessage: 'permission denied for table payment_methods' };
    }
    return read('public.customers', 'SELECT * FROM public.customers LIMIT 200', 200);
  }
}

function misc(command: string): PgStatement {
  return { class: 'MISC', command, text: '', objectType: null, objectName: null, rowCount: null };
}

function read(table: string, text: string, rowCount: number, params?: string[]): PgStatement {
  return { class: 'READ', command: 'SELECT', text, objectType: 'TABLE', objectName: table, rowCount, ...(params ? { params } : {}) };
}

function write(command: string, table: string, text: string, rowCount: number, params?: string[]): PgStatement {
  return { class: 'WRITE', command, text, objectType: 'TABLE', objectName: table, rowCount, ...(params ? { params } : {}) };
}
