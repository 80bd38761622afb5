import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import t from 'tap';
import { GrpcCode, rejected, retryable } from '../../src/errors.js';
import { CONNECTION_WINDOW_BYTES, createGrpcReceiver, STREAM_WINDOW_BYTES } from '../../src/receive/grpc-receiver.js';
import type { Receiver } from '../../src/receive/types.js';
import { decodeRpcStatus } from '../../src/rpc-status.js';
import { SIGNALS, SIGNAL_WIRE, type Signal } from '../../src/signals.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { payload, recordingLogger, scriptedIngest, type ScriptedIngest } from './scripted-ingest.js';

const MAX = 64 * 1024;
const identity = (b: Buffer): Buffer => b;

const { root } = protobuf.parse(`
syntax = "proto3";
message PartialSuccess { int64 rejected = 1; string error_message = 2; }
message Response { PartialSuccess partial_success = 1; }
`);
const ResponseType = root.lookupType('Response');

interface Harness {
  receiver: Receiver;
  script: ScriptedIngest;
  metrics: GatewayMetrics;
  address: string;
  client: grpc.Client;
  gzipClient: grpc.Client;
}

/** A tap subtest (the type of the callback's argument). */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

async function startHarness(t: TapTest): Promise<Harness> {
  const script = scriptedIngest();
  const metrics = createMetrics({ defaultMetrics: false });
  const receiver = createGrpcReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: 0 }, maxMessageBytes: MAX },
    { open: script.open, metrics, logger: recordingLogger() },
  );
  const { host, port } = await receiver.start();
  t.ok(port > 0, 'bound a port');
  const address = `${host}:${port}`;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  // 2 = gzip (grpc-js compression algorithm enum)
  const gzipClient = new grpc.Client(address, grpc.credentials.createInsecure(), {
    'grpc.default_compression_algorithm': 2,
  });
  t.teardown(async () => {
    client.close();
    gzipClient.close();
    await receiver.stop(1000);
  });
  return { receiver, script, metrics, address, client, gzipClient };
}

type Reply = { err: grpc.ServiceError | null; res?: Buffer };

function call(client: grpc.Client, signal: Signal, body: Buffer, metadata = new grpc.Metadata()): Promise<Reply> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(SIGNAL_WIRE[signal].grpcPath, identity, identity, body, metadata, (err, res) =>
      resolve({ err, res }),
    );
  });
}

async function metricValue(metrics: GatewayMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v ? Number(v.value) : 0;
}

