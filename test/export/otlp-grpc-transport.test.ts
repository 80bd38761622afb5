import t, { type Test } from 'tap';
import * as http2 from 'node:http2';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { exporterDefaults } from '../../src/config/types.js';
import { GrpcCode } from '../../src/errors.js';
import { createOtlpGrpcTransport, grpcCodeFromHttpStatus, grpcTimeoutHeader } from '../../src/export/otlp-grpc-transport.js';
import type { Transport } from '../../src/export/transport.js';
import { encodeRpcStatus } from '../../src/rpc-status.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { decodeTraces, logsRequest, traceRequest } from './otlp-build.js';

const sink = await startOtlpSink();
t.teardown(() => sink.close());
t.beforeEach(() => sink.reset());

function transport(t: Test, overrides: Partial<ReturnType<typeof exporterDefaults>> & { endpoint?: string } = {}, tenantHeader?: string): Transport {
  const tr = createOtlpGrpcTransport(
    { ...exporterDefaults('otlp-grpc'), endpoint: sink.grpcAddress, timeoutMs: 2000, ...overrides },
    tenantHeader ? { tenantHeader } : {},
  );
  t.teardown(() => tr.close());
  return tr;
}

const traces = traceRequest([{ service: 'svc', names: ['a', 'b'] }]);
const batch = { signal: 'traces' as const, tenant: 'acme', body: traces, items: 2 };

/** A TCP relay to `target` (host:port) that counts client bytes and connections and can cut them all. */
async function relay(t: Test, target = sink.grpcAddress) {
  let bytes = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  const [host, port] = target.split(':');
  const server = createServer((client) => {
    connections++;
    const upstream = connect(Number(port), host!);
    sockets.add(client).add(upstream);
    client.on('data', (d: Buffer) => (bytes += d.length));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    bytes: () => bytes,
    connections: () => connections,
    cut: () => {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
  };
}

t.test('ok: the bytes arrive unchanged on the signal\'s service, with headers and the tenant', async (t) => {
  const bin = Buffer.from([1, 2, 3, 250]).toString('base64');
  const tr = transport(t, { headers: { 'X-Api-Key': 'k1', 'x-trace-bin': bin } }, 'X-Scope-OrgID');
  t.same(await tr.send(batch), { status: 'ok' });
  const logs = logsRequest([{ service: 'svc', names: ['l'] }]);
  t.same(await tr.send({ signal: 'logs', tenant: 'globex', body: logs, items: 1 }), { status: 'ok' });
  t.equal(sink.received().length, 2);
  const [r1, r2] = sink.received();
  t.equal(r1!.signal, 'traces');
  t.equal(r1!.protocol, 'grpc');
  t.same(r1!.body, Buffer.from(traces));
  t.same(decodeTraces(r1!.body), [{ service: 'svc', names: ['a', 'b'] }]);
  t.equal(r1!.headers['x-api-key'], 'k1');
  t.equal(r1!.headers['x-trace-bin'], bin, 'binary metadata passes as given (base64)');
  t.equal(r1!.headers['x-scope-orgid'], 'acme');
  t.match(r1!.headers['user-agent'], /stella-gateway/);
  t.equal(r2!.signal, 'logs');
  t.same(r2!.body, Buffer.from(logs));
  t.equal(r2!.headers['x-scope-orgid'], 'globex');
});

t.test('a body that is a view into a larger buffer is sent as just the view', async (t) => {
  const backing = new Uint8Array(traces.length + 20).fill(0xee);
  backing.set(traces, 10);
  const tr = transport(t);
  t.same(await tr.send({ ...batch, body: backing.subarray(10, 10 + traces.length) }), { status: 'ok' });
  t.same(sink.received()[0]!.body, Buffer.from(traces));
});

t.test('no tenant header unless configured', async (t) => {
  const tr = transport(t);
  t.same(await tr.send(batch), { status: 'ok' });
  t.equal(sink.received()[0]!.headers['x-scope-orgid'], undefined);
});

t.test('concurrent sends share one connection', async (t) => {
  const r = await relay(t);
  const tr = transport(t, { endpoint: r.address });
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => tr.send({ ...batch, tenant: `t${i}` })));
  t.same(results, Array.from({ length: 8 }, () => ({ status: 'ok' })));
  t.equal(sink.received().length, 8);
  t.equal(r.connections(), 1);
});

