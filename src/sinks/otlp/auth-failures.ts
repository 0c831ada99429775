/**
 * Makes a refused credential visible. An OTLP endpoint answering 401, 403 or
 * 407 is retried like an outage (the events are kept, nothing is
 * dead-lettered: dead-lettering a stream for a wrong token would lose it),
 * which alone would look like a quiet exporter with a climbing retry counter.
 * From the second refusal in a row, until a request is accepted again, the
 * sink reports `otlp_unauthorized` (the streams' `/readyz` reason) and logs
 * one line a minute at most naming the endpoint, its status and the names of
 * the configured headers, never their values; the URL is shown without user
 * info, query or fragment, where a credential could sit.
 */
import type { Logger } from '../../source/kinesis/observer.ts';
import { endpointForLogs } from './config.ts';

/** The `/readyz` reason while the endpoint refuses the credentials. */
export const OTLP_UNAUTHORIZED = 'otlp_unauthorized';

/** Unauthorized, Forbidden, Proxy Authentication Required. */
export const AUTH_FAILURE_STATUS: ReadonlySet<number> = new Set([401, 403, 407]);

export interface AuthFailureWatchOptions {
  endpoint: string;
  /** The configured header names (values are never read here). */
  headerNames: readonly string[];
  clock: () => Date;
  log?: Logger;
  /** Refusals in a row before the sink reports itself unauthorized (default 2). */
  threshold?: number;
  /** Least time between two log lines while refused (default one minute). */
  logIntervalMs?: number;
}

export class AuthFailureWatch {
  readonly #endpoint: string;
  readonly #headerNames: readonly string[];
  readonly #clock: () => Date;
  readonly #log: Logger | undefined;
  readonly #threshold: number;
  readonly #logIntervalMs: number;
  #consecutive = 0;
  #loggedAt: number | null = null;

  constructor(options: AuthFailureWatchOptions) {
    this.#endpoint = endpointForLogs(options.endpoint);
    this.#headerNames = options.headerNames;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#threshold = options.threshold ?? 2;
    this.#logIntervalMs = options.logIntervalMs ?? 60_000;
  }

  /** True from the threshold-th refusal in a row until a request is accepted. */
  get unauthorized(): boolean {
    return this.#consecutive >= this.#threshold;
  }

  /** Runs on every 401, 403 or 407. */
  refused(status: number): void {
    this.#consecutive++;
    if (!this.unauthorized) return;
    const now = this.#clock().getTime();
    if (this.#loggedAt !== null && now - this.#loggedAt < this.#logIntervalMs) return;
    this.#loggedAt = now;
    const who = status === 407 ? 'the proxy in front of the OTLP endpoint wants credentials' : 'the OTLP endpoint refuses das-exporter\'s credentials';
    this.#log?.error(`${who}: events are kept and retried until it accepts them; check OTEL_EXPORTER_OTLP_HEADERS and the endpoint`, {
      endpoint: this.#endpoint,
      status,
      consecutiveRefusals: this.#consecutive,
      headers: this.#headerNames,
    });
  }

  /** Runs on every accepted request (2xx). */
  accepted(): void {
    if (this.unauthorized) {
      this.#log?.info('the OTLP endpoint accepts das-exporter\'s credentials again', { endpoint: this.#endpoint, refusedBefore: this.#consecutive });
    }
    this.#consecutive = 0;
    this.#loggedAt = null;
  }
}