t.test('gRPC receiver', async (t) => {
  const h = await startHarness(t);

  t.test('every signal: the bytes arrive untouched, success is an empty response', async (t) => {
    for (const signal of SIGNALS) {
      const body = payload(1000, SIGNALS.indexOf(signal) + 1);
      const before = h.script.calls.length;
      const md = new grpc.Metadata();
      md.set('X-Scope-OrgID', 'acme');
      md.set('Authorization', 'Bearer abc');
      md.set('trace-bin', Buffer.from([1, 2, 3]));
      const r = await call(h.client, signal, body, md);
      t.equal(r.err, null, `${signal}: no error`);
      t.equal(r.res?.length, 0, `${signal}: empty Export*ServiceResponse`);
      const c = h.script.calls[before];
      t.ok(c, `${signal}: ingest called`);
      if (!c) continue;
      t.equal(c.signal, signal);
      t.equal(c.encoding, 'protobuf');
      t.ok(c.body.equals(body), `${signal}: body byte-identical`);
      t.equal(c.ctx.protocol, 'grpc');
      t.equal(c.ctx.remoteAddress, '127.0.0.1');
      t.equal(c.ctx.headers['x-scope-orgid'], 'acme', 'metadata keys are lower-cased');
      t.equal(c.ctx.headers.authorization, 'Bearer abc');
      t.notOk('trace-bin' in c.ctx.headers, 'binary metadata is left out');
    }
    t.equal(await metricValue(h.metrics, 'receiver_requests_total', { signal: 'logs', protocol: 'grpc', outcome: 'ok' }), 1);
    t.equal(await metricValue(h.metrics, 'receiver_request_bytes_total', { signal: 'traces', protocol: 'grpc' }), 1000);
  });

  t.test('partial success is returned in the response', async (t) => {
    h.script.answer({ status: 'ok', rejectedItems: 3, errorMessage: '3 spans had no trace id' });
    const r = await call(h.client, 'traces', payload(100));
    h.script.answer({ status: 'ok' });
    t.equal(r.err, null);
    const decoded = ResponseType.toObject(ResponseType.decode(r.res!), { longs: Number });
    t.same(decoded, { partialSuccess: { rejected: 3, errorMessage: '3 spans had no trace id' } });
  });

  t.test('malformed → INVALID_ARGUMENT, not retryable (no RetryInfo)', async (t) => {
    h.script.answer(rejected('MALFORMED_PAYLOAD', 'resource_spans[0].scope_spans[1]: truncated at offset 17'));
    const r = await call(h.client, 'traces', payload(100));
    h.script.answer({ status: 'ok' });
    t.equal(r.err?.code, GrpcCode.INVALID_ARGUMENT);
    t.equal(r.err?.details, 'resource_spans[0].scope_spans[1]: truncated at offset 17');
    const details = r.err?.metadata.get('grpc-status-details-bin')[0];
    t.ok(Buffer.isBuffer(details), 'Status in grpc-status-details-bin');
    t.same(decodeRpcStatus(details as Buffer), {
      code: GrpcCode.INVALID_ARGUMENT,
      message: 'resource_spans[0].scope_spans[1]: truncated at offset 17',
    });
    t.equal(await metricValue(h.metrics, 'receiver_requests_total', { signal: 'traces', outcome: 'MALFORMED_PAYLOAD' }), 1);
  });

  t.test('retryable → UNAVAILABLE with RetryInfo; RATE_LIMITED → RESOURCE_EXHAUSTED with RetryInfo', async (t) => {
    h.script.answer(retryable('OVERLOADED', 2500));
    const r = await call(h.client, 'metrics', payload(100));
    t.equal(r.err?.code, GrpcCode.UNAVAILABLE);
    const st = decodeRpcStatus(r.err?.metadata.get('grpc-status-details-bin')[0] as Buffer);
    t.equal(st?.code, GrpcCode.UNAVAILABLE);
    t.equal(st?.retryDelayMs, 2500);

    h.script.answer(retryable('RATE_LIMITED', 4000));
    const q = await call(h.client, 'logs', payload(100));
    h.script.answer({ status: 'ok' });
    t.equal(q.err?.code, GrpcCode.RESOURCE_EXHAUSTED);
    // OTLP: RESOURCE_EXHAUSTED is retryable only because RetryInfo is present
    t.equal(decodeRpcStatus(q.err?.metadata.get('grpc-status-details-bin')[0] as Buffer)?.retryDelayMs, 4000);
  });

  t.test('a throwing ingest is INTERNAL and the server keeps serving', async (t) => {
    h.script.answer(() => {
      throw new Error('bug');
    });
    const r = await call(h.client, 'traces', payload(10));
    h.script.answer({ status: 'ok' });
    t.equal(r.err?.code, GrpcCode.INTERNAL);
    const ok = await call(h.client, 'traces', payload(10));
    t.equal(ok.err, null);
  });

  t.test('a gzip-compressed request is accepted and arrives decompressed', async (t) => {
    const body = Buffer.concat([payload(2000, 7), Buffer.alloc(20_000, 0x61)]);
    const before = h.script.calls.length;
    const r = await call(h.gzipClient, 'logs', body);
    t.equal(r.err, null);
    t.ok(h.script.calls[before]?.body.equals(body), 'body byte-identical after grpc-js inflated it');
  });

  t.test('too large → RESOURCE_EXHAUSTED from the receiver, without calling ingest, counted', async (t) => {
    const before = h.script.calls.length;
    const plain = await call(h.client, 'traces', payload(MAX + 1));
    t.equal(plain.err?.code, GrpcCode.RESOURCE_EXHAUSTED, 'uncompressed over the limit');
    t.notOk(decodeRpcStatus((plain.err?.metadata.get('grpc-status-details-bin')[0] as Buffer) ?? Buffer.alloc(0))?.retryDelayMs,
      'no RetryInfo: the client must not retry');

    // 4 MiB of zeros gzip to ~4 KiB: far below the limit on the wire, far above it inflated.
    const bomb = await call(h.gzipClient, 'traces', Buffer.alloc(4 << 20));
    t.equal(bomb.err?.code, GrpcCode.RESOURCE_EXHAUSTED, 'the limit applies after decompression');
    t.match(bomb.err?.details, /after decompression/);

    t.equal(h.script.calls.length, before, 'ingest never saw them');
    t.equal(await metricValue(h.metrics, 'receiver_refused_requests_total', {
      signal: 'traces', protocol: 'grpc', tenant: 'unknown', reason: 'PAYLOAD_TOO_LARGE',
    }), 2);
    t.equal(await metricValue(h.metrics, 'receiver_requests_total', { signal: 'traces', outcome: 'PAYLOAD_TOO_LARGE' }), 2);

    const exact = await call(h.client, 'traces', payload(MAX));
    t.equal(exact.err, null, 'exactly the limit is accepted');
    const after = await call(h.gzipClient, 'traces', payload(100));
    t.equal(after.err, null, 'and the server still serves');
  });

  t.test('an unknown method is UNIMPLEMENTED', async (t) => {
    const r = await new Promise<Reply>((resolve) =>
      h.client.makeUnaryRequest('/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export',
        identity, identity, Buffer.alloc(1), (err, res) => resolve({ err, res })),
    );
    t.equal(r.err?.code, GrpcCode.UNIMPLEMENTED);
  });

  t.test('advertises wide HTTP/2 flow-control windows (a large request needs no WINDOW_UPDATE round trips)', async (t) => {
    const session = http2.connect(`http://${h.address}`);
    t.teardown(() => session.destroy());
    session.on('error', () => {});
    // The server's first SETTINGS carry nghttp2's defaults; the widened ones follow in a second frame.
    const settings = await new Promise<http2.Settings | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 5000);
      session.on('remoteSettings', (s) => {
        if (s.initialWindowSize === STREAM_WINDOW_BYTES) {
          clearTimeout(timer);
          resolve(s);
        }
      });
    });
    t.equal(settings?.initialWindowSize, STREAM_WINDOW_BYTES, 'per-stream window');
    t.ok(STREAM_WINDOW_BYTES >= 1024 * 1024 && CONNECTION_WINDOW_BYTES >= STREAM_WINDOW_BYTES, 'at least 1 MiB per stream');
    const big = await call(h.client, 'traces', payload(MAX));
    t.equal(big.err, null, 'requests still work');
  });
});

