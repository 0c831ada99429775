/**
 * RDS for SQL Server traffic for the `crm-sqlserver` instance, as DAS 1.4
 * reports SQL Server Audit records: `sessionId` the numeric spid,
 * `statementId` a `0x…` hex id, 7-digit `+00` times, `pid`, ports and
 * `startTime`/`endTime` null, and `exitCode` the audit's `succeeded` flag
 * (1 the permission check passed, 0 it failed: a denied SELECT, a LOGIN
 * FAILED). `class` is the audited securable class (TABLE, LOGIN, SCHEMA,
 * ROLE, SQL LOGIN, USER, STORED PROCEDURE) and the audit's own columns go to
 * `engineNativeAuditFields`. Statement errors other than permissions are not
 * audited by SQL Server, so they do not appear here.
 */
import type { Rng } from './rng.ts';
import type { SimulatedCluster, SimulatedInstance } from './clusters.ts';
import { cycle, instanceFor, SessionPools, sqlcommenter } from './model.ts';
import type { ActivityKind, Actor, EngineSimulation, InstanceEvents, RawDasEvent, Session } from './model.ts';
import { formatTicks } from './time.ts';

const CRM_WEB: Actor = {
  role: 'app', label: 'crm-web', user: 'crm_app', database: 'CRM', clientApplication: 'Core Microsoft SqlClient Data Provider',
  hosts: ['10.2.12.11', '10.2.12.12'], controllers: ['accounts', 'opportunities', 'contacts'], framework: 'aspnetcore', poolSize: 4,
};
const ETL: Actor = {
  role: 'app', label: 'etl', user: 'etl_loader', database: 'CRM', clientApplication: 'SSIS-LoadContacts-{4F1C2A8E-0D6B-4E39-9A57-3C2B1E0F6D41}',
  hosts: ['10.2.14.30'], poolSize: 1,
};
const REPORTING: Actor = {
  role: 'reporting', label: 'reporting', user: 'reporting', database: 'CRM', clientApplication: 'Report Server', hosts: ['10.0.20.6'], poolSize: 2,
};
const DBA: Actor = {
  role: 'dba', label: 'dba', user: 'dba_carol', database: 'CRM', clientApplication: 'Microsoft SQL Server Management Studio - Query', hosts: ['10.8.0.16'], poolSize: 1,
};
const UNEXPECTED: Actor = {
  role: 'unexpected', label: 'unexpected', user: 'svc_legacy', database: 'CRM', clientApplication: 'Microsoft Office 2016', hosts: ['10.8.0.120'], poolSize: 1,
};
const APPS = [CRM_WEB, ETL] as const;

/** SQL Server permission bits of the audited action (`permission_bitmask`). */
const PERMISSION: Readonly<Record<string, string>> = {
  SELECT: '0x00000000000000000000000000000001',
  UPDATE: '0x00000000000000000000000000000002',
  INSERT: '0x00000000000000000000000000000008',
  DELETE: '0x00000000000000000000000000000010',
  EXECUTE: '0x00000000000000000000000000000020',
};

const OBJECT_IDS: Readonly<Record<string, number>> = {
  Customers: 581577110, Contacts: 613577224, Opportunities: 645577338, Activities: 677577452, Campaigns: 709577566, Payroll: 741577680,
  usp_GetCustomerSummary: 773577794,
};

interface MssqlStatement {
  class: string;
  command: string;
  text: string;
  objectType: string;
  objectName: string;
  rowCount: number;
  succeeded?: boolean;
  schema?: string;
  targetPrincipal?: string;
}

interface Principal {
  id: number;
  sid: string;
}

export class SqlServerSimulation implements EngineSimulation {
  readonly cluster: SimulatedCluster;
  readonly sprayTarget = 'sa';
  readonly #rng: Rng;
  readonly #sessions: SessionPools;
  readonly #principals = new Map<string, Principal>();
  #nextSpid = 51;
  #nextTransactionId: number;
  #tableSeq = 0;
  #accessSeq = 0;

