import t from 'tap';
import { exporterDefaults, type ExporterConfig, type ExporterKind } from '../../src/config/types.js';
import { GrpcCode } from '../../src/errors.js';
import { createExporter } from '../../src/export/exporter.js';
import type { ExportBatch, Transport, TransportResult } from '../../src/export/transport.js';
import type { Signal } from '../../src/signals.js';
import { silentLogger } from '../../src/telemetry/logger-types.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { startOtlpSink, type OtlpSink, type ReceivedRequest } from '../helpers/otlp-sink.js';
import { valueOf } from './metrics-util.js';
import { decodeLogs, decodeTraces, logsRequest, traceRequest } from './otlp-build.js';

const sink = await startOtlpSink();
t.teardown(() => sink.close());
t.beforeEach(() => sink.reset());

function config(kind: ExporterKind, endpoint: string, overrides: Partial<ExporterConfig> = {}): ExporterConfig {
  return {
    name: `${kind}-test`,
    kind,
    endpoint,
    ...exporterDefaults(kind),
    timeoutMs: 2000,
    batch: { maxBytes: 64 * 1024, maxItems: 7, flushIntervalMs: 20, passThroughBytes: 1 << 30 },
    retry: { initialBackoffMs: 20, maxBackoffMs: 100, maxElapsedMs: 10_000 },
    ...overrides,
  };
}

function item(signal: Signal, tenant: string, name: string) {
  const body = signal === 'logs' ? logsRequest([{ service: tenant, names: [name] }]) : traceRequest([{ service: tenant, names: [name] }]);
  return { signal, tenant, body, items: 1 };
}

function namesOf(r: ReceivedRequest): string[] {
  return (r.signal === 'logs' ? decodeLogs(r.body) : decodeTraces(r.body)).flatMap((x) => x.names);
}

const totalNames = (s: OtlpSink) => s.received().reduce((n, r) => n + namesOf(r).length, 0);

for (const kind of ['otlp-grpc', 'otlp-http'] as const) {
  t.test(`${kind}: everything offered arrives exactly once, per tenant, despite failures`, async (t) => {
    const metrics = createMetrics({ defaultMetrics: false });
    const endpoint = kind === 'otlp-grpc' ? sink.grpcAddress : sink.httpUrl;
    const exp = createExporter(config(kind, endpoint), { metrics, logger: silentLogger, transportOptions: { tenantHeader: 'x-scope-orgid' } });
    await exp.start();
    const failure = kind === 'otlp-grpc' ? { grpcCode: GrpcCode.UNAVAILABLE } : { httpStatus: 503 };
    sink.failNext(3, failure);
    const tenants = ['acme', 'globex', 'initech'];
    const expected: string[] = [];
    for (let i = 0; i < 150; i++) {
      const tenant = tenants[i % 3]!;
      const signal: Signal = i % 2 === 0 ? 'traces' : 'logs';
      const name = `${tenant}|${signal}|${i}`;
      expected.push(name);
      t.equal(exp.offer(item(signal, tenant, name)).status, 'ok');
    }
    await sink.waitFor(() => totalNames(sink) >= expected.length, 10_000);
    await exp.shutdown(2000);
    const got: string[] = [];
    for (const r of sink.received()) {
      const names = namesOf(r);
      got.push(...names);
      for (const n of names) {
        const [tenant, signal] = n.split('|');
        if (tenant !== r.headers['x-scope-orgid'] || signal !== r.signal) t.fail(`${n} arrived in a ${r.signal} batch for ${r.headers['x-scope-orgid']}`);
      }
      if (names.length > 7) t.fail(`batch of ${names.length} exceeds maxItems`);
    }
    t.same(got.slice().sort(), expected.slice().sort(), 'each item exactly once');
    t.equal(sink.requests.filter((r) => r.outcome === 'failed').length, 3);
    t.equal(await valueOf(metrics.exporterSentItems, { exporter: `${kind}-test` }), 150);
    t.equal(await valueOf(metrics.exporterSentBatches), sink.received().length);
    t.equal(await valueOf(metrics.exporterRetries), 3);
    t.equal(await valueOf(metrics.exportFailures), 3);
    t.equal(await valueOf(metrics.exporterDroppedItems), 0);
    t.equal(await valueOf(metrics.exporterQueueBytes, { exporter: `${kind}-test` }), 0, 'queue empty at the end');
  });
}

const honouringRetry = { initialBackoffMs: 20, maxBackoffMs: 5000, maxElapsedMs: 10_000 };

