/**
 * Aurora MySQL traffic for the `payments-mysql` cluster, as DAS 1.2 reports
 * it (Aurora MySQL 2, MySQL 5.7.12): each statement is a MAIN event (command
 * QUERY, the SQL) plus one AUX event per object touched (READ, WRITE,
 * CREATE, ALTER, DROP) sharing sessionId and statementId, AUX with
 * `exitCode: ""` and an earlier logTime, listed before or after MAIN.
 * `exitCode` is the server error as a string ("0", "1045", "1064", "1146"),
 * `errorMessage` stays "", `clientApplication` and `paramList` are null, and
 * every quotation mark in `commandText` arrives preceded by a backslash.
 * MySQL 5.7 has no CREATE ROLE, so access changes are users and grants.
 */
import type { Rng } from './rng.ts';
import type { SimulatedCluster, SimulatedInstance } from './clusters.ts';
import { cycle, ephemeralPort, instanceFor, SessionPools, sqlcommenter } from './model.ts';
import type { ActivityKind, Actor, EngineSimulation, InstanceEvents, RawDasEvent, Session } from './model.ts';
import { formatMicros } from './time.ts';

const PAYMENTS_API: Actor = {
  role: 'app', label: 'payments-api', user: 'payments_app', database: 'payments', clientApplication: null,
  hosts: ['10.1.12.15', '10.1.12.16', '10.1.13.40'], controllers: ['payments', 'refunds', 'merchants'], framework: 'django', poolSize: 4,
};
const LEDGER_BATCH: Actor = {
  role: 'app', label: 'ledger-batch', user: 'ledger_batch', database: 'payments', clientApplication: null, hosts: ['10.1.14.9'], poolSize: 2,
};
const REPORTING: Actor = { role: 'reporting', label: 'reporting', user: 'reporting', database: 'payments', clientApplication: null, hosts: ['10.0.20.5'], poolSize: 2 };
const DBA: Actor = { role: 'dba', label: 'dba', user: 'dba_bob', database: 'payments', clientApplication: null, hosts: ['10.8.0.15'], poolSize: 1 };
const UNEXPECTED: Actor = { role: 'unexpected', label: 'unexpected', user: 'tmp_contractor', database: 'payments', clientApplication: null, hosts: ['10.8.0.91'], poolSize: 1 };
const APPS = [PAYMENTS_API, LEDGER_BATCH] as const;

type AuxCommand = 'READ' | 'WRITE' | 'CREATE' | 'ALTER' | 'DROP';

interface MysqlStatement {
  /** SQL as the client sent it; escaped for DAS when rendered. */
  text: string;
  /** Tables touched, each an AUX event; empty for statements with no object (grants, errors). */
  objects: { name: string; command: AuxCommand }[];
  rowCount: number;
  exitCode?: string;
}

interface InstanceState {
  pid: number;
  nextSessionId: number;
  nextStatementId: number;
  nextTransactionId: number;
}

export class MysqlSimulation implements EngineSimulation {
  readonly cluster: SimulatedCluster;
  readonly sprayTarget = 'admin';
  readonly #rng: Rng;
  readonly #sessions: SessionPools;
  readonly #instances = new Map<string, InstanceState>();
  #tableSeq = 0;
  #accessSeq = 0;

