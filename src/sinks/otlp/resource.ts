/**
 * One OpenTelemetry Resource per Aurora cluster or RDS instance and the
 * Kinesis shard its events were read from.
 *
 * A resource names the database that wrote an event: `service.name` (a
 * friendly name per resource id, else the id itself; `OTEL_SERVICE_NAME`
 * overrides it for all), the cloud it runs in, and the DAS resource ids; and
 * where its events came from (`aws.rds.das.stream`, `aws.rds.das.shard_id`),
 * said once per request rather than on every record. Loki makes
 * `service.name` and `cloud.region` stream labels (the others are structured
 * metadata on every entry, as record attributes are), so a resource must
 * stay small and stable: one object per (cluster, instance, stream, shard),
 * reused, so the OTLP serializers group a batch's records under it.
 * Attributes from `OTEL_RESOURCE_ATTRIBUTES` fill in; what the stream itself
 * tells (ids, region, account) wins over them.
 */
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { OtlpResourceEnvironment } from './config.ts';

export interface ResourceFacts {
  /** Friendly `service.name` per DbClusterResourceId / DbiResourceId. */
  serviceNames?: Readonly<Record<string, string>>;
  /** `cloud.region`, when known (from the stream ARN or AWS_REGION). */
  region?: string | null;
  /** `cloud.account.id`, when known. */
  accountId?: string | null;
  /** Per resource id overrides of region and account, for streams read across regions/accounts. */
  perResource?: Readonly<Record<string, { region?: string; accountId?: string }>>;
  environment?: OtlpResourceEnvironment;
}

export interface ResourceIds {
  clusterId: string | null;
  instanceId: string | null;
  /** Where the event was read: its stream and shard are the same for every event of a record, so they are the resource's, not each record's. */
  position?: { stream: string; shardId: string } | null;
}

export class ResourceCatalog {
  readonly #facts: ResourceFacts;
  readonly #cache = new Map<string, Resource>();
  #last: { clusterId: string | null; instanceId: string | null; stream: string; shardId: string; resource: Resource } | undefined;

  constructor(facts: ResourceFacts = {}) {
    this.#facts = facts;
  }

  /** The (cached) resource of the cluster or instance that wrote an event. */
  resourceFor(ids: ResourceIds): Resource {
    // The events of a record share their ids: the last answer first.
    const last = this.#last;
    const stream = ids.position?.stream ?? '';
    const shardId = ids.position?.shardId ?? '';
    if (last !== undefined && last.clusterId === ids.clusterId && last.instanceId === ids.instanceId && last.stream === stream && last.shardId === shardId) return last.resource;
    const key = JSON.stringify([ids.clusterId, ids.instanceId, stream, shardId]);
    let resource = this.#cache.get(key);
    if (resource === undefined) {
      resource = resourceFromAttributes(this.attributesFor(ids));
      // Bounded: a shard's resource is made again if it comes back after 4,096 others.
      if (this.#cache.size >= 4096) this.#cache.clear();
      this.#cache.set(key, resource);
    }
    this.#last = { clusterId: ids.clusterId, instanceId: ids.instanceId, stream, shardId, resource };
    return resource;
  }

  attributesFor(ids: ResourceIds): Attributes {
    const facts = this.#facts;
    const env = facts.environment;
    const resourceId = ids.clusterId ?? ids.instanceId ?? 'unknown';
    const local = facts.perResource?.[resourceId];
    const attributes: Attributes = { ...(env?.resourceAttributes ?? {}) };
    const set = (key: string, value: string | null | undefined) => {
      if (value !== null && value !== undefined && value !== '') attributes[key] = value;
    };
    // OTEL_SERVICE_NAME beats service.name from OTEL_RESOURCE_ATTRIBUTES (SDK spec), which beats the friendly name.
    attributes['service.name'] =
      env?.serviceName ?? env?.resourceAttributes['service.name'] ?? facts.serviceNames?.[resourceId] ?? resourceId;
    attributes['cloud.provider'] = 'aws';
    attributes['cloud.platform'] = 'aws_rds';
    set('cloud.region', local?.region ?? facts.region);
    set('cloud.account.id', local?.accountId ?? facts.accountId);
    set('aws.rds.cluster_resource_id', ids.clusterId);
    set('aws.rds.instance_resource_id', ids.instanceId);
    set('aws.rds.das.stream', ids.position?.stream);
    set('aws.rds.das.shard_id', ids.position?.shardId);
    return attributes;
  }
}
