import t from 'tap';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { exporterDefaults } from '../../src/config/types.js';
import { classifyHttpStatus, createOtlpHttpTransport } from '../../src/export/otlp-http-transport.js';
import { ConfigError, RETRYABLE_HTTP_STATUSES } from '../../src/errors.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { decodeLogs, logsRequest, traceRequest } from './otlp-build.js';

const sink = await startOtlpSink();
t.teardown(() => sink.close());
t.beforeEach(() => sink.reset());

function transport(overrides: Partial<ReturnType<typeof exporterDefaults>> & { endpoint?: string } = {}, tenantHeader?: string) {
  const tr = createOtlpHttpTransport(
    { ...exporterDefaults('otlp-http'), endpoint: sink.httpUrl, timeoutMs: 2000, ...overrides },
    tenantHeader ? { tenantHeader } : {},
  );
  t.teardown(() => tr.close());
  return tr;
}

const traces = traceRequest([{ service: 'svc', names: ['a', 'b'] }]);

t.test('ok: protobuf POST to /v1/{signal} with headers and the tenant', async (t) => {
  const tr = transport({ headers: { Authorization: 'Bearer x' } }, 'X-Scope-OrgID');
  const logs = logsRequest([{ service: 'svc', names: ['hello'] }]);
  t.same(await tr.send({ signal: 'logs', tenant: 'acme', body: logs, items: 1 }), { status: 'ok' });
  t.same(await tr.send({ signal: 'traces', tenant: 'globex', body: traces, items: 2 }), { status: 'ok' });
  const [r1, r2] = sink.received();
  t.equal(r1!.signal, 'logs');
  t.equal(r1!.protocol, 'http');
  t.equal(r1!.encoding, 'protobuf');
  t.equal(r1!.headers['content-type'], 'application/x-protobuf');
  t.equal(r1!.headers['authorization'], 'Bearer x');
  t.equal(r1!.headers['x-scope-orgid'], 'acme');
  t.same(decodeLogs(r1!.body), [{ service: 'svc', names: ['hello'] }]);
  t.equal(r2!.signal, 'traces');
  t.equal(r2!.headers['x-scope-orgid'], 'globex');
  t.same(r2!.body, Buffer.from(traces));
});

t.test('gzip: Content-Encoding gzip and the same request after decompression', async (t) => {
  const tr = transport({ compression: 'gzip' });
  t.same(await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 }), { status: 'ok' });
  const r = sink.received()[0]!;
  t.equal(r.headers['content-encoding'], 'gzip');
  t.same(r.body, Buffer.from(traces));
});

t.test('a path prefix in the endpoint is kept', async (t) => {
  const paths: string[] = [];
  const server = createHttpServer((req, res) => {
    paths.push(req.url ?? '');
    req.resume().on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const tr = transport({ endpoint: `http://127.0.0.1:${port}/otlp/` });
  t.same(await tr.send({ signal: 'metrics', tenant: 'acme', body: traces, items: 2 }), { status: 'ok' });
  t.same(paths, ['/otlp/v1/metrics']);
});

t.test('the retryable statuses (429/502/503/504, src/errors.ts) are retryable and carry Retry-After', async (t) => {
  const tr = transport();
  for (const status of RETRYABLE_HTTP_STATUSES) {
    sink.failNext(1, { httpStatus: status, retryAfterMs: 2000 });
    const r = await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 });
    t.match(r, { status: 'retryable', reason: `http_${status}`, retryAfterMs: 2000 }, `HTTP ${status}`);
  }
  sink.failNext(1, { httpStatus: 503 });
  const r = await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 });
  t.equal(r.status === 'retryable' && r.retryAfterMs, undefined, 'no Retry-After, no hint');
});

t.test('400 and 500 are permanent; the Status message is decoded', async (t) => {
  const tr = transport();
  sink.failNext(1, { httpStatus: 400 });
  sink.failNext(1, { httpStatus: 500 });
  t.same(await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 }), {
    status: 'permanent',
    reason: 'http_400',
    message: 'HTTP 400: scripted failure',
  });
  t.match(await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 }), { status: 'permanent', reason: 'http_500' });
  t.equal(sink.received().length, 0);
});

// The sink holds its answer far longer than any test runs (it is cancelled at close): a result other
// than the one expected means the transport waited for the answer.
const HELD_MS = 120_000;

t.test('timeout: retryable after timeoutMs', async (t) => {
  const tr = transport({ timeoutMs: 200 });
  sink.delayNext(1, HELD_MS);
  const started = Date.now();
  const r = await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 });
  const took = Date.now() - started;
  t.match(r, { status: 'retryable', reason: 'timeout' }, 'gave up without the answer');
  t.ok(took >= 190, `not before timeoutMs (${took} ms)`);
});

t.test('abort cancels an in-flight request', async (t) => {
  const tr = transport();
  sink.delayNext(1, HELD_MS);
  const ac = new AbortController();
  // Aborted once the backend holds the request: in flight, not before it was sent.
  const arrived = sink.received().length;
  void sink.waitFor((r) => r.length > arrived).then(() => ac.abort());
  t.match(await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 }, ac.signal), { status: 'retryable', reason: 'aborted' });
});

t.test('connection refused: retryable network error', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const tr = transport({ endpoint: `http://127.0.0.1:${port}` });
  t.same(await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 }), { status: 'retryable', reason: 'network', message: 'ECONNREFUSED' });
});

t.test('bad endpoints fail at construction', async (t) => {
  t.throws(() => createOtlpHttpTransport({ ...exporterDefaults('otlp-http'), endpoint: 'localhost:4318' }), ConfigError);
  t.throws(() => createOtlpHttpTransport({ ...exporterDefaults('otlp-http'), endpoint: 'not a url' }), ConfigError);
});

t.test('classification table', async (t) => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  t.same(classifyHttpStatus(200, {}, Buffer.alloc(0)), { status: 'ok' });
  t.same(classifyHttpStatus(204, {}, Buffer.alloc(0)), { status: 'ok' });
  t.match(classifyHttpStatus(503, { 'retry-after': 'Wed, 01 Jan 2025 00:00:03 GMT' }, Buffer.alloc(0), now), { retryAfterMs: 3000 });
  t.match(classifyHttpStatus(429, { 'retry-after': '7' }, Buffer.alloc(0), now), { status: 'retryable', retryAfterMs: 7000 });
  for (const s of [400, 401, 403, 404, 413, 415, 500, 501]) t.equal(classifyHttpStatus(s, {}, Buffer.alloc(0)).status, 'permanent', `${s}`);
  t.match(classifyHttpStatus(400, { 'content-type': 'text/plain' }, Buffer.from('bad things')), { message: 'HTTP 400: bad things' });
});
