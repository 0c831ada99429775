/**
 * The databases the demo pretends to watch: one Aurora PostgreSQL cluster,
 * one Aurora MySQL cluster and one RDS for SQL Server instance, each with the
 * identifiers, stream name and encryption profile AWS would give it.
 */
import { AURORA_MYSQL, AURORA_POSTGRESQL } from '../record-factory.ts';
import type { EngineProfile } from '../record-factory.ts';
import { DAS_SUITES } from '../../decrypt/message-header.ts';
import { DAS_STREAM_PREFIX } from '../../source/resource.ts';

export type SimulatedEngine = 'aurora-postgresql' | 'aurora-mysql' | 'sqlserver';

/**
 * RDS for SQL Server streams: envelope version 1.4. No real SQL Server record
 * is in the shared fixtures, so the suite and frame length are an assumption
 * (those of the Aurora PostgreSQL record).
 */
export const RDS_SQLSERVER: EngineProfile = {
  suiteId: DAS_SUITES.AES256_GCM_IV12_TAG16_HKDF_SHA256,
  frameLength: 4096,
  version: '1.4',
};

export interface SimulatedInstance {
  /** DbiResourceId (`db-…`). */
  instanceId: string;
  /** Writers take writes, DDL and grants; readers only reads. */
  role: 'writer' | 'reader';
  /** What the engine reports as `serverHost`. */
  serverHost: string;
}

export interface SimulatedCluster {
  /** Friendly name, e.g. `orders-postgres`. */
  name: string;
  engine: SimulatedEngine;
  /** `cluster-…` for Aurora, the instance's `db-…` for RDS; decides the KMS encryption context. */
  resourceId: string;
  /** `aws-rds-das-<resourceId>`. */
  stream: string;
  profile: EngineProfile;
  /** The inner record's `clusterId`: the cluster resource id for Aurora, "" for an RDS instance. */
  clusterId: string;
  /** The writer first. */
  instances: readonly SimulatedInstance[];
  /** Share of the traffic, relative to the other clusters. */
  weight: number;
}

function cluster(definition: Omit<SimulatedCluster, 'stream'>): SimulatedCluster {
  return Object.freeze({ ...definition, stream: `${DAS_STREAM_PREFIX}${definition.resourceId}`, instances: Object.freeze(definition.instances) });
}

export const DEMO_CLUSTERS: readonly SimulatedCluster[] = Object.freeze([
  cluster({
    name: 'orders-postgres',
    engine: 'aurora-postgresql',
    resourceId: 'cluster-DEMOORDERSPG4HNY5V4RRNPKKY',
    profile: AURORA_POSTGRESQL,
    clusterId: 'cluster-DEMOORDERSPG4HNY5V4RRNPKKY',
    instances: [
      { instanceId: 'db-DEMOORDERSPGW1FZJTMYKCXQBUU', role: 'writer', serverHost: '10.0.1.23' },
      { instanceId: 'db-DEMOORDERSPGR1LU7NW3ITCM6ZQ', role: 'reader', serverHost: '10.0.2.41' },
    ],
    weight: 45,
  }),
  cluster({
    name: 'payments-mysql',
    engine: 'aurora-mysql',
    resourceId: 'cluster-DEMOPAYMENTSMYB6K6E4422P5KM3',
    profile: AURORA_MYSQL,
    clusterId: 'cluster-DEMOPAYMENTSMYB6K6E4422P5KM3',
    instances: [
      { instanceId: 'db-DEMOPAYMENTSMYW1QZ7GCJOA44', role: 'writer', serverHost: 'payments-mysql-1' },
      { instanceId: 'db-DEMOPAYMENTSMYR1H3XK2PDL7V', role: 'reader', serverHost: 'payments-mysql-2' },
    ],
    weight: 35,
  }),
  cluster({
    name: 'crm-sqlserver',
    engine: 'sqlserver',
    resourceId: 'db-DEMOCRMSQLSRV4JCWQLUZVFYP7D',
    profile: RDS_SQLSERVER,
    clusterId: '',
    instances: [{ instanceId: 'db-DEMOCRMSQLSRV4JCWQLUZVFYP7D', role: 'writer', serverHost: '10.0.3.159' }],
    weight: 20,
  }),
]);
