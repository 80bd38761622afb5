import t, { type Test } from 'tap';
import { createProcessPool, type ProcessPool } from '../../src/process/pool.js';
import type { ProcessConfig } from '../../src/config/types.js';
import type { ProcessTask } from '../../src/process/protocol.js';
import { summariesOf } from '../../src/process/wire/trace-columns.js';
import { decodeForComparison } from '../../src/process/reference/reference.js';
import { createMetrics, type GatewayMetrics } from '../../src/telemetry/metrics.js';
import { bytes, kv, anyString, span, tracesRequest, vint } from '../helpers/wire-builder.js';
import { createRng, generateRequest } from '../helpers/generate-otlp.js';

const T1 = '0102030405060708090a0b0c0d0e0f10';
const testWorker = new URL('./fixtures/test-worker.js', import.meta.url);

function pool(t: Test, config: Partial<ProcessConfig>, options: { testWorker?: boolean } = {}): { pool: ProcessPool; metrics: GatewayMetrics } {
  const metrics = createMetrics({ defaultMetrics: false });
  const p = createProcessPool({ workers: 1, maxQueue: 8, taskTimeoutMs: 10_000, maxQueueWaitMs: 10_000, maxExpectedWaitMs: 10_000, ...config }, { metrics, ...(options.testWorker ? { workerFile: testWorker } : {}) });
  t.teardown(() => p.close());
  return { pool: p, metrics };
}

const ownBuffer = (b: Uint8Array): Uint8Array => {
  const copy = new Uint8Array(new ArrayBuffer(b.length));
  copy.set(b);
  return copy;
};

const task = (body: Uint8Array, tenant = 'tenant-a', signal: ProcessTask['signal'] = 'traces'): ProcessTask => ({ signal, encoding: 'protobuf', body, tenant });

async function counter(metrics: GatewayMetrics, labels: Record<string, string>): Promise<number> {
  const m = await metrics.poolTasks.get();
  return m.values
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
    .reduce((a, v) => a + v.value, 0);
}

t.test('results come back correct from real workers, for all signals and both encodings', async (t) => {
  const { pool: p, metrics } = pool(t, { workers: 2 });
  const rng = createRng(99);
  for (const signal of ['traces', 'metrics', 'logs'] as const) {
    for (let i = 0; i < 5; i++) {
      const g = generateRequest(signal, rng);
      const expected = decodeForComparison(signal, g.bytes);
      const r = await p.run(task(ownBuffer(g.bytes), 'a', signal));
      if (r.status !== 'ok') {
        t.fail(`${signal}: ${r.message}`);
        continue;
      }
      t.same(decodeForComparison(signal, r.body), expected, `${signal} #${i}: same content`);
      t.equal(r.traces !== undefined, signal === 'traces');
    }
  }
  const json = Buffer.from(JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'hi' } }, {}] }] }] }));
  const r = await p.run({ signal: 'logs', encoding: 'json', body: json, tenant: 'a' });
  t.match(r, { status: 'ok', items: 2, rejectedItems: 0 });
  t.equal(await counter(metrics, { outcome: 'ok' }), 16);
  t.equal(await counter(metrics, { signal: 'logs', outcome: 'ok' }), 6);
  t.match(p.stats(), { workers: 2, inflight: 0, queued: 0, completed: 16 });
});

t.test('the body is transferred to the worker and the output transferred back', async (t) => {
  const { pool: p } = pool(t, {});
  const body = ownBuffer(tracesRequest(span({ traceId: T1, name: 'moved', attributes: [kv('k', anyString('v'))] })));
  const length = body.length;
  const r = await p.run(task(body));
  t.equal(body.byteLength, 0, 'the caller’s buffer is detached: it was moved, not copied');
  t.equal(body.buffer.byteLength, 0);
  if (r.status !== 'ok') return t.fail(r.message);
  t.equal(r.body.length, length);
  t.equal(r.body.byteOffset, 0);
  t.equal(r.body.buffer.byteLength, length, 'the result owns exactly its bytes (the transferred buffer)');
  t.match(r, { items: 1, traces: [{ traceId: T1, spans: 1 }] });

  // A view into a larger buffer (Node pools small Buffers) is copied first, and stays intact.
  const pooled = Buffer.from(tracesRequest(span({ traceId: T1 })));
  const inBigger = Buffer.concat([Buffer.from([1, 2, 3]), pooled]).subarray(3);
  const before = Buffer.from(inBigger);
  const r2 = await p.run(task(inBigger));
  t.equal(r2.status, 'ok');
  t.same(Buffer.from(inBigger), before, 'a shared buffer is left alone');
});

