// Issue 19: a backend answering 503 with a Retry-After longer than the retry budget must not make the
// exporter drop acknowledged data. The wait is capped at retry.maxBackoff and the batch retried; past
// the budget it is kept (retry.whenExhausted: keep), counted and logged, until the backend takes it.
import t from 'tap';
import { exporterDefaults, type ExporterConfig, type RetryConfig } from '../../src/config/types.js';
import { createExporter } from '../../src/export/exporter.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { startOtlpSink } from '../helpers/otlp-sink.js';
import { recordingLogger } from '../receive/scripted-ingest.js';
import { valueOf } from './metrics-util.js';
import { traceRequest } from './otlp-build.js';

const sink = await startOtlpSink();
t.teardown(() => sink.close());
t.beforeEach(() => sink.reset());

function config(retry: RetryConfig): ExporterConfig {
  return {
    name: 'tempo',
    kind: 'otlp-http',
    endpoint: sink.httpUrl,
    ...exporterDefaults('otlp-http'),
    timeoutMs: 2000,
    batch: { maxBytes: 64 * 1024, maxItems: 100, flushIntervalMs: 10, passThroughBytes: 1 << 30 },
    retry,
  };
}

const spans = (n: number) => ({ signal: 'traces' as const, tenant: 'acme', body: traceRequest([{ service: 'svc', names: Array.from({ length: n }, (_, i) => `s${i}`) }]), items: n });

t.test('503 + Retry-After: 400 against a 5 min budget: retried at maxBackoff, delivered, nothing dropped', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const exp = createExporter(config({ initialBackoffMs: 20, maxBackoffMs: 100, maxElapsedMs: 300_000 }), { metrics, logger: recordingLogger() });
  await exp.start();
  sink.failNext(3, { httpStatus: 503, retryAfterMs: 400_000 });
  t.equal(exp.offer(spans(50)).status, 'ok');
  await sink.waitFor((r) => r.length === 1, 10_000);
  t.equal(sink.requests.length, 4, 'three 503s, then the delivery');
  t.equal(sink.requests[0]!.outcome, 'failed');
  for (let i = 1; i < 4; i++) {
    const gap = sink.requests[i]!.at - sink.requests[i - 1]!.at;
    t.ok(gap < 2000, `retry ${i} after ${gap} ms: the 400 s hint is capped at maxBackoff (100 ms)`);
  }
  // The sink records before it answers; the drain waits for the exporter to have seen the answer.
  await exp.shutdown(5000);
  t.equal(await valueOf(metrics.exporterDroppedItems), 0, 'no drop');
  t.equal(await valueOf(metrics.exporterRetries), 3);
  t.equal(await valueOf(metrics.exportFailures, { reason: 'http_503' }), 3, 'each failure counted with its reason');
  t.equal(await valueOf(metrics.exporterSentItems), 50);
});

t.test('past the retry budget the batch is kept, counted, logged and delivered when the backend returns', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = recordingLogger();
  const exp = createExporter(config({ initialBackoffMs: 20, maxBackoffMs: 60, maxElapsedMs: 150 }), { metrics, logger });
  await exp.start();
  sink.failNext(8, { httpStatus: 503, retryAfterMs: 400_000 });
  t.equal(exp.offer(spans(7)).status, 'ok');
  await sink.waitFor((r) => r.length === 1, 10_000);
  t.equal(sink.requests.filter((r) => r.outcome === 'failed').length, 8, 'all eight 503s were retried through');
  await exp.shutdown(5000);
  t.equal(await valueOf(metrics.exporterDroppedItems), 0, 'nothing dropped although the budget was spent');
  t.equal(await valueOf(metrics.exporterRetriesPastBudget, { exporter: 'tempo', signal: 'traces' }), 1, 'the batch counted once as past its budget');
  const kept = logger.lines.filter((l) => l.level === 'warn' && /after its retry budget/.test(l.msg ?? ''));
  t.equal(kept.length, 1, 'one warning for the batch');
  t.match(kept[0]!.obj, { exporter: 'tempo', items: 7, reason: 'http_503' });
  t.equal(await valueOf(metrics.exporterSentItems), 7);
});

t.test('retry.whenExhausted: drop gives up at the budget (counted), but never before a retry', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const exp = createExporter(config({ initialBackoffMs: 20, maxBackoffMs: 60, maxElapsedMs: 150, whenExhausted: 'drop' }), { metrics, logger: recordingLogger() });
  await exp.start();
  sink.failNext(1000, { httpStatus: 503, retryAfterMs: 400_000 });
  exp.offer(spans(3));
  const deadline = Date.now() + 10_000;
  while ((await valueOf(metrics.exporterDroppedItems)) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(await valueOf(metrics.exporterDroppedItems, { reason: 'retries_exhausted' }), 3);
  t.ok(sink.requests.length >= 3, `retried (${sink.requests.length} attempts) despite the 400 s hint`);
  await exp.shutdown(100);
});
