/**
 * Which database a DAS stream belongs to, and so which KMS encryption context
 * opens its data keys. RDS names the stream `aws-rds-das-<resource id>`; the
 * id is the Aurora DbClusterResourceId (`cluster-…`) or the RDS instance's
 * DbiResourceId (`db-…`), and KMS wants exactly one context entry keyed by
 * which of the two it is. A stream that does not follow the naming (a copy,
 * a test stream) needs the id set explicitly; without it this is a
 * configuration error, raised at start-up rather than per record.
 */
import { ConfigError } from '../config/config.ts';
import type { EncryptionContext } from './record.ts';

export const DAS_STREAM_PREFIX = 'aws-rds-das-';

export type ResourceKind = 'cluster' | 'instance';

export interface StreamRef {
  streamName: string;
  /** `cluster-…` (Aurora cluster) or `db-…` (RDS instance). */
  resourceId: string;
  kind: ResourceKind;
  /** Whether the id was read off the stream name or given in the configuration. */
  resourceIdFrom: 'stream-name' | 'explicit';
  /** Known only when the stream was given as an ARN. */
  region?: string;
  accountId?: string;
  partition?: string;
}

export interface KinesisStreamArn {
  partition: string;
  region: string;
  accountId: string;
  streamName: string;
}

const RESOURCE_ID = /^(cluster|db)-[A-Za-z0-9_-]+$/;
const STREAM_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
// Partitions: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, …; an enhanced fan-out consumer ARN extends the stream ARN.
const STREAM_ARN = /^arn:(aws(?:-[a-z]+)*):kinesis:([a-z0-9-]+):(\d{12}):stream\/([A-Za-z0-9_.-]{1,128})(?:\/consumer\/.*)?$/;

const STREAM_FIELD = '--stream / DAS_STREAMS';
const RESOURCE_ID_FIELD = '--resource-id / DAS_RESOURCE_ID';

/**
 * Resolves a stream name or ARN to its resource. `options.resourceId`, when
 * given, wins over the name, so streams not named `aws-rds-das-…` work too.
 * Throws ConfigError naming the setting to fix.
 */
export function parseStreamRef(stream: string, options: { resourceId?: string | undefined } = {}): StreamRef {
  const arn = stream.startsWith('arn:') ? parseKinesisStreamArn(stream) : undefined;
  if (stream.startsWith('arn:') && arn === undefined) {
    throw new ConfigError([`${STREAM_FIELD}: "${stream}" is not a Kinesis stream ARN (arn:<partition>:kinesis:<region>:<account>:stream/<name>)`]);
  }
  const streamName = arn?.streamName ?? stream;
  if (!STREAM_NAME.test(streamName)) {
    throw new ConfigError([`${STREAM_FIELD}: "${stream}" is not a Kinesis stream name or ARN`]);
  }
  const where = arn ? { region: arn.region, accountId: arn.accountId, partition: arn.partition } : {};

  if (options.resourceId !== undefined) {
    return { streamName, resourceId: options.resourceId, kind: resourceKindOf(options.resourceId), resourceIdFrom: 'explicit', ...where };
  }
  const fromName = streamName.startsWith(DAS_STREAM_PREFIX) ? streamName.slice(DAS_STREAM_PREFIX.length) : '';
  if (!RESOURCE_ID.test(fromName)) {
    throw new ConfigError([
      `${STREAM_FIELD}: stream "${streamName}" is not named ${DAS_STREAM_PREFIX}<resource id>, so its KMS encryption context is unknown; ` +
        `set the resource id explicitly with ${RESOURCE_ID_FIELD} (${streamName}=cluster-… for an Aurora cluster, ${streamName}=db-… for an RDS instance)`,
    ]);
  }
  return { streamName, resourceId: fromName, kind: resourceKindOf(fromName), resourceIdFrom: 'stream-name', ...where };
}

/** `arn:<partition>:kinesis:<region>:<account>:stream/<name>`, or undefined for anything else. */
export function parseKinesisStreamArn(arn: string): KinesisStreamArn | undefined {
  const match = STREAM_ARN.exec(arn);
  if (!match) return undefined;
  const [, partition, region, accountId, streamName] = match as unknown as [string, string, string, string, string];
  return { partition, region, accountId, streamName };
}

export function resourceKindOf(resourceId: string): ResourceKind {
  const match = RESOURCE_ID.exec(resourceId);
  if (!match) {
    throw new ConfigError([
      `${RESOURCE_ID_FIELD}: "${resourceId}" is not a resource id; expected the DbClusterResourceId (cluster-…) or DbiResourceId (db-…)`,
    ]);
  }
  return match[1] === 'cluster' ? 'cluster' : 'instance';
}

/** The single-entry context KMS requires to decrypt a DAS data key of this resource. */
export function encryptionContextFor(resourceId: string): EncryptionContext {
  const key = resourceKindOf(resourceId) === 'cluster' ? 'aws:rds:dbc-id' : 'aws:rds:db-id';
  return Object.freeze({ [key]: resourceId });
}
