/**
 * The demo's traffic simulator: seeded raw DAS events for simulated Aurora
 * PostgreSQL, Aurora MySQL and RDS for SQL Server databases, and their
 * encryption into Kinesis record data. The parts live in ./traffic/.
 */
export { DEMO_CLUSTERS, RDS_SQLSERVER } from './traffic/clusters.ts';
export type { SimulatedCluster, SimulatedEngine, SimulatedInstance } from './traffic/clusters.ts';
export { ACTIVITY_KINDS, ACTIVITY_WEIGHTS } from './traffic/model.ts';
export type { ActivityKind, RawDasEvent } from './traffic/model.ts';
export { DEFAULT_RATE, TrafficSimulator } from './traffic/simulator.ts';
export type { TrafficBatch, TrafficSimulatorOptions } from './traffic/simulator.ts';
export { encryptBatch, TrafficEncryptor } from './traffic/encrypt.ts';
export type { EncryptedRecord } from './traffic/encrypt.ts';
export { SIMULATED_CLASSES, SIMULATED_COMMANDS } from './traffic/catalog.ts';
