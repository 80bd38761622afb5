// The sink is the backend of every integration test; check the parts the exporter tests do not reach.
import t from 'tap';
import { gzipSync } from 'node:zlib';
import { decodeRpcStatus } from '../../src/rpc-status.js';
import { startOtlpSink } from './otlp-sink.js';

const sink = await startOtlpSink();
t.teardown(() => sink.close());
t.beforeEach(() => sink.reset());

t.test('HTTP JSON and gzip bodies are recorded decompressed, with their encoding', async (t) => {
  const json = JSON.stringify({ resourceSpans: [] });
  const r1 = await fetch(`${sink.httpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json });
  t.equal(r1.status, 200);
  t.equal(await r1.text(), '{}');
  const r2 = await fetch(`${sink.httpUrl}/v1/logs`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
    body: gzipSync(Buffer.from([0x0a, 0x00])),
  });
  t.equal(r2.status, 200);
  const [a, b] = sink.received();
  t.match(a, { signal: 'traces', protocol: 'http', encoding: 'json' });
  t.equal(a!.body.toString(), json);
  t.match(b, { signal: 'logs', encoding: 'protobuf' });
  t.same(b!.body, Buffer.from([0x0a, 0x00]));
  t.same(sink.received('logs').length, 1);
});

t.test('unknown paths are 404 and not recorded', async (t) => {
  const r = await fetch(`${sink.httpUrl}/v1/profiles`, { method: 'POST', body: 'x' });
  t.equal(r.status, 404);
  t.equal(sink.requests.length, 0);
});

t.test('scripted HTTP failure: status, Retry-After, a google.rpc.Status body; protocol filter', async (t) => {
  sink.failNext(1, { httpStatus: 429, retryAfterMs: 1500, protocol: 'http' });
  const r = await fetch(`${sink.httpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: '' });
  t.equal(r.status, 429);
  t.equal(r.headers.get('retry-after'), '2', 'whole seconds, rounded up');
  t.match(decodeRpcStatus(new Uint8Array(await r.arrayBuffer())), { message: 'scripted failure' });
  t.equal(sink.requests[0]!.outcome, 'failed');
  t.equal(sink.received().length, 0);
  sink.failNext(1, { protocol: 'grpc' });
  const ok = await fetch(`${sink.httpUrl}/v1/traces`, { method: 'POST', body: '' });
  t.equal(ok.status, 200, 'a gRPC-only failure does not hit HTTP requests');
});

t.test('waitFor rejects with a useful message on timeout', async (t) => {
  await t.rejects(sink.waitFor((r) => r.length > 0, 50), /within 50 ms.*traces=0/);
});