t.test('gzip compression: fewer bytes on the wire, the server gets the same request', async (t) => {
  const big = traceRequest([{ service: 'svc', names: Array.from({ length: 2000 }, (_, i) => `span-${i % 10}`) }]);
  const sizes: number[] = [];
  for (const compression of ['none', 'gzip'] as const) {
    sink.reset();
    const r = await relay(t);
    const tr = transport(t, { compression, endpoint: r.address });
    t.same(await tr.send({ signal: 'traces', tenant: 'acme', body: big, items: 2000 }), { status: 'ok' });
    t.same(sink.received()[0]!.body, Buffer.from(big), `${compression}: same bytes at the server`);
    await tr.close();
    sizes.push(r.bytes());
  }
  t.ok(sizes[0]! > big.length, `uncompressed: ${sizes[0]} bytes on the wire for a ${big.length}-byte request`);
  t.ok(sizes[1]! < big.length / 4, `gzip: ${sizes[1]} bytes on the wire`);
});

t.test('RESOURCE_EXHAUSTED with RetryInfo is retryable and carries the delay', async (t) => {
  const tr = transport(t);
  sink.failNext(1, { grpcCode: GrpcCode.RESOURCE_EXHAUSTED, retryAfterMs: 1500 });
  const r = await tr.send(batch);
  t.same(r, { status: 'retryable', reason: 'grpc_resource_exhausted', retryAfterMs: 1500, message: 'scripted failure' });
  t.equal(sink.received().length, 0);
  t.equal(sink.requests.length, 1);
});

t.test('RESOURCE_EXHAUSTED without RetryInfo is permanent', async (t) => {
  const tr = transport(t);
  sink.failNext(1, { grpcCode: GrpcCode.RESOURCE_EXHAUSTED });
  const r = await tr.send(batch);
  t.same(r, { status: 'permanent', reason: 'grpc_resource_exhausted', message: 'scripted failure' });
});

t.test('UNAVAILABLE is retryable; INVALID_ARGUMENT is permanent', async (t) => {
  const tr = transport(t);
  sink.failNext(1, { grpcCode: GrpcCode.UNAVAILABLE });
  sink.failNext(1, { grpcCode: GrpcCode.INVALID_ARGUMENT });
  const a = await tr.send(batch);
  const b = await tr.send(batch);
  t.same(a, { status: 'retryable', reason: 'grpc_unavailable', message: 'scripted failure' }, 'no hint without RetryInfo');
  t.same(b, { status: 'permanent', reason: 'grpc_invalid_argument', message: 'scripted failure' });
  t.same(await tr.send(batch), { status: 'ok' }, 'the session is still usable after failed calls');
});

t.test('deadline: a slow backend gives retryable DEADLINE_EXCEEDED after timeoutMs', async (t) => {
  const tr = transport(t, { timeoutMs: 200 });
  sink.delayNext(1, 1500);
  const started = Date.now();
  const r = await tr.send(batch);
  const took = Date.now() - started;
  t.match(r, { status: 'retryable', reason: 'grpc_deadline_exceeded' });
  t.ok(took >= 190 && took < 1200, `answered after the deadline, not the backend (${took} ms)`);
  t.same(await tr.send(batch), { status: 'ok' }, 'the cancelled stream did not spoil the session');
});

t.test('abort cancels an in-flight call', async (t) => {
  const tr = transport(t);
  sink.delayNext(1, 3000);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const started = Date.now();
  const r = await tr.send(batch, ac.signal);
  t.same(r, { status: 'retryable', reason: 'aborted', message: 'export cancelled by shutdown' });
  t.ok(Date.now() - started < 1500);
  t.match(await tr.send(batch, ac.signal), { reason: 'aborted' }, 'already aborted: not sent');
  t.equal(sink.requests.length, 1);
});

