import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { httpPost } from '../../src/sinks/otlp/http-post.ts';

/** A real HTTP server on 127.0.0.1 that answers each request with `handler`. */
async function serve(handler: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void): Promise<{ url: string; server: Server; sockets: () => number }> {
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks), res));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`, server, sockets: () => connections };
}

describe('the OTLP sink transport on node:http (httpPost)', () => {
  const transport = httpPost();
  const servers: Server[] = [];
  after(() => transport.close());
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
  });

  it('sends the bytes, headers and length as given, and answers with status, headers and body', async () => {
    let seen: { method?: string; type?: string; length?: string; body?: Buffer } = {};
    const { url, server } = await serve((req, body, res) => {
      seen = { method: req.method, type: req.headers['content-type'], length: req.headers['content-length'], body };
      res.writeHead(503, { 'retry-after': '7', 'content-type': 'text/plain' });
      res.end('ingester unavailable');
    });
    servers.push(server);
    const body = new Uint8Array([0, 1, 2, 250, 255]);
    const response = await transport.fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
    assert.deepEqual(seen, { method: 'POST', type: 'application/x-protobuf', length: '5', body: Buffer.from(body) });
    assert.equal(response.status, 503);
    assert.equal(response.headers.get('retry-after'), '7');
    assert.equal(await response.text(), 'ingester unavailable');
  });

  it('keeps the connection open from one request to the next', async () => {
    const { url, server, sockets } = await serve((_req, _body, res) => res.end());
    servers.push(server);
    for (let i = 0; i < 5; i++) assert.equal((await transport.fetch(url, { method: 'POST', body: new Uint8Array(10) })).status, 200);
    assert.equal(sockets(), 1);
  });

  it('answers a 204 with an empty body', async () => {
    const { url, server } = await serve((_req, _body, res) => {
      res.writeHead(204);
      res.end();
    });
    servers.push(server);
    const response = await transport.fetch(url, { method: 'POST', body: new Uint8Array(1) });
    assert.equal(response.status, 204);
    assert.equal((await response.arrayBuffer()).byteLength, 0);
  });

  it('rejects like fetch when nobody listens: a TypeError whose cause has the socket code', async () => {
    const { url, server } = await serve(() => {});
    await new Promise((resolve) => server.close(resolve));
    const error = await transport.fetch(url, { method: 'POST', body: new Uint8Array(1) }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e as TypeError & { cause: { code: string } },
    );
    assert.ok(error instanceof TypeError);
    assert.equal(error.cause.code, 'ECONNREFUSED');
  });

  it('gives up when the signal fires, with the signal reason, and the server sees the request end', async () => {
    let closed!: () => void;
    const aborted = new Promise<void>((resolve) => (closed = resolve));
    const { url, server } = await serve((req) => req.socket.once('close', closed));
    servers.push(server);
    const signal = AbortSignal.timeout(100);
    const error = await transport.fetch(url, { method: 'POST', body: new Uint8Array(1), signal }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e as Error,
    );
    assert.equal(error.name, 'TimeoutError');
    assert.ok(signal.aborted);
    await aborted;
  });

  it('rejects, never throws out of the socket, an answer a Response cannot hold (status 600, a control character in the reason)', async () => {
    for (const statusLine of ['HTTP/1.1 600 Weird', 'HTTP/1.1 200 O\x7fK']) {
      const tcp = createTcpServer((socket) => {
        socket.once('data', () => socket.end(`${statusLine}\r\ncontent-length: 2\r\n\r\nok`));
      });
      await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(tcp.address() as AddressInfo).port}/v1/logs`;
      const error = await transport.fetch(url, { method: 'POST', body: new Uint8Array(1) }).then(
        () => assert.fail(`resolved for ${JSON.stringify(statusLine)}`),
        (e: unknown) => e,
      );
      assert.ok(error instanceof TypeError, `${JSON.stringify(statusLine)}: ${String(error)}`);
      await new Promise((resolve) => tcp.close(resolve));
    }
  });

  it('sends headers given as a Headers object or as pairs, and refuses a Request it would only half read', async () => {
    const seen: (string | undefined)[] = [];
    const { url, server } = await serve((req, _body, res) => {
      seen.push(req.headers['authorization']);
      res.end();
    });
    servers.push(server);
    await transport.fetch(url, { method: 'POST', headers: new Headers({ authorization: 'Bearer a' }), body: new Uint8Array(1) });
    await transport.fetch(url, { method: 'POST', headers: [['authorization', 'Bearer b']], body: new Uint8Array(1) });
    assert.deepEqual(seen, ['Bearer a', 'Bearer b']);
    await assert.rejects(transport.fetch(new Request(url, { method: 'POST', body: 'x' })), /takes a URL, not a Request/);
  });

  it('refuses what the sink never sends instead of sending something else', async () => {
    await assert.rejects(transport.fetch('ftp://127.0.0.1/x', { method: 'POST' }), /unsupported protocol ftp:/);
    await assert.rejects(transport.fetch('http://127.0.0.1:1/x', { method: 'POST', body: new Blob(['x']) }), /byte or string bodies only/);
  });
});
