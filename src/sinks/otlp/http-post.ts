/**
 * The OTLP sink's default transport: a `fetch`-shaped POST on node:http(s)
 * with keep-alive connections. Undici's `fetch` copies every request body
 * into a web stream before writing it (about a sixth of the main thread's
 * busy time in the benchmark's das-n, where a worker-prepared megabyte goes
 * out per request); here the body's bytes go to the socket as they are.
 *
 * Only what the sink uses is supported: a URL, a byte or string body, headers
 * and an AbortSignal. Failures look like `fetch`'s: a network error, or an
 * answer no Response can hold, rejects with a TypeError whose `cause` says
 * why (the socket's `code`); an abort rejects with the signal's reason.
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
    // A Request carries its own method, headers and body, which this transport would not see.
    if (typeof input !== 'string' && !(input instanceof URL)) return Promise.reject(new TypeError('httpPost takes a URL, not a Request'));
    const url = new URL(input);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return Promise.reject(new TypeError(`unsupported protocol ${url.protocol}`));
    const body = init.body;
    if (body !== undefined && body !== null && !(body instanceof Uint8Array) && typeof body !== 'string') {
      return Promise.reject(new TypeError('httpPost sends byte or string bodies only'));
    }
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const headers: Record<string, string | number> = {};
    new Headers(init.headers).forEach((value, name) => (headers[name] = value));
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
          let answer: Response;
          try {
            answer = responseOf(response.statusCode ?? 0, response.statusMessage ?? '', response.headers, Buffer.concat(chunks));
          } catch (error) {
            // What node:http parses but a Response cannot hold (status 600-999, a control character in the reason): a bad answer, not a crash.
            fail(new Error(`unreadable answer (HTTP status ${response.statusCode}): ${(error as Error).message}`, { cause: error }));
            return;
          }
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          resolve(answer);
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

function responseOf(status: number, statusText: string, received: http.IncomingHttpHeaders, body: Buffer): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(received)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  // A Response cannot carry a body with these statuses.
  const empty = status === 204 || status === 205 || status === 304;
  return new Response(empty ? null : body, { status, statusText, headers });
}
