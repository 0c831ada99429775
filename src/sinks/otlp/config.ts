/**
 * The OTLP exporters' settings (logs, and traces when OTEL_TRACES_EXPORTER
 * is `otlp`), read from the standard OpenTelemetry environment variables and
 * validated once at start-up.
 *
 * Signal-specific variables (`OTEL_EXPORTER_OTLP_LOGS_*`,
 * `OTEL_EXPORTER_OTLP_TRACES_*`) win over the generic ones;
 * `OTEL_EXPORTER_OTLP_ENDPOINT` gets `/v1/logs` or `/v1/traces` appended
 * while a signal's own endpoint is used as is (OTLP exporter spec). Every
 * bad value is reported at once, naming the variable, and the process refuses
 * to start. Header values are secrets (auth tokens): no message here ever
 * quotes them. Without any endpoint the result is `null`, meaning "write log
 * records to stdout instead".
 */
import { ConfigError } from '../../config/config.ts';

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type OtlpCompression = 'gzip' | 'none';

export interface OtlpExporterConfig {
  /** Full URL log records are POSTed to. */
  endpoint: string;
  /** Extra request headers (auth); never logged. */
  headers: Readonly<Record<string, string>>;
  protocol: OtlpProtocol;
  compression: OtlpCompression;
  /** Per request, response body included (default 10000). */
  timeoutMs: number;
}

export interface OtlpResourceEnvironment {
  /** `OTEL_SERVICE_NAME`: when set, the `service.name` of every resource. */
  serviceName: string | null;
  /** `OTEL_RESOURCE_ATTRIBUTES`, decoded. */
  resourceAttributes: Readonly<Record<string, string>>;
}

export interface OtlpEnvironment {
  /** null when no endpoint is configured: log records go to stdout. */
  exporter: OtlpExporterConfig | null;
  /** Where database spans go (`OTEL_TRACES_EXPORTER=otlp`); null: no spans (the default). */
  traces: OtlpExporterConfig | null;
  resource: OtlpResourceEnvironment;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const PROTOCOLS: readonly string[] = ['http/protobuf', 'http/json'];
const COMPRESSIONS: readonly string[] = ['gzip', 'none'];

/** Reads and validates every OTLP variable; throws ConfigError listing each problem. */
export function loadOtlpEnvironment(env: NodeJS.ProcessEnv): OtlpEnvironment {
  const problems: string[] = [];
  const logsEndpoint = resolveEndpoint(env, 'LOGS', problems);
  // The settings are checked even without an endpoint: a bad value is a mistake to report, endpoint or not.
  const logsSettings = signalExporter(env, 'LOGS', logsEndpoint ?? '', problems);
  const logs = logsEndpoint === null ? null : logsSettings;
  const traces = tracesExporter(env, problems);

  const serviceName = env.OTEL_SERVICE_NAME?.trim() ? env.OTEL_SERVICE_NAME.trim() : null;
  let resourceAttributes: Record<string, string> = {};
  if (env.OTEL_RESOURCE_ATTRIBUTES !== undefined && env.OTEL_RESOURCE_ATTRIBUTES.trim() !== '') {
    const parsed = parseKeyValueList(env.OTEL_RESOURCE_ATTRIBUTES);
    if (parsed.ok) resourceAttributes = parsed.value;
    else problems.push(`OTEL_RESOURCE_ATTRIBUTES: ${parsed.problem} (actual: ${JSON.stringify(env.OTEL_RESOURCE_ATTRIBUTES)})`);
  }

  // A generic variable read for both signals is one problem, not two.
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  return { exporter: logs, traces, resource: { serviceName, resourceAttributes } };
}

/** `--traces-sample-untraced` (a validated ratio) with spans off is a mistake to refuse at start: sampled statements are sent as spans. */
export function untracedSamplingProblem(ratio: number, otlp: OtlpEnvironment): string | null {
  if (ratio > 0 && otlp.traces === null) {
    return `--traces-sample-untraced / DAS_TRACES_SAMPLE_UNTRACED: sampled statements are sent as spans, and spans are off: set OTEL_TRACES_EXPORTER=otlp (actual: ${ratio})`;
  }
  return null;
}

/** The OTLP spec's default endpoint, where spans go when OTEL_TRACES_EXPORTER=otlp names no endpoint. */
const DEFAULT_TRACES_ENDPOINT = 'http://localhost:4318/v1/traces';

/**
 * `OTEL_TRACES_EXPORTER`: `otlp` sends database spans (spans.ts), `none` (the
 * default) does not. Its endpoint: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is,
 * else OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`, else the spec's default.
 */
function tracesExporter(env: NodeJS.ProcessEnv, problems: string[]): OtlpExporterConfig | null {
  const chosen = env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() ?? '';
  if (chosen === '' || chosen === 'none') return null;
  if (chosen !== 'otlp') {
    problems.push(`OTEL_TRACES_EXPORTER: expected otlp or none; das-exporter exports spans over OTLP/HTTP only (actual: ${JSON.stringify(env.OTEL_TRACES_EXPORTER)})`);
    return null;
  }
  const endpoint = resolveEndpoint(env, 'TRACES', problems) ?? DEFAULT_TRACES_ENDPOINT;
  return signalExporter(env, 'TRACES', endpoint, problems);
}

/** Protocol, compression, timeout and headers of one signal: `OTEL_EXPORTER_OTLP_<SIGNAL>_*` over the generic variables. */
function signalExporter(env: NodeJS.ProcessEnv, signal: 'LOGS' | 'TRACES', endpoint: string, problems: string[]): OtlpExporterConfig {
  const pick = (name: string): { name: string; value: string } | null => {
    const own = env[`OTEL_EXPORTER_OTLP_${signal}_${name}`];
    if (own !== undefined && own.trim() !== '') return { name: `OTEL_EXPORTER_OTLP_${signal}_${name}`, value: own.trim() };
    const generic = env[`OTEL_EXPORTER_OTLP_${name}`];
    if (generic !== undefined && generic.trim() !== '') return { name: `OTEL_EXPORTER_OTLP_${name}`, value: generic.trim() };
    return null;
  };

  const protocolVar = pick('PROTOCOL');
  let protocol: OtlpProtocol = 'http/protobuf';
  if (protocolVar) {
    if (protocolVar.value === 'grpc') {
      problems.push(`${protocolVar.name}: grpc is not supported by das-exporter; use http/protobuf (the default) or http/json (actual: "grpc")`);
    } else if (!PROTOCOLS.includes(protocolVar.value)) {
      problems.push(`${protocolVar.name}: expected http/protobuf or http/json (actual: ${JSON.stringify(protocolVar.value)})`);
    } else protocol = protocolVar.value as OtlpProtocol;
  }

  const compressionVar = pick('COMPRESSION');
  let compression: OtlpCompression = 'none';
  if (compressionVar) {
    if (!COMPRESSIONS.includes(compressionVar.value)) {
      problems.push(`${compressionVar.name}: expected gzip or none (actual: ${JSON.stringify(compressionVar.value)})`);
    } else compression = compressionVar.value as OtlpCompression;
  }

  const timeoutVar = pick('TIMEOUT');
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (timeoutVar) {
    const n = /^\d+$/.test(timeoutVar.value) ? Number(timeoutVar.value) : NaN;
    if (!Number.isSafeInteger(n) || n <= 0) {
      problems.push(`${timeoutVar.name}: expected a whole number of milliseconds greater than 0 (actual: ${JSON.stringify(timeoutVar.value)})`);
    } else timeoutMs = n;
  }

  // Generic headers first, signal-specific ones override the same keys.
  const headers: Record<string, string> = {};
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', `OTEL_EXPORTER_OTLP_${signal}_HEADERS`]) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') continue;
    const parsed = parseKeyValueList(raw);
    if (parsed.ok) Object.assign(headers, parsed.value);
    else problems.push(`${name}: ${parsed.problem} (value not shown: it may hold credentials)`);
  }
  return { endpoint, headers, protocol, compression, timeoutMs };
}