async function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

t.test('nobody listening: retryable UNAVAILABLE, and a later server is reached', async (t) => {
  const port = await freePort();
  const tr = transport(t, { endpoint: `127.0.0.1:${port}` });
  const r = await tr.send(batch);
  t.match(r, { status: 'retryable', reason: 'grpc_unavailable', message: /ECONNREFUSED/ });
  // A relay on that port now forwards to the sink: the next send makes a new session.
  const sockets = new Set<Socket>();
  const server = createServer((c) => {
    const [host, p] = sink.grpcAddress.split(':');
    const up = connect(Number(p), host!);
    sockets.add(c).add(up);
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
    c.on('close', () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }));
  t.same(await tr.send(batch), { status: 'ok' });
  await tr.close();
});

t.test('connection lost: in-flight sends are retryable UNAVAILABLE, later sends use a new session', async (t) => {
  const r = await relay(t);
  const tr = transport(t, { endpoint: r.address });
  t.same(await tr.send(batch), { status: 'ok' });
  sink.delayNext(2, 3000);
  const inflight = Promise.all([tr.send(batch), tr.send(batch)]);
  await sink.waitFor((received) => received.length === 3, 3000);
  const started = Date.now();
  r.cut();
  const results = await inflight;
  t.ok(Date.now() - started < 1000, 'settled when the connection died, not at the deadline');
  for (const res of results) t.match(res, { status: 'retryable', reason: 'grpc_unavailable' });
  t.same(await tr.send(batch), { status: 'ok' });
  t.equal(r.connections(), 2, 'a second connection was made');
});

t.test('server restart: the sink goes away and a new one takes over', async (t) => {
  // The sink cannot rebind a fixed port, so a relay stands for the backend's address.
  const first = await startOtlpSink();
  let target = first.grpcAddress;
  const sockets = new Set<Socket>();
  const front = createServer((c) => {
    const [host, p] = target.split(':');
    const up = connect(Number(p), host!);
    sockets.add(c).add(up);
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); front.close(() => resolve()); }));
  const tr = transport(t, { endpoint: `127.0.0.1:${(front.address() as AddressInfo).port}` });
  t.same(await tr.send(batch), { status: 'ok' });
  await first.close();
  const second = await startOtlpSink();
  t.teardown(() => second.close());
  target = second.grpcAddress;
  // The first send after the restart may meet the dying session; a retry must succeed.
  let r = await tr.send(batch);
  if (r.status !== 'ok') {
    t.match(r, { status: 'retryable' }, 'a send on the dead session is retryable');
    r = await tr.send(batch);
  }
  t.same(r, { status: 'ok' });
  t.equal(second.received().length, 1, 'the new backend got it');
  t.equal(first.received().length, 1, 'the old backend only got the send before the restart');
});

