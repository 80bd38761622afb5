import t, { type Test } from 'tap';
import { connect, createServer, type AddressInfo } from 'node:net';
import { exporterDefaults } from '../../src/config/types.js';
import { GrpcCode } from '../../src/errors.js';
import { classifyGrpcStatus, createOtlpGrpcTransport } from '../../src/export/otlp-grpc-transport.js';
import { encodeRpcStatus } from '../../src/rpc-status.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { decodeTraces, logsRequest, traceRequest } from './otlp-build.js';

const sink = await startOtlpSink();
t.teardown(() => sink.close());
t.beforeEach(() => sink.reset());

function transport(overrides: Partial<ReturnType<typeof exporterDefaults>> & { endpoint?: string } = {}, tenantHeader?: string) {
  const tr = createOtlpGrpcTransport(
    { ...exporterDefaults('otlp-grpc'), endpoint: sink.grpcAddress, timeoutMs: 2000, ...overrides },
    tenantHeader ? { tenantHeader } : {},
  );
  t.teardown(() => tr.close());
  return tr;
}

const traces = traceRequest([{ service: 'svc', names: ['a', 'b'] }]);

t.test('ok: the bytes arrive unchanged on the signal\'s service, with headers and the tenant', async (t) => {
  const tr = transport({ headers: { 'X-Api-Key': 'k1' } }, 'x-scope-orgid');
  t.same(await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 }), { status: 'ok' });
  const logs = logsRequest([{ service: 'svc', names: ['l'] }]);
  t.same(await tr.send({ signal: 'logs', tenant: 'globex', body: logs, items: 1 }), { status: 'ok' });
  t.equal(sink.received().length, 2);
  const [r1, r2] = sink.received();
  t.equal(r1!.signal, 'traces');
  t.equal(r1!.protocol, 'grpc');
  t.same(r1!.body, Buffer.from(traces));
  t.same(decodeTraces(r1!.body), [{ service: 'svc', names: ['a', 'b'] }]);
  t.equal(r1!.headers['x-api-key'], 'k1');
  t.equal(r1!.headers['x-scope-orgid'], 'acme');
  t.equal(r2!.signal, 'logs');
  t.equal(r2!.headers['x-scope-orgid'], 'globex');
});

t.test('no tenant header unless configured', async (t) => {
  const tr = transport();
  t.same(await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 }), { status: 'ok' });
  t.equal(sink.received()[0]!.headers['x-scope-orgid'], undefined);
});

/** A TCP relay to the sink's gRPC port that counts the bytes the client sends. */
async function countingRelay(t: Test): Promise<{ address: string; bytes: () => number }> {
  let bytes = 0;
  const [host, port] = sink.grpcAddress.split(':');
  const relay = createServer((client) => {
    const upstream = connect(Number(port), host!);
    client.on('data', (d: Buffer) => (bytes += d.length));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => relay.close(() => resolve())));
  return { address: `127.0.0.1:${(relay.address() as AddressInfo).port}`, bytes: () => bytes };
}

t.test('gzip compression: fewer bytes on the wire, the server gets the same request', async (t) => {
  const big = traceRequest([{ service: 'svc', names: Array.from({ length: 2000 }, (_, i) => `span-${i % 10}`) }]);
  const sizes: number[] = [];
  for (const compression of ['none', 'gzip'] as const) {
    sink.reset();
    const relay = await countingRelay(t);
    const tr = transport({ compression, endpoint: relay.address });
    t.same(await tr.send({ signal: 'traces', tenant: 'acme', body: big, items: 2000 }), { status: 'ok' });
    t.same(sink.received()[0]!.body, Buffer.from(big), `${compression}: same bytes at the server`);
    await tr.close();
    sizes.push(relay.bytes());
  }
  t.ok(sizes[0]! > big.length, `uncompressed: ${sizes[0]} bytes on the wire for a ${big.length}-byte request`);
  t.ok(sizes[1]! < big.length / 4, `gzip: ${sizes[1]} bytes on the wire`);
});