/** `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` as is, else OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/<signal>`, else null. */
function resolveEndpoint(env: NodeJS.ProcessEnv, signal: 'LOGS' | 'TRACES', problems: string[]): string | null {
  const own = env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]?.trim();
  if (own) return checkUrl(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`, own, problems);
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!base) return null;
  const url = checkUrl('OTEL_EXPORTER_OTLP_ENDPOINT', base, problems);
  if (url === null) return null;
  const parsed = new URL(url);
  parsed.pathname = parsed.pathname.replace(/\/+$/, '') + `/v1/${signal.toLowerCase()}`;
  return parsed.toString();
}

function checkUrl(name: string, value: string, problems: string[]): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${name}: expected an http:// or https:// URL (actual: ${JSON.stringify(redactUrl(value))})`);
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${name}: expected an http:// or https:// URL (actual: ${JSON.stringify(redactUrl(value))})`);
    return null;
  }
  return url.toString();
}

/** An endpoint as logs show it: without user info, query or fragment, where a credential could be. */
export function endpointForLogs(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    url.search = '';
    url.hash = '';
    return url.toString();
  } catch {
    return 'configured';
  }
}

/** Drops `user:password@` from anything that looks like a URL, for messages. */
export function redactUrl(text: string): string {
  return text.replace(/\/\/[^/@\s]*@/g, '//***@');
}

type Parsed = { ok: true; value: Record<string, string> } | { ok: false; problem: string };

/**
 * `k=v,k2=v2` with percent-encoded keys and values, as OTEL_EXPORTER_OTLP_HEADERS
 * and OTEL_RESOURCE_ATTRIBUTES use (W3C Baggage octets). Surrounding spaces are trimmed.
 */
export function parseKeyValueList(raw: string): Parsed {
  const out: Record<string, string> = {};
  const entries = raw.split(',');
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) return { ok: false, problem: `entry ${i + 1} is not key=value` };
    try {
      const key = decodeURIComponent(entry.slice(0, eq).trim());
      const value = decodeURIComponent(entry.slice(eq + 1).trim());
      if (key === '') return { ok: false, problem: `entry ${i + 1} has an empty key` };
      out[key] = value;
    } catch {
      return { ok: false, problem: `entry ${i + 1} has a malformed percent-encoding` };
    }
  }
  return { ok: true, value: out };
}