t.test('Retry-After (HTTP) is honoured up to maxBackoff: the retry waits at least the hint', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const exp = createExporter(config('otlp-http', sink.httpUrl, { retry: honouringRetry }), { metrics, logger: silentLogger });
  await exp.start();
  sink.failNext(1, { httpStatus: 429, retryAfterMs: 1000 });
  exp.offer(item('traces', 'acme', 'x'));
  await sink.waitFor((r) => r.length === 1, 5000);
  const [failed, ok] = sink.requests;
  const waited = ok!.at - failed!.at;
  t.ok(waited >= 990, `waited ${waited} ms ≥ 1000 ms`);
  t.ok(waited < 2500, `but not much longer (${waited} ms)`);
  t.equal(await valueOf(metrics.exportFailures, { reason: 'http_429' }), 1);
  await exp.shutdown(1000);
});

t.test('RetryInfo (gRPC RESOURCE_EXHAUSTED) is honoured', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const exp = createExporter(config('otlp-grpc', sink.grpcAddress, { retry: honouringRetry }), { metrics, logger: silentLogger });
  await exp.start();
  sink.failNext(1, { grpcCode: GrpcCode.RESOURCE_EXHAUSTED, retryAfterMs: 600 });
  exp.offer(item('traces', 'acme', 'x'));
  await sink.waitFor((r) => r.length === 1, 5000);
  const waited = sink.requests[1]!.at - sink.requests[0]!.at;
  t.ok(waited >= 590 && waited < 2000, `waited ${waited} ms for a 600 ms RetryInfo`);
  t.equal(await valueOf(metrics.exportFailures, { reason: 'grpc_resource_exhausted' }), 1);
  await exp.shutdown(1000);
});

t.test('a permanent error (400) drops the batch at once and counts it', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const exp = createExporter(config('otlp-http', sink.httpUrl), { metrics, logger: silentLogger });
  await exp.start();
  sink.failNext(1, { httpStatus: 400 });
  exp.offer(item('traces', 'acme', 'a'));
  exp.offer(item('traces', 'acme', 'b'));
  await exp.shutdown(2000);
  t.equal(sink.requests.length, 1, 'not retried');
  t.equal(await valueOf(metrics.exporterDroppedItems, { reason: 'permanent', signal: 'traces' }), 2);
  t.equal(await valueOf(metrics.exportFailures, { reason: 'http_400' }), 1);
  t.equal(await valueOf(metrics.exporterRetries), 0);
  t.equal(await valueOf(metrics.exporterSentItems), 0);
});

t.test('retry.whenExhausted drop: retries exhausted after maxElapsedMs: dropped and counted', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const exp = createExporter(config('otlp-http', sink.httpUrl, { retry: { initialBackoffMs: 20, maxBackoffMs: 50, maxElapsedMs: 300, whenExhausted: 'drop' } }), {
    metrics,
    logger: silentLogger,
  });
  await exp.start();
  sink.failNext(1000, { httpStatus: 503 });
  const started = Date.now();
  exp.offer(item('logs', 'acme', 'a'));
  while ((await valueOf(metrics.exporterDroppedItems)) === 0 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
  const took = Date.now() - started;
  t.equal(await valueOf(metrics.exporterDroppedItems, { reason: 'retries_exhausted', signal: 'logs' }), 1);
  t.ok(took < 1500, `gave up after ~maxElapsedMs (${took} ms)`);
  const attempts = sink.requests.length;
  t.ok(attempts >= 4, `retried several times (${attempts} attempts)`);
  t.equal(await valueOf(metrics.exporterRetries), attempts - 1);
  t.equal(await valueOf(metrics.exportFailures, { reason: 'http_503' }), attempts);
  await exp.shutdown(100);
});

/** A transport that holds every send until released. */
function gatedTransport() {
  const pending: Array<{ batch: ExportBatch; resolve: (r: TransportResult) => void }> = [];
  const sent: ExportBatch[] = [];
  let arrived: (() => void) | undefined;
  const transport: Transport = {
    kind: 'gated',
    send(batch, abort) {
      return new Promise((resolve) => {
        const entry = { batch, resolve };
        pending.push(entry);
        arrived?.();
        abort?.addEventListener('abort', () => resolve({ status: 'retryable', reason: 'aborted' }), { once: true });
      });
    },
    async close() {},
  };
  return {
    transport,
    sent,
    get pending() {
      return pending.length;
    },
    /** Resolves once a send is waiting at the gate. */
    sendArrived(): Promise<void> {
      return pending.length > 0 ? Promise.resolve() : new Promise((r) => (arrived = r));
    },
    releaseAll() {
      for (const p of pending.splice(0)) {
        sent.push(p.batch);
        p.resolve({ status: 'ok' });
      }
    },
  };
}