t.test('RESOURCE_EXHAUSTED with RetryInfo is retryable and carries the delay', async (t) => {
  const tr = transport();
  sink.failNext(1, { grpcCode: GrpcCode.RESOURCE_EXHAUSTED, retryAfterMs: 1500 });
  const r = await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 });
  t.same(r, { status: 'retryable', reason: 'grpc_resource_exhausted', retryAfterMs: 1500, message: 'scripted failure' });
  t.equal(sink.received().length, 0);
  t.equal(sink.requests.length, 1);
});

t.test('RESOURCE_EXHAUSTED without RetryInfo is permanent', async (t) => {
  const tr = transport();
  sink.failNext(1, { grpcCode: GrpcCode.RESOURCE_EXHAUSTED });
  const r = await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 });
  t.equal(r.status, 'permanent');
  t.equal(r.status !== 'ok' && r.reason, 'grpc_resource_exhausted');
});

t.test('UNAVAILABLE is retryable; INVALID_ARGUMENT is permanent', async (t) => {
  const tr = transport();
  sink.failNext(1, { grpcCode: GrpcCode.UNAVAILABLE });
  sink.failNext(1, { grpcCode: GrpcCode.INVALID_ARGUMENT });
  const a = await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 });
  const b = await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 });
  t.match(a, { status: 'retryable', reason: 'grpc_unavailable' });
  t.notOk('retryAfterMs' in a && a.retryAfterMs !== undefined, 'no hint without RetryInfo');
  t.match(b, { status: 'permanent', reason: 'grpc_invalid_argument' });
});

t.test('deadline: a slow backend gives retryable DEADLINE_EXCEEDED after timeoutMs', async (t) => {
  const tr = transport({ timeoutMs: 200 });
  sink.delayNext(1, 1500);
  const started = Date.now();
  const r = await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 });
  const took = Date.now() - started;
  t.match(r, { status: 'retryable', reason: 'grpc_deadline_exceeded' });
  t.ok(took >= 190 && took < 1200, `answered after the deadline, not the backend (${took} ms)`);
});

t.test('abort cancels an in-flight call', async (t) => {
  const tr = transport();
  sink.delayNext(1, 3000);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const started = Date.now();
  const r = await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 }, ac.signal);
  t.match(r, { status: 'retryable', reason: 'aborted' });
  t.ok(Date.now() - started < 1500);
  t.match(await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 }, ac.signal), { reason: 'aborted' }, 'already aborted: not sent');
});

t.test('nobody listening: retryable UNAVAILABLE', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const tr = createOtlpGrpcTransport({ ...exporterDefaults('otlp-grpc'), endpoint: `127.0.0.1:${port}`, timeoutMs: 2000 });
  t.teardown(() => tr.close());
  t.match(await tr.send({ signal: 'traces', tenant: 'acme', body: traces, items: 2 }), { status: 'retryable', reason: 'grpc_unavailable' });
});

t.test('classification table (OTLP spec)', async (t) => {
  const retryableCodes: number[] = [GrpcCode.CANCELLED, GrpcCode.DEADLINE_EXCEEDED, GrpcCode.ABORTED, GrpcCode.OUT_OF_RANGE, GrpcCode.UNAVAILABLE, GrpcCode.DATA_LOSS];
  for (const code of Object.values(GrpcCode)) {
    if (code === GrpcCode.OK) continue;
    const r = classifyGrpcStatus(code, 'x');
    t.equal(r.status, retryableCodes.includes(code) ? 'retryable' : 'permanent', `code ${code} without RetryInfo`);
  }
  const withInfo = encodeRpcStatus({ code: GrpcCode.RESOURCE_EXHAUSTED, message: 'slow down', retryDelayMs: 2500 });
  t.same(classifyGrpcStatus(GrpcCode.RESOURCE_EXHAUSTED, 'x', withInfo), {
    status: 'retryable',
    reason: 'grpc_resource_exhausted',
    retryAfterMs: 2500,
    message: 'slow down',
  });
  t.same(classifyGrpcStatus(GrpcCode.UNAVAILABLE, 'detail', Buffer.from([0xff, 0xff])), { status: 'retryable', reason: 'grpc_unavailable', message: 'detail' }, 'garbage details are ignored');
});