t.test('omitTraceSummaries leaves the per-trace summaries out (not with splitTraces); the output is the same', async (t) => {
  const { pool: p } = pool(t, {});
  const request = tracesRequest(span({ traceId: T1, name: 'a' }), span({ traceId: T1, name: 'b' }));
  const full = await p.run(task(ownBuffer(request)));
  const lean = await p.run({ ...task(ownBuffer(request)), omitTraceSummaries: true });
  if (full.status !== 'ok' || lean.status !== 'ok') return t.fail('both succeed');
  t.match(full, { items: 2, traces: [{ traceId: T1, spans: 2 }] }, 'by default the summaries come back');
  t.equal(lean.traces, undefined, 'asked to omit them: none');
  t.equal(lean.items, 2, 'the counts stay');
  t.same(Buffer.from(lean.body), Buffer.from(full.body), 'the same output bytes');
  const split = await p.run({ ...task(ownBuffer(request)), omitTraceSummaries: true, splitTraces: true });
  if (split.status !== 'ok' || !split.traceColumns) return t.fail('splitTraces needs them: kept, as columns');
  t.match(summariesOf(split.traceColumns), [{ traceId: T1, spans: 2 }], 'splitTraces needs them: kept, as columns (cloned across the thread)');
});

t.test('a malformed request is rejected and the pool keeps serving', async (t) => {
  const { pool: p, metrics } = pool(t, {});
  const bad = await p.run(task(bytes(vint(1, 1))));
  t.same(bad, { status: 'rejected', code: 'MALFORMED_PAYLOAD', message: 'ExportTraceServiceRequest: field 1 (resource_spans) has wire type 0, expected 2 (offset 0)' });
  const good = await p.run(task(ownBuffer(tracesRequest(span({ traceId: T1 })))));
  t.equal(good.status, 'ok');
  t.equal(await counter(metrics, { signal: 'traces', outcome: 'MALFORMED_PAYLOAD' }), 1);
});

t.test('a full queue answers OVERLOADED (retryable) at once', async (t) => {
  const { pool: p, metrics } = pool(t, { workers: 1, maxQueue: 1 }, { testWorker: true });
  const valid = (): Uint8Array => ownBuffer(tracesRequest(span({ traceId: T1 })));
  const running = p.run(task(valid(), 'sleep:400'));
  const queued = p.run(task(valid(), 'sleep:10'));
  t.match(p.stats(), { inflight: 2, queued: 1 });
  t.equal((await metrics.poolQueueSize.get()).values[0]?.value, 1, 'worker_pool_queue_size');
  const refused = await p.run(task(valid()));
  t.match(refused, { status: 'retryable', code: 'OVERLOADED' });
  if (refused.status === 'retryable') t.ok(refused.retryAfterMs > 0, 'with a retry hint');
  t.match(await running, { status: 'ok' });
  t.match(await queued, { status: 'ok' });
  t.equal(await counter(metrics, { outcome: 'OVERLOADED' }), 1);
  t.match(await p.run(task(valid())), { status: 'ok' }, 'room again once the queue drained');
  t.equal((await metrics.poolQueueSize.get()).values[0]?.value, 0);
});

