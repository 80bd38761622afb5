// The receivers' share of issue 18, finding 9: a gRPC message flagged compressed without
// grpc-encoding is refused as the spec says (INTERNAL), and an HTTP drain answers every client
// cleanly (no ECONNRESET), and oversized metadata ends that call or connection, never the receiver.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import t from 'tap';
import { GrpcCode } from '../../src/errors.js';
import { createGrpcReceiver } from '../../src/receive/grpc-receiver.js';
import { createHttpReceiver } from '../../src/receive/http-receiver.js';
import type { IngestOutcome } from '../../src/receive/types.js';
import { SIGNAL_WIRE } from '../../src/signals.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { grpcCall } from '../helpers/raw-otlp-clients.js';
import { payload, recordingLogger, scriptedIngest } from './scripted-ingest.js';

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

async function grpcReceiver(t: TapTest) {
  const script = scriptedIngest();
  const receiver = createGrpcReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxMessageBytes: 1 << 20 },
    { open: script.open, metrics: createMetrics({ defaultMetrics: false }), logger: recordingLogger() },
  );
  const { port } = await receiver.start();
  t.teardown(() => receiver.stop(1000));
  return { script, port };
}

t.test('a message flagged compressed without grpc-encoding is INTERNAL (gRPC spec), identity too', async (t) => {
  const { script, port } = await grpcReceiver(t);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.teardown(() => session.close());
  const none = await grpcCall(session, 'traces', payload(100), { compressedFlag: true });
  t.equal(none.status, GrpcCode.INTERNAL, 'no grpc-encoding');
  t.match(none.message, /flagged compressed/);
  const ident = await grpcCall(session, 'traces', payload(100), { compressedFlag: true, encoding: 'identity' });
  t.equal(ident.status, GrpcCode.INTERNAL, 'grpc-encoding: identity');
  t.equal(script.calls.length, 0, 'nothing reached ingest');
  t.equal((await grpcCall(session, 'traces', payload(100))).status, GrpcCode.OK, 'a well-framed call is served');
});

t.test('HTTP drain: in flight answered, kept-alive connections get SHUTTING_DOWN + close, no reset', async (t) => {
  const script = scriptedIngest();
  const receiver = createHttpReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxBodyBytes: 1 << 20 },
    { open: script.open, metrics: createMetrics({ defaultMetrics: false }), logger: recordingLogger() },
  );
  const { port } = await receiver.start();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => agent.destroy());
  const post = (): Promise<{ status?: number; connection?: string; error?: string }> =>
    new Promise((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: '/v1/traces', method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection }));
        },
      );
      req.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
      req.end(payload(100));
    });

  // Four kept-alive connections, idle in the agent's pool.
  t.same((await Promise.all([post(), post(), post(), post()])).map((r) => r.status), [200, 200, 200, 200]);
  // One request in flight when the drain starts.
  let release!: (o: IngestOutcome) => void;
  script.answer(() => new Promise<IngestOutcome>((resolve) => (release = resolve)));
  const before = script.calls.length;
  const inFlight = post();
  while (script.calls.length === before) await new Promise((r) => setImmediate(r));
  const stopped = receiver.stop(10_000);
  // New requests on the kept-alive connections while draining.
  const during = await Promise.all([post(), post(), post()]);
  for (const r of during) {
    t.equal(r.error, undefined, 'no transport error');
    t.equal(r.status, 503, 'SHUTTING_DOWN');
    t.equal(r.connection, 'close', 'with Connection: close');
  }
  release({ status: 'ok' });
  t.equal((await inFlight).status, 200, 'the request in flight is answered');
  await stopped;
  t.pass('the drain completes');
});

// Clients that really send oversized metadata. node's own client refuses by itself to send a header
// block over 64 KiB (maxSendHeaderBlockLength) or one its session memory cannot hold: grpc-js then
// leaves such a call waiting for its deadline without a byte reaching the gateway (docs/guides/limits.md).
function bigHeaderSession(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, { maxSendHeaderBlockLength: 32 << 20, maxSessionMemory: 256 });
  session.on('error', () => {});
  return session;
}

t.test('metadata over maxHeaderListBytes: HEADERS_TOO_LARGE for that call, the connection keeps serving', async (t) => {
  const { script, port } = await grpcReceiver(t);
  const session = bigHeaderSession(port);
  t.teardown(() => session.close());
  const headers: Record<string, string> = {};
  for (let i = 0; i < 32; i++) headers[`x-big-${i}`] = 'a'.repeat(4096); // 128 KiB > the 64 KiB default
  const big = await grpcCall(session, 'traces', payload(100), { headers });
  t.equal(big.status, GrpcCode.RESOURCE_EXHAUSTED, 'RESOURCE_EXHAUSTED');
  t.match(big.message, /call metadata is 13\d{4} bytes, over receivers.grpc.maxHeaderListBytes \(65536\)/);
  t.equal(script.calls.length, 0, 'nothing reached ingest');
  t.equal((await grpcCall(session, 'traces', payload(100))).status, GrpcCode.OK, 'the same connection serves the next call');
});

t.test('a multi-MiB metadata value closes that connection (HPACK limit), others are served', async (t) => {
  const { port } = await grpcReceiver(t);
  const bad = bigHeaderSession(port);
  t.teardown(() => bad.destroy());
  const closed = new Promise<number | undefined>((resolve) => {
    let code: number | undefined;
    bad.on('goaway', (c) => (code = c));
    bad.on('close', () => resolve(code));
  });
  const big = await grpcCall(bad, 'traces', payload(100), { headers: { 'x-big': 'a'.repeat(2 << 20) } });
  t.equal(big.status, undefined, 'no gRPC status for headers the server could not decode');
  t.equal(await closed, http2.constants.NGHTTP2_COMPRESSION_ERROR, 'the connection is closed with COMPRESSION_ERROR');
  const good = http2.connect(`http://127.0.0.1:${port}`);
  good.on('error', () => {});
  t.teardown(() => good.close());
  t.equal((await grpcCall(good, 'traces', payload(100))).status, GrpcCode.OK, 'a new connection is served');
});
