/**
 * The OTLP sink's default transport: a `fetch`-shaped POST on node:http(s)
 * with keep-alive connections. Undici's `fetch` copies every request body
 * into a web stream before writing it (about a fifth of the main thread's
 * time when a worker-prepared megabyte goes out per request); here the
 * body's bytes go to the socket as they are.
 *
 * Only what the sink uses is supported: POST-like requests with a byte body,
 * a plain header record and an AbortSignal. Failures look like `fetch`'s: a
 * network error rejects with a TypeError whose `cause` carries the socket's
 * `code`; an abort rejects with the signal's reason.
 */
import http from 'node:http';
import https from 'node:https';

export type Fetch = typeof globalThis.fetch;

export interface HttpPost {
  fetch: Fetch;
  /** Closes idle connections; a later request opens new ones. */
  close(): void;
}

export function httpPost(): HttpPost {
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };
  const fetch = ((input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new TypeError(`unsupported protocol ${url.protocol}`));
    const body = init.body;
    if (body !== undefined && body !== null && !(body instanceof Uint8Array) && typeof body !== 'string') {
      return Promise.reject(new TypeError('httpPost sends byte or string bodies only'));
    }
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const headers: Record<string, string | number> = { ...(init.headers as Record<string, string> | undefined) };
    const bytes = typeof body === 'string' ? Buffer.from(body) : body ?? undefined;
    headers['content-length'] = bytes?.length ?? 0;

    return new Promise<Response>((resolve, reject) => {
      const request = (url.protocol === 'https:' ? https : http).request(url, { method: init.method ?? 'GET', headers, agent: agents[url.protocol as 'http:' | 'https:'] });
      const onAbort = () => request.destroy(signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason)));
      signal?.addEventListener('abort', onAbort, { once: true });
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error }));
      };
      request.on('error', fail);
      request.on('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', fail);
        response.on('end', () => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          const answer = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            if (value !== undefined) answer.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          const status = response.statusCode ?? 0;
          // A Response cannot carry a body with these statuses.
          const empty = status === 204 || status === 205 || status === 304;
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status, statusText: response.statusMessage ?? '', headers: answer }));
        });
      });
      request.end(bytes);
    });
  }) as Fetch;
  return {
    fetch,
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