t.test('a task over the time limit answers PROCESSING_TIMEOUT; the worker is replaced', async (t) => {
  // The limit counts from dispatch to a worker; the replacement worker may take a while to start.
  const { pool: p, metrics } = pool(t, { workers: 1, taskTimeoutMs: 2000 }, { testWorker: true });
  const started = Date.now();
  const r = await p.run(task(ownBuffer(tracesRequest(span({ traceId: T1 }))), 'sleep:20000'));
  t.match(r, { status: 'retryable', code: 'PROCESSING_TIMEOUT' });
  t.ok(Date.now() - started < 8000, 'answered near the limit, not when the task would have ended');
  // The stuck worker was terminated; its replacement may take a while to start on a busy machine, and
  // tasks queued meanwhile can time out too (without killing it): retry until it serves.
  let next = await p.run(task(ownBuffer(tracesRequest(span({ traceId: T1 })))));
  while (next.status === 'retryable' && next.code === 'PROCESSING_TIMEOUT' && Date.now() - started < 20_000) {
    next = await p.run(task(ownBuffer(tracesRequest(span({ traceId: T1 })))));
  }
  t.match(next, { status: 'ok' }, 'served by a new worker');
  t.ok((await counter(metrics, { outcome: 'PROCESSING_TIMEOUT' })) >= 1, 'counted');
});

t.test('a worker that crashes or throws fails its task with INTERNAL; the pool keeps serving', async (t) => {
  const { pool: p, metrics } = pool(t, { workers: 1 }, { testWorker: true });
  const valid = (): Uint8Array => ownBuffer(tracesRequest(span({ traceId: T1 })));
  t.match(await p.run(task(valid(), 'crash')), { status: 'rejected', code: 'INTERNAL' });
  t.match(await p.run(task(valid())), { status: 'ok' }, 'after a crash');
  t.match(await p.run(task(valid(), 'throw')), { status: 'rejected', code: 'INTERNAL' });
  t.match(await p.run(task(valid())), { status: 'ok' }, 'after a throw');
  t.equal(await counter(metrics, { outcome: 'INTERNAL' }), 2);
});

t.test('close lets running tasks finish, then refuses with SHUTTING_DOWN', async (t) => {
  const { pool: p, metrics } = pool(t, { workers: 1 }, { testWorker: true });
  const running = p.run(task(ownBuffer(tracesRequest(span({ traceId: T1 }))), 'sleep:300'));
  const closed = p.close();
  t.match(await p.run(task(ownBuffer(tracesRequest(span({ traceId: T1 }))), 'a')), { status: 'retryable', code: 'SHUTTING_DOWN' });
  t.match(await running, { status: 'ok' }, 'the running task finished');
  await closed;
  t.equal(p.stats().workers, 0, 'workers stopped');
  t.match(await p.run(task(new Uint8Array(0))), { status: 'retryable', code: 'SHUTTING_DOWN' });
  t.equal(await counter(metrics, { outcome: 'SHUTTING_DOWN' }), 2);
  const utilization = (await metrics.poolUtilization.get()).values[0]?.value ?? -1;
  t.ok(utilization >= 0 && utilization <= 1, `worker_pool_utilization is a share (${utilization})`);
});

t.test('a large view that skips only a few framing bytes is transferred without a copy', async (t) => {
  const { transferableView } = await import('../../src/process/wire/transfer.js');
  // Sizes from the pool's: Node 24 raised Buffer.poolSize from 8 to 64 KiB.
  const size = Buffer.poolSize;
  const framed = new Uint8Array(size + 5);
  const message = framed.subarray(5);
  t.equal(transferableView(message), message, 'grpc-js style view: its buffer is transferred as is');
  const halfPool = new Uint8Array((size >>> 1) + 5).subarray(5);
  t.equal(transferableView(halfPool), halfPool, 'a view of half the pool size, which Node never pools, is transferred too');
  const shared = new Uint8Array(size + 100).subarray(50, 50 + size);
  t.not(transferableView(shared), shared, 'a view with live bytes around it is copied');
  const small = Buffer.from('small pooled buffer');
  t.not(transferableView(small), small, 'a pooled small Buffer is copied');
});
