/**
 * Raw DAS events, exactly as they appear in a decrypted record's
 * `databaseActivityEventList`, for tests that write records to a stream.
 */

/** An Aurora PostgreSQL SELECT as DAS writes it, stamped `at` (6-digit `+00` time). */
export function rawPostgresSelect(statementId: number, at: Date, commandText: string): Record<string, unknown> {
  const stamp = at.toISOString().replace('T', ' ').replace('Z', '000+00');
  return {
    type: 'record',
    class: 'READ',
    command: 'SELECT',
    commandText,
    databaseName: 'shop',
    dbUserName: 'app',
    remoteHost: '10.0.0.5',
    remotePort: '5432',
    sessionId: '5ce5f7f0.474b',
    statementId,
    substatementId: 1,
    objectType: 'TABLE',
    objectName: 'orders',
    rowCount: 1,
    paramList: [],
    pid: 100,
    clientApplication: 'orders-api',
    exitCode: null,
    errorMessage: null,
    startTime: stamp,
    logTime: stamp,
    serverVersion: '2.3.1',
    serverType: 'PostgreSQL',
    serviceName: 'Amazon Aurora PostgreSQL-Compatible edition',
    serverHost: '172.31.3.192',
    netProtocol: 'TCP',
    dbProtocol: 'Postgres 3.0',
  };
}