t.test('stop lets in-flight calls finish within the deadline', async (t) => {
  const h = await startHarness(t);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  h.script.answer(async () => {
    await gate;
    return { status: 'ok' };
  });
  const pending = call(h.client, 'traces', payload(10));
  while (h.script.calls.length === 0) await new Promise((r) => setTimeout(r, 5));
  const stopped = h.receiver.stop(5000);
  setTimeout(release, 100);
  const r = await pending;
  t.equal(r.err, null, 'the in-flight call completed');
  await stopped;
  const late = await call(h.client, 'traces', payload(10));
  t.equal(late.err?.code, GrpcCode.UNAVAILABLE, 'no longer listening');
});

t.test('stop cuts calls still running at the deadline', async (t) => {
  const h = await startHarness(t);
  h.script.answer(() => new Promise(() => {})); // never answers
  const pending = call(h.client, 'traces', payload(10));
  while (h.script.calls.length === 0) await new Promise((r) => setTimeout(r, 5));
  const started = performance.now();
  await h.receiver.stop(200);
  const took = performance.now() - started;
  t.ok(took >= 150 && took < 2000, `stop returned at the deadline (${took.toFixed(0)} ms)`);
  const r = await pending;
  t.ok(r.err, `the hanging call failed (${r.err?.code})`);
});

t.test('a port in use fails start; stop still resolves', async (t) => {
  const h = await startHarness(t);
  const other = createGrpcReceiver(
    { enabled: true, endpoint: { host: '127.0.0.1', port: Number(h.address.split(':')[1]) }, maxMessageBytes: MAX },
    { open: h.script.open, metrics: createMetrics({ defaultMetrics: false }), logger: recordingLogger() },
  );
  await t.rejects(other.start(), /EADDRINUSE/);
  await other.stop(0);
  const r = await call(h.client, 'traces', payload(5));
  t.equal(r.err, null, 'the first receiver is unaffected');
});