  constructor(cluster: SimulatedCluster, rng: Rng) {
    this.cluster = cluster;
    this.#rng = rng;
    this.#sessions = new SessionPools(rng, (actor, instance) => this.#newSession(actor, instance));
    for (const instance of cluster.instances) {
      this.#instances.set(instance.instanceId, {
        // Aurora MySQL reports the server process, the same for every session.
        pid: rng.int(1000, 9999),
        nextSessionId: rng.int(100_000, 900_000),
        nextStatementId: rng.int(10_000_000, 90_000_000),
        nextTransactionId: rng.int(1_000_000, 9_000_000),
      });
    }
  }

  activity(kind: ActivityKind, at: number): InstanceEvents {
    const rng = this.#rng;
    switch (kind) {
      case 'app_read': {
        const app = rng.pick(APPS);
        return this.#run(app, instanceFor(rng, this.cluster, 'read'), at, this.#appRead(app));
      }
      case 'app_write': {
        const app = rng.pick(APPS);
        return this.#run(app, this.#writer, at, this.#appWrite(app));
      }
      case 'report':
        return this.#run(REPORTING, instanceFor(rng, this.cluster, 'report'), at, this.#report());
      case 'routine':
        return this.#run(LEDGER_BATCH, this.#writer, at, {
          text: `CALL settle_merchant_batch(${rng.int(1000, 9999)}, '${rng.pick(['EUR', 'USD', 'GBP'])}')`,
          objects: [{ name: 'ledger_entries', command: 'WRITE' }, { name: 'payments', command: 'WRITE' }],
          rowCount: 0,
        });
      case 'session_churn':
        return this.#churn(rng.pick(APPS), at);
      case 'statement_error':
        return this.#run(rng.pick(APPS), instanceFor(rng, this.cluster, 'read'), at, this.#error());
      case 'failed_login': {
        const actor = rng.pick([PAYMENTS_API, REPORTING]);
        return this.#failedConnect(actor.user, actor.database, rng.pick(actor.hosts), this.#writer, at);
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
    return this.#failedConnect(user, '', remoteHost, this.#writer, at);
  }

  heartbeat(at: number): RawDasEvent {
    return { type: 'heartbeat', logTime: formatMicros(at) };
  }

  get #writer(): SimulatedInstance {
    return this.cluster.instances[0]!;
  }

  #state(instance: SimulatedInstance): InstanceState {
    return this.#instances.get(instance.instanceId)!;
  }

  #newSession(actor: Actor, instance: SimulatedInstance): Session {
    const state = this.#state(instance);
    return {
      actor, instance,
      pid: state.pid,
      sessionId: String(state.nextSessionId++),
      remoteHost: this.#rng.pick(actor.hosts),
      remotePort: ephemeralPort(this.#rng),
      statementSeq: 0,
      connectionId: '',
    };
  }

  #run(actor: Actor, instance: SimulatedInstance, at: number, statement: MysqlStatement): InstanceEvents {
    const { session, opened } = this.#sessions.session(actor, instance, at);
    const events: RawDasEvent[] = [];
    let t = at;
    if (opened) {
      events.push(this.#connection(session, 'CONNECT', '0', t));
      t += this.#rng.int(1_000, 20_000);
    }
    events.push(...this.#statement(session, statement, t));
    return { instanceId: instance.instanceId, events };
  }

  #churn(actor: Actor, at: number): InstanceEvents {
    const instance = instanceFor(this.#rng, this.cluster, 'read');
    const events: RawDasEvent[] = [];
    const closing = this.#sessions.close(actor, instance);
    if (closing !== undefined) events.push(this.#connection(closing, 'DISCONNECT', '0', at));
    const { session } = this.#sessions.session(actor, instance, at + 500);
    events.push(this.#connection(session, 'CONNECT', '0', at + 500));
    return { instanceId: instance.instanceId, events };
  }

  /** A refused login: CONNECT with MySQL error 1045 (access denied). */
  #failedConnect(user: string, database: string, remoteHost: string, instance: SimulatedInstance, at: number): InstanceEvents {
    const actor: Actor = { role: 'unexpected', label: 'login', user, database, clientApplication: null, hosts: [remoteHost], poolSize: 0 };
    return { instanceId: instance.instanceId, events: [this.#connection(this.#newSession(actor, instance), 'CONNECT', '1045', at)] };
  }

  #connection(session: Session, command: 'CONNECT' | 'DISCONNECT', exitCode: string, at: number): RawDasEvent {
    return this.#event(session, {
      logTime: at + 7, startTime: at, endTime: at + 6, command, commandText: '', objectName: '',
      statementId: 0, substatementId: 1, exitCode, rowCount: 0, transactionId: '0', class: 'MAIN',
    });
  }

  /** MAIN and its AUX events; AUX first about a third of the time, as DAS may list them either way. */
  #statement(session: Session, s: MysqlStatement, start: number): RawDasEvent[] {
    const state = this.#state(session.instance);
    const statementId = (state.nextStatementId += this.#rng.int(1, 40));
    const writes = s.objects.some((o) => o.command !== 'READ');
    const transactionId = writes && s.exitCode === undefined ? String(state.nextTransactionId++) : '0';
    const duration = this.#rng.int(40, s.objects.some((o) => o.command === 'CREATE' || o.command === 'ALTER') ? 300_000 : 4_000);
    const main = this.#event(session, {
      logTime: start + duration, startTime: start, endTime: start + duration + 1,
      command: 'QUERY', commandText: escapeQuotes(s.text), objectName: s.objects[0]?.name ?? '',
      statementId, substatementId: 1, exitCode: s.exitCode ?? '0', rowCount: s.rowCount, transactionId, class: 'MAIN',
    });
    const aux = s.objects.map((object, i) => {
      const end = start + Math.max(1, Math.floor((duration * (i + 1)) / (s.objects.length + 1)));
      return this.#event(session, {
        logTime: end, startTime: start, endTime: end, command: object.command, commandText: object.name, objectName: object.name,
        statementId, substatementId: 2 + i, exitCode: '', rowCount: 0, transactionId, class: 'AUX',
      });
    });
    return this.#rng.chance(0.33) ? [...aux, main] : [main, ...aux];
  }

  /** The event in the field order and types of the documented Aurora MySQL examples. */
  #event(session: Session, f: {
    logTime: number; startTime: number; endTime: number; command: string; commandText: string; objectName: string;
    statementId: number; substatementId: number; exitCode: string; rowCount: number; transactionId: string; class: 'MAIN' | 'AUX';
  }): RawDasEvent {
    return {
      logTime: formatMicros(f.logTime),
      type: 'record',
      clientApplication: null,
      pid: session.pid,
      dbUserName: session.actor.user,
      databaseName: session.actor.database,
      remoteHost: session.remoteHost,
      remotePort: String(session.remotePort),
      command: f.command,
      commandText: f.commandText,
      paramList: null,
      objectType: 'TABLE',
      objectName: f.objectName,
      statementId: f.statementId,
      substatementId: f.substatementId,
      exitCode: f.exitCode,
      sessionId: session.sessionId,
      rowCount: f.rowCount,
      serverHost: session.instance.serverHost,
      serverType: 'MySQL',
      serviceName: 'Amazon Aurora MySQL',
      serverVersion: 'MySQL 5.7.12',
      startTime: formatMicros(f.startTime),
      endTime: formatMicros(f.endTime),
      transactionId: f.transactionId,
      dbProtocol: 'MySQL',
      netProtocol: 'TCP',
      errorMessage: '',
      class: f.class,
    };
  }

  #appRead(app: Actor): MysqlStatement {
    const rng = this.#rng;
    const c = (action: string) => sqlcommenter(rng, app, action);
    return rng.pick<() => MysqlStatement>([
      () => ({ text: `SELECT id, amount, currency, status FROM payments WHERE merchant_id = 'm_${rng.int(1000, 9999)}' ORDER BY created_at DESC LIMIT 50${c('list')}`, objects: [{ name: 'payments', command: 'READ' }], rowCount: rng.int(0, 50) }),
      () => ({ text: `SELECT p.id, r.amount, r.reason FROM payments p JOIN refunds r ON r.payment_id = p.id WHERE p.id = ${rng.int(1_000_000, 9_999_999)}${c('show')}`, objects: [{ name: 'payments', command: 'READ' }, { name: 'refunds', command: 'READ' }], rowCount: rng.int(0, 3) }),
      () => ({ text: `SELECT id, name, country, payout_schedule FROM merchants WHERE id = 'm_${rng.int(1000, 9999)}'${c('show')}`, objects: [{ name: 'merchants', command: 'READ' }], rowCount: 1 }),
      () => ({ text: `SELECT SUM(amount) FROM ledger_entries WHERE account_id = ${rng.int(1, 5000)} AND posted_at >= CURDATE()${c('balance')}`, objects: [{ name: 'ledger_entries', command: 'READ' }], rowCount: 1 }),
    ])();
  }

  #appWrite(app: Actor): MysqlStatement {
    const rng = this.#rng;
    const c = (action: string) => sqlcommenter(rng, app, action);
    return rng.pick<() => MysqlStatement>([
      () => ({ text: `INSERT INTO payments (merchant_id, amount, currency, status) VALUES ('m_${rng.int(1000, 9999)}', ${rng.int(1, 2000)}.${rng.int(10, 99)}, 'EUR', 'authorized')${c('create')}`, objects: [{ name: 'payments', command: 'WRITE' }], rowCount: 1 }),
      () => ({ text: `UPDATE payments SET status = 'captured', captured_at = NOW() WHERE id = ${rng.int(1_000_000, 9_999_999)}${c('capture')}`, objects: [{ name: 'payments', command: 'WRITE' }], rowCount: 1 }),
      () => ({ text: `INSERT INTO refunds (payment_id, amount, reason) VALUES (${rng.int(1_000_000, 9_999_999)}, ${rng.int(1, 500)}.00, 'customer request')${c('refund')}`, objects: [{ name: 'refunds', command: 'WRITE' }], rowCount: 1 }),
      () => ({ text: `INSERT INTO ledger_entries (account_id, amount, entry_type) VALUES (${rng.int(1, 5000)}, -${rng.int(1, 900)}.50, 'fee')${c('post')}`, objects: [{ name: 'ledger_entries', command: 'WRITE' }], rowCount: 1 }),
    ])();
  }

  #report(): MysqlStatement {
    const rng = this.#rng;
    return rng.pick<() => MysqlStatement>([
      () => ({ text: "SELECT DATE(created_at) AS day, currency, SUM(amount) FROM payments WHERE created_at >= NOW() - INTERVAL 30 DAY GROUP BY day, currency", objects: [{ name: 'payments', command: 'READ' }], rowCount: 90 }),
      () => ({ text: "SELECT m.country, COUNT(*) FROM payments p JOIN merchants m ON m.id = p.merchant_id WHERE p.status = 'captured' GROUP BY m.country", objects: [{ name: 'payments', command: 'READ' }, { name: 'merchants', command: 'READ' }], rowCount: rng.int(10, 40) }),
    ])();
  }

  #error(): MysqlStatement {
    const rng = this.#rng;
    return rng.pick<() => MysqlStatement>([
      // 1146: table doesn't exist; 1064: syntax error; 1054: unknown column.
      () => ({ text: `SELECT * FROM payment_archive WHERE id = ${rng.int(1, 99_999)}`, objects: [], rowCount: 0, exitCode: '1146' }),
      () => ({ text: `SELEC id, amount FROM payments WHERE id = ${rng.int(1_000_000, 9_999_999)}`, objects: [], rowCount: 0, exitCode: '1064' }),
      () => ({ text: `UPDATE payments SET stauts = 'void' WHERE id = ${rng.int(1_000_000, 9_999_999)}`, objects: [], rowCount: 0, exitCode: '1054' }),
    ])();
  }

  #ddl(): MysqlStatement {
    const rng = this.#rng;
    const n = ++this.#tableSeq;
    return cycle<() => MysqlStatement>(n, [
      () => ({ text: `CREATE TABLE payout_batches_${n} (id BIGINT PRIMARY KEY AUTO_INCREMENT, merchant_id VARCHAR(32) NOT NULL, total DECIMAL(12,2))`, objects: [{ name: `payout_batches_${n}`, command: 'CREATE' }], rowCount: 0 }),
      () => ({ text: `ALTER TABLE payments ADD COLUMN risk_score_${n} DECIMAL(5,2) NULL`, objects: [{ name: 'payments', command: 'ALTER' }], rowCount: 0 }),
      // MySQL runs CREATE INDEX as an ALTER TABLE.
      () => ({ text: `CREATE INDEX idx_payments_merchant_created_${n} ON payments (merchant_id, created_at)`, objects: [{ name: 'payments', command: 'ALTER' }], rowCount: 0 }),
      () => ({ text: `DROP TABLE IF EXISTS tmp_settlement_${n}`, objects: [{ name: `tmp_settlement_${n}`, command: 'DROP' }], rowCount: 0 }),
    ])();
  }

  #accessChange(): MysqlStatement {
    const rng = this.#rng;
    const grant = (text: string): MysqlStatement => ({ text, objects: [], rowCount: 0 });
    return cycle<() => MysqlStatement>(++this.#accessSeq, [
      () => grant("GRANT SELECT ON payments.* TO 'reporting'@'%'"),
      () => grant("REVOKE INSERT, UPDATE ON payments.ledger_entries FROM 'ledger_batch'@'10.1.%'"),
      () => grant(`CREATE USER 'etl_reader'@'10.1.%' IDENTIFIED BY '${rng.password()}'`),
      () => grant(`ALTER USER 'payments_app'@'%' IDENTIFIED BY '${rng.password()}'`),
      () => grant(`SET PASSWORD FOR 'reporting'@'%' = PASSWORD('${rng.password()}')`),
    ])();
  }

  #snooping(): MysqlStatement {
    if (this.#rng.chance(0.4)) {
      // 1142: SELECT command denied to user.
      return { text: 'SELECT * FROM card_tokens LIMIT 500', objects: [], rowCount: 0, exitCode: '1142' };
    }
    return { text: 'SELECT * FROM merchants', objects: [{ name: 'merchants', command: 'READ' }], rowCount: 812 };
  }
}

/** Aurora MySQL precedes every quotation mark in commandText with a backslash. */
export function escapeQuotes(sql: string): string {
  return sql.replace(/'/g, "\\'");
}