t.test('queue full: hasRoomFor/offer refuse with retryable OVERLOADED and count; room returns after acks', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const gate = gatedTransport();
  const one = item('traces', 'acme', 'x');
  const size = one.body.length;
  const exp = createExporter(
    config('otlp-http', 'http://unused', { queueMaxBytes: size * 3, concurrency: 1, batch: { maxBytes: size, maxItems: 100, flushIntervalMs: 1000, passThroughBytes: 1 << 30 } }),
    { metrics, logger: silentLogger, transport: gate.transport },
  );
  await exp.start();
  t.ok(exp.hasRoomFor(size * 3));
  t.notOk(exp.hasRoomFor(size * 3 + 1));
  for (let i = 0; i < 3; i++) t.equal(exp.offer(item('traces', 'acme', 'x')).status, 'ok');
  t.equal(gate.pending, 1, 'one in flight (concurrency 1), two queued');
  t.equal(await valueOf(metrics.exporterQueueBytes), size * 3, 'bytes in flight and queued both count');
  t.equal(await valueOf(metrics.exporterQueueBatches), 3);
  t.notOk(exp.hasRoomFor(1));
  const refused = exp.offer({ ...item('traces', 'acme', 'x'), items: 5 });
  t.match(refused, { status: 'retryable', code: 'OVERLOADED' });
  t.ok(refused.status === 'retryable' && refused.retryAfterMs > 0, 'with a retry hint');
  t.equal(await valueOf(metrics.exporterRefusedItems, { exporter: 'otlp-http-test', signal: 'traces' }), 5);
  gate.releaseAll();
  await gate.sendArrived(); // the acknowledgement was handled, the next batch sent
  t.ok(exp.hasRoomFor(size), 'room again after the backend acknowledged');
  gate.releaseAll();
  await gate.sendArrived();
  gate.releaseAll();
  await exp.shutdown(1000);
  t.equal(gate.sent.length, 3);
  t.equal(await valueOf(metrics.exporterSentItems), 3);
  t.equal(await valueOf(metrics.exporterQueueBytes), 0);
});

t.test('shutdown flushes pending batches at once and drains a healthy backend', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const exp = createExporter(config('otlp-grpc', sink.grpcAddress, { batch: { maxBytes: 1 << 20, maxItems: 1000, flushIntervalMs: 60_000, passThroughBytes: 1 << 30 } }), {
    metrics,
    logger: silentLogger,
  });
  await exp.start();
  for (let i = 0; i < 20; i++) exp.offer(item('traces', i % 2 ? 'a' : 'b', `n${i}`));
  t.equal(sink.requests.length, 0, 'held by the batcher (60 s interval)');
  const started = Date.now();
  await exp.shutdown(5000);
  t.ok(Date.now() - started < 2000, 'did not wait for the interval');
  t.equal(totalNames(sink), 20);
  t.equal(sink.received().length, 2, 'one batch per tenant');
  t.match(exp.offer(item('traces', 'a', 'late')), { status: 'retryable', code: 'SHUTTING_DOWN' });
  t.notOk(exp.hasRoomFor(1));
});

t.test('shutdown with the backend down: ends by the deadline and counts what it drops', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const down = await startOtlpSink();
  const endpoint = down.httpUrl;
  await down.close();
  const exp = createExporter(config('otlp-http', endpoint, { batch: { maxBytes: 1 << 20, maxItems: 3, flushIntervalMs: 10, passThroughBytes: 1 << 30 } }), { metrics, logger: silentLogger });
  await exp.start();
  for (let i = 0; i < 10; i++) exp.offer(item('logs', 'acme', `n${i}`));
  while ((await valueOf(metrics.exportFailures, { reason: 'network' })) === 0) await new Promise((r) => setTimeout(r, 10)); // attempts failing
  const started = Date.now();
  await exp.shutdown(400);
  const took = Date.now() - started;
  // Without the deadline it would retry for minutes (retry budget); the margin is for a busy machine.
  t.ok(took < 3000, `shutdown returned near its 400 ms deadline (${took} ms)`);
  t.equal(await valueOf(metrics.exporterDroppedItems, { reason: 'shutdown', signal: 'logs' }), 10, 'every item counted as dropped');
  t.equal(await valueOf(metrics.exporterSentItems), 0);
  t.ok((await valueOf(metrics.exportFailures, { reason: 'network' })) >= 1, 'attempts failed with network errors');
  t.equal(await valueOf(metrics.exporterQueueBytes), 0);
});

t.test('shutdown cancels a request hanging at the deadline', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const exp = createExporter(config('otlp-grpc', sink.grpcAddress, { timeoutMs: 10_000 }), { metrics, logger: silentLogger });
  await exp.start();
  sink.delayNext(5, 5000);
  exp.offer(item('traces', 'acme', 'slow'));
  await new Promise((r) => setTimeout(r, 100));
  const started = Date.now();
  await exp.shutdown(300);
  const took = Date.now() - started;
  t.ok(took >= 280 && took < 1200, `waited for the deadline, then cancelled (${took} ms)`);
  t.equal(await valueOf(metrics.exporterDroppedItems, { reason: 'shutdown' }), 1);
  t.equal(await valueOf(metrics.exportFailures), 0, 'a cancellation is not a backend failure');
});