  constructor(cluster: SimulatedCluster, rng: Rng) {
    this.cluster = cluster;
    this.#rng = rng;
    this.#sessions = new SessionPools(rng, (actor, instance) => this.#newSession(actor, instance));
    this.#nextTransactionId = rng.int(4_000_000, 5_000_000);
  }

  activity(kind: ActivityKind, at: number): InstanceEvents {
    const rng = this.#rng;
    switch (kind) {
      case 'app_read': {
        const app = rng.pick(APPS);
        return this.#run(app, at, this.#appRead(app));
      }
      case 'app_write': {
        const app = rng.pick(APPS);
        return this.#run(app, at, this.#appWrite(app));
      }
      case 'report':
        return this.#run(REPORTING, at, this.#report());
      case 'routine':
        return this.#run(CRM_WEB, at, {
          class: 'STORED PROCEDURE', command: 'EXECUTE', objectType: 'STORED PROCEDURE', objectName: 'usp_GetCustomerSummary', rowCount: 1,
          text: `exec [dbo].[usp_GetCustomerSummary] @CustomerId=${rng.int(1, 80_000)}${sqlcommenter(rng, CRM_WEB, 'summary')}`,
        });
      case 'session_churn':
        return this.#churn(rng.pick(APPS), at);
      case 'statement_error':
        // SQL Server audits permission checks, not statement errors: a report touching a table it may not read.
        return this.#run(REPORTING, at, table('SELECT', 'Payroll', 'select [EmployeeId], [Salary] from [dbo].[Payroll]', 0, false));
      case 'failed_login': {
        const actor = rng.pick([CRM_WEB, REPORTING]);
        return this.#loginFailed(actor.user, rng.pick(actor.hosts), actor.clientApplication, at);
      }
      case 'ddl':
        return this.#run(DBA, at, this.#ddl());
      case 'access_change':
        return this.#run(DBA, at, this.#accessChange());
      case 'unexpected_user':
        return this.#run(UNEXPECTED, at, this.#snooping());
    }
  }

  sprayAttempt(user: string, remoteHost: string, at: number): InstanceEvents {
    return this.#loginFailed(user, remoteHost, 'OSQL-32', at);
  }

  heartbeat(at: number): RawDasEvent {
    return { type: 'heartbeat', logTime: formatTicks(at, 0) };
  }

  get #instance(): SimulatedInstance {
    return instanceFor(this.#rng, this.cluster, 'write');
  }

  #principal(user: string): Principal {
    let principal = this.#principals.get(user);
    if (principal === undefined) {
      principal = { id: 260 + this.#principals.size, sid: `0x${this.#rng.hex(32)}` };
      this.#principals.set(user, principal);
    }
    return principal;
  }

  #newSession(actor: Actor, instance: SimulatedInstance): Session {
    const spid = this.#nextSpid;
    this.#nextSpid = spid >= 400 ? 51 : spid + 1;
    const g = this.#rng.hex(32).toUpperCase();
    return {
      actor, instance, pid: 0,
      sessionId: spid,
      remoteHost: this.#rng.pick(actor.hosts),
      remotePort: 0,
      statementSeq: 0,
      connectionId: `${g.slice(0, 8)}-${g.slice(8, 12)}-${g.slice(12, 16)}-${g.slice(16, 20)}-${g.slice(20)}`,
    };
  }

  #run(actor: Actor, at: number, statement: MssqlStatement): InstanceEvents {
    const instance = this.#instance;
    const { session, opened } = this.#sessions.session(actor, instance, at);
    const events: RawDasEvent[] = [];
    let t = at;
    if (opened) {
      events.push(this.#login(session, true, t));
      t += this.#rng.int(1_000, 20_000);
    }
    events.push(this.#event(session, t, statement));
    return { instanceId: instance.instanceId, events };
  }

  #churn(actor: Actor, at: number): InstanceEvents {
    const instance = this.#instance;
    const events: RawDasEvent[] = [];
    const closing = this.#sessions.close(actor, instance);
    if (closing !== undefined) {
      events.push(this.#event(closing, at, { class: 'LOGIN', command: 'LOGOUT', text: '', objectType: 'LOGIN', objectName: '', rowCount: 0 }));
    }
    const { session } = this.#sessions.session(actor, instance, at + 500);
    events.push(this.#login(session, true, at + 500));
    return { instanceId: instance.instanceId, events };
  }

  #loginFailed(user: string, remoteHost: string, clientApplication: string | null, at: number): InstanceEvents {
    const actor: Actor = { role: 'unexpected', label: 'login', user, database: 'master', clientApplication, hosts: [remoteHost], poolSize: 0 };
    const instance = this.#instance;
    return { instanceId: instance.instanceId, events: [this.#login(this.#newSession(actor, instance), false, at)] };
  }

  #login(session: Session, succeeded: boolean, at: number): RawDasEvent {
    // LOGIN SUCCEEDED carries the session's SET options as its statement; LOGIN FAILED none.
    const text = succeeded
      ? '-- network protocol: TCP/IP\r\nset quoted_identifier on\r\nset arithabort off\r\nset numeric_roundabort off\r\nset ansi_warnings on\r\nset ansi_padding on\r\nset ansi_nulls on\r\nset concat_null_yields_null on\r\nset cursor_close_on_commit off\r\nset implicit_transactions off\r\nset language us_english\r\nset dateformat mdy\r\nset datefirst 7\r\nset transaction isolation level read committed\r\n'
      : '';
    return this.#event(session, at, {
      class: 'LOGIN', command: succeeded ? 'LOGIN SUCCEEDED' : 'LOGIN FAILED', text, objectType: 'LOGIN', objectName: '', rowCount: 0, succeeded,
    });
  }

  /** The event in the field order and types of the documented RDS for SQL Server example. */
  #event(session: Session, at: number, s: MssqlStatement): RawDasEvent {
    const rng = this.#rng;
    const succeeded = s.succeeded ?? true;
    const principal = this.#principal(session.actor.user);
    const isLogin = s.class === 'LOGIN';
    const target = s.targetPrincipal === undefined ? undefined : this.#principal(s.targetPrincipal);
    const transactionId = isLogin || !succeeded ? '0' : String(this.#nextTransactionId++);
    const additionalInformation = isLogin
      ? `<action_info xmlns="http://schemas.microsoft.com/sqlserver/2008/sqlaudit_data"><pooled_connection>0</pooled_connection>` +
        (succeeded ? '' : '<error>0x00004818</error><state>8</state>') +
        `<address>${session.remoteHost}</address></action_info>`
      : '';
    return {
      class: s.class,
      clientApplication: session.actor.clientApplication,
      command: s.command,
      commandText: s.text,
      databaseName: session.actor.database,
      dbProtocol: 'SQLSERVER',
      dbUserName: session.actor.user,
      endTime: null,
      errorMessage: null,
      exitCode: succeeded ? 1 : 0,
      logTime: formatTicks(at, rng.int(0, 9)),
      netProtocol: null,
      objectName: s.objectName,
      objectType: s.objectType,
      paramList: null,
      pid: null,
      remoteHost: session.remoteHost,
      remotePort: null,
      rowCount: s.rowCount,
      serverHost: session.instance.serverHost,
      serverType: 'SQLSERVER',
      serverVersion: '15.00.4073.23.v1.R1',
      serviceName: 'sqlserver-ee',
      sessionId: session.sessionId,
      startTime: null,
      statementId: `0x${rng.hex(32)}`,
      substatementId: 1,
      transactionId,
      type: 'record',
      engineNativeAuditFields: {
        target_database_principal_id: 0,
        target_server_principal_id: target?.id ?? 0,
        target_database_principal_name: s.targetPrincipal ?? '',
        server_principal_id: principal.id,
        user_defined_information: '',
        response_rows: s.rowCount,
        database_principal_name: isLogin ? '' : session.actor.role === 'dba' ? 'dbo' : session.actor.user,
        target_server_principal_name: s.targetPrincipal ?? '',
        schema_name: s.schema ?? (s.objectType === 'TABLE' || s.objectType === 'STORED PROCEDURE' ? 'dbo' : ''),
        is_column_permission: s.command === 'SELECT' || s.command === 'UPDATE',
        object_id: OBJECT_IDS[s.objectName] ?? 0,
        server_instance_name: 'EC2AMAZ-NFUJJNO',
        target_server_principal_sid: target?.sid ?? null,
        additional_information: additionalInformation,
        duration_milliseconds: isLogin ? 0 : rng.int(0, 40),
        permission_bitmask: PERMISSION[s.command] ?? '0x00000000000000000000000000000000',
        data_sensitivity_information: '',
        session_server_principal_name: session.actor.user,
        connection_id: session.connectionId,
        audit_schema_version: 1,
        database_principal_id: isLogin ? 0 : session.actor.role === 'dba' ? 1 : principal.id - 255,
        server_principal_sid: principal.sid,
        user_defined_event_id: 0,
        host_name: session.actor.label === 'login' ? '' : `${session.actor.label.toUpperCase()}-HOST`,
      },
    };
  }

  #appRead(app: Actor): MssqlStatement {
    const rng = this.#rng;
    const c = (action: string) => sqlcommenter(rng, app, action);
    return rng.pick<() => MssqlStatement>([
      () => table('SELECT', 'Customers', `(@P1 int)SELECT [CustomerId], [Name], [Email], [Region] FROM [dbo].[Customers] WHERE [CustomerId] = @P1${c('show')}`, 1),
      () => table('SELECT', 'Opportunities', `(@P1 nvarchar(16))SELECT TOP (50) [OpportunityId], [Stage], [Amount] FROM [dbo].[Opportunities] WHERE [Stage] = @P1 ORDER BY [CloseDate]${c('list')}`, rng.int(0, 50)),
      () => table('SELECT', 'Contacts', `(@P1 int)SELECT [ContactId], [FullName], [Phone] FROM [dbo].[Contacts] WHERE [CustomerId] = @P1${c('list')}`, rng.int(0, 12)),
    ])();
  }

  #appWrite(app: Actor): MssqlStatement {
    const rng = this.#rng;
    const c = (action: string) => sqlcommenter(rng, app, action);
    return rng.pick<() => MssqlStatement>([
      () => table('INSERT', 'Activities', `(@P1 int,@P2 nvarchar(20),@P3 nvarchar(400))INSERT INTO [dbo].[Activities] ([CustomerId], [Kind], [Notes]) VALUES (@P1, @P2, @P3)${c('log')}`, 1),
      () => table('UPDATE', 'Opportunities', `(@P1 nvarchar(16),@P2 int)UPDATE [dbo].[Opportunities] SET [Stage] = @P1 WHERE [OpportunityId] = @P2${c('update')}`, 1),
      () => table('INSERT', 'Contacts', `INSERT INTO [dbo].[Contacts] ([CustomerId], [FullName], [Phone]) VALUES (${rng.int(1, 80_000)}, N'Imported Contact ${rng.int(1, 9999)}', N'+44 20 7946 ${rng.int(1000, 9999)}')`, 1),
      () => table('DELETE', 'Activities', `DELETE FROM [dbo].[Activities] WHERE [CreatedAt] < DATEADD(day, -365, SYSUTCDATETIME())`, rng.int(0, 400)),
    ])();
  }

  #report(): MssqlStatement {
    const rng = this.#rng;
    return rng.pick<() => MssqlStatement>([
      () => table('SELECT', 'Opportunities', 'SELECT [Stage], COUNT(*), SUM([Amount]) FROM [dbo].[Opportunities] GROUP BY [Stage]', 6),
      () => table('SELECT', 'Customers', 'SELECT [Region], COUNT(*) FROM [dbo].[Customers] GROUP BY [Region] ORDER BY 2 DESC', rng.int(5, 20)),
    ])();
  }

  #ddl(): MssqlStatement {
    const rng = this.#rng;
    const n = ++this.#tableSeq;
    const ddl = (command: string, name: string, text: string): MssqlStatement => ({ class: 'TABLE', command, text, objectType: 'TABLE', objectName: name, rowCount: 0 });
    return cycle<() => MssqlStatement>(n, [
      () => ddl('CREATE', `LeadScores_${n}`, `CREATE TABLE [dbo].[LeadScores_${n}] ([LeadId] int NOT NULL PRIMARY KEY, [Score] decimal(5,2) NULL)`),
      () => ddl('ALTER', 'Customers', `ALTER TABLE [dbo].[Customers] ADD [Segment_${n}] nvarchar(32) NULL`),
      // CREATE INDEX is audited as an ALTER of its table.
      () => ddl('ALTER', 'Opportunities', `CREATE NONCLUSTERED INDEX [IX_Opportunities_Stage_${n}] ON [dbo].[Opportunities] ([Stage]) INCLUDE ([Amount])`),
      () => ddl('DROP', `tmp_Import_${n}`, `DROP TABLE IF EXISTS [dbo].[tmp_Import_${n}]`),
    ])();
  }

  #accessChange(): MssqlStatement {
    const rng = this.#rng;
    return cycle<() => MssqlStatement>(++this.#accessSeq, [
      () => ({ class: 'SCHEMA', command: 'GRANT', text: 'GRANT SELECT ON SCHEMA::[dbo] TO [reporting]', objectType: 'SCHEMA', objectName: 'dbo', rowCount: 0, schema: 'dbo', targetPrincipal: 'reporting' }),
      () => ({ class: 'TABLE', command: 'REVOKE', text: 'REVOKE DELETE ON [dbo].[Customers] FROM [etl_loader]', objectType: 'TABLE', objectName: 'Customers', rowCount: 0, targetPrincipal: 'etl_loader' }),
      () => ({ class: 'ROLE', command: 'CREATE', text: `CREATE ROLE [crm_readonly_${rng.int(1, 99)}] AUTHORIZATION [dbo]`, objectType: 'ROLE', objectName: 'crm_readonly', rowCount: 0 }),
      () => ({ class: 'ROLE', command: 'ADD MEMBER', text: 'ALTER ROLE [db_datareader] ADD MEMBER [svc_legacy]', objectType: 'ROLE', objectName: 'db_datareader', rowCount: 0, targetPrincipal: 'svc_legacy' }),
      () => ({ class: 'SQL LOGIN', command: 'CREATE', text: `CREATE LOGIN [etl_reader] WITH PASSWORD = '${rng.password()}', CHECK_POLICY = ON`, objectType: 'SQL LOGIN', objectName: 'etl_reader', rowCount: 0 }),
      () => ({ class: 'SQL LOGIN', command: 'ALTER', text: `ALTER LOGIN [reporting] WITH PASSWORD = '${rng.password()}' OLD_PASSWORD = '${rng.password()}'`, objectType: 'SQL LOGIN', objectName: 'reporting', rowCount: 0 }),
      () => ({ class: 'USER', command: 'CREATE', text: 'CREATE USER [etl_reader] FOR LOGIN [etl_reader] WITH DEFAULT_SCHEMA = [dbo]', objectType: 'USER', objectName: 'etl_reader', rowCount: 0 }),
    ])();
  }

  #snooping(): MssqlStatement {
    if (this.#rng.chance(0.4)) return table('SELECT', 'Payroll', 'SELECT * FROM [CRM].[dbo].[Payroll]', 0, false);
    return table('SELECT', 'Customers', 'SELECT * FROM [CRM].[dbo].[Customers]', 4812);
  }
}

function table(command: string, name: string, text: string, rowCount: number, succeeded = true): MssqlStatement {
  return { class: 'TABLE', command, text, objectType: 'TABLE', objectName: name, rowCount, succeeded };
}