/** A raw HTTP/2 server answering every stream with `answer`, for responses grpc-js servers do not produce. */
async function rawServer(t: Test, answer: (stream: http2.ServerHttp2Stream) => void): Promise<string> {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.resume();
    stream.on('end', () => answer(stream));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  t.teardown(() => new Promise<void>((resolve) => { for (const s of sessions) s.destroy(); server.close(() => resolve()); }));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('non-200 HTTP statuses map per gRPC\'s HTTP-to-gRPC table', async (t) => {
  const statuses = [503, 429, 404, 401, 403, 400, 502, 500];
  const queue = [...statuses];
  const endpoint = await rawServer(t, (stream) => {
    // A grpc-status in a non-200 response is not trusted.
    stream.respond({ ':status': queue.shift()!, 'content-type': 'text/plain', 'grpc-status': '0' }, { endStream: true });
  });
  const tr = transport(t, { endpoint });
  const got: Record<number, unknown> = {};
  for (const s of statuses) {
    const r = await tr.send(batch);
    got[s] = r.status === 'ok' ? 'ok' : `${r.status}:${r.reason}`;
  }
  t.same(got, {
    503: 'retryable:grpc_unavailable',
    429: 'retryable:grpc_unavailable',
    502: 'retryable:grpc_unavailable',
    404: 'permanent:grpc_unimplemented',
    401: 'permanent:grpc_unauthenticated',
    403: 'permanent:grpc_permission_denied',
    400: 'permanent:grpc_internal',
    500: 'permanent:grpc_unknown',
  });
  t.equal(grpcCodeFromHttpStatus(504), GrpcCode.UNAVAILABLE);
});

t.test('Trailers-Only status, percent-encoded message and unpadded status details', async (t) => {
  const details = encodeRpcStatus({ code: GrpcCode.RESOURCE_EXHAUSTED, message: '', retryDelayMs: 700 }).toString('base64').replace(/=+$/, '');
  const answers: Array<(s: http2.ServerHttp2Stream) => void> = [
    (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '8', 'grpc-message': 'too%20many%20%E2%9C%93', 'grpc-status-details-bin': details }, { endStream: true }),
    (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '3', 'grpc-message': 'bad%zzpercent' }, { endStream: true }),
    (s) => s.respond({ ':status': 200, 'content-type': 'text/html', 'grpc-status': '0' }, { endStream: true }),
    (s) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM),
    (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-message': 'no status' }));
      s.end();
    },
  ];
  const endpoint = await rawServer(t, (s) => answers.shift()!(s));
  const tr = transport(t, { endpoint });
  t.same(await tr.send(batch), { status: 'retryable', reason: 'grpc_resource_exhausted', retryAfterMs: 700, message: 'too many ✓' });
  t.same(await tr.send(batch), { status: 'permanent', reason: 'grpc_invalid_argument', message: 'bad%zzpercent' });
  t.match(await tr.send(batch), { status: 'permanent', reason: 'grpc_unknown' }, 'not a gRPC content-type');
  t.match(await tr.send(batch), { status: 'retryable', reason: 'grpc_unavailable' }, 'REFUSED_STREAM');
  t.match(await tr.send(batch), { status: 'permanent', reason: 'grpc_internal' }, 'trailers without grpc-status');
});

t.test('the request is framed as one length-prefixed message with gRPC headers', async (t) => {
  let seen: { headers: http2.IncomingHttpHeaders; body: Buffer } | undefined;
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      seen = { headers, body: Buffer.concat(chunks) };
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  t.teardown(() => new Promise<void>((resolve) => { for (const s of sessions) s.destroy(); server.close(() => resolve()); }));
  const tr = transport(t, { endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 1500, headers: { Connection: 'x', 'content-type': 'text/plain' } });
  t.same(await tr.send({ ...batch, signal: 'metrics' }), { status: 'ok' });
  t.match(seen!.headers, {
    ':method': 'POST',
    ':path': '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': '1500m',
  });
  t.equal(seen!.headers['grpc-encoding'], undefined);
  t.equal(seen!.body[0], 0, 'not compressed');
  t.equal(seen!.body.readUInt32BE(1), traces.length);
  t.same(seen!.body.subarray(5), Buffer.from(traces));
});

t.test('grpc-timeout stays within 8 digits', async (t) => {
  t.equal(grpcTimeoutHeader(10_000), '10000m');
  t.equal(grpcTimeoutHeader(99_999_999), '99999999m');
  t.equal(grpcTimeoutHeader(100_000_000), '100000S');
  t.equal(grpcTimeoutHeader(1e12), '277778H');
});

t.test('after close, sends do not reconnect', async (t) => {
  const r = await relay(t);
  const tr = transport(t, { endpoint: r.address });
  t.same(await tr.send(batch), { status: 'ok' });
  await tr.close();
  t.match(await tr.send(batch), { status: 'retryable', reason: 'grpc_unavailable' });
  t.equal(r.connections(), 1);
});
